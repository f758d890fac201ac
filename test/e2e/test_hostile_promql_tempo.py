"""Hostile input against the Prometheus and Tempo APIs and the PromQL/TraceQL SQL
functions of a real server in a child DuckDB process: every answer is the
protocol's own error (or a normal answer), the process stays alive, `/health`
answers and the resident memory stays small.

Poison (NUL, quotes, backslashes, control characters) is ingested into metric
names, label names and values and span attributes first, and must come back
as data from every listing."""
import json

import pytest
import requests

from harness import DuckDB, free_port

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
POISON = "we\u0000ird'\"\\\n\u0001name"
MAX_RSS_KB = 1024 * 1024


def kv(key, value):
    return {"key": key, "value": {"stringValue": value}}


@pytest.fixture(scope="module")
def server(tmp_path_factory, extension, ducklake_extension):
    process = DuckDB(tmp_path_factory.mktemp("hostile_promql_tempo"), extension, ducklake_extension)
    endpoint = process.sql(f"SELECT * FROM otlp_serve({free_port()}, retention := INTERVAL '0 days', flush_interval_ms := 50)")[0]["endpoint"]
    at = str((T0 + 60) * 10**9)
    metrics = {"resourceMetrics": [{"resource": {"attributes": [kv("service.name", "svc"), kv(POISON, POISON)]},
        "scopeMetrics": [{"metrics": [
            {"name": POISON, "gauge": {"dataPoints": [
                {"timeUnixNano": at, "asDouble": 1.5, "attributes": [kv("lab\u0000el", "va'l\u0000ue\\")]}]}},
            {"name": "up", "gauge": {"dataPoints": [
                {"timeUnixNano": at, "asDouble": 1, "attributes": [kv("path", "a\u0000b")]}]}},
        ]}]}]}
    spans = {"resourceSpans": [{"resource": {"attributes": [kv("service.name", "svc\u0000'"), kv(POISON, POISON)]},
        "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "name": POISON, "kind": 2, "startTimeUnixNano": at, "endTimeUnixNano": str((T0 + 61) * 10**9),
            "attributes": [kv("a\u0000b", "c'\u0000d")]}]}]}]}
    for path, body in [("/v1/metrics", metrics), ("/v1/traces", spans)]:
        response = requests.post(f"{endpoint}{path}", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 200, response.text
    process.sql("CALL otlp_stop()")  # commits everything
    port = free_port()
    process.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50, query_timeout_ms := 20000)")
    yield process, f"http://127.0.0.1:{port}"
    process.kill()


def get(api, path, **params):
    return requests.get(f"{api}{path}", params=params, timeout=120)


def post(api, path, **form):
    return requests.post(f"{api}{path}", data=form, timeout=120)


def prometheus_error(response, status, kind, message):
    assert (response.status_code, response.json()) == (
        status, {"status": "error", "errorType": kind, "error": message}), response.text[:500]


TOO_DEEP = "query nesting exceeds the limit of 128 levels of operators and brackets"
OUT_OF_RANGE = " is out of range: times must be within 4611686018427387904 ms of 1970 and durations at most 2305843009213693952 ms"
TOO_MANY = "query processing would load too many samples into memory in query execution (limit: 10000000 samples)"


@pytest.mark.parametrize("query", [
    "(" * 15000 + "up" + ")" * 15000,
    "+".join(["1"] * 20000),
    "-" * 20000 + "1",
    " and ".join(["up"] * 20000),
    "sum(" * 5000 + "up" + ")" * 5000,
])
def test_deep_promql_is_a_400_naming_the_bound(server, query):
    _, api = server
    prometheus_error(post(api, "/api/v1/query", query=query, time=T0), 400, "bad_data",
                     f'invalid parameter "query": {TOO_DEEP}')
    prometheus_error(post(api, "/api/v1/query_range", query=query, start=T0, end=T0 + 60, step=15), 400,
                     "bad_data", f'invalid parameter "query": {TOO_DEEP}')
    prometheus_error(post(api, "/api/v1/format_query", query=query), 400, "bad_data",
                     f'invalid parameter "query": {TOO_DEEP}')


POINTS = "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"


@pytest.mark.parametrize("params, message", [
    ({"start": "-9000000000000000000", "end": "9000000000000000000", "step": "1"},
     'invalid parameter "start": cannot parse "-9000000000000000000" to a valid timestamp'),
    ({"start": "-9e15", "end": "9e15", "step": "9e9"}, POINTS),
    ({"start": "-292273086-05-16T16:47:06Z", "end": "292277025-08-18T07:12:54.999999999Z", "step": "1"}, POINTS),
    ({"start": "9e15", "end": "9e15", "step": "1"}, "the start time" + OUT_OF_RANGE),
    ({"start": T0, "end": T0 + 60, "step": "1e-300"},
     'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer'),
    ({"start": T0, "end": T0 + 60, "step": "0.0000000001"},
     'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer'),
    ({"start": T0, "end": T0 + 60, "step": "0.0001"},
     'invalid parameter "step": the step rounds to 0ms; it must be at least 1ms'),
    ({"start": T0, "end": T0 + 60, "step": "1e300"},
     'invalid parameter "step": cannot parse "1e300" to a valid duration. It overflows int64'),
])
def test_extreme_ranges_and_steps_are_400s(server, params, message):
    _, api = server
    prometheus_error(get(api, "/api/v1/query_range", query="up", **params), 400, "bad_data", message)


