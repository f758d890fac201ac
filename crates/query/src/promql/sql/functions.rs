//! The function registry of portable plans: one sorted `match` from name to
//! plan, each arm under the PromQL signature it implements, as the engine's
//! (`eval::functions`). A function not listed is an error naming it.
//!
//! Element-wise math runs on IEEE doubles as Rust's `f64` does; where DuckDB
//! raises an error instead of giving NaN or an infinity (`sqrt(-1)`,
//! `ln(0)`), the plan gives the IEEE result first.

use super::float::number_sql;
use super::{comment_text, offset_of, range, range_selector, Names, Plan, Planned, Vector, EMPTY_LABELS};
use crate::promql::error::{eval_error, unsupported, Result};
use crate::promql::eval::{absent_labels, checked_duration_ms};
use crate::sql_text::sql_string;
use promql_parser::parser::{Call, Expr};

pub(super) fn plan(plan: &mut Plan, call: &Call) -> Result<Planned> {
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    let name = call.func.name;
    let about = comment_text(call);
    let range_arg = |i: usize| range_selector(args.get(i).copied(), name);
    let x = "value";
    match name {
        // abs(v instant-vector) and the other element-wise math functions
        "abs" => math(plan, name, &args, format!("abs({x})"), &about),
        // absent(v instant-vector): one sample at the steps where v has none
        "absent" => {
            let v = plan.vector(args[0], "absent()")?;
            absent(plan, args[0], &format!("  FROM steps s ANTI JOIN {} v ON v.step_ms = s.step_ms", v.cte), &about)
        }
        // absent_over_time(v range-vector): one sample at the steps whose window has no point
        "absent_over_time" => {
            let ms = range_arg(0)?;
            let (offset, range) = (offset_of(&ms.vs)?, checked_duration_ms(&ms.range, "the range")?);
            let matched = plan.points(&ms.vs, offset, offset + range)?;
            let from =
                format!("  FROM steps s ANTI JOIN {matched} p ON {} AND NOT p.stale", range::window_sql(offset, range));
            absent(plan, args[0], &from, &about)
        }
        // avg_over_time(v range-vector) and the other *_over_time aggregations
        "avg_over_time" | "count_over_time" | "last_over_time" | "max_over_time" | "min_over_time"
        | "present_over_time" | "stddev_over_time" | "stdvar_over_time" | "sum_over_time" => range::over_time(plan, name, range_arg(0)?, None, &about),
        "ceil" => math(plan, name, &args, format!("ceil({x})"), &about),
        // changes(v range-vector)
        "changes" => range::neighbours(plan, name, range_arg(0)?, &about),
        // clamp(v instant-vector, min scalar, max scalar): nothing when max < min
        "clamp" => {
            let (lo, hi) = (plan.number(args[1], "clamp()")?, plan.number(args[2], "clamp()")?);
            if hi < lo {
                return empty(plan, &about);
            }
            math(plan, name, &args, go_max(lo, &go_min(hi, x)), &about)
        }
        // clamp_max(v instant-vector, max scalar)
        "clamp_max" => {
            let hi = plan.number(args[1], "clamp_max()")?;
            math(plan, name, &args, go_min(hi, x), &about)
        }
        // clamp_min(v instant-vector, min scalar)
        "clamp_min" => {
            let lo = plan.number(args[1], "clamp_min()")?;
            math(plan, name, &args, go_max(lo, x), &about)
        }
        // deg(v instant-vector): Rust's to_degrees
        "deg" => math(plan, name, &args, format!("{x} * {}", number_sql(180.0 / std::f64::consts::PI)), &about),
        // delta(v range-vector)
        "delta" => range::rate(plan, name, range_arg(0)?, &about),
        // deriv(v range-vector)
        "deriv" => range::regression(plan, name, range_arg(0)?, None, &about),
        "exp" => math(plan, name, &args, format!("exp({x})"), &about),
        "floor" => math(plan, name, &args, format!("floor({x})"), &about),
        // histogram_quantile(φ scalar, b instant-vector)
        "histogram_quantile" => {
            let q = plan.number(args[0], "histogram_quantile()")?;
            let buckets = plan.vector(args[1], "histogram_quantile()")?;
            super::histogram::histogram_quantile(plan, q, buckets, &about)
        }
        // idelta(v range-vector)
        "idelta" => range::neighbours(plan, name, range_arg(0)?, &about),
        // increase(v range-vector)
        "increase" => range::rate(plan, name, range_arg(0)?, &about),
        // irate(v range-vector)
        "irate" => range::neighbours(plan, name, range_arg(0)?, &about),
        "ln" => math(plan, name, &args, logarithm("ln", x), &about),
        "log10" => math(plan, name, &args, logarithm("log10", x), &about),
        "log2" => math(plan, name, &args, logarithm("log2", x), &about),
        // predict_linear(v range-vector, t scalar)
        "predict_linear" => {
            let ahead = plan.number(args[1], "predict_linear()")?;
            range::regression(plan, name, range_arg(0)?, Some(ahead), &about)
        }
        // quantile_over_time(φ scalar, v range-vector)
        "quantile_over_time" => {
            let q = plan.number(args[0], "quantile_over_time()")?;
            range::over_time(plan, name, range_arg(1)?, Some(q), &about)
        }
        // rad(v instant-vector): Rust's to_radians
        "rad" => math(plan, name, &args, format!("{x} * {}", number_sql(std::f64::consts::PI / 180.0)), &about),
        // rate(v range-vector)
        "rate" => range::rate(plan, name, range_arg(0)?, &about),
        // resets(v range-vector)
        "resets" => range::neighbours(plan, name, range_arg(0)?, &about),
        // round(v instant-vector, to_nearest=1 scalar): the engine's floor(v / to_nearest + 0.5) * to_nearest
        "round" => {
            let nearest = if args.len() > 1 { plan.number(args[1], "round()")? } else { 1.0 };
            let inverse = number_sql(1.0 / nearest);
            math(plan, name, &args, format!("floor({x} * {inverse} + 0.5::DOUBLE) / {inverse}"), &about)
        }
        // scalar(v instant-vector): the value of a vector of one sample, else NaN
        "scalar" => {
            let v = plan.vector(args[0], "scalar()")?;
            let cte = plan.grouped_cte(
                "scalar",
                &about,
                format!(
                    "  SELECT s.step_ms, CASE WHEN count(v.value) = 1 THEN any_value(v.value) ELSE 'NaN'::DOUBLE END AS value
  FROM steps s LEFT JOIN {} v ON v.step_ms = s.step_ms
  GROUP BY s.step_ms",
                    v.cte
                ),
            );
            Ok(Planned::Scalar(cte))
        }
        // sgn(v instant-vector): NaN and zeros stay as they are
        "sgn" => math(
            plan,
            name,
            &args,
            format!(
                "CASE WHEN isnan({x}) THEN {x} WHEN {x} > 0 THEN 1::DOUBLE WHEN {x} < 0 THEN (-1::DOUBLE) ELSE {x} END"
            ),
            &about,
        ),
        // sort(v instant-vector), sort_desc(v instant-vector): a range query's series have no order
        "sort" | "sort_desc" => plan.expr(args[0]),
        // sqrt(v instant-vector): NaN below zero
        "sqrt" => math(plan, name, &args, format!("CASE WHEN {x} < 0 THEN 'NaN'::DOUBLE ELSE sqrt({x}) END"), &about),
        // time()
        "time" => {
            let cte =
                plan.cte("time", &about, "  SELECT step_ms, step_ms::DOUBLE / 1000::DOUBLE AS value FROM steps".into());
            Ok(Planned::Scalar(cte))
        }
        // vector(s scalar): one sample without labels
        "vector" => {
            let (from, value) = match plan.expr(args[0])? {
                Planned::Number(v) => ("steps".to_string(), number_sql(v)),
                Planned::Scalar(cte) => (cte, "value".to_string()),
                Planned::Vector(_) => return Err(eval_error("vector() expects a scalar")),
            };
            let cte = plan.cte(
                "vector",
                &about,
                format!(
                    "  SELECT step_ms, NULL::VARCHAR AS metric, {EMPTY_LABELS} AS labels, {value} AS value FROM {from}"
                ),
            );
            Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
        }
        other => Err(unsupported(format!("portable SQL for function {other}() (promql_range evaluates it)"))),
    }
}

