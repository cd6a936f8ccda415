"""NeuralNetClassifier against scikit-learn's MLPClassifier on the digits data, in one run.

Both get the same rows (load_digits, pixels / 16, a stratified 75/25 split), the same hidden
sizes, activation (ReLU), optimizer (Adam, learning rate 0.001), epochs and batch size, and the
same seeds; MLPClassifier is kept from stopping before the last epoch (n_iter_no_change =
epochs) and keeps its own defaults otherwise (L2 alpha 1e-4). Each seed fits the two
back to back, alternating which goes first, with the same BLAS thread count (threadpoolctl);
fit time is the whole ``fit`` call. Prints accuracy (mean over seeds) and fit time (median) per
configuration and input dtype, the speed ratio (the median of the per-seed ratios) and the
targets: accuracy at least MLPClassifier's, fit at least 1.5x faster.

    python benchmarks/sklearn_digits.py [--seeds 5] [--threads 1] [--json out.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from dlscratch.sklearn import NeuralNetClassifier  # noqa: E402

#: (name, hidden sizes, epochs, batch size)
CONFIGS = [("sklearn defaults", (100,), 200, 200),
           ("dlscratch defaults", (100,), 100, 32)]


def make_estimators(hidden, epochs, batch_size, seed):
    ours = NeuralNetClassifier(hidden_layer_sizes=hidden, activation="relu", optimizer="adam",
                               learning_rate=0.001, epochs=epochs, batch_size=batch_size,
                               random_state=seed)
    theirs = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", solver="adam",
                           learning_rate_init=0.001, max_iter=epochs, batch_size=batch_size,
                           n_iter_no_change=epochs, random_state=seed)
    return {"dlscratch": ours, "sklearn": theirs}


def timed_fit(estimator, X, y) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="fits per system and row")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"],
                        help="dtype of X given to both estimators")
    parser.add_argument("--epochs", type=int, default=None, help="override every row's epochs")
    parser.add_argument("--json", help="write one JSON record per fit to this file")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25,
                                                        random_state=0, stratify=y)
    records = []
    print(f"digits: {len(X_train)} train / {len(X_test)} test rows, 64 features, 10 classes; "
          f"{args.seeds} seeds; BLAS threads {args.threads}; numpy {np.__version__}")
    header = (f"{'configuration':<50} {'X':<8} {'system':<10} {'accuracy':>9} "
              f"{'fit s (median)':>15} {'speed-up':>9}")
    print(header)
    print("-" * len(header))
    targets = []
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for name, hidden, epochs, batch_size in CONFIGS:
            epochs = args.epochs or epochs
            label = f"{name}: {hidden}, {epochs} epochs, batch {batch_size}"
            for dtype in args.dtypes:
                Xtr, Xte = X_train.astype(dtype), X_test.astype(dtype)
                times = {"dlscratch": [], "sklearn": []}
                accuracy = {"dlscratch": [], "sklearn": []}
                for seed in range(args.seeds):
                    estimators = make_estimators(hidden, epochs, batch_size, seed)
                    order = ["dlscratch", "sklearn"] if seed % 2 == 0 \
                        else ["sklearn", "dlscratch"]
                    for system in order:
                        estimator = estimators[system]
                        seconds = timed_fit(estimator, Xtr, y_train)
                        score = float(estimator.score(Xte, y_test))
                        epochs_run = estimator.n_iter_
                        if epochs_run != epochs:
                            raise RuntimeError(f"{system} ran {epochs_run} epochs, not {epochs}")
                        times[system].append(seconds)
                        accuracy[system].append(score)
                        records.append({"config": name, "hidden": list(hidden),
                                        "epochs": epochs, "batch_size": batch_size,
                                        "dtype": dtype, "system": system, "seed": seed,
                                        "fit_s": seconds, "accuracy": score,
                                        "threads": args.threads})
                ratios = [s / d for s, d in zip(times["sklearn"], times["dlscratch"])]
                speedup = statistics.median(ratios)
                for system in ("sklearn", "dlscratch"):
                    extra = f"{speedup:>8.2f}x" if system == "dlscratch" else ""
                    print(f"{label:<50} {dtype:<8} {system:<10} "
                          f"{100 * statistics.mean(accuracy[system]):>8.2f}% "
                          f"{statistics.median(times[system]):>15.3f} {extra:>9}")
                targets.append((label, dtype, statistics.mean(accuracy["dlscratch"]),
                                statistics.mean(accuracy["sklearn"]), speedup,
                                min(ratios), max(ratios)))
    print("\ntargets: accuracy >= MLPClassifier's, fit >= 1.5x faster (median of per-seed "
          "ratios; range in brackets)")
    for label, dtype, ours, theirs, speedup, low, high in targets:
        ok_accuracy = "met" if ours >= theirs else "MISSED"
        ok_speed = "met" if speedup >= 1.5 else "MISSED"
        print(f"  {label}, X {dtype}: accuracy {100 * ours:.2f}% vs {100 * theirs:.2f}% "
              f"({ok_accuracy}); speed-up {speedup:.2f}x [{low:.2f}-{high:.2f}] ({ok_speed})")
    if args.json:
        with open(args.json, "w") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
