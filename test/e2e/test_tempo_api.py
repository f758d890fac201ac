"""Tempo's HTTP API served by otlp_serve, called the way Grafana's Tempo data
source calls it, over spans sent by the OpenTelemetry Python SDK (with fixed
ids and timestamps, so every answer is asserted whole).

Requests Grafana's Tempo data source sends (streaming off), read from its source:
grafana/grafana-tempo-datasource (the plugin Grafana ships since 12.2; HEAD of
2026-08) and the same code in grafana/grafana public/app/plugins/datasource/tempo
and pkg/tsdb/tempo before the split:
- "Save & test": pkg/tempo/tempo.go `CheckHealth`: GET /api/echo, healthy when
  the status is 200 (the body is not read). Before Sept 2025 the frontend's
  `testDatasource` (datasource.ts) made the same GET.
- Build info: datasource.ts `init` (Grafana 10.2 to 12.1, removed by
  grafana/grafana#111315) GET /api/status/buildinfo and read only `version`,
  for `isFeatureAvailable`: search streaming from 2.2.0, metrics streaming from
  2.7.0. Nothing else depends on it.
- Trace view: pkg/tempo/trace.go `getTrace` / `createRequest`: GET
  /api/v2/traces/<id>?start=<from s>&end=<to s> (both left out when either is
  0) with `Accept: application/protobuf`, decoded as tempopb.TraceByIDResponse;
  a 200 with no spans is "trace not found in the selected time range"; only a
  404 makes it retry GET /api/traces/<id> (same parameters), a bare tempopb.Trace.
- TraceQL search: pkg/tempo/search.go `createSearchRequest`: GET
  /api/search?end=<s>&limit=<n>&q=<traceql>&spss=<n>&start=<s> (Go's sorted
  `url.Values.Encode`; limit and spss only when set above 0, the editor's
  defaults being 20 and 3) with `Accept: application/json`, read with jsonpb
  into tempopb.SearchResponse. Before, datasource.ts sent
  `_request('/api/search', {q, limit, spss, start, end})`.
- Tags: language_provider.ts `fetchTags` asks the plugin's `tags` resource,
  which pkg/tempo/tempo.go `handleTags` proxies with the query string as is:
  GET /api/v2/search/tags?limit=5000 (the tag limit setting; start/end only
  when a tag time range is configured). Before Sept 2025 the frontend sent the
  same and fell back to GET /api/search/tags (no parameters) on an error.
- Tag values: `getOptionsV2` asks the `tag-values` resource with
  `tag=encodeURIComponent(tag)`; `handleTagValues` unescapes it and proxies GET
  /api/v2/search/tag/<tag>/values?limit=5000&q=<traceql>&tag=<tag> (`q` when the
  editor has a query). Older versions fell back to GET
  /api/search/tag/<name without scope>/values (no parameters).
- The data source's auth (here `Authorization: Bearer <key>`) on every request.
"""
import base64
import http.client
import time
import types

import pytest
import requests
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, set_span_in_context

from harness import DuckDB, free_port

KEY = "tempo-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROTOBUF = {**AUTH, "Accept": "application/protobuf"}
JSON = {**AUTH, "Accept": "application/json"}
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
MS = 1_000_000
START, END = 1_767_225_599, 1_767_225_700  # unix seconds around the data

CHECKOUT = "0af7651916cd43dd8448eb211c80319c"
HEALTH = "00000000000000004bf92f3577b34da6"  # a 64-bit id, as older tracers make
ROOT, CHARGE, QUERY, PING = "00f067aa0ba902b7", "1111111111111111", "2222222222222222", "3333333333333333"


class FixedIds(IdGenerator):
    def __init__(self, trace_ids, span_ids):
        self.trace_ids, self.span_ids = iter(trace_ids), iter(span_ids)

    def generate_trace_id(self):
        return int(next(self.trace_ids), 16)

    def generate_span_id(self):
        return int(next(self.span_ids), 16)