/// An element-wise function of the first argument's values; drops the name.
fn math(plan: &mut Plan, name: &str, args: &[&Expr], value: String, about: &str) -> Result<Planned> {
    let Some(arg) = args.first() else {
        return Err(eval_error(format!("{name}() expects an instant vector")));
    };
    let v = plan.vector(arg, &format!("{name}()"))?;
    v.names.droppable(&format!("{name}()"))?;
    let cte = plan.cte(
        name,
        about,
        format!("  SELECT step_ms, NULL::VARCHAR AS metric, labels, {value} AS value FROM {}", v.cte),
    );
    Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
}

/// `absent`'s row at the steps `from` leaves (it names the steps `s`), with
/// the engine's labels for the argument.
fn absent(plan: &mut Plan, arg: &Expr, from: &str, about: &str) -> Result<Planned> {
    let labels = absent_labels(arg);
    let labels = if labels.is_empty() {
        EMPTY_LABELS.to_string()
    } else {
        let entries: Vec<String> =
            labels.iter().map(|(k, v)| format!("{}: {}", sql_string(k), sql_string(v))).collect();
        format!("MAP {{{}}}::MAP(VARCHAR, VARCHAR)", entries.join(", "))
    };
    let cte = plan.cte(
        "absent",
        about,
        format!("  SELECT s.step_ms, NULL::VARCHAR AS metric, {labels} AS labels, 1::DOUBLE AS value\n{from}"),
    );
    Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
}

/// An empty vector (`clamp` with max below min).
fn empty(plan: &mut Plan, about: &str) -> Result<Planned> {
    let cte = plan.cte(
        "nothing",
        about,
        format!("  SELECT step_ms, NULL::VARCHAR AS metric, {EMPTY_LABELS} AS labels, 0::DOUBLE AS value FROM steps WHERE false"),
    );
    Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
}

/// A logarithm with IEEE's results where DuckDB raises: -Inf at zero, NaN below.
fn logarithm(function: &str, x: &str) -> String {
    format!("CASE WHEN {x} < 0 THEN 'NaN'::DOUBLE WHEN {x} = 0 THEN '-Infinity'::DOUBLE ELSE {function}({x}) END")
}

/// Go's `math.Max(bound, x)` with a known bound: NaN wins.
fn go_max(bound: f64, x: &str) -> String {
    if bound.is_nan() {
        return "'NaN'::DOUBLE".into();
    }
    format!("CASE WHEN isnan({x}) THEN {x} ELSE greatest({}, {x}) END", number_sql(bound))
}

/// Go's `math.Min(bound, x)` with a known bound: NaN wins.
fn go_min(bound: f64, x: &str) -> String {
    if bound.is_nan() {
        return "'NaN'::DOUBLE".into();
    }
    format!("CASE WHEN isnan({x}) THEN {x} ELSE least({}, {x}) END", number_sql(bound))
}
