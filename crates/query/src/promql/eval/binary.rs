//! Binary operators: arithmetic, comparisons (filtering, or 0/1 with `bool`),
//! set operators, and vector matching with `on` / `ignoring` /
//! `group_left` / `group_right`, following Prometheus' `VectorBinop`.

use super::Evaluator;
use crate::promql::error::{eval_error, unsupported, Result};
use crate::promql::value::{without_name, Labels, Sample, Value, METRIC_NAME};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::{HashMap, HashSet};

/// A binary operator; `promql_sql` folds operators between numbers with
/// [`Op::apply`] too, so both engines share one definition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    pub(crate) fn parse(text: &str) -> Result<Op> {
        Ok(match text {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => return Err(unsupported(format!("binary operator {other}"))),
        })
    }

    pub(crate) fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    pub(crate) fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }

    /// The value of `l op r`, and for comparisons whether it holds (a
    /// comparison's value is its left operand).
    pub(crate) fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Op::Add => (l + r, true),
            Op::Sub => (l - r, true),
            Op::Mul => (l * r, true),
            Op::Div => (l / r, true),
            Op::Mod => (l % r, true),
            Op::Pow => (l.powf(r), true),
            Op::Atan2 => (l.atan2(r), true),
            Op::Eq => (l, l == r),
            Op::Ne => (l, l != r),
            Op::Gt => (l, l > r),
            Op::Lt => (l, l < r),
            Op::Ge => (l, l >= r),
            Op::Le => (l, l <= r),
            Op::And | Op::Or | Op::Unless => (l, true),
        }
    }
}

pub fn eval_binary(ev: &Evaluator, expr: &BinaryExpr, t: i64) -> Result<Value> {
    let op = Op::parse(&expr.op.to_string())?;
    let modifier = expr.modifier.clone().unwrap_or_default();
    if modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some() {
        return Err(unsupported("fill modifiers in binary operations"));
    }
    let return_bool = modifier.return_bool;
    let lhs = ev.eval(&expr.lhs, t)?;
    let rhs = ev.eval(&expr.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = op.apply(l, r);
            Ok(Value::Scalar(if op.is_comparison() { f64::from(u8::from(keep)) } else { v }))
        }
        (Value::Vector(l), Value::Scalar(r)) => Ok(Value::Vector(vector_scalar(op, l, r, false, return_bool, t))),
        (Value::Scalar(l), Value::Vector(r)) => Ok(Value::Vector(vector_scalar(op, r, l, true, return_bool, t))),
        (Value::Vector(l), Value::Vector(r)) => {
            if op.is_set() {
                Ok(Value::Vector(set_op(op, l, r, &modifier.matching)))
            } else {
                Ok(Value::Vector(vector_vector(op, l, r, &modifier, t)?))
            }
        }
        (l, r) => Err(eval_error(format!("binary operator between a {} and a {}", l.type_name(), r.type_name()))),
    }
}

fn vector_scalar(
    op: Op,
    vector: Vec<Sample>,
    scalar: f64,
    scalar_left: bool,
    return_bool: bool,
    t: i64,
) -> Vec<Sample> {
    vector
        .into_iter()
        .filter_map(|s| {
            let (l, r) = if scalar_left { (scalar, s.v) } else { (s.v, scalar) };
            let (mut v, keep) = op.apply(l, r);
            if op.is_comparison() && scalar_left {
                // a comparison keeps the vector's value, whichever side it is on
                v = s.v;
            }
            let labels = if op.is_comparison() && !return_bool { s.labels } else { without_name(&s.labels) };
            if return_bool {
                Some(Sample { labels, t, v: f64::from(u8::from(keep)) })
            } else {
                keep.then_some(Sample { labels, t, v })
            }
        })
        .collect()
}

