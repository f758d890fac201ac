//! OTLP/HTTP request bodies in, one Arrow `RecordBatch` per destination table out.
//!
//! Decoding is a pure function of the request bytes: decompress (bounded, so a
//! small body cannot expand without limit), parse, and build the columns of
//! every table the request touches, in one pass. Protobuf is read by a
//! zero-copy walk of the wire format per signal (`logs_wire`, `traces_wire`,
//! `metrics_wire`), or decoded with prost into the generated OTLP types
//! where the walk declines; OTLP/JSON is first transcoded, in a
//! single streaming pass, into the equivalent protobuf bytes (see `json`), so
//! both encodings share one column builder per signal and cannot disagree.
//! A body that cannot be parsed at all is an error (the server answers 400 and
//! stores nothing); single items that cannot be stored (malformed ids, metrics
//! without data) are dropped and counted for the OTLP `partial_success` reply.

mod attributes;
mod columns;
mod compression;
mod json;
pub mod limits;
mod log_columns;
mod logs;
mod logs_wire;
mod messages;
mod metrics;
mod metrics_wire;
mod response;
pub mod schema;
mod span_columns;
pub mod text;
mod traces;
mod traces_wire;
mod wire;

pub use compression::decompress;
pub use limits::{DecodeLimits, Exceeded, MAX_VALUE_NESTING};
pub use metrics::{MetricBatcher, ValidMetrics};
pub use response::{error_status, export_response};
pub use schema::Table;

use arrow_array::RecordBatch;
use std::borrow::Cow;

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    Logs,
    Traces,
    Metrics,
}

impl Signal {
    /// The OTLP/HTTP path of the signal.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Logs => "/v1/logs",
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }

    /// The signal served at an OTLP/HTTP path (`/v1/logs`, ...).
    pub fn from_path(path: &str) -> Option<Signal> {
        [Signal::Logs, Signal::Traces, Signal::Metrics].into_iter().find(|s| s.path() == path)
    }
}

/// The body encoding, from `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// `application/x-protobuf` (or `application/protobuf`) and
    /// `application/json`, case-insensitive, parameters such as
    /// `; charset=utf-8` ignored.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf") || mime.eq_ignore_ascii_case("application/protobuf") {
            Some(Format::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of responses in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// The body compression, from `Content-Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Deflate,
    Zstd,
}

impl Compression {
    /// `gzip` (or `x-gzip`), `deflate`, `zstd`; `identity`, empty or absent
    /// means none. Case-insensitive.
    pub fn from_content_encoding(encoding: Option<&str>) -> Result<Compression, DecodeError> {
        let encoding = encoding.unwrap_or_default().trim();
        let is = |name: &str| encoding.eq_ignore_ascii_case(name);
        if encoding.is_empty() || is("identity") {
            Ok(Compression::None)
        } else if is("gzip") || is("x-gzip") {
            Ok(Compression::Gzip)
        } else if is("deflate") {
            Ok(Compression::Deflate)
        } else if is("zstd") {
            Ok(Compression::Zstd)
        } else {
            Err(DecodeError::UnsupportedEncoding(encoding.to_string()))
        }
    }
}

/// Everything needed to decode a stored raw request body again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestKind {
    pub signal: Signal,
    pub format: Format,
    pub compression: Compression,
}

impl RequestKind {
    /// One byte for the spool: bits 0-1 signal, bit 2 format, bits 3-4
    /// compression, bits 5-7 zero.
    pub fn to_byte(self) -> u8 {
        let signal = match self.signal {
            Signal::Logs => 0,
            Signal::Traces => 1,
            Signal::Metrics => 2,
        };
        let format = match self.format {
            Format::Protobuf => 0,
            Format::Json => 1,
        };
        let compression = match self.compression {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Deflate => 2,
            Compression::Zstd => 3,
        };
        signal | format << 2 | compression << 3
    }

    pub fn from_byte(byte: u8) -> Option<RequestKind> {
        let signal = match byte & 0b11 {
            0 => Signal::Logs,
            1 => Signal::Traces,
            2 => Signal::Metrics,
            _ => return None,
        };
        let format = if byte & 0b100 == 0 { Format::Protobuf } else { Format::Json };
        let compression = match (byte >> 3) & 0b11 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Deflate,
            _ => Compression::Zstd,
        };
        if byte >> 5 != 0 {
            return None;
        }
        Some(RequestKind { signal, format, compression })
    }
}

/// One table's share of a request.
#[derive(Debug, Clone)]
pub struct TableBatch {
    pub table: Table,
    pub batch: RecordBatch,
}

/// The decoded request: one batch per table with at least one row, and what
/// was dropped (log records, spans or data points) with the first reason.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    pub batches: Vec<TableBatch>,
    pub rejected: u64,
    pub rejection_message: String,
}

impl Decoded {
    /// Total rows over all batches.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.batch.num_rows()).sum()
    }
}

