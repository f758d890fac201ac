"""A simulated web shop: five services calling each other over HTTP, and the telemetry
their OpenTelemetry SDKs would export for the user requests of each export interval.

    frontend  GET  /cart             -> cart       GET  /cart/{user_id}
    frontend  GET  /products/{id}    -> inventory  GET  /inventory/{sku}
    frontend  POST /checkout         -> checkout   POST /checkout
                                          -> inventory POST /inventory/reserve
                                          -> payment   POST /payments/charge

Per user request: one trace, a server span per service it reaches and a client span per call
(the callee's server span is the client span's child, durations nest); one log record per
server span, carrying its trace and span id (INFO, WARN when slow, ERROR when failed); and
per service the RED metrics: a cumulative request counter and duration histogram by method,
route and status, and a gauge of the requests in flight. A failed request has one leaf
operation fail (status ERROR, an exception event); the error travels up to the frontend and
calls after the failed one are not made.

Everything random comes from one seeded generator, so a seed gives the same workload.
"""
import dataclasses
import random
import time

from workload import otlp

NAMESPACE = "shop"
SCOPE = "canardstack.workload.shop"
SERVICE_VERSIONS = {"frontend": "1.8.2", "cart": "0.9.4", "checkout": "2.1.0", "inventory": "1.3.7",
                    "payment": "3.0.1"}
# OpenTelemetry's recommended buckets for http.server.request.duration (seconds)
DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
SLOW_REQUEST_SECONDS = 0.25
MS = 1_000_000


@dataclasses.dataclass(frozen=True)
class Failure:
    status_code: int
    exception_type: str
    message: str


@dataclasses.dataclass(frozen=True)
class Operation:
    """An HTTP route of one service: its own work, the calls it makes in order, and how it
    fails when the failure of a request falls on it (None: it only fails through its calls)."""
    service: str
    method: str
    route: str
    typical_ms: float
    calls: tuple["Operation", ...] = ()
    failure: Failure | None = None
    slow_fraction: float = 0.0  # share of calls that take about eight times as long

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}"

    def operations(self):
        yield self
        for call in self.calls:
            yield from call.operations()


CART_GET = Operation("cart", "GET", "/cart/{user_id}", 4,
                     failure=Failure(500, "ValueError", "cart store returned a malformed cart"))
INVENTORY_LOOKUP = Operation("inventory", "GET", "/inventory/{sku}", 3,
                             failure=Failure(503, "ConnectionError", "inventory database unavailable"))
INVENTORY_RESERVE = Operation("inventory", "POST", "/inventory/reserve", 8,
                              failure=Failure(503, "ConnectionError", "inventory database unavailable"))
PAYMENT_CHARGE = Operation("payment", "POST", "/payments/charge", 45, slow_fraction=0.03,
                           failure=Failure(504, "TimeoutError", "payment gateway timed out"))
CHECKOUT_PLACE = Operation("checkout", "POST", "/checkout", 12, calls=(INVENTORY_RESERVE, PAYMENT_CHARGE))

# (share of user requests, the frontend route they hit)
USER_REQUESTS = [
    (0.45, Operation("frontend", "GET", "/products/{id}", 2, calls=(INVENTORY_LOOKUP,))),
    (0.30, Operation("frontend", "GET", "/cart", 2, calls=(CART_GET,))),
    (0.25, Operation("frontend", "POST", "/checkout", 3, calls=(CHECKOUT_PLACE,))),
]


def spans_per_trace(root: Operation) -> int:
    """Spans of a request that does not fail: a server span per operation, a client span per call."""
    return sum(1 + len(op.calls) for op in root.operations())


@dataclasses.dataclass
class SimSpan:
    operation: Operation
    kind: str  # "server" or "client"
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_ns: int
    end_ns: int = 0
    status_code: int = 200
    failure: Failure | None = None  # set on every span the failure passed through
    failed_here: bool = False  # the span whose own code raised the failure
    caller: str = ""  # the service making a client span's call

    @property
    def service(self) -> str:
        return self.caller if self.kind == "client" else self.operation.service


@dataclasses.dataclass
class Request:
    """One simulated user request: its spans, root first."""
    root: Operation
    spans: list[SimSpan]

    @property
    def failed(self) -> bool:
        return self.spans[0].failure is not None


