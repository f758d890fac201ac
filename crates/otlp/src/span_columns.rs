//! The columns of the `spans` table as one request's spans fill them, shared
//! by the prost decoder and the zero-copy wire walker so both build the same
//! rows. Events and links are `LIST(STRUCT(...))` columns built from one
//! builder per struct field.

use super::attributes::{append_attributes, attr_map_builder, AttrMapBuilder, ResourceContext};
use super::columns::{append_hex, column_type, nanos, ListOffsets};
use super::{DecodeError, Table};
use arrow_array::builder::{ArrayBuilder, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::ArrayRef;
use opentelemetry_proto::tonic::trace::v1::Span;
use std::sync::Arc;

/// The scalar fields of one span, borrowed from wherever it was decoded.
#[derive(Default)]
pub(super) struct SpanScalars<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub trace_state: &'a str,
    pub name: &'a str,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub status_code: i32,
    pub status_message: &'a str,
}

impl<'a> SpanScalars<'a> {
    pub(super) fn of(span: &'a Span) -> Self {
        let status = span.status.as_ref();
        SpanScalars {
            trace_id: &span.trace_id,
            span_id: &span.span_id,
            parent_span_id: &span.parent_span_id,
            trace_state: &span.trace_state,
            name: &span.name,
            kind: span.kind,
            start_time_unix_nano: span.start_time_unix_nano,
            end_time_unix_nano: span.end_time_unix_nano,
            status_code: status.map_or(0, |s| s.code),
            status_message: status.map_or("", |s| s.message.as_str()),
        }
    }
}

/// The scalar fields of one span event.
#[derive(Default)]
pub(super) struct EventScalars<'a> {
    pub time_unix_nano: u64,
    pub name: &'a str,
}

/// The scalar fields of one span link.
#[derive(Default)]
pub(super) struct LinkScalars<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: &'a str,
}

/// The instrumentation scope as the `spans` table stores it (no scope
/// attributes or schema url there).
#[derive(Clone, Copy)]
pub(super) struct ScopeNames<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

impl<'a> ScopeNames<'a> {
    pub(super) fn of(scope: Option<&'a opentelemetry_proto::tonic::common::v1::InstrumentationScope>) -> Self {
        ScopeNames { name: scope.map_or("", |s| s.name.as_str()), version: scope.map_or("", |s| s.version.as_str()) }
    }

    /// Bytes every span of this scope copies from it.
    pub(super) fn row_bytes(&self) -> usize {
        self.name.len() + self.version.len()
    }
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

/// A row is complete once its scalars, one `span_attributes` map row, its
/// events and links (each with one map row of attributes) are appended and
/// [`SpanColumns::close_row`] called.
pub(super) struct SpanColumns {
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
    pub(super) span_attributes: AttrMapBuilder,
    duration: Int64Builder,
    end_timestamp: TimestampNanosecondBuilder,
    status_code: StringBuilder,
    status_message: StringBuilder,
    events: ListOffsets,
    event_timestamp: TimestampNanosecondBuilder,
    event_name: StringBuilder,
    pub(super) event_attributes: AttrMapBuilder,
    links: ListOffsets,
    link_trace_id: StringBuilder,
    link_span_id: StringBuilder,
    link_trace_state: StringBuilder,
    pub(super) link_attributes: AttrMapBuilder,
    pub(super) scratch: String,
}

impl SpanColumns {
    pub(super) fn with_capacity(rows: usize) -> Self {
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

    /// Appends a whole decoded span.
    pub(super) fn append(&mut self, resource: &ResourceContext, scope: ScopeNames, span: &Span) {
        self.append_scalars(resource, scope, &SpanScalars::of(span));
        append_attributes(&mut self.span_attributes, &span.attributes, &mut self.scratch);
        for event in &span.events {
            self.append_event(&EventScalars { time_unix_nano: event.time_unix_nano, name: &event.name });
            append_attributes(&mut self.event_attributes, &event.attributes, &mut self.scratch);
        }
        for link in &span.links {
            self.append_link(&LinkScalars {
                trace_id: &link.trace_id,
                span_id: &link.span_id,
                trace_state: &link.trace_state,
            });
            append_attributes(&mut self.link_attributes, &link.attributes, &mut self.scratch);
        }
        self.close_row();
    }

    /// Every column of a row but the attribute maps, events and links.
    pub(super) fn append_scalars(&mut self, resource: &ResourceContext, scope: ScopeNames, span: &SpanScalars) {
        self.timestamp.append_option(nanos(span.start_time_unix_nano));
        append_hex(&mut self.trace_id, span.trace_id);
        append_hex(&mut self.span_id, span.span_id);
        append_hex(&mut self.parent_span_id, span.parent_span_id);
        self.trace_state.append_value(span.trace_state);
        self.span_name.append_value(span.name);
        self.span_kind.append_value(span_kind(span.kind));
        self.service_name.append_value(&resource.service_name);
        self.resource_schema_url.append_value(resource.schema_url);
        resource.attributes.append_to(&mut self.resource_attributes);
        self.scope_name.append_value(scope.name);
        self.scope_version.append_value(scope.version);
        self.duration.append_value(span.end_time_unix_nano.wrapping_sub(span.start_time_unix_nano) as i64);
        self.end_timestamp.append_option(nanos(span.end_time_unix_nano));
        self.status_code.append_value(status_code(span.status_code));
        self.status_message.append_value(span.status_message);
    }

    /// One event of the current row, but its attributes.
    pub(super) fn append_event(&mut self, event: &EventScalars) {
        self.event_timestamp.append_option(nanos(event.time_unix_nano));
        self.event_name.append_value(event.name);
    }

    /// One link of the current row, but its attributes.
    pub(super) fn append_link(&mut self, link: &LinkScalars) {
        append_hex(&mut self.link_trace_id, link.trace_id);
        append_hex(&mut self.link_span_id, link.span_id);
        self.link_trace_state.append_value(link.trace_state);
    }

    /// Ends the current row's event and link lists.
    pub(super) fn close_row(&mut self) {
        self.events.close_row(self.event_name.len());
        self.links.close_row(self.link_trace_id.len());
    }

    pub(super) fn finish(mut self) -> Result<Vec<ArrayRef>, DecodeError> {
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