/// What the ingest path keeps of an accepted request until its flush:
/// Arrow batches, or for metrics the validated request's protobuf, whose rows
/// the writer builds together with the rest of the flush's ([`MetricBatcher`]).
#[derive(Debug)]
pub enum Rows {
    Batches(Vec<TableBatch>),
    Metrics(ValidMetrics),
}

impl Rows {
    /// Rows this will store.
    pub fn len(&self) -> usize {
        match self {
            Rows::Batches(batches) => batches.iter().map(|b| b.batch.num_rows()).sum(),
            Rows::Metrics(metrics) => metrics.rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// About the memory it holds while it waits for its flush.
    pub fn memory_size(&self) -> usize {
        match self {
            Rows::Batches(batches) => batches.iter().map(|b| b.batch.get_array_memory_size()).sum(),
            Rows::Metrics(metrics) => metrics.memory_estimate(),
        }
    }
}

/// An accepted request as the ingest path holds it, with what was dropped.
#[derive(Debug)]
pub struct Ingested {
    pub rows: Rows,
    pub rejected: u64,
    pub rejection_message: String,
}

/// Why a request body could not be decoded at all.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// A bound on what the request decodes to: the server answers 413.
    #[error("{}", .what.message(*.limit))]
    TooLarge { limit: usize, what: Exceeded },
    /// `AnyValue` nested past [`MAX_VALUE_NESTING`] (400).
    #[error("attribute value nesting deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("{codec}: {message}")]
    Decompress { codec: &'static str, message: String },
    #[error("invalid protobuf: {0}")]
    Protobuf(String),
    #[error("invalid json at line {line} column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    /// A bug: the built columns did not fit the table schema.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<prost::DecodeError> for DecodeError {
    fn from(err: prost::DecodeError) -> Self {
        let text = err.to_string();
        let text = text.strip_prefix("failed to decode Protobuf message: ").unwrap_or(&text);
        DecodeError::Protobuf(text.to_string())
    }
}

/// Decompresses, parses and converts one request body that was accepted
/// before (spool replay): no bound on items or copies, see
/// [`DecodeLimits::unbounded`].
pub fn decode(kind: RequestKind, body: &[u8], max_decompressed_bytes: usize) -> Result<Decoded, DecodeError> {
    decode_with_limits(kind, body, &DecodeLimits::unbounded(max_decompressed_bytes))
}

/// Decompresses, parses and converts one request body within `limits`.
pub fn decode_with_limits(kind: RequestKind, body: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    let protobuf = protobuf_body(kind, body, limits)?;
    match kind.signal {
        Signal::Logs => logs::decode(&protobuf, limits),
        Signal::Traces => traces::decode(&protobuf, limits),
        Signal::Metrics => metrics::decode(&protobuf, limits),
    }
}

/// Like [`decode_with_limits`], with the same answers and errors, for the
/// ingest path: metrics requests are only parsed and validated here, their
/// rows are built at flush time.
pub fn decode_for_ingest(kind: RequestKind, body: &[u8], limits: &DecodeLimits) -> Result<Ingested, DecodeError> {
    if kind.signal != Signal::Metrics {
        let decoded = decode_with_limits(kind, body, limits)?;
        let (rejected, rejection_message) = (decoded.rejected, decoded.rejection_message);
        return Ok(Ingested { rows: Rows::Batches(decoded.batches), rejected, rejection_message });
    }
    let protobuf = protobuf_body(kind, body, limits)?;
    let (valid, rejections) = metrics::validate(protobuf, limits)?;
    Ok(Ingested { rows: Rows::Metrics(valid), rejected: rejections.count, rejection_message: rejections.message() })
}

/// The body decompressed, and transcoded from OTLP/JSON when it is JSON.
fn protobuf_body<'a>(kind: RequestKind, body: &'a [u8], limits: &DecodeLimits) -> Result<Cow<'a, [u8]>, DecodeError> {
    let raw = decompress(kind.compression, body, limits.max_decompressed_bytes)?;
    Ok(match kind.format {
        Format::Protobuf => raw,
        Format::Json => Cow::Owned(json::to_protobuf(kind.signal, &raw)?),
    })
}

/// Counts dropped items and keeps the message of the first.
#[derive(Default)]
struct Rejections {
    count: u64,
    first: Option<String>,
}

impl Rejections {
    fn reject(&mut self, items: u64, reason: impl FnOnce() -> String) {
        self.count += items;
        if self.first.is_none() {
            self.first = Some(reason());
        }
    }

    fn message(self) -> String {
        self.first.unwrap_or_default()
    }

    fn into_decoded(self, batches: Vec<TableBatch>) -> Decoded {
        Decoded { batches, rejected: self.count, rejection_message: self.message() }
    }
}

/// Why an id is unusable: `required` ids must be present; present ids must
/// have exactly `len` bytes.
fn id_problem(what: &str, id: &[u8], len: usize, required: bool) -> Option<String> {
    if id.len() == len || (id.is_empty() && !required) {
        None
    } else if id.is_empty() {
        Some(format!("{what} is empty"))
    } else {
        Some(format!("{what} has {} bytes, expected {len}", id.len()))
    }
}

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
pub(crate) mod tests;
