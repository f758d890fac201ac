//! Tempo HTTP API (`/api/traces`, `/api/search`, tags, echo, buildinfo) over
//! the TraceQL engine.
//!
//! Each route family is a file holding a function from request to
//! `Result<Reply, TempoError>`; [`route`] dispatches on the path and turns
//! errors into Tempo's answers: a plain-text body with 400 for bad
//! parameters or queries, 404 for an unknown route or (v1) trace, 422 for a
//! v1 trace over the size bound, 504 `context deadline exceeded` when the
//! query outlives the timeout, 500 otherwise. Every query runs on a pooled
//! connection under [`interrupt_at`], so a slow query is cut off inside DuckDB.

mod params;
mod search;
mod tags;
mod trace;

use super::limits::{interrupt_at, is_interrupted, Deadline};
use super::{ApiRequest, CompatContext};
use crate::Reply;
use canardstack_query::store::Store;
use canardstack_query::traceql::fetch::FetchError;

/// The Tempo version reported in buildinfo. Grafana's Tempo data source
/// (10.2 to 12.1) reads it only to decide whether to stream search (2.2.0 and
/// later) and metrics (2.7.0 and later) over gRPC, which is not served here;
/// 2.1.0 keeps those Grafana versions on the plain HTTP routes.
pub const TEMPO_VERSION: &str = "2.1.0";

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
    TooLarge(String),
    Timeout,
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
            TempoError::TooLarge(message) => Reply::text(422, &message),
            TempoError::Timeout => Reply::text(504, "context deadline exceeded"),
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
        Ok(Reply::text(200, "echo\n")) // Go's http.Error, as Tempo writes it
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

/// The one deadline of a request, however many queries it runs.
fn request_deadline(context: &CompatContext) -> Deadline {
    Deadline::after(context.limits.timeout)
}

/// Runs `work` on a pooled connection, bounded by the request's deadline. An
/// answer that arrives after the deadline is a timeout too: an interruption
/// that lands while DuckDB is still preparing the statement can be lost, and
/// Tempo would have given up by then anyway.
fn run_query<T>(
    context: &CompatContext,
    deadline: Deadline,
    work: impl FnOnce(&dyn Store) -> Result<T, FetchError>,
) -> Result<T, TempoError> {
    if deadline.expired() {
        return Err(TempoError::Timeout);
    }
    let session = context.db.session().map_err(|e| TempoError::Internal(e.to_string()))?;
    let answer = interrupt_at(&*session, deadline, || work(&*session));
    if deadline.expired() {
        return Err(TempoError::Timeout);
    }
    answer.map_err(|error| match error {
        FetchError::Traceql(e) => TempoError::BadRequest(e.to_string()),
        too_large @ FetchError::TooLarge { .. } => TempoError::TooLarge(too_large.to_string()),
        FetchError::Store(e) if is_interrupted(&e.to_string()) => TempoError::Timeout,
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
        let timeout = TempoError::Timeout.reply();
        assert_eq!((timeout.status, timeout.body.as_slice()), (504, b"context deadline exceeded".as_slice()));
        assert_eq!(TempoError::TooLarge("trace exceeds max size".into()).reply().status, 422);
        assert_eq!(TempoError::NotFound("trace not found".into()).reply().status, 404);
    }

    #[test]
    fn buildinfo_is_flat() {
        let reply = buildinfo();
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["version"], "2.1.0");
        assert_eq!(body.as_object().unwrap().len(), 6);
    }
}
