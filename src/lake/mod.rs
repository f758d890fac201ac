//! DuckLake side: the catalog and its tables, the connection pool the queries run on, and the writer's
//! one-transaction-per-flush commit.

pub mod catalog;
mod coalesce;
pub mod commit;
pub mod database;
mod parquet_file;
pub mod store;
