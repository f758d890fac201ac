//! Tag autocompletion: `/api/search/tags` (flat names), `/api/v2/search/tags`
//! (names per scope), `/api/search/tag/<tag>/values` (plain attribute
//! values) and `/api/v2/search/tag/<tag>/values` (values of a TraceQL
//! field, typed). `start`/`end` narrow the spans looked at; `q` on the v2
//! routes narrows them to the spans a simple `{ ... }` matches.
//!
//! Lists are sorted (Tempo sorts names; value order is unspecified there)
//! and cut at `limit` (per scope for names, as Grafana's `limit=5000` asks)
//! or else at `max_entries`. Attributes are stored as text, so every
//! attribute value is typed `string`; status and kind values are `keyword`s.
//! Answers carry Tempo's `metrics` object, empty since nothing is measured.

use super::params::{go_parse_uint, tag_range, unescape, unsigned, Range};
use super::{request_deadline, run_query, TempoError};
use crate::Reply;
use crate::{ApiRequest, CompatContext, Deadline};
use canardstack_query::traceql::ast::{AttributeScope, Field, FieldExpr, Intrinsic};
use canardstack_query::traceql::tags::{parse_tag, tag_names, tag_values, values_filter, TagScope, INTRINSIC_TAGS};
use serde_json::json;

/// Which scopes a `scope` parameter asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scopes {
    /// no scope: span and resource (v1), and intrinsics too (v2)
    All,
    Span,
    Resource,
    Intrinsic,
}

/// Tempo's scope names (`traceql.AttributeScopeFromString` plus `intrinsic`);
/// `none` is the same as no scope.
fn scopes(request: &ApiRequest) -> Result<Scopes, TempoError> {
    match request.params.get("scope") {
        None | Some("none") => Ok(Scopes::All),
        Some("span") => Ok(Scopes::Span),
        Some("resource") => Ok(Scopes::Resource),
        Some("intrinsic") => Ok(Scopes::Intrinsic),
        Some(scope @ ("event" | "link" | "instrumentation" | "trace")) => Err(TempoError::bad(format!(
            "scope {scope} is not supported: attributes of events, links, scopes and traces are not searchable"
        ))),
        Some(other) => Err(TempoError::bad(format!("invalid scope: {other}"))),
    }
}

/// How many names per scope: `limit` (Tempo's frontend reads it leniently,
/// a bad or zero value meaning no limit), never over `max_entries`.
fn names_limit(request: &ApiRequest, context: &CompatContext) -> usize {
    let max = context.limits.max_entries;
    match request.params.get("limit").map(|text| go_parse_uint(text, 32)) {
        Some(Ok(limit)) if limit > 0 => (limit as usize).min(max),
        _ => max,
    }
}

/// How many values: `limit` (parsed strictly, as Tempo's querier does), never over `max_entries`.
fn values_limit(request: &ApiRequest, context: &CompatContext) -> Result<usize, TempoError> {
    let max = context.limits.max_entries;
    Ok(unsigned(&request.params, "limit")?.filter(|n| *n > 0).map_or(max, |n| (n as usize).min(max)))
}

fn names(
    context: &CompatContext,
    deadline: Deadline,
    scope: TagScope,
    filter: Option<&FieldExpr>,
    range: Range,
    limit: usize,
) -> Result<Vec<String>, TempoError> {
    let table = context.target.qualified("spans");
    run_query(context, deadline, |con| tag_names(con, &table, scope, filter, range, limit))
}

fn intrinsics(limit: usize) -> Vec<&'static str> {
    INTRINSIC_TAGS.iter().take(limit).copied().collect()
}

/// v1: span and resource names in one list (intrinsics only when asked for by scope, as in Tempo).
pub fn names_v1(request: &ApiRequest, context: &CompatContext) -> Result<Reply, TempoError> {
    let deadline = request_deadline(context);
    let scope = scopes(request)?;
    let range = tag_range(&request.params)?;
    let limit = names_limit(request, context);
    let mut tags = match scope {
        Scopes::Span => names(context, deadline, TagScope::Span, None, range, limit)?,
        Scopes::Resource => names(context, deadline, TagScope::Resource, None, range, limit)?,
        Scopes::Intrinsic => intrinsics(limit).iter().map(|s| s.to_string()).collect(),
        Scopes::All => {
            let mut both = names(context, deadline, TagScope::Span, None, range, limit)?;
            both.extend(names(context, deadline, TagScope::Resource, None, range, limit)?);
            both
        }
    };
    tags.sort();
    tags.dedup();
    tags.truncate(limit);
    Ok(Reply::json(200, &json!({ "tagNames": tags, "metrics": {} })))
}

