"""promql_sql's plans run where canardstack is not: one DuckDB process with canardstack writes a
lake and generates the SQL of each query (and promql_range's rows for it); a second DuckDB
process that loaded only DuckLake attaches the same lake, runs each plan, and must give the
same rows, labels, names, times and values compared as text (so every bit of a value counts).

The data has what makes the engine's choices visible: counters with resets sampled every 20s
whose rates are not integers (sums of four of them), a gauge with a NaN, a -0 and a staleness
marker, a histogram with steps that observed nothing.
"""
import pytest

from harness import lake_with_tables, plain_lake_reader

WINDOW = "TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:16:00+00', INTERVAL 30 SECOND"
NAMED_WINDOW = ("start := TIMESTAMPTZ '2026-01-01 00:00:00+00', \"end\" := TIMESTAMPTZ '2026-01-01 00:16:00+00', "
                "step := INTERVAL 30 SECOND")
AS_TEXT = 'SELECT labels::VARCHAR AS labels, metric, "timestamp"::VARCHAR AS t, value::VARCHAR AS v FROM ({}) ORDER BY ALL'

DATA = [
    """INSERT INTO lake.otel.metrics_sum (resource_attributes, service_name, metric_name, metric_unit, attributes,
         "timestamp", "value", aggregation_temporality, is_monotonic)
       SELECT MAP {'service.name': 'api', 'service.namespace': 'shop'}, 'api', 'errors', '', MAP {'code': c, 'zone': z},
              TIMESTAMP_NS '2026-01-01 00:00:00' + INTERVAL (i * 20) SECOND, ((i % 13) * 0.7 + f) * 1.3, 2, true
       FROM range(0, 31) r(i), (VALUES ('500', 'eu', 0.1), ('502', 'eu', 0.35), ('503', 'us', 2.0), ('504', 'us', 0.01)) v(c, z, f)""",
    """INSERT INTO lake.otel.metrics_gauge (resource_attributes, service_name, metric_name, metric_unit, attributes,
         "timestamp", "value", flags)
       SELECT MAP {'service.name': 'api'}, 'api', 'temperature', 'Cel', MAP {'room': r, 'floor': fl},
              TIMESTAMP_NS '2026-01-01 00:00:00' + INTERVAL (i) MINUTE,
              CASE WHEN i = 5 AND r = 'b' THEN 'NaN'::DOUBLE WHEN i = 7 AND r = 'c' THEN -0.0 ELSE 20 + i * 0.1 * f END,
              CASE WHEN i = 8 AND r = 'a' THEN 1 ELSE 0 END
       FROM range(0, 11) r(i), (VALUES ('a', '1', 1.0), ('b', '1', -3.0), ('c', '2', 0.7), ('d', '2', 0.7)) v(r, fl, f)""",
    """INSERT INTO lake.otel.metrics_histogram (resource_attributes, service_name, metric_name, metric_unit, attributes,
         "timestamp", "count", "sum", bucket_counts, explicit_bounds, aggregation_temporality)
       SELECT MAP {'service.name': s}, s, 'rpc.duration', 's', MAP {}, TIMESTAMP_NS '2026-01-01 00:00:00' + INTERVAL (i) MINUTE,
              0, 0.0, CASE WHEN s = 'b' AND i < 3 THEN [0, 0, 0, 0, 0] ELSE [i * k, 2 * i, (i * i * k) % 7, 1, i % 3] END,
              [0.05, 0.25, 1, 5], 2
       FROM range(0, 11) r(i), (VALUES ('a', 1), ('b', 3)) v(s, k)""",
]

QUERIES = [
    "errors_total",
    "sum by (zone) (rate(errors_total[2m]))",
    "sum without (code) (increase(errors_total[3m]))",
    "avg(rate(errors_total[2m]))",
    "max by (floor) (temperature_celsius)",
    "count(temperature_celsius)",
    "stddev(rate(errors_total[2m]))",
    "topk(2, rate(errors_total[2m]))",
    "quantile by (floor) (0.25, temperature_celsius)",
    "sum_over_time(temperature_celsius[3m])",
    "last_over_time(temperature_celsius[3m])",
    "avg_over_time(errors_total[90s] offset 1m)",
    "rate(errors_total[2m]) * 60 > 1",
    "temperature_celsius != bool 20",
    "scalar(sum(temperature_celsius)) / temperature_celsius",
    "rate(errors_total[2m]) / on(code, zone) rate(errors_total[5m])",
    "rate(errors_total[2m]) / on(zone) group_left sum by (zone) (rate(errors_total[2m]))",
    "histogram_quantile(0.9, sum by (le, job) (rate(rpc_duration_seconds_bucket[3m])))",
    "irate(errors_total[1m])",
    "predict_linear(errors_total[2m], 60)",
    "clamp(ln(temperature_celsius - 20), -1, 1)",
    "temperature_celsius > 20.5 or temperature_celsius < 19",
    "time() - 1767225600",
    "stddev_over_time(temperature_celsius[3m])",
    "stdvar_over_time(errors_total[90s])",
    "timestamp(temperature_celsius offset 1m)",
    'label_replace(errors_total, "family", "${1}x-${z}$$", "code", "(5)(?P<z>0.)")',
    'sum by (both) (label_join(rate(errors_total[2m]), "both", "/", "zone", "absent", "code"))',
    'count_values by (floor) ("v", temperature_celsius)',
    'count_values("r", rate(errors_total[2m]))',
    "sin(temperature_celsius) + acos(temperature_celsius / 25) * tanh(temperature_celsius)",
]


@pytest.fixture(scope="module")
def plans_and_rows(tmp_path_factory, extension, ducklake_extension):
    """Per query, the SQL promql_sql generates and promql_range's rows as text; and the lake."""
    directory = tmp_path_factory.mktemp("portable")
    writer = lake_with_tables(directory, extension, ducklake_extension)
    try:
        for statement in DATA:
            writer.sql(statement)
        result = {}
        for query in QUERIES:
            quoted = query.replace("'", "''")
            plan = writer.sql(f"SELECT promql_sql('{quoted}', {WINDOW}, 'lake', 'otel') AS sql")[0]["sql"]
            engine = f"FROM promql_range('{quoted}', {NAMED_WINDOW}, catalog := 'lake')"
            result[query] = (plan, writer.sql(AS_TEXT.format(engine)))
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
    functions = plain_duckdb.sql("SELECT count(*) AS n FROM duckdb_functions() WHERE function_name LIKE 'promql%' OR function_name LIKE 'otlp%'")
    assert functions == [{"n": 0}]


@pytest.mark.parametrize("query", QUERIES)
def test_portable_plan_gives_the_engines_rows(plans_and_rows, plain_duckdb, query):
    _, result = plans_and_rows
    plan, expected = result[query]
    rows = plain_duckdb.sql(AS_TEXT.format(plan))
    assert rows, f"{query}: no rows, so nothing was compared"
    assert rows == expected, query
