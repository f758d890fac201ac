//! The columns of the `logs` table as one request's records fill them, shared
//! by the prost decoder and the zero-copy wire walker so both build the same rows.

use super::attributes::{
    append_attributes, attr_map_builder, render_any, AttrMapBuilder, ResourceContext, ScopeContext,
};
use super::columns::{append_hex, nanos};
use arrow_array::builder::{Int32Builder, StringBuilder, TimestampNanosecondBuilder, UInt32Builder};
use arrow_array::ArrayRef;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use std::sync::Arc;

/// The scalar fields of one log record, borrowed from wherever it was decoded.
pub(super) struct RecordScalars<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub flags: u32,
    pub severity_text: &'a str,
    pub severity_number: i32,
    pub event_name: &'a str,
}

pub(super) struct LogColumns {
    timestamp: TimestampNanosecondBuilder,
    observed_timestamp: TimestampNanosecondBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    trace_flags: UInt32Builder,
    severity_text: StringBuilder,
    severity_number: Int32Builder,
    service_name: StringBuilder,
    pub(super) body: StringBuilder,
    event_name: StringBuilder,
    resource_schema_url: StringBuilder,
    resource_attributes: AttrMapBuilder,
    scope_schema_url: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: AttrMapBuilder,
    pub(super) log_attributes: AttrMapBuilder,
    pub(super) scratch: String,
}

impl LogColumns {
    pub(super) fn with_capacity(rows: usize, attributes: usize) -> Self {
        let strings = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        LogColumns {
            timestamp: TimestampNanosecondBuilder::with_capacity(rows),
            observed_timestamp: TimestampNanosecondBuilder::with_capacity(rows),
            trace_id: strings(32),
            span_id: strings(16),
            trace_flags: UInt32Builder::with_capacity(rows),
            severity_text: strings(5),
            severity_number: Int32Builder::with_capacity(rows),
            service_name: strings(16),
            body: strings(128),
            event_name: strings(0),
            resource_schema_url: strings(0),
            resource_attributes: attr_map_builder(rows, rows * 8),
            scope_schema_url: strings(0),
            scope_name: strings(16),
            scope_version: strings(0),
            scope_attributes: attr_map_builder(rows, 0),
            log_attributes: attr_map_builder(rows, attributes),
            scratch: String::new(),
        }
    }

    pub(super) fn append(&mut self, resource: &ResourceContext, scope: &ScopeContext, record: &LogRecord) {
        let scalars = RecordScalars {
            time_unix_nano: record.time_unix_nano,
            observed_time_unix_nano: record.observed_time_unix_nano,
            trace_id: &record.trace_id,
            span_id: &record.span_id,
            flags: record.flags,
            severity_text: &record.severity_text,
            severity_number: record.severity_number,
            event_name: &record.event_name,
        };
        self.append_shared(resource, scope, &scalars);
        match record.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => self.body.append_value(s),
            _ => {
                self.scratch.clear();
                render_any(record.body.as_ref(), &mut self.scratch);
                self.body.append_value(&self.scratch);
            }
        }
        append_attributes(&mut self.log_attributes, &record.attributes, &mut self.scratch);
    }

    /// Appends every column of a row except `body` and `log_attributes`.
    pub(super) fn append_shared(&mut self, resource: &ResourceContext, scope: &ScopeContext, record: &RecordScalars) {
        let time = if record.time_unix_nano != 0 { record.time_unix_nano } else { record.observed_time_unix_nano };
        self.timestamp.append_option(nanos(time));
        self.observed_timestamp.append_option(nanos(record.observed_time_unix_nano));
        append_hex(&mut self.trace_id, record.trace_id);
        append_hex(&mut self.span_id, record.span_id);
        self.trace_flags.append_value(record.flags);
        self.severity_text.append_value(record.severity_text);
        self.severity_number.append_value(record.severity_number);
        self.service_name.append_value(&resource.service_name);
        self.event_name.append_value(record.event_name);
        self.resource_schema_url.append_value(resource.schema_url);
        resource.attributes.append_to(&mut self.resource_attributes);
        self.scope_schema_url.append_value(scope.schema_url);
        self.scope_name.append_value(scope.name);
        self.scope_version.append_value(scope.version);
        scope.attributes.append_to(&mut self.scope_attributes);
    }

    pub(super) fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.observed_timestamp.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_flags.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.scope_schema_url.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.scope_attributes.finish()),
            Arc::new(self.log_attributes.finish()),
        ]
    }
}
