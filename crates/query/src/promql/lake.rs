//! Prometheus series from the DuckLake metric tables.
//!
//! A selector becomes two kinds of SQL, both filtered on `timestamp` by plain
//! comparisons with constants so DuckLake skips files outside the window:
//! 1. which OTLP metrics (table, name, unit, monotonicity) have points in the
//!    window; their Prometheus names are computed in Rust ([`super::series`])
//!    and matched against the selector's `__name__` matchers, because the
//!    name translation cannot be inverted;
//! 2. per matching OTLP metric, its points grouped into one row per
//!    (resource, attributes) pair with `metric_name = '...'` pushed down, so
//!    labels are built once per series, not per point.
//!
//! The other label matchers are applied in Rust on the built label sets
//! (labels come from translated attribute names, which SQL cannot match on
//! directly without repeating the translation).
//!
//! A point flagged "no recorded value" is a staleness marker: the series has
//! no value from then until its next point, as in Prometheus.
//!
//! Delta temporality: the points of a delta sum or histogram are turned into
//! a running total per series, starting at zero just before the fetched
//! window, so `rate`/`increase` see a counter. Within a window this gives
//! exactly the increases the deltas report; only the absolute level (and so
//! `rate`'s "extrapolate to zero" limit at the very first window) depends on
//! where the fetch starts.

use super::error::{PromqlError, Result};
use super::series::{family_name, le_label, point_labels, series_names, MetricKind, Part};
use super::source::{Selection, SeriesSource};
use super::value::{format_float, stale_nan, Labels, Point, Series, METRIC_NAME};
use crate::sql_text::sql_string;
use crate::sql_text::LakeTarget;
use crate::store::{all_batches, for_each_batch, Store, StoreError};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

const DELTA: i32 = 1;

/// An OTLP metric found in the window.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OtlpMetric {
    pub kind: MetricKind,
    pub name: String,
    pub unit: String,
}

impl OtlpMetric {
    pub fn table(&self) -> &'static str {
        table_of(self.kind)
    }
}

pub fn table_of(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Gauge => "metrics_gauge",
        MetricKind::MonotonicSum | MetricKind::NonMonotonicSum => "metrics_sum",
        MetricKind::Histogram => "metrics_histogram",
        MetricKind::ExponentialHistogram => "metrics_exponential_histogram",
        MetricKind::Summary => "metrics_summary",
    }
}

/// `TIMESTAMP_NS 'YYYY-MM-DD HH:MM:SS.mmm'` for a time in milliseconds.
pub fn timestamp_literal(ms: i64) -> String {
    let civil = super::eval::civil_time(ms.div_euclid(1000));
    format!(
        "TIMESTAMP_NS '{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}'",
        civil.year,
        civil.month,
        civil.day,
        civil.hour,
        civil.minute,
        civil.second,
        ms.rem_euclid(1000)
    )
}

/// `metric_name` is one of `names`. Stored names are any text: DuckLake copies
/// a constant compared with a column into the SQL of its file-pruning query,
/// where a NUL cuts it short (a parser error), so names holding a NUL are
/// compared through `coalesce`, which DuckLake does not push down; the rest
/// stay plain comparisons that prune files.
pub fn metric_name_filter<'n>(names: impl IntoIterator<Item = &'n str>) -> String {
    let (with_nul, plain): (Vec<&str>, Vec<&str>) = names.into_iter().partition(|name| name.contains('\0'));
    let list = |names: &[&str]| names.iter().map(|name| sql_string(name)).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !plain.is_empty() {
        parts.push(format!("metric_name IN ({})", list(&plain)));
    }
    if !with_nul.is_empty() {
        parts.push(format!("coalesce(metric_name, '') IN ({})", list(&with_nul)));
    }
    match parts.len() {
        0 => "false".to_string(),
        1 => parts.remove(0),
        _ => format!("({})", parts.join(" OR ")),
    }
}

/// The prunable predicate for points whose millisecond time is in `(start, end]`.
pub fn window_predicate(start: i64, end: i64) -> String {
    format!("\"timestamp\" >= {} AND \"timestamp\" < {}", timestamp_literal(start + 1), timestamp_literal(end + 1))
}

/// Times for the lake: windows are clamped to what a `TIMESTAMP_NS` column
/// can hold (1678 to 2261), so Prometheus' open ranges (`MinTime`/`MaxTime`)
/// and far-off `@` times become valid SQL literals.
pub fn clamp_to_lake(ms: i64) -> i64 {
    ms.clamp(LAKE_FIRST_MS, LAKE_LAST_MS)
}

