"""OTLP/gRPC (`grpc_port`): Python's gRPC SDK exporters for all three signals, then a raw
grpcio client over the opentelemetry-proto stubs for compression, partial success, every
refusal and its status code, and what `otlp_status()` counts. Rows are read back exactly."""
import gzip

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest, ExportLogsServiceResponse)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from harness import free_port
from otlp_bodies import logs_request, span, spans_request

RESOURCE = Resource.create({"service.name": "checkout", "deployment.environment": "test"})
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def rows(db, sql):
    return [tuple(r.values()) for r in db.sql(sql)]


def serve(db, extra=""):
    """Starts a server with gRPC on a free port; returns (http port, grpc port)."""
    row = db.sql(f"SELECT * FROM otlp_serve(0, grpc_port := 0, retention := INTERVAL '0 days'{extra})")[0]
    assert row["grpc_port"] not in (None, 0, row["port"])
    return row["port"], row["grpc_port"]


@pytest.fixture
def served(duckdb_process):
    db = duckdb_process()
    _, grpc_port = serve(db, ", flush_interval_ms := 50, max_body_bytes := 100000, max_decompressed_bytes := 1000000")
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    yield db, channel
    channel.close()


def raw_logs_export(channel):
    """The Logs Export method with the message as bytes, so a test can send any bytes."""
    return channel.unary_unary(LOGS_EXPORT, request_serializer=None,
                               response_deserializer=ExportLogsServiceResponse.FromString)


def refusal(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def retry_delays(error):
    """The RetryInfo delay (seconds) in the status details and in Python's own trailer."""
    trailers = dict(error.trailing_metadata())
    details = Status.FromString(trailers["grpc-status-details-bin"])
    assert (details.code, details.message) == (error.code().value[0], error.details())
    in_details = []
    for any_detail in details.details:
        assert any_detail.type_url == "type.googleapis.com/google.rpc.RetryInfo"
        info = RetryInfo()
        any_detail.Unpack(info)
        in_details.append(info.retry_delay.seconds)
    return in_details, RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds


def test_sdk_exporters_send_all_three_signals(duckdb_process, lake_reader):
    db = duckdb_process()
    http_port, grpc_port = serve(db, ", flush_interval_ms := 100")
    status = db.sql("SELECT port, grpc_port FROM otlp_status()")[0]
    assert status == {"port": http_port, "grpc_port": grpc_port}
    endpoint = f"http://127.0.0.1:{grpc_port}"

    logs = LoggerProvider(resource=RESOURCE)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
    logger = logs.get_logger("billing", "1.2.3")
    for i in range(3):
        logger.emit(LogRecord(timestamp=T0 + i * 1_000_000_000, trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
                              span_id=0x00F067AA0BA902B7, severity_text="WARN", severity_number=SeverityNumber.WARN,
                              body=f"payment timeout {i}", attributes={"attempt": i, "user": "ann"}))
    logs.shutdown()

    traces = TracerProvider(resource=RESOURCE)
    traces.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    tracer = traces.get_tracer("checkout-tracer")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER, start_time=T0) as parent:
        child = tracer.start_span("child", kind=SpanKind.CLIENT, start_time=T0 + 1000, attributes={"rows": 7})
        child.add_event("retry", {"attempt": 2}, timestamp=T0 + 1500)
        child.end(end_time=T0 + 251_000)
        parent.end(end_time=T0 + 300_000)
    traces.shutdown()

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True),
                                           export_interval_millis=3_600_000)
    meters = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = meters.get_meter("shop-meter")
    meter.create_counter("orders", unit="1", description="orders placed").add(5, {"region": "eu"})
    latency = meter.create_histogram("latency", unit="s")
    for value in (0.004, 0.02, 0.3, 7.0):
        latency.record(value, {"route": "/pay"})
    meter.create_observable_gauge("temperature", callbacks=[lambda _: [Observation(21.5, {"room": "a"})]])
    meters.shutdown()

    counted = db.sql("SELECT requests_accepted, requests_rejected FROM otlp_status()")[0]
    assert counted == {"requests_accepted": {"logs": 3, "traces": 2, "metrics": 1}, "requests_rejected": {}}
    stopped = db.sql("SELECT * FROM otlp_stop()")[0]
    assert stopped["rows_committed"] == {
        "logs": 3, "spans": 2, "metrics_gauge": 1, "metrics_histogram": 1, "metrics_sum": 1}
    db.close()

    con = lake_reader()
    assert con.execute("""
        SELECT timestamp::VARCHAR, trace_id, span_id, severity_text, severity_number, service_name, body,
               scope_name, scope_version, log_attributes['attempt'], log_attributes['user']
        FROM lake.otel.logs ORDER BY timestamp""").fetchall() == [
        (f"2026-01-01 00:00:0{i}", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "WARN", 13,
         "checkout", f"payment timeout {i}", "billing", "1.2.3", str(i), "ann") for i in range(3)]
    trace_id = f"{parent.get_span_context().trace_id:032x}"
    assert con.execute("""
        SELECT span_name, span_kind, trace_id, duration, span_attributes['rows'], service_name,
               [e.name FOR e IN events], [e.attributes['attempt'] FOR e IN events]
        FROM lake.otel.spans ORDER BY timestamp""").fetchall() == [
        ("parent", "Server", trace_id, 300_000, None, "checkout", [], []),
        ("child", "Client", trace_id, 250_000, "7", "checkout", ["retry"], ["2"])]
    assert con.execute("""SELECT metric_name, value, is_monotonic, attributes['region'], metric_unit,
                                 metric_description, service_name FROM lake.otel.metrics_sum""").fetchall() == [
        ("orders", 5.0, True, "eu", "1", "orders placed", "checkout")]
    assert con.execute("""SELECT metric_name, count, sum, min, max, bucket_counts[1:3], attributes['route']
                          FROM lake.otel.metrics_histogram""").fetchall() == [
        ("latency", 4, pytest.approx(7.324), 0.004, 7.0, [0, 3, 1], "/pay")]
    assert con.execute("SELECT metric_name, value, attributes FROM lake.otel.metrics_gauge").fetchall() == [
        ("temperature", 21.5, {"room": "a"})]


