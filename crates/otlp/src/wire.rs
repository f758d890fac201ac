//! The protobuf wire format as the zero-copy walkers read it (`logs_wire`,
//! `traces_wire`, `metrics_wire`): fields borrowed from the body, the layout of resources and
//! scopes every OTLP export request shares, attribute values, and the
//! attribute map rows they become.
//!
//! Everything here either answers exactly what prost would, or declines
//! ([`Decline`]); a walker that meets a decline gives up on the whole request
//! and its caller decodes it with prost, which stays the reference.

use super::attributes::{close_map, for_each_unique_by, render_any, AttrMapBuilder, AttributeList, ResourceContext};
use super::limits::{self, ItemBudget};
use super::messages::{RESOURCE, SCOPE};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{decode_key, decode_varint, WireType};
use prost::Message;

/// The fast path gave up; the caller falls back to prost.
#[derive(Debug)]
pub(super) struct Decline;

pub(super) type Walk<T> = Result<T, Decline>;

/// Nesting of messages below which a standalone prost decode of a value
/// behaves exactly as inside the whole request (prost stops at 100 levels; a
/// value sits at most 6 levels deep in a logs or traces request, 9 in a
/// metrics request: an exemplar's filtered attribute).
pub(super) const MAX_VALUE_DEPTH: usize = 64;

// ---------------------------------------------------------------------------
// Wire fields

/// One field of a message, its payload borrowed from the body.
pub(super) enum Payload<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Payload<'a> {
    pub(super) fn varint(&self) -> Walk<u64> {
        match self {
            Payload::Varint(v) => Ok(*v),
            _ => Err(Decline),
        }
    }

    pub(super) fn fixed64(&self) -> Walk<u64> {
        match self {
            Payload::Fixed64(v) => Ok(*v),
            _ => Err(Decline),
        }
    }

    pub(super) fn fixed32(&self) -> Walk<u32> {
        match self {
            Payload::Fixed32(v) => Ok(*v),
            _ => Err(Decline),
        }
    }

    pub(super) fn bytes(&self) -> Walk<&'a [u8]> {
        match self {
            Payload::Bytes(b) => Ok(b),
            _ => Err(Decline),
        }
    }

    pub(super) fn text(&self) -> Walk<&'a str> {
        let bytes = self.bytes()?;
        if bytes.is_ascii() {
            // SAFETY: ASCII is valid UTF-8. `is_ascii` checks a word at a
            // time, while `from_utf8` walks short strings byte by byte: it
            // was 16% of this walker's profile.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        std::str::from_utf8(bytes).map_err(|_| Decline)
    }
}

/// The fields of one message in wire order. Unknown fields are simply not
/// matched by the callers, which is how prost skips them; groups decline.
pub(super) struct Fields<'a> {
    pub(super) rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub(super) fn of(message: &'a [u8]) -> Self {
        Fields { rest: message }
    }

    #[inline(always)]
    pub(super) fn next_field(&mut self) -> Walk<Option<(u32, Payload<'a>)>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tag, wire_type) = self.key()?;
        let payload = match wire_type {
            WireType::Varint => Payload::Varint(self.varint()?),
            WireType::SixtyFourBit => Payload::Fixed64(u64::from_le_bytes(self.take_array()?)),
            WireType::ThirtyTwoBit => Payload::Fixed32(u32::from_le_bytes(self.take_array()?)),
            WireType::LengthDelimited => {
                let len = self.varint()?;
                Payload::Bytes(self.take(usize::try_from(len).map_err(|_| Decline)?)?)
            }
            WireType::StartGroup | WireType::EndGroup => return Err(Decline),
        };
        Ok(Some((tag, payload)))
    }

    /// A field key. Every OTLP logs and traces field number but one is below 16, so the key
    /// almost always fits one byte: that case is read inline (a profile
    /// showed the call into prost's general decoder dominating the walk).
    #[inline(always)]
    fn key(&mut self) -> Walk<(u32, WireType)> {
        match self.rest.first() {
            Some(&byte) if byte < 0x80 && byte >> 3 != 0 => {
                let wire_type = WireType::try_from(u64::from(byte & 7)).map_err(|_| Decline)?;
                self.rest = &self.rest[1..];
                Ok((u32::from(byte >> 3), wire_type))
            }
            _ => decode_key(&mut self.rest).map_err(|_| Decline),
        }
    }

    /// A varint; one-byte values (most lengths, enums, counts) inline.
    #[inline(always)]
    fn varint(&mut self) -> Walk<u64> {
        match self.rest.first() {
            Some(&byte) if byte < 0x80 => {
                self.rest = &self.rest[1..];
                Ok(u64::from(byte))
            }
            _ => decode_varint(&mut self.rest).map_err(|_| Decline),
        }
    }

    fn take(&mut self, len: usize) -> Walk<&'a [u8]> {
        if len > self.rest.len() {
            return Err(Decline);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Walk<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(Decline)?;
        self.rest = tail;
        Ok(*head)
    }
}

