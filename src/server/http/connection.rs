//! One client connection on its own thread: read a head, let the handler
//! answer, write the answer, and again for as long as the client keeps the
//! connection open.

use super::body::Body;
use super::request::{read_head, Head, HeadError, Method, Request};
use super::response::encode;
use super::Shared;
use crate::server::Reply;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// An idle keep-alive connection is closed after this long (a thread each).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A client that stalls this long inside a request or its answer is dropped.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);
/// Unread body bytes the server still reads past to keep a connection open.
const DISCARD_LIMIT: u64 = 1 << 20;
const READ_BUFFER: usize = 64 * 1024;
/// How long a closing connection still reads what the client sends (see [`close_after_answer`]).
const LINGER: Duration = Duration::from_secs(2);

pub(super) fn serve(stream: TcpStream, shared: &Shared, id: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(TRANSFER_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::with_capacity(READ_BUFFER, read_half);
    let mut writer = stream;
    loop {
        let _ = reader.get_ref().set_read_timeout(Some(IDLE_TIMEOUT));
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            // closed, reset or idle too long: nobody is waiting for an answer
            Ok(None) | Err(HeadError::Io(_)) => return,
            Err(error) => {
                refuse(&mut writer, &error);
                return close_after_answer(&mut reader, &writer);
            }
        };
        // after `stop` began, a new request is not started: the client sees the connection close
        if !shared.begin_request(id) {
            return;
        }
        let _ = reader.get_ref().set_read_timeout(Some(TRANSFER_TIMEOUT));
        let keep_alive = answer(head, &mut reader, &mut writer, shared);
        shared.end_request(id);
        if !keep_alive {
            return close_after_answer(&mut reader, &writer);
        }
        if shared.is_stopping() {
            return;
        }
    }
}

/// Answers one request; returns whether the connection can carry another.
fn answer(head: Head, reader: &mut BufReader<TcpStream>, writer: &mut TcpStream, shared: &Shared) -> bool {
    let framing = match head.framing() {
        Ok(framing) => framing,
        Err(error) => {
            refuse(writer, &error);
            return false;
        }
    };
    let with_body = head.method != Method::Head;
    // both lengths given: the message was framed by Transfer-Encoding, but a proxy in front
    // may have read it otherwise; do not read another request from this connection
    let ambiguous = head.header("Transfer-Encoding").is_some() && head.header("Content-Length").is_some();
    let mut keep_alive = head.keep_alive() && !ambiguous;
    let continue_to: Option<&mut dyn Write> = if head.expects_continue() { Some(&mut *writer) } else { None };
    let mut request = Request::new(head, Body::new(framing, reader, continue_to));
    let reply = {
        let _permit = shared.permits.acquire();
        (shared.handler)(&mut request)
    };
    if !request.into_body().discard_rest(DISCARD_LIMIT) || shared.is_stopping() {
        keep_alive = false;
    }
    writer.write_all(&encode(&reply, with_body, keep_alive)).is_ok() && keep_alive
}

/// Closes after an answer without losing it: closing a socket with unread
/// request bytes (a body the route refused before reading it) makes the kernel
/// send a reset, which can destroy the answer before the client reads it (the
/// "lingering close" of RFC 9112, section 9.6). So
/// the write side is closed first and what still arrives is read and dropped,
/// for at most [`LINGER`].
fn close_after_answer(reader: &mut BufReader<TcpStream>, writer: &TcpStream) {
    let _ = writer.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let _ = reader.get_ref().set_read_timeout(Some(LINGER));
    let mut discard = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match reader.read(&mut discard) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Answers a request whose head cannot be served; the connection then closes.
fn refuse(writer: &mut TcpStream, error: &HeadError) {
    let status = match error {
        HeadError::TooLarge => 431,
        HeadError::UnsupportedCoding(_) => 501,
        HeadError::Malformed(_) | HeadError::Io(_) => 400,
    };
    let _ = writer.write_all(&encode(&Reply::text(status, &error.to_string()), true, false));
}
