//! End-to-end tests of `decode`: request kinds, compression, OTLP/JSON
//! equivalence and quirks, and an ignored throughput benchmark.

use super::compression::tests::compress;
use super::*;
use crate::fixtures::{realistic_logs, realistic_metrics, realistic_traces};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, MapArray};
use prost::Message;

const MAX: usize = 4 << 20;

fn kind(signal: Signal, format: Format, compression: Compression) -> RequestKind {
    RequestKind { signal, format, compression }
}

fn decode_json(signal: Signal, json: &str) -> Result<Decoded, DecodeError> {
    decode(kind(signal, Format::Json, Compression::None), json.as_bytes(), MAX)
}

fn only_batch(decoded: &Decoded, table: Table) -> &RecordBatch {
    assert_eq!(decoded.batches.len(), 1, "{:?}", decoded.batches.iter().map(|b| b.table).collect::<Vec<_>>());
    assert_eq!(decoded.batches[0].table, table);
    &decoded.batches[0].batch
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> String {
    batch.column_by_name(name).unwrap().as_string::<i32>().value(row).to_string()
}

fn entries(batch: &RecordBatch, name: &str, row: usize) -> Vec<(String, String)> {
    let column = batch.column_by_name(name).unwrap();
    super::attributes::tests::map_entries(column.as_any().downcast_ref::<MapArray>().unwrap(), row)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn signals_formats_and_encodings() {
    assert_eq!(Signal::Logs.path(), "/v1/logs");
    assert_eq!(Signal::Traces.path(), "/v1/traces");
    assert_eq!(Signal::Metrics.path(), "/v1/metrics");
    assert_eq!(Signal::Traces.name(), "traces");
    assert_eq!(Signal::from_path("/v1/metrics"), Some(Signal::Metrics));
    assert_eq!(Signal::from_path("/v1/profiles"), None);

    assert_eq!(Format::from_content_type("application/x-protobuf"), Some(Format::Protobuf));
    assert_eq!(Format::from_content_type("application/json; charset=utf-8"), Some(Format::Json));
    assert_eq!(Format::from_content_type("Application/JSON"), Some(Format::Json));
    assert_eq!(Format::from_content_type("text/plain"), None);
    assert_eq!(Format::Json.content_type(), "application/json");

    assert_eq!(Compression::from_content_encoding(None).unwrap(), Compression::None);
    assert_eq!(Compression::from_content_encoding(Some("identity")).unwrap(), Compression::None);
    assert_eq!(Compression::from_content_encoding(Some("GZIP")).unwrap(), Compression::Gzip);
    assert_eq!(Compression::from_content_encoding(Some("deflate")).unwrap(), Compression::Deflate);
    assert_eq!(Compression::from_content_encoding(Some("zstd")).unwrap(), Compression::Zstd);
    let err = Compression::from_content_encoding(Some("br")).unwrap_err();
    assert_eq!(err.to_string(), "unsupported content encoding \"br\"");
}

#[test]
fn request_kind_byte_round_trip() {
    let mut seen = std::collections::HashSet::new();
    for signal in [Signal::Logs, Signal::Traces, Signal::Metrics] {
        for format in [Format::Protobuf, Format::Json] {
            for compression in [Compression::None, Compression::Gzip, Compression::Deflate, Compression::Zstd] {
                let k = kind(signal, format, compression);
                let byte = k.to_byte();
                assert!(seen.insert(byte), "byte {byte} reused");
                assert_eq!(RequestKind::from_byte(byte), Some(k));
            }
        }
    }
    assert_eq!(seen.len(), 24);
    let valid = (0..=255u8).filter(|b| RequestKind::from_byte(*b).is_some()).count();
    assert_eq!(valid, 24, "every other byte is refused");
    assert_eq!(RequestKind::from_byte(0b11), None);
    assert_eq!(RequestKind::from_byte(0x80), None);
}

#[test]
fn compressed_bodies_decode() {
    let body = super::logs::tests::sample_request().encode_to_vec();
    for c in [Compression::Gzip, Compression::Deflate, Compression::Zstd] {
        let decoded = decode(kind(Signal::Logs, Format::Protobuf, c), &compress(c, &body), MAX).unwrap();
        super::logs::tests::check_sample(&decoded);
    }
    let json = serde_json::to_vec(&super::traces::tests::sample_request()).unwrap();
    let decoded =
        decode(kind(Signal::Traces, Format::Json, Compression::Gzip), &compress(Compression::Gzip, &json), MAX)
            .unwrap();
    super::traces::tests::check_sample(&decoded);
}

#[test]
fn zip_bomb_through_decode() {
    let body = compress(Compression::Gzip, &vec![b' '; MAX + 1]);
    let err = decode(kind(Signal::Logs, Format::Json, Compression::Gzip), &body, MAX).unwrap_err();
    assert_eq!(err.to_string(), "decompressed body exceeds 4194304 bytes");
}

#[test]
fn bad_bodies_are_errors() {
    let err = decode(kind(Signal::Traces, Format::Protobuf, Compression::None), b"\xff\xff\xff", MAX).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf(_)));
    assert!(err.to_string().starts_with("invalid protobuf: "), "{err}");

    let err = decode_json(Signal::Logs, "{\"resourceLogs\": [").unwrap_err();
    assert_eq!(err.to_string(), "invalid json at line 1 column 18: EOF while parsing a list");
    let err = decode_json(Signal::Logs, "\n  {\"resourceLogs\": 5}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid json at line 2 column 20: invalid type: integer `5`, expected an array for resourceLogs"
    );
    let err = decode_json(Signal::Logs, "[]").unwrap_err();
    assert!(err.to_string().contains("expected a JSON object (ExportLogsServiceRequest)"), "{err}");
    let err = decode_json(Signal::Traces, r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#)
        .unwrap_err();
    assert!(err.to_string().contains("expected a hex string for traceId"), "{err}");
    let err = decode_json(Signal::Logs, "{} trailing").unwrap_err();
    assert!(err.to_string().starts_with("invalid json at line 1 column 4: trailing characters"), "{err}");
    let err =
        decode_json(Signal::Logs, r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"flags":-1}]}]}]}"#).unwrap_err();
    assert!(err.to_string().ends_with("-1 is out of range for flags"), "{err}");
}

