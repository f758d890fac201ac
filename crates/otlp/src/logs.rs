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

use super::attributes::{ResourceContext, ScopeContext};
use super::columns::table_batch;
use super::limits::{self, CopyBudget, DecodeLimits, ItemBudget};
use super::log_columns::LogColumns;
use super::{id_problem, DecodeError, Decoded, Rejections, Table};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    match super::logs_wire::decode(body, limits) {
        Some(decoded) => Ok(decoded),
        None => decode_with_prost(body, limits),
    }
}

/// The reference decoder: items counted, prost messages, then columns.
pub(super) fn decode_with_prost(body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    limits::check(&super::messages::EXPORT_LOGS, body, &mut ItemBudget::new(limits.max_items))?;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::logs::v1::LogRecord;

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
