//! The query languages. Each is parsed, planned and evaluated in its own
//! module, independent of the SQL functions and HTTP APIs that expose it.

pub mod logql;
pub mod promql;
pub mod traceql;
