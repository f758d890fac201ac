//! The OTLP -> Prometheus translation of [`crate::promql::series`] written
//! out in SQL: metric names with unit and type suffixes, sanitised label
//! names, `job`/`instance`, histogram buckets, summary quantiles and delta
//! running totals. The text does not depend on the data, so a plan stays
//! right as new metrics arrive; only the selector's matchers and its time
//! window are filled in.

use super::{Grid, Millis};
use crate::promql::error::Result;
use crate::promql::eval::selector_matchers;
use crate::promql::lake::{clamp_to_lake, window_predicate};
use crate::sql_text::{quote_literal, sql_string, LakeTarget};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::VectorSelector;

/// A sanitised label name from an attribute key expression (see `series::label_name`).
fn label_name_sql(key: &str) -> String {
    let sanitised =
        format!("regexp_replace(regexp_replace({key}, '[^a-zA-Z0-9_]', '_', 'g'), '([^_])_+', '\\1_', 'g')");
    format!("CASE WHEN regexp_matches({sanitised}, '^[0-9]') THEN 'key_' || {sanitised} ELSE {sanitised} END")
}

fn clean_unit_sql(text: &str) -> String {
    format!("ltrim(regexp_replace(regexp_replace({text}, '[^a-zA-Z0-9:]', '_', 'g'), '_+', '_', 'g'), '_')")
}

