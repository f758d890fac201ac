//! From OTLP metrics to Prometheus series, following Prometheus' own OTLP
//! translation (the `UnderscoreEscapingWithSuffixes` strategy), so that
//! queries and dashboards written for Prometheus find the same names:
//!
//! - metric names are split at every character outside `[a-zA-Z0-9:]` and
//!   rejoined with `_`; the unit becomes a suffix (`s` -> `_seconds`, `By` ->
//!   `_bytes`, `By/s` -> `_bytes_per_second`, `{...}` annotations dropped,
//!   unit `1` on a gauge -> `_ratio`) unless the name already has it;
//!   monotonic sums end in `_total`;
//! - histograms become `_bucket{le=...}` (cumulative counts, `+Inf` last),
//!   `_sum` and `_count`; summaries `{quantile=...}`, `_sum`, `_count`;
//!   exponential histograms `_sum` and `_count` only;
//! - labels: the point attributes (names sanitised: invalid characters become
//!   `_`, a leading digit gets `key_`; attributes that collide after
//!   sanitising have their values joined with `;` in key order), then every
//!   resource attribute not already present (so `service.name` is
//!   `service_name`), then `job` (`service.namespace/service.name`, or
//!   `service.name`) and `instance` (`service.instance.id`) when present;
//!   labels with empty values are dropped, as Prometheus has no such labels.
//!
//! This module is pure: it maps names and label sets, the lake reader applies it.

use super::value::{format_float, Labels};

/// The OTLP metric kinds, as the tables store them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    Gauge,
    MonotonicSum,
    NonMonotonicSum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Invalid characters become `_`, runs of `_` collapse, no leading `_`.
fn clean_unit(unit: &str) -> String {
    let mapped: String = unit.chars().map(|c| if is_metric_char(c) { c } else { '_' }).collect();
    let mut out = String::new();
    for c in mapped.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_start_matches('_').to_string()
}

fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if main.is_empty() || main.contains(['{', '}']) { String::new() } else { unit_word(main).to_string() };
    let per = match parts.next().map(str::trim) {
        Some(per) if !per.is_empty() && !per.contains(['{', '}']) => format!("per_{}", per_unit_word(per)),
        _ => String::new(),
    };
    (clean_unit(&main), clean_unit(&per))
}

/// The unit Prometheus' metadata reports for an OTLP unit (its `UnitNamer`):
/// `s` -> `seconds`, `By/s` -> `bytes_per_second`, `1` and `{...}` -> empty.
pub fn unit_name(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let joined = match (main.is_empty(), per.is_empty() || per == "per_") {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        (true, false) => per,
        (true, true) => String::new(),
    };
    joined.trim_matches('_').to_string()
}

/// The Prometheus name of a metric (before `_bucket`/`_sum`/`_count`).
pub fn family_name(name: &str, unit: &str, kind: MetricKind) -> String {
    let mut tokens: Vec<String> =
        name.split(|c| !is_metric_char(c)).filter(|t| !t.is_empty()).map(String::from).collect();
    let (mut main, mut per) = unit_suffixes(unit);
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        per = per.trim_end_matches('_').to_string();
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() {
        main = main.trim_end_matches('_').to_string();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    if kind == MetricKind::MonotonicSum {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == MetricKind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    let joined = tokens.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// One Prometheus series of an OTLP data point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Value,
    Bucket,
    Sum,
    Count,
    Quantile,
}

impl Part {
    pub fn suffix(self) -> &'static str {
        match self {
            Part::Value | Part::Quantile => "",
            Part::Bucket => "_bucket",
            Part::Sum => "_sum",
            Part::Count => "_count",
        }
    }
}

/// The series names a metric of this kind gives, with the part each holds.
pub fn series_names(family: &str, kind: MetricKind) -> Vec<(String, Part)> {
    let parts: &[Part] = match kind {
        MetricKind::Gauge | MetricKind::MonotonicSum | MetricKind::NonMonotonicSum => &[Part::Value],
        MetricKind::Histogram => &[Part::Bucket, Part::Sum, Part::Count],
        MetricKind::ExponentialHistogram => &[Part::Sum, Part::Count],
        MetricKind::Summary => &[Part::Quantile, Part::Sum, Part::Count],
    };
    parts.iter().map(|&p| (format!("{family}{}", p.suffix()), p)).collect()
}

/// A label name from an attribute key.
pub fn label_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' };
        if !(c == '_' && out.ends_with('_') && !out.chars().all(|x| x == '_')) {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("key_{out}");
    }
    out
}