/// Sets a singular embedded message, declining a second occurrence (prost
/// would merge the two).
pub(super) fn set_once<'a>(slot: &mut Option<&'a [u8]>, payload: &Payload<'a>) -> Walk<()> {
    if slot.is_some() {
        return Err(Decline);
    }
    *slot = Some(payload.bytes()?);
    Ok(())
}

// ---------------------------------------------------------------------------
// First pass: where resources, scopes and items are

/// One `ResourceLogs`, `ResourceSpans` or `ResourceMetrics`.
pub(super) struct ResourceEntry<'a> {
    resource: Option<&'a [u8]>,
    schema_url: &'a str,
}

/// One `ScopeLogs`, `ScopeSpans` or `ScopeMetrics`.
pub(super) struct ScopeEntry<'a> {
    /// index into [`Layout::resources`]
    pub(super) resource: usize,
    scope: Option<&'a [u8]>,
    pub(super) schema_url: &'a str,
    /// items (log records, spans or metrics) in this scope
    pub(super) items: usize,
}

/// One log record, span or metric, still encoded.
pub(super) struct ItemEntry<'a> {
    /// index into [`Layout::scopes`]
    pub(super) scope: usize,
    pub(super) bytes: &'a [u8],
}

/// Every resource, scope and item of a request, items in prost's order.
///
/// OTLP's export requests share one shape: the request's field 1 repeats a
/// resource entry (1 resource, 2 scope entries, 3 schema_url), which repeats
/// a scope entry (1 scope, 2 items, 3 schema_url). The signals differ only
/// in what an item is.
pub(super) struct Layout<'a> {
    pub(super) resources: Vec<ResourceEntry<'a>>,
    pub(super) scopes: Vec<ScopeEntry<'a>>,
    pub(super) items: Vec<ItemEntry<'a>>,
}

impl<'a> Layout<'a> {
    /// Every resource, scope and item counts as an item as it is found, so
    /// these vectors stay within the item bound.
    pub(super) fn scan(body: &'a [u8], budget: &mut ItemBudget) -> Walk<Self> {
        let mut layout = Layout { resources: Vec::new(), scopes: Vec::new(), items: Vec::new() };
        let mut fields = Fields::of(body);
        while let Some((tag, payload)) = fields.next_field()? {
            if tag == 1 {
                count(budget, 1)?;
                layout.scan_resource_entry(payload.bytes()?, budget)?;
            }
        }
        Ok(layout)
    }

