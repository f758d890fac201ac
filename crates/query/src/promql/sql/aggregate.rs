//! Aggregation operators with `by` / `without`: a `GROUP BY` over the step
//! and the grouping labels (the engine's `grouping_labels`), folding each
//! group's values in the engine's series order; `topk`/`bottomk` rank the
//! rows of each group instead and keep them whole.

use super::float::{self, Fold};
use super::{names_sql, series_order_sql, Names, Plan, Planned, Vector, EMPTY_LABELS};
use crate::promql::error::{eval_error, unsupported, Result};
use crate::promql::value::METRIC_NAME;
use promql_parser::parser::{AggregateExpr, LabelModifier};

/// The grouping labels of a row (columns `metric`, `labels`) and whether
/// they include `__name__` (only `by (__name__, ...)` keeps it).
fn grouping_sql(modifier: &Option<LabelModifier>) -> (String, bool) {
    match modifier {
        None => (EMPTY_LABELS.into(), false),
        Some(LabelModifier::Include(by)) => {
            let names: Vec<&String> = by.labels.iter().filter(|n| n.as_str() != METRIC_NAME).collect();
            let keeps_name = names.len() < by.labels.len();
            if names.is_empty() {
                return (EMPTY_LABELS.into(), keeps_name);
            }
            (
                format!(
                    "map_from_entries(list_filter(map_entries(labels), lambda e: list_contains({}, e.key)))",
                    names_sql(&names)
                ),
                keeps_name,
            )
        }
        Some(LabelModifier::Exclude(without)) => {
            let names: Vec<&String> = without.labels.iter().collect();
            if names.is_empty() {
                return ("labels".into(), false);
            }
            (
                format!(
                    "map_from_entries(list_filter(map_entries(labels), lambda e: NOT list_contains({}, e.key)))",
                    names_sql(&names)
                ),
                false,
            )
        }
    }
}

pub(super) fn plan(plan: &mut Plan, agg: &AggregateExpr) -> Result<Planned> {
    let op = agg.op.to_string();
    let about = super::comment_text(agg);
    let param = match (&agg.param, op.as_str()) {
        (Some(p), "bottomk" | "quantile" | "topk") => Some(plan.number(p, &format!("aggregation {op}"))?),
        (Some(_), _) => return Err(unsupported(format!("portable SQL for aggregation {op}"))),
        (None, _) => None,
    };
    let inner = plan.vector(&agg.expr, &format!("aggregation {op}"))?;
    let (grouping, keeps_name) = grouping_sql(&agg.modifier);
    let (value, order) = ("value", series_order_sql("metric", "labels"));
    let fold = match op.as_str() {
        "avg" => float::avg(value, &order),
        "bottomk" | "topk" => {
            return ranked(plan, &op, inner, (&grouping, keeps_name), param.unwrap_or(f64::NAN), &about)
        }
        "count" => float::count(),
        "group" => Fold { aggregate: "1::DOUBLE".into(), finish: "folded".into() },
        "max" => float::extreme(value, true),
        "min" => float::extreme(value, false),
        "quantile" => float::quantile(param.unwrap_or(f64::NAN), value),
        "stddev" => float::variance(value, &order, true),
        "stdvar" => float::variance(value, &order, false),
        "sum" => float::sum(value, &order),
        other => return Err(unsupported(format!("portable SQL for aggregation {other}"))),
    };
    let (metric, name_group) = if keeps_name { ("metric", ", metric") } else { ("NULL::VARCHAR", "") };
    // `group` is an SQL keyword
    let name = if op == "group" { "grouped" } else { op.as_str() };
    let cte = plan.grouped_cte(
        name,
        &about,
        format!(
            "  SELECT step_ms, metric, grouping AS labels, {finish} AS value FROM (
    SELECT step_ms, {metric} AS metric, grouping,
      {aggregate} AS folded
    FROM (SELECT *, {grouping} AS grouping FROM {inner})
    GROUP BY step_ms, grouping{name_group}
  )",
            finish = fold.finish,
            aggregate = fold.aggregate,
            inner = inner.cte,
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: if keeps_name { inner.names } else { Names::Dropped } }))
}

/// `topk` / `bottomk`: the `k` largest (smallest) rows of each group with
/// their own labels, NaN never preferred to a number, ties in series order
/// (the engine's stable sort).
fn ranked(
    plan: &mut Plan,
    op: &str,
    inner: Vector,
    (grouping, keeps_name): (&str, bool),
    k: f64,
    about: &str,
) -> Result<Planned> {
    if k.is_nan() {
        return Err(eval_error("parameter value is NaN"));
    }
    // the engine truncates k to an integer; below 1 nothing is kept
    let k = if k < 1.0 { 0 } else { k.min(i64::MAX as f64) as i64 };
    let direction = if op == "topk" { "DESC" } else { "ASC" };
    let cte = plan.grouped_cte(
        op,
        about,
        format!(
            "  SELECT step_ms, metric, labels, value FROM {inner}
  QUALIFY row_number() OVER (PARTITION BY step_ms, {grouping}{name}
    ORDER BY isnan(value), value {direction}, {order}) <= {k}",
            inner = inner.cte,
            name = if keeps_name { ", metric" } else { "" },
            order = series_order_sql("metric", "labels"),
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: inner.names }))
}
