//! PromQL evaluation with Prometheus' semantics, in plain Rust.
//!
//! A query is evaluated in two phases. [`plan`] walks the tree once and works
//! out, for every selector, the one time window it will ever read (widened by
//! ranges, lookback, `offset`, `@` and subqueries); each selector is fetched
//! from the [`SeriesSource`] exactly once. Evaluation then runs step by step
//! over those in-memory series: `eval(expr, t)` gives the value of `expr` at
//! time `t`, and a range query is that at every step. Per-step evaluation is
//! the plainest reading of Prometheus' definitions (every step is an instant
//! query), which is what we must match; selectors use binary search on sorted
//! points, so a step costs O(series * log points).
//!
//! Windows are left-open, `(t - range, t]`, as in Prometheus 3.

mod aggregate;
mod binary;
pub(crate) use binary::Op as BinaryOp;
pub(crate) mod functions;
pub(crate) use functions::absent_labels;
pub use functions::civil as civil_time;
mod histogram;
mod range;

use super::error::{eval_error, unsupported, PromqlError, Result};
use super::source::{Selection, SeriesSource};
use super::value::{is_stale, Labels, Point, Sample, Series, Value, METRIC_NAME};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// The step of a subquery without one, in an instant query (Prometheus'
/// default global evaluation interval).
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;
/// Prometheus' limit on the points of one range query (per series).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;
/// The furthest from the epoch (about 146 million years either way) any time
/// a query computes may lie, and the longest duration it may name (half of
/// that): with both bounded, the evaluator's i64 sums of a time and a
/// duration cannot overflow. The plan checks every window against them (in
/// i128) before anything is evaluated.
pub const MAX_ABS_TIME_MS: i64 = 1 << 62;
pub const MAX_DURATION_MS: i64 = 1 << 61;
/// Samples one query may hold: the points it loads from storage, the points
/// of one subquery evaluation, and the points of a range query's result,
/// each checked as they grow (Prometheus' `query.max-samples` is 50,000,000;
/// at 16 bytes a point and the copies evaluation makes, 10,000,000 keeps one
/// query well under a GiB).
pub const DEFAULT_MAX_SAMPLES: usize = 10_000_000;

/// What one query may spend: a deadline (checked between steps) and a bound
/// on samples.
#[derive(Clone, Copy, Debug)]
pub struct QueryBounds {
    pub deadline: Option<Instant>,
    pub max_samples: usize,
}

impl Default for QueryBounds {
    fn default() -> Self {
        QueryBounds { deadline: None, max_samples: DEFAULT_MAX_SAMPLES }
    }
}

fn out_of_range(what: &str) -> PromqlError {
    PromqlError::OutOfRange(format!(
        "{what} is out of range: times must be within {} ms of 1970 and durations at most {} ms",
        MAX_ABS_TIME_MS, MAX_DURATION_MS
    ))
}

/// A time computed in i128, checked against [`MAX_ABS_TIME_MS`].
fn checked_time(t: i128, what: &str) -> Result<i64> {
    if t.abs() > MAX_ABS_TIME_MS as i128 {
        return Err(out_of_range(what));
    }
    Ok(t as i64)
}

/// A duration in whole milliseconds, checked against [`MAX_DURATION_MS`].
pub(crate) fn checked_duration_ms(d: &Duration, what: &str) -> Result<i64> {
    match i64::try_from(d.as_millis()) {
        Ok(ms) if ms <= MAX_DURATION_MS => Ok(ms),
        _ => Err(out_of_range(what)),
    }
}

