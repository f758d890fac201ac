//! Runs a parsed LogQL query against the `logs` table of a [`Store`]:
//! the planner's SQL streams Arrow batches, the residual pipeline finishes
//! each line in Rust, and metric queries feed the evaluator. This is the one
//! LogQL module that reads the store; the SQL functions and (later) the Loki
//! HTTP API both call it.

use super::ast::*;
use super::eval::{evaluate, range_window, EvalError, QueryBounds, Sample, SampleSource, Series, Steps, Vector};
use super::model::{stream_labels, structured_metadata, StoredLog};
use super::pipeline::{unwrap_value, Entry, Labels, Pipeline, PipelineError, PostFilters, ERROR_LABEL};
use super::plan::{plan_logs, plan_range_counts, CountPlan, Direction, LogPlan, Shape, TimeBounds};
use crate::store::{for_each_batch, Store, StoreError};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, MapArray, RecordBatch};
use arrow_cast::cast::cast;
use arrow_schema::{DataType, TimeUnit};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("{0}")]
    Eval(#[from] EvalError),
    #[error("running the plan: {0}")]
    Sql(#[from] StoreError),
    #[error("reading the plan's result: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(
        "the query's answer would hold more than {0} bytes of log lines and labels (max_result_bytes); \
         lower the limit or narrow the query"
    )]
    ResultTooLarge(u64),
}

/// One line of a log query's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRow {
    pub timestamp_ns: i64,
    /// stream and parsed labels together
    pub labels: Labels,
    pub line: String,
    pub metadata: Labels,
    /// the stream labels alone, and the labels parsers added (Loki's categories)
    pub stream: Labels,
    pub parsed: Labels,
}

/// What a query read from storage, for the APIs' statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ScanStats {
    pub lines: u64,
    /// bytes of log lines read
    pub bytes: u64,
    /// lines that passed the pipeline's filters
    pub post_filter_lines: u64,
}

impl ScanStats {
    fn count(&mut self, entry: &Entry) {
        self.lines += 1;
        self.bytes += entry.line.len() as u64;
    }
}

