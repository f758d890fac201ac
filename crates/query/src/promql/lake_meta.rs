//! What the lake holds besides samples: which series exist (label sets,
//! without reading points), metric metadata (type, help, unit) and exemplars.
//!
//! These serve the discovery side of the Prometheus API (`series`, `labels`,
//! `label/<name>/values`, `metadata`, `query_exemplars`). Each reads one
//! `SELECT DISTINCT` per metric table over the few columns that decide a
//! series' labels (attributes, histogram bounds, summary quantiles), with
//! the metric names pushed down and the window as constant `timestamp`
//! comparisons, so it costs a scan of those columns, not of the points.

use super::error::Result;
use super::lake::{metric_name_filter, number_list, pairs, table_of, window_predicate, LakeSource, OtlpMetric};
use super::series::{family_name, le_label, point_labels, series_names, unit_name, MetricKind, Part};
use super::source::Selection;
use super::value::{format_float, Labels, METRIC_NAME};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use promql_parser::label::Matcher;
use std::collections::{BTreeMap, BTreeSet};

/// The series names (all parts) and the OTLP metric behind each family.
type Wanted = BTreeMap<(String, String, MetricKind), Vec<(String, Part)>>;

/// Prometheus' metadata of one metric family.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Metadata {
    pub family: String,
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

/// One exemplar, as Prometheus' OTLP translation makes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub t: i64,
}

/// Prometheus caps exemplar label text at this many characters; filtered
/// attributes that would pass it are left out (trace and span ids stay).
const MAX_EXEMPLAR_RUNES: usize = 128;

pub fn metadata_type(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Gauge | MetricKind::NonMonotonicSum => "gauge",
        MetricKind::MonotonicSum => "counter",
        MetricKind::Histogram | MetricKind::ExponentialHistogram => "histogram",
        MetricKind::Summary => "summary",
    }
}

fn kind_of(table: &str, monotonic: bool) -> MetricKind {
    match (table, monotonic) {
        ("metrics_gauge", _) => MetricKind::Gauge,
        ("metrics_sum", true) => MetricKind::MonotonicSum,
        ("metrics_sum", false) => MetricKind::NonMonotonicSum,
        ("metrics_histogram", _) => MetricKind::Histogram,
        ("metrics_exponential_histogram", _) => MetricKind::ExponentialHistogram,
        _ => MetricKind::Summary,
    }
}

fn monotonic_column(table: &str) -> &'static str {
    if table == "metrics_sum" {
        "coalesce(is_monotonic, false)"
    } else {
        "false"
    }
}

const TABLES: [&str; 5] =
    ["metrics_gauge", "metrics_sum", "metrics_histogram", "metrics_exponential_histogram", "metrics_summary"];

