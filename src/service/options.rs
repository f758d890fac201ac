//! `otlp_serve` options: defaults and validation, independent of SQL.

use crate::lake::compaction::CompactionPolicy;
use crate::lake::retention::Retention;
use canardstack_derive::window::WindowPolicy;
use std::path::PathBuf;
use std::time::Duration;

/// As long as the original canardstack kept data by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 86_400);

/// A window every 15 s (a scrape interval), 30 s behind the clock: SDKs'
/// batch exporters send a span within 5 s of its end by default, the
/// Collector's batch processor adds up to a few more.
pub const DEFAULT_SERVICE_GRAPH: WindowPolicy = WindowPolicy {
    wait: Duration::from_secs(30),
    interval: Duration::from_secs(15),
    max_len: Duration::from_secs(300),
};

/// Below this a target would not stay clear of the small files merged every round.
const MIN_TARGET_FILE_BYTES: u64 = 4 << 20;

#[derive(Clone, Debug, PartialEq)]
pub struct ServeOptions {
    pub port: u16,
    /// also serve OTLP/gRPC on this port (0 picks a free one); None: no gRPC
    pub grpc_port: Option<u16>,
    pub host: String,
    /// an attached DuckLake; None = the embedded default in `.canardstack/`
    pub catalog: Option<String>,
    pub schema: String,
    pub spool_dir: Option<PathBuf>,
    pub api_key: Option<String>,
    pub flush_interval: Duration,
    pub flush_rows: usize,
    /// flushes below this many rows per table are inlined in the catalog.
    /// Inlining costs per row (0.2-0.4 ms a row into a DuckDB catalog, the
    /// attribute maps being most of it) where a file costs per flush (10-20 ms):
    /// it pays below some 50 rows, which is the default
    pub inline_rows: u64,
    /// how often a maintenance round runs (inlined rows written out, retention,
    /// small files merged, old snapshots expired, unreferenced files deleted)
    pub compact_interval: Duration,
    /// how long each signal is kept
    pub retention: Retention,
    /// how long old snapshots (and the files only they reference) are kept,
    /// so queries that started before a change can still read their files
    pub snapshot_retention: Duration,
    /// merges aim at files of `target_file_bytes`, and take a busy writer's
    /// files once they are `settle_after` old
    pub compaction: CompactionPolicy,
    /// derive the service graph (`traces_service_graph_*`) from spans, a
    /// window of span end time every `interval`, `wait` behind the clock
    pub service_graph: Option<WindowPolicy>,
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    /// decoded items (records, spans, points, attributes, ...) per request
    pub max_items_per_request: usize,
    pub max_spool_bytes: u64,
    pub max_queue_bytes: usize,
    pub workers: usize,
    /// serve the Prometheus, Loki and Tempo query APIs on the same port
    pub compat: bool,
    /// wall-clock bound of one query API request
    pub query_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            port: 4318,
            grpc_port: None,
            host: "127.0.0.1".into(),
            catalog: None,
            schema: "otel".into(),
            spool_dir: None,
            api_key: None,
            flush_interval: Duration::from_millis(500),
            flush_rows: 200_000,
            inline_rows: 50,
            compact_interval: Duration::from_secs(60),
            retention: Retention {
                logs: Some(DEFAULT_RETENTION),
                traces: Some(DEFAULT_RETENTION),
                metrics: Some(DEFAULT_RETENTION),
            },
            snapshot_retention: Duration::from_secs(30 * 60),
            compaction: CompactionPolicy::default(),
            service_graph: Some(DEFAULT_SERVICE_GRAPH),
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_items_per_request: crate::otlp::DecodeLimits::DEFAULT_MAX_ITEMS,
            max_spool_bytes: 4 << 30,
            max_queue_bytes: 512 << 20,
            workers: 8,
            compat: true,
            query_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OptionsError {
    #[error("host := '{0}' is not a loopback address: set api_key := '...' to expose the receiver")]
    OpenWithoutKey(String),
    #[error("{name} must be {rule}, got {value}")]
    OutOfRange { name: &'static str, rule: &'static str, value: String },
    #[error("schema must not be empty")]
    EmptySchema,
    #[error("api_key must not be empty")]
    EmptyKey,
}

impl ServeOptions {
    pub fn validate(&self) -> Result<(), OptionsError> {
        if !is_loopback(&self.host) && self.api_key.is_none() {
            return Err(OptionsError::OpenWithoutKey(self.host.clone()));
        }
        if self.api_key.as_deref() == Some("") {
            return Err(OptionsError::EmptyKey);
        }
        if self.schema.is_empty() {
            return Err(OptionsError::EmptySchema);
        }
        positive("flush_interval", self.flush_interval.as_millis() as u64, "at least 1 millisecond")?;
        positive("flush_rows", self.flush_rows as u64, "at least 1")?;
        positive("compact_interval_ms", self.compact_interval.as_millis() as u64, "at least 1 millisecond")?;
        positive("max_body_bytes", self.max_body_bytes as u64, "at least 1")?;
        if self.compaction.target_file_bytes < MIN_TARGET_FILE_BYTES {
            return Err(OptionsError::OutOfRange {
                name: "target_file_bytes",
                rule: "at least 4194304 (4 MiB: files below 2 MiB are merged every round)",
                value: self.compaction.target_file_bytes.to_string(),
            });
        }
        if let Some(policy) = &self.service_graph {
            positive("service_graph_interval", policy.interval.as_millis() as u64, "at least 1 millisecond")?;
        }
        positive("max_spool_bytes", self.max_spool_bytes, "at least 1")?;
        positive("max_items_per_request", self.max_items_per_request as u64, "at least 1")?;
        positive("query_timeout_ms", self.query_timeout.as_millis() as u64, "at least 1 millisecond")?;
        positive("max_queue_bytes", self.max_queue_bytes as u64, "at least 1")?;
        if self.grpc_port.is_some_and(|grpc| grpc != 0 && grpc == self.port) {
            return Err(OptionsError::OutOfRange {
                name: "grpc_port",
                rule: "another port than the OTLP/HTTP one",
                value: self.port.to_string(),
            });
        }
        if !(1..=64).contains(&self.workers) {
            return Err(OptionsError::OutOfRange {
                name: "workers",
                rule: "between 1 and 64",
                value: self.workers.to_string(),
            });
        }
        Ok(())
    }
}

fn positive(name: &'static str, value: u64, rule: &'static str) -> Result<(), OptionsError> {
    if value == 0 {
        return Err(OptionsError::OutOfRange { name, rule, value: value.to_string() });
    }
    Ok(())
}

pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A retention of zero keeps data forever (as Loki's `retention_period: 0`).
pub fn kept_for(retention: Duration) -> Option<Duration> {
    (!retention.is_zero()).then_some(retention)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(ServeOptions::default().validate(), Ok(()));
    }

    #[test]
    fn non_loopback_host_needs_a_key() {
        let open = ServeOptions { host: "0.0.0.0".into(), ..ServeOptions::default() };
        assert_eq!(open.validate(), Err(OptionsError::OpenWithoutKey("0.0.0.0".into())));
        let keyed = ServeOptions { api_key: Some("k".into()), ..open };
        assert_eq!(keyed.validate(), Ok(()));
    }

    #[test]
    fn loopback_forms() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "10.1.2.3", "example.com", "::"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn zero_knobs_are_refused_by_name() {
        let bad = ServeOptions { flush_rows: 0, ..ServeOptions::default() };
        assert_eq!(bad.validate().unwrap_err().to_string(), "flush_rows must be at least 1, got 0");
        let bad = ServeOptions { workers: 0, ..ServeOptions::default() };
        assert_eq!(bad.validate().unwrap_err().to_string(), "workers must be between 1 and 64, got 0");
    }

    #[test]
    fn retention_defaults_to_fourteen_days_and_zero_keeps_forever() {
        let defaults = ServeOptions::default();
        assert_eq!(defaults.retention.logs, Some(Duration::from_secs(1_209_600)));
        assert_eq!(defaults.retention.metrics, defaults.retention.traces);
        assert_eq!(kept_for(Duration::ZERO), None);
        assert_eq!(kept_for(Duration::from_secs(60)), Some(Duration::from_secs(60)));
    }

    #[test]
    fn compaction_aims_at_128_mib_after_five_minutes_and_refuses_tiny_targets() {
        let defaults = ServeOptions::default();
        assert_eq!(defaults.compaction.target_file_bytes, 128 << 20);
        assert_eq!(defaults.compaction.settle_after, Duration::from_secs(300));
        let tiny = CompactionPolicy { target_file_bytes: (4 << 20) - 1, ..defaults.compaction };
        let bad = ServeOptions { compaction: tiny, ..defaults.clone() };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "target_file_bytes must be at least 4194304 (4 MiB: files below 2 MiB are merged every round), got 4194303"
        );
        let least = CompactionPolicy { target_file_bytes: 4 << 20, ..defaults.compaction };
        assert_eq!(ServeOptions { compaction: least, ..defaults }.validate(), Ok(()));
    }

