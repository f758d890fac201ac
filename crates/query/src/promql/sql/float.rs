//! Prometheus' float arithmetic ([`crate::prom_math`] and the engine's
//! `range` helpers) written in DuckDB SQL, so a portable plan gives the same
//! bits as `promql_range`.
//!
//! DuckDB's own aggregates differ from Prometheus where it matters: `sum`
//! adds in no fixed order and `fsum` is Kahan's (not Neumaier's) sum, which
//! turns `+Inf + 1` into NaN; `max` prefers NaN to any number; `var_pop`
//! fails on NaN; and DuckDB orders NaN above every number and equal to
//! itself, where IEEE comparisons with NaN are false. So sums, means and
//! variances are folds (`list_reduce`) over the values in the engine's
//! order, written step for step as the Rust they mirror, and comparisons
//! test for NaN themselves.
//!
//! A [`Fold`] is an aggregate expression over the rows of one group
//! (`aggregate`) and the value computed from its result, named `folded`
//! (`finish`).

use crate::promql::eval::BinaryOp;

pub(crate) struct Fold {
    pub aggregate: String,
    pub finish: String,
}

impl Fold {
    fn plain(aggregate: String) -> Fold {
        Fold { aggregate, finish: "folded".into() }
    }
}

/// A DOUBLE literal that DuckDB reads back as the same bits (a decimal such
/// as `0.1` would be read as a DECIMAL first; a string is parsed exactly).
pub(crate) fn number_sql(v: f64) -> String {
    if v.is_nan() {
        "'NaN'::DOUBLE".into()
    } else if v.is_infinite() {
        if v > 0.0 { "'Infinity'::DOUBLE" } else { "'-Infinity'::DOUBLE" }.into()
    } else if v == v.trunc() && v.abs() < 9_007_199_254_740_992.0 && !(v == 0.0 && v.is_sign_negative()) {
        if v < 0.0 {
            format!("({}::DOUBLE)", v as i64)
        } else {
            format!("{}::DOUBLE", v as i64)
        }
    } else {
        format!("'{v:?}'::DOUBLE")
    }
}

/// Prometheus' Kahan-Neumaier sum (`KahanSum`), of `value` in `order`.
/// The list starts with the zero sum; each element is the sum of one value.
pub(super) fn sum(value: &str, order: &str) -> Fold {
    Fold {
        aggregate: format!(
            "list_reduce([{{s: 0::DOUBLE, c: 0::DOUBLE}}] || list({{s: {value}, c: 0::DOUBLE}} ORDER BY {order}),
      lambda acc, x: {{s: acc.s + x.s, c: {}}})",
            kahan_compensation("acc.s", "acc.c", "x.s")
        ),
        finish: "folded.s + folded.c".into(),
    }
}

/// The compensation after adding `inc` to `sum` (Neumaier's; reset when the
/// sum becomes infinite, which would otherwise turn it into NaN).
pub(super) fn kahan_compensation(sum: &str, c: &str, inc: &str) -> String {
    format!(
        "CASE WHEN isinf({sum} + {inc}) THEN 0::DOUBLE WHEN abs({sum}) >= abs({inc}) THEN {c} + (({sum} - ({sum} + {inc})) + {inc}) \
         ELSE {c} + (({inc} - ({sum} + {inc})) + {sum}) END"
    )
}

/// The engine's mean (`range::avg`): the Kahan sum over the count, or, when
/// that sum overflowed although every value is finite, the incremental mean.
pub(super) fn avg(value: &str, order: &str) -> Fold {
    let n1 = "(acc.n + 1::DOUBLE)";
    Fold {
        aggregate: format!(
            "list_reduce([{{s: 0::DOUBLE, c: 0::DOUBLE, n: 0::DOUBLE, mean: 0::DOUBLE, finite: true}}]
        || list({{s: {value}, c: 0::DOUBLE, n: 0::DOUBLE, mean: 0::DOUBLE, finite: true}} ORDER BY {order}),
      lambda acc, x: {{s: acc.s + x.s, c: {}, n: {n1},
        mean: acc.mean + (x.s / {n1} - acc.mean / {n1}), finite: acc.finite AND isfinite(x.s)}})",
            kahan_compensation("acc.s", "acc.c", "x.s")
        ),
        finish: "CASE WHEN isinf(folded.s + folded.c) AND folded.finite THEN folded.mean \
                 ELSE (folded.s + folded.c) / folded.n END"
            .into(),
    }
}

