//! `otlp_maintenance(port := NULL, dry_run := false)`: runs a maintenance
//! round now on the running servers (one by port, or each) and returns what it
//! did per table, then one row (`table_name` NULL) for what belongs to the
//! lake as a whole.

use super::args::{count, named, named_bool};
use super::columns::{bools, text, u16s, u64s};
use super::edge::{declare_columns, OneShot, SqlTable};
use crate::guard::BoxError;
use crate::lake::maintenance::{RoundReport, TableReport};
use crate::otlp::schema::Table;
use crate::service;
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo};
use std::sync::Arc;

pub struct OtlpMaintenance;

fn result_schema() -> SchemaRef {
    let counter = |name: &str| Field::new(name, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        Field::new("port", DataType::UInt16, false),
        Field::new("table_name", DataType::Utf8, true),
        counter("rows_flushed"),
        counter("rows_deleted"),
        counter("files_dropped"),
        counter("bytes_dropped"),
        counter("files_merged"),
        counter("files_removed"),
        counter("snapshots_expired"),
        Field::new("dry_run", DataType::Boolean, false),
    ]))
}

/// One row of the result: a table's figures, or the lake's (`table: None`).
struct Row {
    port: u16,
    table: Option<Table>,
    done: TableReport,
    snapshots_expired: u64,
    dry_run: bool,
}

fn rows(port: u16, report: &RoundReport) -> Vec<Row> {
    let row = |table: Option<Table>, done: TableReport, snapshots_expired: u64| Row {
        port,
        table,
        done,
        snapshots_expired,
        dry_run: report.dry_run,
    };
    let mut rows: Vec<Row> = Table::all()
        .into_iter()
        .map(|table| row(Some(table), report.tables.get(&table).cloned().unwrap_or_default(), 0))
        .collect();
    let lake = TableReport { files_removed: report.other_files_removed, ..TableReport::default() };
    rows.push(row(None, lake, report.snapshots_expired));
    rows
}

fn result_batch(reports: &[(u16, RoundReport)]) -> Result<RecordBatch, BoxError> {
    let all: Vec<Row> = reports.iter().flat_map(|(port, report)| rows(*port, report)).collect();
    Ok(RecordBatch::try_new(
        result_schema(),
        vec![
            u16s(all.iter().map(|r| r.port)),
            text(all.iter().map(|r| r.table.map(|t| t.name().to_string()))),
            u64s(all.iter().map(|r| r.done.rows_flushed)),
            u64s(all.iter().map(|r| r.done.rows_deleted)),
            u64s(all.iter().map(|r| r.done.files_dropped)),
            u64s(all.iter().map(|r| r.done.bytes_dropped)),
            u64s(all.iter().map(|r| r.done.files_merged)),
            u64s(all.iter().map(|r| r.done.files_removed)),
            u64s(all.iter().map(|r| r.snapshots_expired)),
            bools(all.iter().map(|r| r.dry_run)),
        ],
    )?)
}

pub struct MaintenanceBind {
    port: Option<u16>,
    dry_run: bool,
}

fn run(bind: &MaintenanceBind) -> Result<OneShot, BoxError> {
    let reports = service::maintain(bind.port, bind.dry_run)?;
    if let Some((port, error)) = reports.iter().find_map(|(port, r)| r.error.as_ref().map(|e| (port, e))) {
        return Err(format!(
            "maintenance on port {port} failed: {error} (the round's other steps were done; the failed one is retried in the next round)"
        )
        .into());
    }
    Ok(OneShot::new(result_batch(&reports)?))
}

impl SqlTable for OtlpMaintenance {
    const NAME: &'static str = "otlp_maintenance";
    type State = ();
    type BindData = MaintenanceBind;
    type InitData = OneShot;

    fn named_parameters() -> Vec<(String, LogicalTypeHandle)> {
        vec![("port".into(), LogicalTypeId::Bigint.into()), ("dry_run".into(), LogicalTypeId::Boolean.into())]
    }

    fn bind(_: &(), bind: &BindInfo) -> Result<MaintenanceBind, BoxError> {
        declare_columns(bind, &result_schema())?;
        let port = named(bind, "port").map(|v| count("port", v.to_int64())).transpose()?;
        let dry_run = named_bool(bind, "dry_run").unwrap_or(false);
        Ok(MaintenanceBind { port, dry_run })
    }

    fn init(bind: &MaintenanceBind, _: &InitInfo) -> Result<OneShot, BoxError> {
        run(bind)
    }

    fn scan(_: &MaintenanceBind, result: &OneShot, output: &mut DataChunkHandle) -> Result<(), BoxError> {
        result.emit_once(output)
    }
}
