#!/usr/bin/env python3
"""Ingest benchmark: separate sender processes post realistic OTLP/protobuf requests
(logs by default; any mix of logs, traces and metrics with --mix) to otlp_serve over
keep-alive connections, while a probe measures how long an acknowledged item takes to
become visible to a fresh query, for each signal sent.

Prints accepted decoded MB/s and items/s (in all and per signal), ack latency and
visibility lag percentiles per signal, refusals, server CPU and peak RSS, and checks that
every acknowledged item is stored exactly once. Not a test: numbers depend on the
machine; BENCHMARKS.md records them.

    .venv/bin/python scripts/bench/ingest.py --seconds 20 --senders 2 --connections 8
    .venv/bin/python scripts/bench/ingest.py --seconds 20 --senders 1 --connections 8 --rate 100
    .venv/bin/python scripts/bench/ingest.py --seconds 20 --senders 1 --connections 4 --mix logs=60,traces=25,metrics=15
    .venv/bin/python scripts/bench/ingest.py --seconds 20 --senders 1 --connections 4 --transport grpc

With `--transport grpc` the senders call the OTLP/gRPC Export methods (grpcio, one channel per
connection, the same protobuf bytes); the visibility probe still posts over HTTP.
"""
import argparse
import http.client
import multiprocessing as mp
import os
import pathlib
import socket
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test/e2e"))
sys.path.insert(0, str(ROOT / "scripts/bench"))
from harness import DuckDB, free_port  # noqa: E402

import signals  # noqa: E402

HEADERS = {"Content-Type": "application/x-protobuf"}
REPLY_TIMEOUT = 30  # seconds a sender waits for an answer before counting the request unanswered