impl LogRow {
    /// Roughly what the row holds in memory: its line and every label (the
    /// combined `labels` repeat the stream and parsed ones).
    fn held_bytes(&self) -> u64 {
        let size = |labels: &Labels| labels.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        (self.line.len() + size(&self.labels) + size(&self.metadata) + size(&self.stream) + size(&self.parsed)) as u64
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LogRequest {
    pub start_ns: i64,
    pub end_ns: i64,
    pub limit: u64,
    pub direction: Direction,
}

/// A log query: lines in `[start, end)`, ordered, at most `limit`, under the default [`QueryBounds`].
pub fn run_log_query(
    store: &dyn Store,
    logs_table: &str,
    selector: &LogSelector,
    request: LogRequest,
) -> Result<Vec<LogRow>, EngineError> {
    run_log_query_counted(store, logs_table, selector, request, &QueryBounds::default(), &mut ScanStats::default())
}

/// [`run_log_query`] under `bounds`, adding what it read to `stats`.
pub fn run_log_query_counted(
    store: &dyn Store,
    logs_table: &str,
    selector: &LogSelector,
    request: LogRequest,
    bounds: &QueryBounds,
    stats: &mut ScanStats,
) -> Result<Vec<LogRow>, EngineError> {
    if request.limit == 0 {
        return Ok(Vec::new());
    }
    let window =
        TimeBounds { from_ns: request.start_ns, from_inclusive: true, to_ns: request.end_ns, to_inclusive: false };
    let plan = plan_logs(selector, logs_table, window, Some(request.direction), Some(request.limit), Shape::Raw);
    let pipeline = Pipeline::new(&plan.residual)?;
    let mut rows = Vec::new();
    let mut passed = 0;
    let mut held = 0u64;
    for_each_entry(store, &plan, bounds, stats, |mut entry| {
        if pipeline.process(&mut entry) {
            passed += 1;
            let row = LogRow {
                timestamp_ns: entry.timestamp_ns,
                labels: entry.output_labels(),
                line: entry.line,
                metadata: entry.metadata,
                stream: entry.stream,
                parsed: entry.parsed,
            };
            held = held.saturating_add(row.held_bytes());
            if held > bounds.max_result_bytes {
                return Err(EngineError::ResultTooLarge(bounds.max_result_bytes));
            }
            rows.push(row);
        }
        Ok((rows.len() as u64) < request.limit)
    })?;
    stats.post_filter_lines += passed;
    Ok(rows)
}

/// A metric query evaluated at every step, under the default [`QueryBounds`].
pub fn run_metric_query(
    store: &dyn Store,
    logs_table: &str,
    expr: &MetricExpr,
    steps: &Steps,
) -> Result<Vec<Series>, EngineError> {
    run_metric_query_counted(store, logs_table, expr, steps, &QueryBounds::default(), &mut ScanStats::default())
}

/// [`run_metric_query`] under `bounds` (one budget and deadline for all its
/// selectors), adding what it read to `stats`.
pub fn run_metric_query_counted(
    store: &dyn Store,
    logs_table: &str,
    expr: &MetricExpr,
    steps: &Steps,
    bounds: &QueryBounds,
    stats: &mut ScanStats,
) -> Result<Vec<Series>, EngineError> {
    let source = LakeSamples { store, logs_table, bounds, stats: Cell::new(*stats) };
    let result = evaluate(expr, steps, &source, bounds);
    *stats = source.stats.get();
    Ok(result?)
}

struct LakeSamples<'a> {
    store: &'a dyn Store,
    logs_table: &'a str,
    bounds: &'a QueryBounds,
    stats: Cell<ScanStats>,
}

/// Bounds and deadline errors keep their kind through the [`SampleSource`] boundary.
fn source_error(error: EngineError) -> EvalError {
    match error {
        EngineError::Eval(e) => e,
        other => EvalError::Source(other.to_string()),
    }
}

impl SampleSource for LakeSamples<'_> {
    fn samples(&self, range: &RangeAggregation, from_ns: i64, to_ns: i64) -> Result<Vec<Sample>, EvalError> {
        let mut stats = self.stats.get();
        let samples = range_samples(self.store, self.logs_table, range, from_ns, to_ns, self.bounds, &mut stats)
            .map_err(source_error);
        self.stats.set(stats);
        samples
    }

    fn range_vectors(&self, range: &RangeAggregation, times: &[i64]) -> Result<Option<Vec<Vector>>, EvalError> {
        let (Some(first), Some(last)) = (times.first(), times.last()) else { return Ok(None) };
        let step_ns = if times.len() > 1 { times[1] - times[0] } else { range.range_ns };
        let (from_ns, to_ns) = range_window(range, *first, *last)?;
        let window = TimeBounds { from_ns, from_inclusive: false, to_ns, to_inclusive: true };
        let Some(plan) = plan_range_counts(range, self.logs_table, window, *first, step_ns) else { return Ok(None) };
        let mut stats = self.stats.get();
        let vectors =
            counted_vectors(self.store, &plan, range, times.len(), self.bounds, &mut stats).map_err(source_error);
        self.stats.set(stats);
        vectors.map(Some)
    }
}

