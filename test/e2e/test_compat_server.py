"""The query-API side of the server: /metrics, /ready, the bearer key on query
routes, and `compat := false`."""
import time

import requests

from harness import free_port
from otlp_bodies import logs_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def serve(duckdb_process, extra=""):
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50{extra})")
    return db, f"http://127.0.0.1:{port}"


def samples(text):
    """name{labels} -> value, ignoring comments."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def wait_for_commit(url, rows):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = samples(requests.get(f"{url}/metrics").text).get('canardstack_rows_committed_total{table="logs"}')
        if got == rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"{rows} log rows were not committed in time")


def test_metrics_report_what_otlp_status_reports(duckdb_process):
    db, url = serve(duckdb_process)
    assert requests.post(f"{url}/v1/logs", data=logs_request(["a", "b", "c"]), headers=PROTOBUF).status_code == 200
    assert requests.post(f"{url}/v1/logs", data=b"\xff\xff", headers=PROTOBUF).status_code == 400
    wait_for_commit(url, 3.0)
    assert requests.get(f"{url}/api/v1/does_not_exist").status_code == 404

    reply = requests.get(f"{url}/metrics")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE canardstack_otlp_requests_total counter" in reply.text
    got = samples(reply.text)
    status = db.sql("SELECT * FROM otlp_status()")[0]
    body_bytes = len(logs_request(["a", "b", "c"]))
    assert got['canardstack_otlp_requests_total{signal="logs",outcome="accepted"}'] == 1
    assert got['canardstack_otlp_bytes_total{signal="logs",outcome="accepted"}'] == body_bytes
    rejected = [k for k in got if k.startswith('canardstack_otlp_requests_total{signal="logs",outcome="rejected"')]
    assert len(rejected) == 1 and got[rejected[0]] == 1
    assert got['canardstack_rows_committed_total{table="logs"}'] == status["rows_committed"]["logs"] == 3
    assert got["canardstack_commits_total"] >= 1
    assert got["canardstack_commit_duration_seconds_total"] > 0
    assert got["canardstack_spool_backlog_records"] == status["spool_backlog_records"] == 0
    assert got["canardstack_writer_healthy"] == 1
    assert got['canardstack_query_requests_total{api="prometheus",outcome="error"}'] == 1
    db.sql("CALL otlp_stop()")


def test_ready_and_bearer_key_on_query_routes(duckdb_process):
    db, url = serve(duckdb_process, ", api_key := 's3cret'")
    assert requests.get(f"{url}/ready").status_code == 200
    assert requests.get(f"{url}/ready").text == "ready"
    for path in ["/metrics", "/api/v1/labels", "/loki/api/v1/labels", "/api/echo"]:
        reply = requests.get(f"{url}{path}")
        assert (reply.status_code, reply.headers.get("WWW-Authenticate")) == (401, "Bearer"), path
    authorized = requests.get(f"{url}/metrics", headers={"Authorization": "Bearer s3cret"})
    assert authorized.status_code == 200
    db.sql("CALL otlp_stop()")


def test_compat_false_serves_ingest_only(duckdb_process):
    db, url = serve(duckdb_process, ", compat := false")
    reply = requests.get(f"{url}/api/v1/query", params={"query": "1+1"})
    assert (reply.status_code, reply.text) == (404, "query APIs are off (otlp_serve(..., compat := false))")
    assert requests.post(f"{url}/v1/logs", data=logs_request(["x"]), headers=PROTOBUF).status_code == 200
    assert requests.get(f"{url}/metrics").status_code == 200
    db.sql("CALL otlp_stop()")
