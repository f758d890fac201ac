"""The service graph under fresh traffic: the shop workload (scripts/workload: services calling
each other, every span with current timestamps) sent at a steady rate to otlp_serve, then the
derived counters checked against the spans themselves and the cost of each window printed.

Every SERVER span is one edge of Tempo's service graph (a root one from "user", the others from
their CLIENT parent), so the requests counted must equal the SERVER spans whose ends the derived
windows cover.

    .venv/bin/python scripts/bench/service_graph.py --rate 1000 --seconds 90
"""
import argparse
import pathlib
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test/e2e"))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "scripts/bench"))
from harness import DuckDB, free_port  # noqa: E402
import signals  # noqa: E402
from workload.sender import Sender  # noqa: E402
from workload.shop import Shop  # noqa: E402

WAIT_SECONDS = 5
INTERVAL_SECONDS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="simulated user requests per second")
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--extension", default=str(ROOT / "build/release/canardstack.duckdb_extension"))
    parser.add_argument("--ducklake", default=(ROOT / ".venv/ducklake_extension_path").read_text().strip())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        db = DuckDB(workdir, args.extension, args.ducklake)
        port = free_port()
        db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '0 days', flush_interval_ms := 350, "
               f"service_graph_wait := INTERVAL '{WAIT_SECONDS} seconds', "
               f"service_graph_interval := INTERVAL '{INTERVAL_SECONDS} seconds')")
        sender = Sender(f"http://127.0.0.1:{port}", Shop(args.rate, 0.05, seed=3), 1.0)
        started = time.monotonic()
        sender.run(threading.Event(), args.seconds)
        sent_for = time.monotonic() - started
        # every span sent has ended by now: wait until the windows have passed the last of them
        last_end = db.sql("SELECT epoch_ns(max(end_timestamp)) AS t FROM canardstack.otel.spans")[0]["t"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = db.sql("SELECT max(done_through_ns) AS t FROM canardstack.otel.canardstack_derived")[0]["t"]
            if done is not None and done >= last_end:
                break
            time.sleep(0.5)
        graph = signals.service_graph_figures(port)
        first_after = db.sql("SELECT min(epoch_ns(\"timestamp\")) AS t FROM canardstack.otel.metrics_sum "
                             "WHERE scope_name = 'canardstack.service_graph'")[0]["t"]
        server_spans = db.sql(
            "SELECT count(*) AS n, count(DISTINCT (trace_id, span_id)) AS distinct_spans "
            "FROM canardstack.otel.spans WHERE span_kind = 'Server' "
            f"AND epoch_ns(end_timestamp) > {first_after} AND epoch_ns(end_timestamp) <= {done}")[0]
        spans = db.sql("SELECT count(*) AS n FROM canardstack.otel.spans")[0]["n"]
        db.sql("CALL otlp_stop()")
        db.close()

    windows = graph.get("windows_total", 0)
    seconds = graph.get("duration_seconds_total", 0)
    print(f"sent {sender.user_requests} user requests ({sender.user_requests / sent_for:.0f}/s), {spans} spans "
          f"({spans / sent_for:,.0f}/s) in {sent_for:.1f} s")
    print(f"service graph: {windows:.0f} windows, {seconds:.2f} s in steps ({seconds / max(windows, 1) * 1e3:.0f} ms "
          f"a window of {INTERVAL_SECONDS} s), {graph.get('series', 0):.0f} edges, "
          f"{graph.get('failures_total', 0):.0f} failed steps")
    counted = graph.get("requests_total", 0)
    print(f"requests counted {counted:.0f}; SERVER spans ending in the derived windows {server_spans['n']} "
          f"({server_spans['distinct_spans']} distinct): {'equal' if counted == server_spans['n'] else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
