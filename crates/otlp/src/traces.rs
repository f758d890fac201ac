//! `ExportTraceServiceRequest` -> the `spans` table.
//!
//! Same shape as the logs decoder: validate each span (trace id 16 bytes and
//! span id 8 bytes, both required; parent and link ids, when present, of the
//! right length), then append column by column. Events and links are
//! `LIST(STRUCT(...))` columns built from one builder per struct field.
//! Kinds and status codes are stored as the ClickHouse exporter writes them
//! (`Server`, `Error`, ...), and an out-of-range enum as an empty string.

use super::attributes::{append_attributes, attr_map_builder, AttrMapBuilder, ResourceContext};
use super::columns::{append_hex, column_type, nanos, table_batch, ListOffsets};
use super::limits::{CopyBudget, DecodeLimits};
use super::{id_problem, DecodeError, Decoded, Rejections, Table};
use arrow_array::builder::{ArrayBuilder, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::ArrayRef;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::sync::Arc;

/// Decodes a request whose items `limits::check` has counted.
pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let request = ExportTraceServiceRequest::decode(body)?;
    let resources: Vec<ResourceContext> =
        request.resource_spans.iter().map(|r| ResourceContext::new(r.resource.as_ref(), &r.schema_url)).collect();
    let mut copies = CopyBudget::new(limits.max_copied_bytes);
    for (resource_spans, resource) in request.resource_spans.iter().zip(&resources) {
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans.scope.as_ref();
            let scope_bytes = scope.map_or(0, |s| s.name.len() + s.version.len());
            copies.charge(scope_spans.spans.len(), resource.row_bytes() + scope_bytes)?;
        }
    }
    let rows = request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
    let mut columns = SpanColumns::with_capacity(rows);
    let mut rejections = Rejections::default();
    for (resource_spans, resource) in request.resource_spans.iter().zip(&resources) {
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans.scope.as_ref();
            let scope_name = scope.map_or("", |s| s.name.as_str());
            let scope_version = scope.map_or("", |s| s.version.as_str());
            for span in &scope_spans.spans {
                match span_problem(span) {
                    Some(problem) => rejections.reject(1, || format!("span {:?}: {problem}", span.name)),
                    None => columns.append(resource, scope_name, scope_version, span),
                }
            }
        }
    }
    let batches = table_batch(Table::Spans, columns.finish()?)?.into_iter().collect();
    Ok(rejections.into_decoded(batches))
}

fn span_problem(span: &Span) -> Option<String> {
    id_problem("trace_id", &span.trace_id, 16, true)
        .or_else(|| id_problem("span_id", &span.span_id, 8, true))
        .or_else(|| id_problem("parent_span_id", &span.parent_span_id, 8, false))
        .or_else(|| {
            span.links.iter().find_map(|link| {
                id_problem("link trace_id", &link.trace_id, 16, false)
                    .or_else(|| id_problem("link span_id", &link.span_id, 8, false))
            })
        })
}

fn span_kind(kind: i32) -> &'static str {
    match kind {
        0 => "Unspecified",
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "",
    }
}

fn status_code(code: i32) -> &'static str {
    match code {
        0 => "Unset",
        1 => "Ok",
        2 => "Error",
        _ => "",
    }
}

struct SpanColumns {
    timestamp: TimestampNanosecondBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    trace_state: StringBuilder,
    span_name: StringBuilder,
    span_kind: StringBuilder,
    service_name: StringBuilder,
    resource_schema_url: StringBuilder,
    resource_attributes: AttrMapBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    span_attributes: AttrMapBuilder,
    duration: Int64Builder,
    end_timestamp: TimestampNanosecondBuilder,
    status_code: StringBuilder,
    status_message: StringBuilder,
    events: ListOffsets,
    event_timestamp: TimestampNanosecondBuilder,
    event_name: StringBuilder,
    event_attributes: AttrMapBuilder,
    links: ListOffsets,
    link_trace_id: StringBuilder,
    link_span_id: StringBuilder,
    link_trace_state: StringBuilder,
    link_attributes: AttrMapBuilder,
    scratch: String,
}

