//! The transport over real sockets: keep-alive, pipelining, chunked bodies,
//! 100-continue, bad heads, many connections at once, and stop; and the
//! hostile clients: endless chunk lines, slow heads and bodies, slowloris,
//! bodies that would hold workers, smuggling-prone framing.

use super::*;
use crate::server::read_body;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

fn start(handler: impl Fn(&mut Request<'_>) -> Reply + Send + Sync + 'static) -> Server {
    start_with(4, Limits::default(), handler)
}

fn start_with(
    workers: usize,
    limits: Limits,
    handler: impl Fn(&mut Request<'_>) -> Reply + Send + Sync + 'static,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    Server::start(listener, workers, limits, Box::new(handler)).unwrap()
}

/// As the routes do: the body through `read_body`, then a worker for the answer.
fn buffered_echo(request: &mut Request<'_>) -> Reply {
    let body = match read_body(request, 4 << 20) {
        Ok(body) => body,
        Err(error) => return error.reply(),
    };
    let _worker = match request.worker() {
        Ok(worker) => worker,
        Err(busy) => return Reply::text(503, &busy.to_string()).with_header("Retry-After", "1"),
    };
    Reply::text(200, &format!("{} {}", request.path(), String::from_utf8_lossy(&body)))
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
fn framing_a_proxy_could_read_otherwise_is_refused_and_the_connection_closed() {
    let server = start(echo);
    let chunked = "1\r\nx\r\n0\r\n\r\n";
    for (head, text) in [
        (
            "POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "malformed request: both Transfer-Encoding and Content-Length",
        ),
        (
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "malformed request: more than one Transfer-Encoding header",
        ),
        (
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "malformed request: chunked applied more than once",
        ),
        (
            "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "malformed request: Transfer-Encoding in an HTTP/1.0 request",
        ),
        (
            "POST /a HTTP/1.1\nTransfer-Encoding: chunked\n\n",
            "malformed request: request head lines must end with CRLF",
        ),
        (
            "POST /a HTTP/1.1\r\nX: a\r\n  b\r\n\r\n",
            "malformed request: obsolete line folding (a header line starting with whitespace)",
        ),
        (
            "POST /a HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
            "malformed request: invalid header line \"Transfer-Encoding : chunked\": expected `name: value`",
        ),
        ("POST /a HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", "malformed request: invalid Content-Length \"1, 1\""),
    ] {
        let (mut stream, mut reader) = connect(&server);
        stream.write_all(format!("{head}{chunked}").as_bytes()).unwrap();
        let (status, headers, body) = read_response(&mut reader);
        assert_eq!((status, body.as_str()), (400, text), "{head:?}");
        assert!(headers.contains(&("connection".into(), "close".into())));
        assert!(closed(&mut reader), "{head:?}");
    }
    server.stop();
}

#[test]
fn an_endless_chunk_size_line_is_cut_at_its_bound_and_the_connection_closed() {
    let server = start(buffered_echo);
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    // far more than the bound; the answer comes while it is still being sent
    let zeros = vec![b'0'; 4 << 20];
    let writer = std::thread::spawn(move || {
        let _ = stream.write_all(&zeros);
        stream
    });
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (400, "reading request body: chunk-size line exceeds 4096 bytes"));
    assert!(headers.contains(&("connection".into(), "close".into())));
    drop(writer.join().unwrap());
    server.stop();
}

#[test]
fn chunk_sizes_beyond_u64_and_bare_lf_chunk_lines_are_refused() {
    let server = start(buffered_echo);
    for (body, text) in [
        ("10000000000000000\r\n", "reading request body: chunk size does not fit in 64 bits"),
        ("1\nx\r\n0\r\n\r\n", "reading request body: chunk framing lines must end with CRLF (bare LF or CR)"),
        ("1\r\nx\r\n0\r\nT: v\r\n T2\r\n\r\n", "reading request body: malformed trailer field"),
    ] {
        let (mut stream, mut reader) = connect(&server);
        stream.write_all(format!("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{body}").as_bytes()).unwrap();
        let (status, headers, answer) = read_response(&mut reader);
        assert_eq!((status, answer.as_str()), (400, text), "{body:?}");
        assert!(headers.contains(&("connection".into(), "close".into())));
    }
    server.stop();
}

fn short_deadlines() -> Limits {
    Limits {
        head_timeout: Duration::from_millis(500),
        body_rate: MinRate { min_bytes: 100, window: Duration::from_millis(500) },
        ..Limits::default()
    }
}

#[test]
fn a_head_not_finished_by_its_deadline_gets_408_and_a_silent_connection_is_closed() {
    let server = start_with(4, short_deadlines(), echo);
    let (mut stream, mut reader) = connect(&server);
    let started = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (408, "request head not received within 500ms"));
    assert!(headers.contains(&("connection".into(), "close".into())));
    assert!(closed(&mut reader));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // a trickle of one byte at a time does not extend the deadline
    let (mut stream, mut reader) = connect(&server);
    let trickle = std::thread::spawn(move || {
        for byte in b"GET / HTTP/1.1\r\nX-Slow: abcdefghijklmnopqrstuvwxyz" {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(read_response(&mut reader).0, 408);
    trickle.join().unwrap();

    let (_stream, mut reader) = connect(&server);
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0, "no request, no answer: just closed");
    server.stop();
}

#[test]
fn a_kept_alive_connection_gets_the_idle_wait_and_then_a_head_deadline() {
    let limits = Limits { idle_timeout: Duration::from_secs(30), ..short_deadlines() };
    let server = start_with(4, limits, echo);
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader).2, "GET /a ");
    // longer than the head deadline, well inside the idle wait
    std::thread::sleep(Duration::from_millis(1500));
    stream.write_all(b"GET /b HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader).2, "GET /b ");
    server.stop();
}

#[test]
fn a_body_slower_than_the_minimum_rate_gets_408() {
    let server = start_with(4, short_deadlines(), buffered_echo);
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"POST /a HTTP/1.1\r\nContent-Length: 1000\r\n\r\n0123456789").unwrap();
    let started = Instant::now();
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (408, "reading request body: request body slower than 100 bytes per 500ms"));
    assert!(headers.contains(&("connection".into(), "close".into())));
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop();
}

