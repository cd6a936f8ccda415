"""The book's chapter 5: a convolutional network on MNIST, and a small modern one beside it.

The book's network is one ``Conv2D`` layer (16 filters of 5x5, Glorot initialisation, tanh,
dropout keeping 80%, flattened) and a ``Dense(10)`` output, trained with softmax cross-entropy
and ``SGDMomentum(lr=0.1, momentum=0.9)`` for one epoch of batches of 60, seed 20190402. The
modern network has two blocks of ``Conv2D(5x5) ReLU -> BatchNorm -> MaxPool2D(2)`` (16 and 32
filters), then ``Dense(128, ReLU)`` with dropout and ``Dense(10)``, trained with Adam (learning
rate 0.002 decaying exponentially to 0.0002) for 10 epochs. Both see MNIST-5k (4,000 / 1,000,
offline, scaled as the book scales: by the training set's global mean and standard deviation),
or the full MNIST with ``full=True`` once it is cached.

The demo prints the test accuracy and the time of every epoch (and a progress line every few
seconds inside long epochs), then draws the book network's 16 learned filters and the test
digits the modern network gets wrong, and writes every figure to a JSON file.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..activations import Linear, ReLU, Tanh
from ..callbacks import LambdaCallback
from ..conv import Conv2D
from ..layers import Dense
from ..losses import SoftmaxCrossEntropy
from ..network import NeuralNetwork
from ..normalization import BatchNorm
from ..optimizers import Adam, Optimizer, SGDMomentum
from ..pooling import MaxPool2D
from ..reshape import Flatten
from ..train import Trainer
from ._common import (
    DatasetUnavailable,
    Log,
    blas_threads,
    environment,
    format_table,
    quiet_log,
    threads_note,
    write_json,
)

BOOK_SEED = 20190402
BATCH_SIZE = 60
BOOK_EPOCHS = 1
MODERN_EPOCHS = 10
PROGRESS_SECONDS = 5.0
#: The book's figure (its chapter 5 notebook): full MNIST, one epoch, 1,000 batches.
BOOK_ACCURACY = 89.37


def book_network(seed: int = BOOK_SEED, dtype: str = "float32") -> NeuralNetwork:
    """The book's chapter 5 network: Conv2D(16, 5x5, glorot, tanh, keep 0.8) -> Dense(10)."""
    return NeuralNetwork(
        layers=[Conv2D(out_channels=16, param_size=5, dropout=0.8, weight_init="glorot",
                       flatten=True, activation=Tanh()),
                Dense(neurons=10, activation=Linear())],
        loss=SoftmaxCrossEntropy(), seed=seed, dtype=dtype)


def modern_network(seed: int = BOOK_SEED, dtype: str = "float32",
                   dropout: float = 0.7) -> NeuralNetwork:
    """Two Conv2D(5x5) ReLU -> BatchNorm -> MaxPool2D(2) blocks (16, 32), Dense(128), Dense(10).

    ``dropout`` is the keep probability of the 128 hidden units (1.0: no dropout).
    """
    return NeuralNetwork(
        layers=[Conv2D(16, 5, weight_init="he", activation=ReLU()), BatchNorm(), MaxPool2D(2),
                Conv2D(32, 5, weight_init="he", activation=ReLU()), BatchNorm(), MaxPool2D(2),
                Flatten(),
                Dense(128, activation=ReLU(), weight_init="he", dropout=dropout),
                Dense(10, activation=Linear(), weight_init="glorot")],
        loss=SoftmaxCrossEntropy(), seed=seed, dtype=dtype)


def book_optimizer() -> Optimizer:
    return SGDMomentum(lr=0.1, momentum=0.9)


def modern_optimizer() -> Optimizer:
    return Adam(lr=0.002, final_lr=0.0002, decay_type="exponential")