    fn scan_resource_entry(&mut self, message: &'a [u8], budget: &mut ItemBudget) -> Walk<()> {
        let index = self.resources.len();
        let mut entry = ResourceEntry { resource: None, schema_url: "" };
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                1 => set_once(&mut entry.resource, &payload)?,
                2 => {
                    count(budget, 1)?;
                    self.scan_scope_entry(index, payload.bytes()?, budget)?
                }
                3 => entry.schema_url = payload.text()?,
                _ => {}
            }
        }
        self.resources.push(entry);
        Ok(())
    }

    fn scan_scope_entry(&mut self, resource: usize, message: &'a [u8], budget: &mut ItemBudget) -> Walk<()> {
        let index = self.scopes.len();
        let mut entry = ScopeEntry { resource, scope: None, schema_url: "", items: 0 };
        let mut fields = Fields::of(message);
        while let Some((tag, payload)) = fields.next_field()? {
            match tag {
                1 => set_once(&mut entry.scope, &payload)?,
                2 => {
                    count(budget, 1)?;
                    entry.items += 1;
                    self.items.push(ItemEntry { scope: index, bytes: payload.bytes()? })
                }
                3 => entry.schema_url = payload.text()?,
                _ => {}
            }
        }
        self.scopes.push(entry);
        Ok(())
    }

    /// Each resource decoded with prost and rendered once.
    pub(super) fn resource_contexts(&self, budget: &mut ItemBudget) -> Walk<Vec<ResourceContext<'a>>> {
        let mut contexts = Vec::with_capacity(self.resources.len());
        for entry in &self.resources {
            let resource = entry.resource.map(|bytes| decode_resource(bytes, budget)).transpose()?;
            contexts.push(ResourceContext::new(resource.as_ref(), entry.schema_url));
        }
        Ok(contexts)
    }

    /// Each scope decoded with prost (the caller borrows name and version
    /// from it, as the prost path does).
    pub(super) fn decoded_scopes(&self, budget: &mut ItemBudget) -> Walk<Vec<Option<InstrumentationScope>>> {
        self.scopes.iter().map(|entry| entry.scope.map(|bytes| decode_scope(bytes, budget)).transpose()).collect()
    }
}

/// Counts `items`; past the bound the walker declines (the prost path counts
/// the same items and answers the error).
#[inline(always)]
pub(super) fn count(budget: &mut ItemBudget, items: usize) -> Walk<()> {
    budget.add(items).map_err(|_| Decline)
}

fn decode_resource(bytes: &[u8], budget: &mut ItemBudget) -> Walk<Resource> {
    limits::check(&RESOURCE, bytes, budget).map_err(|_| Decline)?;
    let resource = Resource::decode(bytes).map_err(|_| Decline)?;
    shallow_enough(&resource.attributes)?;
    Ok(resource)
}

fn decode_scope(bytes: &[u8], budget: &mut ItemBudget) -> Walk<InstrumentationScope> {
    limits::check(&SCOPE, bytes, budget).map_err(|_| Decline)?;
    let scope = InstrumentationScope::decode(bytes).map_err(|_| Decline)?;
    shallow_enough(&scope.attributes)?;
    Ok(scope)
}

// ---------------------------------------------------------------------------
// Attribute values

/// An `AnyValue` as the columns need it.
pub(super) enum Value<'a> {
    /// No value at all (absent, or an `AnyValue` without a known field).
    Empty,
    /// Exactly one field, `string_value`: copied straight from the body.
    Str(&'a str),
    /// Anything else, decoded with prost to reuse the existing renderer
    /// (boxed: this variant is rare and would double the size of the others).
    Decoded(Box<AnyValue>),
}

/// `KeyValue`: 1 key, 2 value, 3 key_strindex (not used by the columns).
pub(super) fn scan_key_value<'a>(message: &'a [u8], budget: &mut ItemBudget) -> Walk<(&'a str, Value<'a>)> {
    let mut key = "";
    let mut value = None;
    let mut fields = Fields::of(message);
    while let Some((tag, payload)) = fields.next_field()? {
        match tag {
            1 => key = payload.text()?,
            2 => set_once(&mut value, &payload)?,
            3 => _ = payload.varint()?,
            _ => {}
        }
    }
    let value = match value {
        Some(bytes) => scan_any_value(bytes, budget)?,
        None => Value::Empty,
    };
    Ok((key, value))
}

/// `AnyValue`: a oneof over tags 1 to 8. A lone string is borrowed; any
/// other content is handed to prost whole (it knows the oneof's last-wins
/// and merge rules).
#[inline]
pub(super) fn scan_any_value<'a>(message: &'a [u8], budget: &mut ItemBudget) -> Walk<Value<'a>> {
    let mut fields = Fields::of(message);
    if let Some((1, payload)) = fields.next_field()? {
        if fields.rest.is_empty() {
            return Ok(Value::Str(payload.text()?));
        }
    }
    scan_other_value(message, budget)
}

