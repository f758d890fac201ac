"""The Prometheus HTTP API end to end, called the way Grafana's Prometheus data
source calls it, against metrics the OpenTelemetry Python SDK exported.

The SDK exports a counter, a histogram and a gauge once a minute for ten
minutes, with a fake clock so the points land exactly on 2026-01-01
00:00..00:10 UTC (as in test_promql.py). At minute 10 one counter increment
and one histogram observation are made inside a sampled span with fixed ids,
so they carry exemplars. A summary (`rpc_latency`, unit ms, at 00:00, from
otlp_bodies.py) is sent as protobuf. Every route is asserted on its exact JSON.

Requests Grafana sends (pkg/promlib/client/client.go, healthcheck.go,
heuristics.go; packages/grafana-prometheus/src/resource_clients.ts), replayed
below with `requests`:
- "Save & test": POST /api/v1/query, Content-Type
  application/x-www-form-urlencoded, body `query=1%2B1&time=4` (GET with the
  same parameters in the query string when the data source is set to GET);
  healthy when the answer has data.resultType. Then GET
  /api/v1/status/buildinfo (no `features` means "Prometheus").
- Explore / panels: POST /api/v1/query_range with form `query`, `start`,
  `end` (float unix seconds), `step` (seconds, `strconv 'f' -1`), and
  `timeout` when configured; instant queries POST /api/v1/query with `time`;
  exemplars POST /api/v1/query_exemplars with `query`, `start`, `end`.
- Metrics browser / autocomplete (resource calls; POST with the parameters in
  the query string, or GET for label values and metadata, which Grafana
  knows to be GET-only): /api/v1/label/__name__/values?start=&end=&limit=40000,
  /api/v1/labels?start=&end=&limit=40000[&match[]=], /api/v1/series with
  match[]={__name__!=""}&limit=40000, /api/v1/metadata.
- On 400 or 405 to a POST resource call Grafana retries with GET.
The backend adds headers such as User-Agent: Grafana/<version>,
X-Grafana-Org-Id, X-Dashboard-Uid, X-Panel-Id, X-Datasource-Uid; they are
sent here too and must not matter.
"""
import pytest
import requests
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal import instrument, metric_reader_storage
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.version import __version__ as SDK_VERSION

from harness import free_port
from otlp_bodies import summary_request

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, unix seconds
MINUTE_NS = 60_000_000_000
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
API_KEY = "s3cret"
BUILD = {}  # canardstack_version() of the process under test

GRAFANA_HEADERS = {
    "User-Agent": "Grafana/12.1.0",
    "X-Grafana-Org-Id": "1",
    "X-Datasource-Uid": "prometheus-canard",
    "X-Dashboard-Uid": "explore",
    "X-Panel-Id": "1",
    "Authorization": f"Bearer {API_KEY}",
}
FORM = {**GRAFANA_HEADERS, "Content-Type": "application/x-www-form-urlencoded"}

COMMON = {
    "instance": "c-1",
    "job": "shop/checkout",
    "service_instance_id": "c-1",
    "service_name": "checkout",
    "service_namespace": "shop",
    "telemetry_sdk_language": "python",
    "telemetry_sdk_name": "opentelemetry",
    "telemetry_sdk_version": SDK_VERSION,
}


def labels(name, **extra):
    return {"__name__": name, **COMMON, **extra}


class FixedIds(IdGenerator):
    def generate_trace_id(self):
        return int(TRACE_ID, 16)

    def generate_span_id(self):
        return int(SPAN_ID, 16)


