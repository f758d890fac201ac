//! Binary operators and unary minus, with the engine's rules
//! (`eval::binary`): between numbers they are folded while planning (by the
//! engine's own [`BinaryOp::apply`]); a vector and a scalar are joined on the
//! step; two vectors are joined on the step and their matching labels
//! (`on` / `ignoring`; one-to-one, or many-to-one with `group_left` /
//! `group_right`), and set operators are semi and anti joins. Arithmetic and
//! `bool` comparisons drop `__name__`; a comparison without `bool` keeps the
//! rows it holds for, with the vector's value (of two, the left one's). What the engine reports
//! at run time (duplicate match groups, multiple matches) the SQL reports
//! with `error()`, at the same steps.

use super::float::{arithmetic_sql, comparison_sql, Operand};
use super::{names_sql, Names, Plan, Planned, Vector, EMPTY_LABELS};
use crate::promql::error::{eval_error, unsupported, Result};
use crate::promql::eval::BinaryOp;
use crate::promql::value::METRIC_NAME;
use promql_parser::parser::{BinaryExpr, Expr, LabelModifier, VectorMatchCardinality};

pub(super) fn plan(plan: &mut Plan, expr: &BinaryExpr) -> Result<Planned> {
    let op = BinaryOp::parse(&expr.op.to_string())?;
    let modifier = expr.modifier.clone().unwrap_or_default();
    if modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some() {
        return Err(unsupported("fill modifiers in binary operations"));
    }
    let about = super::comment_text(expr);
    let (lhs, rhs) = (plan.expr(&expr.lhs)?, plan.expr(&expr.rhs)?);
    match (lhs, rhs) {
        (Planned::Number(l), Planned::Number(r)) => {
            let (v, holds) = op.apply(l, r);
            Ok(Planned::Number(if op.is_comparison() { f64::from(u8::from(holds)) } else { v }))
        }
        (Planned::Vector(l), Planned::Vector(r)) if op.is_set() => {
            set_operation(plan, op, l, r, &modifier.matching, &about)
        }
        (Planned::Vector(l), Planned::Vector(r)) => match &modifier.card {
            VectorMatchCardinality::OneToOne => {
                vector_vector(plan, op, l, r, &modifier.matching, modifier.return_bool, &about)
            }
            VectorMatchCardinality::ManyToOne(labels) => {
                grouped(plan, op, (l, r, false), &labels.labels, &modifier.matching, modifier.return_bool, &about)
            }
            VectorMatchCardinality::OneToMany(labels) => {
                grouped(plan, op, (r, l, true), &labels.labels, &modifier.matching, modifier.return_bool, &about)
            }
            VectorMatchCardinality::ManyToMany => Err(eval_error("many-to-many matching is only for set operators")),
        },
        (Planned::Vector(v), s) => {
            vector_scalar(plan, (op, &expr.op.to_string()), v, s, false, modifier.return_bool, &about)
        }
        (s, Planned::Vector(v)) => {
            vector_scalar(plan, (op, &expr.op.to_string()), v, s, true, modifier.return_bool, &about)
        }
        (l, r) => scalar_scalar(plan, op, l, r, &about),
    }
}

/// `-v`: a number, a scalar, or a vector without its names.
pub(super) fn negate(plan: &mut Plan, inner: &Expr) -> Result<Planned> {
    let about = format!("-{}", super::comment_text(inner));
    match plan.expr(inner)? {
        Planned::Number(v) => Ok(Planned::Number(-v)),
        Planned::Scalar(cte) => {
            Ok(Planned::Scalar(plan.cte("negated", &about, format!("  SELECT step_ms, -value AS value FROM {cte}"))))
        }
        Planned::Vector(v) => {
            v.names.droppable("unary minus")?;
            let cte = plan.cte(
                "negated",
                &about,
                format!("  SELECT step_ms, NULL::VARCHAR AS metric, labels, -value AS value FROM {}", v.cte),
            );
            Ok(Planned::Vector(Vector { cte, names: Names::Dropped }))
        }
    }
}

