"""Hostile input against a real server in a child DuckDB process.

canardstack runs inside the user's database, so every request here is one that
once could, or plausibly could, crash it (stack overflow), wrap an integer into
an endless loop, or make it allocate gigabytes. Each test sends its attack and
asserts the exact answer a client reads; after each one the autouse check
asserts that the process is alive, `/health` answers 200, and the process's
peak RSS (VmHWM, which also catches spikes between samples) stayed under
RSS_BOUND.
"""
import gzip
import json
import resource
import socket
import time
import urllib.parse

import pytest
import requests
from google.rpc.status_pb2 import Status

from harness import DuckDB, SqlError, free_port
from otlp_bodies import T0, logs_request, span, spans_request

RSS_BOUND = 1 << 30
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


_raise_fd_limit()  # the child DuckDB inherits it: it must hold 1024+ connections


def peak_rss(pid) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class Target:
    def __init__(self, db: DuckDB, port: int):
        self.db = db
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.pid = db.process.pid


@pytest.fixture(scope="module")
def target(tmp_path_factory, extension, ducklake_extension):
    directory = tmp_path_factory.mktemp("hostile")
    db = DuckDB(directory, extension, ducklake_extension)
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50)")
    target = Target(db, port)
    now = time.time_ns()
    assert requests.post(f"{target.url}/v1/logs", data=logs_request(["hello"], start=now - 10**9),
                         headers=PROTOBUF).status_code == 200
    yield target
    db.kill()


@pytest.fixture(autouse=True)
def still_healthy(request):
    yield
    if "target" not in request.fixturenames:
        return
    target = request.getfixturevalue("target")
    assert target.db.process.poll() is None, "the DuckDB process died"
    assert requests.get(f"{target.url}/health", timeout=10).status_code == 200
    assert peak_rss(target.pid) < RSS_BOUND, f"peak RSS {peak_rss(target.pid) >> 20} MiB"


def status_message(reply) -> str:
    status = Status()
    status.ParseFromString(reply.content)
    return status.message


