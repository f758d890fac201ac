//! The function registry: one sorted `match` from name to implementation,
//! each arm under a banner naming the PromQL signature it implements. A name
//! not listed is an error naming it (experimental functions included).

use super::histogram::{bucket_quantile, Bucket};
use super::range::{self, extrapolated_rate, instant_delta};
use super::{Evaluator, RangeArg};
use crate::prom_math;
use crate::promql::error::{eval_error, unsupported, Result};
use crate::promql::value::{format_float, without_name, Labels, Point, Sample, Value, METRIC_NAME};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};
use regex::Regex;
use std::collections::BTreeMap;

pub fn eval_call(ev: &Evaluator, call: &Call, t: i64) -> Result<Value> {
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    let vector = |s: Vec<Sample>| Ok(Value::Vector(s));
    match call.func.name {
        // abs(v instant-vector) and the other element-wise math functions
        "abs" => math(ev, &args, t, f64::abs),
        // absent(v instant-vector)
        "absent" => vector(absent(ev.vector(args[0], t)?.is_empty(), args[0], t)),
        // absent_over_time(v range-vector)
        "absent_over_time" => vector(absent(ev.range_arg(args[0], t)?.series.is_empty(), args[0], t)),
        "acos" => math(ev, &args, t, f64::acos),
        "acosh" => math(ev, &args, t, f64::acosh),
        "asin" => math(ev, &args, t, f64::asin),
        "asinh" => math(ev, &args, t, f64::asinh),
        "atan" => math(ev, &args, t, f64::atan),
        "atanh" => math(ev, &args, t, f64::atanh),
        // avg_over_time(v range-vector)
        "avg_over_time" => over_time(ev, args[0], t, |p| Some(range::avg(p))),
        "ceil" => math(ev, &args, t, f64::ceil),
        // changes(v range-vector)
        "changes" => over_time(ev, args[0], t, |p| Some(range::changes(p))),
        // clamp(v instant-vector, min scalar, max scalar)
        "clamp" => {
            let (lo, hi) = (ev.scalar(args[1], t)?, ev.scalar(args[2], t)?);
            if hi < lo {
                return vector(Vec::new());
            }
            math(ev, &args[..1], t, |v| go_max(lo, go_min(hi, v)))
        }
        // clamp_max(v instant-vector, max scalar)
        "clamp_max" => {
            let hi = ev.scalar(args[1], t)?;
            math(ev, &args[..1], t, |v| go_min(hi, v))
        }
        // clamp_min(v instant-vector, min scalar)
        "clamp_min" => {
            let lo = ev.scalar(args[1], t)?;
            math(ev, &args[..1], t, |v| go_max(lo, v))
        }
        "cos" => math(ev, &args, t, f64::cos),
        "cosh" => math(ev, &args, t, f64::cosh),
        // count_over_time(v range-vector)
        "count_over_time" => over_time(ev, args[0], t, |p| Some(p.len() as f64)),
        // day_of_month(v=vector(time()) instant-vector) and the other calendar functions
        "day_of_month" => calendar(ev, &args, t, |d| d.day as f64),
        "day_of_week" => calendar(ev, &args, t, |d| d.weekday as f64),
        "day_of_year" => calendar(ev, &args, t, |d| d.day_of_year as f64),
        "days_in_month" => calendar(ev, &args, t, |d| d.days_in_month as f64),
        "deg" => math(ev, &args, t, f64::to_degrees),
        // delta(v range-vector)
        "delta" => rate_like(ev, args[0], t, false, false),
        // deriv(v range-vector)
        "deriv" => over_time(ev, args[0], t, |p| (p.len() >= 2).then(|| range::linear_regression(p, p[0].t).0)),
        "exp" => math(ev, &args, t, f64::exp),
        "floor" => math(ev, &args, t, f64::floor),
        // histogram_quantile(φ scalar, b instant-vector)
        "histogram_quantile" => histogram_quantile(ev, &args, t),
        "hour" => calendar(ev, &args, t, |d| d.hour as f64),
        // idelta(v range-vector)
        "idelta" => over_time(ev, args[0], t, |p| instant_delta(p, false)),
        // increase(v range-vector)
        "increase" => rate_like(ev, args[0], t, true, false),
        // irate(v range-vector)
        "irate" => over_time(ev, args[0], t, |p| instant_delta(p, true)),
        // label_join(v instant-vector, dst string, separator string, src_1 string, ...)
        "label_join" => label_join(ev, &args, t),
        // label_replace(v instant-vector, dst string, replacement string, src string, regex string)
        "label_replace" => label_replace(ev, &args, t),
        // last_over_time(v range-vector): keeps the metric name
        "last_over_time" => {
            let arg = ev.range_arg(args[0], t)?;
            vector(
                arg.series
                    .into_iter()
                    .map(|s| Sample { v: s.points[s.points.len() - 1].v, labels: s.labels, t })
                    .collect(),
            )
        }
        "ln" => math(ev, &args, t, f64::ln),
        "log10" => math(ev, &args, t, f64::log10),
        "log2" => math(ev, &args, t, f64::log2),
        // max_over_time(v range-vector)
        "max_over_time" => over_time(ev, args[0], t, |p| Some(range::max(p.iter().map(|p| p.v)))),
        // min_over_time(v range-vector)
        "min_over_time" => over_time(ev, args[0], t, |p| Some(range::min(p.iter().map(|p| p.v)))),
        "minute" => calendar(ev, &args, t, |d| d.minute as f64),
        "month" => calendar(ev, &args, t, |d| d.month as f64),
        // pi()
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        // predict_linear(v range-vector, t scalar)
        "predict_linear" => {
            let ahead = ev.scalar(args[1], t)?;
            over_time(ev, args[0], t, |p| {
                (p.len() >= 2).then(|| {
                    let (slope, intercept) = range::linear_regression(p, t);
                    intercept + slope * ahead
                })
            })
        }
        // present_over_time(v range-vector)
        "present_over_time" => over_time(ev, args[0], t, |_| Some(1.0)),
        // quantile_over_time(φ scalar, v range-vector)
        "quantile_over_time" => {
            let q = ev.scalar(args[0], t)?;
            over_time(ev, args[1], t, |p| Some(prom_math::quantile(q, p.iter().map(|p| p.v).collect())))
        }
        "rad" => math(ev, &args, t, f64::to_radians),
        // rate(v range-vector)
        "rate" => rate_like(ev, args[0], t, true, true),
        // resets(v range-vector)
        "resets" => over_time(ev, args[0], t, |p| Some(range::resets(p))),
        // round(v instant-vector, to_nearest=1 scalar)
        "round" => {
            let nearest = if args.len() > 1 { ev.scalar(args[1], t)? } else { 1.0 };
            let inverse = 1.0 / nearest;
            math(ev, &args[..1], t, |v| (v * inverse + 0.5).floor() / inverse)
        }
        // scalar(v instant-vector)
        "scalar" => {
            let v = ev.vector(args[0], t)?;
            Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "sgn" => math(ev, &args, t, |v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }),
        "sin" => math(ev, &args, t, f64::sin),
        "sinh" => math(ev, &args, t, f64::sinh),
        // sort(v instant-vector), sort_desc(v instant-vector): keep the metric name
        "sort" => vector(sorted(ev.vector(args[0], t)?, false)),
        "sort_desc" => vector(sorted(ev.vector(args[0], t)?, true)),
        "sqrt" => math(ev, &args, t, f64::sqrt),
        // stddev_over_time(v range-vector)
        "stddev_over_time" => {
            over_time(ev, args[0], t, |p| Some(prom_math::compensated_variance(p.iter().map(|p| p.v)).sqrt()))
        }
        // stdvar_over_time(v range-vector)
        "stdvar_over_time" => {
            over_time(ev, args[0], t, |p| Some(prom_math::compensated_variance(p.iter().map(|p| p.v))))
        }
        // sum_over_time(v range-vector)
        "sum_over_time" => over_time(ev, args[0], t, |p| Some(range::sum(p))),
        "tan" => math(ev, &args, t, f64::tan),
        "tanh" => math(ev, &args, t, f64::tanh),
        // time()
        "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
        // timestamp(v instant-vector): the sample's own time for a plain selector
        "timestamp" => {
            let samples = ev.vector(args[0], t)?;
            vector(
                samples
                    .into_iter()
                    .map(|s| Sample { labels: without_name(&s.labels), t, v: s.t as f64 / 1000.0 })
                    .collect(),
            )
        }
        // vector(s scalar)
        "vector" => vector(vec![Sample { labels: Labels::new(), t, v: ev.scalar(args[0], t)? }]),
        "year" => calendar(ev, &args, t, |d| d.year as f64),
        other => Err(unsupported(format!("function {other}()"))),
    }
}

