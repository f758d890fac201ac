//! `canardstack_version()`: which build is loaded.

use super::edge::SqlScalar;
use crate::guard::BoxError;
use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeId};
use duckdb::vscalar::ScalarFunctionSignature;
use duckdb::vtab::arrow::WritableVector;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct CanardstackVersion;

impl SqlScalar for CanardstackVersion {
    const NAME: &'static str = "canardstack_version";
    type State = ();

    fn signatures() -> Vec<ScalarFunctionSignature> {
        vec![ScalarFunctionSignature::exact(vec![], LogicalTypeId::Varchar.into())]
    }

    fn invoke(_: &(), input: &mut DataChunkHandle, output: &mut dyn WritableVector) -> Result<(), BoxError> {
        let out = output.flat_vector();
        // a zero-argument scalar is called with a one-row chunk when constant-folded
        for row in 0..input.len().max(1) {
            out.insert(row, VERSION);
        }
        Ok(())
    }
}
