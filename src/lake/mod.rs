//! DuckLake side: the catalog and its tables, the connection pool the queries run on, and the writer's
//! one-transaction-per-flush commit, and the maintenance beside it.

pub mod catalog;
mod coalesce;
pub mod commit;
pub mod database;
pub mod maintenance;
mod parquet_file;
pub mod store;
