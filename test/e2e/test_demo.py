"""The one-command demo (scripts/demo.py, `make demo`): the shop workload it sends, a real demo
process on a free port with its lake in a tmp dir, read back through the Prometheus, Loki and
Tempo APIs the way the Grafana provisioning in deploy/grafana reads it, every dashboard and
data-source-link query included, then stopped with SIGINT and its lake read with plain DuckDB.

The module's demo runs at 20 user requests/s with 20% failing (seeded), so errors show up in
the first export; everything is polled with a deadline."""
import ast
import base64
import json
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pytest
import requests
import yaml
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from harness import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from workload import shop  # noqa: E402

GRAFANA = ROOT / "deploy/grafana"
DEMO = ROOT / "scripts/demo.py"
SERVICES = {"frontend", "cart", "checkout", "inventory", "payment"}
# a server span per service reached and a client span per call, for a request that does not fail
SPANS_PER_REQUEST = {"GET /products/{id}": 3, "GET /cart": 3, "POST /checkout": 7}
CHECKOUT_SERVICES = {"frontend", "checkout", "inventory", "payment"}
SECOND = 10**9
T0 = 1_767_225_600 * SECOND
# what the provisioning's $CANARDSTACK_API_KEY gives when the server has no key: accepted as any header is
AUTH = {"Authorization": "Bearer "}
DEADLINE_SECONDS = 30


def poll(fetch, accept, what: str, seconds: float = DEADLINE_SECONDS):
    """Calls fetch() until accept(result) holds; fails naming `what` and the last result."""
    deadline = time.monotonic() + seconds
    while True:
        result = fetch()
        if accept(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {seconds} s; last answer: {str(result)[:2000]}")
        time.sleep(0.3)


# ---- the workload generator alone ----------------------------------------------------------

def decoded_export(workload: shop.Shop, at_ns: int):
    export = workload.export(at_ns, SECOND)
    return (export, ExportTraceServiceRequest.FromString(export.bodies["traces"]),
            ExportLogsServiceRequest.FromString(export.bodies["logs"]),
            ExportMetricsServiceRequest.FromString(export.bodies["metrics"]))


def metric_points(request: ExportMetricsServiceRequest) -> dict:
    """(service, metric, attributes) -> the point, over every resource of the request."""
    points = {}
    for resource_metrics in request.resource_metrics:
        service = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}["service.name"]
        for metric in resource_metrics.scope_metrics[0].metrics:
            kind = metric.WhichOneof("data")
            for point in getattr(metric, kind).data_points:
                labels = tuple((a.key, a.value.int_value or a.value.string_value) for a in point.attributes)
                points[(service, metric.name, labels)] = point
    return points


def test_cumulative_metrics_only_grow_between_exports_and_keep_their_start_time():
    workload = shop.Shop(rate=20, error_rate=0.2, seed=7, start_ns=T0)
    first = metric_points(decoded_export(workload, T0 + SECOND)[3])
    second = metric_points(decoded_export(workload, T0 + 2 * SECOND)[3])
    cumulative = {key: point for key, point in first.items() if key[1] != "http.server.active_requests"}
    assert cumulative and set(first) <= set(second), "a cumulative series must be reported again, idle or not"
    for key, before in cumulative.items():
        after = second[key]
        assert before.start_time_unix_nano == after.start_time_unix_nano == T0, key
        assert (before.time_unix_nano, after.time_unix_nano) == (T0 + SECOND, T0 + 2 * SECOND), key
        if key[1] == "http.server.requests":
            assert after.as_int >= before.as_int > 0, key
        else:
            assert after.count >= before.count > 0 and after.sum >= before.sum, key
            assert all(b <= a for b, a in zip(before.bucket_counts, after.bucket_counts)), key
            assert after.count == sum(after.bucket_counts) and list(after.explicit_bounds) == shop.DURATION_BUCKETS
            # the histogram and the counter observe the same requests
            assert after.count == second[(key[0], "http.server.requests", key[2])].as_int, key
    requests_counted = [sum(p.as_int for k, p in points.items() if k[0] == "frontend" and k[1] == "http.server.requests")
                        for points in (first, second)]
    assert requests_counted == [20, 40], "the frontend counts every user request: 20 per second"
    gauges = {k[0]: p.as_double for k, p in second.items() if k[1] == "http.server.active_requests"}
    assert set(gauges) == SERVICES and all(value >= 0 for value in gauges.values())


