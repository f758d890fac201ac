//! Hostile request bodies: nesting, expansion, odd bytes, and property tests
//! of the transcoder, the logs, traces and metrics wire walkers and
//! decompression.

use super::limits::{self, ItemBudget};
use super::*;
use arrow_array::cast::AsArray;
use arrow_array::{Array, MapArray};
use canardstack_test_support::on_small_stack;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message;

const MAX: usize = 8 << 20;

fn limits() -> DecodeLimits {
    DecodeLimits::new(MAX)
}

fn with_items(max_items: usize) -> DecodeLimits {
    DecodeLimits { max_items, ..limits() }
}

fn kind(signal: Signal, format: Format) -> RequestKind {
    RequestKind { signal, format, compression: Compression::None }
}

fn decode_pb(signal: Signal, body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    decode_with_limits(kind(signal, Format::Protobuf), body, limits)
}

fn decode_json(signal: Signal, body: &str, limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    decode_with_limits(kind(signal, Format::Json), body.as_bytes(), limits)
}

// ---------------------------------------------------------------------------
// Building protobuf by hand

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: usize) -> usize {
    let mut out = Vec::new();
    varint(value as u64, &mut out);
    out.len()
}

fn len_field(tag: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 6);
    varint(u64::from(tag << 3 | 2), &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// An `AnyValue` nesting `levels` arrays (or key-value lists, each with one
/// entry keyed `k`) around a string leaf, written outside-in in linear time.
fn deep_value(levels: usize, kvlist: bool) -> Vec<u8> {
    let leaf = AnyValue { value: Some(any_value::Value::StringValue("leaf".into())) }.encode_to_vec();
    // lengths[i]: the encoded AnyValue with i levels around the leaf
    let mut lengths = vec![leaf.len()];
    for i in 0..levels {
        let inner = lengths[i];
        let container = if kvlist {
            let kv = 3 + 1 + varint_len(inner) + inner; // key "k", value
            1 + varint_len(kv) + kv
        } else {
            1 + varint_len(inner) + inner
        };
        lengths.push(1 + varint_len(container) + container);
    }
    let mut out = Vec::with_capacity(lengths[levels]);
    for i in (1..=levels).rev() {
        let inner = lengths[i - 1];
        if kvlist {
            let kv = 3 + 1 + varint_len(inner) + inner;
            let container = 1 + varint_len(kv) + kv;
            out.push(6 << 3 | 2);
            varint(container as u64, &mut out);
            out.push(1 << 3 | 2);
            varint(kv as u64, &mut out);
            out.extend_from_slice(&[1 << 3 | 2, 1, b'k', 2 << 3 | 2]);
            varint(inner as u64, &mut out);
        } else {
            let container = 1 + varint_len(inner) + inner;
            out.push(5 << 3 | 2);
            varint(container as u64, &mut out);
            out.push(1 << 3 | 2);
            varint(inner as u64, &mut out);
        }
    }
    out.extend_from_slice(&leaf);
    assert_eq!(out.len(), lengths[levels]);
    out
}

fn attribute(value: &[u8]) -> Vec<u8> {
    [len_field(1, b"a"), len_field(2, value)].concat()
}

/// A one-item request of `signal` carrying `value` as an attribute (and, for
/// logs, as the body too when `as_body`).
fn request_with_value(signal: Signal, value: &[u8], as_body: bool) -> Vec<u8> {
    let kv = attribute(value);
    match signal {
        Signal::Logs => {
            let record = if as_body { len_field(5, value) } else { len_field(6, &kv) };
            len_field(1, &len_field(2, &len_field(2, &record)))
        }
        Signal::Traces => {
            let span = [len_field(1, &[1; 16]), len_field(2, &[2; 8]), len_field(9, &kv)].concat();
            len_field(1, &len_field(2, &len_field(2, &span)))
        }
        Signal::Metrics => {
            // the deepest place a value can sit: an exemplar's filtered attribute
            let exemplar = len_field(7, &kv);
            let point = [len_field(7, &kv), len_field(5, &exemplar)].concat();
            let metric = [len_field(1, b"m"), len_field(5, &len_field(1, &point))].concat();
            len_field(1, &len_field(2, &len_field(2, &metric)))
        }
    }
}

const SIGNALS: [Signal; 3] = [Signal::Logs, Signal::Traces, Signal::Metrics];

// ---------------------------------------------------------------------------
// 1. Depth

#[test]
fn protobuf_values_nest_up_to_the_bound() {
    for signal in SIGNALS {
        for kvlist in [false, true] {
            for as_body in [false, true] {
                let ok = request_with_value(signal, &deep_value(MAX_VALUE_NESTING, kvlist), as_body);
                let decoded = decode_pb(signal, &ok, &limits()).unwrap();
                assert_eq!(decoded.rows(), 1, "{signal:?} kvlist {kvlist}");
                let deep = request_with_value(signal, &deep_value(MAX_VALUE_NESTING + 1, kvlist), as_body);
                let err = decode_pb(signal, &deep, &limits()).unwrap_err();
                assert_eq!(err.to_string(), "attribute value nesting deeper than 24", "{signal:?} kvlist {kvlist}");
            }
        }
    }
}

#[test]
fn protobuf_nesting_of_100000_is_refused_on_a_small_stack() {
    for signal in SIGNALS {
        for kvlist in [false, true] {
            let message = on_small_stack(move || {
                let body = request_with_value(signal, &deep_value(100_000, kvlist), true);
                decode_pb(signal, &body, &limits()).unwrap_err().to_string()
            });
            assert_eq!(message, "attribute value nesting deeper than 24", "{signal:?} kvlist {kvlist}");
        }
    }
    // prost's own limit is still in force for what the bound does not cover
    let value = deep_value(100_000, true);
    let err = on_small_stack(move || AnyValue::decode(&value[..]).unwrap_err().to_string());
    assert!(err.contains("recursion limit reached"), "{err}");
}

#[test]
fn traces_walker_declines_deep_values_in_every_attribute_list_on_a_small_stack() {
    for kvlist in [false, true] {
        // span attributes; an event's (3) in events (11); a link's (4) in links (13)
        for tag in [9, 11, 13] {
            let message = on_small_stack(move || {
                let kv = attribute(&deep_value(100_000, kvlist));
                let attributes = match tag {
                    9 => len_field(9, &kv),
                    11 => len_field(11, &len_field(3, &kv)),
                    _ => len_field(13, &len_field(4, &kv)),
                };
                let span = [len_field(1, &[1; 16]), len_field(2, &[2; 8]), attributes].concat();
                let body = len_field(1, &len_field(2, &len_field(2, &span)));
                assert!(traces_wire::decode(&body, &limits()).is_none(), "tag {tag} kvlist {kvlist}");
                decode_pb(Signal::Traces, &body, &limits()).unwrap_err().to_string()
            });
            assert_eq!(message, "attribute value nesting deeper than 24", "tag {tag} kvlist {kvlist}");
        }
    }
}

#[test]
fn metrics_walker_declines_deep_values_in_every_attribute_list_on_a_small_stack() {
    for kvlist in [false, true] {
        // point attributes (7 of a gauge point); an exemplar's (7 of 5);
        // metric metadata (12); resource (1 of 1) and scope (3 of 1) attributes
        for place in ["point", "exemplar", "metadata", "resource", "scope"] {
            let message = on_small_stack(move || {
                let kv = attribute(&deep_value(100_000, kvlist));
                let point = match place {
                    "point" => len_field(7, &kv),
                    "exemplar" => len_field(5, &len_field(7, &kv)),
                    _ => Vec::new(),
                };
                let mut metric = [len_field(1, b"m"), len_field(5, &len_field(1, &point))].concat();
                if place == "metadata" {
                    metric.extend(len_field(12, &kv));
                }
                let scope = if place == "scope" { len_field(1, &len_field(3, &kv)) } else { Vec::new() };
                let resource = if place == "resource" { len_field(1, &len_field(1, &kv)) } else { Vec::new() };
                let scope_entry = [scope, len_field(2, &metric)].concat();
                let body = len_field(1, &[resource, len_field(2, &scope_entry)].concat());
                assert!(metrics_wire::decode(&body, &limits()).is_none(), "{place} kvlist {kvlist}");
                assert!(metrics_wire::validate(&body, &limits()).is_none(), "{place} kvlist {kvlist}");
                let ingest = decode_for_ingest(kind(Signal::Metrics, Format::Protobuf), &body, &limits());
                let ingest = ingest.unwrap_err().to_string();
                assert_eq!(decode_pb(Signal::Metrics, &body, &limits()).unwrap_err().to_string(), ingest);
                ingest
            });
            assert_eq!(message, "attribute value nesting deeper than 24", "{place} kvlist {kvlist}");
        }
    }
}

/// A JSON log request with `value` (an AnyValue object) as the body.
fn json_logs_with_body(value: &str) -> String {
    format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{value}}}]}}]}}]}}"#)
}

