//! Bounded decompression of request bodies.
//!
//! Every decoder reads through `Read::take(max + 1)`, so output is cut off one
//! byte past the limit whatever the compression ratio (zip-bomb guard), and the
//! zstd window is capped near the limit so a tiny frame cannot make the decoder
//! allocate 128 MiB. An identity body is borrowed, not copied, but is held to
//! the same limit. `deflate` accepts both zlib-wrapped (RFC 9110) and raw
//! deflate streams, since clients send either.

use super::{Compression, DecodeError, Exceeded};
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use std::borrow::Cow;
use std::io::Read;

/// Decompresses `body`, refusing output beyond `max_bytes`.
pub fn decompress(compression: Compression, body: &[u8], max_bytes: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    let too_large = DecodeError::TooLarge { limit: max_bytes, what: Exceeded::DecompressedBytes };
    match compression {
        Compression::None if body.len() > max_bytes => Err(too_large),
        Compression::None => Ok(Cow::Borrowed(body)),
        Compression::Gzip => read_limited(MultiGzDecoder::new(body), "gzip", body.len(), max_bytes),
        Compression::Deflate => {
            let raw = || read_limited(DeflateDecoder::new(body), "deflate", body.len(), max_bytes);
            if is_zlib(body) {
                // A raw stream can start with bytes that look like a zlib header.
                match read_limited(ZlibDecoder::new(body), "deflate", body.len(), max_bytes) {
                    Err(DecodeError::Decompress { .. }) => raw(),
                    other => other,
                }
            } else {
                raw()
            }
        }
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(|e| codec_error("zstd", e))?;
            decoder.window_log_max(zstd_window_log(max_bytes)).map_err(|e| codec_error("zstd", e))?;
            read_limited(decoder, "zstd", body.len(), max_bytes)
        }
    }
}

/// A zlib header: deflate method, 32 KiB window at most, valid check bits.
fn is_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Enough window for any frame whose content fits the limit (compressors
/// never need a window larger than the content), never below zstd's 8 MiB
/// streaming default nor above its 128 MiB decoder default.
fn zstd_window_log(max_bytes: usize) -> u32 {
    let needed = usize::BITS - max_bytes.saturating_sub(1).leading_zeros();
    needed.clamp(23, 27)
}

fn codec_error(codec: &'static str, err: std::io::Error) -> DecodeError {
    DecodeError::Decompress { codec, message: err.to_string() }
}

fn read_limited(
    reader: impl Read,
    codec: &'static str,
    compressed_len: usize,
    max_bytes: usize,
) -> Result<Cow<'static, [u8]>, DecodeError> {
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(4).min(max_bytes));
    let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).map_err(|e| codec_error(codec, e))?;
    if out.len() > max_bytes {
        return Err(DecodeError::TooLarge { limit: max_bytes, what: Exceeded::DecompressedBytes });
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn compress(compression: Compression, raw: &[u8]) -> Vec<u8> {
        match compression {
            Compression::None => raw.to_vec(),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(raw).unwrap();
                enc.finish().unwrap()
            }
            Compression::Deflate => {
                let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(raw).unwrap();
                enc.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(raw, 3).unwrap(),
        }
    }

    #[test]
    fn round_trips_every_codec() {
        let raw: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for c in [Compression::None, Compression::Gzip, Compression::Deflate, Compression::Zstd] {
            let body = compress(c, &raw);
            assert_eq!(decompress(c, &body, raw.len()).unwrap().as_ref(), &raw[..], "{c:?}");
        }
    }

    #[test]
    fn raw_deflate_is_accepted() {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello raw deflate").unwrap();
        let body = enc.finish().unwrap();
        assert_eq!(decompress(Compression::Deflate, &body, 100).unwrap().as_ref(), b"hello raw deflate");
    }

    #[test]
    fn zip_bomb_is_refused() {
        let raw = vec![0u8; 10 << 20];
        for c in [Compression::Gzip, Compression::Deflate, Compression::Zstd] {
            let body = compress(c, &raw);
            assert!(body.len() < 64 << 10, "{c:?} compressed to {}", body.len());
            let err = decompress(c, &body, 4 << 20).unwrap_err();
            assert_eq!(err.to_string(), "decompressed body exceeds 4194304 bytes", "{c:?}");
            // Exactly at the limit is fine.
            assert_eq!(decompress(c, &body, raw.len()).unwrap().len(), raw.len());
        }
        let err = decompress(Compression::None, &[0; 11], 10).unwrap_err();
        assert_eq!(err.to_string(), "decompressed body exceeds 10 bytes");
    }

    #[test]
    fn corrupt_input_names_the_codec() {
        let err = decompress(Compression::Gzip, b"not gzip at all", 100).unwrap_err();
        assert!(err.to_string().starts_with("gzip: "), "{err}");
        let err = decompress(Compression::Zstd, b"not zstd", 100).unwrap_err();
        assert!(err.to_string().starts_with("zstd: "), "{err}");
        let mut truncated = compress(Compression::Gzip, b"some text to compress");
        truncated.truncate(truncated.len() - 6);
        let err = decompress(Compression::Gzip, &truncated, 100).unwrap_err();
        assert!(err.to_string().starts_with("gzip: "), "{err}");
    }

    #[test]
    fn zstd_window_tracks_limit() {
        assert_eq!(zstd_window_log(4 << 20), 23);
        assert_eq!(zstd_window_log(64 << 20), 26);
        assert_eq!(zstd_window_log(usize::MAX), 27);
    }
}
