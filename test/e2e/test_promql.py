"""PromQL end to end: the Python OpenTelemetry SDK exports a counter, a delta
counter, a gauge and a histogram to otlp_serve once a minute for ten minutes;
promql_range / promql_query in the same DuckDB process answer with exact values.

The SDK stamps points with the wall clock at collection time; the test replaces
that clock (`time_ns` of the SDK's collection module) with a fake one, so the
points land exactly on 2026-01-01 00:00..00:10 UTC.
"""
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics._internal import metric_reader_storage
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from harness import free_port

T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MINUTE_NS = 60_000_000_000
RANGE = "start := TIMESTAMPTZ '2026-01-01 00:05:00+00', \"end\" := TIMESTAMPTZ '2026-01-01 00:10:00+00', step := INTERVAL 5 MINUTE"
AT_10M = "at := TIMESTAMPTZ '2026-01-01 00:10:00+00'"


def provider_for(endpoint, temporality=None, views=()):
    exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", preferred_temporality=temporality)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    resource = Resource.create({"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "c-1"})
    return MeterProvider(resource=resource, metric_readers=[reader], views=list(views)), reader


@pytest.fixture(scope="module")
def db(tmp_path_factory, extension, ducklake_extension):
    from harness import DuckDB

    directory = tmp_path_factory.mktemp("promql")
    process = DuckDB(directory, extension, ducklake_extension)
    process.directory = directory
    port = free_port()
    endpoint = process.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50)")[0]["endpoint"]
    send_ten_minutes(endpoint)
    process.sql("CALL otlp_stop()")  # flushes everything into the lake
    yield process
    process.kill()


def send_ten_minutes(endpoint):
    now = {"ns": T0_NS}
    real_clock = metric_reader_storage.time_ns
    metric_reader_storage.time_ns = lambda: now["ns"]
    try:
        views = [View(instrument_name="latency", aggregation=ExplicitBucketHistogramAggregation((0.1, 0.5)))]
        cumulative, cumulative_reader = provider_for(endpoint, views=views)
        delta, delta_reader = provider_for(endpoint, temporality={Counter: AggregationTemporality.DELTA})
        meter = cumulative.get_meter("shop")
        requests = meter.create_counter("http.requests", unit="1")
        latency = meter.create_histogram("latency", unit="s")
        temperature = {"value": 0.0}
        meter.create_observable_gauge("temperature", unit="Cel",
                                      callbacks=[lambda _: [Observation(temperature["value"], {"room": "a"})]])
        jobs = delta.get_meter("worker").create_counter("jobs.done")
        for minute in range(11):
            now["ns"] = T0_NS + minute * MINUTE_NS
            requests.add(10, {"route": "/pay"})
            requests.add(1, {"route": "/cart"})
            for value in (0.05, 0.05, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 1.0, 1.0):
                latency.record(value)
            temperature["value"] = 20.0 + minute
            jobs.add(5)
            assert cumulative_reader.force_flush() and delta_reader.force_flush()
        cumulative.shutdown()
        delta.shutdown()
    finally:
        metric_reader_storage.time_ns = real_clock


def test_rate_of_a_counter(db):
    # 10 per minute; the 5m window holds 5 samples 60s apart, extrapolated 60s to its start
    rows = db.sql(f"""SELECT labels['route'] AS route, labels['job'] AS job, labels['instance'] AS instance,
                             strftime("timestamp", '%H:%M') AS t, value
                      FROM promql_range('rate(http_requests_total[5m])', {RANGE}) ORDER BY route, t""")
    assert rows == [
        {"route": "/cart", "job": "shop/checkout", "instance": "c-1", "t": "00:05", "value": pytest.approx(1 / 60, rel=1e-12)},
        {"route": "/cart", "job": "shop/checkout", "instance": "c-1", "t": "00:10", "value": pytest.approx(1 / 60, rel=1e-12)},
        {"route": "/pay", "job": "shop/checkout", "instance": "c-1", "t": "00:05", "value": pytest.approx(1 / 6, rel=1e-12)},
        {"route": "/pay", "job": "shop/checkout", "instance": "c-1", "t": "00:10", "value": pytest.approx(1 / 6, rel=1e-12)},
    ]


