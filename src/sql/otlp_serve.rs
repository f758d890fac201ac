//! `otlp_serve(port, host := ..., catalog := ..., ...)`: starts a receiver and
//! returns one row describing it. The work happens in `init` (once per
//! execution), not in `bind`, which DuckDB may call more than once.

use super::args::{count, named_bool, named_count, named_string};
use super::duckdb_time::named_duration;
use super::edge::{declare_columns, OneShot, SqlTable};
use crate::guard::BoxError;
use crate::lake::compaction::CompactionPolicy;
use crate::lake::database::Database;
use crate::lake::retention::Retention;
use crate::service::options::kept_for;
use crate::service::{self, ServeInfo, ServeOptions};
use canardstack_derive::window::WindowPolicy;
use duckdb::arrow::array::{ArrayRef, StringArray, UInt16Array, UInt64Array};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// DuckDB's C API allows one signature per table function name, so `port` is
/// positional and required: `otlp_serve(4318)`; everything else is named.
pub struct OtlpServe;

pub struct ServeBind {
    db: Database,
    options: ServeOptions,
}

fn result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("port", DataType::UInt16, false),
        Field::new("catalog", DataType::Utf8, false),
        Field::new("schema", DataType::Utf8, false),
        Field::new("spool_dir", DataType::Utf8, false),
        Field::new("writer_id", DataType::Utf8, false),
        Field::new("replayed_records", DataType::UInt64, false),
        Field::new("grpc_port", DataType::UInt16, true),
    ]))
}

fn result_batch(info: &ServeInfo) -> Result<RecordBatch, BoxError> {
    let text = |s: &str| Arc::new(StringArray::from(vec![s.to_string()])) as ArrayRef;
    Ok(RecordBatch::try_new(
        result_schema(),
        vec![
            text(&info.endpoint),
            Arc::new(UInt16Array::from(vec![info.port])),
            text(&info.catalog),
            text(&info.schema),
            text(&info.spool_dir),
            text(&info.writer_id),
            Arc::new(UInt64Array::from(vec![info.replayed_records])),
            Arc::new(UInt16Array::from(vec![info.grpc_port])),
        ],
    )?)
}

fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
    let varchar = || LogicalTypeHandle::from(LogicalTypeId::Varchar);
    let bigint = || LogicalTypeHandle::from(LogicalTypeId::Bigint);
    let interval = || LogicalTypeHandle::from(LogicalTypeId::Interval);
    vec![
        ("grpc_port".into(), bigint()),
        ("host".into(), varchar()),
        ("catalog".into(), varchar()),
        ("schema".into(), varchar()),
        ("spool_dir".into(), varchar()),
        ("api_key".into(), varchar()),
        ("flush_interval_ms".into(), bigint()),
        ("flush_rows".into(), bigint()),
        ("inline_rows".into(), bigint()),
        ("compact_interval_ms".into(), bigint()),
        ("max_body_bytes".into(), bigint()),
        ("max_decompressed_bytes".into(), bigint()),
        ("max_items_per_request".into(), bigint()),
        ("max_spool_bytes".into(), bigint()),
        ("max_queue_bytes".into(), bigint()),
        ("workers".into(), bigint()),
        ("compat".into(), LogicalTypeHandle::from(LogicalTypeId::Boolean)),
        ("query_timeout_ms".into(), bigint()),
        ("retention".into(), interval()),
        ("logs_retention".into(), interval()),
        ("traces_retention".into(), interval()),
        ("metrics_retention".into(), interval()),
        ("snapshot_retention".into(), interval()),
        ("target_file_bytes".into(), bigint()),
        ("compact_after".into(), interval()),
        ("service_graph".into(), LogicalTypeHandle::from(LogicalTypeId::Boolean)),
        ("service_graph_interval".into(), interval()),
        ("service_graph_wait".into(), interval()),
    ]
}

/// `retention := INTERVAL '14 days'` for every signal, then per-signal
/// overrides; zero keeps forever.
fn read_retention(bind: &BindInfo, defaults: Retention) -> Result<Retention, BoxError> {
    let all = named_duration(bind, "retention")?.map(kept_for);
    let signal = |name: &str, default: Option<std::time::Duration>| -> Result<_, BoxError> {
        Ok(named_duration(bind, name)?.map(kept_for).or(all).unwrap_or(default))
    };
    Ok(Retention {
        logs: signal("logs_retention", defaults.logs)?,
        traces: signal("traces_retention", defaults.traces)?,
        metrics: signal("metrics_retention", defaults.metrics)?,
    })
}

