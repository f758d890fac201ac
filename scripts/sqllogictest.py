#!/usr/bin/env python3
"""Run DuckDB-style sqllogictest files against the canardstack extension.

DuckDB extensions keep their SQL tests as sqllogictest files (`test/sql/**/*.test`)
and run them with the `unittest` binary of a DuckDB source build. We build against
the released DuckDB instead, and no runner for DuckDB's dialect of the format is on
PyPI, so this file implements the part of it our tests use, on top of the `duckdb`
Python package of the pinned version.

Supported: `# comments`, `require NAME`, `statement ok`, `statement error` (with the
expected message substring, or `<REGEX>:pattern`, after `----`: a `statement error`
without one is a malformed test, since any error would pass),
`query TYPES [rowsort|valuesort|nosort]`, `loop VAR START END` / `endloop` with
`${VAR}`, `mode skip` / `mode unskip`, `halt`, and the `__TEST_DIR__` token.

Each file gets a fresh in-memory connection and runs inside a fresh temporary
directory. Query values are rendered by DuckDB itself (the last statement is wrapped
in `SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (...)`, so it binds and runs once),
which prints them as DuckDB's own runner does: NULL as `NULL`, '' as `(empty)`. Only
statements that cannot be a subquery (EXPLAIN, INSERT ... RETURNING) are printed from
Python values, where TIMESTAMPTZ needs the `pytz` module.
Columns declared `R` also match numerically (so `1` matches `1.0`). The session time
zone is UTC, so TIMESTAMPTZ values print the same on every machine.
"""

import argparse
import math
import os
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

SORT_MODES = ("nosort", "rowsort", "valuesort")


@dataclass
class Record:
    line: int
    kind: str  # statement, query, require, mode, loop, halt, invalid
    args: list[str]
    sql: str = ""
    expected: list[str] = field(default_factory=list)
    body: list["Record"] = field(default_factory=list)  # loop body
    error: str = ""  # why an `invalid` record could not be parsed
    header: str = ""  # the directive line, for messages


def parse(text: str) -> list[Record]:
    """Split a test file into records; malformed ones become `invalid` records."""
    lines = text.splitlines()
    top: list[Record] = []
    stack = [top]  # innermost open loop body last
    loops: list[Record] = []
    i = 0
    while i < len(lines):
        number, words = i + 1, lines[i].split()
        i += 1
        if not words or words[0].startswith("#"):
            continue
        block: list[str] = []
        if words[0] not in ("require", "mode", "loop", "endloop", "halt"):
            # a record runs to the next blank line (or an `endloop` right after it)
            while i < len(lines) and lines[i].strip() and lines[i].strip() != "endloop":
                block.append(lines[i])
                i += 1
        rec = make_record(number, words, block)
        rec.header = lines[number - 1].strip()
        if rec.kind == "loop":
            stack[-1].append(rec)
            stack.append(rec.body)
            loops.append(rec)
        elif rec.kind == "endloop":
            if loops:
                stack.pop()
                loops.pop()
            else:
                rec.kind, rec.error = "invalid", "endloop without loop"
                stack[-1].append(rec)
        else:
            stack[-1].append(rec)
    for rec in loops:
        rec.kind, rec.error = "invalid", "loop without endloop"
    return top


def make_record(number: int, words: list[str], block: list[str]) -> Record:
    kind, args = words[0], words[1:]

    def invalid(why: str) -> Record:
        return Record(number, "invalid", words, sql="\n".join(block), error=why)

    if kind in ("require", "mode"):
        return Record(number, kind, args) if len(args) == 1 else invalid(f"{kind} takes 1 argument")
    if kind in ("halt", "endloop"):
        return Record(number, kind, args) if not args else invalid(f"{kind} takes no arguments")
    if kind == "loop":
        if len(args) != 3 or not all(re.fullmatch(r"-?\d+", a) for a in args[1:]):
            return invalid("expected: loop VAR START END")
        return Record(number, kind, args)
    if kind not in ("statement", "query"):
        return invalid(f"unknown directive {kind!r}")
    separator = block.index("----") if "----" in block else None
    sql_lines = block if separator is None else block[:separator]
    sql = "\n".join(l for l in sql_lines if not l.lstrip().startswith("#")).strip()
    expected = [] if separator is None else block[separator + 1:]
    if not sql:
        return invalid(f"{kind} without SQL")
    if kind == "statement":
        if args not in (["ok"], ["error"]):
            return invalid("expected: statement ok | statement error")
        if args == ["ok"] and separator is not None:
            return invalid("statement ok takes no ---- section")
        message = "\n".join(expected).strip()
        if args == ["error"] and (not message or message == "<REGEX>:"):
            # without one any error passes, even a typo in the test's own SQL
            return invalid("statement error needs the expected error message after ---- "
                           "(a substring of it, or <REGEX>:pattern)")
    else:
        sort_ok = len(args) < 2 or args[1] in SORT_MODES  # a third word (a label) is ignored
        if not args or not args[0].isalpha() or len(args) > 3 or not sort_ok:
            return invalid("expected: query TYPES [nosort|rowsort|valuesort]")
        if separator is None:
            return invalid("query without ---- line")
    return Record(number, kind, args, sql=sql, expected=expected)


