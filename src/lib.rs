//! canardstack: an OpenTelemetry backend inside DuckDB.
//!
//! The entry point only registers SQL functions; everything they do lives in
//! plain-Rust modules that are unit-tested without a DuckDB process.

pub mod guard;
pub mod ingest;
pub mod lake;
pub mod server;
pub mod service;
/// The leaf crates keep their names as modules here, so the edge reads `crate::otlp`.
pub use canardstack_compat as compat;
pub use canardstack_otlp as otlp;
pub use canardstack_query as query;
pub use canardstack_spool as spool;
pub mod sql;

/// The extension's own allocations (decoding builds many small strings and
/// vectors per record, on several handler threads) go through mimalloc; DuckDB
/// keeps its allocator. Nothing allocated on one side is freed by the other:
/// Arrow buffers handed to DuckDB are released through their own callbacks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use duckdb::Connection;
use duckdb_loadable_macros::duckdb_entrypoint_c_api;
use std::error::Error;

/// `LOAD canardstack`. Registration runs under the panic guard like every
/// SQL callback: a panic here would otherwise unwind into DuckDB's C++ and
/// abort the user's process instead of failing the `LOAD`.
#[duckdb_entrypoint_c_api(ext_name = "canardstack", min_duckdb_version = "v1.5.5")]
pub fn extension_entrypoint(con: Connection) -> Result<(), Box<dyn Error>> {
    load(|| sql::register_all(&con))
}

/// Runs the registration `register` as `LOAD` does.
fn load(register: impl FnOnce() -> Result<(), guard::BoxError>) -> Result<(), guard::BoxError> {
    guard::guarded("LOAD canardstack", register)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_during_load_is_an_error() {
        let err = super::load(|| panic!("registration failed")).unwrap_err();
        assert_eq!(err.to_string(), "LOAD canardstack: internal error (panic): registration failed");
        assert!(super::load(|| Ok(())).is_ok());
    }
}
