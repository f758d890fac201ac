//! SQL surface: one file per SQL function. Each file parses arguments and
//! declares result columns; the work happens in the plain-Rust modules.
//! Functions are registered only through [`edge`], which puts every callback
//! behind the panic guard.

mod canardstack_version;
pub mod edge;

use duckdb::Connection;
use std::error::Error;

pub fn register_all(con: &Connection) -> Result<(), Box<dyn Error>> {
    edge::register_scalar::<canardstack_version::CanardstackVersion>(con)?;
    Ok(())
}
