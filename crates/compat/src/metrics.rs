//! `/metrics`: canardstack's own counters in the Prometheus text exposition
//! format (version 0.0.4), the same numbers `otlp_status()` returns, plus the
//! query APIs' request counts and time spent.

use super::{Api, QueryCounter};
use canardstack_query::go_text::format_float;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The receiver's and the writer's counters, as `otlp_status()` and `/metrics` report them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    /// signal name -> requests / bytes accepted
    pub requests_accepted: BTreeMap<String, u64>,
    pub bytes_accepted: BTreeMap<String, u64>,
    /// "signal: reason" -> requests / bytes rejected
    pub requests_rejected: BTreeMap<String, u64>,
    pub bytes_rejected: BTreeMap<String, u64>,
    /// items dropped inside accepted requests (OTLP partial_success), by signal
    pub items_rejected: BTreeMap<String, u64>,
    /// table name -> rows committed
    pub rows_committed: BTreeMap<String, u64>,
    pub commits: u64,
    /// total time spent in commits
    pub commit_seconds: f64,
    pub last_commit_at: Option<SystemTime>,
    pub last_commit_duration: Option<Duration>,
    /// maintenance rounds finished, idle ones included (inlined rows flushed, retention,
    /// small files merged, snapshots expired, unreferenced files deleted)
    pub maintenance_rounds: u64,
    /// rounds in which a step failed (what it left undone is retried in the next round)
    pub maintenance_failures: u64,
    pub maintenance_seconds: f64,
    pub last_maintenance_at: Option<SystemTime>,
    /// table name -> rows deleted by retention
    pub retention_rows_deleted: BTreeMap<String, u64>,
    /// data files merged into larger ones, by table
    pub files_merged: BTreeMap<String, u64>,
    /// files maintenance deleted from storage (replaced, expired or orphaned)
    pub files_removed: u64,
    pub snapshots_expired: u64,
    /// table name -> live data and delete files / their bytes, as the last round measured them
    pub lake_files: BTreeMap<String, u64>,
    pub lake_bytes: BTreeMap<String, u64>,
    /// service graph steps run, windows of spans derived, requests counted in them,
    /// steps that failed (their window is tried again), new edges refused past the limit
    pub service_graph_steps: u64,
    /// time spent in service graph steps (reading a window's edges, writing its points)
    pub service_graph_seconds: f64,
    pub service_graph_windows: u64,
    pub service_graph_requests: u64,
    pub service_graph_failures: u64,
    pub service_graph_dropped_edges: u64,
    /// edges whose series are written, as the last step left them
    pub service_graph_series: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<SystemTime>,
}

/// Everything `/metrics` reports, gathered at one moment.
pub struct MetricsInput<'a> {
    pub ingest: &'a StatsSnapshot,
    pub spool_backlog_records: u64,
    pub spool_backlog_bytes: u64,
    /// None when the spool directory could not be listed
    pub spool_disk_bytes: Option<u64>,
    pub queue_bytes: u64,
    /// how long the oldest acknowledged record not yet committed has waited
    pub ingest_lag_seconds: f64,
    pub writer_healthy: bool,
    pub uptime_seconds: f64,
    pub queries: &'a BTreeMap<(Api, bool), QueryCounter>,
}

