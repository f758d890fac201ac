"""logql_sql's plans run where canardstack is not: one DuckDB process with canardstack writes
logs into a lake and generates the SQL of each query (and loki_query's rows for it); a second
DuckDB process that loaded only DuckLake attaches the same lake, runs each plan, and must give
the same rows, compared as text (labels, lines, times and every bit of each value).

The lines mix logfmt, JSON and access-log text, so parsers meet lines they cannot parse
(`__error__`), names the stream already has (`_extracted`), quoted logfmt values with escapes
and bare keys, numbers that are no numbers, and values whose sums are not integers.
"""
import pytest

from harness import lake_with_tables, plain_lake_reader

LOG_WINDOW = "TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 01:00:00+00', 1000"
LOG_NAMED = "start := TIMESTAMPTZ '2026-01-01 00:00:00+00', \"end\" := TIMESTAMPTZ '2026-01-01 01:00:00+00', \"limit\" := 1000"
METRIC_WINDOW = "TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:20:00+00', INTERVAL 1 MINUTE"
METRIC_NAMED = ("start := TIMESTAMPTZ '2026-01-01 00:00:00+00', \"end\" := TIMESTAMPTZ '2026-01-01 00:20:00+00', "
                "step := INTERVAL 1 MINUTE")
LOG_TEXT = ('SELECT "timestamp"::VARCHAR AS t, list_sort(map_entries(labels))::VARCHAR AS labels, line, '
            'list_sort(map_entries(structured_metadata))::VARCHAR AS metadata FROM ({}) ORDER BY ALL')
METRIC_TEXT = ('SELECT list_sort(map_entries(labels))::VARCHAR AS labels, "timestamp"::VARCHAR AS t, value::VARCHAR AS v '
               'FROM ({}) ORDER BY ALL')

DATA = [
    # logfmt from two pods: a status, a latency with three decimals, a quoted message with escapes
    """INSERT INTO lake.otel.logs (timestamp, service_name, body, severity_text, severity_number, resource_attributes, log_attributes)
       SELECT TIMESTAMP_NS '2026-01-01 00:00:00' + INTERVAL (i * 7) SECOND, 'api',
              'level=' || (CASE WHEN i % 5 = 0 THEN 'error' ELSE 'info' END) || ' status=' || (200 + (i % 4) * 100)::VARCHAR
              || ' latency=' || (i * 0.137)::VARCHAR || ' pod=' || p || ' msg="req \\"' || i::VARCHAR || '\\" done" flag'
              || CASE WHEN i % 7 = 0 THEN ' status=oops' ELSE '' END,
              'INFO', 9, MAP {'service.name': 'api', 'k8s.pod.name': p}, MAP {'http.method': 'GET'}
       FROM range(0, 150) r(i), (VALUES ('api-1'), ('api-2')) v(p)""",
    # JSON, with some lines that are not JSON
    """INSERT INTO lake.otel.logs (timestamp, service_name, body, severity_text, severity_number, resource_attributes, log_attributes)
       SELECT TIMESTAMP_NS '2026-01-01 00:00:03' + INTERVAL (i * 11) SECOND, 'web',
              CASE WHEN i % 9 = 0 THEN 'not json ' || i::VARCHAR
                   ELSE '{"status":' || (200 + (i % 3) * 150)::VARCHAR || ',"bytes":' || (i * 13)::VARCHAR
                        || ',"req":{"method":"' || (CASE WHEN i % 2 = 0 THEN 'GET' ELSE 'POST' END) || '","path":"/p' || (i % 4)::VARCHAR
                        || '"},"service_name":"inner"}' END,
              'WARN', 13, MAP {'service.name': 'web'}, MAP {}
       FROM range(0, 100) r(i)""",
    # access log lines without a service
    """INSERT INTO lake.otel.logs (timestamp, service_name, body, resource_attributes, log_attributes)
       SELECT TIMESTAMP_NS '2026-01-01 00:00:05' + INTERVAL (i * 13) SECOND, '',
              '10.0.0.' || (i % 5)::VARCHAR || ' - - [01/Jan/2026] "' || (CASE WHEN i % 3 = 0 THEN 'POST' ELSE 'GET' END)
              || ' /health HTTP/1.1" ' || (CASE WHEN i % 4 = 0 THEN 503 ELSE 200 END)::VARCHAR || ' ' || (i * 3)::VARCHAR,
              MAP {}, MAP {}
       FROM range(0, 80) r(i)""",
]

