//! Evaluates LogQL metric queries over samples, step by step, as Loki does.
//!
//! The evaluator knows neither SQL nor query text: it asks a [`SampleSource`]
//! for the samples of each range aggregation (already filtered and labelled by
//! the log pipeline) and works on numbers. Windows are `(t - range, t]`
//! shifted back by `offset`; steps with no sample in the window produce no
//! point. Each node yields one vector per step, so aggregation and binary
//! operators are plain per-step functions.

use super::ast::*;
use super::pipeline::Labels;
use crate::prom_math::{self, extrapolation_factor, quantile, variance, Window, ZeroClamp};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Source(String),
    #[error("comparisons between scalars must use the bool modifier")]
    ScalarComparison,
    #[error(
        "many-to-many matching not allowed: found duplicate series on the {side} side of the operation at {labels}"
    )]
    ManyToMany { side: &'static str, labels: String },
    #[error("quantile_over_time needs a quantile parameter")]
    MissingQuantile,
    #[error("maximum number of series ({0}) reached for a single query")]
    TooManySeries(usize),
    #[error(
        "the query would load or produce more than {0} samples (max_samples); reduce the time range, \
         increase the step or add label matchers"
    )]
    TooManySamples(u64),
    #[error("the query would evaluate {steps} steps, more than the {max} points per series allowed")]
    TooManySteps { steps: i128, max: i128 },
    #[error("zero or negative query resolution step widths are not accepted. Try a positive integer")]
    NonPositiveStep,
    #[error("{0} is outside the timestamps an int64 of nanoseconds holds (1677-09-21 to 2262-04-11)")]
    TimeOutOfRange(&'static str),
    #[error("the query timed out")]
    Timeout,
}

/// What one query may cost, shared by every selector and sub-expression of
/// the request (one deadline, one sample budget): the evaluator and the
/// engine check these while they load and build, not after.
#[derive(Debug)]
pub struct QueryBounds {
    /// distinct series a range aggregation may find, or the result hold
    pub max_series: usize,
    /// samples (lines) loaded plus points produced, over the whole query
    pub max_samples: u64,
    /// bytes of lines and labels a log query may hold for its answer
    pub max_result_bytes: u64,
    pub deadline: Option<Instant>,
    samples: Cell<u64>,
}

/// Like Prometheus' `query.max-samples` (50,000,000 there), but each of our
/// samples carries its own label set, so the bound is lower.
pub const DEFAULT_MAX_SAMPLES: u64 = 1_000_000;
/// Loki's `max_query_series` default is 500; ours matches the HTTP APIs' bound.
pub const DEFAULT_MAX_SERIES: usize = 50_000;
/// 128 MiB of lines and labels: with the JSON answer built from them, well under a GiB.
pub const DEFAULT_MAX_RESULT_BYTES: u64 = 128 << 20;
/// Loki refuses range queries with more points per series than this.
pub const MAX_POINTS_PER_SERIES: i128 = 11_000;

impl Default for QueryBounds {
    fn default() -> Self {
        QueryBounds::new(DEFAULT_MAX_SERIES, None)
    }
}

impl QueryBounds {
    pub fn new(max_series: usize, deadline: Option<Instant>) -> Self {
        QueryBounds {
            max_series,
            max_samples: DEFAULT_MAX_SAMPLES,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            deadline,
            samples: Cell::new(0),
        }
    }

    /// Counts `n` more samples against the budget.
    pub fn take_samples(&self, n: u64) -> Result<(), EvalError> {
        let total = self.samples.get().saturating_add(n);
        self.samples.set(total);
        if total > self.max_samples {
            return Err(EvalError::TooManySamples(self.max_samples));
        }
        Ok(())
    }

    pub fn check_series(&self, found: usize) -> Result<(), EvalError> {
        if found > self.max_series {
            return Err(EvalError::TooManySeries(self.max_series));
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<(), EvalError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(EvalError::Timeout),
            _ => Ok(()),
        }
    }
}

