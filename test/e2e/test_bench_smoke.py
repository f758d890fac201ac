"""A short run of the ingest benchmark (scripts/bench/ingest.py): the script works end to end
and its own exactly-once check holds. It times nothing: the figures depend on the machine and
live in BENCHMARKS.md."""
import ast
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pacing", [[], ["--rate", "2"], ["--transport", "grpc"]],
                         ids=["closed-loop", "open-loop", "grpc"])
def test_ingest_benchmark_runs_and_stores_every_acknowledged_record(extension, ducklake_extension, pacing):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench/ingest.py"), "--seconds", "4", "--warmup", "0.5", "--senders", "1",
         "--connections", "2", "--records", "100", "--bodies", "4",
         "--extension", str(extension), "--ducklake", str(ducklake_extension), *pacing],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    accepted = re.search(r"accepted: (\d+) requests, (\d+) items", result.stdout)
    assert accepted, result.stdout
    requests, records = int(accepted[1]), int(accepted[2])
    assert requests > 0 and records == requests * 100
    stored = ast.literal_eval(re.search(r"rows stored (\{.*?\})", result.stdout)[1])
    probes = int(re.search(r"^  logs .* visibility \((\d+) probes\)", result.stdout, re.MULTILINE)[1])
    assert stored == {"logs": records + probes}
    assert probes >= 3, "the probe posts a marker every 200 ms while senders run"
    for figure in ("throughput:", "ack latency after the warm-up", "visibility (", "committed while sending"):
        assert figure in result.stdout
    transport = "grpc" if "--transport" in pacing else "http"
    assert f"transport={transport}" in result.stdout
    if "--rate" in pacing:
        # paced at 2 MB/s: no more than the schedule allows, however fast the server (the
        # schedule is set by the bodies' mean size, and each request is paced by its own size;
        # the figure is printed to 0.1 MB); unpaced, two connections send many times as much
        assert "offered=2.0 MB/s (open loop)" in result.stdout
        sent_mb = float(re.search(r"items, ([\d.]+) MB protobuf", result.stdout)[1])
        assert sent_mb <= 2.0 * 4 * 1.02 + 2 * sent_mb / requests + 0.05, result.stdout
