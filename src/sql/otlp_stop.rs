//! `otlp_stop()` / `otlp_stop(port)`: stops servers gracefully (stop accepting,
//! commit everything queued) and returns one row per stopped server.

use super::args::{count, named};
use super::columns::{counter_map_type, counter_maps, u16s, u64s};
use super::edge::{declare_columns, OneShot, SqlTable};
use crate::guard::BoxError;
use crate::service::{self, StopReport};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};
use std::sync::Arc;

/// `otlp_stop()` stops every server, `otlp_stop(port := 4318)` one.
pub struct OtlpStop;

fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("port", DataType::UInt16, false),
        Field::new("rows_committed", counter_map_type(), false),
        Field::new("last_committed_seq", DataType::UInt64, false),
        Field::new("spool_backlog_records", DataType::UInt64, false),
        Field::new("abandoned_records", DataType::UInt64, false),
    ]))
}

fn result_batch(reports: &[StopReport]) -> Result<RecordBatch, BoxError> {
    Ok(RecordBatch::try_new(
        result_schema(),
        vec![
            u16s(reports.iter().map(|r| r.port)),
            counter_maps(reports.iter().map(|r| &r.flush.rows_by_table)),
            u64s(reports.iter().map(|r| r.flush.last_seq)),
            u64s(reports.iter().map(|r| r.spool_backlog_records)),
            u64s(reports.iter().map(|r| r.flush.abandoned_records)),
        ],
    )?)
}

pub struct StopBind {
    port: Option<u16>,
}

fn bind_stop(bind: &BindInfo, raw_port: Option<i64>) -> Result<StopBind, BoxError> {
    declare_columns(bind, &result_schema())?;
    Ok(StopBind { port: raw_port.map(|raw| count("port", raw)).transpose()? })
}

fn stop(bind: &StopBind) -> Result<OneShot, BoxError> {
    Ok(OneShot::new(result_batch(&service::stop(bind.port))?))
}

impl SqlTable for OtlpStop {
    const NAME: &'static str = "otlp_stop";
    type State = ();
    type BindData = StopBind;
    type InitData = OneShot;

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        vec![("port".into(), LogicalTypeId::Bigint.into())]
    }

    fn bind(_: &(), bind: &BindInfo) -> Result<StopBind, BoxError> {
        bind_stop(bind, named(bind, "port").map(|v| v.to_int64()))
    }

    fn init(bind: &StopBind, _: &InitInfo) -> Result<OneShot, BoxError> {
        stop(bind)
    }

    fn scan(_: &StopBind, result: &OneShot, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_once(output)
    }
}
