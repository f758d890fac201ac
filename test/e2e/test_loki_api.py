"""The Loki HTTP API served by otlp_serve, called the way Grafana's Loki data
source calls it, over logs sent with the OpenTelemetry SDK. Every answer is
compared whole (the `stats` block's timings are pinned before comparing).

Requests Grafana sends (pkg/tsdb/loki/api.go, public/app/plugins/datasource/loki):
- "Save & test": GET /loki/api/v1/query?direction=backward&query=vector%281%29%2Bvector%281%29&time=4000000000
  (no limit), header X-Loki-Response-Encoding-Flags: categorize-labels; healthy on one sample of value 2.
- Explore logs: GET /loki/api/v1/query_range?direction=backward&end=<ns>&limit=1000&query=<q>&start=<ns>&step=<ms>ms
  with X-Loki-Response-Encoding-Flags: categorize-labels (and X-Query-Tags: Source=logsample for the sample).
- Explore volume histogram: the same route, query
  `sum by (level, detected_level) (count_over_time(<selector> | drop __error__ [<interval>]))`,
  header X-Query-Tags: Source=logvolhist.
- Label browser / query builder: GET /loki/api/v1/labels?start=<ns>&end=<ns>,
  GET /loki/api/v1/label/<name>/values?start=<ns>&end=<ns>[&query=<selector>],
  GET /loki/api/v1/series?match[]=<selector>&start=<ns>&end=<ns>,
  GET /loki/api/v1/index/stats?query=<selector>&start=<ns>&end=<ns> (query size hint),
  GET /loki/api/v1/detected_fields, /detected_labels, /patterns?query=&start=&end=&step= (Drilldown),
  GET /loki/api/v1/index/volume(_range)?query=&start=&end=&limit=&aggregateBy= (Drilldown).
"""
import copy

import pytest
import requests
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from harness import DuckDB, free_port

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
KEY = "loki-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CATEGORIZE = {**AUTH, "X-Loki-Response-Encoding-Flags": "categorize-labels"}
RANGE = {"start": str(T0), "end": str(T0 + 3600 * S)}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
CHECKOUT = {"deployment_environment": "test", "service_name": "checkout", "service_namespace": "shop"}
CART = {"deployment_environment": "test", "service_name": "cart", "service_namespace": "shop"}
LINES = {
    0: 'level=info msg="order placed" status=200',
    1: 'level=error msg="payment timeout" status=504',
    70: 'level=info msg="order placed" status=201',
    2: '{"event":"slow","status":200}',
}


def checkout_metadata(second):
    level, number, text = {0: ("info", "9", "INFO"), 1: ("error", "17", "ERROR"), 70: ("info", "9", "INFO")}[second]
    metadata = {"detected_level": level, "scope_name": "app", "severity_number": number, "severity_text": text,
                "span_id": SPAN, "trace_id": TRACE}
    metadata.update({0: {"user_id": "ann"}, 1: {"user_id": "bob"}, 70: {}}[second])
    return metadata


CART_METADATA = {"detected_level": "warn", "scope_name": "app", "severity_number": "13", "severity_text": "WARN"}


def send_logs(endpoint):
    for service, lines in (
        ("checkout", [(0, "INFO", SeverityNumber.INFO, {"user.id": "ann"}),
                      (1, "ERROR", SeverityNumber.ERROR, {"user.id": "bob"}),
                      (70, "INFO", SeverityNumber.INFO, {})]),
        ("cart", [(2, "WARN", SeverityNumber.WARN, {})]),
    ):
        resource = Resource({"service.name": service, "service.namespace": "shop", "deployment.environment": "test"})
        provider = LoggerProvider(resource=resource)
        provider.add_log_record_processor(SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", headers={"Authorization": f"Bearer {KEY}"})))
        logger = provider.get_logger("app")
        for second, text, number, attributes in lines:
            logger.emit(LogRecord(
                timestamp=T0 + second * S,
                trace_id=int(TRACE, 16) if service == "checkout" else 0,
                span_id=int(SPAN, 16) if service == "checkout" else 0,
                severity_text=text, severity_number=number, body=LINES[second], attributes=attributes,
            ))
        provider.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, extension, ducklake_extension):
    """One server for the module, the four log lines committed before any test runs."""
    import time
    db = DuckDB(tmp_path_factory.mktemp("loki"), extension, ducklake_extension)
    port = free_port()
    endpoint = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 50, api_key := '{KEY}')")[0]["endpoint"]
    send_logs(endpoint)
    for _ in range(200):
        if db.sql("SELECT count(*) AS n FROM canardstack.otel.logs")[0]["n"] == 4:
            break
        time.sleep(0.05)
    yield db, f"{endpoint}/loki/api/v1"
    db.sql("SELECT * FROM otlp_stop()")
    db.kill()


