"""Crash rounds: concurrent senders, kill -9 of the DuckDB process at a random
moment, restart, and finally check every acknowledged record is stored
exactly once. Used by test_crash.py (short) and runnable longer by hand:

    .venv/bin/python test/e2e/crash_ingest.py --rounds 200
"""
import argparse
import os
import pathlib
import random
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from harness import DuckDB, free_port  # noqa: E402
from otlp_bodies import logs_request  # noqa: E402

HEADERS = {"Content-Type": "application/x-protobuf"}


def sender(url, name, stop, acked, lock):
    session = requests.Session()
    n = 0
    while not stop.is_set():
        bodies = [f"{name}-{n}-{i}" for i in range(20)]
        n += 1
        try:
            reply = session.post(url, data=logs_request(bodies), headers=HEADERS, timeout=5)
        except requests.RequestException:
            time.sleep(0.02)
            continue
        if reply.status_code == 200:
            with lock:
                acked.update(bodies)
        else:
            time.sleep(0.02)


def crash_rounds(workdir, extension, ducklake, rounds, senders=4, seed=None):
    rng = random.Random(seed)
    acked, lock = set(), threading.Lock()
    for round_number in range(rounds):
        db = DuckDB(workdir, extension, ducklake)
        port = free_port()
        db.sql(f"CALL otlp_serve({port}, flush_interval_ms := {rng.choice([20, 100, 300])})")
        stop = threading.Event()
        threads = [threading.Thread(target=sender, args=(f"http://127.0.0.1:{port}/v1/logs",
                                                         f"r{round_number}s{s}", stop, acked, lock))
                   for s in range(senders)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.1, 0.8))
        db.kill()
        stop.set()
        for t in threads:
            t.join()
    db = DuckDB(workdir, extension, ducklake)
    db.sql(f"CALL otlp_serve({free_port()})")
    db.sql("CALL otlp_stop()")
    stored = db.sql("SELECT body, count(*) AS n FROM canardstack.otel.logs GROUP BY body")
    db.close()
    return acked, {row["body"]: row["n"] for row in stored}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--extension", default="build/release/canardstack.duckdb_extension")
    parser.add_argument("--ducklake", default=open(".venv/ducklake_extension_path").read().strip())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        acked, stored = crash_rounds(workdir, os.path.abspath(args.extension), args.ducklake, args.rounds)
    missing = acked - stored.keys()
    duplicated = {body for body, n in stored.items() if n > 1}
    print(f"rounds={args.rounds} acknowledged={len(acked)} stored={len(stored)} "
          f"missing={len(missing)} duplicated={len(duplicated)}")
    sys.exit(1 if missing or duplicated else 0)


if __name__ == "__main__":
    main()
