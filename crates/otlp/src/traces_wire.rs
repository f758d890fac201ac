//! A zero-copy decoder for protobuf `ExportTraceServiceRequest` bodies.
//!
//! Why it exists: decoding spans with prost allocates a `String` or `Vec` for
//! every id, name, attribute, event and link of every span, then the column
//! builders copy all of it once more; spans carry more of those than log
//! records do. This walker reads the protobuf wire format of the body
//! directly into the `spans` column builders (`span_columns`), borrowing
//! `&str`/`&[u8]` slices from the body. It shares the wire reading, the
//! resource/scope layout pass and the attribute values with the logs walker
//! (`wire`): each `Resource` and `InstrumentationScope` and every non-string
//! `AnyValue` still goes through prost, one small message at a time, so
//! their rendering is exactly the existing one.
//!
//! A span's events and links are read into reused scratch vectors first,
//! because a span's fields may come in any order (its status or trace id
//! after its events) and a span whose ids turn out bad is rejected whole.
//!
//! It must produce exactly what [`super::traces::decode_with_prost`]
//! produces, so it declines (returns `None`, and the caller decodes with
//! prost) whenever the body is not plain canonical-ish protobuf: any
//! malformed input (truncation, bad varint or key, invalid UTF-8, a length
//! past the end, a known field with an unexpected wire type), a singular
//! embedded message (`resource`, `scope`, `status`, `KeyValue.value`)
//! occurring twice (prost would merge the occurrences), an unknown field
//! encoded as a group, nested values deep enough to come near prost's
//! recursion limit, and any request past a bound of `DecodeLimits` (the prost
//! path counts the same items and answers the error). Declining is always
//! safe; prost then gives today's result or today's error.

use super::attributes::ResourceContext;
use super::columns::table_batch;
use super::limits::{CopyBudget, DecodeLimits, ItemBudget};
use super::span_columns::{EventScalars, LinkScalars, ScopeNames, SpanColumns, SpanScalars};
use super::traces::{reject_span, span_problem};
use super::wire::{
    append_attribute_row, count, scan_key_value, set_once, Decline, Fields, Layout, Payload, Value, Walk,
};
use super::{Decoded, Rejections, Table};
use std::ops::Range;

/// Decodes a protobuf traces request, or `None` when prost must do it.
pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Option<Decoded> {
    decode_request(body, limits).ok()
}

fn decode_request(body: &[u8], limits: &DecodeLimits) -> Walk<Decoded> {
    let mut budget = ItemBudget::new(limits.max_items);
    let layout = Layout::scan(body, &mut budget)?;
    let resources = layout.resource_contexts(&mut budget)?;
    let scopes = layout.decoded_scopes(&mut budget)?;
    let scope_names: Vec<ScopeNames> = scopes.iter().map(|scope| ScopeNames::of(scope.as_ref())).collect();
    let mut copies = CopyBudget::new(limits.max_copied_bytes);
    for (scope, names) in layout.scopes.iter().zip(&scope_names) {
        copies.charge(scope.items, resources[scope.resource].row_bytes() + names.row_bytes()).map_err(|_| Decline)?;
    }
    let mut columns = SpanColumns::with_capacity(layout.items.len());
    let mut rejections = Rejections::default();
    let mut span = SpanParts::default();
    for item in &layout.items {
        span.scan(item.bytes, &mut budget)?;
        match span_problem(&span.scalars, span.links.iter().map(|link| (link.scalars.trace_id, link.scalars.span_id))) {
            Some(problem) => reject_span(&mut rejections, span.scalars.name, problem),
            None => {
                let resource = &resources[layout.scopes[item.scope].resource];
                span.append_to(&mut columns, resource, scope_names[item.scope]);
            }
        }
    }
    let batches = table_batch(Table::Spans, columns.finish().map_err(|_| Decline)?).map_err(|_| Decline)?;
    Ok(rejections.into_decoded(batches.into_iter().collect()))
}

// ---------------------------------------------------------------------------
// One span

/// An attribute borrowed from the body.
type Attribute<'a> = (&'a str, Value<'a>);

struct EventParts<'a> {
    scalars: EventScalars<'a>,
    /// into [`SpanParts::nested_attributes`]
    attributes: Range<usize>,
}

struct LinkParts<'a> {
    scalars: LinkScalars<'a>,
    /// into [`SpanParts::nested_attributes`]
    attributes: Range<usize>,
}

