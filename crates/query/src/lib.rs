//! The query languages. Each is parsed, planned and evaluated in its own
//! module, independent of the SQL functions and HTTP APIs that expose it; the
//! SQL they plan runs on a [`store::Store`], which the extension provides.
//! Beside them, the semantics the languages share: Go's and Prometheus' text
//! forms ([`go_text`], durations in [`go_duration`]), Prometheus' float arithmetic ([`prom_math`]), calendar arithmetic ([`civil`]) and SQL quoting
//! ([`sql_text`]); and the table macros published for clients without
//! canardstack ([`portable`]).

pub mod civil;
pub mod go_duration;
pub mod go_text;
pub mod logql;
pub mod portable;
pub mod prom_math;
pub mod promql;
pub mod sql_text;
pub mod store;
pub mod traceql;