def provider(endpoint, service, ids):
    tracer_provider = TracerProvider(
        resource=Resource({"service.name": service, "deployment.environment": "test"}), id_generator=ids)
    exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=AUTH)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def send_traces(endpoint):
    """A failed checkout (web -> checkout -> postgres) and a healthy health check."""
    web = provider(endpoint, "web", FixedIds([CHECKOUT, HEALTH], [ROOT, PING]))
    shop = provider(endpoint, "checkout", FixedIds([], [CHARGE, QUERY]))
    web_tracer = web.get_tracer("shop.frontend", "1.2.0")
    shop_tracer = shop.get_tracer("shop.backend")
    root = web_tracer.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=T0,
                                 attributes={"http.method": "GET", "http.status_code": 502})
    root.add_event("redirect", {"location": "/pay"}, timestamp=T0 + 5 * MS)
    health_context = SpanContext(int(HEALTH, 16), int(PING, 16), is_remote=False)
    charge = shop_tracer.start_span("charge", context=set_span_in_context(root), kind=SpanKind.SERVER,
                                    start_time=T0 + 10 * MS, attributes={"amount": 12.5, "retry": True},
                                    links=[Link(health_context, {"reason": "retry-of"})])
    query = shop_tracer.start_span("SELECT orders", context=set_span_in_context(charge), kind=SpanKind.CLIENT,
                                   start_time=T0 + 20 * MS, attributes={"db.system": "postgres"})
    query.end(end_time=T0 + 60 * MS)
    charge.set_status(Status(StatusCode.ERROR, "card declined"))
    charge.end(end_time=T0 + 300 * MS)
    root.set_status(Status(StatusCode.ERROR))
    root.end(end_time=T0 + 310 * MS)
    health = web_tracer.start_span("GET /health", kind=SpanKind.SERVER, start_time=T0 + 60_000 * MS)
    health.set_status(Status(StatusCode.OK))
    health.end(end_time=T0 + 60_002 * MS)
    web.shutdown()
    shop.shutdown()


@pytest.fixture(scope="module")
def api(tmp_path_factory, extension, ducklake_extension):
    """One server for the module: the SDK's spans committed, then a GET helper."""
    db = DuckDB(tmp_path_factory.mktemp("tempo"), extension, ducklake_extension)
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50, api_key := '{KEY}')")
    base = f"http://127.0.0.1:{port}"
    send_traces(base)

    def get(path, headers=AUTH, **params):
        return requests.get(f"{base}{path}", params=params, headers=headers, timeout=30)

    get.base = base

    deadline = time.monotonic() + 20
    while True:  # all four spans committed
        found = get("/api/search", q="{}").json()["traces"]
        if sum(t["spanSet"]["matched"] for t in found) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    yield get
    db.kill()


def b64(hex_id):
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def string(value):
    return {"stringValue": value}


def attrs(**pairs):
    return [{"key": key.replace("__", "."), "value": string(value)} for key, value in pairs.items()]


RESOURCE_ATTRS = lambda service: attrs(service__name=service, deployment__environment="test")  # noqa: E731