/// One span as read from the wire, its vectors reused from span to span.
#[derive(Default)]
struct SpanParts<'a> {
    scalars: SpanScalars<'a>,
    attributes: Vec<Attribute<'a>>,
    events: Vec<EventParts<'a>>,
    links: Vec<LinkParts<'a>>,
    /// The attributes of all events and links, one range each.
    nested_attributes: Vec<Attribute<'a>>,
}

impl<'a> SpanParts<'a> {
    /// Reads one `Span`, replacing what the previous one left.
    fn scan(&mut self, message: &'a [u8], budget: &mut ItemBudget) -> Walk<()> {
        self.scalars = SpanScalars::default();
        self.attributes.clear();
        self.events.clear();
        self.links.clear();
        self.nested_attributes.clear();
        let mut status = None;
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            let scalars = &mut self.scalars;
            match tag {
                1 => scalars.trace_id = payload.bytes()?,
                2 => scalars.span_id = payload.bytes()?,
                3 => scalars.trace_state = payload.text()?,
                4 => scalars.parent_span_id = payload.bytes()?,
                5 => scalars.name = payload.text()?,
                6 => scalars.kind = payload.varint()? as i32,
                7 => scalars.start_time_unix_nano = payload.fixed64()?,
                8 => scalars.end_time_unix_nano = payload.fixed64()?,
                9 => self.attributes.push(scan_attribute(&payload, budget)?),
                // dropped attributes, events and links counts: not stored
                10 | 12 | 14 => _ = payload.varint()?,
                11 => {
                    count(budget, 1)?;
                    let event = scan_event(payload.bytes()?, &mut self.nested_attributes, budget)?;
                    self.events.push(event);
                }
                13 => {
                    count(budget, 1)?;
                    let link = scan_link(payload.bytes()?, &mut self.nested_attributes, budget)?;
                    self.links.push(link);
                }
                15 => set_once(&mut status, &payload)?,
                // W3C trace flags: not stored
                16 => _ = payload.fixed32()?,
                _ => {}
            }
        }
        if let Some(status) = status {
            scan_status(status, &mut self.scalars)?;
        }
        Ok(())
    }

    fn append_to(&self, columns: &mut SpanColumns, resource: &ResourceContext, scope: ScopeNames) {
        columns.append_scalars(resource, scope, &self.scalars);
        append_attribute_row(&mut columns.span_attributes, &self.attributes, &mut columns.scratch);
        for event in &self.events {
            columns.append_event(&event.scalars);
            let attributes = &self.nested_attributes[event.attributes.clone()];
            append_attribute_row(&mut columns.event_attributes, attributes, &mut columns.scratch);
        }
        for link in &self.links {
            columns.append_link(&link.scalars);
            let attributes = &self.nested_attributes[link.attributes.clone()];
            append_attribute_row(&mut columns.link_attributes, attributes, &mut columns.scratch);
        }
        columns.close_row();
    }
}

/// One element of a repeated `KeyValue` field, counted as an item.
fn scan_attribute<'a>(payload: &Payload<'a>, budget: &mut ItemBudget) -> Walk<Attribute<'a>> {
    count(budget, 1)?;
    scan_key_value(payload.bytes()?, budget)
}

/// `Span.Event`: 1 time_unix_nano, 2 name, 3 attributes, 4
/// dropped_attributes_count; its attributes are appended to `attributes`.
fn scan_event<'a>(
    message: &'a [u8],
    attributes: &mut Vec<Attribute<'a>>,
    budget: &mut ItemBudget,
) -> Walk<EventParts<'a>> {
    let first = attributes.len();
    let mut scalars = EventScalars::default();
    let mut fields = Fields::of(message);
    while let Some((tag, payload)) = fields.next_field()? {
        match tag {
            1 => scalars.time_unix_nano = payload.fixed64()?,
            2 => scalars.name = payload.text()?,
            3 => attributes.push(scan_attribute(&payload, budget)?),
            4 => _ = payload.varint()?,
            _ => {}
        }
    }
    Ok(EventParts { scalars, attributes: first..attributes.len() })
}

/// `Span.Link`: 1 trace_id, 2 span_id, 3 trace_state, 4 attributes, 5
/// dropped_attributes_count, 6 flags; its attributes are appended to
/// `attributes`.
fn scan_link<'a>(
    message: &'a [u8],
    attributes: &mut Vec<Attribute<'a>>,
    budget: &mut ItemBudget,
) -> Walk<LinkParts<'a>> {
    let first = attributes.len();
    let mut scalars = LinkScalars::default();
    let mut fields = Fields::of(message);
    while let Some((tag, payload)) = fields.next_field()? {
        match tag {
            1 => scalars.trace_id = payload.bytes()?,
            2 => scalars.span_id = payload.bytes()?,
            3 => scalars.trace_state = payload.text()?,
            4 => attributes.push(scan_attribute(&payload, budget)?),
            5 => _ = payload.varint()?,
            6 => _ = payload.fixed32()?,
            _ => {}
        }
    }
    Ok(LinkParts { scalars, attributes: first..attributes.len() })
}

