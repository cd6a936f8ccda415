"""What a newcomer hits on the command line: dependencies, Ctrl-C, threads, one message each."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from dlscratch import (
    SGD,
    Dense,
    LambdaCallback,
    Linear,
    MeanSquaredError,
    NeuralNetwork,
    Trainer,
    TrainingDivergedError,
)
from dlscratch.cli import main
from dlscratch.demos import boston as boston_demo
from dlscratch.demos import mnist as mnist_demo
from dlscratch.train import History


def hide(monkeypatch, *modules: str) -> None:
    """Make ``modules`` look uninstalled to the demos' dependency check and to imports."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name.split(".")[0] in modules:
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("demo, missing, names", [
    ("boston", ("matplotlib",), "matplotlib"),
    ("boston", ("sklearn", "matplotlib"), "scikit-learn, matplotlib"),
    ("mnist", ("matplotlib",), "matplotlib"),
])
def test_a_demo_checks_its_packages_before_any_work_with_one_hint(tmp_path, monkeypatch, capsys,
                                                                  demo, missing, names):
    hide(monkeypatch, *missing)
    trained = []
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: trained.append(1))
    out = tmp_path / "outputs"
    assert main(["demo", demo, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"dlscratch demo {demo} needs {names}, not installed here" in err
    assert err.count("pip install") == 1 and err.count("\n") == 1
    assert trained == [] and not out.exists()


def interrupting_fit(after_epoch: int):
    """Trainer.fit that gets a Ctrl-C at the end of ``after_epoch`` (fit catches it)."""
    real_fit = Trainer.fit

    def fit(self, *args, **kwargs):
        def hook(trainer, epoch, logs):
            if epoch == after_epoch:
                raise KeyboardInterrupt

        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [
            LambdaCallback(on_epoch_end=hook)]
        return real_fit(self, *args, **kwargs)

    return fit


@pytest.mark.parametrize("argv, module", [
    (["demo", "boston", "--seeds", "2"], boston_demo),
    (["demo", "mnist", "--epochs", "2"], mnist_demo),
])
def test_ctrl_c_inside_fit_stops_the_demo_writes_nothing_and_exits_130(tmp_path, monkeypatch,
                                                                        capsys, argv, module):
    monkeypatch.setattr(module.Trainer, "fit", interrupting_fit(1))
    out = tmp_path / "out"
    assert main(argv + ["--quiet", "--out", str(out)]) == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err
    assert "Wrote" not in captured.out and "Done" not in captured.out
    assert not out.exists() or not any(out.iterdir())


def test_sigint_to_a_running_demo_exits_130_without_results(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dlscratch", "demo", "boston", "--seeds", "200", "--out",
         str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # as from a terminal: a test runner started in the background (``cmd &``) ignores
        # SIGINT, and a child that inherits the ignore never sees the Ctrl-C at all
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert "Boston housing" in process.stdout.readline()
        assert "BLAS threads" in process.stdout.readline()
        # the first network is trained: the next Ctrl-C lands inside fit, the case that was
        # swallowed (one landing inside a library's import may end the process by SIGINT
        # itself, a CPython rule; a shell reports that as 130 too)
        assert "seed 20190501" in process.stdout.readline()
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert "Wrote" not in stdout
    assert not (out / "boston.json").exists()


def test_demo_boston_takes_epochs(tmp_path, capsys):
    assert main(["demo", "boston", "--seeds", "1", "--epochs", "3", "--quiet", "--out",
                 str(tmp_path)]) == 0
    results = json.loads((tmp_path / "boston.json").read_text())
    assert results["training"]["epochs"] == 3
    for network in results["networks"].values():
        assert network["runs"][0]["epochs_run"] <= 3


def test_the_demo_says_how_many_blas_threads_it_fixed(tmp_path, capsys):
    assert main(["demo", "boston", "--seeds", "1", "--epochs", "1", "--threads", "2", "--out",
                 str(tmp_path)]) == 0
    assert "BLAS threads: 2 (fixed by --threads" in capsys.readouterr().out
    results = json.loads((tmp_path / "boston.json").read_text())
    assert results["environment"]["blas_threads"] == 2


def test_a_missing_threadpoolctl_is_reported_not_ignored(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    assert main(["demo", "boston", "--seeds", "1", "--epochs", "1", "--quiet", "--out",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "threadpoolctl is not installed, so --threads 1 has no effect" in out
    results = json.loads((tmp_path / "boston.json").read_text())
    assert results["environment"]["blas_threads"] is None


def test_full_mnist_missing_never_says_check_the_network(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLSCRATCH_DATA", str(tmp_path / "empty"))
    assert main(["demo", "mnist", "--full", "--epochs", "1", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "check the network" not in err
    assert "download them once with python -c" in err and err.count("To fix") == 1


# ---------------------------------------------------------------------- said once, said short
def test_a_divergence_is_said_once_by_the_exception(capsys, caplog):
    X = np.random.default_rng(0).normal(size=(32, 3)) * 100
    net = NeuralNetwork([Dense(4), Dense(1, Linear())], MeanSquaredError(), seed=1)
    with caplog.at_level(logging.WARNING, logger="dlscratch"), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TrainingDivergedError, match="Training diverged"):
            Trainer(net, SGD(lr=1e6)).fit(X, X[:, :1] * 1e3, epochs=5, verbose=False)
    assert [str(w.message) for w in caught] == []  # no NumPy overflow warnings either
    captured = capsys.readouterr()
    assert "diverged" not in captured.err + captured.out
    assert not [r for r in caplog.records if "diverged" in r.getMessage()]


def test_history_repr_is_a_short_summary():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X.sum(axis=1, keepdims=True)
    net = NeuralNetwork([Dense(4), Dense(1, Linear())], MeanSquaredError(), seed=1)
    history = Trainer(net, SGD(0.01)).fit(X, y, X, y, epochs=30, eval_every=5, verbose=False,
                                          early_stopping=False)
    text = repr(history)
    assert text.startswith("History(epochs_run=30, train_loss=")
    assert "best_epoch=" in text and "mae=" in text and "\n" not in text and len(text) < 250
    assert str(history) == text
    assert repr(History()) == "History(epochs_run=0)"


def test_an_output_folder_that_refuses_files_fails_before_training(tmp_path, monkeypatch,
                                                                  capsys):
    from dlscratch import _io

    def refuse(folder, prefix):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_io, "_create_temporary", refuse)
    trained = []
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: trained.append(1))
    for demo in ("boston", "mnist"):
        assert main(["demo", demo, "--out", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        assert "does not accept new files" in err and str(tmp_path / "out") in err
    assert trained == []


def test_an_out_name_with_a_nul_character_is_an_argument_error(capsys):
    assert main(["demo", "boston", "--out", "a\0b"]) == 2
    assert "is not a folder name" in capsys.readouterr().err


def test_an_interrupted_demo_leaves_no_empty_folder_it_created(tmp_path, monkeypatch):
    monkeypatch.setattr(boston_demo.Trainer, "fit", interrupting_fit(1))
    assert main(["demo", "boston", "--seeds", "1", "--quiet", "--out",
                 str(tmp_path / "new")]) == 130
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    assert main(["demo", "boston", "--seeds", "1", "--quiet", "--out",
                 str(tmp_path / "mine")]) == 130
    assert (tmp_path / "mine").is_dir()  # a folder the user had is never removed