/// The lines a range aggregation reads for steps `first..=last`:
/// `(first - offset - range, last - offset]`, computed without overflow.
pub fn range_window(range: &RangeAggregation, first: i64, last: i64) -> Result<(i64, i64), EvalError> {
    let reach = range.offset_ns.checked_add(range.range_ns).ok_or(EvalError::TimeOutOfRange("offset plus range"))?;
    let from = first.checked_sub(reach).ok_or(EvalError::TimeOutOfRange("the start minus offset and range"))?;
    let to = last.checked_sub(range.offset_ns).ok_or(EvalError::TimeOutOfRange("the end minus offset"))?;
    Ok((from, to))
}

/// One extracted value of one log line (1 for counts, the byte length, or the unwrapped number).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub timestamp_ns: i64,
    pub labels: Labels,
    pub value: f64,
}

/// Where range aggregations get their samples: lines with timestamps in
/// `(from_ns, to_ns]`. A source counts what it loads against the query's
/// [`QueryBounds`] (its own, shared by all the query's selectors).
pub trait SampleSource {
    fn samples(&self, range: &RangeAggregation, from_ns: i64, to_ns: i64) -> Result<Vec<Sample>, EvalError>;

    /// The range aggregation's vector at each of `times` (evenly spaced), when
    /// the source can compute it without handing over every sample; None to
    /// let the evaluator window [`SampleSource::samples`] itself.
    fn range_vectors(&self, _range: &RangeAggregation, _times: &[i64]) -> Result<Option<Vec<Vector>>, EvalError> {
        Ok(None)
    }
}

/// The evaluation timestamps: `start`, `start + step`, ... up to `end`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Steps {
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
}

impl Steps {
    /// Start and end rounded down to a multiple of the step (Loki's query
    /// frontend aligns range queries so results are stable across refreshes).
    pub fn aligned(start_ns: i64, end_ns: i64, step_ns: i64) -> Result<Steps, EvalError> {
        let step_ns = step_ns.max(1);
        let align = |t: i64, what| t.checked_sub(t.rem_euclid(step_ns)).ok_or(EvalError::TimeOutOfRange(what));
        Ok(Steps { start_ns: align(start_ns, "the start")?, end_ns: align(end_ns, "the end")?, step_ns })
    }

    /// The step timestamps, refused beyond [`MAX_POINTS_PER_SERIES`] (counted
    /// before anything is allocated, in i128 so no range wraps).
    pub fn timestamps(&self) -> Result<Vec<i64>, EvalError> {
        if self.step_ns <= 0 {
            return Err(EvalError::NonPositiveStep);
        }
        if self.end_ns < self.start_ns {
            return Ok(Vec::new());
        }
        let steps = (self.end_ns as i128 - self.start_ns as i128) / self.step_ns as i128 + 1;
        if steps > MAX_POINTS_PER_SERIES + 1 {
            return Err(EvalError::TooManySteps { steps, max: MAX_POINTS_PER_SERIES + 1 });
        }
        // every step fits, start + k * step <= end for k < steps, though k * step alone may not
        let step = |k: i128| (self.start_ns as i128 + k * self.step_ns as i128) as i64;
        Ok((0..steps).map(step).collect())
    }
}

/// A result series: its labels and its points in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// One step's result: label sets and their values.
pub type Vector = Vec<(Labels, f64)>;

enum Value {
    Scalar(f64),
    Vectors(Vec<Vector>),
}

pub fn evaluate(
    expr: &MetricExpr,
    steps: &Steps,
    source: &dyn SampleSource,
    bounds: &QueryBounds,
) -> Result<Vec<Series>, EvalError> {
    let times = steps.timestamps()?;
    let vectors = match eval(expr, &times, source, bounds)? {
        Value::Scalar(value) => times.iter().map(|_| vec![(Labels::new(), value)]).collect(),
        Value::Vectors(vectors) => vectors,
    };
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for (t, vector) in times.iter().zip(vectors) {
        for (labels, value) in vector {
            series.entry(labels).or_default().push((*t, value));
        }
        bounds.check_series(series.len())?;
    }
    Ok(series.into_iter().map(|(labels, points)| Series { labels, points }).collect())
}

