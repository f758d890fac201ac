#!/usr/bin/env python3
"""Query-API benchmark: loads a lake with logs, spans and metrics through
otlp_serve, then times the requests Grafana makes (Prometheus range query,
Loki log query and volume histogram, Tempo search and trace by id) against
the running server, each repeated, printing p50 and max per request.

Not a test: numbers depend on the machine; BENCHMARKS.md records them.

    .venv/bin/python scripts/bench/query_api.py --logs 400000 --traces 20000 --series 200 --runs 5
"""
import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test/e2e"))
from harness import DuckDB, free_port  # noqa: E402

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs  # noqa: E402
from opentelemetry.proto.metrics.v1.metrics_pb2 import (  # noqa: E402
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status  # noqa: E402

PROTOBUF = {"Content-Type": "application/x-protobuf"}
SERVICES = [f"svc-{i}" for i in range(5)]
LEVELS = [(9, "INFO"), (9, "INFO"), (9, "INFO"), (13, "WARN"), (17, "ERROR")]
HOUR_NS = 3600 * 10**9


def kv(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value))


def resource(service):
    return Resource(attributes=[kv("service.name", service), kv("host.name", "bench-1")])


def logs_body(service, start_ns, count, offset):
    records = []
    for i in range(count):
        n = offset + i
        number, text = LEVELS[n % len(LEVELS)]
        records.append(LogRecord(
            time_unix_nano=start_ns + n * (HOUR_NS // 1_000_000), severity_number=number, severity_text=text,
            body=AnyValue(string_value=f"GET /api/orders/{n % 9973} took {n % 997} ms customer={n % 7919} "
                                       f"status={'500' if text == 'ERROR' else '200'}"),
            attributes=[kv("http.route", "/api/orders/{id}"), kv("user.tier", ("gold", "silver", "free")[n % 3])]))
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=resource(service), scope_logs=[ScopeLogs(log_records=records)])]).SerializeToString()


def spans_body(service, start_ns, first_trace, traces):
    spans = []
    for t in range(first_trace, first_trace + traces):
        trace_id = (t + 1).to_bytes(16, "big")
        begin = start_ns + t * (HOUR_NS // 100_000)
        error = t % 20 == 0
        spans.append(Span(trace_id=trace_id, span_id=(t * 8 + 1).to_bytes(8, "big"), name="GET /api/orders",
                          kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=begin,
                          end_time_unix_nano=begin + 1_000_000 * (5 + t % 300),
                          attributes=[kv("http.route", "/api/orders/{id}")],
                          status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK)))
        for c in range(4):
            spans.append(Span(trace_id=trace_id, span_id=(t * 8 + 2 + c).to_bytes(8, "big"),
                              parent_span_id=(t * 8 + 1).to_bytes(8, "big"), name=f"db query {c}",
                              kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=begin + 1000 * c,
                              end_time_unix_nano=begin + 1000 * c + 500_000, attributes=[kv("db.system", "duckdb")]))
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource(service), scope_spans=[ScopeSpans(spans=spans)])]).SerializeToString()


def metrics_body(service, start_ns, series):
    points = []
    for s in range(series):
        for step in range(240):  # one hour at 15 s
            points.append(NumberDataPoint(time_unix_nano=start_ns + step * 15 * 10**9, start_time_unix_nano=start_ns,
                                          as_double=float(step * (s + 1)),
                                          attributes=[kv("route", f"/r{s}"), kv("code", ("200", "500")[s % 2])]))
    metric = Metric(name="http.server.requests", sum=Sum(
        data_points=points, is_monotonic=True,
        aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE))
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=resource(service), scope_metrics=[ScopeMetrics(metrics=[metric])])]).SerializeToString()


