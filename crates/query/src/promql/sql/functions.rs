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
use crate::promql::eval::functions::MAX_GENERATED_LABEL_BYTES;
use crate::promql::eval::{absent_labels, checked_duration_ms};
use crate::promql::value::METRIC_NAME;
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
        // acos, asin (NaN outside [-1, 1], where DuckDB raises), atan and the other
        // trigonometric functions: libm's, as Rust's f64 methods; sin/cos/tan of an
        // infinity are NaN (DuckDB raises). asinh/acosh/atanh are Rust's own formulas,
        // not libm's, and stay refused
        "acos" | "asin" => math(
            plan,
            name,
            &args,
            format!("CASE WHEN abs({x}) > 1 THEN 'NaN'::DOUBLE ELSE {name}({x}) END"),
            &about,
        ),
        "atan" | "cosh" | "sinh" | "tanh" => math(plan, name, &args, format!("{name}({x})"), &about),
        "cos" | "sin" | "tan" => {
            math(plan, name, &args, format!("CASE WHEN isinf({x}) THEN 'NaN'::DOUBLE ELSE {name}({x}) END"), &about)
        }
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
        // label_join(v instant-vector, dst_label string, separator string, src_label_1 string, ...)
        "label_join" => label_join(plan, &args, &about),
        // label_replace(v instant-vector, dst_label string, replacement string, src_label string, regex string)
        "label_replace" => label_replace(plan, &args, &about),
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
        // timestamp(v instant-vector): a selector's samples' own times (of any other
        // argument the engine keeps times the SQL does not carry)
        "timestamp" => {
            let mut arg = args[0];
            while let Expr::Paren(p) = arg {
                arg = &p.expr;
            }
            let Expr::VectorSelector(vs) = arg else {
                return Err(unsupported("portable SQL for timestamp() of anything but a selector"));
            };
            Names::of_selector(vs).droppable("timestamp()")?;
            let v = plan.selector_of(vs, "p.t::DOUBLE / 1000::DOUBLE", "NULL::VARCHAR", &about)?;
            Ok(Planned::Vector(Vector { cte: v.cte, names: Names::Dropped }))
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

/// A string argument (the parser has checked the type).
fn string_arg(arg: Option<&&Expr>, function: &str) -> Result<String> {
    match arg {
        Some(Expr::Paren(p)) => string_arg(Some(&&*p.expr), function),
        Some(Expr::StringLiteral(s)) => Ok(s.val.clone()),
        _ => Err(unsupported(format!("portable SQL for {function}() with a label argument other than a string"))),
    }
}

/// The value of label `name` of a row (`''` when it has none); `__name__` is the metric.
fn label_value_sql(name: &str) -> String {
    if name == METRIC_NAME {
        "coalesce(metric, '')".into()
    } else {
        format!("coalesce(labels[{}], '')", sql_string(name))
    }
}

/// The engine's `set_label` of `dst` to `value` on the row's `labels`: an
/// empty value removes the label; the entries stay in name order.
fn set_label_sql(dst: &str, value: &str) -> String {
    let dst = sql_string(dst);
    let without = format!("map_from_entries(list_filter(map_entries(labels), lambda e: e.key <> {dst}))");
    format!(
        "CASE WHEN {value} = '' THEN {without} ELSE map_from_entries(list_sort(map_entries({without}) || [{{'key': {dst}, 'value': {value}}}])) END"
    )
}

/// The destination label of `label_replace`/`label_join`: the engine's
/// check of the name; `__name__`, which would rename series, is refused.
fn destination(dst: &str, function: &str) -> Result<()> {
    let mut chars = dst.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(eval_error(format!("invalid destination label name in {function}(): {dst}")));
    }
    if dst == METRIC_NAME {
        return Err(unsupported(format!("portable SQL for {function}() into __name__")));
    }
    Ok(())
}

/// The error a generated label value over the engine's bound raises while running.
fn too_long_sql(function: &str, dst: &str) -> String {
    let message = format!(
        "{function}(): the new value of label {dst:?} would be longer than {MAX_GENERATED_LABEL_BYTES} bytes"
    );
    format!("error({})", sql_string(&message))
}

fn relabelled(plan: &mut Plan, name: &str, v: Vector, labels: String, about: &str) -> Planned {
    plan.relabelled = true;
    let cte = plan.cte(name, about, format!("  SELECT step_ms, metric, {labels} AS labels, value FROM {}", v.cte));
    Planned::Vector(Vector { cte, names: v.names })
}

