#!/usr/bin/env python3
"""Tempo API latency: a lake with N spans (10 per trace, 20 services, written by one
INSERT, so a few large Parquet files), then each route called 5 times over HTTP;
prints the median.

    .venv/bin/python scripts/bench/tempo_api.py [--spans 1000000]
"""
import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test/e2e"))
from harness import DuckDB, free_port  # noqa: E402

T0 = 1_767_225_600_000_000_000


def fill(db, spans):
    db.sql(f"""INSERT INTO lake.otel.spans (timestamp, trace_id, span_id, parent_span_id, trace_state, span_name,
     span_kind, service_name, resource_schema_url, resource_attributes, scope_name, scope_version, span_attributes,
     duration, end_timestamp, status_code, status_message, events, links)
     SELECT make_timestamp_ns({T0} + i * 1000000), lpad(printf('%x', i // 10), 32, '0'), lpad(printf('%x', i), 16, '0'),
      CASE WHEN i % 10 = 0 THEN '' ELSE lpad(printf('%x', i - i % 10), 16, '0') END, '', 'op-' || (i % 50), 'Server',
      'svc-' || (i % 20), '', MAP {{'service.name': 'svc-' || (i % 20), 'host': 'h' || (i % 7)}}, 'lib', '1.0',
      MAP {{'http.status_code': (200 + i % 5 * 100)::VARCHAR, 'user': 'u' || (i % 1000)}}, 5000000,
      make_timestamp_ns({T0} + i * 1000000 + 5000000), CASE WHEN i % 97 = 0 THEN 'Error' ELSE 'Unset' END, '', [], []
     FROM range({spans}) r(i)""")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    args = parser.parse_args()
    extension = ROOT / "build/release/canardstack.duckdb_extension"
    ducklake = (ROOT / ".venv/ducklake_extension_path").read_text().strip()
    with tempfile.TemporaryDirectory() as work:
        db = DuckDB(work, extension, ducklake)
        port = free_port()
        db.sql(f"ATTACH 'ducklake:{work}/l.ducklake' AS lake (DATA_PATH '{work}/d/')")
        db.sql(f"CALL otlp_serve({port}, catalog := 'lake')")
        fill(db, args.spans)
        base = f"http://127.0.0.1:{port}"

        def timed(path, **params):
            samples = []
            for _ in range(5):
                started = time.perf_counter()
                answer = requests.get(base + path, params=params, timeout=120)
                samples.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
            print(f"{statistics.median(samples) * 1000:6.0f} ms  {path} {params}")

        timed(f"/api/v2/traces/{4321:x}")
        timed(f"/api/v2/traces/{4321:x}", start=T0 // 10**9, end=T0 // 10**9 + 3600)
        timed("/api/search", q="{ status = error }")
        timed("/api/search", q='{ resource.service.name = "svc-3" && span.http.status_code >= 500 }',
              start=T0 // 10**9, end=T0 // 10**9 + 60)
        timed("/api/search/tags")
        timed("/api/v2/search/tag/resource.service.name/values")
        timed("/api/v2/search/tag/name/values", q='{ span.user = "u5" }')
        db.kill()


if __name__ == "__main__":
    main()
