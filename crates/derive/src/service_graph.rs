//! The service graph: requests between services, counted from pairs of spans
//! as Tempo's metrics-generator counts them, and written as the metrics
//! Grafana's service graph reads (`traces_service_graph_request_total`,
//! `..._failed_total`, `..._server_seconds` and `..._client_seconds`
//! histograms, labelled `client`, `server` and `connection_type`).
//!
//! An edge is:
//! - a CLIENT span and the SERVER span whose parent it is (a PRODUCER and its
//!   CONSUMER: `connection_type="messaging_system"`);
//! - a CLIENT span with a `db.name` attribute on its own (databases send no
//!   spans): the server is the database, `connection_type="database"`;
//! - a root SERVER span: the client is `user`, `connection_type="virtual_node"`;
//! - a CLIENT span no SERVER span answered, named by `peer.service`,
//!   `db.name` or `db.system`: `connection_type="virtual_node"`.
//!
//! It fails when either span's status is ERROR. The server latency is the
//! SERVER span's duration, the client latency the CLIENT span's; an edge with
//! one side only observes 0 for the other, as Tempo does. A pair is counted in
//! the window holding the later of its two end times, and only when the two
//! ends lie within [`MAX_END_GAP`] of each other. A span sent twice (an
//! exporter's retry) counts once within a window: spans are read distinct by
//! trace and span id, which also keeps the pairing join linear.

use crate::window::Window;
use canardstack_query::sql_text::{sql_string, LakeTarget};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// The generator's name in the progress table.
pub const GENERATOR: &str = "service_graph";

/// The scope the derived points carry, so they can be told from sent ones.
pub const SCOPE_NAME: &str = "canardstack.service_graph";

/// Tempo's default buckets for the service graph histograms, in seconds.
pub const BUCKET_BOUNDS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// One count per bucket, the last for values above every bound.
pub const BUCKETS: usize = BUCKET_BOUNDS.len() + 1;

/// How far apart a caller's and its callee's end times may be for the two to
/// pair (as long as Tempo's generator waits for an edge's other side): it
/// bounds the spans one window reads to the window plus this much. At 60 s a
/// window under a heavy trace load read five times its own spans and took 3 s.
pub const MAX_END_GAP: Duration = Duration::from_secs(10);

/// A series that has not changed for this long is no longer written (Tempo's
/// default `stale_duration`), so it ends as Prometheus' staleness would end it.
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// Edges kept at once (Tempo's default `max_items`); new edges past it are
/// dropped and counted rather than letting span attributes grow memory.
pub const MAX_SERIES: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    pub client: String,
    pub server: String,
    /// "", "messaging_system", "database" or "virtual_node"
    pub connection_type: String,
}

/// Latencies observed into [`BUCKET_BOUNDS`]: a count per bucket (not
/// cumulative, as OTLP histograms keep them) and their sum in seconds.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Latencies {
    pub buckets: [u64; BUCKETS],
    pub sum: f64,
}

impl Latencies {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    fn add(&mut self, other: &Latencies) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine = mine.saturating_add(theirs);
        }
        self.sum += other.sum;
    }
}

/// What one window (or, summed, the time since start) counted for one edge.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeCounts {
    pub edge: Edge,
    pub requests: u64,
    pub failed: u64,
    pub server: Latencies,
    pub client: Latencies,
}

impl EdgeCounts {
    fn zero(edge: Edge) -> Self {
        EdgeCounts { edge, requests: 0, failed: 0, server: Latencies::default(), client: Latencies::default() }
    }

    fn add(&mut self, other: &EdgeCounts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.failed = self.failed.saturating_add(other.failed);
        self.server.add(&other.server);
        self.client.add(&other.client);
    }
}

fn timestamp_ns(ns: i64) -> String {
    format!("make_timestamp_ns({ns})")
}

/// `[count_if(x <= 0.1), count_if(x > 0.1 AND x <= 0.2), ..., count_if(x > 12.8)]`
fn bucket_counts_sql(seconds: &str) -> String {
    let mut parts = Vec::with_capacity(BUCKETS);
    let mut lower: Option<f64> = None;
    for bound in BUCKET_BOUNDS {
        parts.push(match lower {
            None => format!("count_if({seconds} <= {bound})"),
            Some(low) => format!("count_if({seconds} > {low} AND {seconds} <= {bound})"),
        });
        lower = Some(bound);
    }
    parts.push(format!("count_if({seconds} > {})", BUCKET_BOUNDS[BUCKET_BOUNDS.len() - 1]));
    format!("[{}]::UBIGINT[]", parts.join(", "))
}

