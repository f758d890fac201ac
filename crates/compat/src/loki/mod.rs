//! Loki HTTP API (`/loki/api/v1/...`) over the LogQL engine.
//!
//! Each route is a function from the request to a JSON value or a
//! [`LokiError`]; [`route`] dispatches and turns errors into Loki's replies:
//! plain-text bodies, 400 for bad parameters and queries, 504 when the query
//! timeout interrupts DuckDB. Parameters are parsed as Loki parses them
//! ([`params`]), queries run on a pooled connection ([`query`], [`labels`],
//! [`index`], [`detected`]) and answers take Loki's exact shapes ([`render`]).

pub mod detected;
pub mod index;
pub mod labels;
pub mod params;
pub mod query;
pub mod render;

use super::limits::is_interrupted;
use super::{ApiRequest, CompatContext};
use crate::Reply;
use crate::Session;
use canardstack_query::logql::engine::EngineError;
use canardstack_query::logql::eval::EvalError;
use canardstack_query::store::StoreError;
use serde_json::Value;

/// Loki's answer when a query outlives its timeout.
pub const DEADLINE_EXCEEDED: &str = "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LokiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{DEADLINE_EXCEEDED}")]
    Timeout,
    #[error("{0}")]
    Internal(String),
    #[error("404 page not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl LokiError {
    fn status(&self) -> u16 {
        match self {
            LokiError::BadRequest(_) => 400,
            LokiError::Timeout => 504,
            LokiError::Internal(_) => 500,
            LokiError::NotFound => 404,
            LokiError::MethodNotAllowed => 405,
        }
    }

    /// A storage-side failure: the timeout's interruption, or an internal error.
    pub fn from_storage(message: String) -> LokiError {
        if is_interrupted(&message) {
            LokiError::Timeout
        } else {
            LokiError::Internal(message)
        }
    }
}

impl From<String> for LokiError {
    fn from(message: String) -> Self {
        LokiError::BadRequest(message)
    }
}

impl From<EngineError> for LokiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Pipeline(e) => LokiError::BadRequest(e.to_string()),
            EngineError::Eval(EvalError::Source(message)) if message.starts_with("pipeline error") => {
                LokiError::BadRequest(message)
            }
            EngineError::Eval(EvalError::Source(message)) => LokiError::from_storage(message),
            EngineError::Eval(EvalError::Timeout) => LokiError::Timeout,
            EngineError::Eval(EvalError::TooManySeries(limit)) => series_limit(limit),
            EngineError::Eval(e) => LokiError::BadRequest(e.to_string()),
            EngineError::ResultTooLarge(_) => LokiError::BadRequest(error.to_string()),
            other => LokiError::from_storage(other.to_string()),
        }
    }
}

impl From<StoreError> for LokiError {
    fn from(error: StoreError) -> Self {
        LokiError::from_storage(error.to_string())
    }
}

pub type Answer = Result<Value, LokiError>;

pub fn route(request: &ApiRequest, context: &CompatContext) -> Reply {
    let answer = if !request.is_get_or_post() { Err(LokiError::MethodNotAllowed) } else { dispatch(request, context) };
    match answer {
        Ok(body) => Reply::json(200, &body),
        Err(error) => Reply::text(error.status(), &error.to_string()),
    }
}

fn dispatch(request: &ApiRequest, context: &CompatContext) -> Answer {
    let path = request.path.strip_prefix("/loki/api/v1/").unwrap_or("");
    match path {
        "query" => query::instant(request, context),
        "query_range" => query::range(request, context),
        "labels" | "label" => labels::names(request, context),
        "series" => labels::series(request, context),
        "index/stats" => index::stats(request, context),
        "index/volume" => index::volume(request, context, false),
        "index/volume_range" => index::volume(request, context, true),
        "detected_fields" => detected::fields(request, context),
        "detected_labels" => detected::labels(request, context),
        "patterns" => detected::patterns(request, context),
        _ => match path.strip_prefix("label/").and_then(|rest| rest.strip_suffix("/values")) {
            Some(name) if !name.is_empty() => labels::values(request, context, &percent_decode(name)),
            _ => Err(LokiError::NotFound),
        },
    }
}

/// A path segment with `%XX` escapes resolved.
fn percent_decode(segment: &str) -> String {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Loki's error when a query would return more series than allowed.
pub(crate) fn series_limit(limit: usize) -> LokiError {
    LokiError::BadRequest(format!(
        "maximum number of series ({limit}) reached for a single query; consider reducing query cardinality by \
         adding more specific stream selectors, reducing the time range, or aggregating results with functions like \
         sum(), count() or topk()"
    ))
}

/// A connection from the pool, or Loki's internal error.
pub(crate) fn connect(context: &CompatContext) -> Result<Box<dyn Session>, LokiError> {
    context.db.session().map_err(|e| LokiError::Internal(e.to_string()))
}

/// Whether the request asked for `categorize-labels`.
pub(crate) fn wants_categories(request: &ApiRequest) -> bool {
    request
        .header("X-Loki-Response-Encoding-Flags")
        .is_some_and(|flags| flags.split(',').any(|f| f.trim() == render::CATEGORIZE_LABELS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_in_paths_are_decoded() {
        assert_eq!(percent_decode("service_name"), "service_name");
        assert_eq!(percent_decode("a%20b+c"), "a b+c");
    }

    #[test]
    fn interrupted_queries_are_timeouts() {
        let interrupted =
            EngineError::Eval(EvalError::Source("running the plan: INTERRUPT Error: Interrupted!".into()));
        assert_eq!(LokiError::from(interrupted), LokiError::Timeout);
        assert_eq!(LokiError::Timeout.status(), 504);
        assert_eq!(LokiError::Timeout.to_string(), DEADLINE_EXCEEDED);
        let pipeline = EngineError::Eval(EvalError::Source("pipeline error: JSONParserErr for series {}".into()));
        assert!(matches!(LokiError::from(pipeline), LokiError::BadRequest(_)));
        assert_eq!(LokiError::from(EngineError::Eval(EvalError::ScalarComparison)).status(), 400);
        assert_eq!(LokiError::from(EngineError::Eval(EvalError::Timeout)), LokiError::Timeout);
        assert_eq!(LokiError::from(EngineError::Eval(EvalError::TooManySeries(3))), series_limit(3));
        assert_eq!(
            LokiError::from(EngineError::ResultTooLarge(10)),
            LokiError::BadRequest(
                "the query's answer would hold more than 10 bytes of log lines and labels (max_result_bytes); \
                 lower the limit or narrow the query"
                    .into()
            )
        );
    }

    #[test]
    fn categorize_flag_is_read_from_the_header() {
        let request = ApiRequest::get("/loki/api/v1/query", "");
        assert!(!wants_categories(&request));
        assert!(wants_categories(&request.with_header("X-Loki-Response-Encoding-Flags", "categorize-labels")));
    }
}
