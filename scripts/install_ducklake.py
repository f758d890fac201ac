#!/usr/bin/env python3
"""Install the DuckLake extension from its PyPI wheel into DuckDB's extension directory.

DuckDB's own extension repository is not reachable from our machines, so
`ATTACH 'ducklake:...'` can only autoload DuckLake if the file shipped in the
`duckdb-extension-ducklake` wheel was installed first. Prints the file's path,
which the test runners also load explicitly.
"""
import pathlib
import sys

import duckdb
import duckdb_extension_ducklake


def ducklake_file() -> pathlib.Path:
    package = pathlib.Path(duckdb_extension_ducklake.__file__).parent
    path = package / "extensions" / f"v{duckdb.__version__}" / "ducklake.duckdb_extension"
    if not path.exists():
        sys.exit(f"ducklake extension not found in the wheel at {path}")
    return path


def main() -> None:
    path = ducklake_file()
    con = duckdb.connect()
    con.execute(f"INSTALL '{path}'")
    con.execute("LOAD ducklake")
    print(path)


if __name__ == "__main__":
    main()
