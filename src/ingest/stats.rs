//! Counters behind `otlp_status()` and `/metrics`.
//!
//! One mutex around plain maps: a request takes it twice at most, which is
//! noise next to decoding and the fsync, and it keeps the snapshot consistent.

use crate::compat::metrics::StatsSnapshot;
use crate::lake::maintenance::RoundReport;
use crate::lake::service_graph::StepReport;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Default)]
pub struct Stats {
    inner: Mutex<StatsSnapshot>,
}

impl Stats {
    pub fn accepted(&self, signal: &str, bytes: usize, items_rejected: u64) {
        let mut s = self.lock();
        *s.requests_accepted.entry(signal.to_string()).or_default() += 1;
        *s.bytes_accepted.entry(signal.to_string()).or_default() += bytes as u64;
        if items_rejected > 0 {
            *s.items_rejected.entry(signal.to_string()).or_default() += items_rejected;
        }
    }

    pub fn rejected(&self, signal: &str, reason: &str, bytes: usize) {
        let key = format!("{signal}: {reason}");
        let mut s = self.lock();
        *s.requests_rejected.entry(key.clone()).or_default() += 1;
        *s.bytes_rejected.entry(key).or_default() += bytes as u64;
    }

    pub fn committed(&self, rows_by_table: &BTreeMap<String, u64>, duration: Duration) {
        let mut s = self.lock();
        for (table, rows) in rows_by_table {
            *s.rows_committed.entry(table.clone()).or_default() += rows;
        }
        s.commits += 1;
        s.commit_seconds += duration.as_secs_f64();
        s.last_commit_at = Some(SystemTime::now());
        s.last_commit_duration = Some(duration);
    }

    /// A round ended; a dry run's figures are what would have been deleted, so only its time counts.
    pub fn maintained(&self, duration: Duration, report: &RoundReport) {
        let mut s = self.lock();
        s.maintenance_rounds += 1;
        s.maintenance_failures += u64::from(report.error.is_some());
        s.maintenance_seconds += duration.as_secs_f64();
        s.last_maintenance_at = Some(SystemTime::now());
        if report.dry_run {
            return;
        }
        for (table, done) in &report.tables {
            if done.rows_deleted > 0 {
                *s.retention_rows_deleted.entry(table.name().to_string()).or_default() += done.rows_deleted;
            }
            if done.files_merged > 0 {
                *s.files_merged.entry(table.name().to_string()).or_default() += done.files_merged;
            }
        }
        s.files_removed += report.files_removed();
        s.snapshots_expired += report.snapshots_expired;
        for (table, footprint) in &report.footprint {
            s.lake_files.insert(table.name().to_string(), footprint.files);
            s.lake_bytes.insert(table.name().to_string(), footprint.bytes);
        }
    }

    /// A service graph step ended (one that found no window due counts too).
    pub fn service_graph_step(&self, report: &StepReport, duration: Duration) {
        let mut s = self.lock();
        s.service_graph_steps += 1;
        s.service_graph_seconds += duration.as_secs_f64();
        s.service_graph_windows += u64::from(report.window.is_some());
        s.service_graph_requests += report.requests;
        s.service_graph_dropped_edges += report.dropped_edges;
        s.service_graph_series = report.series as u64;
    }

    pub fn service_graph_failed(&self, message: String, duration: Duration) {
        let mut s = self.lock();
        s.service_graph_steps += 1;
        s.service_graph_seconds += duration.as_secs_f64();
        s.service_graph_failures += 1;
        s.last_error = Some(message);
        s.last_error_at = Some(SystemTime::now());
    }

    pub fn error(&self, message: String) {
        let mut s = self.lock();
        s.last_error = Some(message);
        s.last_error_at = Some(SystemTime::now());
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatsSnapshot> {
        // counters stay meaningful even if a holder panicked mid-update
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::maintenance::Footprint;
    use crate::otlp::schema::Table;

    #[test]
    fn counts_by_signal_reason_and_table() {
        let stats = Stats::default();
        stats.accepted("logs", 100, 0);
        stats.accepted("logs", 50, 2);
        stats.rejected("traces", "400 invalid protobuf", 7);
        stats.committed(&BTreeMap::from([("logs".to_string(), 30)]), Duration::from_millis(5));
        stats
            .committed(&BTreeMap::from([("logs".to_string(), 12), ("spans".to_string(), 1)]), Duration::from_millis(9));
        let s = stats.snapshot();
        assert_eq!(s.requests_accepted["logs"], 2);
        assert_eq!(s.bytes_accepted["logs"], 150);
        assert_eq!(s.items_rejected["logs"], 2);
        assert_eq!(s.requests_rejected["traces: 400 invalid protobuf"], 1);
        assert_eq!(s.bytes_rejected["traces: 400 invalid protobuf"], 7);
        assert_eq!(s.rows_committed["logs"], 42);
        assert_eq!(s.rows_committed["spans"], 1);
        assert_eq!(s.commits, 2);
        assert_eq!(s.last_commit_duration, Some(Duration::from_millis(9)));
        let mut round = RoundReport::default();
        round.tables.entry(Table::Spans).or_default().rows_deleted = 40;
        round.tables.entry(Table::Spans).or_default().files_removed = 2;
        round.tables.entry(Table::Logs).or_default().files_merged = 7;
        round.other_files_removed = 1;
        round.snapshots_expired = 5;
        round.footprint.insert(Table::Logs, Footprint { files: 3, bytes: 4096 });
        stats.maintained(Duration::from_millis(250), &round);
        let failed = RoundReport { error: Some("merge failed".into()), ..round.clone() };
        stats.maintained(Duration::from_millis(500), &failed);
        stats.maintained(Duration::from_millis(0), &RoundReport { dry_run: true, ..round });
        let s = stats.snapshot();
        assert_eq!((s.maintenance_rounds, s.maintenance_failures, s.maintenance_seconds), (3, 1, 0.75));
        assert_eq!(s.retention_rows_deleted["spans"], 80, "a dry run deletes nothing");
        assert_eq!((s.files_removed, s.snapshots_expired), (6, 10));
        assert_eq!(s.files_merged, BTreeMap::from([("logs".to_string(), 14)]), "a dry run merges nothing");
        assert_eq!((s.lake_files["logs"], s.lake_bytes["logs"]), (3, 4096));
    }
}
