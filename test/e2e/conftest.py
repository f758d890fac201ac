"""Shared fixtures: where the build under test and the venv's DuckDB live."""
import os
import pathlib
import shutil

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
