"""A short run of the ingest benchmark with all three signals mixed: every request it
sends is answered, and every acknowledged log record, span and metric point is stored
exactly once, in the table of its signal. (Speed is the benchmark's business, not a test's.)"""
import ast
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_a_mixed_run_stores_every_acknowledged_item_of_every_signal_once(extension, ducklake_extension):
    # the warm-up outlasts the run, so no visibility probes: only the senders' items count
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench/ingest.py"), "--seconds", "3", "--warmup", "3", "--senders", "1",
         "--connections", "2", "--bodies", "4", "--records", "200", "--spans", "100",
         "--mix", "logs=60,traces=25,metrics=15", "--extension", extension, "--ducklake", ducklake_extension],
        capture_output=True, text=True, timeout=600)
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    accepted = {}
    for signal in ("logs", "traces", "metrics"):
        line = next(l for l in done.stdout.splitlines() if l.strip().startswith(signal + " "))
        requests = int(re.search(r"(\d+) requests", line).group(1))
        assert requests > 0, line
        accepted[signal] = requests
    stored = ast.literal_eval(re.search(r"rows stored (\{.*?\})", done.stdout).group(1))
    per_request = {"logs": 200, "traces": 100, "metrics": 25}
    assert stored == {signal: accepted[signal] * per_request[signal] for signal in accepted}
    assert "requests without an answer within 30 s: 0" in done.stdout
