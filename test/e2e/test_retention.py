"""Retention and the rest of a maintenance round, as an operator sees them: rows older than
the retention are deleted and their Parquet files leave the disk, fresh rows stay, queries
keep answering during the round, a dry run changes nothing, and a kill -9 in the middle of a
round loses nothing and leaves no unreferenced file once the next round has run."""
import pathlib
import random
import threading
import time

import requests

from harness import committed, free_port, wait_for
from otlp_bodies import logs_request, span, spans_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
HOUR_NS = 3600 * 10**9
OLD_REQUESTS = 5
FRESH_REQUESTS = 3
LINES = 200  # above inline_rows: every request is a Parquet file of its own
TABLES = ["logs", "spans", "metrics_gauge", "metrics_sum", "metrics_histogram",
          "metrics_exponential_histogram", "metrics_summary", "canardstack_checkpoints"]




def send_logs(url, prefix, start_ns):
    bodies = [f"{prefix} line {i}" for i in range(LINES)]
    reply = requests.post(f"{url}/v1/logs", data=logs_request(bodies, start=start_ns), headers=PROTOBUF)
    assert reply.status_code == 200, reply.text


def files_on_disk(base: pathlib.Path) -> set[str]:
    return {p.name for p in (base / ".canardstack/data/otel").rglob("*.parquet")}


def files_referenced(db) -> set[str]:
    names = set()
    for table in TABLES:
        rows = db.sql(f"SELECT data_file, delete_file FROM ducklake_list_files('canardstack', '{table}', schema => 'otel')")
        for row in rows:
            names.update(pathlib.Path(p).name for p in (row["data_file"], row["delete_file"]) if p)
    return names


def first_round_done(db):
    wait_for(lambda: db.sql("SELECT maintenance_rounds AS n FROM otlp_status()")[0]["n"] >= 1, "the round at start")


def by_table(rows):
    return {row["table_name"]: row for row in rows}


def metric(url, name):
    for line in requests.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} missing from /metrics")


def test_old_rows_and_their_files_go_fresh_ones_stay_and_queries_keep_answering(duckdb_process, tmp_path):
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '1 hour', traces_retention := INTERVAL '2 hours', "
           "snapshot_retention := INTERVAL '0 seconds', compact_interval_ms := 3600000, flush_interval_ms := 30, "
           "inline_rows := 10)")
    first_round_done(db)  # it would delete old rows sent while it runs
    url = f"http://127.0.0.1:{port}"
    now = time.time_ns()
    for i in range(OLD_REQUESTS):
        send_logs(url, f"old{i}", now - 3 * HOUR_NS + i * 10**9)
        wait_for(lambda: committed(db, "logs") == (i + 1) * LINES, f"old request {i}")
    for i in range(FRESH_REQUESTS):
        send_logs(url, f"fresh{i}", now - 60 * 10**9 + i * 10**9)
        wait_for(lambda: committed(db, "logs") == (OLD_REQUESTS + i + 1) * LINES, f"fresh request {i}")
    # spans 90 minutes old: past the default retention, within the traces' own
    trace_id = bytes(range(16))
    old_spans = [span(f"s{i}", trace_id, bytes([1, 2, 3, 4, 5, 6, 7, i + 1])) for i in range(3)]
    for s in old_spans:
        s.start_time_unix_nano = now - 90 * 60 * 10**9
        s.end_time_unix_nano = s.start_time_unix_nano + 1000
    assert requests.post(f"{url}/v1/traces", data=spans_request(old_spans), headers=PROTOBUF).status_code == 200
    wait_for(lambda: committed(db, "spans") == 3, "the spans")

    dry = by_table(db.sql("SELECT * FROM otlp_maintenance(dry_run := true)"))
    assert (dry["logs"]["rows_deleted"], dry["logs"]["files_dropped"], dry["logs"]["dry_run"]) == (
        OLD_REQUESTS * LINES, OLD_REQUESTS, True)
    assert dry["logs"]["bytes_dropped"] > 0
    assert dry["spans"]["rows_deleted"] == 0, "traces keep two hours"
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.logs")[0]["n"] == (OLD_REQUESTS + FRESH_REQUESTS) * LINES
    old_files = {p for p in files_on_disk(tmp_path)}

    answers, stop = [], threading.Event()

    def query_fresh():
        params = {"query": 'sum(count_over_time({service_name="svc"} |= "fresh" [1h]))',
                  "start": str(now - 2 * HOUR_NS), "end": str(now + HOUR_NS), "step": "3600"}
        while not stop.is_set():
            reply = requests.get(f"{url}/loki/api/v1/query_range", params=params)
            answers.append((reply.status_code, sum(float(v) for s in reply.json()["data"]["result"] for _, v in s["values"])))

    reader = threading.Thread(target=query_fresh)
    reader.start()
    try:
        done = by_table(db.sql("SELECT * FROM otlp_maintenance()"))
    finally:
        stop.set()
        reader.join()
    assert answers and all(answer == (200, FRESH_REQUESTS * LINES) for answer in answers), answers[:5]

    assert (done["logs"]["rows_deleted"], done["logs"]["files_dropped"]) == (OLD_REQUESTS * LINES, OLD_REQUESTS)
    assert done["spans"]["rows_deleted"] == 0
    assert done[None]["snapshots_expired"] > 0
    assert done["logs"]["files_removed"] >= OLD_REQUESTS
    rows = db.sql("SELECT count(*) AS n, count(*) FILTER (body LIKE 'fresh%') AS fresh FROM canardstack.otel.logs")[0]
    assert rows == {"n": FRESH_REQUESTS * LINES, "fresh": FRESH_REQUESTS * LINES}
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.spans")[0]["n"] == 3

    # the old rows' files left the disk, and nothing on disk is unreferenced
    on_disk = files_on_disk(tmp_path)
    assert on_disk == files_referenced(db)
    assert len(old_files - on_disk) >= OLD_REQUESTS
    oldest = db.sql(f"SELECT min(epoch_ns(\"timestamp\")) AS t FROM read_parquet("
                    f"'{tmp_path}/.canardstack/data/otel/logs/*.parquet')")[0]["t"]
    assert oldest >= now - HOUR_NS, "no file on disk still holds an expired row"

    assert metric(url, 'canardstack_retention_deleted_rows_total{table="logs"}') == OLD_REQUESTS * LINES
    assert metric(url, 'canardstack_lake_files{table="logs"}') == len(
        db.sql("SELECT 1 FROM ducklake_list_files('canardstack', 'logs', schema => 'otel')"))
    status = db.sql("SELECT retention_rows_deleted, files_removed, snapshots_expired, last_error FROM otlp_status()")[0]
    assert status["retention_rows_deleted"] == {"logs": OLD_REQUESTS * LINES}
    assert status["files_removed"] >= OLD_REQUESTS and status["snapshots_expired"] > 0
    assert status["last_error"] is None


