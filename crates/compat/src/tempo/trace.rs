//! `/api/traces/<id>` (v1) and `/api/v2/traces/<id>`: one trace as OTLP.
//!
//! The stored spans are regrouped into OTLP's resource -> scope -> span tree
//! (one group per distinct resource and scope, in order of first appearance,
//! spans by start time) as `opentelemetry-proto` messages, which give the
//! protobuf answer directly. Tempo's JSON is the gogo-jsonpb form of the same
//! tree, written here from those messages: ids in base64, enums by name,
//! 64-bit times as strings, empty fields left out. v1 answers a bare `Trace`
//! (`{"batches": [...]}` in JSON) and 404 with an empty body for an unknown
//! id, which makes Grafana report it. v2 answers a `TraceByIDResponse`
//! (`{"trace": {"resourceSpans": [...]}, "metrics": {}}`), and for an
//! unknown id the same with an empty trace and status 200, as Tempo's v2
//! does; Grafana reads an empty trace as "not found in the time range".

use super::params::trace_range;
use super::{request_deadline, run_query, TempoError};
use crate::Reply;
use crate::{ApiRequest, CompatContext};
use canardstack_otlp::text::base64_encode;
use canardstack_query::traceql::fetch::{trace_spans, Attribute, SpanRecord};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status, TracesData};
use prost::Message;
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Tempo's `TraceByIDResponse`: field 1 the trace (wire-identical to OTLP
/// `TracesData`), field 2 its metrics (left empty: nothing is measured),
/// field 3 `PARTIAL` (1) when cut, field 4 why.
#[derive(Clone, PartialEq, Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<TraceByIdMetrics>,
    #[prost(int32, tag = "3")]
    status: i32,
    #[prost(string, tag = "4")]
    message: String,
}

/// Tempo's `TraceByIDMetrics` (inspected bytes, backend reads): none are measured.
#[derive(Clone, PartialEq, Message)]
struct TraceByIdMetrics {}

const PROTOBUF: &str = "application/protobuf";

/// Tempo's check of a trace id in a path (`util.HexStringToTraceID`): hex
/// only, at most 128 bits; shorter ids are left-padded with zeros.
pub fn parse_trace_id(raw: &str) -> Result<String, TempoError> {
    if let Some((at, bad)) = raw.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(TempoError::bad(format!(
            "trace IDs can only contain hex characters: invalid character '{bad}' at position {}",
            at + 1
        )));
    }
    if raw.len() > 32 {
        return Err(TempoError::bad("trace IDs can't be larger than 128 bits"));
    }
    Ok(format!("{:0>32}", raw.to_ascii_lowercase()))
}

pub fn by_id(
    request: &ApiRequest,
    context: &CompatContext,
    raw_id: &str,
    version: Version,
) -> Result<Reply, TempoError> {
    if raw_id.is_empty() {
        return Err(TempoError::NotFound("404 page not found".into()));
    }
    let trace_id = parse_trace_id(raw_id)?;
    let range = trace_range(&request.params)?;
    let max_spans = context.limits.max_entries;
    let spans_table = context.target.qualified("spans");
    let mut spans = run_query(context, request_deadline(context), |con| {
        trace_spans(con, &spans_table, &trace_id, range, max_spans)
    })?;
    if spans.is_empty() && version == Version::V1 {
        return Err(TempoError::NotFound(String::new()));
    }
    let partial = spans.len() > max_spans;
    if partial && version == Version::V1 {
        return Err(TempoError::TooLarge(format!(
            "trace exceeds max size: more than {max_spans} spans; /api/v2/traces/{raw_id} returns it partially"
        )));
    }
    spans.truncate(max_spans);
    let trace = traces_data(&spans);
    let message = if partial {
        format!("Trace exceeds maximum size of {max_spans} spans, a partial trace is returned")
    } else {
        String::new()
    };
    let wants_protobuf = request.header("Accept").is_some_and(|accept| accept.contains(PROTOBUF));
    Ok(match (version, wants_protobuf) {
        (Version::V1, true) => Reply::new(200, PROTOBUF, trace.encode_to_vec()),
        (Version::V2, true) => {
            let response = TraceByIdResponse {
                trace: Some(trace),
                metrics: Some(TraceByIdMetrics {}),
                status: i32::from(partial),
                message,
            };
            Reply::new(200, PROTOBUF, response.encode_to_vec())
        }
        (Version::V1, false) => Reply::json(200, &json!({ "batches": resource_spans_json(&trace) })),
        (Version::V2, false) => {
            let mut body = Map::new();
            let mut trace_json = Map::new();
            insert_list(&mut trace_json, "resourceSpans", resource_spans_json(&trace));
            body.insert("trace".into(), Value::Object(trace_json));
            body.insert("metrics".into(), json!({}));
            if partial {
                body.insert("status".into(), json!("PARTIAL"));
                body.insert("message".into(), json!(message));
            }
            Reply::json(200, &Value::Object(body))
        }
    })
}