LOG_QUERIES = [
    '{service_name="api"} | logfmt',
    '{service_name="api"} | logfmt --keep-empty | status >= 400 or level="error"',
    '{service_name="api"} | logfmt lat="latency", pod | lat > 10.5',
    '{service_name="api"} | logfmt | status > 250 | drop msg, flag',
    '{service_name="web"} | json status, m="req.method", path="req.path", service_name | __error__=""',
    '{service_name="web"} | json status | drop __error_details__',
    '{service_name="web"} | json | drop __error_details__',
    '{service_name="web"} | json | __error__="" | req_method="POST" | bytes > 500',
    '{service_name="unknown_service"} | pattern "<ip> - - [<_>] \\"<method> <path> <_>\\" <status> <size>" | status="503"',
    '{service_name="unknown_service"} | regexp "^(?P<ip>[0-9.]+) .*\\" (?P<status>[0-9]+) " | keep ip, status',
]

METRIC_QUERIES = [
    'sum by (level) (count_over_time({service_name="api"} | logfmt [2m]))',
    'sum by (pod) (rate({service_name="api"} | logfmt | status >= 400 | __error__="" [3m]))',
    'sum(bytes_rate({service_name=~".+"}[1m]))',
    'sum by (pod) (sum_over_time({service_name="api"} | logfmt | __error__="" | unwrap latency [2m]))',
    'avg by (level) (avg_over_time({service_name="api"} | logfmt | __error__="" | unwrap latency [3m]))',
    'max_over_time({service_name="api"} | logfmt | __error__="" | unwrap latency [5m]) by (pod)',
    'quantile_over_time(0.9, {service_name="api"} | logfmt | __error__="" | unwrap latency [5m]) by (level)',
    'topk(2, sum by (path) (count_over_time({service_name="web"} | json path="req.path" | __error__="" [4m])))',
    'sum by (req_path, service_name_extracted) (count_over_time({service_name="web"} | json | __error__="" [3m]))',
    'count(sum by (ip) (count_over_time({service_name="unknown_service"} | pattern "<ip> - <_>" [2m])))',
]


@pytest.fixture(scope="module")
def plans_and_rows(tmp_path_factory, extension, ducklake_extension):
    """Per query, the SQL logql_sql generates and loki_query's rows as text; and the lake."""
    directory = tmp_path_factory.mktemp("portable_logs")
    writer = lake_with_tables(directory, extension, ducklake_extension)
    try:
        for statement in DATA:
            writer.sql(statement)
        result = {}
        for queries, window, named, text in ((LOG_QUERIES, LOG_WINDOW, LOG_NAMED, LOG_TEXT),
                                             (METRIC_QUERIES, METRIC_WINDOW, METRIC_NAMED, METRIC_TEXT)):
            for query in queries:
                quoted = query.replace("'", "''")
                plan = writer.sql(f"SELECT logql_sql('{quoted}', {window}, 'lake', 'otel') AS sql")[0]["sql"]
                engine = f"FROM loki_query('{quoted}', {named}, catalog := 'lake')"
                result[query] = (plan, text, writer.sql(text.format(engine)))
    finally:
        writer.close()
    return directory, result


@pytest.fixture(scope="module")
def plain_duckdb(plans_and_rows, ducklake_extension):
    """A DuckDB process with DuckLake but not canardstack, attached to the lake."""
    directory, _ = plans_and_rows
    process = plain_lake_reader(directory, ducklake_extension)
    yield process
    process.close()


def test_the_second_process_has_no_canardstack(plain_duckdb):
    functions = plain_duckdb.sql("SELECT count(*) AS n FROM duckdb_functions() WHERE function_name LIKE 'loki%' OR function_name LIKE 'logql%'")
    assert functions == [{"n": 0}]


@pytest.mark.parametrize("query", LOG_QUERIES + METRIC_QUERIES)
def test_portable_plan_gives_the_engines_rows(plans_and_rows, plain_duckdb, query):
    _, result = plans_and_rows
    plan, text, expected = result[query]
    rows = plain_duckdb.sql(text.format(plan))
    assert rows, f"{query}: no rows, so nothing was compared"
    assert rows == expected, query
