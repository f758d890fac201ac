//! Prometheus HTTP API (`/api/v1/...`) over the PromQL engine.
//!
//! Each route is a function from the request to `Result<Answer, ApiError>`;
//! [`route`] checks the method (GET everywhere, POST form bodies where
//! Prometheus registers POST), and one place renders the envelope. Every
//! query runs on a pooled connection under [`QueryLimits`]: DuckDB is
//! interrupted at the deadline, the evaluator checks it between steps, and
//! the series a query loads are counted against `max_series`.
//!
//! [`QueryLimits`]: crate::QueryLimits

mod labels;
mod params;
mod query;
mod render;

use super::limits::{interrupt_at, is_interrupted, Deadline};
use super::{ApiMethod, ApiRequest, CompatContext};
use crate::Reply;
use canardstack_query::promql::lake::{clamp_to_lake, LakeSource, LoadBudget};
use canardstack_query::promql::source::{Selection, SeriesSource};
use canardstack_query::promql::value::Series;
use canardstack_query::promql::PromqlError;
use render::{ApiError, ErrorKind};
use std::cell::Cell;
use std::time::Duration;

/// A route's successful answer: the `data` JSON text and any warnings.
pub struct Answer {
    pub data: Option<String>,
    pub warnings: Vec<String>,
}

impl Answer {
    fn data(data: String) -> Self {
        Answer { data: Some(data), warnings: Vec::new() }
    }
}

type Handler = fn(&ApiRequest, &CompatContext) -> Result<Answer, ApiError>;

/// The routes: path, whether POST is accepted, handler.
fn handler(path: &str) -> Option<(bool, Handler)> {
    let route: (bool, Handler) = match path {
        "/api/v1/query" => (true, query::instant),
        "/api/v1/query_range" => (true, query::range),
        "/api/v1/query_exemplars" => (true, labels::exemplars),
        "/api/v1/format_query" => (true, query::format),
        "/api/v1/series" => (true, labels::series),
        "/api/v1/labels" => (true, labels::label_names),
        "/api/v1/metadata" => (false, labels::metadata),
        "/api/v1/status/buildinfo" => (false, buildinfo),
        _ if labels::label_of_values_path(path).is_some() => (false, labels::label_values),
        _ => return None,
    };
    Some(route)
}

pub fn route(request: &ApiRequest, context: &CompatContext) -> Reply {
    let Some((post, handler)) = handler(&request.path) else {
        return ApiError::new(ErrorKind::NotFound, format!("not found: {}", request.path)).reply();
    };
    let allowed = match request.method {
        Some(ApiMethod::Get) => true,
        Some(ApiMethod::Post) => post,
        _ => false,
    };
    if !allowed {
        let allow = if post { "GET, POST" } else { "GET" };
        return Reply::text(405, "Method Not Allowed").with_header("Allow", allow);
    }
    match handler(request, context) {
        Ok(Answer { data: Some(data), warnings }) => render::success(&data, &warnings),
        Ok(Answer { data: None, .. }) => render::success_without_data(),
        Err(error) => error.reply(),
    }
}

/// `/api/v1/status/buildinfo` in Prometheus' shape. The version is the
/// Prometheus release whose semantics the engine follows (Grafana reads it
/// to enable features); without `features`, Grafana treats us as Prometheus.
fn buildinfo(_: &ApiRequest, _: &CompatContext) -> Result<Answer, ApiError> {
    let data = serde_json::json!({
        "version": PROMETHEUS_VERSION,
        "revision": format!("canardstack-{}", env!("CARGO_PKG_VERSION")),
        "branch": "canardstack",
        "buildUser": "canardstack",
        "buildDate": "",
        "goVersion": "none (canardstack, Rust)",
    });
    Ok(Answer::data(data.to_string()))
}

/// The Prometheus version whose API and PromQL semantics we follow.
pub const PROMETHEUS_VERSION: &str = "3.0.0";

/// A source over the lake that counts the series it hands out against
/// `max_series` and refuses to start a fetch after the deadline.
struct BoundedSource<S> {
    inner: S,
    deadline: Deadline,
    max_series: usize,
    loaded: Cell<usize>,
}

impl<S> BoundedSource<S> {
    fn new(inner: S, deadline: Deadline, max_series: usize) -> Self {
        BoundedSource { inner, deadline, max_series, loaded: Cell::new(0) }
    }
}

impl<S: SeriesSource> SeriesSource for BoundedSource<S> {
    fn select(&self, selection: &Selection) -> canardstack_query::promql::Result<Vec<Series>> {
        if self.deadline.expired() {
            return Err(PromqlError::Timeout);
        }
        let series = self.inner.select(selection)?;
        self.loaded.set(self.loaded.get() + series.len());
        if self.loaded.get() > self.max_series {
            return Err(PromqlError::Eval(max_series_message(self.max_series)));
        }
        Ok(series)
    }
}