/// `max` / `min` with NaN losing to any number (NaN only when all are).
pub(super) fn extreme(value: &str, largest: bool) -> Fold {
    let f = if largest { "max" } else { "min" };
    Fold::plain(format!("coalesce({f}({value}) FILTER (WHERE NOT isnan({value})), 'NaN'::DOUBLE)"))
}

pub(super) fn count() -> Fold {
    Fold::plain("count(*)::DOUBLE".into())
}

/// Population variance by Welford's running mean, uncompensated
/// (`prom_math::variance`, the `stddev`/`stdvar` operators); each element is
/// the mean of one value.
pub(crate) fn variance(value: &str, order: &str, root: bool) -> Fold {
    let (n1, delta) = ("(acc.n + 1::DOUBLE)", "(x.mean - acc.mean)");
    let finish = if root { sqrt_sql("(folded.m2 / folded.n)") } else { "folded.m2 / folded.n".into() };
    Fold {
        aggregate: format!(
            "list_reduce([{{n: 0::DOUBLE, mean: 0::DOUBLE, m2: 0::DOUBLE}}] || list({{n: 0::DOUBLE, mean: {value}, m2: 0::DOUBLE}} ORDER BY {order}),
      lambda acc, x: {{n: {n1}, mean: acc.mean + {delta} / {n1}, m2: acc.m2 + {delta} * (x.mean - (acc.mean + {delta} / {n1}))}})"
        ),
        finish,
    }
}

/// Population variance by Welford's running mean with the mean and the sum
/// of squares both Kahan-compensated (`prom_math::compensated_variance`,
/// `stdvar_over_time`/`stddev_over_time`). Each step adds the previous
/// value's square term (`pending`, 0 before the first value, which leaves
/// the zero sum as it is) while it moves the mean, so no expression repeats
/// another; the finish adds the last one.
pub(crate) fn compensated_variance(value: &str, order: &str, root: bool) -> Fold {
    let n1 = "(acc.n + 1::DOUBLE)";
    let delta = "(x.v - (acc.ms + acc.mc))";
    let inc = format!("({delta} / {n1})");
    let mean = format!("((acc.ms + {inc}) + {})", kahan_compensation("acc.ms", "acc.mc", &inc));
    let last = format!(
        "((folded.sq + folded.pending) + {})",
        kahan_compensation("folded.sq", "folded.sc", "folded.pending")
    );
    let variance = format!("({last} / folded.n)");
    Fold {
        aggregate: format!(
            "list_reduce([{{n: 0::DOUBLE, ms: 0::DOUBLE, mc: 0::DOUBLE, sq: 0::DOUBLE, sc: 0::DOUBLE, pending: 0::DOUBLE, v: 0::DOUBLE}}]
        || list({{n: 0::DOUBLE, ms: 0::DOUBLE, mc: 0::DOUBLE, sq: 0::DOUBLE, sc: 0::DOUBLE, pending: 0::DOUBLE, v: {value}}} ORDER BY {order}),
      lambda acc, x: {{n: {n1}, ms: acc.ms + {inc}, mc: {mc},
        sq: acc.sq + acc.pending, sc: {sc},
        pending: {delta} * (x.v - {mean}), v: 0::DOUBLE}})",
            mc = kahan_compensation("acc.ms", "acc.mc", &inc),
            sc = kahan_compensation("acc.sq", "acc.sc", "acc.pending"),
        ),
        finish: if root { sqrt_sql(&variance) } else { variance },
    }
}

/// Rust's `f64::sqrt` (NaN below zero, where DuckDB's `sqrt` fails).
pub(crate) fn sqrt_sql(x: &str) -> String {
    format!("CASE WHEN {x} < 0::DOUBLE THEN 'NaN'::DOUBLE ELSE sqrt({x}) END")
}