def test_gzip_compressed_messages_and_partial_success(served):
    db, channel = served
    request = ExportLogsServiceRequest.FromString(logs_request(["zipped a", "zipped b"]))
    response = LogsServiceStub(channel).Export(request, compression=grpc.Compression.Gzip, timeout=10)
    assert not response.HasField("partial_success")
    good = span("good", bytes(range(16)), bytes(range(8)))
    bad = span("bad", b"\x01\x02", bytes(range(8)))
    traces = ExportTraceServiceRequest.FromString(spans_request([good, bad]))
    response = TraceServiceStub(channel).Export(traces, compression=grpc.Compression.Gzip, timeout=10)
    assert response.partial_success.rejected_spans == 1
    assert "trace_id" in response.partial_success.error_message
    status = db.sql("SELECT requests_accepted, items_rejected, bytes_accepted FROM otlp_status()")[0]
    assert status["requests_accepted"] == {"logs": 1, "traces": 1}
    assert status["items_rejected"] == {"traces": 1}
    # counted as decompressed: tonic decompresses before the shared ingest path sees the bytes
    assert status["bytes_accepted"] == {"logs": len(logs_request(["zipped a", "zipped b"])),
                                        "traces": len(spans_request([good, bad]))}
    db.sql("CALL otlp_stop()")
    assert rows(db, "SELECT body, service_name FROM canardstack.otel.logs ORDER BY timestamp") == [
        ("zipped a", "svc"), ("zipped b", "svc")]
    assert rows(db, "SELECT span_name, trace_id FROM canardstack.otel.spans") == [
        ("good", "000102030405060708090a0b0c0d0e0f")]


def test_bad_messages_get_their_codes_and_store_nothing(served):
    db, channel = served
    export = raw_logs_export(channel)
    malformed = refusal(lambda: export(b"\xff\xff\xff\xff", timeout=10))
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert malformed.details().startswith("invalid protobuf: "), malformed.details()
    assert "grpc-status-details-bin" not in dict(malformed.trailing_metadata()), "not retryable: no RetryInfo"

    oversized = refusal(lambda: export(b"x" * 100_001, timeout=10))
    assert (oversized.code(), oversized.details()) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED, "message exceeds 100000 bytes (max_body_bytes)")
    assert "google.rpc.retryinfo-bin" not in dict(oversized.trailing_metadata()), "final: no RetryInfo"
    # 2 MB of zeros gzip to 2 KB: within max_body_bytes on the wire, over max_decompressed_bytes inside
    bomb = refusal(lambda: export(b"\0" * 2_000_000, compression=grpc.Compression.Gzip, timeout=10))
    assert (bomb.code(), bomb.details()) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED, "message exceeds 1000000 bytes (max_decompressed_bytes)")
    # a valid gzip stream holding bad protobuf: decompressed by tonic, refused by the decoder
    bad_inside = refusal(lambda: export(b"\xff" * 64, compression=grpc.Compression.Gzip, timeout=10))
    assert bad_inside.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_inside.details().startswith("invalid protobuf"), bad_inside.details()

    unknown = refusal(lambda: channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Tail",
                                                  request_serializer=None)(b"", timeout=10))
    assert unknown.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "unknown method /opentelemetry.proto.collector.logs.v1.LogsService/Tail" in unknown.details()

    status = db.sql("SELECT requests_accepted, requests_rejected, spool_backlog_records FROM otlp_status()")[0]
    assert status == {"requests_accepted": {}, "spool_backlog_records": 0,
                      "requests_rejected": {"logs: bad request": 2, "logs: too large": 2}}
    db.sql("CALL otlp_stop()")
    assert rows(db, "SELECT count(*) FROM canardstack.otel.logs") == [(0,)]