/// Runs a [`CountPlan`] and turns its rows into the range function's value
/// at each step, as [`super::eval`] computes it from samples: a count, or a
/// byte sum, per second of range for the rates. Rows are labelled as single
/// lines are in [`range_samples`].
fn counted_vectors(
    store: &dyn Store,
    plan: &CountPlan,
    range: &RangeAggregation,
    steps: usize,
    bounds: &QueryBounds,
    stats: &mut ScanStats,
) -> Result<Vec<Vector>, EngineError> {
    let mut per_step: Vec<BTreeMap<Labels, (u64, u64)>> = vec![BTreeMap::new(); steps];
    let mut series = BTreeSet::new();
    for_each_batch(store, &plan.sql, |batch| -> Result<ControlFlow<()>, EngineError> {
        bounds.check_deadline()?;
        let int64 =
            |name: &str| -> Result<ArrayRef, EngineError> { Ok(cast(column(&batch, name)?, &DataType::Int64)?) };
        let (k_lo, k_hi, lines, bytes) = (int64("k_lo")?, int64("k_hi")?, int64("n")?, int64("bytes")?);
        let ints = |a: &ArrayRef| a.as_primitive::<arrow_array::types::Int64Type>().clone();
        let (k_lo, k_hi, lines, bytes) = (ints(&k_lo), ints(&k_hi), ints(&lines), ints(&bytes));
        for (row, entry) in entries(&batch)?.into_iter().enumerate() {
            let (n, b) = (lines.value(row) as u64, bytes.value(row) as u64);
            stats.lines += n;
            stats.bytes += b;
            stats.post_filter_lines += n;
            let mut labels = entry.labels_where(|name| plan.labels.iter().any(|l| l == name));
            // an empty value is no label, as in range_samples
            labels.retain(|_, value| !value.is_empty());
            if !series.contains(&labels) {
                series.insert(labels.clone());
                bounds.check_series(series.len())?;
            }
            let lo = k_lo.value(row).max(0);
            let hi = k_hi.value(row).min(steps as i64 - 1);
            for k in lo..=hi {
                let slot = per_step[k as usize].entry(labels.clone()).or_default();
                slot.0 += n;
                slot.1 += b;
            }
        }
        Ok(ControlFlow::Continue(()))
    })??;
    let seconds = range.range_ns as f64 / 1e9;
    let value = |(n, b): (u64, u64)| match range.op {
        RangeOp::CountOverTime => n as f64,
        RangeOp::Rate => n as f64 / seconds,
        RangeOp::BytesOverTime => b as f64,
        _ => b as f64 / seconds,
    };
    Ok(per_step
        .into_iter()
        .map(|step| step.into_iter().map(|(labels, counts)| (labels, value(counts))).collect())
        .collect())
}

fn range_samples(
    store: &dyn Store,
    logs_table: &str,
    range: &RangeAggregation,
    from_ns: i64,
    to_ns: i64,
    bounds: &QueryBounds,
    stats: &mut ScanStats,
) -> Result<Vec<Sample>, EngineError> {
    let window = TimeBounds { from_ns, from_inclusive: false, to_ns, to_inclusive: true };
    let plan = plan_logs(&range.selector, logs_table, window, None, None, Shape::Raw);
    let pipeline = Pipeline::new(&plan.residual)?;
    let post_filters = PostFilters::new(range.unwrap.as_ref().map(|u| u.post_filters.as_slice()).unwrap_or(&[]))?;
    let mut samples = Vec::new();
    let mut series = BTreeSet::new();
    let mut failure = None;
    let mut passed = 0;
    let scanned = for_each_entry(store, &plan, bounds, stats, |mut entry| {
        if !pipeline.process(&mut entry) {
            return Ok(true);
        }
        passed += 1;
        let value = match (&range.unwrap, range.op) {
            (Some(unwrap), _) => unwrap_value(&mut entry, &unwrap.label, unwrap.conversion),
            (None, RangeOp::BytesOverTime | RangeOp::BytesRate) => Some(entry.line.len() as f64),
            (None, _) => Some(1.0),
        };
        if !post_filters.keep(&mut entry) {
            return Ok(true);
        }
        let series_labels = |entry: &Entry, keep: &dyn Fn(&str) -> bool| {
            let mut labels = entry.labels_where(keep);
            if let Some(unwrap) = &range.unwrap {
                labels.remove(&unwrap.label);
            }
            // an empty value is no label, as in Prometheus' and Loki's label sets
            labels.retain(|_, value| !value.is_empty());
            labels
        };
        if let Some(kind) = entry.parsed.get(ERROR_LABEL) {
            let labels = series_labels(&entry, &|_| true);
            failure = Some(format!(
                "pipeline error: {kind} for series {labels:?}; use a label filter such as | __error__=\"\" to skip such lines"
            ));
            return Ok(false);
        }
        if let Some(value) = value {
            // the evaluator groups by these labels anyway; keeping only them keeps the series few
            let labels = match &range.grouping {
                Some(g) => series_labels(&entry, &|name| g.labels.iter().any(|l| l == name) != g.without),
                None => series_labels(&entry, &|_| true),
            };
            // the series limit holds as series are found, the sample budget as samples load
            if !series.contains(&labels) {
                series.insert(labels.clone());
                bounds.check_series(series.len())?;
            }
            bounds.take_samples(1)?;
            samples.push(Sample { timestamp_ns: entry.timestamp_ns, labels, value });
        }
        Ok(true)
    });
    stats.post_filter_lines += passed;
    scanned?;
    match failure {
        Some(message) => Err(EngineError::Eval(EvalError::Source(message))),
        None => Ok(samples),
    }
}