/// Prometheus' quantile (`prom_math::quantile`) of a known `q`: NaN values
/// rank lowest, then linear interpolation between the closest ranks.
pub(crate) fn quantile(q: f64, value: &str) -> Fold {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        let fixed = if q < 0.0 {
            f64::NEG_INFINITY
        } else if q > 1.0 {
            f64::INFINITY
        } else {
            f64::NAN
        };
        return Fold::plain(number_sql(fixed));
    }
    let rank = format!("({} * (len(folded) - 1)::DOUBLE)", number_sql(q));
    let lower = format!("greatest(floor({rank}), 0::DOUBLE)");
    let upper = format!("least({lower} + 1::DOUBLE, (len(folded) - 1)::DOUBLE)");
    let weight = format!("({rank} - floor({rank}))");
    Fold {
        aggregate: format!("list({value} ORDER BY isnan({value}) DESC, {value})"),
        finish: format!(
            "folded[CAST({lower} AS BIGINT) + 1] * (1::DOUBLE - {weight}) + folded[CAST({upper} AS BIGINT) + 1] * {weight}"
        ),
    }
}

/// `x` as the engine prints a float into a label (`value::format_float`,
/// Rust's `Display`: the shortest digits that read back as `x`, never with
/// an exponent; `NaN`, `+Inf`, `-Inf`). DuckDB prints the same shortest
/// digits, with an exponent outside 1e-4..1e15, so the digits are moved
/// into place from DuckDB's text.
pub(crate) fn display_sql(x: &str) -> String {
    let m = format!(
        "regexp_extract({x}::VARCHAR, '^(-?)([0-9]+)(?:\\.([0-9]+))?(?:e([-+]?[0-9]+))?$', ['sign', 'whole', 'fraction', 'exponent'])"
    );
    // each step binds its values through a one-element list (a correlated subquery would
    // be decorrelated by a join on the value, which holds -0 equal to 0)
    format!(
        "CASE WHEN isnan({x}) THEN 'NaN' WHEN {x} = 'Infinity'::DOUBLE THEN '+Inf' WHEN {x} = '-Infinity'::DOUBLE THEN '-Inf' ELSE \
         list_transform([{m}], lambda m: list_transform([{{sign: m.sign, whole: m.whole, exponent: m.exponent, digits: m.whole || m.fraction}}], \
           lambda p: list_transform([{{sign: p.sign, d: rtrim(ltrim(p.digits, '0'), '0'), \
             point: length(p.whole) + coalesce(TRY_CAST(p.exponent AS INTEGER), 0) - (length(p.digits) - length(ltrim(p.digits, '0')))}}], \
           lambda q: q.sign || CASE WHEN q.d = '' THEN '0' WHEN q.point <= 0 THEN '0.' || repeat('0', -q.point) || q.d \
             WHEN q.point >= length(q.d) THEN q.d || repeat('0', q.point - length(q.d)) \
             ELSE q.d[1:q.point] || '.' || q.d[q.point + 1:] END)[1])[1])[1] END"
    )
}

/// One side of a binary operator: a number known when planning, or a column.
#[derive(Clone)]
pub(super) enum Operand {
    Number(f64),
    Column(String),
}

impl Operand {
    pub(super) fn sql(&self) -> String {
        match self {
            Operand::Number(v) => number_sql(*v),
            Operand::Column(c) => c.clone(),
        }
    }

    fn is_nan_sql(&self) -> Option<String> {
        match self {
            Operand::Number(_) => None,
            Operand::Column(c) => Some(format!("isnan({c})")),
        }
    }

    fn is_nan_number(&self) -> bool {
        matches!(self, Operand::Number(v) if v.is_nan())
    }
}

/// `l op r` for an arithmetic operator, as IEEE doubles (DuckDB's `%` on
/// DOUBLE is C's `fmod`, as Rust's; `pow` and `atan2` are libm's).
pub(super) fn arithmetic_sql(op: BinaryOp, l: &Operand, r: &Operand) -> String {
    let (l, r) = (l.sql(), r.sql());
    match op {
        BinaryOp::Add => format!("({l} + {r})"),
        BinaryOp::Sub => format!("({l} - {r})"),
        BinaryOp::Mul => format!("({l} * {r})"),
        BinaryOp::Div => format!("({l} / {r})"),
        BinaryOp::Mod => format!("({l} % {r})"),
        BinaryOp::Pow => format!("pow({l}, {r})"),
        BinaryOp::Atan2 => format!("atan2({l}, {r})"),
        // comparisons and set operators are planned apart; this arm is never planned
        _ => format!("({l})"),
    }
}