def send_ten_minutes(endpoint):
    now = {"ns": T0 * 1_000_000_000}
    clocks = (metric_reader_storage, instrument)
    real = [module.time_ns for module in clocks]
    for module in clocks:
        module.time_ns = lambda: now["ns"]
    try:
        exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        resource = Resource.create({"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "c-1"})
        views = [View(instrument_name="latency", aggregation=ExplicitBucketHistogramAggregation((0.1, 0.5)))]
        provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
        meter = provider.get_meter("shop")
        requests_counter = meter.create_counter("http.requests", unit="1", description="Requests served.")
        latency = meter.create_histogram("latency", unit="s", description="Time to answer.")
        temperature = {"value": 0.0}
        meter.create_observable_gauge("temperature", unit="Cel",
                                      callbacks=[lambda _: [Observation(temperature["value"], {"room": "a"})]])
        tracer = TracerProvider(id_generator=FixedIds()).get_tracer("test")
        for minute in range(11):
            now["ns"] = (T0 + minute * 60) * 1_000_000_000
            last = minute == 10
            if last:
                with tracer.start_as_current_span("pay"):
                    requests_counter.add(10, {"route": "/pay"})
                    latency.record(0.3)
            else:
                requests_counter.add(10, {"route": "/pay"})
                latency.record(0.3)
            requests_counter.add(1, {"route": "/cart"})
            for value in (0.05, 0.05, 0.3, 0.3, 0.3, 0.3, 0.3, 1.0, 1.0):
                latency.record(value)
            temperature["value"] = 20.0 + minute
            assert reader.force_flush()
        provider.shutdown()
    finally:
        for module, clock in zip(clocks, real):
            module.time_ns = clock


@pytest.fixture(scope="module")
def api(tmp_path_factory, extension, ducklake_extension):
    """A server with the data committed, answering with the bearer key."""
    from harness import DuckDB

    directory = tmp_path_factory.mktemp("prometheus_api")
    process = DuckDB(directory, extension, ducklake_extension)
    endpoint = process.sql(f"SELECT * FROM otlp_serve({free_port()}, retention := INTERVAL '0 days', flush_interval_ms := 50)")[0]["endpoint"]
    send_ten_minutes(endpoint)
    summary = requests.post(f"{endpoint}/v1/metrics", data=summary_request(),
                            headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert summary.status_code == 200
    process.sql("CALL otlp_stop()")  # commits everything
    port = free_port()
    process.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', api_key := '{API_KEY}', flush_interval_ms := 50)")
    BUILD["version"] = process.sql("SELECT canardstack_version() AS v")[0]["v"]
    yield f"http://127.0.0.1:{port}"
    process.kill()


def post(api, path, form, **kwargs):
    return requests.post(f"{api}{path}", data=form, headers=FORM, timeout=30, **kwargs)


def get(api, path, params=None):
    return requests.get(f"{api}{path}", params=params, headers=GRAFANA_HEADERS, timeout=30)


def success(data, warnings=None):
    body = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return body


def bad_data(message):
    return {"status": "error", "errorType": "bad_data", "error": message}


def assert_answer(response, status, body):
    assert (response.status_code, response.json()) == (status, body)
    assert response.headers["Content-Type"] == "application/json"


# --- Grafana's health check -------------------------------------------------

def test_grafana_save_and_test_post(api):
    assert_answer(post(api, "/api/v1/query", "query=1%2B1&time=4"), 200,
                  {"status": "success", "data": {"resultType": "scalar", "result": [4, "2"]}})
    # the exact bytes, as Prometheus writes them
    assert post(api, "/api/v1/query", "query=1%2B1&time=4").text == \
        '{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}'
    assert_answer(get(api, "/api/v1/status/buildinfo"), 200, success({
        "version": "3.0.0", "revision": f"canardstack-{BUILD['version']}", "branch": "canardstack", "buildUser": "canardstack",
        "buildDate": "", "goVersion": "none (canardstack, Rust)"}))


def test_grafana_save_and_test_get(api):
    assert_answer(get(api, "/api/v1/query", {"query": "1+1", "time": "4"}), 200,
                  success({"resultType": "scalar", "result": [4, "2"]}))


def test_bearer_key_is_required(api):
    response = requests.post(f"{api}/api/v1/query", data="query=1%2B1&time=4",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert response.status_code == 401


# --- queries ----------------------------------------------------------------

def test_instant_vector(api):
    response = post(api, "/api/v1/query", {"query": 'http_requests_total{route="/pay"}', "time": "2026-01-01T00:10:00Z"})
    assert_answer(response, 200, success({"resultType": "vector", "result": [
        {"metric": labels("http_requests_total", route="/pay"), "value": [T0 + 600, "110"]}]}))


def test_instant_vector_at_a_fractional_time(api):
    response = post(api, "/api/v1/query", {"query": "temperature_celsius", "time": f"{T0 + 330}.5"})
    assert response.text.endswith('"value":[1767225930.500,"25"]}]}}')
    assert_answer(response, 200, success({"resultType": "vector", "result": [
        {"metric": labels("temperature_celsius", room="a"), "value": [T0 + 330.5, "25"]}]}))


def test_instant_matrix(api):
    response = get(api, "/api/v1/query", {"query": "temperature_celsius[2m]", "time": str(T0 + 600)})
    assert_answer(response, 200, success({"resultType": "matrix", "result": [
        {"metric": labels("temperature_celsius", room="a"), "values": [[T0 + 540, "29"], [T0 + 600, "30"]]}]}))


def test_scalar_and_string(api):
    assert_answer(get(api, "/api/v1/query", {"query": "scalar(temperature_celsius) / 4", "time": str(T0 + 600)}), 200,
                  success({"resultType": "scalar", "result": [T0 + 600, "7.5"]}))
    assert_answer(get(api, "/api/v1/query", {"query": '"hello"', "time": "4.5"}), 200,
                  success({"resultType": "string", "result": [4.5, "hello"]}))


def test_range_query_as_grafana_sends_it(api):
    form = {"query": "sum by (route) (http_requests_total)", "start": str(T0 + 300), "end": str(T0 + 600),
            "step": "150", "timeout": "30s"}
    assert_answer(post(api, "/api/v1/query_range", form), 200, success({"resultType": "matrix", "result": [
        {"metric": {"route": "/cart"}, "values": [[T0 + 300, "6"], [T0 + 450, "8"], [T0 + 600, "11"]]},
        {"metric": {"route": "/pay"}, "values": [[T0 + 300, "60"], [T0 + 450, "80"], [T0 + 600, "110"]]},
    ]}))


def test_range_query_rate_and_scalar(api):
    form = {"query": "rate(http_requests_total[5m])", "start": str(T0 + 300), "end": str(T0 + 600), "step": "5m"}
    result = post(api, "/api/v1/query_range", form).json()["data"]["result"]
    assert [(r["metric"]["route"], [t for t, _ in r["values"]]) for r in result] == \
        [("/cart", [T0 + 300, T0 + 600]), ("/pay", [T0 + 300, T0 + 600])]
    assert [float(v) for r in result for _, v in r["values"]] == \
        [pytest.approx(x, rel=1e-12) for x in (1 / 60, 1 / 60, 1 / 6, 1 / 6)]
    form = {"query": "time()", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:01Z", "step": "0.5"}
    assert_answer(post(api, "/api/v1/query_range", form), 200, success({"resultType": "matrix", "result": [
        {"metric": {}, "values": [[T0, str(T0)], [T0 + 0.5, f"{T0}.5"], [T0 + 1, str(T0 + 1)]]}]}))


def test_limit_truncates_with_a_warning(api):
    response = get(api, "/api/v1/query", {"query": "http_requests_total", "time": str(T0 + 600), "limit": "1"})
    assert_answer(response, 200, success({"resultType": "vector", "result": [
        {"metric": labels("http_requests_total", route="/cart"), "value": [T0 + 600, "11"]}]},
        warnings=["results truncated due to limit"]))


def test_format_query(api):
    assert_answer(get(api, "/api/v1/format_query", {"query": "sum(rate(x[5m]))by(job)"}), 200,
                  success("sum by (job) (rate(x[5m]))"))


# --- discovery (metrics browser, autocomplete) ------------------------------

SUMMARY = {"job": "svc", "route": "/a", "service_name": "svc"}
SUMMARY_SERIES = [
    {"__name__": "rpc_latency_milliseconds", **SUMMARY, "quantile": "0.5"},
    {"__name__": "rpc_latency_milliseconds", **SUMMARY, "quantile": "0.99"},
    {"__name__": "rpc_latency_milliseconds_count", **SUMMARY},
    {"__name__": "rpc_latency_milliseconds_sum", **SUMMARY},
]
ALL_SERIES = [
    labels("http_requests_total", route="/cart"),
    labels("http_requests_total", route="/pay"),
    labels("latency_seconds_bucket", le="+Inf"),
    labels("latency_seconds_bucket", le="0.1"),
    labels("latency_seconds_bucket", le="0.5"),
    labels("latency_seconds_count"),
    labels("latency_seconds_sum"),
    *SUMMARY_SERIES,
    labels("temperature_celsius", room="a"),
]
RANGE = {"start": str(T0), "end": str(T0 + 600)}


def test_series_as_the_metrics_browser_asks(api):
    response = requests.post(f"{api}/api/v1/series", params={**RANGE, "match[]": '{__name__!=""}', "limit": "40000"},
                             headers=FORM, timeout=30)
    assert_answer(response, 200, success(ALL_SERIES))
    response = get(api, "/api/v1/series", {"match[]": ["latency_seconds_count", 'temperature_celsius{room="a"}']})
    assert_answer(response, 200, success([labels("latency_seconds_count"), labels("temperature_celsius", room="a")]))
    # outside the data's time range nothing exists
    response = get(api, "/api/v1/series", {"match[]": "temperature_celsius", "start": str(T0 + 601), "end": str(T0 + 900)})
    assert_answer(response, 200, success([]))
    response = get(api, "/api/v1/series", {"match[]": '{__name__=~".+"}', "limit": "2"})
    assert_answer(response, 200, success(ALL_SERIES[:2], warnings=["results truncated due to limit"]))


def test_label_names(api):
    names = ["__name__", "instance", "job", "le", "quantile", "room", "route", "service_instance_id", "service_name",
             "service_namespace", "telemetry_sdk_language", "telemetry_sdk_name", "telemetry_sdk_version"]
    response = requests.post(f"{api}/api/v1/labels", params={**RANGE, "limit": "40000"}, headers=FORM, timeout=30)
    assert_answer(response, 200, success(names))
    response = get(api, "/api/v1/labels", {"match[]": "temperature_celsius"})
    assert_answer(response, 200, success([n for n in names if n not in ("le", "quantile", "route")]))


def test_label_values(api):
    response = get(api, "/api/v1/label/__name__/values", {**RANGE, "limit": "40000"})
    assert_answer(response, 200, success(["http_requests_total", "latency_seconds_bucket", "latency_seconds_count",
                                          "latency_seconds_sum", "rpc_latency_milliseconds",
                                          "rpc_latency_milliseconds_count", "rpc_latency_milliseconds_sum",
                                          "temperature_celsius"]))
    assert_answer(get(api, "/api/v1/label/route/values", RANGE), 200, success(["/a", "/cart", "/pay"]))
    assert_answer(get(api, "/api/v1/label/quantile/values", {"match[]": '{__name__=~"rpc_.*"}'}), 200,
                  success(["0.5", "0.99"]))
    assert_answer(get(api, "/api/v1/label/le/values", {"match[]": "latency_seconds_bucket"}), 200,
                  success(["+Inf", "0.1", "0.5"]))
    assert_answer(get(api, "/api/v1/label/nothing/values"), 200, success([]))
    assert_answer(get(api, "/api/v1/label/__name__/values", {"start": str(T0 + 601)}), 200, success([]))


def test_metadata(api):
    everything = {
        "http_requests_total": [{"type": "counter", "help": "Requests served.", "unit": ""}],
        "latency_seconds": [{"type": "histogram", "help": "Time to answer.", "unit": "seconds"}],
        "rpc_latency_milliseconds": [{"type": "summary", "help": "", "unit": "milliseconds"}],
        "temperature_celsius": [{"type": "gauge", "help": "", "unit": "celsius"}],
    }
    assert_answer(get(api, "/api/v1/metadata"), 200, success(everything))
    assert_answer(get(api, "/api/v1/metadata", {"metric": "latency_seconds"}), 200,
                  success({"latency_seconds": everything["latency_seconds"]}))
    assert_answer(get(api, "/api/v1/metadata", {"limit": "1"}), 200,
                  success({"http_requests_total": everything["http_requests_total"]}))


def test_exemplars(api):
    form = {"query": "histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket[5m])))",
            "start": str(T0), "end": str(T0 + 600)}
    exemplar_labels = {"span_id": SPAN_ID, "trace_id": TRACE_ID}
    assert_answer(post(api, "/api/v1/query_exemplars", form), 200, success([
        {"seriesLabels": labels("latency_seconds_bucket", le="0.5"),
         "exemplars": [{"labels": exemplar_labels, "value": "0.3", "timestamp": T0 + 600}]}]))
    form = {"query": "http_requests_total", "start": str(T0), "end": str(T0 + 600)}
    assert_answer(post(api, "/api/v1/query_exemplars", form), 200, success([
        {"seriesLabels": labels("http_requests_total", route="/pay"),
         "exemplars": [{"labels": exemplar_labels, "value": "10", "timestamp": T0 + 600}]}]))
    form = {"query": "http_requests_total", "start": str(T0), "end": str(T0 + 599)}
    assert_answer(post(api, "/api/v1/query_exemplars", form), 200, success([]))
    # a query without selectors has no exemplars (and no data, as Prometheus answers)
    assert_answer(post(api, "/api/v1/query_exemplars", {"query": "1+1"}), 200, {"status": "success"})


# --- errors -----------------------------------------------------------------

@pytest.mark.parametrize("path, method, params, message", [
    ("/api/v1/query", "POST", {"query": "1", "time": "yesterday"},
     'invalid parameter "time": invalid time value for \'time\': cannot parse "yesterday" to a valid timestamp'),
    ("/api/v1/query", "POST", {"query": "1", "limit": "x"},
     'invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax'),
    ("/api/v1/query", "POST", {"query": "1", "timeout": "soon"},
     'invalid parameter "timeout": cannot parse "soon" to a valid duration'),
    ("/api/v1/query_range", "POST", {"query": "1", "end": "2", "step": "1"},
     'invalid parameter "start": cannot parse "" to a valid timestamp'),
    ("/api/v1/query_range", "POST", {"query": "1", "start": "2", "end": "1", "step": "1"},
     'invalid parameter "end": end timestamp must not be before start time'),
    ("/api/v1/query_range", "POST", {"query": "1", "start": "1", "end": "2", "step": "-1"},
     'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer'),
    ("/api/v1/query_range", "POST", {"query": "1", "start": "1", "end": "2", "step": "1x"},
     'invalid parameter "step": cannot parse "1x" to a valid duration'),
    ("/api/v1/query_range", "POST", {"query": "1", "start": "0", "end": "11001", "step": "1"},
     "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
    ("/api/v1/query_range", "POST", {"query": "up[5m]", "start": "0", "end": "1", "step": "1"},
     'invalid parameter "query": invalid expression type "range vector" for range query, must be Scalar or instant Vector'),
    ("/api/v1/series", "GET", {}, "no match[] parameter provided"),
    ("/api/v1/series", "GET", {"match[]": "up", "start": "x"},
     'invalid parameter "start": invalid time value for \'start\': cannot parse "x" to a valid timestamp'),
    ("/api/v1/labels", "GET", {"end": "x"},
     'invalid parameter "end": invalid time value for \'end\': cannot parse "x" to a valid timestamp'),
    ("/api/v1/labels", "GET", {"limit": "-1"}, 'invalid parameter "limit": limit must be non-negative'),
    ("/api/v1/label/job/values", "GET", {"start": "x"},
     'invalid parameter "start": invalid time value for \'start\': cannot parse "x" to a valid timestamp'),
    ("/api/v1/metadata", "GET", {"limit": "many"}, "limit must be a number"),
    ("/api/v1/metadata", "GET", {"limit_per_metric": "x"}, "limit_per_metric must be a number"),
    ("/api/v1/query_exemplars", "POST", {"query": "up", "start": "2", "end": "1"},
     "end timestamp must not be before start timestamp"),
])
def test_bad_parameters(api, path, method, params, message):
    response = post(api, path, params) if method == "POST" else get(api, path, params)
    assert_answer(response, 400, bad_data(message))


@pytest.mark.parametrize("path", ["/api/v1/query", "/api/v1/query_range", "/api/v1/format_query",
                                  "/api/v1/query_exemplars", "/api/v1/series", "/api/v1/labels"])
def test_unparsable_queries_and_selectors(api, path):
    params = {"query": "sum(", "match[]": "sum(", "start": "0", "end": "1", "step": "1"}
    response = post(api, path, params)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", "bad_data")
    assert "parse error" in body["error"]


def test_execution_errors_and_timeouts(api):
    # two series with the same labels after dropping the name: Prometheus' execution error (422)
    response = get(api, "/api/v1/query", {"query": "{__name__=~\"latency_seconds_(sum|count)\"} * 1", "time": str(T0 + 600)})
    assert_answer(response, 422, {"status": "error", "errorType": "execution",
                                  "error": "vector cannot contain metrics with the same labelset"})
    response = get(api, "/api/v1/query", {"query": "http_requests_total", "time": str(T0 + 600), "timeout": "0.000001"})
    assert_answer(response, 503, {"status": "error", "errorType": "timeout",
                                  "error": "query timed out in expression evaluation"})
    # an interrupted connection goes back to the pool and serves the next queries normally
    for _ in range(8):
        response = get(api, "/api/v1/query", {"query": "temperature_celsius", "time": str(T0 + 600)})
        assert response.json()["data"]["result"][0]["value"] == [T0 + 600, "30"]


def test_methods(api):
    # GET-only routes refuse POST with 405 (Grafana then retries with GET)
    for path in ["/api/v1/metadata", "/api/v1/status/buildinfo", "/api/v1/label/job/values"]:
        response = requests.post(f"{api}{path}", data="", headers=FORM, timeout=30)
        assert response.status_code == 405, path
    response = requests.delete(f"{api}/api/v1/query", headers=GRAFANA_HEADERS, timeout=30)
    assert response.status_code == 405
    assert_answer(get(api, "/api/v1/targets"), 404,
                  {"status": "error", "errorType": "not_found", "error": "not found: /api/v1/targets"})