/// The times a `TIMESTAMP_NS` literal can hold, in whole years: 1678-01-01
/// and 2262-01-01, in milliseconds.
pub const LAKE_FIRST_MS: i64 = -9_214_560_000_000;
pub const LAKE_LAST_MS: i64 = 9_214_646_400_000;

/// What one query may load from the lake, summed over all its selectors and
/// checked as each series arrives, so a query over too much data fails
/// while loading instead of after holding it all.
#[derive(Debug)]
pub struct LoadBudget {
    pub max_series: usize,
    pub max_samples: usize,
    series: Cell<usize>,
    samples: Cell<usize>,
}

impl LoadBudget {
    pub fn new(max_series: usize, max_samples: usize) -> Self {
        LoadBudget { max_series, max_samples, series: Cell::new(0), samples: Cell::new(0) }
    }

    /// Fails once `found` distinct series are more than the bound (discovery
    /// routes count their own sets, which read no points).
    pub fn check_series(&self, found: usize) -> Result<()> {
        if found > self.max_series {
            return Err(PromqlError::Eval(format!(
                "the query hit the max number of series limit (limit: {} series)",
                self.max_series
            )));
        }
        Ok(())
    }

    fn charge(&self, series: &Series) -> Result<()> {
        self.series.set(self.series.get() + 1);
        self.samples.set(self.samples.get().saturating_add(series.points.len()));
        self.check_series(self.series.get())?;
        if self.samples.get() > self.max_samples {
            return Err(PromqlError::TooManySamples { limit: self.max_samples });
        }
        Ok(())
    }
}

impl Default for LoadBudget {
    /// No series bound (SQL callers get every series), the default sample bound.
    fn default() -> Self {
        LoadBudget::new(usize::MAX, super::eval::DEFAULT_MAX_SAMPLES)
    }
}

pub struct LakeSource<'c> {
    pub store: &'c dyn Store,
    pub target: LakeTarget,
    pub budget: LoadBudget,
}

fn storage(context: &str) -> impl Fn(StoreError) -> PromqlError + '_ {
    move |e| PromqlError::Storage(format!("{context}: {e}"))
}

impl<'c> LakeSource<'c> {
    pub fn new(store: &'c dyn Store, target: LakeTarget) -> Self {
        LakeSource { store, target, budget: LoadBudget::default() }
    }

    pub(super) fn query(&self, sql: &str, context: &str) -> Result<Vec<RecordBatch>> {
        all_batches(self.store, sql).map_err(storage(context))
    }

    /// The OTLP metrics with points in the window.
    pub fn metrics_in_window(&self, start: i64, end: i64) -> Result<Vec<OtlpMetric>> {
        let window = window_predicate(start, end);
        let part = |kind: &str, table: &str, monotonic: &str| {
            format!(
                "SELECT DISTINCT '{kind}' AS kind, metric_name, coalesce(metric_unit, '') AS unit, {monotonic} AS monotonic \
                 FROM {} WHERE {window}",
                self.target.qualified(table)
            )
        };
        let sql = [
            part("gauge", "metrics_gauge", "false"),
            part("sum", "metrics_sum", "coalesce(is_monotonic, false)"),
            part("histogram", "metrics_histogram", "false"),
            part("exponential_histogram", "metrics_exponential_histogram", "false"),
            part("summary", "metrics_summary", "false"),
        ]
        .join(" UNION ALL ");
        let mut metrics = Vec::new();
        for batch in self.query(&sql, "listing metrics")? {
            let kinds = batch.column(0).as_string::<i32>();
            let names = batch.column(1).as_string::<i32>();
            let units = batch.column(2).as_string::<i32>();
            let monotonic = batch.column(3).as_boolean();
            for row in 0..batch.num_rows() {
                if names.is_null(row) {
                    continue;
                }
                let kind = match (kinds.value(row), monotonic.value(row)) {
                    ("gauge", _) => MetricKind::Gauge,
                    ("sum", true) => MetricKind::MonotonicSum,
                    ("sum", false) => MetricKind::NonMonotonicSum,
                    ("histogram", _) => MetricKind::Histogram,
                    ("exponential_histogram", _) => MetricKind::ExponentialHistogram,
                    _ => MetricKind::Summary,
                };
                metrics.push(OtlpMetric { kind, name: names.value(row).into(), unit: units.value(row).into() });
            }
        }
        metrics.sort();
        metrics.dedup();
        Ok(metrics)
    }

