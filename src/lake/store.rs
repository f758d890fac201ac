//! The DuckDB side of the query engines' [`Store`] and the APIs' [`Lake`]:
//! statements run on a connection of the pool and stream DuckDB's Arrow result.

use super::database::{Database, Pooled};
use crate::compat::{Lake, Session};
use crate::query::store::{Store, StoreError};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;
use std::ops::ControlFlow;

/// A connection as a [`Store`].
pub struct DuckStore<'c>(pub &'c Connection);

impl Store for DuckStore<'_> {
    fn scan(&self, sql: &str, visit: &mut dyn FnMut(RecordBatch) -> ControlFlow<()>) -> Result<(), StoreError> {
        let mut statement = self.0.prepare(sql).map_err(store_error)?;
        for batch in statement.query_arrow([]).map_err(store_error)? {
            if visit(batch).is_break() {
                break;
            }
        }
        Ok(())
    }
}

fn store_error(error: duckdb::Error) -> StoreError {
    StoreError(error.to_string())
}

impl Store for Pooled {
    fn scan(&self, sql: &str, visit: &mut dyn FnMut(RecordBatch) -> ControlFlow<()>) -> Result<(), StoreError> {
        DuckStore(self).scan(sql, visit)
    }
}

impl Session for Pooled {
    fn interrupter(&self) -> Box<dyn Fn() + Send> {
        let handle = self.interrupt_handle();
        Box::new(move || handle.interrupt())
    }
}

impl Lake for Database {
    fn session(&self) -> Result<Box<dyn Session>, StoreError> {
        Ok(Box::new(self.connect().map_err(|e| StoreError(e.to_string()))?))
    }
}