/// Streams the plan's rows as entries; `visit` returns false to stop early.
fn for_each_entry(
    store: &dyn Store,
    plan: &LogPlan,
    bounds: &QueryBounds,
    stats: &mut ScanStats,
    mut visit: impl FnMut(Entry) -> Result<bool, EngineError>,
) -> Result<(), EngineError> {
    for_each_batch(store, &plan.sql, |batch| -> Result<ControlFlow<()>, EngineError> {
        for entry in entries(&batch)? {
            // DuckDB is interrupted at the deadline; the Rust stages between its batches check it here
            bounds.check_deadline()?;
            stats.count(&entry);
            if !visit(entry)? {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    })?
}

fn text_column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, EngineError> {
    Ok(cast(column(batch, name)?, &DataType::Utf8)?)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, EngineError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| EngineError::Eval(EvalError::Source(format!("the plan returned no {name} column"))))
}

/// Labels each row of a [`Shape::Raw`] batch with the OTLP label model.
fn entries(batch: &RecordBatch) -> Result<Vec<Entry>, EngineError> {
    let timestamps = cast(column(batch, "timestamp")?, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
    let timestamps = timestamps.as_primitive::<arrow_array::types::TimestampNanosecondType>();
    let texts = ["line", "service_name", "trace_id", "span_id", "severity_text", "scope_name"]
        .map(|name| text_column(batch, name));
    let [line, service, trace, span, severity, scope] = texts;
    let (line, service, trace, span, severity, scope) = (line?, service?, trace?, span?, severity?, scope?);
    let text = |array: &ArrayRef, row: usize| -> String {
        let array = array.as_string::<i32>();
        if array.is_null(row) {
            String::new()
        } else {
            array.value(row).to_string()
        }
    };
    let numbers = cast(column(batch, "severity_number")?, &DataType::Int32)?;
    let numbers = numbers.as_primitive::<arrow_array::types::Int32Type>();
    let resource = column(batch, "resource_attributes")?.as_map();
    let attributes = column(batch, "log_attributes")?.as_map();
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let (service_name, trace_id, span_id) = (text(&service, row), text(&trace, row), text(&span, row));
        let (severity_text, scope_name) = (text(&severity, row), text(&scope, row));
        let stored = StoredLog {
            service_name: &service_name,
            trace_id: &trace_id,
            span_id: &span_id,
            severity_text: &severity_text,
            severity_number: if numbers.is_null(row) { 0 } else { numbers.value(row) },
            scope_name: &scope_name,
        };
        let resource_pairs = map_row(resource, row)?;
        let attribute_pairs = map_row(attributes, row)?;
        let stream = stream_labels(&stored, resource_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let metadata =
            structured_metadata(&stored, &stream, attribute_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out.push(Entry {
            timestamp_ns: timestamps.value(row),
            line: text(&line, row),
            stream,
            metadata,
            parsed: Labels::new(),
        });
    }
    Ok(out)
}

/// The entries of one row's MAP, in stored order.
fn map_row(map: &MapArray, row: usize) -> Result<Vec<(String, String)>, EngineError> {
    if map.is_null(row) {
        return Ok(Vec::new());
    }
    let entries = map.value(row);
    let keys = cast(entries.column(0), &DataType::Utf8)?;
    let values = cast(entries.column(1), &DataType::Utf8)?;
    let (keys, values) = (keys.as_string::<i32>(), values.as_string::<i32>());
    Ok((0..keys.len())
        .filter(|i| !values.is_null(*i))
        .map(|i| (keys.value(i).to_string(), values.value(i).to_string()))
        .collect())
}