    /// The points of one OTLP metric in the window, one row per series.
    fn points_sql(&self, metric: &OtlpMetric, start: i64, end: i64) -> String {
        let extra = match metric.kind {
            MetricKind::Gauge => {
                "NULL::INTEGER AS temporality, list(\"value\" ORDER BY \"timestamp\") AS v".to_string()
            }
            MetricKind::MonotonicSum | MetricKind::NonMonotonicSum => {
                "any_value(aggregation_temporality) AS temporality, list(\"value\" ORDER BY \"timestamp\") AS v"
                    .to_string()
            }
            MetricKind::Histogram => "any_value(aggregation_temporality) AS temporality, \
                 list(\"count\" ORDER BY \"timestamp\") AS c, list(\"sum\" ORDER BY \"timestamp\") AS s, \
                 list(bucket_counts ORDER BY \"timestamp\") AS b, list(explicit_bounds ORDER BY \"timestamp\") AS e"
                .to_string(),
            MetricKind::ExponentialHistogram => "any_value(aggregation_temporality) AS temporality, \
                 list(\"count\" ORDER BY \"timestamp\") AS c, list(\"sum\" ORDER BY \"timestamp\") AS s"
                .to_string(),
            MetricKind::Summary => "NULL::INTEGER AS temporality, \
                 list(\"count\" ORDER BY \"timestamp\") AS c, list(\"sum\" ORDER BY \"timestamp\") AS s, \
                 list(quantile_values ORDER BY \"timestamp\") AS q"
                .to_string(),
        };
        let monotonic = match metric.kind {
            MetricKind::MonotonicSum => " AND is_monotonic",
            MetricKind::NonMonotonicSum => " AND NOT coalesce(is_monotonic, false)",
            _ => "",
        };
        let temporality_group = match metric.kind {
            MetricKind::Gauge | MetricKind::Summary => "",
            _ => ", aggregation_temporality",
        };
        format!(
            "SELECT map_keys(resource_attributes) AS rk, map_values(resource_attributes) AS rv, \
             map_keys(attributes) AS ak, map_values(attributes) AS av, \
             list(epoch_ms(\"timestamp\") ORDER BY \"timestamp\") AS t, \
             list(coalesce(flags, 0) & 1 = 1 ORDER BY \"timestamp\") AS stale, {extra} \
             FROM {} WHERE {} AND coalesce(metric_unit, '') = {}{monotonic} AND {} \
             GROUP BY resource_attributes, attributes{temporality_group}",
            self.target.qualified(metric.table()),
            metric_name_filter([metric.name.as_str()]),
            sql_string(&metric.unit),
            window_predicate(start, end),
        )
    }