CHECKOUT_BATCHES = [
    {
        "resource": {"attributes": RESOURCE_ATTRS("web")},
        "scopeSpans": [{
            "scope": {"name": "shop.frontend", "version": "1.2.0"},
            "spans": [{
                "traceId": b64(CHECKOUT), "spanId": b64(ROOT), "name": "GET /checkout", "kind": "SPAN_KIND_SERVER",
                "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 310 * MS),
                "attributes": attrs(http__method="GET", http__status_code="502"),
                "events": [{"timeUnixNano": str(T0 + 5 * MS), "name": "redirect", "attributes": attrs(location="/pay")}],
                "status": {"code": "STATUS_CODE_ERROR"},
            }],
        }],
    },
    {
        "resource": {"attributes": RESOURCE_ATTRS("checkout")},
        "scopeSpans": [{
            "scope": {"name": "shop.backend"},
            "spans": [
                {
                    "traceId": b64(CHECKOUT), "spanId": b64(CHARGE), "parentSpanId": b64(ROOT), "name": "charge",
                    "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": str(T0 + 10 * MS),
                    "endTimeUnixNano": str(T0 + 300 * MS), "attributes": attrs(amount="12.5", retry="true"),
                    "links": [{"traceId": b64(HEALTH), "spanId": b64(PING), "attributes": attrs(reason="retry-of")}],
                    "status": {"code": "STATUS_CODE_ERROR", "message": "card declined"},
                },
                {
                    "traceId": b64(CHECKOUT), "spanId": b64(QUERY), "parentSpanId": b64(CHARGE), "name": "SELECT orders",
                    "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": str(T0 + 20 * MS),
                    "endTimeUnixNano": str(T0 + 60 * MS), "attributes": attrs(db__system="postgres"), "status": {},
                },
            ],
        }],
    },
]


def test_health_check_as_grafana_does_it(api):
    echo = api("/api/echo")
    assert (echo.status_code, echo.text) == (200, "echo\n")  # Tempo answers with Go's http.Error(w, "echo", 200)
    info = api("/api/status/buildinfo")
    assert info.status_code == 200
    assert info.json() == {"version": "2.1.0", "revision": info.json()["revision"], "branch": "HEAD",
                           "buildUser": "", "buildDate": "", "goVersion": ""}
    assert info.json()["revision"].startswith("canardstack-")


def test_bearer_key_is_required(api):
    denied = api("/api/search", headers={}, q="{}")
    assert (denied.status_code, denied.text) == (401, "missing or wrong bearer token")


def test_trace_by_id_json(api):
    v1 = api(f"/api/traces/{CHECKOUT}")
    assert (v1.status_code, v1.headers["Content-Type"]) == (200, "application/json")
    assert v1.json() == {"batches": CHECKOUT_BATCHES}
    v2 = api(f"/api/v2/traces/{CHECKOUT.upper()}", start=START, end=END)
    assert v2.json() == {"trace": {"resourceSpans": CHECKOUT_BATCHES}, "metrics": {}}
    health = api(f"/api/traces/{HEALTH.lstrip('0')}")  # short ids are left-padded, as Tempo does
    assert health.json() == {"batches": [{
        "resource": {"attributes": RESOURCE_ATTRS("web")},
        "scopeSpans": [{"scope": {"name": "shop.frontend", "version": "1.2.0"}, "spans": [{
            "traceId": b64(HEALTH), "spanId": b64(PING), "name": "GET /health", "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": str(T0 + 60_000 * MS), "endTimeUnixNano": str(T0 + 60_002 * MS),
            "status": {"code": "STATUS_CODE_OK"},
        }]}],
    }]}


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def trace_by_id_response(data):
    """tempopb.TraceByIDResponse: field 1 (length-delimited) is the Trace, wire-equal to TracesData."""
    fields, at = {}, 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire_type = key >> 3, key & 7
        if wire_type == 2:
            length, at = read_varint(data, at)
            fields[number], at = data[at:at + length], at + length
        else:
            fields[number], at = read_varint(data, at)
    return fields


def test_trace_by_id_protobuf_as_grafana_asks(api):
    v2 = api(f"/api/v2/traces/{CHECKOUT}", headers=PROTOBUF, start=START, end=END)
    assert (v2.status_code, v2.headers["Content-Type"]) == (200, "application/protobuf")
    fields = trace_by_id_response(v2.content)
    assert list(fields) == [1, 2]  # the trace, empty metrics; complete: no status, no message
    assert fields[2] == b""
    trace = TracesData.FromString(fields[1])
    assert MessageToDict(trace) == {"resourceSpans": CHECKOUT_BATCHES}
    charge = trace.resource_spans[1].scope_spans[0].spans[0]
    assert (charge.trace_id.hex(), charge.span_id.hex(), charge.parent_span_id.hex()) == (CHECKOUT, CHARGE, ROOT)
    assert (charge.kind, charge.status.code, charge.start_time_unix_nano) == (2, 2, T0 + 10 * MS)
    assert charge.links[0].trace_id.hex() == HEALTH

    v1 = api(f"/api/traces/{CHECKOUT}", headers=PROTOBUF)
    assert v1.headers["Content-Type"] == "application/protobuf"
    assert TracesData.FromString(v1.content) == trace