def test_spans_nest_inside_their_parents_and_logs_belong_to_server_spans():
    export, traces, logs, _ = decoded_export(shop.Shop(rate=200, error_rate=0.2, seed=3, start_ns=T0), T0 + SECOND)
    spans = {}
    for resource_spans in traces.resource_spans:
        service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
        for span in resource_spans.scope_spans[0].spans:
            spans[span.span_id] = (service, span)
    by_trace = {}
    for service, span in spans.values():
        by_trace.setdefault(span.trace_id, []).append((service, span))
    assert len(by_trace) == 200
    failed = 0
    for trace in by_trace.values():
        roots = [span for _, span in trace if not span.parent_span_id]
        assert len(roots) == 1 and roots[0].kind == Span.SPAN_KIND_SERVER
        root = roots[0]
        if root.status.code == Status.STATUS_CODE_ERROR:
            failed += 1
            assert len(trace) <= SPANS_PER_REQUEST[root.name]
        else:
            assert len(trace) == SPANS_PER_REQUEST[root.name], root.name
        assert len({service for service, _ in trace}) >= 2
        for service, span in trace:
            if span.status.code == Status.STATUS_CODE_ERROR:
                assert [e.name for e in span.events] == ["exception"], span
            if span is root:
                continue
            parent_service, parent = spans[span.parent_span_id]
            assert parent.trace_id == span.trace_id
            assert parent.start_time_unix_nano <= span.start_time_unix_nano < span.end_time_unix_nano \
                <= parent.end_time_unix_nano, (span.name, parent.name)
            if span.kind == Span.SPAN_KIND_CLIENT:
                assert parent.kind == Span.SPAN_KIND_SERVER and parent_service == service
            else:  # a server span is called by a client span of another service
                assert parent.kind == Span.SPAN_KIND_CLIENT and parent_service != service
    assert 20 <= failed <= 60, f"{failed} of 200 requests failed at an error rate of 0.2"
    records = [record for resource_logs in logs.resource_logs for record in resource_logs.scope_logs[0].log_records]
    server_spans = [span for _, span in spans.values() if span.kind == Span.SPAN_KIND_SERVER]
    assert len(records) == len(server_spans)
    for record in records:
        _, span = spans[record.span_id]
        assert record.trace_id == span.trace_id and span.kind == Span.SPAN_KIND_SERVER
        assert span.start_time_unix_nano <= record.time_unix_nano <= span.end_time_unix_nano
        assert (record.severity_text == "ERROR") == (span.status.code == Status.STATUS_CODE_ERROR)
    assert len(export.requests) == 200


def test_a_seed_gives_the_same_workload():
    bodies = [shop.Shop(rate=5, seed=42, start_ns=T0).export(T0 + SECOND, SECOND).bodies for _ in range(2)]
    assert bodies[0] == bodies[1]


# ---- the Grafana provisioning files, without a server --------------------------------------

def grafana_interpolate(text: str, environment: dict) -> str:
    """What Grafana does to a provisioning file's values: $NAME and ${NAME} from the
    environment, $$ a literal $."""
    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)",
                  lambda m: "$" if m.group(0) == "$$" else environment.get(m.group(1) or m.group(2), ""), text)


def provisioned_datasources(url: str) -> dict:
    raw = yaml.safe_load((GRAFANA / "provisioning/datasources/canardstack.yaml").read_text())
    interpolated = json.loads(grafana_interpolate(json.dumps(raw), {"CANARDSTACK_URL": url}))
    return {source["type"]: source for source in interpolated["datasources"]}


def linked_uids(source: dict) -> list[str]:
    settings = source["jsonData"]
    links = [settings.get(name, {}).get("datasourceUid") for name in ("tracesToLogsV2", "tracesToMetrics", "serviceMap")]
    links += [field["datasourceUid"] for field in settings.get("derivedFields", [])]
    links += [target["datasourceUid"] for target in settings.get("exemplarTraceIdDestinations", [])]
    return [uid for uid in links if uid]


