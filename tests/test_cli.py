"""The dlscratch command: its arguments, its errors, and the demos it runs."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlscratch import __version__
from dlscratch.cli import build_parser, main

pytest.importorskip("sklearn")
pytest.importorskip("mlxtend")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "dlscratch.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- arguments
def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dlscratch {__version__}"


def test_defaults_follow_the_book():
    boston = build_parser().parse_args(["demo", "boston"])
    assert (boston.seeds, boston.out, boston.quiet, boston.dtype) == (8, "outputs", False,
                                                                      "float32")
    mnist = build_parser().parse_args(["demo", "mnist"])
    assert (mnist.full, mnist.epochs, mnist.out) == (False, 50, "outputs")


@pytest.mark.parametrize("argv, expected", [
    ([], "required"),
    (["demo"], "required"),
    (["demo", "cifar"], "invalid choice"),
    (["demo", "boston", "--seeds", "0"], "--seeds: expected a positive integer, got 0"),
    (["demo", "boston", "--seeds", "-3"], "--seeds"),
    (["demo", "boston", "--seeds", "many"], "expected a positive integer, got 'many'"),
    (["demo", "boston", "--epochs", "0"], "--epochs: expected a positive integer"),
    (["demo", "boston", "--seeds", "99999999999999999999999"], "up to 1,000"),
    (["demo", "boston", "--seeds", "9" * 5000], "--seeds: expected a positive integer"),
    (["demo", "boston", "--epochs", "1000001"], "up to 100,000"),
    (["demo", "mnist", "--epochs", "10000000000"], "up to 100,000"),
    (["demo", "mnist", "--threads", "100000"], "up to 1,024"),
    (["demo", "boston", "--threads", "0"], "--threads: expected a positive integer"),
    (["demo", "mnist", "--epochs", "0"], "--epochs: expected a positive integer"),
    (["demo", "mnist", "--epochs", "1.5"], "--epochs"),
    (["demo", "mnist", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["demo", "boston", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments_exit_2_with_a_message(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: dlscratch" in err
    assert expected in err
    assert "Traceback" not in err


def test_out_that_is_a_file_is_an_argument_error(tmp_path, capsys):
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    assert main(["demo", "boston", "--seeds", "1", "--out", str(a_file)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_the_module_runs_as_a_command_without_traceback():
    result = run_cli("demo", "boston", "--seeds", "zero")
    assert result.returncode == 2
    assert "--seeds" in result.stderr and "Traceback" not in result.stderr
    assert run_cli("--version").stdout.strip() == f"dlscratch {__version__}"


# ---------------------------------------------------------------- demo boston
def test_demo_boston_prints_the_table_and_writes_png_and_json(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["demo", "boston", "--seeds", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for text in ("book RMSE", "linear regression", "neural network", "deep learning",
                 "5.01", "4.03", "3.82", str(out / "boston.png"), str(out / "boston.json")):
        assert text in printed
    png = (out / "boston.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    results = json.loads((out / "boston.json").read_text())
    assert results["training"]["seeds"] == [20190501]
    assert results["data"]["n_train"] == 354 and results["data"]["n_test"] == 152
    limits = {"linear regression": 6.5, "neural network": 6.0, "deep learning": 6.0}
    for name, limit in limits.items():
        run = results["networks"][name]["runs"][0]
        assert math.isfinite(run["rmse"]) and 2.0 < run["rmse"] < limit, (name, run["rmse"])
        assert math.isfinite(run["mae"]) and 0 < run["mae"] < run["rmse"]
        assert run["history"]["val_loss"], name
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left"


def test_demo_boston_quiet_prints_no_progress(tmp_path, capsys):
    assert main(["demo", "boston", "--seeds", "1", "--quiet", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "seed 20190501  linear" not in printed
    assert "book RMSE" in printed


# ---------------------------------------------------------------- demo mnist
def test_demo_mnist_one_epoch_runs_the_ladder(tmp_path, capsys):
    assert main(["demo", "mnist", "--epochs", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "MNIST-5k" in printed and "72.58%" in printed and "Best:" in printed
    assert (tmp_path / "mnist.png").read_bytes().startswith(PNG_MAGIC)
    results = json.loads((tmp_path / "mnist.json").read_text())
    assert results["training"]["epochs"] == 1
    assert len(results["steps"]) == 10
    for step in results["steps"]:
        assert step["epochs_run"] == 1
        assert 0.1 < step["accuracy"] <= 1.0, step["title"]
    # one epoch of the softmax steps already beats chance by far
    assert max(step["accuracy"] for step in results["steps"]) > 0.8


def test_demo_mnist_full_without_the_cache_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLSCRATCH_DATA", str(tmp_path / "empty-cache"))
    code = main(["demo", "mnist", "--full", "--epochs", "1", "--out", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert "--full: the full MNIST is not usable from the cache" in err
    assert "load_mnist()" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "mnist_full.json").exists()


def test_demo_mnist_full_reads_the_cached_files(tmp_path, monkeypatch, capsys):
    """A small stand-in for the four MNIST files, registered under their checksums."""
    from dlscratch import datasets

    cache = tmp_path / "cache"
    rng = np.random.default_rng(0)
    files = {}
    for name, count in (("train-images-idx3-ubyte.gz", 300), ("t10k-images-idx3-ubyte.gz", 60)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        images.reshape(count, -1)[np.arange(count), labels * 70] = 255  # a learnable signal
        label_name = name.replace("images-idx3", "labels-idx1")
        datasets.write_idx(cache / name, images)
        datasets.write_idx(cache / label_name, labels)
        for written in (name, label_name):
            files[written] = hashlib.md5((cache / written).read_bytes()).hexdigest()
    monkeypatch.setattr(datasets, "MNIST_FILES", files)
    monkeypatch.setenv("DLSCRATCH_DATA", str(cache))
    out = tmp_path / "out"
    assert main(["demo", "mnist", "--full", "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    assert "full MNIST" in capsys.readouterr().out
    results = json.loads((out / "mnist_full.json").read_text())
    assert (results["data"]["n_train"], results["data"]["n_test"]) == (300, 60)
    assert (out / "mnist_full.png").read_bytes().startswith(PNG_MAGIC)
