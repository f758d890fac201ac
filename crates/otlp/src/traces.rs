//! `ExportTraceServiceRequest` -> the `spans` table.
//!
//! Same shape as the logs decoder: validate each span (trace id 16 bytes and
//! span id 8 bytes, both required; parent and link ids, when present, of the
//! right length), then append column by column (see `span_columns`). Kinds
//! and status codes are stored as the ClickHouse exporter writes them
//! (`Server`, `Error`, ...), and an out-of-range enum as an empty string.
//!
//! `decode` first tries the zero-copy wire walker (`traces_wire`), which
//! builds the same columns without materialising prost messages; whatever it
//! declines is decoded here with prost, which stays the reference behaviour.

use super::attributes::ResourceContext;
use super::columns::table_batch;
use super::limits::{self, CopyBudget, DecodeLimits, ItemBudget};
use super::span_columns::{ScopeNames, SpanColumns, SpanScalars};
use super::{id_problem, DecodeError, Decoded, Rejections, Table};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    match super::traces_wire::decode(body, limits) {
        Some(decoded) => Ok(decoded),
        None => decode_with_prost(body, limits),
    }
}

/// The reference decoder: items counted, prost messages, then columns.
pub(super) fn decode_with_prost(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    limits::check(&super::messages::EXPORT_TRACE, body, &mut ItemBudget::new(limits.max_items))?;
    let request = ExportTraceServiceRequest::decode(body)?;
    let resources: Vec<ResourceContext> =
        request.resource_spans.iter().map(|r| ResourceContext::new(r.resource.as_ref(), &r.schema_url)).collect();
    let mut copies = CopyBudget::new(limits.max_copied_bytes);
    for (resource_spans, resource) in request.resource_spans.iter().zip(&resources) {
        for scope_spans in &resource_spans.scope_spans {
            let scope = ScopeNames::of(scope_spans.scope.as_ref());
            copies.charge(scope_spans.spans.len(), resource.row_bytes() + scope.row_bytes())?;
        }
    }
    let rows = request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
    let mut columns = SpanColumns::with_capacity(rows);
    let mut rejections = Rejections::default();
    for (resource_spans, resource) in request.resource_spans.iter().zip(&resources) {
        for scope_spans in &resource_spans.scope_spans {
            let scope = ScopeNames::of(scope_spans.scope.as_ref());
            for span in &scope_spans.spans {
                let link_ids = span.links.iter().map(|link| (&link.trace_id[..], &link.span_id[..]));
                match span_problem(&SpanScalars::of(span), link_ids) {
                    Some(problem) => reject_span(&mut rejections, &span.name, problem),
                    None => columns.append(resource, scope, span),
                }
            }
        }
    }
    let batches = table_batch(Table::Spans, columns.finish()?)?.into_iter().collect();
    Ok(rejections.into_decoded(batches))
}

/// Why a span cannot be stored: its first bad id, its own ids first, then
/// its links' (trace id, span id) pairs in order.
pub(super) fn span_problem<'a>(
    span: &SpanScalars,
    mut link_ids: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Option<String> {
    id_problem("trace_id", span.trace_id, 16, true)
        .or_else(|| id_problem("span_id", span.span_id, 8, true))
        .or_else(|| id_problem("parent_span_id", span.parent_span_id, 8, false))
        .or_else(|| {
            link_ids.find_map(|(trace_id, span_id)| {
                id_problem("link trace_id", trace_id, 16, false)
                    .or_else(|| id_problem("link span_id", span_id, 8, false))
            })
        })
}

