//! The chunked transfer coding (RFC 9112 section 7.1), decoded with bounds:
//! a chunk-size line (size and extensions) is at most [`MAX_CHUNK_LINE`]
//! bytes, a size must fit in u64, the trailer section is at most
//! [`MAX_TRAILER_BYTES`] bytes and [`MAX_TRAILER_FIELDS`] fields, and every
//! line of the framing ends with CRLF. Whatever a client sends, the decoder
//! holds at most one line in memory; the data itself is never buffered here.

use std::io::{self, BufRead, Read};

/// A chunk-size line with its extensions, CRLF included.
pub const MAX_CHUNK_LINE: usize = 4096;
/// The whole trailer section, the empty line that ends it included.
pub const MAX_TRAILER_BYTES: usize = 8192;
pub const MAX_TRAILER_FIELDS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("chunk-size line exceeds {MAX_CHUNK_LINE} bytes")]
    LineTooLong,
    #[error("chunk size is not a hexadecimal number")]
    BadSize,
    #[error("chunk size does not fit in 64 bits")]
    SizeOverflow,
    #[error("invalid chunk extension")]
    BadExtension,
    #[error("chunk framing lines must end with CRLF (bare LF or CR)")]
    BareLineEnd,
    #[error("chunk data is not followed by CRLF")]
    MissingDataEnd,
    #[error("trailer section exceeds {MAX_TRAILER_BYTES} bytes")]
    TrailersTooLarge,
    #[error("more than {MAX_TRAILER_FIELDS} trailer fields")]
    TooManyTrailers,
    #[error("malformed trailer field")]
    BadTrailer,
    #[error("connection closed inside a chunked body")]
    Truncated,
}

impl From<ChunkedError> for io::Error {
    fn from(error: ChunkedError) -> Self {
        let kind = match error {
            ChunkedError::Truncated => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// before a chunk-size line
    Size,
    /// inside a chunk's data, this many bytes left
    Data(u64),
    /// after a chunk's data, before its CRLF
    DataEnd,
    /// after the last chunk: trailer fields until the empty line
    Trailers {
        fields: usize,
        bytes: usize,
    },
    Done,
    /// an error was returned; every later read repeats it
    Failed(ChunkedError),
}

pub struct ChunkedDecoder<R> {
    source: R,
    state: State,
}

impl<R: BufRead> ChunkedDecoder<R> {
    pub fn new(source: R) -> Self {
        ChunkedDecoder { source, state: State::Size }
    }

    /// The last chunk and the trailers were read: the next byte is the next request's.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Moves through framing until there is data to read (or the end).
    fn advance(&mut self) -> io::Result<()> {
        loop {
            match self.state {
                State::Size => {
                    let line = read_line(&mut self.source, MAX_CHUNK_LINE, ChunkedError::LineTooLong)?;
                    let size = parse_size_line(&line)?;
                    self.state = if size == 0 { State::Trailers { fields: 0, bytes: 0 } } else { State::Data(size) };
                }
                State::DataEnd => {
                    expect_crlf(&mut self.source)?;
                    self.state = State::Size;
                }
                State::Trailers { fields, bytes } => {
                    let room = MAX_TRAILER_BYTES - bytes;
                    let line = read_line(&mut self.source, room, ChunkedError::TrailersTooLarge)?;
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    if fields == MAX_TRAILER_FIELDS {
                        return Err(ChunkedError::TooManyTrailers.into());
                    }
                    check_trailer(&line)?;
                    // trailers are read past and dropped: no route uses them
                    self.state = State::Trailers { fields: fields + 1, bytes: bytes + line.len() + 2 };
                }
                State::Data(_) | State::Done => return Ok(()),
                State::Failed(error) => return Err(error.into()),
            }
        }
    }

    fn read_data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.advance()?;
        let State::Data(left) = self.state else { return Ok(0) };
        let wanted = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let read = self.source.read(&mut buf[..wanted])?;
        if read == 0 {
            return Err(ChunkedError::Truncated.into());
        }
        let left = left - read as u64;
        self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
        Ok(read)
    }
}

impl<R: BufRead> Read for ChunkedDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let result = self.read_data(buf);
        if let Err(error) = &result {
            // a framing error leaves the stream at an unknown place: it stays broken
            if let Some(chunked) = error.get_ref().and_then(|inner| inner.downcast_ref::<ChunkedError>()) {
                self.state = State::Failed(*chunked);
            }
        }
        result
    }
}

