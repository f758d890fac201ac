//! A request body as a reader: exactly Content-Length bytes, or the chunked
//! transfer coding decoded. A client that asked to wait (`Expect:
//! 100-continue`) is told to go on at the first read, so a request refused
//! from its head alone (401, 413) never has its body sent at all.

use super::chunked::ChunkedDecoder;
use std::io::{self, BufRead, Read, Write};

/// How the body of a request is delimited (RFC 9112 section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
}

pub struct Body<'a> {
    source: Source<'a>,
    declared: Option<u64>,
    /// where `100 Continue` goes before the first read, while the client waits for it
    continue_to: Option<&'a mut dyn Write>,
}

enum Source<'a> {
    Length(io::Take<&'a mut dyn BufRead>),
    Chunked(ChunkedDecoder<&'a mut dyn BufRead>),
}

impl<'a> Body<'a> {
    pub fn new(framing: Framing, reader: &'a mut dyn BufRead, continue_to: Option<&'a mut dyn Write>) -> Self {
        let source = match framing {
            Framing::Length(length) => Source::Length(reader.take(length)),
            Framing::Chunked => Source::Chunked(ChunkedDecoder::new(reader)),
        };
        let declared = match framing {
            Framing::Length(length) => Some(length),
            Framing::Chunked => None,
        };
        let continue_to = continue_to.filter(|_| framing != Framing::Length(0));
        Body { source, declared, continue_to }
    }

    /// The length the client declared (None for a chunked body).
    pub fn declared_length(&self) -> Option<u64> {
        self.declared
    }

    fn at_end(&self) -> bool {
        match &self.source {
            Source::Length(take) => take.limit() == 0,
            Source::Chunked(chunks) => chunks.is_done(),
        }
    }

    /// Reads and drops what the route left unread, so that the next request
    /// on the connection starts at its head. False when that cannot be done
    /// or is not worth it (over `limit` bytes left, a broken body, a client
    /// still waiting for `100 Continue`): the connection must close instead.
    pub fn discard_rest(&mut self, limit: u64) -> bool {
        if self.at_end() {
            return true;
        }
        if self.continue_to.is_some() {
            return false;
        }
        let copied = io::copy(&mut self.by_ref().take(limit + 1), &mut io::sink());
        matches!(copied, Ok(n) if n <= limit) && self.at_end()
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(out) = self.continue_to.take() {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            out.flush()?;
        }
        match &mut self.source {
            Source::Length(take) => {
                let read = take.read(buf)?;
                if read == 0 && !buf.is_empty() && take.limit() > 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside the body"));
                }
                Ok(read)
            }
            Source::Chunked(chunks) => chunks.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(framing: Framing, input: &[u8]) -> (io::Result<Vec<u8>>, Vec<u8>) {
        let mut reader: &[u8] = input;
        let mut out = Vec::new();
        let result = Body::new(framing, &mut reader, None).read_to_end(&mut out).map(|_| out);
        (result, reader.to_vec())
    }

    #[test]
    fn length_framing_reads_exactly_the_declared_bytes() {
        let (body, rest) = read_all(Framing::Length(5), b"helloGET / HTTP/1.1");
        assert_eq!(body.unwrap(), b"hello");
        assert_eq!(rest, b"GET / HTTP/1.1");
    }

    #[test]
    fn a_body_cut_short_is_an_error_not_a_short_body() {
        let (body, _) = read_all(Framing::Length(10), b"hello");
        assert_eq!(body.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn chunked_framing_decodes_and_stops_after_the_last_chunk() {
        let (body, rest) = read_all(Framing::Chunked, b"3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\n\r\nNEXT");
        assert_eq!(body.unwrap(), b"hello");
        assert_eq!(rest, b"NEXT");
        let (broken, _) = read_all(Framing::Chunked, b"zz\r\nhel\r\n");
        assert!(broken.is_err());
    }

    #[test]
    fn unread_rest_is_discarded_up_to_a_limit() {
        let mut reader: &[u8] = b"0123456789NEXT";
        {
            let mut body = Body::new(Framing::Length(10), &mut reader, None);
            let mut first = [0u8; 4];
            body.read_exact(&mut first).unwrap();
            assert!(body.discard_rest(100));
        }
        assert_eq!(reader, b"NEXT");

        let mut reader: &[u8] = b"0123456789NEXT";
        let mut body = Body::new(Framing::Length(10), &mut reader, None);
        assert!(!body.discard_rest(3), "more than the limit left: close instead");
    }

    #[test]
    fn continue_is_sent_at_the_first_read_and_only_then() {
        let mut sent = Vec::new();
        let mut reader: &[u8] = b"abc";
        let mut out = String::new();
        {
            let mut body = Body::new(Framing::Length(3), &mut reader, Some(&mut sent));
            assert!(!body.discard_rest(100), "an unasked body is not drained: the client may not send it");
            body.read_to_string(&mut out).unwrap();
        }
        assert_eq!(out, "abc");
        assert_eq!(sent, b"HTTP/1.1 100 Continue\r\n\r\n");

        let mut sent = Vec::new();
        let mut reader: &[u8] = b"";
        assert!(Body::new(Framing::Length(0), &mut reader, Some(&mut sent)).discard_rest(0));
        assert!(sent.is_empty(), "no body, nothing to continue");
    }
}
