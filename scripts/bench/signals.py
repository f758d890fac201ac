"""Realistic OTLP/protobuf requests of every signal for the ingest benchmark, and the
visibility probe of each: a request carrying one marked item, and the query that finds it.

Logs: ~234 bytes per record (a ~110-byte body, hex ids, four string attributes). Spans: a
server span with six attributes, an event, a link on every fourth span, an error status on
every twentieth. Metrics: 25 points per request with distinct attribute sets over a gauge, a
monotonic sum, a 10-bucket histogram, an exponential histogram and a summary.
"""
import os
import pathlib
import sys
import time
import urllib.request

# the builders live with the demo workload (scripts/workload/otlp.py): one home for OTLP requests
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from workload import otlp  # noqa: E402
from workload.otlp import PATHS  # noqa: E402,F401  (ingest.py reads signals.PATHS)

METRIC_TABLES = ["metrics_gauge", "metrics_sum", "metrics_histogram", "metrics_exponential_histogram",
                 "metrics_summary"]
SCOPE = "bench"


def resource(seed):
    return otlp.resource({"service.name": f"svc-{seed % 4}", "host.name": "bench-1"})


def logs_request(records: int, seed: int, marker: str | None = None, now: int | None = None) -> bytes:
    now = now or time.time_ns()
    logs = []
    for i in range(records):
        n = seed * 1_000_003 + i
        body = marker or (f"GET /api/v1/orders/{n % 99991} completed in {n % 997} ms for customer "
                          f"{n % 7919:05d} via gateway eu-west-{n % 3} status=200 ok")
        logs.append(otlp.log_record(
            now + i, "INFO", body, trace_id=os.urandom(16), span_id=os.urandom(8),
            attrs={"http.method": "GET", "http.route": "/api/v1/orders/{id}", "http.status_code": "200",
                   "user.tier": ("gold", "silver", "free")[n % 3]}))
    return otlp.logs_body([(resource(seed), logs)], SCOPE)


def traces_request(spans: int, seed: int, marker: str | None = None, now: int | None = None) -> bytes:
    now = now or time.time_ns()
    out = []
    for i in range(spans):
        n = seed * 1_000_003 + i
        start = now + i * 1000
        error = n % 20 == 0
        links = [otlp.span_link(os.urandom(16), os.urandom(8), {"link.kind": "follows_from"})] if n % 4 == 0 else []
        out.append(otlp.span(
            os.urandom(16), os.urandom(8), marker or f"GET /api/v1/orders/{{id}} {n % 13}", "server",
            start, start + 1_000_000 * (1 + n % 250), parent_span_id=os.urandom(8) if n % 5 else b"",
            attrs={"http.method": "GET", "http.route": "/api/v1/orders/{id}",
                   "http.status_code": "500" if error else "200", "net.peer.name": f"10.0.{n % 7}.{n % 251}",
                   "user.tier": ("gold", "silver", "free")[n % 3], "db.system": "duckdb"},
            events=[otlp.span_event(start + 500_000, "cache.miss" if n % 2 else "cache.hit",
                                    {"cache.key": f"order:{n % 99991}"})],
            links=links,
            status="error" if error else "ok", status_message="upstream timeout" if error else ""))
    return otlp.traces_body([(resource(seed), out)], SCOPE)


