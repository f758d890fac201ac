"""The service graph Grafana draws for a Tempo data source, from the metrics canardstack derives
from spans as Tempo's metrics-generator does: client and server spans of one call (sent in
different requests, from different services) become one request between two services; a
database call, a caller whose callee sends no spans, a root span and a producer/consumer pair
become the edges Tempo makes of them. Every value is checked against what was sent."""
import os
import random
import time

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from harness import committed, free_port, wait_for
from otlp_bodies import attr

PROTOBUF = {"Content-Type": "application/x-protobuf"}
SERVER, CLIENT, PRODUCER, CONSUMER = (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_PRODUCER,
                                      Span.SPAN_KIND_CONSUMER)
MS = 1_000_000


def one_service(service, spans):
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[attr("service.name", service)]), scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString()


def make_span(trace, span_id, parent, kind, start, millis, error=False, attributes=()):
    status = Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK)
    return Span(trace_id=trace, span_id=span_id, parent_span_id=parent, name=f"op{kind}", kind=kind,
                start_time_unix_nano=start, end_time_unix_nano=start + millis * MS, status=status,
                attributes=[attr(k, v) for k, v in attributes])


def traces(count, start, failing):
    """`count` traces of: user -> web (root) -> api -> orders database, api -> payments (no spans),
    api -> worker over a queue. Trace `failing` fails in api's server span. Returns spans per service."""
    spans = {"web": [], "api": [], "worker": []}
    for n in range(count):
        trace = os.urandom(16)
        ids = [os.urandom(8) for _ in range(7)]
        t = start + n * 10 * MS
        spans["web"] += [make_span(trace, ids[0], b"", SERVER, t, 300),
                         make_span(trace, ids[1], ids[0], CLIENT, t + MS, 250)]
        spans["api"] += [make_span(trace, ids[2], ids[1], SERVER, t + 2 * MS, 150, error=(n == failing)),
                         make_span(trace, ids[3], ids[2], CLIENT, t + 3 * MS, 30, attributes=[("db.name", "orders")]),
                         make_span(trace, ids[4], ids[2], CLIENT, t + 4 * MS, 500,
                                   attributes=[("peer.service", "payments")]),
                         make_span(trace, ids[5], ids[2], PRODUCER, t + 5 * MS, 2)]
        spans["worker"] += [make_span(trace, ids[6], ids[5], CONSUMER, t + 8 * MS, 1_700)]
    return spans


def send(url, spans):
    for service, batch in spans.items():
        reply = requests.post(f"{url}/v1/traces", data=one_service(service, batch), headers=PROTOBUF)
        assert reply.status_code == 200, reply.text


def instant(url, query):
    reply = requests.get(f"{url}/api/v1/query", params={"query": query, "time": str(time.time())}).json()
    assert reply["status"] == "success", reply
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in reply["data"]["result"]}


def edge(client, server, connection_type=None, **extra):
    labels = {"client": client, "server": server, **extra}
    if connection_type:
        labels["connection_type"] = connection_type
    return tuple(sorted(labels.items()))


def serve(db, port, extra=""):
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 30, "
           f"service_graph_interval := INTERVAL '200 milliseconds', service_graph_wait := INTERVAL '3 seconds'{extra})")


def requests_counted(url):
    for line in requests.get(f"{url}/metrics").text.splitlines():
        if line.startswith("canardstack_service_graph_requests_total "):
            return float(line.split()[1])
    raise AssertionError("no canardstack_service_graph_requests_total in /metrics")


