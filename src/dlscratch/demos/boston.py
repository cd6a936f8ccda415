"""The book's chapter 3 experiment: three networks on the Boston housing prices.

Linear regression, a network with one hidden layer and a "deep" one with two, each trained
with SGD(lr=0.01) for 50 epochs with the book's early stopping, on the book's data and split:
the 13 features standardized over the whole data set, then ``train_test_split(test_size=0.3,
random_state=80718)``. The book ran each once with seed 20190501; our random generators are
not the book's (NumPy's legacy global state), so the same seed draws other initial weights
and batches. The demo therefore also runs further seeds and reports their median and best.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from ..activations import Linear, Sigmoid
from ..layers import Dense
from ..losses import MeanSquaredError
from ..network import NeuralNetwork
from ..optimizers import SGD
from ..train import Trainer
from ._common import (
    Log,
    blas_threads,
    check_interrupted,
    environment,
    format_table,
    output_folder,
    quiet_log,
    relative_difference,
    require,
    threads_note,
    within,
    write_json,
)

BOOK_SEED = 20190501
SPLIT_SEED = 80718
EPOCHS = 50
EVAL_EVERY = 10
LEARNING_RATE = 0.01

#: What the book printed for each network (DLFS_code, 03_dlfs/Code.ipynb: "Mean absolute
#: error" and "Root mean squared error", two decimals).
BOOK_RESULTS: dict[str, dict[str, float]] = {
    "linear regression": {"mae": 3.52, "rmse": 5.01},
    "neural network": {"mae": 2.60, "rmse": 4.03},
    "deep learning": {"mae": 2.45, "rmse": 3.82},
}


def boston_seeds(count: int) -> list[int]:
    """The book's seed first, then the ``count - 1`` integers after it."""
    if count < 1:
        raise ValueError(f"boston_seeds: count must be >= 1, got {count}")
    return [BOOK_SEED + k for k in range(count)]


def boston_data(dtype: str = "float32") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X_train (354, 13), X_test (152, 13), y_train (354, 1), y_test (152, 1): the book's split.

    Standardized as ``StandardScaler().fit_transform(data)`` on all 506 rows (the book's
    preprocessing), then split by scikit-learn with the book's ``random_state``.
    """
    from sklearn.model_selection import train_test_split

    from ..datasets import load_boston

    data, target = load_boston()
    data = (data - data.mean(axis=0)) / data.std(axis=0)  # StandardScaler: population std
    X_train, X_test, y_train, y_test = train_test_split(data, target, test_size=0.3,
                                                        random_state=SPLIT_SEED)
    return (X_train.astype(dtype), X_test.astype(dtype),
            y_train.reshape(-1, 1).astype(dtype), y_test.reshape(-1, 1).astype(dtype))


def boston_networks(seed: int, dtype: str = "float32") -> dict[str, NeuralNetwork]:
    """The book's three networks, in its order: linear regression, one hidden layer, two."""
    return {
        "linear regression": NeuralNetwork(
            layers=[Dense(neurons=1, activation=Linear())],
            loss=MeanSquaredError(), seed=seed, dtype=dtype),
        "neural network": NeuralNetwork(
            layers=[Dense(neurons=13, activation=Sigmoid()),
                    Dense(neurons=1, activation=Linear())],
            loss=MeanSquaredError(), seed=seed, dtype=dtype),
        "deep learning": NeuralNetwork(
            layers=[Dense(neurons=13, activation=Sigmoid()),
                    Dense(neurons=13, activation=Sigmoid()),
                    Dense(neurons=1, activation=Linear())],
            loss=MeanSquaredError(), seed=seed, dtype=dtype),
    }


def regression_errors(net: NeuralNetwork, X_test: np.ndarray, y_test: np.ndarray
                      ) -> dict[str, float]:
    """MAE and RMSE of the network's predictions, as the book's ``eval_regression_model``."""
    difference = net.predict(X_test).astype(np.float64) - y_test.astype(np.float64)
    return {"mae": float(np.mean(np.abs(difference))),
            "rmse": float(np.sqrt(np.mean(difference * difference)))}


