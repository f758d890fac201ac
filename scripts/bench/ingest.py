#!/usr/bin/env python3
"""Ingest benchmark: separate sender processes post realistic OTLP/protobuf log
requests to otlp_serve over keep-alive connections, while a probe measures how
long an acknowledged record takes to become visible to a fresh query.

Prints accepted decoded MB/s and records/s, ack latency p50/p99 and visibility
lag p50/p99. Not a test: numbers depend on the machine; BENCHMARKS.md records them.

    .venv/bin/python scripts/bench/ingest.py --seconds 20 --senders 2 --connections 8
    .venv/bin/python scripts/bench/ingest.py --seconds 20 --senders 1 --connections 8 --rate 100
"""
import argparse
import http.client
import multiprocessing as mp
import os
import pathlib
import socket
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test/e2e"))
from harness import DuckDB, free_port  # noqa: E402

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue  # noqa: E402
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs  # noqa: E402
from opentelemetry.proto.resource.v1.resource_pb2 import Resource  # noqa: E402

HEADERS = {"Content-Type": "application/x-protobuf"}
REPLY_TIMEOUT = 30  # seconds a sender waits for an answer before counting the request unanswered


def kv(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value))


def realistic_request(records: int, seed: int, marker: str | None = None, now: int | None = None) -> bytes:
    """~234 bytes of protobuf per record: a ~110-byte body, hex ids, four string attributes."""
    now = now or time.time_ns()
    logs = []
    for i in range(records):
        n = seed * 1_000_003 + i
        body = marker or (f"GET /api/v1/orders/{n % 99991} completed in {n % 997} ms for customer "
                          f"{n % 7919:05d} via gateway eu-west-{n % 3} status=200 ok")
        logs.append(LogRecord(
            time_unix_nano=now + i, observed_time_unix_nano=now + i, severity_number=9, severity_text="INFO",
            body=AnyValue(string_value=body), trace_id=os.urandom(16), span_id=os.urandom(8),
            attributes=[kv("http.method", "GET"), kv("http.route", "/api/v1/orders/{id}"),
                        kv("http.status_code", "200"), kv("user.tier", ("gold", "silver", "free")[n % 3])]))
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=[kv("service.name", f"svc-{seed % 4}"), kv("host.name", "bench-1")]),
        scope_logs=[ScopeLogs(scope=InstrumentationScope(name="bench"), log_records=logs)])]).SerializeToString()


