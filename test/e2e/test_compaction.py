"""Compaction toward the target file size, as an operator sees it: a busy writer's files (too
large for the small-file merge) stay as they are while they are young, and are merged into
files near the target once they have settled, with every row intact and queries answering."""
import random
import time

import requests

from harness import committed, free_port, wait_for
from otlp_bodies import logs_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
MB = 1 << 20
TARGET = 16 * MB  # settled files are those from 2 MiB up to 8 MiB
REQUESTS = 4
LINES = 6000
LINE_CHARS = 800  # random text: about 3-4 MB of Parquet per request


def flush_files(db):
    return db.sql("SELECT data_file_size_bytes AS bytes FROM ducklake_list_files('canardstack', 'logs', "
                  "schema => 'otel') ORDER BY data_file")


def fingerprint(db):
    return db.sql("SELECT count(*) AS n, count(DISTINCT body) AS distinct_bodies, "
                  "min(\"timestamp\") AS oldest, max(\"timestamp\") AS newest, "
                  "bit_xor(hash(body)) AS bodies FROM canardstack.otel.logs")[0]


def serve(db, port, compact_after):
    # snapshots expire at every round, so the files' own snapshots are gone by the time they
    # settle, as they are on a lake kept for months
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 30, "
           f"compact_interval_ms := 3600000, target_file_bytes := {TARGET}, snapshot_retention := INTERVAL '0 seconds', "
           f"compact_after := INTERVAL '{compact_after}')")
    wait_for(lambda: db.sql("SELECT maintenance_rounds AS n FROM otlp_status()")[0]["n"] >= 1, "the round at start")


def test_young_files_wait_and_settled_ones_merge_toward_the_target(duckdb_process):
    db = duckdb_process()
    port = free_port()
    serve(db, port, "1 hour")
    url = f"http://127.0.0.1:{port}"
    rng = random.Random(7)
    start = time.time_ns() - 60 * 10**9
    for i in range(REQUESTS):
        bodies = [f"r{i} l{j} " + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=LINE_CHARS))
                  for j in range(LINES)]
        reply = requests.post(f"{url}/v1/logs", data=logs_request(bodies, start=start + i * LINES), headers=PROTOBUF)
        assert reply.status_code == 200, reply.text
        wait_for(lambda: committed(db, "logs") == (i + 1) * LINES, f"request {i}")
    sizes = [row["bytes"] for row in flush_files(db)]
    # the premise: one file per request, each too large for the small-file merge, each a settled candidate
    assert len(sizes) == REQUESTS, sizes
    assert all(2 * MB <= size < TARGET // 2 for size in sizes), sizes
    before = fingerprint(db)
    assert before["n"] == REQUESTS * LINES

    young = {row["table_name"]: row for row in db.sql("SELECT * FROM otlp_maintenance()")}
    assert young["logs"]["files_merged"] == 0, "files younger than compact_after stay as they are"
    assert len(flush_files(db)) == REQUESTS

    db.sql("CALL otlp_stop()")
    serve(db, port, "1 second")  # the files are older than that now; the round at start merges them
    merged = [row["bytes"] for row in flush_files(db)]
    assert len(merged) == 1, merged
    status = db.sql("SELECT files_merged, lake_files FROM otlp_status()")[0]
    assert status["files_merged"] == {"logs": REQUESTS}
    assert status["lake_files"]["logs"] == 1
    assert fingerprint(db) == before, "every row is still there, once"
    # the merged file is the target's size class, and queries read it
    assert sum(sizes) * 0.5 < merged[0] < TARGET, (sizes, merged)
    lines = requests.get(f"{url}/loki/api/v1/query", params={
        "query": 'sum(count_over_time({service_name="svc"} |= "r2 l17 " [1h]))', "time": str(time.time_ns())}).json()
    assert lines["status"] == "success", lines
    assert [sample["value"][1] for sample in lines["data"]["result"]] == ["1"]
    metrics = requests.get(f"{url}/metrics").text
    assert 'canardstack_maintenance_merged_files_total{table="logs"} 4' in metrics.splitlines()
    db.sql("CALL otlp_stop()")


def test_the_target_file_size_is_checked_by_name(duckdb_process):
    db = duckdb_process()
    try:
        db.sql(f"CALL otlp_serve({free_port()}, target_file_bytes := 1000)")
    except Exception as error:  # noqa: BLE001 - the message is what we check
        assert "target_file_bytes must be at least 4194304" in str(error), error
    else:
        raise AssertionError("a target below 4 MiB was accepted")
    assert db.sql("SELECT count(*) AS n FROM otlp_status()")[0]["n"] == 0
