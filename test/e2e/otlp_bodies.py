"""Hand-built OTLP requests (protobuf via the opentelemetry-proto package, and JSON)."""
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Metric, ResourceMetrics, ScopeMetrics, Summary, SummaryDataPoint)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

T0 = 1_767_225_600_000_000_000


def attr(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value))


def logs_request(bodies, service="svc", start=T0) -> bytes:
    records = [LogRecord(time_unix_nano=start + i, severity_number=9, severity_text="INFO",
                         body=AnyValue(string_value=body), attributes=[attr("k", "v")])
               for i, body in enumerate(bodies)]
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=[attr("service.name", service)]),
        scope_logs=[ScopeLogs(log_records=records)])])
    return request.SerializeToString()


def spans_request(spans) -> bytes:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[attr("service.name", "svc")]),
        scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString()


def span(name, trace_id: bytes, span_id: bytes) -> Span:
    return Span(name=name, trace_id=trace_id, span_id=span_id, start_time_unix_nano=T0, end_time_unix_nano=T0 + 10)


def summary_request() -> bytes:
    point = SummaryDataPoint(time_unix_nano=T0, start_time_unix_nano=T0 - 10, count=4, sum=10.5,
                             quantile_values=[SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=2.0),
                                              SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=4.5)],
                             attributes=[attr("route", "/a")])
    metric = Metric(name="rpc_latency", unit="ms", summary=Summary(data_points=[point]))
    request = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(
        resource=Resource(attributes=[attr("service.name", "svc")]),
        scope_metrics=[ScopeMetrics(metrics=[metric])])])
    return request.SerializeToString()


LOGS_JSON = """{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},
 "scopeLogs":[{"scope":{"name":"js"},"logRecords":[
   {"timeUnixNano":"1767225600000000001","severityNumber":17,"severityText":"ERROR",
    "traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"00f067aa0ba902b7",
    "body":{"stringValue":"json line"},
    "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5}}]},
   {"timeUnixNano":1767225600000000002,"body":{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":true}}]}}}
 ]}]}]}"""