#[test]
fn json_of_every_signal_matches_protobuf() {
    // opentelemetry-proto's serde writes the canonical OTLP/JSON form.
    let logs = serde_json::to_string(&super::logs::tests::sample_request()).unwrap();
    super::logs::tests::check_sample(&decode_json(Signal::Logs, &logs).unwrap());
    let traces = serde_json::to_string(&super::traces::tests::sample_request()).unwrap();
    super::traces::tests::check_sample(&decode_json(Signal::Traces, &traces).unwrap());
    let metrics = serde_json::to_string(&super::metrics::tests::sample_request()).unwrap();
    super::metrics::tests::check_sample(&decode_json(Signal::Metrics, &metrics).unwrap());
}

#[test]
fn json_logs_accept_numbers_as_strings_or_numbers() {
    let json = r#"{
      "resourceLogs": [{
        "resource": {"attributes": [
          {"key": "service.name", "value": {"stringValue": "web"}},
          {"key": "pid", "value": {"intValue": 5}}
        ]},
        "scopeLogs": [{
          "scope": {"name": "s"},
          "logRecords": [
            {
              "timeUnixNano": "1700000000000000001",
              "severityNumber": 9,
              "severityText": "INFO",
              "traceId": "5B8EFFF798038103D269B633813FC60C",
              "spanId": "EEE19B7EC3C1B174",
              "body": {"stringValue": "hello"},
              "attributes": [
                {"key": "n", "value": {"intValue": "5"}},
                {"key": "d", "value": {"doubleValue": 2}},
                {"key": "b", "value": {"boolValue": true}},
                {"key": "raw", "value": {"bytesValue": "aGkh"}},
                {"key": "arr", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "7"}]}}},
                {"key": "emptyArr", "value": {"arrayValue": {}}},
                {"key": "none", "value": {}}
              ],
              "someFutureField": {"nested": [1, 2, {"deep": null}]}
            },
            {
              "timeUnixNano": 1700000000000000002,
              "observedTimeUnixNano": null,
              "severityNumber": "SEVERITY_NUMBER_WARN",
              "body": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": "Infinity"}}]}},
              "flags": 1
            },
            {}
          ]
        }]
      }]
    }"#;
    let decoded = decode_json(Signal::Logs, json).unwrap();
    assert_eq!(decoded.rejected, 0);
    let b = only_batch(&decoded, Table::Logs);
    assert_eq!(b.num_rows(), 3);
    let ts = b.column_by_name("timestamp").unwrap().as_primitive::<TimestampNanosecondType>();
    assert_eq!(ts.value(0), 1_700_000_000_000_000_001);
    assert_eq!(ts.value(1), 1_700_000_000_000_000_002);
    assert_eq!(ts.value(2), 0);
    let severity = b.column_by_name("severity_number").unwrap().as_primitive::<Int32Type>();
    assert_eq!(severity.value(0), 9);
    assert_eq!(severity.value(1), 13);
    assert_eq!(text(b, "trace_id", 0), "5b8efff798038103d269b633813fc60c");
    assert_eq!(text(b, "span_id", 0), "eee19b7ec3c1b174");
    assert_eq!(text(b, "trace_id", 1), "");
    assert_eq!(text(b, "service_name", 2), "web");
    assert_eq!(entries(b, "resource_attributes", 0), pairs(&[("service.name", "web"), ("pid", "5")]));
    assert_eq!(
        entries(b, "log_attributes", 0),
        pairs(&[
            ("n", "5"),
            ("d", "2"),
            ("b", "true"),
            ("raw", "aGkh"),
            ("arr", r#"["x",7]"#),
            ("emptyArr", "[]"),
            ("none", ""),
        ])
    );
    assert_eq!(text(b, "body", 1), r#"{"k":"Infinity"}"#);
    assert_eq!(text(b, "body", 2), "");
}

#[test]
fn json_traces_accept_enum_forms() {
    let json = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
      {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"a","kind":2,
       "startTimeUnixNano":"100","endTimeUnixNano":"350","status":{"code":2,"message":"boom"},
       "events":[{"timeUnixNano":"200","name":"e"}],
       "links":[{"traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"0102030405060709"}]},
      {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060709","name":"b",
       "kind":"SPAN_KIND_CONSUMER","status":{"code":"STATUS_CODE_OK"}},
      {"traceId":"","spanId":"0102030405060709","name":"no trace id"}
    ]}]}]}"#;
    let decoded = decode_json(Signal::Traces, json).unwrap();
    assert_eq!(decoded.rejected, 1);
    assert_eq!(decoded.rejection_message, "span \"no trace id\": trace_id is empty");
    let b = only_batch(&decoded, Table::Spans);
    assert_eq!(b.num_rows(), 2);
    assert_eq!(text(b, "span_kind", 0), "Server");
    assert_eq!(text(b, "span_kind", 1), "Consumer");
    assert_eq!(text(b, "status_code", 0), "Error");
    assert_eq!(text(b, "status_message", 0), "boom");
    assert_eq!(text(b, "status_code", 1), "Ok");
    assert_eq!(b.column_by_name("duration").unwrap().as_primitive::<arrow_array::types::Int64Type>().value(0), 250);
    let links = b.column_by_name("links").unwrap().as_list::<i32>().value(0);
    assert_eq!(links.as_struct().column(0).as_string::<i32>().value(0), "0102030405060708090a0b0c0d0e0f10");
}

