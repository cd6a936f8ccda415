"""PyTorch as a peer: the chapter 4 demo's best networks, trained in dlscratch and in PyTorch.

Both frameworks get everything the same, so that only the framework differs:

* the networks, optimiser, learning rates and training settings are the demo's own
  (``dlscratch.demos.mnist``: ``mnist_ladder()``, ``mnist_data()``, seed 20190119, 50 epochs,
  batches of 60, an evaluation every 10 epochs with the book's early stopping); nothing is
  copied here, the steps are imported;
* the same MNIST-5k split (4,000 / 1,000) with the demo's scaling;
* identical initial weights: dlscratch draws them (its ``Trainer.fit`` does, from the seed)
  and torch's ``nn.Linear`` layers receive a copy, taken as dlscratch's training begins
  (``weight = W.T``, ``bias = B[0]``);
* the same batches in the same order: each epoch's permutation is drawn exactly as
  ``Trainer.fit`` draws it (``np.random.default_rng(seed).permutation(n)`` once per epoch;
  consecutive slices, the last, partial batch included);
* the same learning rate each epoch (the step's own schedule, ``optimizer.lr_at``) and the same
  update, the book's momentum ``v = mu v + lr g; p -= v``, written out in torch (under
  ``torch.no_grad()``). ``torch.optim.SGD`` keeps ``buf = mu buf + g; p -= lr buf`` instead,
  which is the same only while lr is constant; ``--torch-optim`` uses it anyway;
* the same loss (softmax cross-entropy, mean over the batch; ``F.cross_entropy``) and the same
  evaluation and early-stopping rule: the test loss every ``eval_every`` epochs, stop at the
  first one that is not lower than the best so far, put the best evaluation's weights back.

Dropout masks cannot be made equal across frameworks, so the comparison is made twice.
Without dropout both runs are the same computation, a correctness cross-check: the demo's best
network with its dropout switched off agrees to about five digits in float32 (1e-15 with
``--dtype float64``); the book's deeper tanh network (6c, lr 0.2 with momentum 0.9) agrees
after the first epoch and then drifts as far as dlscratch drifts from itself when every initial
weight is moved by one ulp (shown beside it): that training amplifies rounding differences, in
either framework. With dropout, the demo's best configuration, each run is one random draw, so
the two should agree within about one point, which the mean over several seeds (``--seeds``)
shows better than a single pair of runs.

Run:  PYTHONPATH=src python examples/torch_peer_mnist.py [--epochs N] [--seeds K]
      [--dtype float64] [--threads T] [--torch-optim]
(about 1.5 minutes with the defaults; both frameworks get the same number of CPU threads.)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlscratch.activations import Linear, ReLU, Sigmoid, Tanh
from dlscratch.callbacks import LambdaCallback
from dlscratch.datasets import one_hot
from dlscratch.demos._common import blas_threads, format_table
from dlscratch.demos.mnist import (
    BATCH_SIZE,
    BOOK_SEED,
    EPOCHS,
    EVAL_EVERY,
    Step,
    accuracy,
    mnist_data,
    mnist_ladder,
)
from dlscratch.layers import Dense
from dlscratch.optimizers import SGDMomentum
from dlscratch.train import Trainer

Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass
class Run:
    """One training run in one framework: what the comparison needs."""

    accuracy: float
    seconds: float
    train_loss: list[float]  # per epoch, mean over the training set
    lr: list[float]  # per epoch
    eval_epochs: list[int]
    val_loss: list[float]
    best_epoch: int | None

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)


# ---------------------------------------------------------------- the configurations
def demo_steps() -> dict[str, Step]:
    """The demo's steps by key (``deep``: 6c, ``modern``: 7, ...)."""
    return {step.key: step for step in mnist_ladder()}


