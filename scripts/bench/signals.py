"""Realistic OTLP/protobuf requests of every signal for the ingest benchmark, and the
visibility probe of each: a request carrying one marked item, and the query that finds it.

Logs: ~234 bytes per record (a ~110-byte body, hex ids, four string attributes). Spans: a
server span with six attributes, an event, a link on every fourth span, an error status on
every twentieth. Metrics: 25 points per request with distinct attribute sets over a gauge, a
monotonic sum, a 10-bucket histogram, an exponential histogram and a summary.
"""
import os
import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
PATHS = {"logs": "/v1/logs", "traces": "/v1/traces", "metrics": "/v1/metrics"}
METRIC_TABLES = ["metrics_gauge", "metrics_sum", "metrics_histogram", "metrics_exponential_histogram",
                 "metrics_summary"]


def kv(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value))


def resource(seed):
    return Resource(attributes=[kv("service.name", f"svc-{seed % 4}"), kv("host.name", "bench-1")])


def logs_request(records: int, seed: int, marker: str | None = None, now: int | None = None) -> bytes:
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
        resource=resource(seed),
        scope_logs=[ScopeLogs(scope=InstrumentationScope(name="bench"), log_records=logs)])]).SerializeToString()


def traces_request(spans: int, seed: int, marker: str | None = None, now: int | None = None) -> bytes:
    now = now or time.time_ns()
    out = []
    for i in range(spans):
        n = seed * 1_000_003 + i
        start = now + i * 1000
        error = n % 20 == 0
        links = [Span.Link(trace_id=os.urandom(16), span_id=os.urandom(8),
                           attributes=[kv("link.kind", "follows_from")])] if n % 4 == 0 else []
        out.append(Span(
            trace_id=os.urandom(16), span_id=os.urandom(8), parent_span_id=os.urandom(8) if n % 5 else b"",
            name=marker or f"GET /api/v1/orders/{{id}} {n % 13}", kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start, end_time_unix_nano=start + 1_000_000 * (1 + n % 250),
            attributes=[kv("http.method", "GET"), kv("http.route", "/api/v1/orders/{id}"),
                        kv("http.status_code", "500" if error else "200"), kv("net.peer.name", f"10.0.{n % 7}.{n % 251}"),
                        kv("user.tier", ("gold", "silver", "free")[n % 3]), kv("db.system", "duckdb")],
            events=[Span.Event(time_unix_nano=start + 500_000, name="cache.miss" if n % 2 else "cache.hit",
                               attributes=[kv("cache.key", f"order:{n % 99991}")])],
            links=links,
            status=Status(code=Status.STATUS_CODE_ERROR, message="upstream timeout") if error
            else Status(code=Status.STATUS_CODE_OK)))
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource(seed), scope_spans=[ScopeSpans(scope=InstrumentationScope(name="bench"), spans=out)])]
    ).SerializeToString()


def metrics_request(seed: int, marker: str | None = None, now: int | None = None) -> bytes:
    """25 points (5 per metric kind), each with its own attribute set; with a marker, one gauge point
    named by it."""
    now = now or time.time_ns()
    if marker:
        gauge = Metric(name=marker, gauge=Gauge(data_points=[NumberDataPoint(time_unix_nano=now, as_double=1.0)]))
        return _metrics([gauge], seed)
    start = now - 60 * 10**9

    def attrs(k):
        n = seed * 31 + k
        return [kv("http.route", f"/api/v1/r{n % 17}"), kv("http.status_code", ("200", "404", "500")[n % 3]),
                kv("instance", f"pod-{n % 11}")]

    bounds = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0]
    metrics = [
        Metric(name="process.memory.usage", unit="By", gauge=Gauge(data_points=[
            NumberDataPoint(time_unix_nano=now, as_double=1e6 * (k + seed % 100), attributes=attrs(k)) for k in range(5)])),
        Metric(name="http.server.requests", sum=Sum(is_monotonic=True, aggregation_temporality=CUMULATIVE, data_points=[
            NumberDataPoint(start_time_unix_nano=start, time_unix_nano=now, as_int=seed * 7 + k, attributes=attrs(k))
            for k in range(5, 10)])),
        Metric(name="http.server.duration", unit="ms", histogram=Histogram(
            aggregation_temporality=CUMULATIVE, data_points=[HistogramDataPoint(
                start_time_unix_nano=start, time_unix_nano=now, count=55, sum=1234.5, explicit_bounds=bounds,
                bucket_counts=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], attributes=attrs(k)) for k in range(10, 15)])),
        Metric(name="rpc.server.duration", unit="ms", exponential_histogram=ExponentialHistogram(
            aggregation_temporality=CUMULATIVE, data_points=[ExponentialHistogramDataPoint(
                start_time_unix_nano=start, time_unix_nano=now, count=21, sum=99.5, scale=3, zero_count=1,
                positive=ExponentialHistogramDataPoint.Buckets(offset=2, bucket_counts=[1, 2, 3, 4, 5, 5]),
                attributes=attrs(k)) for k in range(15, 20)])),
        Metric(name="gc.pause", unit="ms", summary=Summary(data_points=[SummaryDataPoint(
            start_time_unix_nano=start, time_unix_nano=now, count=10, sum=42.0, attributes=attrs(k),
            quantile_values=[SummaryDataPoint.ValueAtQuantile(quantile=q, value=q * 10) for q in (0.5, 0.9, 0.99)])
            for k in range(20, 25)])),
    ]
    return _metrics(metrics, seed)


def _metrics(metrics, seed) -> bytes:
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=resource(seed), scope_metrics=[ScopeMetrics(scope=InstrumentationScope(name="bench"), metrics=metrics)])]
    ).SerializeToString()


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
