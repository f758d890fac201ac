//! PromQL over the OTLP metric tables.
//!
//! `parse` (promql-parser's typed tree) -> `eval` (Prometheus' semantics in
//! Rust, over series fetched once per selector) <- `source` (where series come
//! from: `lake` plans each selector to one prunable SQL query over DuckLake,
//! `series` maps OTLP metrics to Prometheus series). `sql` turns the plans
//! that are pure SQL into portable DuckDB SQL text. Nothing here knows about
//! SQL functions or HTTP.

pub mod error;
pub mod eval;
pub mod lake;
pub mod lake_meta;
pub mod series;
pub mod source;
pub mod sql;
pub mod value;

#[cfg(test)]
mod promqltest;

pub use error::{PromqlError, Result};

use promql_parser::parser::Expr;

pub fn parse(query: &str) -> Result<Expr> {
    promql_parser::parser::parse(query)
        .map_err(|message| PromqlError::Parse { query: query.to_string(), message: message.trim().to_string() })
}
