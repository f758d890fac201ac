//! `histogram_quantile` over classic buckets (`le` series), following
//! Prometheus' `bucketQuantile`: buckets are sorted, merged when they share an
//! upper bound, forced monotonic, and the quantile is interpolated linearly
//! inside the bucket that holds the rank.

#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// Counts that differ by less than this relative tolerance are taken as equal
/// (floating point noise from rate() over buckets).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

pub fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    if buckets.last().map(|b| b.upper_bound) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match merged.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => merged.push(b),
        }
    }
    let mut buckets = merged;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        if b.count == prev {
            continue;
        }
        if almost_equal(prev, b.count, SMALL_DELTA_TOLERANCE) || b.count < prev {
            b.count = prev;
            continue;
        }
        prev = b.count;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|b| b.count < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    let mut start = 0.0;
    if b > 0 {
        start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(upper_bound: f64, count: f64) -> Bucket {
        Bucket { upper_bound, count }
    }

    #[test]
    fn interpolates_inside_the_bucket() {
        // 10 observations: 2 <= 0.1, 8 <= 0.5, 10 <= +Inf; rank 9 lies in (0.5, +Inf]: highest finite bound
        let buckets = vec![b(0.1, 2.0), b(0.5, 8.0), b(f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.9, buckets.clone()), 0.5);
        // rank 5 in (0.1, 0.5]: 0.1 + 0.4 * (3/6)
        assert!((bucket_quantile(0.5, buckets) - 0.3).abs() < 1e-15);
    }

    #[test]
    fn needs_an_infinite_bucket() {
        assert!(bucket_quantile(0.5, vec![b(1.0, 1.0)]).is_nan());
    }
}