fn json_deep_value(levels: usize, kvlist: bool) -> String {
    let (open, close) = if kvlist {
        (r#"{"kvlistValue":{"values":[{"key":"k","value":"#, "}]}}")
    } else {
        (r#"{"arrayValue":{"values":["#, "]}}")
    };
    [open.repeat(levels), r#"{"stringValue":"leaf"}"#.to_string(), close.repeat(levels)].concat()
}

#[test]
fn json_values_nest_up_to_the_bound() {
    for kvlist in [false, true] {
        let ok = json_logs_with_body(&json_deep_value(MAX_VALUE_NESTING, kvlist));
        let decoded = decode_json(Signal::Logs, &ok, &limits()).unwrap();
        let protobuf = decode_pb(
            Signal::Logs,
            &request_with_value(Signal::Logs, &deep_value(MAX_VALUE_NESTING, kvlist), true),
            &limits(),
        )
        .unwrap();
        assert_eq!(decoded.batches[0].batch.column_by_name("body"), protobuf.batches[0].batch.column_by_name("body"));

        let deep = json_logs_with_body(&json_deep_value(MAX_VALUE_NESTING + 1, kvlist));
        // the error points just past the `{` of the 25th container
        let open = if kvlist { r#"{"kvlistValue":{"# } else { r#"{"arrayValue":{"# };
        let at = deep.match_indices(open).nth(MAX_VALUE_NESTING).unwrap().0 + open.len();
        let err = decode_json(Signal::Logs, &deep, &limits()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid json at line 1 column {at}: attribute value nesting deeper than 24"),
            "kvlist {kvlist}"
        );
    }
}

#[test]
fn json_nesting_of_100000_is_refused_on_a_small_stack() {
    for kvlist in [false, true] {
        let message = on_small_stack(move || {
            let body = json_logs_with_body(&json_deep_value(100_000, kvlist));
            decode_json(Signal::Logs, &body, &limits()).unwrap_err().to_string()
        });
        assert!(message.ends_with(": attribute value nesting deeper than 24"), "{message}");
    }
    // Nesting in an unknown field is skipped by serde_json without recursing.
    let rows = on_small_stack(|| {
        let body = format!(r#"{{"resourceLogs":[],"x":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        decode_json(Signal::Logs, &body, &limits()).unwrap().rows()
    });
    assert_eq!(rows, 0);
    // Arrays where a repeated field expects objects: refused at the first one.
    let message = on_small_stack(|| {
        let body = format!(r#"{{"resourceLogs":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        decode_json(Signal::Logs, &body, &limits()).unwrap_err().to_string()
    });
    assert_eq!(
        message,
        "invalid json at line 1 column 18: invalid type: sequence, expected a JSON object (ResourceLogs) for resourceLogs"
    );
}

// ---------------------------------------------------------------------------
// 2. Items and copies

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn text(value: &str) -> any_value::Value {
    any_value::Value::StringValue(value.into())
}

fn items_of(msg: &'static messages::Msg, body: &[u8]) -> usize {
    let mut budget = ItemBudget::new(usize::MAX);
    limits::check(msg, body, &mut budget).unwrap();
    budget.items()
}

/// 1 resource (2 attributes), 1 scope (1 attribute), 3 records: 2
/// attributes; 1 attribute holding a 3-entry array; a 2-entry key-value
/// list as body. 16 items.
fn counted_logs() -> ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    let array = any_value::Value::ArrayValue(ArrayValue {
        values: vec![AnyValue { value: Some(text("x")) }, AnyValue::default(), AnyValue::default()],
    });
    let list = any_value::Value::KvlistValue(KeyValueList {
        values: vec![kv("a", text("1")), kv("b", any_value::Value::IntValue(2))],
    });
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", text("svc")), kv("host", text("h"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { attributes: vec![kv("s", text("1"))], ..Default::default() }),
                log_records: vec![
                    LogRecord { attributes: vec![kv("a", text("1")), kv("b", text("2"))], ..Default::default() },
                    LogRecord { attributes: vec![kv("arr", array)], ..Default::default() },
                    LogRecord { body: Some(AnyValue { value: Some(list) }), ..Default::default() },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn items_are_counted_exactly_on_every_logs_path() {
    let body = counted_logs().encode_to_vec();
    assert_eq!(items_of(&messages::EXPORT_LOGS, &body), 16);
    let json = serde_json::to_string(&counted_logs()).unwrap();
    // the wire walker handles the body within the bound and declines past it
    let walker = |max| logs_wire::decode(&body, &with_items(max)).map(|d| d.rows());
    assert_eq!(walker(16), Some(3));
    assert_eq!(walker(15), None);
    for (name, result_at) in [
        (
            "protobuf",
            Box::new(|max| decode_pb(Signal::Logs, &body, &with_items(max)))
                as Box<dyn Fn(usize) -> Result<Decoded, DecodeError>>,
        ),
        ("prost", Box::new(|max| logs::decode_with_prost(&body, &with_items(max)))),
        ("json", Box::new(|max| decode_json(Signal::Logs, &json, &with_items(max)))),
    ] {
        assert_eq!(result_at(16).unwrap().rows(), 3, "{name}");
        let err = result_at(15).unwrap_err();
        assert_eq!(err.to_string(), "request has more than 15 items (max_items_per_request)", "{name}");
        assert!(matches!(err, DecodeError::TooLarge { limit: 15, what: Exceeded::Items }), "{name}");
    }
}

#[test]
fn items_are_counted_for_traces_and_metrics() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        exponential_histogram_data_point::Buckets, metric::Data, summary_data_point::ValueAtQuantile, Exemplar,
        ExponentialHistogram, ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Metric, ResourceMetrics,
        ScopeMetrics, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
    // resource_spans 1 + scope_spans 1 + spans 2 + attributes 1 + events 2 (one
    // with 1 attribute) + link 1 (1 attribute) = 10
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        attributes: vec![kv("a", text("b"))],
        events: vec![span::Event { attributes: vec![kv("e", text("f"))], ..Default::default() }, Default::default()],
        links: vec![span::Link { attributes: vec![kv("l", text("m"))], ..Default::default() }],
        ..Default::default()
    };
    let traces = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span, Span { trace_id: vec![1; 16], span_id: vec![3; 8], ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    assert_eq!(items_of(&messages::EXPORT_TRACE, &traces), 10);
    assert_eq!(decode_pb(Signal::Traces, &traces, &with_items(10)).unwrap().rows(), 2);
    assert_eq!(
        decode_pb(Signal::Traces, &traces, &with_items(9)).unwrap_err().to_string(),
        "request has more than 9 items (max_items_per_request)"
    );
    // the wire walker counts the same items, and declines past the bound
    assert_eq!(traces_wire::decode(&traces, &with_items(10)).map(|d| d.rows()), Some(2));
    assert!(traces_wire::decode(&traces, &with_items(9)).is_none());
    assert_eq!(
        traces::decode_with_prost(&traces, &with_items(9)).unwrap_err().to_string(),
        "request has more than 9 items (max_items_per_request)"
    );

    // resource_metrics 1 + scope_metrics 1 + metrics 3 + histogram point 1
    // (its 4 fixed64 bucket counts and 3 bounds are not items) + 2 exemplars
    // (one with 1 attribute) + exponential point 1 with 5 varint bucket counts
    // + summary point 1 with 2 quantiles = 18
    let histogram = Metric {
        name: "h".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                bucket_counts: vec![1, 2, 3, 4],
                explicit_bounds: vec![1.0, 2.0, 3.0],
                exemplars: vec![
                    Exemplar { filtered_attributes: vec![kv("x", text("y"))], ..Default::default() },
                    Exemplar::default(),
                ],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let exponential = Metric {
        name: "e".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                positive: Some(Buckets { offset: 0, bucket_counts: vec![1, 300, 0, 70_000, 5] }),
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let summary = Metric {
        name: "s".into(),
        data: Some(Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                quantile_values: vec![ValueAtQuantile::default(), ValueAtQuantile { quantile: 1.0, value: 2.0 }],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics: vec![histogram, exponential, summary], ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    assert_eq!(items_of(&messages::EXPORT_METRICS, &metrics), 18);
    assert_eq!(decode_pb(Signal::Metrics, &metrics, &with_items(18)).unwrap().rows(), 3);
    assert_eq!(metrics_wire::decode(&metrics, &with_items(18)).map(|d| d.rows()), Some(3));
    assert!(metrics_wire::decode(&metrics, &with_items(17)).is_none());
    assert!(metrics_wire::validate(&metrics, &with_items(18)).is_some());
    assert!(metrics_wire::validate(&metrics, &with_items(17)).is_none());
    let ingest = decode_for_ingest(kind(Signal::Metrics, Format::Protobuf), &metrics, &with_items(17)).unwrap_err();
    assert_eq!(ingest.to_string(), "request has more than 17 items (max_items_per_request)");
    assert_eq!(
        decode_pb(Signal::Metrics, &metrics, &with_items(17)).unwrap_err().to_string(),
        "request has more than 17 items (max_items_per_request)"
    );
}

/// `count` copies of the 2-byte empty element `tag` nested in `envelope`.
fn empty_elements(count: usize, tag: u8) -> Vec<u8> {
    [tag << 3 | 2, 0].repeat(count)
}

/// Bodies of about `bytes` that are nearly all empty items, per signal.
fn expansion_bodies(bytes: usize) -> Vec<(&'static str, Signal, Vec<u8>)> {
    let n = bytes / 2;
    let logs = len_field(1, &len_field(2, &empty_elements(n, 2)));
    let attributes = len_field(1, &len_field(2, &len_field(2, &empty_elements(n, 6))));
    let spans = len_field(1, &len_field(2, &empty_elements(n, 2)));
    let span_with = |tag: u8| {
        let span = [len_field(1, &[1; 16]), len_field(2, &[2; 8]), empty_elements(n, tag)].concat();
        len_field(1, &len_field(2, &len_field(2, &span)))
    };
    let metric_points = {
        let gauge = len_field(5, &empty_elements(n, 1));
        len_field(1, &len_field(2, &len_field(2, &[len_field(1, b"m"), gauge].concat())))
    };
    let exemplars = {
        let point = len_field(1, &empty_elements(n, 5));
        let metric = [len_field(1, b"m"), len_field(5, &point)].concat();
        len_field(1, &len_field(2, &len_field(2, &metric)))
    };
    let buckets = {
        // packed varint bucket counts, one byte each
        let positive = len_field(8, &len_field(2, &vec![0u8; bytes]));
        let point = len_field(1, &positive);
        let metric = [len_field(1, b"m"), len_field(10, &point)].concat();
        len_field(1, &len_field(2, &len_field(2, &metric)))
    };
    let entity_refs = {
        let resource = len_field(1, &empty_elements(n, 3));
        len_field(1, &resource)
    };
    vec![
        ("empty log records", Signal::Logs, logs),
        ("empty log attributes", Signal::Logs, attributes),
        ("empty spans", Signal::Traces, spans),
        ("empty span attributes", Signal::Traces, span_with(9)),
        ("empty span events", Signal::Traces, span_with(11)),
        ("empty span links", Signal::Traces, span_with(13)),
        ("empty gauge points", Signal::Metrics, metric_points),
        ("empty exemplars", Signal::Metrics, exemplars),
        ("packed bucket counts", Signal::Metrics, buckets),
        ("empty entity refs", Signal::Logs, entity_refs),
    ]
}

#[test]
fn expansion_bodies_are_refused_by_item_count() {
    for (name, signal, body) in expansion_bodies(4 << 20) {
        let err = decode_pb(signal, &body, &limits()).unwrap_err();
        assert_eq!(err.to_string(), "request has more than 1000000 items (max_items_per_request)", "{name}");
        let walker = match signal {
            Signal::Logs => logs_wire::decode(&body, &limits()),
            Signal::Traces => traces_wire::decode(&body, &limits()),
            Signal::Metrics => {
                assert!(metrics_wire::validate(&body, &limits()).is_none(), "{name}: validation declines");
                metrics_wire::decode(&body, &limits())
            }
        };
        assert!(walker.is_none(), "{name}: the walker declines");
    }
    // the same through OTLP/JSON: 400,000 `{}` records, bound lowered to 300,000
    let json = json_logs_many_records(400_000);
    let err = decode_json(Signal::Logs, &json, &with_items(300_000)).unwrap_err();
    assert_eq!(err.to_string(), "request has more than 300000 items (max_items_per_request)");
}

fn json_logs_many_records(records: usize) -> String {
    let mut records_json = vec!["{}"; records].join(",");
    records_json = format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{records_json}]}}]}}]}}"#);
    records_json
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Peak RSS of decoding each expansion body, one at a time, bounded and
/// unbounded (what every version before the bound did).
/// `cargo test --release -p canardstack-otlp --lib hostile_tests::bench_expansion -- --ignored --nocapture --test-threads=1`
/// (`EXPANSION_KIB` sets the body size, 8 MiB by default; unbounded decoding
/// of 64 MiB needs several GiB. 1950 KiB is just under the default bound.) VmHWM only grows, so each measurement runs in
/// a child process: this test binary again, filtered to `expansion_child`.
#[test]
#[ignore]
fn bench_expansion() {
    let kib: usize = std::env::var("EXPANSION_KIB").ok().and_then(|v| v.parse().ok()).unwrap_or(8 << 10);
    let names: Vec<&str> = expansion_bodies(1024).into_iter().map(|(n, _, _)| n).collect();
    println!("bodies of {kib} KiB decompressed protobuf; peak RSS of the process (VmHWM)");
    for (index, name) in names.iter().enumerate() {
        for bounded in [false, true] {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", "otlp::hostile_tests::expansion_child", "--nocapture"])
                .env("EXPANSION_CHILD", format!("{index} {bounded} {kib}"))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout.lines().find(|l| l.starts_with("RESULT")).unwrap_or("RESULT (child failed)");
            println!("{name:>22} {:>9}: {}", if bounded { "bounded" } else { "unbounded" }, &line[7..]);
        }
    }
}

#[test]
#[ignore]
fn expansion_child() {
    let Ok(spec) = std::env::var("EXPANSION_CHILD") else { return };
    let mut parts = spec.split(' ');
    let index: usize = parts.next().unwrap().parse().unwrap();
    let bounded: bool = parts.next().unwrap().parse().unwrap();
    let kib: usize = parts.next().unwrap().parse().unwrap();
    let (_, signal, body) = expansion_bodies(kib << 10).swap_remove(index);
    let before = vm_hwm_kib();
    let limits = if bounded { DecodeLimits::new(usize::MAX) } else { DecodeLimits::unbounded(usize::MAX) };
    let start = std::time::Instant::now();
    let outcome = match decode_pb(signal, &body, &limits) {
        Ok(decoded) => format!("{} rows", decoded.rows()),
        Err(err) => err.to_string(),
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT peak RSS +{} MiB over the body, {:.2} s: {outcome}",
        (vm_hwm_kib().saturating_sub(before)) / 1024,
        secs
    );
}

#[test]
fn copied_resource_and_scope_bytes_are_bounded() {
    // every row copies the 100-byte attribute: 1 + 100 + 8 bytes of map entry
    // plus service.name (empty) and schema urls (empty): 109 per row
    let resource = Resource { attributes: vec![kv("k", text(&"v".repeat(100)))], ..Default::default() };
    let logs = |records: usize| ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); records], ..Default::default() }],
            ..Default::default()
        }],
    };
    let copies = DecodeLimits { max_copied_bytes: 1000, ..limits() };
    let ok = logs(9).encode_to_vec();
    assert_eq!(logs_wire::decode(&ok, &copies).unwrap().rows(), 9);
    assert_eq!(logs::decode_with_prost(&ok, &copies).unwrap().rows(), 9);
    let over = logs(10).encode_to_vec();
    assert!(logs_wire::decode(&over, &copies).is_none());
    let expected = "request would store more than 1000 bytes of resource, scope and metric fields copied into its rows";
    let err = decode_pb(Signal::Logs, &over, &copies).unwrap_err();
    assert_eq!(err.to_string(), expected);
    assert!(matches!(err, DecodeError::TooLarge { limit: 1000, what: Exceeded::CopiedBytes }));

    // traces: the same resource, scope name "ab" (2 bytes): 111 per span
    let span = |i: u8| {
        let mut span = [len_field(1, &[1; 16]), len_field(2, &[i + 1; 8])].concat();
        span = len_field(2, &span);
        span
    };
    let traces = |spans: u8| {
        let scope = len_field(1, &len_field(1, b"ab"));
        let spans: Vec<u8> = (0..spans).flat_map(span).collect();
        len_field(1, &[len_field(1, &resource.encode_to_vec()), len_field(2, &[scope, spans].concat())].concat())
    };
    assert_eq!(decode_pb(Signal::Traces, &traces(9), &copies).unwrap().rows(), 9);
    assert_eq!(traces_wire::decode(&traces(9), &copies).unwrap().rows(), 9);
    assert!(traces_wire::decode(&traces(10), &copies).is_none());
    assert_eq!(decode_pb(Signal::Traces, &traces(10), &copies).unwrap_err().to_string(), expected);
    assert_eq!(traces::decode_with_prost(&traces(10), &copies).unwrap_err().to_string(), expected);

    // metrics: the metric's name, description and unit are copied too: "m" +
    // "d" + "u" + 109 = 112 per point
    let metric = |points: usize| {
        let gauge = len_field(5, &empty_elements(points, 1));
        let metric = [len_field(1, b"m"), len_field(2, b"d"), len_field(3, b"u"), gauge].concat();
        len_field(1, &[len_field(1, &resource.encode_to_vec()), len_field(2, &len_field(2, &metric))].concat())
    };
    assert_eq!(decode_pb(Signal::Metrics, &metric(8), &copies).unwrap().rows(), 8);
    assert_eq!(decode_pb(Signal::Metrics, &metric(9), &copies).unwrap_err().to_string(), expected);
    assert_eq!(metrics_wire::decode(&metric(8), &copies).unwrap().rows(), 8);
    assert!(metrics_wire::decode(&metric(9), &copies).is_none());
    assert!(metrics_wire::validate(&metric(9), &copies).is_none());
    assert_eq!(metrics::decode_with_prost(&metric(9), &copies).unwrap_err().to_string(), expected);
    let ingest = decode_for_ingest(kind(Signal::Metrics, Format::Protobuf), &metric(9), &copies).unwrap_err();
    assert_eq!(ingest.to_string(), expected);

    // and the default bound stops a large resource over many empty records
    let huge = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![kv("k", text(&"v".repeat(1 << 20)))], ..Default::default() }),
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); 300], ..Default::default() }],
            ..Default::default()
        }],
    };
    assert_eq!(
        decode_pb(Signal::Logs, &huge.encode_to_vec(), &limits()).unwrap_err().to_string(),
        "request would store more than 268435456 bytes of resource, scope and metric fields copied into its rows"
    );
}

