//! Bounds on what one request may make the decoder build.
//!
//! `max_decompressed_bytes` bounds the protobuf a request brings, but not
//! what it decodes to: an empty `LogRecord` takes 2 bytes on the wire and
//! becomes a prost struct of a few hundred bytes plus an Arrow row, so 64 MiB
//! of them would be gigabytes. Three bounds close that, all checked before
//! anything proportional to them is allocated:
//!
//! - **items**: every element of a repeated message, string or varint field
//!   (resources, scopes, records, spans, events, links, metrics, data points,
//!   exemplars, quantiles, attributes, array and key-value list entries,
//!   entity refs, exponential histogram bucket counts). Fixed-width repeated
//!   scalars (explicit bucket counts and bounds) are not counted: they decode
//!   to the size they take on the wire. A 413 names `max_items_per_request`.
//! - **copied bytes**: resource, scope and metric fields are stored again in
//!   every row they cover, so one large resource above many tiny records
//!   multiplies. Each decoder charges rows x bytes per row before building.
//! - **value nesting**: `AnyValue` nests through arrays and key-value lists
//!   without limit in the schema; every walk over values (prost's, the
//!   renderers', the wire walkers') recurses, so nesting is refused past
//!   [`MAX_VALUE_NESTING`] (a 400), well below prost's own recursion limit of
//!   100 messages, so the error names this bound whatever the signal.
//!
//! The count is a schema-driven walk of the protobuf wire format (the message
//! table of the JSON transcoder) that allocates nothing and skips string and
//! scalar payloads, run before prost decodes a whole request. The logs and
//! traces wire walkers count the same items themselves as they go, and
//! decline (so that this walk and prost answer) as soon as they pass a bound. Malformed input stops
//! the walk without an error: prost then reports it, as before.

use super::messages::{Kind, Msg, ANY_VALUE, ARRAY_VALUE, KEY_VALUE_LIST};
use super::DecodeError;
use prost::encoding::{decode_key, decode_varint, WireType};

/// Arrays and key-value lists inside one attribute value or log body, at
/// most. Deep enough for any structured log body seen in practice; shallow
/// enough that prost (100 nested messages) never refuses first: the deepest
/// value (an exemplar's filtered attribute) sits 9 messages down, and each
/// key-value list level costs 3 messages.
pub const MAX_VALUE_NESTING: usize = 24;

/// What one request may make the decoder build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_decompressed_bytes: usize,
    /// `max_items_per_request`: see the module documentation.
    pub max_items: usize,
    /// Bytes of resource, scope and metric fields copied into rows.
    pub max_copied_bytes: usize,
}

impl DecodeLimits {
    pub const DEFAULT_MAX_ITEMS: usize = 1_000_000;
    pub const DEFAULT_MAX_COPIED_BYTES: usize = 256 << 20;

    /// The defaults of everything but the decompression bound.
    pub fn new(max_decompressed_bytes: usize) -> Self {
        DecodeLimits {
            max_decompressed_bytes,
            max_items: Self::DEFAULT_MAX_ITEMS,
            max_copied_bytes: Self::DEFAULT_MAX_COPIED_BYTES,
        }
    }

    /// No bound on items or copies: for records that were accepted before
    /// (spool replay), which must not be refused because a limit was lowered.
    /// Nesting stays bounded: it protects the stack, not memory.
    pub fn unbounded(max_decompressed_bytes: usize) -> Self {
        DecodeLimits { max_decompressed_bytes, max_items: usize::MAX, max_copied_bytes: usize::MAX }
    }
}

/// Which bound a request passed (the 413 message names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    DecompressedBytes,
    Items,
    CopiedBytes,
}

impl Exceeded {
    pub(super) fn message(self, limit: usize) -> String {
        match self {
            Exceeded::DecompressedBytes => format!("decompressed body exceeds {limit} bytes"),
            Exceeded::Items => format!("request has more than {limit} items (max_items_per_request)"),
            Exceeded::CopiedBytes => format!(
                "request would store more than {limit} bytes of resource, scope and metric fields copied into its rows"
            ),
        }
    }
}

pub(super) fn too_many_items(limit: usize) -> DecodeError {
    DecodeError::TooLarge { limit, what: Exceeded::Items }
}

pub(super) fn too_deep() -> DecodeError {
    DecodeError::TooDeep { limit: MAX_VALUE_NESTING }
}

/// Counts items as they are found, failing once past the limit.
#[derive(Debug)]
pub(super) struct ItemBudget {
    items: usize,
    max: usize,
}

impl ItemBudget {
    pub(super) fn new(max: usize) -> Self {
        ItemBudget { items: 0, max }
    }

    #[inline(always)]
    pub(super) fn add(&mut self, items: usize) -> Result<(), DecodeError> {
        self.items = self.items.saturating_add(items);
        if self.items > self.max {
            return Err(too_many_items(self.max));
        }
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn items(&self) -> usize {
        self.items
    }
}

/// Charges the bytes every row copies from its resource, scope or metric.
#[derive(Debug)]
pub(super) struct CopyBudget {
    bytes: usize,
    max: usize,
}

impl CopyBudget {
    pub(super) fn new(max: usize) -> Self {
        CopyBudget { bytes: 0, max }
    }