def test_unknown_traces_as_tempo_answers(api):
    """v2 answers an empty trace with 200 (Grafana: "not found in the time range"); v1 a bare 404."""
    unknown = "0123456789abcdef0123456789abcdef"
    v2 = api(f"/api/v2/traces/{unknown}", headers=PROTOBUF, start=START, end=END)
    assert (v2.status_code, trace_by_id_response(v2.content)) == (200, {1: b"", 2: b""})
    assert api(f"/api/v2/traces/{unknown}").json() == {"trace": {}, "metrics": {}}
    outside = api(f"/api/v2/traces/{CHECKOUT}", start=START + 3600, end=END + 3600)
    assert (outside.status_code, outside.json()) == (200, {"trace": {}, "metrics": {}})
    v1 = api(f"/api/traces/{unknown}", headers=PROTOBUF, start=START, end=END)
    assert (v1.status_code, v1.content) == (404, b"")
    assert api(f"/api/traces/{CHECKOUT}", start=START + 3600, end=END + 3600).status_code == 404


def test_trace_by_id_errors(api):
    malformed = api("/api/traces/xyz")
    assert (malformed.status_code, malformed.text) == (
        400, "trace IDs can only contain hex characters: invalid character 'x' at position 1")
    too_long = api(f"/api/v2/traces/{'a' * 33}")
    assert (too_long.status_code, too_long.text) == (400, "trace IDs can't be larger than 128 bits")
    bad_start = api(f"/api/traces/{CHECKOUT}", start="soon")
    assert (bad_start.status_code, bad_start.text) == (
        400, 'invalid start: strconv.ParseInt: parsing "soon": invalid syntax')
    backwards = api(f"/api/v2/traces/{CHECKOUT}", start=END, end=START)
    assert (backwards.status_code, backwards.text) == (
        400, f"http parameter start must be before end. received start={END} end={START}")


def span_json(span_id, name, start_ms, duration_ms, **attributes):
    out = {"spanID": span_id, "name": name, "startTimeUnixNano": str(T0 + start_ms * MS),
           "durationNanos": str(duration_ms * MS)}
    if attributes:
        out["attributes"] = attrs(**attributes)
    return out


def trace_json(trace_id, root_service, root_name, start_ms, duration_ms, spans, matched):
    span_set = {"spans": spans, "matched": matched}
    return {"traceID": trace_id, "rootServiceName": root_service, "rootTraceName": root_name,
            "startTimeUnixNano": str(T0 + start_ms * MS), "durationMs": duration_ms,
            "spanSet": span_set, "spanSets": [span_set]}


METRICS = {"completedJobs": 1, "totalJobs": 1}
CHECKOUT_HIT = CHECKOUT.lstrip("0")  # Tempo prints search trace ids without leading zeros
HEALTH_HIT = HEALTH.lstrip("0")


