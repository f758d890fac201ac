//! Metrics derived from the spans in the lake, so that Grafana's views built
//! on Tempo's metrics-generator have data: the service graph
//! (`traces_service_graph_*`).
//!
//! Derivation runs over windows of span end time, each exactly once: the
//! window's edges are read from the lake with one SQL query
//! ([`service_graph::edges_sql`]), added to cumulative counters kept here
//! ([`service_graph::ServiceGraph`]), and the counters are written back as
//! metric points in the same transaction that records the window as done
//! ([`progress`]). Everything here is plain Rust that prints SQL; the
//! extension runs it.

pub mod progress;
pub mod service_graph;
pub mod window;