@pytest.mark.parametrize("query, status, kind, message", [
    ("up offset 4000000000y", 400, "bad_data", "the offset" + OUT_OF_RANGE),
    ("rate(up[4000000000y])", 400, "bad_data", "the range" + OUT_OF_RANGE),
    ("up @ 1e300", 400, "bad_data", "the @ modifier" + OUT_OF_RANGE),
    ("max_over_time(up[1h:0.0001])", 400, "bad_data", "subquery step 100µs rounds to 0ms; it must be at least 1ms"),
    ("max_over_time(up[30d:1ms])", 422, "execution", TOO_MANY),
    ('label_replace(up, "x", "' + "$1" * 40000 + '", "job", "(.*)")', 422, "execution",
     'label_replace(): the new value of label "x" would be longer than 65536 bytes'),
])
def test_extreme_durations_and_work_are_errors(server, query, status, kind, message):
    _, api = server
    prometheus_error(post(api, "/api/v1/query", query=query, time=T0 + 60), status, kind, message)


@pytest.mark.parametrize("query", ["rate(up[1e300])", "up offset 9999999999999y", "rate(up[99999999999999h])",
                                   "max_over_time(up[1h:0s])", 'up{job=~"(a{1000}){1000}"}'])
def test_unrepresentable_literals_are_parse_errors(server, query):
    _, api = server
    response = post(api, "/api/v1/query", query=query, time=T0 + 60)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith('invalid parameter "query": parse error: '), response.text


def test_huge_parameters_still_answer(server):
    _, api = server
    for query in ["topk(1e18, up)", "quantile(1e300, up)", "histogram_quantile(1e300, up)", "up + up + up"]:
        response = post(api, "/api/v1/query", query=query, time=T0 + 60)
        assert response.status_code == 200, (query, response.text)


def test_poison_comes_back_as_data(server):
    _, api = server
    response = post(api, "/api/v1/query", query='{path="a\\x00b"}', time=T0 + 60)
    assert response.status_code == 200, response.text
    assert [r["metric"]["path"] for r in response.json()["data"]["result"]] == ["a\u0000b"]
    response = post(api, "/api/v1/query", query='{__name__=~"we.*"}', time=T0 + 60)
    assert response.status_code == 200, response.text
    assert [r["value"][1] for r in response.json()["data"]["result"]] == ["1.5"]
    names = get(api, "/api/v1/label/__name__/values").json()
    assert names["status"] == "success" and "up" in names["data"] and len(names["data"]) == 2, names
    assert get(api, "/api/v1/labels").json()["status"] == "success"
    assert get(api, "/api/v1/label/path/values").json()["data"] == ["a\u0000b"]
    series = get(api, "/api/v1/series", **{"match[]": '{__name__=~".+"}'}).json()
    assert series["status"] == "success" and len(series["data"]) == 2, series
    assert get(api, "/api/v1/metadata").json()["status"] == "success"


def tempo_error(response, status, message):
    assert (response.status_code, response.text) == (status, message)


def test_deep_traceql_is_a_400_naming_the_bound(server):
    _, api = server
    nested = "traceql parse error at {}: the query nests deeper than 64 levels of parentheses and operators"
    tempo_error(post(api, "/api/search", q="{ " + "(" * 15000 + ".a = 1" + ")" * 15000 + " }"), 400,
                "invalid TraceQL query: " + nested.format(67))
    tempo_error(post(api, "/api/search", q=" && ".join(["{ }"] * 20000)), 400,
                "invalid TraceQL query: " + nested.format(65 * 7))
    for op in [">>", "~"]:
        response = post(api, "/api/search", q=f" {op} ".join(["{ }"] * 5000))
        assert response.status_code == 400 and "nests deeper than 64 levels" in response.text, response.text
    response = post(api, "/api/search", q="{ }" + " | count() > 0" * 5000)
    assert response.status_code == 400 and "nests deeper than 64 levels" in response.text, response.text


def test_tempo_tag_lists_are_bounded(server):
    _, api = server
    tempo_error(post(api, "/api/search", tags=" ".join(f"k{i}=v" for i in range(20000))), 400,
                "invalid tags: more than 64 tags")
    tempo_error(post(api, "/api/search", **{f"k{i}": "v" for i in range(5000)}), 400,
                "invalid tags: more than 64 tags")