/// The value of `l op r`: arithmetic, or 0/1 for a comparison.
fn value_sql(op: BinaryOp, l: &Operand, r: &Operand) -> String {
    if op.is_comparison() {
        format!("CASE WHEN {} THEN 1::DOUBLE ELSE 0::DOUBLE END", comparison_sql(op, l, r))
    } else {
        arithmetic_sql(op, l, r)
    }
}

/// Two scalars, at least one computed per step: the scalars' CTEs joined
/// on the step.
fn scalar_scalar(plan: &mut Plan, op: BinaryOp, l: Planned, r: Planned, about: &str) -> Result<Planned> {
    let mut from: Vec<(String, &str)> = Vec::new();
    let mut operand = |side: Planned, alias: &'static str| -> Result<Operand> {
        match side {
            Planned::Number(v) => Ok(Operand::Number(v)),
            Planned::Scalar(cte) => {
                from.push((cte, alias));
                Ok(Operand::Column(format!("{alias}.value")))
            }
            Planned::Vector(_) => Err(eval_error("a vector where a scalar was planned")),
        }
    };
    let (l, r) = (operand(l, "a")?, operand(r, "b")?);
    let Some(((first, alias), rest)) = from.split_first() else {
        return Err(eval_error("two numbers where a scalar was planned"));
    };
    let mut tables = format!("{first} {alias}");
    for (cte, other) in rest {
        tables.push_str(&format!(" JOIN {cte} {other} ON {other}.step_ms = {alias}.step_ms"));
    }
    let cte = plan.cte(
        "operator",
        about,
        format!("  SELECT {alias}.step_ms, {} AS value\n  FROM {tables}", value_sql(op, &l, &r)),
    );
    Ok(Planned::Scalar(cte))
}

/// A vector and a scalar (`scalar_left` when the scalar is the left operand).
fn vector_scalar(
    plan: &mut Plan,
    (op, token): (BinaryOp, &str),
    vector: Vector,
    scalar: Planned,
    scalar_left: bool,
    return_bool: bool,
    about: &str,
) -> Result<Planned> {
    if op.is_set() {
        return Err(eval_error("set operators are only defined between vectors"));
    }
    let (s, join) = match scalar {
        Planned::Number(n) => (Operand::Number(n), String::new()),
        Planned::Scalar(cte) => {
            (Operand::Column("sc.value".into()), format!(" JOIN {cte} sc ON sc.step_ms = v.step_ms"))
        }
        Planned::Vector(_) => return Err(eval_error("a vector where a scalar was planned")),
    };
    let v = Operand::Column("v.value".into());
    let (l, r) = if scalar_left { (s, v) } else { (v, s) };
    let filters = op.is_comparison() && !return_bool;
    if !filters {
        vector.names.droppable(&format!("binary operator {token}"))?;
    }
    let (metric, value, filter) = if filters {
        // a comparison keeps the vector's value, whichever side it is on
        ("v.metric", "v.value".to_string(), format!("\n  WHERE {}", comparison_sql(op, &l, &r)))
    } else {
        ("NULL::VARCHAR", value_sql(op, &l, &r), String::new())
    };
    let cte = plan.cte(
        "operator",
        about,
        format!(
            "  SELECT v.step_ms, {metric} AS metric, v.labels, {value} AS value\n  FROM {} v{join}{filter}",
            vector.cte
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: if filters { vector.names } else { Names::Dropped } }))
}

/// The labels two rows (columns `metric`, `labels`) are matched on.
fn signature_sql(matching: &Option<LabelModifier>) -> String {
    match matching {
        None => "labels".into(),
        Some(LabelModifier::Include(on)) if on.labels.is_empty() => EMPTY_LABELS.into(),
        Some(LabelModifier::Include(on)) => {
            let names: Vec<&String> = on.labels.iter().collect();
            format!(
                "map_from_entries(list_filter({}, lambda e: list_contains({}, e.key)))",
                super::series_order_sql("metric", "labels"),
                names_sql(&names)
            )
        }
        Some(LabelModifier::Exclude(ignoring)) if ignoring.labels.is_empty() => "labels".into(),
        Some(LabelModifier::Exclude(ignoring)) => {
            let names: Vec<&String> = ignoring.labels.iter().collect();
            format!(
                "map_from_entries(list_filter(map_entries(labels), lambda e: NOT list_contains({}, e.key)))",
                names_sql(&names)
            )
        }
    }
}