// ---------------------------------------------------------------------------
// JSON oddities

fn json_log_attribute(value: &str) -> String {
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"attributes":[{{"key":"a","value":{value}}}]}}]}}]}}]}}"#
    )
}

fn attribute_text(decoded: &Decoded, column: &str) -> Vec<(String, String)> {
    let map = decoded.batches[0].batch.column_by_name(column).unwrap();
    super::attributes::tests::map_entries(map.as_any().downcast_ref::<MapArray>().unwrap(), 0)
}

#[test]
fn json_numbers_and_strings_out_of_range_are_errors() {
    let cases = [
        (r#"{"intValue":"1e999999"}"#, "invalid value: string \"1e999999\", expected an integer for intValue"),
        (r#"{"intValue":1e999999}"#, "number out of range"),
        (r#"{"intValue":"99999999999999999999"}"#, "99999999999999999999 is out of range for intValue"),
        (r#"{"doubleValue":"1e999999"}"#, "invalid value: string \"1e999999\", expected a number for doubleValue"),
        (
            r#"{"bytesValue":"not base64!"}"#,
            "invalid value: string \"not base64!\", expected a base64 string for bytesValue",
        ),
    ];
    for (value, message) in cases {
        let err = decode_json(Signal::Logs, &json_log_attribute(value), &limits()).unwrap_err();
        let DecodeError::Json { message: got, .. } = &err else { panic!("{value}: {err}") };
        assert_eq!(got, message, "{value}");
    }
    // a huge numeric string: linear work, an error
    let digits = "9".repeat(1 << 20);
    let err = decode_json(Signal::Logs, &json_log_attribute(&format!(r#"{{"intValue":"{digits}"}}"#)), &limits());
    assert!(matches!(err, Err(DecodeError::Json { .. })));
    // huge base64 bytes decode (bounded by the body) and render back
    let bytes = "QUJD".repeat(1 << 16);
    let decoded =
        decode_json(Signal::Logs, &json_log_attribute(&format!(r#"{{"bytesValue":"{bytes}"}}"#)), &limits()).unwrap();
    assert_eq!(attribute_text(&decoded, "log_attributes"), vec![("a".to_string(), bytes)]);
}

#[test]
fn json_ids_of_the_wrong_length_reject_the_item_only() {
    let body = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"traceId":"0102","body":{"stringValue":"short id"}},
        {"spanId":"0102030405060708090a","body":{"stringValue":"long id"}},
        {"traceId":"zz","body":{"stringValue":"not hex"}}]}]}]}"#;
    let err = decode_json(Signal::Logs, body, &limits()).unwrap_err();
    let DecodeError::Json { message, .. } = &err else { panic!("{err}") };
    assert_eq!(message, "invalid value: string \"zz\", expected a hex string for traceId");
    let body = body.replace(
        r#",
        {"traceId":"zz","body":{"stringValue":"not hex"}}"#,
        "",
    );
    let decoded = decode_json(Signal::Logs, &body, &limits()).unwrap();
    assert_eq!((decoded.rows(), decoded.rejected), (0, 2));
    assert_eq!(decoded.rejection_message, "log record trace_id has 2 bytes, expected 16");
}

// ---------------------------------------------------------------------------
// 3. Odd bytes are data

const ODD: &str = "nul\0in\u{1}side\u{7f}\u{85}\u{2028}\u{fffe}\u{10ffff}";

#[test]
fn odd_bytes_are_stored_as_data_identically_on_both_logs_paths() {
    let record = LogRecord {
        severity_text: ODD.into(),
        event_name: ODD.into(),
        body: Some(AnyValue { value: Some(text(ODD)) }),
        attributes: vec![
            kv(ODD, text(ODD)),
            kv("\0", text("")),
            kv("list", any_value::Value::ArrayValue(Default::default())),
        ],
        ..Default::default()
    };
    let mut nested = record.clone();
    nested.body = Some(AnyValue {
        value: Some(any_value::Value::KvlistValue(opentelemetry_proto::tonic::common::v1::KeyValueList {
            values: vec![kv(ODD, text(ODD))],
        })),
    });
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![kv("service.name", text(ODD))], ..Default::default() }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: ODD.into(), ..Default::default() }),
                log_records: vec![record, nested],
                schema_url: ODD.into(),
            }],
            schema_url: ODD.into(),
        }],
    };
    let body = request.encode_to_vec();
    let fast = logs_wire::decode(&body, &limits()).expect("the walker handles odd text");
    let reference = logs::decode_with_prost(&body, &limits()).unwrap();
    assert_eq!(fast.batches[0].batch, reference.batches[0].batch);
    let batch = &fast.batches[0].batch;
    let column = |name: &str, row: usize| batch.column_by_name(name).unwrap().as_string::<i32>().value(row).to_string();
    assert_eq!(column("body", 0), ODD);
    assert_eq!(column("severity_text", 0), ODD);
    assert_eq!(column("service_name", 1), ODD);
    assert_eq!(column("scope_name", 1), ODD);
    assert_eq!(column("scope_schema_url", 1), ODD);
    // inside rendered JSON, control characters are escaped; others are kept
    assert_eq!(column("body", 1), "{\"nul\\u0000in\\u0001side\u{7f}\u{85}\u{2028}\u{fffe}\u{10ffff}\":\"nul\\u0000in\\u0001side\u{7f}\u{85}\u{2028}\u{fffe}\u{10ffff}\"}");
    assert_eq!(
        attribute_text(&fast, "log_attributes"),
        vec![(ODD.to_string(), ODD.to_string()), ("\0".to_string(), String::new()), ("list".into(), "[]".into())]
    );

    // the same through OTLP/JSON, escapes and all
    let json = serde_json::to_string(&request).unwrap();
    assert!(json.contains(r"\u0000"));
    let from_json = decode_json(Signal::Logs, &json, &limits()).unwrap();
    assert_eq!(from_json.batches[0].batch, reference.batches[0].batch);
}