def test_traceql_search_as_grafana_sends_it(api):
    found = api("/api/search", headers=JSON, end=END, limit=20, q='{ resource.service.name = "checkout" && status = error }',
                spss=3, start=START)
    assert (found.status_code, found.headers["Content-Type"]) == (200, "application/json")
    assert found.json() == {"traces": [
        trace_json(CHECKOUT_HIT, "web", "GET /checkout", 0, 310,
                   [span_json(CHARGE, "charge", 10, 290, service__name="checkout")], 1),
    ], "metrics": METRICS}

    named = api("/api/search", q='{ span.db.system = "postgres" || span.retry = true }', start=START, end=END)
    assert named.json()["traces"] == [trace_json(CHECKOUT_HIT, "web", "GET /checkout", 0, 310, [
        span_json(CHARGE, "charge", 10, 290, service__name="checkout", retry="true"),
        span_json(QUERY, "SELECT orders", 20, 40, service__name="checkout", db__system="postgres"),
    ], 2)]

    everything = api("/api/search", q="{}", spss=2)
    assert everything.json() == {"traces": [
        trace_json(HEALTH_HIT, "web", "GET /health", 60_000, 2,
                   [span_json(PING, "GET /health", 60_000, 2, service__name="web")], 1),
        trace_json(CHECKOUT_HIT, "web", "GET /checkout", 0, 310, [
            span_json(ROOT, "GET /checkout", 0, 310, service__name="web"),
            span_json(CHARGE, "charge", 10, 290, service__name="checkout"),
        ], 3),
    ], "metrics": METRICS}

    newest = api("/api/search", q="{ }", limit=1)
    assert [t["traceID"] for t in newest.json()["traces"]] == [HEALTH_HIT]

    structural = api("/api/search", q='{ kind = server && span.http.status_code >= 500 } >> { span.db.system = "postgres" }')
    assert [s["spanID"] for s in structural.json()["traces"][0]["spanSet"]["spans"]] == [QUERY]

    none = api("/api/search", q="{ } | count() > 3", start=START, end=END)
    assert none.json() == {"traces": [], "metrics": METRICS}


def test_tag_search(api):
    found = api("/api/search", tags="service.name=checkout", minDuration="300ms", start=START, end=END)
    assert found.json() == {"traces": [trace_json(CHECKOUT_HIT, "web", "GET /checkout", 0, 310, [
        span_json(CHARGE, "charge", 10, 290, service__name="checkout"),
        span_json(QUERY, "SELECT orders", 20, 40, service__name="checkout"),
    ], 2)], "metrics": METRICS}
    assert api("/api/search", tags="service.name=checkout", minDuration="311ms").json()["traces"] == []
    short = api("/api/search", maxDuration="5ms", start=START, end=END)
    assert [t["traceID"] for t in short.json()["traces"]] == [HEALTH_HIT]
    named = api("/api/search", tags='name="GET /health" status.code=ok')
    assert [t["traceID"] for t in named.json()["traces"]] == [HEALTH_HIT]
    legacy = api("/api/search", **{"service.name": "checkout"})  # before `tags`, each tag was a parameter
    assert [t["traceID"] for t in legacy.json()["traces"]] == [CHECKOUT_HIT]


@pytest.mark.parametrize("params, message", [
    ({"q": "{ name = "}, "invalid TraceQL query: traceql parse error"),
    ({"q": "{ .a = 1 } | select(.b)"}, "invalid TraceQL query: traceql: the pipeline function select() (at 13) is not supported"),
    ({"q": '{ status = "error" }'}, "traceql: cannot compare status with a string using ="),
    ({"q": "{}", "tags": "a=b"}, "invalid request: can't specify tags and q in the same query"),
    ({"tags": "a=1 a=2"}, "invalid tags: tag a has been set twice"),
    ({"limit": "0"}, "invalid limit: must be a positive number"),
    ({"limit": "ten"}, 'invalid limit: strconv.ParseUint: parsing "ten": invalid syntax'),
    ({"limit": "60000"}, "limit 60000 exceeds max limit 50000"),
    ({"spss": "-1"}, 'invalid spss: strconv.ParseUint: parsing "-1": invalid syntax'),
    ({"spss": "101"}, "spans per span set exceeds 100. received 101"),
    ({"start": "abc", "end": "10"}, 'invalid start: strconv.ParseUint: parsing "abc": invalid syntax'),
    ({"start": "20", "end": "10"}, "http parameter start must be before end. received start=20 end=10"),
    ({"start": "20"}, "http parameter start must be before end. received start=20 end=0"),
    ({"start": "1", "end": "100000000"}, "range specified by start and end exceeds 768h0m0s. received start=1 end=100000000"),
    ({"end": "100000000"}, "range specified by start and end exceeds 768h0m0s. received start=0 end=100000000"),
    ({"minDuration": "5"}, 'invalid minDuration: time: missing unit in duration "5"'),
    ({"maxDuration": "1x"}, 'invalid maxDuration: time: unknown unit "x" in duration "1x"'),
    ({"minDuration": "2s", "maxDuration": "1s"}, "invalid maxDuration: must be greater than minDuration"),
])
def test_search_errors(api, params, message):
    answer = api("/api/search", **params)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.text.startswith(message), answer.text


