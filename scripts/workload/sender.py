"""Posts the shop's exports to an OTLP/HTTP endpoint once per export interval, as an SDK's
batch exporters do, until stopped."""
import argparse
import http.client
import threading
import time
import urllib.parse

from workload import otlp
from workload.shop import Shop

RETRIES = 3  # attempts per body when the server is busy (429/503) or the connection drops
RETRY_PAUSE_SECONDS = 1.0


class ExportFailed(RuntimeError):
    pass


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    """The knobs of the shop and its exports, shared by this package's command line and scripts/demo.py."""
    parser.add_argument("--rate", type=float, default=5, help="simulated user requests per second (default 5)")
    parser.add_argument("--error-rate", type=float, default=0.05,
                        help="fraction of user requests that fail somewhere (default 0.05)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between exports, one request per signal each (default 1)")
    parser.add_argument("--seed", type=int, default=None, help="seed for a repeatable workload")


class Sender:
    def __init__(self, endpoint: str, shop: Shop, interval_seconds: float = 1.0, api_key: str | None = None):
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"endpoint must be an http:// URL such as http://127.0.0.1:4318, got {endpoint!r}")
        if interval_seconds <= 0:
            raise ValueError(f"the export interval must be above 0 seconds, got {interval_seconds}")
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.base = parsed.path.rstrip("/")
        self.headers = {"Content-Type": "application/x-protobuf"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.shop = shop
        self.interval_ns = int(interval_seconds * 1e9)
        self.connection = None
        self.exports = 0
        self.user_requests = 0
        self.sent_bytes = {signal: 0 for signal in otlp.PATHS}

    def run(self, stop: threading.Event, seconds: float | None = None, on_export=None) -> None:
        """Exports right away, then every interval, until `stop` is set or `seconds` have passed."""
        deadline = None if seconds is None else time.monotonic() + seconds
        due = time.monotonic()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            export = self.shop.export(time.time_ns(), self.interval_ns)
            for signal, body in export.bodies.items():
                self.post(signal, body)
            self.exports += 1
            self.user_requests += len(export.requests)
            if on_export:
                on_export(export)
            due += self.interval_ns / 1e9
            stop.wait(max(0.0, due - time.monotonic()))
        if self.connection:
            self.connection.close()

    def post(self, signal: str, body: bytes) -> None:
        path = self.base + otlp.PATHS[signal]
        problem = ""
        for attempt in range(RETRIES):
            if attempt:
                time.sleep(RETRY_PAUSE_SECONDS)
            try:
                status, text = self.send(path, body)
            except (OSError, http.client.HTTPException) as error:
                self.connection = None  # reconnect on the next attempt
                problem = f"{type(error).__name__}: {error}"
                continue
            if status == 200:
                self.sent_bytes[signal] += len(body)
                return
            problem = f"HTTP {status}: {text[:300]}"
            if status not in (429, 503):
                break
        raise ExportFailed(f"POST http://{self.host}:{self.port}{path} failed: {problem}")

    def send(self, path: str, body: bytes) -> tuple[int, str]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.connection.request("POST", path, body=body, headers=self.headers)
        reply = self.connection.getresponse()
        text = reply.read().decode(errors="replace")
        if reply.getheader("Connection", "").lower() == "close":
            self.connection.close()
            self.connection = None
        return reply.status, text
