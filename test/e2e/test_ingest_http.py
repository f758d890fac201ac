"""The OTLP/HTTP receiver with hand-written bodies: encodings, status codes,
error bodies, partial success, and that refused requests store nothing."""
import gzip
import json
import socket
import time
import zlib

import pytest
import requests
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from harness import SqlError, free_port
from otlp_bodies import LOGS_JSON, logs_request, span, spans_request, summary_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def served(duckdb_process):
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50, max_body_bytes := 100000)")
    return db, f"http://127.0.0.1:{port}"


def rows(db, sql):
    return [tuple(r.values()) for r in db.sql(sql)]


def stopped_rows(db, sql):
    db.sql("CALL otlp_stop()")
    return rows(db, sql)


def test_protobuf_logs_are_acknowledged_in_protobuf(served):
    db, url = served
    reply = requests.post(f"{url}/v1/logs", data=logs_request(["a", "b"]), headers=PROTOBUF)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/x-protobuf"
    response = ExportLogsServiceResponse.FromString(reply.content)
    assert not response.HasField("partial_success")
    assert stopped_rows(db, "SELECT body, service_name FROM canardstack.otel.logs ORDER BY timestamp") == [
        ("a", "svc"), ("b", "svc")]


def test_json_logs_with_string_and_number_int64(served):
    db, url = served
    reply = requests.post(f"{url}/v1/logs", data=LOGS_JSON, headers=JSON)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {}
    got = stopped_rows(db, """SELECT timestamp::VARCHAR, severity_number, severity_text, trace_id, span_id, body,
                                     log_attributes['n'], log_attributes['d'], service_name, scope_name
                              FROM canardstack.otel.logs ORDER BY timestamp""")
    assert got == [
        ("2026-01-01 00:00:00.000000001", 17, "ERROR", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
         "json line", "42", "1.5", "json-svc", "js"),
        ("2026-01-01 00:00:00.000000002", 0, "", "", "", '{"a":true}', None, None, "json-svc", "js"),
    ]


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_compressed_bodies(served, encoding, compress):
    db, url = served
    body = compress(logs_request(["zipped"]))
    reply = requests.post(f"{url}/v1/logs", data=body, headers={**PROTOBUF, "Content-Encoding": encoding})
    assert reply.status_code == 200
    assert stopped_rows(db, "SELECT body FROM canardstack.otel.logs") == [("zipped",)]


def test_summary_metrics(served):
    db, url = served
    reply = requests.post(f"{url}/v1/metrics", data=summary_request(), headers=PROTOBUF)
    assert reply.status_code == 200
    got = stopped_rows(db, """SELECT metric_name, metric_unit, count, sum, quantile_values, attributes['route']
                              FROM canardstack.otel.metrics_summary""")
    assert got == [("rpc_latency", "ms", 4, 10.5,
                    [{"quantile": 0.5, "value": 2.0}, {"quantile": 0.99, "value": 4.5}], "/a")]


def test_partial_success_names_rejected_spans(served):
    db, url = served
    good = span("good", bytes(range(16)), bytes(range(8)))
    bad = span("bad", b"\x01\x02", bytes(range(8)))
    reply = requests.post(f"{url}/v1/traces", data=spans_request([good, bad]), headers=PROTOBUF)
    assert reply.status_code == 200
    response = ExportTraceServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_spans == 1
    assert "trace_id" in response.partial_success.error_message
    assert stopped_rows(db, "SELECT span_name, trace_id FROM canardstack.otel.spans") == [
        ("good", "000102030405060708090a0b0c0d0e0f")]


def assert_status(reply, code, fragment, protobuf=True):
    assert reply.status_code == code, reply.content
    if protobuf:
        status = Status.FromString(reply.content)
        message = status.message
    else:
        message = reply.json()["message"]
    assert fragment in message, message


def test_bad_inputs_get_their_status_and_store_nothing(served):
    db, url = served
    logs = f"{url}/v1/logs"
    assert_status(requests.post(logs, data=b"\xff\xff\xff\xff", headers=PROTOBUF), 400, "protobuf")
    assert_status(requests.post(logs, data="{not json", headers=JSON), 400, "json", protobuf=False)
    assert_status(requests.post(logs, data=b"not gzip", headers={**PROTOBUF, "Content-Encoding": "gzip"}), 400, "gzip")
    reply = requests.post(logs, data=logs_request(["x"]), headers={**PROTOBUF, "Content-Encoding": "br"})
    assert_status(reply, 415, "br")
    reply = requests.post(logs, data=b"x", headers={"Content-Type": "text/plain"})
    assert reply.status_code == 415
    assert "text/plain" in reply.json()["message"]
    assert_status(requests.post(logs, data=b"x" * 100_001, headers=PROTOBUF), 413, "100000")
    bomb = gzip.compress(b"\0" * (80 << 20))
    assert_status(requests.post(logs, data=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}), 413, "exceeds")
    reply = requests.get(logs)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "POST"
    assert requests.post(f"{url}/v1/nothing", data=b"", headers=PROTOBUF).status_code == 404
    assert requests.get(f"{url}/health").status_code == 200

    status = db.sql("SELECT requests_rejected, requests_accepted FROM otlp_status()")[0]
    assert status["requests_accepted"] == {}
    assert status["requests_rejected"] == {
        "logs: bad request": 3, "logs: too large": 2, "logs: unsupported encoding": 1,
        "logs: unsupported media type": 1}
    assert stopped_rows(db, "SELECT count(*) FROM canardstack.otel.logs") == [(0,)]