SPAN_TAGS = ["amount", "db.system", "http.method", "http.status_code", "retry"]
RESOURCE_TAGS = ["deployment.environment", "service.name"]
INTRINSIC_TAGS = ["duration", "kind", "name", "rootName", "rootServiceName", "span:duration", "span:id",
                  "span:kind", "span:name", "span:parentID", "span:status", "span:statusMessage", "status",
                  "statusMessage", "trace:duration", "trace:id", "trace:rootName", "trace:rootService",
                  "traceDuration"]


def test_tag_names(api):
    grafana = api("/api/v2/search/tags", limit=5000)  # as the plugin's tags resource proxies it
    assert grafana.json() == {"scopes": [
        {"name": "span", "tags": SPAN_TAGS},
        {"name": "resource", "tags": RESOURCE_TAGS},
        {"name": "intrinsic", "tags": INTRINSIC_TAGS},
    ], "metrics": {}}
    assert api("/api/v2/search/tags", limit=5000, start=START, end=END).json() == grafana.json()
    assert api("/api/v2/search/tags", scope="none", q="{}").json() == grafana.json()
    assert api("/api/v2/search/tags", limit=1).json() == {"scopes": [
        {"name": "span", "tags": SPAN_TAGS[:1]},
        {"name": "resource", "tags": RESOURCE_TAGS[:1]},
        {"name": "intrinsic", "tags": INTRINSIC_TAGS[:1]},
    ], "metrics": {}}
    assert api("/api/search/tags").json() == {"tagNames": sorted(SPAN_TAGS + RESOURCE_TAGS), "metrics": {}}
    assert api("/api/search/tags", scope="resource").json() == {"tagNames": RESOURCE_TAGS, "metrics": {}}
    assert api("/api/search/tags", scope="intrinsic", limit=2).json() == {
        "tagNames": INTRINSIC_TAGS[:2], "metrics": {}}
    assert api("/api/search/tags", scope="span", start=START + 60, end=END).json() == {"tagNames": [], "metrics": {}}
    assert api("/api/v2/search/tags", scope="span").json() == {
        "scopes": [{"name": "span", "tags": SPAN_TAGS}], "metrics": {}}
    narrowed = api("/api/v2/search/tags", scope="span", q='{ resource.service.name = "checkout" }')
    assert narrowed.json() == {"scopes": [{"name": "span", "tags": ["amount", "db.system", "retry"]}], "metrics": {}}
    half_typed = api("/api/v2/search/tags", scope="span", q="{ resource.service.name = ")
    assert half_typed.json() == {"scopes": [{"name": "span", "tags": SPAN_TAGS}], "metrics": {}}
    bogus = api("/api/v2/search/tags", scope="bogus")
    assert (bogus.status_code, bogus.text) == (400, "invalid scope: bogus")
    event = api("/api/search/tags", scope="event")
    assert (event.status_code, event.text) == (
        400, "scope event is not supported: attributes of events, links, scopes and traces are not searchable")


def raw_get(api, path):
    """A GET whose path is sent byte for byte (requests and urllib3 would re-quote a bad escape)."""
    host, port = api.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", path, headers=AUTH)
    response = connection.getresponse()
    answer = types.SimpleNamespace(status_code=response.status, text=response.read().decode())
    connection.close()
    return answer


