"""A short run of the ingest benchmark (scripts/bench/ingest.py): the script works end to end
and its own exactly-once check holds. It times nothing: the figures depend on the machine and
live in BENCHMARKS.md."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_ingest_benchmark_runs_and_stores_every_acknowledged_record(extension, ducklake_extension):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench/ingest.py"), "--seconds", "4", "--warmup", "0.5", "--senders", "1",
         "--connections", "2", "--records", "100", "--bodies", "4",
         "--extension", str(extension), "--ducklake", str(ducklake_extension)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    accepted = re.search(r"accepted: (\d+) requests, (\d+) records", result.stdout)
    assert accepted, result.stdout
    requests, records = int(accepted[1]), int(accepted[2])
    assert requests > 0 and records == requests * 100
    stored = re.search(r"rows stored (\d+) \(sent (\d+) \+ (\d+) probes\)", result.stdout)
    assert stored and int(stored[2]) == records
    assert int(stored[1]) == records + int(stored[3])
    assert int(stored[3]) >= 3, "the probe posts a marker every 200 ms while senders run"
    for figure in ("throughput:", "ack latency: p50", "visibility lag", "committed while sending"):
        assert figure in result.stdout
