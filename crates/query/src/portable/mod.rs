//! What a DuckDB client without canardstack can use: the table macros and
//! views [`macros`] writes (the portable plans themselves live beside their
//! planners: `promql::sql`, `logql::portable`, `traceql::plan`).

pub mod macros;
