"""The Python test runners can fail: scripts/promqltest and scripts/sqllogictest.py
run on small temporary files that must fail (and, for contrast, ones that must
pass), asserting the exit status, the FAIL lines and the summary line."""
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

LOAD = """\
load 1m
  m{a="1"} 1 2 3
  n{a="1"} 10
"""


def run(script, *args):
    """(exit status, FAIL lines, last line) of a runner; the whole output is printed for a failing test."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    print(done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    return done.returncode, [l for l in lines if l.startswith("FAIL")], lines[-1] if lines else done.stderr


@pytest.fixture
def promqltest(tmp_path, extension, ducklake_extension):
    """Runs scripts/promqltest on `t.test` with the given text and skip list."""

    def start(text, skips=""):
        (tmp_path / "t.test").write_text(textwrap.dedent(text))
        (tmp_path / "skips.txt").write_text(skips)
        return run("promqltest", "--extension", extension, "--ducklake-extension", ducklake_extension,
                   "--expected-skips", tmp_path / "skips.txt", tmp_path / "t.test")

    return start


def test_promqltest_passes_a_right_eval_and_fails_a_wrong_value(promqltest):
    assert promqltest(LOAD + '\neval instant at 2m m\n  m{a="1"} 3\n') == (0, [], "1 passed, 0 failed, 0 skipped")
    status, fails, summary = promqltest(LOAD + '\neval instant at 2m m\n  m{a="1"} 4\n')
    assert (status, summary) == (1, "0 passed, 1 failed, 0 skipped")
    assert len(fails) == 1 and fails[0].startswith("FAIL ") and "t.test:5 m:" in fails[0]


# line 5: an eval whose expected result is a native histogram, which we do not store
SKIPPING = LOAD + "\neval instant at 0 m\n  {} {{schema:0 sum:1 count:1}}\n"


def test_promqltest_an_unlisted_skip_fails(promqltest):
    status, fails, summary = promqltest(SKIPPING)
    assert (status, summary) == (1, "0 passed, 1 failed, 0 skipped")
    assert "t.test:5" in fails[0] and "unexpected skip (native histogram samples are not supported)" in fails[0]
    assert promqltest(SKIPPING, "t.test:5  # native histograms\n") == (0, [], "0 passed, 0 failed, 1 skipped")
    # an entry for the Rust runner only does not cover this one
    assert promqltest(SKIPPING, "t.test:5 rust  # in-memory only\n")[0] == 1


def test_promqltest_a_stale_expected_skip_fails(promqltest):
    passing = LOAD + '\neval instant at 0 n\n  n{a="1"} 10\n'
    status, fails, summary = promqltest(passing, "t.test:5  # was broken once\n")
    assert (status, summary) == (1, "0 passed, 1 failed, 0 skipped")
    assert "t.test:5" in fails[0] and "stale expected skip: remove it" in fails[0]
    status, fails, summary = promqltest(passing, "t.test:2  # no eval there\n")
    assert (status, summary) == (1, "1 passed, 1 failed, 0 skipped")
    assert "t.test:2: stale expected skip: remove it" in fails[0]
    # an entry of a file that did not run is not stale
    assert promqltest(passing, "other.test:2  # elsewhere\n") == (0, [], "1 passed, 0 failed, 0 skipped")
    # and a skip list without reasons is refused
    status, fails, summary = promqltest(passing, "t.test:5\n")
    assert (status, summary) == (1, "0 passed, 1 failed, 0 skipped") and "no `# reason`" in fails[0]


MALFORMED = [
    ("eval instant at 0 n\n  expect foo\n", "unknown expectation 'foo'"),
    ("eval instant at 0 n\n  expect fail msg:\n", "without a message"),
    ("eval instant at 0 n\n  expect fail\n  expect fail msg: x\n", "more than one expect fail line"),
    ('eval instant at 0 n\n  n{a="1"} 10 11\n', "one value per series"),
    ("eval_fail instant at xyz n\n", "bad time 'xyz'"),
    ("evaluate instant at 0 n\n", "unknown statement 'evaluate'"),
]


def test_promqltest_a_malformed_test_fails_and_cannot_be_listed_away(promqltest):
    text, lines = LOAD, []
    for eval_text, _ in MALFORMED:
        lines.append(text.count("\n") + 2)  # after a blank line
        text += "\n" + eval_text
    listed = "".join(f"t.test:{n}  # listed\n" for n in lines)
    for skips in ("", listed):
        status, fails, summary = promqltest(text, skips)
        assert (status, summary) == (1, f"0 passed, {len(MALFORMED)} failed, 0 skipped"), skips
        for fail, line, (_, why) in zip(fails, lines, MALFORMED):
            assert f"t.test:{line}" in fail and "malformed test" in fail and why in fail, fail


def test_promqltest_expect_fail_checks_the_message(promqltest):
    collide = 'eval instant at 0 abs({__name__=~"m|n"})\n'
    exact = "  expect fail msg: vector cannot contain metrics with the same labelset\n"
    assert promqltest(LOAD + "\n" + collide + exact) == (0, [], "1 passed, 0 failed, 0 skipped")
    status, fails, summary = promqltest(LOAD + "\n" + collide + "  expect fail msg: vector cannot contain\n")
    assert (status, summary) == (1, "0 passed, 1 failed, 0 skipped")
    assert "expected the error 'vector cannot contain', got 'vector cannot contain metrics with the same labelset'" \
        in fails[0]
    assert promqltest(LOAD + "\n" + collide + "  expect fail regex: same label(set|s)$\n")[0] == 0
    assert promqltest(LOAD + "\n" + collide + "  expect fail regex: ^duplicate\n")[0] == 1
    status, fails, _ = promqltest(LOAD + "\neval instant at 0 n\n  expect fail\n")
    assert status == 1 and fails[0].endswith("expected an error, got a result")
    # a query that does not parse is an expected failure, with the parser's message
    assert promqltest(LOAD + "\neval instant at 0 sum(\n  expect fail regex: ^promql parse error\n")[0] == 0


def sqllogictest(tmp_path, extension, ducklake_extension, text):
    (tmp_path / "t.test").write_text(textwrap.dedent(text))
    return run("sqllogictest.py", "--extension", extension, "--ducklake-extension", ducklake_extension,
               tmp_path / "t.test")


def test_sqllogictest_statement_error_needs_a_message(tmp_path, extension, ducklake_extension, capsys):
    bare = "statement error\nSELECT no_such_column\n"
    status, fails, summary = sqllogictest(tmp_path, extension, ducklake_extension, bare)
    assert (status, summary) == (1, "0 passed, 1 failed")
    assert fails == [f"FAIL {tmp_path / 't.test'}:1: statement error"]
    assert "syntax error in test file: statement error needs the expected error message after ----" \
        in capsys.readouterr().out
    empty = "statement error\nSELECT no_such_column\n----\n"
    assert sqllogictest(tmp_path, extension, ducklake_extension, empty)[:2] == (1, [
        f"FAIL {tmp_path / 't.test'}:1: statement error"])
    wrong = "statement error\nSELECT no_such_column\n----\nno such table\n"
    status, fails, summary = sqllogictest(tmp_path, extension, ducklake_extension, wrong)
    assert (status, summary) == (1, "0 passed, 1 failed")
    right = "statement error\nSELECT no_such_column\n----\nReferenced column \"no_such_column\" was not found\n"
    assert sqllogictest(tmp_path, extension, ducklake_extension, right) == (0, [], "1 passed, 0 failed")


def test_crash_check_reports_missing_and_doubled_items():
    from crash_ingest import problems
    acked = {"logs": {"a", "b"}, "traces": {"t"}, "metrics": {"m"}}
    clean = {"logs": {"a": 1, "b": 1}, "traces": {"t": 1}, "metrics_gauge": {"m": 1}, "metrics_histogram": {"m": 1}}
    assert problems(acked, clean) == {}
    broken = {**clean, "logs": {"a": 2}, "metrics_histogram": {}}
    assert problems(acked, broken) == {
        "logs": {"missing": ["b"], "missing_count": 1, "duplicated": ["a"], "duplicated_count": 1},
        "metrics_histogram": {"missing": ["m"], "missing_count": 1, "duplicated": [], "duplicated_count": 0},
    }
