//! A zero-copy decoder for protobuf `ExportLogsServiceRequest` bodies.
//!
//! Why it exists: decoding logs with prost allocates a `String` or `Vec` for
//! every string, id, attribute and record, and that allocation dominated the
//! CPU profile of log ingest. This walker reads the protobuf wire format of the
//! body directly into the `logs` column builders, borrowing `&str`/`&[u8]`
//! slices from the body (varints and keys come from prost's public wire
//! helpers). Rarely used parts go through prost after all, one small message
//! at a time: each `Resource` and `InstrumentationScope` (decoded once and
//! rendered once, as on the prost path) and every non-string `AnyValue`, so
//! their rendering is exactly the existing one.
//!
//! A first pass only records where each resource, scope and record lies,
//! because protobuf allows any field order (a resource may follow its scopes,
//! a scope its records); the second pass builds the rows in prost's order.
//!
//! It must produce exactly what [`super::logs::decode_with_prost`] produces, so
//! it declines (returns `None`, and the caller decodes with prost) whenever
//! the body is not plain canonical-ish protobuf: any malformed input
//! (truncation, bad varint or key, invalid UTF-8, a length past the end, a
//! known field with an unexpected wire type), a singular embedded message
//! (`resource`, `scope`, `body`, `KeyValue.value`) occurring twice (prost
//! would merge the occurrences), an unknown field encoded as a group, and
//! nested values deep enough to come near prost's recursion limit. Declining
//! is always safe; prost then gives today's result or today's error.

use super::attributes::ScopeContext;
use super::columns::table_batch;
use super::limits::{CopyBudget, DecodeLimits, ItemBudget};
use super::log_columns::{LogColumns, RecordScalars};
use super::wire::{
    append_attribute_row, count, scan_any_value, scan_key_value, set_once, value_text, Decline, Fields, Layout, Value,
    Walk,
};
use super::{id_problem, Decoded, Rejections, Table};

/// Decodes a protobuf logs request, or `None` when prost must do it
/// (which includes every request past a bound of `limits`: the prost path
/// counts the same items and answers the error).
pub(super) fn decode(body: &[u8], limits: &DecodeLimits) -> Option<Decoded> {
    decode_request(body, limits).ok()
}

fn decode_request(body: &[u8], limits: &DecodeLimits) -> Walk<Decoded> {
    let mut budget = ItemBudget::new(limits.max_items);
    let layout = Layout::scan(body, &mut budget)?;
    let resources = layout.resource_contexts(&mut budget)?;
    let scopes = layout.decoded_scopes(&mut budget)?;
    let scope_contexts: Vec<ScopeContext> = layout
        .scopes
        .iter()
        .zip(&scopes)
        .map(|(s, decoded)| ScopeContext::new(decoded.as_ref(), s.schema_url))
        .collect();
    let mut copies = CopyBudget::new(limits.max_copied_bytes);
    for (scope, context) in layout.scopes.iter().zip(&scope_contexts) {
        copies.charge(scope.items, resources[scope.resource].row_bytes() + context.row_bytes()).map_err(|_| Decline)?;
    }
    let rows = layout.items.len();
    // A guess (prost's path counts them); an attribute takes at least two
    // bytes, which bounds the guess by the body.
    let attributes_guess = (rows * 4).min(body.len() / 2);
    let mut columns = LogColumns::with_capacity(rows, attributes_guess);
    let mut rejections = Rejections::default();
    let mut attributes = Vec::new();
    for record in &layout.items {
        let scope = &layout.scopes[record.scope];
        let fields = scan_record(record.bytes, &mut attributes, &mut budget)?;
        let problem = id_problem("log record trace_id", fields.scalars.trace_id, 16, false)
            .or_else(|| id_problem("log record span_id", fields.scalars.span_id, 8, false));
        match problem {
            Some(problem) => rejections.reject(1, || problem),
            None => {
                let (resource, scope_context) = (&resources[scope.resource], &scope_contexts[record.scope]);
                columns.append_shared(resource, scope_context, &fields.scalars);
                append_body(&mut columns, &fields.body);
                append_attribute_row(&mut columns.log_attributes, &attributes, &mut columns.scratch);
            }
        }
    }
    let batches = table_batch(Table::Logs, columns.finish()).map_err(|_| Decline)?.into_iter().collect();
    Ok(rejections.into_decoded(batches))
}

