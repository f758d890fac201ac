//! The few text encodings OTLP needs: hex ids, base64 bytes, JSON strings and
//! numbers.
//!
//! Written by hand rather than pulled in as crates because each is a dozen
//! lines, they sit on the hot path (every id of every row is hex-encoded), and
//! the exact output format is a compatibility contract: doubles are printed the
//! way the Collector's pdata `Value.AsString()` prints them (ES6 number
//! formatting), which no general-purpose crate promises.

use std::fmt::Write as _;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes` into `out` (which must hold `2 * bytes.len()`).
pub(crate) fn hex_into<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a str {
    let out = &mut out[..bytes.len() * 2];
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(byte >> 4) as usize];
        pair[1] = HEX[(byte & 0x0f) as usize];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(out).unwrap_or_default()
}

/// Lowercase hex of `bytes` as a new string.
pub(crate) fn hex_string(bytes: &[u8]) -> String {
    let mut buf = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut buf).to_string()
}

fn hex_digit(ch: u8) -> Option<u8> {
    match ch {
        b'0'..=b'9' => Some(ch - b'0'),
        b'a'..=b'f' => Some(ch - b'a' + 10),
        b'A'..=b'F' => Some(ch - b'A' + 10),
        _ => None,
    }
}

/// Decodes case-insensitive hex, appending to `out`; `None` when not hex.
pub(crate) fn hex_decode_into(text: &str, out: &mut Vec<u8>) -> Option<()> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    out.reserve(bytes.len() / 2);
    for pair in bytes.chunks_exact(2) {
        out.push(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?);
    }
    Some(())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Go's `base64.StdEncoding` writes it.
pub fn base64_encode(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { B64[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { B64[n as usize & 63] as char } else { '=' });
    }
}

fn b64_digit(ch: u8) -> Option<u32> {
    match ch {
        b'A'..=b'Z' => Some((ch - b'A') as u32),
        b'a'..=b'z' => Some((ch - b'a') as u32 + 26),
        b'0'..=b'9' => Some((ch - b'0') as u32 + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Decodes base64 (standard or URL-safe alphabet, padding optional),
/// appending to `out`; `None` when malformed.
pub(crate) fn base64_decode_into(text: &str, out: &mut Vec<u8>) -> Option<()> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return None;
    }
    let bytes = trimmed.as_bytes();
    out.reserve(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &ch) in chunk.iter().enumerate() {
            n |= b64_digit(ch)? << (18 - 6 * i);
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]),
            3 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8]),
            2 => out.push((n >> 16) as u8),
            _ => return None,
        }
    }
    Some(())
}

/// Writes `s` as a JSON string literal (quoted, minimal escaping).
pub(crate) fn json_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Formats a double like ES6 `Number.prototype.toString` (and Go pdata's
/// `AsString`): shortest round-trip digits, `2` not `2.0`, exponent form
/// below 1e-6 and from 1e21 on (`1e+21`, `1.5e-7`). Non-finite values, which
/// JSON cannot hold, are written as OTLP/JSON spells them: `NaN`,
/// `Infinity`, `-Infinity`.
pub(crate) fn format_double(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let abs = value.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let start = out.len();
            let _ = write!(out, "{value:e}");
            if let Some(pos) = out[start..].find('e') {
                let after = start + pos + 1;
                if !out[after..].starts_with('-') {
                    out.insert(after, '+');
                }
            }
        } else {
            let _ = write!(out, "{value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(v: f64) -> String {
        let mut s = String::new();
        format_double(v, &mut s);
        s
    }

    #[test]
    fn doubles_format_like_es6() {
        assert_eq!(fmt(1.5), "1.5");
        assert_eq!(fmt(2.0), "2");
        assert_eq!(fmt(-0.25), "-0.25");
        assert_eq!(fmt(0.0), "0");
        assert_eq!(fmt(1e21), "1e+21");
        assert_eq!(fmt(1.5e300), "1.5e+300");
        assert_eq!(fmt(1e20), "100000000000000000000");
        assert_eq!(fmt(0.000001), "0.000001");
        assert_eq!(fmt(1.5e-7), "1.5e-7");
        assert_eq!(fmt(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(fmt(f64::NAN), "NaN");
        assert_eq!(fmt(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn hex_round_trip() {
        let mut buf = [0u8; 32];
        assert_eq!(hex_into(&[0x4b, 0xf9, 0x0a], &mut buf), "4bf90a");
        let mut out = Vec::new();
        hex_decode_into("4BF90a", &mut out).unwrap();
        assert_eq!(out, vec![0x4b, 0xf9, 0x0a]);
        assert!(hex_decode_into("abc", &mut Vec::new()).is_none());
        assert!(hex_decode_into("zz", &mut Vec::new()).is_none());
        assert_eq!(hex_string(&[]), "");
    }

    #[test]
    fn base64_round_trip() {
        for (raw, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"\xff\xfe\xfd\x00", "//79AA=="),
        ] {
            let mut s = String::new();
            base64_encode(raw, &mut s);
            assert_eq!(s, text);
            let mut back = Vec::new();
            base64_decode_into(text, &mut back).unwrap();
            assert_eq!(back, raw);
        }
        assert!(base64_decode_into("Z", &mut Vec::new()).is_none());
        assert!(base64_decode_into("Zm9v!", &mut Vec::new()).is_none());
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        json_string("a\"b\\c\nd\u{1}é", &mut s);
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }
}