pub fn render(input: &MetricsInput) -> String {
    let mut out = Exposition::default();
    let s = input.ingest;

    out.family("canardstack_otlp_requests_total", "counter", "OTLP export requests by signal and outcome.");
    for (signal, count) in &s.requests_accepted {
        out.sample("canardstack_otlp_requests_total", &[("signal", signal), ("outcome", "accepted")], *count as f64);
    }
    for (key, count) in &s.requests_rejected {
        let (signal, reason) = split_rejection(key);
        let labels = [("signal", signal), ("outcome", "rejected"), ("reason", reason)];
        out.sample("canardstack_otlp_requests_total", &labels, *count as f64);
    }
    out.family("canardstack_otlp_bytes_total", "counter", "OTLP request body bytes by signal and outcome.");
    for (signal, bytes) in &s.bytes_accepted {
        out.sample("canardstack_otlp_bytes_total", &[("signal", signal), ("outcome", "accepted")], *bytes as f64);
    }
    for (key, bytes) in &s.bytes_rejected {
        let (signal, reason) = split_rejection(key);
        let labels = [("signal", signal), ("outcome", "rejected"), ("reason", reason)];
        out.sample("canardstack_otlp_bytes_total", &labels, *bytes as f64);
    }
    out.by_label(
        "canardstack_otlp_items_rejected_total",
        "counter",
        "Items dropped inside accepted requests.",
        "signal",
        &s.items_rejected,
    );
    out.by_label(
        "canardstack_rows_committed_total",
        "counter",
        "Rows committed to the lake by table.",
        "table",
        &s.rows_committed,
    );
    out.single("canardstack_commits_total", "counter", "Lake commits (one transaction per flush).", s.commits as f64);
    out.single(
        "canardstack_commit_duration_seconds_total",
        "counter",
        "Time spent committing flushes to the lake.",
        s.commit_seconds,
    );
    if let Some(duration) = s.last_commit_duration {
        out.single(
            "canardstack_last_commit_duration_seconds",
            "gauge",
            "Duration of the last commit.",
            duration.as_secs_f64(),
        );
    }
    if let Some(at) = s.last_commit_at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
        out.single(
            "canardstack_last_commit_timestamp_seconds",
            "gauge",
            "Unix time of the last commit.",
            at.as_secs_f64(),
        );
    }
    out.single(
        "canardstack_maintenance_rounds_total",
        "counter",
        "Maintenance rounds run beside the writer (inlined rows flushed, retention, small files merged, snapshots expired, unreferenced files deleted), idle ones included.",
        s.maintenance_rounds as f64,
    );
    out.single(
        "canardstack_maintenance_failures_total",
        "counter",
        "Maintenance rounds in which a step failed (retried in the next round).",
        s.maintenance_failures as f64,
    );
    out.single(
        "canardstack_maintenance_duration_seconds_total",
        "counter",
        "Time spent in maintenance rounds.",
        s.maintenance_seconds,
    );
    if let Some(at) = s.last_maintenance_at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
        out.single(
            "canardstack_last_maintenance_timestamp_seconds",
            "gauge",
            "Unix time the last maintenance round ended.",
            at.as_secs_f64(),
        );
    }
    out.by_label(
        "canardstack_retention_deleted_rows_total",
        "counter",
        "Rows deleted by retention, by table.",
        "table",
        &s.retention_rows_deleted,
    );
    out.by_label(
        "canardstack_maintenance_merged_files_total",
        "counter",
        "Data files maintenance merged into larger ones (toward the target file size), by table.",
        "table",
        &s.files_merged,
    );
    out.single(
        "canardstack_maintenance_removed_files_total",
        "counter",
        "Files maintenance deleted from storage (replaced by merges, dropped by retention, orphaned).",
        s.files_removed as f64,
    );
    out.single(
        "canardstack_maintenance_expired_snapshots_total",
        "counter",
        "Lake snapshots expired by maintenance.",
        s.snapshots_expired as f64,
    );
    out.by_label(
        "canardstack_lake_files",
        "gauge",
        "Live data and delete files per table, at the last maintenance round.",
        "table",
        &s.lake_files,
    );
    out.by_label(
        "canardstack_lake_bytes",
        "gauge",
        "Bytes of live data and delete files per table, at the last maintenance round.",
        "table",
        &s.lake_bytes,
    );
    out.single(
        "canardstack_service_graph_windows_total",
        "counter",
        "Windows of span end time the service graph was derived from.",
        s.service_graph_windows as f64,
    );
    out.single(
        "canardstack_service_graph_duration_seconds_total",
        "counter",
        "Time spent deriving the service graph (reading windows of spans, writing their points).",
        s.service_graph_seconds,
    );
    out.single(
        "canardstack_service_graph_requests_total",
        "counter",
        "Requests between services the service graph counted.",
        s.service_graph_requests as f64,
    );
    out.single(
        "canardstack_service_graph_failures_total",
        "counter",
        "Service graph steps that failed (their window is derived again at the next step).",
        s.service_graph_failures as f64,
    );
    out.single(
        "canardstack_service_graph_dropped_edges_total",
        "counter",
        "New service graph edges refused because the series limit was reached.",
        s.service_graph_dropped_edges as f64,
    );
    out.single(
        "canardstack_service_graph_series",
        "gauge",
        "Service graph edges whose series are written.",
        s.service_graph_series as f64,
    );
    out.single(
        "canardstack_spool_backlog_records",
        "gauge",
        "Spooled records not yet committed.",
        input.spool_backlog_records as f64,
    );
    out.single(
        "canardstack_spool_backlog_bytes",
        "gauge",
        "Bytes of spool segments not yet released.",
        input.spool_backlog_bytes as f64,
    );
    if let Some(bytes) = input.spool_disk_bytes {
        out.single(
            "canardstack_spool_disk_bytes",
            "gauge",
            "Bytes the spool's segment files take on disk (unreleased records, the active segment, spares).",
            bytes as f64,
        );
    }
    out.single(
        "canardstack_ingest_lag_seconds",
        "gauge",
        "How long the oldest acknowledged record not yet queryable has waited (0 when all are committed).",
        input.ingest_lag_seconds,
    );
    out.single(
        "canardstack_write_queue_bytes",
        "gauge",
        "Decoded bytes waiting for the writer.",
        input.queue_bytes as f64,
    );
    out.single(
        "canardstack_writer_healthy",
        "gauge",
        "1 when the lake writer is committing.",
        f64::from(u8::from(input.writer_healthy)),
    );
    out.single("canardstack_uptime_seconds", "gauge", "Seconds since otlp_serve started.", input.uptime_seconds);

    out.family("canardstack_query_requests_total", "counter", "Query API requests by API and outcome.");
    for ((api, ok), counter) in input.queries {
        out.sample(
            "canardstack_query_requests_total",
            &[("api", api.name()), ("outcome", outcome(*ok))],
            counter.requests as f64,
        );
    }
    out.family("canardstack_query_duration_seconds_total", "counter", "Time spent answering query API requests.");
    for ((api, ok), counter) in input.queries {
        out.sample(
            "canardstack_query_duration_seconds_total",
            &[("api", api.name()), ("outcome", outcome(*ok))],
            counter.seconds,
        );
    }
    out.text
}