/// Counts a rejected span; the first rejection's message names it.
pub(super) fn reject_span(rejections: &mut Rejections, name: &str, problem: String) {
    rejections.reject(1, || format!("span {name:?}: {problem}"));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
        super::decode(body, &crate::DecodeLimits::unbounded(usize::MAX))
    }
    use crate::attributes::tests::{kv, map_entries, s};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampNanosecondType};
    use arrow_array::{Array, MapArray};
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, InstrumentationScope};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

    pub(crate) fn sample_request() -> ExportTraceServiceRequest {
        let trace_id: Vec<u8> = (0xa0..0xb0).collect();
        let root = Span {
            trace_id: trace_id.clone(),
            span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            trace_state: "k=v".into(),
            name: "GET /cart".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_250_000_000,
            attributes: vec![kv("http.route", s("/cart")), kv("http.status_code", Value::IntValue(500))],
            events: vec![
                Event {
                    time_unix_nano: 1_700_000_000_100_000_000,
                    name: "exception".into(),
                    attributes: vec![kv("exception.type", s("Timeout"))],
                    ..Default::default()
                },
                Event { time_unix_nano: 1_700_000_000_200_000_000, name: "retry".into(), ..Default::default() },
            ],
            links: vec![Link {
                trace_id: vec![0xff; 16],
                span_id: vec![0xee; 8],
                trace_state: "x=y".into(),
                attributes: vec![kv("link.kind", s("follows"))],
                ..Default::default()
            }],
            status: Some(Status { message: "upstream timeout".into(), code: 2 }),
            ..Default::default()
        };
        let child = Span {
            trace_id,
            span_id: vec![9; 8],
            parent_span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            name: "SELECT".into(),
            kind: 3,
            start_time_unix_nano: 1_700_000_000_010_000_000,
            end_time_unix_nano: 1_700_000_000_020_000_000,
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![kv("service.name", s("cart"))], ..Default::default() }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "tracer".into(),
                        version: "0.9".into(),
                        ..Default::default()
                    }),
                    spans: vec![root, child],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    pub(crate) fn check_sample(decoded: &Decoded) {
        assert_eq!(decoded.rejected, 0, "{}", decoded.rejection_message);
        assert_eq!(decoded.batches.len(), 1);
        assert_eq!(decoded.batches[0].table, Table::Spans);
        let b = &decoded.batches[0].batch;
        assert_eq!(b.num_rows(), 2);
        let col = |name: &str| b.column_by_name(name).unwrap().clone();
        let text = |name: &str, row: usize| col(name).as_string::<i32>().value(row).to_string();
        assert_eq!(col("timestamp").as_primitive::<TimestampNanosecondType>().value(0), 1_700_000_000_000_000_000);
        assert_eq!(text("trace_id", 0), "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
        assert_eq!(text("span_id", 0), "0102030405060708");
        assert_eq!(text("parent_span_id", 0), "");
        assert_eq!(text("parent_span_id", 1), "0102030405060708");
        assert_eq!(text("trace_state", 0), "k=v");
        assert_eq!(text("span_name", 1), "SELECT");
        assert_eq!(text("span_kind", 0), "Server");
        assert_eq!(text("span_kind", 1), "Client");
        assert_eq!(text("service_name", 1), "cart");
        assert_eq!(text("scope_name", 0), "tracer");
        assert_eq!(text("scope_version", 0), "0.9");
        let attrs = col("span_attributes");
        let attrs = attrs.as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(
            map_entries(attrs, 0),
            vec![("http.route".into(), "/cart".into()), ("http.status_code".into(), "500".into())]
        );
        assert_eq!(col("duration").as_primitive::<Int64Type>().value(0), 250_000_000);
        assert_eq!(col("duration").as_primitive::<Int64Type>().value(1), 10_000_000);
        assert_eq!(col("end_timestamp").as_primitive::<TimestampNanosecondType>().value(0), 1_700_000_000_250_000_000);
        assert_eq!(text("status_code", 0), "Error");
        assert_eq!(text("status_code", 1), "Unset");
        assert_eq!(text("status_message", 0), "upstream timeout");

        let events = col("events");
        let events = events.as_list::<i32>();
        assert_eq!(events.value_length(0), 2);
        assert_eq!(events.value_length(1), 0);
        let first = events.value(0);
        let first = first.as_struct();
        assert_eq!(first.column(0).as_primitive::<TimestampNanosecondType>().value(1), 1_700_000_000_200_000_000);
        assert_eq!(first.column(1).as_string::<i32>().value(0), "exception");
        let event_attrs = first.column(2).as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(event_attrs, 0), vec![("exception.type".into(), "Timeout".into())]);
        assert_eq!(map_entries(event_attrs, 1), vec![]);

        let links = col("links");
        let links = links.as_list::<i32>();
        assert_eq!(links.value_length(0), 1);
        assert_eq!(links.value_length(1), 0);
        let link = links.value(0);
        let link = link.as_struct();
        assert_eq!(link.column(0).as_string::<i32>().value(0), "ffffffffffffffffffffffffffffffff");
        assert_eq!(link.column(1).as_string::<i32>().value(0), "eeeeeeeeeeeeeeee");
        assert_eq!(link.column(2).as_string::<i32>().value(0), "x=y");
        let link_attrs = link.column(3).as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(link_attrs, 0), vec![("link.kind".into(), "follows".into())]);
        assert_eq!(b.column_by_name("events").unwrap().null_count(), 0);
    }

    #[test]
    fn decodes_spans_with_events_and_links() {
        check_sample(&decode(&sample_request().encode_to_vec()).unwrap());
    }

    #[test]
    fn rejects_spans_with_bad_ids() {
        let mut request = sample_request();
        let spans = &mut request.resource_spans[0].scope_spans[0].spans;
        let good = spans[1].clone();
        let mut no_trace = good.clone();
        no_trace.trace_id.clear();
        no_trace.name = "no trace".into();
        let mut no_span = good.clone();
        no_span.span_id.clear();
        let mut bad_parent = good.clone();
        bad_parent.parent_span_id = vec![1; 4];
        let mut bad_link = spans[0].clone();
        bad_link.links[0].span_id = vec![1; 3];
        let mut empty_link_ids = spans[0].clone();
        empty_link_ids.links[0].trace_id.clear();
        empty_link_ids.links[0].span_id.clear();
        spans.extend([no_trace, no_span, bad_parent, bad_link, empty_link_ids]);

        let decoded = decode(&request.encode_to_vec()).unwrap();
        assert_eq!(decoded.rejected, 4);
        assert_eq!(decoded.rejection_message, "span \"no trace\": trace_id is empty");
        let b = &decoded.batches[0].batch;
        assert_eq!(b.num_rows(), 3);
        let links = b.column_by_name("links").unwrap().as_list::<i32>().value(2);
        assert_eq!(links.as_struct().column(0).as_string::<i32>().value(0), "");
    }

    #[test]
    fn unknown_enums_are_empty_strings() {
        let mut request = sample_request();
        let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
        span.kind = 42;
        span.status.as_mut().unwrap().code = 7;
        let decoded = decode(&request.encode_to_vec()).unwrap();
        let b = &decoded.batches[0].batch;
        assert_eq!(b.column_by_name("span_kind").unwrap().as_string::<i32>().value(0), "");
        assert_eq!(b.column_by_name("status_code").unwrap().as_string::<i32>().value(0), "");
    }
}
