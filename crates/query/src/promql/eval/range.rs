//! Functions over range vectors: the rate family with Prometheus'
//! extrapolation, and the `*_over_time` aggregations. Each takes the points of
//! one series in its window and returns at most one value.

use super::{KahanSum, RangeArg};
use crate::prom_math::{self, extrapolation_factor, Window, ZeroClamp};
use crate::promql::value::Point;

/// `rate`, `increase` and `delta`: the change over the window, extrapolated
/// towards the window's edges exactly as Prometheus' `extrapolatedRate` does.
/// Counter resets (a value lower than its predecessor) add the predecessor.
pub fn extrapolated_rate(points: &[Point], arg: &RangeArg, is_counter: bool, is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let result = prom_math::change(points.iter().map(|p| p.v), is_counter);
    let window = Window {
        start: arg.start,
        end: arg.end,
        first_t: first.t,
        last_t: last.t,
        first_v: first.v,
        count: points.len(),
        ticks_per_second: 1000.0,
    };
    let mut factor = extrapolation_factor(&window, is_counter.then_some(result), ZeroClamp::AfterThreshold);
    if is_rate {
        factor /= arg.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples only.
pub fn instant_delta(points: &[Point], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (prev, last) = (points[points.len() - 2], points[points.len() - 1]);
    let mut result = if is_rate && last.v < prev.v { last.v } else { last.v - prev.v };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

pub fn resets(points: &[Point]) -> f64 {
    points.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

pub fn changes(points: &[Point]) -> f64 {
    points.windows(2).filter(|w| !(w[1].v == w[0].v || (w[1].v.is_nan() && w[0].v.is_nan()))).count() as f64
}

/// Least-squares fit of value over seconds since `intercept_time`.
pub fn linear_regression(points: &[Point], intercept_time: i64) -> (f64, f64) {
    let (mut sx, mut sy, mut sxy, mut sx2) =
        (KahanSum::default(), KahanSum::default(), KahanSum::default(), KahanSum::default());
    let first = points[0].v;
    let constant = points.iter().all(|p| p.v == first);
    let n = points.len() as f64;
    for p in points {
        let x = (p.t - intercept_time) as f64 / 1000.0;
        sx.add(x);
        sy.add(p.v);
        sxy.add(x * p.v);
        sx2.add(x * x);
    }
    if constant {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let (sx, sy, sxy, sx2) = (sx.value(), sy.value(), sxy.value(), sx2.value());
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

pub fn sum(points: &[Point]) -> f64 {
    let mut k = KahanSum::default();
    points.iter().for_each(|p| k.add(p.v));
    k.value()
}

pub fn avg(points: &[Point]) -> f64 {
    let mut k = KahanSum::default();
    points.iter().for_each(|p| k.add(p.v));
    let total = k.value();
    if total.is_infinite() && points.iter().all(|p| p.v.is_finite()) {
        // the sum overflowed; an incremental mean does not
        let mut mean = 0.0;
        for (i, p) in points.iter().enumerate() {
            mean += p.v / (i + 1) as f64 - mean / (i + 1) as f64;
        }
        return mean;
    }
    total / points.len() as f64
}

/// `max` with NaN losing to any number, as Prometheus does.
pub fn max(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(f64::NAN, |acc, v| if v > acc || acc.is_nan() { v } else { acc })
}

pub fn min(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(f64::NAN, |acc, v| if v < acc || acc.is_nan() { v } else { acc })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[(i64, f64)]) -> Vec<Point> {
        values.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn rate_extrapolates_to_window_edges() {
        // samples every 60s of a counter rising 10 per minute, window (0, 300s]
        let points = pts(&[(60_000, 10.0), (120_000, 20.0), (180_000, 30.0), (240_000, 40.0), (300_000, 50.0)]);
        let arg = RangeArg { series: vec![], start: 0, end: 300_000, range: 300_000 };
        // increase over 240s is 40; to_start 60s < 66s threshold but limited by to_zero = 240*10/40 = 60: 50
        assert_eq!(extrapolated_rate(&points, &arg, true, false), Some(50.0));
        assert_eq!(extrapolated_rate(&points, &arg, true, true), Some(50.0 / 300.0));
    }

    #[test]
    fn counter_resets_add_the_previous_value() {
        let points = pts(&[(10_000, 5.0), (20_000, 8.0), (30_000, 2.0)]);
        let arg = RangeArg { series: vec![], start: 10_000, end: 30_000, range: 20_000 };
        // raw increase 2-5 = -3, plus 8 at the reset: 5; no extrapolation needed
        assert_eq!(extrapolated_rate(&points, &arg, true, false), Some(5.0));
        assert_eq!(resets(&points), 1.0);
    }

    #[test]
    fn rate_clamps_at_the_zero_point_after_the_threshold() {
        // counter 2 -> 6 at 50s, 60s, 70s in (0, 70s]: 50s to the start is past the 11s threshold, so
        // half an interval (5s) is kept although the zero point is 10s away (Loki would take the 10s)
        let points = pts(&[(50_000, 2.0), (60_000, 4.0), (70_000, 6.0)]);
        let arg = RangeArg { series: vec![], start: 0, end: 70_000, range: 70_000 };
        assert_eq!(extrapolated_rate(&points, &arg, true, false), Some(5.0));
    }
}