fn label_join(plan: &mut Plan, args: &[&Expr], about: &str) -> Result<Planned> {
    let v = plan.vector(args[0], "label_join()")?;
    let (dst, separator) = (string_arg(args.get(1), "label_join")?, string_arg(args.get(2), "label_join")?);
    let sources = (3..args.len()).map(|i| string_arg(args.get(i), "label_join")).collect::<Result<Vec<_>>>()?;
    destination(&dst, "label_join")?;
    let parts: Vec<String> = sources.iter().map(|s| label_value_sql(s)).collect();
    let joined = if parts.is_empty() {
        "''".to_string()
    } else {
        format!("array_to_string([{}], {})", parts.join(", "), sql_string(&separator))
    };
    let labels = format!(
        "CASE WHEN strlen(joined) > {MAX_GENERATED_LABEL_BYTES} THEN {} ELSE {} END",
        too_long_sql("label_join", &dst),
        set_label_sql(&dst, "joined")
    );
    let labels = format!("(SELECT {labels} FROM (SELECT {joined} AS joined))");
    Ok(relabelled(plan, "label_join", v, labels, about))
}

/// A part of `label_replace`'s replacement as Rust's regex expands it.
#[derive(Debug, PartialEq)]
enum Part {
    Text(String),
    Group(usize),
}

/// Rust's regex expansion of `replacement`: `$$` is `$`; `$name` takes the
/// longest run of ASCII letters, digits and `_`, `${name}` anything up to
/// `}`; a name of digits is a group's number, another a group's name, and
/// a group the pattern lacks gives nothing; a `$` that starts no reference
/// stays.
fn replacement_parts(replacement: &str, names: &[Option<String>]) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = replacement;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        rest = &rest[i..];
        let after = &rest[1..];
        if after.starts_with('$') {
            text.push('$');
            rest = &after[1..];
            continue;
        }
        let (reference, used) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (Some(&braced[..end]), 1 + end + 1),
                None => (None, 0),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            if end == 0 {
                (None, 0)
            } else {
                (Some(&after[..end]), end)
            }
        };
        let Some(reference) = reference else {
            text.push('$');
            rest = after;
            continue;
        };
        rest = &after[used..];
        let group = match reference.parse::<usize>() {
            Ok(i) => (i < names.len()).then_some(i),
            Err(_) => names.iter().position(|n| n.as_deref() == Some(reference)),
        };
        if let Some(group) = group {
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Group(group));
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    parts
}

fn label_replace(plan: &mut Plan, args: &[&Expr], about: &str) -> Result<Planned> {
    let v = plan.vector(args[0], "label_replace()")?;
    let [dst, replacement, src, pattern] =
        [1, 2, 3, 4].map(|i| string_arg(args.get(i), "label_replace"));
    let (dst, replacement, src, pattern) = (dst?, replacement?, src?, pattern?);
    let anchored = format!("^(?s:{pattern})$");
    let regex = regex::Regex::new(&anchored)
        .map_err(|e| eval_error(format!("invalid regular expression in label_replace(): {pattern}: {e}")))?;
    destination(&dst, "label_replace")?;
    match crate::logql::portable::re2_difference(&anchored) {
        Ok(None) => {}
        Ok(Some(class)) => {
            return Err(unsupported(format!(
                "portable SQL for label_replace() with {class} in the regex (Unicode in promql_range, ASCII in DuckDB's RE2; write a bracket class such as [0-9])"
            )))
        }
        Err(e) => return Err(eval_error(format!("invalid regular expression in label_replace(): {pattern}: {e}"))),
    }
    let names: Vec<Option<String>> = regex.capture_names().map(|n| n.map(str::to_string)).collect();
    let re = sql_string(&anchored);
    let pieces: Vec<String> = replacement_parts(&replacement, &names)
        .into_iter()
        .map(|part| match part {
            Part::Text(t) => sql_string(&t),
            Part::Group(i) => format!("regexp_extract(source, {re}, {i})"),
        })
        .collect();
    let expanded = if pieces.is_empty() { "''".to_string() } else { pieces.join(" || ") };
    let references = replacement.matches('$').count();
    let labels = format!(
        "CASE WHEN NOT regexp_matches(source, {re}) THEN labels \
         WHEN {} + {references} * strlen(source) > {MAX_GENERATED_LABEL_BYTES} THEN {} ELSE {} END",
        replacement.len(),
        too_long_sql("label_replace", &dst),
        set_label_sql(&dst, &format!("({expanded})"))
    );
    let labels = format!("(SELECT {labels} FROM (SELECT {} AS source))", label_value_sql(&src));
    Ok(relabelled(plan, "label_replace", v, labels, about))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_expand_as_rusts_regex() {
        let names = vec![None, Some("a".to_string()), None];
        assert_eq!(replacement_parts("$1-${a}x$$", &names), vec![
            Part::Group(1),
            Part::Text("-".into()),
            Part::Group(1),
            Part::Text("x$".into())
        ]);
        // `$1x` names the group "1x", which does not exist; `$9` is beyond the groups
        assert_eq!(replacement_parts("$1x$9${2}", &names), vec![Part::Group(2)]);
        assert_eq!(replacement_parts("a$ ${b", &names), vec![Part::Text("a$ ${b".into())]);
        assert_eq!(replacement_parts("${}$", &names), vec![Part::Text("$".into())]);
        assert_eq!(replacement_parts("", &names), vec![]);
    }
}
