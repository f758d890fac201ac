//! Grafana-compatible query APIs (Prometheus, Loki, Tempo) served by the same
//! HTTP server as the OTLP receiver.
//!
//! Each protocol is a folder: it parses its parameters the way upstream does,
//! runs the matching engine from `canardstack_query` on a pooled session of the [`Lake`]
//! (never the writer's), and renders upstream's JSON (or protobuf) envelope,
//! errors included. The extension's server turns HTTP requests into
//! [`ApiRequest`]s, so handlers are plain functions with unit tests.

pub mod lake;
pub mod limits;
pub mod loki;
pub mod metrics;
pub mod prometheus;
pub mod reply;
pub mod request;
pub mod tempo;

pub use lake::{Lake, Session};
pub use limits::{Deadline, QueryLimits};
pub use reply::Reply;
pub use request::{ApiMethod, ApiRequest, Params};

use canardstack_query::sql_text::LakeTarget;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// What every compat handler needs: where the data is and what a query may cost.
pub struct CompatContext {
    pub db: Box<dyn Lake>,
    pub target: LakeTarget,
    pub limits: QueryLimits,
    pub stats: QueryStats,
}

impl CompatContext {
    pub fn new(db: Box<dyn Lake>, target: LakeTarget) -> Self {
        CompatContext { db, target, limits: QueryLimits::default(), stats: QueryStats::default() }
    }
}

/// The API families, for routing and for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    Prometheus,
    Loki,
    Tempo,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Prometheus => "prometheus",
            Api::Loki => "loki",
            Api::Tempo => "tempo",
        }
    }

    /// Which API serves `path`, if any.
    pub fn for_path(path: &str) -> Option<Api> {
        if path.starts_with("/api/v1/") {
            Some(Api::Prometheus)
        } else if path.starts_with("/loki/api/v1/") {
            Some(Api::Loki)
        } else if tempo::serves(path) {
            Some(Api::Tempo)
        } else {
            None
        }
    }
}

/// Answers a request for one of the compat APIs.
pub fn route(api: Api, request: &ApiRequest, context: &CompatContext) -> Reply {
    let started = std::time::Instant::now();
    let reply = match api {
        Api::Prometheus => prometheus::route(request, context),
        Api::Loki => loki::route(request, context),
        Api::Tempo => tempo::route(request, context),
    };
    context.stats.record(api, reply.status, started.elapsed());
    reply
}

/// Requests, failures and time spent per API, for `/metrics`.
#[derive(Default)]
pub struct QueryStats {
    inner: Mutex<BTreeMap<(Api, bool), QueryCounter>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueryCounter {
    pub requests: u64,
    pub seconds: f64,
}

impl QueryStats {
    pub fn record(&self, api: Api, status: u16, took: Duration) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let counter = map.entry((api, status < 400)).or_default();
        counter.requests += 1;
        counter.seconds += took.as_secs_f64();
    }

    /// (api, succeeded) -> counter
    pub fn snapshot(&self) -> BTreeMap<(Api, bool), QueryCounter> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pick_their_api() {
        assert_eq!(Api::for_path("/api/v1/query"), Some(Api::Prometheus));
        assert_eq!(Api::for_path("/loki/api/v1/query_range"), Some(Api::Loki));
        assert_eq!(Api::for_path("/api/traces/0af7651916cd43dd8448eb211c80319c"), Some(Api::Tempo));
        assert_eq!(Api::for_path("/api/v2/search/tags"), Some(Api::Tempo));
        assert_eq!(Api::for_path("/api/echo"), Some(Api::Tempo));
        assert_eq!(Api::for_path("/v1/logs"), None);
        assert_eq!(Api::for_path("/metrics"), None);
    }

    #[test]
    fn stats_split_successes_and_failures() {
        let stats = QueryStats::default();
        stats.record(Api::Loki, 200, Duration::from_millis(500));
        stats.record(Api::Loki, 200, Duration::from_millis(250));
        stats.record(Api::Loki, 400, Duration::from_millis(1));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot[&(Api::Loki, true)], QueryCounter { requests: 2, seconds: 0.75 });
        assert_eq!(snapshot[&(Api::Loki, false)].requests, 1);
    }
}