def test_api_key(duckdb_process):
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', api_key := 's3cret', flush_interval_ms := 50)")
    url = f"http://127.0.0.1:{port}/v1/logs"
    assert_status(requests.post(url, data=logs_request(["no"]), headers=PROTOBUF), 401, "bearer")
    wrong = {**PROTOBUF, "Authorization": "Bearer nope"}
    assert_status(requests.post(url, data=logs_request(["no"]), headers=wrong), 401, "bearer")
    right = {**PROTOBUF, "Authorization": "Bearer s3cret"}
    assert requests.post(url, data=logs_request(["yes"]), headers=right).status_code == 200
    assert stopped_rows(db, "SELECT body FROM canardstack.otel.logs") == [("yes",)]


def test_open_server_accepts_any_authorization_header(served):
    db, url = served
    headers = {**PROTOBUF, "Authorization": "Bearer whatever"}
    assert requests.post(f"{url}/v1/logs", data=logs_request(["ok"]), headers=headers).status_code == 200
    assert stopped_rows(db, "SELECT body FROM canardstack.otel.logs") == [("ok",)]


def read_raw_reply(sock) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 answer read off a raw socket: status, headers (lower-case names), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def announced_upload(port: int, length: int) -> bytes:
    """The head of an OTLP export whose body is announced and never sent."""
    return (f"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def test_full_spool_answers_429_before_the_body_is_sent(duckdb_process):
    db = duckdb_process()
    port = free_port()
    first = logs_request(["first"])
    # room for one record only; the long flush interval keeps it unreleased
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', max_spool_bytes := {len(first) + 64}, flush_interval_ms := 600000)")
    url = f"http://127.0.0.1:{port}/v1/logs"
    assert requests.post(url, data=first, headers=PROTOBUF).status_code == 200
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # a 5 MB upload announced, not one byte of it sent: the answer must not wait for it
        sock.sendall(announced_upload(port, 5_000_000))
        status, headers, body = read_raw_reply(sock)
        assert (status, headers["retry-after"], headers["connection"]) == (429, "1", "close")
        assert "spool is full (1 records" in Status.FromString(body).message
        assert sock.recv(1) == b"", "the server closes the connection after refusing the unread body"
    reply = requests.post(url, data=logs_request(["second"]), headers=PROTOBUF)
    assert_status(reply, 429, "spool is full")
    assert reply.headers["Retry-After"] == "1"
    status = db.sql("SELECT requests_rejected, bytes_rejected FROM otlp_status()")[0]
    assert status["requests_rejected"] == {"logs: busy": 2}
    assert status["bytes_rejected"] == {"logs: busy": 0}, "refused bodies were never read"
    assert stopped_rows(db, "SELECT body FROM canardstack.otel.logs") == [("first",)]


def test_storage_failure_answers_503_before_the_body_is_sent(duckdb_process):
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 20)")
    url = f"http://127.0.0.1:{port}/v1/logs"
    # the writer's next commit fails for as long as its table is gone
    db.sql("DROP TABLE canardstack.otel.logs")
    assert requests.post(url, data=logs_request(["kept in the spool"]), headers=PROTOBUF).status_code == 200
    deadline = time.monotonic() + 20
    while db.sql("SELECT healthy FROM otlp_status()")[0]["healthy"]:
        assert time.monotonic() < deadline, "the failing commit was never reported"
        time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(announced_upload(port, 5_000_000))
        status, headers, body = read_raw_reply(sock)
        assert (status, headers["retry-after"], headers["connection"]) == (503, "5", "close")
        assert "storage is failing" in Status.FromString(body).message
    assert db.sql("SELECT requests_rejected FROM otlp_status()")[0]["requests_rejected"] == {"logs: unavailable": 1}


def test_serve_argument_errors(duckdb_process, tmp_path):
    db = duckdb_process()
    port = free_port()
    with pytest.raises(SqlError, match="api_key"):
        db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', host := '0.0.0.0')")
    with pytest.raises(SqlError, match="not attached"):
        db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', catalog := 'nowhere')")
    db.sql(f"ATTACH '{tmp_path}/plain.duckdb' AS plain")
    with pytest.raises(SqlError, match="not a DuckLake"):
        db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', catalog := 'plain')")
    with pytest.raises(SqlError, match="port is out of range"):
        db.sql("CALL otlp_serve(70000, retention := INTERVAL '0 days')")
    assert db.sql("SELECT count(*) AS n FROM otlp_status()") == [{"n": 0}]
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days')")
    with pytest.raises(SqlError, match=f"already running on port {port}"):
        db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days')")
    other = duckdb_process()
    with pytest.raises(SqlError, match="cannot listen"):
        other.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', spool_dir := '{tmp_path}/other_spool')")


def test_named_catalog_and_status(duckdb_process, tmp_path):
    db = duckdb_process()
    db.sql(f"ATTACH 'ducklake:{tmp_path}/my.ducklake' AS lake (DATA_PATH '{tmp_path}/my_data/')")
    port = free_port()
    row = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', catalog := 'lake', schema := 'tele', "
                 "flush_interval_ms := 20)")[0]
    assert (row["catalog"], row["schema"]) == ("lake", "tele")
    assert requests.post(f"http://127.0.0.1:{port}/v1/logs", data=logs_request(["l1", "l2"]),
                         headers=PROTOBUF).status_code == 200
    status = db.sql("SELECT port, healthy, requests_accepted, catalog FROM otlp_status()")
    assert status == [{"port": port, "healthy": True, "requests_accepted": {"logs": 1}, "catalog": "lake"}]
    stopped = db.sql(f"SELECT * FROM otlp_stop(port := {port})")
    assert stopped[0]["rows_committed"] == {"logs": 2}
    assert rows(db, "SELECT count(*) FROM lake.tele.logs") == [(2,)]
    assert db.sql("SELECT count(*) AS n FROM otlp_status()") == [{"n": 0}]