    /// The series of one OTLP metric that `selection` matches, charged to the
    /// budget as they are built.
    fn fetch(&self, metric: &OtlpMetric, parts: &[(String, Part)], selection: &Selection) -> Result<Vec<Series>> {
        let sql = self.points_sql(metric, selection.start, selection.end);
        let context = format!("reading {}", metric.name.escape_debug());
        let mut out = Vec::new();
        for_each_batch(self.store, &sql, |batch| -> Result<ControlFlow<()>> {
            for row in 0..batch.num_rows() {
                let base = point_labels(
                    pairs(batch.column(0), batch.column(1), row)
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                    pairs(batch.column(2), batch.column(3), row)
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                );
                let times = i64_list(batch.column(4), row);
                let stale = bool_list(batch.column(5), row);
                let temporality = batch.column(6).as_primitive::<Int32Type>();
                let delta = !temporality.is_null(row) && temporality.value(row) == DELTA;
                for (name, part) in parts {
                    let mut labels = base.clone();
                    labels.insert(METRIC_NAME.into(), name.clone());
                    for series in part_series(&batch, row, *part, labels, &times, delta) {
                        if selection.matches(&series.labels) {
                            self.budget.charge(&series)?;
                            out.push(mark_stale(series, &times, &stale));
                        }
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        })
        .map_err(storage(&context))??;
        Ok(out)
    }
}

impl SeriesSource for LakeSource<'_> {
    fn select(&self, selection: &Selection) -> Result<Vec<Series>> {
        let name_matchers: Vec<_> = selection.matchers.iter().filter(|m| m.name == METRIC_NAME).collect();
        let mut merged: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
        let (start, end) = (clamp_to_lake(selection.start), clamp_to_lake(selection.end));
        if start >= end {
            return Ok(Vec::new());
        }
        let selection = &Selection { start, end, ..selection.clone() };
        for metric in self.metrics_in_window(selection.start, selection.end)? {
            let family = family_name(&metric.name, &metric.unit, metric.kind);
            let parts: Vec<(String, Part)> = series_names(&family, metric.kind)
                .into_iter()
                .filter(|(name, _)| name_matchers.iter().all(|m| m.is_match(name)))
                .collect();
            if parts.is_empty() {
                continue;
            }
            for series in self.fetch(&metric, &parts, selection)? {
                merged.entry(series.labels).or_default().extend(series.points);
            }
        }
        Ok(merged
            .into_iter()
            .map(|(labels, mut points)| {
                // one value per millisecond, as Prometheus stores: the largest (deterministic, and
                // what promql_sql keeps too); duplicates come from re-exports of the same point
                points.sort_by(|a, b| a.t.cmp(&b.t).then(b.v.total_cmp(&a.v)));
                points.dedup_by_key(|p| p.t);
                Series { labels, points }
            })
            .collect())
    }
}

pub(super) fn strings(list: &ArrayRef, row: usize) -> Vec<String> {
    let list = list.as_list::<i32>();
    if list.is_null(row) {
        return Vec::new();
    }
    let values = list.value(row);
    let values = values.as_string::<i32>();
    (0..values.len()).map(|i| values.value(i).to_string()).collect()
}

fn bool_list(list: &ArrayRef, row: usize) -> Vec<bool> {
    let values = list.as_list::<i32>().value(row);
    values.as_boolean().iter().map(|v| v.unwrap_or(false)).collect()
}

/// A point flagged "no recorded value" (OTLP's staleness signal) becomes
/// Prometheus' staleness marker.
fn mark_stale(mut series: Series, times: &[i64], stale: &[bool]) -> Series {
    let stale_times: Vec<i64> = times.iter().zip(stale).filter(|(_, s)| **s).map(|(t, _)| *t).collect();
    if stale_times.is_empty() {
        return series;
    }
    for p in &mut series.points {
        if stale_times.binary_search(&p.t).is_ok() {
            p.v = stale_nan();
        }
    }
    let present: Vec<i64> = series.points.iter().map(|p| p.t).collect();
    for t in stale_times {
        if present.binary_search(&t).is_err() {
            series.points.push(Point { t, v: stale_nan() });
        }
    }
    series.points.sort_by_key(|p| p.t);
    series
}

pub(super) fn pairs(keys: &ArrayRef, values: &ArrayRef, row: usize) -> Vec<(String, String)> {
    strings(keys, row).into_iter().zip(strings(values, row)).collect()
}

fn i64_list(list: &ArrayRef, row: usize) -> Vec<i64> {
    let values = list.as_list::<i32>().value(row);
    values.as_primitive::<Int64Type>().iter().map(|v| v.unwrap_or(0)).collect()
}

/// A list of numbers as f64 (`None` for NULL entries); DOUBLE or UBIGINT.
pub(super) fn number_list(array: &ArrayRef) -> Vec<Option<f64>> {
    if let Some(doubles) = array.as_primitive_opt::<Float64Type>() {
        doubles.iter().collect()
    } else if let Some(counts) = array.as_primitive_opt::<UInt64Type>() {
        counts.iter().map(|v| v.map(|v| v as f64)).collect()
    } else {
        vec![None; array.len()]
    }
}

fn column_list(batch: &RecordBatch, name: &str, row: usize) -> Vec<Option<f64>> {
    let column = batch.column_by_name(name).expect("column selected by points_sql");
    number_list(&column.as_list::<i32>().value(row))
}

/// Nested per-point lists (`bucket_counts`, `explicit_bounds`).
fn nested_list(batch: &RecordBatch, name: &str, row: usize) -> Vec<Vec<Option<f64>>> {
    let column = batch.column_by_name(name).expect("column selected by points_sql");
    let outer = column.as_list::<i32>().value(row);
    let outer = outer.as_list::<i32>();
    (0..outer.len()).map(|i| if outer.is_null(i) { Vec::new() } else { number_list(&outer.value(i)) }).collect()
}

fn running_total(points: &mut [Point]) {
    let mut total = 0.0;
    for p in points {
        total += p.v;
        p.v = total;
    }
}

fn series_of(labels: Labels, times: &[i64], values: &[Option<f64>], delta: bool) -> Option<Series> {
    let mut points: Vec<Point> = times.iter().zip(values).filter_map(|(&t, v)| v.map(|v| Point { t, v })).collect();
    if delta {
        running_total(&mut points);
    }
    (!points.is_empty()).then_some(Series { labels, points })
}

/// The Prometheus series one row (one OTLP series) gives for one part.
fn part_series(batch: &RecordBatch, row: usize, part: Part, labels: Labels, times: &[i64], delta: bool) -> Vec<Series> {
    match part {
        Part::Value => series_of(labels, times, &column_list(batch, "v", row), delta).into_iter().collect(),
        Part::Sum => series_of(labels, times, &column_list(batch, "s", row), delta).into_iter().collect(),
        Part::Count => series_of(labels, times, &column_list(batch, "c", row), delta).into_iter().collect(),
        Part::Bucket => bucket_series(batch, row, labels, times, delta),
        Part::Quantile => quantile_series(batch, row, labels, times),
    }
}

/// Classic buckets: OTLP counts per bucket become cumulative `le` series.
fn bucket_series(batch: &RecordBatch, row: usize, labels: Labels, times: &[i64], delta: bool) -> Vec<Series> {
    let counts = nested_list(batch, "b", row);
    let bounds = nested_list(batch, "e", row);
    let mut by_le: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for ((t, counts), bounds) in times.iter().zip(&counts).zip(&bounds) {
        let mut cumulative = 0.0;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count.unwrap_or(0.0);
            let bound = bounds.get(i).copied().flatten().unwrap_or(f64::INFINITY);
            by_le.entry(le_label(bound)).or_default().push(Point { t: *t, v: cumulative });
        }
    }
    by_le
        .into_iter()
        .map(|(le, mut points)| {
            if delta {
                running_total(&mut points);
            }
            let mut labels = labels.clone();
            labels.insert("le".into(), le);
            Series { labels, points }
        })
        .collect()
}

fn quantile_series(batch: &RecordBatch, row: usize, labels: Labels, times: &[i64]) -> Vec<Series> {
    let column = batch.column_by_name("q").expect("column selected by points_sql");
    let per_point = column.as_list::<i32>().value(row);
    let per_point = per_point.as_list::<i32>();
    let mut by_quantile: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for (i, t) in times.iter().enumerate() {
        if per_point.is_null(i) {
            continue;
        }
        let entries = per_point.value(i);
        let entries = entries.as_struct();
        let quantiles = number_list(entries.column(0));
        let values = number_list(entries.column(1));
        for (q, v) in quantiles.into_iter().zip(values) {
            if let (Some(q), Some(v)) = (q, v) {
                by_quantile.entry(format_float(q)).or_default().push(Point { t: *t, v });
            }
        }
    }
    by_quantile
        .into_iter()
        .map(|(q, points)| {
            let mut labels = labels.clone();
            labels.insert("quantile".into(), q);
            Series { labels, points }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_predicates_are_constant_and_millisecond_exact() {
        assert_eq!(
            window_predicate(0, 60_000),
            "\"timestamp\" >= TIMESTAMP_NS '1970-01-01 00:00:00.001' AND \"timestamp\" < TIMESTAMP_NS '1970-01-01 00:01:00.001'"
        );
        assert_eq!(timestamp_literal(-1), "TIMESTAMP_NS '1969-12-31 23:59:59.999'");
    }

    #[test]
    fn names_with_a_nul_are_compared_where_ducklake_does_not_push_them_down() {
        assert_eq!(metric_name_filter(["up"]), "metric_name IN ('up')");
        assert_eq!(metric_name_filter(["a'b", "c"]), "metric_name IN ('a''b', 'c')");
        assert_eq!(metric_name_filter(["a\0b"]), "coalesce(metric_name, '') IN (('a' || chr(0) || 'b'))");
        assert_eq!(
            metric_name_filter(["up", "a\0"]),
            "(metric_name IN ('up') OR coalesce(metric_name, '') IN (('a' || chr(0) || '')))"
        );
        assert_eq!(metric_name_filter([]), "false");
    }

    fn pts(values: &[(i64, f64)]) -> Vec<Point> {
        values.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn deltas_become_a_running_total() {
        let mut points = pts(&[(1, 5.0), (2, 5.0), (3, 0.0), (4, 2.5)]);
        running_total(&mut points);
        assert_eq!(points, pts(&[(1, 5.0), (2, 10.0), (3, 10.0), (4, 12.5)]));
    }

    #[test]
    fn no_recorded_value_points_are_staleness_markers() {
        // the flagged point at t=2 has no value (not in the series) and is added as a marker
        let series = Series { labels: Labels::new(), points: pts(&[(1, 1.0), (3, 3.0)]) };
        let marked = mark_stale(series, &[1, 2, 3], &[false, true, false]);
        assert_eq!(marked.points.len(), 3);
        assert!(crate::promql::value::is_stale(marked.points[1].v));
        assert_eq!((marked.points[1].t, marked.points[2].v), (2, 3.0));
    }
}
