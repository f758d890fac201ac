#!/usr/bin/env python3
"""canardstack demo (make demo): one DuckDB process with canardstack loaded serving OTLP and
the query APIs, fed by a simulated web shop (scripts/workload/shop.py) with traces, logs and
metrics, until Ctrl-C or --seconds have passed.

    .venv/bin/python scripts/demo.py                       # port 4318, lake in build/demo/
    .venv/bin/python scripts/demo.py --seconds 30 --rate 10

On a terminal it reads SQL from a `sql>` prompt and runs it in the demo's DuckDB (the lake's
catalog file is locked by this process while it runs, so other processes cannot attach it).
"""
import argparse
import pathlib
import signal
import sys
import threading
import time

import duckdb

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from workload import shop  # noqa: E402
from workload.sender import Sender, add_workload_arguments  # noqa: E402

CATALOG = "canardstack"
TABLES = ["logs", "spans", "metrics_sum", "metrics_histogram", "metrics_gauge"]
VISIBLE_WITHIN_SECONDS = 30
STATUS_EVERY_SECONDS = 10


class DemoStopped(Exception):
    """Raised in the main thread by SIGTERM and by the end of --seconds, as Ctrl-C raises KeyboardInterrupt."""


def example_sql() -> list[str]:
    return [
        f"SELECT service_name, count(*) AS spans, count(DISTINCT trace_id) AS traces "
        f"FROM {CATALOG}.otel.spans GROUP BY ALL ORDER BY ALL;",
        f"SELECT timestamp, service_name, body FROM {CATALOG}.otel.logs "
        f"WHERE severity_text = 'ERROR' ORDER BY timestamp DESC LIMIT 5;",
        "SELECT labels['service_name'] AS service, round(value, 2) AS requests_per_second "
        "FROM promql_query('sum by (service_name) (rate(http_server_requests_total[1m]))') ORDER BY ALL;",
        "SELECT labels['service_name'] AS service, round(value * 1000) AS p95_ms FROM promql_query("
        "'histogram_quantile(0.95, sum by (service_name, le) (rate(http_server_request_duration_seconds_bucket[1m])))'"
        ") ORDER BY ALL;",
        "SELECT timestamp, line FROM loki_query('{service_name=\"checkout\"} | detected_level=\"error\"', "
        "\"limit\" := 5);",
        "SELECT trace_id, root_span_name, duration_ms FROM tempo_search('{ status = error }', \"limit\" := 5);",
    ]


def example_curls(endpoint: str, trace_id: str, api_key: str | None) -> list[str]:
    curl = f"curl -s -H 'Authorization: Bearer {api_key}'" if api_key else "curl -s"
    return [
        f"{curl} {endpoint}/api/v1/query --data-urlencode "
        "'query=sum by (service_name) (rate(http_server_requests_total[1m]))'",
        f"{curl} -G {endpoint}/loki/api/v1/query_range --data-urlencode "
        "'query={service_name=\"payment\"} | logfmt | status >= 500' --data-urlencode limit=5",
        f"{curl} -G {endpoint}/api/search --data-urlencode 'q={{ status = error }}'",
        f"{curl} {endpoint}/api/traces/{trace_id}",
    ]


def open_lake(args) -> duckdb.DuckDBPyConnection:
    extension = pathlib.Path(args.extension)
    if not extension.exists():
        sys.exit(f"demo: the extension {extension} does not exist; build it with `make release`")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    if args.ducklake:
        con.execute(f"LOAD '{args.ducklake}'")
    con.execute(f"LOAD '{extension}'")
    lake = pathlib.Path(args.dir).resolve()
    (lake / "data").mkdir(parents=True, exist_ok=True)
    con.execute(f"ATTACH 'ducklake:{lake}/catalog.ducklake' AS {CATALOG} (DATA_PATH '{lake}/data/')")
    return con