def test_the_provisioning_parses_and_its_links_name_existing_data_sources():
    sources = provisioned_datasources("http://127.0.0.1:4318")
    assert set(sources) == {"prometheus", "loki", "tempo"}
    uids = {source["uid"] for source in sources.values()}
    assert uids == {"canardstack-prometheus", "canardstack-loki", "canardstack-tempo"}
    assert {source["url"] for source in sources.values()} == {"http://127.0.0.1:4318"}
    assert {source["secureJsonData"]["httpHeaderValue1"] for source in sources.values()} == {"Bearer "}
    tempo = sources["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "canardstack-loki"
    assert tempo["serviceMap"]["datasourceUid"] == "canardstack-prometheus"
    assert "${__trace.traceId}" in tempo["tracesToLogsV2"]["query"]
    assert sources["loki"]["jsonData"]["derivedFields"][0]["url"] == "${__value.raw}"
    for source in sources.values():
        assert set(linked_uids(source)) <= uids, source["name"]
    assert {uid for source in sources.values() for uid in linked_uids(source)} == uids
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/canardstack.yaml").read_text())["providers"]
    assert [p["type"] for p in providers] == ["file"]
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] in uids, panel["title"]


def dashboard_panels() -> list[dict]:
    [path] = (GRAFANA / "dashboards").glob("*.json")
    return json.loads(path.read_text())["panels"]


# ---- a running demo ------------------------------------------------------------------------

class RunningDemo:
    def __init__(self, process: subprocess.Popen, url: str, lake: pathlib.Path):
        self.process, self.url, self.lake = process, url, lake
        self.lines: list[str] = []
        threading.Thread(target=self.collect, daemon=True).start()

    def collect(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, seconds: float) -> re.Match:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)
            if found:
                return found
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                pytest.fail(f"the demo exited with {self.process.returncode}:\n{self.output}")
            time.sleep(0.1)
        pytest.fail(f"no line matching {pattern!r} within {seconds} s:\n{self.output}")

    def get(self, path: str, **params):
        reply = requests.get(self.url + path, params=params, headers=AUTH, timeout=30)
        assert reply.status_code == 200, f"GET {path} {params}: {reply.status_code} {reply.text[:500]}"
        return reply.json()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def start_demo(lake: pathlib.Path, extension, ducklake, *flags) -> RunningDemo:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--port", str(port), "--dir", str(lake), "--extension", str(extension),
         "--ducklake", str(ducklake), "--no-prompt", *flags],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return RunningDemo(process, f"http://127.0.0.1:{port}", lake)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, extension, ducklake_extension):
    running = start_demo(tmp_path_factory.mktemp("demo") / "lake", extension, ducklake_extension,
                         "--seconds", "300", "--rate", "20", "--error-rate", "0.2", "--seed", "11")
    running.wait_for_line(r"^running until Ctrl-C", 60)  # printed after the summary and the examples
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def window() -> dict:
    now = int(time.time())
    return {"start": now - 600, "end": now + 60}


def search_traces(demo, traceql: str) -> list[dict]:
    return demo.get("/api/search", q=traceql, limit=20, **window())["traces"]


def trace_spans(demo, trace_id: str) -> list[dict]:
    """The spans of a trace from Tempo's /api/traces/<id>, ids in hex, with their service."""
    spans = []
    for batch in demo.get(f"/api/traces/{trace_id}")["batches"]:
        service = {a["key"]: a["value"]["stringValue"] for a in batch["resource"]["attributes"]}["service.name"]
        for scope in batch["scopeSpans"]:
            for span in scope["spans"]:
                spans.append({"service": service, "name": span["name"], "kind": span["kind"],
                              "id": base64.b64decode(span["spanId"]).hex(),
                              "parent": base64.b64decode(span.get("parentSpanId", "")).hex(),
                              "start": int(span["startTimeUnixNano"]), "end": int(span["endTimeUnixNano"]),
                              "trace": base64.b64decode(span["traceId"]).hex()})
    return spans


def a_checkout_trace(demo) -> str:
    found = poll(lambda: search_traces(demo, '{ span.http.route = "/checkout" && kind = server && '
                                             'resource.service.name = "frontend" && status != error }'),
                 bool, "a checkout trace that did not fail")
    return found[0]["traceID"].rjust(32, "0")