def without_dropout(step: Step) -> Step:
    """``step`` with every layer's dropout switched off (keep probability 1)."""

    def layers() -> list[Dense]:
        built = step.layers()
        for layer in built:
            layer.dropout = 1.0
        return built

    title = step.title.replace(", dropout 0.8", "") + " [no dropout]"
    return dataclasses.replace(step, key=step.key + "_no_dropout", title=title, layers=layers)


def has_dropout(step: Step) -> bool:
    return any(layer.dropout < 1 for layer in step.layers())


def momentum_and_lrs(step: Step, epochs: int) -> tuple[float, list[float]]:
    """The step's momentum and its learning rate for each epoch (from its own schedule)."""
    optimizer = step.optimizer()
    if not isinstance(optimizer, SGDMomentum) or optimizer.weight_decay \
            or optimizer.clip_norm is not None:
        raise ValueError(f"{step.title}: only SGDMomentum without weight decay or clipping is "
                         f"mirrored in torch here, got {optimizer!r}")
    return optimizer.momentum, [optimizer.lr_at(epoch, epochs) for epoch in range(epochs)]


# ---------------------------------------------------------------- dlscratch
def train_dlscratch(step: Step, data: Data, epochs: int = EPOCHS, seed: int = BOOK_SEED,
                    dtype: str = "float32", initial: Sequence[np.ndarray] | None = None
                    ) -> tuple[Run, list[np.ndarray]]:
    """Train ``step`` as the demo's ``train_step`` does; also return the initial parameters.

    ``initial``: start from these parameters instead of those the seed draws (the seed still
    orders the batches and draws the dropout masks).
    """
    X_train, labels_train, X_test, labels_test = data
    started = time.perf_counter()
    net = step.network(seed, dtype)
    if initial is not None:
        net.build(X_train.shape[1:])
        for param, value in zip(net.params(), initial, strict=True):
            np.copyto(param, value)
    optimizer = step.optimizer()
    start: list[np.ndarray] = []

    def remember_start(trainer: Trainer) -> None:  # after fit has (re)drawn the weights
        start.extend(param.copy() for param in trainer.net.params())

    history = Trainer(net, optimizer).fit(
        X_train, one_hot(labels_train, 10, dtype=dtype),
        X_test, one_hot(labels_test, 10, dtype=dtype),
        epochs=epochs, eval_every=min(EVAL_EVERY, epochs), seed=seed, batch_size=BATCH_SIZE,
        restart=initial is None, verbose=False,
        callbacks=[LambdaCallback(on_train_begin=remember_start)])
    run = Run(accuracy(net, X_test, labels_test), time.perf_counter() - started,
              list(history.train_loss), list(history.lr), list(history.eval_epochs),
              list(history.val_loss), history.best_epoch)
    return run, start


def one_ulp_up(params: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Every number moved to the next representable one above it (the smallest change)."""
    return [np.nextafter(param, np.inf) for param in params]


# ---------------------------------------------------------------- torch
def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        sys.exit("This example needs PyTorch: pip install torch (the project's 'bench' extra).")
    return torch


def torch_model(torch: Any, step: Step, initial: Sequence[np.ndarray], dtype: str) -> Any:
    """``step``'s network as ``nn.Sequential``, starting from the dlscratch weights ``initial``."""
    nn = torch.nn
    activations = {Tanh: nn.Tanh, ReLU: nn.ReLU, Sigmoid: nn.Sigmoid, Linear: nn.Identity}
    layers = step.layers()
    if len(initial) != 2 * len(layers):
        raise ValueError(f"expected W and B for each of {len(layers)} layers, got "
                         f"{len(initial)} arrays")
    modules = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, Dense) or type(layer.activation) not in activations:
            raise ValueError(f"{step.title}: cannot mirror {layer!r} in torch")
        W, B = initial[2 * index], initial[2 * index + 1]
        linear = nn.Linear(W.shape[0], W.shape[1], dtype=getattr(torch, dtype))
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(B[0]))
        modules += [linear, activations[type(layer.activation)]()]
        if layer.dropout < 1:  # dlscratch's keep probability; torch's p drops
            modules.append(nn.Dropout(p=1.0 - layer.dropout))
    return nn.Sequential(*modules)


