//! `/api/search`: TraceQL (`q`) or tag search (`tags`, `minDuration`,
//! `maxDuration`), answered in Tempo's JSON.
//!
//! A tag search is turned into the TraceQL it means (each `key=value` a
//! spanset on the span or resource attribute, spansets joined with `&&`), so
//! there is one search path. Duration bounds become a pipeline filter on
//! `traceDuration`, which narrows traces without changing their matched
//! spans. Each matched span lists `service.name` and the span attributes the
//! query names, as Tempo lists the attributes it evaluated.

use super::params::{
    duration, go_duration_text, logfmt, search_limit, search_range, too_many_tags, unsigned, MAX_SEARCH_TAGS,
};
use super::{request_deadline, run_query, TempoError};
use crate::Reply;
use crate::{ApiRequest, CompatContext};
use canardstack_query::traceql::ast::*;
use canardstack_query::traceql::fetch::{search as run_search, TraceHit};
use canardstack_query::traceql::{parse, SearchOptions};
use serde_json::{json, Value};

pub const DEFAULT_LIMIT: u64 = 20;
pub const DEFAULT_SPANS_PER_SPANSET: u64 = 3;
/// Tempo's default `max_spans_per_span_set`.
pub const MAX_SPANS_PER_SPANSET: u64 = 100;
/// What Tempo shows for a trace whose root span it has not seen.
const ROOT_NOT_RECEIVED: &str = "<root span not yet received>";
/// Parameters that are not legacy tags (`/api/search?service.name=x`).
const RESERVED: [&str; 8] = ["q", "tags", "minDuration", "maxDuration", "limit", "spss", "start", "end"];

pub fn search(request: &ApiRequest, context: &CompatContext) -> Result<Reply, TempoError> {
    let deadline = request_deadline(context);
    let params = &request.params;
    let range = search_range(params)?;
    let query = params.get("q");
    let mut tags = match params.get("tags") {
        Some(_) if query.is_some() => {
            return Err(TempoError::bad("invalid request: can't specify tags and q in the same query"))
        }
        Some(text) => logfmt(text)?,
        None => Vec::new(),
    };
    if query.is_none() && params.get("tags").is_none() && range == (None, None) {
        tags = legacy_tags(request)?;
    }
    let min = duration(params, "minDuration")?;
    let max = duration(params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min, max) {
        if min / 1_000_000 != 0 && min / 1_000_000 > max / 1_000_000 {
            return Err(TempoError::bad("invalid maxDuration: must be greater than minDuration"));
        }
    }
    let limit = search_limit(params, DEFAULT_LIMIT)?;
    let max_limit = context.limits.max_entries as u64;
    if limit > max_limit {
        return Err(TempoError::bad(format!("limit {limit} exceeds max limit {max_limit}")));
    }
    // 0 asks for the default, as in Tempo's engine
    let spss = unsigned(params, "spss")?.filter(|n| *n > 0).unwrap_or(DEFAULT_SPANS_PER_SPANSET);
    if spss > MAX_SPANS_PER_SPANSET {
        return Err(TempoError::bad(format!("spans per span set exceeds {MAX_SPANS_PER_SPANSET}. received {spss}")));
    }
    // checked in Tempo's order: parameters, then the query, then the range
    let expr = match query {
        Some(text) => parse(text).map_err(|e| TempoError::bad(format!("invalid TraceQL query: {e}")))?,
        None => tag_search(&tags)?,
    };
    check_range(range, context)?;

    let expr = with_duration_bounds(expr, min, max);
    let options = SearchOptions {
        spans_table: context.target.qualified("spans"),
        start_ns: range.0,
        end_ns: range.1,
        limit,
        spans_per_spanset: spss,
    };
    let hits = run_query(context, deadline, |con| run_search(con, &expr, &options))?;
    let shown = shown_attributes(&expr);
    let traces: Vec<Value> = hits.iter().map(|hit| trace_json(hit, &shown)).collect();
    Ok(Reply::json(200, &json!({ "traces": traces, "metrics": { "completedJobs": 1, "totalJobs": 1 } })))
}

/// Over `max_range` is Tempo's "range exceeds" error. Once `end` is given the
/// range is `end - start` (start 0 when absent), as Tempo's sharder measures
/// it; no range at all is bounded by the timeout only.
fn check_range(range: (Option<i64>, Option<i64>), context: &CompatContext) -> Result<(), TempoError> {
    let Some(end) = range.1 else { return Ok(()) };
    let max = context.limits.max_range.as_secs() as i64;
    // end carries one extra second (the whole end second is searched)
    let (start_s, end_s) = (range.0.unwrap_or(0) / 1_000_000_000, end / 1_000_000_000 - 1);
    if end_s - start_s > max {
        return Err(TempoError::bad(format!(
            "range specified by start and end exceeds {}. received start={start_s} end={end_s}",
            go_duration_text(max as u64),
        )));
    }
    Ok(())
}