/// An SQL string literal of an error message.
fn message_sql(text: &str) -> String {
    crate::sql_text::quote_literal(text)
}

/// Two vectors, one-to-one: each left row with the right row of its match
/// group; the engine's errors for a group twice on the right, or matched
/// twice from the left.
fn vector_vector(
    plan: &mut Plan,
    op: BinaryOp,
    lhs: Vector,
    rhs: Vector,
    matching: &Option<LabelModifier>,
    return_bool: bool,
    about: &str,
) -> Result<Planned> {
    let signature = signature_sql(matching);
    let right = one_side(plan, &rhs, &signature, "right");
    let (l, r) = (Operand::Column("l.value".into()), Operand::Column("r.value".into()));
    let filters = op.is_comparison() && !return_bool;
    let (value, filter) = if filters {
        ("l.value".to_string(), format!("\n  WHERE {}", comparison_sql(op, &l, &r)))
    } else {
        (value_sql(op, &l, &r), String::new())
    };
    // the left row's labels restricted by on/ignoring, and its name only where a filtering
    // comparison keeps it and on/ignoring do not take it away
    let listed = |names: &[String]| names.iter().any(|n| n == METRIC_NAME);
    let keeps_name = filters
        && match matching {
            Some(LabelModifier::Include(on)) => listed(&on.labels),
            Some(LabelModifier::Exclude(ignoring)) => !listed(&ignoring.labels),
            None => true,
        };
    let (metric, labels) = (if keeps_name { "l.metric" } else { "NULL::VARCHAR" }, restricted_labels(matching));
    let cte = plan.cte(
        "operator",
        about,
        format!(
            "  SELECT l.step_ms, {metric} AS metric, {labels} AS labels, {value} AS value
  FROM (SELECT *, {signature} AS signature FROM {lhs}) l
  JOIN {right} r ON r.step_ms = l.step_ms AND r.signature = l.signature{filter}
  QUALIFY CASE WHEN count(*) OVER (PARTITION BY l.step_ms, l.signature) > 1
    THEN error({} || to_json(l.signature)::VARCHAR || {})
    ELSE true END",
            message_sql("multiple matches for labels "),
            message_sql(": many-to-one matching must be explicit (group_left/group_right)"),
            lhs = lhs.cte,
        ),
    );
    let names = if keeps_name { lhs.names } else { Names::Dropped };
    Ok(Planned::Vector(Vector { cte, names }))
}

/// The side of a match whose rows must have distinct match groups at each
/// step, with their `signature`; a group twice is the engine's error.
fn one_side(plan: &mut Plan, vector: &Vector, signature: &str, side: &str) -> String {
    plan.cte(
        "matching",
        "",
        format!(
            "  SELECT * FROM (SELECT *, {signature} AS signature FROM {})
  QUALIFY CASE WHEN count(*) OVER (PARTITION BY step_ms, signature) > 1
    THEN error({} || to_json(signature)::VARCHAR || {})
    ELSE true END",
            vector.cte,
            message_sql("found duplicate series for the match group "),
            message_sql(&format!(
                " on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
            )),
        ),
    )
}