impl SpanColumns {
    fn with_capacity(rows: usize) -> Self {
        let strings = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        SpanColumns {
            timestamp: TimestampNanosecondBuilder::with_capacity(rows),
            trace_id: strings(32),
            span_id: strings(16),
            parent_span_id: strings(16),
            trace_state: strings(0),
            span_name: strings(16),
            span_kind: strings(6),
            service_name: strings(16),
            resource_schema_url: strings(0),
            resource_attributes: attr_map_builder(rows, rows * 8),
            scope_name: strings(16),
            scope_version: strings(0),
            span_attributes: attr_map_builder(rows, rows * 8),
            duration: Int64Builder::with_capacity(rows),
            end_timestamp: TimestampNanosecondBuilder::with_capacity(rows),
            status_code: strings(5),
            status_message: strings(0),
            events: ListOffsets::with_capacity(rows),
            event_timestamp: TimestampNanosecondBuilder::new(),
            event_name: StringBuilder::new(),
            event_attributes: attr_map_builder(0, 0),
            links: ListOffsets::with_capacity(rows),
            link_trace_id: StringBuilder::new(),
            link_span_id: StringBuilder::new(),
            link_trace_state: StringBuilder::new(),
            link_attributes: attr_map_builder(0, 0),
            scratch: String::new(),
        }
    }

    fn append(&mut self, resource: &ResourceContext, scope_name: &str, scope_version: &str, span: &Span) {
        self.timestamp.append_option(nanos(span.start_time_unix_nano));
        append_hex(&mut self.trace_id, &span.trace_id);
        append_hex(&mut self.span_id, &span.span_id);
        append_hex(&mut self.parent_span_id, &span.parent_span_id);
        self.trace_state.append_value(&span.trace_state);
        self.span_name.append_value(&span.name);
        self.span_kind.append_value(span_kind(span.kind));
        self.service_name.append_value(&resource.service_name);
        self.resource_schema_url.append_value(resource.schema_url);
        resource.attributes.append_to(&mut self.resource_attributes);
        self.scope_name.append_value(scope_name);
        self.scope_version.append_value(scope_version);
        append_attributes(&mut self.span_attributes, &span.attributes, &mut self.scratch);
        self.duration.append_value(span.end_time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64);
        self.end_timestamp.append_option(nanos(span.end_time_unix_nano));
        let status = span.status.as_ref();
        self.status_code.append_value(status_code(status.map_or(0, |s| s.code)));
        self.status_message.append_value(status.map_or("", |s| s.message.as_str()));

        for event in &span.events {
            self.event_timestamp.append_option(nanos(event.time_unix_nano));
            self.event_name.append_value(&event.name);
            append_attributes(&mut self.event_attributes, &event.attributes, &mut self.scratch);
        }
        self.events.close_row(self.event_name.len());
        for link in &span.links {
            append_hex(&mut self.link_trace_id, &link.trace_id);
            append_hex(&mut self.link_span_id, &link.span_id);
            self.link_trace_state.append_value(&link.trace_state);
            append_attributes(&mut self.link_attributes, &link.attributes, &mut self.scratch);
        }
        self.links.close_row(self.link_trace_id.len());
    }

    fn finish(mut self) -> Result<Vec<ArrayRef>, DecodeError> {
        let events = self.events.finish(
            &column_type(Table::Spans, "events"),
            vec![
                Arc::new(self.event_timestamp.finish()),
                Arc::new(self.event_name.finish()),
                Arc::new(self.event_attributes.finish()),
            ],
        )?;
        let links = self.links.finish(
            &column_type(Table::Spans, "links"),
            vec![
                Arc::new(self.link_trace_id.finish()),
                Arc::new(self.link_span_id.finish()),
                Arc::new(self.link_trace_state.finish()),
                Arc::new(self.link_attributes.finish()),
            ],
        )?;
        Ok(vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.span_name.finish()),
            Arc::new(self.span_kind.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.span_attributes.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.end_timestamp.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            events,
            links,
        ])
    }
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
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

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