def http_request(port: int, body: bytes) -> bytes:
    head = (f"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def read_reply(replies) -> int:
    """Reads one HTTP/1.1 response with a Content-Length; returns its status code."""
    status = int(replies.readline().split(b" ", 2)[1])
    length = 0
    while (line := replies.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    replies.read(length)
    return status


def sender(port, connections, records, bodies_per_sender, seconds, rate, results):
    import threading

    # distinct enough that zstd cannot lean on repeats a real stream would not have
    bodies = [realistic_request(records, os.getpid() * 100 + k) for k in range(bodies_per_sender)]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    totals = {"requests": 0, "bytes": 0, "records": 0, "refused": 0, "unanswered": 0, "latencies": [],
              "failures": []}

    def connect():
        sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT)
        return sock, sock.makefile("rb")

    def connection_loop(index):
        # a raw keep-alive socket with the request bytes built once: http.client's per-request
        # work took a fifth of a core at 60 MB/s, CPU the server under test then lacks
        requests = [http_request(port, body) for body in bodies]
        sock, replies = connect()
        # connections start spread over the bodies: started side by side, they sent the same
        # body at nearly the same time, and zstd then found whole requests repeated within a
        # page (open-loop files came out about 3x smaller than closed-loop ones)
        k = index * max(1, len(bodies) // connections)
        # open loop (--rate): each connection sends on a fixed schedule and a request's
        # latency counts from when it was due, so a stall shows in every request it
        # delayed (closed-loop senders would just send fewer; "coordinated omission")
        interval = connections * len(bodies[0]) / rate if rate else None
        due = time.perf_counter() + (index / connections) * interval if interval else None
        while time.monotonic() < deadline:
            body = bodies[k % len(bodies)]
            request = requests[k % len(bodies)]
            k += 1
            if due is not None:
                ahead = due - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
                started = due
                due += interval
            else:
                started = time.perf_counter()
            try:
                sock.sendall(request)
                status = read_reply(replies)
            except (OSError, ValueError, IndexError) as failure:
                # no answer: the request may or may not be stored; count it apart and reconnect
                with lock:
                    totals["unanswered"] += 1
                    totals["failures"].append(f"{type(failure).__name__} after "
                                              f"{time.perf_counter() - started:.1f} s: {failure}")
                sock.close()
                sock, replies = connect()
                continue
            elapsed = time.perf_counter() - started
            with lock:
                if status == 200:
                    totals["requests"] += 1
                    totals["bytes"] += len(body)
                    totals["records"] += records
                    totals["latencies"].append((time.monotonic(), elapsed))
                else:
                    totals["refused"] += 1
            if status != 200 and due is None:
                time.sleep(0.05)

    threads = [threading.Thread(target=connection_loop, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals["elapsed"] = time.monotonic() - started
    results.put(totals)


def probe_visibility(db, port, start, deadline):
    """Posts a marked record every 200 ms from `start` on and polls a fresh query every
    50 ms for the markers not seen yet; a marker's lag runs from its 200 to the end of the
    first poll that returns it (so it is overstated by up to one poll interval).

    Markers overlap, so a run has a few hundred samples and the p99 means something. The
    query looks for recent records, as a live dashboard does: the senders' records carry
    the time their bodies were built, so DuckLake's per-file timestamp statistics leave only
    the newest flush to read. (Polling a full scan of every body took a core from ingest.)"""
    lags, poll_seconds = [], []
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    outstanding = {}  # marker -> (sent_ns, acknowledged at)
    n, next_marker = 0, start
    while True:
        now = time.monotonic()
        sending = now < deadline - 2
        if not sending and not outstanding:
            return lags, poll_seconds
        if sending and now >= next_marker:
            next_marker = now + 0.2
            marker, sent_ns = f"visibility-probe-{n}", time.time_ns()
            n += 1
            con.request("POST", "/v1/logs", body=realistic_request(1, 0, marker, now=sent_ns), headers=HEADERS)
            reply = con.getresponse()
            reply.read()
            if reply.status == 200:
                outstanding[marker] = (sent_ns, time.perf_counter())
        if outstanding:
            oldest = min(sent_ns for sent_ns, _ in outstanding.values())
            markers = ", ".join(f"'{marker}'" for marker in outstanding)
            polled = time.perf_counter()
            rows = db.sql(f"SELECT body FROM canardstack.otel.logs "
                          f"WHERE timestamp >= make_timestamp_ns({oldest}) AND body IN ({markers})")
            seen = time.perf_counter()
            poll_seconds.append(seen - polled)
            for row in rows:
                if row["body"] in outstanding:
                    lags.append(seen - outstanding.pop(row["body"])[1])
            for marker, (_, acked) in list(outstanding.items()):
                if seen - acked > 60:
                    del outstanding[marker]
                    lags.append(float("inf"))  # not visible within a minute: counts as unbounded
        time.sleep(0.05)  # each poll is a ~15 ms query competing with ingest for the same two cores


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used, its exited threads included."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=64, help="distinct request bodies per sender")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2,
                        help="seconds of sending before the first visibility probe (the writer's first "
                             "compaction round runs at start)")
    parser.add_argument("--senders", type=int, default=2, help="sender processes")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections per sender")
    parser.add_argument("--records", type=int, default=500, help="log records per request")
    parser.add_argument("--rate", type=float, default=None,
                        help="MB/s of protobuf to offer in all, paced on a fixed schedule (open loop); "
                             "without it each connection sends its next request when the last is answered")
    parser.add_argument("--flush-interval-ms", type=int, default=500)
    parser.add_argument("--compact-interval-ms", type=int, default=60000)
    parser.add_argument("--workers", type=int, default=8, help="otlp_serve HTTP worker threads")
    parser.add_argument("--extension", default=str(ROOT / "build/release/canardstack.duckdb_extension"))
    parser.add_argument("--ducklake", default=(ROOT / ".venv/ducklake_extension_path").read_text().strip())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        db = DuckDB(workdir, args.extension, args.ducklake)
        port = free_port()
        db.sql(f"CALL otlp_serve({port}, flush_interval_ms := {args.flush_interval_ms}, workers := {args.workers}, compact_interval_ms := {args.compact_interval_ms})")
        results = mp.Queue()
        rate = args.rate * 1e6 / args.senders if args.rate else None  # bytes/s per sender
        procs = [mp.Process(target=sender,
                            args=(port, args.connections, args.records, args.bodies, args.seconds, rate, results))
                 for _ in range(args.senders)]
        started = time.monotonic()
        cpu_before = cpu_seconds(db.process.pid)
        for p in procs:
            p.start()
        lags, poll_seconds = probe_visibility(db, port, started + args.warmup, started + args.seconds)
        totals = [results.get() for _ in procs]
        server_cpu = cpu_seconds(db.process.pid) - cpu_before
        for p in procs:
            p.join()
        elapsed = max(t["elapsed"] for t in totals)
        # what the writer had committed when sending ended: did it keep up?
        status = db.sql("SELECT rows_committed['logs'] AS logs, commits, spool_backlog_records, last_error, "
                        "requests_rejected FROM otlp_status()")[0]
        committed_while_sending = status["logs"] or 0
        files_while_sending = db.sql("SELECT count(*) AS n, sum(data_file_size_bytes) AS bytes FROM "
                                     "ducklake_list_files('canardstack', 'logs', schema => 'otel')")[0]
        stop_started = time.monotonic()
        stopped = db.sql("SELECT * FROM otlp_stop()")[0]
        drain = time.monotonic() - stop_started
        stored = db.sql("SELECT count(*) AS n FROM canardstack.otel.logs")[0]["n"]
        files = db.sql("SELECT count(*) AS n FROM ducklake_list_files('canardstack', 'logs', schema => 'otel')")[0]["n"]
        db.close()

    requests_ok = sum(t["requests"] for t in totals)
    sent_bytes = sum(t["bytes"] for t in totals)
    records = sum(t["records"] for t in totals)
    warm = started + args.warmup
    latencies = [x for t in totals for at, x in t["latencies"] if at >= warm]
    all_latencies = [x for t in totals for _, x in t["latencies"]]
    print(f"senders={args.senders} connections={args.connections} records/request={args.records} "
          f"seconds={elapsed:.1f} flush_interval_ms={args.flush_interval_ms} "
          f"offered={f'{args.rate} MB/s (open loop)' if args.rate else 'closed loop'}")
    print(f"accepted: {requests_ok} requests, {records} records, {sent_bytes / 1e6:.1f} MB protobuf; "
          f"refused (429/503): {sum(t['refused'] for t in totals)}")
    print(f"throughput: {sent_bytes / 1e6 / elapsed:.1f} MB/s decoded OTLP, {records / elapsed:,.0f} records/s")
    print(f"server CPU while sending: {server_cpu / elapsed:.2f} cores, "
          f"{server_cpu / max(sent_bytes / 1e8, 1e-9):.2f} core-seconds per 100 MB accepted (probe queries included)")
    print(f"ack latency after the warm-up{' (from when each request was due)' if args.rate else ''}: "
          f"p50 {percentile(latencies, 0.5) * 1e3:.1f} ms, p90 {percentile(latencies, 0.9) * 1e3:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1e3:.1f} ms, max {max(latencies, default=float('nan')) * 1e3:.1f} ms; "
          f"whole run p99 {percentile(all_latencies, 0.99) * 1e3:.1f} ms")
    print(f"visibility lag ({len(lags)} probes): p50 {percentile(lags, 0.5) * 1e3:.0f} ms, "
          f"p99 {percentile(lags, 0.99) * 1e3:.0f} ms; {len(poll_seconds)} probe queries, "
          f"p50 {percentile(poll_seconds, 0.5) * 1e3:.1f} ms each")
    print(f"committed while sending: {committed_while_sending:,} rows in {status['commits']} commits "
          f"({committed_while_sending / elapsed:,.0f} rows/s, {committed_while_sending / max(records, 1):.0%} of accepted); "
          f"spool backlog then {status['spool_backlog_records']} requests")
    print(f"files when sending ended: {files_while_sending['n']} Parquet files for logs, "
          f"{(files_while_sending['bytes'] or 0) / 1e6:.1f} MB")
    print(f"drain at stop: {drain:.1f} s; rows stored {stored} (sent {records} + {len(lags)} probes); "
          f"parquet files for logs: {files}; rows_committed {stopped['rows_committed']}")
    unanswered = sum(t["unanswered"] for t in totals)
    for failure in (f for t in totals for f in t["failures"]):
        print(f"unanswered request: {failure}")
    print(f"server: rejected {status['requests_rejected']}, last error {status['last_error']!r}; "
          f"requests without an answer within {REPLY_TIMEOUT} s: {unanswered}")
    # every acknowledged record exactly once; an unanswered request may or may not be stored
    acknowledged = records + len(lags)
    if not acknowledged <= stored <= acknowledged + unanswered * args.records:
        sys.exit(f"error: {stored} rows stored, {acknowledged} acknowledged, {unanswered} requests unanswered")


if __name__ == "__main__":
    main()
