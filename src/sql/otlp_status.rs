//! `otlp_status()`: one row per running server, the same numbers `/metrics` serves.

use super::columns::{
    bools, counter_map_type, counter_maps, f64s, optional_u64s, text, timestamp_type, timestamps, u16s, u64s,
};
use super::edge::{declare_columns, OneShot, SqlTable};
use crate::guard::BoxError;
use crate::service::{self, StatusReport};
use duckdb::arrow::array::{ArrayRef, UInt16Array};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::DataChunkHandle;
use duckdb::vtab::{BindInfo, InitInfo};
use std::sync::Arc;

pub struct OtlpStatus;

fn result_schema() -> SchemaRef {
    let counters = |name: &str| Field::new(name, counter_map_type(), false);
    Arc::new(Schema::new(vec![
        Field::new("port", DataType::UInt16, false),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("catalog", DataType::Utf8, false),
        Field::new("schema", DataType::Utf8, false),
        Field::new("spool_dir", DataType::Utf8, false),
        Field::new("healthy", DataType::Boolean, false),
        Field::new("started_at", timestamp_type(), false),
        Field::new("uptime_seconds", DataType::Float64, false),
        counters("requests_accepted"),
        counters("bytes_accepted"),
        counters("requests_rejected"),
        counters("bytes_rejected"),
        counters("items_rejected"),
        counters("rows_committed"),
        Field::new("commits", DataType::UInt64, false),
        Field::new("spool_backlog_records", DataType::UInt64, false),
        Field::new("spool_backlog_bytes", DataType::UInt64, false),
        Field::new("spool_disk_bytes", DataType::UInt64, true),
        Field::new("queue_bytes", DataType::UInt64, false),
        Field::new("ingest_lag_seconds", DataType::Float64, false),
        Field::new("last_commit_at", timestamp_type(), true),
        Field::new("last_commit_ms", DataType::Float64, true),
        Field::new("maintenance_rounds", DataType::UInt64, false),
        Field::new("maintenance_failures", DataType::UInt64, false),
        Field::new("maintenance_seconds", DataType::Float64, false),
        Field::new("last_maintenance_at", timestamp_type(), true),
        counters("retention_rows_deleted"),
        counters("files_merged"),
        Field::new("files_removed", DataType::UInt64, false),
        Field::new("snapshots_expired", DataType::UInt64, false),
        counters("lake_files"),
        counters("lake_bytes"),
        Field::new("service_graph_windows", DataType::UInt64, false),
        Field::new("service_graph_requests", DataType::UInt64, false),
        Field::new("service_graph_failures", DataType::UInt64, false),
        Field::new("last_error", DataType::Utf8, true),
        Field::new("grpc_port", DataType::UInt16, true),
    ]))
}

fn result_batch(rows: &[StatusReport]) -> Result<RecordBatch, BoxError> {
    let stats = || rows.iter().map(|r| &r.stats);
    Ok(RecordBatch::try_new(
        result_schema(),
        vec![
            u16s(rows.iter().map(|r| r.info.port)),
            text(rows.iter().map(|r| Some(r.info.endpoint.clone()))),
            text(rows.iter().map(|r| Some(r.info.catalog.clone()))),
            text(rows.iter().map(|r| Some(r.info.schema.clone()))),
            text(rows.iter().map(|r| Some(r.info.spool_dir.clone()))),
            bools(rows.iter().map(|r| r.healthy)),
            timestamps(rows.iter().map(|r| Some(r.started_at))),
            f64s(rows.iter().map(|r| Some(r.uptime.as_secs_f64()))),
            counter_maps(stats().map(|s| &s.requests_accepted)),
            counter_maps(stats().map(|s| &s.bytes_accepted)),
            counter_maps(stats().map(|s| &s.requests_rejected)),
            counter_maps(stats().map(|s| &s.bytes_rejected)),
            counter_maps(stats().map(|s| &s.items_rejected)),
            counter_maps(stats().map(|s| &s.rows_committed)),
            u64s(stats().map(|s| s.commits)),
            u64s(rows.iter().map(|r| r.spool_backlog_records)),
            u64s(rows.iter().map(|r| r.spool_backlog_bytes)),
            optional_u64s(rows.iter().map(|r| r.spool_disk_bytes)),
            u64s(rows.iter().map(|r| r.queue_bytes)),
            f64s(rows.iter().map(|r| Some(r.ingest_lag.as_secs_f64()))),
            timestamps(stats().map(|s| s.last_commit_at)),
            f64s(stats().map(|s| s.last_commit_duration.map(|d| d.as_secs_f64() * 1000.0))),
            u64s(stats().map(|s| s.maintenance_rounds)),
            u64s(stats().map(|s| s.maintenance_failures)),
            f64s(stats().map(|s| Some(s.maintenance_seconds))),
            timestamps(stats().map(|s| s.last_maintenance_at)),
            counter_maps(stats().map(|s| &s.retention_rows_deleted)),
            counter_maps(stats().map(|s| &s.files_merged)),
            u64s(stats().map(|s| s.files_removed)),
            u64s(stats().map(|s| s.snapshots_expired)),
            counter_maps(stats().map(|s| &s.lake_files)),
            counter_maps(stats().map(|s| &s.lake_bytes)),
            u64s(stats().map(|s| s.service_graph_windows)),
            u64s(stats().map(|s| s.service_graph_requests)),
            u64s(stats().map(|s| s.service_graph_failures)),
            text(stats().map(|s| s.last_error.clone())),
            Arc::new(rows.iter().map(|r| r.info.grpc_port).collect::<UInt16Array>()) as ArrayRef,
        ],
    )?)
}

impl SqlTable for OtlpStatus {
    const NAME: &'static str = "otlp_status";
    type State = ();
    type BindData = ();
    type InitData = OneShot;

    fn bind(_: &(), bind: &BindInfo) -> Result<(), BoxError> {
        declare_columns(bind, &result_schema())
    }

    fn init(_: &(), _: &InitInfo) -> Result<OneShot, BoxError> {
        Ok(OneShot::new(result_batch(&service::status())?))
    }

    fn scan(_: &(), result: &OneShot, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_once(output)
    }
}