def load(url, start_ns, logs, traces, series):
    per_request = 2000
    for offset in range(0, logs, per_request):
        service = SERVICES[(offset // per_request) % len(SERVICES)]
        post(url, "/v1/logs", logs_body(service, start_ns, min(per_request, logs - offset), offset))
    for first in range(0, traces, 400):
        post(url, "/v1/traces", spans_body(SERVICES[(first // 400) % len(SERVICES)], start_ns, first, 400))
    for service in SERVICES:
        post(url, "/v1/metrics", metrics_body(service, start_ns, max(1, series // len(SERVICES))))


def post(url, path, body):
    while True:
        reply = requests.post(url + path, data=body, headers=PROTOBUF)
        if reply.status_code != 429:
            reply.raise_for_status()
            return
        time.sleep(1)


def timed(runs, call):
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        reply = call()
        took.append(time.perf_counter() - began)
        if reply.status_code != 200:
            raise SystemExit(f"{reply.status_code}: {reply.text[:300]}")
    return reply, took


def answer_size(reply):
    """How much came back: series, streams+lines, or traces; bytes for protobuf."""
    if "json" not in reply.headers.get("Content-Type", ""):
        return f"{len(reply.content)} B"
    body = reply.json()
    if "traces" in body:
        return f"{len(body['traces'])} traces"
    data = body.get("data")
    result = data.get("result") if isinstance(data, dict) else data
    if isinstance(result, list) and result and isinstance(result[0], dict) and "values" in result[0]:
        if "stream" in result[0]:
            return f"{len(result)} streams, {sum(len(r['values']) for r in result)} lines"
        return f"{len(result)} series, {sum(len(r['values']) for r in result)} points"
    return f"{len(result)} items" if isinstance(result, list) else "?"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--logs", type=int, default=400_000)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extension", default=str(ROOT / "build/release/canardstack.duckdb_extension"),
                        help="the build to measure (compare two builds side by side)")
    args = parser.parse_args()
    ducklake = (ROOT / ".venv/ducklake_extension_path").read_text().strip()
    extension = args.extension
    workdir = tempfile.mkdtemp(prefix="canardstack-query-bench-")
    db = DuckDB(workdir, extension, ducklake)
    port = free_port()
    db.sql(f"CALL otlp_serve({port})")
    url = f"http://127.0.0.1:{port}"
    start_ns = (time.time_ns() // 10**9 - 2 * 3600) * 10**9  # the data covers two hours ago .. one hour ago
    began = time.perf_counter()
    load(url, start_ns, args.logs, args.traces, args.series)
    db.sql("CALL otlp_stop()")  # commit everything and compact, then serve queries on the same lake
    db.sql(f"CALL otlp_serve({port})")
    print(f"loaded {args.logs} logs, {args.traces * 5} spans, {args.series} series x 240 points "
          f"in {time.perf_counter() - began:.1f} s")

    start_s, end_s = start_ns / 1e9, start_ns / 1e9 + 3600
    trace_hex = f"{(args.traces // 2 + 1):032x}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    requests_to_time = {
        "prometheus query_range sum by (code) (rate(...[5m])), 1 h / 15 s":
            lambda: requests.post(f"{url}/api/v1/query_range", headers=form, data={
                "query": "sum by (code) (rate(http_server_requests_total[5m]))",
                "start": start_s, "end": end_s, "step": 15}),
        "prometheus series match[]=http_server_requests_total":
            lambda: requests.get(f"{url}/api/v1/series", params={
                "match[]": "http_server_requests_total", "start": start_s, "end": end_s}),
        "loki query_range {service_name=\"svc-1\"} |= \"status=500\" limit 100":
            lambda: requests.get(f"{url}/loki/api/v1/query_range", params={
                "query": '{service_name="svc-1"} |= "status=500"', "start": start_ns, "end": start_ns + HOUR_NS,
                "limit": 100}),
        "loki volume histogram sum by (level, detected_level) (count_over_time(... [1m]))":
            lambda: requests.get(f"{url}/loki/api/v1/query_range", params={
                "query": 'sum by (level, detected_level) (count_over_time({service_name=~".+"} | drop __error__ [1m]))',
                "start": start_ns, "end": start_ns + HOUR_NS, "step": "60s"}),
        "loki labels":
            lambda: requests.get(f"{url}/loki/api/v1/labels", params={"start": start_ns, "end": start_ns + HOUR_NS}),
        "tempo search { status = error } limit 20":
            lambda: requests.get(f"{url}/api/search", params={
                "q": "{ status = error }", "start": int(start_s), "end": int(end_s), "limit": 20}),
        "tempo trace by id (protobuf, v2)":
            lambda: requests.get(f"{url}/api/v2/traces/{trace_hex}", headers={"Accept": "application/protobuf"}),
    }
    print(f"{'request':<84} {'p50 ms':>8} {'max ms':>8}  answer")
    for name, call in requests_to_time.items():
        reply, took = timed(args.runs, call)
        print(f"{name:<84} {statistics.median(took) * 1000:8.1f} {max(took) * 1000:8.1f}  {answer_size(reply)}")
    db.sql("CALL otlp_stop()")
    db.kill()


if __name__ == "__main__":
    main()
