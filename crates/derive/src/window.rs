//! Which span end times a derivation step covers.
//!
//! A window `(after, through]` of span end time is taken once every span
//! ending in it has had time to arrive and be committed: `through` trails the
//! clock by `wait` (exporters batch for seconds) plus the writer's current
//! lag. Windows follow each other without gap or overlap, so every span is
//! counted in exactly one; a lake left alone for a while is caught up in
//! windows of at most `max_len`, so no single query scans hours of spans.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix nanoseconds of a clock reading (0 before 1970, saturating past 2262).
pub fn unix_ns(at: SystemTime) -> i64 {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowPolicy {
    /// how far behind the clock the end of a window stays
    pub wait: Duration,
    /// the first window after a start without history, and the usual step
    pub interval: Duration,
    /// the longest window one step covers
    pub max_len: Duration,
}

/// Span end times in `(after_ns, through_ns]`, Unix nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub after_ns: i64,
    pub through_ns: i64,
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

impl WindowPolicy {
    /// The next window after `done_through` (None: nothing derived yet, so
    /// start one interval back), or None while it would be empty.
    pub fn next(&self, done_through: Option<i64>, now_ns: i64, writer_lag: Duration) -> Option<Window> {
        let limit = now_ns.saturating_sub(nanos(self.wait)).saturating_sub(nanos(writer_lag));
        let after_ns = done_through.unwrap_or_else(|| limit.saturating_sub(nanos(self.interval)));
        if limit <= after_ns {
            return None;
        }
        let through_ns = limit.min(after_ns.saturating_add(nanos(self.max_len).max(1)));
        Some(Window { after_ns, through_ns })
    }

    /// Whether `window` stopped short of what could be derived now (so the
    /// next step should not wait for the interval).
    pub fn behind(&self, window: Window, now_ns: i64, writer_lag: Duration) -> bool {
        self.next(Some(window.through_ns), now_ns, writer_lag)
            .is_some_and(|next| next.through_ns - next.after_ns >= nanos(self.interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn policy() -> WindowPolicy {
        WindowPolicy {
            wait: Duration::from_secs(30),
            interval: Duration::from_secs(15),
            max_len: Duration::from_secs(300),
        }
    }

    #[test]
    fn a_first_window_is_one_interval_ending_wait_plus_lag_before_now() {
        let window = policy().next(None, 1_000 * S, Duration::from_secs(2)).unwrap();
        assert_eq!(window, Window { after_ns: 953 * S, through_ns: 968 * S });
    }

    #[test]
    fn windows_follow_each_other_without_gap_and_wait_when_empty() {
        let policy = policy();
        let first = policy.next(None, 1_000 * S, Duration::ZERO).unwrap();
        let second = policy.next(Some(first.through_ns), 1_015 * S, Duration::ZERO).unwrap();
        assert_eq!(second.after_ns, first.through_ns);
        assert_eq!(second.through_ns, 985 * S);
        assert_eq!(policy.next(Some(second.through_ns), 1_015 * S, Duration::ZERO), None);
        // a writer 20 s behind holds the window back rather than miss its spans
        assert_eq!(policy.next(Some(second.through_ns), 1_030 * S, Duration::from_secs(20)), None);
    }

    #[test]
    fn catching_up_goes_in_windows_of_at_most_max_len() {
        let policy = policy();
        let window = policy.next(Some(0), 3_600 * S, Duration::ZERO).unwrap();
        assert_eq!(window, Window { after_ns: 0, through_ns: 300 * S });
        assert!(policy.behind(window, 3_600 * S, Duration::ZERO));
        let last = Window { after_ns: 3_500 * S, through_ns: 3_570 * S };
        assert!(!policy.behind(last, 3_600 * S, Duration::ZERO));
    }

    #[test]
    fn extreme_clocks_saturate_instead_of_wrapping() {
        let policy = WindowPolicy { max_len: Duration::MAX, ..policy() };
        assert_eq!(policy.next(None, i64::MIN, Duration::MAX), None);
        let window = policy.next(Some(i64::MIN), i64::MAX, Duration::ZERO).unwrap();
        assert_eq!(window.after_ns, i64::MIN);
        assert!(window.through_ns > window.after_ns);
    }
}
