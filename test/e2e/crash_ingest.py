"""Crash rounds: concurrent senders of logs, spans and metric points (gauge and
histogram), kill -9 of the DuckDB process at a random moment, restart, and
finally check every acknowledged item is stored exactly once, per signal and
per metric table. The senders speak OTLP/HTTP or OTLP/gRPC (`--transport`).
Used by test_crash.py (short) and runnable longer by hand:

    .venv/bin/python test/e2e/crash_ingest.py --rounds 200 [--transport grpc]
"""
import argparse
import os
import pathlib
import random
import sys
import tempfile
import threading
import time

import grpc
import requests
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from harness import DuckDB, free_port  # noqa: E402
from otlp_bodies import T0, attr, logs_request, span, spans_request  # noqa: E402

HEADERS = {"Content-Type": "application/x-protobuf"}
ITEMS_PER_REQUEST = 20
# each sender sends one signal; every item carries a unique id: a log body, a span name, or the
# `id` attribute of a gauge point and of a histogram point
SIGNALS = ("logs", "traces", "metrics")
# what identifies an item in each table it lands in
STORED_IDS = {
    "logs": "SELECT body AS id, count(*) AS n FROM canardstack.otel.logs GROUP BY 1",
    "traces": "SELECT span_name AS id, count(*) AS n FROM canardstack.otel.spans GROUP BY 1",
    "metrics_gauge": "SELECT attributes['id'] AS id, count(*) AS n FROM canardstack.otel.metrics_gauge GROUP BY 1",
    "metrics_histogram": "SELECT attributes['id'] AS id, count(*) AS n FROM canardstack.otel.metrics_histogram "
                         "GROUP BY 1",
}


def metrics_request(ids) -> bytes:
    gauge = Metric(name="crash.gauge", gauge=Gauge(data_points=[
        NumberDataPoint(time_unix_nano=T0, as_double=1.0, attributes=[attr("id", i)]) for i in ids]))
    histogram = Metric(name="crash.latency", histogram=Histogram(aggregation_temporality=2, data_points=[
        HistogramDataPoint(time_unix_nano=T0, count=3, sum=6.0, explicit_bounds=[1.0, 5.0], bucket_counts=[1, 1, 1],
                           attributes=[attr("id", i)]) for i in ids]))
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=Resource(attributes=[attr("service.name", "svc")]),
        scope_metrics=[ScopeMetrics(metrics=[gauge, histogram])])]).SerializeToString()


# the OTLP/gRPC Export method of each signal, called with the same protobuf bytes
GRPC_METHODS = {
    "/v1/logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "/v1/traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/v1/metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


def request_for(signal, ids) -> tuple[str, bytes]:
    if signal == "logs":
        return "/v1/logs", logs_request(ids)
    if signal == "traces":
        spans = [span(i, os.urandom(16), os.urandom(8)) for i in ids]
        return "/v1/traces", spans_request(spans)
    return "/v1/metrics", metrics_request(ids)


def http_sender(port):
    """A function sending one OTLP/HTTP body, True when it was acknowledged."""
    session = requests.Session()

    def send(path, body):
        try:
            return session.post(f"http://127.0.0.1:{port}{path}", data=body, headers=HEADERS, timeout=5).status_code == 200
        except requests.RequestException:
            return False
    return send


def grpc_sender(port):
    """The same over OTLP/gRPC: one channel per sender, the message sent as bytes."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    calls = {path: channel.unary_unary(method, request_serializer=None, response_deserializer=None)
             for path, method in GRPC_METHODS.items()}

    def send(path, body):
        try:
            calls[path](body, timeout=5)
            return True
        except grpc.RpcError:
            return False
    return send


def sender(send, signal, name, stop, acked, lock):
    n = 0
    while not stop.is_set():
        ids = [f"{name}-{n}-{i}" for i in range(ITEMS_PER_REQUEST)]
        n += 1
        path, body = request_for(signal, ids)
        if send(path, body):
            with lock:
                acked[signal].update(ids)
        else:
            time.sleep(0.02)


def crash_rounds(workdir, extension, ducklake, rounds, senders=6, seed=None, transport="http"):
    """Returns the acknowledged ids per signal and the stored ids (with their counts) per table."""
    rng = random.Random(seed)
    acked, lock = {signal: set() for signal in SIGNALS}, threading.Lock()
    for round_number in range(rounds):
        db = DuckDB(workdir, extension, ducklake)
        port, grpc_port = free_port(), free_port()
        db.sql(f"CALL otlp_serve({port}, grpc_port := {grpc_port}, retention := INTERVAL '0 days', "
               f"flush_interval_ms := {rng.choice([20, 100, 300])})")
        stop = threading.Event()
        connect = (lambda: grpc_sender(grpc_port)) if transport == "grpc" else (lambda: http_sender(port))
        threads = [threading.Thread(target=sender, args=(connect(), SIGNALS[s % len(SIGNALS)],
                                                         f"r{round_number}s{s}", stop, acked, lock))
                   for s in range(senders)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.1, 0.8))
        db.kill()
        stop.set()
        for t in threads:
            t.join()
    db = DuckDB(workdir, extension, ducklake)
    db.sql(f"CALL otlp_serve({free_port()}, retention := INTERVAL '0 days')")
    db.sql("CALL otlp_stop()")
    stored = {table: {row["id"]: row["n"] for row in db.sql(sql)} for table, sql in STORED_IDS.items()}
    db.close()
    return acked, stored


def problems(acked, stored) -> dict:
    """Acknowledged ids missing from a table, and ids stored more than once, per table."""
    found = {}
    for table, ids in stored.items():
        signal = "metrics" if table.startswith("metrics") else table
        missing = sorted(acked[signal] - ids.keys())
        duplicated = sorted(i for i, n in ids.items() if n > 1)
        if missing or duplicated:
            found[table] = {"missing": missing[:10], "missing_count": len(missing),
                            "duplicated": duplicated[:10], "duplicated_count": len(duplicated)}
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--transport", choices=("http", "grpc"), default="http")
    parser.add_argument("--extension", default="build/release/canardstack.duckdb_extension")
    parser.add_argument("--ducklake", default=open(".venv/ducklake_extension_path").read().strip())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        acked, stored = crash_rounds(workdir, os.path.abspath(args.extension), args.ducklake, args.rounds,
                                     transport=args.transport)
    found = problems(acked, stored)
    print(f"transport={args.transport} rounds={args.rounds} acknowledged={ {s: len(ids) for s, ids in acked.items()} } "
          f"stored={ {t: len(ids) for t, ids in stored.items()} } problems={found}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
