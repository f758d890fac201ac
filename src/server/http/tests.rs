//! The transport over real sockets: keep-alive, pipelining, chunked bodies,
//! 100-continue, bad heads, many connections at once, and stop.

use super::*;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

fn start(handler: impl Fn(&mut Request<'_>) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    Server::start(listener, 4, Box::new(handler)).unwrap()
}

/// Answers with the method, path and the body it read.
fn echo(request: &mut Request<'_>) -> Reply {
    let mut body = String::new();
    request.body().read_to_string(&mut body).unwrap();
    Reply::text(200, &format!("{} {} {body}", request.method().as_str(), request.path()))
}

fn connect(server: &Server) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(server.local_addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

/// One response: (status, headers in lower case, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, String) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap_or_else(|| panic!("no status line: {line:?}")).parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize =
        headers.iter().find(|(name, _)| name == "content-length").map_or(0, |(_, value)| value.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, headers, String::from_utf8(body).unwrap())
}

fn closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    matches!(reader.read_to_end(&mut rest), Ok(0)) || rest.is_empty()
}

#[test]
fn every_one_of_many_simultaneous_connections_is_answered() {
    let server = start(echo);
    let clients: Vec<_> = (0..48).map(|_| connect(&server)).collect();
    let mut clients: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (mut stream, reader))| {
            let body = format!("client {i}");
            let request = format!("POST /n HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            stream.write_all(request.as_bytes()).unwrap();
            (stream, reader)
        })
        .collect();
    for (i, (_, reader)) in clients.iter_mut().enumerate() {
        let (status, _, body) = read_response(reader);
        assert_eq!((status, body), (200, format!("POST /n client {i}")));
    }
    server.stop();
}

#[test]
fn keep_alive_connections_carry_pipelined_requests_in_order() {
    let server = start(echo);
    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\none\
              GET /b?q=1 HTTP/1.1\r\n\r\n\
              POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\ntw\r\n1\r\no\r\n0\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_response(&mut reader).2, "POST /a one");
    assert_eq!(read_response(&mut reader).2, "GET /b ");
    assert_eq!(read_response(&mut reader).2, "POST /c two");
    stream.write_all(b"GET /d HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (200, "GET /d "));
    assert!(headers.contains(&("connection".into(), "close".into())));
    assert!(closed(&mut reader));
    server.stop();
}

#[test]
fn an_unread_body_is_skipped_so_the_next_request_still_parses() {
    let server = start(|request: &mut Request<'_>| Reply::text(401, &format!("no {}", request.path())));
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader).2, "no /a");
    assert_eq!(read_response(&mut reader).2, "no /b");
    server.stop();
}

#[test]
fn expect_continue_is_answered_when_the_body_is_read_and_not_before() {
    let server = start(|request: &mut Request<'_>| {
        if request.path() == "/refuse" {
            return Reply::text(413, "too large");
        }
        echo(request)
    });
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"POST /ok HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    reader.read_line(&mut line).unwrap();
    stream.write_all(b"data").unwrap();
    assert_eq!(read_response(&mut reader).2, "POST /ok data");

    stream.write_all(b"POST /refuse HTTP/1.1\r\nContent-Length: 9999\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let (status, headers, _) = read_response(&mut reader);
    assert_eq!(status, 413);
    assert!(headers.contains(&("connection".into(), "close".into())), "the body was never asked for");
    assert!(closed(&mut reader));
    server.stop();
}

#[test]
fn bad_heads_get_an_error_status_and_a_closed_connection() {
    let server = start(echo);
    for (request, status) in [
        ("NONSENSE\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ] {
        let (mut stream, mut reader) = connect(&server);
        stream.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut reader).0, status, "{request:?}");
        assert!(closed(&mut reader));
    }
    let (mut stream, mut reader) = connect(&server);
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(request::MAX_HEAD_BYTES));
    let _ = stream.write_all(huge.as_bytes());
    assert_eq!(read_response(&mut reader).0, 431);
    server.stop();
}

#[test]
fn head_requests_get_the_length_without_the_body() {
    let server = start(|_: &mut Request<'_>| Reply::text(200, "ready"));
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"HEAD /health HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\n").unwrap();
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        reader.read_line(&mut head).unwrap();
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("Content-Length: 5\r\n"), "{head}");
    assert_eq!(read_response(&mut reader).2, "ready", "the next answer starts right after the HEAD one");
    server.stop();
}

#[test]
fn a_panicking_handler_loses_its_connection_but_not_the_server() {
    let server = start(|request: &mut Request<'_>| {
        if request.path() == "/panic" {
            panic!("handler bug");
        }
        echo(request)
    });
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"GET /panic HTTP/1.1\r\n\r\n").unwrap();
    assert!(closed(&mut reader));
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"GET /fine HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader).2, "GET /fine ");
    server.stop();
}

#[test]
fn stop_answers_requests_in_flight_and_closes_idle_connections() {
    let started = Arc::new(AtomicUsize::new(0));
    let seen = started.clone();
    let server = start(move |request: &mut Request<'_>| {
        seen.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        echo(request)
    });
    let (_idle, mut idle_reader) = connect(&server);
    let (mut busy, mut busy_reader) = connect(&server);
    busy.write_all(b"POST /slow HTTP/1.1\r\nContent-Length: 2\r\n\r\nok").unwrap();
    while started.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let address = server.local_addr;
    server.stop();
    let (status, headers, body) = read_response(&mut busy_reader);
    assert_eq!((status, body.as_str()), (200, "POST /slow ok"));
    assert!(headers.contains(&("connection".into(), "close".into())));
    assert!(closed(&mut busy_reader));
    assert!(closed(&mut idle_reader));
    assert!(TcpStream::connect(address).is_err(), "the port is closed");
}

#[test]
fn a_body_refused_unread_is_answered_while_the_client_still_sends_it() {
    let server = start(|request: &mut Request<'_>| {
        Reply::text(413, &format!("{} bytes is over the limit", request.body_length().unwrap_or(0)))
    });
    let (mut stream, mut reader) = connect(&server);
    let body = vec![b'x'; 8 << 20];
    stream.write_all(format!("POST /big HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes()).unwrap();
    // the answer comes before the body is read; the client may still be sending it
    let _ = stream.write_all(&body);
    let (status, headers, text) = read_response(&mut reader);
    assert_eq!((status, text.as_str()), (413, "8388608 bytes is over the limit"));
    assert!(headers.contains(&("connection".into(), "close".into())));
    server.stop();
}

#[test]
fn a_request_framed_two_ways_is_answered_and_the_connection_closed() {
    let server = start(echo);
    let (mut stream, mut reader) = connect(&server);
    stream
        .write_all(b"POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
        .unwrap();
    let (_, headers, body) = read_response(&mut reader);
    assert_eq!(body, "POST /a x");
    assert!(headers.contains(&("connection".into(), "close".into())));
    assert!(closed(&mut reader));
    server.stop();
}