def test_the_demo_prints_its_endpoint_examples_and_rows_per_table(demo):
    counts = dict(re.findall(r"(\w+) (\d+) rows", demo.wait_for_line(r"^data visible after", 1).string))
    assert set(counts) == {"logs", "spans", "metrics_sum", "metrics_histogram", "metrics_gauge"}
    assert all(int(n) > 0 for n in counts.values()), counts
    assert f"APIs at {demo.url}" in demo.output
    for expected in ("FROM canardstack.otel.spans", "promql_query(", "loki_query(", "tempo_search(",
                     f"curl -s {demo.url}/api/v1/query", f"curl -s {demo.url}/api/traces/"):
        assert expected in demo.output, expected
    listed = {line.split()[0] for line in demo.lines if re.match(r"^\w+ +\d+ +\d+ +\d+$", line)}
    assert listed == SERVICES


def test_a_trace_from_the_tempo_api_spans_four_services_with_correct_parent_links(demo):
    trace_id = a_checkout_trace(demo)
    spans = trace_spans(demo, trace_id)
    assert len(spans) == SPANS_PER_REQUEST["POST /checkout"]
    assert {span["service"] for span in spans} == CHECKOUT_SERVICES
    assert {span["trace"] for span in spans} == {trace_id}
    by_id = {span["id"]: span for span in spans}
    [root] = [span for span in spans if not span["parent"]]
    assert (root["service"], root["kind"], root["name"]) == ("frontend", "SPAN_KIND_SERVER", "POST /checkout")
    for span in spans:
        if span is root:
            continue
        parent = by_id[span["parent"]]
        assert parent["start"] <= span["start"] and span["end"] <= parent["end"]
        if span["kind"] == "SPAN_KIND_SERVER":
            assert parent["kind"] == "SPAN_KIND_CLIENT" and parent["service"] != span["service"]
        else:
            assert span["kind"] == "SPAN_KIND_CLIENT" and parent["service"] == span["service"]
    # the client calls of the checkout service, in order, each to its own callee
    calls = sorted((s for s in spans if s["kind"] == "SPAN_KIND_CLIENT" and s["service"] == "checkout"),
                   key=lambda s: s["start"])
    assert [c["name"] for c in calls] == ["POST /inventory/reserve", "POST /payments/charge"]
    assert calls[0]["end"] <= calls[1]["start"]


def test_loki_finds_exactly_the_logs_of_a_traces_server_spans(demo):
    trace_id = a_checkout_trace(demo)
    server_spans = {s["id"]: s["service"] for s in trace_spans(demo, trace_id) if s["kind"] == "SPAN_KIND_SERVER"}
    streams = demo.get("/loki/api/v1/query_range", query=f'{{service_name=~".+"}} | trace_id="{trace_id}"',
                       limit=100, **window())["data"]["result"]
    lines = [(stream["stream"], value) for stream in streams for value in stream["values"]]
    assert len(lines) == len(server_spans) == 4
    for labels, (_, line) in lines:
        assert labels["trace_id"] == trace_id
        assert server_spans[labels["span_id"]] == labels["service_name"]
        assert labels["detected_level"] in ("info", "warn") and "status=200" in line


def test_the_request_counters_rate_is_positive_for_every_service(demo):
    def rates():
        reply = demo.get("/api/v1/query", query="sum by (service_name) (rate(http_server_requests_total[1m]))")
        return {r["metric"]["service_name"]: float(r["value"][1]) for r in reply["data"]["result"]}

    found = poll(rates, lambda r: set(r) == SERVICES and all(v > 0 for v in r.values()),
                 "a positive request rate for each of the five services")
    assert found["frontend"] == max(found.values()), "every user request passes the frontend"


def service_graph_edges() -> set:
    """The calls of the shop's workload, as Tempo's service graph names them: each user request
    reaches a frontend route from outside (client "user"), each operation calls its callees."""
    edges = set()

    def walk(op):
        for call in op.calls:
            edges.add((op.service, call.service))
            walk(call)

    for _, root in shop.USER_REQUESTS:
        edges.add(("user", root.service))
        walk(root)
    return edges


