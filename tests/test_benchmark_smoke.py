"""The benchmark command runs end to end and the two systems agree (figures are not checked).

Speed is never asserted in a unit test (a shared machine makes timings flaky); this only keeps
``benchmarks/run.py`` from rotting: it must run, print its table and targets, and find the same
test RMSE in dlscratch, torch and the hand-written NumPy loop from the same initial weights and
batches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import import_torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_runs_and_both_systems_agree(tmp_path):
    import_torch()  # the benchmark's reference system; a failure, not a skip, in CI
    records_path = tmp_path / "records.jsonl"
    env = {**os.environ, "DLSCRATCH_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--workloads", "boston",
         "--rounds", "1", "--repeats", "1", "--no-extras", "--json", str(records_path)],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "targets:" in done.stdout and "boston" in done.stdout, done.stdout
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    by_system = {record["system"]: record for record in records if "system" in record}
    assert set(by_system) == {"torch", "dlscratch", "numpy", "gemm"}, by_system
    assert not any("error" in record for record in by_system.values()), by_system
    ours, theirs, floor = by_system["dlscratch"], by_system["torch"], by_system["numpy"]
    assert ours["metric_name"] == theirs["metric_name"] == floor["metric_name"] == "rmse"
    assert round(ours["metric"], 3) == round(theirs["metric"], 3) == round(floor["metric"], 3)
    for record in (ours, theirs, floor):
        assert record["samples_per_s"] > 0 and len(record["samples_per_s_runs"]) == 1
