"""Hostile requests to the Loki API and LogQL (issue 13): each is answered with
Loki's error (status and text), the DuckDB process stays alive and small,
`/health` answers, and label values holding odd bytes (NUL, quotes,
backslashes, control characters) are data for every route, not syntax."""
import os
import time

import pytest
import requests
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from harness import DuckDB, free_port

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
RANGE = {"start": str(T0), "end": str(T0 + 3600 * S)}
POISON = "nul\x00quote'\"back\\slash\x01\x7f\u00e9"
RSS_BOUND = 1 << 30


def send_poison(endpoint):
    resource = Resource({"service.name": "poison", "odd.value": POISON, "we'ird\"key\\": "v"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    logger = provider.get_logger("app")
    for second in range(3):
        logger.emit(LogRecord(timestamp=T0 + second * S, severity_number=SeverityNumber.INFO,
                              body=f"line {second} {POISON}", attributes={"attr": POISON}))
    provider.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, extension, ducklake_extension):
    db = DuckDB(tmp_path_factory.mktemp("loki_hostile"), extension, ducklake_extension)
    port = free_port()
    endpoint = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50)")[0]["endpoint"]
    send_poison(endpoint)
    for _ in range(200):
        if db.sql("SELECT count(*) AS n FROM canardstack.otel.logs")[0]["n"] == 3:
            break
        time.sleep(0.05)
    yield db, endpoint
    db.sql("SELECT * FROM otlp_stop()")
    db.kill()