def start_server(con, args) -> str:
    lake = pathlib.Path(args.dir).resolve()
    key = f", api_key := '{args.api_key}'" if args.api_key else ""
    try:
        served = con.execute(f"SELECT endpoint FROM otlp_serve({args.port}, catalog := '{CATALOG}', "
                             f"spool_dir := '{lake}/spool', host := '{args.host}'{key}, "
                             # the service graph within seconds rather than the default half minute
                             "service_graph_wait := INTERVAL '5 seconds', "
                             "service_graph_interval := INTERVAL '5 seconds')").fetchone()
    except duckdb.Error as error:
        sys.exit(f"demo: otlp_serve({args.port}) failed: {error}")
    # listening on every address: clients on this machine still reach it on loopback
    return served[0].replace("://0.0.0.0:", "://127.0.0.1:")


def row_counts(con) -> dict[str, int]:
    return {table: con.execute(f"SELECT count(*) FROM {CATALOG}.otel.{table}").fetchone()[0] for table in TABLES}


def wait_for_data(con, sender_state) -> dict[str, int]:
    """Polls until every table has rows; the first export is posted at once and commits within
    the flush interval, so this takes a second or two."""
    started = time.monotonic()
    while True:
        counts = row_counts(con)
        if all(counts.values()):
            print(f"data visible after {time.monotonic() - started:.1f} s: "
                  + ", ".join(f"{table} {n} rows" for table, n in counts.items()))
            return counts
        sender_state.raise_failure()
        if time.monotonic() - started > VISIBLE_WITHIN_SECONDS:
            status = con.execute("SELECT requests_accepted, requests_rejected, last_error FROM otlp_status()").fetchall()
            raise RuntimeError(f"no rows in {[t for t, n in counts.items() if not n]} after {VISIBLE_WITHIN_SECONDS} s; "
                               f"otlp_status: {status}")
        time.sleep(0.25)


def print_summary(con) -> None:
    """Per service: spans, error spans and log lines so far."""
    rows = con.execute(f"""
        SELECT s.service_name, s.spans, s.errors, coalesce(l.logs, 0) AS logs
        FROM (SELECT service_name, count(*) AS spans, count(*) FILTER (status_code = 'Error') AS errors
              FROM {CATALOG}.otel.spans GROUP BY ALL) s
        LEFT JOIN (SELECT service_name, count(*) AS logs FROM {CATALOG}.otel.logs GROUP BY ALL) l USING (service_name)
        ORDER BY s.service_name""").fetchall()
    print(f"{'service':<10} {'spans':>6} {'errors':>6} {'logs':>6}")
    for service, spans, errors, logs in rows:
        print(f"{service:<10} {spans:>6} {errors:>6} {logs:>6}")


def recent_trace_id(con) -> str:
    return con.execute(f"SELECT trace_id FROM {CATALOG}.otel.spans WHERE parent_span_id = '' "
                       f"ORDER BY timestamp DESC LIMIT 1").fetchone()[0]


class SenderThread:
    """Runs the workload in the background and keeps its failure for the main thread."""

    def __init__(self, sender: Sender):
        self.sender = sender
        self.stop = threading.Event()
        self.failure: Exception | None = None
        self.thread = threading.Thread(target=self.run, name="workload", daemon=True)

    def run(self):
        try:
            self.sender.run(self.stop)
        except Exception as failure:  # noqa: BLE001  the main thread reports it and stops the demo
            self.failure = failure

    def raise_failure(self):
        if self.failure:
            raise RuntimeError(f"the workload stopped: {type(self.failure).__name__}: {self.failure}")

    def join(self):
        self.stop.set()
        if self.thread.ident is not None:  # started
            self.thread.join(timeout=60)


def sql_prompt(con, sender_state) -> None:
    print("Type SQL (one statement per line) to run it here; Ctrl-C or Ctrl-D stops the demo.")
    while True:
        sender_state.raise_failure()
        try:
            text = input("sql> ").strip().rstrip(";")
        except EOFError:
            return
        if text in (".quit", ".exit", "quit", "exit"):
            return
        if not text:
            continue
        try:
            relation = con.sql(text)
            if relation is not None:
                relation.show(max_rows=40)
        except duckdb.Error as error:
            print(f"error: {error}")


