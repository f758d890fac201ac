"""The built extension installs and loads the ways the README promises."""
import subprocess

import duckdb


def run_cli(cli: str, sql: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([cli, "-unsigned", "-csv", "-noheader", "-c", sql],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_installs_from_local_repository(duckdb_cli, repository, tmp_path):
    sql = (f"SET extension_directory='{tmp_path}/ext'; INSTALL canardstack FROM '{repository}'; "
           "LOAD canardstack; SELECT canardstack_version();")
    result = run_cli(duckdb_cli, sql, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.1.0"


def test_cli_installs_through_custom_extension_repository(duckdb_cli, repository, tmp_path):
    sql = (f"SET extension_directory='{tmp_path}/ext'; SET custom_extension_repository='{repository}'; "
           "INSTALL canardstack; LOAD canardstack; "
           "SELECT extension_name, installed, loaded FROM duckdb_extensions() WHERE extension_name='canardstack';")
    result = run_cli(duckdb_cli, sql, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "canardstack,true,true"


def test_python_loads_the_file(extension):
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{extension}'")
    assert con.execute("SELECT canardstack_version()").fetchall() == [("0.1.0",)]
    assert duckdb.__version__ == "1.5.5"


def test_unsigned_load_is_refused_without_the_setting(extension):
    con = duckdb.connect()
    try:
        con.execute(f"LOAD '{extension}'")
    except duckdb.Error as error:
        assert "signature" in str(error).lower()
    else:
        raise AssertionError("an unsigned extension loaded without allow_unsigned_extensions")