/// [`scan_any_value`] for anything but a lone string.
fn scan_other_value<'a>(message: &'a [u8], budget: &mut ItemBudget) -> Walk<Value<'a>> {
    let mut known = 0;
    let mut string = None;
    let mut fields = Fields::of(message);
    while let Some((tag, payload)) = fields.next_field()? {
        if (1..=8).contains(&tag) {
            known += 1;
            if tag == 1 {
                string = Some(payload.text()?);
            }
        }
    }
    match (known, string) {
        (0, _) => Ok(Value::Empty),
        (1, Some(text)) => Ok(Value::Str(text)),
        _ => {
            // arrays and lists: their entries are items, their nesting bounded
            limits::check_value(message, budget).map_err(|_| Decline)?;
            let value = AnyValue::decode(message).map_err(|_| Decline)?;
            if value_depth(value.value.as_ref()) > MAX_VALUE_DEPTH {
                return Err(Decline);
            }
            Ok(Value::Decoded(Box::new(value)))
        }
    }
}

/// Messages nested inside a value (an array or list counts its own level
/// and each entry's).
pub(super) fn value_depth(value: Option<&any_value::Value>) -> usize {
    match value {
        Some(any_value::Value::ArrayValue(array)) => {
            2 + array.values.iter().map(|v| value_depth(v.value.as_ref())).max().unwrap_or(0)
        }
        Some(any_value::Value::KvlistValue(list)) => 3 + attributes_depth(&list.values),
        _ => 0,
    }
}

fn attributes_depth(attributes: &[KeyValue]) -> usize {
    attributes.iter().map(|kv| value_depth(kv.value.as_ref().and_then(|v| v.value.as_ref()))).max().unwrap_or(0)
}

