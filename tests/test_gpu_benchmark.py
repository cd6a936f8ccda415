"""benchmarks/gpu.py is ready for a GPU: its CPU dry run (NumPy, torch on the CPU) runs end to end.

No speed is asserted (a unit test never times anything); the dry run must print its table,
train dlscratch and PyTorch from the same weights on the same batches, and find the device
accuracy equal to the CPU run's (on the CPU they are the same run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import import_torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_gpu_benchmark_dry_run_on_the_cpu(tmp_path):
    import_torch()  # the benchmark's peer; a failure, not a skip, in CI
    records_path = tmp_path / "gpu.jsonl"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "gpu.py"), "--device", "cpu",
         "--batches", "16,64", "--rows", "256", "--epochs", "1", "--repeats", "1",
         "--data", "synthetic", "--text-iterations", "4", "--json", str(records_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "device: cpu" in done.stdout and "full float32" in done.stdout, done.stdout
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    assert not [r for r in records if "error" in r], records
    trained = [r for r in records if "skipped" not in r and r["workload"] != "text"]
    assert {(r["workload"], r["batch"]) for r in trained} >= {("mlp", 16), ("mlp", 64)}
    # what a batch costs the device, counted on the stand-in: no read back, no upload, and
    # (for the CNN) the one layout copy of the user's images
    for record in trained:
        assert record["transfers_per_batch"] == 0 and record["uploads_per_batch"] == 0, record
        assert record["layout_copies_per_batch"] == (1 if record["workload"] == "cnn" else 0)
        assert record["calls_per_batch"] > 0 and record["ms_per_batch"] > 0
        assert record["sync"] == "n/a"  # no GPU: nothing to check the synchronisation on
    (text,) = [r for r in records if r["workload"] == "text"]
    assert text["ms_per_batch"] > 0 and text["transfers_per_batch"] == 0
    assert text["uploads_per_batch"] == 0
    assert "ms/iteration; per iteration 0 reads, 0 uploads" in done.stdout
    for record in trained:
        assert record["dlscratch_per_s"] > 0 and record["torch_per_s"] > 0
        assert record["ratio"] == record["dlscratch_per_s"] / record["torch_per_s"]
        assert record["accuracy"] == record["accuracy_cpu"]
        if record["workload"] == "mlp":
            # same weights and batches, float32 in both: one epoch ends within a point of
            # torch. The CNN's tanh run on near-chance synthetic data is chaotic in float32
            # (measured 14.3% against 12.5% at batch 16): its twin is checked exactly below.
            assert abs(record["accuracy"] - record["accuracy_torch"]) <= 1.0, record
        assert f"{record['workload']:8} {record['batch']:>6}" in done.stdout
    for record in records:
        if "skipped" in record:  # a workload whose layers are not merged yet says so
            assert f"{record['workload']}: skipped: dlscratch.layers has no" in done.stdout


def test_the_gpu_benchmark_runs_dlscratch_through_cupys_code_paths(monkeypatch, tmp_path,
                                                                   capsys):
    """The device branch of the script (``--device cuda``) on a fake cupy: dlscratch only
    (PyTorch has no GPU here), checked against the CPU run it prints beside it."""
    import importlib.util

    from strict_array import install_fake_cupy

    install_fake_cupy(monkeypatch)
    spec = importlib.util.spec_from_file_location("gpu_benchmark",
                                                  os.path.join(ROOT, "benchmarks", "gpu.py"))
    gpu = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_benchmark", gpu)  # dataclasses look their module up
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts src/ first
    spec.loader.exec_module(gpu)
    records_path = tmp_path / "gpu.jsonl"
    status = gpu.main(["--device", "cuda", "--no-torch", "--workloads", "mlp", "--batches",
                       "32", "--rows", "192", "--epochs", "1", "--repeats", "1", "--data",
                       "synthetic", "--json", str(records_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "device: cuda:0" in out
    (record,) = [json.loads(line) for line in records_path.read_text().splitlines()]
    assert record["device"] == "cuda:0" and record["dlscratch_per_s"] > 0
    assert record["transfers_per_batch"] == 0 and record["sync"] == "n/a"  # no cupyx here
    assert record["accuracy"] == record["accuracy_cpu"]  # the fake computes with NumPy
    assert "torch_per_s" not in record


def test_the_gpu_benchmarks_torch_twins_compute_what_dlscratch_computes():
    """The twins the benchmark trains: same weights, same outputs (float32 rounding only)."""
    import importlib.util

    import numpy as np

    torch = import_torch()
    import dlscratch as dls

    spec = importlib.util.spec_from_file_location("gpu_benchmark_twins",
                                                  os.path.join(ROOT, "benchmarks", "gpu.py"))
    gpu = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gpu
    try:
        spec.loader.exec_module(gpu)
        X = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
        for name, shape in (("mlp", (784,)), ("cnn", (1, 28, 28))):
            workload = gpu.WORKLOADS[name]
            net = workload.network(dls).build(shape)
            model = workload.torch_model(torch, net)
            gpu.copy_weights(torch, net, model)
            rows = X.reshape(4, *shape)
            ours = net.predict(rows)
            theirs = model(torch.from_numpy(rows)).detach().numpy()
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(ours).max())
    finally:
        sys.modules.pop(spec.name, None)