/// `group_left(labels)` (many = left) and `group_right(labels)` (many =
/// right, `swapped`): each row of the many side with the one side's row of
/// its match group, keeping the many row's labels plus the listed labels
/// of the one row (a listed label the one row lacks is removed). Two rows
/// with one label set in the result are the engine's error.
fn grouped(
    plan: &mut Plan,
    op: BinaryOp,
    (many, one, swapped): (Vector, Vector, bool),
    include: &[String],
    matching: &Option<LabelModifier>,
    return_bool: bool,
    about: &str,
) -> Result<Planned> {
    if include.iter().any(|n| n == METRIC_NAME) {
        return Err(unsupported("portable SQL for group_left/group_right copying __name__"));
    }
    let signature = signature_sql(matching);
    let one_cte = one_side(plan, &one, &signature, if swapped { "left" } else { "right" });
    let (m, o) = (Operand::Column("m.value".into()), Operand::Column("o.value".into()));
    let (l, r) = if swapped { (o, m) } else { (m, o) };
    let filters = op.is_comparison() && !return_bool;
    let (value, filter) = if filters {
        // a comparison's value is its left operand's
        (l.sql(), format!("\n    WHERE {}", comparison_sql(op, &l, &r)))
    } else {
        (value_sql(op, &l, &r), String::new())
    };
    let listed: Vec<&String> = include.iter().collect();
    let labels = if listed.is_empty() {
        "m.labels".to_string()
    } else {
        let names = names_sql(&listed);
        format!(
            "map_from_entries(list_sort(list_filter(map_entries(m.labels), lambda e: NOT list_contains({names}, e.key))
      || list_filter(map_entries(o.labels), lambda e: list_contains({names}, e.key))))"
        )
    };
    let metric = if filters { "m.metric" } else { "NULL::VARCHAR" };
    let cte = plan.cte(
        "operator",
        about,
        format!(
            "  SELECT * FROM (
    SELECT m.step_ms, {metric} AS metric, {labels} AS labels, {value} AS value
    FROM (SELECT *, {signature} AS signature FROM {many}) m
    JOIN {one_cte} o ON o.step_ms = m.step_ms AND o.signature = m.signature{filter}
  )
  QUALIFY CASE WHEN count(*) OVER (PARTITION BY step_ms, metric, labels) > 1
    THEN error({})
    ELSE true END",
            message_sql("multiple matches for labels: grouping labels must ensure unique matches"),
            many = many.cte,
        ),
    );
    Ok(Planned::Vector(Vector { cte, names: if filters { many.names } else { Names::Dropped } }))
}

/// The left row's labels (`l.labels`) kept by `on` / `ignoring`.
fn restricted_labels(matching: &Option<LabelModifier>) -> String {
    match matching {
        Some(LabelModifier::Include(on)) => {
            let names: Vec<&String> = on.labels.iter().collect();
            if names.is_empty() {
                return EMPTY_LABELS.into();
            }
            format!(
                "map_from_entries(list_filter(map_entries(l.labels), lambda e: list_contains({}, e.key)))",
                names_sql(&names)
            )
        }
        Some(LabelModifier::Exclude(ignoring)) if !ignoring.labels.is_empty() => {
            let names: Vec<&String> = ignoring.labels.iter().collect();
            format!(
                "map_from_entries(list_filter(map_entries(l.labels), lambda e: NOT list_contains({}, e.key)))",
                names_sql(&names)
            )
        }
        _ => "l.labels".into(),
    }
}

/// `and`, `or`, `unless`: the left rows whose match group the right side
/// has (or has not) at that step; `or` adds the right rows whose group the
/// left side lacks. Rows keep their names.
fn set_operation(
    plan: &mut Plan,
    op: BinaryOp,
    lhs: Vector,
    rhs: Vector,
    matching: &Option<LabelModifier>,
    about: &str,
) -> Result<Planned> {
    let signature = signature_sql(matching);
    let signed = |cte: &str| format!("(SELECT *, {signature} AS signature FROM {cte})");
    let (l, r) = (signed(&lhs.cte), signed(&rhs.cte));
    let on = "ON r.step_ms = l.step_ms AND r.signature = l.signature";
    let body = match op {
        BinaryOp::And => format!("  SELECT l.step_ms, l.metric, l.labels, l.value\n  FROM {l} l SEMI JOIN {r} r {on}"),
        BinaryOp::Unless => {
            format!("  SELECT l.step_ms, l.metric, l.labels, l.value\n  FROM {l} l ANTI JOIN {r} r {on}")
        }
        _ => format!(
            "  SELECT step_ms, metric, labels, value FROM {}
  UNION ALL
  SELECT r.step_ms, r.metric, r.labels, r.value
  FROM {r} r ANTI JOIN {l} l {on}",
            lhs.cte
        ),
    };
    let names = if op == BinaryOp::Or { lhs.names.union(&rhs.names) } else { lhs.names };
    // named for what they keep (`and`, `or` are SQL keywords)
    let name = match op {
        BinaryOp::And => "matched_both",
        BinaryOp::Unless => "unmatched",
        _ => "either",
    };
    let cte = plan.cte(name, about, body);
    Ok(Planned::Vector(Vector { cte, names }))
}
