//! The only place SQL functions meet duckdb-rs' callback traits.
//!
//! Our functions implement [`SqlScalar`] / [`SqlTable`]; the [`Guarded`]
//! adapter implements duckdb-rs' `VScalar` / `VTab` for them and runs every
//! callback (bind, init, scan, invoke) through [`crate::guard::guarded`].
//! Because registration goes through `register_scalar` / `register_table`,
//! which only accept the adapter, no function can skip the guard.

use crate::guard::{guarded, BoxError};
use duckdb::arrow::datatypes::Schema;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle};
use duckdb::vscalar::{ScalarFunctionSignature, VScalar};
use duckdb::vtab::{arrow::WritableVector, BindInfo, InitInfo, TableFunctionInfo, VTab};
use duckdb::vtab::{record_batch_to_duckdb_data_chunk, to_duckdb_logical_type_for_field};
use duckdb::Connection;
use std::marker::PhantomData;

/// A scalar SQL function.
pub trait SqlScalar: Sized + 'static {
    const NAME: &'static str;
    type State: Default + Send + Sync + 'static;
    fn signatures() -> Vec<ScalarFunctionSignature>;
    fn invoke(
        state: &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> Result<(), BoxError>;
    fn volatile() -> bool {
        false
    }
}

/// A table SQL function. `scan` fills one chunk per call; a chunk of length 0 ends the scan.
/// `State` is given at registration (e.g. a handle on the database) and reaches `bind`.
pub trait SqlTable: Sized + 'static {
    const NAME: &'static str;
    type State: Clone + Send + Sync + 'static;
    type BindData: Send + Sync;
    type InitData: Send + Sync;
    fn parameters() -> Vec<LogicalTypeHandle> {
        Vec::new()
    }
    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        Vec::new()
    }
    fn bind(state: &Self::State, bind: &BindInfo) -> Result<Self::BindData, BoxError>;
    fn init(bind: &Self::BindData, init: &InitInfo) -> Result<Self::InitData, BoxError>;
    fn scan(bind: &Self::BindData, init: &Self::InitData, output: &mut DataChunkHandle) -> Result<(), BoxError>;
}

/// Adapter that puts a function behind the panic guard.
pub struct Guarded<F>(PhantomData<F>);

impl<F: SqlScalar> VScalar for Guarded<F> {
    type State = F::State;

    fn invoke(
        state: &Self::State,
        input: &mut DataChunkHandle,
        output: &mut dyn WritableVector,
    ) -> Result<(), BoxError> {
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
        guarded(F::NAME, || {
            // SAFETY: registered only by `register_table`, whose extra info is an `F::State`
            let state = unsafe { &*bind.get_extra_info::<F::State>() };
            F::bind(state, bind)
        })
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, BoxError> {
        guarded(F::NAME, || {
            // SAFETY: DuckDB hands init the bind data our `bind` produced, an `F::BindData`
            let bind = unsafe { &*init.get_bind_data::<F::BindData>() };
            F::init(bind, init)
        })
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

pub fn register_table<F: SqlTable>(con: &Connection, state: &F::State) -> Result<(), BoxError> {
    con.register_table_function_with_extra_info::<Guarded<F>, F::State>(F::NAME, state)?;
    Ok(())
}

/// Declares result columns from an Arrow schema, so a function's columns and
/// the batches it emits cannot disagree.
pub fn declare_columns(bind: &BindInfo, schema: &Schema) -> Result<(), BoxError> {
    for field in schema.fields() {
        bind.add_result_column(field.name(), to_duckdb_logical_type_for_field(field)?);
    }
    Ok(())
}

/// Copies (at most one vector's worth of) an Arrow batch into the output chunk.
pub fn emit(output: &mut DataChunkHandle, batch: &RecordBatch) -> Result<(), BoxError> {
    record_batch_to_duckdb_data_chunk(batch, output)?;
    output.set_len(batch.num_rows());
    Ok(())
}

/// A result of any size, handed to DuckDB one vector (2048 rows) at a time.
#[derive(Default)]
pub struct BatchStream(std::sync::Mutex<std::collections::VecDeque<RecordBatch>>);

impl BatchStream {
    pub fn new(batches: impl IntoIterator<Item = RecordBatch>) -> Self {
        BatchStream(std::sync::Mutex::new(batches.into_iter().filter(|b| b.num_rows() > 0).collect()))
    }

    /// Fills `output` with the next rows; an empty chunk ends the scan.
    pub fn emit_next(&self, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        let mut queue = self.0.lock().map_err(|_| "result lock poisoned")?;
        let Some(batch) = queue.pop_front() else {
            output.set_len(0);
            return Ok(());
        };
        // SAFETY: a constant of the loaded DuckDB
        let capacity = unsafe { libduckdb_sys::duckdb_vector_size() } as usize;
        if batch.num_rows() > capacity {
            queue.push_front(batch.slice(capacity, batch.num_rows() - capacity));
        }
        emit(output, &batch.slice(0, batch.num_rows().min(capacity)))
    }
}

/// A result that fits one chunk, handed out once by `scan`.
#[derive(Default)]
pub struct OneShot(std::sync::Mutex<Option<RecordBatch>>);

impl OneShot {
    pub fn new(batch: RecordBatch) -> Self {
        OneShot(std::sync::Mutex::new(Some(batch)))
    }

    pub fn emit_once(&self, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        match self.0.lock().map_err(|_| "result lock poisoned")?.take() {
            Some(batch) => emit(output, &batch),
            None => {
                output.set_len(0);
                Ok(())
            }
        }
    }
}
