//! One client connection on its own thread: read a head, let the handler
//! answer, write the answer, and again for as long as the client keeps the
//! connection open. Every read keeps a pace ([`super::pace`]): the head by
//! its deadline, the body at a minimum rate, the wait between requests
//! bounded.

use super::body::Body;
use super::pace::{write_by, Pace, PacedStream};
use super::request::{read_head, Head, HeadError, Method, Request};
use super::response::encode;
use super::{Shared, WRITE_RATE};
use crate::server::Reply;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Unread body bytes the server still reads past to keep a connection open.
const DISCARD_LIMIT: u64 = 1 << 20;
const READ_BUFFER: usize = 64 * 1024;
/// How long a closing connection still reads what the client sends (see [`close_after_answer`]).
const LINGER: Duration = Duration::from_secs(2);
/// The `100 Continue` line is tiny: a client that does not take it in this long is gone.
const CONTINUE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Reader = BufReader<PacedStream>;

pub(super) fn serve(stream: TcpStream, shared: &Shared, id: u64, accepted: Instant) {
    let limits = &shared.limits;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(CONTINUE_WRITE_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else { return };
    // the first head is due from the accept: a connection that sends nothing holds its slot no longer
    let first = Pace::Until { until: accepted + limits.head_timeout };
    let paced = PacedStream::new(read_half, first, limits.head_timeout, limits.body_rate);
    let mut reader = BufReader::with_capacity(READ_BUFFER, paced);
    let mut writer = stream;
    let mut first_request = true;
    loop {
        if !first_request {
            let now = Instant::now();
            // a pipelined request already begun has its head deadline running
            let pace = if reader.buffer().is_empty() {
                Pace::Idle { until: now + limits.idle_timeout }
            } else {
                Pace::Until { until: now + limits.head_timeout }
            };
            reader.get_mut().set_pace(pace);
        }
        first_request = false;
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            // closed, reset or idle too long: nobody is waiting for an answer
            Ok(None) | Err(HeadError::Io(_)) => return,
            Err(error) => {
                refuse(&mut writer, &error, shared);
                return close_after_answer(&mut reader, &writer);
            }
        };
        // after `stop` began, a new request is not started: the client sees the connection close
        if !shared.begin_request(id) {
            return;
        }
        reader.get_mut().set_pace(Pace::Body { window: None });
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
fn answer(head: Head, reader: &mut Reader, writer: &mut TcpStream, shared: &Shared) -> bool {
    let framing = match head.framing() {
        Ok(framing) => framing,
        Err(error) => {
            refuse(writer, &error, shared);
            return false;
        }
    };
    let with_body = head.method != Method::Head;
    let mut keep_alive = head.keep_alive();
    let continue_to: Option<&mut dyn Write> = if head.expects_continue() { Some(&mut *writer) } else { None };
    let mut request = Request::new(head, Body::new(framing, reader, continue_to), &shared.capacity);
    let reply = (shared.handler)(&mut request);
    let reads_on = !request.body_refused();
    if !(reads_on && request.into_body().discard_rest(DISCARD_LIMIT)) || shared.is_stopping() {
        keep_alive = false;
    }
    write_reply(writer, &reply, with_body, keep_alive, shared) && keep_alive
}

fn write_reply(writer: &mut TcpStream, reply: &Reply, with_body: bool, keep_alive: bool, shared: &Shared) -> bool {
    let bytes = encode(reply, with_body, keep_alive);
    let allowance = Duration::from_secs(bytes.len() as u64 / WRITE_RATE);
    let deadline = Instant::now() + shared.limits.write_timeout + allowance;
    let written = write_by(writer, &bytes, deadline).is_ok();
    // the socket's timeout is shared with the `100 Continue` of the next request
    let _ = writer.set_write_timeout(Some(CONTINUE_WRITE_TIMEOUT));
    written
}

/// Closes after an answer without losing it: closing a socket with unread
/// request bytes (a body the route refused before reading it) makes the kernel
/// send a reset, which can destroy the answer before the client reads it (the
/// "lingering close" of RFC 9112, section 9.6). So
/// the write side is closed first and what still arrives is read and dropped,
/// for at most [`LINGER`].
fn close_after_answer(reader: &mut Reader, writer: &TcpStream) {
    let _ = writer.shutdown(Shutdown::Write);
    reader.get_mut().set_pace(Pace::Until { until: Instant::now() + LINGER });
    let buffered = reader.buffer().len();
    reader.consume(buffered);
    let mut discard = [0u8; 16 * 1024];
    loop {
        match reader.get_mut().read(&mut discard) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Answers a request whose head cannot be served; the connection then closes.
fn refuse(writer: &mut TcpStream, error: &HeadError, shared: &Shared) {
    let status = match error {
        HeadError::TooLarge => 431,
        HeadError::UnsupportedCoding(_) => 501,
        HeadError::TimedOut => 408,
        HeadError::Malformed(_) | HeadError::Io(_) => 400,
    };
    let text = match error {
        HeadError::TimedOut => {
            format!("request head not received within {:?}", shared.limits.head_timeout)
        }
        other => other.to_string(),
    };
    write_reply(writer, &Reply::text(status, &text), true, false, shared);
}
