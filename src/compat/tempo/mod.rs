//! Tempo HTTP API (`/api/traces`, `/api/search`, tags, echo, buildinfo) over
//! the TraceQL engine.
//!
//! Each route family is a file holding a function from request to
//! `Result<Reply, TempoError>`; [`route`] dispatches on the path and turns
//! errors into Tempo's answers: a plain-text body with 400 for bad
//! parameters or queries, 404 for an unknown trace, 504 when the query
//! outlives the timeout, 500 otherwise. Every query runs on a pooled
//! connection under [`interrupt_at`], so a slow query is cut off inside DuckDB.

mod params;
mod search;
mod tags;
mod trace;

use super::limits::{interrupt_at, is_interrupted, Deadline};
use super::{ApiRequest, CompatContext};
use crate::query::traceql::fetch::FetchError;
use crate::server::Reply;

/// The Tempo version reported to Grafana; 2.2 and later unlock TraceQL search,
/// scoped tags and typed tag values in its Tempo data source.
pub const TEMPO_VERSION: &str = "2.4.0";

/// Tempo's routes share `/api/` with Prometheus' `/api/v1/`, so they are listed.
pub fn serves(path: &str) -> bool {
    path == "/api/echo"
        || path == "/api/status/buildinfo"
        || path.starts_with("/api/traces/")
        || path.starts_with("/api/v2/traces/")
        || path == "/api/search"
        || path.starts_with("/api/search/")
        || path.starts_with("/api/v2/search/")
}

#[derive(Debug, PartialEq)]
pub enum TempoError {
    BadRequest(String),
    NotFound(String),
    Timeout(std::time::Duration),
    Internal(String),
}

impl TempoError {
    fn bad(message: impl Into<String>) -> Self {
        TempoError::BadRequest(message.into())
    }

    fn reply(self) -> Reply {
        match self {
            TempoError::BadRequest(message) => Reply::text(400, &message),
            TempoError::NotFound(message) => Reply::text(404, &message),
            TempoError::Timeout(limit) => Reply::text(504, &format!("query timed out after {}", duration_text(limit))),
            TempoError::Internal(message) => Reply::text(500, &message),
        }
    }
}

pub fn route(request: &ApiRequest, context: &CompatContext) -> Reply {
    if !request.is_get_or_post() {
        return Reply::text(405, "method not allowed");
    }
    let path = request.path.as_str();
    let answer = if path == "/api/echo" {
        Ok(Reply::text(200, "echo"))
    } else if path == "/api/status/buildinfo" {
        Ok(buildinfo())
    } else if let Some(id) = path.strip_prefix("/api/traces/") {
        trace::by_id(request, context, id, trace::Version::V1)
    } else if let Some(id) = path.strip_prefix("/api/v2/traces/") {
        trace::by_id(request, context, id, trace::Version::V2)
    } else if path == "/api/search" {
        search::search(request, context)
    } else if path == "/api/search/tags" {
        tags::names_v1(request, context)
    } else if path == "/api/v2/search/tags" {
        tags::names_v2(request, context)
    } else if let Some(tag) = tag_in(path, "/api/search/tag/") {
        tags::values_v1(request, context, tag)
    } else if let Some(tag) = tag_in(path, "/api/v2/search/tag/") {
        tags::values_v2(request, context, tag)
    } else {
        Err(TempoError::NotFound("404 page not found".into()))
    };
    answer.unwrap_or_else(TempoError::reply)
}

/// `<prefix><tag>/values` -> the still escaped tag.
fn tag_in<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix)?.strip_suffix("/values")
}

/// Tempo's build information: a flat object, as Tempo's `/api/status/buildinfo` answers.
fn buildinfo() -> Reply {
    Reply::json(
        200,
        &serde_json::json!({
            "version": TEMPO_VERSION,
            "revision": concat!("canardstack-", env!("CARGO_PKG_VERSION")),
            "branch": "HEAD",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
    )
}

/// `60s`, or `250ms` below a second.
fn duration_text(duration: std::time::Duration) -> String {
    if duration.as_millis().is_multiple_of(1000) {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// Runs `work` on a pooled connection, bounded by the context's timeout.
fn run_query<T>(
    context: &CompatContext,
    work: impl FnOnce(&duckdb::Connection) -> Result<T, FetchError>,
) -> Result<T, TempoError> {
    let con = context.db.connect().map_err(|e| TempoError::Internal(e.to_string()))?;
    let deadline = Deadline::after(context.limits.timeout);
    interrupt_at(&con, deadline, || work(&con)).map_err(|error| match error {
        FetchError::Traceql(e) => TempoError::BadRequest(e.to_string()),
        FetchError::Duckdb(e) if is_interrupted(&e.to_string()) => TempoError::Timeout(context.limits.timeout),
        other => TempoError::Internal(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_paths() {
        assert_eq!(tag_in("/api/search/tag/service.name/values", "/api/search/tag/"), Some("service.name"));
        assert_eq!(tag_in("/api/search/tag//values", "/api/search/tag/"), Some(""));
        assert_eq!(tag_in("/api/search/tag/x", "/api/search/tag/"), None);
    }

    #[test]
    fn errors_are_plain_text_with_tempo_statuses() {
        let reply = TempoError::bad("invalid limit: must be a positive number").reply();
        assert_eq!(
            (reply.status, reply.body.as_slice()),
            (400, b"invalid limit: must be a positive number".as_slice())
        );
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(TempoError::Timeout(minute).reply().body, b"query timed out after 60s");
        assert_eq!(TempoError::Timeout(minute).reply().status, 504);
        let short = TempoError::Timeout(std::time::Duration::from_millis(1500)).reply();
        assert_eq!(short.body, b"query timed out after 1500ms");
        assert_eq!(TempoError::NotFound("trace not found".into()).reply().status, 404);
    }

    #[test]
    fn buildinfo_is_flat() {
        let reply = buildinfo();
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["version"], "2.4.0");
        assert_eq!(body.as_object().unwrap().len(), 6);
    }
}