const UNIT_WORDS: &[(&str, &str)] = &[
    ("d", "days"),
    ("h", "hours"),
    ("min", "minutes"),
    ("s", "seconds"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    ("By", "bytes"),
    ("KiBy", "kibibytes"),
    ("MiBy", "mebibytes"),
    ("GiBy", "gibibytes"),
    ("TiBy", "tibibytes"),
    ("KBy", "kilobytes"),
    ("MBy", "megabytes"),
    ("GBy", "gigabytes"),
    ("TBy", "terabytes"),
    ("m", "meters"),
    ("V", "volts"),
    ("A", "amperes"),
    ("J", "joules"),
    ("W", "watts"),
    ("g", "grams"),
    ("Cel", "celsius"),
    ("Hz", "hertz"),
    ("1", ""),
    ("%", "percent"),
];

const PER_UNIT_WORDS: &[(&str, &str)] =
    &[("s", "second"), ("m", "minute"), ("h", "hour"), ("d", "day"), ("w", "week"), ("mo", "month"), ("y", "year")];

fn case_map(column: &str, table: &[(&str, &str)]) -> String {
    let arms: Vec<String> =
        table.iter().map(|(k, v)| format!("WHEN {} THEN {}", quote_literal(k), quote_literal(v))).collect();
    format!("CASE {column} {} ELSE {column} END", arms.join(" "))
}

/// A `le` / `quantile` label value as Prometheus prints floats.
fn float_label_sql(x: &str) -> String {
    format!(
        "CASE WHEN isinf({x}) AND {x} > 0 THEN '+Inf' WHEN isinf({x}) THEN '-Inf' WHEN isnan({x}) THEN 'NaN' \
         WHEN {x} = trunc({x}) AND abs({x}) < 1e15 THEN CAST(CAST({x} AS BIGINT) AS VARCHAR) ELSE CAST({x} AS VARCHAR) END"
    )
}

/// A matcher on the translated point `l` (qualified, so that a macro's
/// parameter named `metric` cannot hide the column).
fn matcher_sql(m: &Matcher) -> String {
    let value = if m.name == "__name__" {
        "l.metric".to_string()
    } else {
        format!("coalesce(l.labels[{}], '')", sql_string(&m.name))
    };
    let pattern = sql_string(&m.value);
    match m.op {
        MatchOp::Equal => format!("{value} = {pattern}"),
        MatchOp::NotEqual => format!("{value} <> {pattern}"),
        MatchOp::Re(_) => format!("regexp_full_match({value}, {pattern})"),
        MatchOp::NotRe(_) => format!("NOT regexp_full_match({value}, {pattern})"),
    }
}

/// The conditions a selector's matchers put on its translated points.
pub(super) fn selector_filters(vs: &VectorSelector) -> Result<Vec<String>> {
    Ok(selector_matchers(vs)?.iter().map(matcher_sql).collect())
}

/// The `timestamp` window `(first, last]` in ms: constant comparisons when
/// both are known, else the same bounds computed by DuckDB (constant once a
/// macro's parameters are in place) without the clamping to the lake's years.
fn window_sql(first: &Millis, last: &Millis) -> String {
    match (first, last) {
        (Millis::Known(first), Millis::Known(last)) => window_predicate(clamp_to_lake(*first), clamp_to_lake(*last)),
        _ => format!(
            "\"timestamp\" >= make_timestamp_ns(({first} + 1) * 1000000) AND \"timestamp\" < make_timestamp_ns(({last} + 1) * 1000000)"
        ),
    }
}

/// The CTEs from `{p}raw` to `{p}matched` (the Prometheus points `filters`
/// keep: metric, labels, key, t, value, stale) read from every table within
/// `(start - reach, end - offset]`, their names prefixed with `p` (each
/// selector of a query has its own: a delta counter's running total starts
/// where its own selector's window starts, as in the engine).
pub(super) fn points_sql(
    filters: &[String],
    offset: &Millis,
    grid: &Grid,
    target: &LakeTarget,
    reach: &Millis,
    p: &str,
) -> String {
    let window = window_sql(&grid.start.minus(reach), &grid.end.minus(offset));
    let t = |table: &str| target.qualified(table);
    let common = "metric_name, coalesce(metric_unit, '') AS unit, resource_attributes, attributes, epoch_ms(\"timestamp\") AS t, coalesce(flags, 0) & 1 = 1 AS stale";
    let no_extra = "NULL::VARCHAR AS extra_label, NULL::VARCHAR AS extra_value";
    let delta = "coalesce(aggregation_temporality = 1, false)";
    let raw = [
        format!("SELECT 'gauge' AS kind, {common}, '' AS part, {no_extra}, \"value\" AS v, false AS delta FROM {} WHERE {window}", t("metrics_gauge")),
        format!(
            "SELECT CASE WHEN coalesce(is_monotonic, false) THEN 'monotonic_sum' ELSE 'sum' END, {common}, '', {no_extra}, \"value\", {delta} FROM {} WHERE {window}",
            t("metrics_sum")
        ),
        format!("SELECT 'histogram', {common}, '_count', {no_extra}, \"count\"::DOUBLE, {delta} FROM {} WHERE {window}", t("metrics_histogram")),
        format!("SELECT 'histogram', {common}, '_sum', {no_extra}, \"sum\", {delta} FROM {} WHERE {window}", t("metrics_histogram")),
        format!(
            "SELECT 'histogram', {common}, '_bucket', 'le', {}, list_sum(bucket_counts[1:i])::DOUBLE, {delta} \
             FROM (SELECT *, unnest(range(1, len(bucket_counts) + 1)) AS i FROM {} WHERE {window})",
            float_label_sql("coalesce(explicit_bounds[i], 'inf'::DOUBLE)"),
            t("metrics_histogram")
        ),
        format!("SELECT 'exponential_histogram', {common}, '_count', {no_extra}, \"count\"::DOUBLE, {delta} FROM {} WHERE {window}", t("metrics_exponential_histogram")),
        format!("SELECT 'exponential_histogram', {common}, '_sum', {no_extra}, \"sum\", {delta} FROM {} WHERE {window}", t("metrics_exponential_histogram")),
        format!("SELECT 'summary', {common}, '_count', {no_extra}, \"count\"::DOUBLE, false FROM {} WHERE {window}", t("metrics_summary")),
        format!("SELECT 'summary', {common}, '_sum', {no_extra}, \"sum\", false FROM {} WHERE {window}", t("metrics_summary")),
        format!(
            "SELECT 'summary', {common}, '', 'quantile', {}, qv.value, false \
             FROM (SELECT *, unnest(quantile_values) AS qv FROM {} WHERE {window}) WHERE qv.quantile IS NOT NULL",
            float_label_sql("qv.quantile"),
            t("metrics_summary")
        ),
    ]
    .join("\n  UNION ALL ");
    let empty_map = "MAP {}::MAP(VARCHAR, VARCHAR)";
    let ra = |k: &str| format!("coalesce(resource_attributes[{}], '')", quote_literal(k));
    format!(
        "{p}raw AS (
  {raw}
), {p}valued AS (
  SELECT *, CASE WHEN delta THEN sum(v) OVER (
      PARTITION BY kind, metric_name, unit, part, extra_value, resource_attributes, attributes, delta
      ORDER BY t ROWS UNBOUNDED PRECEDING) ELSE v END AS value
  FROM {p}raw WHERE v IS NOT NULL OR stale
), {p}metrics AS (
  SELECT DISTINCT kind, metric_name, unit,
    list_filter(regexp_split_to_array(metric_name, '[^a-zA-Z0-9:]'), lambda x: x <> '') AS tokens,
    trim(CASE WHEN strpos(unit, '/') > 0 THEN substr(unit, 1, strpos(unit, '/') - 1) ELSE unit END) AS main_raw,
    CASE WHEN strpos(unit, '/') > 0 THEN trim(substr(unit, strpos(unit, '/') + 1)) ELSE '' END AS per_raw
  FROM {p}valued
), {p}units AS (
  SELECT *,
    {main_clean} AS main_c,
    {per_clean} AS per_c
  FROM {p}metrics
), {p}suffixes AS (
  SELECT *,
    CASE WHEN list_contains(tokens, main_c) THEN '' ELSE main_c END AS main1,
    CASE WHEN per_c = 'per_' THEN '' WHEN list_contains(tokens, rtrim(per_c, '_')) THEN '' ELSE rtrim(per_c, '_') END AS per1
  FROM {p}units
), {p}suffixed AS (
  SELECT *, tokens
    || CASE WHEN per1 <> '' AND rtrim(main1, '_') <> '' THEN [rtrim(main1, '_')] WHEN per1 = '' AND main1 <> '' THEN [main1] ELSE []::VARCHAR[] END
    || CASE WHEN per1 <> '' THEN [per1] ELSE []::VARCHAR[] END AS t2
  FROM {p}suffixes
), {p}typed AS (
  SELECT kind, metric_name, unit, array_to_string(
    CASE WHEN unit = '1' AND kind = 'gauge' THEN list_filter(t3, lambda x: x <> 'ratio') || ['ratio'] ELSE t3 END, '_') AS joined
  FROM (SELECT *, CASE WHEN kind = 'monotonic_sum' THEN list_filter(t2, lambda x: x <> 'total') || ['total'] ELSE t2 END AS t3 FROM {p}suffixed)
), {p}names AS (
  SELECT kind, metric_name, unit, CASE WHEN regexp_matches(joined, '^[0-9]') THEN '_' || joined ELSE joined END AS family FROM {p}typed
), {p}entries AS (
  SELECT *,
    list_sort(list_transform(map_entries(attributes), lambda e: {{k: e.key, n: {attr_label}, v: e.value}})) AS ae,
    list_filter(list_transform(map_entries(resource_attributes), lambda e: {{key: {res_label}, value: e.value}}),
                lambda e: e.key <> '' AND e.value <> '') AS re
  FROM {p}valued
), {p}labelled AS (
  SELECT n.family || e.part AS metric, e.t, e.value, e.stale,
    map_from_entries(list_sort(list_filter(map_entries(map_concat(
      map_from_entries(list_filter(e.re, lambda x, i: list_position(list_transform(e.re, lambda y: y.key), x.key) = i)),
      map_from_entries(list_transform(
        list_distinct(list_transform(list_filter(e.ae, lambda x: NOT regexp_full_match(x.n, '_*')), lambda x: x.n)),
        lambda nm: {{key: nm, value: array_to_string(list_transform(list_filter(e.ae, lambda x: x.n = nm), lambda x: x.v), ';')}})),
      CASE WHEN {svc} <> '' THEN map(['job'], [CASE WHEN {ns} <> '' THEN {ns} || '/' || {svc} ELSE {svc} END]) ELSE {empty_map} END,
      CASE WHEN {inst} <> '' THEN map(['instance'], [{inst}]) ELSE {empty_map} END,
      CASE WHEN e.extra_label IS NULL THEN {empty_map} ELSE map([e.extra_label], [e.extra_value]) END
    )), lambda x: x.value <> ''))) AS labels
  FROM {p}entries e JOIN {p}names n USING (kind, metric_name, unit)
), {p}matched AS (
  SELECT l.metric, l.labels, l.metric || to_json(l.labels)::VARCHAR AS key, l.t, l.value, l.stale FROM {p}labelled l
  WHERE {filters}
  -- ordered by value + 0 (the same order): DuckDB sorting by the column itself gives back -0 as 0
  QUALIFY row_number() OVER (PARTITION BY key, t ORDER BY value + 0::DOUBLE DESC NULLS FIRST) = 1
)",
        main_clean = clean_unit_sql(&format!(
            "CASE WHEN main_raw = '' OR regexp_matches(main_raw, '[{{}}]') THEN '' ELSE {} END",
            case_map("main_raw", UNIT_WORDS)
        )),
        per_clean = clean_unit_sql(&format!(
            "CASE WHEN per_raw = '' OR regexp_matches(per_raw, '[{{}}]') THEN '' ELSE 'per_' || {} END",
            case_map("per_raw", PER_UNIT_WORDS)
        )),
        attr_label = label_name_sql("e.key"),
        res_label = label_name_sql("e.key"),
        svc = ra("service.name"),
        ns = ra("service.namespace"),
        inst = ra("service.instance.id"),
        filters = if filters.is_empty() { "true".to_string() } else { filters.join(" AND ") },
    )
}
