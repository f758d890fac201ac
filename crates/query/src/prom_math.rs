//! Prometheus' float arithmetic that PromQL and LogQL both evaluate: the
//! quantile, running variances, Kahan summation and the rate family's
//! extrapolation. Loki took these from Prometheus at different times, so
//! where Loki still computes the older way the variant is named here and the
//! LogQL caller picks it, saying so.

/// Kahan-Neumaier summation, as Prometheus sums floats (`kahanSumInc`).
#[derive(Default, Clone, Copy)]
pub struct KahanSum {
    sum: f64,
    c: f64,
}

impl KahanSum {
    pub fn add(&mut self, inc: f64) {
        let t = self.sum + inc;
        if t.is_infinite() {
            // the compensation of an infinite sum is meaningless and would turn it into NaN
            self.c = 0.0;
        } else if self.sum.abs() >= inc.abs() {
            self.c += (self.sum - t) + inc;
        } else {
            self.c += (inc - t) + self.sum;
        }
        self.sum = t;
    }

    pub fn value(&self) -> f64 {
        self.sum + self.c
    }
}

/// Prometheus' quantile (`quantile` and `quantile_over_time`): linear
/// interpolation between the closest ranks. No values or a NaN `q` give NaN,
/// `q < 0` gives -Inf and `q > 1` +Inf. NaN values sort below every number,
/// as Prometheus' value heap orders them, so they are the low ranks.
pub fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        // equal numbers (0 and -0 among them) keep their order, as in a stable sort on `<`
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Population variance by Welford's running mean, uncompensated: Prometheus'
/// `stdvar`/`stddev` aggregation operators, and Loki's for both its
/// aggregations and its `stdvar_over_time`/`stddev_over_time`.
pub fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        let delta = v - mean;
        mean += delta / n;
        m2 += delta * (v - mean);
    }
    m2 / n
}

/// Population variance by Welford's running mean with both the mean and the
/// sum of squares Kahan-compensated: Prometheus' `stdvar_over_time` and
/// `stddev_over_time`, which thereby keep the precision a long window of
/// nearly equal values would otherwise lose.
pub fn compensated_variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut mean, mut aux) = (0.0, KahanSum::default(), KahanSum::default());
    for v in values {
        n += 1.0;
        let delta = v - mean.value();
        mean.add(delta / n);
        aux.add(delta * (v - mean.value()));
    }
    aux.value() / n
}

/// Last value minus first; for a counter, plus the value before each reset
/// (a value lower than its predecessor), added in order after the difference.
pub fn change(values: impl Iterator<Item = f64> + Clone, is_counter: bool) -> f64 {
    let first = values.clone().next().unwrap_or(f64::NAN);
    let last = values.clone().last().unwrap_or(f64::NAN);
    let mut result = last - first;
    if is_counter {
        let mut previous = first;
        for v in values.skip(1) {
            if v < previous {
                result += previous;
            }
            previous = v;
        }
    }
    result
}

/// Where a counter's extrapolation towards the window start stops at the
/// point the counter would have been zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroClamp {
    /// Prometheus today: the gap to the start is first replaced by half a
    /// sample interval when it is too long, then limited by the zero point.
    AfterThreshold,
    /// Older Prometheus and Loki's `rate_counter`: the zero point limits
    /// the gap first, and the limited gap is what is compared with the threshold.
    BeforeThreshold,
}

/// The samples of one series in one window, for [`extrapolation_factor`].
/// Times are in any unit, `ticks_per_second` of them to a second.
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub first_t: i64,
    pub last_t: i64,
    pub first_v: f64,
    pub count: usize,
    pub ticks_per_second: f64,
}

