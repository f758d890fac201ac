"""Real OpenTelemetry SDK exporters send to otlp_serve; a second DuckDB process
without canardstack reads the DuckLake back and checks exact values."""
import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.metrics import Observation
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from harness import free_port

RESOURCE = Resource.create({"service.name": "checkout", "service.namespace": "shop", "deployment.environment": "test"})
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns


@pytest.fixture(params=["staged", "parquet"])
def server(request, duckdb_process):
    """Both write routes: small flushes staged through DuckDB, large ones as Parquet files
    (inline_rows := 1 sends every flush down the Parquet route)."""
    db = duckdb_process()
    port = free_port()
    inline_rows = 10_000 if request.param == "staged" else 1
    row = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 100, inline_rows := {inline_rows})")[0]
    assert row["endpoint"] == f"http://127.0.0.1:{port}"
    assert row["catalog"] == "canardstack"
    assert row["schema"] == "otel"
    return db, row["endpoint"]


def stop(db):
    """Stops the server and ends its DuckDB process, releasing the lake for readers."""
    stopped = db.sql("SELECT * FROM otlp_stop()")
    db.close()
    return stopped


def test_logs_from_the_sdk(server, lake_reader):
    db, endpoint = server
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    logger = provider.get_logger("billing", "1.2.3")
    for i in range(3):
        logger.emit(LogRecord(
            timestamp=T0 + i * 1_000_000_000,
            observed_timestamp=T0 + i * 1_000_000_000 + 5,
            trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7,
            severity_text="WARN", severity_number=SeverityNumber.WARN,
            body=f"payment timeout {i}",
            attributes={"http.status_code": 504, "retry": True, "ratio": 0.25, "user": "ann", "tags": ["a", "b"]},
        ))
    provider.shutdown()
    stopped = stop(db)
    assert stopped[0]["rows_committed"] == {"logs": 3}

    con = lake_reader()
    rows = con.execute("""
        SELECT timestamp::VARCHAR, observed_timestamp::VARCHAR, trace_id, span_id, severity_text, severity_number,
               service_name, body, scope_name, scope_version, resource_attributes['service.namespace'],
               log_attributes['http.status_code'], log_attributes['retry'], log_attributes['ratio'],
               log_attributes['user'], log_attributes['tags']
        FROM lake.otel.logs ORDER BY timestamp""").fetchall()
    assert rows == [
        (f"2026-01-01 00:00:0{i}", f"2026-01-01 00:00:0{i}.000000005", "4bf92f3577b34da6a3ce929d0e0e4736",
         "00f067aa0ba902b7", "WARN", 13, "checkout", f"payment timeout {i}", "billing", "1.2.3", "shop",
         "504", "true", "0.25", "ann", '["a","b"]')
        for i in range(3)
    ]


def test_spans_with_events_and_links(server, lake_reader):
    db, endpoint = server
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("checkout-tracer")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER, start_time=T0) as parent:
        parent_ctx = parent.get_span_context()
        child = tracer.start_span("child", kind=SpanKind.CLIENT, start_time=T0 + 1000,
                                  links=[Link(parent_ctx, {"link.kind": "follows"})],
                                  attributes={"db.system": "duckdb", "rows": 7})
        child.add_event("retry", {"attempt": 2}, timestamp=T0 + 1500)
        child.set_status(Status(StatusCode.ERROR, "boom"))
        child.end(end_time=T0 + 251_000)
        parent.end(end_time=T0 + 300_000)
    provider.shutdown()
    assert stop(db)[0]["rows_committed"] == {"spans": 2}

    con = lake_reader()
    trace_id = f"{parent_ctx.trace_id:032x}"
    rows = con.execute("""
        SELECT span_name, span_kind, trace_id, parent_span_id = '' AS is_root, duration, status_code, status_message,
               span_attributes['rows'], service_name, timestamp::VARCHAR, end_timestamp::VARCHAR,
               [e.name FOR e IN events], [e.attributes['attempt'] FOR e IN events], [e.timestamp::VARCHAR FOR e IN events],
               [l.span_id FOR l IN links], [l.attributes['link.kind'] FOR l IN links]
        FROM lake.otel.spans ORDER BY timestamp""").fetchall()
    assert rows == [
        ("parent", "Server", trace_id, True, 300_000, "Unset", "", None, "checkout",
         "2026-01-01 00:00:00", "2026-01-01 00:00:00.0003", [], [], [], [], []),
        ("child", "Client", trace_id, False, 250_000, "Error", "boom", "7", "checkout",
         "2026-01-01 00:00:00.000001", "2026-01-01 00:00:00.000251", ["retry"], ["2"],
         ["2026-01-01 00:00:00.0000015"], [f"{parent_ctx.span_id:016x}"], ["follows"]),
    ]
    child_parent = con.execute("SELECT parent_span_id FROM lake.otel.spans WHERE span_name = 'child'").fetchone()[0]
    assert child_parent == f"{parent_ctx.span_id:016x}"


