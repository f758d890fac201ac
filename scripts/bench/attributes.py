#!/usr/bin/env python3
"""Attribute representation benchmark: the same 400,000 log rows written into a
DuckLake table with attributes as MAP(VARCHAR, VARCHAR), as JSON text, and as
VARIANT, the way canardstack's writer does it (a staged DuckDB table inserted
into the lake), then a typical attribute filter over each.

Write speed is given in OTLP-protobuf MB/s (234 bytes per record, as DESIGN.md's
ceilings), so it compares directly with the ingest target.

    .venv/bin/python scripts/bench/attributes.py
"""
import argparse
import pathlib
import tempfile
import time

import duckdb

PROTOBUF_BYTES_PER_RECORD = 234

ROWS_SQL = """
SELECT
    make_timestamp_ns(1767225600000000000 + i * 1000000) AS timestamp,
    'svc-' || (i % 4) AS service_name,
    'GET /api/v1/orders/' || (i % 99991) || ' completed in ' || (i % 997) || ' ms for customer '
        || lpad((i % 7919)::VARCHAR, 5, '0') || ' via gateway eu-west-' || (i % 3) || ' status=200 ok' AS body,
    lpad(to_hex(i), 32, '0') AS trace_id,
    lpad(to_hex(i + 1), 16, '0') AS span_id,
    'GET' AS method, '/api/v1/orders/{{id}}' AS route, '200' AS status,
    ['gold', 'silver', 'free'][(i % 3) + 1] AS tier
FROM range({rows}) t(i)
"""

VARIANTS = {
    "MAP(VARCHAR, VARCHAR)": (
        "MAP {'http.method': method, 'http.route': route, 'http.status_code': status, 'user.tier': tier}",
        "attrs['user.tier'] = 'gold'",
    ),
    "JSON text (VARCHAR)": (
        "to_json({'http.method': method, 'http.route': route, 'http.status_code': status, 'user.tier': tier})::VARCHAR",
        "attrs->>'$.\"user.tier\"' = 'gold'",
    ),
    "VARIANT": (
        "{'http.method': method, 'http.route': route, 'http.status_code': status, 'user.tier': tier}::VARIANT",
        "attrs.\"user.tier\"::VARCHAR = 'gold'",
    ),
}


def best_of(runs, action):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ducklake", default=(pathlib.Path(__file__).resolve().parents[2]
                                               / ".venv/ducklake_extension_path").read_text().strip())
    args = parser.parse_args()
    mb = args.rows * PROTOBUF_BYTES_PER_RECORD / 1e6
    print(f"{args.rows} rows ({mb:.0f} MB of OTLP protobuf), DuckDB {duckdb.__version__}, threads=2, best of {args.runs}")
    print(f"{'attributes':24} {'write to DuckLake':>18} {'filter query':>14} {'parquet bytes':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(config={"threads": "2"})
        con.execute(f"LOAD '{args.ducklake}'")
        con.execute(f"ATTACH 'ducklake:{tmp}/bench.ducklake' AS lake (DATA_PATH '{tmp}/data/')")
        con.execute(f"CREATE TEMP TABLE source AS {ROWS_SQL.format(rows=args.rows)}")
        for n, (name, (expression, predicate)) in enumerate(VARIANTS.items()):
            try:
                con.execute(f"CREATE TEMP TABLE staged{n} AS SELECT timestamp, service_name, body, trace_id, span_id, "
                            f"{expression} AS attrs FROM source")
            except duckdb.Error as error:
                print(f"{name:24} unavailable: {error}")
                continue

            def write():
                con.execute(f"CREATE OR REPLACE TABLE lake.t{n} AS SELECT * FROM staged{n} LIMIT 0")
                con.execute(f"INSERT INTO lake.t{n} SELECT * FROM staged{n}")

            write_seconds = best_of(args.runs, write)
            query = f"SELECT count(*) FROM lake.t{n} WHERE {predicate}"
            matches = con.execute(query).fetchone()[0]
            assert matches == (args.rows + 2) // 3, (name, matches)
            query_seconds = best_of(args.runs, lambda: con.execute(query).fetchone())
            size = con.execute(f"SELECT sum(data_file_size_bytes) FROM ducklake_list_files('lake', 't{n}')").fetchone()[0]
            print(f"{name:24} {mb / write_seconds:12.0f} MB/s {query_seconds * 1e3:11.1f} ms {size:14,}")


if __name__ == "__main__":
    main()
