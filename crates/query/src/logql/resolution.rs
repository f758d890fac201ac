//! How finely a metric query's range is stepped when the caller does not say:
//! Loki's defaults, shared by the Loki API and `loki_query`.

const SECOND: i64 = 1_000_000_000;

/// Loki's default step: the range split in 250 points, rounded down to whole seconds, at least one.
pub fn default_step_ns(start: i64, end: i64) -> i64 {
    // at most 2^64 ns / 250 / 1e9 s: the product fits
    (((end as i128 - start as i128) as f64 / SECOND as f64 / 250.0).floor().max(1.0)) as i64 * SECOND
}

/// `(end - start) / step`, the number Loki compares with its points bound, computed without overflow.
pub fn points(start: i64, end: i64, step: i64) -> i128 {
    (end as i128 - start as i128) / step.max(1) as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_step_is_a_250th_of_the_range_in_whole_seconds() {
        assert_eq!(default_step_ns(0, 3600 * SECOND), 14 * SECOND);
        assert_eq!(default_step_ns(0, 10 * SECOND), SECOND, "at least one second");
        assert_eq!(default_step_ns(i64::MIN, i64::MAX), 73_786_976 * SECOND);
        assert_eq!(points(i64::MIN, i64::MAX, 1), u64::MAX as i128);
        assert_eq!(points(0, 100, 0), 100, "a zero step counts as one");
    }
}
