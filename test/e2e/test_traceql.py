"""Spans sent by the OpenTelemetry SDK through otlp_serve are found with
tempo_search and tempo_trace, and the plan traceql_sql returns runs in a DuckDB
without canardstack."""
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from harness import free_port

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
MS = 1_000_000
RANGE = "start := TIMESTAMPTZ '2026-01-01 00:00:00+00', \"end\" := TIMESTAMPTZ '2026-01-01 01:00:00+00'"


def tracer_for(endpoint, service):
    provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    return provider, provider.get_tracer("e2e")


def send_traces(endpoint):
    """A failed checkout (web -> checkout -> postgres) and a healthy health check."""
    web, web_tracer = tracer_for(endpoint, "web")
    shop, shop_tracer = tracer_for(endpoint, "checkout")
    root = web_tracer.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=T0,
                                 attributes={"http.status_code": 502})
    charge = shop_tracer.start_span("charge", context=set_span_in_context(root), kind=SpanKind.SERVER,
                                    start_time=T0 + 10 * MS, attributes={"amount": 12.5, "retry": True})
    query = shop_tracer.start_span("SELECT orders", context=set_span_in_context(charge), kind=SpanKind.CLIENT,
                                   start_time=T0 + 20 * MS, attributes={"db.system": "postgres"})
    query.end(end_time=T0 + 60 * MS)
    charge.set_status(Status(StatusCode.ERROR, "card declined"))
    charge.end(end_time=T0 + 300 * MS)
    root.set_status(Status(StatusCode.ERROR))
    root.end(end_time=T0 + 310 * MS)
    health = web_tracer.start_span("GET /health", kind=SpanKind.SERVER, start_time=T0 + 60_000 * MS)
    health.end(end_time=T0 + 60_002 * MS)
    web.shutdown()
    shop.shutdown()
    ids = lambda span: (f"{span.get_span_context().trace_id:032x}", f"{span.get_span_context().span_id:016x}")
    return ids(root), ids(charge), ids(query), ids(health)


def test_search_and_fetch_sdk_traces(duckdb_process, lake_reader):
    db = duckdb_process()
    db.sql(f"CALL otlp_serve({free_port()}, retention := INTERVAL '0 days', flush_interval_ms := 50)")
    endpoint = f"http://127.0.0.1:{db.sql('SELECT port FROM otlp_status()')[0]['port']}"
    (checkout, root_id), (_, charge_id), (_, query_id), (health, health_id) = send_traces(endpoint)
    assert db.sql("SELECT rows_committed FROM otlp_stop()")[0]["rows_committed"] == {"spans": 4}

    found = db.sql(f"""SELECT * FROM tempo_search('{{ resource.service.name = "checkout" && status = error }}', {RANGE})""")
    assert found == [{
        "trace_id": checkout, "root_service_name": "web", "root_span_name": "GET /checkout",
        "start_time": "2026-01-01T00:00:00", "duration_ms": 310, "matched_spans": 1,
        "spans": [{"span_id": charge_id, "name": "charge", "start_time": "2026-01-01T00:00:00.010000",
                   "duration": 290 * MS, "service_name": "checkout",
                   "attributes": {"amount": "12.5", "retry": "true"}}],
    }]

    newest_first = db.sql(f"SELECT trace_id, root_span_name, duration_ms, matched_spans FROM tempo_search('{{}}', {RANGE})")
    assert newest_first == [
        {"trace_id": health, "root_span_name": "GET /health", "duration_ms": 2, "matched_spans": 1},
        {"trace_id": checkout, "root_span_name": "GET /checkout", "duration_ms": 310, "matched_spans": 3},
    ]

    structural = db.sql(f"""SELECT trace_id, [s.span_id FOR s IN spans] AS ids FROM tempo_search(
        '{{ kind = server && span.http.status_code >= 500 }} >> {{ span.db.system = "postgres" }}', {RANGE})""")
    assert structural == [{"trace_id": checkout, "ids": [query_id]}]

    assert db.sql(f"SELECT count(*) AS n FROM tempo_search('{{ }} | count() > 3', {RANGE})") == [{"n": 0}]

    spans = db.sql(f"SELECT span_id, span_name, span_kind, status_code, service_name, depth FROM tempo_trace('{checkout}')")
    assert spans == [
        {"span_id": root_id, "span_name": "GET /checkout", "span_kind": "Server", "status_code": "Error",
         "service_name": "web", "depth": 0},
        {"span_id": charge_id, "span_name": "charge", "span_kind": "Server", "status_code": "Error",
         "service_name": "checkout", "depth": 1},
        {"span_id": query_id, "span_name": "SELECT orders", "span_kind": "Client", "status_code": "Unset",
         "service_name": "checkout", "depth": 2},
    ]
    assert db.sql(f"SELECT span_id FROM tempo_trace('{health.upper()}')") == [{"span_id": health_id}]
    assert db.sql("SELECT count(*) AS n FROM tempo_trace('0123456789abcdef0123456789abcdef')") == [{"n": 0}]

    plan = db.sql("""SELECT traceql_sql('{ status = error } && { span.db.system = "postgres" }',
                     TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 01:00:00+00', 20, 'lake') AS sql""")
    db.close()

    # the plan needs only DuckDB and DuckLake
    con = lake_reader()
    rows = con.execute(f"SELECT trace_id, matched_spans, [s.name FOR s IN spans] FROM ({plan[0]['sql']})").fetchall()
    assert rows == [(checkout, 3, ["GET /checkout", "charge", "SELECT orders"])]