def test_the_service_graph_has_every_call_of_the_workload_and_its_failures(demo):
    def grafana_service_map(metric):
        # the instant query Grafana's Tempo data source sends for its service map
        reply = demo.get("/api/v1/query", query=f"sum by (client, server) (rate({metric}[5m]))")
        return {(r["metric"]["client"], r["metric"]["server"]): float(r["value"][1]) for r in reply["data"]["result"]}

    expected = service_graph_edges()
    assert expected == {("user", "frontend"), ("frontend", "inventory"), ("frontend", "cart"),
                        ("frontend", "checkout"), ("checkout", "inventory"), ("checkout", "payment")}
    totals = poll(lambda: grafana_service_map("traces_service_graph_request_total"),
                  lambda found: set(found) == expected and all(v > 0 for v in found.values()),
                  "every call of the workload in the service graph", seconds=60)
    assert totals[("user", "frontend")] == max(totals.values()), "every user request reaches the frontend"
    # a fifth of the user requests fail somewhere, and a failure fails every caller up to the frontend
    failed = poll(lambda: grafana_service_map("traces_service_graph_request_failed_total"),
                  lambda found: ("user", "frontend") in found, "failed requests from users")
    assert set(failed) <= expected, failed
    assert 0 < failed[("user", "frontend")] < totals[("user", "frontend")], (failed, totals)


def grafana_query(demo, target: dict, datasource: str):
    """Runs a panel's target as Grafana would over the last 10 minutes; returns the result list."""
    now = int(time.time())
    if datasource == "prometheus":
        expr = target["expr"].replace("$__rate_interval", "1m")
        return demo.get("/api/v1/query_range", query=expr, start=now - 600, end=now, step=15)["data"]["result"]
    if datasource == "loki":
        expr = target["expr"].replace("$__interval", "15s")
        return demo.get("/loki/api/v1/query_range", query=expr, start=now - 600, end=now + 1, step=15,
                        limit=target.get("maxLines", 100))["data"]["result"]
    assert target["queryType"] == "traceql"
    return search_traces(demo, target["query"])


def test_every_dashboard_query_answers_with_data(demo):
    panels = dashboard_panels()
    assert len(panels) == 7
    kinds = set()
    for panel in panels:
        datasource = panel["datasource"]["type"]
        for target in panel["targets"]:
            assert "$" not in re.sub(r"\$__(rate_)?interval", "", json.dumps(target)), \
                f"{panel['title']}: a Grafana variable the test does not substitute"
            poll(lambda: grafana_query(demo, target, datasource), bool, f"data for the panel {panel['title']!r}")
            kinds.add((datasource, panel["type"]))
    assert kinds == {("prometheus", "timeseries"), ("loki", "timeseries"), ("loki", "logs"), ("tempo", "table")}


def test_the_data_source_links_lead_from_traces_to_logs_and_metrics_and_back(demo):
    sources = provisioned_datasources(demo.url)
    trace_id = a_checkout_trace(demo)
    # Tempo -> Loki for a span of the checkout service, ${__tags} from its service.name
    logs_query = sources["tempo"]["jsonData"]["tracesToLogsV2"]["query"]
    logs_query = logs_query.replace("${__tags}", 'service_name="checkout"').replace("${__trace.traceId}", trace_id)
    streams = demo.get("/loki/api/v1/query_range", query=logs_query, **window())["data"]["result"]
    assert [(s["stream"]["service_name"], s["stream"]["trace_id"], len(s["values"])) for s in streams] == \
        [("checkout", trace_id, 1)]
    # Tempo -> Prometheus
    for metrics_query in sources["tempo"]["jsonData"]["tracesToMetrics"]["queries"]:
        expr = metrics_query["query"].replace("$__tags", 'service_name="checkout"')
        result = demo.get("/api/v1/query", query=expr)["data"]["result"]
        assert [r["metric"] for r in result] == [{"http_route": "/checkout"}] and float(result[0]["value"][1]) > 0
    # Loki -> Tempo: the derived field's label value is the trace id the trace view opens
    derived = sources["loki"]["jsonData"]["derivedFields"][0]
    stream = streams[0]["stream"]
    assert re.fullmatch(derived["matcherRegex"], "trace_id") and derived["matcherType"] == "label"
    linked = derived["url"].replace("${__value.raw}", stream[derived["matcherRegex"]])
    assert {span["trace"] for span in trace_spans(demo, linked)} == {trace_id}
    # Prometheus exemplars -> Tempo
    [destination] = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    exemplars = poll(lambda: demo.get("/api/v1/query_exemplars", query="http_server_request_duration_seconds_bucket",
                                      **window())["data"], bool, "exemplars on the duration histogram")
    exemplar_trace = exemplars[0]["exemplars"][0]["labels"][destination["name"]]
    assert trace_spans(demo, exemplar_trace), "an exemplar's trace id must open a stored trace"