def test_every_metric_instrument(server, lake_reader):
    db, endpoint = server
    exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader], views=[
        View(instrument_name="payload_size", aggregation=ExponentialBucketHistogramAggregation(max_size=20)),
    ])
    meter = provider.get_meter("shop-meter")
    meter.create_counter("orders", unit="1", description="orders placed").add(5, {"region": "eu"})
    meter.create_up_down_counter("queue_depth").add(-3, {"region": "eu"})
    latency = meter.create_histogram("latency", unit="s")
    for value in (0.004, 0.02, 0.3, 7.0):
        latency.record(value, {"route": "/pay"})
    sizes = meter.create_histogram("payload_size", unit="By")
    for value in (1, 2, 4, 100):
        sizes.record(value)
    meter.create_observable_gauge("temperature", callbacks=[lambda _: [Observation(21.5, {"room": "a"})]])
    provider.shutdown()
    stopped = stop(db)[0]
    assert stopped["rows_committed"] == {
        "metrics_exponential_histogram": 1, "metrics_gauge": 1, "metrics_histogram": 1, "metrics_sum": 2}

    con = lake_reader()
    sums = con.execute("""SELECT metric_name, value, is_monotonic, aggregation_temporality, attributes['region'],
                                 metric_unit, metric_description, service_name
                          FROM lake.otel.metrics_sum ORDER BY metric_name""").fetchall()
    assert sums == [("orders", 5.0, True, 2, "eu", "1", "orders placed", "checkout"),
                    ("queue_depth", -3.0, False, 2, "eu", "", "", "checkout")]
    hist = con.execute("""SELECT metric_name, count, sum, min, max, bucket_counts, explicit_bounds[1:3], attributes['route']
                          FROM lake.otel.metrics_histogram""").fetchall()
    assert hist == [("latency", 4, pytest.approx(7.324), 0.004, 7.0,
                     [0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0.0, 5.0, 10.0], "/pay")]
    exp = con.execute("""SELECT metric_name, count, sum, min, max, zero_count, list_sum(positive_bucket_counts)
                         FROM lake.otel.metrics_exponential_histogram""").fetchall()
    assert exp == [("payload_size", 4, 107.0, 1.0, 100.0, 0, 4)]
    gauge = con.execute("SELECT metric_name, value, attributes FROM lake.otel.metrics_gauge").fetchall()
    assert gauge == [("temperature", 21.5, {"room": "a"})]


def test_parquet_route_writes_trace_id_bloom_filters(duckdb_process, lake_reader):
    """Random trace ids defeat min/max pruning, so files written straight to Parquet carry a
    bloom filter on trace_id that lets a lookup of an absent id skip the file."""
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 100, inline_rows := 1)")
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")))
    with provider.get_tracer("t").start_as_current_span("only", start_time=T0) as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
    provider.shutdown()
    stop(db)
    con = lake_reader()
    files = [row[0] for row in con.execute(
        "SELECT data_file FROM ducklake_list_files('lake', 'spans', schema => 'otel')").fetchall()]
    assert len(files) == 1
    probe = "SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, 'trace_id', ?)"
    assert con.execute(probe, [files[0], "0" * 31 + "1"]).fetchall() == [(True,)]
    assert con.execute(probe, [files[0], trace_id]).fetchall() == [(False,)]