def typed(kind, *values):
    return {"tagValues": [{"type": kind, "value": value} for value in values], "metrics": {}}


def plain(*values):
    return {"tagValues": list(values), "metrics": {}}


def test_tag_values(api):
    grafana = api("/api/v2/search/tag/resource.service.name/values", limit=5000, q="{}",
                  tag="resource.service.name")  # as the plugin's tag-values resource proxies it
    assert grafana.json() == typed("string", "checkout", "web")
    assert api("/api/search/tag/service.name/values").json() == plain("checkout", "web")
    assert api("/api/search/tag/service.name/values", limit=1).json() == plain("checkout")
    assert api("/api/search/tag/http.status_code/values").json() == plain("502")
    assert api("/api/search/tag/missing/values").json() == plain()
    v2 = lambda tag, **params: api(f"/api/v2/search/tag/{tag}/values", **params).json()  # noqa: E731
    assert v2("resource.service.name", start=START, end=END) == typed("string", "checkout", "web")
    assert v2(".service.name") == typed("string", "checkout", "web")
    assert v2("span.service.name") == typed("string")
    assert v2("span.http.method") == typed("string", "GET")
    assert v2("status") == typed("keyword", "error", "ok", "unset")
    assert v2("kind") == typed("keyword", "client", "server")
    assert v2("statusMessage") == typed("string", "card declined")
    assert v2("rootServiceName") == typed("string", "web")
    assert v2("name", q='{ resource.service.name = "checkout" }') == typed("string", "SELECT orders", "charge")
    assert v2("name", q="{ resource.service.name = }") == typed(  # a half-typed query filters nothing
        "string", "GET /checkout", "GET /health", "SELECT orders", "charge")
    assert v2("name", start=START + 60, end=END) == typed("string", "GET /health")


@pytest.mark.parametrize("path, message", [
    ("/api/v2/search/tag/bogus/values", 'please provide a valid tagName: traceql: "bogus" is not a tag'),
    ("/api/v2/search/tag/duration/values", "traceql: listing the values of duration is not supported"),
    ("/api/search/tag//values", "please provide a non-empty tagName"),
    ("/api/search/tag/bad%zz/values", "error in unescaping tagName"),
    ("/api/search/tag/service.name/values?start=x", 'invalid start: strconv.ParseInt: parsing "x": invalid syntax'),
    ("/api/v2/search/tag/name/values?limit=-1", 'invalid limit: strconv.ParseUint: parsing "-1": invalid syntax'),
    ("/api/v2/search/tags?end=4294967296", 'invalid end: strconv.ParseInt: parsing "4294967296": value out of range'),
])
def test_tag_errors(api, path, message):
    answer = api(path) if "%" not in path else raw_get(api, path)
    assert (answer.status_code, answer.text) == (400, message)


def test_query_timeout_is_tempos_error(duckdb_process):
    """A query that outlives query_timeout_ms is interrupted inside DuckDB: 504 and the text of
    Tempo's frontend (modules/frontend/handler.go errDeadlineExceeded)."""
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50, query_timeout_ms := 1)")
    # enough spans that the search cannot finish within the millisecond, however idle the machine
    db.sql("""INSERT INTO canardstack.otel.spans (timestamp, trace_id, span_id, span_name, service_name, duration)
              SELECT TIMESTAMP_NS '2026-01-01 00:00:00' + to_microseconds(i), printf('%032x', i), printf('%016x', i),
                     'span ' || i, 'svc', i
              FROM range(2000000) AS t(i)""")
    slow = 'q={ name =~ "(a|b|c|d)*x" } >> { .y =~ ".*z" } | count() > 1'
    answer = requests.get(f"http://127.0.0.1:{port}/api/search?{slow}", timeout=30)
    assert (answer.status_code, answer.text) == (504, "context deadline exceeded")
    assert requests.get(f"http://127.0.0.1:{port}/api/echo", timeout=30).status_code == 200
