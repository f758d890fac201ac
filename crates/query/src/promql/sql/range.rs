//! Range functions of a range selector: a range join of the steps against
//! the selector's points in `(t - offset - range, t - offset]` (the window
//! the engine's `range_selector` reads, staleness markers left out), one
//! group per series and step.

use super::float::{self, Fold};
use super::{offset_of, Millis, Names, Plan, Planned, Selected, Vector};
use crate::promql::error::Result;
use crate::promql::eval::checked_duration_ms;
use promql_parser::parser::MatrixSelector;

/// The join condition of point `p` into the window of step `s`.
pub(super) fn window_sql(offset: i64, range: impl std::fmt::Display) -> String {
    format!("p.t > s.step_ms - {offset} - {range} AND p.t <= s.step_ms - {offset}")
}

/// `sum_over_time`, `avg_over_time`, ...: one fold of each window's values
/// in time order; `last_over_time` keeps the metric name, the rest drop it.
pub(super) fn over_time(
    plan: &mut Plan,
    function: &str,
    ms: &MatrixSelector,
    param: Option<f64>,
    about: &str,
) -> Result<Planned> {
    let offset = offset_of(&ms.vs)?;
    let range = checked_duration_ms(&ms.range, "the range")?;
    let keeps_name = function == "last_over_time";
    let names = Names::of_selector(&ms.vs);
    if !keeps_name {
        names.droppable(&format!("{function}()"))?;
    }
    let (value, order) = ("p.value", "p.t");
    let fold = match function {
        "avg_over_time" => float::avg(value, order),
        "count_over_time" => float::count(),
        "last_over_time" => Fold { aggregate: format!("arg_max({value}, {order})"), finish: "folded".into() },
        "max_over_time" => float::extreme(value, true),
        "min_over_time" => float::extreme(value, false),
        "present_over_time" => Fold { aggregate: "1::DOUBLE".into(), finish: "folded".into() },
        "stddev_over_time" => float::compensated_variance(value, order, true),
        "stdvar_over_time" => float::compensated_variance(value, order, false),
        "quantile_over_time" => float::quantile(param.unwrap_or(f64::NAN), value),
        _ => float::sum(value, order),
    };
    let matched = plan.points(&ms.vs, offset, offset + range)?;
    let metric = if keeps_name { "any_value(p.metric)" } else { "NULL::VARCHAR" };
    let cte = plan.cte(
        function,
        about,
        format!(
            "  SELECT step_ms, metric, labels, {finish} AS value FROM (
    SELECT s.step_ms, {metric} AS metric, any_value(p.labels) AS labels,
      {aggregate} AS folded
    FROM steps s JOIN {matched} p ON {window}
    WHERE NOT p.stale
    GROUP BY s.step_ms, p.key
  )",
            finish = fold.finish,
            aggregate = fold.aggregate,
            window = window_sql(offset, range),
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: if keeps_name { names } else { Names::Dropped } }))
}

/// `rate`, `increase`, `delta` over a range selector, with Prometheus'
/// extrapolation written in DOUBLE arithmetic in the same order as the engine
/// (`range::extrapolated_rate`), so both give the same bits. Counter resets
/// (a value below its predecessor, by IEEE's rules, so a NaN resets nothing)
/// add the value before the reset, in time order after the difference, as
/// `prom_math::change` adds them.
pub(super) fn rate(plan: &mut Plan, function: &str, ms: &MatrixSelector, about: &str) -> Result<Planned> {
    let offset = offset_of(&ms.vs)?;
    let range = checked_duration_ms(&ms.range, "the range")?;
    Names::of_selector(&ms.vs).droppable(&format!("{function}()"))?;
    rate_of(plan, function, &Selected::Selector(&ms.vs), offset, &Millis::Known(range), about)
}

