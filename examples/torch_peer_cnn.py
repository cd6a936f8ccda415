"""PyTorch as a peer: the demo's modern CNN trained in dlscratch and in PyTorch, side by side.

Everything is the same but the framework:

* the network, optimiser and settings are the demo's (``dlscratch.demos.cnn``:
  ``modern_network()``, ``modern_optimizer()``, seed 20190402, batches of 60, 10 epochs) on the
  same MNIST-5k split with the demo's scaling;
* identical initial weights: dlscratch draws them (``Trainer.fit`` does, from the seed) and the
  torch modules receive a copy as dlscratch's training begins (conv weights as they are, both
  are (out, in, k, k); dense ``weight = W.T``; batch norm's gamma and beta);
* the same batches in the same order (``np.random.default_rng(seed).permutation(n)`` once per
  epoch, consecutive slices, the last one partial), the same learning rate each epoch
  (``optimizer.lr_at``) and the same update (``torch.optim.Adam``: its formula is dlscratch's);
* batch norm with torch's conventions on both sides (momentum 0.1, eps 1e-5, unbiased running
  variance), its running statistics used for the test accuracy.

* the same dropout masks: dlscratch draws them (its ``Dropout`` on the 128 hidden units, keep
  0.7) and torch replays them, batch by batch (``ReplayDropout``), so both runs compute the same
  thing and differ only by float32 rounding (and the max-pool ties it tips, see
  ``tests/test_torch_peer_cnn.py``). ``--independent-dropout`` lets each framework draw its
  own masks (torch's ``nn.Dropout``); ``--no-dropout`` trains the network without dropout.

Run:  PYTHONPATH=src python examples/torch_peer_cnn.py [--epochs N] [--no-dropout]
      [--independent-dropout] [--dtype float64] [--threads T]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dlscratch.backend import to_host
from dlscratch.callbacks import LambdaCallback
from dlscratch.datasets import one_hot
from dlscratch.demos._common import blas_threads, format_table
from dlscratch.demos.cnn import (
    BATCH_SIZE,
    BOOK_SEED,
    MODERN_EPOCHS,
    accuracy,
    cnn_data,
    modern_network,
    modern_optimizer,
)
from dlscratch.train import Trainer


def torch_model(dropout: float):
    """The modern CNN as torch modules (keep probability ``dropout`` as in dlscratch)."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding="same"), nn.ReLU(), nn.BatchNorm2d(16), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding="same"), nn.ReLU(), nn.BatchNorm2d(32), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(1 - dropout),
        nn.Linear(128, 10))


def copy_weights(net, model) -> None:
    """dlscratch's parameters into the torch model, in order (dense weights transposed)."""
    import torch

    params = [to_host(param) for param in net.params()]
    targets = list(model.parameters())
    if len(params) != len(targets):
        raise RuntimeError(f"{len(params)} dlscratch parameters, {len(targets)} torch ones")
    with torch.no_grad():
        for value, target in zip(params, targets):
            if value.ndim == 2 and value.shape[::-1] == tuple(target.shape):
                value = value.T  # Dense: W (in, out) -> weight (out, in)
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(target.shape))


def record_dropout_masks(net, masks: list) -> None:
    """Make every ``Dropout`` of ``net`` append a copy of each training mask (scaled by
    1 / keep, as applied) to ``masks``, in the order they are drawn."""
    from dlscratch.dropout import Dropout

    for layer in net.layers:
        for operation in layer.operations:
            if isinstance(operation, Dropout):
                def output(inference: bool = False, operation=operation,
                           draw=operation._output):
                    out = draw(inference)
                    if operation.mask is not None:
                        masks.append(to_host(operation.mask).copy())
                    return out

                operation._output = output