#[test]
fn json_metrics_accept_string_counts() {
    let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"g","gauge":{"dataPoints":[{"asInt":"5","timeUnixNano":"1000"},{"asDouble":1.25},{"asDouble":"NaN"}]}},
      {"name":"s","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,
        "dataPoints":[{"asInt":-3,"exemplars":[{"asInt":"9","spanId":"0102030405060708","timeUnixNano":7}]}]}},
      {"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[
        {"count":"3","sum":6.5,"bucketCounts":["1","2"],"explicitBounds":[2.5,"Infinity"],"min":1,"max":"4"}]}},
      {"name":"e","exponentialHistogram":{"dataPoints":[
        {"count":4,"scale":"-1","zeroCount":"1","positive":{"offset":-2,"bucketCounts":["1",2]},"negative":{}}]}},
      {"name":"q","summary":{"dataPoints":[{"count":"10","sum":"1e2","quantileValues":[{"quantile":0.5,"value":3},{"value":"Infinity"}]}]}},
      {"name":"nodata","unit":"1"}
    ]}]}]}"#;
    let decoded = decode_json(Signal::Metrics, json).unwrap();
    assert_eq!(decoded.rejected, 1);
    assert_eq!(decoded.rejection_message, "metric \"nodata\" has no data");
    let get = |table: Table| &decoded.batches.iter().find(|b| b.table == table).unwrap().batch;

    let gauge = get(Table::MetricsGauge);
    let value = gauge.column_by_name("value").unwrap().as_primitive::<Float64Type>();
    assert_eq!(value.value(0), 5.0);
    assert_eq!(value.value(1), 1.25);
    assert!(value.value(2).is_nan());
    assert_eq!(gauge.column_by_name("timestamp").unwrap().as_primitive::<TimestampNanosecondType>().value(0), 1000);

    let sum = get(Table::MetricsSum);
    assert_eq!(sum.column_by_name("value").unwrap().as_primitive::<Float64Type>().value(0), -3.0);
    assert_eq!(sum.column_by_name("aggregation_temporality").unwrap().as_primitive::<Int32Type>().value(0), 1);
    let ex = sum.column_by_name("exemplars").unwrap().as_list::<i32>().value(0);
    let ex = ex.as_struct();
    assert_eq!(ex.column(2).as_primitive::<Float64Type>().value(0), 9.0);
    assert_eq!(ex.column(3).as_string::<i32>().value(0), "0102030405060708");
    assert_eq!(ex.column(4).as_string::<i32>().value(0), "");

    let hist = get(Table::MetricsHistogram);
    assert_eq!(hist.column_by_name("count").unwrap().as_primitive::<UInt64Type>().value(0), 3);
    let buckets = hist.column_by_name("bucket_counts").unwrap().as_list::<i32>().value(0);
    assert_eq!(buckets.as_primitive::<UInt64Type>().values().to_vec(), vec![1, 2]);
    let bounds = hist.column_by_name("explicit_bounds").unwrap().as_list::<i32>().value(0);
    assert_eq!(bounds.as_primitive::<Float64Type>().values().to_vec(), vec![2.5, f64::INFINITY]);
    assert_eq!(hist.column_by_name("max").unwrap().as_primitive::<Float64Type>().value(0), 4.0);

    let exp = get(Table::MetricsExponentialHistogram);
    assert_eq!(exp.column_by_name("scale").unwrap().as_primitive::<Int32Type>().value(0), -1);
    assert_eq!(exp.column_by_name("positive_offset").unwrap().as_primitive::<Int32Type>().value(0), -2);
    let pos = exp.column_by_name("positive_bucket_counts").unwrap().as_list::<i32>().value(0);
    assert_eq!(pos.as_primitive::<UInt64Type>().values().to_vec(), vec![1, 2]);
    assert!(exp.column_by_name("sum").unwrap().is_null(0), "absent sum is NULL");

    let summary = get(Table::MetricsSummary);
    assert_eq!(summary.column_by_name("sum").unwrap().as_primitive::<Float64Type>().value(0), 100.0);
    let q = summary.column_by_name("quantile_values").unwrap().as_list::<i32>().value(0);
    let q = q.as_struct();
    assert_eq!(q.column(0).as_primitive::<Float64Type>().value(1), 0.0);
    assert_eq!(q.column(1).as_primitive::<Float64Type>().value(1), f64::INFINITY);
}