@pytest.fixture(scope="module")
def loki(server):
    return server[1]


@pytest.fixture(scope="module")
def loki_slow(server):
    """A second server on the same lake whose queries may take at most 1 ms."""
    db = server[0]
    port = free_port()
    endpoint = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', spool_dir := 'spool_slow', query_timeout_ms := 1)")[0]["endpoint"]
    yield f"{endpoint}/loki/api/v1"
    db.sql(f"SELECT * FROM otlp_stop(port := {port})")


def get(loki, route, params, headers=AUTH):
    return requests.get(f"{loki}/{route}", params=params, headers=headers, timeout=30)


def pinned(body):
    """The answer with the timing-dependent numbers of its stats block set to 0."""
    body = copy.deepcopy(body)
    summary = body["data"]["stats"]["summary"]
    for name in ("execTime", "bytesProcessedPerSecond", "linesProcessedPerSecond"):
        assert summary[name] >= 0
        summary[name] = 0
    return body


def stats(lines=0, bytes_=0, passed=0, returned=0):
    """Loki's stats block: lines/bytes read, lines that passed the filters, entries (or points) returned."""
    def store(lines, bytes_, passed):
        return {
            "chunk": {"compressedBytes": 0, "decompressedBytes": bytes_, "decompressedLines": lines,
                      "decompressedStructuredMetadataBytes": 0, "headChunkBytes": 0, "headChunkLines": 0,
                      "headChunkStructuredMetadataBytes": 0, "postFilterLines": passed, "totalDuplicates": 0},
            "chunksDownloadTime": 0, "congestionControlLatency": 0,
            "dataobj": {name: 0 for name in (
                "pageBatches", "pagesDownloaded", "pagesDownloadedBytes", "pagesScanned", "postFilterRows",
                "postPredicateRows", "postPredicateDecompressedBytes", "postPredicateStructuredMetadataBytes",
                "prePredicateDecompressedRows", "prePredicateDecompressedBytes",
                "prePredicateDecompressedStructuredMetadataBytes", "totalPageDownloadTime", "totalRowsAvailable",
                "wireBytesTransferred")},
            "totalChunksRef": 0, "totalChunksDownloaded": 0, "chunkRefsFetchTime": 0,
            "queryReferencedStructuredMetadata": False, "queryUsedV2Engine": False, "pipelineWrapperFilteredLines": 0,
        }
    cache = {"entriesFound": 0, "entriesRequested": 0, "entriesStored": 0, "bytesReceived": 0, "bytesSent": 0,
             "requests": 0, "downloadTime": 0, "queryLengthServed": 0}
    return {
        "summary": {"bytesProcessedPerSecond": 0, "linesProcessedPerSecond": 0, "totalBytesProcessed": bytes_,
                    "totalLinesProcessed": lines, "totalStructuredMetadataBytesProcessed": 0,
                    "totalPostFilterLines": passed, "execTime": 0, "queueTime": 0, "subqueries": 0,
                    "totalEntriesReturned": returned, "splits": 0, "shards": 0},
        "querier": {"querierExecTime": 0, "store": store(lines, bytes_, passed)},
        "ingester": {"store": store(0, 0, 0), "totalBatches": 0, "totalChunksMatched": 0, "totalLinesSent": 0,
                     "totalReached": 0},
        "cache": {name: cache for name in ("chunk", "index", "statsResult", "seriesResult", "labelResult",
                                           "volumeResult", "instantMetricResult", "result", "logResult",
                                           "taskResult")},
        "index": {"bloomFilterTime": 0, "chunkRefsLookupTime": 0, "postFilterChunks": 0, "totalChunks": 0,
                  "totalStreams": 0, "shardsDuration": 0, "usedBloomFilters": False},
    }


CHECKOUT_BYTES = len(LINES[0]) + len(LINES[1]) + len(LINES[70])