def test_edges_counted_from_spans_of_several_services(duckdb_process):
    db = duckdb_process()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve(db, port)
    start = time.time_ns() - 2_000 * MS
    sent = traces(5, start, failing=3)
    send(url, sent)
    send(url, {"web": sent["web"]})  # an exporter's retry: the same spans again, counted once
    wait_for(lambda: committed(db, "spans") == 45, "the spans")
    # 5 traces x 5 edges each (user->web, web->api, api->orders, api->payments, api->worker)
    wait_for(lambda: requests_counted(url) == 25, "25 requests in the service graph", timeout=60)
    status = db.sql("SELECT service_graph_requests AS n, service_graph_failures AS failed FROM otlp_status()")[0]
    assert (status["n"], status["failed"]) == (25, 0), "otlp_status() counts what /metrics counts"
    wait_for(lambda: instant(url, "traces_service_graph_request_total"), "the counters")

    totals = instant(url, "traces_service_graph_request_total")
    name = ("__name__", "traces_service_graph_request_total")
    assert totals == {
        tuple(sorted(e + (name,))): 5.0 for e in [
            edge("user", "web", "virtual_node"), edge("web", "api"), edge("api", "orders", "database"),
            edge("api", "payments", "virtual_node"), edge("api", "worker", "messaging_system")]
    }
    # the failed api server span fails the call from web and nothing else
    assert instant(url, "sum by (client, server) (traces_service_graph_request_failed_total)") == {
        edge("web", "api"): 1.0}
    # server latency: api's server spans took 150 ms, worker's consumer spans 1.7 s, web's 300 ms
    server = instant(url, "sum by (client, server, le) (traces_service_graph_request_server_seconds_bucket"
                          "{le=~\"0.2|0.4|1.6|3.2\"})")
    assert server[edge("web", "api", le="0.2")] == 5.0
    assert server[edge("user", "web", le="0.2")] == 0.0 and server[edge("user", "web", le="0.4")] == 5.0
    assert server[edge("api", "worker", le="1.6")] == 0.0 and server[edge("api", "worker", le="3.2")] == 5.0
    # a caller without a callee observes 0 on the server side, its own time on the client side
    assert server[edge("api", "payments", le="0.2")] == 5.0
    client = instant(url, "sum by (client, server) (traces_service_graph_request_client_seconds_sum)")
    assert round(client[edge("api", "payments")], 6) == 2.5
    assert round(client[edge("web", "api")], 6) == 1.25
    assert round(client[edge("user", "web")], 6) == 0.0
    seconds = instant(url, "sum by (client, server) (traces_service_graph_request_server_seconds_sum)")
    assert round(seconds[edge("web", "api")], 6) == 0.75
    assert round(seconds[edge("api", "orders")], 6) == 0.15, "a database edge is the client span's time"
    assert instant(url, "sum by (client, server) (traces_service_graph_request_server_seconds_count)")[
        edge("api", "worker")] == 5.0

    # Grafana's own service map queries (instant, over the dashboard's range) and its check for the metrics
    for metric in ["traces_service_graph_request_total", "traces_service_graph_request_server_seconds_sum"]:
        rates = instant(url, f"sum by (client, server) (rate({metric}[5m]))")
        assert set(rates) == {edge("user", "web"), edge("web", "api"), edge("api", "orders"),
                              edge("api", "payments"), edge("api", "worker")}, metric
        # payments sent no spans: its time as a server is unknown, observed as 0 as Tempo does
        unknown = {edge("api", "payments")} if metric.endswith("seconds_sum") else set()
        assert all((value == 0) == (key in unknown) for key, value in rates.items()), rates
    keys = requests.get(f"{url}/api/v1/labels", params={
        "match[]": '{__name__=~"traces_service_graph_request_server_seconds_sum|traces_service_graph_request_total|'
                   'traces_service_graph_request_failed_total"}'}).json()
    assert {"client", "server", "connection_type"} <= set(keys["data"]), keys

    # a restart continues after the last window: nothing counted twice, the counters start again
    db.sql("CALL otlp_stop()")
    progress = db.sql("SELECT count(*) AS n, max(done_through_ns) AS done FROM canardstack.otel.canardstack_derived")[0]
    assert progress["n"] == 1 and progress["done"] > start
    serve(db, port)
    send(url, traces(2, time.time_ns() - 2_000 * MS, failing=-1))
    wait_for(lambda: requests_counted(url) == 10, "the new traces only", timeout=60)
    per_start = db.sql(
        "SELECT start_timestamp, max(value) AS value FROM canardstack.otel.metrics_sum "
        "WHERE metric_name = 'traces_service_graph_request_total' AND attributes['server'] = 'api' "
        "GROUP BY ALL ORDER BY start_timestamp")
    assert [row["value"] for row in per_start] == [5.0, 2.0]
    increase = instant(url, "sum(increase(traces_service_graph_request_total{server=\"api\"}[10m]))")
    assert increase[()] >= 7.0 - 1e-9, "rate and increase see the restart as a counter reset"
    db.sql("CALL otlp_stop()")


def test_spans_older_than_the_first_window_and_switched_off_graph_write_nothing(duckdb_process):
    db = duckdb_process()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve(db, port)
    # these spans ended before the first window of this lake's graph: history is not derived
    send(url, traces(2, time.time_ns() - 120_000 * MS, failing=-1))
    wait_for(lambda: committed(db, "spans") == 14, "the old spans")
    wait_for(lambda: _windows(url) >= 3, "three windows")
    assert requests_counted(url) == 0
    db.sql("CALL otlp_stop()")
    serve(db, port, ", service_graph := false")
    send(url, traces(2, time.time_ns() - 2_000 * MS, failing=-1))
    wait_for(lambda: committed(db, "spans") == 14, "the spans")
    time.sleep(4.0)  # longer than the wait and many intervals
    assert (_windows(url), requests_counted(url)) == (0, 0)
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.metrics_sum")[0]["n"] == 0
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.metrics_histogram")[0]["n"] == 0
    db.sql("CALL otlp_stop()")


def test_kill_rounds_count_every_request_once(duckdb_process, tmp_path):
    """kill -9 at random moments: some windows derived, some spans only in the spool. The
    windows resume after the last one committed, and spans replayed from the spool after a
    downtime longer than the wait are counted too: every request once over all the runs."""
    rng = random.Random(5)
    sent = 0
    for _ in range(3):
        db = duckdb_process(cwd=tmp_path)
        port = free_port()
        serve(db, port)
        batch = rng.randint(4, 9)
        send(f"http://127.0.0.1:{port}", traces(batch, time.time_ns() - 1_000 * MS, failing=-1))
        sent += batch
        time.sleep(rng.uniform(0.0, 4.0))
        db.kill()
        time.sleep(4.0)  # longer than the wait: the window of the spans left in the spool is due at restart
    db = duckdb_process(cwd=tmp_path)
    serve(db, free_port())
    lake = "canardstack.otel"
    assert db.sql(f"SELECT count(*) AS n FROM {lake}.spans")[0]["n"] == 7 * sent, "every span once"
    last_end = db.sql(f"SELECT epoch_ns(max(end_timestamp)) AS t FROM {lake}.spans")[0]["t"]
    wait_for(lambda: (db.sql(f"SELECT max(done_through_ns) AS t FROM {lake}.canardstack_derived")[0]["t"] or 0)
             >= last_end, "the windows past the last span", timeout=60)
    # each run's counters start from zero: a run's count is its series' last values
    counted = db.sql(
        f"SELECT sum(last) AS n FROM (SELECT max(value) AS last FROM {lake}.metrics_sum "
        "WHERE metric_name = 'traces_service_graph_request_total' GROUP BY start_timestamp, attributes)")[0]["n"]
    assert counted == 5 * sent, (counted, sent)
    db.sql("CALL otlp_stop()")


def _windows(url):
    for line in requests.get(f"{url}/metrics").text.splitlines():
        if line.startswith("canardstack_service_graph_windows_total "):
            return float(line.split()[1])
    return 0
