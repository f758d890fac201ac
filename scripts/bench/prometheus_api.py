"""Times the Prometheus API calls Grafana makes, over a week of minutely points
for 50 counter series (504,000 rows, one insert per day so DuckLake has a file
per day), served by otlp_serve in a DuckDB process with canardstack loaded.

    .venv/bin/python scripts/bench/prometheus_api.py build/release/canardstack.duckdb_extension
"""
import pathlib
import sys
import tempfile
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "test/e2e"))
from harness import DuckDB, free_port  # noqa: E402

DAYS = 7
SERIES = 50
T0 = 1_767_225_600  # 2026-01-01


def load(db):
    for day in range(DAYS):
        db.sql(f"""
            INSERT INTO canardstack.otel.metrics_sum BY NAME
            SELECT MAP {{'service.name': 'svc-' || (s % 5)}} AS resource_attributes,
                   'svc-' || (s % 5) AS service_name, 'http.requests' AS metric_name, 'Requests.' AS metric_description,
                   '1' AS metric_unit, MAP {{'route': '/r' || s}} AS attributes,
                   make_timestamp_ns(({T0} + {day} * 86400 + m * 60)::BIGINT * 1000000000) AS "timestamp",
                   0 AS flags, ({day} * 1440 + m) * s AS "value", 2 AS aggregation_temporality, true AS is_monotonic
            FROM range({SERIES}) a(s), range(1440) b(m)""")


def timed(label, call):
    started = time.perf_counter()
    response = call()
    took = time.perf_counter() - started
    assert response.status_code == 200, response.text
    print(f"{label:<60} {took * 1000:8.0f} ms  {len(response.content):>9} bytes")


def main(extension):
    ducklake = (pathlib.Path(__file__).resolve().parents[2] / ".venv/ducklake_extension_path").read_text().strip()
    directory = tempfile.mkdtemp()
    db = DuckDB(directory, extension, ducklake)
    port = free_port()
    db.sql(f"CALL otlp_serve({port})")
    load(db)
    api = f"http://127.0.0.1:{port}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    end = T0 + DAYS * 86400 - 60
    hour = {"start": str(end - 3600), "end": str(end)}
    week = {"start": str(T0), "end": str(end)}
    timed("health check query 1+1", lambda: requests.post(f"{api}/api/v1/query", data="query=1%2B1&time=4", headers=form))
    for name, window, step in (("1h, 15s step", hour, "15"), ("7d, 10m step", week, "600")):
        query = "sum by (service_name) (rate(http_requests_total[5m]))"
        timed(f"query_range {query} {name}",
              lambda: requests.post(f"{api}/api/v1/query_range", data={"query": query, **window, "step": step}, headers=form))
    for name, window in (("1h", hour), ("7d", week)):
        timed(f"label/__name__/values {name}", lambda: requests.get(f"{api}/api/v1/label/__name__/values", params=window))
        timed(f"labels {name}", lambda: requests.post(f"{api}/api/v1/labels", params={**window, "limit": "40000"}, headers=form))
        timed(f"series {{__name__!=\"\"}} {name}", lambda: requests.post(
            f"{api}/api/v1/series", params={**window, "match[]": '{__name__!=""}', "limit": "40000"}, headers=form))
        timed(f"label/route/values {name}", lambda: requests.get(f"{api}/api/v1/label/route/values", params=window))
    timed("metadata", lambda: requests.get(f"{api}/api/v1/metadata"))
    db.kill()


if __name__ == "__main__":
    main(sys.argv[1])