def replay_dropout(masks: list):
    """A torch module that multiplies its input by ``masks`` in turn while training."""
    import torch
    import torch.nn as nn

    class ReplayDropout(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.next = 0

        def forward(self, x):
            if not self.training:
                return x
            mask = torch.from_numpy(masks[self.next]).to(x.dtype)
            self.next += 1
            return x * mask

    return ReplayDropout()


def batch_orders(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The permutations ``Trainer.fit(seed=seed)`` draws, one per epoch."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def train_torch(model, X: np.ndarray, labels: np.ndarray, lrs: list[float], seed: int,
                batch_size: int = BATCH_SIZE) -> list[float]:
    """Adam over the same batches; the mean training loss of each epoch."""
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.Adam(model.parameters(), lr=lrs[0])
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64))
    losses = []
    model.train()
    for lr, order in zip(lrs, batch_orders(len(X), len(lrs), seed)):
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = torch.from_numpy(order)
        total = 0.0
        for start in range(0, len(X), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(X_t[index]), y_t[index])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / len(X))
    return losses


def torch_accuracy(model, X: np.ndarray, labels: np.ndarray) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(X)).argmax(1).numpy() == labels).mean())


def run_pair(epochs: int, dropout: float, dtype: str, data: tuple, seed: int = BOOK_SEED,
             same_masks: bool = True) -> dict:
    """Train the modern CNN in dlscratch, then in torch from the same start; both results
    (with ``same_masks``, torch replays dlscratch's dropout masks)."""
    import torch

    X_train, y_train, X_test, y_test = (data[0].astype(dtype), data[1],
                                        data[2].astype(dtype), data[3])
    net = modern_network(seed, dtype, dropout=dropout)
    optimizer = modern_optimizer()
    model = torch_model(dropout).to(torch.float64 if dtype == "float64" else torch.float32)
    masks: list = []  # dlscratch's dropout masks, filled as it trains

    def begin(trainer) -> None:
        copy_weights(trainer.net, model)
        if same_masks and dropout < 1.0:
            record_dropout_masks(trainer.net, masks)

    started = time.perf_counter()
    history = Trainer(net, optimizer).fit(
        X_train, one_hot(y_train, 10, dtype=dtype), X_test, one_hot(y_test, 10, dtype=dtype),
        epochs=epochs, eval_every=epochs, batch_size=BATCH_SIZE, seed=seed,
        early_stopping=False, verbose=False, callbacks=[LambdaCallback(on_train_begin=begin)])
    if masks:
        dropouts = [i for i, module in enumerate(model) if isinstance(module, torch.nn.Dropout)]
        model[dropouts[0]] = replay_dropout(masks)
    ours_seconds = time.perf_counter() - started
    ours = accuracy(net, X_test, y_test)
    started = time.perf_counter()
    lrs = [optimizer.lr_at(epoch, epochs) for epoch in range(epochs)]
    losses = train_torch(model, X_train, y_train, lrs, seed)
    theirs_seconds = time.perf_counter() - started
    return {"dlscratch": ours, "torch": torch_accuracy(model, X_test, y_test),
            "dlscratch_loss": history.train_loss, "torch_loss": losses,
            "dlscratch_seconds": ours_seconds, "torch_seconds": theirs_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=MODERN_EPOCHS)
    parser.add_argument("--no-dropout", action="store_true")
    parser.add_argument("--independent-dropout", action="store_true",
                        help="each framework draws its own dropout masks")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data = cnn_data()
    dropout = 1.0 if args.no_dropout else 0.7
    with blas_threads(args.threads):
        result = run_pair(args.epochs, dropout, args.dtype, data,
                          same_masks=not args.independent_dropout)
    rows = [[name, f"{100 * result[name]:.2f}%", f"{result[name + '_loss'][-1]:.4f}",
             f"{result[name + '_seconds']:.1f}"] for name in ("dlscratch", "torch")]
    masks = ("no dropout" if args.no_dropout else "dropout, each its own masks"
             if args.independent_dropout else "dropout, the same masks")
    print(f"modern CNN, {args.epochs} epochs, {masks}, {args.dtype}, same initial weights and "
          f"batches")
    print(format_table(["framework", "test accuracy", "last epoch's loss", "seconds"], rows))
    test_images = len(data[3])
    # in whole test images, so that 0.3 points of 1,000 images is 3 images, not a float
    gap = round(test_images * (result["dlscratch"] - result["torch"]))
    allowed = round(0.003 * test_images)
    print(f"dlscratch - torch: {100 * gap / test_images:+.2f} points ({gap:+d} of {test_images} "
          f"test images; {'within' if gap >= -allowed else 'NOT within'} the 0.3-point target)")


if __name__ == "__main__":
    main()
