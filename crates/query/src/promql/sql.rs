//! Portable SQL: the DuckDB SQL text that computes a PromQL range query from
//! the DuckLake tables without canardstack (MotherDuck, DuckDB-WASM, a plain
//! DuckDB 1.5 that attached the lake).
//!
//! The text is independent of the data: the OTLP -> Prometheus translation of
//! [`super::series`] (metric names with unit and type suffixes, sanitised
//! label names, `job`/`instance`, histogram buckets, summary quantiles, delta
//! running totals) is written out in SQL, and the evaluation of a plain
//! selector (the newest sample in `(t - 5m, t]` per step, unless it is flagged
//! "no recorded value", a staleness marker) is an ASOF join of
//! series x steps against the points; `rate`/`increase`/`delta` of a range
//! selector is a range join of steps against the points plus Prometheus'
//! extrapolation in SQL arithmetic. Only plans that are pure SQL get text;
//! any other construct is an error naming it (`promql_range` evaluates those
//! in Rust). Every table is read with a prunable `timestamp` window.

use super::error::{unsupported, Result};
use super::eval::{checked_duration_ms, selector_matchers, QueryTimes, DEFAULT_LOOKBACK_MS};
use super::lake::{clamp_to_lake, window_predicate};
use crate::sql_text::LakeTarget;
use crate::sql_text::{quote_literal, sql_string};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, Offset, VectorSelector};

/// Range functions with a pure-SQL plan over a range selector.
const RANGE_FUNCTIONS: &[&str] = &["delta", "increase", "rate"];

/// The SQL for `expr` as a range query over `times`.
pub fn portable_sql(expr: &Expr, times: QueryTimes, target: &LakeTarget) -> Result<String> {
    match expr {
        Expr::Paren(p) => portable_sql(&p.expr, times, target),
        Expr::VectorSelector(vs) => selector_sql(vs, times, target),
        Expr::Call(call) if RANGE_FUNCTIONS.contains(&call.func.name) => match call.args.args.first().map(|a| a.as_ref()) {
            Some(Expr::MatrixSelector(ms)) => {
                rate_sql(call.func.name, &ms.vs, checked_duration_ms(&ms.range, "the range")?, times, target)
            }
            _ => Err(unsupported(format!("portable SQL for {}() of anything but a range selector", call.func.name))),
        },
        other => Err(unsupported(format!(
            "portable SQL for {} (promql_sql plans selectors and rate/increase/delta of a selector; promql_range evaluates the rest)",
            construct_name(other)
        ))),
    }
}

fn construct_name(expr: &Expr) -> String {
    match expr {
        Expr::Aggregate(a) => format!("aggregation {}", a.op),
        Expr::Call(c) => format!("function {}()", c.func.name),
        Expr::Binary(b) => format!("binary operator {}", b.op),
        Expr::MatrixSelector(_) => "range selectors".into(),
        Expr::Subquery(_) => "subqueries".into(),
        Expr::NumberLiteral(_) => "number literals".into(),
        Expr::StringLiteral(_) => "string literals".into(),
        Expr::Unary(_) => "unary minus".into(),
        _ => "this expression".into(),
    }
}

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

fn matcher_sql(m: &Matcher) -> String {
    let value = if m.name == "__name__" {
        "metric".to_string()
    } else {
        format!("coalesce(labels[{}], '')", sql_string(&m.name))
    };
    let pattern = sql_string(&m.value);
    match m.op {
        MatchOp::Equal => format!("{value} = {pattern}"),
        MatchOp::NotEqual => format!("{value} <> {pattern}"),
        MatchOp::Re(_) => format!("regexp_full_match({value}, {pattern})"),
        MatchOp::NotRe(_) => format!("NOT regexp_full_match({value}, {pattern})"),
    }
}

fn offset_of(vs: &VectorSelector) -> Result<i64> {
    if vs.at.is_some() {
        return Err(unsupported("portable SQL for the @ modifier"));
    }
    Ok(match &vs.offset {
        None => 0,
        Some(Offset::Pos(d)) => checked_duration_ms(d, "the offset")?,
        Some(Offset::Neg(d)) => -checked_duration_ms(d, "the offset")?,
    })
}

/// An instant selector: per series and step, the newest point in `(t - 5m, t]`.
fn selector_sql(vs: &VectorSelector, times: QueryTimes, target: &LakeTarget) -> Result<String> {
    let offset = offset_of(vs)?;
    let lookback = DEFAULT_LOOKBACK_MS;
    Ok(format!(
        "-- promql_sql: {vs} from {start} to {end} step {step}ms (generated by canardstack)
{points}, grid AS (
  SELECT * FROM (SELECT DISTINCT key, metric, labels FROM matched) CROSS JOIN steps
)
SELECT g.labels, g.metric, make_timestamp(g.step_ms * 1000) AS \"timestamp\", p.value
FROM grid g ASOF JOIN matched p ON g.key = p.key AND p.t <= g.step_ms - {offset}
WHERE p.t > g.step_ms - {offset} - {lookback} AND NOT p.stale
ORDER BY g.key, g.step_ms",
        points = points_sql(vs, times, target, offset + lookback)?,
        start = times.start,
        end = times.end,
        step = times.step,
    ))
}

