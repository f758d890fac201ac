//! OTLP/JSON -> OTLP protobuf bytes, in one streaming pass.
//!
//! opentelemetry-proto 0.33's own serde support was tried first. It takes
//! 64-bit integers as strings or numbers and hex ids, but it loses data
//! without an error: its `#[serde(flatten)]` oneofs turn a histogram with
//! `"explicitBounds": [1, "Infinity"]` into a metric with no data at all and
//! `"asDouble": "NaN"` into a point with no value. It also refuses
//! `"arrayValue": {}`, `null` fields and enum names. So instead a static table
//! describes the OTLP messages (field name, tag, wire kind) and a serde
//! visitor walks the JSON once, writing the equivalent protobuf bytes. prost
//! then decodes those exactly as it decodes a protobuf request, so JSON and
//! protobuf share one path to Arrow.
//!
//! What is accepted, per the OTLP/JSON and proto3 JSON mapping rules:
//! lowerCamelCase keys (and the original snake_case names), trace and span
//! ids as hex of any case, `bytesValue` as base64, every integer as a JSON
//! number or a decimal string, enums as integers or their proto names,
//! doubles as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`, `null` as an
//! absent field, and unknown fields ignored.

use super::limits::{too_deep, MAX_VALUE_NESTING};
use super::messages::Kind::{self, *};
use super::messages::{Field, Msg, ARRAY_VALUE, EXPORT_LOGS, EXPORT_METRICS, EXPORT_TRACE, KEY_VALUE_LIST};
use super::text::{base64_decode_into, hex_decode_into};
use super::{DecodeError, Signal};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use std::fmt;

/// Transcodes an OTLP/JSON export request of `signal` into protobuf bytes.
pub(super) fn to_protobuf(signal: Signal, json: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let root = match signal {
        Signal::Logs => &EXPORT_LOGS,
        Signal::Traces => &EXPORT_TRACE,
        Signal::Metrics => &EXPORT_METRICS,
    };
    let mut out = Vec::with_capacity(json.len() / 2);
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    MessageSeed { msg: root, out: &mut out, nesting: 0 }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(json_error)?;
    Ok(out)
}

fn json_error(err: serde_json::Error) -> DecodeError {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    DecodeError::Json {
        line: err.line(),
        column: err.column(),
        message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
    }
}

/// Whether JSON `key` names the proto field `snake`: either verbatim or as
/// its lowerCamelCase form (`trace_id` <-> `traceId`).
fn key_matches(key: &str, snake: &str) -> bool {
    if key.len() > snake.len() {
        return false;
    }
    let (key, snake) = (key.as_bytes(), snake.as_bytes());
    let (mut i, mut j) = (0, 0);
    while j < snake.len() {
        let expected = if snake[j] == b'_' && j + 1 < snake.len() {
            j += 1;
            snake[j].to_ascii_uppercase()
        } else {
            snake[j]
        };
        if key.get(i) != Some(&expected) {
            return key == snake;
        }
        i += 1;
        j += 1;
    }
    i == key.len()
}