#[test]
fn slow_bodies_hold_no_worker() {
    // two workers, four clients stuck inside their bodies: a fifth request is still served
    let server = start_with(2, Limits::default(), buffered_echo);
    let stuck: Vec<_> = (0..4)
        .map(|_| {
            let (mut stream, reader) = connect(&server);
            stream.write_all(b"POST /slow HTTP/1.1\r\nContent-Length: 100\r\n\r\nx").unwrap();
            (stream, reader)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"POST /fast HTTP/1.1\r\nContent-Length: 2\r\n\r\nok").unwrap();
    assert_eq!(read_response(&mut reader).2, "/fast ok");
    drop(stuck);
    server.stop();
}

#[test]
fn a_request_that_cannot_get_a_worker_in_time_gets_503_with_retry_after() {
    let limits = Limits { capacity_wait: Duration::from_millis(300), ..Limits::default() };
    let holding = Arc::new(AtomicUsize::new(0));
    let held = holding.clone();
    let server = start_with(1, limits, move |request: &mut Request<'_>| {
        if request.path() == "/hold" {
            let _worker = request.worker().unwrap();
            held.store(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(2));
            return Reply::text(200, "held");
        }
        buffered_echo(request)
    });
    let (mut holder, mut holder_reader) = connect(&server);
    holder.write_all(b"GET /hold HTTP/1.1\r\n\r\n").unwrap();
    while holding.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"GET /other HTTP/1.1\r\n\r\n").unwrap();
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (503, "all 1 workers stayed busy for 300ms: try again later"));
    assert!(headers.contains(&("retry-after".into(), "1".into())));
    assert_eq!(read_response(&mut holder_reader).2, "held");
    server.stop();
}

#[test]
fn buffered_bodies_share_a_bounded_budget() {
    let limits = Limits { body_budget: 2 << 20, capacity_wait: Duration::from_millis(300), ..Limits::default() };
    let server = start_with(4, limits, buffered_echo);
    // holds 1.5 MiB of the budget: a second megabyte step is not there
    let (mut holder, holder_reader) = connect(&server);
    holder.write_all(format!("POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", 3 << 20).as_bytes()).unwrap();
    holder.write_all(&vec![b'x'; (3 << 19) - 10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(format!("POST /b HTTP/1.1\r\nContent-Length: {}\r\n\r\n", 1 << 20).as_bytes()).unwrap();
    let _ = stream.write_all(&vec![b'y'; 1 << 20]);
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (503, "request bodies being received exceed 2097152 bytes: try again later"));
    assert!(headers.contains(&("retry-after".into(), "1".into())));
    drop((holder, holder_reader));
    server.stop();
}

/// Half a head on each of `count` connections, as a slowloris client sends.
fn half_heads(server: &Server, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(server.local_addr).unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Wait: ").unwrap();
            stream
        })
        .collect()
}

#[test]
fn a_full_house_of_half_sent_heads_makes_room_for_a_real_client() {
    // a head deadline far longer than the test: room comes from closing the longest-waiting
    let limits = Limits { max_connections: 64, head_timeout: Duration::from_secs(60), ..Limits::default() };
    let server = start_with(4, limits, echo);
    let mut loris = half_heads(&server, 100);
    let started = Instant::now();
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"GET /real HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader).2, "GET /real ");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    // the first of them were closed to make room
    loris[0].set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    assert!(matches!(loris[0].read_to_end(&mut rest), Ok(0)), "closed for the newcomer: {rest:?}");
    drop(loris);
    server.stop();
}

#[test]
fn eleven_hundred_half_sent_heads_do_not_lock_out_a_real_client() {
    let limits = Limits { head_timeout: Duration::from_secs(60), ..Limits::default() };
    let server = start_with(4, limits, echo);
    let loris = half_heads(&server, 1100);
    let started = Instant::now();
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"GET /real HTTP/1.1\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (200, "GET /real "));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    drop(loris);
    server.stop();
}

#[test]
fn connection_threads_have_stack_for_deep_recursion() {
    // about 6 MiB of frames: more than a default 2 MiB thread stack holds
    fn descend(depth: usize) -> usize {
        let frame = std::hint::black_box([depth as u8; 1024]);
        if depth == 0 {
            return 0;
        }
        let below = descend(depth - 1);
        // the frame is used after the call: it stays on the stack through it
        std::hint::black_box(&frame);
        below + 1
    }
    let server = start(|_: &mut Request<'_>| Reply::text(200, &descend(6000).to_string()));
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut reader).0, 200);
    server.stop();
}
