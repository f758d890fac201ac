"""A short run of the ingest benchmark (scripts/bench/ingest.py): the script works end to end
and its own exactly-once check holds. It times nothing: the figures depend on the machine and
live in BENCHMARKS.md."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pacing", [[], ["--rate", "2"]], ids=["closed-loop", "open-loop"])
def test_ingest_benchmark_runs_and_stores_every_acknowledged_record(extension, ducklake_extension, pacing):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench/ingest.py"), "--seconds", "4", "--warmup", "0.5", "--senders", "1",
         "--connections", "2", "--records", "100", "--bodies", "4",
         "--extension", str(extension), "--ducklake", str(ducklake_extension), *pacing],
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
    for figure in ("throughput:", "ack latency after the warm-up", "visibility lag", "committed while sending"):
        assert figure in result.stdout
    if pacing:
        # paced at 2 MB/s: no more than the schedule allows, however fast the server (the
        # schedule is set by the first body's size, the others differ by a few bytes; the
        # figure is printed to 0.1 MB); unpaced, two connections send many times as much
        assert "offered=2.0 MB/s (open loop)" in result.stdout
        sent_mb = float(re.search(r"records, ([\d.]+) MB protobuf", result.stdout)[1])
        assert sent_mb <= 2.0 * 4 * 1.02 + 2 * sent_mb / requests + 0.05, result.stdout
