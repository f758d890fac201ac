//! Tag autocompletion: `/api/search/tags` (flat names), `/api/v2/search/tags`
//! (names per scope), `/api/search/tag/<tag>/values` (plain attribute
//! values) and `/api/v2/search/tag/<tag>/values` (values of a TraceQL
//! field, typed). `start`/`end` narrow the spans looked at; `q` on the v2
//! routes narrows them to the spans a simple `{ ... }` matches.
//!
//! Lists are sorted and cut at `max_entries`, as Tempo cuts tag answers at
//! its size limit. Attributes are stored as text, so every attribute value
//! is typed `string`; status and kind values are `keyword`s.

use super::params::{seconds_range, unescape, Range};
use super::{run_query, TempoError};
use crate::compat::{ApiRequest, CompatContext};
use crate::query::traceql::ast::{AttributeScope, Field, FieldExpr, Intrinsic};
use crate::query::traceql::tags::{parse_tag, tag_names, tag_values, values_filter, TagScope, INTRINSIC_TAGS};
use crate::server::Reply;
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

fn scopes(request: &ApiRequest) -> Result<Scopes, TempoError> {
    match request.params.get("scope") {
        None => Ok(Scopes::All),
        Some("span") => Ok(Scopes::Span),
        Some("resource") => Ok(Scopes::Resource),
        Some("intrinsic") => Ok(Scopes::Intrinsic),
        Some(scope @ ("event" | "link" | "instrumentation")) => Err(TempoError::bad(format!(
            "scope {scope} is not supported: attributes of events, links and scopes are not searchable"
        ))),
        Some(other) => Err(TempoError::bad(format!("invalid scope: {other}"))),
    }
}

fn names(
    context: &CompatContext,
    scope: TagScope,
    filter: Option<&FieldExpr>,
    range: Range,
) -> Result<Vec<String>, TempoError> {
    let (table, limit) = (context.target.qualified("spans"), context.limits.max_entries);
    run_query(context, |con| tag_names(con, &table, scope, filter, range, limit))
}

pub fn names_v1(request: &ApiRequest, context: &CompatContext) -> Result<Reply, TempoError> {
    let scope = scopes(request)?;
    let range = seconds_range(&request.params)?;
    let mut tags = match scope {
        Scopes::Span => names(context, TagScope::Span, None, range)?,
        Scopes::Resource => names(context, TagScope::Resource, None, range)?,
        Scopes::Intrinsic => INTRINSIC_TAGS.iter().map(|s| s.to_string()).collect(),
        Scopes::All => {
            let mut both = names(context, TagScope::Span, None, range)?;
            both.extend(names(context, TagScope::Resource, None, range)?);
            both
        }
    };
    tags.sort();
    tags.dedup();
    tags.truncate(context.limits.max_entries);
    Ok(Reply::json(200, &json!({ "tagNames": tags })))
}

pub fn names_v2(request: &ApiRequest, context: &CompatContext) -> Result<Reply, TempoError> {
    let scope = scopes(request)?;
    let range = seconds_range(&request.params)?;
    let filter = request.params.get("q").and_then(values_filter);
    let mut out = Vec::new();
    if matches!(scope, Scopes::All | Scopes::Span) {
        out.push(json!({ "name": "span", "tags": names(context, TagScope::Span, filter.as_ref(), range)? }));
    }
    if matches!(scope, Scopes::All | Scopes::Resource) {
        out.push(json!({ "name": "resource", "tags": names(context, TagScope::Resource, filter.as_ref(), range)? }));
    }
    if matches!(scope, Scopes::All | Scopes::Intrinsic) {
        out.push(json!({ "name": "intrinsic", "tags": INTRINSIC_TAGS }));
    }
    Ok(Reply::json(200, &json!({ "scopes": out })))
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
    let range = seconds_range(&request.params)?;
    let (table, limit) = (context.target.qualified("spans"), context.limits.max_entries);
    run_query(context, |con| tag_values(con, &table, field, filter.as_ref(), range, limit))
}

/// v1: the values of an attribute of that name, on spans or resources.
pub fn values_v1(request: &ApiRequest, context: &CompatContext, escaped: &str) -> Result<Reply, TempoError> {
    let name = tag_name(escaped)?;
    let field = Field::Attribute { scope: AttributeScope::Any, name };
    let values = values(request, context, &field, None)?;
    Ok(Reply::json(200, &json!({ "tagValues": values })))
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
    Ok(Reply::json(200, &json!({ "tagValues": typed })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parameter() {
        let scope = |query: &str| scopes(&ApiRequest::get("/api/v2/search/tags", query));
        assert_eq!(scope("").unwrap(), Scopes::All);
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