def test_sum_by_service(db):
    rows = db.sql(f"""SELECT labels AS labels, value FROM promql_range(
                          'sum by (service_name) (increase(http_requests_total[5m]))', {RANGE})""")
    assert rows == [{"labels": {"service_name": "checkout"}, "value": pytest.approx(55.0, rel=1e-12)}] * 2


def test_histogram_quantile(db):
    query = "histogram_quantile({q}, sum by (le) (rate(latency_seconds_bucket[5m])))"
    values = [db.sql(f"SELECT value FROM promql_query('{query.format(q=q)}', {AT_10M})")[0]["value"] for q in (0.5, 0.9)]
    # rank 5 of 10 is half-way through the 6 observations in (0.1, 0.5]; rank 9 is in +Inf
    assert values == [pytest.approx(0.3, rel=1e-12), 0.5]


def test_histogram_count_and_sum(db):
    rows = db.sql(f"""SELECT metric, value FROM promql_query(
                          '{{__name__=~"latency_seconds_(count|sum)"}}', {AT_10M}) ORDER BY metric""")
    assert rows == [{"metric": "latency_seconds_count", "value": 110.0},
                    {"metric": "latency_seconds_sum", "value": pytest.approx(42.9, rel=1e-12)}]  # 11 minutes of 3.9


def test_gauge_with_unit(db):
    rows = db.sql(f"SELECT labels['room'] AS room, metric, value FROM promql_query('temperature_celsius', {AT_10M})")
    assert rows == [{"room": "a", "metric": "temperature_celsius", "value": 30.0}]


def test_delta_counter_rate(db):
    # 5 per minute sent as deltas: the same 1/12 per second as a cumulative counter would give
    rows = db.sql(f"SELECT value FROM promql_range('rate(jobs_done_total[5m])', {RANGE})")
    assert rows == [{"value": pytest.approx(1 / 12, rel=1e-12)}] * 2


def test_portable_sql_runs_without_canardstack(db, ducklake_extension):
    """Last test of the module: it ends the canardstack process to free the lake for a plain DuckDB."""
    import duckdb

    queries = ["http_requests_total", "rate(http_requests_total[5m])", "increase(jobs_done_total[3m])",
               "latency_seconds_bucket{le=\"0.5\"}", "delta(temperature_celsius[2m] offset 1m)"]
    window = "TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:15:00+00', INTERVAL 30 SECOND"
    as_text = 'SELECT labels::VARCHAR AS labels, metric, "timestamp"::VARCHAR AS t, value FROM ({}) ORDER BY ALL'
    plans, expected = {}, {}
    for query in queries:
        quoted = query.replace("'", "''")
        plans[query] = db.sql(f"SELECT promql_sql('{quoted}', {window}, 'canardstack', 'otel') AS sql")[0]["sql"]
        engine = (f"""FROM promql_range('{quoted}', start := TIMESTAMPTZ '2026-01-01 00:00:00+00',
                      "end" := TIMESTAMPTZ '2026-01-01 00:15:00+00', step := INTERVAL 30 SECOND)""")
        expected[query] = [tuple(row.values()) for row in db.sql(as_text.format(engine))]
    db.close()

    con = duckdb.connect()
    con.execute(f"LOAD '{ducklake_extension}'")
    base = db.directory / ".canardstack"
    con.execute(f"ATTACH 'ducklake:{base}/catalog.ducklake' AS canardstack (DATA_PATH '{base}/data/', READ_ONLY)")
    assert con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name LIKE 'promql%'").fetchone()[0] == 0
    for query in queries:
        rows = con.execute(as_text.format(plans[query])).fetchall()
        assert rows == expected[query], query
        assert rows, query