def indent(text: str, prefix: str = "  ") -> str:
    return textwrap.indent(text, prefix)


def show(value) -> str:
    """One value as DuckDB's sqllogictest prints it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value) if value != "" else "(empty)"


def strip_trailing_semicolons(sql: str) -> str:
    tokens = duckdb.tokenize(sql)  # comments are not tokens, so `; -- note` is handled
    end = len(sql)
    while tokens and sql[tokens[-1][0]] == ";":
        end = tokens.pop()[0]
    return sql[:end]


def split_expected(lines: list[str], ncols: int) -> list[list[str]]:
    rows = [l.split("\t") if "\t" in l or ncols <= 1 else l.split() for l in lines]
    if ncols > 1 and rows and all(len(r) == 1 for r in rows) and len(rows) % ncols == 0:
        flat = [r[0] for r in rows]  # values listed one per line
        rows = [flat[k:k + ncols] for k in range(0, len(flat), ncols)]
    return rows


def same_value(expected: str, actual: str, type_letter: str) -> bool:
    if expected == actual:
        return True
    if type_letter != "R":
        return False
    try:
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


class FileRun:
    def __init__(self, path: Path, opts, tmpdir: str):
        self.path, self.opts, self.tmpdir = path, opts, tmpdir
        self.con = duckdb.connect(":memory:", config={"allow_unsigned_extensions": "true"})
        self.con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ output independent of the machine
        self.passed = self.failed = self.skipped = 0
        self.skipping = False
        self.skip_reason = ""

    def fail(self, rec: Record, sql: str, message: str) -> None:
        self.failed += 1
        print(f"FAIL {self.path}:{rec.line}: {rec.header}")
        if sql:
            print("  SQL:\n" + indent(sql, "    "))
        print(indent(message))

    def load(self, target: str) -> None:
        self.con.execute(f"LOAD '{target}'" if os.sep in target else f"LOAD {target}")

    def run(self, records: list[Record], env: dict[str, str]) -> bool:
        """Run records in order; False means stop the file (halt, skip, failed require)."""
        subst = lambda text: self.substitute(text, env)  # noqa: E731
        for rec in records:
            if rec.kind == "invalid":
                self.fail(rec, rec.sql, f"syntax error in test file: {rec.error}")
            elif rec.kind == "mode":
                if rec.args[0] not in ("skip", "unskip"):
                    self.fail(rec, "", f"unsupported mode {rec.args[0]!r}")
                self.skipping = rec.args[0] == "skip"
            elif rec.kind == "loop":
                var, start, end = rec.args[0], int(rec.args[1]), int(rec.args[2])
                for value in range(start, end):
                    if not self.run(rec.body, {**env, var: str(value)}):
                        return False
            elif self.skipping:
                self.skipped += rec.kind in ("statement", "query")
            elif rec.kind == "halt":
                return False
            elif rec.kind == "require":
                if not self.require(rec):
                    return False
            elif rec.kind == "statement":
                self.statement(rec, subst(rec.sql), subst("\n".join(rec.expected)))
            else:
                self.query(rec, subst(rec.sql), [subst(l) for l in rec.expected])
        return True

    def substitute(self, text: str, env: dict[str, str]) -> str:
        for name, value in env.items():
            text = text.replace("${" + name + "}", value)
        return text.replace("__TEST_DIR__", self.tmpdir)

    def require(self, rec: Record) -> bool:
        name = rec.args[0]
        ducklake = self.opts.ducklake_extension
        try:
            if name in ("canardstack", "ducklake") and ducklake:
                self.load(ducklake)  # canardstack stores its data in DuckLake
            if name == "canardstack":
                self.load(self.opts.extension)
            elif name != "ducklake" or not ducklake:
                self.load(name)
        except Exception as e:
            if name == "canardstack":
                self.fail(rec, "", f"cannot load the extension under test: {e}")
            else:
                self.skip_reason = f"require {name}: {str(e).splitlines()[0]}"
            return False
        return True

    def statement(self, rec: Record, sql: str, message: str) -> None:
        try:
            self.con.execute(sql)
            if self.con.description is not None:
                self.con.fetchall()
        except Exception as e:
            if rec.args == ["ok"]:
                return self.fail(rec, sql, f"unexpected error:\n{indent(str(e))}")
            if message.startswith("<REGEX>:"):
                found = re.search(message[len("<REGEX>:"):], str(e), re.DOTALL)
            else:
                found = message in str(e)
            if not found:
                expected_error = f"expected an error containing:\n{indent(message)}\n"
                return self.fail(rec, sql, f"{expected_error}actual error:\n{indent(str(e))}")
            self.passed += 1
            return
        if rec.args == ["error"]:
            return self.fail(rec, sql, "statement succeeded but an error was expected")
        self.passed += 1

    def fetch(self, sql: str) -> tuple[int | None, list[list[str]]]:
        """Run SQL; return the column count of the last statement and its rows as text."""
        *before, last = self.con.extract_statements(sql)
        for stmt in before:
            self.con.execute(stmt.query)
        text = strip_trailing_semicolons(last.query)
        if last.type == duckdb.StatementType.CALL:
            text = re.sub(r"\bCALL\b", "SELECT * FROM", text, count=1, flags=re.IGNORECASE)
        if last.type in (duckdb.StatementType.SELECT, duckdb.StatementType.CALL):
            text = f"SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (\n{text}\n)"
        self.con.execute(text)
        if self.con.description is None:
            return None, []
        return len(self.con.description), [[show(v) for v in row] for row in self.con.fetchall()]

    def query(self, rec: Record, sql: str, expected_lines: list[str]) -> None:
        types = rec.args[0]
        sort = rec.args[1] if len(rec.args) > 1 else "nosort"
        try:
            ncols, actual = self.fetch(sql)
        except Exception as e:
            return self.fail(rec, sql, f"unexpected error:\n{indent(str(e))}")
        if ncols is not None and ncols != len(types):
            return self.fail(rec, sql, f"query declares {len(types)} column(s), result has {ncols}")
        expected = split_expected(expected_lines, len(types))
        if sort == "rowsort":
            expected, actual = sorted(expected), sorted(actual)
        elif sort == "valuesort":
            expected = [[v] for v in sorted(v for row in expected for v in row)]
            actual = [[v] for v in sorted(v for row in actual for v in row)]
        letters = types if sort != "valuesort" else "T"
        same = len(expected) == len(actual) and all(
            len(e) == len(a) and all(same_value(x, y, t) for x, y, t in zip(e, a, letters))
            for e, a in zip(expected, actual))
        if not same:
            want, got = (indent("\n".join("\t".join(r) for r in rows) or "(no rows)")
                         for rows in (expected, actual))
            return self.fail(rec, sql, f"expected:\n{want}\nactual:\n{got}")
        self.passed += 1


def test_files(args: list[str]) -> list[Path]:
    files: list[Path] = []
    for arg in args:
        path = Path(arg)
        files.extend(sorted(path.rglob("*.test")) if path.is_dir() else [path])
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description="Run DuckDB sqllogictest files.")
    parser.add_argument("--extension", required=True, help="canardstack.duckdb_extension to test")
    parser.add_argument("--ducklake-extension", help="ducklake.duckdb_extension, loaded by "
                        "`require ducklake` and before the extension under test")
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    opts = parser.parse_args()
    opts.extension = os.path.abspath(opts.extension).replace("'", "''")
    if opts.ducklake_extension:
        opts.ducklake_extension = os.path.abspath(opts.ducklake_extension).replace("'", "''")
    sys.stdout.reconfigure(line_buffering=True)  # keep output if the extension crashes
    passed = failed = skipped = 0
    skipped_files = []
    home = os.getcwd()
    for path in test_files(opts.paths):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            print(f"FAIL {path}: {e}")
            failed += 1
            continue
        with tempfile.TemporaryDirectory(prefix="slt-", ignore_cleanup_errors=True) as tmpdir:
            os.chdir(tmpdir)
            run = FileRun(path, opts, tmpdir)
            try:
                run.run(parse(text), {})
            finally:
                run.con.close()
                os.chdir(home)
        print(f"{path}: {run.passed} passed, {run.failed} failed"
              + (f", skipped ({run.skip_reason})" if run.skip_reason else ""))
        passed, failed, skipped = passed + run.passed, failed + run.failed, skipped + run.skipped
        if run.skip_reason:
            skipped_files.append(path)
    if skipped or skipped_files:
        print(f"skipped: {skipped} record(s) by `mode skip`, "
              f"{len(skipped_files)} file(s) by `require`")
    if passed + failed == 0:
        print("no records ran")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed + failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