def test_sigint_stops_the_demo_cleanly_and_the_lake_holds_whole_traces(demo, ducklake_extension):
    """Runs last in this module: it stops the module's demo."""
    assert demo.stop() == 0, demo.output
    stop_line = demo.wait_for_line(r"^otlp_stop: rows committed (\{.*\}), spool backlog 0, abandoned 0$", 5)
    committed = ast.literal_eval(stop_line.group(1))
    con = duckdb.connect()
    con.execute(f"LOAD '{ducklake_extension}'")
    con.execute(f"ATTACH 'ducklake:{demo.lake}/catalog.ducklake' AS lake (DATA_PATH '{demo.lake}/data/', READ_ONLY)")
    # what the writer committed, beside the service graph's points derived from the spans
    stored = {table: con.execute(f"SELECT count(*) FROM lake.otel.{table} "
                                 "WHERE scope_name IS DISTINCT FROM 'canardstack.service_graph'").fetchone()[0]
              for table in committed}
    assert stored == committed
    derived = con.execute("SELECT count(DISTINCT metric_name) FROM lake.otel.metrics_sum "
                          "WHERE scope_name = 'canardstack.service_graph'").fetchone()[0]
    assert derived == 2, "request and failed counters"
    per_trace = con.execute("""
        SELECT any_value(span_name) FILTER (parent_span_id = '') AS root, count(*) AS spans,
               bool_or(status_code = 'Error') AS failed, count(*) FILTER (span_kind = 'Server') AS servers
        FROM lake.otel.spans GROUP BY trace_id""").fetchall()
    assert len(per_trace) >= 20
    for root, spans, failed, _ in per_trace:
        if not failed:
            assert spans == SPANS_PER_REQUEST[root], (root, spans)
    assert sum(servers for *_, servers in per_trace) == stored["logs"]
    services = {row[0] for row in con.execute("SELECT DISTINCT service_name FROM lake.otel.spans").fetchall()}
    assert services == SERVICES


def test_a_bounded_demo_stops_by_itself(tmp_path, extension, ducklake_extension):
    started = time.monotonic()
    bounded = start_demo(tmp_path / "lake", extension, ducklake_extension, "--seconds", "3", "--rate", "5")
    code = bounded.process.wait(timeout=60)
    bounded.wait_for_line(r"^otlp_stop: rows committed .* spool backlog 0, abandoned 0$", 5)
    assert code == 0, bounded.output
    assert time.monotonic() - started < 30
    assert re.search(r"^workload: \d+ user requests in [3-5] exports$", bounded.output, re.MULTILINE), bounded.output


def test_sigterm_stops_the_demo_as_ctrl_c_does(tmp_path, extension, ducklake_extension):
    running = start_demo(tmp_path / "lake", extension, ducklake_extension, "--seconds", "120", "--rate", "5")
    running.wait_for_line(r"^running until Ctrl-C", 60)
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=60) == 0, running.output
    running.wait_for_line(r"^otlp_stop: rows committed .* spool backlog 0, abandoned 0$", 5)


def test_a_port_in_use_is_a_clear_error(tmp_path, extension, ducklake_extension):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, str(DEMO), "--port", str(port), "--dir", str(tmp_path / "lake"), "--extension",
             str(extension), "--ducklake", str(ducklake_extension), "--no-prompt", "--seconds", "5"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"demo: otlp_serve({port}) failed" in done.stderr and "cannot listen" in done.stderr, done.stderr
