"""Where dlscratch's training time goes: cProfile of one ``Trainer.fit``, grouped by kind of work.

    python benchmarks/profile_fit.py mlp-b32             # this checkout
    python benchmarks/profile_fit.py boston --src OTHER  # another dlscratch source tree
    OPENBLAS_NUM_THREADS=1 python benchmarks/profile_fit.py mlp-b256   # steadier on a busy machine

The workload (network, initial weights, data, batch order) is the one ``run.py`` times. The
profile is taken on a second fit (the first warms up), with ``time.thread_time`` as the clock
when ``--clock thread`` (CPU time of this thread: a shared machine's waits do not count, but
BLAS threads other than this one do not either; use it with OPENBLAS_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run import cache_folder, prepare_data  # noqa: E402
from workers import ORDER_SEED, WORKLOADS, initial_weights, load_data  # noqa: E402

# (group, test on (file name, function name)), first match wins
GROUPS = [
    ("shape checks (check_same_shape)", lambda f, n: n == "check_same_shape"),
    ("optimizer update", lambda f, n: f.endswith("optimizers.py")),
    ("activations", lambda f, n: f.endswith("activations.py")),
    ("loss", lambda f, n: f.endswith("losses.py")),
    ("epoch shuffle (np.take / indexing)", lambda f, n: n in (
        "take", "<method 'take' of 'numpy.ndarray' objects>", "permutation")),
    ("evaluation and door checks", lambda f, n: f.endswith(("metrics.py", "validation.py"))
     or n in ("_predict_batches", "_checked_targets", "evaluate")),
]


def group_of(filename: str, line: int, name: str, dense_lines: dict) -> str:
    if filename.endswith("dense.py"):
        owner = dense_lines.get(line)
        if owner == "WeightMultiply" and name in ("_output", "_input_grad", "_param_grad"):
            return "matrix products (WeightMultiply)"
        if owner == "BiasAdd" and name in ("_output", "_input_grad", "_param_grad"):
            return "bias (BiasAdd)"
    for group, test in GROUPS:
        if test(filename, name):
            return group
    return "framework (Python: layers, network, trainer, numpy call overhead)"


def dense_owners(dls) -> dict:
    """First line of each method of WeightMultiply and BiasAdd -> class name."""
    owners = {}
    for cls in (dls.WeightMultiply, dls.BiasAdd):
        for name in ("_output", "_input_grad", "_param_grad"):
            function = cls.__dict__.get(name)
            if function is not None:
                owners[function.__code__.co_firstlineno] = cls.__name__
    return owners


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=list(WORKLOADS))
    parser.add_argument("--src", default=os.path.join(os.path.dirname(HERE), "src"))
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall")
    parser.add_argument("--top", type=int, default=12, help="also list the top functions")
    args = parser.parse_args(argv)
    src = os.path.abspath(args.src)
    sys.path.insert(0, src)
    import numpy as np

    import dlscratch as dls

    cfg = WORKLOADS[args.workload]
    X_train, y_train, X_test, y_test = load_data(prepare_data(src, cache_folder()), cfg["kind"])
    init = initial_weights(args.workload)

    def fit() -> None:
        hidden = dls.ReLU if cfg["kind"] == "mlp" else dls.Sigmoid
        activations = [hidden() for _ in init[:-1]] + [dls.Linear()]
        loss = dls.SoftmaxCrossEntropy() if cfg["kind"] == "mlp" else dls.MeanSquaredError()
        net = dls.NeuralNetwork([dls.Dense(W.shape[1], activation=a)
                                 for (W, _), a in zip(init, activations)], loss=loss, seed=0)
        net.forward(np.zeros((2, init[0][0].shape[0]), dtype=np.float32))
        for param, value in zip(net.params(), [a for pair in init for a in pair]):
            param[...] = value
        optimizer = dls.SGDMomentum(lr=cfg["lr"], momentum=cfg["momentum"]) \
            if cfg["momentum"] else dls.SGD(lr=cfg["lr"])
        dls.Trainer(net, optimizer).fit(
            X_train, y_train, X_test, y_test, epochs=cfg["epochs"], eval_every=cfg["epochs"],
            batch_size=cfg["batch"], seed=ORDER_SEED, restart=False, early_stopping=False,
            verbose=False)

    fit()
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    profiler = cProfile.Profile(clock)
    start = clock()
    profiler.runcall(fit)
    total = clock() - start
    stats = pstats.Stats(profiler)
    owners = dense_owners(dls)
    groups: dict[str, float] = {}
    for (filename, line, name), (_, _, tottime, _, _) in stats.stats.items():
        group = group_of(filename, line, name, owners)
        groups[group] = groups.get(group, 0.0) + tottime
    samples = len(X_train) * cfg["epochs"]
    print(f"{args.workload}: {total:.3f} s profiled ({samples / total:,.0f} samples/s under the "
          f"profiler; clock {args.clock}; src {src})")
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {seconds / total:6.1%}  {seconds:7.3f} s  {group}")
    if args.top:
        print()
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