/// The edges whose later end time falls in `window`, one row per edge:
/// `client, server, connection_type, requests, failed, server_buckets,
/// server_sum, client_buckets, client_sum`, ordered by edge.
pub fn edges_sql(target: &LakeTarget, window: Window) -> String {
    let spans = target.qualified("spans");
    let gap_ns = i64::try_from(MAX_END_GAP.as_nanos()).unwrap_or(i64::MAX);
    let read_from = timestamp_ns(window.after_ns.saturating_sub(gap_ns));
    let after = timestamp_ns(window.after_ns);
    let through = timestamp_ns(window.through_ns);
    format!(
        "WITH spans AS (
    SELECT DISTINCT ON (trace_id, span_id) trace_id, span_id, parent_span_id, span_kind AS kind, coalesce(service_name, '') AS service,
           status_code = 'Error' AS failed, duration / 1e9 AS seconds, end_timestamp AS ended,
           span_attributes['db.name'] AS db_name,
           coalesce(span_attributes['peer.service'], span_attributes['db.name'], span_attributes['db.system']) AS peer
    FROM {spans}
    WHERE end_timestamp > {read_from} AND end_timestamp <= {through}
      AND span_kind IN ('Client', 'Server', 'Producer', 'Consumer')
),
callers AS (SELECT * FROM spans WHERE kind IN ('Client', 'Producer') AND db_name IS NULL),
callees AS (SELECT * FROM spans WHERE kind IN ('Server', 'Consumer')),
paired AS (
    SELECT caller.service AS client, callee.service AS server,
           CASE caller.kind WHEN 'Producer' THEN 'messaging_system' ELSE '' END AS connection_type,
           caller.failed OR callee.failed AS failed, callee.seconds AS server_seconds, caller.seconds AS client_seconds,
           greatest(caller.ended, callee.ended) AS ended
    FROM callers AS caller JOIN callees AS callee
      ON callee.trace_id = caller.trace_id AND callee.parent_span_id = caller.span_id
     AND (caller.kind = 'Client') = (callee.kind = 'Server')
),
edges AS (
    SELECT client, server, connection_type, failed, server_seconds, client_seconds
    FROM paired WHERE ended > {after}
    UNION ALL
    SELECT service, db_name, 'database', failed, seconds, seconds
    FROM spans WHERE kind = 'Client' AND db_name IS NOT NULL AND ended > {after}
    UNION ALL
    SELECT 'user', service, 'virtual_node', failed, seconds, 0
    FROM spans WHERE kind = 'Server' AND coalesce(parent_span_id, '') = '' AND ended > {after}
    UNION ALL
    SELECT caller.service, caller.peer, 'virtual_node', caller.failed, 0, caller.seconds
    FROM callers AS caller
    WHERE caller.kind = 'Client' AND caller.peer IS NOT NULL AND caller.ended > {after}
      AND NOT EXISTS (
          SELECT 1 FROM callees AS callee
          WHERE callee.trace_id = caller.trace_id AND callee.parent_span_id = caller.span_id)
)
SELECT client, server, connection_type, count(*)::UBIGINT AS requests, count_if(failed)::UBIGINT AS failed,
       {server_buckets} AS server_buckets, coalesce(sum(server_seconds), 0)::DOUBLE AS server_sum,
       {client_buckets} AS client_buckets, coalesce(sum(client_seconds), 0)::DOUBLE AS client_sum
FROM edges
GROUP BY client, server, connection_type
ORDER BY client, server, connection_type",
        server_buckets = bucket_counts_sql("server_seconds"),
        client_buckets = bucket_counts_sql("client_seconds"),
    )
}

#[derive(Clone, Debug, PartialEq)]
struct Series {
    totals: EdgeCounts,
    changed_ns: i64,
    /// first counted in the last window: its points start with a zero at the
    /// window's start, so `increase` sees the first requests (Prometheus
    /// cannot tell how a series' first sample came about)
    fresh: bool,
    /// first failed in the last window: the failed counter starts with a zero too
    failed_fresh: bool,
}

/// The cumulative counters of every live edge since the start of the first
/// window derived. A restart starts them again from zero, with a later start
/// time: a counter reset, which `rate` and `increase` account for.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ServiceGraph {
    started_ns: Option<i64>,
    series: BTreeMap<Edge, Series>,
    /// window counts of new edges refused because [`MAX_SERIES`] were live
    pub dropped_edges: u64,
}

impl ServiceGraph {
    pub fn series(&self) -> usize {
        self.series.len()
    }