def wait_quietly(con, sender_state, deadline) -> None:
    """Without a terminal: a status line now and then until the deadline or a signal."""
    next_status = time.monotonic() + STATUS_EVERY_SECONDS
    while deadline is None or time.monotonic() < deadline:
        sender_state.raise_failure()
        if time.monotonic() >= next_status:
            next_status += STATUS_EVERY_SECONDS
            print(f"running: {sender_state.sender.user_requests} user requests sent; "
                  + ", ".join(f"{table} {n}" for table, n in row_counts(con).items()))
        time.sleep(0.2)


def stop_everything(con, sender_state) -> None:
    # a second Ctrl-C must not cut the commit of what the server has acknowledged
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)
    print("stopping: workload first, then otlp_stop() commits what is queued (Ctrl-C is ignored until then)")
    sender_state.join()
    stopped = con.execute("SELECT rows_committed, spool_backlog_records, abandoned_records FROM otlp_stop()").fetchall()
    for rows_committed, backlog, abandoned in stopped:
        print(f"otlp_stop: rows committed {dict(sorted(rows_committed.items()))}, spool backlog {backlog}, "
              f"abandoned {abandoned}")
    print(f"workload: {sender_state.sender.user_requests} user requests in {sender_state.sender.exports} exports")
    con.close()


def raise_stopped(signum, frame):
    raise DemoStopped(signal.Signals(signum).name)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--host", default="127.0.0.1",
                        help="listen address; another than loopback (for Grafana in a container) needs --api-key")
    parser.add_argument("--api-key", default=None, help="require this bearer key on every request")
    parser.add_argument("--dir", default=str(ROOT / "build/demo"),
                        help="the demo's DuckLake (catalog, Parquet data, spool); kept between runs")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    parser.add_argument("--no-prompt", action="store_true", help="do not read SQL from the terminal")
    parser.add_argument("--extension", default=str(ROOT / "build/release/canardstack.duckdb_extension"))
    stamp = ROOT / ".venv/ducklake_extension_path"
    parser.add_argument("--ducklake", default=stamp.read_text().strip() if stamp.exists() else None,
                        help="DuckLake extension file to load (default: the venv's, else DuckDB's autoload)")
    add_workload_arguments(parser)
    args = parser.parse_args()
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be above 0")
    if args.api_key and not args.api_key.isalnum():
        parser.error("--api-key: use letters and digits only")
    return parser, args


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    parser, args = parse_args()
    try:
        workload = shop.Shop(args.rate, args.error_rate, args.seed)
    except ValueError as error:
        parser.error(str(error))
    con = open_lake(args)
    endpoint = start_server(con, args)
    sender_state = SenderThread(Sender(endpoint, workload, args.interval, args.api_key))
    failed = None
    try:
        signal.signal(signal.SIGTERM, raise_stopped)
        signal.signal(signal.SIGALRM, raise_stopped)
        deadline = None
        if args.seconds is not None:
            deadline = time.monotonic() + args.seconds
            signal.setitimer(signal.ITIMER_REAL, args.seconds)
        print(f"canardstack {con.execute('SELECT canardstack_version()').fetchone()[0]} serving OTLP/HTTP and the "
              f"Prometheus, Loki and Tempo APIs at {endpoint}; lake in {pathlib.Path(args.dir).resolve()}")
        print(f"workload: services {', '.join(shop.SERVICE_VERSIONS)}; {args.rate:g} user requests/s, "
              f"{args.error_rate:.0%} failing, exported every {args.interval:g} s")
        sender_state.thread.start()
        wait_for_data(con, sender_state)
        print_summary(con)
        trace_id = recent_trace_id(con)
        print("\nSQL (at the prompt below, or in any DuckDB attached to the lake once the demo stops):")
        for query in example_sql():
            print(f"  {query}")
        print("\nHTTP (Grafana data sources: deploy/grafana/):")
        for curl in example_curls(endpoint, trace_id, args.api_key):
            print(f"  {curl}")
        print()
        if sys.stdin.isatty() and not args.no_prompt:
            sql_prompt(con, sender_state)
        else:
            print("running until Ctrl-C" + (f" or {args.seconds:g} s have passed" if deadline else ""))
            wait_quietly(con, sender_state, deadline)
    except (KeyboardInterrupt, DemoStopped):
        pass
    except RuntimeError as error:
        failed = error
    finally:
        stop_everything(con, sender_state)
    if failed:
        print(f"demo: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