// ---- stored rows -> OTLP messages ----

/// Spans grouped by resource, then scope, in order of first appearance.
pub fn traces_data(spans: &[SpanRecord]) -> TracesData {
    let mut resources: Vec<((&[Attribute], &str), ResourceSpans)> = Vec::new();
    for record in spans {
        let resource_key = (record.resource_attributes.as_slice(), record.resource_schema_url.as_str());
        let at = match resources.iter().position(|(key, _)| *key == resource_key) {
            Some(at) => at,
            None => {
                resources.push((resource_key, resource_spans(record)));
                resources.len() - 1
            }
        };
        let scopes = &mut resources[at].1.scope_spans;
        let same_scope = |s: &&mut ScopeSpans| {
            s.scope
                .as_ref()
                .is_some_and(|scope| scope.name == record.scope_name && scope.version == record.scope_version)
        };
        match scopes.iter_mut().find(same_scope) {
            Some(scope) => scope.spans.push(span(record)),
            None => scopes.push(ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: record.scope_name.clone(),
                    version: record.scope_version.clone(),
                    ..Default::default()
                }),
                spans: vec![span(record)],
                schema_url: String::new(),
            }),
        }
    }
    TracesData { resource_spans: resources.into_iter().map(|(_, resource)| resource).collect() }
}

fn resource_spans(record: &SpanRecord) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource { attributes: key_values(&record.resource_attributes), ..Default::default() }),
        scope_spans: Vec::new(),
        schema_url: record.resource_schema_url.clone(),
    }
}

fn span(record: &SpanRecord) -> Span {
    Span {
        trace_id: hex_bytes(&record.trace_id),
        span_id: hex_bytes(&record.span_id),
        trace_state: record.trace_state.clone(),
        parent_span_id: hex_bytes(&record.parent_span_id),
        name: record.name.clone(),
        kind: kind_number(&record.kind),
        start_time_unix_nano: record.start_ns as u64,
        end_time_unix_nano: record.end_ns as u64,
        attributes: key_values(&record.attributes),
        events: record
            .events
            .iter()
            .map(|event| span::Event {
                time_unix_nano: event.time as u64,
                name: event.name.clone(),
                attributes: key_values(&event.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        links: record
            .links
            .iter()
            .map(|link| span::Link {
                trace_id: hex_bytes(&link.trace_id),
                span_id: hex_bytes(&link.span_id),
                trace_state: link.trace_state.clone(),
                attributes: key_values(&link.attributes),
                ..Default::default()
            })
            .collect(),
        status: Some(Status { message: record.status_message.clone(), code: status_number(&record.status_code) }),
        ..Default::default()
    }
}

/// Attributes are stored as text, so every value is a string value.
fn key_values(attributes: &[Attribute]) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.clone())) }),
            ..Default::default()
        })
        .collect()
}