/// One framing line without its CRLF; refuses a line of more than `limit`
/// bytes (CRLF counted) without holding more than that.
fn read_line(source: &mut impl BufRead, limit: usize, too_long: ChunkedError) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    loop {
        let available = source.fill_buf()?;
        if available.is_empty() {
            return Err(ChunkedError::Truncated.into());
        }
        match available.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(at) => {
                if line.len() + at + 2 > limit {
                    return Err(too_long.into());
                }
                line.extend_from_slice(&available[..at]);
                let ends_with_cr = available[at] == b'\r';
                source.consume(at + 1);
                if !ends_with_cr {
                    return Err(ChunkedError::BareLineEnd.into());
                }
                expect_byte(source, b'\n', ChunkedError::BareLineEnd)?;
                return Ok(line);
            }
            None => {
                let taken = available.len();
                if line.len() + taken + 2 > limit {
                    return Err(too_long.into());
                }
                line.extend_from_slice(available);
                source.consume(taken);
            }
        }
    }
}

fn expect_byte(source: &mut impl BufRead, wanted: u8, otherwise: ChunkedError) -> io::Result<()> {
    let available = source.fill_buf()?;
    match available.first() {
        None => Err(ChunkedError::Truncated.into()),
        Some(&byte) if byte == wanted => {
            source.consume(1);
            Ok(())
        }
        Some(_) => Err(otherwise.into()),
    }
}

fn expect_crlf(source: &mut impl BufRead) -> io::Result<()> {
    expect_byte(source, b'\r', ChunkedError::MissingDataEnd)?;
    expect_byte(source, b'\n', ChunkedError::BareLineEnd)
}

/// `chunk-size [ chunk-ext ]`: hex digits (leading zeros allowed, the value
/// must fit in u64), then `;name[=value]` extensions, which are checked and ignored.
pub(super) fn parse_size_line(line: &[u8]) -> Result<u64, ChunkedError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkedError::BadSize);
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let digit = (b as char).to_digit(16).expect("a hex digit") as u64;
        size = size.checked_mul(16).and_then(|s| s.checked_add(digit)).ok_or(ChunkedError::SizeOverflow)?;
    }
    check_extensions(&line[digits..])?;
    Ok(size)
}