def train_torch(torch: Any, step: Step, initial: Sequence[np.ndarray], data: Data,
                epochs: int = EPOCHS, seed: int = BOOK_SEED, dtype: str = "float32",
                torch_optim: bool = False) -> Run:
    """Train ``step`` in torch exactly as ``Trainer.fit`` trains it in dlscratch."""
    F = torch.nn.functional
    X_train, labels_train, X_test, labels_test = data
    started = time.perf_counter()
    model = torch_model(torch, step, initial, dtype)
    params = list(model.parameters())
    momentum, lrs = momentum_and_lrs(step, epochs)
    torch.manual_seed(seed)  # the dropout masks (the weights came from dlscratch)
    velocities = [torch.zeros_like(param) for param in params]
    stock = torch.optim.SGD(params, lr=lrs[0], momentum=momentum) if torch_optim else None
    X_train_t = torch.from_numpy(X_train)
    y_train_t = torch.from_numpy(labels_train.astype(np.int64))
    X_test_t = torch.from_numpy(X_test)
    y_test_t = torch.from_numpy(labels_test.astype(np.int64))
    eval_every = min(EVAL_EVERY, epochs)
    n = len(X_train)
    rng = np.random.default_rng(seed)  # as Trainer.fit: one permutation per epoch
    run = Run(0.0, 0.0, [], [], [], [], None)
    best_loss, best_params = None, None
    for epoch in range(epochs):
        lr = lrs[epoch]
        order = torch.from_numpy(rng.permutation(n))
        X_epoch, y_epoch = X_train_t[order], y_train_t[order]
        model.train()
        total = 0.0
        for start in range(0, n, BATCH_SIZE):
            X_batch = X_epoch[start:start + BATCH_SIZE]
            loss = F.cross_entropy(model(X_batch), y_epoch[start:start + BATCH_SIZE])
            for param in params:
                param.grad = None
            loss.backward()
            if stock is not None:
                for group in stock.param_groups:
                    group["lr"] = lr
                stock.step()
            else:
                with torch.no_grad():  # the book's momentum: v = mu v + lr g; p -= v
                    for param, velocity in zip(params, velocities):
                        velocity.mul_(momentum).add_(param.grad, alpha=lr)
                        param.sub_(velocity)
            total += loss.item() * len(X_batch)
        run.train_loss.append(total / n)
        run.lr.append(lr)
        if (epoch + 1) % eval_every:
            continue
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(X_test_t), y_test_t).item()
        run.eval_epochs.append(epoch + 1)
        run.val_loss.append(val_loss)
        if best_loss is None or val_loss < best_loss:  # the book's early stopping
            best_loss, run.best_epoch = val_loss, epoch + 1
            best_params = [param.detach().clone() for param in params]
        else:
            break
    if best_params is not None and run.best_epoch != run.epochs_run:
        with torch.no_grad():
            for param, saved in zip(params, best_params):
                param.copy_(saved)
    model.eval()
    with torch.no_grad():
        predicted = model(X_test_t).argmax(dim=1).numpy()
    run.accuracy = float(np.mean(predicted == labels_test))
    run.seconds = time.perf_counter() - started
    return run


# ---------------------------------------------------------------- the comparison
@dataclasses.dataclass
class Row:
    """One line of the table: a configuration, trained by both from the same seeds."""

    title: str
    short: str  # for the detail table
    seeds: list[int]
    ours: list[Run]
    torch: list[Run]
    control: Run | None = None  # dlscratch again, from the initial weights moved by one ulp

    @property
    def difference(self) -> float:
        """Mean dlscratch accuracy minus mean torch accuracy (a fraction, not points)."""
        return (statistics.mean(run.accuracy for run in self.ours)
                - statistics.mean(run.accuracy for run in self.torch))