def test_retention_arguments_are_checked_by_name(duckdb_process):
    db = duckdb_process()
    for argument, message in [
        ("retention := INTERVAL '-1 day'", "retention must not be negative"),
        ("logs_retention := INTERVAL '1 month'", "logs_retention: months and years have no fixed length"),
    ]:
        try:
            db.sql(f"CALL otlp_serve({free_port()}, {argument})")
        except Exception as error:  # the harness raises SqlError with DuckDB's message
            assert message in str(error), str(error)
        else:
            raise AssertionError(f"{argument} was accepted")
    try:
        db.sql("SELECT * FROM otlp_maintenance()")
    except Exception as error:
        assert "no otlp_serve is running" in str(error), str(error)
    else:
        raise AssertionError("otlp_maintenance ran without a server")


def test_kill_during_a_round_loses_nothing_and_the_next_round_leaves_no_stray_file(duckdb_process, tmp_path):
    rng = random.Random(19)
    acknowledged = 0
    for round_number in range(3):
        db = duckdb_process()
        port = free_port()
        db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '1 hour', snapshot_retention := INTERVAL '0 seconds', "
               "compact_interval_ms := 3600000, flush_interval_ms := 20, inline_rows := 10)")
        url = f"http://127.0.0.1:{port}"
        now = time.time_ns()
        # old rows for retention to delete and many small files to merge: a round with work in it
        for i in range(12):
            start = now - 2 * HOUR_NS if i % 3 == 0 else now
            send_logs(url, f"r{round_number}-{i}{'-old' if i % 3 == 0 else ''}", start + i)
            acknowledged += 0 if i % 3 == 0 else LINES
        wait_for(lambda: db.sql("SELECT spool_backlog_records AS n FROM otlp_status()")[0]["n"] == 0, "the commits")
        caller = threading.Thread(target=lambda: _ignore_errors(lambda: db.sql("SELECT * FROM otlp_maintenance()")))
        caller.start()
        time.sleep(rng.uniform(0.0, 0.15))
        db.kill()
        caller.join()

    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '1 hour', snapshot_retention := INTERVAL '0 seconds', "
           "compact_interval_ms := 3600000)")
    db.sql("SELECT * FROM otlp_maintenance()")  # after the start round: every table, orphans included
    rows = db.sql("SELECT count(*) AS n, count(DISTINCT body) AS d, count(*) FILTER (body LIKE '%-old%') AS old "
                  "FROM canardstack.otel.logs")[0]
    assert rows == {"n": acknowledged, "d": acknowledged, "old": 0}
    assert files_on_disk(tmp_path) == files_referenced(db)
    assert db.sql("SELECT last_error FROM otlp_status()")[0]["last_error"] is None


def _ignore_errors(call):
    try:
        call()
    except Exception:  # the process is killed under it
        pass