/// Before `tags` existed, Grafana sent each tag as its own parameter.
fn legacy_tags(request: &ApiRequest) -> Result<Vec<(String, String)>, TempoError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for (key, value) in request.params.pairs() {
        if !RESERVED.contains(&key.as_str()) && !value.is_empty() && !tags.iter().any(|(k, _)| k == key) {
            if tags.len() == MAX_SEARCH_TAGS {
                return Err(too_many_tags());
            }
            tags.push((key.clone(), value.clone()));
        }
    }
    Ok(tags)
}

/// `a=x b=y` -> `{ .a = "x" } && { .b = "y" }`; `name` is the span name and
/// `status.code` the status; no tags: every span.
fn tag_search(tags: &[(String, String)]) -> Result<SpansetExpr, TempoError> {
    let mut spansets = Vec::new();
    for (key, value) in tags {
        let condition = match key.as_str() {
            "name" => compare(Field::Intrinsic(Intrinsic::Name), Literal::String(value.clone())),
            "status.code" => compare(Field::Intrinsic(Intrinsic::Status), Literal::Status(status_literal(value)?)),
            _ => compare(
                Field::Attribute { scope: AttributeScope::Any, name: key.clone() },
                Literal::String(value.clone()),
            ),
        };
        spansets.push(SpansetExpr::Filter(condition));
    }
    let all = SpansetExpr::Filter(FieldExpr::Literal(true));
    Ok(spansets
        .into_iter()
        .reduce(|lhs, rhs| SpansetExpr::Binary { op: SpansetOp::And, lhs: Box::new(lhs), rhs: Box::new(rhs) })
        .unwrap_or(all))
}

fn status_literal(value: &str) -> Result<Status, TempoError> {
    match value.to_ascii_lowercase().as_str() {
        "error" | "2" => Ok(Status::Error),
        "ok" | "1" => Ok(Status::Ok),
        "unset" | "0" => Ok(Status::Unset),
        _ => Err(TempoError::bad(format!("invalid tags: status.code must be error, ok or unset, got {value:?}"))),
    }
}

fn compare(field: Field, value: Literal) -> FieldExpr {
    FieldExpr::Compare { field, op: CompareOp::Eq, value }
}

/// `expr | { traceDuration >= min && traceDuration <= max }`, Tempo's
/// millisecond bounds on the whole trace.
fn with_duration_bounds(expr: SpansetExpr, min: Option<i64>, max: Option<i64>) -> SpansetExpr {
    let bound = |op, nanos: i64| FieldExpr::Compare {
        field: Field::Intrinsic(Intrinsic::TraceDuration),
        op,
        value: Literal::Duration(nanos / 1_000_000 * 1_000_000),
    };
    let conditions: Vec<FieldExpr> = [
        min.filter(|ns| *ns / 1_000_000 > 0).map(|ns| bound(CompareOp::Ge, ns)),
        max.filter(|ns| *ns / 1_000_000 > 0).map(|ns| bound(CompareOp::Le, ns)),
    ]
    .into_iter()
    .flatten()
    .collect();
    match conditions.into_iter().reduce(|a, b| FieldExpr::And(Box::new(a), Box::new(b))) {
        Some(condition) => SpansetExpr::Pipeline { input: Box::new(expr), stage: Stage::Filter(condition) },
        None => expr,
    }
}