fn outcome(ok: bool) -> &'static str {
    if ok {
        "success"
    } else {
        "error"
    }
}

/// Rejection keys are "signal: reason" (see `ingest::stats`).
fn split_rejection(key: &str) -> (&str, &str) {
    key.split_once(": ").unwrap_or((key, ""))
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A family with one sample per entry of `values`, keyed by the label `label`.
    fn by_label(&mut self, name: &str, kind: &str, help: &str, label: &str, values: &BTreeMap<String, u64>) {
        self.family(name, kind, help);
        for (key, value) in values {
            self.sample(name, &[(label, key)], *value as f64);
        }
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let rendered: Vec<String> =
                labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v))).collect();
            let _ = write!(self.text, "{{{}}}", rendered.join(","));
        }
        let _ = writeln!(self.text, " {}", format_float(value));
    }
}

fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_counters_with_labels() {
        let mut ingest = StatsSnapshot::default();
        ingest.requests_accepted.insert("logs".into(), 3);
        ingest.requests_rejected.insert("traces: 400 invalid \"protobuf\"".into(), 1);
        ingest.rows_committed.insert("logs".into(), 1500);
        ingest.commits = 2;
        ingest.commit_seconds = 0.25;
        ingest.last_commit_duration = Some(Duration::from_millis(125));
        ingest.maintenance_rounds = 3;
        ingest.maintenance_failures = 1;
        ingest.maintenance_seconds = 0.5;
        ingest.retention_rows_deleted.insert("spans".into(), 40);
        ingest.files_removed = 6;
        ingest.files_merged.insert("logs".into(), 12);
        ingest.snapshots_expired = 9;
        ingest.lake_files.insert("logs".into(), 2);
        ingest.lake_bytes.insert("logs".into(), 2048);
        ingest.service_graph_windows = 4;
        ingest.service_graph_seconds = 0.5;
        ingest.service_graph_requests = 30;
        ingest.service_graph_failures = 1;
        ingest.service_graph_series = 3;
        let queries = BTreeMap::from([((Api::Loki, true), QueryCounter { requests: 4, seconds: 1.5 })]);
        let input = MetricsInput {
            ingest: &ingest,
            spool_backlog_records: 7,
            spool_backlog_bytes: 4096,
            spool_disk_bytes: Some(65536),
            queue_bytes: 0,
            ingest_lag_seconds: 0.75,
            writer_healthy: true,
            uptime_seconds: 12.5,
            queries: &queries,
        };
        let text = render(&input);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            vec![
                "canardstack_otlp_requests_total{signal=\"logs\",outcome=\"accepted\"} 3",
                "canardstack_otlp_requests_total{signal=\"traces\",outcome=\"rejected\",reason=\"400 invalid \\\"protobuf\\\"\"} 1",
                "canardstack_rows_committed_total{table=\"logs\"} 1500",
                "canardstack_commits_total 2",
                "canardstack_commit_duration_seconds_total 0.25",
                "canardstack_last_commit_duration_seconds 0.125",
                "canardstack_maintenance_rounds_total 3",
                "canardstack_maintenance_failures_total 1",
                "canardstack_maintenance_duration_seconds_total 0.5",
                "canardstack_retention_deleted_rows_total{table=\"spans\"} 40",
                "canardstack_maintenance_merged_files_total{table=\"logs\"} 12",
                "canardstack_maintenance_removed_files_total 6",
                "canardstack_maintenance_expired_snapshots_total 9",
                "canardstack_lake_files{table=\"logs\"} 2",
                "canardstack_lake_bytes{table=\"logs\"} 2048",
                "canardstack_service_graph_windows_total 4",
                "canardstack_service_graph_duration_seconds_total 0.5",
                "canardstack_service_graph_requests_total 30",
                "canardstack_service_graph_failures_total 1",
                "canardstack_service_graph_dropped_edges_total 0",
                "canardstack_service_graph_series 3",
                "canardstack_spool_backlog_records 7",
                "canardstack_spool_backlog_bytes 4096",
                "canardstack_spool_disk_bytes 65536",
                "canardstack_ingest_lag_seconds 0.75",
                "canardstack_write_queue_bytes 0",
                "canardstack_writer_healthy 1",
                "canardstack_uptime_seconds 12.5",
                "canardstack_query_requests_total{api=\"loki\",outcome=\"success\"} 4",
                "canardstack_query_duration_seconds_total{api=\"loki\",outcome=\"success\"} 1.5",
            ]
        );
        assert!(text.contains("# TYPE canardstack_commits_total counter\n"));
    }
}
