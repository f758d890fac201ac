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

    fn append_to(&self, columns: &mut SpanColumns, resource: &super::attributes::ResourceContext, scope: ScopeNames) {
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