/// v2: names per scope, intrinsics included when no scope is asked for.
pub fn names_v2(request: &ApiRequest, context: &CompatContext) -> Result<Reply, TempoError> {
    let deadline = request_deadline(context);
    let scope = scopes(request)?;
    let range = tag_range(&request.params)?;
    let limit = names_limit(request, context);
    let filter = request.params.get("q").and_then(values_filter);
    let mut out = Vec::new();
    if matches!(scope, Scopes::All | Scopes::Span) {
        let tags = names(context, deadline, TagScope::Span, filter.as_ref(), range, limit)?;
        out.push(json!({ "name": "span", "tags": tags }));
    }
    if matches!(scope, Scopes::All | Scopes::Resource) {
        let tags = names(context, deadline, TagScope::Resource, filter.as_ref(), range, limit)?;
        out.push(json!({ "name": "resource", "tags": tags }));
    }
    if matches!(scope, Scopes::All | Scopes::Intrinsic) {
        out.push(json!({ "name": "intrinsic", "tags": intrinsics(limit) }));
    }
    Ok(Reply::json(200, &json!({ "scopes": out, "metrics": {} })))
}

/// The tag of a values path, unescaped and non-empty.
fn tag_name(escaped: &str) -> Result<String, TempoError> {
    if escaped.is_empty() {
        return Err(TempoError::bad("please provide a non-empty tagName"));
    }
    unescape(escaped).ok_or_else(|| TempoError::bad("error in unescaping tagName"))
}

fn values(
    request: &ApiRequest,
    context: &CompatContext,
    field: &Field,
    filter: Option<FieldExpr>,
) -> Result<Vec<String>, TempoError> {
    let range = tag_range(&request.params)?;
    let limit = values_limit(request, context)?;
    let table = context.target.qualified("spans");
    run_query(context, request_deadline(context), |con| tag_values(con, &table, field, filter.as_ref(), range, limit))
}

/// v1: the values of an attribute of that name, on spans or resources.
pub fn values_v1(request: &ApiRequest, context: &CompatContext, escaped: &str) -> Result<Reply, TempoError> {
    let name = tag_name(escaped)?;
    let field = Field::Attribute { scope: AttributeScope::Any, name };
    let values = values(request, context, &field, None)?;
    Ok(Reply::json(200, &json!({ "tagValues": values, "metrics": {} })))
}

/// v2: the values of a TraceQL field, each with its TraceQL type.
pub fn values_v2(request: &ApiRequest, context: &CompatContext, escaped: &str) -> Result<Reply, TempoError> {
    let name = tag_name(escaped)?;
    let field = parse_tag(&name).map_err(|e| TempoError::bad(format!("please provide a valid tagName: {e}")))?;
    let filter = request.params.get("q").and_then(values_filter);
    let kind = match field {
        Field::Intrinsic(Intrinsic::Status | Intrinsic::Kind) => "keyword",
        _ => "string",
    };
    let values = values(request, context, &field, filter)?;
    let typed: Vec<_> = values.iter().map(|value| json!({ "type": kind, "value": value })).collect();
    Ok(Reply::json(200, &json!({ "tagValues": typed, "metrics": {} })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parameter() {
        let scope = |query: &str| scopes(&ApiRequest::get("/api/v2/search/tags", query));
        assert_eq!(scope("").unwrap(), Scopes::All);
        assert_eq!(scope("scope=none").unwrap(), Scopes::All);
        assert_eq!(scope("scope=intrinsic").unwrap(), Scopes::Intrinsic);
        assert_eq!(scope("scope=bogus").unwrap_err(), TempoError::BadRequest("invalid scope: bogus".into()));
        assert!(
            matches!(scope("scope=event").unwrap_err(), TempoError::BadRequest(m) if m.starts_with("scope event is not supported"))
        );
    }

    #[test]
    fn tag_names_in_paths() {
        assert_eq!(tag_name("resource.service.name").unwrap(), "resource.service.name");
        assert_eq!(tag_name("").unwrap_err(), TempoError::BadRequest("please provide a non-empty tagName".into()));
        assert_eq!(tag_name("%zz").unwrap_err(), TempoError::BadRequest("error in unescaping tagName".into()));
    }
}