/// The labels two samples are matched on.
fn signature(labels: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => {
            labels.iter().filter(|(k, _)| on.labels.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        Some(LabelModifier::Exclude(ignoring)) => labels
            .iter()
            .filter(|(k, _)| k.as_str() != METRIC_NAME && !ignoring.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => without_name(labels),
    }
}

fn set_op(op: Op, lhs: Vec<Sample>, rhs: Vec<Sample>, matching: &Option<LabelModifier>) -> Vec<Sample> {
    let rhs_sigs: HashSet<Labels> = rhs.iter().map(|s| signature(&s.labels, matching)).collect();
    match op {
        Op::And => lhs.into_iter().filter(|s| rhs_sigs.contains(&signature(&s.labels, matching))).collect(),
        Op::Unless => lhs.into_iter().filter(|s| !rhs_sigs.contains(&signature(&s.labels, matching))).collect(),
        _ => {
            let lhs_sigs: HashSet<Labels> = lhs.iter().map(|s| signature(&s.labels, matching)).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|s| !lhs_sigs.contains(&signature(&s.labels, matching))));
            out
        }
    }
}

fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn vector_vector(op: Op, lhs: Vec<Sample>, rhs: Vec<Sample>, modifier: &BinModifier, t: i64) -> Result<Vec<Sample>> {
    let matching = &modifier.matching;
    let (include, swapped) = match &modifier.card {
        VectorMatchCardinality::OneToOne => (None, false),
        VectorMatchCardinality::ManyToOne(labels) => (Some(labels.labels.clone()), false),
        VectorMatchCardinality::OneToMany(labels) => (Some(labels.labels.clone()), true),
        VectorMatchCardinality::ManyToMany => {
            return Err(eval_error("many-to-many matching is only for set operators"))
        }
    };
    // after swapping, `many` is the side whose samples are output, `one` the side they match
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, &Sample> = HashMap::new();
    for s in &one {
        let sig = signature(&s.labels, matching);
        if one_by_sig.insert(sig.clone(), s).is_some() {
            let side = if swapped { "left" } else { "right" };
            return Err(eval_error(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation; \
                 many-to-many matching not allowed: matching labels must be unique on one side",
                format_labels(&sig)
            )));
        }
    }
    let mut matched_sigs: HashSet<Labels> = HashSet::new();
    let mut output_labels: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    for s in &many {
        let sig = signature(&s.labels, matching);
        let Some(other) = one_by_sig.get(&sig) else {
            continue;
        };
        let (l, r) = if swapped { (other.v, s.v) } else { (s.v, other.v) };
        let (mut v, keep) = op.apply(l, r);
        if modifier.return_bool {
            v = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        if include.is_none() && !matched_sigs.insert(sig.clone()) {
            return Err(eval_error(format!(
                "multiple matches for labels {}: many-to-one matching must be explicit (group_left/group_right)",
                format_labels(&sig)
            )));
        }
        let labels = result_labels(&s.labels, &other.labels, op, modifier, include.as_deref());
        if include.is_some() && !output_labels.insert(labels.clone()) {
            return Err(eval_error("multiple matches for labels: grouping labels must ensure unique matches"));
        }
        out.push(Sample { labels, t, v });
    }
    Ok(out)
}

/// The labels of a result sample, from the "many" side's labels.
fn result_labels(many: &Labels, one: &Labels, op: Op, modifier: &BinModifier, include: Option<&[String]>) -> Labels {
    let mut labels = many.clone();
    if !op.is_comparison() || modifier.return_bool {
        labels.remove(METRIC_NAME);
    }
    if include.is_none() {
        match &modifier.matching {
            Some(LabelModifier::Include(on)) => labels.retain(|k, _| on.labels.contains(k)),
            Some(LabelModifier::Exclude(ignoring)) => labels.retain(|k, _| !ignoring.labels.contains(k)),
            None => {}
        }
    }
    for name in include.unwrap_or_default() {
        match one.get(name) {
            Some(v) if !v.is_empty() => {
                labels.insert(name.clone(), v.clone());
            }
            _ => {
                labels.remove(name);
            }
        }
    }
    labels
}