class ServiceMetrics:
    """One service's RED instruments, cumulative since `start_ns` as an SDK keeps them."""

    def __init__(self, service: str, start_ns: int):
        self.service = service
        self.start_ns = start_ns
        self.requests: dict[tuple, int] = {}
        self.buckets: dict[tuple, list[int]] = {}
        self.seconds: dict[tuple, float] = {}
        self.latest: dict[tuple, SimSpan] = {}  # the newest request per series, its exemplar
        self.busy_ns = 0  # server time spent in the current export interval

    def observe(self, server_span: SimSpan) -> None:
        key = (server_span.operation.method, server_span.operation.route, server_span.status_code)
        seconds = (server_span.end_ns - server_span.start_ns) / 1e9
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.buckets.setdefault(key, [0] * (len(DURATION_BUCKETS) + 1))
        counts[next((i for i, bound in enumerate(DURATION_BUCKETS) if seconds <= bound), len(DURATION_BUCKETS))] += 1
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.latest[key] = server_span
        self.busy_ns += server_span.end_ns - server_span.start_ns

    def export(self, now_ns: int, interval_ns: int) -> list:
        """Every series seen so far (cumulative series keep being reported when idle), and the
        mean number of requests in flight over the interval (Little's law: busy time / interval)."""
        series = sorted(self.requests)
        attrs = {key: {"http.request.method": key[0], "http.route": key[1], "http.response.status_code": key[2]}
                 for key in series}
        in_flight = self.busy_ns / interval_ns
        self.busy_ns = 0
        exemplars = {key: [otlp.exemplar(span.end_ns, (span.end_ns - span.start_ns) / 1e9, span.trace_id,
                                         span.span_id)] for key, span in self.latest.items()}
        self.latest = {}
        active = otlp.gauge("http.server.active_requests", unit="{request}",
                            description="HTTP requests in flight, averaged over the export interval",
                            points=[otlp.number_point(now_ns, round(in_flight, 3))])
        if not series:
            return [active]  # a metric without points is refused (OTLP partial success)
        return [
            active,
            otlp.counter("http.server.requests", unit="{request}", description="HTTP requests handled", points=[
                otlp.number_point(now_ns, self.requests[key], attrs[key], start_ns=self.start_ns) for key in series]),
            otlp.histogram("http.server.request.duration", unit="s", description="Duration of HTTP server requests",
                           points=[otlp.histogram_point(self.start_ns, now_ns, DURATION_BUCKETS, list(self.buckets[key]),
                                                        self.seconds[key], attrs[key], exemplars.get(key, ()))
                                   for key in series]),
        ]


def service_resource(service: str, instance: str) -> otlp.Resource:
    return otlp.resource({"service.name": service, "service.namespace": NAMESPACE,
                          "service.version": SERVICE_VERSIONS[service], "service.instance.id": f"{service}-{instance}",
                          "deployment.environment.name": "demo"})


@dataclasses.dataclass
class Export:
    """One export interval's telemetry: a request body per signal and the requests it holds."""
    bodies: dict[str, bytes]
    requests: list[Request]