/// Recurses once per tree level, which the parser bounds ([`super::parser::MAX_NESTING`]).
fn eval(expr: &MetricExpr, times: &[i64], source: &dyn SampleSource, bounds: &QueryBounds) -> Result<Value, EvalError> {
    bounds.check_deadline()?;
    Ok(match expr {
        MetricExpr::Scalar(value) => Value::Scalar(*value),
        MetricExpr::Vector(value) => Value::Vectors(times.iter().map(|_| vec![(Labels::new(), *value)]).collect()),
        MetricExpr::Range(range) => Value::Vectors(eval_range(range, times, source, bounds)?),
        MetricExpr::Aggregate { op, param, grouping, inner } => {
            let pushed = sum_pushdown(*op, grouping.as_ref(), inner);
            let inner = pushed.as_ref().unwrap_or(inner);
            let vectors = match eval(inner, times, source, bounds)? {
                Value::Scalar(value) => times.iter().map(|_| vec![(Labels::new(), value)]).collect(),
                Value::Vectors(vectors) => vectors,
            };
            Value::Vectors(vectors.into_iter().map(|v| aggregate(*op, *param, grouping.as_ref(), v)).collect())
        }
        MetricExpr::Binary { op, lhs, rhs, return_bool, matching } => {
            let lhs = eval(lhs, times, source, bounds)?;
            let rhs = eval(rhs, times, source, bounds)?;
            binary(*op, lhs, rhs, *return_bool, matching.as_ref())?
        }
    })
}

/// `sum by (g) (f(...))` for an additive range function equals `f(...) by (g)`
/// over the group's merged samples; grouping first avoids building one
/// series per distinct label set (each trace id, with OTLP logs).
pub(super) fn sum_pushdown(op: AggOp, grouping: Option<&Grouping>, inner: &MetricExpr) -> Option<Box<MetricExpr>> {
    let MetricExpr::Range(range) = inner else { return None };
    let additive = matches!(
        range.op,
        RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate | RangeOp::SumOverTime
    );
    if op != AggOp::Sum || !additive || range.grouping.is_some() {
        return None;
    }
    let grouping = grouping.cloned().unwrap_or(Grouping { without: false, labels: Vec::new() });
    Some(Box::new(MetricExpr::Range(RangeAggregation { grouping: Some(grouping), ..range.clone() })))
}

// ---- range aggregations ----

fn eval_range(
    range: &RangeAggregation,
    times: &[i64],
    source: &dyn SampleSource,
    bounds: &QueryBounds,
) -> Result<Vec<Vector>, EvalError> {
    let (Some(first), Some(last)) = (times.first(), times.last()) else { return Ok(Vec::new()) };
    // every step's window lies inside this one, so the per-step arithmetic below cannot overflow
    let (from, to) = range_window(range, *first, *last)?;
    if let Some(vectors) = source.range_vectors(range, times)? {
        bounds.take_samples(vectors.iter().map(|v| v.len() as u64).sum())?;
        return Ok(vectors);
    }
    let samples = source.samples(range, from, to)?;
    if range.op == RangeOp::AbsentOverTime {
        return Ok(absent(range, times, &samples));
    }
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for sample in samples {
        let labels = match &range.grouping {
            Some(grouping) => group_labels(&sample.labels, grouping),
            None => sample.labels,
        };
        series.entry(labels).or_default().push((sample.timestamp_ns, sample.value));
        bounds.check_series(series.len())?;
    }
    let mut out = vec![Vector::new(); times.len()];
    for (labels, mut points) in series {
        bounds.check_deadline()?;
        points.sort_by_key(|(t, _)| *t);
        // only steps whose window (t - offset - range, t - offset] can hold a point
        let first_step = times.partition_point(|t| *t < points[0].0.saturating_add(range.offset_ns));
        let reach = range.offset_ns.saturating_add(range.range_ns);
        let end_step = times.partition_point(|t| *t < points[points.len() - 1].0.saturating_add(reach));
        let mut produced = 0;
        for (slot, t) in out[first_step..end_step].iter_mut().zip(&times[first_step..end_step]) {
            let end = t - range.offset_ns;
            let lo = points.partition_point(|(ts, _)| *ts <= end - range.range_ns);
            let hi = points.partition_point(|(ts, _)| *ts <= end);
            if lo < hi {
                let value = range_function(range, &points[lo..hi], end)?;
                slot.push((labels.clone(), value));
                produced += 1;
            }
        }
        bounds.take_samples(produced)?;
    }
    Ok(out)
}

