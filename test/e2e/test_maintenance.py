"""Maintenance rounds beside the writer: many small flushes become few files,
rows left inlined in the catalog are written out to Parquet, and nothing is
lost or doubled while the writer keeps committing."""
import time

import requests

from harness import committed, free_port, wait_for
from otlp_bodies import logs_request, span, spans_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
FLUSHES = 12
LINES_PER_FLUSH = 200  # above inline_rows (50): each flush is a Parquet file of its own


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


def rounds(url):
    return metric(requests.get(f"{url}/metrics").text, "canardstack_maintenance_rounds_total")


def lake_files(db, table):
    return db.sql(f"SELECT count(*) AS n FROM ducklake_list_files('canardstack', '{table}', schema => 'otel')")[0]["n"]




def test_small_flushes_are_merged_and_inlined_rows_written_out_while_ingest_goes_on(duckdb_process):
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50, compact_interval_ms := 2000)")
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: rounds(url) >= 1, "the first round")
    for flush in range(FLUSHES):
        bodies = [f"f{flush} line {i}" for i in range(LINES_PER_FLUSH)]
        assert requests.post(f"{url}/v1/logs", data=logs_request(bodies), headers=PROTOBUF).status_code == 200
        wait_for(lambda: committed(db, "logs") == (flush + 1) * LINES_PER_FLUSH, f"flush {flush}")
    trace_id = bytes(range(16))
    spans = [span(f"s{i}", trace_id, bytes([1, 2, 3, 4, 5, 6, 7, i + 1])) for i in range(3)]
    assert requests.post(f"{url}/v1/traces", data=spans_request(spans), headers=PROTOBUF).status_code == 200
    wait_for(lambda: committed(db, "spans") == 3, "the spans' commit")
    # the three spans are below inline_rows: they stay in the catalog until a round writes them out
    assert lake_files(db, "spans") == 0
    files_before = lake_files(db, "logs")
    assert files_before >= FLUSHES - 1, files_before  # a flush may have held two requests

    # a round running now may have taken its tables before the spans came; the one after it has them
    seen = rounds(url)
    wait_for(lambda: rounds(url) >= seen + 2, "a round that started after the last commit")
    assert metric(requests.get(f"{url}/metrics").text, "canardstack_maintenance_failures_total") == 0
    assert lake_files(db, "logs") == 1
    assert lake_files(db, "spans") == 1
    assert db.sql("SELECT count(*) AS n, count(DISTINCT body) AS d FROM canardstack.otel.logs")[0] == {
        "n": FLUSHES * LINES_PER_FLUSH, "d": FLUSHES * LINES_PER_FLUSH}
    assert [r["span_name"] for r in db.sql("SELECT span_name FROM canardstack.otel.spans ORDER BY 1")] == ["s0", "s1", "s2"]
    status = db.sql("SELECT last_error FROM otlp_status()")[0]
    assert status["last_error"] is None

    # at stop merging ends at once, but rows still inlined are written out by the last round
    more = [span(f"t{i}", trace_id, bytes([9, 2, 3, 4, 5, 6, 7, i + 1])) for i in range(2)]
    assert requests.post(f"{url}/v1/traces", data=spans_request(more), headers=PROTOBUF).status_code == 200
    wait_for(lambda: committed(db, "spans") == 5, "the second spans' commit")
    db.sql("CALL otlp_stop()")
    files = [r["data_file"] for r in db.sql(
        "SELECT data_file FROM ducklake_list_files('canardstack', 'spans', schema => 'otel')")]
    in_files = db.sql(f"SELECT list(span_name ORDER BY span_name) AS names FROM read_parquet({files!r})")
    assert in_files[0]["names"] == ["s0", "s1", "s2", "t0", "t1"]
    assert [r["span_name"] for r in db.sql("SELECT span_name FROM canardstack.otel.spans ORDER BY 1")] == [
        "s0", "s1", "s2", "t0", "t1"]