@pytest.mark.parametrize("params, status, message", [
    ({"start": "4294967296", "end": "4294967297"}, 400,
     'invalid start: strconv.ParseUint: parsing "4294967296": value out of range'),
    ({"minDuration": "9999999999999999h"}, 400, 'invalid minDuration: time: invalid duration "9999999999999999h"'),
    ({"spss": "4294967295"}, 400, "spans per span set exceeds 100. received 4294967295"),
    ({"limit": "4294967295"}, 400, "limit 4294967295 exceeds max limit 50000"),
])
def test_tempo_extreme_parameters_are_400s(server, params, status, message):
    _, api = server
    tempo_error(get(api, "/api/search", **params), status, message)


def test_tempo_poison_comes_back_as_data(server):
    _, api = server
    search = get(api, "/api/search", q="{ }")
    assert search.status_code == 200, search.text
    assert [t["rootTraceName"] for t in search.json()["traces"]] == [POISON]
    tags = get(api, "/api/search/tags").json()["tagNames"]
    assert "a\u0000b" in tags and POISON in tags, tags
    assert get(api, "/api/search/tag/a%00b/values").json()["tagValues"] == ["c'\u0000d"]
    values = get(api, "/api/v2/search/tag/resource.service.name/values").json()["tagValues"]
    assert values == [{"type": "string", "value": "svc\u0000'"}], values
    names = get(api, "/api/v2/search/tag/name/values").json()["tagValues"]
    assert names == [{"type": "string", "value": POISON}], names
    literal = get(api, "/api/search", q='{ name = "we\\u0000ird" }')
    assert literal.status_code in (200, 400), literal.text
    assert get(api, "/api/traces/0af7651916cd43dd8448eb211c80319c").status_code == 200
    extremes = get(api, "/api/traces/0af7651916cd43dd8448eb211c80319c",
                   start="-9223372036854775808", end="9223372036854775807")
    assert extremes.status_code == 200, extremes.text


@pytest.mark.parametrize("sql, error", [
    ("SELECT count(*) AS n FROM promql_range('up', start := '294000-01-01'::TIMESTAMPTZ, "
     "\"end\" := '294000-01-01'::TIMESTAMPTZ, step := INTERVAL 1 MINUTE)", "start: cannot read"),
    ("SELECT count(*) AS n FROM promql_range('up', start := now() - INTERVAL 1 HOUR, \"end\" := now(), "
     "step := INTERVAL 2147483647 DAYS)", "step: cannot read"),
    ("SELECT count(*) AS n FROM promql_range('up', start := now(), \"end\" := now(), step := INTERVAL '0.0001 seconds')",
     "step must be positive"),
    ("SELECT count(*) AS n FROM promql_query('" + "(" * 15000 + "up" + ")" * 15000 + "')", TOO_DEEP),
    ("SELECT count(*) AS n FROM promql_query('up offset 4000000000y', at := '2026-01-01 00:01:00+00')", "the offset"),
    ("SELECT count(*) AS n FROM promql_query('max_over_time(up[30d:1ms])', at := '2026-01-01 00:01:00+00')",
     TOO_MANY),
    ("SELECT count(*) AS n FROM tempo_search('{ " + "(" * 15000 + ".a = 1" + ")" * 15000 + " }')",
     "nests deeper than 64 levels"),
    ("SELECT length(traceql_sql('" + " >> ".join(["{ }"] * 20000) + "')) AS n", "nests deeper than 64 levels"),
])
def test_sql_functions_refuse_extremes(server, sql, error):
    process, _ = server
    with pytest.raises(Exception, match=None) as refused:
        process.sql(sql)
    assert error in str(refused.value), str(refused.value)[:500]


def test_sql_functions_read_poison(server):
    process, _ = server
    rows = process.sql("SELECT value FROM promql_query('{__name__=~\"we.*\"}', at := '2026-01-01 00:01:00+00')")
    assert rows == [{"value": 1.5}]
    rows = process.sql("SELECT labels['path'] AS path FROM promql_query('up{path=\"a\\x00b\"}', "
                       "at := '2026-01-01 00:01:00+00')")
    assert [r["path"] for r in rows] == ["a\u0000b"]


def test_still_alive_and_small(server):
    process, api = server
    assert requests.get(f"{api}/health", timeout=10).status_code == 200
    assert process.sql("SELECT 42 AS answer") == [{"answer": 42}]
    status = open(f"/proc/{process.process.pid}/status").read()
    peak_kb = int(status.split("VmHWM:")[1].split("kB")[0])
    assert peak_kb < MAX_RSS_KB, f"peak RSS {peak_kb} kB"