def raw_exchange(port, data: bytes, timeout=10.0) -> bytes:
    """Sends raw bytes and returns what the server answered before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def status_line(answer: bytes) -> str:
    return answer.split(b"\r\n", 1)[0].decode()


# ---------------------------------------------------------------- nesting depth

DEEP = 15_000


def nested(core: str, depth=DEEP) -> str:
    return "(" * depth + core + ")" * depth


def test_sql_functions_refuse_deep_queries(target):
    logql = nested('count_over_time({a="b"}[1m])')
    for sql in [f"SELECT count(*) FROM loki_query('{logql}')", f"SELECT count(*) FROM promql_query('{nested('1')}')"]:
        with pytest.raises(SqlError, match="nest"):
            target.db.sql(sql)


def deep_any_value_protobuf(depth: int) -> bytes:
    """An AnyValue nested `depth` times through array_value, built by hand
    (the protobuf package refuses to build it)."""
    value = b""
    for _ in range(depth):
        value = length_delimited(5, length_delimited(1, value))  # AnyValue.array_value { values: [value] }
    record = length_delimited(5, value)  # LogRecord.body
    return length_delimited(1, length_delimited(2, length_delimited(2, record)))


def test_deeply_nested_protobuf_any_value(target):
    reply = requests.post(f"{target.url}/v1/logs", data=deep_any_value_protobuf(100_000), headers=PROTOBUF)
    assert reply.status_code == 400
    assert status_message(reply).endswith("nesting deeper than 24"), status_message(reply)


# ------------------------------------------------------------- transport

def test_endless_chunk_size_line(target):
    """The answer comes once the line passes its bound, while the client is still sending it:
    the server never waits for (or buffers) the rest."""
    head = (b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
        sock.sendall(head + b"0" * 16384)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"4096 bytes"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert status_line(answer) == "HTTP/1.1 400 Bad Request", answer[:300]
    assert status_message_of(answer) == "reading request body: chunk-size line exceeds 4096 bytes"


def status_message_of(answer: bytes) -> str:
    status = Status()
    status.ParseFromString(answer.split(b"\r\n\r\n", 1)[1])
    return status.message


CHUNKED_LOGS = b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"


@pytest.mark.parametrize("head, message", [
    (b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "malformed request: more than one Transfer-Encoding header"),
    (b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
     "malformed request: chunked applied more than once"),
    (b"POST /v1/logs HTTP/1.0\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "malformed request: Transfer-Encoding in an HTTP/1.0 request"),
    (b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
     "malformed request: both Transfer-Encoding and Content-Length"),
    (b"GET /health HTTP/1.1\nHost: 127.0.0.1\n\n", "malformed request: request head lines must end with CRLF"),
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n folded\r\n\r\n",
     "malformed request: obsolete line folding (a header line starting with whitespace)"),
])
def test_ambiguous_heads_are_refused(target, head, message):
    answer = raw_exchange(target.port, head)
    assert status_line(answer) == "HTTP/1.1 400 Bad Request", answer[:300]
    assert answer.split(b"\r\n\r\n", 1)[1].decode() == message


@pytest.mark.parametrize("chunks, message", [
    (b"ffffffffffffffffff\r\n", "reading request body: chunk size does not fit in 64 bits"),
    (b"5\nhello\n0\n\n", "reading request body: chunk framing lines must end with CRLF (bare LF or CR)"),
])
def test_ambiguous_chunk_framing_is_refused(target, chunks, message):
    answer = raw_exchange(target.port, CHUNKED_LOGS + b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    assert status_line(answer) == "HTTP/1.1 400 Bad Request", answer[:300]
    assert status_message_of(answer) == message


def test_slowloris_heads_do_not_lock_out_a_real_client(target):
    held = []
    try:
        for _ in range(1100):
            sock = socket.create_connection(("127.0.0.1", target.port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(sock)
        started = time.monotonic()
        reply = requests.get(f"{target.url}/health", timeout=60)
        waited = time.monotonic() - started
        assert reply.status_code == 200
        # the full registry closes the longest-waiting half-sent head to make room at once,
        # rather than making the client wait out the 15 s head deadline
        assert waited < 5, f"a real client waited {waited:.1f} s"
        oldest = held[0]
        oldest.settimeout(5)
        assert oldest.recv(65536) == b"", "the oldest half-sent head was closed to make room"
    finally:
        for sock in held:
            sock.close()


def test_slow_bodies_do_not_hold_every_worker(target):
    held = []
    try:
        for _ in range(16):  # twice the default workers
            sock = socket.create_connection(("127.0.0.1", target.port), timeout=10)
            sock.sendall(b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                         b"Content-Length: 1000000\r\n\r\nab")
            held.append(sock)
        time.sleep(0.5)
        started = time.monotonic()
        body = logs_request(["while others trickle"], start=time.time_ns())
        reply = requests.post(f"{target.url}/v1/logs", data=body, headers=PROTOBUF, timeout=30)
        assert reply.status_code == 200
        assert time.monotonic() - started < 5
        assert requests.get(f"{target.url}/api/v1/labels", timeout=30).status_code == 200
    finally:
        for sock in held:
            sock.close()


# ---------------------------------------------------------- decoding memory

def length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
        n >>= 7
        if not n:
            return bytes(out)


EMPTY_ITEMS = 15 << 20  # 15.7 M empty messages: 31 MB of protobuf, about 30 KB gzipped

# each body nests EMPTY_ITEMS empty messages of the signal's innermost repeated field
MULTIPLYING_BODIES = {
    # resource_logs { scope_logs { log_records {} x N } }
    "logs": length_delimited(1, length_delimited(2, b"\x12\x00" * EMPTY_ITEMS)),
    # resource_spans { scope_spans { spans {} x N } }
    "traces": length_delimited(1, length_delimited(2, b"\x12\x00" * EMPTY_ITEMS)),
    # resource_metrics { scope_metrics { metrics { name: "g" gauge { data_points {} x N } } } }
    "metrics": length_delimited(1, length_delimited(2, length_delimited(
        2, length_delimited(1, b"g") + length_delimited(5, b"\x0a\x00" * EMPTY_ITEMS)))),
}


@pytest.mark.parametrize("signal", ["logs", "traces", "metrics"])
def test_a_small_body_of_millions_of_empty_items_is_413(target, signal):
    compressed = gzip.compress(MULTIPLYING_BODIES[signal])
    assert len(compressed) < 100_000
    reply = requests.post(f"{target.url}/v1/{signal}", data=compressed,
                          headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert reply.status_code == 413, reply.content[:200]
    assert status_message(reply) == "request has more than 1000000 items (max_items_per_request)"


# --------------------------------------------------------------- browsers

@pytest.mark.parametrize("headers", [{"Host": "evil.example"}, {"Host": "evil.example:4318"},
                                     {"Origin": "http://evil.example"}, {"Origin": "null"}])
def test_browser_requests_from_elsewhere_are_refused(target, headers):
    for method, path in [("get", "/api/v1/labels"), ("get", "/loki/api/v1/labels"), ("get", "/api/search/tags")]:
        reply = getattr(requests, method)(f"{target.url}{path}", headers=headers)
        assert reply.status_code == 403, (path, headers, reply.text[:200])
    reply = requests.post(f"{target.url}/v1/logs", data=logs_request(["csrf"]), headers={**PROTOBUF, **headers})
    assert reply.status_code == 403


def test_loopback_names_and_same_origin_are_served(target):
    for headers in [{"Host": f"localhost:{target.port}"}, {"Host": f"127.0.0.1:{target.port}"},
                    {"Host": f"[::1]:{target.port}"}, {"Origin": target.url}]:
        assert requests.get(f"{target.url}/api/v1/labels", headers=headers).status_code == 200, headers
