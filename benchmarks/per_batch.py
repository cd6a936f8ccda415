"""Where one training batch's time goes, in microseconds: dlscratch against the hand-written floor.

    OPENBLAS_NUM_THREADS=1 python benchmarks/per_batch.py                 # this checkout
    OPENBLAS_NUM_THREADS=1 python benchmarks/per_batch.py --src OTHER/src # another source tree

For each workload of ``run.py`` (the same networks, initial weights, data and batch order), in
CPU time of the training thread (``time.thread_time``: the other processes of a busy machine do
not count; use one BLAS thread, or the BLAS threads' work is missed), best of ``--repeats``:

- ``fit``: one whole ``Trainer.fit(..., restart=False)`` divided by its number of batches, split
  into the batches (the steps), the work of each epoch around them (shuffle, parameter checks,
  history), and the work of the call itself (the checks at the door and the one evaluation);
- ``step``: one batch in isolation, again and again on the same rows, through what the trainer
  calls (the lean step of ``lean.py`` where this tree has one, else ``train_batch`` + ``step``),
  split into forward, loss, backward and update;
- ``floor``: the same batch through the hand-written float32 loop of
  ``shared/bench/peers.py``'s ``numpy-floor`` (no framework at all).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run import cache_folder, prepare_data  # noqa: E402
from workers import ORDER_SEED, WORKLOADS, initial_weights, load_data  # noqa: E402

CLOCK = time.thread_time
DENSE = ("mlp-b32", "mlp-b256", "boston", "boston-deep")


def best_of(function, repeats: int, number: int) -> float:
    """Seconds per call of ``function``: the fastest of ``repeats`` blocks of ``number`` calls."""
    for _ in range(max(1, number // 10)):
        function()
    best = float("inf")
    for _ in range(repeats):
        start = CLOCK()
        for _ in range(number):
            function()
        best = min(best, (CLOCK() - start) / number)
    return best


def make_network(dls, np, workload: str):
    cfg = WORKLOADS[workload]
    init = initial_weights(workload)
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
    return net, optimizer


def fit_split(dls, np, workload: str, data, repeats: int) -> dict:
    """Per batch: the whole fit, and its steps / epoch work / call work (fastest fit)."""
    import dlscratch.train as train_module

    cfg = WORKLOADS[workload]
    X_train, y_train, X_test, y_test = data
    n_batches = cfg["epochs"] * -(-len(X_train) // cfg["batch"])
    spent = {"steps": 0.0, "train": 0.0}
    run_class = train_module._Run
    original_train = run_class.train

    def timed_train(self):
        start = CLOCK()
        try:
            return original_train(self)
        finally:
            spent["train"] = CLOCK() - start

    wrapped = []
    if hasattr(run_class, "lean_epoch"):
        original_epoch = run_class.lean_epoch

        def timed_epoch(self, *args):
            start = CLOCK()
            try:
                return original_epoch(self, *args)
            finally:
                spent["steps"] += CLOCK() - start
        wrapped.append(("lean_epoch", original_epoch, timed_epoch))
    wrapped.append(("train", original_train, timed_train))
    best = None
    try:
        for name, _, timed in wrapped:
            setattr(run_class, name, timed)
        for _ in range(repeats + 1):
            net, optimizer = make_network(dls, np, workload)
            if not hasattr(run_class, "lean_epoch"):  # the general path: time its two calls
                net._train_batch_checked = _timed(net._train_batch_checked, spent)
                optimizer.step = _timed(optimizer.step, spent)
            spent.update(steps=0.0, train=0.0)
            start = CLOCK()
            dls.Trainer(net, optimizer).fit(
                X_train, y_train, X_test, y_test, epochs=cfg["epochs"],
                eval_every=cfg["epochs"], batch_size=cfg["batch"], seed=ORDER_SEED,
                restart=False, early_stopping=False, verbose=False)
            total = CLOCK() - start
            if best is None or total < best[0]:
                best = (total, spent["steps"], spent["train"])
    finally:
        for name, original, _ in wrapped:
            setattr(run_class, name, original)
    total, steps, train = best
    return {"fit": total / n_batches, "steps": steps / n_batches,
            "epochs": (train - steps) / n_batches, "call": (total - train) / n_batches}


def _timed(function, spent):
    def timed(*args, **kwargs):
        start = CLOCK()
        try:
            return function(*args, **kwargs)
        finally:
            spent["steps"] += CLOCK() - start
    return timed


def step_split(dls, np, workload: str, data, repeats: int, number: int) -> dict:
    """One batch in isolation, split into forward, loss, backward and update."""
    cfg = WORKLOADS[workload]
    X_train, y_train = data[0], data[1]
    net, optimizer = make_network(dls, np, workload)
    optimizer.net = net
    X = np.ascontiguousarray(X_train[:cfg["batch"]])
    y = np.ascontiguousarray(y_train[:cfg["batch"]])
    loss = net.loss
    try:
        from dlscratch.lean import LeanStep
    except ImportError:
        LeanStep = None
    lean = LeanStep.for_network(net, optimizer) if LeanStep is not None else None
    if lean is None:  # the general path, as the trainer called it
        net.train_batch(X, y)
        optimizer.step()
        prediction = net.forward(X)
        target = loss._check_target(prediction, y)
        forward = lambda: net.forward(X)  # noqa: E731
        loss_pass = lambda: (loss._forward_checked(prediction, target), loss.backward())  # noqa: E731
        gradient = loss.backward()
        backward = lambda: net.backward(gradient)  # noqa: E731
        update = optimizer.step
        whole = lambda: (net._train_batch_checked(X, target), optimizer.step())  # noqa: E731
        path = "train_batch + step"
    else:
        lean(X, y)

        def forward():
            out = X
            for layer, operations in lean.layers:
                layer.input_ = out
                for operation in operations:
                    operation.input_ = out
                    out = operation.output = operation._output()
                layer.output = out
            return out
        prediction = forward()

        def loss_pass():
            loss.prediction, loss.target = prediction, y
            loss._output()
            return loss._input_grad()
        gradient = loss_pass()

        def backward():
            grad = gradient
            for param_grad, input_grad, stop in lean.backward_plan:
                if param_grad is not None:
                    param_grad(grad)
                    if stop:
                        break
                if input_grad is not None:
                    grad = input_grad(grad)
        update = lean.update
        whole = lambda: lean(X, y)  # noqa: E731
        path = "lean step"
    times = {name: best_of(function, repeats, number) for name, function in (
        ("step", whole), ("forward", forward), ("loss", loss_pass), ("backward", backward),
        ("update", update))}
    times["path"] = path
    return times


def floor_step(np, workload: str, data, repeats: int, number: int) -> float:
    """The hand-written float32 loop of peers.py's numpy-floor, one batch."""
    cfg = WORKLOADS[workload]
    f32 = np.float32
    init = initial_weights(workload)
    Ws = [W.astype(f32) for W, _ in init]
    bs = [b.astype(f32) for _, b in init]
    X = np.ascontiguousarray(data[0][:cfg["batch"]], dtype=f32)
    y = np.ascontiguousarray(data[1][:cfg["batch"]])
    n = len(X)
    lr, mu = f32(cfg["lr"]), f32(cfg["momentum"])
    if cfg["kind"] == "mlp":
        y = np.eye(10, dtype=f32)[y]
        velocities = [np.zeros_like(a) for pair in zip(Ws, bs) for a in pair]

        def step():
            h1 = X @ Ws[0]
            h1 += bs[0]
            np.maximum(h1, 0, out=h1)
            h2 = h1 @ Ws[1]
            h2 += bs[1]
            np.maximum(h2, 0, out=h2)
            z = h2 @ Ws[2]
            z += bs[2]
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            z -= y
            z *= f32(1.0 / n)
            d2 = z @ Ws[2].T
            d2 *= h2 > 0
            d1 = d2 @ Ws[1].T
            d1 *= h1 > 0
            grads = [X.T @ d1, d1.sum(axis=0, keepdims=True), h1.T @ d2,
                     d2.sum(axis=0, keepdims=True), h2.T @ z, z.sum(axis=0, keepdims=True)]
            for P, G, V in zip([a for pair in zip(Ws, bs) for a in pair], grads, velocities):
                V *= mu
                G *= lr
                V += G
                P -= V
    else:
        y = y.astype(f32).reshape(-1, 1)

        def step():
            hs = [X]
            for k in range(len(Ws)):
                h = hs[-1] @ Ws[k]
                h += bs[k]
                if k < len(Ws) - 1:
                    np.negative(h, out=h)
                    np.exp(h, out=h)
                    h += 1
                    np.reciprocal(h, out=h)
                hs.append(h)
            g = hs[-1]
            g -= y
            g *= f32(2.0 / n)
            for k in range(len(Ws) - 1, -1, -1):
                gW = hs[k].T @ g
                gb = g.sum(axis=0, keepdims=True)
                if k > 0:
                    h = hs[k]
                    g = g @ Ws[k].T
                    g *= h
                    g *= 1 - h
                gW *= lr
                Ws[k] -= gW
                gb *= lr
                bs[k] -= gb
    return best_of(step, repeats, number)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(DENSE), choices=DENSE)
    parser.add_argument("--src", default=os.path.join(os.path.dirname(HERE), "src"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    src = os.path.abspath(args.src)
    sys.path.insert(0, src)
    import numpy as np

    import dlscratch as dls

    data_file = prepare_data(src, cache_folder())
    print(f"src {src}; BLAS threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
          f"; CPU time of this thread, best of {args.repeats}; microseconds per batch")
    for workload in args.workloads:
        cfg = WORKLOADS[workload]
        X_train, y_train, X_test, y_test = load_data(data_file, cfg["kind"])
        data = (X_train, y_train, X_test, y_test)
        number = 2000 if cfg["kind"] == "boston" else 100
        fit = fit_split(dls, np, workload, data, args.repeats)
        step = step_split(dls, np, workload, data, args.repeats, number)
        floor = floor_step(np, workload, data, args.repeats, number)
        print(f"{workload:11} fit {fit['fit'] * 1e6:7.1f} = steps {fit['steps'] * 1e6:7.1f} + "
              f"epochs {fit['epochs'] * 1e6:5.1f} + call {fit['call'] * 1e6:5.1f} | "
              f"{step['path']} {step['step'] * 1e6:7.1f} (forward {step['forward'] * 1e6:6.1f}, "
              f"loss {step['loss'] * 1e6:5.1f}, backward {step['backward'] * 1e6:6.1f}, update "
              f"{step['update'] * 1e6:6.1f}) | floor step {floor * 1e6:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