def http_request(port: int, path: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def read_reply(replies) -> tuple[int, bool]:
    """Reads one HTTP/1.1 response with a Content-Length; returns its status code and whether
    the server closes the connection after it (as it does after refusing an unread body)."""
    status = int(replies.readline().split(b" ", 2)[1])
    length, closes = 0, False
    while (line := replies.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            closes = True
    replies.read(length)
    return status, closes


GRPC_METHODS = {
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


class HttpConnection:
    """A raw keep-alive socket with the request bytes built once: http.client's per-request
    work took a fifth of a core at 60 MB/s, CPU the server under test then lacks."""

    def __init__(self, port):
        self.port = port
        self.connect()

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=REPLY_TIMEOUT)
        self.replies = self.sock.makefile("rb")

    def send(self, signal, body, request) -> int:
        self.sock.sendall(request)
        status, closes = read_reply(self.replies)
        if closes:
            self.reset()
        return status

    def reset(self):
        self.sock.close()
        self.connect()


class GrpcConnection:
    """One grpcio channel (one HTTP/2 connection); refusals count as HTTP's 429/503 would."""

    def __init__(self, port):
        import grpc
        self.grpc = grpc
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.calls = {signal: self.channel.unary_unary(method, request_serializer=None, response_deserializer=None)
                      for signal, method in GRPC_METHODS.items()}

    def send(self, signal, body, request) -> int:
        try:
            self.calls[signal](body, timeout=REPLY_TIMEOUT)
            return 200
        except self.grpc.RpcError as error:
            if error.code() in (self.grpc.StatusCode.RESOURCE_EXHAUSTED, self.grpc.StatusCode.UNAVAILABLE):
                return 429
            raise OSError(f"{error.code()}: {error.details()}") from None

    def reset(self):
        pass


def empty_counts():
    return {"requests": 0, "bytes": 0, "items": 0, "refused": 0, "latencies": []}


def sender(port, connections, items, bodies_per_sender, seconds, rate, mix, backoff, results, grpc_port=None):
    import threading

    # distinct enough that zstd cannot lean on repeats a real stream would not have
    bodies = {signal: [signals.request(signal, items[signal], os.getpid() * 100 + k) for k in range(bodies_per_sender)]
              for signal in mix}
    requests = {signal: [http_request(port, signals.PATHS[signal], body) for body, _ in pool]
                for signal, pool in bodies.items()}
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    totals = {"unanswered": 0, "failures": [], "by_signal": {signal: empty_counts() for signal in mix}}
    mean_bytes = sum(share * sum(len(b) for b, _ in bodies[s]) / len(bodies[s]) for s, share in mix.items())

    def connection_loop(index):
        connection = GrpcConnection(grpc_port) if grpc_port else HttpConnection(port)
        # connections start spread over the bodies: started side by side, they sent the same
        # body at nearly the same time, and zstd then found whole requests repeated within a
        # page (open-loop files came out about 3x smaller than closed-loop ones)
        k = index * max(1, bodies_per_sender // connections)
        offered = {signal: 0 for signal in mix}  # bytes this connection has sent per signal
        # open loop (--rate): each connection sends on a fixed schedule and a request's
        # latency counts from when it was due, so a stall shows in every request it
        # delayed (closed-loop senders would just send fewer; "coordinated omission")
        interval = connections * mean_bytes / rate if rate else None
        due = time.perf_counter() + (index / connections) * interval if interval else None
        while time.monotonic() < deadline:
            # the signal furthest behind its share of the bytes goes next, so the mix holds by bytes
            total = sum(offered.values())
            signal = max(mix, key=lambda s: mix[s] * total - offered[s])
            body, count = bodies[signal][k % bodies_per_sender]
            request = requests[signal][k % bodies_per_sender]
            offered[signal] += len(body)
            k += 1
            if due is not None:
                ahead = due - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
                started = due
                due += interval * len(body) / mean_bytes
            else:
                started = time.perf_counter()
            try:
                status = connection.send(signal, body, request)
            except (OSError, ValueError, IndexError) as failure:
                # no answer: the request may or may not be stored; count it apart and reconnect
                with lock:
                    totals["unanswered"] += 1
                    totals["failures"].append(f"{signal}: {type(failure).__name__} after "
                                              f"{time.perf_counter() - started:.1f} s: {failure}")
                connection.reset()
                continue
            elapsed = time.perf_counter() - started
            with lock:
                counts = totals["by_signal"][signal]
                if status == 200:
                    counts["requests"] += 1
                    counts["bytes"] += len(body)
                    counts["items"] += count
                    counts["latencies"].append((time.monotonic(), elapsed))
                else:
                    counts["refused"] += 1
            if status != 200 and due is None and backoff:
                time.sleep(0.05)

    threads = [threading.Thread(target=connection_loop, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals["elapsed"] = time.monotonic() - started
    totals["cpu"] = time.process_time()  # this sender process's CPU, all its threads
    results.put(totals)


def probe_visibility(db, port, start, deadline, mix):
    """Posts a marked item every 200 ms from `start` on, the signals of the mix in turn, and
    polls a fresh query every 50 ms for the markers not seen yet; a marker's lag runs from
    its 200 to the end of the first poll that returns it (so it is overstated by up to one
    poll interval). Returns the lags and the poll times, per signal.

    Markers overlap, so a run has a few hundred samples and the p99 means something. The
    queries look for recent items, as a live dashboard does: the senders' items carry the
    time their bodies were built, so DuckLake's per-file timestamp statistics leave only
    the newest flush to read. (Polling a full scan of every body took a core from ingest.)"""
    lags = {signal: [] for signal in mix}
    poll_seconds = []
    order = list(mix)
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    outstanding = {}  # marker -> (signal, sent_ns, acknowledged at)
    n, next_marker = 0, start
    while True:
        now = time.monotonic()
        sending = now < deadline - 2
        if not sending and not outstanding:
            return lags, poll_seconds
        if sending and now >= next_marker:
            next_marker = now + 0.2
            signal = order[n % len(order)]
            marker, sent_ns = f"visibility-probe-{n}", time.time_ns()
            n += 1
            con.request("POST", signals.PATHS[signal], body=signals.probe_request(signal, marker, sent_ns),
                        headers=HEADERS)
            reply = con.getresponse()
            reply.read()
            if reply.status == 200:
                outstanding[marker] = (signal, sent_ns, time.perf_counter())
        for signal in {s for s, _, _ in outstanding.values()}:
            waiting = {m: v for m, v in outstanding.items() if v[0] == signal}
            oldest = min(sent_ns for _, sent_ns, _ in waiting.values())
            markers = ", ".join(f"'{marker}'" for marker in waiting)
            polled = time.perf_counter()
            rows = db.sql(signals.probe_query(signal, markers, oldest))
            seen = time.perf_counter()
            poll_seconds.append(seen - polled)
            for row in rows:
                if row["marker"] in outstanding:
                    lags[signal].append(seen - outstanding.pop(row["marker"])[2])
        for marker, (signal, _, acked) in list(outstanding.items()):
            if time.perf_counter() - acked > 60:
                del outstanding[marker]
                lags[signal].append(float("inf"))  # not visible within a minute: counts as unbounded
        time.sleep(0.05)  # each poll is a ~15 ms query competing with ingest for the same two cores


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used, its exited threads included."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    parser.add_argument("--spans", type=int, default=200, help="spans per trace request")
    parser.add_argument("--mix", default="logs=100",
                        help="signals to send and their shares of the bytes, e.g. logs=60,traces=25,metrics=15 "
                             "(metric requests hold 25 points each)")
    parser.add_argument("--rate", type=float, default=None,
                        help="MB/s of protobuf to offer in all, paced on a fixed schedule (open loop); "
                             "without it each connection sends its next request when the last is answered")
    parser.add_argument("--no-backoff", action="store_true",
                        help="send the next request right after a refusal (overload: clients that retry at once)")
    parser.add_argument("--max-queue-mb", type=int, default=None,
                        help="otlp_serve's max_queue_bytes in MB (decoded rows waiting for a commit)")
    parser.add_argument("--memory-limit", default=None,
                        help="DuckDB's memory_limit for the server process, e.g. 2GB (default: DuckDB's, 80%% of RAM)")
    parser.add_argument("--no-service-graph", action="store_true",
                        help="otlp_serve's service_graph := false (no traces_service_graph_* derived from the spans)")
    parser.add_argument("--flush-interval-ms", type=int, default=500)
    parser.add_argument("--compact-interval-ms", type=int, default=60000)
    parser.add_argument("--workers", type=int, default=8, help="otlp_serve HTTP worker threads")
    parser.add_argument("--inline-rows", type=int, default=None,
                        help="otlp_serve's inline_rows (flushes of a table below it stay in the catalog)")
    parser.add_argument("--transport", choices=("http", "grpc"), default="http",
                        help="how the senders export: OTLP/HTTP or OTLP/gRPC (grpc_port)")
    parser.add_argument("--with-grpc", action="store_true",
                        help="open grpc_port (its runtime idle) while the senders use HTTP")
    parser.add_argument("--extension", default=str(ROOT / "build/release/canardstack.duckdb_extension"))
    parser.add_argument("--ducklake", default=(ROOT / ".venv/ducklake_extension_path").read_text().strip())
    args = parser.parse_args()
    try:
        mix = signals.parse_mix(args.mix)
    except ValueError as error:
        parser.error(str(error))
    items = {"logs": args.records, "traces": args.spans, "metrics": signals.METRIC_POINTS_PER_REQUEST}

    with tempfile.TemporaryDirectory() as workdir:
        db = DuckDB(workdir, args.extension, args.ducklake)
        if args.memory_limit:
            db.sql(f"SET memory_limit = '{args.memory_limit}'")
        port = free_port()
        inline = f", inline_rows := {args.inline_rows}" if args.inline_rows is not None else ""
        if args.no_service_graph:
            inline += ", service_graph := false"
        if args.max_queue_mb is not None:
            inline += f", max_queue_bytes := {args.max_queue_mb << 20}"
        grpc_port = free_port() if args.transport == "grpc" or args.with_grpc else None
        if grpc_port:
            inline += f", grpc_port := {grpc_port}"
        db.sql(f"CALL otlp_serve({port}, flush_interval_ms := {args.flush_interval_ms}, workers := {args.workers}, "
               f"compact_interval_ms := {args.compact_interval_ms}{inline})")
        results = mp.Queue()
        rate = args.rate * 1e6 / args.senders if args.rate else None  # bytes/s per sender
        procs = [mp.Process(target=sender,
                            args=(port, args.connections, items, args.bodies, args.seconds, rate, mix,
                                  not args.no_backoff, results, grpc_port if args.transport == "grpc" else None))
                 for _ in range(args.senders)]
        started = time.monotonic()
        cpu_before = cpu_seconds(db.process.pid)
        for p in procs:
            p.start()
        lags, poll_seconds = probe_visibility(db, port, started + args.warmup, started + args.seconds, mix)
        totals = [results.get() for _ in procs]
        server_cpu = cpu_seconds(db.process.pid) - cpu_before
        for p in procs:
            p.join()
        elapsed = max(t["elapsed"] for t in totals)
        # what the writer had committed when sending ended: did it keep up?
        status = db.sql("SELECT * FROM otlp_status()")[0]
        committed_while_sending = sum((status["rows_committed"] or {}).values())
        files_while_sending = {table: files for signal in mix for table, files in signals.data_files(db, signal).items()}
        graph = signals.service_graph_figures(port)
        stop_started = time.monotonic()
        stopped = db.sql("SELECT * FROM otlp_stop()")[0]
        drain = time.monotonic() - stop_started
        peak_rss = peak_rss_mb(db.process.pid)
        stored = {signal: signals.stored_rows(db, signal) for signal in mix}
        files = db.sql("SELECT count(*) AS n FROM ducklake_list_files('canardstack', 'logs', schema => 'otel')")[0]["n"]
        db.close()

    warm = started + args.warmup
    per_signal = {signal: {key: sum(t["by_signal"][signal][key] for t in totals)
                           for key in ("requests", "bytes", "items", "refused")} for signal in mix}
    requests_ok = sum(c["requests"] for c in per_signal.values())
    sent_bytes = sum(c["bytes"] for c in per_signal.values())
    accepted_items = sum(c["items"] for c in per_signal.values())
    refused = sum(c["refused"] for c in per_signal.values())

    def latencies(signal=None, after=float("-inf")):
        return [x for t in totals for s, c in t["by_signal"].items() if signal in (None, s)
                for at, x in c["latencies"] if at >= after]

    def ms(values, q):
        return f"{percentile(values, q) * 1e3:.1f}"

    print(f"senders={args.senders} connections={args.connections} mix={args.mix} records/request={args.records} "
          f"spans/request={args.spans} seconds={elapsed:.1f} flush_interval_ms={args.flush_interval_ms} "
          f"inline_rows={'default' if args.inline_rows is None else args.inline_rows} "
          f"offered={f'{args.rate} MB/s (open loop)' if args.rate else 'closed loop'} transport={args.transport}"
          + (" (grpc_port open)" if args.with_grpc else "")
          + (" no-backoff" if args.no_backoff else ""))
    print(f"accepted: {requests_ok} requests, {accepted_items} items, {sent_bytes / 1e6:.1f} MB protobuf; "
          f"refused (429/503): {refused}")
    print(f"throughput: {sent_bytes / 1e6 / elapsed:.1f} MB/s decoded OTLP, {accepted_items / elapsed:,.0f} items/s")
    print(f"server CPU while sending: {server_cpu / elapsed:.2f} cores, "
          f"{server_cpu / max(sent_bytes / 1e8, 1e-9):.2f} core-seconds per 100 MB accepted (probe queries included); "
          f"peak RSS {peak_rss:.0f} MB; senders' CPU {sum(t['cpu'] for t in totals) / elapsed:.2f} cores")
    warm_latencies = latencies(after=warm)
    print(f"ack latency after the warm-up{' (from when each request was due)' if args.rate else ''}: "
          f"p50 {ms(warm_latencies, 0.5)} ms, p90 {ms(warm_latencies, 0.9)} ms, p99 {ms(warm_latencies, 0.99)} ms, "
          f"max {max(warm_latencies, default=float('nan')) * 1e3:.1f} ms; whole run p99 {ms(latencies(), 0.99)} ms")
    for signal, counts in per_signal.items():
        acked, seen = latencies(signal, warm), lags[signal]
        print(f"  {signal:<7} {counts['bytes'] / 1e6 / elapsed:6.1f} MB/s ({counts['bytes'] / max(sent_bytes, 1):.0%} "
              f"of bytes), {counts['items'] / elapsed:,.0f} items/s, {counts['requests']} requests, "
              f"{counts['refused']} refused; ack p50 {ms(acked, 0.5)} / p99 {ms(acked, 0.99)} ms; "
              f"visibility ({len(seen)} probes) p50 {ms(seen, 0.5)} / p99 {ms(seen, 0.99)} ms")
    print(f"{len(poll_seconds)} probe queries, p50 {ms(poll_seconds, 0.5)} ms each")
    print(f"committed while sending: {committed_while_sending:,} rows in {status['commits']} commits "
          f"({committed_while_sending / elapsed:,.0f} rows/s, {committed_while_sending / max(accepted_items, 1):.0%} of "
          f"accepted); spool backlog then {status['spool_backlog_records']} requests")
    if "maintenance_rounds" in status:  # builds before the maintenance thread had no such columns
        print(f"maintenance while sending: {status['maintenance_rounds']} rounds, "
              f"{status['maintenance_failures']} failed, {status['maintenance_seconds']:.1f} s in all")
    if graph:
        print(f"service graph while sending: {graph.get('windows_total', 0):.0f} windows, "
              f"{graph.get('duration_seconds_total', 0):.1f} s in steps, {graph.get('requests_total', 0):.0f} "
              f"requests counted, {graph.get('failures_total', 0):.0f} failed steps, {graph.get('series', 0):.0f} edges")
    print(f"files when sending ended (Parquet files, MB, per table): {files_while_sending}; in all "
          f"{sum(n for n, _ in files_while_sending.values())} files, "
          f"{sum(mb for _, mb in files_while_sending.values()):.1f} MB")
    print(f"drain at stop: {drain:.1f} s; rows stored {stored}; parquet files for logs: {files}; "
          f"rows_committed {stopped['rows_committed']}")
    unanswered = sum(t["unanswered"] for t in totals)
    for failure in (f for t in totals for f in t["failures"]):
        print(f"unanswered request: {failure}")
    print(f"server: rejected {status['requests_rejected']}, last error {status['last_error']!r}; "
          f"requests without an answer within {REPLY_TIMEOUT} s: {unanswered}")
    # every acknowledged item exactly once; an unanswered request may or may not be stored
    most_per_request = max(items.values())
    for signal, counts in per_signal.items():
        acknowledged = counts["items"] + len(lags[signal])
        if not acknowledged <= stored[signal] <= acknowledged + unanswered * most_per_request:
            sys.exit(f"error: {signal}: {stored[signal]} rows stored, {acknowledged} acknowledged, "
                     f"{unanswered} requests unanswered")


if __name__ == "__main__":
    main()
