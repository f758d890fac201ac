//! Running planned SQL on a pooled connection and keeping its Arrow result,
//! for table functions whose columns are whatever the plan selects.
//!
//! The query runs in `bind`, because DuckDB needs the result columns there
//! and the planned SQL is the only source of truth for them; `scan` then
//! hands the batches out. The pooled connection sees committed data only.

use crate::guard::BoxError;
use duckdb::arrow::datatypes::SchemaRef;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;

pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

pub fn run(con: &Connection, sql: &str) -> Result<QueryResult, BoxError> {
    let mut stmt = con.prepare(sql)?;
    let arrow = stmt.query_arrow([])?;
    let schema = arrow.get_schema();
    Ok(QueryResult { schema, batches: arrow.collect() })
}
