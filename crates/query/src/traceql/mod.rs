//! TraceQL: text -> typed tree ([`parser`]) -> DuckDB SQL over the `spans`
//! table ([`plan`]).
//!
//! Everything is planned to SQL rather than evaluated in Rust: span
//! conditions become vectorised predicates DuckDB can push into the Parquet
//! scan, and trace-level operators (`&&` between spansets, structure,
//! pipelines) become semi-joins and GROUP BYs over the few candidate spans.
//! The same SQL is what `traceql_sql` hands to clients without canardstack.

pub mod ast;
pub mod fetch;
#[cfg(test)]
mod hostile_tests;
mod lexer;
pub mod parser;
pub mod plan;
pub mod tags;
pub mod trace_id;

pub use parser::parse;
pub use plan::{search_sql, SearchOptions};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceqlError {
    #[error("traceql parse error at {at}: {message}")]
    Parse { at: usize, message: String },
    #[error("traceql: {0} is not supported")]
    Unsupported(String),
    #[error("traceql: {0}")]
    Invalid(String),
    #[error("{argument} must be a trace id of up to 32 hex characters, got {value:?}")]
    TraceId { argument: String, value: String },
}

impl TraceqlError {
    pub(crate) fn parse(at: usize, message: impl Into<String>) -> Self {
        TraceqlError::Parse { at, message: message.into() }
    }
}