/// [`rate`] of the points `selected` names, `range` a number or (for a
/// table macro) an SQL expression.
pub(super) fn rate_of(
    plan: &mut Plan,
    function: &str,
    selected: &Selected,
    offset: i64,
    range: &Millis,
    about: &str,
) -> Result<Planned> {
    let (is_counter, is_rate) = (function != "delta", function == "rate");
    let resets = if is_counter {
        format!("p.prev_t > s.step_ms - {offset} - {range} AND p.value < p.prev_v AND NOT isnan(p.prev_v)")
    } else {
        "false".into()
    };
    let to_zero = if is_counter {
        "CASE WHEN result > 0 AND first_v >= 0 AND sampled * (first_v / result) < to_start1 THEN sampled * (first_v / result) ELSE to_start1 END"
    } else {
        "to_start1"
    };
    let per_second = if is_rate { format!(" / ({range}::DOUBLE / 1000::DOUBLE)") } else { String::new() };
    let matched = plan.points_of(selected, &Millis::Known(offset), &Millis::Known(offset).plus(range))?;
    let ordered = ordered_points(plan, &matched);
    let windows = plan.cte(
        "windows",
        "",
        format!(
            "  SELECT s.step_ms, p.key, any_value(p.labels) AS labels, count(*) AS n,
    min(p.t) AS first_t, max(p.t) AS last_t, arg_min(p.value, p.t) AS first_v, arg_max(p.value, p.t) AS last_v,
    coalesce(list(p.prev_v ORDER BY p.t) FILTER (WHERE {resets}), []::DOUBLE[]) AS reset_values
  FROM steps s JOIN {ordered} p ON {window}
  GROUP BY s.step_ms, p.key HAVING count(*) >= 2",
            window = window_sql(offset, range)
        ),
    );
    let edges = plan.cte(
        "edges",
        "",
        format!(
            "  SELECT *, list_reduce([last_v - first_v] || reset_values, lambda acc, x: acc + x) AS result,
    (first_t - (step_ms - {offset} - {range}))::DOUBLE / 1000::DOUBLE AS to_start0,
    ((step_ms - {offset}) - last_t)::DOUBLE / 1000::DOUBLE AS to_end0,
    (last_t - first_t)::DOUBLE / 1000::DOUBLE AS sampled
  FROM {windows}"
        ),
    );
    let averaged =
        plan.cte("averaged", "", format!("  SELECT *, sampled / (n - 1)::DOUBLE AS average_gap FROM {edges}"));
    let limited = plan.cte(
        "limited",
        "",
        format!(
            "  SELECT *,
    CASE WHEN to_start0 >= average_gap * 1.1::DOUBLE THEN average_gap / 2::DOUBLE ELSE to_start0 END AS to_start1,
    CASE WHEN to_end0 >= average_gap * 1.1::DOUBLE THEN average_gap / 2::DOUBLE ELSE to_end0 END AS to_end
  FROM {averaged}"
        ),
    );
    let extrapolated = plan.cte("extrapolated", "", format!("  SELECT *, {to_zero} AS to_start FROM {limited}"));
    let cte = plan.cte(
        function,
        about,
        format!(
            "  SELECT step_ms, NULL::VARCHAR AS metric, labels,
    result * ((sampled + to_start + to_end) / sampled{per_second}) AS value
  FROM {extrapolated}"
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
}

/// The selector's points without staleness markers, each with the value
/// and time of the point before it (NULL for a series' first).
fn ordered_points(plan: &mut Plan, matched: &str) -> String {
    plan.cte(
        "ordered",
        "",
        format!(
            "  SELECT key, labels, t, value, lag(value) OVER w AS prev_v, lag(t) OVER w AS prev_t
  FROM {matched} WHERE NOT stale WINDOW w AS (PARTITION BY key ORDER BY t)"
        ),
    )
}

/// `irate`, `idelta` (the last two points of each window), `resets` and
/// `changes` (pairs of neighbours within the window), with IEEE's NaN rules:
/// a NaN is never below another value, and two NaNs are no change.
pub(super) fn neighbours(plan: &mut Plan, function: &str, ms: &MatrixSelector, about: &str) -> Result<Planned> {
    let offset = offset_of(&ms.vs)?;
    let range = checked_duration_ms(&ms.range, "the range")?;
    Names::of_selector(&ms.vs).droppable(&format!("{function}()"))?;
    let matched = plan.points(&ms.vs, offset, offset + range)?;
    let ordered = ordered_points(plan, &matched);
    let in_window = format!("p.prev_t > s.step_ms - {offset} - {range}");
    let (folded, value, least) = match function {
        "irate" | "idelta" => (
            "arg_max(p.value, p.t) AS last_v, arg_max(p.prev_v, p.t) AS prev_v, max(p.t) AS last_t, arg_max(p.prev_t, p.t) AS prev_t"
                .to_string(),
            if function == "irate" {
                "(CASE WHEN last_v < prev_v AND NOT isnan(prev_v) THEN last_v ELSE last_v - prev_v END) \
                 / ((last_t - prev_t)::DOUBLE / 1000::DOUBLE)"
            } else {
                "last_v - prev_v"
            },
            2,
        ),
        "resets" => (
            format!("count(*) FILTER (WHERE {in_window} AND p.value < p.prev_v AND NOT isnan(p.prev_v))::DOUBLE AS folded"),
            "folded",
            1,
        ),
        // DuckDB's <> already holds NaN equal to NaN, as `changes` counts
        _ => (format!("count(*) FILTER (WHERE {in_window} AND p.value <> p.prev_v)::DOUBLE AS folded"), "folded", 1),
    };
    let cte = plan.cte(
        function,
        about,
        format!(
            "  SELECT step_ms, NULL::VARCHAR AS metric, labels, {value} AS value FROM (
    SELECT s.step_ms, any_value(p.labels) AS labels, {folded}
    FROM steps s JOIN {ordered} p ON {window}
    GROUP BY s.step_ms, p.key HAVING count(*) >= {least}
  )",
            window = window_sql(offset, range),
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
}

/// `deriv` and `predict_linear`: the engine's least-squares fit
/// (`range::linear_regression`) of value over seconds since the window's
/// first point (`deriv`) or since the step (`predict_linear`), its four
/// sums Kahan-compensated in time order; a window of one repeated value has
/// slope 0 (NaN when that value is infinite).
pub(super) fn regression(
    plan: &mut Plan,
    function: &str,
    ms: &MatrixSelector,
    ahead: Option<f64>,
    about: &str,
) -> Result<Planned> {
    let offset = offset_of(&ms.vs)?;
    let range = checked_duration_ms(&ms.range, "the range")?;
    Names::of_selector(&ms.vs).droppable(&format!("{function}()"))?;
    let matched = plan.points(&ms.vs, offset, offset + range)?;
    let intercept_time = if ahead.is_some() { "step_ms" } else { "first_t" };
    let zero = "x: 0::DOUBLE, v: 0::DOUBLE, sx: 0::DOUBLE, cx: 0::DOUBLE, sy: 0::DOUBLE, cy: 0::DOUBLE, \
                sxy: 0::DOUBLE, cxy: 0::DOUBLE, sx2: 0::DOUBLE, cx2: 0::DOUBLE";
    let add = |sum: &str, c: &str, inc: &str| {
        format!(
            "{sum}: acc.{sum} + {inc}, {c}: {}",
            float::kahan_compensation(&format!("acc.{sum}"), &format!("acc.{c}"), inc)
        )
    };
    let sums = plan.cte(
        "fit",
        "",
        format!(
            "  SELECT step_ms, labels, n, first_v, constant, list_reduce(
      [{{{zero}}}] || list_transform(points, lambda p: {{{point}}}),
      lambda acc, e: {{x: 0::DOUBLE, v: 0::DOUBLE,
        {sx},
        {sy},
        {sxy},
        {sx2}}}) AS sums
  FROM (
    SELECT s.step_ms, any_value(p.labels) AS labels, count(*)::DOUBLE AS n, min(p.t) AS first_t,
      arg_min(p.value, p.t) AS first_v, NOT bool_or(isnan(p.value)) AND min(p.value) = max(p.value) AS constant,
      list({{t: p.t, v: p.value}} ORDER BY p.t) AS points
    FROM steps s JOIN {matched} p ON {window}
    WHERE NOT p.stale
    GROUP BY s.step_ms, p.key HAVING count(*) >= 2
  )",
            point = zero.replace(
                "x: 0::DOUBLE, v: 0::DOUBLE",
                &format!("x: (p.t - {intercept_time})::DOUBLE / 1000::DOUBLE, v: p.v")
            ),
            sx = add("sx", "cx", "e.x"),
            sy = add("sy", "cy", "e.v"),
            sxy = add("sxy", "cxy", "(e.x * e.v)"),
            sx2 = add("sx2", "cx2", "(e.x * e.x)"),
            window = window_sql(offset, range),
        ),
    );
    let value = match ahead {
        Some(ahead) => format!(
            "CASE WHEN constant THEN (CASE WHEN isinf(first_v) THEN 'NaN'::DOUBLE ELSE first_v END) ELSE sy / n - slope * sx / n END \
             + slope * {}",
            float::number_sql(ahead)
        ),
        None => "slope".into(),
    };
    let cte = plan.cte(
        function,
        about,
        format!(
            "  SELECT step_ms, NULL::VARCHAR AS metric, labels, {value} AS value FROM (
    SELECT *, CASE WHEN constant THEN (CASE WHEN isinf(first_v) THEN 'NaN'::DOUBLE ELSE 0::DOUBLE END)
        ELSE (sxy - sx * sy / n) / (sx2 - sx * sx / n) END AS slope
    FROM (SELECT step_ms, labels, n, first_v, constant, sums.sx + sums.cx AS sx, sums.sy + sums.cy AS sy,
            sums.sxy + sums.cxy AS sxy, sums.sx2 + sums.cx2 AS sx2 FROM {sums})
  )"
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
}