/// The times a query is evaluated at: `start..=end` every `step`
/// (an instant query has `start == end`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryTimes {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl QueryTimes {
    pub fn instant(t: i64) -> Self {
        QueryTimes { start: t, end: t, step: 0 }
    }

    pub fn range(start: i64, end: i64, step: i64) -> Result<Self> {
        if step <= 0 {
            return Err(eval_error("step must be positive"));
        }
        if end < start {
            return Err(eval_error("end must not be before start"));
        }
        if (end as i128 - start as i128) / step as i128 > MAX_POINTS_PER_SERIES as i128 {
            return Err(eval_error("exceeded maximum resolution of 11,000 points per timeseries; try a larger step"));
        }
        checked_time(start as i128, "the start time")?;
        checked_time(end as i128, "the end time")?;
        Ok(QueryTimes { start, end, step })
    }

    pub fn steps(&self) -> impl Iterator<Item = i64> + '_ {
        let step = self.step.max(1);
        (0..).map(move |i| self.start + i * step).take_while(move |t| *t <= self.end)
    }
}

/// Evaluates a range query: one series per distinct label set, with a point
/// at every step where the expression has a value.
pub fn eval_range(expr: &Expr, source: &dyn SeriesSource, times: QueryTimes) -> Result<Vec<Series>> {
    eval_range_until(expr, source, times, QueryBounds::default())
}

/// [`eval_range`] that gives up with [`PromqlError::Timeout`] once the
/// deadline has passed (checked before every step and subquery step), and
/// with [`PromqlError::TooManySamples`] once its result grows over the bound.
pub fn eval_range_until(
    expr: &Expr,
    source: &dyn SeriesSource,
    times: QueryTimes,
    bounds: QueryBounds,
) -> Result<Vec<Series>> {
    let mut evaluator = Evaluator::prepare(expr, source, times)?;
    evaluator.bounds = bounds;
    let mut result: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
    let mut points = 0usize;
    for t in times.steps() {
        evaluator.check_deadline()?;
        match evaluator.eval(expr, t)? {
            Value::Scalar(v) => {
                points += 1;
                result.entry(Labels::new()).or_default().push(Point { t, v })
            }
            Value::Vector(samples) => {
                check_unique_labels(&samples)?;
                points += samples.len();
                for s in samples {
                    result.entry(s.labels).or_default().push(Point { t, v: s.v });
                }
            }
            other => {
                return Err(eval_error(format!(
                    "invalid expression type \"{}\" for range query, must be scalar or instant vector",
                    other.type_name()
                )))
            }
        }
        if points > bounds.max_samples {
            return Err(PromqlError::TooManySamples { limit: bounds.max_samples });
        }
    }
    Ok(result.into_iter().map(|(labels, points)| Series { labels, points }).collect())
}

/// Evaluates an instant query at `t`.
pub fn eval_instant(expr: &Expr, source: &dyn SeriesSource, t: i64) -> Result<Value> {
    eval_instant_until(expr, source, t, QueryBounds::default())
}

/// [`eval_instant`] with bounds, as [`eval_range_until`].
pub fn eval_instant_until(expr: &Expr, source: &dyn SeriesSource, t: i64, bounds: QueryBounds) -> Result<Value> {
    checked_time(t as i128, "the evaluation time")?;
    let mut evaluator = Evaluator::prepare(expr, source, QueryTimes::instant(t))?;
    evaluator.bounds = bounds;
    let value = evaluator.eval(expr, t)?;
    if let Value::Vector(samples) = &value {
        check_unique_labels(samples)?;
    }
    Ok(value)
}

fn check_unique_labels(samples: &[Sample]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for s in samples {
        if !seen.insert(&s.labels) {
            return Err(eval_error("vector cannot contain metrics with the same labelset"));
        }
    }
    Ok(())
}

/// The state of one query: its times and the series each selector fetched.
pub struct Evaluator {
    times: QueryTimes,
    lookback: i64,
    fetched: HashMap<usize, Vec<Series>>,
    bounds: QueryBounds,
}

