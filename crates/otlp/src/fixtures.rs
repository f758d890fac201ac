//! OTLP requests shaped like real traffic, for this crate's tests and for the
//! tests of the crates that store what it decodes (feature `fixtures`).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

/// An attribute `key` = `value`.
pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// A string value.
pub fn s(text: &str) -> Value {
    Value::StringValue(text.into())
}

/// A realistic logs request: one resource, `records` log records of about
/// 110-byte bodies with 4 string attributes and trace context.
pub fn realistic_logs(records: usize) -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let log_records = (0..records)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64 * 1_000_317,
            observed_time_unix_nano: 1_700_000_000_000_000_000 + i as u64 * 1_000_417,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(s(&format!(
                    "GET /api/v1/orders/{i:08} completed with status 200 in {}ms for user user-{:05} via edge-proxy",
                    i % 997,
                    i % 50_000
                ))),
            }),
            attributes: vec![
                kv("http.method", s("GET")),
                kv("http.route", s("/api/v1/orders/{id}")),
                kv("user.id", s(&format!("user-{:05}", i % 50_000))),
                kv("region", s("eu-west-1")),
            ],
            flags: 1,
            trace_id: (0..16).map(|b| (b * 7 + i) as u8).collect(),
            span_id: (0..8).map(|b| (b * 13 + i) as u8).collect(),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("service.version", s("1.4.2")),
                    kv("host.name", s("ip-10-0-3-17")),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: "io.opentelemetry.logback".into(), ..Default::default() }),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
