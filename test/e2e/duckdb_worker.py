"""A DuckDB process for end-to-end tests: loads the extension under test, then
runs SQL read line by line from stdin (one JSON object per line) and answers
each with one JSON line on stdout. Tests drive it through `harness.DuckDB`, so
the server under test lives in its own process that can be killed with -9.
"""
import datetime
import decimal
import json
import sys
import uuid

import duckdb


def plain(value):
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, datetime.timedelta)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def main() -> None:
    database, extension, ducklake = sys.argv[1], sys.argv[2], sys.argv[3]
    con = duckdb.connect(database, config={"allow_unsigned_extensions": "true"})
    con.execute("SET TimeZone = 'UTC'")
    if ducklake:
        con.execute(f"LOAD '{ducklake}'")
    if extension:
        con.execute(f"LOAD '{extension}'")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            cursor = con.execute(request["sql"])
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = [dict(zip(columns, plain(row))) for row in cursor.fetchall()] if columns else []
            answer = {"rows": rows}
        except Exception as error:  # the test reads the message
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
