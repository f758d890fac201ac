//! One request as a route sees it: the head, parsed with httparse, and a
//! reader over its body.

use super::body::{Body, Framing};
use super::capacity::{Busy, Capacity, Held};
use std::io::BufRead;

/// Heads larger than this are refused (431): far beyond any real client's.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other(String),
}

impl Method {
    fn parse(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Other(name) => name,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub method: Method,
    /// the request target as sent: path and query string
    pub url: String,
    /// `x` of HTTP/1.x
    pub minor_version: u8,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("request head exceeds {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unsupported transfer coding {0:?}: only chunked is accepted")]
    UnsupportedCoding(String),
    #[error("request head not received in time")]
    TimedOut,
    #[error("reading the request: {0}")]
    Io(#[from] std::io::Error),
}

impl Head {
    /// The first value of a header, matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Every value of a header, in order, matched without regard to case.
    pub fn header_values<'h>(&'h self, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
        self.headers.iter().filter(move |(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Chunked when the Transfer-Encoding is chunked, else Content-Length
    /// (every copy must agree), else no body. Whatever two parsers could
    /// frame differently is refused (RFC 9112 sections 6.1 and 6.3): both
    /// headers, Transfer-Encoding twice or in HTTP/1.0, `chunked` twice.
    pub fn framing(&self) -> Result<Framing, HeadError> {
        let codings: Vec<&str> = self.header_values("Transfer-Encoding").collect();
        let has_length = self.header("Content-Length").is_some();
        match codings.as_slice() {
            [] => {}
            _ if self.minor_version == 0 => {
                return Err(HeadError::Malformed("Transfer-Encoding in an HTTP/1.0 request".into()))
            }
            _ if has_length => return Err(HeadError::Malformed("both Transfer-Encoding and Content-Length".into())),
            [coding] => return chunked_coding(coding),
            _ => return Err(HeadError::Malformed("more than one Transfer-Encoding header".into())),
        }
        let mut lengths = self.header_values("Content-Length");
        let Some(first) = lengths.next() else { return Ok(Framing::Length(0)) };
        let length = content_length(first)?;
        for other in lengths {
            if content_length(other)? != length {
                return Err(HeadError::Malformed("conflicting Content-Length headers".into()));
            }
        }
        Ok(Framing::Length(length))
    }

    /// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when asked.
    pub fn keep_alive(&self) -> bool {
        let tokens = self.header("Connection").unwrap_or("").to_ascii_lowercase();
        let has = |token: &str| tokens.split(',').any(|t| t.trim() == token);
        if self.minor_version >= 1 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }

    pub fn expects_continue(&self) -> bool {
        self.header("Expect").is_some_and(|value| value.trim().eq_ignore_ascii_case("100-continue"))
    }
}

/// Reads the next request head. `None` when the peer closed the connection
/// (or let the deadline pass) before sending a byte of it: the normal end of
/// a keep-alive connection.
pub fn read_head(reader: &mut dyn BufRead) -> Result<Option<Head>, HeadError> {
    let mut buffer: Vec<u8> = Vec::new();
    // the empty lines a client may send between requests (RFC 9112 section 2.2)
    let mut start: Option<usize> = None;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if start.is_none() => return Err(HeadError::Io(error)),
            Err(error) if is_timeout(&error) => return Err(HeadError::TimedOut),
            Err(error) => return Err(HeadError::Io(error)),
        };
        if available.is_empty() {
            return match start {
                None => Ok(None),
                Some(_) => Err(HeadError::Malformed("connection closed in the middle of a request head".into())),
            };
        }
        // never more than one byte past the bound, whatever the reader hands over
        let available = &available[..available.len().min(MAX_HEAD_BYTES + 1 - buffer.len())];
        let before = buffer.len();
        let searched_from = before.saturating_sub(3);
        buffer.extend_from_slice(available);
        if start.is_none() {
            start = buffer[before..].iter().position(|b| !matches!(b, b'\r' | b'\n')).map(|at| before + at);
        }
        let end = start.and_then(|start| head_end(&buffer, searched_from.max(start)));
        let taken = match end {
            Some(end) => available.len() - (buffer.len() - end),
            None => available.len(),
        };
        reader.consume(taken);
        match end {
            Some(end) if end <= MAX_HEAD_BYTES => {
                let start = start.expect("an end implies a start");
                return parse_head(&buffer[start..end]).map(Some);
            }
            Some(_) => return Err(HeadError::TooLarge),
            None if buffer.len() > MAX_HEAD_BYTES => return Err(HeadError::TooLarge),
            None => {}
        }
    }
}

pub(super) fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
}