class Shop:
    def __init__(self, rate: float, error_rate: float = 0.05, seed: int | None = None, start_ns: int | None = None):
        if rate <= 0:
            raise ValueError(f"rate must be above 0 user requests per second, got {rate}")
        if not 0 <= error_rate <= 1:
            raise ValueError(f"error rate must be a fraction between 0 and 1, got {error_rate}")
        self.rate = rate
        self.error_rate = error_rate
        self.rng = random.Random(seed)
        self.start_ns = start_ns or time.time_ns()
        # each run is a new instance of every service, as a restarted pod is: its counters start
        # from zero under labels of their own instead of seeming to reset another run's
        self.instance = self.rng.randbytes(3).hex()
        self.metrics = {service: ServiceMetrics(service, self.start_ns) for service in SERVICE_VERSIONS}
        self.due = 0.0  # user requests owed to the schedule, fractions carried between intervals

    def export(self, now_ns: int, interval_ns: int) -> Export:
        """The requests that finished in (now - interval, now] and every signal's body for them."""
        self.due += self.rate * interval_ns / 1e9
        count, self.due = int(self.due), self.due - int(self.due)
        requests = [self.user_request(now_ns - int(self.rng.random() * interval_ns)) for _ in range(count)]
        requests.sort(key=lambda request: request.spans[0].start_ns)
        for request in requests:
            for span in request.spans:
                if span.kind == "server":
                    self.metrics[span.service].observe(span)
        return Export({"traces": self.traces_body(requests), "logs": self.logs_body(requests),
                       "metrics": self.metrics_body(now_ns, interval_ns)}, requests)

    def user_request(self, end_ns: int) -> Request:
        root = self.rng.choices([op for _, op in USER_REQUESTS], [share for share, _ in USER_REQUESTS])[0]
        failing = None
        if self.rng.random() < self.error_rate:
            failing = self.rng.choice([op for op in root.operations() if op.failure])
        trace_id = self.rng.randbytes(16)
        spans: list[SimSpan] = []
        self.serve(root, trace_id, b"", 0, failing, spans)
        shift = end_ns - spans[0].end_ns  # simulated from 0: move it so that it ends at end_ns
        for span in spans:
            span.start_ns += shift
            span.end_ns += shift
        return Request(root, spans)

    def serve(self, op: Operation, trace_id: bytes, parent: bytes, start_ns: int, failing: Operation | None,
              spans: list[SimSpan]) -> SimSpan:
        """Appends the server span of `op` and everything under it; returns the server span."""
        server = SimSpan(op, "server", trace_id, self.rng.randbytes(8), parent, start_ns)
        spans.append(server)
        own_ns = self.own_work_ns(op)
        now = start_ns + own_ns // 2  # half the work before the calls, half after
        for call in op.calls:
            network_ns = int(self.rng.uniform(0.2, 1.0) * MS)
            client = SimSpan(call, "client", trace_id, self.rng.randbytes(8), server.span_id, now, caller=op.service)
            spans.append(client)
            callee = self.serve(call, trace_id, client.span_id, now + network_ns, failing, spans)
            client.end_ns = callee.end_ns + network_ns
            client.status_code, client.failure = callee.status_code, callee.failure
            now = client.end_ns
            if callee.failure:
                server.status_code = 502
                server.failure = callee.failure
                break
        if op is failing:
            server.status_code, server.failure, server.failed_here = op.failure.status_code, op.failure, True
        server.end_ns = now + own_ns - own_ns // 2
        return server

    def own_work_ns(self, op: Operation) -> int:
        factor = self.rng.lognormvariate(0, 0.5)
        if self.rng.random() < op.slow_fraction:
            factor *= 8
        return int(op.typical_ms * factor * MS)

    def traces_body(self, requests: list[Request]) -> bytes:
        by_service: dict[str, list] = {service: [] for service in SERVICE_VERSIONS}
        for request in requests:
            for span in request.spans:
                by_service[span.service].append(otlp_span(span))
        return otlp.traces_body([(service_resource(service, self.instance), spans)
                                 for service, spans in by_service.items() if spans], SCOPE)

    def logs_body(self, requests: list[Request]) -> bytes:
        by_service: dict[str, list] = {service: [] for service in SERVICE_VERSIONS}
        for request in requests:
            for span in request.spans:
                if span.kind == "server":
                    by_service[span.service].append(request_log(span))
        return otlp.logs_body([(service_resource(service, self.instance), logs)
                               for service, logs in by_service.items() if logs], SCOPE)

    def metrics_body(self, now_ns: int, interval_ns: int) -> bytes:
        return otlp.metrics_body([(service_resource(service, self.instance), metrics.export(now_ns, interval_ns))
                                  for service, metrics in self.metrics.items()], SCOPE)


def otlp_span(span: SimSpan):
    op = span.operation
    attrs = {"http.request.method": op.method}
    if span.kind == "server":
        attrs["http.route"] = op.route
    else:
        attrs["server.address"] = op.service
        attrs["url.full"] = f"http://{op.service}:8080{op.route}"
    attrs["http.response.status_code"] = span.status_code
    events = []
    if span.failure:
        attrs["error.type"] = str(span.status_code)
        exception_type, message = error_of(span)
        events.append(otlp.span_event(span.end_ns, "exception",
                                      {"exception.type": exception_type, "exception.message": message}))
    return otlp.span(span.trace_id, span.span_id, op.name, span.kind, span.start_ns, span.end_ns,
                     parent_span_id=span.parent_span_id, attrs=attrs, events=events,
                     status="error" if span.failure else None, status_message=error_of(span)[1] if span.failure else "")


def error_of(span: SimSpan) -> tuple[str, str]:
    """What the span's own code saw: the original exception where the failure happened, an
    HTTP error from the callee on the spans it passed through."""
    if span.failed_here:
        return span.failure.exception_type, span.failure.message
    return "HTTPError", f"{span.failure.status_code} from upstream: {span.failure.message}"


def request_log(server_span: SimSpan):
    """The access log line a service writes as it answers, in logfmt."""
    op = server_span.operation
    millis = (server_span.end_ns - server_span.start_ns) / MS
    if server_span.failure:
        severity, message = "ERROR", error_of(server_span)[1]
    elif millis / 1000 > SLOW_REQUEST_SECONDS:
        severity, message = "WARN", "slow request"
    else:
        severity, message = "INFO", "request handled"
    body = (f'msg="{message}" method={op.method} route={op.route} status={server_span.status_code} '
            f"duration_ms={millis:.1f}")
    return otlp.log_record(server_span.end_ns - 1000, severity, body, server_span.trace_id, server_span.span_id,
                           {"http.route": op.route, "http.response.status_code": server_span.status_code})