def metrics_request(seed: int, marker: str | None = None, now: int | None = None) -> bytes:
    """25 points (5 per metric kind), each with its own attribute set; with a marker, one gauge point
    named by it."""
    now = now or time.time_ns()
    if marker:
        return _metrics([otlp.gauge(marker, [otlp.number_point(now, 1.0)])], seed)
    start = now - 60 * 10**9

    def attrs(k):
        n = seed * 31 + k
        return {"http.route": f"/api/v1/r{n % 17}", "http.status_code": ("200", "404", "500")[n % 3],
                "instance": f"pod-{n % 11}"}

    bounds = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0]
    metrics = [
        otlp.gauge("process.memory.usage", unit="By", points=[
            otlp.number_point(now, 1e6 * (k + seed % 100), attrs(k)) for k in range(5)]),
        otlp.counter("http.server.requests", [
            otlp.number_point(now, seed * 7 + k, attrs(k), start_ns=start) for k in range(5, 10)]),
        otlp.histogram("http.server.duration", unit="ms", points=[
            otlp.histogram_point(start, now, bounds, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1234.5, attrs(k))
            for k in range(10, 15)]),
        otlp.exponential_histogram("rpc.server.duration", unit="ms", points=[
            otlp.exponential_histogram_point(start, now, 21, 99.5, scale=3, zero_count=1, offset=2,
                                             bucket_counts=[1, 2, 3, 4, 5, 5], attrs=attrs(k))
            for k in range(15, 20)]),
        otlp.summary("gc.pause", unit="ms", points=[
            otlp.summary_point(start, now, 10, 42.0, {q: q * 10 for q in (0.5, 0.9, 0.99)}, attrs(k))
            for k in range(20, 25)]),
    ]
    return _metrics(metrics, seed)


def _metrics(metrics, seed) -> bytes:
    return otlp.metrics_body([(resource(seed), metrics)], SCOPE)


METRIC_POINTS_PER_REQUEST = 25


def request(signal: str, items: int, seed: int) -> tuple[bytes, int]:
    """A request body of `signal` and how many rows it adds (records, spans or metric points)."""
    if signal == "logs":
        return logs_request(items, seed), items
    if signal == "traces":
        return traces_request(items, seed), items
    return metrics_request(seed), METRIC_POINTS_PER_REQUEST


def probe_request(signal: str, marker: str, now: int) -> bytes:
    if signal == "logs":
        return logs_request(1, 0, marker, now)
    if signal == "traces":
        return traces_request(1, 0, marker, now)
    return metrics_request(0, marker, now)


def probe_query(signal: str, markers: str, oldest_ns: int) -> str:
    """Finds the markers among recent rows, as a live dashboard does: the time bound lets
    DuckLake's file statistics leave only the newest flush to read."""
    if signal == "logs":
        return (f"SELECT body AS marker FROM canardstack.otel.logs "
                f"WHERE timestamp >= make_timestamp_ns({oldest_ns}) AND body IN ({markers})")
    if signal == "traces":
        return (f"SELECT span_name AS marker FROM canardstack.otel.spans "
                f"WHERE timestamp >= make_timestamp_ns({oldest_ns}) AND span_name IN ({markers})")
    return (f"SELECT metric_name AS marker FROM canardstack.otel.metrics_gauge "
            f"WHERE timestamp >= make_timestamp_ns({oldest_ns}) AND metric_name IN ({markers})")


TABLES = {"logs": ["logs"], "traces": ["spans"], "metrics": METRIC_TABLES}


def stored_rows(db, signal: str) -> int:
    return sum(db.sql(f"SELECT count(*) AS n FROM canardstack.otel.{t}")[0]["n"] for t in TABLES[signal])


def data_files(db, signal: str) -> dict[str, tuple[int, float]]:
    """Parquet files and their MB per table of a signal."""
    found = {}
    for table in TABLES[signal]:
        row = db.sql("SELECT count(*) AS n, sum(data_file_size_bytes) AS bytes FROM "
                     f"ducklake_list_files('canardstack', '{table}', schema => 'otel')")[0]
        found[table] = (row["n"], round((row["bytes"] or 0) / 1e6, 1))
    return found


def parse_mix(text: str) -> dict[str, float]:
    """`logs=60,traces=25,metrics=15` -> byte shares that sum to 1."""
    shares = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in PATHS or not weight:
            raise ValueError(f"--mix: {part!r} is not signal=weight (signals: logs, traces, metrics)")
        shares[name.strip()] = float(weight)
    total = sum(shares.values())
    if total <= 0:
        raise ValueError("--mix: the weights must add up to more than 0")
    return {name: weight / total for name, weight in shares.items() if weight > 0}


def service_graph_figures(port) -> dict:
    """The server's canardstack_service_graph_* figures from /metrics (empty for builds without them)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
        text = reply.read().decode()
    prefix = "canardstack_service_graph_"
    return {name[len(prefix):]: float(value) for name, value in
            (line.split() for line in text.splitlines() if line.startswith(prefix))}