/// `service_graph := false` turns it off; the interval and wait default to
/// 15 and 30 seconds.
fn read_service_graph(bind: &BindInfo, defaults: Option<WindowPolicy>) -> Result<Option<WindowPolicy>, BoxError> {
    let Some(defaults) = defaults else { return Ok(None) };
    if !named_bool(bind, "service_graph").unwrap_or(true) {
        return Ok(None);
    }
    Ok(Some(WindowPolicy {
        interval: named_duration(bind, "service_graph_interval")?.unwrap_or(defaults.interval),
        wait: named_duration(bind, "service_graph_wait")?.unwrap_or(defaults.wait),
        max_len: defaults.max_len,
    }))
}

fn read_options(bind: &BindInfo, port: i64) -> Result<ServeOptions, BoxError> {
    let defaults = ServeOptions::default();
    Ok(ServeOptions {
        port: count("port", port)?,
        grpc_port: named_count(bind, "grpc_port")?,
        host: named_string(bind, "host").unwrap_or(defaults.host),
        catalog: named_string(bind, "catalog"),
        schema: named_string(bind, "schema").unwrap_or(defaults.schema),
        spool_dir: named_string(bind, "spool_dir").map(PathBuf::from),
        api_key: named_string(bind, "api_key"),
        flush_interval: named_count::<u64>(bind, "flush_interval_ms")?
            .map(Duration::from_millis)
            .unwrap_or(defaults.flush_interval),
        flush_rows: named_count(bind, "flush_rows")?.unwrap_or(defaults.flush_rows),
        inline_rows: named_count(bind, "inline_rows")?.unwrap_or(defaults.inline_rows),
        compact_interval: named_count::<u64>(bind, "compact_interval_ms")?
            .map(Duration::from_millis)
            .unwrap_or(defaults.compact_interval),
        max_body_bytes: named_count(bind, "max_body_bytes")?.unwrap_or(defaults.max_body_bytes),
        max_decompressed_bytes: named_count(bind, "max_decompressed_bytes")?.unwrap_or(defaults.max_decompressed_bytes),
        max_items_per_request: named_count(bind, "max_items_per_request")?.unwrap_or(defaults.max_items_per_request),
        max_spool_bytes: named_count(bind, "max_spool_bytes")?.unwrap_or(defaults.max_spool_bytes),
        max_queue_bytes: named_count(bind, "max_queue_bytes")?.unwrap_or(defaults.max_queue_bytes),
        workers: named_count(bind, "workers")?.unwrap_or(defaults.workers),
        compat: named_bool(bind, "compat").unwrap_or(defaults.compat),
        query_timeout: named_count::<u64>(bind, "query_timeout_ms")?
            .map(Duration::from_millis)
            .unwrap_or(defaults.query_timeout),
        retention: read_retention(bind, defaults.retention)?,
        snapshot_retention: named_duration(bind, "snapshot_retention")?.unwrap_or(defaults.snapshot_retention),
        compaction: CompactionPolicy {
            target_file_bytes: named_count(bind, "target_file_bytes")?.unwrap_or(defaults.compaction.target_file_bytes),
            settle_after: named_duration(bind, "compact_after")?.unwrap_or(defaults.compaction.settle_after),
        },
        service_graph: read_service_graph(bind, defaults.service_graph)?,
    })
}

fn start(bind: &ServeBind) -> Result<OneShot, BoxError> {
    let info = service::start(&bind.db, bind.options.clone())?;
    Ok(OneShot::new(result_batch(&info)?))
}

impl SqlTable for OtlpServe {
    const NAME: &'static str = "otlp_serve";
    type State = Database;
    type BindData = ServeBind;
    type InitData = OneShot;

    fn parameters() -> Vec<LogicalTypeHandle> {
        vec![LogicalTypeId::Bigint.into()]
    }

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        named_parameters()
    }

    fn bind(db: &Database, bind: &BindInfo) -> Result<ServeBind, BoxError> {
        let port = bind.get_parameter(0);
        if port.is_null() {
            return Err("port must not be NULL (0 picks a free port)".into());
        }
        declare_columns(bind, &result_schema())?;
        let options = read_options(bind, port.to_int64())?;
        options.validate()?;
        Ok(ServeBind { db: db.clone(), options })
    }

    fn init(bind: &ServeBind, _: &InitInfo) -> Result<OneShot, BoxError> {
        start(bind)
    }

    fn scan(_: &ServeBind, result: &OneShot, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_once(output)
    }
}
