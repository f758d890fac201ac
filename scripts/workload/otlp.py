"""Builders for OTLP/protobuf messages and request bodies: the one place where the
ingest benchmark (scripts/bench/signals.py) and the demo workload (shop.py) build
their telemetry, so both send what real SDKs send.

Builders take plain Python values and leave out what is not given, so a message carries
only the fields its caller set (an SDK's export has the same shape)."""
from collections.abc import Iterable, Mapping

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

PATHS = {"logs": "/v1/logs", "traces": "/v1/traces", "metrics": "/v1/metrics"}
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
SEVERITY_NUMBERS = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
SPAN_KINDS = {"internal": Span.SPAN_KIND_INTERNAL, "server": Span.SPAN_KIND_SERVER,
              "client": Span.SPAN_KIND_CLIENT, "producer": Span.SPAN_KIND_PRODUCER,
              "consumer": Span.SPAN_KIND_CONSUMER}
STATUS_CODES = {"unset": Status.STATUS_CODE_UNSET, "ok": Status.STATUS_CODE_OK, "error": Status.STATUS_CODE_ERROR}

Attributes = Mapping[str, str | bool | int | float] | None


def any_value(value) -> AnyValue:
    # bool before int: True is an int to Python
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    raise TypeError(f"attribute value {value!r} is not a str, bool, int or float")


def kv(key: str, value) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def attributes(values: Attributes) -> list[KeyValue]:
    """Key-values in the mapping's order (the order is part of the bytes)."""
    return [kv(key, value) for key, value in (values or {}).items()]


def resource(values: Attributes) -> Resource:
    return Resource(attributes=attributes(values))


def log_record(time_ns: int, severity: str, body: str, trace_id: bytes = b"", span_id: bytes = b"",
               attrs: Attributes = None) -> LogRecord:
    """A record observed when it happened, as an SDK's logging bridge sends it."""
    if severity not in SEVERITY_NUMBERS:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITY_NUMBERS)}")
    return LogRecord(time_unix_nano=time_ns, observed_time_unix_nano=time_ns,
                     severity_number=SEVERITY_NUMBERS[severity], severity_text=severity,
                     body=AnyValue(string_value=body), trace_id=trace_id, span_id=span_id,
                     attributes=attributes(attrs))


def span_event(time_ns: int, name: str, attrs: Attributes = None) -> Span.Event:
    return Span.Event(time_unix_nano=time_ns, name=name, attributes=attributes(attrs))


def span_link(trace_id: bytes, span_id: bytes, attrs: Attributes = None) -> Span.Link:
    return Span.Link(trace_id=trace_id, span_id=span_id, attributes=attributes(attrs))


def span(trace_id: bytes, span_id: bytes, name: str, kind: str, start_ns: int, end_ns: int,
         parent_span_id: bytes = b"", attrs: Attributes = None, events: Iterable[Span.Event] = (),
         links: Iterable[Span.Link] = (), status: str | None = None, status_message: str = "") -> Span:
    if end_ns < start_ns:
        raise ValueError(f"span {name!r} ends ({end_ns}) before it starts ({start_ns})")
    return Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id, name=name,
                kind=SPAN_KINDS[kind], start_time_unix_nano=start_ns, end_time_unix_nano=end_ns,
                attributes=attributes(attrs), events=list(events), links=list(links),
                status=None if status is None else Status(code=STATUS_CODES[status], message=status_message))


def number_point(time_ns: int, value: int | float, attrs: Attributes = None, start_ns: int = 0) -> NumberDataPoint:
    typed = {"as_int": value} if isinstance(value, int) else {"as_double": value}
    return NumberDataPoint(start_time_unix_nano=start_ns, time_unix_nano=time_ns, attributes=attributes(attrs),
                           **typed)


def exemplar(time_ns: int, value: float, trace_id: bytes, span_id: bytes) -> Exemplar:
    return Exemplar(time_unix_nano=time_ns, as_double=value, trace_id=trace_id, span_id=span_id)


