"""Odd bytes in ingested names, labels, attributes and bodies are stored as data (through the
Arrow import, the inlined catalog and Parquet files) and never break a later query or listing;
requests past the decoding bounds are refused with the bound named and store nothing."""
import json

import pytest
import requests
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from harness import free_port
from otlp_bodies import T0

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}

# NUL, other C0 controls, DEL, C1 NEL, a line separator, a noncharacter, the last code point
ODD = "nul\0in\x01side\x1f\x7f\x85\u2028\ufffe\U0010ffff"


@pytest.fixture(params=[10000, 0], ids=["inlined", "parquet"])
def served(request, duckdb_process):
    db = duckdb_process()
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50, inline_rows := {request.param}, "
           "max_items_per_request := 50)")
    return db, f"http://127.0.0.1:{port}"


def attr(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value))


def odd_logs() -> bytes:
    record = LogRecord(time_unix_nano=T0, severity_text=ODD, body=AnyValue(string_value=ODD),
                       attributes=[attr(ODD, ODD), attr("\0", "")])
    nested = LogRecord(time_unix_nano=T0 + 1, body=AnyValue(kvlist_value=KeyValueList(values=[attr(ODD, ODD)])))
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=[attr("service.name", ODD)]),
        scope_logs=[ScopeLogs(log_records=[record, nested])])]).SerializeToString()


def odd_metrics() -> bytes:
    point = NumberDataPoint(time_unix_nano=T0, as_double=1.5, attributes=[attr(ODD, ODD)])
    metric = Metric(name=ODD, unit=ODD, gauge=Gauge(data_points=[point]))
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=Resource(attributes=[attr("service.name", "svc")]),
        scope_metrics=[ScopeMetrics(metrics=[metric])])]).SerializeToString()


def test_odd_bytes_are_stored_and_listed(served):
    db, url = served
    assert requests.post(f"{url}/v1/logs", data=odd_logs(), headers=PROTOBUF).status_code == 200
    assert requests.post(f"{url}/v1/metrics", data=odd_metrics(), headers=PROTOBUF).status_code == 200
    json_body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(T0 + 2), "body": {"stringValue": ODD},
         "attributes": [{"key": ODD, "value": {"stringValue": ODD}}]}]}]}]})
    assert "\\u0000" in json_body
    assert requests.post(f"{url}/v1/logs", data=json_body, headers=JSON).status_code == 200
    stop = db.sql("CALL otlp_stop()")
    assert stop[0]["spool_backlog_records"] == 0 and stop[0]["abandoned_records"] == 0

    logs = db.sql("SELECT body, severity_text, service_name, log_attributes FROM canardstack.otel.logs "
                  "ORDER BY timestamp")
    escaped = ODD.replace("\0", "\\u0000").replace("\x01", "\\u0001").replace("\x1f", "\\u001f")
    assert [row["body"] for row in logs] == [ODD, '{"%s":"%s"}' % (escaped, escaped), ODD]
    assert logs[0]["severity_text"] == ODD
    assert logs[0]["service_name"] == ODD
    assert logs[0]["log_attributes"] == {ODD: ODD, "\0": ""}
    assert logs[2]["log_attributes"] == {ODD: ODD}
    # filters and listings over the odd values (SQL text itself cannot carry a NUL: chr(0))
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.logs WHERE contains(body, chr(0))")[0]["n"] == 2
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.logs WHERE log_attributes[chr(0)] = ''")[0]["n"] == 1
    assert db.sql("SELECT DISTINCT service_name FROM canardstack.otel.logs ORDER BY 1") == [
        {"service_name": ""}, {"service_name": ODD}]
    metrics = db.sql("SELECT metric_name, metric_unit, attributes, value FROM canardstack.otel.metrics_gauge")
    assert metrics == [{"metric_name": ODD, "metric_unit": ODD, "attributes": {ODD: ODD}, "value": 1.5}]
    keys = db.sql("SELECT DISTINCT unnest(map_keys(attributes)) AS k FROM canardstack.otel.metrics_gauge")
    assert keys == [{"k": ODD}]


def test_too_many_items_is_413_naming_the_bound(served):
    db, url = served
    records = [LogRecord(time_unix_nano=T0 + i) for i in range(49)]  # + resource + scope = 51 items
    body = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        scope_logs=[ScopeLogs(log_records=records)])]).SerializeToString()
    reply = requests.post(f"{url}/v1/logs", data=body, headers=PROTOBUF)
    assert reply.status_code == 413
    assert Status.FromString(reply.content).message == "request has more than 50 items (max_items_per_request)"
    json_body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{}] * 49}]}]})
    reply = requests.post(f"{url}/v1/logs", data=json_body, headers=JSON)
    assert reply.status_code == 413
    assert reply.json() == {"code": 3, "message": "request has more than 50 items (max_items_per_request)"}
    # one fewer fits
    body = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        scope_logs=[ScopeLogs(log_records=records[:48])])]).SerializeToString()
    assert requests.post(f"{url}/v1/logs", data=body, headers=PROTOBUF).status_code == 200
    status = db.sql("SELECT requests_rejected FROM otlp_status()")[0]["requests_rejected"]
    assert status == {"logs: too large": 2}
    db.sql("CALL otlp_stop()")
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.logs")[0]["n"] == 48


def deep_value(levels: int) -> AnyValue:
    value = AnyValue(string_value="leaf")
    for i in range(levels):
        if i % 2:
            value = AnyValue(array_value=ArrayValue(values=[value]))
        else:
            value = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=value)]))
    return value


def test_deep_values_are_400_naming_the_bound(served):
    db, url = served
    for levels, status in [(25, 400), (24, 200)]:
        record = LogRecord(time_unix_nano=T0, body=deep_value(levels))
        body = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
            scope_logs=[ScopeLogs(log_records=[record])])]).SerializeToString()
        reply = requests.post(f"{url}/v1/logs", data=body, headers=PROTOBUF)
        assert reply.status_code == status, levels
        if status == 400:
            assert Status.FromString(reply.content).message == "attribute value nesting deeper than 24"
    deep_json = '{"arrayValue":{"values":[' * 100000 + '{"stringValue":"x"}' + ']}}' * 100000
    body = '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":%s}]}]}]}' % deep_json
    reply = requests.post(f"{url}/v1/logs", data=body, headers=JSON)
    assert reply.status_code == 400
    assert reply.json()["message"].endswith(": attribute value nesting deeper than 24")
    assert requests.get(f"{url}/health").status_code == 200
    db.sql("CALL otlp_stop()")
    assert db.sql("SELECT count(*) AS n FROM canardstack.otel.logs")[0]["n"] == 1
