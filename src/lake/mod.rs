//! DuckLake side: the catalog and its tables, the connection pool the queries run on, and the writer's
//! one-transaction-per-flush commit, and the maintenance beside it (retention, compaction, expiry), and the
//! metrics derived from spans (the service graph).

pub mod catalog;
mod coalesce;
pub mod commit;
pub mod compaction;
pub mod database;
pub mod gate;
pub mod maintenance;
mod parquet_file;
pub mod retention;
pub mod service_graph;
pub mod store;
