//! Tag discovery for autocompletion: which attribute names exist per scope,
//! and which values a TraceQL field takes, both optionally among the spans a
//! simple filter matches.
//!
//! A tag is read with the TraceQL parser itself (as the field of
//! `{ <tag> != nil }`), so tag names follow exactly the language's rules and
//! nothing but a lone field is accepted. Values come from the same column
//! expressions the search planner uses, so what autocompletion offers is what
//! a search on it finds.

use super::ast::{AttributeScope, CompareOp, Field, FieldExpr, Intrinsic, Literal, SpansetExpr};
use super::fetch::{FetchError, ResultBytes};
use super::plan::{condition_sql, field_sql, range_sql, uses_trace_level};
use super::{parse, TraceqlError};
use crate::store::{for_each_batch, text_at, text_column, Store};
use std::ops::ControlFlow;

/// Where attribute names are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagScope {
    Span,
    Resource,
}

/// The intrinsics a query can use, sorted, for the `intrinsic` tag scope.
pub const INTRINSIC_TAGS: &[&str] = &[
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// Distinct attribute names of `scope` among spans starting in the range
/// (and matching `filter`), sorted, at most `limit`.
pub fn tag_names(
    store: &dyn Store,
    spans_table: &str,
    scope: TagScope,
    filter: Option<&FieldExpr>,
    range: (Option<i64>, Option<i64>),
    limit: usize,
) -> Result<Vec<String>, FetchError> {
    let column = match scope {
        TagScope::Span => "span_attributes",
        TagScope::Resource => "resource_attributes",
    };
    let mut conditions = vec![range_sql(range.0, range.1)];
    if let Some(filter) = filter {
        conditions.push(condition_sql(filter, "b")?);
    }
    let sql = format!(
        "SELECT DISTINCT k FROM (SELECT unnest(map_keys(b.{column})) AS k FROM {spans_table} b WHERE {}) \
         ORDER BY k LIMIT {limit}",
        conditions.join(" AND ")
    );
    strings(store, &sql)
}

/// The field a tag names (`span.http.method`, `.x`, `resource.service.name`, `status`, ...).
pub fn parse_tag(tag: &str) -> Result<Field, TraceqlError> {
    let invalid = || TraceqlError::Invalid(format!("{tag:?} is not a tag"));
    match parse(&format!("{{ {tag} != nil }}")) {
        Ok(SpansetExpr::Filter(FieldExpr::Compare { field, op: CompareOp::Ne, value: Literal::Nil })) => Ok(field),
        Ok(_) => Err(invalid()),
        Err(TraceqlError::Parse { .. }) => Err(invalid()),
        Err(other) => Err(other),
    }
}

/// The condition of `query` usable to narrow tag names and values: a single `{ ... }`
/// without trace-level fields. Anything else (several spansets, pipelines,
/// text that does not parse, such as the half-typed query of an editor) is
/// no filter at all, so autocompletion offers every value.
pub fn values_filter(query: &str) -> Option<FieldExpr> {
    match parse(query) {
        Ok(expr @ SpansetExpr::Filter(_)) if !uses_trace_level(&expr) => match expr {
            SpansetExpr::Filter(condition) => Some(condition),
            _ => None,
        },
        _ => None,
    }
}

/// Distinct values of `field` among spans starting in the range (and
/// matching `filter`), sorted, at most `limit`. Status and kind are
/// lower-case keywords as TraceQL writes them.
pub fn tag_values(
    store: &dyn Store,
    spans_table: &str,
    field: &Field,
    filter: Option<&FieldExpr>,
    range: (Option<i64>, Option<i64>),
    limit: usize,
) -> Result<Vec<String>, FetchError> {
    let (values, only_roots) = value_expressions(field)?;
    let mut conditions = vec![range_sql(range.0, range.1)];
    if only_roots {
        conditions.push("b.parent_span_id = ''".into());
    }
    if let Some(filter) = filter {
        conditions.push(condition_sql(filter, "b")?);
    }
    let sql = format!(
        "SELECT DISTINCT v FROM (SELECT unnest([{}]) AS v FROM {spans_table} b WHERE {}) \
         WHERE v IS NOT NULL ORDER BY v LIMIT {limit}",
        values.join(", "),
        conditions.join(" AND ")
    );
    strings(store, &sql)
}

/// The SQL expressions whose values a field takes, and whether only root spans count.
fn value_expressions(field: &Field) -> Result<(Vec<String>, bool), TraceqlError> {
    let intrinsic = match field {
        Field::Attribute { scope: AttributeScope::Any, name } => {
            let in_scope = |scope| field_sql(&Field::Attribute { scope, name: name.clone() }, "b");
            return Ok((vec![in_scope(AttributeScope::Span), in_scope(AttributeScope::Resource)], false));
        }
        Field::Attribute { .. } => return Ok((vec![field_sql(field, "b")], false)),
        Field::Intrinsic(intrinsic) => *intrinsic,
    };
    Ok(match intrinsic {
        Intrinsic::Name => (vec!["b.span_name".into()], false),
        Intrinsic::Status => (vec!["lower(b.status_code)".into()], false),
        Intrinsic::Kind => (vec!["lower(b.span_kind)".into()], false),
        Intrinsic::StatusMessage => (vec!["NULLIF(b.status_message, '')".into()], false),
        Intrinsic::RootName => (vec!["b.span_name".into()], true),
        Intrinsic::RootServiceName => (vec!["NULLIF(b.service_name, '')".into()], true),
        other => return Err(TraceqlError::Unsupported(format!("listing the values of {}", other.name()))),
    })
}

fn strings(store: &dyn Store, sql: &str) -> Result<Vec<String>, FetchError> {
    let mut read = ResultBytes::default();
    let mut out = Vec::new();
    for_each_batch(store, sql, |batch| -> Result<_, FetchError> {
        let values = text_column(&batch, 0)?;
        for row in 0..batch.num_rows() {
            let value = text_at(&values, row).ok_or_else(|| FetchError::Row("NULL value".into()))?;
            read.add(value.len())?;
            out.push(value.to_string());
        }
        Ok(ControlFlow::Continue(()))
    })??;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_intrinsic_parses() {
        for tag in INTRINSIC_TAGS {
            assert!(matches!(parse_tag(tag), Ok(Field::Intrinsic(_))), "{tag}");
        }
    }

    #[test]
    fn tags_are_traceql_fields() {
        let attribute = |scope, name: &str| Field::Attribute { scope, name: name.into() };
        assert_eq!(parse_tag("resource.service.name").unwrap(), attribute(AttributeScope::Resource, "service.name"));
        assert_eq!(parse_tag("span.http.method").unwrap(), attribute(AttributeScope::Span, "http.method"));
        assert_eq!(parse_tag(".x").unwrap(), attribute(AttributeScope::Any, "x"));
        assert_eq!(parse_tag("status").unwrap(), Field::Intrinsic(Intrinsic::Status));
        assert_eq!(parse_tag("name").unwrap(), Field::Intrinsic(Intrinsic::Name));
        assert_eq!(parse_tag("x").unwrap_err().to_string(), "traceql: \"x\" is not a tag");
        assert!(parse_tag("name != nil } || { .a").is_err());
        assert!(parse_tag("").is_err());
    }

    #[test]
    fn only_simple_filters_narrow_values() {
        assert!(values_filter(r#"{ span.http.method = "GET" }"#).is_some());
        assert_eq!(values_filter("{}"), Some(FieldExpr::Literal(true)));
        assert_eq!(values_filter("{ .cluster = }"), None);
        assert_eq!(values_filter("{ .a = 1 } && { .b = 2 }"), None);
        assert_eq!(values_filter(r#"{ rootName = "x" }"#), None);
    }

    #[test]
    fn values_of_each_kind_of_field() {
        assert_eq!(
            value_expressions(&parse_tag(".service.name").unwrap()).unwrap(),
            (vec!["b.span_attributes['service.name']".into(), "NULLIF(b.service_name, '')".into()], false)
        );
        assert_eq!(value_expressions(&parse_tag("status").unwrap()).unwrap().0, vec!["lower(b.status_code)"]);
        assert!(value_expressions(&parse_tag("rootName").unwrap()).unwrap().1);
        assert_eq!(
            value_expressions(&parse_tag("duration").unwrap()).unwrap_err().to_string(),
            "traceql: listing the values of duration is not supported"
        );
    }
}