    /// The counters after `window` counted `counts`; series unchanged for
    /// [`STALE_AFTER`] are let go first. A new state rather than a change in
    /// place, so a window whose commit fails leaves the counters as they were.
    pub fn advanced(&self, counts: &[EdgeCounts], window: Window) -> ServiceGraph {
        let stale_ns = i64::try_from(STALE_AFTER.as_nanos()).unwrap_or(i64::MAX);
        let at_ns = window.through_ns;
        let mut next = self.clone();
        next.started_ns.get_or_insert(window.after_ns);
        next.series.retain(|_, series| at_ns.saturating_sub(series.changed_ns) < stale_ns);
        for series in next.series.values_mut() {
            series.fresh = false;
            series.failed_fresh = false;
        }
        for counts in counts {
            if !next.series.contains_key(&counts.edge) && next.series.len() >= MAX_SERIES {
                next.dropped_edges = next.dropped_edges.saturating_add(1);
                continue;
            }
            let series = next.series.entry(counts.edge.clone()).or_insert_with(|| Series {
                totals: EdgeCounts::zero(counts.edge.clone()),
                changed_ns: at_ns,
                fresh: true,
                failed_fresh: false,
            });
            let had_failed = series.totals.failed > 0;
            series.totals.add(counts);
            series.failed_fresh |= !had_failed && series.totals.failed > 0;
            series.changed_ns = at_ns;
        }
        next
    }

    /// The statements that write every live series' value at the end of
    /// `window` (counters into `metrics_sum`, latencies into
    /// `metrics_histogram`), and a zero at its start for the series it
    /// created; empty when no series is live. The failed counter of an edge
    /// appears once it has failed, as a Prometheus counter with labels does.
    pub fn insert_sql(&self, target: &LakeTarget, window: Window) -> Vec<String> {
        if self.series.is_empty() {
            return Vec::new();
        }
        let mut sums = Vec::new();
        let mut histograms = Vec::new();
        for series in self.series.values() {
            self.series_rows(series, &mut sums, &mut histograms, window);
        }
        vec![
            format!(
                "INSERT INTO {} (resource_attributes, scope_name, metric_name, metric_description, metric_unit, \
                 attributes, start_timestamp, \"timestamp\", flags, value, aggregation_temporality, is_monotonic) \
                 VALUES {}",
                target.qualified("metrics_sum"),
                sums.join(", ")
            ),
            format!(
                "INSERT INTO {} (resource_attributes, scope_name, metric_name, metric_description, metric_unit, \
                 attributes, start_timestamp, \"timestamp\", flags, \"count\", \"sum\", bucket_counts, \
                 explicit_bounds, aggregation_temporality) VALUES {}",
                target.qualified("metrics_histogram"),
                histograms.join(", ")
            ),
        ]
    }

    fn series_rows(&self, series: &Series, sums: &mut Vec<String>, histograms: &mut Vec<String>, window: Window) {
        let totals = &series.totals;
        let labels = labels_sql(&totals.edge);
        let zero = Latencies::default();
        let (zero_at, at) = (window.after_ns, window.through_ns);
        if series.fresh {
            sums.push(self.sum_row(&labels, REQUESTS, 0, zero_at));
            histograms.push(self.histogram_row(&labels, SERVER_SECONDS, &zero, zero_at));
            histograms.push(self.histogram_row(&labels, CLIENT_SECONDS, &zero, zero_at));
        }
        sums.push(self.sum_row(&labels, REQUESTS, totals.requests, at));
        if totals.failed > 0 {
            if series.failed_fresh {
                sums.push(self.sum_row(&labels, FAILED, 0, zero_at));
            }
            sums.push(self.sum_row(&labels, FAILED, totals.failed, at));
        }
        histograms.push(self.histogram_row(&labels, SERVER_SECONDS, &totals.server, at));
        histograms.push(self.histogram_row(&labels, CLIENT_SECONDS, &totals.client, at));
    }

    fn common_sql(&self, labels: &str, metric: &Metric, at_ns: i64) -> String {
        format!(
            "(MAP {{}}, {}, {}, {}, {}, {labels}, {}, {}, 0",
            sql_string(SCOPE_NAME),
            sql_string(metric.name),
            sql_string(metric.help),
            sql_string(metric.unit),
            timestamp_ns(self.started_ns.unwrap_or(at_ns)),
            timestamp_ns(at_ns),
        )
    }

    fn sum_row(&self, labels: &str, metric: &Metric, value: u64, at_ns: i64) -> String {
        // cumulative (2), monotonic
        format!("{}, {value}, 2, true)", self.common_sql(labels, metric, at_ns))
    }

