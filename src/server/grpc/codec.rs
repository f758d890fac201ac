//! A tonic codec that leaves messages as bytes.
//!
//! The generated `LogsServiceServer` & co. decode each request into prost
//! structs. Ingest wants the raw protobuf instead: it is what the spool keeps
//! (so replay decodes it exactly as an OTLP/HTTP body) and what the zero-copy
//! wire walkers read, three times faster than prost. So requests pass through
//! as the bytes tonic framed and decompressed, and responses are the
//! `Export*ServiceResponse` bytes `crate::otlp::export_response` encodes from
//! the generated types, the same bytes an OTLP/HTTP client gets.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    /// tonic hands over exactly one message, already bounded by the decoding
    /// size limit and decompressed; taking it as `Bytes` splits tonic's buffer
    /// instead of copying the message.
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let length = src.remaining();
        Ok(Some(src.copy_to_bytes(length)))
    }
}