/// The span attributes a query names (span or unscoped), in order, once each.
fn shown_attributes(expr: &SpansetExpr) -> Vec<String> {
    fn field(field: &Field, out: &mut Vec<String>) {
        if let Field::Attribute { scope: AttributeScope::Span | AttributeScope::Any, name } = field {
            if name != "service.name" && !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    fn condition(expr: &FieldExpr, out: &mut Vec<String>) {
        match expr {
            FieldExpr::Literal(_) => {}
            FieldExpr::And(a, b) | FieldExpr::Or(a, b) => {
                condition(a, out);
                condition(b, out);
            }
            FieldExpr::Compare { field: f, .. } => field(f, out),
        }
    }
    fn walk(expr: &SpansetExpr, out: &mut Vec<String>) {
        match expr {
            SpansetExpr::Filter(c) => condition(c, out),
            SpansetExpr::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            SpansetExpr::Pipeline { input, stage } => {
                walk(input, out);
                match stage {
                    Stage::Filter(c) => condition(c, out),
                    Stage::Aggregate { field: f, .. } => f.iter().for_each(|f| field(f, out)),
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

fn trace_json(hit: &TraceHit, shown: &[String]) -> Value {
    let spans: Vec<Value> = hit
        .spans
        .iter()
        .map(|span| {
            let service = (!span.service_name.is_empty()).then_some(("service.name", span.service_name.as_str()));
            let named = shown.iter().filter_map(|name| {
                span.attributes.iter().find(|(key, _)| key == name).map(|(key, value)| (key.as_str(), value.as_str()))
            });
            let attributes: Vec<Value> = service
                .into_iter()
                .chain(named)
                .map(|(key, value)| json!({ "key": key, "value": { "stringValue": value } }))
                .collect();
            let mut out = json!({
                "spanID": span.span_id,
                "name": span.name,
                "startTimeUnixNano": span.start_ns.to_string(),
                "durationNanos": span.duration_ns.to_string(),
            });
            if !attributes.is_empty() {
                out["attributes"] = Value::Array(attributes);
            }
            out
        })
        .collect();
    let span_set = json!({ "spans": spans, "matched": hit.matched });
    let mut out = json!({
        "traceID": trimmed_trace_id(&hit.trace_id),
        "rootServiceName": hit.root_service_name.as_deref().filter(|s| !s.is_empty()).unwrap_or(ROOT_NOT_RECEIVED),
        "startTimeUnixNano": hit.start_ns.to_string(),
        "spanSet": span_set.clone(),
        "spanSets": [span_set],
    });
    if let Some(name) = hit.root_span_name.as_deref().filter(|s| !s.is_empty()) {
        out["rootTraceName"] = json!(name);
    }
    // jsonpb leaves out zero numbers
    if hit.duration_ms != 0 {
        out["durationMs"] = json!(hit.duration_ms);
    }
    out
}

/// Tempo prints trace ids in search results without leading zeros (unless
/// its `left_pad_trace_ids` override is set; it is off by default).
fn trimmed_trace_id(id: &str) -> &str {
    id.trim_start_matches('0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use canardstack_query::traceql::fetch::MatchedSpan;

    #[test]
    fn tag_searches_are_bounded_and_plan_on_a_small_stack() {
        let text = |n: usize, sep: &str| (0..n).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(sep);
        let message = |e: TempoError| String::from_utf8(e.reply().body).unwrap();
        assert_eq!(message(logfmt(&text(MAX_SEARCH_TAGS + 1, " ")).unwrap_err()), "invalid tags: more than 64 tags");
        let legacy = ApiRequest::get("/api/search", &text(20_000, "&"));
        assert_eq!(message(legacy_tags(&legacy).unwrap_err()), "invalid tags: more than 64 tags");
        assert_eq!(legacy_tags(&ApiRequest::get("/api/search", &text(MAX_SEARCH_TAGS, "&"))).unwrap().len(), 64);
        let tags = logfmt(&text(MAX_SEARCH_TAGS, " ")).unwrap();
        let planned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let expr = with_duration_bounds(tag_search(&tags).unwrap(), Some(1_000_000), Some(2_000_000_000));
                let options = canardstack_query::traceql::SearchOptions {
                    spans_table: "spans".into(),
                    start_ns: None,
                    end_ns: None,
                    limit: 20,
                    spans_per_spanset: 3,
                };
                canardstack_query::traceql::search_sql(&expr, &options).map(|sql| sql.contains("'k63'"))
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(planned, Ok(true));
    }

    #[test]
    fn tags_become_traceql() {
        let tags = logfmt(r#"service.name=cart name="GET /" status.code=error"#).unwrap();
        let expected = parse(r#"{ .service.name = "cart" } && { name = "GET /" } && { status = error }"#).unwrap();
        assert_eq!(tag_search(&tags).unwrap(), expected);
        assert_eq!(tag_search(&[]).unwrap(), parse("{ true }").unwrap());
        assert!(tag_search(&[("status.code".into(), "bad".into())]).is_err());
    }

    #[test]
    fn durations_filter_whole_traces() {
        let expr = with_duration_bounds(parse("{ }").unwrap(), Some(1_500_000_000), Some(2_000_999_999));
        assert_eq!(expr, parse("{ } | { traceDuration >= 1500ms && traceDuration <= 2000ms }").unwrap());
        assert_eq!(with_duration_bounds(parse("{ }").unwrap(), None, Some(10)), parse("{ }").unwrap());
    }

    #[test]
    fn shown_attributes_are_the_named_span_attributes() {
        let expr =
            parse(r#"{ span.a = 1 && resource.r = "x" } >> { .b = 2 && .service.name = "w" } | avg(span.c) > 1"#)
                .unwrap();
        assert_eq!(shown_attributes(&expr), vec!["a", "b", "c"]);
    }

    #[test]
    fn hits_render_as_tempo_does() {
        let hit = TraceHit {
            trace_id: "00000000000000000000000000000abc".into(),
            root_service_name: None,
            root_span_name: None,
            start_ns: 5,
            duration_ms: 0,
            matched: 4,
            spans: vec![MatchedSpan {
                span_id: "00000000000000aa".into(),
                name: "q".into(),
                start_ns: 6,
                duration_ns: 7,
                service_name: "db".into(),
                attributes: vec![("x".into(), "1".into()), ("a".into(), "2".into())],
            }],
        };
        let span_set = json!({"spans": [{"spanID": "00000000000000aa", "name": "q", "startTimeUnixNano": "6",
            "durationNanos": "7", "attributes": [{"key": "service.name", "value": {"stringValue": "db"}},
            {"key": "a", "value": {"stringValue": "2"}}]}], "matched": 4});
        assert_eq!(
            trace_json(&hit, &["a".to_string()]),
            json!({"traceID": "abc", "rootServiceName": "<root span not yet received>", "startTimeUnixNano": "5",
                   "spanSet": span_set, "spanSets": [span_set]})
        );
        assert_eq!(trimmed_trace_id("00f0"), "f0");
    }
}