def test_grafana_health_check(loki):
    params = {"direction": "backward", "query": "vector(1)+vector(1)", "time": "4000000000"}
    for headers in (AUTH, CATEGORIZE):
        response = get(loki, "query", params, headers)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        data = {"resultType": "vector", "result": [{"metric": {}, "value": [4000000000, "2"]}],
                "stats": stats(returned=1)}
        if headers is CATEGORIZE:
            data = {"resultType": "vector", "encodingFlags": ["categorize-labels"], **data}
        assert pinned(response.json()) == {"status": "success", "data": data}


def test_explore_logs_with_categorized_labels(loki):
    params = {"direction": "backward", "limit": "1000", "query": '{service_name="checkout"}', "step": "14000ms",
              **RANGE}
    response = get(loki, "query_range", params, CATEGORIZE)
    assert response.status_code == 200
    assert pinned(response.json()) == {"status": "success", "data": {
        "resultType": "streams",
        "encodingFlags": ["categorize-labels"],
        "result": [{"stream": CHECKOUT, "values": [
            [str(T0 + second * S), LINES[second], {"structuredMetadata": checkout_metadata(second)}]
            for second in (70, 1, 0)
        ]}],
        "stats": stats(lines=3, bytes_=CHECKOUT_BYTES, passed=3, returned=3),
    }}


def test_logs_without_categories_put_every_label_in_the_stream(loki):
    params = {"query": '{service_name="checkout"} |= "order" | logfmt | status="201"', "direction": "forward",
              **RANGE}
    response = get(loki, "query_range", params)
    parsed = {"level": "info", "msg": "order placed", "status": "201"}
    assert pinned(response.json()) == {"status": "success", "data": {
        "resultType": "streams",
        "result": [{"stream": {**CHECKOUT, **checkout_metadata(70), **parsed},
                    "values": [[str(T0 + 70 * S), LINES[70]]]}],
        "stats": stats(lines=2, bytes_=len(LINES[0]) + len(LINES[70]), passed=1, returned=1),
    }}
    # the same query with categories: parsed labels ride on the value
    response = get(loki, "query_range", params, CATEGORIZE)
    assert pinned(response.json())["data"]["result"] == [{"stream": CHECKOUT, "values": [
        [str(T0 + 70 * S), LINES[70], {"structuredMetadata": checkout_metadata(70), "parsed": parsed}]]}]


def test_limit_and_post_form(loki):
    form = {"query": '{service_namespace="shop"}', "limit": "2", **RANGE}
    response = requests.post(f"{loki}/query_range", data=form, headers=CATEGORIZE, timeout=30)
    assert response.status_code == 200
    assert pinned(response.json())["data"]["result"] == [
        {"stream": CART, "values": [[str(T0 + 2 * S), LINES[2], {"structuredMetadata": CART_METADATA}]]},
        {"stream": CHECKOUT, "values": [[str(T0 + 70 * S), LINES[70], {"structuredMetadata": checkout_metadata(70)}]]},
    ]


def test_explore_volume_histogram(loki):
    query = 'sum by (level, detected_level) (count_over_time({service_name="checkout"} | drop __error__ [1m]))'
    params = {"direction": "backward", "query": query, "start": str(T0), "end": str(T0 + 120 * S),
              "step": "60000ms"}
    response = get(loki, "query_range", params, {**CATEGORIZE, "X-Query-Tags": "Source=logvolhist"})
    assert response.status_code == 200
    body = pinned(response.json())
    assert body["data"]["result"] == [
        {"metric": {"detected_level": "error"}, "values": [[1767225660, "1"]]},
        {"metric": {"detected_level": "info"}, "values": [[1767225600, "1"], [1767225720, "1"]]},
    ]
    assert body["data"]["resultType"] == "matrix"
    assert body["data"]["encodingFlags"] == ["categorize-labels"]
    assert body["data"]["stats"] == stats(lines=3, bytes_=CHECKOUT_BYTES, passed=3, returned=3)



@pytest.mark.parametrize("query", [
    'sum by (level, detected_level) (count_over_time({service_name=~".+"} | drop __error__ [1m]))',
    'sum by (service_name, k8s_pod_name) (rate({service_namespace="shop"} |= "order" [2m]))',
    'sum(bytes_over_time({service_name=~"c.*"} [30s] offset 1m))',
    'sum by (trace_id, detected_level) (bytes_rate({service_name="checkout"} !~ "time.ut" [90s]))',
])
def test_metric_queries_counted_in_duckdb_equal_the_rust_path(loki, query):
    """The counting range aggregations DuckDB runs answer as the Rust path does (a no-op label filter forces it)."""
    params = {"start": str(T0 - 60 * S), "end": str(T0 + 300 * S), "step": "30s"}
    counted = pinned(get(loki, "query_range", {**params, "query": query}).json())
    in_rust = pinned(get(loki, "query_range", {**params, "query": query.replace(" [", ' | __error__="" [')}).json())
    assert counted["data"]["result"], query
    assert counted == in_rust

