//! DuckLake side: table schema, the catalog and its tables, and the writer's
//! one-transaction-per-flush commit.

pub mod catalog;
pub mod commit;
pub mod database;