def peak_rss(db):
    """VmHWM: the peak, so a spike between two checks still counts."""
    with open(f"/proc/{db.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def loki(server, route, params, method="GET"):
    db, endpoint = server
    url = f"{endpoint}/loki/api/v1/{route}"
    if method == "POST":
        response = requests.post(url, data=params, timeout=120)
    else:
        response = requests.get(url, params=params, timeout=120)
    assert db.process.poll() is None, "the DuckDB process died"
    assert requests.get(f"{endpoint}/health", timeout=10).status_code == 200
    assert peak_rss(db) < RSS_BOUND
    return response


NESTING = "parse error at line 1, col {}: syntax error: nesting deeper than 128 levels"
COUNT = 'count_over_time({service_name="poison"}[1m])'


# a GET's head is bounded (64 KiB) by the transport, so GETs nest 1,000 deep and POST forms 15,000
@pytest.mark.parametrize("method,n", [("GET", 1_000), ("POST", 15_000)])
@pytest.mark.parametrize("build,col", [
    (lambda n: "(" * n + COUNT + ")" * n, 129),
    (lambda n: "+".join(["1"] * n), 258),
    (lambda n: "^".join(["2"] * n), 257),
    (lambda n: "sum(" * n + COUNT + ")" * n, 513),
    (lambda n: '{service_name="poison"} | ' + '(a="b" or ' * n + 'a="b"' + ")" * n, 1307),
    (lambda n: "-" * n + "1", 129),
])
def test_deep_queries_are_parse_errors(server, method, n, build, col):
    response = loki(server, "query_range", {"query": build(n), **RANGE}, method)
    assert (response.status_code, response.text) == (400, NESTING.format(col))


@pytest.mark.parametrize("params,message", [
    ({"query": COUNT, "start": "-9000000000000000000", "end": "9000000000000000000", "step": "1"},
     "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"),
    ({"query": COUNT, "start": "-9000000000000000000", "end": "9000000000000000000", "step": "9000000000"},
     "the query time range exceeds the limit (query length: 5000000h0m0s, limit: 768h0m0s)"),
    ({"query": COUNT, "start": "9999999999", "end": "9999999999"},
     "could not parse 'end' parameter: \"9999999999\" is outside the timestamps an int64 of nanoseconds holds "
     "(1677-09-21 to 2262-04-11)"),
    ({"query": COUNT, "start": "1e300.5"}, None),
    ({"query": COUNT, "end": "9999-12-31T23:59:59Z"},
     "could not parse 'end' parameter: \"9999-12-31T23:59:59Z\" is outside the timestamps an int64 of nanoseconds "
     "holds (1677-09-21 to 2262-04-11)"),
    ({"query": COUNT, "end": "-9223372036854775808", "since": "1h"},
     "could not parse 'start' parameter: end minus since is outside the timestamps an int64 of nanoseconds holds "
     "(1677-09-21 to 2262-04-11)"),
    ({"query": COUNT, **RANGE, "step": "0"},
     "zero or negative query resolution step widths are not accepted. Try a positive integer"),
    ({"query": COUNT, **RANGE, "step": "0.0000000001"},
     "zero or negative query resolution step widths are not accepted. Try a positive integer"),
    ({"query": COUNT, **RANGE, "step": "-5"},
     "zero or negative query resolution step widths are not accepted. Try a positive integer"),
    ({"query": 'count_over_time({service_name="poison"}[99999999999999h])', **RANGE},
     "parse error at line 1, col 41: syntax error: invalid range duration 99999999999999h: longer than the 292 "
     "years an int64 of nanoseconds holds"),
    ({"query": 'count_over_time({service_name="poison"}[0s])', **RANGE},
     "parse error at line 1, col 41: syntax error: invalid range duration 0s: a range must be at least one "
     "nanosecond"),
    ({"query": 'count_over_time({service_name="poison"}[1m] offset 106751d)', **RANGE},
     None),
    ({"query": '{service_name="poison"}', **RANGE, "interval": "9223372036"}, None),
])
def test_extreme_times_are_lokis_400(server, params, message):
    response = loki(server, "query_range", params)
    if message is None:
        assert response.status_code in (200, 400), response.text
    else:
        assert (response.status_code, response.text) == (400, message)


def test_an_offset_reaching_before_any_timestamp_is_a_400(server):
    params = {"query": 'count_over_time({service_name="poison"}[1m] offset 106000d)', "time": "-9000000000000000000"}
    response = loki(server, "query", params)
    assert (response.status_code, response.text) == (
        400, "the start minus offset and range is outside the timestamps an int64 of nanoseconds holds "
             "(1677-09-21 to 2262-04-11)")


def test_exploding_templates_mark_lines_and_stop_metric_queries(server):
    thousand = "x" * 1000
    template = "{{ __line__ " + f'| replace "" "{thousand}" ' * 3 + "}}"
    query = '{service_name="poison"} | line_format `' + template + "`"
    response = loki(server, "query_range", {"query": query, **RANGE})
    assert response.status_code == 200, response.text
    streams = response.json()["data"]["result"]
    assert sorted(v[1] for s in streams for v in s["values"]) == [f"line {n} {POISON}" for n in range(3)]
    assert {s["stream"]["__error__"] for s in streams} == {"TemplateFormatErr"}
    assert {s["stream"]["__error_details__"] for s in streams} == {
        f"template: output would exceed {len(f'line 0 {POISON}'.encode()) + 65536} bytes "
        "(the line's length plus 65536)"}
    metric = loki(server, "query_range", {"query": f"count_over_time({query} [1h])", **RANGE})
    assert metric.status_code == 400
    assert metric.text.startswith("pipeline error: TemplateFormatErr for series ")


def test_odd_bytes_in_stored_labels_are_data(server):
    names = loki(server, "labels", RANGE)
    assert names.status_code == 200
    assert names.json()["data"] == ["odd_value", "service_name", "we_ird_key_"]
    values = loki(server, "label/odd_value/values", RANGE)
    assert values.json()["data"] == [POISON]
    series = loki(server, "series", {"match[]": '{odd_value=~".+"}', **RANGE})
    assert series.json()["data"] == [{"odd_value": POISON, "service_name": "poison", "we_ird_key_": "v"}]
    # the value matched exactly, through the SQL literal (NUL as chr(0), quotes doubled)
    escaped = POISON.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\x00").replace("\x01", "\\x01")
    query = '{odd_value="' + escaped + '"} |= "\\x00quote\'"'
    lines = loki(server, "query_range", {"query": query, **RANGE, "direction": "forward"})
    assert lines.status_code == 200, lines.text
    [stream] = lines.json()["data"]["result"]
    assert [v[1] for v in stream["values"]] == [f"line {n} {POISON}" for n in range(3)]
    assert stream["stream"]["attr"] == POISON
    fields = loki(server, "detected_fields", {"query": '{service_name="poison"}', **RANGE})
    assert fields.status_code == 200
    assert {"label": "attr", "type": "string", "cardinality": 1, "parsers": None} in fields.json()["fields"]
    volume = loki(server, "index/volume", {"query": '{odd_value=~".+"}', **RANGE})
    assert volume.json()["data"]["result"][0]["metric"] == {"odd_value": POISON}
    stats = loki(server, "index/stats", {"query": '{service_name="poison"}', **RANGE})
    assert stats.json()["entries"] == 3


def test_a_regex_from_the_query_cannot_blow_up(server):
    query = '{service_name="poison"} |~ "(a{1000}){1000}"'
    response = loki(server, "query_range", {"query": query, **RANGE})
    assert response.status_code == 400
    assert response.text.startswith("parse error at line 1, col 28: invalid regex")

