"""Logs sent by the OpenTelemetry SDK through otlp_serve are found again with
loki_query (log and metric queries) and with the plan logql_sql returns."""
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from harness import free_port

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
RANGE = "start := TIMESTAMPTZ '2026-01-01 00:00:00+00', \"end\" := TIMESTAMPTZ '2026-01-01 01:00:00+00'"
CHECKOUT = {"deployment_environment": "test", "service_name": "checkout", "service_namespace": "shop"}


def send_logs(endpoint):
    for service, lines in (
        ("checkout", [
            (0, "INFO", SeverityNumber.INFO, 'level=info msg="order placed" status=200 took=120ms', {"user.id": "ann"}),
            (1, "ERROR", SeverityNumber.ERROR, 'level=error msg="payment timeout" status=504 took=30s', {"user.id": "bob"}),
            (70, "INFO", SeverityNumber.INFO, 'level=info msg="order placed" status=201 took=80ms', {}),
        ]),
        ("cart", [
            (2, "WARN", SeverityNumber.WARN, '{"event":"slow","status":200,"db":{"ms":950}}', {}),
        ]),
    ):
        resource = Resource({"service.name": service, "service.namespace": "shop", "deployment.environment": "test"})
        provider = LoggerProvider(resource=resource)
        provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
        logger = provider.get_logger("app")
        for second, text, number, body, attributes in lines:
            logger.emit(LogRecord(
                timestamp=T0 + second * 1_000_000_000,
                trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736 if service == "checkout" else 0,
                span_id=0x00F067AA0BA902B7 if service == "checkout" else 0,
                severity_text=text, severity_number=number, body=body, attributes=attributes,
            ))
        provider.shutdown()


def test_sdk_logs_are_found_with_logql(duckdb_process):
    db = duckdb_process()
    port = free_port()
    endpoint = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50)")[0]["endpoint"]
    send_logs(endpoint)
    assert db.sql("SELECT * FROM otlp_stop()")[0]["rows_committed"] == {"logs": 4}

    rows = db.sql(f"SELECT * FROM loki_query('{{service_name=\"checkout\"}} |= \"timeout\"', {RANGE})")
    assert rows == [{
        "timestamp": "2026-01-01T00:00:01",
        "labels": CHECKOUT,
        "line": 'level=error msg="payment timeout" status=504 took=30s',
        "structured_metadata": {
            "detected_level": "error", "scope_name": "app", "severity_number": "17", "severity_text": "ERROR",
            "span_id": "00f067aa0ba902b7", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "user_id": "bob",
        },
    }]

    rows = db.sql(f"""SELECT timestamp, labels['status'] AS status, labels['took'] AS took FROM loki_query(
        '{{service_name=~"checkout|cart"}} | logfmt | status >= 200 and took > 100ms', {RANGE},
        direction := 'forward')""")
    assert rows == [
        {"timestamp": "2026-01-01T00:00:00", "status": "200", "took": "120ms"},
        {"timestamp": "2026-01-01T00:00:01", "status": "504", "took": "30s"},
    ]

    rows = db.sql(f"""SELECT labels, timestamp, value FROM loki_query(
        'sum by (service_name) (count_over_time({{service_namespace="shop"}}[1m]))', {RANGE}, step := INTERVAL 1 MINUTE)
        WHERE timestamp <= TIMESTAMP '2026-01-01 00:02:00' ORDER BY labels['service_name'], timestamp""")
    assert rows == [
        {"labels": {"service_name": "cart"}, "timestamp": "2026-01-01T00:01:00", "value": 1.0},
        # windows are (t - 1m, t]: the line at exactly 00:00:00 counts at 00:00, not at 00:01
        {"labels": {"service_name": "checkout"}, "timestamp": "2026-01-01T00:00:00", "value": 1.0},
        {"labels": {"service_name": "checkout"}, "timestamp": "2026-01-01T00:01:00", "value": 1.0},
        {"labels": {"service_name": "checkout"}, "timestamp": "2026-01-01T00:02:00", "value": 1.0},
    ]

    planned = db.sql("""SELECT line FROM query(logql_sql('{service_name="checkout"} != "timeout"',
        TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 01:00:00+00', 10))""")
    assert planned == [
        {"line": 'level=info msg="order placed" status=201 took=80ms'},
        {"line": 'level=info msg="order placed" status=200 took=120ms'},
    ]