def cnn_data(full: bool = False, dtype: str = "float32", limit: int | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """X_train, labels_train, X_test, labels_test, description; X as (n, 1, 28, 28) images.

    Scaled as the book scales (the chapter 4 demo's ``mnist_data``); ``limit`` keeps the first
    ``limit`` training and ``limit // 4`` test images (for quick checks).
    """
    from .mnist import mnist_data

    X_train, y_train, X_test, y_test, source = mnist_data(full, dtype)
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
        X_test, y_test = X_test[:max(limit // 4, 1)], y_test[:max(limit // 4, 1)]
        source += f", first {len(X_train):,} / {len(X_test):,}"
    return (X_train.reshape(-1, 1, 28, 28), y_train, X_test.reshape(-1, 1, 28, 28), y_test,
            source)


class BatchProgress:
    """Prints a line every ``seconds`` inside an epoch: images done, elapsed time.

    It counts the optimizer's steps (the trainer calls ``step()`` once per batch), so it needs
    no hook in the trainer: ``attach(optimizer)`` wraps that one optimizer's ``step``.
    """

    def __init__(self, name: str, n_train: int, batch_size: int, epochs: int, log: Log,
                 seconds: float | None = None) -> None:
        self.name, self.n_train, self.batch_size, self.epochs = name, n_train, batch_size, epochs
        self.log = log
        self.seconds = PROGRESS_SECONDS if seconds is None else seconds
        self.steps = 0
        self.epoch = 1
        self.epoch_started = self.last = time.perf_counter()

    def attach(self, optimizer: Optimizer) -> None:
        step = optimizer.step

        def counted_step() -> None:
            step()
            self.tick()

        optimizer.step = counted_step  # type: ignore[method-assign]

    def begin_epoch(self, epoch: int) -> None:
        self.epoch, self.steps = epoch, 0
        self.epoch_started = self.last = time.perf_counter()

    def tick(self) -> None:
        self.steps += 1
        now = time.perf_counter()
        if now - self.last >= self.seconds:
            self.last = now
            done = min(self.steps * self.batch_size, self.n_train)
            self.log(f"    {self.name}, epoch {self.epoch}/{self.epochs}: {done:,} of "
                     f"{self.n_train:,} images, {now - self.epoch_started:.0f} s")


def accuracy(net: NeuralNetwork, X: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose largest output is the label."""
    return float(np.mean(net.predict(X).argmax(axis=1) == labels))


def train_network(name: str, net: NeuralNetwork, optimizer: Optimizer, epochs: int,
                  data: tuple, log: Log = quiet_log, seed: int = BOOK_SEED) -> dict[str, Any]:
    """Train from the network's seed; per epoch the test accuracy and the seconds it took."""
    from ..datasets import one_hot

    X_train, labels_train, X_test, labels_test = data[:4]
    progress = BatchProgress(name, len(X_train), BATCH_SIZE, epochs, log)
    progress.attach(optimizer)
    curve: dict[str, list] = {"epoch": [], "accuracy": [], "seconds": []}

    def epoch_begin(trainer: Trainer, epoch: int) -> None:
        progress.begin_epoch(epoch)

    def epoch_end(trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - progress.epoch_started
        value = accuracy(trainer.net, X_test, labels_test)
        curve["epoch"].append(epoch)
        curve["accuracy"].append(value)
        curve["seconds"].append(seconds)
        log(f"  {name}, epoch {epoch}/{epochs}: test accuracy {value:.2%}, "
            f"{seconds:.1f} s ({len(X_train) / seconds:,.0f} images/s), "
            f"training loss {logs['loss']:.3f}")

    started = time.perf_counter()
    dtype = net.dtype
    history = Trainer(net, optimizer).fit(
        X_train, one_hot(labels_train, 10, dtype=dtype), X_test, one_hot(labels_test, 10,
                                                                         dtype=dtype),
        epochs=epochs, eval_every=1, batch_size=BATCH_SIZE, seed=seed, early_stopping=False,
        verbose=False,
        callbacks=[LambdaCallback(on_epoch_begin=epoch_begin, on_epoch_end=epoch_end)])
    predictions = net.predict(X_test).argmax(axis=1)
    wrong = np.flatnonzero(predictions != labels_test)
    return {"name": name, "network": [repr(layer) for layer in net.layers],
            "optimizer": repr(optimizer), "parameters": net.count_params(), "epochs": epochs,
            "accuracy": curve["accuracy"][-1], "curve": curve,
            "seconds": time.perf_counter() - started,
            "train_loss": history.train_loss,
            "misclassified": {"index": wrong, "label": labels_test[wrong],
                              "predicted": predictions[wrong]}}


def cnn_experiment(full: bool = False, epochs: int = MODERN_EPOCHS, dtype: str = "float32",
                   log: Log = quiet_log, limit: int | None = None
                   ) -> tuple[dict[str, Any], dict[str, NeuralNetwork], tuple]:
    """Train both networks; return the results (JSON-ready), the networks and the data."""
    log("Loading " + ("the full MNIST from the cache" if full else "MNIST-5k") + " ...")
    try:
        data = cnn_data(full, dtype, limit)
    except (FileNotFoundError, ValueError) as error:
        if not full:
            raise
        # the loader's message already says how to download it once
        raise DatasetUnavailable(f"the full MNIST is not usable from the cache: {error}") \
            from error
    nets = {"book": book_network(BOOK_SEED, dtype), "modern": modern_network(BOOK_SEED, dtype)}
    runs = {
        "book": train_network("the book's network", nets["book"], book_optimizer(),
                              BOOK_EPOCHS, data, log),
        "modern": train_network("modern CNN", nets["modern"], modern_optimizer(), epochs,
                                data, log),
    }
    results = {
        "experiment": "Deep Learning from Scratch, chapter 5: convolutional networks on MNIST",
        "data": {"source": data[4], "n_train": len(data[0]), "n_test": len(data[2]),
                 "scaling": "(X - mean(X_train)) / std(X_train), global (the book's)"},
        "training": {"seed": BOOK_SEED, "batch_size": BATCH_SIZE,
                     "book_epochs": BOOK_EPOCHS, "modern_epochs": epochs},
        "book_accuracy": BOOK_ACCURACY,
        "networks": runs,
    }
    return results, nets, data


def cnn_table(results: dict[str, Any]) -> str:
    """One row per network and epoch: test accuracy and the epoch's time."""
    headers = ["network", "epoch", "test accuracy", "seconds", "images/s"]
    rows = []
    n_train = results["data"]["n_train"]
    for run in results["networks"].values():
        curve = run["curve"]
        for epoch, value, seconds in zip(curve["epoch"], curve["accuracy"], curve["seconds"]):
            rows.append([run["name"], epoch, f"{100 * value:.2f}%", f"{seconds:.1f}",
                         f"{n_train / seconds:,.0f}"])
    return format_table(headers, rows)


def plot_cnn(results: dict[str, Any], nets: dict[str, NeuralNetwork], X_test: np.ndarray,
             path: str | os.PathLike, shown: int = 24) -> None:
    """Left: the book network's 16 learned 5x5 filters. Right: test digits the modern CNN misses."""
    from ..backend import to_host
    from ..plots import _pyplot, save_figure

    plt = _pyplot()
    filters = to_host(nets["book"].layers[0].params[0])[:, 0]  # (16, 5, 5)
    wrong = results["networks"]["modern"]["misclassified"]
    count = min(shown, len(wrong["index"]))
    figure = plt.figure(figsize=(14, 5.5))
    grid = figure.add_gridspec(4, 4 + 8, wspace=0.3, hspace=0.45)
    for i in range(16):
        ax = figure.add_subplot(grid[i // 4, i % 4])
        limit = float(np.abs(filters[i]).max()) or 1.0
        ax.imshow(filters[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.text(0.2, 0.95, "the book's network: its 16 learned 5x5 filters",
                ha="center", fontsize=11)
    for j in range(count):
        ax = figure.add_subplot(grid[j // 8 % 4, 4 + j % 8])
        index = wrong["index"][j]
        ax.imshow(X_test[index, 0], cmap="gray_r")
        ax.set_title(f"{wrong['label'][j]} -> {wrong['predicted'][j]}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    modern = results["networks"]["modern"]
    missed = len(wrong["index"])
    which = f"all {missed}" if count == missed else f"the first {count} of {missed}"
    figure.text(0.66, 0.95, f"modern CNN: {missed} of {results['data']['n_test']:,} test digits "
                f"missed ({100 * modern['accuracy']:.2f}% right); {which} shown, "
                f"label -> prediction", ha="center", fontsize=11)
    save_figure(figure, path)


def run_cnn(full: bool = False, epochs: int = MODERN_EPOCHS, out: str | os.PathLike = "outputs",
            quiet: bool = False, dtype: str = "float32", threads: int | None = 1,
            echo: Log = print, limit: int | None = None) -> dict[str, Any]:
    """Train both networks, print the table, write ``cnn.png``/``cnn.json`` (``cnn_full.*``).

    matplotlib is imported before any training, so a missing one fails at once (ImportError).
    Raises DatasetUnavailable when ``full`` and the full MNIST is not (intact) in the cache.
    """
    from ..plots import _pyplot

    _pyplot()
    log = quiet_log if quiet else echo
    started = time.perf_counter()
    note, applied = threads_note(threads)
    (log if applied else echo)(note)
    log(f"MNIST, the book's chapter 5: its CNN ({BOOK_EPOCHS} epoch, SGD with momentum) and a "
        f"modern one ({epochs} epoch{'s' if epochs > 1 else ''}, Adam); seed {BOOK_SEED}, "
        f"batch {BATCH_SIZE}")
    with blas_threads(threads):
        results, nets, data = cnn_experiment(full, epochs, dtype, log, limit)
    results["seconds"] = time.perf_counter() - started
    results["environment"] = environment(threads, dtype)
    stem = "cnn_full" if full else "cnn"
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, stem + ".png")
    json_path = os.path.join(out, stem + ".json")
    plot_cnn(results, nets, data[2], png)
    results["files"] = {"png": os.path.abspath(png), "json": os.path.abspath(json_path)}
    write_json(json_path, results)
    book, modern = results["networks"]["book"], results["networks"]["modern"]
    echo("")
    echo(results["data"]["source"])
    echo(cnn_table(results))
    echo("")
    echo(f"The book's network after one epoch: {book['accuracy']:.2%} (the book: "
         f"{BOOK_ACCURACY:.2f}% on the full MNIST, 1,000 batches against our "
         f"{-(-results['data']['n_train'] // BATCH_SIZE):,}).")
    echo(f"The modern CNN after {epochs} epoch{'s' if epochs > 1 else ''}: "
         f"{modern['accuracy']:.2%}.")
    echo(f"Wrote {results['files']['png']}")
    echo(f"Wrote {results['files']['json']}")
    echo(f"Done in {results['seconds']:.1f} s.")
    return results