/// Go's `math.Max`/`math.Min`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// An element-wise function of an instant vector; drops the metric name.
fn math(ev: &Evaluator, args: &[&Expr], t: i64, f: impl Fn(f64) -> f64) -> Result<Value> {
    let samples = ev.vector(args[0], t)?;
    Ok(Value::Vector(samples.into_iter().map(|s| Sample { labels: without_name(&s.labels), t, v: f(s.v) }).collect()))
}

/// A function of each series' points in a range; drops the metric name.
fn over_time(ev: &Evaluator, arg: &Expr, t: i64, f: impl Fn(&[Point]) -> Option<f64>) -> Result<Value> {
    let arg = ev.range_arg(arg, t)?;
    Ok(Value::Vector(
        arg.series
            .iter()
            .filter_map(|s| f(&s.points).map(|v| Sample { labels: without_name(&s.labels), t, v }))
            .collect(),
    ))
}

fn rate_like(ev: &Evaluator, arg: &Expr, t: i64, is_counter: bool, is_rate: bool) -> Result<Value> {
    let arg: RangeArg = ev.range_arg(arg, t)?;
    Ok(Value::Vector(
        arg.series
            .iter()
            .filter_map(|s| {
                extrapolated_rate(&s.points, &arg, is_counter, is_rate).map(|v| Sample {
                    labels: without_name(&s.labels),
                    t,
                    v,
                })
            })
            .collect(),
    ))
}