/// Where the head ends: after the empty line that closes it. Bare-LF line
/// ends are found too, so that such a head is refused rather than waited for.
fn head_end(buffer: &[u8], from: usize) -> Option<usize> {
    (from..buffer.len()).find_map(|i| match &buffer[i..] {
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        [b'\n', b'\n', ..] => Some(i + 2),
        _ => None,
    })
}

/// What httparse lets through but a proxy in front may read otherwise
/// (request smuggling): bare LF or CR line ends, obs-fold continuation
/// lines, and anything but a token before a header's colon (`Name : v`).
fn check_head_lines(bytes: &[u8]) -> Result<(), HeadError> {
    for (i, &b) in bytes.iter().enumerate() {
        let bare_lf = b == b'\n' && (i == 0 || bytes[i - 1] != b'\r');
        let bare_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        if bare_lf || bare_cr {
            return Err(HeadError::Malformed("request head lines must end with CRLF".into()));
        }
    }
    let body = bytes.strip_suffix(b"\r\n\r\n").unwrap_or(bytes);
    for line in body.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err(HeadError::Malformed("obsolete line folding (a header line starting with whitespace)".into()));
        }
        let name = line.iter().take_while(|&&b| is_token_byte(b)).count();
        if name == 0 || line.get(name) != Some(&b':') {
            let shown = String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned();
            return Err(HeadError::Malformed(format!("invalid header line {shown:?}: expected `name: value`")));
        }
    }
    Ok(())
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_head(bytes: &[u8]) -> Result<Head, HeadError> {
    check_head_lines(bytes)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HeadError::Malformed("incomplete request head".into())),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(error) => return Err(HeadError::Malformed(error.to_string())),
    }
    let (Some(method), Some(path), Some(minor_version)) = (request.method, request.path, request.version) else {
        return Err(HeadError::Malformed("incomplete request line".into()));
    };
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
        .collect();
    if headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("Host")).count() > 1 {
        return Err(HeadError::Malformed("more than one Host header".into()));
    }
    Ok(Head { method: Method::parse(method), url: path.to_string(), minor_version, headers })
}

/// A Transfer-Encoding value: `chunked` alone is served; other codings are 501.
fn chunked_coding(value: &str) -> Result<Framing, HeadError> {
    let codings: Vec<String> = value.split(',').map(|coding| coding.trim().to_ascii_lowercase()).collect();
    if codings.iter().any(String::is_empty) {
        return Err(HeadError::Malformed(format!("invalid Transfer-Encoding {value:?}")));
    }
    if codings.iter().filter(|coding| coding.as_str() == "chunked").count() > 1 {
        return Err(HeadError::Malformed("chunked applied more than once".into()));
    }
    match codings.as_slice() {
        [only] if only == "chunked" => Ok(Framing::Chunked),
        _ => Err(HeadError::UnsupportedCoding(value.to_string())),
    }
}

/// `1*DIGIT` that fits in u64: no sign, no list, no spaces inside.
fn content_length(value: &str) -> Result<u64, HeadError> {
    let invalid = || HeadError::Malformed(format!("invalid Content-Length {value:?}"));
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse::<u64>().map_err(|_| invalid())
}

/// A request handed to a route: its head and its (unread) body.
pub struct Request<'a> {
    pub head: Head,
    body: Body<'a>,
    capacity: &'a Capacity,
    body_refused: bool,
}

impl<'a> Request<'a> {
    pub(super) fn new(head: Head, body: Body<'a>, capacity: &'a Capacity) -> Self {
        Request { head, body, capacity, body_refused: false }
    }

    /// The answer is given without reading the body, and the connection
    /// closes after it instead of reading past the body: a refused request
    /// then costs its head, not its upload (answering 429 under overload must
    /// be far cheaper than accepting).
    pub fn refuse_body(&mut self) {
        self.body_refused = true;
    }

    pub(super) fn body_refused(&self) -> bool {
        self.body_refused
    }

