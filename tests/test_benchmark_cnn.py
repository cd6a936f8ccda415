"""The CNN benchmark runs end to end, tiny, and its hand-written floor is exact (no speed checked).

Speed is never asserted in a unit test (a shared machine makes timings flaky). This keeps the
CNN workloads of ``benchmarks/run.py`` from rotting, and checks that the hand-written NumPy
loop, the floor the benchmark measures dlscratch against, computes the same gradients as torch
(float64) for both networks, so that its speed is that of the right computation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import import_torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def test_cnn_benchmark_runs_tiny_and_the_systems_agree(tmp_path):
    import_torch()
    records_path = tmp_path / "records.jsonl"
    env = {**os.environ, "DLSCRATCH_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--workloads", "cnn-book",
         "cnn-modern", "--rounds", "1", "--repeats", "1", "--limit", "256", "--no-extras",
         "--json", str(records_path)],
        capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "targets:" in done.stdout and "book library's convolution" in done.stdout
    records = [json.loads(line) for line in records_path.read_text().splitlines()]
    runs = {(r["workload"], r["system"]): r for r in records if "system" in r}
    assert set(runs) == {("cnn-book", s) for s in ("torch", "dlscratch", "numpy", "book",
                                                   "book-loops")} | \
        {("cnn-modern", s) for s in ("torch", "dlscratch", "numpy")}
    assert not any("error" in r for r in runs.values()), runs
    for record in runs.values():
        assert record["samples_per_s"] > 0 and record["peak_mb"] >= 0
    # same weights, same batches: the book's network ends at about the same accuracy
    accuracy = {s: runs[("cnn-book", s)]["metric"] for s in ("torch", "dlscratch", "numpy")}
    assert max(accuracy.values()) - min(accuracy.values()) <= 0.01, accuracy


@pytest.mark.parametrize("arch", ["book", "modern"])
def test_the_hand_written_floor_computes_torchs_gradients(arch, monkeypatch):
    torch = import_torch()
    import cnn

    monkeypatch.setattr(cnn, "DTYPE", np.float64)
    rng = np.random.default_rng(0)
    X = rng.random((24, 1, 28, 28))
    X[:, :, :4] = 0.0  # blank rows, as in MNIST: max-pool ties that torch breaks its way
    y = rng.integers(0, 10, 24)
    init = cnn.initial_weights(arch)
    captured = []
    original = cnn._momentum

    def capture(params, grads, velocities, lr, momentum):
        captured.append([grad.copy() for grad in grads])  # before the update scales them
        original(params, grads, velocities, lr, momentum)

    monkeypatch.setattr(cnn, "_momentum", capture)
    train = cnn.numpy_floor_book if arch == "book" else cnn.numpy_floor_modern
    train(init, X, y, [np.arange(24)], 24, 0.01, 0.9)

    nn = torch.nn
    if arch == "book":
        model = nn.Sequential(nn.Conv2d(1, 16, 5, padding="same"), nn.Tanh(), nn.Flatten(),
                              nn.Linear(16 * 28 * 28, 10))
        keys = ("conv_W", "conv_b", "dense_W", "dense_b")
    else:
        c1, c2, k = *cnn.MODERN_CHANNELS, cnn.MODERN_KERNEL
        model = nn.Sequential(
            nn.Conv2d(1, c1, k, padding="same"), nn.ReLU(), nn.BatchNorm2d(c1), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, k, padding="same"), nn.ReLU(), nn.BatchNorm2d(c2), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * 49, 10))
        keys = cnn.MODERN_KEYS
    model = model.double()
    with torch.no_grad():
        for param, key in zip(model.parameters(), keys, strict=True):
            param.copy_(torch.from_numpy(init[key]))
    nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    for param, grad in zip(model.parameters(), captured[0], strict=True):
        expected = param.grad.numpy()
        np.testing.assert_allclose(grad.reshape(expected.shape), expected, rtol=1e-9,
                                   atol=1e-12 * np.abs(expected).max())


def test_the_books_convolution_is_the_books_including_its_bugs():
    """The timed book code is the book's: its forward is a correlation (right), its looped
    input gradient flips the kernel (right), the library's does not (its documented bug)."""
    torch = import_torch()
    from book_conv import LincolnConv2D, loop_conv_input_grad, loop_conv_output

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 7, 7))
    param = rng.standard_normal((2, 3, 3, 3))  # the book's (in, out, k, k)
    weight = torch.from_numpy(param.transpose(1, 0, 2, 3).copy())
    tx = torch.from_numpy(x).requires_grad_()
    out = torch.nn.functional.conv2d(tx, weight, padding=1)
    grad = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(LincolnConv2D(param).forward(x), out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(loop_conv_output(x, param), out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(loop_conv_input_grad(x, grad, param), tx.grad.numpy(),
                               atol=1e-12)
    op = LincolnConv2D(param)
    op.forward(x)
    assert not np.allclose(op.input_grad(grad), tx.grad.numpy())
