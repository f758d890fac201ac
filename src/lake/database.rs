//! Connections to the DuckDB database the extension was loaded into.
//!
//! DuckDB's C API gives an extension its database handle only while the
//! extension loads; the handle is freed afterwards, so a connection cannot be
//! opened from it later. We therefore open a fixed pool of connections during
//! load, and background work (writers, HTTP handlers, queries) borrows from
//! it. A connection keeps the database instance alive, so the pool is as safe
//! to use late as early. Its size bounds how many writers and concurrent
//! queries can run at once.

use duckdb::Connection;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Runs `work` in a transaction of its own: committed if it succeeds, rolled
/// back if it fails. DuckLake's maintenance functions must run where they
/// were prepared: a statement prepared in autocommit mode and then executed
/// (duckdb-rs prepares every statement that returns rows) binds in one
/// transaction and runs in another, and a merge run that way failed with an
/// internal error that invalidated the whole database (DuckDB 1.5.5,
/// DuckLake 1.5.5).
pub fn in_transaction<T>(
    con: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, duckdb::Error>,
) -> Result<T, duckdb::Error> {
    con.execute_batch("BEGIN TRANSACTION")?;
    match work(con) {
        Ok(value) => con.execute_batch("COMMIT").map(|_| value),
        Err(error) => {
            let _ = con.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

pub const POOL_SIZE: usize = 16;
const BORROW_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Database {
    pool: Arc<Pool>,
}

struct Pool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
    size: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("all {0} canardstack connections are busy (each running server's writer holds one); try again later")]
    Exhausted(usize),
    #[error("opening connection {index} of the pool: {source}")]
    Open { index: usize, source: duckdb::Error },
}

impl Database {
    /// Opens `size` connections from `seed`; call only while the extension loads.
    pub fn open_pool(seed: &Connection, size: usize) -> Result<Self, ConnectError> {
        let idle = (0..size)
            .map(|index| seed.try_clone().map_err(|source| ConnectError::Open { index, source }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Database { pool: Arc::new(Pool { idle: Mutex::new(idle), returned: Condvar::new(), size }) })
    }

    /// Borrows a connection; it returns to the pool when dropped.
    pub fn connect(&self) -> Result<Pooled, ConnectError> {
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(con) = idle.pop() {
                return Ok(Pooled { con: Some(con), pool: self.pool.clone() });
            }
            let (guard, timeout) =
                self.pool.returned.wait_timeout(idle, BORROW_TIMEOUT).unwrap_or_else(|p| p.into_inner());
            idle = guard;
            if timeout.timed_out() && idle.is_empty() {
                return Err(ConnectError::Exhausted(self.pool.size));
            }
        }
    }
}

/// A borrowed connection.
pub struct Pooled {
    con: Option<Connection>,
    pool: Arc<Pool>,
}

impl Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.con.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Connection {
        self.con.as_mut().expect("connection present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(con) = self.con.take() {
            // a transaction left open by a failed statement must not leak to the next borrower
            let _ = con.execute_batch("ROLLBACK");
            self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(con);
            self.pool.returned.notify_one();
        }
    }
}