/// `absent`'s one sample when its argument has none (`present` is whether
/// the argument is empty).
fn absent(present: bool, arg: &Expr, t: i64) -> Vec<Sample> {
    if !present {
        return Vec::new();
    }
    vec![Sample { labels: absent_labels(arg), t, v: 1.0 }]
}

/// The labels `absent` gives its one sample: the argument selector's
/// equality matchers (a label named twice is left out); `promql_sql` uses it too.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let mut labels = Labels::new();
    let selector = match arg {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    if let Some(vs) = selector {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &vs.matchers.matchers {
            *seen.entry(m.name.as_str()).or_default() += 1;
        }
        for m in &vs.matchers.matchers {
            if m.op == MatchOp::Equal && m.name != METRIC_NAME && seen[m.name.as_str()] == 1 {
                labels.insert(m.name.clone(), m.value.clone());
            }
        }
    }
    labels
}

fn sorted(mut samples: Vec<Sample>, descending: bool) -> Vec<Sample> {
    // NaN sorts last in both directions
    samples.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if descending => b.v.total_cmp(&a.v),
        _ => a.v.total_cmp(&b.v),
    });
    samples
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn set_label(labels: &mut Labels, name: &str, value: String) {
    if value.is_empty() {
        labels.remove(name);
    } else {
        labels.insert(name.to_string(), value);
    }
}

/// The longest label value `label_replace` or `label_join` may make: a
/// replacement like `$1$1$1...` or a long separator would otherwise turn a
/// short query into gigabytes of labels. Stored values are not bounded here.
pub const MAX_GENERATED_LABEL_BYTES: usize = 64 * 1024;

fn generated_label_too_long(function: &str, dst: &str) -> crate::promql::PromqlError {
    eval_error(format!(
        "{function}(): the new value of label {dst:?} would be longer than {MAX_GENERATED_LABEL_BYTES} bytes"
    ))
}

fn label_replace(ev: &Evaluator, args: &[&Expr], t: i64) -> Result<Value> {
    let samples = ev.vector(args[0], t)?;
    let (dst, replacement, src, pattern) =
        (ev.string(args[1], t)?, ev.string(args[2], t)?, ev.string(args[3], t)?, ev.string(args[4], t)?);
    let regex = Regex::new(&format!("^(?s:{pattern})$"))
        .map_err(|e| eval_error(format!("invalid regular expression in label_replace(): {pattern}: {e}")))?;
    if !valid_label_name(&dst) {
        return Err(eval_error(format!("invalid destination label name in label_replace(): {dst}")));
    }
    // each `$` of the replacement expands to at most the whole source value
    let references = replacement.matches('$').count();
    samples
        .into_iter()
        .map(|mut s| {
            let value = s.labels.get(&src).cloned().unwrap_or_default();
            if let Some(captures) = regex.captures(&value) {
                if replacement.len().saturating_add(references.saturating_mul(value.len())) > MAX_GENERATED_LABEL_BYTES
                {
                    return Err(generated_label_too_long("label_replace", &dst));
                }
                let mut out = String::new();
                captures.expand(&replacement, &mut out);
                set_label(&mut s.labels, &dst, out);
            }
            Ok(Sample { t, ..s })
        })
        .collect::<Result<Vec<_>>>()
        .map(Value::Vector)
}