def histogram_point(start_ns: int, time_ns: int, bounds: list[float], bucket_counts: list[int], total: float,
                    attrs: Attributes = None, exemplars: Iterable[Exemplar] = ()) -> HistogramDataPoint:
    """An explicit-bucket point; its count is the sum of the bucket counts, as OTLP requires."""
    if len(bucket_counts) != len(bounds) + 1:
        raise ValueError(f"{len(bounds)} bounds need {len(bounds) + 1} bucket counts, got {len(bucket_counts)}")
    return HistogramDataPoint(start_time_unix_nano=start_ns, time_unix_nano=time_ns, count=sum(bucket_counts),
                              sum=total, explicit_bounds=bounds, bucket_counts=bucket_counts,
                              attributes=attributes(attrs), exemplars=list(exemplars))


def exponential_histogram_point(start_ns: int, time_ns: int, count: int, total: float, scale: int, zero_count: int,
                                offset: int, bucket_counts: list[int],
                                attrs: Attributes = None) -> ExponentialHistogramDataPoint:
    return ExponentialHistogramDataPoint(
        start_time_unix_nano=start_ns, time_unix_nano=time_ns, count=count, sum=total, scale=scale,
        zero_count=zero_count, positive=ExponentialHistogramDataPoint.Buckets(offset=offset, bucket_counts=bucket_counts),
        attributes=attributes(attrs))


def summary_point(start_ns: int, time_ns: int, count: int, total: float, quantiles: Mapping[float, float],
                  attrs: Attributes = None) -> SummaryDataPoint:
    return SummaryDataPoint(start_time_unix_nano=start_ns, time_unix_nano=time_ns, count=count, sum=total,
                            attributes=attributes(attrs),
                            quantile_values=[SummaryDataPoint.ValueAtQuantile(quantile=q, value=v)
                                             for q, v in quantiles.items()])


def gauge(name: str, points: Iterable[NumberDataPoint], unit: str = "", description: str = "") -> Metric:
    return Metric(name=name, unit=unit, description=description, gauge=Gauge(data_points=list(points)))


def counter(name: str, points: Iterable[NumberDataPoint], unit: str = "", description: str = "") -> Metric:
    """A monotonic cumulative sum: its points carry running totals since their start time."""
    return Metric(name=name, unit=unit, description=description, sum=Sum(
        is_monotonic=True, aggregation_temporality=CUMULATIVE, data_points=list(points)))


def histogram(name: str, points: Iterable[HistogramDataPoint], unit: str = "", description: str = "") -> Metric:
    return Metric(name=name, unit=unit, description=description, histogram=Histogram(
        aggregation_temporality=CUMULATIVE, data_points=list(points)))


def exponential_histogram(name: str, points: Iterable[ExponentialHistogramDataPoint], unit: str = "") -> Metric:
    return Metric(name=name, unit=unit, exponential_histogram=ExponentialHistogram(
        aggregation_temporality=CUMULATIVE, data_points=list(points)))


def summary(name: str, points: Iterable[SummaryDataPoint], unit: str = "") -> Metric:
    return Metric(name=name, unit=unit, summary=Summary(data_points=list(points)))


# Request bodies: one resource-scoped group per (resource, items) pair, all under one scope.

def logs_body(groups: Iterable[tuple[Resource, list[LogRecord]]], scope: str) -> bytes:
    return ExportLogsServiceRequest(resource_logs=[
        ResourceLogs(resource=res, scope_logs=[ScopeLogs(scope=InstrumentationScope(name=scope), log_records=records)])
        for res, records in groups]).SerializeToString()


def traces_body(groups: Iterable[tuple[Resource, list[Span]]], scope: str) -> bytes:
    return ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=res, scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=spans)])
        for res, spans in groups]).SerializeToString()


def metrics_body(groups: Iterable[tuple[Resource, list[Metric]]], scope: str) -> bytes:
    return ExportMetricsServiceRequest(resource_metrics=[
        ResourceMetrics(resource=res, scope_metrics=[ScopeMetrics(scope=InstrumentationScope(name=scope),
                                                                  metrics=metrics)])
        for res, metrics in groups]).SerializeToString()