    fn histogram_row(&self, labels: &str, metric: &Metric, latencies: &Latencies, at_ns: i64) -> String {
        let mut buckets = String::new();
        for (i, count) in latencies.buckets.iter().enumerate() {
            let _ = write!(buckets, "{}{count}", if i == 0 { "" } else { ", " });
        }
        let bounds: Vec<String> = BUCKET_BOUNDS.iter().map(|b| b.to_string()).collect();
        format!(
            "{}, {}, {}, [{buckets}]::UBIGINT[], [{}]::DOUBLE[], 2)",
            self.common_sql(labels, metric, at_ns),
            latencies.count(),
            double_sql(latencies.sum),
            bounds.join(", ")
        )
    }
}

/// A metric the graph writes, as OTLP names it (the unit `s` gives no
/// suffix: the names already end in `seconds`).
struct Metric {
    name: &'static str,
    help: &'static str,
    unit: &'static str,
}

const REQUESTS: &Metric = &Metric {
    name: "traces_service_graph_request_total",
    help: "Requests between two services, counted from client and server spans.",
    unit: "",
};
const FAILED: &Metric = &Metric {
    name: "traces_service_graph_request_failed_total",
    help: "Requests between two services in which either span failed.",
    unit: "",
};
const SERVER_SECONDS: &Metric = &Metric {
    name: "traces_service_graph_request_server_seconds",
    help: "Time the server spent on requests between two services.",
    unit: "s",
};
const CLIENT_SECONDS: &Metric = &Metric {
    name: "traces_service_graph_request_client_seconds",
    help: "Time the client waited on requests between two services.",
    unit: "s",
};

fn labels_sql(edge: &Edge) -> String {
    format!(
        "MAP {{'client': {}, 'server': {}, 'connection_type': {}}}",
        sql_string(&edge.client),
        sql_string(&edge.server),
        sql_string(&edge.connection_type)
    )
}