impl LakeSource<'_> {
    /// The OTLP metrics in `(start, end]` with the series names the
    /// `__name__` matchers among `matchers` accept, grouped by table.
    fn wanted(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<BTreeMap<&'static str, Wanted>> {
        let name_matchers: Vec<&Matcher> = matchers.iter().filter(|m| m.name == METRIC_NAME).collect();
        let mut wanted: BTreeMap<&'static str, Wanted> = BTreeMap::new();
        for metric in self.metrics_in_window(start, end)? {
            let family = family_name(&metric.name, &metric.unit, metric.kind);
            let parts: Vec<(String, Part)> = series_names(&family, metric.kind)
                .into_iter()
                .filter(|(name, _)| name_matchers.iter().all(|m| m.is_match(name)))
                .collect();
            if !parts.is_empty() {
                let OtlpMetric { kind, name, unit } = metric;
                wanted.entry(table_of(kind)).or_default().insert((name, unit, kind), parts);
            }
        }
        Ok(wanted)
    }

    /// Every series name with points in `(start, end]`, without reading points.
    pub fn series_names_in_window(&self, start: i64, end: i64) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        for metric in self.metrics_in_window(start, end)? {
            let family = family_name(&metric.name, &metric.unit, metric.kind);
            names.extend(series_names(&family, metric.kind).into_iter().map(|(name, _)| name));
        }
        Ok(names)
    }

    /// The label sets of the series with points in `(start, end]` that
    /// satisfy every matcher, without reading their points.
    pub fn series_labels(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<BTreeSet<Labels>> {
        let selection = Selection { matchers: matchers.to_vec(), start, end };
        let mut found = BTreeSet::new();
        for (table, wanted) in self.wanted(matchers, start, end)? {
            let extra = match table {
                "metrics_histogram" => ", explicit_bounds AS e, len(bucket_counts) AS nb",
                "metrics_summary" => ", quantile_values AS q",
                _ => "",
            };
            let sql = format!(
                "SELECT DISTINCT metric_name, coalesce(metric_unit, '') AS unit, {} AS monotonic, \
                 map_keys(resource_attributes) AS rk, map_values(resource_attributes) AS rv, \
                 map_keys(attributes) AS ak, map_values(attributes) AS av{extra} \
                 FROM {} WHERE {} AND {}",
                monotonic_column(table),
                self.target.qualified(table),
                name_list(&wanted),
                window_predicate(start, end),
            );
            for batch in self.query(&sql, "listing series")? {
                for row in 0..batch.num_rows() {
                    let Some((parts, base)) = row_series(&batch, row, table, &wanted) else { continue };
                    for (name, part) in parts {
                        for labels in part_labels(&batch, row, &base, name, *part) {
                            if selection.matches(&labels) {
                                found.insert(labels);
                                self.budget.check_series(found.len())?;
                            }
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// Type, help and unit of every metric family in the lake (all time, as
    /// Prometheus reports the metadata of everything it scrapes).
    pub fn metadata(&self) -> Result<BTreeSet<Metadata>> {
        let sql = TABLES
            .iter()
            .map(|table| {
                format!(
                    "SELECT DISTINCT '{table}' AS t, metric_name, coalesce(metric_unit, '') AS unit, {} AS monotonic, \
                     coalesce(metric_description, '') AS help FROM {}",
                    monotonic_column(table),
                    self.target.qualified(table)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut found = BTreeSet::new();
        for batch in self.query(&sql, "listing metadata")? {
            let tables = batch.column(0).as_string::<i32>();
            let names = batch.column(1).as_string::<i32>();
            let units = batch.column(2).as_string::<i32>();
            let monotonic = batch.column(3).as_boolean();
            let helps = batch.column(4).as_string::<i32>();
            for row in 0..batch.num_rows() {
                if names.is_null(row) {
                    continue;
                }
                let kind = kind_of(tables.value(row), monotonic.value(row));
                found.insert(Metadata {
                    family: family_name(names.value(row), units.value(row), kind),
                    kind: metadata_type(kind),
                    help: helps.value(row).to_string(),
                    unit: unit_name(units.value(row)),
                });
            }
        }
        Ok(found)
    }

    /// Exemplars with times in `[start, end]` of the series matching
    /// `matchers`, by series: sums carry theirs on the series, histograms on
    /// the `_bucket` series whose bound first holds the exemplar's value
    /// (Prometheus' OTLP translation; gauges carry none). Exemplars are read
    /// from points up to five minutes after `end` (an exemplar precedes the
    /// point that reports it).
    pub fn exemplars(&self, matchers: &[Matcher], start: i64, end: i64) -> Result<BTreeMap<Labels, Vec<Exemplar>>> {
        let selection = Selection { matchers: matchers.to_vec(), start, end };
        let mut found: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
        let point_end = end.saturating_add(5 * 60 * 1000);
        for (table, wanted) in self.wanted(matchers, start - 1, point_end)? {
            if table != "metrics_sum" && table != "metrics_histogram" {
                continue;
            }
            let (outer, bounds) =
                if table == "metrics_histogram" { (", e", ", explicit_bounds AS e") } else { ("", "") };
            let sql = format!(
                "SELECT metric_name, unit, monotonic, rk, rv, ak, av{outer}, epoch_ms(x.timestamp) AS xt, x.value AS xv, \
                 x.trace_id AS xtrace, x.span_id AS xspan, map_keys(x.filtered_attributes) AS xk, \
                 map_values(x.filtered_attributes) AS xa FROM (\
                 SELECT metric_name, coalesce(metric_unit, '') AS unit, {} AS monotonic, \
                 map_keys(resource_attributes) AS rk, map_values(resource_attributes) AS rv, \
                 map_keys(attributes) AS ak, map_values(attributes) AS av{bounds}, unnest(exemplars) AS x \
                 FROM {} WHERE {} AND {} AND len(exemplars) > 0) \
                 WHERE epoch_ms(x.timestamp) >= {start} AND epoch_ms(x.timestamp) <= {end} AND x.value IS NOT NULL",
                monotonic_column(table),
                self.target.qualified(table),
                name_list(&wanted),
                window_predicate(start - 1, point_end),
            );
            for batch in self.query(&sql, "reading exemplars")? {
                for row in 0..batch.num_rows() {
                    let Some((parts, base)) = row_series(&batch, row, table, &wanted) else { continue };
                    let exemplar = exemplar_at(&batch, row);
                    for (name, part) in parts {
                        let mut labels = base.clone();
                        labels.insert(METRIC_NAME.into(), name.clone());
                        match part {
                            Part::Value => {}
                            Part::Bucket => {
                                let bounds = row_bounds(&batch, row);
                                let bound = bounds.into_iter().find(|b| exemplar.value <= *b).unwrap_or(f64::INFINITY);
                                labels.insert("le".into(), le_label(bound));
                            }
                            _ => continue,
                        }
                        if selection.matches(&labels) {
                            found.entry(labels).or_default().push(exemplar.clone());
                        }
                    }
                }
            }
        }
        for exemplars in found.values_mut() {
            exemplars.sort_by(|a, b| a.t.cmp(&b.t).then(a.value.total_cmp(&b.value)));
        }
        Ok(found)
    }
}

fn name_list(wanted: &Wanted) -> String {
    let names: BTreeSet<&String> = wanted.keys().map(|(name, _, _)| name).collect();
    metric_name_filter(names.into_iter().map(String::as_str))
}

/// The wanted parts of the OTLP metric a row belongs to, and its labels
/// (without `__name__`). Columns 0..7: name, unit, monotonic, rk, rv, ak, av.
fn row_series<'w>(
    batch: &RecordBatch,
    row: usize,
    table: &str,
    wanted: &'w Wanted,
) -> Option<(&'w Vec<(String, Part)>, Labels)> {
    let names = batch.column(0).as_string::<i32>();
    let units = batch.column(1).as_string::<i32>();
    let monotonic = batch.column(2).as_boolean();
    if names.is_null(row) {
        return None;
    }
    let key = (names.value(row).to_string(), units.value(row).to_string(), kind_of(table, monotonic.value(row)));
    let parts = wanted.get(&key)?;
    let resource = pairs(batch.column(3), batch.column(4), row);
    let attributes = pairs(batch.column(5), batch.column(6), row);
    let base = point_labels(
        resource.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    Some((parts, base))
}

/// The label sets one row gives for one part (bucket and quantile parts give several).
fn part_labels(batch: &RecordBatch, row: usize, base: &Labels, name: &str, part: Part) -> Vec<Labels> {
    let mut labels = base.clone();
    labels.insert(METRIC_NAME.into(), name.to_string());
    match part {
        Part::Value | Part::Sum | Part::Count => vec![labels],
        Part::Bucket => {
            let bounds = row_bounds(batch, row);
            let counts = batch.column_by_name("nb").map(|c| c.as_primitive::<Int64Type>().value(row)).unwrap_or(0);
            (0..counts.max(0) as usize)
                .map(|i| {
                    let mut labels = labels.clone();
                    labels.insert("le".into(), le_label(bounds.get(i).copied().unwrap_or(f64::INFINITY)));
                    labels
                })
                .collect()
        }
        Part::Quantile => {
            let Some(column) = batch.column_by_name("q") else { return Vec::new() };
            let list = column.as_list::<i32>();
            if list.is_null(row) {
                return Vec::new();
            }
            let entries = list.value(row);
            number_list(entries.as_struct().column(0))
                .into_iter()
                .flatten()
                .map(|q| {
                    let mut labels = labels.clone();
                    labels.insert("quantile".into(), format_float(q));
                    labels
                })
                .collect()
        }
    }
}

fn row_bounds(batch: &RecordBatch, row: usize) -> Vec<f64> {
    let Some(column) = batch.column_by_name("e") else { return Vec::new() };
    let list = column.as_list::<i32>();
    if list.is_null(row) {
        return Vec::new();
    }
    number_list(&list.value(row)).into_iter().flatten().collect()
}

fn exemplar_at(batch: &RecordBatch, row: usize) -> Exemplar {
    let column = |name: &str| batch.column_by_name(name).expect("selected by exemplars()");
    let t = column("xt").as_primitive::<Int64Type>().value(row);
    let value = column("xv").as_primitive::<Float64Type>().value(row);
    let text = |name: &str| {
        let array = column(name).as_string::<i32>();
        (!array.is_null(row)).then(|| array.value(row).to_string()).filter(|s| !s.is_empty())
    };
    let mut labels = Labels::new();
    let mut runes = 0;
    for (key, id) in [("trace_id", text("xtrace")), ("span_id", text("xspan"))] {
        if let Some(id) = id {
            runes += key.chars().count() + id.chars().count();
            labels.insert(key.into(), id);
        }
    }
    let attributes = pairs(column("xk"), column("xa"), row);
    runes += attributes.iter().map(|(k, v)| k.chars().count() + v.chars().count()).sum::<usize>();
    if runes <= MAX_EXEMPLAR_RUNES {
        labels.extend(attributes);
    }
    Exemplar { labels, value, t }
}