fn label_join(ev: &Evaluator, args: &[&Expr], t: i64) -> Result<Value> {
    let samples = ev.vector(args[0], t)?;
    let (dst, separator) = (ev.string(args[1], t)?, ev.string(args[2], t)?);
    let sources = args[3..].iter().map(|a| ev.string(a, t)).collect::<Result<Vec<_>>>()?;
    if !valid_label_name(&dst) {
        return Err(eval_error(format!("invalid destination label name in label_join(): {dst}")));
    }
    samples
        .into_iter()
        .map(|mut s| {
            let joined: Vec<String> =
                sources.iter().map(|src| s.labels.get(src).cloned().unwrap_or_default()).collect();
            let length = joined.iter().map(String::len).sum::<usize>()
                + separator.len().saturating_mul(joined.len().saturating_sub(1));
            if length > MAX_GENERATED_LABEL_BYTES {
                return Err(generated_label_too_long("label_join", &dst));
            }
            set_label(&mut s.labels, &dst, joined.join(&separator));
            Ok(Sample { t, ..s })
        })
        .collect::<Result<Vec<_>>>()
        .map(Value::Vector)
}

/// Groups bucket series by their labels without `le` and `__name__`.
fn histogram_quantile(ev: &Evaluator, args: &[&Expr], t: i64) -> Result<Value> {
    let q = ev.scalar(args[0], t)?;
    let samples = ev.vector(args[1], t)?;
    let mut groups: BTreeMap<Labels, Vec<Bucket>> = BTreeMap::new();
    for s in samples {
        let Some(upper_bound) = s.labels.get("le").and_then(|le| parse_go_float(le)) else {
            continue;
        };
        let mut key = without_name(&s.labels);
        key.remove("le");
        groups.entry(key).or_default().push(Bucket { upper_bound, count: s.v });
    }
    Ok(Value::Vector(
        groups.into_iter().map(|(labels, buckets)| Sample { labels, t, v: bucket_quantile(q, buckets) }).collect(),
    ))
}

/// Parses a float as Go's `strconv.ParseFloat` accepts it in `le` labels.
pub fn parse_go_float(text: &str) -> Option<f64> {
    match text.trim().to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub weekday: u32,
    pub day_of_year: u32,
    pub days_in_month: u32,
}

/// Calendar fields of a Unix time in UTC (proleptic Gregorian; the
/// days-from-civil inversion of Howard Hinnant's published algorithm).
pub fn civil(seconds: i64) -> CivilTime {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_lengths = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let day_of_year = month_lengths[..(month - 1) as usize].iter().sum::<u32>() + day;
    CivilTime {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: (secs % 3600 / 60) as u32,
        second: (secs % 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32,
        day_of_year,
        days_in_month: month_lengths[(month - 1) as usize],
    }
}

fn calendar(ev: &Evaluator, args: &[&Expr], t: i64, f: impl Fn(&CivilTime) -> f64) -> Result<Value> {
    let samples = match args.first() {
        Some(arg) => ev.vector(arg, t)?,
        None => vec![Sample { labels: Labels::new(), t, v: t as f64 / 1000.0 }],
    };
    Ok(Value::Vector(
        samples
            .into_iter()
            .filter(|s| !s.v.is_nan())
            .map(|s| Sample { labels: without_name(&s.labels), t, v: f(&civil(s.v.floor() as i64)) })
            .collect(),
    ))
}

/// Formats for `count_values`' label.
pub fn count_value_label(v: f64) -> String {
    format_float(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let d = civil(1_700_000_000); // 2023-11-14 22:13:20 UTC, a Tuesday
        assert_eq!((d.year, d.month, d.day, d.hour, d.minute, d.weekday), (2023, 11, 14, 22, 13, 2));
        assert_eq!((d.day_of_year, d.days_in_month), (318, 30));
        let leap = civil(951_782_400); // 2000-02-29
        assert_eq!((leap.month, leap.day, leap.days_in_month), (2, 29, 29));
    }
}
