//! The only place SQL functions meet duckdb-rs' callback traits.
//!
//! Our functions implement [`SqlScalar`] / [`SqlTable`]; the [`Guarded`]
//! adapter implements duckdb-rs' `VScalar` / `VTab` for them and runs every
//! callback (bind, init, scan, invoke) through [`crate::guard::guarded`].
//! Because registration goes through `register_scalar` / `register_table`,
//! which only accept the adapter, no function can skip the guard.

use crate::guard::{guarded, BoxError};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::{arrow::WritableVector, BindInfo, InitInfo, TableFunctionInfo, VTab};
use duckdb::Connection;
use std::marker::PhantomData;

/// A scalar SQL function.
pub trait SqlScalar: Sized + 'static {
    const NAME: &'static str;
    type State: Default + Send + Sync + 'static;
    fn signatures() -> Vec<ScalarFunctionSignature>;
    fn invoke(state: &Self::State, input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), BoxError>;
    fn volatile() -> bool {
        false
    }
}

/// A table SQL function. `scan` fills one chunk per call; a chunk of length 0 ends the scan.
pub trait SqlTable: Sized + 'static {
    const NAME: &'static str;
    type BindData: Send + Sync;
    type InitData: Send + Sync;
    fn parameters() -> Vec<LogicalTypeHandle> {
        Vec::new()
    }
    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        Vec::new()
    }
    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError>;
    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError>;
    fn scan(bind: &Self::BindData, init: &Self::InitData, output: &mut DataChunkHandle) -> Result<(), BoxError>;
}

/// Adapter that puts a function behind the panic guard.
pub struct Guarded<F>(PhantomData<F>);

impl<F: SqlScalar> VScalar for Guarded<F> {
    type State = F::State;

    fn invoke(state: &Self::State, input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), BoxError> {
        guarded(F::NAME, || F::invoke(state, input, output))
    }

    fn signatures() -> Vec<ScalarFunctionSignature> {
        F::signatures()
    }

    fn volatile() -> bool {
        F::volatile()
    }
}

impl<F: SqlTable> VTab for Guarded<F> {
    type InitData = F::InitData;
    type BindData = F::BindData;

    fn bind(bind: &BindInfo) -> Result<Self::BindData, BoxError> {
        guarded(F::NAME, || F::bind(bind))
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        guarded(F::NAME, || F::init(init))
    }

    fn func(func: &TableFunctionInfo<Self>, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        guarded(F::NAME, || F::scan(func.get_bind_data(), func.get_init_data(), output))
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(F::parameters())
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(F::named_parameters())
    }
}

pub fn register_scalar<F: SqlScalar>(con: &Connection) -> Result<(), BoxError> {
    con.register_scalar_function::<Guarded<F>>(F::NAME)?;
    Ok(())
}

pub fn register_table<F: SqlTable>(con: &Connection) -> Result<(), BoxError> {
    con.register_table_function::<Guarded<F>>(F::NAME)?;
    Ok(())
}
