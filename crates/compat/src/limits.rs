//! Bounds on what one API query may cost, so a careless dashboard cannot
//! stall ingest or exhaust memory: a wall-clock timeout (enforced inside
//! DuckDB by interrupting the connection, and in Rust evaluation by checking
//! a [`Deadline`]), and caps on series, points, range and returned lines.
//! Going over a bound is the protocol's own error, never a silent truncation.

use crate::Session;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub struct QueryLimits {
    pub timeout: Duration,
    /// distinct series one query may load or return
    pub max_series: usize,
    /// points per series in a range query (Prometheus refuses more than 11,000)
    pub max_points_per_series: usize,
    /// longest `end - start` of a query
    pub max_range: Duration,
    /// log lines or traces one query may return (caps `limit`)
    pub max_entries: usize,
    /// samples one PromQL query may load or compute (Prometheus' `query.max-samples`)
    pub max_samples: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(60),
            max_series: 50_000,
            max_points_per_series: 11_000,
            max_range: Duration::from_secs(32 * 24 * 3600),
            max_entries: 50_000,
            max_samples: canardstack_query::promql::eval::DEFAULT_MAX_SAMPLES,
        }
    }
}

/// The moment a query must give up; cheap to copy and check in loops.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout)
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.0
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

const REINTERRUPT_EVERY: Duration = Duration::from_millis(5);

/// Runs `work` on `con`; once it outlives `deadline`, DuckDB is told (again
/// and again until `work` returns) to interrupt whatever that connection is
/// executing, so the work fails with DuckDB's "Interrupted" error, which
/// callers report as a timeout.
pub fn interrupt_at<T>(session: &dyn Session, deadline: Deadline, work: impl FnOnce() -> T) -> T {
    let interrupt = session.interrupter();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::Builder::new().name("canardstack-query-timeout".into()).spawn(move || {
        let mut wait = deadline.remaining();
        // DuckDB drops an interrupt that arrives between two statements, so keep
        // interrupting until the work gives up
        while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(wait) {
            interrupt();
            wait = REINTERRUPT_EVERY;
        }
    });
    let result = work();
    let _ = done.send(());
    if let Ok(watchdog) = watchdog {
        let _ = watchdog.join();
    }
    result
}

/// True when a DuckDB error message is the interruption [`interrupt_at`] causes.
pub fn is_interrupted(message: &str) -> bool {
    message.contains("Interrupted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_expires() {
        let past = Deadline::after(Duration::ZERO);
        assert!(past.expired());
        assert_eq!(past.remaining(), Duration::ZERO);
        assert!(!Deadline::after(Duration::from_secs(60)).expired());
    }
}