/// Whether `l op r` holds for a comparison, with IEEE's NaN rules (every
/// comparison with NaN is false but `!=`).
pub(super) fn comparison_sql(op: BinaryOp, l: &Operand, r: &Operand) -> String {
    let sql_op = match op {
        BinaryOp::Eq => "=",
        BinaryOp::Ne => "<>",
        BinaryOp::Gt => ">",
        BinaryOp::Lt => "<",
        BinaryOp::Ge => ">=",
        _ => "<=",
    };
    let ne = op == BinaryOp::Ne;
    if l.is_nan_number() || r.is_nan_number() {
        return if ne { "true" } else { "false" }.into();
    }
    let nan_checks: Vec<String> = [l.is_nan_sql(), r.is_nan_sql()].into_iter().flatten().collect();
    let compared = format!("{} {sql_op} {}", l.sql(), r.sql());
    if nan_checks.is_empty() {
        return format!("({compared})");
    }
    if ne {
        format!("({compared} OR {})", nan_checks.join(" OR "))
    } else {
        format!("({compared} AND NOT {})", nan_checks.join(" AND NOT "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_bits() {
        assert_eq!(number_sql(2.0), "2::DOUBLE");
        assert_eq!(number_sql(-3.0), "(-3::DOUBLE)");
        assert_eq!(number_sql(0.1), "'0.1'::DOUBLE");
        assert_eq!(number_sql(-0.0), "'-0.0'::DOUBLE");
        assert_eq!(number_sql(1e300), "'1e300'::DOUBLE");
        assert_eq!(number_sql(f64::NAN), "'NaN'::DOUBLE");
        assert_eq!(number_sql(f64::NEG_INFINITY), "'-Infinity'::DOUBLE");
    }

    #[test]
    fn comparisons_with_nan_are_false_but_not_equal() {
        let v = Operand::Column("v.value".into());
        assert_eq!(
            comparison_sql(BinaryOp::Gt, &v, &Operand::Number(1.0)),
            "(v.value > 1::DOUBLE AND NOT isnan(v.value))"
        );
        assert_eq!(comparison_sql(BinaryOp::Ne, &v, &Operand::Number(1.0)), "(v.value <> 1::DOUBLE OR isnan(v.value))");
        assert_eq!(comparison_sql(BinaryOp::Eq, &v, &Operand::Number(f64::NAN)), "false");
        assert_eq!(comparison_sql(BinaryOp::Ne, &Operand::Number(f64::NAN), &v), "true");
    }

    #[test]
    fn compensated_variances_fold_the_mean_and_the_squares_apart() {
        let fold = compensated_variance("p.value", "p.t", true);
        // the mean's increment and the pending square both go through the Kahan-Neumaier step
        assert!(fold.aggregate.contains("ms: acc.ms + ((x.v - (acc.ms + acc.mc)) / (acc.n + 1::DOUBLE))"));
        assert!(fold.aggregate.contains("sq: acc.sq + acc.pending, sc: CASE WHEN isinf(acc.sq + acc.pending)"));
        assert!(fold.aggregate.contains("ORDER BY p.t"));
        assert!(fold.finish.starts_with("CASE WHEN (((folded.sq + folded.pending) + CASE"));
        assert!(fold.finish.contains("'NaN'::DOUBLE ELSE sqrt("));
        assert!(!compensated_variance("v", "t", false).finish.contains("sqrt"));
    }

    #[test]
    fn label_floats_move_duckdbs_digits_into_place() {
        let sql = display_sql("value");
        assert!(sql.starts_with("CASE WHEN isnan(value) THEN 'NaN' WHEN value = 'Infinity'::DOUBLE THEN '+Inf'"));
        assert!(sql.contains("['sign', 'whole', 'fraction', 'exponent']"));
        assert!(sql.contains("WHEN q.point <= 0 THEN '0.' || repeat('0', -q.point) || q.d"));
        assert!(!sql.contains("SELECT"), "a correlated subquery would join on the value, -0 equal to 0");
    }

    #[test]
    fn quantiles_outside_zero_to_one_are_infinite() {
        assert_eq!(quantile(-0.5, "value").aggregate, "'-Infinity'::DOUBLE");
        assert_eq!(quantile(1.5, "value").aggregate, "'Infinity'::DOUBLE");
        assert_eq!(quantile(f64::NAN, "value").aggregate, "'NaN'::DOUBLE");
    }
}