def test_instant_metric_query(loki):
    params = {"query": 'sum by (service_name) (count_over_time({service_namespace="shop"}[5m]))',
              "time": str(T0 + 120 * S)}
    assert pinned(get(loki, "query", params).json()) == {"status": "success", "data": {
        "resultType": "vector",
        "result": [{"metric": {"service_name": "cart"}, "value": [1767225720, "1"]},
                   {"metric": {"service_name": "checkout"}, "value": [1767225720, "3"]}],
        "stats": stats(lines=4, bytes_=CHECKOUT_BYTES + len(LINES[2]), passed=4, returned=2),
    }}
    # a scalar expression answers a scalar; RFC 3339 and float seconds are accepted
    body = get(loki, "query", {"query": "1 + 1", "time": "2026-01-01T00:00:00.5Z"}).json()
    assert body["data"]["resultType"] == "scalar"
    assert body["data"]["result"] == [1767225600.5, "2"]
    body = get(loki, "query", {"query": "vector(3)", "time": "1767225600.25"}).json()
    assert body["data"]["result"] == [{"metric": {}, "value": [1767225600.25, "3"]}]


def test_labels_values_and_series(loki):
    assert get(loki, "labels", RANGE).json() == {
        "status": "success", "data": ["deployment_environment", "service_name", "service_namespace"]}
    assert get(loki, "label/service_name/values", RANGE).json() == {"status": "success", "data": ["cart", "checkout"]}
    assert get(loki, "label/service_name/values", {**RANGE, "query": '{service_name=~"ca.*"}'}).json() == {
        "status": "success", "data": ["cart"]}
    assert get(loki, "label/missing/values", RANGE).json() == {"status": "success", "data": []}
    assert get(loki, "series", {"match[]": '{service_namespace="shop"}', **RANGE}).json() == {
        "status": "success", "data": [CART, CHECKOUT]}
    assert get(loki, "series", {"match[]": ['{service_name="cart"}', '{service_name="nope"}'], **RANGE}).json() == {
        "status": "success", "data": [CART]}
    # outside the range there is nothing
    assert get(loki, "labels", {"start": str(T0 - 7200 * S), "end": str(T0 - 3600 * S)}).json() == {
        "status": "success", "data": []}