fn shallow_enough(attributes: &[KeyValue]) -> Walk<()> {
    if attributes_depth(attributes) > MAX_VALUE_DEPTH {
        return Err(Decline);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Columns

/// One map row, duplicate keys resolved as `append_attributes` does.
pub(super) fn append_attribute_row(map: &mut AttrMapBuilder, attributes: &[(&str, Value)], scratch: &mut String) {
    for_each_unique_by(
        attributes,
        |(key, _)| *key,
        |(key, value)| {
            map.keys().append_value(key);
            map.values().append_value(value_text(value, scratch));
        },
    );
    close_map(map);
}

impl AttributeList for [(&str, Value<'_>)] {
    fn append_row(&self, map: &mut AttrMapBuilder, scratch: &mut String) {
        append_attribute_row(map, self, scratch);
    }
}

/// The text stored for a value: borrowed from the body when it is a string,
/// rendered into `scratch` otherwise.
pub(super) fn value_text<'s>(value: &'s Value, scratch: &'s mut String) -> &'s str {
    match value {
        Value::Str(text) => text,
        Value::Empty => "",
        Value::Decoded(value) => {
            scratch.clear();
            render_any(Some(value), scratch);
            scratch
        }
    }
}
#[cfg(test)]
pub(crate) mod tests {
    //! What the walkers' tests share: comparing a walker with the prost path
    //! it stands in for, and building protobuf bodies by hand.

    use super::super::{DecodeError, DecodeLimits, Decoded};
    use super::Fields;
    use crate::attributes::tests::{kv, s};
    use any_value::Value as V;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValueList};
    use prost::encoding::{encode_key, encode_varint, WireType};
    use prost::Message;

    pub(crate) const NO_LIMITS: DecodeLimits =
        DecodeLimits { max_decompressed_bytes: usize::MAX, max_items: usize::MAX, max_copied_bytes: usize::MAX };

    type Walker = fn(&[u8], &DecodeLimits) -> Option<Decoded>;
    type Decoder = fn(&[u8], &DecodeLimits) -> Result<Decoded, DecodeError>;

    /// One signal's decoders: the wire walker, the prost reference, and the
    /// `decode` that picks between them.
    pub(crate) struct Paths {
        pub(crate) walker: Walker,
        pub(crate) prost: Decoder,
        pub(crate) decode: Decoder,
    }

    /// Same batches, rejections and rejection message.
    pub(crate) fn same(fast: &Decoded, reference: &Decoded) -> bool {
        fast.rejected == reference.rejected
            && fast.rejection_message == reference.rejection_message
            && fast.batches.len() == reference.batches.len()
            && fast.batches.iter().zip(&reference.batches).all(|(a, b)| a.table == b.table && a.batch == b.batch)
    }

    impl Paths {
        /// The walker handles `body` and agrees with prost; returns prost's result.
        pub(crate) fn handled(&self, body: &[u8]) -> Decoded {
            let reference = (self.prost)(body, &NO_LIMITS).expect("prost decodes the body");
            let fast = (self.walker)(body, &NO_LIMITS).expect("the fast path handles the body");
            assert!(same(&fast, &reference), "fast {fast:?}\nprost {reference:?}");
            reference
        }

        /// The walker declines `body`, and `decode` gives prost's answer.
        pub(crate) fn declined(&self, body: &[u8]) -> Result<Decoded, DecodeError> {
            assert!((self.walker)(body, &NO_LIMITS).is_none(), "the fast path should decline");
            let reference = (self.prost)(body, &NO_LIMITS);
            match ((self.decode)(body, &NO_LIMITS), &reference) {
                (Ok(got), Ok(want)) => assert!(same(&got, want)),
                (Err(got), Err(want)) => assert_eq!(got.to_string(), want.to_string()),
                (got, want) => panic!("fallback {got:?} differs from prost {want:?}"),
            }
            reference
        }

        /// Whatever the walker answers agrees with prost; prost errors mean
        /// it declined. True when the walker answered.
        pub(crate) fn consistent(&self, body: &[u8]) -> bool {
            let fast = (self.walker)(body, &NO_LIMITS);
            match (self.prost)(body, &NO_LIMITS) {
                Err(_) => assert!(fast.is_none(), "prost fails but the fast path answered"),
                Ok(reference) => {
                    if let Some(fast) = &fast {
                        assert!(same(fast, &reference), "fast {fast:?}\nprost {reference:?}");
                    }
                }
            }
            fast.is_some()
        }

        /// Every prefix of `body`; returns how many the walker answered.
        pub(crate) fn truncations(&self, body: &[u8]) -> usize {
            (0..=body.len()).filter(|&len| self.consistent(&body[..len])).count()
        }

        /// `count` copies of `bodies` (in turn) with one to three bytes
        /// overwritten, from a fixed seed; returns how many the walker answered.
        pub(crate) fn random_byte_flips(&self, bodies: &[Vec<u8>], count: usize) -> usize {
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut answered = 0;
            for i in 0..count {
                let mut body = bodies[i % bodies.len()].clone();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % body.len() as u64) as usize;
                    body[at] = next() as u8;
                }
                answered += self.consistent(&body) as usize;
            }
            answered
        }
    }

    // -- building bodies by hand

    pub(crate) fn key(tag: u32, wire_type: WireType) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(tag, wire_type, &mut out);
        out
    }

    pub(crate) fn len_field(tag: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = key(tag, WireType::LengthDelimited);
        encode_varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }

    pub(crate) fn varint_field(tag: u32, value: u64) -> Vec<u8> {
        let mut out = key(tag, WireType::Varint);
        encode_varint(value, &mut out);
        out
    }

    pub(crate) fn fixed64_field(tag: u32, value: u64) -> Vec<u8> {
        let mut out = key(tag, WireType::SixtyFourBit);
        out.extend_from_slice(&value.to_le_bytes());
        out
    }

    pub(crate) fn fixed32_field(tag: u32, value: u32) -> Vec<u8> {
        let mut out = key(tag, WireType::ThirtyTwoBit);
        out.extend_from_slice(&value.to_le_bytes());
        out
    }

    pub(crate) fn message_field(tag: u32, message: &impl Message) -> Vec<u8> {
        len_field(tag, &message.encode_to_vec())
    }

    /// An unknown group field (prost skips it; the walkers decline).
    pub(crate) fn group_field(tag: u32) -> Vec<u8> {
        [key(tag, WireType::StartGroup), varint_field(1, 1), key(tag, WireType::EndGroup)].concat()
    }

    /// Unknown fields of the four skippable wire types, at a tag no OTLP
    /// message here uses.
    pub(crate) fn unknown_fields() -> Vec<u8> {
        [varint_field(99, 300), fixed64_field(100, 7), len_field(101, b"\xff\x00junk"), fixed32_field(102, 9)].concat()
    }

    /// The top-level fields of an encoded message, each with its key.
    pub(crate) fn split_fields(message: &[u8]) -> Vec<Vec<u8>> {
        let mut fields = Fields::of(message);
        let mut out = Vec::new();
        loop {
            let before = fields.rest;
            if fields.next_field().unwrap().is_none() {
                return out;
            }
            out.push(before[..before.len() - fields.rest.len()].to_vec());
        }
    }

    /// The payload of the only field of `field` (a field with its key).
    pub(crate) fn field_payload(field: &[u8]) -> Vec<u8> {
        let (_, payload) = Fields::of(field).next_field().unwrap().unwrap();
        payload.bytes().unwrap().to_vec()
    }

    pub(crate) fn reversed(message: &[u8]) -> Vec<u8> {
        split_fields(message).into_iter().rev().collect::<Vec<_>>().concat()
    }

    /// An export request of these encoded resource entries.
    pub(crate) fn request_of(resource_entries: &[Vec<u8>]) -> Vec<u8> {
        resource_entries.iter().flat_map(|r| len_field(1, r)).collect()
    }

    /// A request of one resource and one scope holding `item` (field 2 of the
    /// scope entry in both logs and traces), with `unknown()` bytes at every
    /// level of the wrapping.
    pub(crate) fn request_with_unknowns(item: &[u8], unknown: impl Fn() -> Vec<u8>) -> Vec<u8> {
        use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use prost::Message;
        let scope =
            [InstrumentationScope { name: "n".into(), ..Default::default() }.encode_to_vec(), unknown()].concat();
        let scope_entry = [unknown(), len_field(1, &scope), len_field(2, item), unknown()].concat();
        let service = KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue { value: Some(V::StringValue("svc".into())) }),
            ..Default::default()
        };
        let resource =
            [Resource { attributes: vec![service], ..Default::default() }.encode_to_vec(), unknown()].concat();
        let resource_entry = [len_field(1, &resource), len_field(2, &scope_entry), unknown()].concat();
        [unknown(), request_of(&[resource_entry]), unknown()].concat()
    }

    /// One value of every kind (and none), nested ones included.
    pub(crate) fn every_value() -> Vec<Option<V>> {
        let nested = V::KvlistValue(KeyValueList {
            values: vec![
                kv("z", V::IntValue(1)),
                kv(
                    "a",
                    V::ArrayValue(ArrayValue {
                        values: vec![AnyValue { value: Some(s("q\"x")) }, AnyValue { value: None }],
                    }),
                ),
                kv("z", V::DoubleValue(f64::NAN)),
            ],
        });
        vec![
            None,
            Some(s("plain")),
            Some(s("")),
            Some(V::BoolValue(true)),
            Some(V::BoolValue(false)),
            Some(V::IntValue(-7)),
            Some(V::IntValue(0)),
            Some(V::DoubleValue(0.1)),
            Some(V::DoubleValue(f64::INFINITY)),
            Some(V::BytesValue(vec![0, 1, 254, 255])),
            Some(V::BytesValue(vec![])),
            Some(V::ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(V::IntValue(1)) }, AnyValue { value: Some(nested.clone()) }],
            })),
            Some(V::ArrayValue(ArrayValue::default())),
            Some(nested),
            Some(V::KvlistValue(KeyValueList::default())),
            Some(V::StringValueStrindex(3)),
        ]
    }

    /// `value` nested in `depth` containers, alternately arrays and
    /// key-value lists.
    pub(crate) fn nested_value(value: V, depth: usize) -> V {
        (0..depth).fold(value, |value, level| {
            if level % 2 == 0 {
                V::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(value) }] })
            } else {
                V::KvlistValue(KeyValueList { values: vec![kv("k", value)] })
            }
        })
    }
}