/// The labels of a data point (without `__name__`).
pub fn point_labels<'a>(
    resource: impl IntoIterator<Item = (&'a str, &'a str)>,
    attributes: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Labels {
    let mut labels = Labels::new();
    let mut sorted: Vec<(&str, &str)> = attributes.into_iter().collect();
    sorted.sort();
    for (key, value) in sorted {
        let name = label_name(key);
        if name.is_empty() || name.chars().all(|c| c == '_') {
            continue;
        }
        labels
            .entry(name)
            .and_modify(|existing: &mut String| {
                existing.push(';');
                existing.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    let resource: Vec<(&str, &str)> = resource.into_iter().collect();
    for &(key, value) in &resource {
        let name = label_name(key);
        if !name.is_empty() && !value.is_empty() {
            labels.entry(name).or_insert_with(|| value.to_string());
        }
    }
    let get = |k: &str| resource.iter().find(|(key, _)| *key == k).map(|(_, v)| *v).filter(|v| !v.is_empty());
    if let Some(service) = get("service.name") {
        let job = match get("service.namespace") {
            Some(ns) => format!("{ns}/{service}"),
            None => service.to_string(),
        };
        labels.insert("job".into(), job);
    }
    if let Some(instance) = get("service.instance.id") {
        labels.insert("instance".into(), instance.to_string());
    }
    // an empty label value is the same as no label in Prometheus
    labels.retain(|_, v| !v.is_empty());
    labels
}

/// The `le` label of a bucket bound (`+Inf` for the last bucket).
pub fn le_label(bound: f64) -> String {
    format_float(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_otlp_translation() {
        assert_eq!(
            family_name("http.server.request.duration", "s", MetricKind::Histogram),
            "http_server_request_duration_seconds"
        );
        assert_eq!(family_name("requests.count", "1", MetricKind::MonotonicSum), "requests_count_total");
        assert_eq!(family_name("memory.usage", "By", MetricKind::Gauge), "memory_usage_bytes");
        assert_eq!(family_name("cpu.utilization", "1", MetricKind::Gauge), "cpu_utilization_ratio");
        assert_eq!(family_name("queue.size", "{item}", MetricKind::NonMonotonicSum), "queue_size");
        assert_eq!(family_name("net.io", "By/s", MetricKind::Gauge), "net_io_bytes_per_second");
        assert_eq!(family_name("requests_total", "", MetricKind::MonotonicSum), "requests_total");
        assert_eq!(family_name("total.requests", "", MetricKind::MonotonicSum), "requests_total");
        assert_eq!(family_name("latency_seconds", "s", MetricKind::Gauge), "latency_seconds");
        assert_eq!(family_name("2xx", "", MetricKind::Gauge), "_2xx");
        assert_eq!(family_name("a__b..c", "", MetricKind::Gauge), "a_b_c");
    }

    #[test]
    fn labels_from_attributes_and_resource() {
        let resource = [
            ("service.name", "api"),
            ("service.namespace", "shop"),
            ("service.instance.id", "i-1"),
            ("host.name", "h"),
        ];
        let attributes = [("http.method", "GET"), ("http_method", "POST"), ("2xx", "y")];
        let labels = point_labels(resource, attributes);
        let expected: Labels = [
            ("http_method", "GET;POST"),
            ("key_2xx", "y"),
            ("service_name", "api"),
            ("service_namespace", "shop"),
            ("service_instance_id", "i-1"),
            ("host_name", "h"),
            ("job", "shop/api"),
            ("instance", "i-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn units_for_metadata() {
        assert_eq!(unit_name("s"), "seconds");
        assert_eq!(unit_name("By/s"), "bytes_per_second");
        assert_eq!(unit_name("1"), "");
        assert_eq!(unit_name("{request}"), "");
        assert_eq!(unit_name(""), "");
    }

    #[test]
    fn series_per_kind() {
        let names: Vec<String> = series_names("rpc_seconds", MetricKind::Histogram).into_iter().map(|n| n.0).collect();
        assert_eq!(names, ["rpc_seconds_bucket", "rpc_seconds_sum", "rpc_seconds_count"]);
    }
}