    /// `rows` rows, each copying `bytes_per_row`.
    pub(super) fn charge(&mut self, rows: usize, bytes_per_row: usize) -> Result<(), DecodeError> {
        self.bytes = self.bytes.saturating_add(rows.saturating_mul(bytes_per_row));
        if self.bytes > self.max {
            return Err(DecodeError::TooLarge { limit: self.max, what: Exceeded::CopiedBytes });
        }
        Ok(())
    }
}

/// Counts the items of `body`, a protobuf message `msg`, and checks value
/// nesting; errors only for a passed bound (malformed input is prost's to
/// report).
pub(super) fn check(msg: &'static Msg, body: &[u8], budget: &mut ItemBudget) -> Result<(), DecodeError> {
    match walk(msg, body, 0, budget) {
        Ok(()) | Err(Stop::Malformed) => Ok(()),
        Err(Stop::Bound(err)) => Err(err),
    }
}

/// Checks one encoded `AnyValue`.
pub(super) fn check_value(value: &[u8], budget: &mut ItemBudget) -> Result<(), DecodeError> {
    check(&ANY_VALUE, value, budget)
}

enum Stop {
    Malformed,
    Bound(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(err: DecodeError) -> Self {
        Stop::Bound(err)
    }
}

/// Recursion is bounded by the schema: OTLP messages nest only through
/// `AnyValue`, whose containers count against `MAX_VALUE_NESTING`.
fn walk(msg: &'static Msg, mut rest: &[u8], nesting: usize, budget: &mut ItemBudget) -> Result<(), Stop> {
    while !rest.is_empty() {
        let (tag, wire_type) = decode_key(&mut rest).map_err(|_| Stop::Malformed)?;
        let field = msg.fields.iter().find(|f| f.tag == tag);
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut rest).map_err(|_| Stop::Malformed)?;
                if field.is_some_and(|f| f.repeated && is_varint(f.kind)) {
                    budget.add(1)?;
                }
            }
            WireType::SixtyFourBit => skip(&mut rest, 8)?,
            WireType::ThirtyTwoBit => skip(&mut rest, 4)?,
            WireType::LengthDelimited => {
                let len = decode_varint(&mut rest).map_err(|_| Stop::Malformed)?;
                let len = usize::try_from(len).map_err(|_| Stop::Malformed)?;
                if len > rest.len() {
                    return Err(Stop::Malformed);
                }
                let (payload, tail) = rest.split_at(len);
                rest = tail;
                let Some(field) = field else { continue };
                match field.kind {
                    Kind::Nested(inner) => {
                        if field.repeated {
                            budget.add(1)?;
                        }
                        let is_container = std::ptr::eq(inner, &ARRAY_VALUE) || std::ptr::eq(inner, &KEY_VALUE_LIST);
                        let inner_nesting = nesting + usize::from(is_container);
                        if inner_nesting > MAX_VALUE_NESTING {
                            return Err(Stop::Bound(too_deep()));
                        }
                        walk(inner, payload, inner_nesting, budget)?;
                    }
                    Kind::Text | Kind::HexBytes | Kind::Base64Bytes if field.repeated => budget.add(1)?,
                    // packed: one element per byte that ends a varint
                    kind if field.repeated && is_varint(kind) => {
                        budget.add(payload.iter().filter(|&&b| b < 0x80).count())?;
                    }
                    _ => {}
                }
            }
            WireType::StartGroup => skip_group(&mut rest)?,
            WireType::EndGroup => return Err(Stop::Malformed),
        }
    }
    Ok(())
}

fn is_varint(kind: Kind) -> bool {
    matches!(kind, Kind::Enum(_) | Kind::UInt32 | Kind::SInt32 | Kind::Int64 | Kind::UInt64 | Kind::Bool)
}

fn skip(rest: &mut &[u8], len: usize) -> Result<(), Stop> {
    if len > rest.len() {
        return Err(Stop::Malformed);
    }
    *rest = &rest[len..];
    Ok(())
}

/// Skips an unknown group, nested groups included, without recursing.
fn skip_group(rest: &mut &[u8]) -> Result<(), Stop> {
    let mut open = 1usize;
    while open > 0 {
        let (_, wire_type) = decode_key(rest).map_err(|_| Stop::Malformed)?;
        match wire_type {
            WireType::Varint => _ = decode_varint(rest).map_err(|_| Stop::Malformed)?,
            WireType::SixtyFourBit => skip(rest, 8)?,
            WireType::ThirtyTwoBit => skip(rest, 4)?,
            WireType::LengthDelimited => {
                let len = decode_varint(rest).map_err(|_| Stop::Malformed)?;
                skip(rest, usize::try_from(len).map_err(|_| Stop::Malformed)?)?;
            }
            WireType::StartGroup => open += 1,
            WireType::EndGroup => open -= 1,
        }
    }
    Ok(())
}