/// Stored ids are lowercase hex (empty when absent); anything else becomes no id.
fn hex_bytes(hex: &str) -> Vec<u8> {
    if !hex.len().is_multiple_of(2) {
        return Vec::new();
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}

const KINDS: [&str; 6] = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"];
const KIND_NAMES: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUSES: [&str; 3] = ["Unset", "Ok", "Error"];
const STATUS_NAMES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

fn kind_number(stored: &str) -> i32 {
    KINDS.iter().position(|k| *k == stored).unwrap_or(0) as i32
}

fn status_number(stored: &str) -> i32 {
    STATUSES.iter().position(|s| *s == stored).unwrap_or(0) as i32
}

// ---- OTLP messages -> Tempo's JSON ----

fn resource_spans_json(trace: &TracesData) -> Vec<Value> {
    trace
        .resource_spans
        .iter()
        .map(|resource| {
            let mut out = Map::new();
            let attributes = resource.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
            out.insert("resource".into(), Value::Object(object([("attributes", attributes_json(attributes))])));
            out.insert("scopeSpans".into(), Value::Array(resource.scope_spans.iter().map(scope_spans_json).collect()));
            insert_text(&mut out, "schemaUrl", &resource.schema_url);
            Value::Object(out)
        })
        .collect()
}

fn scope_spans_json(scope_spans: &ScopeSpans) -> Value {
    let mut scope = Map::new();
    if let Some(s) = &scope_spans.scope {
        insert_text(&mut scope, "name", &s.name);
        insert_text(&mut scope, "version", &s.version);
    }
    json!({ "scope": scope, "spans": scope_spans.spans.iter().map(span_json).collect::<Vec<_>>() })
}

fn span_json(span: &Span) -> Value {
    let mut out = Map::new();
    insert_text(&mut out, "traceId", &base64(&span.trace_id));
    insert_text(&mut out, "spanId", &base64(&span.span_id));
    insert_text(&mut out, "traceState", &span.trace_state);
    insert_text(&mut out, "parentSpanId", &base64(&span.parent_span_id));
    insert_text(&mut out, "name", &span.name);
    if span.kind != 0 {
        out.insert("kind".into(), json!(KIND_NAMES[span.kind as usize]));
    }
    out.insert("startTimeUnixNano".into(), json!(span.start_time_unix_nano.to_string()));
    out.insert("endTimeUnixNano".into(), json!(span.end_time_unix_nano.to_string()));
    insert_list(&mut out, "attributes", attributes_json(&span.attributes));
    let events = span.events.iter().map(|event| {
        let mut out = Map::new();
        out.insert("timeUnixNano".into(), json!(event.time_unix_nano.to_string()));
        insert_text(&mut out, "name", &event.name);
        insert_list(&mut out, "attributes", attributes_json(&event.attributes));
        Value::Object(out)
    });
    insert_list(&mut out, "events", events.collect());
    let links = span.links.iter().map(|link| {
        let mut out = Map::new();
        insert_text(&mut out, "traceId", &base64(&link.trace_id));
        insert_text(&mut out, "spanId", &base64(&link.span_id));
        insert_text(&mut out, "traceState", &link.trace_state);
        insert_list(&mut out, "attributes", attributes_json(&link.attributes));
        Value::Object(out)
    });
    insert_list(&mut out, "links", links.collect());
    let mut status = Map::new();
    if let Some(s) = &span.status {
        insert_text(&mut status, "message", &s.message);
        if s.code != 0 {
            status.insert("code".into(), json!(STATUS_NAMES[s.code as usize]));
        }
    }
    out.insert("status".into(), Value::Object(status));
    Value::Object(out)
}

/// `[{"key": ..., "value": {"stringValue": ...}}]`, the OTLP JSON of attributes.
pub fn attributes_json(attributes: &[KeyValue]) -> Vec<Value> {
    attributes
        .iter()
        .map(|kv| {
            let text = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(text)) => text.as_str(),
                _ => "",
            };
            json!({ "key": kv.key, "value": { "stringValue": text } })
        })
        .collect()
}

fn object<const N: usize>(entries: [(&str, Vec<Value>); N]) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, list) in entries {
        insert_list(&mut out, name, list);
    }
    out
}

fn insert_text(out: &mut Map<String, Value>, name: &str, text: &str) {
    if !text.is_empty() {
        out.insert(name.into(), json!(text));
    }
}

fn insert_list(out: &mut Map<String, Value>, name: &str, list: Vec<Value>) {
    if !list.is_empty() {
        out.insert(name.into(), Value::Array(list));
    }
}

fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    base64_encode(bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use canardstack_query::traceql::fetch::{EventRecord, LinkRecord};

    fn record(span_id: &str, parent: &str, service: &str, scope: &str) -> SpanRecord {
        SpanRecord {
            start_ns: 10,
            end_ns: 20,
            trace_id: "0102030405060708090a0b0c0d0e0f10".into(),
            span_id: span_id.into(),
            parent_span_id: parent.into(),
            name: format!("op-{span_id}"),
            kind: "Server".into(),
            service_name: service.into(),
            resource_attributes: vec![("service.name".into(), service.into())],
            scope_name: scope.into(),
            status_code: "Unset".into(),
            ..Default::default()
        }
    }

    #[test]
    fn spans_group_by_resource_then_scope() {
        let spans = [
            record("0000000000000001", "", "web", "a"),
            record("0000000000000002", "0000000000000001", "db", "a"),
            record("0000000000000003", "0000000000000001", "web", "b"),
            record("0000000000000004", "0000000000000001", "web", "a"),
        ];
        let trace = traces_data(&spans);
        let shape: Vec<Vec<(String, usize)>> = trace
            .resource_spans
            .iter()
            .map(|r| r.scope_spans.iter().map(|s| (s.scope.as_ref().unwrap().name.clone(), s.spans.len())).collect())
            .collect();
        assert_eq!(shape, vec![vec![("a".to_string(), 2), ("b".to_string(), 1)], vec![("a".to_string(), 1)]]);
        assert_eq!(trace.resource_spans[0].scope_spans[0].spans[0].trace_id, (1..=16).collect::<Vec<u8>>());
        assert!(trace.resource_spans[0].scope_spans[0].spans[0].parent_span_id.is_empty());
    }

    #[test]
    fn json_is_tempos_jsonpb_form() {
        let mut full = record("00000000000000ff", "0000000000000001", "web", "lib");
        full.kind = "Client".into();
        full.status_code = "Error".into();
        full.status_message = "boom".into();
        full.scope_version = "1.0".into();
        full.attributes = vec![("http.method".into(), "GET".into())];
        full.events = vec![EventRecord { time: 15, name: "retry".into(), attributes: vec![("n".into(), "1".into())] }];
        full.links = vec![LinkRecord {
            trace_id: "000000000000000000000000000000aa".into(),
            span_id: "00000000000000bb".into(),
            trace_state: String::new(),
            attributes: vec![],
        }];
        let minimal = record("0000000000000001", "", "web", "lib");
        let trace =
            traces_data(&[full, SpanRecord { scope_version: "1.0".into(), kind: "Unspecified".into(), ..minimal }]);
        assert_eq!(
            Value::Array(resource_spans_json(&trace)),
            json!([{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
                "scopeSpans": [{
                    "scope": {"name": "lib", "version": "1.0"},
                    "spans": [
                        {
                            "traceId": "AQIDBAUGBwgJCgsMDQ4PEA==", "spanId": "AAAAAAAAAP8=", "parentSpanId": "AAAAAAAAAAE=",
                            "name": "op-00000000000000ff", "kind": "SPAN_KIND_CLIENT",
                            "startTimeUnixNano": "10", "endTimeUnixNano": "20",
                            "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}],
                            "events": [{"timeUnixNano": "15", "name": "retry",
                                        "attributes": [{"key": "n", "value": {"stringValue": "1"}}]}],
                            "links": [{"traceId": "AAAAAAAAAAAAAAAAAAAAqg==", "spanId": "AAAAAAAAALs="}],
                            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}
                        },
                        {
                            "traceId": "AQIDBAUGBwgJCgsMDQ4PEA==", "spanId": "AAAAAAAAAAE=", "name": "op-0000000000000001",
                            "startTimeUnixNano": "10", "endTimeUnixNano": "20", "status": {}
                        }
                    ]
                }]
            }])
        );
    }

    #[test]
    fn protobuf_wraps_the_trace_in_field_one() {
        let trace = traces_data(&[record("0000000000000001", "", "web", "a")]);
        let plain = trace.encode_to_vec();
        let wrapped =
            TraceByIdResponse { trace: Some(trace.clone()), metrics: None, status: 0, message: String::new() }
                .encode_to_vec();
        assert_eq!(wrapped[0], 0x0a); // field 1, length-delimited
        assert_eq!(&wrapped[wrapped.len() - plain.len()..], plain.as_slice());
        let empty = TraceByIdResponse {
            trace: Some(TracesData::default()),
            metrics: Some(TraceByIdMetrics {}),
            status: 0,
            message: String::new(),
        };
        assert_eq!(empty.encode_to_vec(), vec![0x0a, 0x00, 0x12, 0x00]);
        assert_eq!(TracesData::decode(plain.as_slice()).unwrap(), trace);
    }

    #[test]
    fn trace_ids_are_checked_as_tempo_does() {
        assert_eq!(parse_trace_id("ABC").unwrap(), format!("{:0>32}", "abc"));
        assert_eq!(
            parse_trace_id("12x4").unwrap_err(),
            TempoError::BadRequest(
                "trace IDs can only contain hex characters: invalid character 'x' at position 3".into()
            )
        );
        assert_eq!(
            parse_trace_id(&"a".repeat(33)).unwrap_err(),
            TempoError::BadRequest("trace IDs can't be larger than 128 bits".into())
        );
    }

    #[test]
    fn odd_ids_become_empty() {
        assert_eq!(hex_bytes("0a0b"), vec![10, 11]);
        assert!(hex_bytes("abc").is_empty());
        assert!(hex_bytes("zz").is_empty());
    }
}