fn absent(range: &RangeAggregation, times: &[i64], samples: &[Sample]) -> Vec<Vector> {
    let labels: Labels = range
        .selector
        .matchers
        .iter()
        .filter(|m| m.op == MatchOp::Eq)
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    let mut stamps: Vec<i64> = samples.iter().map(|s| s.timestamp_ns).collect();
    stamps.sort_unstable();
    times
        .iter()
        .map(|t| {
            let end = t - range.offset_ns;
            let lo = stamps.partition_point(|ts| *ts <= end - range.range_ns);
            let hi = stamps.partition_point(|ts| *ts <= end);
            if lo < hi {
                Vec::new()
            } else {
                vec![(labels.clone(), 1.0)]
            }
        })
        .collect()
}

fn range_function(range: &RangeAggregation, points: &[(i64, f64)], window_end: i64) -> Result<f64, EvalError> {
    let values = || points.iter().map(|(_, v)| *v);
    let seconds = range.range_ns as f64 / 1e9;
    let n = points.len() as f64;
    Ok(match range.op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate if range.unwrap.is_none() => n / seconds,
        RangeOp::Rate | RangeOp::BytesRate => values().sum::<f64>() / seconds,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => values().sum(),
        RangeOp::AvgOverTime => values().sum::<f64>() / n,
        RangeOp::MinOverTime => values().fold(f64::INFINITY, f64::min),
        RangeOp::MaxOverTime => values().fold(f64::NEG_INFINITY, f64::max),
        // Loki's over_time variances are Welford's without Prometheus' Kahan compensation
        RangeOp::StdvarOverTime => variance(values()),
        RangeOp::StddevOverTime => variance(values()).sqrt(),
        RangeOp::QuantileOverTime => quantile(range.param.ok_or(EvalError::MissingQuantile)?, values().collect()),
        RangeOp::FirstOverTime => points[0].1,
        RangeOp::LastOverTime => points[points.len() - 1].1,
        RangeOp::RateCounter => counter_rate(points, window_end - range.range_ns, window_end),
        RangeOp::AbsentOverTime => 1.0,
    })
}

