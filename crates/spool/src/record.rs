//! One record on disk: a fixed 20-byte header, then the payload. The checksum
//! covers the header's first 16 bytes and the payload, so a torn write, a stray
//! byte flip or a header from another format all fail the same single check.

use std::fs::File;
use std::io::{self, BufReader, Read};

pub const MAGIC: u8 = 0xC5;
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 20;
/// The length field is a u32, and a whole record's size must fit one too.
pub const MAX_PAYLOAD: u64 = u32::MAX as u64 - HEADER_LEN as u64;

/// A record as replayed: its sequence number, the caller's kind tag and the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Header fields after the structural checks; the checksum is verified with the payload.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub seq: u64,
    pub kind: u8,
    pub payload_len: u32,
    checksummed: [u8; 16],
    crc: u32,
}

impl Header {
    pub fn record_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.payload_len)
    }

    pub fn matches(&self, payload: &[u8]) -> bool {
        checksum(&self.checksummed, payload) == self.crc
    }
}

pub fn record_len(payload_len: usize) -> u64 {
    HEADER_LEN as u64 + payload_len as u64
}

/// Layout: magic, version, kind, reserved zero, payload length (u32 LE),
/// seq (u64 LE), crc32 (LE) of bytes 0..16 followed by the payload.
pub fn encode_header(seq: u64, kind: u8, payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0] = MAGIC;
    header[1] = VERSION;
    header[2] = kind;
    header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = checksum(header[..16].try_into().expect("16 bytes"), payload);
    header[16..20].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Structural checks only; `Err` carries a lowercase description of the problem.
pub fn decode_header(bytes: &[u8; HEADER_LEN]) -> Result<Header, String> {
    if bytes[0] != MAGIC {
        return Err(format!("bad magic byte 0x{:02x}", bytes[0]));
    }
    if bytes[1] != VERSION {
        return Err(format!("unknown record version {}", bytes[1]));
    }
    if bytes[3] != 0 {
        return Err(format!("nonzero reserved byte 0x{:02x}", bytes[3]));
    }
    let payload_len = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if u64::from(payload_len) > MAX_PAYLOAD {
        return Err(format!("payload length {payload_len} over limit {MAX_PAYLOAD}"));
    }
    Ok(Header {
        kind: bytes[2],
        payload_len,
        seq: u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
        checksummed: bytes[..16].try_into().expect("16 bytes"),
        crc: u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")),
    })
}

fn checksum(header_fields: &[u8; 16], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header_fields);
    hasher.update(payload);
    hasher.finalize()
}

/// What reading the next header of a segment found.
pub enum Next {
    Header(Header),
    End,
    /// The bytes from the current offset on do not form a valid record.
    Invalid(String),
}

/// Sequential reader over one segment file that never trusts a length field
/// beyond the bytes actually present.
pub struct RecordReader {
    reader: BufReader<File>,
    offset: u64,
    file_len: u64,
}

impl RecordReader {
    pub fn new(file: File) -> io::Result<Self> {
        let file_len = file.metadata()?.len();
        Ok(RecordReader { reader: BufReader::with_capacity(1 << 20, file), offset: 0, file_len })
    }

    /// Byte offset of the first record not yet fully read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Reads the next header; its payload must then be read or skipped.
    pub fn next_header(&mut self) -> io::Result<Next> {
        let remaining = self.file_len - self.offset;
        if remaining == 0 {
            return Ok(Next::End);
        }
        if remaining < HEADER_LEN as u64 {
            return Ok(Next::Invalid(format!("partial header ({remaining} of {HEADER_LEN} bytes)")));
        }
        let mut raw = [0u8; HEADER_LEN];
        self.reader.read_exact(&mut raw)?;
        let header = match decode_header(&raw) {
            Ok(header) => header,
            Err(problem) => return Ok(Next::Invalid(problem)),
        };
        let present = remaining - HEADER_LEN as u64;
        if u64::from(header.payload_len) > present {
            return Ok(Next::Invalid(format!("partial payload ({present} of {} bytes)", header.payload_len)));
        }
        Ok(Next::Header(header))
    }

    /// Reads and verifies the payload; `None` means the checksum does not match.
    pub fn read_payload(&mut self, header: &Header) -> io::Result<Option<Vec<u8>>> {
        let mut payload = vec![0u8; header.payload_len as usize];
        self.reader.read_exact(&mut payload)?;
        if !header.matches(&payload) {
            return Ok(None);
        }
        self.offset += header.record_len();
        Ok(Some(payload))
    }

    /// Moves past the payload without reading or verifying it.
    pub fn skip_payload(&mut self, header: &Header) -> io::Result<()> {
        self.reader.seek_relative(i64::from(header.payload_len))?;
        self.offset += header.record_len();
        Ok(())
    }
}