def test_index_stats_and_volume(loki):
    assert get(loki, "index/stats", {"query": '{service_name="checkout"}', **RANGE}).json() == {
        "streams": 1, "chunks": 0, "bytes": CHECKOUT_BYTES, "entries": 3}
    end = T0 + 3600 * S
    body = get(loki, "index/volume", {"query": '{service_name=~".+"}', "limit": "10", **RANGE}).json()
    assert body == {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"service_name": "checkout"}, "value": [end // S, str(CHECKOUT_BYTES)]},
        {"metric": {"service_name": "cart"}, "value": [end // S, str(len(LINES[2]))]},
    ], "stats": stats()}}
    body = get(loki, "index/volume", {"query": '{service_name=~".+"}', "aggregateBy": "labels", **RANGE}).json()
    assert body["data"]["result"] == [
        {"metric": {"service_name": ""}, "value": [end // S, str(CHECKOUT_BYTES + len(LINES[2]))]}]
    params = {"query": '{service_name="checkout"}', "start": str(T0), "end": str(T0 + 120 * S), "step": "60"}
    body = get(loki, "index/volume_range", params).json()
    assert body["data"]["resultType"] == "matrix"
    assert body["data"]["result"] == [{"metric": {"service_name": "checkout"}, "values": [
        [1767225660, str(len(LINES[0]) + len(LINES[1]))], [1767225720, str(len(LINES[70]))]]}]


def test_detected_fields_labels_and_patterns(loki):
    body = get(loki, "detected_fields", {"query": '{service_name="checkout"}', **RANGE}).json()
    field = lambda name, kind, cardinality: {"label": name, "type": kind, "cardinality": cardinality, "parsers": None}
    assert body == {"fields": [
        field("detected_level", "string", 2), field("scope_name", "string", 1), field("severity_number", "int", 2),
        field("severity_text", "string", 2), field("span_id", "string", 1), field("trace_id", "string", 1),
        field("user_id", "string", 2),
    ], "limit": 1000}
    assert get(loki, "detected_labels", {"query": '{service_namespace="shop"}', **RANGE}).json() == {
        "detectedLabels": [{"label": "deployment_environment", "cardinality": 1},
                           {"label": "service_name", "cardinality": 2},
                           {"label": "service_namespace", "cardinality": 1}]}
    assert get(loki, "patterns", {"query": '{service_name="checkout"}', "step": "60s", **RANGE}).json() == {
        "status": "success", "data": []}


@pytest.mark.parametrize("route, params, status, message", [
    ("query", {"query": "vector(1)", "time": "abc"}, 400, 'strconv.ParseInt: parsing "abc": invalid syntax'),
    ("query", {"query": '{service_name="checkout"}'}, 400,
     "log queries are not supported as an instant query type, please change your query to a range query type"),
    ("query", {"query": "vector(1)", "limit": "-1"}, 400, "limit must be a positive value"),
    ("query_range", {"query": '{a="b"}', "direction": "up"}, 400, "invalid direction 'up'"),
    ("query_range", {"query": '{a="b"}', "limit": "100000"}, 400,
     "max entries limit per query exceeded, limit > max_entries_limit_per_query (100000 > 50000)"),
    ("query_range", {"query": '{a="b"}', "start": "20", "end": "10"}, 400,
     "end timestamp must not be before or equal to start time"),
    ("query_range", {"query": '{a="b"}', "step": "-1"}, 400,
     "zero or negative query resolution step widths are not accepted. Try a positive integer"),
    ("query_range", {"query": '{a="b"}', "start": "0", "end": "100000", "step": "1"}, 400,
     "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"),
    ("query_range", {"query": '{a="b"}', "start": "0", "end": "100000000", "step": "86400"}, 400,
     "the query time range exceeds the limit (query length: 27777h46m40s, limit: 768h0m0s)"),
    ("query_range", {"query": '{a="b"'}, 400, None),
    ("labels", {"start": "yesterday"}, 400,
     "could not parse 'start' parameter: strconv.ParseInt: parsing \"yesterday\": invalid syntax"),
    ("label/service_name/values", {"start": "20", "end": "10"}, 400,
     "end timestamp must not be before or equal to start time"),
    ("series", {"match[]": '{a="b"} |= "x"'}, 400, "only label matchers are supported"),
    ("index/stats", {"query": "{"}, 400, None),
    ("index/volume", {"query": '{a="b"}', "aggregateBy": "streams"}, 400, "invalid aggregation option"),
    ("index/volume_range", {"query": '{a="b"}', "step": "0"}, 400,
     "zero or negative query resolution step widths are not accepted. Try a positive integer"),
    ("index/volume_range", {"query": '{a="b"}', "start": "0", "end": "100000", "step": "1"}, 400,
     "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter"),
    ("detected_fields", {"query": '{a="b"}', "line_limit": "0"}, 400, "limit must be a positive value"),
    ("detected_labels", {"end": "x"}, 400,
     "could not parse 'end' parameter: strconv.ParseInt: parsing \"x\": invalid syntax"),
    ("patterns", {"query": '{a="b"}', "start": "x"}, 400,
     "could not parse 'start' parameter: strconv.ParseInt: parsing \"x\": invalid syntax"),
    ("nope", {}, 404, "404 page not found"),
])
def test_errors_are_plain_text_with_lokis_status(loki, route, params, status, message):
    response = get(loki, route, params)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    if message is None:
        assert response.text.startswith("parse error at line 1, col ")
    else:
        assert response.text == message


def test_bearer_key_is_required(loki):
    response = get(loki, "labels", RANGE, headers={})
    assert response.status_code == 401
    assert response.text == "missing or wrong bearer token"


def test_timeout_is_lokis_504(loki_slow):
    response = get(loki_slow, "query_range", {"query": '{service_name="checkout"}', **RANGE})
    assert response.status_code == 504
    assert response.text == ("request timed out, decrease the duration of the request or add more label matchers "
                             "(prefer exact match over regex match) to reduce the amount of data processed")