    /// One of the `workers` permits, for the work after the body is read (a
    /// slow body must not hold one); waits a bounded time, then [`Busy`].
    pub fn worker(&self) -> Result<Held<'a>, Busy> {
        self.capacity.worker()
    }

    /// Room for `bytes` more of buffered body, shared by all requests; waits a bounded time.
    pub fn body_budget(&self, bytes: usize) -> Result<Held<'a>, Busy> {
        self.capacity.body_bytes(bytes)
    }

    pub fn method(&self) -> &Method {
        &self.head.method
    }

    pub fn url(&self) -> &str {
        &self.head.url
    }

    /// The path without its query string.
    pub fn path(&self) -> &str {
        self.head.url.split('?').next().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body length a client declared with Content-Length (None when chunked).
    pub fn body_length(&self) -> Option<u64> {
        self.body.declared_length()
    }

    pub fn body(&mut self) -> &mut Body<'a> {
        &mut self.body
    }

    pub(super) fn into_body(self) -> Body<'a> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<Head>, HeadError> {
        read_head(&mut text.as_bytes())
    }

    fn with_headers(headers: &[(&str, &str)]) -> Head {
        Head {
            method: Method::Post,
            url: "/".into(),
            minor_version: 1,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn parses_method_target_version_and_headers() {
        let parsed = head("POST /v1/logs?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(parsed.method, Method::Post);
        assert_eq!(parsed.url, "/v1/logs?x=1");
        assert_eq!(parsed.minor_version, 1);
        assert_eq!(parsed.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(parsed.header("Host"), Some("a"));
        assert_eq!(parsed.header("Accept"), None);
    }

    #[test]
    fn stops_reading_at_the_end_of_the_head() {
        let mut input: &[u8] = b"\r\nGET /a HTTP/1.1\r\nHost: b\r\n\r\nbody bytes";
        let parsed = read_head(&mut input).unwrap().unwrap();
        assert_eq!(parsed.url, "/a");
        assert_eq!(input, b"body bytes");
    }

    #[test]
    fn end_of_stream_before_a_head_is_a_clean_close() {
        assert!(head("").unwrap().is_none());
        assert!(head("\r\n").unwrap().is_none());
        assert!(matches!(head("GET / HTTP/1.1\r\nHost"), Err(HeadError::Malformed(_))));
    }

    #[test]
    fn refuses_garbage_and_oversized_heads() {
        assert!(matches!(head("NOT HTTP\r\n\r\n"), Err(HeadError::Malformed(_))));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(head(&huge), Err(HeadError::TooLarge)));
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(matches!(head(&format!("GET / HTTP/1.1\r\n{many}\r\n")), Err(HeadError::TooLarge)));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(with_headers(&[]).framing().unwrap(), Framing::Length(0));
        assert_eq!(with_headers(&[("Content-Length", "42")]).framing().unwrap(), Framing::Length(42));
        assert_eq!(
            with_headers(&[("content-length", "7"), ("Content-Length", "7")]).framing().unwrap(),
            Framing::Length(7)
        );
        assert!(with_headers(&[("Content-Length", "7"), ("Content-Length", "8")]).framing().is_err());
        assert!(with_headers(&[("Content-Length", "-1")]).framing().is_err());
        assert!(with_headers(&[("Content-Length", "+5")]).framing().is_err());
        assert_eq!(with_headers(&[("Transfer-Encoding", "Chunked")]).framing().unwrap(), Framing::Chunked);
        assert!(matches!(
            with_headers(&[("Transfer-Encoding", "gzip, chunked")]).framing(),
            Err(HeadError::UnsupportedCoding(_))
        ));
    }

    fn framing_error(headers: &[(&str, &str)]) -> String {
        with_headers(headers).framing().unwrap_err().to_string()
    }

    #[test]
    fn framing_two_parsers_could_read_differently_is_refused() {
        assert_eq!(
            framing_error(&[("Transfer-Encoding", "chunked"), ("Content-Length", "3")]),
            "malformed request: both Transfer-Encoding and Content-Length"
        );
        assert_eq!(
            framing_error(&[("Transfer-Encoding", "chunked"), ("transfer-encoding", "chunked")]),
            "malformed request: more than one Transfer-Encoding header"
        );
        assert_eq!(
            framing_error(&[("Transfer-Encoding", "chunked, chunked")]),
            "malformed request: chunked applied more than once"
        );
        assert_eq!(framing_error(&[("Transfer-Encoding", "")]), "malformed request: invalid Transfer-Encoding \"\"");
        assert_eq!(
            framing_error(&[("Transfer-Encoding", "chunked,")]),
            "malformed request: invalid Transfer-Encoding \"chunked,\""
        );
        let mut old = with_headers(&[("Transfer-Encoding", "chunked")]);
        old.minor_version = 0;
        assert_eq!(
            old.framing().unwrap_err().to_string(),
            "malformed request: Transfer-Encoding in an HTTP/1.0 request"
        );
        for bad in ["", "5, 5", "1 2", " 5", "0x10", "18446744073709551616", "5;"] {
            assert_eq!(
                framing_error(&[("Content-Length", bad)]),
                format!("malformed request: invalid Content-Length {bad:?}"),
                "{bad:?}"
            );
        }
        assert_eq!(with_headers(&[("Content-Length", "007")]).framing().unwrap(), Framing::Length(7));
    }

    fn malformed(text: &str) -> String {
        match head(text) {
            Err(HeadError::Malformed(message)) => message,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn heads_a_proxy_could_read_otherwise_are_refused() {
        let crlf = "request head lines must end with CRLF";
        assert_eq!(malformed("GET / HTTP/1.1\nHost: a\n\n"), crlf);
        assert_eq!(malformed("GET / HTTP/1.1\r\nHost: a\n\r\n"), crlf);
        assert_eq!(malformed("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), crlf);
        assert_eq!(
            malformed("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"),
            "obsolete line folding (a header line starting with whitespace)"
        );
        assert_eq!(
            malformed("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n"),
            "invalid header line \"Content-Length : 5\": expected `name: value`"
        );
        assert_eq!(
            malformed("GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            "invalid header line \"no colon\": expected `name: value`"
        );
        assert_eq!(malformed("GET / HTTP/1.1\r\n: v\r\n\r\n"), "invalid header line \": v\": expected `name: value`");
        assert_eq!(malformed("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), "more than one Host header");
        assert!(head("GET / HTTP/1.1\r\nX-Empty:\r\n\r\n").unwrap().is_some(), "an empty value is a value");
    }

    #[test]
    fn endless_empty_lines_before_a_head_are_bounded() {
        let blank = "\r\n".repeat(MAX_HEAD_BYTES);
        assert!(matches!(head(&blank), Err(HeadError::TooLarge)));
    }

    #[test]
    fn an_endless_head_is_refused_after_reading_one_byte_past_the_bound() {
        let endless = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &vec![b'a'; 4 << 20]].concat();
        let mut input: &[u8] = &endless;
        assert!(matches!(read_head(&mut input), Err(HeadError::TooLarge)));
        assert_eq!(endless.len() - input.len(), MAX_HEAD_BYTES + 1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 300,
            rng_seed: proptest::test_runner::RngSeed::Fixed(13),
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn random_heads_never_panic_and_what_parses_is_well_formed(
            input in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'\r'), proptest::strategy::Just(b'\n'), proptest::strategy::Just(b':'),
                    proptest::strategy::Just(b' '), proptest::prelude::any::<u8>()
                ],
                0..3000,
            ),
            prefix in proptest::prelude::any::<bool>(),
        ) {
            let mut wire = if prefix { b"GET / HTTP/1.1\r\n".to_vec() } else { Vec::new() };
            wire.extend_from_slice(&input);
            let mut reader: &[u8] = &wire;
            if let Ok(Some(parsed)) = read_head(&mut reader) {
                proptest::prop_assert!(parsed.headers.len() <= MAX_HEADERS);
                proptest::prop_assert!(parsed.url.len() <= MAX_HEAD_BYTES);
                let _ = parsed.framing();
            }
        }

        #[test]
        fn generated_heads_parse_back_to_their_fields(
            path in "/[a-z0-9/_.-]{0,40}",
            fields in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,20}", "[ -~]{0,40}"), 0..20),
        ) {
            let mut wire = format!("POST {path} HTTP/1.1\r\n");
            for (name, value) in &fields {
                wire.push_str(&format!("{name}: {value}\r\n"));
            }
            wire.push_str("\r\nBODY");
            let mut reader: &[u8] = wire.as_bytes();
            let hosts = fields.iter().filter(|(name, _)| name.eq_ignore_ascii_case("host")).count();
            match read_head(&mut reader) {
                Ok(Some(parsed)) => {
                    proptest::prop_assert_eq!(&parsed.url, &path);
                    let expected: Vec<(String, String)> =
                        fields.iter().map(|(name, value)| (name.clone(), value.trim().to_string())).collect();
                    proptest::prop_assert_eq!(parsed.headers, expected);
                    proptest::prop_assert_eq!(reader, b"BODY");
                }
                other => proptest::prop_assert!(hosts > 1, "{:?}", other),
            }
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection_header() {
        let mut h = with_headers(&[]);
        assert!(h.keep_alive());
        h.headers.push(("Connection".into(), "Close".into()));
        assert!(!h.keep_alive());
        let mut old = with_headers(&[]);
        old.minor_version = 0;
        assert!(!old.keep_alive());
        old.headers.push(("Connection".into(), "keep-alive".into()));
        assert!(old.keep_alive());
    }
}
