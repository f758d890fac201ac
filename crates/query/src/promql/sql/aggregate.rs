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
    if op == "count_values" {
        return count_values(plan, agg, &about);
    }
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

/// `count_values(label, v)`: per group and step, how many rows have each
/// value, the value printed as the engine prints floats into labels
/// ([`float::display_sql`]) under `label` (replacing a grouping label of
/// that name).
fn count_values(plan: &mut Plan, agg: &AggregateExpr, about: &str) -> Result<Planned> {
    let mut param = agg.param.as_deref();
    while let Some(promql_parser::parser::Expr::Paren(p)) = param {
        param = Some(&p.expr);
    }
    let label = match param {
        Some(promql_parser::parser::Expr::StringLiteral(s)) => s.val.clone(),
        _ => return Err(unsupported("portable SQL for aggregation count_values with a label other than a string")),
    };
    let valid = label.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(eval_error(format!("invalid label name {label:?}")));
    }
    if label == METRIC_NAME {
        return Err(unsupported("portable SQL for aggregation count_values into __name__"));
    }
    let inner = plan.vector(&agg.expr, "aggregation count_values")?;
    let (grouping, keeps_name) = grouping_sql(&agg.modifier);
    let metric = if keeps_name { "metric" } else { "NULL::VARCHAR" };
    let label = crate::sql_text::quote_literal(&label);
    let cte = plan.grouped_cte(
        "count_values",
        about,
        format!(
            "  SELECT step_ms, metric, labels, count(*)::DOUBLE AS value FROM (
    SELECT step_ms, {metric} AS metric,
      map_from_entries(list_sort(list_filter(map_entries(grouping), lambda e: e.key <> {label})
        || [{{'key': {label}, 'value': {shown}}}])) AS labels
    FROM (SELECT *, {grouping} AS grouping FROM {inner})
  )
  GROUP BY step_ms, metric, labels",
            shown = float::display_sql("value"),
            inner = inner.cte,
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: if keeps_name { inner.names } else { Names::Dropped } }))
}