/// The JSON (lowerCamelCase) name of a field, for error messages.
fn json_name(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for ch in snake.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.push(ch.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Protobuf writing
// ---------------------------------------------------------------------------

const VARINT: u32 = 0;
const I64: u32 = 1;
const LEN: u32 = 2;
const I32: u32 = 5;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, tag: u32, wire_type: u32) {
    put_varint(out, u64::from(tag << 3 | wire_type));
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_key(out, tag, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Room for a length prefix written once the nested message is complete.
const LEN_RESERVE: usize = 5;

/// Starts a nested message; returns where its length goes.
fn begin_nested(out: &mut Vec<u8>, tag: u32) -> usize {
    put_key(out, tag, LEN);
    let at = out.len();
    out.extend_from_slice(&[0; LEN_RESERVE]);
    at
}

/// Writes the length of the nested message started at `at`, moving its
/// bytes down when the varint needs fewer than the reserved bytes.
fn end_nested(out: &mut Vec<u8>, at: usize) -> Result<(), &'static str> {
    let body_start = at + LEN_RESERVE;
    let len = out.len() - body_start;
    if len >> 32 != 0 {
        return Err("nested message longer than 4 GiB");
    }
    let mut prefix = [0u8; LEN_RESERVE];
    let mut n = 0;
    let mut rest = len;
    while rest >= 0x80 {
        prefix[n] = rest as u8 | 0x80;
        rest >>= 7;
        n += 1;
    }
    prefix[n] = rest as u8;
    n += 1;
    if n < LEN_RESERVE {
        out.copy_within(body_start.., at + n);
        out.truncate(at + n + len);
    }
    out[at..at + n].copy_from_slice(&prefix[..n]);
    Ok(())
}

/// Writes an integer-valued field after checking it fits the field's type.
fn put_integer(out: &mut Vec<u8>, field: &Field, value: i128) -> Result<(), String> {
    let out_of_range = || format!("{value} is out of range for {}", json_name(field.name));
    let tag = field.tag;
    match field.kind {
        Enum(_) => {
            let v = i32::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, VARINT);
            put_varint(out, v as i64 as u64);
        }
        UInt32 => {
            let v = u32::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, VARINT);
            put_varint(out, u64::from(v));
        }
        SInt32 => {
            let v = i32::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, VARINT);
            put_varint(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
        }
        Int64 => {
            let v = i64::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, VARINT);
            put_varint(out, v as u64);
        }
        UInt64 => {
            let v = u64::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, VARINT);
            put_varint(out, v);
        }
        Fixed32 => {
            let v = u32::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, I32);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Fixed64 => {
            let v = u64::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, I64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        SFixed64 => {
            let v = i64::try_from(value).map_err(|_| out_of_range())?;
            put_key(out, tag, I64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Double => put_double(out, tag, value as f64),
        Nested(_) | Text | HexBytes | Base64Bytes | Bool => {
            return Err(format!("unexpected number for {}", json_name(field.name)))
        }
    }
    Ok(())
}

fn put_double(out: &mut Vec<u8>, tag: u32, value: f64) {
    put_key(out, tag, I64);
    out.extend_from_slice(&value.to_le_bytes());
}

fn is_integer_kind(kind: Kind) -> bool {
    matches!(kind, Enum(_) | UInt32 | SInt32 | Int64 | UInt64 | Fixed32 | Fixed64 | SFixed64)
}

/// An integral float as an integer (`1e3`, `5.0`); `None` otherwise.
fn integral(value: f64) -> Option<i128> {
    (value.is_finite() && value.fract() == 0.0 && value.abs() < 1.8e19).then_some(value as i128)
}

/// A decimal integer string, or an integral number in float notation.
fn parse_integer(text: &str) -> Option<i128> {
    text.parse::<i128>().ok().or_else(|| text.parse::<f64>().ok().and_then(integral))
}

// ---------------------------------------------------------------------------
// The streaming visitors
// ---------------------------------------------------------------------------

/// A JSON object decoded as message `msg`, written to `out`.
///
/// `nesting` counts the arrays and key-value lists of `AnyValue`s around it:
/// past [`MAX_VALUE_NESTING`] the transcoder stops with the same message as
/// the protobuf path. (serde_json itself stops at 128 levels of any JSON,
/// which bounds the recursion of these visitors everywhere else.)
struct MessageSeed<'a> {
    msg: &'static Msg,
    out: &'a mut Vec<u8>,
    nesting: usize,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object ({})", self.msg.name)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key_seed(KeySeed(self.msg))? {
            match field {
                Some(field) => map.next_value_seed(FieldSeed { field, out: &mut *self.out, nesting: self.nesting })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// An object key, resolved to a field of the message (`None`: unknown).
struct KeySeed(&'static Msg);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<&'static Field>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<&'static Field>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.fields.iter().find(|f| key_matches(key, f.name)))
    }
}

/// The value of one known field: an array for repeated fields.
struct FieldSeed<'a> {
    field: &'static Field,
    out: &'a mut Vec<u8>,
    nesting: usize,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let value = ValueVisitor { field: self.field, out: self.out, nesting: self.nesting };
        if self.field.repeated {
            deserializer.deserialize_any(RepeatedVisitor(value))
        } else {
            deserializer.deserialize_any(value)
        }
    }
}

struct RepeatedVisitor<'a>(ValueVisitor<'a>);

impl<'de> Visitor<'de> for RepeatedVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array for {}", json_name(self.0.field.name))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ValueVisitor { field, out, nesting } = self.0;
        while seq.next_element_seed(ElementSeed { field, out: &mut *out, nesting })?.is_some() {}
        Ok(())
    }
}

struct ElementSeed<'a> {
    field: &'static Field,
    out: &'a mut Vec<u8>,
    nesting: usize,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(ValueVisitor { field: self.field, out: self.out, nesting: self.nesting })
    }
}

/// One value of `field`, written as that field.
struct ValueVisitor<'a> {
    field: &'static Field,
    out: &'a mut Vec<u8>,
    nesting: usize,
}

