"""canardstack_publish_macros' macros answer where canardstack is not: a DuckDB process with
canardstack runs a real server, receives OTLP metrics, logs and traces over HTTP, publishes the
macros into a DuckDB file beside the lake and records what promql_range, loki_query and
tempo_trace answer; a second DuckDB process that never loaded canardstack (only DuckLake)
attaches the lake and the macro file, calls every macro and must give the same rows, values
compared as text (so every bit counts).
"""
import json

import pytest
import requests

from harness import DuckDB, attach_lake, free_port, plain_lake_reader

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
START, STOP = "TIMESTAMPTZ '2026-01-01 00:00:00+00'", "TIMESTAMPTZ '2026-01-01 00:12:00+00'"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TRACE = "00000000000000000000000000000abc"
RATES = [("http_requests_total", "2m", "INTERVAL 2 MINUTE", "30s", "INTERVAL 30 SECOND"),
         ("http_requests_total", "1m", "INTERVAL 1 MINUTE", "1m", "INTERVAL 1 MINUTE"),
         ("queue_jobs_total", "90s", "INTERVAL 90 SECOND", "45s", "INTERVAL 45 SECOND")]
RATE_TEXT = ('SELECT labels::VARCHAR AS labels, metric, "timestamp"::VARCHAR AS t, value::VARCHAR AS v '
             'FROM ({}) ORDER BY ALL')


def kv(key, value):
    return {"key": key, "value": {"stringValue": value}}


def ns(seconds):
    return str(int(seconds * 10**9))


def metrics_body():
    """Two cumulative counters sampled every 15 s: http.requests per method with a reset at
    6 min (the process restarted), and queue.jobs (unit {job}) from another service."""
    def requests_point(i, method, factor):
        value = i * factor if i < 24 else (i - 24) * factor + 0.25
        return {"timeUnixNano": ns(T0 + 15 * i), "asDouble": value, "attributes": [kv("http.method", method)]}
    requests_metric = {"name": "http.requests", "unit": "1", "sum": {
        "aggregationTemporality": 2, "isMonotonic": True,
        "dataPoints": [requests_point(i, m, f) for i in range(0, 49) for m, f in (("GET", 1.3), ("POST", 0.35))]}}
    jobs = {"name": "queue.jobs", "unit": "{job}", "sum": {
        "aggregationTemporality": 2, "isMonotonic": True,
        "dataPoints": [{"timeUnixNano": ns(T0 + 15 * i), "asInt": str(3 * i + i % 4)} for i in range(0, 49)]}}
    return {"resourceMetrics": [
        {"resource": {"attributes": [kv("service.name", "api"), kv("service.namespace", "shop"),
                                     kv("service.instance.id", "api-1")]},
         "scopeMetrics": [{"metrics": [requests_metric]}]},
        {"resource": {"attributes": [kv("service.name", "worker")]}, "scopeMetrics": [{"metrics": [jobs]}]},
    ]}


def logs_body():
    def record(second, severity, number, body, trace="", span="", attributes=()):
        return {"timeUnixNano": ns(T0 + second), "severityText": severity, "severityNumber": number,
                "body": {"stringValue": body}, "traceId": trace, "spanId": span,
                "attributes": [kv(k, v) for k, v in attributes]}
    api = [record(5, "INFO", 9, "GET /checkout 200", TRACE, "00f067aa0ba902b7", [("http.method", "GET")]),
           record(65, "ERROR", 17, "payment failed: card declined", TRACE, "00f067aa0ba902b8"),
           record(130.5, "WARN", 13, "slow query", attributes=[("db.system", "postgres")]),
           record(720, "INFO", 9, "at stop, so left out")]
    worker = [record(30, "INFO", 9, "job done")]
    return {"resourceLogs": [
        {"resource": {"attributes": [kv("service.name", "api")]}, "scopeLogs": [{"logRecords": api}]},
        {"resource": {"attributes": [kv("service.name", "worker")]}, "scopeLogs": [{"logRecords": worker}]},
    ]}