/// Identity of a selector node in the tree (the tree is borrowed, unchanged,
/// for the whole query).
fn selector_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// Milliseconds since 1970, saturated at the i64 range (an `@` beyond it is
/// refused by the plan's range check, never wrapped).
pub fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// A duration of the tree in milliseconds; [`Evaluator::plan`] has checked
/// every duration against [`MAX_DURATION_MS`] before evaluation starts.
fn duration_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// All matchers of a selector, with the metric name as a `__name__` matcher.
pub fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(unsupported("the `or` operator inside selector braces"));
    }
    let mut matchers = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        if !matchers.iter().any(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal && &m.value == name) {
            matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
        }
    }
    Ok(matchers)
}

impl Evaluator {
    pub fn prepare(expr: &Expr, source: &dyn SeriesSource, times: QueryTimes) -> Result<Self> {
        let mut windows: HashMap<usize, (Selection, &VectorSelector)> = HashMap::new();
        let mut evaluator =
            Evaluator { times, lookback: DEFAULT_LOOKBACK_MS, fetched: HashMap::new(), bounds: QueryBounds::default() };
        checked_time(times.start as i128, "the start time")?;
        checked_time(times.end as i128, "the end time")?;
        evaluator.plan(expr, times.start, times.end, &mut windows)?;
        for (key, (selection, _)) in windows {
            let mut series = source.select(&selection)?;
            for s in &mut series {
                s.points.sort_by_key(|p| p.t);
            }
            evaluator.fetched.insert(key, series);
        }
        Ok(evaluator)
    }