#[test]
fn empty_requests_yield_nothing() {
    for signal in [Signal::Logs, Signal::Traces, Signal::Metrics] {
        let decoded = decode_json(signal, "{}").unwrap();
        assert!(decoded.batches.is_empty());
        let decoded = decode(kind(signal, Format::Protobuf, Compression::None), b"", MAX).unwrap();
        assert!(decoded.batches.is_empty());
        assert_eq!(decoded.rows(), 0);
    }
}

fn throughput(label: &str, kind: RequestKind, body: &[u8], iterations: usize) -> f64 {
    let start = std::time::Instant::now();
    let mut rows = 0;
    for _ in 0..iterations {
        rows += decode_with_limits(kind, body, &DecodeLimits::new(MAX)).unwrap().rows();
    }
    let secs = start.elapsed().as_secs_f64();
    let mbps = (body.len() * iterations) as f64 / secs / 1e6;
    println!("{label}: {} bytes/request, {:.1} MB/s, {:.2} M rows/s", body.len(), mbps, rows as f64 / secs / 1e6);
    mbps
}

fn mbps(body: &[u8], iterations: usize, decode: fn(&[u8]) -> Result<Decoded, DecodeError>) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(decode(body).unwrap());
    }
    (body.len() * iterations) as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// `cargo test --release -p canardstack-otlp --lib tests::bench -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_decode_logs() {
    let request = realistic_logs(500);
    let protobuf = request.encode_to_vec();
    let json = serde_json::to_vec(&request).unwrap();
    let gzip = compress(Compression::Gzip, &protobuf);
    println!(
        "500 records: protobuf {} bytes ({} per record), json {} bytes",
        protobuf.len(),
        protobuf.len() / 500,
        json.len()
    );
    let pb_kind = kind(Signal::Logs, Format::Protobuf, Compression::None);
    throughput("protobuf (warm-up)", pb_kind, &protobuf, 100);
    throughput("protobuf", pb_kind, &protobuf, 1000);
    // The wire walker against the prost path it replaces, interleaved and
    // best of 5 rounds so that a busy machine disturbs both alike.
    let (mut fast, mut reference) = (0f64, 0f64);
    for _ in 0..5 {
        fast = fast.max(mbps(&protobuf, 200, |b| super::logs::decode(b, &DecodeLimits::new(MAX))));
        reference = reference.max(mbps(&protobuf, 200, |b| super::logs::decode_with_prost(b, &DecodeLimits::new(MAX))));
    }
    println!("protobuf, best of 5: wire walker {fast:.1} MB/s, prost path {reference:.1} MB/s");
    let gzip_mbps = throughput("protobuf+gzip", kind(Signal::Logs, Format::Protobuf, Compression::Gzip), &gzip, 300);
    println!(
        "protobuf+gzip: {:.1} MB/s of uncompressed protobuf",
        gzip_mbps * protobuf.len() as f64 / gzip.len() as f64
    );
    throughput("json", kind(Signal::Logs, Format::Json, Compression::None), &json, 300);

    let start = std::time::Instant::now();
    for _ in 0..1000 {
        let decoded =
            opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::decode(&protobuf[..]).unwrap();
        std::hint::black_box(decoded);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("prost decode alone: {:.1} MB/s", (protobuf.len() * 1000) as f64 / secs / 1e6);

    // For comparison: opentelemetry-proto's own serde path (JSON -> structs only).
    let start = std::time::Instant::now();
    for _ in 0..300 {
        let decoded: opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest =
            serde_json::from_slice(&json).unwrap();
        std::hint::black_box(decoded);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("opentelemetry-proto serde json alone: {:.1} MB/s", (json.len() * 300) as f64 / secs / 1e6);
}

/// `cargo test --release -p canardstack-otlp --lib tests::bench_decode_metrics -- --ignored --nocapture`
///
/// The 25-point request three ways, each best of 3 rounds: validate alone
/// (what the HTTP handler does, `decode_for_ingest`), build alone (the
/// writer's `MetricBatcher` over a flush of 200 validated requests), and
/// both (`decode_with_limits`, one request validated and built). MB/s of
/// protobuf.
#[test]
#[ignore]
fn bench_decode_metrics() {
    let protobuf = realistic_metrics(5).encode_to_vec();
    let pb_kind = kind(Signal::Metrics, Format::Protobuf, Compression::None);
    let limits = DecodeLimits::new(MAX);
    throughput("metrics protobuf (warm-up)", pb_kind, &protobuf, 2_000);
    let start = std::time::Instant::now();
    let requests = 20_000;
    let mbps = throughput("metrics protobuf, 25 points", pb_kind, &protobuf, requests);
    println!("{:.1} us per request ({mbps:.1} MB/s)", start.elapsed().as_secs_f64() * 1e6 / requests as f64);

    let validate = || {
        let start = std::time::Instant::now();
        for _ in 0..requests {
            std::hint::black_box(decode_for_ingest(pb_kind, &protobuf, &limits).unwrap());
        }
        (protobuf.len() * requests) as f64 / start.elapsed().as_secs_f64() / 1e6
    };
    let flush = 200;
    let flushes = requests / flush;
    let build = || {
        let valid: Vec<ValidMetrics> = (0..flush)
            .map(|_| match decode_for_ingest(pb_kind, &protobuf, &limits).unwrap().rows {
                Rows::Metrics(valid) => valid,
                Rows::Batches(_) => unreachable!("metrics are deferred"),
            })
            .collect();
        let start = std::time::Instant::now();
        for _ in 0..flushes {
            let mut batcher = MetricBatcher::for_requests(&valid);
            for request in &valid {
                batcher.append(request);
            }
            std::hint::black_box(batcher.finish().unwrap());
        }
        (protobuf.len() * flush * flushes) as f64 / start.elapsed().as_secs_f64() / 1e6
    };
    let both = || {
        let start = std::time::Instant::now();
        for _ in 0..requests {
            std::hint::black_box(decode_with_limits(pb_kind, &protobuf, &limits).unwrap());
        }
        (protobuf.len() * requests) as f64 / start.elapsed().as_secs_f64() / 1e6
    };
    let (mut v, mut b, mut vb) = (0f64, 0f64, 0f64);
    for _ in 0..3 {
        v = v.max(validate());
        b = b.max(build());
        vb = vb.max(both());
    }
    println!(
        "{} bytes/request, best of 3: validate {v:.1} MB/s, build (flushes of {flush}) {b:.1} MB/s, \
         validate+build (decode_with_limits) {vb:.1} MB/s",
        protobuf.len()
    );
}

/// The flush-time build alone, for a profiler:
/// `cargo test --release -p canardstack-otlp --lib tests::bench_build_metrics -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_build_metrics() {
    let protobuf = realistic_metrics(5).encode_to_vec();
    let pb_kind = kind(Signal::Metrics, Format::Protobuf, Compression::None);
    let limits = DecodeLimits::new(MAX);
    let valid: Vec<ValidMetrics> = (0..200)
        .map(|_| match decode_for_ingest(pb_kind, &protobuf, &limits).unwrap().rows {
            Rows::Metrics(valid) => valid,
            Rows::Batches(_) => unreachable!("metrics are deferred"),
        })
        .collect();
    let start = std::time::Instant::now();
    for _ in 0..500 {
        let mut batcher = MetricBatcher::for_requests(&valid);
        for request in &valid {
            batcher.append(request);
        }
        std::hint::black_box(batcher.finish().unwrap());
    }
    println!("build: {:.1} MB/s", (protobuf.len() * 200 * 500) as f64 / start.elapsed().as_secs_f64() / 1e6);
}