// ---------------------------------------------------------------------------
// One record

struct RecordFields<'a> {
    scalars: RecordScalars<'a>,
    body: Value<'a>,
}

/// Reads one `LogRecord`; its attributes go to `attributes` (cleared first).
fn scan_record<'a>(
    message: &'a [u8],
    attributes: &mut Vec<(&'a str, Value<'a>)>,
    budget: &mut ItemBudget,
) -> Walk<RecordFields<'a>> {
    attributes.clear();
    let mut scalars = RecordScalars {
        time_unix_nano: 0,
        observed_time_unix_nano: 0,
        trace_id: &[],
        span_id: &[],
        flags: 0,
        severity_text: "",
        severity_number: 0,
        event_name: "",
    };
    let mut body = None;
    let mut fields = Fields::of(message);
    while let Some((tag, payload)) = fields.next_field()? {
        match tag {
            1 => scalars.time_unix_nano = payload.fixed64()?,
            2 => scalars.severity_number = payload.varint()? as i32,
            3 => scalars.severity_text = payload.text()?,
            5 => set_once(&mut body, &payload)?,
            6 => {
                count(budget, 1)?;
                attributes.push(scan_key_value(payload.bytes()?, budget)?)
            }
            7 => _ = payload.varint()?,
            8 => scalars.flags = payload.fixed32()?,
            9 => scalars.trace_id = payload.bytes()?,
            10 => scalars.span_id = payload.bytes()?,
            11 => scalars.observed_time_unix_nano = payload.fixed64()?,
            12 => scalars.event_name = payload.text()?,
            _ => {}
        }
    }
    let body = match body {
        Some(bytes) => scan_any_value(bytes, budget)?,
        None => Value::Empty,
    };
    Ok(RecordFields { scalars, body })
}

fn append_body(columns: &mut LogColumns, body: &Value) {
    columns.body.append_value(value_text(body, &mut columns.scratch));
}

#[cfg(test)]
mod tests {
    use super::super::limits;
    use super::super::logs::tests::sample_request;
    use super::super::wire::tests::*;
    use super::super::wire::{value_depth, MAX_VALUE_DEPTH};
    use super::super::DecodeError;
    use super::*;
    use crate::attributes::tests::{kv, s};
    use crate::fixtures::realistic_logs;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::encoding::WireType;
    use prost::Message;

    const LOGS: Paths = Paths {
        walker: super::decode,
        prost: super::super::logs::decode_with_prost,
        decode: super::super::logs::decode,
    };

    fn decode_with_prost(body: &[u8]) -> Result<Decoded, DecodeError> {
        (LOGS.prost)(body, &NO_LIMITS)
    }

    fn handled(body: &[u8]) -> Decoded {
        LOGS.handled(body)
    }

    fn declined(body: &[u8]) -> Result<Decoded, DecodeError> {
        LOGS.declined(body)
    }

    fn consistent(body: &[u8]) -> bool {
        LOGS.consistent(body)
    }

    fn record(body: Option<any_value::Value>, attributes: Vec<KeyValue>) -> LogRecord {
        LogRecord {
            time_unix_nano: 5,
            severity_text: "WARN".into(),
            body: body.map(|v| AnyValue { value: Some(v) }),
            attributes,
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            ..Default::default()
        }
    }

    fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource { attributes: vec![kv("service.name", s("svc"))], ..Default::default() }),
                scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
                schema_url: "r".into(),
            }],
        }
    }

    // -- differential tests

    #[test]
    fn sample_and_realistic_requests() {
        let decoded = handled(&sample_request().encode_to_vec());
        super::super::logs::tests::check_sample(&decoded);
        for n in [0, 1, 7, 500] {
            assert_eq!(handled(&realistic_logs(n).encode_to_vec()).rows(), n);
        }
        assert!(handled(&[]).batches.is_empty());
    }

    #[test]
    fn several_resources_and_scopes() {
        let mut first = sample_request().resource_logs.remove(0);
        first.scope_logs.push(ScopeLogs::default());
        first.scope_logs.push(ScopeLogs { log_records: vec![record(None, vec![])], ..Default::default() });
        let second = ResourceLogs {
            resource: None,
            scope_logs: vec![
                ScopeLogs {
                    scope: Some(InstrumentationScope { name: "s2".into(), ..Default::default() }),
                    log_records: vec![record(Some(s("b")), vec![]), record(Some(s("c")), vec![])],
                    schema_url: "u2".into(),
                },
                ScopeLogs {
                    scope: Some(InstrumentationScope::default()),
                    log_records: vec![],
                    schema_url: String::new(),
                },
            ],
            schema_url: String::new(),
        };
        let third = ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", any_value::Value::IntValue(4)), kv("k", s("v"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: vec![record(Some(s("d")), vec![])], ..Default::default() }],
            schema_url: "u3".into(),
        };
        let empty = ResourceLogs::default();
        let request = ExportLogsServiceRequest { resource_logs: vec![first, empty, second, third] };
        assert_eq!(handled(&request.encode_to_vec()).rows(), 6);
    }

    #[test]
    fn every_value_type_as_body_and_attribute() {
        let values = every_value();
        let records: Vec<LogRecord> = values.iter().map(|v| record(v.clone(), vec![])).collect();
        assert_eq!(handled(&request(records).encode_to_vec()).rows(), values.len());
        let attributes: Vec<KeyValue> = values
            .iter()
            .enumerate()
            .map(|(i, v)| KeyValue {
                key: format!("k{i}"),
                value: v.clone().map(|v| AnyValue { value: Some(v) }),
                ..Default::default()
            })
            .collect();
        let mut with_empty_value = attributes.clone();
        with_empty_value.push(KeyValue {
            key: "e".into(),
            value: Some(AnyValue { value: None }),
            ..Default::default()
        });
        let records = vec![record(None, attributes.clone()), record(None, with_empty_value)];
        handled(&request(records).encode_to_vec());
        let mut scoped = request(vec![record(None, vec![])]);
        scoped.resource_logs[0].resource.as_mut().unwrap().attributes.extend(attributes.clone());
        scoped.resource_logs[0].scope_logs[0].scope = Some(InstrumentationScope { attributes, ..Default::default() });
        handled(&scoped.encode_to_vec());
    }

    #[test]
    fn duplicate_attribute_keys_last_wins() {
        let short = vec![kv("a", s("1")), kv("b", any_value::Value::IntValue(2)), kv("a", s("3")), kv("b", s("4"))];
        let mut long: Vec<KeyValue> =
            (0..30).map(|i| kv(&format!("k{}", i % 20), any_value::Value::IntValue(i))).collect();
        long.push(kv("k3", s("last")));
        handled(&request(vec![record(None, short), record(None, long)]).encode_to_vec());
    }

    #[test]
    fn bad_ids_are_rejected_alike() {
        let mut bad_trace = record(Some(s("x")), vec![kv("a", s("b"))]);
        bad_trace.trace_id = vec![1; 5];
        let mut bad_span = record(None, vec![]);
        bad_span.span_id = vec![1; 16];
        let mut no_ids = record(None, vec![]);
        no_ids.trace_id.clear();
        no_ids.span_id.clear();
        let decoded =
            handled(&request(vec![bad_trace.clone(), record(None, vec![]), bad_span.clone(), no_ids]).encode_to_vec());
        assert_eq!((decoded.rejected, decoded.rows()), (2, 2));
        assert_eq!(decoded.rejection_message, "log record trace_id has 5 bytes, expected 16");
        let decoded = handled(&request(vec![bad_span, bad_trace]).encode_to_vec());
        assert_eq!((decoded.rejected, decoded.rows()), (2, 0));
        assert_eq!(decoded.rejection_message, "log record span_id has 16 bytes, expected 8");
    }

    #[test]
    fn fields_out_of_canonical_order() {
        let canonical = sample_request();
        let resource_logs = &canonical.resource_logs[0];
        let scope_logs = &resource_logs.scope_logs[0];
        // Records with their other fields reversed and placed before the
        // attributes (which keep their order), key and value swapped in each.
        let records: Vec<Vec<u8>> = scope_logs
            .log_records
            .iter()
            .map(|r| {
                let encoded = r.encode_to_vec();
                let (attributes, others): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
                    split_fields(&encoded).into_iter().partition(|f| f[0] == key(6, WireType::LengthDelimited)[0]);
                let attributes = attributes.iter().map(|f| len_field(6, &reversed(&field_payload(f))));
                others.into_iter().rev().chain(attributes).collect::<Vec<_>>().concat()
            })
            .collect();
        // Scope after its records, resource after its scope_logs, schema urls first.
        let scope_bytes: Vec<u8> = [
            len_field(3, scope_logs.schema_url.as_bytes()),
            records.iter().flat_map(|r| len_field(2, r)).collect(),
            message_field(1, scope_logs.scope.as_ref().unwrap()),
        ]
        .concat();
        let resource_bytes = [
            len_field(3, resource_logs.schema_url.as_bytes()),
            len_field(2, &scope_bytes),
            message_field(1, resource_logs.resource.as_ref().unwrap()),
        ]
        .concat();
        let body = request_of(&[resource_bytes]);
        assert_ne!(body, canonical.encode_to_vec());
        let decoded = handled(&body);
        assert!(same(&decoded, &decode_with_prost(&canonical.encode_to_vec()).unwrap()));
    }

    #[test]
    fn repeated_singular_fields_last_wins() {
        let base = record(Some(s("body")), vec![kv("k", s("v"))]).encode_to_vec();
        let kv_twice_key = [
            len_field(1, b"first"),
            len_field(2, &AnyValue { value: Some(s("v")) }.encode_to_vec()),
            len_field(1, b"second"),
        ]
        .concat();
        let any_twice = [len_field(1, b"one"), len_field(1, b"two")].concat();
        let any_mixed = [len_field(1, b"one"), varint_field(3, 5)].concat();
        let record_bytes = [
            base,
            fixed64_field(1, 77),
            fixed64_field(11, 78),
            len_field(3, b"ERROR"),
            varint_field(2, 17),
            varint_field(2, u64::MAX),
            fixed32_field(8, 3),
            len_field(9, &[1; 5]),
            len_field(9, &[9; 16]),
            len_field(10, &[8; 8]),
            len_field(12, b"event"),
            len_field(12, b"event2"),
            varint_field(7, 4),
            len_field(6, &kv_twice_key),
            len_field(6, &[len_field(1, b"t"), len_field(2, &any_twice)].concat()),
            len_field(6, &[len_field(1, b"m"), len_field(2, &any_mixed)].concat()),
            len_field(6, &[len_field(1, b"strindex"), varint_field(3, 12)].concat()),
        ]
        .concat();
        let scope_bytes = [len_field(3, b"s1"), len_field(2, &record_bytes), len_field(3, b"s2")].concat();
        let resource_bytes = [len_field(3, b"r1"), len_field(2, &scope_bytes), len_field(3, b"r2")].concat();
        let decoded = handled(&request_of(&[resource_bytes]));
        assert_eq!((decoded.rows(), decoded.rejected), (1, 0));
    }

    /// A one-record request, with unknown fields at every level or without.
    fn body_with_unknowns(unknowns: bool) -> Vec<u8> {
        let unknown = || if unknowns { unknown_fields() } else { Vec::new() };
        let any = [unknown(), AnyValue { value: Some(s("x")) }.encode_to_vec()].concat();
        let kv_bytes = [len_field(1, b"k"), unknown(), len_field(2, &any)].concat();
        let reserved_tag = if unknowns { len_field(4, b"reserved") } else { Vec::new() };
        let record_bytes =
            [record(Some(s("b")), vec![]).encode_to_vec(), unknown(), len_field(6, &kv_bytes), reserved_tag].concat();
        request_with_unknowns(&record_bytes, unknown)
    }

    #[test]
    fn unknown_fields_are_skipped_like_prost() {
        let with = handled(&body_with_unknowns(true));
        let without = handled(&body_with_unknowns(false));
        assert_eq!(with.rows(), 1);
        assert!(same(&with, &without), "unknown fields change nothing");
    }

    // -- declined cases

    #[test]
    fn merged_messages_and_groups_fall_back_to_prost() {
        let body_a = AnyValue { value: Some(s("a")) }.encode_to_vec();
        let body_b = AnyValue { value: Some(any_value::Value::IntValue(3)) }.encode_to_vec();
        let record_bytes =
            [record(None, vec![]).encode_to_vec(), len_field(5, &body_a), len_field(5, &body_b)].concat();
        let body_twice = request_of(&[len_field(2, &len_field(2, &record_bytes))]);
        assert_eq!(declined(&body_twice).unwrap().rows(), 1);

        let scope = message_field(1, &InstrumentationScope { name: "n".into(), ..Default::default() });
        let scope_twice = [scope.clone(), len_field(2, &record(None, vec![]).encode_to_vec()), scope].concat();
        declined(&request_of(&[len_field(2, &scope_twice)])).unwrap();

        let resource = message_field(1, &Resource { attributes: vec![kv("a", s("b"))], ..Default::default() });
        declined(&request_of(&[[resource.clone(), resource].concat()])).unwrap();

        let value = len_field(2, &body_a);
        let kv_twice = [len_field(1, b"k"), value.clone(), value].concat();
        declined(&request_of(&[len_field(2, &len_field(2, &len_field(6, &kv_twice)))])).unwrap();

        let group = group_field(50);
        let with_group =
            [request_of(&[len_field(2, &len_field(2, &record(None, vec![]).encode_to_vec()))]), group].concat();
        assert_eq!(declined(&with_group).unwrap().rows(), 1);
    }

    #[test]
    fn malformed_bodies_give_prosts_error() {
        let mut bad_utf8 = record(Some(s("ok")), vec![]);
        bad_utf8.severity_text = "é".into();
        let mut body = request(vec![bad_utf8]).encode_to_vec();
        let at = body.windows(2).position(|w| w == "é".as_bytes()).unwrap();
        body[at + 1] = 0xff;
        assert!(declined(&body).is_err());
        assert!(declined(&[0x0a, 0xff, 0x01, 0x00]).is_err());
        let wrong_wire_type = request_of(&[len_field(2, &len_field(2, &varint_field(3, 1)))]);
        assert!(declined(&wrong_wire_type).is_err());
        let zero_tag = [0x00, 0x01];
        assert!(declined(&zero_tag).is_err());
    }

    #[test]
    fn deep_values_decline_near_the_recursion_limit() {
        let mut deep = AnyValue { value: Some(s("leaf")) };
        for _ in 0..60 {
            deep = AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![deep] })) };
        }
        let body = request(vec![record(deep.value.clone(), vec![])]).encode_to_vec();
        assert!(declined(&body).is_err(), "prost stops at 100 levels");
        let mut shallow = AnyValue { value: Some(s("leaf")) };
        for _ in 0..20 {
            shallow = AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![shallow] })) };
        }
        handled(&request(vec![record(shallow.value.clone(), vec![kv("a", shallow.value.unwrap())])]).encode_to_vec());
    }

    #[test]
    fn every_nesting_depth_declines_or_agrees() {
        let mut value = s("leaf");
        let mut prost_limit = None;
        for depth in 0..60 {
            let mut request = request(vec![record(Some(value.clone()), vec![kv("a", value.clone())])]);
            request.resource_logs[0].resource.as_mut().unwrap().attributes.push(kv("r", value.clone()));
            let body = request.encode_to_vec();
            let handled = consistent(&body);
            // `depth` arrays and lists: past the nesting bound both paths refuse
            let within = value_depth(Some(&value)) <= MAX_VALUE_DEPTH && depth <= limits::MAX_VALUE_NESTING;
            assert_eq!(handled, within, "depth {depth}");
            prost_limit = prost_limit.or(decode_with_prost(&body).is_err().then_some(depth));
            value = if depth % 2 == 0 {
                any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(value) }] })
            } else {
                any_value::Value::KvlistValue(KeyValueList { values: vec![kv("k", value)] })
            };
        }
        println!("the prost path fails from depth {prost_limit:?}");
        assert_eq!(prost_limit, Some(limits::MAX_VALUE_NESTING + 1), "the nesting bound comes before prost's limit");
    }

    // -- robustness

    fn small_body() -> Vec<u8> {
        let mut request = sample_request();
        let records = &mut request.resource_logs[0].scope_logs[0].log_records;
        records
            .push(record(Some(any_value::Value::BytesValue(vec![1, 2])), vec![kv("n", any_value::Value::IntValue(1))]));
        request.encode_to_vec()
    }

    #[test]
    fn every_truncation_declines_or_agrees() {
        let answered = LOGS.truncations(&small_body());
        assert!(answered >= 2, "the empty body and the whole body decode");
    }

    #[test]
    fn random_byte_flips_decline_or_agree() {
        let bodies = [small_body(), realistic_logs(3).encode_to_vec(), body_with_unknowns(true)];
        let answered = LOGS.random_byte_flips(&bodies, 6000);
        assert!(answered > 100, "only {answered} mutated bodies were handled");
    }
}