def boston_experiment(seeds: int = 8, dtype: str = "float32", log: Log = quiet_log,
                      epochs: int = EPOCHS) -> dict[str, Any]:
    """Train the three networks for each seed; return every number (JSON-ready)."""
    X_train, X_test, y_train, y_test = boston_data(dtype)
    networks: dict[str, dict[str, Any]] = {
        name: {"book": BOOK_RESULTS[name], "runs": []} for name in BOOK_RESULTS}
    for seed in boston_seeds(seeds):
        for name, net in boston_networks(seed, dtype).items():
            started = time.perf_counter()
            trainer = Trainer(net, SGD(lr=LEARNING_RATE))
            history = trainer.fit(X_train, y_train, X_test, y_test, epochs=epochs,
                                  eval_every=min(EVAL_EVERY, epochs), seed=seed, verbose=False)
            check_interrupted(history)
            errors = regression_errors(net, X_test, y_test)
            run = {"seed": seed, **errors, "epochs_run": history.epochs_run,
                   "best_epoch": history.best_epoch, "seconds": time.perf_counter() - started}
            if seed == BOOK_SEED:
                run["history"] = history.to_dict()
            networks[name]["runs"].append(run)
            log(f"  seed {seed}  {name:<17}  RMSE {errors['rmse']:.3f}  MAE {errors['mae']:.3f}"
                f"  (stopped after {history.epochs_run} epochs, best {history.best_epoch})")
    for result in networks.values():
        rmses = [run["rmse"] for run in result["runs"]]
        book_run = result["runs"][0]
        best = min(result["runs"], key=lambda run: run["rmse"])
        book_rmse = result["book"]["rmse"]
        result["summary"] = {
            "rmse_book_seed": book_run["rmse"], "mae_book_seed": book_run["mae"],
            "median_rmse": statistics.median(rmses), "best_rmse": best["rmse"],
            "best_seed": best["seed"], "worst_rmse": max(rmses),
            "book_seed_vs_book": relative_difference(book_run["rmse"], book_rmse),
            "best_vs_book": relative_difference(best["rmse"], book_rmse),
            "book_seed_within_10pct": within(book_run["rmse"], book_rmse),
            "best_within_10pct": within(best["rmse"], book_rmse),
        }
    return {
        "experiment": "Deep Learning from Scratch, chapter 3: Boston housing",
        "data": {"source": "mlxtend boston_housing_data (506 x 13)",
                 "scaling": "standardized over all rows (StandardScaler, as the book)",
                 "split": f"sklearn train_test_split(test_size=0.3, random_state={SPLIT_SEED})",
                 "n_train": len(X_train), "n_test": len(X_test)},
        "training": {"optimizer": f"SGD(lr={LEARNING_RATE})", "epochs": epochs,
                     "eval_every": min(EVAL_EVERY, epochs), "batch_size": 32,
                     "early_stopping": True,
                     "book_seed": BOOK_SEED, "seeds": boston_seeds(seeds)},
        "networks": networks,
    }


def _verdict(difference: float, ok: bool) -> str:
    return f"{'yes' if ok else 'no'} ({difference:+.1%})"


def boston_table(results: dict[str, Any]) -> str:
    """The results as a text table: the book's figures beside ours."""
    n = len(results["training"]["seeds"])
    headers = ["network", "book RMSE", "book MAE", "RMSE seed*", "MAE seed*",
               f"median RMSE ({n})", f"best RMSE ({n})", "within 10%? seed*",
               "within 10%? best"]
    rows = []
    for name, result in results["networks"].items():
        summary, book = result["summary"], result["book"]
        rows.append([name, f"{book['rmse']:.2f}", f"{book['mae']:.2f}",
                     f"{summary['rmse_book_seed']:.2f}", f"{summary['mae_book_seed']:.2f}",
                     f"{summary['median_rmse']:.2f}", f"{summary['best_rmse']:.2f}",
                     _verdict(summary["book_seed_vs_book"], summary["book_seed_within_10pct"]),
                     _verdict(summary["best_vs_book"], summary["best_within_10pct"])])
    return format_table(headers, rows)


def run_boston(seeds: int = 8, out: str | os.PathLike = "outputs", quiet: bool = False,
               dtype: str = "float32", threads: int | None = 1,
               echo: Log = print, epochs: int = EPOCHS) -> dict[str, Any]:
    """Run the experiment, print the table, write ``boston.png`` and ``boston.json`` into ``out``.

    ``echo`` prints the table and the paths; progress lines go to it too unless ``quiet``.
    Returns the results, with ``files`` naming what was written. Checks its optional packages
    first (MissingDependency); Ctrl-C stops it before anything is written (KeyboardInterrupt).
    """
    require("boston", ("sklearn", "mlxtend", "matplotlib"))
    from ..plots import plot_boston

    log = quiet_log if quiet else echo
    started = time.perf_counter()
    log(f"Boston housing, the book's chapter 3: 3 networks x {seeds} seed(s), "
        f"SGD(lr={LEARNING_RATE}), {epochs} epochs, early stopping")
    note, applied = threads_note(threads)
    (log if applied else echo)(note)
    # before any training: a folder that refuses files would lose the whole run
    with output_folder(out, "boston.json", "boston"), blas_threads(threads):
        results = boston_experiment(seeds, dtype, log, epochs)
    results["seconds"] = time.perf_counter() - started
    results["environment"] = environment(threads, dtype)
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, "boston.png")
    json_path = os.path.join(out, "boston.json")
    plot_boston(results, png)
    results["files"] = {"png": os.path.abspath(png), "json": os.path.abspath(json_path)}
    write_json(json_path, results)
    echo("")
    echo(boston_table(results))
    echo("")
    n = len(results["training"]["seeds"])
    echo(f"RMSE and MAE in $1000s on the {results['data']['n_test']} test houses. seed* = the "
         f"book's seed {BOOK_SEED}; median and best over {n} seed(s) from {BOOK_SEED}.")
    echo("within 10%? = |ours - book| / book <= 10% (in brackets: ours above (+) or below (-) "
         "the book's). Our generator is not the book's, so seed* does not draw its weights.")
    echo(f"Wrote {results['files']['png']}")
    echo(f"Wrote {results['files']['json']}")
    echo(f"Done in {results['seconds']:.1f} s.")
    return results