/// Loki's `rate_counter`: Prometheus' extrapolation as Loki took it, with the
/// zero point limiting the stretch before the threshold is applied (Prometheus
/// now applies it after), and the increase divided by the range last. Loki
/// measures the stretch from `first - range` to the last sample rather than to
/// the window's edges; the window's edges are kept here, as Prometheus does.
fn counter_rate(points: &[(i64, f64)], window_start: i64, window_end: i64) -> f64 {
    if points.len() < 2 {
        return 0.0;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let increase = prom_math::change(points.iter().map(|(_, v)| *v), true);
    let window = Window {
        start: window_start,
        end: window_end,
        first_t: first.0,
        last_t: last.0,
        first_v: first.1,
        count: points.len(),
        ticks_per_second: 1e9,
    };
    let factor = extrapolation_factor(&window, Some(increase), ZeroClamp::BeforeThreshold);
    increase * factor / ((window_end - window_start) as f64 / 1e9)
}

// ---- vector aggregations ----

fn group_labels(labels: &Labels, grouping: &Grouping) -> Labels {
    labels
        .iter()
        .filter(|(name, _)| grouping.labels.iter().any(|g| g == *name) != grouping.without)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn aggregate(op: AggOp, param: Option<f64>, grouping: Option<&Grouping>, vector: Vector) -> Vector {
    let key = |labels: &Labels| grouping.map(|g| group_labels(labels, g)).unwrap_or_default();
    let mut groups: BTreeMap<Labels, Vector> = BTreeMap::new();
    for (labels, value) in vector {
        groups.entry(key(&labels)).or_default().push((labels, value));
    }
    let mut out = Vector::new();
    for (group, mut members) in groups {
        let values = || members.iter().map(|(_, v)| *v);
        let n = members.len() as f64;
        let single = |value: f64| vec![(group.clone(), value)];
        out.extend(match op {
            AggOp::Sum => single(values().sum()),
            AggOp::Avg => single(values().sum::<f64>() / n),
            AggOp::Min => single(values().fold(f64::INFINITY, f64::min)),
            AggOp::Max => single(values().fold(f64::NEG_INFINITY, f64::max)),
            AggOp::Count => single(n),
            AggOp::Stdvar => single(variance(values())),
            AggOp::Stddev => single(variance(values()).sqrt()),
            AggOp::Topk | AggOp::Bottomk => {
                let k = param.unwrap_or(1.0) as usize;
                members.sort_by(|a, b| {
                    let order = b.1.total_cmp(&a.1);
                    if op == AggOp::Topk {
                        order
                    } else {
                        order.reverse()
                    }
                });
                members.truncate(k);
                members
            }
            AggOp::Sort | AggOp::SortDesc => members,
        });
    }
    out
}

// ---- binary operators ----

fn arithmetic(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        _ => unreachable!("not an arithmetic operator"),
    }
}

/// The value a vector element keeps after `op`, or None when a comparison drops it.
fn combine(op: BinOp, a: f64, b: f64, return_bool: bool, keep: f64) -> Option<f64> {
    match op {
        BinOp::Cmp(cmp) => {
            let holds = cmp.holds(a, b);
            if return_bool {
                Some(if holds { 1.0 } else { 0.0 })
            } else {
                holds.then_some(keep)
            }
        }
        _ => Some(arithmetic(op, a, b)),
    }
}

fn binary(
    op: BinOp,
    lhs: Value,
    rhs: Value,
    return_bool: bool,
    matching: Option<&VectorMatching>,
) -> Result<Value, EvalError> {
    Ok(match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => match op {
            BinOp::Cmp(cmp) if return_bool => Value::Scalar(if cmp.holds(a, b) { 1.0 } else { 0.0 }),
            BinOp::Cmp(_) => return Err(EvalError::ScalarComparison),
            _ => Value::Scalar(arithmetic(op, a, b)),
        },
        (Value::Vectors(vectors), Value::Scalar(b)) => Value::Vectors(
            vectors
                .into_iter()
                .map(|v| v.into_iter().filter_map(|(l, a)| combine(op, a, b, return_bool, a).map(|r| (l, r))).collect())
                .collect(),
        ),
        (Value::Scalar(a), Value::Vectors(vectors)) => Value::Vectors(
            vectors
                .into_iter()
                .map(|v| v.into_iter().filter_map(|(l, b)| combine(op, a, b, return_bool, b).map(|r| (l, r))).collect())
                .collect(),
        ),
        (Value::Vectors(left), Value::Vectors(right)) => Value::Vectors(
            left.into_iter()
                .zip(right)
                .map(|(l, r)| vector_binary(op, l, r, return_bool, matching))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn signature(labels: &Labels, matching: Option<&VectorMatching>) -> Labels {
    match matching {
        None => labels.clone(),
        Some(m) => labels
            .iter()
            .filter(|(name, _)| m.labels.iter().any(|l| l == *name) == m.on)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn render_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn vector_binary(
    op: BinOp,
    left: Vector,
    right: Vector,
    return_bool: bool,
    matching: Option<&VectorMatching>,
) -> Result<Vector, EvalError> {
    let mut right_by_signature: BTreeMap<Labels, f64> = BTreeMap::new();
    for (labels, value) in &right {
        let sig = signature(labels, matching);
        if right_by_signature.insert(sig.clone(), *value).is_some()
            && !matches!(op, BinOp::And | BinOp::Or | BinOp::Unless)
        {
            return Err(EvalError::ManyToMany { side: "right", labels: render_labels(&sig) });
        }
    }
    match op {
        BinOp::And => {
            Ok(left.into_iter().filter(|(l, _)| right_by_signature.contains_key(&signature(l, matching))).collect())
        }
        BinOp::Unless => {
            Ok(left.into_iter().filter(|(l, _)| !right_by_signature.contains_key(&signature(l, matching))).collect())
        }
        BinOp::Or => {
            let left_signatures: Vec<Labels> = left.iter().map(|(l, _)| signature(l, matching)).collect();
            let mut out = left;
            out.extend(right.into_iter().filter(|(l, _)| !left_signatures.contains(&signature(l, matching))));
            Ok(out)
        }
        _ => {
            let mut out = Vector::new();
            let mut seen = std::collections::BTreeSet::new();
            for (labels, a) in left {
                let sig = signature(&labels, matching);
                let Some(b) = right_by_signature.get(&sig) else { continue };
                if !seen.insert(sig.clone()) {
                    return Err(EvalError::ManyToMany { side: "left", labels: render_labels(&sig) });
                }
                // with on/ignoring the result keeps only the matched labels, as in Prometheus
                let result_labels = if matching.is_some() { sig } else { labels };
                if let Some(value) = combine(op, a, *b, return_bool, a) {
                    out.push((result_labels, value));
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    const S: i64 = 1_000_000_000;

    /// Lines at fixed seconds, with a `service_name` and a `status` label.
    struct Fixed(Vec<(i64, &'static str, &'static str, f64)>);

    impl SampleSource for Fixed {
        fn samples(&self, range: &RangeAggregation, from: i64, to: i64) -> Result<Vec<Sample>, EvalError> {
            Ok(self
                .0
                .iter()
                .filter(|(t, ..)| t * S > from && t * S <= to)
                .filter(|(_, service, ..)| {
                    range
                        .selector
                        .matchers
                        .iter()
                        .all(|m| m.name != "service_name" || m.op != MatchOp::Eq || m.value == *service)
                })
                .map(|(t, service, status, value)| Sample {
                    timestamp_ns: t * S,
                    labels: Labels::from([
                        ("service_name".into(), service.to_string()),
                        ("status".into(), status.to_string()),
                    ]),
                    value: if range.unwrap.is_some() { *value } else { 1.0 },
                })
                .collect())
        }
    }

    fn data() -> Fixed {
        Fixed(vec![
            (1, "api", "200", 10.0),
            (2, "api", "500", 20.0),
            (10, "api", "200", 30.0),
            (11, "web", "200", 40.0),
            (20, "api", "200", 50.0),
        ])
    }

    fn run(query: &str, start: i64, end: i64, step: i64) -> Vec<(String, Vec<(i64, f64)>)> {
        let Query::Metric(expr) = parse(query).unwrap() else { panic!("not a metric query") };
        let steps = Steps { start_ns: start * S, end_ns: end * S, step_ns: step * S };
        evaluate(&expr, &steps, &data(), &QueryBounds::default())
            .unwrap()
            .into_iter()
            .map(|s| (render_labels(&s.labels), s.points.into_iter().map(|(t, v)| (t / S, v)).collect()))
            .collect()
    }

    fn row(labels: &str, points: &[(i64, f64)]) -> (String, Vec<(i64, f64)>) {
        (labels.to_string(), points.to_vec())
    }

    #[test]
    fn count_over_time_uses_left_open_windows_and_skips_empty_steps() {
        assert_eq!(
            run(r#"count_over_time({service_name="api"}[10s])"#, 0, 20, 10),
            vec![
                row(r#"{service_name="api", status="200"}"#, &[(10, 2.0), (20, 1.0)]),
                row(r#"{service_name="api", status="500"}"#, &[(10, 1.0)]),
            ]
        );
    }

    #[test]
    fn sum_by_and_rate() {
        assert_eq!(
            run(r#"sum by (service_name) (rate({service_name=~".+"}[10s]))"#, 10, 20, 10),
            vec![row(r#"{service_name="api"}"#, &[(10, 0.3), (20, 0.1)]), row(r#"{service_name="web"}"#, &[(20, 0.1)]),]
        );
        assert_eq!(run(r#"sum(count_over_time({service_name="api"}[20s]))"#, 20, 20, 1), vec![row("{}", &[(20, 4.0)])]);
        assert_eq!(
            run(r#"count without (status) (count_over_time({service_name="api"}[10s]))"#, 10, 10, 1),
            vec![row(r#"{service_name="api"}"#, &[(10, 2.0)])]
        );
    }

    #[test]
    fn unwrapped_range_functions() {
        let one = |q: &str| run(&q.replace("[20s])", "[20s]) by (service_name)"), 20, 20, 1)[0].1[0].1;
        let base = r#"{service_name="api"} | unwrap v [20s]"#;
        assert_eq!(one(&format!("sum_over_time({base})")), 110.0);
        assert_eq!(one(&format!("avg_over_time({base})")), 27.5);
        assert_eq!(one(&format!("max_over_time({base})")), 50.0);
        assert_eq!(one(&format!("min_over_time({base})")), 10.0);
        assert_eq!(one(&format!("first_over_time({base})")), 10.0);
        assert_eq!(one(&format!("last_over_time({base})")), 50.0);
        assert_eq!(one(&format!("quantile_over_time(0.5, {base})")), 25.0);
        assert_eq!(one(&format!("stdvar_over_time({base})")), 218.75);
        assert_eq!(one(&format!("rate({base})")), 5.5);
        assert_eq!(
            run(&format!("max_over_time({base}) by (service_name)"), 20, 20, 1),
            vec![row(r#"{service_name="api"}"#, &[(20, 50.0)])]
        );
        assert_eq!(
            run(&format!("max_over_time({base})"), 20, 20, 1),
            vec![
                row(r#"{service_name="api", status="200"}"#, &[(20, 50.0)]),
                row(r#"{service_name="api", status="500"}"#, &[(20, 20.0)]),
            ]
        );
    }

    #[test]
    fn sum_of_additive_range_functions_groups_before_windowing() {
        let by = |q: &str| run(q, 10, 20, 10);
        assert_eq!(
            by(r#"sum by (service_name) (count_over_time({service_name=~".+"}[10s]))"#),
            vec![row(r#"{service_name="api"}"#, &[(10, 3.0), (20, 1.0)]), row(r#"{service_name="web"}"#, &[(20, 1.0)])]
        );
        assert_eq!(
            by(r#"sum without (status) (sum_over_time({service_name="api"} | unwrap v [10s]))"#)[0].1,
            vec![(10, 60.0), (20, 50.0)]
        );
        // max is not additive: no pushdown, the per-series maxima are compared
        assert_eq!(by(r#"max(count_over_time({service_name="api"}[10s]))"#), vec![row("{}", &[(10, 2.0), (20, 1.0)])]);
    }

    #[test]
    fn absent_over_time_reports_empty_windows_with_equality_labels() {
        assert_eq!(
            run(r#"absent_over_time({service_name="web"}[5s])"#, 10, 20, 5),
            vec![row(r#"{service_name="web"}"#, &[(10, 1.0), (20, 1.0)])]
        );
    }

    #[test]
    fn offset_shifts_the_window_back() {
        assert_eq!(
            run(r#"sum(count_over_time({service_name="api"}[10s] offset 10s))"#, 20, 20, 1),
            vec![row("{}", &[(20, 3.0)])]
        );
    }

    #[test]
    fn binary_operators_with_scalars_and_vectors() {
        assert_eq!(run("vector(1)+vector(1)", 5, 5, 1), vec![row("{}", &[(5, 2.0)])]);
        assert_eq!(run("2 * 3 + 1", 5, 5, 1), vec![row("{}", &[(5, 7.0)])]);
        assert_eq!(run("2 ^ 3 ^ 2", 5, 5, 1), vec![row("{}", &[(5, 512.0)])]);
        let c = r#"sum by (service_name) (count_over_time({service_name="api"}[10s]))"#;
        assert_eq!(run(&format!("{c} * 10"), 10, 10, 1), vec![row(r#"{service_name="api"}"#, &[(10, 30.0)])]);
        assert_eq!(run(&format!("{c} > 5"), 10, 10, 1), vec![]);
        assert_eq!(run(&format!("{c} > bool 5"), 10, 10, 1), vec![row(r#"{service_name="api"}"#, &[(10, 0.0)])]);
        assert_eq!(run(&format!("{c} / {c}"), 10, 10, 1), vec![row(r#"{service_name="api"}"#, &[(10, 1.0)])]);
        let by_status = r#"sum by (status) (count_over_time({service_name="api"}[10s]))"#;
        assert_eq!(run(&format!("topk(1, {by_status})"), 10, 10, 1), vec![row(r#"{status="200"}"#, &[(10, 2.0)])]);
        assert_eq!(run(&format!("bottomk(1, {by_status})"), 10, 10, 1), vec![row(r#"{status="500"}"#, &[(10, 1.0)])]);
        assert_eq!(
            run(&format!("{by_status} unless {by_status} > 1"), 10, 10, 1),
            vec![row(r#"{status="500"}"#, &[(10, 1.0)])]
        );
        assert_eq!(
            run(&format!("{by_status} and {by_status} > 1"), 10, 10, 1),
            vec![row(r#"{status="200"}"#, &[(10, 2.0)])]
        );
        assert_eq!(run(&format!("sum({by_status}) - on() sum({by_status})"), 10, 10, 1), vec![row("{}", &[(10, 0.0)])]);
    }
}