def spans_body():
    def span(trace, span_id, parent, name, start, end):
        return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 2,
                "startTimeUnixNano": ns(T0 + start), "endTimeUnixNano": ns(T0 + end),
                "attributes": [kv("step", name)]}
    return {"resourceSpans": [{"resource": {"attributes": [kv("service.name", "api")]}, "scopeSpans": [{"spans": [
        span(TRACE, "00f067aa0ba902b7", "", "GET /checkout", 5, 5.4),
        span(TRACE, "00f067aa0ba902b8", "00f067aa0ba902b7", "charge", 5.1, 5.3),
        span(TRACE, "00f067aa0ba902b9", "00f067aa0ba902b8", "SELECT cards", 5.15, 5.2),
        span(OTHER_TRACE, "00000000000000ab", "", "GET /health", 7, 7.001),
    ]}]}]}


@pytest.fixture(scope="module")
def published(tmp_path_factory, extension, ducklake_extension):
    """The lake and macro file a real server wrote, with what the engine answers on it."""
    directory = tmp_path_factory.mktemp("macros")
    server = DuckDB(directory, extension, ducklake_extension)
    try:
        attach_lake(server, directory)
        endpoint = server.sql(f"SELECT * FROM otlp_serve({free_port()}, retention := INTERVAL '0 days', "
                              "flush_interval_ms := 50, catalog := 'lake')")[0]["endpoint"]
        for path, body in [("/v1/metrics", metrics_body()), ("/v1/logs", logs_body()), ("/v1/traces", spans_body())]:
            response = requests.post(f"{endpoint}{path}", data=json.dumps(body),
                                     headers={"Content-Type": "application/json"}, timeout=30)
            assert response.status_code == 200, response.text
        committed = server.sql("SELECT rows_committed FROM otlp_stop()")[0]["rows_committed"]
        assert committed == {"metrics_sum": 147, "logs": 5, "spans": 4}

        server.sql(f"ATTACH '{directory}/macros.duckdb' AS macros")
        written = server.sql("SELECT * FROM canardstack_publish_macros(target := 'macros', catalog := 'lake')")
        server.sql("DETACH macros")

        expected = {"rates": {}, "series": {}}
        for metric, range_text, _, step_text, step in RATES:
            query = f"rate({metric}[{range_text}])"
            expected["rates"][(metric, range_text, step_text)] = server.sql(RATE_TEXT.format(
                f"FROM promql_range('{query}', start := {START}, \"end\" := {STOP}, step := {step}, catalog := 'lake')"))
        for metric in ["http_requests_total", "queue_jobs_total"]:
            expected["series"][metric] = server.sql(
                "SELECT DISTINCT metric, labels::VARCHAR AS labels FROM promql_range("
                f"'{{__name__=\"{metric}\"}}', start := {START}, \"end\" := {STOP}, step := INTERVAL 15 SECOND, "
                "catalog := 'lake') ORDER BY labels")
        expected["logs"] = server.sql(
            "SELECT \"timestamp\"::VARCHAR AS t, line, structured_metadata['severity_text'] AS severity, "
            "coalesce(structured_metadata['trace_id'], '') AS trace_id, coalesce(structured_metadata['span_id'], '') AS span_id "
            f"FROM loki_query('{{service_name=\"api\"}}', start := {START}, \"end\" := {STOP}, \"limit\" := 1000, catalog := 'lake')")
        expected["trace"] = server.sql(f"SELECT * EXCLUDE (depth), depth FROM tempo_trace('{TRACE}', catalog := 'lake')")
    finally:
        server.close()
    return directory, written, expected


@pytest.fixture(scope="module")
def client(published, ducklake_extension):
    """A DuckDB process with DuckLake but not canardstack: the lake and the macro file attached."""
    directory, _, _ = published
    process = plain_lake_reader(directory, ducklake_extension)
    process.sql(f"ATTACH '{directory}/macros.duckdb' AS macros (READ_ONLY)")
    yield process
    process.close()


def test_publishing_reports_every_object(published):
    _, written, _ = published
    assert written == [
        {"name": "otel_logs", "kind": "table macro", "signature": "otel_logs(service, start, stop)"},
        {"name": "otel_series", "kind": "table macro", "signature": "otel_series(metric)"},
        {"name": "otel_rate", "kind": "table macro", "signature": "otel_rate(metric, range, step, start, stop)"},
        {"name": "otel_trace", "kind": "table macro", "signature": "otel_trace(trace_id)"},
        {"name": "otel_services", "kind": "view", "signature": "otel_services"},
    ]


