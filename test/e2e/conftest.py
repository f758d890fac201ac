"""Shared fixtures: where the build under test and the venv's DuckDB live."""
import os
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _path(variable: str, default: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(os.environ.get(variable, str(default))).resolve()


@pytest.fixture(scope="session")
def extension() -> pathlib.Path:
    path = _path("CANARDSTACK_EXTENSION", ROOT / "build/release/canardstack.duckdb_extension")
    assert path.exists(), f"build the extension first (make release): {path}"
    return path


@pytest.fixture(scope="session")
def repository() -> pathlib.Path:
    return _path("CANARDSTACK_REPOSITORY", ROOT / "build/repository")


@pytest.fixture(scope="session")
def duckdb_cli() -> str:
    venv_cli = ROOT / ".venv/bin/duckdb"
    found = str(venv_cli) if venv_cli.exists() else shutil.which("duckdb")
    assert found, "the duckdb CLI from the venv (make venv) is missing"
    return found


@pytest.fixture(scope="session")
def ducklake_extension() -> str:
    path = os.environ.get("DUCKLAKE_EXTENSION")
    if not path:
        stamp = ROOT / ".venv/ducklake_extension_path"
        path = stamp.read_text().strip() if stamp.exists() else ""
    assert path, "DuckLake extension path unknown: run make venv"
    return path


@pytest.fixture
def duckdb_process(tmp_path, extension, ducklake_extension):
    """Factory for DuckDB processes with canardstack loaded, working in tmp_path."""
    from harness import DuckDB

    started = []

    def start(database=":memory:", cwd=None):
        process = DuckDB(cwd or tmp_path, extension, ducklake_extension, database)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def lake_reader(tmp_path, ducklake_extension):
    """A plain DuckDB connection (no canardstack) on the embedded default lake in tmp_path."""
    import duckdb

    def open_lake(directory=None):
        base = pathlib.Path(directory or tmp_path) / ".canardstack"
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"LOAD '{ducklake_extension}'")
        con.execute(f"ATTACH 'ducklake:{base}/catalog.ducklake' AS lake (DATA_PATH '{base}/data/', READ_ONLY)")
        return con

    return open_lake
