#!/usr/bin/env python3
"""Long-run retention benchmark: a steady, paced mix of logs, traces and metrics into
otlp_serve with a short retention, sampling the lake's disk bytes, file count, rows and the
server's RSS over time. With retention working, all of them level off once the first
rows expire. Not a test: minutes long, and the figures depend on the machine; BENCHMARKS.md
records them.

    .venv/bin/python scripts/bench/retention.py --minutes 10 --retention-s 120 --rate 5
"""
import argparse
import os
import pathlib
import socket
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test/e2e"))
sys.path.insert(0, str(ROOT / "scripts/bench"))
from harness import DuckDB, free_port  # noqa: E402

import signals  # noqa: E402
from ingest import http_request, read_reply  # noqa: E402

MIX = {"logs": 0.60, "traces": 0.25, "metrics": 0.15}
POOL = 8  # distinct bodies per signal, rebuilt with fresh timestamps
REBUILD_SECONDS = 5.0


def build_pool(port: int, age_ns: int = 0) -> dict[str, list[bytes]]:
    now = time.time_ns() - age_ns
    builders = {
        "logs": lambda k: signals.logs_request(500, k, now=now),
        "traces": lambda k: signals.traces_request(200, k, now=now),
        "metrics": lambda k: signals.metrics_request(k, now=now),
    }
    seed = now // 1_000_000
    return {signal: [http_request(port, signals.PATHS[signal], build(seed + k)) for k in range(POOL)]
            for signal, build in builders.items()}


