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

/// A realistic traces request: one resource, `spans` server spans with 6
/// attributes (strings and one integer) and one event each, a link on every
/// fourth span, an error status on every twentieth, children pointing at the
/// previous span of their trace.
pub fn realistic_traces(spans: usize) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    let trace_id = |i: usize| (0..16).map(|b| (b * 7 + i / 5) as u8).collect::<Vec<u8>>();
    let span_id = |i: usize| (0..8).map(|b| (b * 13 + i) as u8 | 1).collect::<Vec<u8>>();
    let spans = (0..spans)
        .map(|i| {
            let start = 1_700_000_000_000_000_000 + i as u64 * 1_000_317;
            let status = if i % 20 == 19 {
                Some(Status { code: 2, message: format!("upstream returned 503 for order {i:08}") })
            } else {
                Some(Status { code: 0, message: String::new() })
            };
            Span {
                trace_id: trace_id(i),
                span_id: span_id(i),
                parent_span_id: if i % 5 == 0 { Vec::new() } else { span_id(i - 1) },
                name: format!("GET /api/v1/orders/{{id}} #{}", i % 7),
                kind: 2,
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000 + (i as u64 % 997) * 10_000,
                attributes: vec![
                    kv("http.request.method", s("GET")),
                    kv("http.route", s("/api/v1/orders/{id}")),
                    kv("url.path", s(&format!("/api/v1/orders/{i:08}"))),
                    kv("http.response.status_code", Value::IntValue(if i % 20 == 19 { 503 } else { 200 })),
                    kv("user.id", s(&format!("user-{:05}", i % 50_000))),
                    kv("server.address", s("orders.internal")),
                ],
                events: vec![Event {
                    time_unix_nano: start + 500,
                    name: "cache.miss".into(),
                    attributes: vec![kv("cache.key", s(&format!("order:{i:08}")))],
                    ..Default::default()
                }],
                links: if i % 4 == 0 {
                    vec![Link {
                        trace_id: trace_id(i + 1000),
                        span_id: span_id(i + 1000),
                        trace_state: "vendor=1".into(),
                        attributes: vec![kv("link.reason", s("batch"))],
                        flags: 0x301,
                        ..Default::default()
                    }]
                } else {
                    Vec::new()
                },
                status,
                flags: 0x101,
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("orders")),
                    kv("service.version", s("2.8.1")),
                    kv("host.name", s("ip-10-0-3-17")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "io.opentelemetry.netty-4.1".into(),
                    version: "2.1.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