fn max_series_message(limit: usize) -> String {
    format!("the query hit the max number of series limit (limit: {limit} series)")
}

/// The deadline of a request: the server's timeout, shortened by a `timeout` parameter.
fn deadline(request: &ApiRequest, context: &CompatContext) -> Result<Deadline, ApiError> {
    let mut timeout = context.limits.timeout;
    if let Some(text) = request.params.get("timeout") {
        let nanos = params::parse_duration(text).map_err(|e| ApiError::invalid_param("timeout", &e))?;
        timeout = timeout.min(Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64));
    }
    Ok(Deadline::after(timeout))
}

/// Runs `work` over the lake on a pooled connection, bounded by `deadline`
/// and `max_series`; engine errors become Prometheus' error kinds.
fn with_lake<T>(
    context: &CompatContext,
    deadline: Deadline,
    work: impl FnOnce(&BoundedSource<LakeSource>) -> canardstack_query::promql::Result<T>,
) -> Result<T, ApiError> {
    let session = context
        .db
        .session()
        .map_err(|e| ApiError::new(ErrorKind::Unavailable, format!("no query connection available: {e}")))?;
    let mut lake = LakeSource::new(&*session, context.target.clone());
    lake.budget = LoadBudget::new(context.limits.max_series, context.limits.max_samples);
    let source = BoundedSource::new(lake, deadline, context.limits.max_series);
    interrupt_at(&*session, deadline, || work(&source)).map_err(|e| engine_error(e, deadline))
}

fn engine_error(error: PromqlError, deadline: Deadline) -> ApiError {
    match error {
        PromqlError::Timeout => ApiError::timeout(),
        PromqlError::Storage(message) if is_interrupted(&message) || deadline.expired() => ApiError::timeout(),
        PromqlError::Storage(message) => ApiError::new(ErrorKind::Internal, message),
        PromqlError::Parse { message, .. } => ApiError::invalid_param("query", &format!("parse error: {message}")),
        PromqlError::Unsupported(construct) => {
            ApiError::new(ErrorKind::Execution, format!("{construct} is not supported"))
        }
        PromqlError::Eval(message) => ApiError::new(ErrorKind::Execution, message),
        // Prometheus answers ErrTooManySamples as an execution error (422)
        error @ PromqlError::TooManySamples { .. } => ApiError::new(ErrorKind::Execution, error.to_string()),
        error @ (PromqlError::TooDeep { .. } | PromqlError::OutOfRange(_)) => ApiError::bad_data(error.to_string()),
    }
}

/// Times for the lake's discovery queries (see [`clamp_to_lake`]).
fn lake_time(ms: i64) -> i64 {
    clamp_to_lake(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_and_methods() {
        assert!(handler("/api/v1/query").is_some_and(|(post, _)| post));
        assert!(handler("/api/v1/metadata").is_some_and(|(post, _)| !post));
        assert!(handler("/api/v1/label/job/values").is_some_and(|(post, _)| !post));
        assert!(handler("/api/v1/label//values").is_none());
        assert!(handler("/api/v1/nope").is_none());
    }

    fn memory_source(series: usize) -> canardstack_query::promql::source::MemorySource {
        use canardstack_query::promql::value::{Labels, Point};
        let series = (0..series)
            .map(|i| Series {
                labels: [("__name__".to_string(), "up".to_string()), ("i".to_string(), i.to_string())]
                    .into_iter()
                    .collect::<Labels>(),
                points: vec![Point { t: 1000, v: 1.0 }],
            })
            .collect();
        canardstack_query::promql::source::MemorySource { series }
    }

    #[test]
    fn queries_are_bounded_by_series_and_deadline() {
        let expr = canardstack_query::promql::parse("up").unwrap();
        let run = |source: &BoundedSource<_>| canardstack_query::promql::eval::eval_instant(&expr, source, 1000);
        let within = BoundedSource::new(memory_source(3), Deadline::after(Duration::from_secs(60)), 3);
        assert!(run(&within).is_ok());
        let over = BoundedSource::new(memory_source(4), Deadline::after(Duration::from_secs(60)), 3);
        let error = engine_error(run(&over).unwrap_err(), Deadline::after(Duration::from_secs(60)));
        assert_eq!(
            error,
            ApiError::new(ErrorKind::Execution, "the query hit the max number of series limit (limit: 3 series)")
        );
        let late = BoundedSource::new(memory_source(1), Deadline::after(Duration::ZERO), 3);
        assert_eq!(engine_error(run(&late).unwrap_err(), Deadline::after(Duration::ZERO)), ApiError::timeout());
    }

    #[test]
    fn open_ranges_fit_timestamp_ns() {
        assert_eq!(lake_time(params::MIN_TIME_MS), -9_214_560_000_000);
        assert_eq!(lake_time(params::MAX_TIME_MS), 9_214_646_400_000);
        assert_eq!(lake_time(4000), 4000);
    }
}