def send_backlog(port: int, megabytes: float, age_ns: int) -> float:
    """Sends `megabytes` of the mix stamped `age_ns` ago as fast as the server takes it (a
    backlog that expires at the next round); returns the MB accepted."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    replies = sock.makefile("rb")
    pool = build_pool(port, age_ns)
    sent, k = 0, 0
    while sent < megabytes * 1e6:
        signal = ("logs", "logs", "traces", "metrics")[k % 4]
        request = pool[signal][k % POOL]
        k += 1
        sock.sendall(request)
        status, closes = read_reply(replies)
        sent += len(request) if status == 200 else 0
        if closes:
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            replies = sock.makefile("rb")
    sock.close()
    return sent / 1e6


def watch_lag(port: int, worst: dict, stop: threading.Event):
    """The highest ingest lag /metrics shows, read twice a second (a retention slice holds
    the writer's commits: this is where it would show)."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
                for line in reply.read().decode().splitlines():
                    if line.startswith("canardstack_ingest_lag_seconds "):
                        worst["lag"] = max(worst["lag"], float(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.5)


def send(port: int, rate_bytes: float, deadline: float, counts: dict, stop: threading.Event):
    """One keep-alive connection on a fixed byte schedule; the signal furthest behind its
    share goes next, and the bodies are rebuilt every few seconds so their timestamps stay
    within seconds of now (retention counts from them)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    replies = sock.makefile("rb")
    pool, built = build_pool(port), time.monotonic()
    offered = {signal: 0 for signal in MIX}
    due, k = time.perf_counter(), 0
    while time.monotonic() < deadline and not stop.is_set():
        if time.monotonic() - built > REBUILD_SECONDS:
            pool, built = build_pool(port), time.monotonic()
        total = sum(offered.values())
        signal = max(MIX, key=lambda s: MIX[s] * total - offered[s])
        request = pool[signal][k % POOL]
        k += 1
        offered[signal] += len(request)
        ahead = due - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        due += len(request) / rate_bytes
        sock.sendall(request)
        status, closes = read_reply(replies)
        counts["accepted" if status == 200 else "refused"] += 1
        counts["bytes"] += len(request) if status == 200 else 0
        if closes:
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            replies = sock.makefile("rb")
    sock.close()


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def watch_rss(pid: int, peak: dict, stop: threading.Event):
    """The highest RSS seen, sampled often enough to catch a merge's spike."""
    while not stop.is_set():
        try:
            peak["rss"] = max(peak["rss"], rss_mb(pid))
        except FileNotFoundError:
            return
        time.sleep(0.2)


def disk(data: pathlib.Path) -> tuple[int, int]:
    count, size = 0, 0
    for path in data.rglob("*.parquet"):
        try:
            size += path.stat().st_size
            count += 1
        except FileNotFoundError:  # removed by maintenance while we looked
            pass
    return count, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--retention-s", type=int, default=120, help="retention of every signal, in seconds")
    parser.add_argument("--snapshot-retention-s", type=int, default=30)
    parser.add_argument("--compact-interval-ms", type=int, default=20000)
    parser.add_argument("--flush-interval-ms", type=int, default=500)
    parser.add_argument("--rate", type=float, default=5, help="MB/s of OTLP protobuf offered in all")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--sample-s", type=float, default=30)
    parser.add_argument("--memory-limit", default=None, help="DuckDB's memory_limit for the server, e.g. 1GB")
    parser.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE",
                        help="a DuckDB setting for the server, e.g. enable_external_file_cache=false")
    parser.add_argument("--backlog-mb", type=float, default=0,
                        help="first send this many MB stamped a day old, expiring at the next round")
    parser.add_argument("--target-file-mb", type=int, default=128, help="otlp_serve's target_file_bytes, in MiB")
    parser.add_argument("--compact-after-s", type=int, default=300, help="otlp_serve's compact_after, in seconds")
    parser.add_argument("--extension", default=str(ROOT / "build/release/canardstack.duckdb_extension"))
    parser.add_argument("--ducklake", default=(ROOT / ".venv/ducklake_extension_path").read_text().strip())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        db = DuckDB(workdir, os.path.abspath(args.extension), args.ducklake)
        if args.memory_limit:
            db.sql(f"SET memory_limit = '{args.memory_limit}'")
        for setting in args.set:
            name, value = setting.split("=", 1)
            db.sql(f"SET {name} = {value}")
        port = free_port()
        db.sql(f"CALL otlp_serve({port}, retention := INTERVAL '{args.retention_s} seconds', "
               f"snapshot_retention := INTERVAL '{args.snapshot_retention_s} seconds', "
               f"compact_interval_ms := {args.compact_interval_ms}, flush_interval_ms := {args.flush_interval_ms}, "
               f"target_file_bytes := {args.target_file_mb << 20}, "
               f"compact_after := INTERVAL '{args.compact_after_s} seconds')")
        data = pathlib.Path(workdir) / ".canardstack/data"
        worst = {"lag": 0.0}
        lag_stop = threading.Event()
        threading.Thread(target=watch_lag, args=(port, worst, lag_stop), daemon=True).start()
        if args.backlog_mb:
            loaded = time.monotonic()
            backlog = send_backlog(port, args.backlog_mb, 86_400 * 10**9)
            print(f"backlog: {backlog:.0f} MB stamped a day old in {time.monotonic() - loaded:.0f} s", flush=True)
        started = time.monotonic()
        deadline = started + args.minutes * 60
        counts = [{"accepted": 0, "refused": 0, "bytes": 0} for _ in range(args.connections)]
        stop = threading.Event()
        peak = {"rss": 0.0}
        threading.Thread(target=watch_rss, args=(db.process.pid, peak, stop), daemon=True).start()
        threads = [threading.Thread(target=send, args=(port, args.rate * 1e6 / args.connections, deadline, c, stop))
                   for c in counts]
        for thread in threads:
            thread.start()
        print(f"{'t s':>6} {'disk MB':>9} {'files':>6} {'lake files':>10} {'rows M':>8} {'deleted M':>9} "
              f"{'RSS MB':>7} {'peak MB':>7} {'duckdb MB':>9} {'cache MB':>8} {'merged':>6} {'spool MB':>8} "
              f"{'rounds':>6} {'maint s':>7} {'lag s':>6} {'max lag':>7} {'sent MB':>8} {'429':>5}", flush=True)
        samples = []
        try:
            while time.monotonic() < deadline:
                time.sleep(min(args.sample_s, max(0.0, deadline - time.monotonic())))
                status = db.sql("SELECT * FROM otlp_status()")[0]
                files, size = disk(data)
                committed = sum((status["rows_committed"] or {}).values())
                deleted = sum((status["retention_rows_deleted"] or {}).values())
                tags = {row["tag"]: row["b"] for row in
                        db.sql("SELECT tag, memory_usage_bytes AS b FROM duckdb_memory()")}
                duckdb_bytes = sum(tags.values())
                row = {"t": time.monotonic() - started, "disk": size / 1e6, "files": files,
                       "lake_files": sum((status["lake_files"] or {}).values()), "rows": (committed - deleted) / 1e6,
                       "deleted": deleted / 1e6, "rss": rss_mb(db.process.pid), "peak": peak["rss"],
                       "duckdb": duckdb_bytes / 1e6, "file_cache": tags.get("EXTERNAL_FILE_CACHE", 0) / 1e6, "merged": sum((status["files_merged"] or {}).values()),
                       "spool": (status["spool_disk_bytes"] or 0) / 1e6,
                       "rounds": status["maintenance_rounds"], "maint": status["maintenance_seconds"],
                       "lag": status["ingest_lag_seconds"], "max_lag": worst["lag"], "sent": sum(c["bytes"] for c in counts) / 1e6,
                       "refused": sum(c["refused"] for c in counts)}
                samples.append(row)
                print(f"{row['t']:6.0f} {row['disk']:9.1f} {row['files']:6d} {row['lake_files']:10d} "
                      f"{row['rows']:8.2f} {row['deleted']:9.2f} {row['rss']:7.0f} {row['peak']:7.0f} {row['duckdb']:9.0f} {row['file_cache']:8.0f} "
                      f"{row['merged']:6d} {row['spool']:8.1f} {row['rounds']:6d} "
                      f"{row['maint']:7.1f} {row['lag']:6.2f} {row['max_lag']:7.2f} {row['sent']:8.1f} {row['refused']:5d}", flush=True)
        finally:
            stop.set()
            lag_stop.set()
            for thread in threads:
                thread.join()
            top = db.sql("SELECT tag, (memory_usage_bytes / 1e6)::INT AS mb FROM duckdb_memory() "
                         "ORDER BY memory_usage_bytes DESC LIMIT 4")
            print("DuckDB memory by tag at the end (MB):", {row["tag"]: row["mb"] for row in top})
            last = db.sql("SELECT maintenance_failures, files_removed, snapshots_expired, last_error FROM otlp_status()")[0]
            db.sql("CALL otlp_stop()")
            db.close()
    elapsed = args.minutes * 60
    print(f"offered {args.rate} MB/s for {elapsed:.0f} s, accepted {samples[-1]['sent'] / elapsed:.2f} MB/s, "
          f"maintenance failures {last['maintenance_failures']}, files removed {last['files_removed']}, "
          f"snapshots expired {last['snapshots_expired']}, last error {last['last_error']}")
    # levelled off: the last third of the run holds no more than the middle third
    third = max(1, len(samples) // 3)
    middle, final = samples[third:2 * third], samples[2 * third:]
    if middle and final:
        for key, label in (("disk", "disk MB"), ("files", "files on disk"), ("rss", "RSS MB"), ("peak", "peak RSS MB")):
            print(f"{label}: middle third max {max(s[key] for s in middle):.1f}, "
                  f"last third max {max(s[key] for s in final):.1f}")


if __name__ == "__main__":
    main()
