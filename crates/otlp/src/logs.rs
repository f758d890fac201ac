//! `ExportLogsServiceRequest` -> the `logs` table.
//!
//! One builder per column, sized from a first count of the records; each log
//! record is validated (trace id 16 bytes, span id 8 bytes, when present) and
//! then appended column by column. Resource and scope values are rendered once
//! and copied into each of their rows.
//!
//! `decode` first tries the zero-copy wire walker (`logs_wire`), which builds
//! the same columns without materialising prost messages; whatever it declines
//! is decoded here with prost, which stays the reference behaviour.

use super::attributes::{
    append_attributes, attr_map_builder, render_any, AttrMapBuilder, ResourceContext, ScopeContext,
};
use super::columns::{append_hex, nanos, table_batch};
use super::limits::{self, CopyBudget, DecodeLimits, ItemBudget};
use super::{id_problem, DecodeError, Decoded, Rejections, Table};
use arrow_array::builder::{Int32Builder, StringBuilder, TimestampNanosecondBuilder, UInt32Builder};
use arrow_array::ArrayRef;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use std::sync::Arc;

pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    match super::logs_wire::decode(body, limits) {
        Some(decoded) => Ok(decoded),
        None => decode_with_prost(body, limits),
    }
}

/// The reference decoder: items counted, prost messages, then columns.
pub(super) fn decode_with_prost(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    limits::check(&super::json::EXPORT_LOGS, body, &mut ItemBudget::new(limits.max_items))?;
    let request = ExportLogsServiceRequest::decode(body)?;
    let resources: Vec<ResourceContext> =
        request.resource_logs.iter().map(|r| ResourceContext::new(r.resource.as_ref(), &r.schema_url)).collect();
    let scopes: Vec<Vec<ScopeContext>> = request
        .resource_logs
        .iter()
        .map(|r| r.scope_logs.iter().map(|s| ScopeContext::new(s.scope.as_ref(), &s.schema_url)).collect())
        .collect();
    let mut copies = CopyBudget::new(limits.max_copied_bytes);
    for ((resource_logs, resource), scopes) in request.resource_logs.iter().zip(&resources).zip(&scopes) {
        for (scope_logs, scope) in resource_logs.scope_logs.iter().zip(scopes) {
            copies.charge(scope_logs.log_records.len(), resource.row_bytes() + scope.row_bytes())?;
        }
    }
    let mut rows = 0;
    let mut attributes = 0;
    for scope in request.resource_logs.iter().flat_map(|r| &r.scope_logs) {
        rows += scope.log_records.len();
        attributes += scope.log_records.iter().map(|r| r.attributes.len()).sum::<usize>();
    }
    let mut columns = LogColumns::with_capacity(rows, attributes);
    let mut rejections = Rejections::default();
    for ((resource_logs, resource), scopes) in request.resource_logs.iter().zip(&resources).zip(&scopes) {
        for (scope_logs, scope) in resource_logs.scope_logs.iter().zip(scopes) {
            for record in &scope_logs.log_records {
                let problem = id_problem("log record trace_id", &record.trace_id, 16, false)
                    .or_else(|| id_problem("log record span_id", &record.span_id, 8, false));
                match problem {
                    Some(problem) => rejections.reject(1, || problem),
                    None => columns.append(resource, scope, record),
                }
            }
        }
    }
    let batches = table_batch(Table::Logs, columns.finish())?.into_iter().collect();
    Ok(rejections.into_decoded(batches))
}

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

    fn append(&mut self, resource: &ResourceContext, scope: &ScopeContext, record: &LogRecord) {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
        super::decode(body, &crate::DecodeLimits::unbounded(usize::MAX))
    }
    use crate::attributes::tests::{kv, map_entries, s};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, TimestampNanosecondType, UInt32Type};
    use arrow_array::{Array, MapArray};
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    pub(crate) fn sample_request() -> ExportLogsServiceRequest {
        let record = LogRecord {
            time_unix_nano: 1_700_000_000_123_456_789,
            observed_time_unix_nano: 1_700_000_001_000_000_000,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue { value: Some(s("user logged in")) }),
            attributes: vec![
                kv("http.method", s("GET")),
                kv("http.status_code", Value::IntValue(200)),
                kv("ratio", Value::DoubleValue(0.5)),
                kv("ok", Value::BoolValue(true)),
            ],
            flags: 1,
            trace_id: (1..=16).collect(),
            span_id: vec![0xab; 8],
            event_name: "login".into(),
            ..Default::default()
        };
        let no_time = LogRecord {
            observed_time_unix_nano: 1_700_000_002_000_000_000,
            body: Some(AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: vec![kv("b", Value::IntValue(1)), kv("a", s("x"))],
                })),
            }),
            ..Default::default()
        };
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", s("checkout")), kv("host.name", s("h1"))],
                    ..Default::default()
                }),
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "auth".into(),
                        version: "1.2.3".into(),
                        attributes: vec![kv("lib", s("x"))],
                        ..Default::default()
                    }),
                    schema_url: "scope-url".into(),
                    log_records: vec![record, no_time],
                }],
            }],
        }
    }

    pub(crate) fn check_sample(decoded: &Decoded) {
        assert_eq!(decoded.rejected, 0);
        assert_eq!(decoded.batches.len(), 1);
        let tb = &decoded.batches[0];
        assert_eq!(tb.table, Table::Logs);
        let b = &tb.batch;
        assert_eq!(b.num_rows(), 2);
        let col = |name: &str| b.column_by_name(name).unwrap().clone();
        let ts = col("timestamp");
        let ts = ts.as_primitive::<TimestampNanosecondType>();
        assert_eq!(ts.value(0), 1_700_000_000_123_456_789);
        assert_eq!(ts.value(1), 1_700_000_002_000_000_000, "falls back to observed time");
        let observed = col("observed_timestamp");
        assert_eq!(observed.as_primitive::<TimestampNanosecondType>().value(0), 1_700_000_001_000_000_000);
        assert_eq!(col("trace_id").as_string::<i32>().value(0), "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(col("span_id").as_string::<i32>().value(0), "abababababababab");
        assert_eq!(col("trace_id").as_string::<i32>().value(1), "");
        assert_eq!(col("trace_flags").as_primitive::<UInt32Type>().value(0), 1);
        assert_eq!(col("severity_text").as_string::<i32>().value(0), "INFO");
        assert_eq!(col("severity_number").as_primitive::<Int32Type>().value(0), 9);
        assert_eq!(col("service_name").as_string::<i32>().value(1), "checkout");
        assert_eq!(col("body").as_string::<i32>().value(0), "user logged in");
        assert_eq!(col("body").as_string::<i32>().value(1), r#"{"a":"x","b":1}"#);
        assert_eq!(col("event_name").as_string::<i32>().value(0), "login");
        assert_eq!(col("resource_schema_url").as_string::<i32>().value(0), "https://opentelemetry.io/schemas/1.21.0");
        assert_eq!(col("scope_schema_url").as_string::<i32>().value(1), "scope-url");
        assert_eq!(col("scope_name").as_string::<i32>().value(0), "auth");
        assert_eq!(col("scope_version").as_string::<i32>().value(0), "1.2.3");
        let resource = col("resource_attributes");
        let resource = resource.as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(
            map_entries(resource, 1),
            vec![("service.name".into(), "checkout".into()), ("host.name".into(), "h1".into())]
        );
        let scope = col("scope_attributes");
        let scope = scope.as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(map_entries(scope, 0), vec![("lib".into(), "x".into())]);
        let attrs = col("log_attributes");
        let attrs = attrs.as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(
            map_entries(attrs, 0),
            vec![
                ("http.method".into(), "GET".into()),
                ("http.status_code".into(), "200".into()),
                ("ratio".into(), "0.5".into()),
                ("ok".into(), "true".into()),
            ]
        );
        assert_eq!(map_entries(attrs, 1), vec![]);
        assert_eq!(b.column_by_name("log_attributes").unwrap().null_count(), 0);
    }

    #[test]
    fn decodes_log_records() {
        let body = sample_request().encode_to_vec();
        check_sample(&decode(&body).unwrap());
    }

    #[test]
    fn rejects_malformed_ids() {
        let mut request = sample_request();
        let records = &mut request.resource_logs[0].scope_logs[0].log_records;
        let mut bad_trace = records[0].clone();
        bad_trace.trace_id = vec![1; 5];
        let mut bad_span = records[0].clone();
        bad_span.span_id = vec![1; 16];
        records.push(bad_trace);
        records.push(bad_span);
        let decoded = decode(&request.encode_to_vec()).unwrap();
        assert_eq!(decoded.rejected, 2);
        assert_eq!(decoded.rejection_message, "log record trace_id has 5 bytes, expected 16");
        assert_eq!(decoded.batches[0].batch.num_rows(), 2);
    }

    #[test]
    fn empty_request_has_no_batches() {
        let decoded = decode(&[]).unwrap();
        assert!(decoded.batches.is_empty());
        assert_eq!(decoded.rejected, 0);
    }

    #[test]
    fn only_rejections_yield_no_batch() {
        let mut request = sample_request();
        for record in &mut request.resource_logs[0].scope_logs[0].log_records {
            record.span_id = vec![7];
        }
        let decoded = decode(&request.encode_to_vec()).unwrap();
        assert!(decoded.batches.is_empty());
        assert_eq!(decoded.rejected, 2);
        assert_eq!(decoded.rejection_message, "log record span_id has 1 bytes, expected 8");
    }

    #[test]
    fn bad_protobuf_is_an_error() {
        let err = decode(&[0x0a, 0xff, 0x01, 0x00]).unwrap_err();
        assert!(err.to_string().starts_with("invalid protobuf: "), "{err}");
    }
}