/// `Status`: 2 message, 3 code (1 was the removed `deprecated_code`, an
/// unknown field now).
fn scan_status<'a>(message: &'a [u8], span: &mut SpanScalars<'a>) -> Walk<()> {
    let mut fields = Fields::of(message);
    while let Some((tag, payload)) = fields.next_field()? {
        match tag {
            2 => span.status_message = payload.text()?,
            3 => span.status_code = payload.varint()? as i32,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::limits;
    use super::super::traces::tests::{check_sample, sample_request};
    use super::super::wire::tests::*;
    use super::super::wire::{value_depth, MAX_VALUE_DEPTH};
    use super::super::DecodeError;
    use super::*;
    use crate::attributes::tests::{kv, map_entries, s};
    use crate::fixtures::realistic_traces;
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, MapArray};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message;

    const TRACES: Paths = Paths {
        walker: super::decode,
        prost: super::super::traces::decode_with_prost,
        decode: super::super::traces::decode,
    };

    fn handled(body: &[u8]) -> Decoded {
        TRACES.handled(body)
    }

    fn declined(body: &[u8]) -> Result<Decoded, DecodeError> {
        TRACES.declined(body)
    }

    fn span(name: &str) -> Span {
        Span {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            name: name.into(),
            kind: 1,
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            ..Default::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![kv("service.name", s("svc"))], ..Default::default() }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "t".into(), version: "1".into(), ..Default::default() }),
                    spans,
                    ..Default::default()
                }],
                schema_url: "r".into(),
            }],
        }
    }

    /// A body of one resource entry holding one scope entry holding these spans.
    fn body_of_spans(spans: &[Vec<u8>]) -> Vec<u8> {
        let scope_entry: Vec<u8> = spans.iter().flat_map(|span| len_field(2, span)).collect();
        request_of(&[len_field(2, &scope_entry)])
    }

    fn batch(decoded: &Decoded) -> &arrow_array::RecordBatch {
        &decoded.batches[0].batch
    }

    fn text(decoded: &Decoded, column: &str, row: usize) -> String {
        batch(decoded).column_by_name(column).unwrap().as_string::<i32>().value(row).to_string()
    }

    fn attributes_of(decoded: &Decoded, column: &str, row: usize) -> Vec<(String, String)> {
        let column = batch(decoded).column_by_name(column).unwrap();
        map_entries(column.as_any().downcast_ref::<MapArray>().unwrap(), row)
    }

    /// The struct of list column `column` (events or links) at `row`.
    fn list_row(decoded: &Decoded, column: &str, row: usize) -> arrow_array::StructArray {
        batch(decoded).column_by_name(column).unwrap().as_list::<i32>().value(row).as_struct().clone()
    }

    // -- differential tests

    #[test]
    fn sample_and_realistic_requests() {
        check_sample(&handled(&sample_request().encode_to_vec()));
        for n in [0, 1, 7, 200] {
            let decoded = handled(&realistic_traces(n).encode_to_vec());
            assert_eq!((decoded.rows(), decoded.rejected), (n, 0));
        }
        let decoded = handled(&realistic_traces(40).encode_to_vec());
        assert_eq!(text(&decoded, "status_code", 19), "Error");
        assert_eq!(text(&decoded, "status_message", 19), "upstream returned 503 for order 00000019");
        assert_eq!(text(&decoded, "status_code", 18), "Unset");
        assert_eq!(list_row(&decoded, "links", 4).len(), 1);
        assert_eq!(list_row(&decoded, "links", 5).len(), 0);
        assert_eq!(list_row(&decoded, "events", 5).column(1).as_string::<i32>().value(0), "cache.miss");
        assert!(handled(&[]).batches.is_empty());
    }

    #[test]
    fn several_resources_and_scopes() {
        let mut first = sample_request().resource_spans.remove(0);
        first.scope_spans.push(ScopeSpans::default());
        first.scope_spans.push(ScopeSpans { spans: vec![span("no scope")], ..Default::default() });
        let second = ResourceSpans {
            resource: None,
            scope_spans: vec![
                ScopeSpans {
                    scope: Some(InstrumentationScope { name: "s2".into(), version: "v2".into(), ..Default::default() }),
                    spans: vec![span("b"), span("c")],
                    schema_url: "u2".into(),
                },
                ScopeSpans { scope: Some(InstrumentationScope::default()), ..Default::default() },
            ],
            schema_url: String::new(),
        };
        let third = ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", any_value::Value::IntValue(4)), kv("k", s("v"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans: vec![span("d")], ..Default::default() }],
            schema_url: "u3".into(),
        };
        let request =
            ExportTraceServiceRequest { resource_spans: vec![first, ResourceSpans::default(), second, third] };
        let decoded = handled(&request.encode_to_vec());
        assert_eq!(decoded.rows(), 6);
        assert_eq!(text(&decoded, "scope_name", 2), "");
        assert_eq!(text(&decoded, "scope_version", 3), "v2");
        assert_eq!(text(&decoded, "service_name", 3), "");
        assert_eq!(text(&decoded, "service_name", 5), "4");
        assert_eq!(text(&decoded, "resource_schema_url", 5), "u3");
    }

    fn attributes_of_every_value() -> Vec<KeyValue> {
        let mut attributes: Vec<KeyValue> = every_value()
            .into_iter()
            .enumerate()
            .map(|(i, v)| KeyValue {
                key: format!("k{i}"),
                value: v.map(|v| AnyValue { value: Some(v) }),
                ..Default::default()
            })
            .collect();
        attributes.push(KeyValue { key: "e".into(), value: Some(AnyValue { value: None }), ..Default::default() });
        attributes
    }

    #[test]
    fn every_value_type_in_every_attribute_list() {
        let attributes = attributes_of_every_value();
        let mut with_all = span("all");
        with_all.attributes = attributes.clone();
        with_all.events = vec![Event { name: "e".into(), attributes: attributes.clone(), ..Default::default() }];
        with_all.links = vec![Link {
            trace_id: vec![5; 16],
            span_id: vec![6; 8],
            attributes: attributes.clone(),
            ..Default::default()
        }];
        let mut request = request(vec![with_all, span("none")]);
        request.resource_spans[0].resource.as_mut().unwrap().attributes.extend(attributes.clone());
        request.resource_spans[0].scope_spans[0].scope.as_mut().unwrap().attributes = attributes.clone();
        let decoded = handled(&request.encode_to_vec());
        let expected = attributes_of(&decoded, "span_attributes", 0);
        assert_eq!(expected.len(), attributes.len());
        assert_eq!(expected[3], ("k3".into(), "true".into()));
        assert_eq!(expected[9], ("k9".into(), "AAH+/w==".into()));
        assert_eq!(attributes_of(&decoded, "span_attributes", 1), vec![]);
        let events = list_row(&decoded, "events", 0);
        let event_attributes = events.column(2).as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(event_attributes, 0), expected);
        let links = list_row(&decoded, "links", 0);
        let link_attributes = links.column(3).as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(link_attributes, 0), expected);
        assert_eq!(attributes_of(&decoded, "resource_attributes", 1).len(), attributes.len() + 1);
    }

    #[test]
    fn duplicate_attribute_keys_last_wins() {
        let short = vec![kv("a", s("1")), kv("b", any_value::Value::IntValue(2)), kv("a", s("3"))];
        let mut long: Vec<KeyValue> =
            (0..30).map(|i| kv(&format!("k{}", i % 20), any_value::Value::IntValue(i))).collect();
        long.push(kv("k3", s("last")));
        let mut first = span("dups");
        first.attributes = short.clone();
        first.events = vec![Event { attributes: long.clone(), ..Default::default() }; 2];
        first.links = vec![Link { attributes: short, ..Default::default() }];
        let mut second = span("long");
        second.attributes = long;
        let decoded = handled(&request(vec![first, second]).encode_to_vec());
        assert_eq!(
            attributes_of(&decoded, "span_attributes", 0),
            vec![("b".into(), "2".into()), ("a".into(), "3".into())]
        );
        assert_eq!(attributes_of(&decoded, "span_attributes", 1).len(), 20);
    }

    #[test]
    fn parents_events_links_and_flags() {
        let mut root = span("root");
        root.flags = 0x301;
        root.events = vec![
            Event { time_unix_nano: 11, name: "first".into(), dropped_attributes_count: 2, ..Default::default() },
            Event { time_unix_nano: u64::MAX, name: "far future".into(), ..Default::default() },
            Event::default(),
        ];
        root.dropped_events_count = 4;
        let mut child = span("child");
        child.parent_span_id = vec![4; 8];
        child.span_id = vec![7; 8];
        child.trace_state = "a=1,b=2".into();
        child.links = vec![
            Link {
                trace_id: vec![8; 16],
                span_id: vec![9; 8],
                trace_state: "x=y".into(),
                attributes: vec![kv("l", s("m"))],
                dropped_attributes_count: 1,
                flags: 0x101,
            },
            Link::default(),
        ];
        child.dropped_links_count = 3;
        child.dropped_attributes_count = 5;
        let decoded = handled(&request(vec![root, child]).encode_to_vec());
        assert_eq!(text(&decoded, "parent_span_id", 0), "");
        assert_eq!(text(&decoded, "parent_span_id", 1), "0404040404040404");
        assert_eq!(text(&decoded, "trace_state", 1), "a=1,b=2");
        let events = list_row(&decoded, "events", 0);
        assert_eq!(events.len(), 3);
        assert!(events.column(0).is_null(1), "past 2262 is NULL");
        assert_eq!(events.column(1).as_string::<i32>().value(2), "");
        let links = list_row(&decoded, "links", 1);
        assert_eq!(links.column(0).as_string::<i32>().value(0), "08080808080808080808080808080808");
        assert_eq!(links.column(2).as_string::<i32>().value(0), "x=y");
        assert_eq!(links.column(0).as_string::<i32>().value(1), "");
    }

    #[test]
    fn statuses_and_enums_known_and_unknown() {
        let with_status = |code: i32, message: &str| {
            let mut span = span(message);
            span.status = Some(Status { code, message: message.into() });
            span
        };
        let mut odd_kind = span("odd kind");
        odd_kind.kind = 42;
        let mut negative_kind = span("negative kind");
        negative_kind.kind = -1;
        let spans = vec![
            span("no status"),
            with_status(0, ""),
            with_status(1, "fine"),
            with_status(2, "boom"),
            with_status(7, "unknown code"),
            with_status(-3, "negative code"),
            odd_kind,
            negative_kind,
        ];
        let decoded = handled(&request(spans).encode_to_vec());
        let codes: Vec<String> = (0..8).map(|row| text(&decoded, "status_code", row)).collect();
        assert_eq!(codes, ["Unset", "Unset", "Ok", "Error", "", "", "Unset", "Unset"]);
        assert_eq!(text(&decoded, "status_message", 3), "boom");
        assert_eq!(text(&decoded, "span_kind", 0), "Internal");
        assert_eq!(text(&decoded, "span_kind", 6), "");
        assert_eq!(text(&decoded, "span_kind", 7), "");
        // an enum varint past i32 is truncated as prost does
        let huge_kind = [span("huge").encode_to_vec(), varint_field(6, (1u64 << 32) | 2)].concat();
        let status = [len_field(2, b"m"), varint_field(3, (1u64 << 33) | 1), len_field(1, b"deprecated")].concat();
        let decoded = handled(&body_of_spans(&[[huge_kind, len_field(15, &status)].concat()]));
        assert_eq!(text(&decoded, "span_kind", 0), "Server");
        assert_eq!(text(&decoded, "status_code", 0), "Ok");
    }

    #[test]
    fn bad_ids_are_rejected_alike() {
        let mut request = sample_request();
        let spans = &mut request.resource_spans[0].scope_spans[0].spans;
        let good = spans[1].clone();
        let mut no_trace = good.clone();
        no_trace.trace_id.clear();
        no_trace.name = "no trace \"quoted\"".into();
        let mut no_span = good.clone();
        no_span.span_id.clear();
        let mut long_trace = good.clone();
        long_trace.trace_id = vec![1; 17];
        let mut bad_parent = good.clone();
        bad_parent.parent_span_id = vec![1; 4];
        let mut bad_link = spans[0].clone();
        bad_link.links.insert(0, Link { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() });
        bad_link.links[1].span_id = vec![1; 3];
        let mut bad_link_trace = spans[0].clone();
        bad_link_trace.links[0].trace_id = vec![1; 15];
        let mut empty_link_ids = spans[0].clone();
        empty_link_ids.links[0].trace_id.clear();
        empty_link_ids.links[0].span_id.clear();
        spans.extend([no_trace, no_span, long_trace, bad_parent, bad_link, bad_link_trace, empty_link_ids]);
        let decoded = handled(&request.encode_to_vec());
        assert_eq!((decoded.rejected, decoded.rows()), (6, 3));
        assert_eq!(decoded.rejection_message, r#"span "no trace \"quoted\"": trace_id is empty"#);

        for (span, message) in [
            (spans_of(&request)[3].clone(), "span \"SELECT\": span_id is empty"),
            (spans_of(&request)[4].clone(), "span \"SELECT\": trace_id has 17 bytes, expected 16"),
            (spans_of(&request)[5].clone(), "span \"SELECT\": parent_span_id has 4 bytes, expected 8"),
            (spans_of(&request)[6].clone(), "span \"GET /cart\": link span_id has 3 bytes, expected 8"),
            (spans_of(&request)[7].clone(), "span \"GET /cart\": link trace_id has 15 bytes, expected 16"),
        ] {
            let decoded = handled(&body_of_spans(&[span.encode_to_vec()]));
            assert_eq!((decoded.rejected, decoded.rows()), (1, 0));
            assert!(decoded.batches.is_empty());
            assert_eq!(decoded.rejection_message, message);
        }
    }

    fn spans_of(request: &ExportTraceServiceRequest) -> &[Span] {
        &request.resource_spans[0].scope_spans[0].spans
    }

    #[test]
    fn repeated_scalar_fields_last_wins() {
        let span_bytes = [
            span("first").encode_to_vec(),
            len_field(1, &[1; 5]),
            len_field(1, &[9; 16]),
            len_field(2, &[8; 8]),
            len_field(5, b"second"),
            len_field(3, b"s=1"),
            len_field(4, &[7; 8]),
            varint_field(6, 3),
            fixed64_field(7, 100),
            fixed64_field(8, 50),
            fixed32_field(16, 1),
            fixed32_field(16, 2),
            varint_field(10, 1),
            len_field(
                9,
                &[len_field(1, b"k"), len_field(1, b"k2"), len_field(2, &AnyValue::default().encode_to_vec())].concat(),
            ),
        ]
        .concat();
        let decoded = handled(&body_of_spans(&[span_bytes]));
        assert_eq!((decoded.rows(), decoded.rejected), (1, 0));
        assert_eq!(text(&decoded, "span_name", 0), "second");
        assert_eq!(text(&decoded, "trace_id", 0), "09".repeat(16));
        assert_eq!(text(&decoded, "span_kind", 0), "Client");
        let duration = batch(&decoded).column_by_name("duration").unwrap();
        assert_eq!(duration.as_primitive::<arrow_array::types::Int64Type>().value(0), -50);
        assert_eq!(attributes_of(&decoded, "span_attributes", 0), vec![("k2".into(), String::new())]);
    }

    /// One span with an event, a link and a status, with unknown fields at
    /// every level or without.
    fn body_with_unknowns(unknowns: bool) -> Vec<u8> {
        let unknown = || if unknowns { unknown_fields() } else { Vec::new() };
        let any = [unknown(), AnyValue { value: Some(s("x")) }.encode_to_vec()].concat();
        let kv_bytes = [len_field(1, b"k"), unknown(), len_field(2, &any)].concat();
        let event = [fixed64_field(1, 12), unknown(), len_field(2, b"ev"), len_field(3, &kv_bytes)].concat();
        let link = [len_field(1, &[1; 16]), unknown(), len_field(2, &[2; 8]), len_field(4, &kv_bytes)].concat();
        let status = [unknown(), len_field(2, b"oops"), varint_field(3, 2)].concat();
        let span_bytes = [
            span("u").encode_to_vec(),
            unknown(),
            len_field(9, &kv_bytes),
            len_field(11, &event),
            len_field(13, &link),
            len_field(15, &status),
            unknown(),
        ]
        .concat();
        request_with_unknowns(&span_bytes, unknown)
    }

    #[test]
    fn unknown_fields_are_skipped_like_prost() {
        let with = handled(&body_with_unknowns(true));
        let without = handled(&body_with_unknowns(false));
        assert_eq!(with.rows(), 1);
        assert_eq!(text(&with, "status_message", 0), "oops");
        assert_eq!(list_row(&with, "events", 0).column(1).as_string::<i32>().value(0), "ev");
        assert!(same(&with, &without), "unknown fields change nothing");
    }

    #[test]
    fn fields_out_of_canonical_order() {
        let canonical = sample_request();
        let resource_spans = &canonical.resource_spans[0];
        let scope_spans = &resource_spans.scope_spans[0];
        // Spans with their scalar fields and status reversed and placed after
        // the repeated fields (which keep their order); each attribute, event
        // and link with its fields reversed too.
        let reordered = |span: &Span| -> Vec<u8> {
            let (repeated, others): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
                split_fields(&span.encode_to_vec()).into_iter().partition(|f| [9, 11, 13].contains(&(f[0] >> 3)));
            let nested_reversed = |field: Vec<u8>| {
                let tag = u32::from(field[0] >> 3);
                if [9, 11, 13, 15].contains(&tag) {
                    len_field(tag, &reversed(&field_payload(&field)))
                } else {
                    field
                }
            };
            repeated.into_iter().chain(others.into_iter().rev()).map(nested_reversed).collect::<Vec<_>>().concat()
        };
        let spans: Vec<Vec<u8>> = scope_spans.spans.iter().map(reordered).collect();
        // Scope after its spans, resource after its scope_spans, schema urls first.
        let scope_entry: Vec<u8> = [
            len_field(3, b"scope-url"),
            spans.iter().flat_map(|span| len_field(2, span)).collect(),
            message_field(1, scope_spans.scope.as_ref().unwrap()),
        ]
        .concat();
        let resource_entry = [
            len_field(3, b"resource-url"),
            len_field(2, &scope_entry),
            message_field(1, resource_spans.resource.as_ref().unwrap()),
        ]
        .concat();
        let body = request_of(&[resource_entry]);
        assert_ne!(body, canonical.encode_to_vec());
        let decoded = handled(&body);
        check_sample(&decoded);
        assert_eq!(text(&decoded, "resource_schema_url", 0), "resource-url");
    }

    // -- declined cases

    #[test]
    fn merged_messages_and_groups_fall_back_to_prost() {
        let status_a = message_field(15, &Status { code: 2, message: String::new() });
        let status_b = message_field(15, &Status { code: 0, message: "m".into() });
        let status_twice = [span("s").encode_to_vec(), status_a, status_b].concat();
        let decoded = declined(&body_of_spans(&[status_twice])).unwrap();
        let merged = &decoded.batches[0].batch;
        assert_eq!(merged.column_by_name("status_code").unwrap().as_string::<i32>().value(0), "Error", "merged");

        let scope = message_field(1, &InstrumentationScope { name: "n".into(), ..Default::default() });
        let scope_twice = [scope.clone(), len_field(2, &span("s").encode_to_vec()), scope].concat();
        assert_eq!(declined(&request_of(&[len_field(2, &scope_twice)])).unwrap().rows(), 1);

        let resource = message_field(1, &Resource { attributes: vec![kv("a", s("b"))], ..Default::default() });
        declined(&request_of(&[[resource.clone(), resource].concat()])).unwrap();

        let value = len_field(2, &AnyValue { value: Some(s("a")) }.encode_to_vec());
        let kv_twice = [len_field(1, b"k"), value.clone(), value].concat();
        for tag_path in [&[9][..], &[11, 3], &[13, 4]] {
            let mut nested = len_field(*tag_path.last().unwrap(), &kv_twice);
            if tag_path.len() == 2 {
                nested = len_field(tag_path[0], &nested);
            }
            declined(&body_of_spans(&[[span("s").encode_to_vec(), nested].concat()])).unwrap();
        }

        let spans = [span("s").encode_to_vec()];
        for (what, body) in [
            ("request", [body_of_spans(&spans), group_field(50)].concat()),
            ("span", body_of_spans(&[[span("s").encode_to_vec(), group_field(50)].concat()])),
            ("event", body_of_spans(&[[span("s").encode_to_vec(), len_field(11, &group_field(50))].concat()])),
            ("link", body_of_spans(&[[span("s").encode_to_vec(), len_field(13, &group_field(50))].concat()])),
            ("status", body_of_spans(&[[span("s").encode_to_vec(), len_field(15, &group_field(50))].concat()])),
        ] {
            assert_eq!(declined(&body).unwrap().rows(), 1, "group in {what}");
        }
    }

    #[test]
    fn malformed_bodies_give_prosts_error() {
        let mut bad_utf8 = span("é");
        bad_utf8.links = vec![Link { trace_state: "ü".into(), ..Default::default() }];
        let body = request(vec![bad_utf8]).encode_to_vec();
        for broken in ["é", "ü"] {
            let mut body = body.clone();
            let at = body.windows(2).position(|w| w == broken.as_bytes()).unwrap();
            body[at + 1] = 0xff;
            assert!(declined(&body).is_err());
        }
        let wrong_wire_types = [
            varint_field(1, 1),
            fixed64_field(5, 1),
            len_field(6, b"x"),
            fixed32_field(7, 1),
            varint_field(8, 1),
            varint_field(9, 1),
            varint_field(11, 1),
            varint_field(13, 1),
            fixed64_field(16, 1),
            len_field(10, b"x"),
            len_field(11, &fixed32_field(1, 1)),
            len_field(13, &varint_field(6, 1)),
            len_field(15, &fixed64_field(3, 1)),
        ];
        for field in wrong_wire_types {
            let body = body_of_spans(&[[span("s").encode_to_vec(), field.clone()].concat()]);
            assert!(declined(&body).is_err(), "{field:?}");
        }
        let truncated_event = body_of_spans(&[[span("s").encode_to_vec(), vec![11 << 3 | 2, 5, 1]].concat()]);
        assert!(declined(&truncated_event).is_err());
    }

    #[test]
    fn every_nesting_depth_declines_or_agrees() {
        let mut prost_limit = None;
        for depth in 0..60 {
            let value = nested_value(s("leaf"), depth);
            let mut with_values = span("deep");
            with_values.attributes = vec![kv("a", value.clone())];
            with_values.events = vec![Event { attributes: vec![kv("e", value.clone())], ..Default::default() }];
            with_values.links = vec![Link { attributes: vec![kv("l", value.clone())], ..Default::default() }];
            let body = request(vec![with_values]).encode_to_vec();
            let handled = TRACES.consistent(&body);
            let within = value_depth(Some(&value)) <= MAX_VALUE_DEPTH && depth <= limits::MAX_VALUE_NESTING;
            assert_eq!(handled, within, "depth {depth}");
            let reference = if within { (TRACES.prost)(&body, &NO_LIMITS) } else { declined(&body) };
            prost_limit = prost_limit.or(reference.is_err().then_some(depth));
        }
        assert_eq!(prost_limit, Some(limits::MAX_VALUE_NESTING + 1), "the nesting bound comes before prost's limit");
    }

    #[test]
    fn item_and_copy_bounds_decline() {
        let body = realistic_traces(4).encode_to_vec();
        // 1 resource entry + 3 attributes, 1 scope entry, 4 spans with 6
        // attributes, 1 event with 1 attribute, and 1 link with 1 attribute
        let items = 1 + 3 + 1 + 4 * (1 + 6 + 2) + 2;
        let bounded = |max_items| DecodeLimits { max_items, ..NO_LIMITS };
        assert_eq!(super::decode(&body, &bounded(items)).unwrap().rows(), 4);
        assert!(super::decode(&body, &bounded(items - 1)).is_none());
        let err = super::super::traces::decode(&body, &bounded(items - 1)).unwrap_err();
        assert_eq!(err.to_string(), format!("request has more than {} items (max_items_per_request)", items - 1));

        let resource = &realistic_traces(0).resource_spans[0];
        let per_span = super::super::attributes::ResourceContext::new(resource.resource.as_ref(), "").row_bytes()
            + ScopeNames::of(resource.scope_spans[0].scope.as_ref()).row_bytes();
        let copies = |max_copied_bytes| DecodeLimits { max_copied_bytes, ..NO_LIMITS };
        assert!(super::decode(&body, &copies(4 * per_span)).is_some());
        assert!(super::decode(&body, &copies(4 * per_span - 1)).is_none());
        assert!(super::super::traces::decode(&body, &copies(4 * per_span - 1)).is_err());
    }

    // -- robustness

    fn small_body() -> Vec<u8> {
        let mut request = realistic_traces(2);
        let spans = &mut request.resource_spans[0].scope_spans[0].spans;
        spans[1].attributes.push(kv("n", any_value::Value::BytesValue(vec![1, 2])));
        spans[1].status = Some(Status { code: 2, message: "e".into() });
        spans[1].links = vec![Link { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() }];
        request.encode_to_vec()
    }

    #[test]
    fn every_truncation_declines_or_agrees() {
        let body = small_body();
        let answered = TRACES.truncations(&body);
        assert!(answered >= 2, "the empty body and the whole body decode");
        let realistic = realistic_traces(3).encode_to_vec();
        assert!(TRACES.truncations(&realistic) >= 2);
    }

    #[test]
    fn random_byte_flips_decline_or_agree() {
        let bodies = [small_body(), sample_request().encode_to_vec(), body_with_unknowns(true)];
        let answered = TRACES.random_byte_flips(&bodies, 8000);
        assert!(answered > 200, "only {answered} mutated bodies were handled");
    }
}