def test_the_client_has_no_canardstack(client):
    found = client.sql("SELECT count(*) AS n FROM duckdb_functions() WHERE function_name LIKE 'promql%' "
                       "OR function_name LIKE 'otlp%' OR function_name LIKE 'canardstack%' OR function_name LIKE 'loki%'")
    assert found == [{"n": 0}]


@pytest.mark.parametrize("metric, range_text, range_sql, step_text, step_sql", RATES)
def test_otel_rate_gives_promql_ranges_rows(published, client, metric, range_text, range_sql, step_text, step_sql):
    _, _, expected = published
    rows = client.sql(RATE_TEXT.format(f"FROM macros.otel_rate('{metric}', {range_sql}, {step_sql}, {START}, {STOP})"))
    assert len(rows) > 10, "too few rows to compare"
    assert rows == expected["rates"][(metric, range_text, step_text)]


def test_otel_rate_sees_the_counter_reset(client):
    rows = client.sql(f"""SELECT value FROM macros.otel_rate('http_requests_total', INTERVAL 1 MINUTE, INTERVAL 1 MINUTE,
        TIMESTAMPTZ '2026-01-01 00:06:00+00', TIMESTAMPTZ '2026-01-01 00:06:00+00') WHERE labels['http_method'] = 'GET'""")
    # points in (5:00, 6:00]: 5:15 (27.3), 5:30 (28.6), 5:45 (29.9), 6:00 (0.25): increase 0.25 - 27.3 + 29.9 = 2.85
    # over 45 s sampled, extrapolated 15 s to the window's start (below 1.1 x the 15 s gap): 2.85 * 60/45 per 60 s
    assert rows == [{"value": pytest.approx(2.85 * 60 / 45 / 60, rel=1e-12)}]


@pytest.mark.parametrize("metric", ["http_requests_total", "queue_jobs_total"])
def test_otel_series_gives_the_engines_series(published, client, metric):
    _, _, expected = published
    rows = client.sql(f"SELECT metric, labels::VARCHAR AS labels FROM macros.otel_series('{metric}') ORDER BY labels")
    assert rows and rows == expected["series"][metric]


def test_otel_series_labels(client):
    rows = client.sql("SELECT metric, labels FROM macros.otel_series('http_requests_total')")
    assert rows == [{"metric": "http_requests_total", "labels": {
        "http_method": method, "instance": "api-1", "job": "shop/api", "service_instance_id": "api-1",
        "service_name": "api", "service_namespace": "shop"}} for method in ("GET", "POST")]


def test_otel_logs_gives_loki_querys_lines(published, client):
    _, _, expected = published
    rows = client.sql(f"""SELECT "timestamp"::VARCHAR AS t, body AS line, severity, trace_id, span_id
                          FROM macros.otel_logs('api', {START}, {STOP})""")
    assert [r["line"] for r in rows] == ["slow query", "payment failed: card declined", "GET /checkout 200"]
    assert rows == expected["logs"]
    attributes = client.sql(f"SELECT attributes FROM macros.otel_logs('api', {START}, {STOP})")
    assert attributes == [{"attributes": {"db.system": "postgres"}}, {"attributes": {}}, {"attributes": {"http.method": "GET"}}]


def test_otel_trace_gives_tempo_traces_rows(published, client):
    _, _, expected = published
    rows = client.sql(f"SELECT * EXCLUDE (depth), depth FROM macros.otel_trace('{TRACE.upper()}')")
    assert [(r["span_name"], r["depth"]) for r in rows] == [("GET /checkout", 0), ("charge", 1), ("SELECT cards", 2)]
    assert rows == expected["trace"]
    assert client.sql("SELECT span_name FROM macros.otel_trace('abc')") == [{"span_name": "GET /health"}]


def test_otel_services_lists_the_signals(client):
    assert client.sql("FROM macros.otel_services") == [
        {"service_name": "api", "signals": ["logs", "metrics", "traces"]},
        {"service_name": "worker", "signals": ["logs", "metrics"]},
    ]


def test_bad_macro_arguments_are_named(client):
    from harness import SqlError
    with pytest.raises(SqlError, match="otel_trace: trace_id must be a trace id of up to 32 hex characters"):
        client.sql("FROM macros.otel_trace('not hex')")
    with pytest.raises(SqlError, match="otel_rate: step must be a positive interval"):
        client.sql(f"FROM macros.otel_rate('http_requests_total', INTERVAL 1 MINUTE, INTERVAL 0 SECOND, {START}, {STOP})")