/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`
fn check_extensions(mut rest: &[u8]) -> Result<(), ChunkedError> {
    loop {
        rest = skip_whitespace(rest);
        let Some((&b';', after)) = rest.split_first() else {
            return if rest.is_empty() { Ok(()) } else { Err(ChunkedError::BadExtension) };
        };
        rest = skip_whitespace(after);
        let name = token_length(rest);
        if name == 0 {
            return Err(ChunkedError::BadExtension);
        }
        rest = skip_whitespace(&rest[name..]);
        if let Some((&b'=', after)) = rest.split_first() {
            rest = skip_whitespace(after);
            rest = skip_extension_value(rest)?;
        }
    }
}

fn skip_extension_value(value: &[u8]) -> Result<&[u8], ChunkedError> {
    if let Some((&b'"', mut rest)) = value.split_first() {
        loop {
            match rest.split_first() {
                Some((&b'"', after)) => return Ok(after),
                Some((&b'\\', after)) if !after.is_empty() => rest = &after[1..],
                Some((&b, after)) if b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80 => rest = after,
                _ => return Err(ChunkedError::BadExtension),
            }
        }
    }
    let length = token_length(value);
    if length == 0 {
        return Err(ChunkedError::BadExtension);
    }
    Ok(&value[length..])
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let spaces = bytes.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &bytes[spaces..]
}

/// RFC 9110 `tchar`s at the start of `bytes`.
fn token_length(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)).count()
}

/// `field-name ":" OWS field-value OWS`; no obs-fold, no control bytes.
fn check_trailer(line: &[u8]) -> Result<(), ChunkedError> {
    let name = token_length(line);
    match line.get(name) {
        Some(b':') if name > 0 => {}
        _ => return Err(ChunkedError::BadTrailer),
    }
    let value_ok = line[name + 1..].iter().all(|&b| b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80);
    if value_ok {
        Ok(())
    } else {
        Err(ChunkedError::BadTrailer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(input: &[u8]) -> (Result<Vec<u8>, ChunkedError>, Vec<u8>) {
        let mut source: &[u8] = input;
        let mut decoder = ChunkedDecoder::new(&mut source);
        let mut out = Vec::new();
        let result = decoder.read_to_end(&mut out).map(|_| out).map_err(|error| {
            *error.into_inner().expect("a chunked error").downcast::<ChunkedError>().expect("a chunked error")
        });
        (result, source.to_vec())
    }

    fn error_of(input: &[u8]) -> ChunkedError {
        decode(input).0.unwrap_err()
    }

    /// `body` cut into chunks of the given sizes (the rest in one last data chunk).
    fn encode(body: &[u8], sizes: &[usize], extensions: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        for &size in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at(size.clamp(1, rest.len()));
            out.extend_from_slice(format!("{:x}", chunk.len()).as_bytes());
            if extensions {
                out.extend_from_slice(b";name=\"v\\\"x\" ; flag");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
            rest = after;
        }
        out.extend_from_slice(b"0\r\nX-Checksum: abc\r\n\r\n");
        out
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers_and_stops_after_them() {
        let (body, rest) = decode(b"3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\nT: v\r\n\r\nNEXT");
        assert_eq!(body.unwrap(), b"hello");
        assert_eq!(rest, b"NEXT");
        let (body, _) = decode(b"00000A\r\n0123456789\r\n0 ; last\r\n\r\n");
        assert_eq!(body.unwrap(), b"0123456789", "leading zeros and upper-case hex");
    }

    #[test]
    fn an_endless_size_line_is_refused_at_the_line_bound() {
        let zeros = vec![b'0'; 1 << 20];
        let (body, rest) = decode(&zeros);
        assert_eq!(body.unwrap_err(), ChunkedError::LineTooLong);
        assert!(rest.len() >= zeros.len() - MAX_CHUNK_LINE, "read no further than the bound");
        let long_extension = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(error_of(long_extension.as_bytes()), ChunkedError::LineTooLong);
        let just_fits = format!("{}1\r\nx\r\n0\r\n\r\n", "0".repeat(MAX_CHUNK_LINE - 3));
        assert_eq!(decode(just_fits.as_bytes()).0.unwrap(), b"x");
    }

    #[test]
    fn sizes_beyond_u64_and_non_hex_sizes_are_refused() {
        assert_eq!(error_of(b"1ffffffffffffffff\r\n"), ChunkedError::SizeOverflow);
        assert_eq!(error_of(b"00000000000000000000ffffffffffffffff\r\n"), ChunkedError::Truncated, "fits: data cut");
        assert_eq!(error_of(b"zz\r\nhel\r\n"), ChunkedError::BadSize);
        assert_eq!(error_of(b"\r\n"), ChunkedError::BadSize);
        assert_eq!(error_of(b"-1\r\n"), ChunkedError::BadSize);
        assert_eq!(error_of(b"0x10\r\n"), ChunkedError::BadExtension);
        assert_eq!(error_of(b"1;\r\nx\r\n"), ChunkedError::BadExtension);
        assert_eq!(error_of(b"1;a=\r\nx\r\n"), ChunkedError::BadExtension);
        assert_eq!(error_of(b"1;a=\"open\r\nx\r\n"), ChunkedError::BadExtension);
    }

    #[test]
    fn bare_lf_and_bare_cr_are_refused_in_every_framing_line() {
        assert_eq!(error_of(b"3\nhel\r\n0\r\n\r\n"), ChunkedError::BareLineEnd);
        assert_eq!(error_of(b"3\rhel\r\n0\r\n\r\n"), ChunkedError::BareLineEnd);
        assert_eq!(error_of(b"3\r\nhel\n0\r\n\r\n"), ChunkedError::MissingDataEnd);
        assert_eq!(error_of(b"3\r\nhel\r0\r\n\r\n"), ChunkedError::BareLineEnd);
        assert_eq!(error_of(b"3\r\nhelXX0\r\n\r\n"), ChunkedError::MissingDataEnd);
        assert_eq!(error_of(b"0\r\n\n"), ChunkedError::BareLineEnd);
        assert_eq!(error_of(b"0\r\nT: v\n\r\n"), ChunkedError::BareLineEnd);
    }

    #[test]
    fn trailers_are_bounded_in_size_and_count_and_must_be_fields() {
        let many: String = (0..=MAX_TRAILER_FIELDS).map(|i| format!("T{i}: v\r\n")).collect();
        assert_eq!(error_of(format!("0\r\n{many}\r\n").as_bytes()), ChunkedError::TooManyTrailers);
        let fits: String = (0..MAX_TRAILER_FIELDS).map(|i| format!("T{i}: v\r\n")).collect();
        assert_eq!(decode(format!("0\r\n{fits}\r\n").as_bytes()).0.unwrap(), b"");
        let big = format!("0\r\nT: {}\r\n\r\n", "v".repeat(MAX_TRAILER_BYTES));
        assert_eq!(error_of(big.as_bytes()), ChunkedError::TrailersTooLarge);
        let endless = [b"0\r\nT: ".as_slice(), &vec![b'v'; 1 << 20]].concat();
        assert_eq!(error_of(&endless), ChunkedError::TrailersTooLarge);
        assert_eq!(error_of(b"0\r\n folded\r\n\r\n"), ChunkedError::BadTrailer);
        assert_eq!(error_of(b"0\r\nno colon\r\n\r\n"), ChunkedError::BadTrailer);
        assert_eq!(error_of(b"0\r\nT : v\r\n\r\n"), ChunkedError::BadTrailer);
        assert_eq!(error_of(b"0\r\nT: a\x00b\r\n\r\n"), ChunkedError::BadTrailer);
    }

    #[test]
    fn a_body_cut_anywhere_is_truncated_and_errors_stay() {
        let whole = encode(b"hello world", &[3, 4], true);
        for cut in 0..whole.len() {
            assert_eq!(error_of(&whole[..cut]), ChunkedError::Truncated, "cut at {cut}");
        }
        let mut source: &[u8] = b"zz\r\n1\r\nx\r\n0\r\n\r\n";
        let mut decoder = ChunkedDecoder::new(&mut source);
        let mut buf = [0u8; 8];
        assert!(decoder.read(&mut buf).is_err());
        assert!(decoder.read(&mut buf).is_err(), "a broken body stays broken");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, rng_seed: proptest::test_runner::RngSeed::Fixed(13), ..ProptestConfig::default() })]

        #[test]
        fn decoding_an_encoding_gives_the_body_back(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            sizes in proptest::collection::vec(1usize..300, 0..20),
            extensions in any::<bool>(),
        ) {
            let mut wire = encode(&body, &sizes, extensions);
            wire.extend_from_slice(b"NEXT");
            let (decoded, rest) = decode(&wire);
            prop_assert_eq!(decoded.unwrap(), body);
            prop_assert_eq!(rest, b"NEXT".to_vec());
        }

        #[test]
        fn random_input_never_panics_nor_yields_more_than_it_got(
            input in proptest::collection::vec(
                prop_oneof![Just(b'0'), Just(b'\r'), Just(b'\n'), Just(b';'), Just(b'='), Just(b'"'), Just(b':'), any::<u8>()],
                0..6000,
            ),
        ) {
            let mut source: &[u8] = &input;
            let mut decoder = ChunkedDecoder::new(&mut source);
            let mut out = Vec::new();
            let _ = decoder.read_to_end(&mut out);
            prop_assert!(out.len() <= input.len());
        }

        #[test]
        fn size_lines_parse_exactly_the_hex_values_that_fit(size in any::<u64>(), zeros in 0usize..40) {
            let line = format!("{}{size:x}", "0".repeat(zeros));
            prop_assert_eq!(parse_size_line(line.as_bytes()), Ok(size));
            let wide = format!("{size:x}0");
            let fits = size.checked_mul(16).is_some();
            prop_assert_eq!(parse_size_line(wide.as_bytes()).is_ok(), fits);
        }
    }
}