impl ValueVisitor<'_> {
    fn integer<E: de::Error>(self, value: i128) -> Result<(), E> {
        put_integer(self.out, self.field, value).map_err(E::custom)
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match self.field.kind {
            Nested(msg) => return write!(f, "a JSON object ({}) for {}", msg.name, json_name(self.field.name)),
            Text => "a string",
            HexBytes => "a hex string",
            Base64Bytes => "a base64 string",
            Bool => "a boolean",
            Enum(_) => "an integer or enum name",
            Double => "a number",
            _ => "an integer",
        };
        write!(f, "{what} for {}", json_name(self.field.name))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        match self.field.kind {
            Bool => {
                put_key(self.out, self.field.tag, VARINT);
                self.out.push(u8::from(value));
                Ok(())
            }
            _ => Err(E::invalid_type(Unexpected::Bool(value), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        match self.field.kind {
            kind if is_integer_kind(kind) => self.integer(i128::from(value)),
            Double => {
                put_double(self.out, self.field.tag, value as f64);
                Ok(())
            }
            _ => Err(E::invalid_type(Unexpected::Signed(value), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        match self.field.kind {
            kind if is_integer_kind(kind) => self.integer(i128::from(value)),
            Double => {
                put_double(self.out, self.field.tag, value as f64);
                Ok(())
            }
            _ => Err(E::invalid_type(Unexpected::Unsigned(value), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        match self.field.kind {
            Double => {
                put_double(self.out, self.field.tag, value);
                Ok(())
            }
            kind if is_integer_kind(kind) => match integral(value) {
                Some(v) => self.integer(v),
                None => Err(E::invalid_value(Unexpected::Float(value), &self)),
            },
            _ => Err(E::invalid_type(Unexpected::Float(value), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        let field = self.field;
        match field.kind {
            Text => {
                put_bytes(self.out, field.tag, value.as_bytes());
                Ok(())
            }
            HexBytes | Base64Bytes => {
                let mut bytes = Vec::with_capacity(value.len());
                let decoded = if matches!(field.kind, HexBytes) {
                    hex_decode_into(value, &mut bytes)
                } else {
                    base64_decode_into(value, &mut bytes)
                };
                match decoded {
                    Some(()) => {
                        put_bytes(self.out, field.tag, &bytes);
                        Ok(())
                    }
                    None => Err(E::invalid_value(Unexpected::Str(value), &self)),
                }
            }
            Double => {
                let parsed = match value {
                    "NaN" => Some(f64::NAN),
                    "Infinity" => Some(f64::INFINITY),
                    "-Infinity" => Some(f64::NEG_INFINITY),
                    _ => value.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
                };
                match parsed {
                    Some(v) => {
                        put_double(self.out, field.tag, v);
                        Ok(())
                    }
                    None => Err(E::invalid_value(Unexpected::Str(value), &self)),
                }
            }
            kind if is_integer_kind(kind) => {
                let by_name = match kind {
                    Enum(by_name) => by_name(value).map(i128::from),
                    _ => None,
                };
                match by_name.or_else(|| parse_integer(value)) {
                    Some(v) => self.integer(v),
                    None => Err(E::invalid_value(Unexpected::Str(value), &self)),
                }
            }
            _ => Err(E::invalid_type(Unexpected::Str(value), &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        match self.field.kind {
            Nested(msg) => {
                let is_container = std::ptr::eq(msg, &ARRAY_VALUE) || std::ptr::eq(msg, &KEY_VALUE_LIST);
                let nesting = self.nesting + usize::from(is_container);
                if nesting > MAX_VALUE_NESTING {
                    return Err(de::Error::custom(too_deep()));
                }
                let at = begin_nested(self.out, self.field.tag);
                MessageSeed { msg, out: &mut *self.out, nesting }.visit_map(map)?;
                end_nested(self.out, at).map_err(de::Error::custom)
            }
            _ => Err(de::Error::invalid_type(Unexpected::Map, &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::one;

    #[test]
    fn camel_case_keys_match_proto_names() {
        assert!(key_matches("traceId", "trace_id"));
        assert!(key_matches("trace_id", "trace_id"));
        assert!(key_matches("observedTimeUnixNano", "observed_time_unix_nano"));
        assert!(key_matches("name", "name"));
        assert!(!key_matches("traceid", "trace_id"));
        assert!(!key_matches("trace", "trace_id"));
        assert!(!key_matches("traceIdX", "trace_id"));
        assert!(!key_matches("spanId", "parent_span_id"));
        assert_eq!(json_name("exponential_histogram"), "exponentialHistogram");
    }

    #[test]
    fn nested_lengths_are_canonical_varints() {
        for len in [0usize, 1, 127, 128, 300, 20_000, 3_000_000] {
            let mut out = vec![0xaa];
            let at = begin_nested(&mut out, 1);
            out.extend(std::iter::repeat_n(7u8, len));
            end_nested(&mut out, at).unwrap();
            let mut expected = vec![0xaa, 0x0a];
            put_varint(&mut expected, len as u64);
            expected.extend(std::iter::repeat_n(7u8, len));
            assert_eq!(out, expected, "len {len}");
        }
    }

    #[test]
    fn integers_are_range_checked() {
        let field = one("flags", 8, Fixed32);
        let mut out = Vec::new();
        assert!(put_integer(&mut out, &field, 4_294_967_296).is_err());
        assert!(put_integer(&mut out, &field, -1).is_err());
        put_integer(&mut out, &field, 7).unwrap();
        assert_eq!(out, vec![8 << 3 | 5, 7, 0, 0, 0]);
        let mut out = Vec::new();
        put_integer(&mut out, &one("scale", 6, SInt32), -2).unwrap();
        assert_eq!(out, vec![6 << 3, 3]);
    }
}
