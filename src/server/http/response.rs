//! A [`Reply`] as HTTP/1.1 response bytes, written with one `write_all`.

use crate::server::Reply;
use std::io::Write;

/// The response bytes; `with_body` false for HEAD (the length is still told).
pub fn encode(reply: &Reply, with_body: bool, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(192 + if with_body { reply.body.len() } else { 0 });
    let _ =
        write!(out, "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n", reply.status, reason(reply.status), reply.content_type);
    for (name, value) in &reply.headers {
        // a value with a line break would let its text forge headers
        if !value.contains(['\r', '\n']) {
            let _ = write!(out, "{name}: {value}\r\n");
        }
    }
    let _ = write!(out, "Content-Length: {}\r\n", reply.body.len());
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if with_body {
        out.extend_from_slice(&reply.body);
    }
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_headers_length_and_body() {
        let reply = Reply::text(429, "busy").with_header("Retry-After", "1");
        let bytes = encode(&reply, true, true);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Retry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"
        );
    }

    #[test]
    fn head_answers_keep_the_length_and_drop_the_body_and_close_is_announced() {
        let bytes = encode(&Reply::text(200, "ready"), false, false);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn header_values_with_line_breaks_are_dropped() {
        let reply = Reply::text(200, "").with_header("X-Test", "a\r\nSet-Cookie: b");
        let text = String::from_utf8(encode(&reply, true, true)).unwrap();
        assert!(!text.contains("Set-Cookie"), "{text}");
    }
}
