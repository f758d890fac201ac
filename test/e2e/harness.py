"""Drives a DuckDB process running `duckdb_worker.py`: SQL in, rows out."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

WORKER = pathlib.Path(__file__).with_name("duckdb_worker.py")


class SqlError(Exception):
    pass


def wait_for(condition, what, timeout=30):
    """Polls `condition` until it returns something true (returned), or fails naming `what`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def committed(db, table) -> int:
    """Rows the running server has committed to `table`."""
    return db.sql("SELECT rows_committed FROM otlp_status()")[0]["rows_committed"].get(table, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DuckDB:
    """A DuckDB process with canardstack loaded, working in directory `cwd`."""

    def __init__(self, cwd, extension, ducklake, database=":memory:"):
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), database, str(extension or ""), str(ducklake or "")],
            cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        hello = self.process.stdout.readline()
        if not hello:
            raise RuntimeError(f"duckdb worker did not start: {self.process.stderr.read()}")

    def sql(self, query: str) -> list[dict]:
        self.process.stdin.write(json.dumps({"sql": query}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"duckdb worker died: {self.process.stderr.read()}")
        answer = json.loads(line)
        if "error" in answer:
            raise SqlError(answer["error"])
        return answer["rows"]

    def kill(self) -> None:
        """kill -9: no shutdown code runs, as in a crash."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def attach_lake(db, directory, read_only=False) -> None:
    """Attaches the DuckLake kept in `directory` (catalog `lake.ducklake`, files in `data/`) as `lake`."""
    mode = ", READ_ONLY" if read_only else ""
    db.sql(f"ATTACH 'ducklake:{directory}/lake.ducklake' AS lake (DATA_PATH '{directory}/data/'{mode})")


def lake_with_tables(directory, extension, ducklake) -> "DuckDB":
    """A DuckDB process with canardstack, attached to a new lake in `directory` that holds canardstack's tables."""
    writer = DuckDB(directory, extension, ducklake)
    attach_lake(writer, directory)
    writer.sql("CALL otlp_serve(0, retention := INTERVAL '0 days', catalog := 'lake')")  # creates the tables
    writer.sql("CALL otlp_stop()")
    return writer


def plain_lake_reader(directory, ducklake) -> "DuckDB":
    """A DuckDB process with DuckLake but not canardstack, attached read-only to the lake in `directory`."""
    reader = DuckDB(directory, "", ducklake)
    attach_lake(reader, directory, read_only=True)
    return reader
