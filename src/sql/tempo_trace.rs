//! `tempo_trace(trace_id)`: every span of one trace, with its depth.

use super::edge::{declare_columns, BatchStream, SqlTable};
use super::lake_choice::{lake_parameters, LakeChoice};
use super::planned_query::run;
use crate::guard::BoxError;
use crate::lake::database::Database;
use crate::query::traceql::trace_id::{normalize, trace_sql};
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};

/// The id is positional (DuckDB allows one signature per table function);
/// `catalog :=` / `schema :=` pick the lake.
pub struct TempoTrace;

impl SqlTable for TempoTrace {
    const NAME: &'static str = "tempo_trace";
    type State = Database;
    type BindData = BatchStream;
    type InitData = ();

    fn parameters() -> Vec<LogicalTypeHandle> {
        vec![LogicalTypeId::Varchar.into()]
    }

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        lake_parameters()
    }

    fn bind(db: &Database, bind: &BindInfo) -> Result<BatchStream, BoxError> {
        let raw = bind.get_parameter(0);
        if raw.is_null() {
            return Err("tempo_trace: trace_id must not be NULL".into());
        }
        let trace_id = normalize(&raw.to_string(), "trace_id")?;
        let spans = LakeChoice::named(bind).resolve(&*db.connect()?)?.qualified("spans");
        let con = db.connect()?;
        let result = run(&con, &trace_sql(&spans, &trace_id))?;
        declare_columns(bind, &result.schema)?;
        Ok(BatchStream::new(result.batches))
    }

    fn init(_: &BatchStream, _: &InitInfo) -> Result<(), BoxError> {
        Ok(())
    }

    fn scan(stream: &BatchStream, _: &(), output: &mut DataChunkHandle) -> Result<(), BoxError> {
        stream.emit_next(output)
    }
}
