//! Aggregation operators (`sum`, `topk`, `count_values`, ...) with `by` /
//! `without`. Samples are grouped by their grouping labels; each operator
//! folds one group at a time.

use super::functions::count_value_label;
use super::range;
use super::{Evaluator, KahanSum};
use crate::prom_math;
use crate::promql::error::{eval_error, unsupported, Result};
use crate::promql::value::{Labels, Sample, Value, METRIC_NAME};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::collections::BTreeMap;

/// The labels a sample is grouped by: only the `by` labels, or all but the
/// `without` labels and the metric name; no modifier groups everything.
fn grouping_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::new(),
        Some(LabelModifier::Include(by)) => {
            labels.iter().filter(|(k, _)| by.labels.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        Some(LabelModifier::Exclude(without)) => labels
            .iter()
            .filter(|(k, _)| k.as_str() != METRIC_NAME && !without.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn group(samples: Vec<Sample>, modifier: &Option<LabelModifier>) -> BTreeMap<Labels, Vec<Sample>> {
    let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        groups.entry(grouping_labels(&s.labels, modifier)).or_default().push(s);
    }
    groups
}

pub fn eval_aggregate(ev: &Evaluator, agg: &AggregateExpr, t: i64) -> Result<Value> {
    let op = agg.op.to_string();
    let samples = ev.vector(&agg.expr, t)?;
    let param = agg.param.as_deref();
    let folded = |f: &dyn Fn(&[f64]) -> f64| -> Value {
        Value::Vector(
            group(samples.clone(), &agg.modifier)
                .into_iter()
                .map(|(labels, members)| {
                    let values: Vec<f64> = members.iter().map(|s| s.v).collect();
                    Sample { labels, t, v: f(&values) }
                })
                .collect(),
        )
    };
    match op.as_str() {
        "avg" => Ok(folded(&|v| {
            let points: Vec<_> = v.iter().map(|&v| crate::promql::value::Point { t: 0, v }).collect();
            range::avg(&points)
        })),
        "bottomk" | "topk" => {
            let k = ev.scalar(param.ok_or_else(|| eval_error(format!("{op} needs a parameter")))?, t)?;
            Ok(Value::Vector(top_k(samples, &agg.modifier, k, op == "topk", t)?))
        }
        "count" => Ok(folded(&|v| v.len() as f64)),
        "count_values" => {
            let label = ev.string(param.ok_or_else(|| eval_error("count_values needs a label name"))?, t)?;
            count_values(samples, &agg.modifier, &label, t)
        }
        "group" => Ok(folded(&|_| 1.0)),
        "max" => Ok(folded(&|v| range::max(v.iter().copied()))),
        "min" => Ok(folded(&|v| range::min(v.iter().copied()))),
        "quantile" => {
            let q = ev.scalar(param.ok_or_else(|| eval_error("quantile needs a parameter"))?, t)?;
            Ok(folded(&|v| prom_math::quantile(q, v.to_vec())))
        }
        "stddev" => Ok(folded(&|v| prom_math::variance(v.iter().copied()).sqrt())),
        "stdvar" => Ok(folded(&|v| prom_math::variance(v.iter().copied()))),
        "sum" => Ok(folded(&|v| {
            let mut k = KahanSum::default();
            v.iter().for_each(|&x| k.add(x));
            k.value()
        })),
        other => Err(unsupported(format!("aggregation {other}"))),
    }
}

/// `topk`/`bottomk`: the k largest (smallest) samples of each group, with
/// their own labels; NaN is never preferred to a number.
fn top_k(samples: Vec<Sample>, modifier: &Option<LabelModifier>, k: f64, largest: bool, t: i64) -> Result<Vec<Sample>> {
    if k.is_nan() {
        return Err(eval_error("parameter value is NaN"));
    }
    if k < 1.0 {
        return Ok(Vec::new());
    }
    let k = k.min(usize::MAX as f64) as usize;
    let mut out = Vec::new();
    for (_, mut members) in group(samples, modifier) {
        members.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if largest => b.v.total_cmp(&a.v),
            _ => a.v.total_cmp(&b.v),
        });
        out.extend(members.into_iter().take(k).map(|s| Sample { t, ..s }));
    }
    Ok(out)
}

fn count_values(samples: Vec<Sample>, modifier: &Option<LabelModifier>, label: &str, t: i64) -> Result<Value> {
    let valid = label.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(eval_error(format!("invalid label name {label:?}")));
    }
    let mut counts: BTreeMap<Labels, f64> = BTreeMap::new();
    for s in samples {
        let mut labels = grouping_labels(&s.labels, modifier);
        labels.insert(label.to_string(), count_value_label(s.v));
        *counts.entry(labels).or_default() += 1.0;
    }
    Ok(Value::Vector(counts.into_iter().map(|(labels, v)| Sample { labels, t, v }).collect()))
}