#[test]
fn lone_surrogates_and_invalid_utf8_are_refused() {
    let err = decode_json(Signal::Logs, &json_log_attribute(r#"{"stringValue":"\ud800"}"#), &limits()).unwrap_err();
    let DecodeError::Json { message, .. } = &err else { panic!("{err}") };
    assert_eq!(message, "unexpected end of hex escape");
    let err = decode_json(Signal::Logs, &json_log_attribute(r#"{"stringValue":"\udc00x"}"#), &limits()).unwrap_err();
    let DecodeError::Json { message, .. } = &err else { panic!("{err}") };
    // (serde_json's wording for a lone trailing surrogate)
    assert_eq!(message, "lone leading surrogate in hex escape");

    // invalid UTF-8 in any protobuf string: the walker declines, prost refuses
    let record = LogRecord { body: Some(AnyValue { value: Some(text("abc")) }), ..Default::default() };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: vec![record], ..Default::default() }],
            ..Default::default()
        }],
    };
    let mut body = request.encode_to_vec();
    let at = body.windows(3).position(|w| w == b"abc").unwrap();
    body[at + 1] = 0xc3; // a lead byte followed by 'c'
    assert!(logs_wire::decode(&body, &limits()).is_none());
    let err = decode_pb(Signal::Logs, &body, &limits()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid protobuf: AnyValue.value: LogRecord.body: ScopeLogs.log_records: ResourceLogs.scope_logs: ExportLogsServiceRequest.resource_logs: invalid string value: data is not UTF-8 encoded"
    );
}