/// `rate`, `increase`, `delta` over a range selector, with Prometheus'
/// extrapolation written in DOUBLE arithmetic in the same order as the engine
/// (`range::extrapolated_rate`), so both give the same bits. Counter resets
/// add the value before the reset; several resets in one window are summed by
/// SQL in an order that can differ from the engine's in the last bit.
fn rate_sql(function: &str, vs: &VectorSelector, range: i64, times: QueryTimes, target: &LakeTarget) -> Result<String> {
    let offset = offset_of(vs)?;
    if vs.name.is_none() {
        // the function drops __name__: series told apart only by name would collide, which the engine reports
        return Err(unsupported(format!("portable SQL for {function}() over a selector without a metric name")));
    }
    let (is_counter, is_rate) = (function != "delta", function == "rate");
    let resets = if is_counter { "p.prev_t > s.step_ms - {off} - {range} AND p.value < p.prev_v" } else { "false" }
        .replace("{off}", &offset.to_string())
        .replace("{range}", &range.to_string());
    let to_zero = if is_counter {
        "CASE WHEN result > 0 AND first_v >= 0 AND sampled * (first_v / result) < to_start1 THEN sampled * (first_v / result) ELSE to_start1 END"
    } else {
        "to_start1"
    };
    let per_second = if is_rate { format!(" / ({range}::DOUBLE / 1000::DOUBLE)") } else { String::new() };
    Ok(format!(
        "-- promql_sql: {function}({vs}[{range}ms]) from {start} to {end} step {step}ms (generated by canardstack)
{points}, ordered AS (
  SELECT key, labels, t, value, lag(value) OVER w AS prev_v, lag(t) OVER w AS prev_t
  FROM matched WHERE NOT stale WINDOW w AS (PARTITION BY key ORDER BY t)
), windows AS (
  SELECT s.step_ms, p.key, any_value(p.labels) AS labels, count(*) AS n,
    min(p.t) AS first_t, max(p.t) AS last_t, arg_min(p.value, p.t) AS first_v, arg_max(p.value, p.t) AS last_v,
    sum(CASE WHEN {resets} THEN p.prev_v ELSE 0::DOUBLE END) AS reset_add
  FROM steps s JOIN ordered p ON p.t > s.step_ms - {offset} - {range} AND p.t <= s.step_ms - {offset}
  GROUP BY s.step_ms, p.key HAVING count(*) >= 2
), edges AS (
  SELECT *, (last_v - first_v) + reset_add AS result,
    (first_t - (step_ms - {offset} - {range}))::DOUBLE / 1000::DOUBLE AS to_start0,
    ((step_ms - {offset}) - last_t)::DOUBLE / 1000::DOUBLE AS to_end0,
    (last_t - first_t)::DOUBLE / 1000::DOUBLE AS sampled
  FROM windows
), averaged AS (
  SELECT *, sampled / (n - 1)::DOUBLE AS average_gap FROM edges
), limited AS (
  SELECT *,
    CASE WHEN to_start0 >= average_gap * 1.1::DOUBLE THEN average_gap / 2::DOUBLE ELSE to_start0 END AS to_start1,
    CASE WHEN to_end0 >= average_gap * 1.1::DOUBLE THEN average_gap / 2::DOUBLE ELSE to_end0 END AS to_end
  FROM averaged
), extrapolated AS (
  SELECT *, {to_zero} AS to_start FROM limited
)
SELECT labels, NULL::VARCHAR AS metric, make_timestamp(step_ms * 1000) AS \"timestamp\",
  result * ((sampled + to_start + to_end) / sampled{per_second}) AS value
FROM extrapolated
ORDER BY key, step_ms",
        points = points_sql(vs, times, target, offset + range)?,
        start = times.start,
        end = times.end,
        step = times.step,
    ))
}