    fn check_deadline(&self) -> Result<()> {
        match self.bounds.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(PromqlError::Timeout),
            _ => Ok(()),
        }
    }

    /// The evaluation time a selector or subquery with these modifiers reads
    /// at, when the enclosing expression is evaluated at `t`.
    fn shifted(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.times.start,
            Some(AtModifier::End) => self.times.end,
            Some(AtModifier::At(time)) => millis(*time),
        };
        base - offset_ms(offset)
    }

    /// [`Evaluator::shifted`] computed in i128 and checked, for the plan
    /// (evaluation then repeats the same sums in i64 safely).
    fn checked_shifted(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> Result<i64> {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.times.start,
            Some(AtModifier::End) => self.times.end,
            Some(AtModifier::At(time)) => checked_time(millis(*time) as i128, "the @ modifier")?,
        };
        let offset = match offset {
            None => 0,
            Some(Offset::Pos(d)) => checked_duration_ms(d, "the offset")?,
            Some(Offset::Neg(d)) => -checked_duration_ms(d, "the offset")?,
        };
        checked_time(base as i128 - offset as i128, "a time shifted by offset or @")
    }

    /// A window `[a.min(b) - range, a.max(b)]`, checked.
    fn checked_window(&self, a: i64, b: i64, range: &Duration, what: &str) -> Result<(i64, i64)> {
        let range = checked_duration_ms(range, what)?;
        Ok((checked_time(a.min(b) as i128 - range as i128, what)?, a.max(b)))
    }

    fn subquery_step(&self, step: &Option<Duration>) -> i64 {
        match step {
            Some(d) if !d.is_zero() => duration_ms(d),
            _ if self.times.step > 0 => self.times.step,
            _ => DEFAULT_SUBQUERY_STEP_MS,
        }
    }

    fn plan<'e>(
        &self,
        expr: &'e Expr,
        lo: i64,
        hi: i64,
        windows: &mut HashMap<usize, (Selection, &'e VectorSelector)>,
    ) -> Result<()> {
        match expr {
            Expr::VectorSelector(vs) => self.want(vs, lo, hi, &Duration::from_millis(self.lookback as u64), windows),
            Expr::MatrixSelector(ms) => self.want(&ms.vs, lo, hi, &ms.range, windows),
            Expr::Subquery(sq) => {
                if let Some(step) = &sq.step {
                    let ms = checked_duration_ms(step, "the subquery step")?;
                    if ms == 0 && !step.is_zero() {
                        return Err(PromqlError::OutOfRange(format!(
                            "subquery step {step:?} rounds to 0ms; it must be at least 1ms"
                        )));
                    }
                }
                let (a, b) =
                    (self.checked_shifted(&sq.at, &sq.offset, lo)?, self.checked_shifted(&sq.at, &sq.offset, hi)?);
                let (start, end) = self.checked_window(a, b, &sq.range, "the subquery range")?;
                self.plan(&sq.expr, start, end, windows)
            }
            Expr::Aggregate(agg) => {
                if let Some(param) = &agg.param {
                    self.plan(param, lo, hi, windows)?;
                }
                self.plan(&agg.expr, lo, hi, windows)
            }
            Expr::Unary(u) => self.plan(&u.expr, lo, hi, windows),
            Expr::Binary(b) => {
                self.plan(&b.lhs, lo, hi, windows)?;
                self.plan(&b.rhs, lo, hi, windows)
            }
            Expr::Paren(p) => self.plan(&p.expr, lo, hi, windows),
            Expr::Call(call) => call.args.args.iter().try_for_each(|arg| self.plan(arg, lo, hi, windows)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::Extension(_) => Err(unsupported("extension expressions")),
        }
    }

    /// Widens the window a selector reads to cover evaluation times `lo..=hi`.
    fn want<'e>(
        &self,
        vs: &'e VectorSelector,
        lo: i64,
        hi: i64,
        range: &Duration,
        windows: &mut HashMap<usize, (Selection, &'e VectorSelector)>,
    ) -> Result<()> {
        let (a, b) = (self.checked_shifted(&vs.at, &vs.offset, lo)?, self.checked_shifted(&vs.at, &vs.offset, hi)?);
        let (start, end) = self.checked_window(a, b, range, "the range")?;
        let matchers = selector_matchers(vs)?;
        let entry = windows.entry(selector_key(vs)).or_insert_with(|| (Selection { matchers, start, end }, vs));
        entry.0.start = entry.0.start.min(start);
        entry.0.end = entry.0.end.max(end);
        Ok(())
    }

    fn series_of(&self, vs: &VectorSelector) -> &[Series] {
        self.fetched.get(&selector_key(vs)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The value of `expr` at time `t`.
    pub fn eval(&self, expr: &Expr, t: i64) -> Result<Value> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.instant_selector(vs, t))),
            Expr::MatrixSelector(ms) => {
                let end = self.shifted(&ms.vs.at, &ms.vs.offset, t);
                Ok(Value::Matrix(self.range_selector(&ms.vs, end - duration_ms(&ms.range), end)))
            }
            Expr::Subquery(sq) => {
                let end = self.shifted(&sq.at, &sq.offset, t);
                let step = self.subquery_step(&sq.step);
                Ok(Value::Matrix(self.subquery(&sq.expr, end - duration_ms(&sq.range), end, step)?))
            }
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(samples) => Ok(Value::Vector(
                    samples
                        .into_iter()
                        .map(|s| Sample { labels: super::value::without_name(&s.labels), t, v: -s.v })
                        .collect(),
                )),
                other => Err(eval_error(format!("unary minus on a {}", other.type_name()))),
            },
            Expr::Binary(b) => binary::eval_binary(self, b, t),
            Expr::Aggregate(agg) => aggregate::eval_aggregate(self, agg, t),
            Expr::Call(call) => functions::eval_call(self, call, t),
            Expr::Extension(_) => Err(unsupported("extension expressions")),
        }
    }

    /// An instant selector: per series, the newest sample in `(t - lookback, t]`
    /// unless it is a staleness marker.
    fn instant_selector(&self, vs: &VectorSelector, t: i64) -> Vec<Sample> {
        let at = self.shifted(&vs.at, &vs.offset, t);
        self.series_of(vs)
            .iter()
            .filter_map(|s| {
                let idx = s.points.partition_point(|p| p.t <= at);
                let p = s.points[..idx].last()?;
                (p.t > at - self.lookback && !is_stale(p.v)).then(|| Sample {
                    labels: s.labels.clone(),
                    t: p.t,
                    v: p.v,
                })
            })
            .collect()
    }

    /// A range selector: per series, the samples in `(start, end]`, without
    /// staleness markers; series without samples are left out.
    fn range_selector(&self, vs: &VectorSelector, start: i64, end: i64) -> Vec<Series> {
        self.series_of(vs)
            .iter()
            .filter_map(|s| {
                let from = s.points.partition_point(|p| p.t <= start);
                let to = s.points.partition_point(|p| p.t <= end);
                let points: Vec<Point> = s.points[from..to].iter().filter(|p| !is_stale(p.v)).copied().collect();
                (!points.is_empty()).then(|| Series { labels: s.labels.clone(), points })
            })
            .collect()
    }

    /// A subquery: the inner expression at every multiple of `step` in `(start, end]`.
    fn subquery(&self, inner: &Expr, start: i64, end: i64, step: i64) -> Result<Vec<Series>> {
        // every step costs an evaluation even when it yields nothing
        if ((end - start) / step) as u64 > self.bounds.max_samples as u64 {
            return Err(PromqlError::TooManySamples { limit: self.bounds.max_samples });
        }
        let mut first = start.div_euclid(step) * step;
        while first <= start {
            first += step;
        }
        let mut result: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
        let mut t = first;
        let mut points = 0usize;
        while t <= end {
            self.check_deadline()?;
            match self.eval(inner, t)? {
                Value::Scalar(v) => {
                    points += 1;
                    result.entry(Labels::new()).or_default().push(Point { t, v })
                }
                Value::Vector(samples) => {
                    points += samples.len();
                    for s in samples {
                        result.entry(s.labels).or_default().push(Point { t, v: s.v });
                    }
                }
                other => return Err(eval_error(format!("subquery over a {}", other.type_name()))),
            }
            if points > self.bounds.max_samples {
                return Err(PromqlError::TooManySamples { limit: self.bounds.max_samples });
            }
            t += step;
        }
        Ok(result.into_iter().map(|(labels, points)| Series { labels, points }).collect())
    }

    /// Evaluates an argument that must be an instant vector.
    fn vector(&self, expr: &Expr, t: i64) -> Result<Vec<Sample>> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(eval_error(format!("expected an instant vector, got a {}", other.type_name()))),
        }
    }

    fn scalar(&self, expr: &Expr, t: i64) -> Result<f64> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(eval_error(format!("expected a scalar, got a {}", other.type_name()))),
        }
    }

    fn string(&self, expr: &Expr, t: i64) -> Result<String> {
        match self.eval(expr, t)? {
            Value::String(s) => Ok(s),
            other => Err(eval_error(format!("expected a string, got a {}", other.type_name()))),
        }
    }

    /// A range-vector argument and the window it covers (`rate` and friends
    /// extrapolate to the window's edges).
    fn range_arg(&self, expr: &Expr, t: i64) -> Result<RangeArg> {
        match expr {
            Expr::Paren(p) => self.range_arg(&p.expr, t),
            Expr::MatrixSelector(ms) => {
                let end = self.shifted(&ms.vs.at, &ms.vs.offset, t);
                let range = duration_ms(&ms.range);
                Ok(RangeArg { series: self.range_selector(&ms.vs, end - range, end), start: end - range, end, range })
            }
            Expr::Subquery(sq) => {
                let end = self.shifted(&sq.at, &sq.offset, t);
                let range = duration_ms(&sq.range);
                let series = self.subquery(&sq.expr, end - range, end, self.subquery_step(&sq.step))?;
                Ok(RangeArg { series, start: end - range, end, range })
            }
            other => Err(eval_error(format!("expected a range vector, got {other}"))),
        }
    }
}

/// A range vector with the window it was selected over.
pub struct RangeArg {
    pub series: Vec<Series>,
    pub start: i64,
    pub end: i64,
    pub range: i64,
}

pub use crate::prom_math::KahanSum;

#[cfg(test)]
mod tests;