/// A realistic 200-span request (6 attributes and one event per span, a link
/// on every fourth, an error status on every twentieth) through the wire
/// walker and the prost path it replaces, interleaved, best of 5 rounds.
/// `cargo test --release -p canardstack-otlp --lib tests::bench_decode_traces -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_decode_traces() {
    let protobuf = realistic_traces(200).encode_to_vec();
    println!("200 spans: protobuf {} bytes ({} per span)", protobuf.len(), protobuf.len() / 200);
    let limits = DecodeLimits::new(MAX);
    assert!(super::traces_wire::decode(&protobuf, &limits).is_some(), "the walker handles the request");
    throughput("protobuf (warm-up)", kind(Signal::Traces, Format::Protobuf, Compression::None), &protobuf, 100);
    let (mut fast, mut reference) = (0f64, 0f64);
    for _ in 0..5 {
        fast = fast.max(mbps(&protobuf, 200, |b| super::traces::decode(b, &DecodeLimits::new(MAX))));
        reference =
            reference.max(mbps(&protobuf, 200, |b| super::traces::decode_with_prost(b, &DecodeLimits::new(MAX))));
    }
    println!("protobuf, best of 5: wire walker {fast:.1} MB/s, prost path {reference:.1} MB/s");
}

#[test]
fn ingest_decoding_answers_as_decoding_does() {
    let limits = DecodeLimits::new(MAX);
    let metrics = realistic_metrics(2);
    let json = serde_json::to_vec(&metrics).unwrap();
    let cases = [
        (kind(Signal::Metrics, Format::Protobuf, Compression::None), metrics.encode_to_vec()),
        (kind(Signal::Metrics, Format::Json, Compression::None), json),
        (
            kind(Signal::Metrics, Format::Protobuf, Compression::Gzip),
            compress(Compression::Gzip, &metrics.encode_to_vec()),
        ),
        (kind(Signal::Logs, Format::Protobuf, Compression::None), realistic_logs(3).encode_to_vec()),
    ];
    for (kind, body) in &cases {
        let decoded = decode_with_limits(*kind, body, &limits).unwrap();
        let ingested = decode_for_ingest(*kind, body, &limits).unwrap();
        assert_eq!((ingested.rows.len(), ingested.rejected), (decoded.rows(), decoded.rejected));
        let deferred = matches!(ingested.rows, Rows::Metrics(_));
        assert_eq!(deferred, kind.signal == Signal::Metrics, "metrics rows wait for the flush, other signals' do not");
    }
    let garbage = [0xff, 0xff, 0xff];
    let metrics_kind = kind(Signal::Metrics, Format::Protobuf, Compression::None);
    let expected = decode_with_limits(metrics_kind, &garbage, &limits).unwrap_err().to_string();
    assert_eq!(decode_for_ingest(metrics_kind, &garbage, &limits).unwrap_err().to_string(), expected);
    let few_items = DecodeLimits { max_items: 3, ..DecodeLimits::new(MAX) };
    let body = metrics.encode_to_vec();
    let expected = decode_with_limits(metrics_kind, &body, &few_items).unwrap_err().to_string();
    assert_eq!(decode_for_ingest(metrics_kind, &body, &few_items).unwrap_err().to_string(), expected);
}
