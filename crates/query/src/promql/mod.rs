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
pub mod nesting;
pub mod series;
pub mod source;
pub mod sql;
pub mod value;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod promqltest;

pub use error::{PromqlError, Result};

use promql_parser::parser::Expr;

/// The one way into promql-parser: the query's nesting is bounded first (see
/// [`nesting`]), and a panic inside the parser (it converts some numbers to
/// durations unchecked, e.g. `x[1e300]`) is a parse error, not a crash.
pub fn parse(query: &str) -> Result<Expr> {
    let depth = nesting::nesting_bound(query);
    if depth > nesting::MAX_NESTING {
        return Err(PromqlError::TooDeep { limit: nesting::MAX_NESTING });
    }
    let parsed = std::panic::catch_unwind(|| promql_parser::parser::parse(query)).unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "invalid query".into());
        Err(reason)
    });
    parsed.map_err(|message| PromqlError::Parse { query: query.to_string(), message: message.trim().to_string() })
}