    #[test]
    fn the_service_graph_is_on_every_fifteen_seconds_thirty_behind_and_needs_an_interval() {
        let defaults = ServeOptions::default();
        let policy = defaults.service_graph.expect("on by default");
        assert_eq!((policy.interval, policy.wait), (Duration::from_secs(15), Duration::from_secs(30)));
        let stalled = WindowPolicy { interval: Duration::ZERO, ..policy };
        let bad = ServeOptions { service_graph: Some(stalled), ..defaults.clone() };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "service_graph_interval must be at least 1 millisecond, got 0"
        );
        assert_eq!(ServeOptions { service_graph: None, ..defaults }.validate(), Ok(()));
    }

    #[test]
    fn grpc_is_off_by_default_and_needs_its_own_port() {
        assert_eq!(ServeOptions::default().grpc_port, None);
        let same = ServeOptions { port: 4318, grpc_port: Some(4318), ..ServeOptions::default() };
        assert_eq!(
            same.validate().unwrap_err().to_string(),
            "grpc_port must be another port than the OTLP/HTTP one, got 4318"
        );
        let both_free = ServeOptions { port: 0, grpc_port: Some(0), ..ServeOptions::default() };
        assert_eq!(both_free.validate(), Ok(()), "two free ports are two ports");
    }

    #[test]
    fn item_bound_defaults_to_a_million_and_is_positive() {
        assert_eq!(ServeOptions::default().max_items_per_request, 1_000_000);
        let bad = ServeOptions { max_items_per_request: 0, ..ServeOptions::default() };
        assert_eq!(bad.validate().unwrap_err().to_string(), "max_items_per_request must be at least 1, got 0");
    }
}
