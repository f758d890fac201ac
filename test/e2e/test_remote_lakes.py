"""otlp_serve into DuckLakes that are not a local file: data files on object storage
(S3, served by moto) and a catalog in PostgreSQL (a throwaway cluster). Both write
routes, a kill -9 after acknowledgements, replay on restart, exactly-once rows, and
a second DuckDB without canardstack reading the lake back."""
import glob
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import boto3
import duckdb
import pytest
import requests
from moto.server import ThreadedMotoServer

from harness import free_port
from otlp_bodies import logs_request

PROTOBUF = {"Content-Type": "application/x-protobuf"}
SITE = pathlib.Path(duckdb.__file__).resolve().parents[1]


def extension_file(name, package):
    path = SITE / package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    assert path.exists(), f"{package} is missing from the venv (make venv): {path}"
    return path


@pytest.fixture(scope="module")
def s3():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
    yield client, f"{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def postgres():
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert initdb, "PostgreSQL server binaries are missing (scripts/install_test_services.sh installs them)"
    bin_dir = pathlib.Path(initdb[-1]).parent
    # not under pytest's tmp dir: that is private to our user, and PostgreSQL runs as its own
    base = pathlib.Path(tempfile.mkdtemp(prefix="canardstack-postgres-"))
    as_owner = []
    if os.getuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = base / "data"
    subprocess.run(as_owner + [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(as_owner + [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
                               "-w", "start"], check=True, capture_output=True)
    yield port
    subprocess.run(as_owner + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


class Lake:
    """How to reach one kind of lake: extensions to load, set-up SQL, the ATTACH."""

    def __init__(self, kind, load, setup, attach, data_prefix):
        self.kind, self.load, self.setup, self.attach, self.data_prefix = kind, load, setup, attach, data_prefix

    def open_in(self, con):
        for path in self.load:
            con.execute(f"LOAD '{path}'") if hasattr(con, "execute") else con.sql(f"LOAD '{path}'")
        for statement in self.setup + [self.attach]:
            con.execute(statement) if hasattr(con, "execute") else con.sql(statement)


@pytest.fixture(params=["s3", "postgres"])
def lake(request, tmp_path):
    name = f"lake_{request.node.name.split('[')[0][-8:]}_{time.monotonic_ns()}"
    if request.param == "s3":
        client, endpoint = request.getfixturevalue("s3")
        client.create_bucket(Bucket=name.replace("_", "-"))
        bucket = name.replace("_", "-")
        secret = (f"CREATE OR REPLACE SECRET s3lake (TYPE s3, KEY_ID 'test', SECRET 'test', ENDPOINT '{endpoint}', "
                  "URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")
        return Lake("s3", [extension_file("httpfs", "duckdb_extension_httpfs")], [secret],
                    f"ATTACH 'ducklake:{tmp_path}/catalog.ducklake' AS lake (DATA_PATH 's3://{bucket}/data/')",
                    f"s3://{bucket}/data/")
    port = request.getfixturevalue("postgres")
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q", "-c",
                    f"CREATE DATABASE {name}"], check=True, capture_output=True)
    data = tmp_path / "pgdata"
    return Lake("postgres", [extension_file("postgres_scanner", "duckdb_extension_postgres_scanner")], [],
                f"ATTACH 'ducklake:postgres:host=127.0.0.1 port={port} user=postgres dbname={name}' AS lake "
                f"(DATA_PATH '{data}/')", f"{data}/")


def start_server(duckdb_process, lake, inline_rows, flush_interval_ms=50):
    db = duckdb_process()
    lake.open_in(db)
    port = free_port()
    row = db.sql(f"SELECT * FROM otlp_serve({port}, retention := INTERVAL '0 days', catalog := 'lake', flush_interval_ms := {flush_interval_ms}, "
                 f"inline_rows := {inline_rows})")[0]
    return db, row


def read_back(lake, ducklake_extension, sql):
    con = duckdb.connect()
    con.execute(f"LOAD '{ducklake_extension}'")
    lake.open_in(con)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("inline_rows", [1, 10_000], ids=["parquet", "inlined"])
def test_acknowledged_logs_survive_kill_and_land_once(duckdb_process, lake, ducklake_extension, inline_rows):
    # the first server never flushes on its own, so everything it acknowledged must replay
    db, first = start_server(duckdb_process, lake, inline_rows, flush_interval_ms=600_000)
    url = first["endpoint"]
    sent = []
    for i in range(6):
        bodies = [f"req{i}-line{j}" for j in range(50)]
        reply = requests.post(f"{url}/v1/logs", data=logs_request(bodies, start=1_767_225_600_000_000_000 + i * 1000),
                              headers=PROTOBUF)
        assert reply.status_code == 200, reply.text
        sent += bodies
    db.kill()  # acknowledged means spooled and fsynced, not yet committed

    db, second = start_server(duckdb_process, lake, inline_rows)
    assert (second["writer_id"], second["replayed_records"]) == (first["writer_id"], 6)
    stopped = db.sql("SELECT * FROM otlp_stop()")[0]
    assert stopped["spool_backlog_records"] == 0
    db.kill()

    rows = read_back(lake, ducklake_extension, "SELECT body, count(*) FROM lake.otel.logs GROUP BY body ORDER BY body")
    assert rows == sorted((body, 1) for body in sent)
    checkpoint = read_back(lake, ducklake_extension,
                           "SELECT writer_id, seq FROM lake.otel.canardstack_checkpoints")
    assert checkpoint == [(first["writer_id"], 6)]
    files = read_back(lake, ducklake_extension,
                      "SELECT data_file FROM ducklake_list_files('lake', 'logs', schema => 'otel')")
    # written as Parquet (inline_rows := 1) or flushed out of the catalog at stop
    assert files and all(f.startswith(lake.data_prefix) for (f,) in files), files


def test_retention_deletes_old_rows_and_their_files_from_remote_storage(duckdb_process, lake, ducklake_extension):
    db = duckdb_process()
    lake.open_in(db)
    port = free_port()
    db.sql(f"CALL otlp_serve({port}, catalog := 'lake', retention := INTERVAL '1 hour', "
           "snapshot_retention := INTERVAL '0 seconds', compact_interval_ms := 3600000, flush_interval_ms := 50, "
           "inline_rows := 1)")
    deadline = time.time() + 30
    while db.sql("SELECT maintenance_rounds AS n FROM otlp_status()")[0]["n"] < 1:
        assert time.time() < deadline, "no round at start"
        time.sleep(0.05)
    now = time.time_ns()
    for i, age_hours in enumerate([3, 3, 0]):
        bodies = [f"{'old' if age_hours else 'fresh'}{i}-line{j}" for j in range(50)]
        reply = requests.post(f"http://127.0.0.1:{port}/v1/logs", headers=PROTOBUF,
                              data=logs_request(bodies, start=now - age_hours * 3600 * 10**9))
        assert reply.status_code == 200, reply.text
        while db.sql("SELECT spool_backlog_records AS n FROM otlp_status()")[0]["n"]:
            assert time.time() < deadline, "commit"
            time.sleep(0.05)
    done = {r["table_name"]: r for r in db.sql("SELECT * FROM otlp_maintenance()")}
    assert (done["logs"]["rows_deleted"], done["logs"]["files_dropped"]) == (100, 2)
    assert db.sql("SELECT last_error FROM otlp_status()")[0]["last_error"] is None
    stored = {row["file"].rsplit("/", 1)[1] for row in
              db.sql(f"SELECT file FROM glob('{lake.data_prefix}otel/logs/*.parquet')")}
    referenced = {row["data_file"].rsplit("/", 1)[1] for row in
                  db.sql("SELECT data_file FROM ducklake_list_files('lake', 'logs', schema => 'otel')")}
    assert stored == referenced and len(referenced) == 1, (stored, referenced)
    db.sql("CALL otlp_stop()")
    db.kill()
    rows = read_back(lake, ducklake_extension, "SELECT count(*), count(*) FILTER (body LIKE 'fresh%') FROM lake.otel.logs")
    assert rows == [(50, 50)]
