//! One request as a route sees it: the head, parsed with httparse, and a
//! reader over its body.

use super::body::Body;
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

/// How the body of a request is delimited (RFC 9112 section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
}

#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("request head exceeds {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unsupported transfer coding {0:?}: only chunked is accepted")]
    UnsupportedCoding(String),
    #[error("reading the request: {0}")]
    Io(#[from] std::io::Error),
}

impl Head {
    /// The first value of a header, matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Chunked when the Transfer-Encoding is chunked (other codings are
    /// refused), else Content-Length (every copy must agree), else no body.
    pub fn framing(&self) -> Result<Framing, HeadError> {
        if let Some(coding) = self.header("Transfer-Encoding") {
            return if coding.trim().eq_ignore_ascii_case("chunked") {
                Ok(Framing::Chunked)
            } else {
                Err(HeadError::UnsupportedCoding(coding.to_string()))
            };
        }
        let mut lengths = self.headers.iter().filter(|(field, _)| field.eq_ignore_ascii_case("Content-Length"));
        let Some((_, first)) = lengths.next() else { return Ok(Framing::Length(0)) };
        let parse = |value: &str| {
            let value = value.trim();
            value
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| HeadError::Malformed(format!("invalid Content-Length {value:?}")))
        };
        let length = parse(first)?;
        for (_, other) in lengths {
            if parse(other)? != length {
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
/// before sending a byte of it (the normal end of a keep-alive connection).
pub fn read_head(reader: &mut dyn BufRead) -> Result<Option<Head>, HeadError> {
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return if buffer.iter().all(|b| b.is_ascii_whitespace()) {
                Ok(None)
            } else {
                Err(HeadError::Malformed("connection closed in the middle of a request head".into()))
            };
        }
        let searched_from = buffer.len().saturating_sub(3);
        buffer.extend_from_slice(available);
        match head_end(&buffer, searched_from) {
            Some(end) => {
                let taken = available.len() - (buffer.len() - end);
                reader.consume(taken);
                if end > MAX_HEAD_BYTES {
                    return Err(HeadError::TooLarge);
                }
                buffer.truncate(end);
                return parse_head(&buffer).map(Some);
            }
            None => {
                let taken = available.len();
                reader.consume(taken);
                if buffer.len() > MAX_HEAD_BYTES {
                    return Err(HeadError::TooLarge);
                }
            }
        }
    }
}

/// Where the head ends: after the empty line that closes it (CRLF or bare LF
/// line ends), skipping the empty lines a client may send between requests.
fn head_end(buffer: &[u8], from: usize) -> Option<usize> {
    let start = buffer.iter().position(|b| !b.is_ascii_whitespace())?;
    let from = from.max(start);
    (from..buffer.len()).find_map(|i| match &buffer[i..] {
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        [b'\n', b'\n', ..] => Some(i + 2),
        _ => None,
    })
}

fn parse_head(bytes: &[u8]) -> Result<Head, HeadError> {
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
    let headers = request
        .headers
        .iter()
        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
        .collect();
    Ok(Head { method: Method::parse(method), url: path.to_string(), minor_version, headers })
}

/// A request handed to a route: its head and its (unread) body.
pub struct Request<'a> {
    pub head: Head,
    body: Body<'a>,
}

impl<'a> Request<'a> {
    pub fn new(head: Head, body: Body<'a>) -> Self {
        Request { head, body }
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
        let mut input: &[u8] = b"\r\nGET /a HTTP/1.1\nHost: b\n\nbody bytes";
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
        assert_eq!(
            with_headers(&[("Transfer-Encoding", "chunked"), ("Content-Length", "3")]).framing().unwrap(),
            Framing::Chunked
        );
        assert!(matches!(
            with_headers(&[("Transfer-Encoding", "gzip, chunked")]).framing(),
            Err(HeadError::UnsupportedCoding(_))
        ));
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