/// Prometheus' `extrapolatedRate` factor: the change between the first and
/// last sample is stretched towards the window's edges, fully when a sample
/// is within 1.1 average intervals of the edge and by half an interval
/// otherwise; a counter's `change` (Some for counters) also limits the
/// stretch before the first sample to where it would reach zero. The caller
/// multiplies its change by this and divides by the range for a rate; at
/// least two samples are needed.
pub fn extrapolation_factor(w: &Window, counter_change: Option<f64>, clamp: ZeroClamp) -> f64 {
    let seconds = |ticks: i64| ticks as f64 / w.ticks_per_second;
    let mut to_start = seconds(w.first_t - w.start);
    let mut to_end = seconds(w.end - w.last_t);
    let sampled = seconds(w.last_t - w.first_t);
    let average_gap = sampled / (w.count - 1) as f64;
    let threshold = average_gap * 1.1;
    let to_zero = match counter_change {
        Some(change) if change > 0.0 && w.first_v >= 0.0 => Some(sampled * (w.first_v / change)),
        _ => None,
    };
    match clamp {
        ZeroClamp::AfterThreshold => {
            if to_start >= threshold {
                to_start = average_gap / 2.0;
            }
            if let Some(to_zero) = to_zero.filter(|z| *z < to_start) {
                to_start = to_zero;
            }
        }
        ZeroClamp::BeforeThreshold => {
            if let Some(to_zero) = to_zero.filter(|z| *z < to_start) {
                to_start = to_zero;
            }
            if to_start >= threshold {
                to_start = average_gap / 2.0;
            }
        }
    }
    if to_end >= threshold {
        to_end = average_gap / 2.0;
    }
    (sampled + to_start + to_end) / sampled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_bounds_and_interpolation() {
        assert_eq!(quantile(0.5, vec![1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(0.25, vec![4.0, 1.0, 3.0, 2.0]), 1.75);
        assert_eq!(quantile(1.0, vec![4.0, 1.0]), 4.0);
        assert_eq!(quantile(0.0, vec![4.0, 1.0]), 1.0);
        assert_eq!(quantile(-0.1, vec![1.0]), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, vec![1.0]), f64::INFINITY);
        assert!(quantile(f64::NAN, vec![1.0]).is_nan());
        assert!(quantile(0.5, vec![]).is_nan());
        // out-of-range q wins over an empty input only when there is input
        assert!(quantile(-1.0, vec![]).is_nan());
    }

    #[test]
    fn nan_values_are_the_lowest_ranks() {
        // LogQL's copy sorted with total_cmp, which puts a positive NaN above +Inf:
        // there the maximum of [NaN, 1, 2] was NaN and the minimum 1
        let values = vec![2.0, f64::NAN, 1.0];
        assert!(quantile(0.0, values.clone()).is_nan());
        assert_eq!(quantile(0.5, values.clone()), 1.0);
        assert_eq!(quantile(1.0, values.clone()), 2.0);
        // a negative NaN (total_cmp's lowest) is no different
        assert!(quantile(0.0, vec![1.0, -f64::NAN]).is_nan());
        assert_eq!(quantile(1.0, vec![1.0, -f64::NAN]), 1.0);
        // between a NaN and a number the interpolation is NaN
        assert!(quantile(0.25, vec![f64::NAN, 1.0, 2.0]).is_nan());
    }

    #[test]
    fn variances() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((variance(values.iter().copied()) - 4.0).abs() < 1e-12);
        assert!((compensated_variance(values.iter().copied()) - 4.0).abs() < 1e-12);
        assert_eq!(variance([10.0, 20.0, 30.0, 40.0, 50.0].into_iter()), 200.0);
        assert!(variance(std::iter::empty()).is_nan());
        assert!(compensated_variance(std::iter::empty()).is_nan());
        assert!(variance([1.0, f64::INFINITY].into_iter()).is_nan());
        assert!(compensated_variance([1.0, f64::NAN].into_iter()).is_nan());
        assert_eq!(compensated_variance([5.0].into_iter()), 0.0);
    }

    #[test]
    fn compensation_keeps_precision_on_a_large_offset() {
        // 1e8 + {0.1, 0.2, 0.3, 0.4}: the exact variance is 0.0125
        let values: Vec<f64> = [0.1, 0.2, 0.3, 0.4].iter().map(|d| 1e8 + d).collect();
        let compensated = compensated_variance(values.iter().copied());
        assert!((compensated - 0.0125).abs() < 1e-8, "{compensated}");
    }

    #[test]
    fn counter_changes_add_values_before_resets() {
        assert_eq!(change([5.0, 8.0, 2.0].into_iter(), true), 5.0);
        assert_eq!(change([5.0, 8.0, 2.0].into_iter(), false), -3.0);
        assert_eq!(change([1.0, 0.0, 3.0, 1.0].into_iter(), true), 4.0);
    }

    fn window(start: i64, end: i64, first_t: i64, last_t: i64, first_v: f64, count: usize) -> Window {
        Window { start, end, first_t, last_t, first_v, count, ticks_per_second: 1.0 }
    }

    #[test]
    fn extrapolation_to_the_edges() {
        // samples at 10, 20, 30 in (0, 40]: 10s from each edge, within 1.1 intervals: stretched fully
        let w = window(0, 40, 10, 30, 100.0, 3);
        assert_eq!(extrapolation_factor(&w, None, ZeroClamp::AfterThreshold), 2.0);
        // 20s from the start is beyond 1.1 intervals: half an interval instead
        let w = window(0, 40, 20, 40, 100.0, 3);
        assert_eq!(extrapolation_factor(&w, None, ZeroClamp::AfterThreshold), 1.25);
    }

    #[test]
    fn the_zero_clamp_orders_differ() {
        // samples at 50, 60, 70 in (0, 70], counter 1 -> 5: to the start 50s, to zero 20 * 1/4 = 5s
        let w = window(0, 70, 50, 70, 1.0, 3);
        // Prometheus: 50s is past the 11s threshold -> 5s, then the zero point (5s) is no shorter
        assert_eq!(extrapolation_factor(&w, Some(4.0), ZeroClamp::AfterThreshold), 1.25);
        // Loki: the zero point first (5s), which is inside the threshold and kept
        assert_eq!(extrapolation_factor(&w, Some(4.0), ZeroClamp::BeforeThreshold), 1.25);
        // to zero 20 * 2/4 = 10s: Prometheus keeps half an interval (5s), Loki the 10s
        let w = window(0, 70, 50, 70, 2.0, 3);
        assert_eq!(extrapolation_factor(&w, Some(4.0), ZeroClamp::AfterThreshold), 1.25);
        assert_eq!(extrapolation_factor(&w, Some(4.0), ZeroClamp::BeforeThreshold), 1.5);
    }
}