def test_bearer_key_in_metadata(duckdb_process):
    db = duckdb_process()
    _, grpc_port = serve(db, ", api_key := 's3cret', flush_interval_ms := 50")
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        export = raw_logs_export(channel)
        body = logs_request(["keyed"])
        for metadata in [(), (("authorization", "Bearer nope"),), (("authorization", "s3cret"),)]:
            error = refusal(lambda: export(body, metadata=metadata, timeout=10))
            assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        export(body, metadata=(("authorization", "Bearer s3cret"),), timeout=10)
    status = db.sql("SELECT requests_accepted, requests_rejected FROM otlp_status()")[0]
    assert status == {"requests_accepted": {"logs": 1}, "requests_rejected": {"logs: unauthorized": 3}}
    db.sql("CALL otlp_stop()")
    assert rows(db, "SELECT body FROM canardstack.otel.logs") == [("keyed",)]


def test_backpressure_is_resource_exhausted_with_retry_info(duckdb_process):
    db = duckdb_process()
    first = logs_request(["first"])
    # room for one record only; the long flush interval keeps it unreleased
    _, grpc_port = serve(db, f", max_spool_bytes := {len(first) + 64}, flush_interval_ms := 600000")
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        export = raw_logs_export(channel)
        assert not export(first, timeout=10).HasField("partial_success")
        refused = [logs_request(["second"]), logs_request(["third"])]
        for body in refused:
            error = refusal(lambda: export(body, timeout=10))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error.details().startswith("spool is full (1 records, "), error.details()
            assert retry_delays(error) == ([1], 1)
    status = db.sql("SELECT requests_accepted, requests_rejected, bytes_rejected FROM otlp_status()")[0]
    # a gRPC call declares no length, so the spool's room is checked once the message is read
    assert status == {"requests_accepted": {"logs": 1}, "requests_rejected": {"logs: busy": 2},
                      "bytes_rejected": {"logs: busy": sum(map(len, refused))}}
    stopped = db.sql("SELECT * FROM otlp_stop()")[0]
    assert (stopped["rows_committed"], stopped["spool_backlog_records"]) == ({"logs": 1}, 0)
    assert rows(db, "SELECT body FROM canardstack.otel.logs") == [("first",)]


def test_storage_failure_is_unavailable_with_retry_info(duckdb_process):
    db = duckdb_process()
    _, grpc_port = serve(db, ", flush_interval_ms := 20")
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        export = raw_logs_export(channel)
        # the writer's next commit fails for as long as its table is gone
        db.sql("DROP TABLE canardstack.otel.logs")
        export(logs_request(["kept in the spool"]), timeout=10)
        from harness import wait_for
        wait_for(lambda: not db.sql("SELECT healthy FROM otlp_status()")[0]["healthy"], "the failing commit")
        error = refusal(lambda: export(logs_request(["refused"]), timeout=10))
        assert (error.code(), error.details()) == (
            grpc.StatusCode.UNAVAILABLE, "storage is failing; see otlp_status().last_error")
        assert retry_delays(error) == ([5], 5)
    assert db.sql("SELECT requests_rejected FROM otlp_status()")[0]["requests_rejected"] == {"logs: unavailable": 1}


def test_no_grpc_unless_asked_and_none_after_stop(duckdb_process):
    db = duckdb_process()
    port = free_port()
    row = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days')")[0]
    assert row["grpc_port"] is None
    assert db.sql("SELECT grpc_port FROM otlp_status()") == [{"grpc_port": None}]
    db.sql("CALL otlp_stop()")

    grpc_port = free_port()
    row = db.sql(f"SELECT * FROM otlp_serve({port}, grpc_port := {grpc_port}, retention := INTERVAL '0 days')")[0]
    assert row["grpc_port"] == grpc_port
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        raw_logs_export(channel)(logs_request(["before stop"]), timeout=10)
    stopped = db.sql("SELECT * FROM otlp_stop()")[0]
    assert stopped["rows_committed"] == {"logs": 1}
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        error = refusal(lambda: raw_logs_export(channel)(logs_request(["after stop"]), timeout=5))
        assert error.code() == grpc.StatusCode.UNAVAILABLE, "nothing listens after otlp_stop"
    with pytest.raises(Exception, match="grpc_port must be another port than the OTLP/HTTP one, got 4318"):
        db.sql("CALL otlp_serve(4318, grpc_port := 4318)")
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(Exception, match=f"cannot listen on 127.0.0.1:{busy}"):
            db.sql(f"CALL otlp_serve({port}, grpc_port := {busy})")
    assert db.sql("SELECT count(*) AS n FROM otlp_status()") == [{"n": 0}], "a gRPC port in use starts nothing"
    assert rows(db, "SELECT body FROM canardstack.otel.logs") == [("before stop",)]