def compare(torch: Any, step: Step, data: Data, epochs: int = EPOCHS,
            seeds: Sequence[int] = (BOOK_SEED,), dtype: str = "float32",
            torch_optim: bool = False, control: bool = False, short: str = "") -> Row:
    """Train ``step`` in dlscratch and in torch from the same initial weights, once per seed.

    ``control``: also train dlscratch once more from the first seed's initial weights moved by
    one ulp, which shows how far rounding-sized differences alone carry this training.
    """
    row = Row(step.title, short or step.key, list(seeds), [], [])
    for seed in seeds:
        ours, initial = train_dlscratch(step, data, epochs, seed, dtype)
        row.ours.append(ours)
        row.torch.append(train_torch(torch, step, initial, data, epochs, seed, dtype,
                                     torch_optim))
        if control and row.control is None:
            row.control = train_dlscratch(step, data, epochs, seed, dtype,
                                          one_ulp_up(initial))[0]
    return row


def relative_difference(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)


def _percent(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.2f}%"
    return f"{100 * statistics.mean(values):.2f}% +- {100 * statistics.stdev(values):.2f}"


def _seconds(runs: Sequence[Run]) -> str:
    mean = statistics.mean(run.seconds for run in runs)
    return f"{mean:.1f} s" + (" (mean)" if len(runs) > 1 else "")


def summary_table(rows: Sequence[Row]) -> str:
    """configuration | dlscratch accuracy | torch accuracy | difference | times."""
    table = [[row.title, _percent([run.accuracy for run in row.ours]),
              _percent([run.accuracy for run in row.torch]),
              f"{100 * row.difference:+.2f} pt", _seconds(row.ours), _seconds(row.torch)]
             for row in rows]
    return format_table(["configuration", "dlscratch accuracy", "torch accuracy", "difference",
                         "dlscratch time", "torch time"], table)


def detail_table(rows: Sequence[Row]) -> str:
    """Per single run: epochs, the training loss's relative gaps, and the one-ulp control."""
    table = []
    for row in rows:
        ours, theirs, nudged = row.ours[0], row.torch[0], row.control
        table.append([
            row.short, f"{ours.epochs_run} ({ours.best_epoch})",
            f"{theirs.epochs_run} ({theirs.best_epoch})",
            f"{relative_difference(ours.train_loss[0], theirs.train_loss[0]):.1e}",
            f"{ours.train_loss[-1]:.3e}", f"{theirs.train_loss[-1]:.3e}",
            f"{relative_difference(ours.train_loss[-1], theirs.train_loss[-1]):.1e}",
            "-" if nudged is None
            else f"{relative_difference(ours.train_loss[-1], nudged.train_loss[-1]):.1e}",
            "-" if nudged is None else f"{100 * nudged.accuracy:.2f}%"])
    return format_table(["configuration", "epochs (best): dlscratch", "torch", "loss gap epoch 1",
                         "final loss: dlscratch", "torch", "gap",
                         "dlscratch +1 ulp: loss gap", "accuracy"], table)


