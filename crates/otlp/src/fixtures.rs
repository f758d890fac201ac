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

/// A metrics request as an SDK exports it every interval: one resource and
/// `per_kind` points of each of the five kinds (gauge, monotonic sum, a
/// 10-bucket histogram, an exponential histogram, a summary), every point with
/// its own attribute set.
pub fn realistic_metrics(
    per_kind: usize,
) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
    use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    const CUMULATIVE: i32 = 2;
    let now = 1_700_000_060_000_000_000u64;
    let start = now - 60_000_000_000;
    let attributes = |k: usize| {
        vec![
            kv("http.route", s(&format!("/api/v1/r{}", k % 17))),
            kv("http.status_code", s(["200", "404", "500"][k % 3])),
            kv("instance", s(&format!("pod-{}", k % 11))),
        ]
    };
    let numbers = |first: usize| -> Vec<NumberDataPoint> {
        (first..first + per_kind)
            .map(|k| NumberDataPoint {
                attributes: attributes(k),
                start_time_unix_nano: start,
                time_unix_nano: now,
                value: Some(Number::AsInt(k as i64 * 7)),
                ..Default::default()
            })
            .collect()
    };
    let metric = |name: &str, unit: &str, data: Data| Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    };
    let metrics = vec![
        metric("process.memory.usage", "By", Data::Gauge(Gauge { data_points: numbers(0) })),
        metric(
            "http.server.requests",
            "",
            Data::Sum(Sum { data_points: numbers(per_kind), aggregation_temporality: CUMULATIVE, is_monotonic: true }),
        ),
        metric(
            "http.server.duration",
            "ms",
            Data::Histogram(Histogram {
                data_points: (0..per_kind)
                    .map(|k| HistogramDataPoint {
                        attributes: attributes(2 * per_kind + k),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: 55,
                        sum: Some(1234.5),
                        bucket_counts: (1..=10).collect(),
                        explicit_bounds: vec![5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0],
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: CUMULATIVE,
            }),
        ),
        metric(
            "rpc.server.duration",
            "ms",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: (0..per_kind)
                    .map(|k| ExponentialHistogramDataPoint {
                        attributes: attributes(3 * per_kind + k),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: 21,
                        sum: Some(99.5),
                        scale: 3,
                        zero_count: 1,
                        positive: Some(Buckets { offset: 2, bucket_counts: vec![1, 2, 3, 4, 5, 5] }),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: CUMULATIVE,
            }),
        ),
        metric(
            "gc.pause",
            "ms",
            Data::Summary(Summary {
                data_points: (0..per_kind)
                    .map(|k| SummaryDataPoint {
                        attributes: attributes(4 * per_kind + k),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        count: 10,
                        sum: 42.0,
                        quantile_values: [0.5, 0.9, 0.99]
                            .map(|quantile| ValueAtQuantile { quantile, value: quantile * 10.0 })
                            .to_vec(),
                        ..Default::default()
                    })
                    .collect(),
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("checkout")), kv("host.name", s("ip-10-0-3-17"))],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "bench".into(), ..Default::default() }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