// ---------------------------------------------------------------------------
// 5. Property tests

/// Seeded, so every run tries the same cases (`PROPTEST_RNG_SEED` overrides
/// it to explore); no persistence files in the source tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x13_0ff5e7),
        ..ProptestConfig::default()
    }
}

fn real_logs_bodies() -> Vec<Vec<u8>> {
    vec![
        counted_logs().encode_to_vec(),
        crate::fixtures::realistic_logs(3).encode_to_vec(),
        super::logs::tests::sample_request().encode_to_vec(),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn mutate(body: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        if body.is_empty() {
            return;
        }
        match *m {
            Mutation::Flip(at, bits) => {
                let at = at % body.len();
                body[at] ^= bits.max(1);
            }
            Mutation::Insert(at, byte) => body.insert(at % (body.len() + 1), byte),
            Mutation::Delete(at) => _ = body.remove(at % body.len()),
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

/// One signal's wire walker beside its prost path, for the property tests.
struct WirePaths {
    census: &'static messages::Msg,
    walker: fn(&[u8], &DecodeLimits) -> Option<Decoded>,
    prost: fn(&[u8], &DecodeLimits) -> Result<Decoded, DecodeError>,
    decode: fn(&[u8], &DecodeLimits) -> Result<Decoded, DecodeError>,
}

const LOGS_WIRE: WirePaths = WirePaths {
    census: &messages::EXPORT_LOGS,
    walker: logs_wire::decode,
    prost: logs::decode_with_prost,
    decode: logs::decode,
};

const TRACES_WIRE: WirePaths = WirePaths {
    census: &messages::EXPORT_TRACE,
    walker: traces_wire::decode,
    prost: traces::decode_with_prost,
    decode: traces::decode,
};

const METRICS_WIRE: WirePaths = WirePaths {
    census: &messages::EXPORT_METRICS,
    walker: metrics_wire::decode,
    prost: metrics::decode_with_prost,
    decode: metrics::decode,
};

fn real_metrics_bodies() -> Vec<Vec<u8>> {
    vec![crate::fixtures::realistic_metrics(2).encode_to_vec(), super::metrics::tests::sample_request().encode_to_vec()]
}

/// The ingest path on `body`: validation as `decode` answers (same rows,
/// rejections and errors), and the flush-time build of what it accepted
/// equal to `decode`'s batches.
fn ingest_agrees(body: &[u8]) {
    let unbounded = DecodeLimits::unbounded(usize::MAX);
    let pb = kind(Signal::Metrics, Format::Protobuf);
    match (decode_with_limits(pb, body, &unbounded), decode_for_ingest(pb, body, &unbounded)) {
        (Ok(decoded), Ok(ingested)) => {
            assert_eq!(
                (ingested.rejected, &ingested.rejection_message),
                (decoded.rejected, &decoded.rejection_message)
            );
            let Rows::Metrics(valid) = &ingested.rows else { panic!("metrics are deferred") };
            assert_eq!(valid.rows(), decoded.rows());
            let mut batcher = MetricBatcher::for_requests([valid]);
            batcher.append(valid);
            let built = batcher.finish().unwrap();
            assert_eq!(built.len(), decoded.batches.len());
            for (a, b) in built.iter().zip(&decoded.batches) {
                assert_eq!((a.table, &a.batch), (b.table, &b.batch));
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("decode {a:?} but ingest {b:?}"),
    }
}

/// The walker and the prost path agree on `body`, and both agree on the
/// item count: at the census' count both accept, one below both refuse.
fn walker_agrees(paths: &WirePaths, body: &[u8]) {
    let unbounded = DecodeLimits::unbounded(usize::MAX);
    let fast = (paths.walker)(body, &unbounded);
    let reference = (paths.prost)(body, &unbounded);
    match (&fast, &reference) {
        (Some(fast), Ok(reference)) => {
            assert_eq!(fast.rejected, reference.rejected);
            assert_eq!(fast.rejection_message, reference.rejection_message);
            assert_eq!(fast.batches.len(), reference.batches.len());
            for (a, b) in fast.batches.iter().zip(&reference.batches) {
                assert_eq!(a.batch, b.batch);
            }
            let items = items_of(paths.census, body);
            assert!((paths.walker)(body, &with_items(items)).is_some(), "walker refuses {items} items");
            if items > 0 {
                assert!((paths.walker)(body, &with_items(items - 1)).is_none(), "walker undercounts");
                let err = (paths.decode)(body, &with_items(items - 1)).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("request has more than {} items (max_items_per_request)", items - 1)
                );
            }
        }
        (Some(_), Err(err)) => panic!("the walker accepts what prost refuses: {err}"),
        (None, _) => {}
    }
}

fn real_traces_bodies() -> Vec<Vec<u8>> {
    vec![crate::fixtures::realistic_traces(3).encode_to_vec(), super::traces::tests::sample_request().encode_to_vec()]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn transcoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for signal in SIGNALS {
            let _ = json::to_protobuf(signal, &bytes);
        }
    }

    #[test]
    fn transcoder_never_panics_on_mutated_json(
        which in 0usize..3,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let request = [counted_logs(), crate::fixtures::realistic_logs(2), super::logs::tests::sample_request()];
        let mut body = serde_json::to_vec(&request[which]).unwrap();
        mutate(&mut body, &mutations);
        if let Ok(protobuf) = json::to_protobuf(Signal::Logs, &body) {
            // whatever it accepts is protobuf that decodes the same on both paths
            walker_agrees(&LOGS_WIRE, &protobuf);
        }
    }

    #[test]
    fn walker_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        walker_agrees(&LOGS_WIRE, &bytes);
        walker_agrees(&TRACES_WIRE, &bytes);
        walker_agrees(&METRICS_WIRE, &bytes);
        ingest_agrees(&bytes);
    }

    #[test]
    fn metrics_walker_and_prost_agree_on_mutated_bodies(
        which in 0usize..2,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut body = real_metrics_bodies().swap_remove(which);
        mutate(&mut body, &mutations);
        walker_agrees(&METRICS_WIRE, &body);
        ingest_agrees(&body);
    }

    #[test]
    fn metrics_transcoder_output_agrees_on_both_paths(
        which in 0usize..2,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let request = [crate::fixtures::realistic_metrics(2), super::metrics::tests::sample_request()];
        let mut body = serde_json::to_vec(&request[which]).unwrap();
        mutate(&mut body, &mutations);
        if let Ok(protobuf) = json::to_protobuf(Signal::Metrics, &body) {
            walker_agrees(&METRICS_WIRE, &protobuf);
            ingest_agrees(&protobuf);
        }
    }

    #[test]
    fn walker_and_prost_agree_on_mutated_bodies(
        which in 0usize..3,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut body = real_logs_bodies().swap_remove(which);
        mutate(&mut body, &mutations);
        walker_agrees(&LOGS_WIRE, &body);
    }

    #[test]
    fn traces_walker_and_prost_agree_on_mutated_bodies(
        which in 0usize..2,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut body = real_traces_bodies().swap_remove(which);
        mutate(&mut body, &mutations);
        walker_agrees(&TRACES_WIRE, &body);
    }

    #[test]
    fn traces_transcoder_output_agrees_on_both_paths(
        which in 0usize..2,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let request = [crate::fixtures::realistic_traces(2), super::traces::tests::sample_request()];
        let mut body = serde_json::to_vec(&request[which]).unwrap();
        mutate(&mut body, &mutations);
        if let Ok(protobuf) = json::to_protobuf(Signal::Traces, &body) {
            walker_agrees(&TRACES_WIRE, &protobuf);
        }
    }

    #[test]
    fn decompression_never_panics_and_respects_the_bound(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        limit in 0usize..4096,
    ) {
        for codec in [Compression::None, Compression::Gzip, Compression::Deflate, Compression::Zstd] {
            if let Ok(out) = decompress(codec, &bytes, limit) {
                prop_assert!(out.len() <= limit);
            }
        }
    }

    #[test]
    fn decompression_of_mutated_streams_respects_the_bound(
        codec in prop_oneof![Just(Compression::Gzip), Just(Compression::Deflate), Just(Compression::Zstd)],
        mutations in proptest::collection::vec(mutation(), 0..4),
        limit in 0usize..20_000,
    ) {
        let raw: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
        let mut body = super::compression::tests::compress(codec, &raw);
        mutate(&mut body, &mutations);
        match decompress(codec, &body, limit) {
            Ok(out) => prop_assert!(out.len() <= limit),
            Err(DecodeError::TooLarge { limit: l, what: Exceeded::DecompressedBytes }) => prop_assert_eq!(l, limit),
            Err(DecodeError::Decompress { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
        if mutations.is_empty() {
            prop_assert_eq!(decompress(codec, &body, limit).is_ok(), limit >= raw.len());
        }
    }
}