fn double_sql(value: f64) -> String {
    if value.is_finite() {
        format!("{value:?}::DOUBLE")
    } else {
        format!("'{value}'::DOUBLE")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> LakeTarget {
        LakeTarget { catalog: "lake".into(), schema: "otel".into() }
    }

    /// The window of five nanoseconds up to `through_ns`.
    fn upto(through_ns: i64) -> Window {
        Window { after_ns: through_ns - 5, through_ns }
    }

    fn edge(client: &str, server: &str) -> Edge {
        Edge { client: client.into(), server: server.into(), connection_type: String::new() }
    }

    fn counts(edge: Edge, requests: u64, failed: u64) -> EdgeCounts {
        let mut server = Latencies::default();
        server.buckets[0] = requests;
        server.sum = 0.05 * requests as f64;
        EdgeCounts { edge, requests, failed, server, client: Latencies::default() }
    }

    #[test]
    fn counters_add_up_across_windows_and_stale_series_go() {
        let graph = ServiceGraph::default();
        let graph = graph.advanced(&[counts(edge("api", "db"), 3, 1), counts(edge("web", "api"), 2, 0)], upto(10));
        let graph = graph.advanced(&[counts(edge("api", "db"), 4, 0)], upto(20));
        assert_eq!(graph.series(), 2);
        let api_db = &graph.series[&edge("api", "db")].totals;
        assert_eq!((api_db.requests, api_db.failed, api_db.server.buckets[0], api_db.server.count()), (7, 1, 7, 7));
        let later = 15 + STALE_AFTER.as_nanos() as i64;
        let graph = graph.advanced(&[], upto(later));
        assert_eq!(graph.series(), 1, "web -> api last changed at 10, api -> db at 20");
        assert!(graph.series.contains_key(&edge("api", "db")));
        assert_eq!(graph.advanced(&[], upto(later + 10)).series(), 0);
    }

    #[test]
    fn a_refused_window_leaves_the_counters_as_they_were() {
        let graph = ServiceGraph::default().advanced(&[counts(edge("a", "b"), 1, 0)], upto(10));
        let before = graph.clone();
        let _tentative = graph.advanced(&[counts(edge("a", "b"), 5, 5)], upto(20));
        assert_eq!(graph, before);
    }

    #[test]
    fn new_edges_past_the_limit_are_dropped_and_counted() {
        let many: Vec<EdgeCounts> = (0..MAX_SERIES + 3).map(|i| counts(edge("c", &format!("s{i}")), 1, 0)).collect();
        let graph = ServiceGraph::default().advanced(&many, upto(10));
        assert_eq!((graph.series(), graph.dropped_edges), (MAX_SERIES, 3));
        let graph = graph.advanced(&[counts(edge("c", "s0"), 1, 0)], upto(20));
        assert_eq!(graph.series[&edge("c", "s0")].totals.requests, 2, "a known edge still counts");
    }

    #[test]
    fn rows_carry_the_labels_grafana_groups_by() {
        let graph = ServiceGraph::default().advanced(&[counts(edge("o'brien", "db"), 2, 0)], upto(10));
        let sql = graph.insert_sql(&target(), Window { after_ns: 7, through_ns: 10 });
        assert_eq!(sql.len(), 2);
        let labels = "MAP {'client': 'o''brien', 'server': 'db', 'connection_type': ''}";
        assert!(sql[0].starts_with("INSERT INTO \"lake\".\"otel\".\"metrics_sum\" ("));
        let help = REQUESTS.help;
        assert!(
            sql[0].ends_with(&format!(
                "VALUES (MAP {{}}, 'canardstack.service_graph', 'traces_service_graph_request_total', '{help}', '', \
             {labels}, make_timestamp_ns(5), make_timestamp_ns(7), 0, 0, 2, true), \
             (MAP {{}}, 'canardstack.service_graph', 'traces_service_graph_request_total', '{help}', '', \
             {labels}, make_timestamp_ns(5), make_timestamp_ns(10), 0, 2, 2, true)"
            )),
            "a new series starts with a zero at the window's start"
        );
        assert!(!sql[0].contains("failed_total"), "no failure yet, no failed series");
        let help = SERVER_SECONDS.help;
        assert!(sql[1].contains(&format!(
            "'traces_service_graph_request_server_seconds', '{help}', 's', {labels}, make_timestamp_ns(5), \
             make_timestamp_ns(10), 0, 2, 0.1::DOUBLE, [2, 0, 0, 0, 0, 0, 0, 0, 0]::UBIGINT[], \
             [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]::DOUBLE[], 2)"
        )));
        assert!(ServiceGraph::default().insert_sql(&target(), Window { after_ns: 7, through_ns: 10 }).is_empty());
        let later = graph.advanced(&[], upto(20)).insert_sql(&target(), Window { after_ns: 10, through_ns: 20 });
        assert!(!later[0].contains("make_timestamp_ns(10)"), "no second zero: {}", later[0]);
        assert!(later[0].ends_with("make_timestamp_ns(20), 0, 2, 2, true)"));
    }

    #[test]
    fn failed_counter_appears_with_the_first_failure_starting_at_zero() {
        let graph = ServiceGraph::default().advanced(&[counts(edge("a", "b"), 2, 0)], upto(10));
        let sql = graph.insert_sql(&target(), Window { after_ns: 5, through_ns: 10 });
        assert!(!sql[0].contains("failed_total"));
        let graph = graph.advanced(&[counts(edge("a", "b"), 1, 1)], upto(20));
        let sql = graph.insert_sql(&target(), Window { after_ns: 10, through_ns: 20 });
        let failed: Vec<&str> = sql[0].split("), (").filter(|row| row.contains("failed_total")).collect();
        assert_eq!(failed.len(), 2, "{}", sql[0]);
        assert!(failed[0].ends_with("make_timestamp_ns(10), 0, 0, 2, true"));
        assert!(failed[1].ends_with("make_timestamp_ns(20), 0, 1, 2, true)"));
        let sql = graph.advanced(&[], upto(30)).insert_sql(&target(), Window { after_ns: 20, through_ns: 30 });
        assert_eq!(sql[0].matches("failed_total").count(), 1, "the zero comes once");
    }

    #[test]
    fn edges_query_reads_one_gap_before_the_window_and_buckets_every_bound() {
        let sql = edges_sql(&target(), Window { after_ns: 100_000_000_000, through_ns: 115_000_000_000 });
        assert!(sql.contains(
            "WHERE end_timestamp > make_timestamp_ns(90000000000) AND end_timestamp <= make_timestamp_ns(115000000000)"
        ));
        assert!(sql.contains("FROM paired WHERE ended > make_timestamp_ns(100000000000)"));
        assert!(sql
            .contains("[count_if(server_seconds <= 0.1), count_if(server_seconds > 0.1 AND server_seconds <= 0.2), "));
        assert!(sql.contains("count_if(client_seconds > 12.8)]::UBIGINT[] AS client_buckets"));
    }

    #[test]
    fn non_finite_sums_stay_valid_sql() {
        assert_eq!(double_sql(0.25), "0.25::DOUBLE");
        assert_eq!(double_sql(f64::INFINITY), "'inf'::DOUBLE");
        assert_eq!(double_sql(f64::NAN), "'NaN'::DOUBLE");
    }
}