def test_connections_past_256_are_closed_and_silent_ones_do_not_keep_their_slots(duckdb_process):
    """Each connection may hold an HTTP/2 window of unread data, so their number is bounded;
    sockets that never send the HTTP/2 preface are closed after 15 s and free their slots."""
    import socket
    import time

    db = duckdb_process()
    _, grpc_port = serve(db, ", flush_interval_ms := 50")
    connected = time.monotonic()
    held = [socket.create_connection(("127.0.0.1", grpc_port), timeout=30) for _ in range(256)]
    time.sleep(0.5)  # let the server accept them all
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        error = refusal(lambda: raw_logs_export(channel)(logs_request(["crowded out"]), timeout=5))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    for sock in held:
        # the server's SETTINGS frame, then the end of the stream when it closes the connection
        while sock.recv(4096):
            pass
    assert 14 < time.monotonic() - connected < 25
    for sock in held:
        sock.close()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        raw_logs_export(channel)(logs_request(["room again"]), timeout=20, wait_for_ready=True)
    db.sql("CALL otlp_stop()")
    assert rows(db, "SELECT body FROM canardstack.otel.logs") == [("room again",)]


def test_stop_while_calls_are_under_way_commits_every_acknowledged_record(duckdb_process):
    """otlp_stop lets the calls under way finish before the writer drains: every record a client
    was told is stored is in the lake, nothing is left in the spool, and nothing is stored twice."""
    import threading
    import time

    db = duckdb_process()
    _, grpc_port = serve(db, ", flush_interval_ms := 100")
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def send(sender):
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            export = raw_logs_export(channel)
            n = 0
            while not stop.is_set():
                bodies = [f"s{sender}-{n}-{i}" for i in range(50)]
                n += 1
                try:
                    export(logs_request(bodies), timeout=10)
                except grpc.RpcError:
                    return  # the server stopped: this call's records may or may not be stored
                with lock:
                    acked.extend(bodies)

    senders = [threading.Thread(target=send, args=(s,)) for s in range(4)]
    for thread in senders:
        thread.start()
    time.sleep(1.5)
    stopped = db.sql("SELECT * FROM otlp_stop()")[0]
    stop.set()
    for thread in senders:
        thread.join()
    assert len(acked) > 1000, "the senders should have been acknowledged many times before the stop"
    assert (stopped["spool_backlog_records"], stopped["abandoned_records"]) == (0, 0)
    stored = [row["body"] for row in db.sql("SELECT body FROM canardstack.otel.logs")]
    assert len(stored) == len(set(stored)), "nothing stored twice"
    assert set(acked) <= set(stored), "every acknowledged record committed"
    assert len(stored) - len(acked) <= 4 * 50, "at most one unanswered call per sender beyond the acknowledged"
    assert stopped["rows_committed"] == {"logs": len(stored)}


def peak_rss_mib(pid) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) >> 10
    raise AssertionError("no VmHWM")


def test_concurrent_gzip_bombs_are_refused_within_bounded_memory(duckdb_process):
    """Eight callers at once each send 80 MiB of zeros gzipped to 80 KB, over the default
    64 MiB max_decompressed_bytes: each is refused, at most `workers` decompress at once, the
    process's peak RSS stays under 1 GiB and it goes on accepting."""
    import threading

    db = duckdb_process()
    _, grpc_port = serve(db, ", flush_interval_ms := 50")
    bomb = b"\0" * (80 << 20)
    codes, lock = [], threading.Lock()

    def send():
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            for _ in range(2):
                error = refusal(lambda: raw_logs_export(channel)(bomb, compression=grpc.Compression.Gzip, timeout=60))
                with lock:
                    codes.append((error.code(), error.details()))

    callers = [threading.Thread(target=send) for _ in range(8)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    assert codes == [(grpc.StatusCode.RESOURCE_EXHAUSTED, "message exceeds 67108864 bytes (max_decompressed_bytes)")] * 16
    assert peak_rss_mib(db.process.pid) < 1024
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        raw_logs_export(channel)(logs_request(["after the bombs"]), timeout=10)
    status = db.sql("SELECT requests_rejected, healthy FROM otlp_status()")[0]
    assert status == {"requests_rejected": {"logs: too large": 16}, "healthy": True}
    db.sql("CALL otlp_stop()")
    assert rows(db, "SELECT body FROM canardstack.otel.logs") == [("after the bombs",)]