def verdicts(plain: Sequence[Row], noisy: Sequence[Row]) -> list[str]:
    """One line per row: do the two frameworks agree, and by what yardstick."""
    lines = []
    for row in plain:
        ours, theirs, nudged = row.ours[0], row.torch[0], row.control
        gap = relative_difference(ours.train_loss[-1], theirs.train_loss[-1])
        if gap <= 1e-3 and abs(row.difference) < 0.0015 and ours.epochs_run == theirs.epochs_run:
            lines.append(f"agree (final loss to {gap:.0e}, accuracy to "
                         f"{100 * abs(row.difference):.1f} pt): {row.title}")
            continue
        first = relative_difference(ours.train_loss[0], theirs.train_loss[0])
        line = (f"apart after epoch 1 (loss gap {first:.0e} there, {gap:.0e} at the end, "
                f"accuracy {100 * row.difference:+.1f} pt): {row.title}")
        if nudged is not None:
            own = relative_difference(ours.train_loss[-1], nudged.train_loss[-1])
            line += (f"; dlscratch against itself from weights moved by one ulp: loss gap "
                     f"{own:.0e}, accuracy {100 * (ours.accuracy - nudged.accuracy):+.1f} pt")
            line += (": rounding alone carries this training as far" if gap <= 10 * own else
                     ": torch is FARTHER than rounding explains, the computations differ")
        lines.append(line)
    many = [row for row in noisy if len(row.seeds) > 1]
    for row in noisy:
        n = len(row.seeds)
        verdict = "within one point" if abs(row.difference) <= 0.01 else "MORE than one point"
        line = f"{verdict} ({100 * row.difference:+.2f} pt"
        if n > 1:
            spread = math.sqrt(statistics.variance(run.accuracy for run in row.ours) / n
                               + statistics.variance(run.accuracy for run in row.torch) / n)
            line += f", standard error {100 * spread:.2f} pt"
        elif many:
            sds = [100 * statistics.stdev(run.accuracy for run in runs)
                   for runs in (many[0].ours, many[0].torch)]
            line += (f"; one pair of runs, while single runs spread by {sds[0]:.2f} pt "
                     f"(dlscratch) and {sds[1]:.2f} pt (torch) over {len(many[0].seeds)} seeds")
        lines.append(line + f"): {row.title}")
    return lines


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"epochs per run (default {EPOCHS}, the demo's)")
    parser.add_argument("--seeds", type=int, default=8,
                        help="seeds for the dropout configuration's mean (default 8)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="float32 (default, the demo's) or float64")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for both frameworks (default 1, as the demo)")
    parser.add_argument("--torch-optim", action="store_true",
                        help="torch.optim.SGD instead of the book's momentum written out")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.seeds < 1 or args.threads < 1:
        parser.error("--epochs, --seeds and --threads must be at least 1")

    torch = import_torch()
    torch.set_num_threads(args.threads)
    X_train, labels_train, X_test, labels_test, source = mnist_data(dtype=args.dtype)
    data = (X_train, labels_train, X_test, labels_test)
    steps = demo_steps()
    best = steps["modern"]  # the demo's best step, with dropout
    update = "torch.optim.SGD" if args.torch_optim else "the book's momentum, written out"
    print(f"dlscratch against PyTorch {torch.__version__} on {source}")
    print(f"{args.epochs} epochs, batch {BATCH_SIZE}, an evaluation every "
          f"{min(EVAL_EVERY, args.epochs)} epochs with early stopping, {args.dtype}, "
          f"{args.threads} thread(s) each; torch's update: {update}", flush=True)

    options = {"epochs": args.epochs, "dtype": args.dtype, "torch_optim": args.torch_optim}
    seeds = [BOOK_SEED + i for i in range(args.seeds)]
    with blas_threads(args.threads):
        plain = [compare(torch, without_dropout(best), data, control=True,
                         short="7 without dropout", **options),
                 compare(torch, steps["deep"], data, control=True, short="6c", **options)]
        runs = compare(torch, best, data, seeds=seeds, **options)
    noisy = [Row(f"{best.title}, seed {BOOK_SEED}", f"7, seed {BOOK_SEED}", seeds[:1],
                 runs.ours[:1], runs.torch[:1])]
    if len(seeds) > 1:
        noisy.append(dataclasses.replace(runs, title=f"{best.title}, {len(seeds)} seeds"))

    print("\nWithout dropout: the same computation in both (a cross-check)")
    print(summary_table(plain))
    print("\nWith dropout (the demo's best): the masks differ, so each run is one random draw")
    print(summary_table(noisy))
    print("\nSingle runs in detail (loss: the mean training loss of an epoch)")
    print(detail_table(plain + noisy[:1]))
    print()
    for line in verdicts(plain, noisy):
        print(line)
    return plain + noisy


if __name__ == "__main__":
    main()