/// The CTEs `steps` and `matched` (the selector's Prometheus points: metric,
/// labels, key, t, value, stale) read from every table within `(start -
/// reach, end - offset]`.
fn points_sql(vs: &VectorSelector, times: QueryTimes, target: &LakeTarget, reach: i64) -> Result<String> {
    let offset = offset_of(vs)?;
    let matchers = selector_matchers(vs)?;
    let window = window_predicate(clamp_to_lake(times.start - reach), clamp_to_lake(times.end - offset));
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
    let filters: Vec<String> = matchers.iter().map(matcher_sql).collect();
    Ok(format!(
        "WITH steps AS (
  SELECT unnest(generate_series({start}::BIGINT, {end}::BIGINT, {step}::BIGINT)) AS step_ms
), raw AS (
  {raw}
), valued AS (
  SELECT *, CASE WHEN delta THEN sum(v) OVER (
      PARTITION BY kind, metric_name, unit, part, extra_value, resource_attributes, attributes, delta
      ORDER BY t ROWS UNBOUNDED PRECEDING) ELSE v END AS value
  FROM raw WHERE v IS NOT NULL OR stale
), metrics AS (
  SELECT DISTINCT kind, metric_name, unit,
    list_filter(regexp_split_to_array(metric_name, '[^a-zA-Z0-9:]'), lambda x: x <> '') AS tokens,
    trim(CASE WHEN strpos(unit, '/') > 0 THEN substr(unit, 1, strpos(unit, '/') - 1) ELSE unit END) AS main_raw,
    CASE WHEN strpos(unit, '/') > 0 THEN trim(substr(unit, strpos(unit, '/') + 1)) ELSE '' END AS per_raw
  FROM valued
), units AS (
  SELECT *,
    {main_clean} AS main_c,
    {per_clean} AS per_c
  FROM metrics
), suffixes AS (
  SELECT *,
    CASE WHEN list_contains(tokens, main_c) THEN '' ELSE main_c END AS main1,
    CASE WHEN per_c = 'per_' THEN '' WHEN list_contains(tokens, rtrim(per_c, '_')) THEN '' ELSE rtrim(per_c, '_') END AS per1
  FROM units
), suffixed AS (
  SELECT *, tokens
    || CASE WHEN per1 <> '' AND rtrim(main1, '_') <> '' THEN [rtrim(main1, '_')] WHEN per1 = '' AND main1 <> '' THEN [main1] ELSE []::VARCHAR[] END
    || CASE WHEN per1 <> '' THEN [per1] ELSE []::VARCHAR[] END AS t2
  FROM suffixes
), typed AS (
  SELECT kind, metric_name, unit, array_to_string(
    CASE WHEN unit = '1' AND kind = 'gauge' THEN list_filter(t3, lambda x: x <> 'ratio') || ['ratio'] ELSE t3 END, '_') AS joined
  FROM (SELECT *, CASE WHEN kind = 'monotonic_sum' THEN list_filter(t2, lambda x: x <> 'total') || ['total'] ELSE t2 END AS t3 FROM suffixed)
), names AS (
  SELECT kind, metric_name, unit, CASE WHEN regexp_matches(joined, '^[0-9]') THEN '_' || joined ELSE joined END AS family FROM typed
), entries AS (
  SELECT *,
    list_sort(list_transform(map_entries(attributes), lambda e: {{k: e.key, n: {attr_label}, v: e.value}})) AS ae,
    list_filter(list_transform(map_entries(resource_attributes), lambda e: {{key: {res_label}, value: e.value}}),
                lambda e: e.key <> '' AND e.value <> '') AS re
  FROM valued
), labelled AS (
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
  FROM entries e JOIN names n USING (kind, metric_name, unit)
), matched AS (
  SELECT metric, labels, metric || to_json(labels)::VARCHAR AS key, t, value, stale FROM labelled
  WHERE {filters}
  QUALIFY row_number() OVER (PARTITION BY key, t ORDER BY value DESC NULLS FIRST) = 1
)",
        start = times.start,
        end = times.end,
        step = times.step,
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
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> LakeTarget {
        LakeTarget { catalog: "lake".into(), schema: "otel".into() }
    }

    #[test]
    fn selectors_get_sql_with_prunable_windows() {
        let expr = crate::promql::parse("up{job=\"api\"} offset 1m").unwrap();
        let sql = portable_sql(&expr, QueryTimes::range(600_000, 1_200_000, 60_000).unwrap(), &target()).unwrap();
        // fetch window (start - offset - 5m, end - offset] = (4m, 19m]
        assert!(sql.contains("\"timestamp\" >= TIMESTAMP_NS '1970-01-01 00:04:00.001' AND \"timestamp\" < TIMESTAMP_NS '1970-01-01 00:19:00.001'"));
        assert!(sql.contains("coalesce(labels['job'], '') = 'api'"));
        assert!(sql.contains("metric = 'up'"));
    }

    #[test]
    fn other_constructs_are_named() {
        let expr = crate::promql::parse("irate(up[5m])").unwrap();
        let err = portable_sql(&expr, QueryTimes::instant(0), &target()).unwrap_err().to_string();
        assert!(err.contains("function irate()"), "{err}");
        let expr = crate::promql::parse("sum(up)").unwrap();
        let err = portable_sql(&expr, QueryTimes::instant(0), &target()).unwrap_err().to_string();
        assert!(err.contains("aggregation sum"), "{err}");
    }
}
