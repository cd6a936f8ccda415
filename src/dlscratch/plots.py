"""Figures of training runs (matplotlib, imported only here and only when a figure is drawn).

Every figure is rendered off-screen (the "Agg" backend) into memory and then written with
``atomic_write``, so an interrupted run never leaves half a PNG behind.
"""

from __future__ import annotations

import io
import os
from typing import Any

from ._io import atomic_write


def _pyplot():
    """matplotlib.pyplot on the off-screen Agg backend, whatever backend was configured."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write ``figure`` as a PNG to ``path`` atomically, then close it."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        _pyplot().close(figure)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())


def plot_history(ax: Any, history: dict[str, Any], label: str, color: Any,
                 train_loss: bool = True) -> None:
    """Validation loss at each evaluation (solid, dots); the training loss per epoch (faint)."""
    if train_loss and history["train_loss"]:
        epochs = range(1, len(history["train_loss"]) + 1)
        ax.plot(epochs, history["train_loss"], color=color, alpha=0.3, linewidth=1)
    ax.plot(history["eval_epochs"], history["val_loss"], marker="o", color=color, label=label)


def plot_boston(results: dict[str, Any], path: str | os.PathLike) -> None:
    """Left: loss curves of the three networks at the book's seed. Right: test RMSE per seed."""
    plt = _pyplot()
    figure, (curves, spread) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.get_cmap("tab10").colors
    book_seed = results["training"]["book_seed"]
    names = list(results["networks"])
    for index, name in enumerate(names):
        result = results["networks"][name]
        plot_history(curves, result["runs"][0]["history"], name, colors[index])
        rmses = [run["rmse"] for run in result["runs"]]
        spread.scatter([index] * len(rmses), rmses, color=colors[index], alpha=0.6,
                       label="our seeds" if index == 0 else None)
        spread.scatter([index], [result["runs"][0]["rmse"]], color=colors[index], marker="D",
                       edgecolor="black", s=60, label=f"seed {book_seed}" if index == 0 else None)
        spread.hlines(result["book"]["rmse"], index - 0.3, index + 0.3, color="black",
                      linestyle="--", label="book" if index == 0 else None)
    curves.set_xlabel("epoch")
    curves.set_ylabel("mean squared error ($1000s squared)")
    curves.set_yscale("log")
    curves.set_title(f"Boston housing, seed {book_seed}: test loss (dots), training loss (faint)")
    curves.legend()
    spread.set_xticks(range(len(names)), names)
    spread.set_ylabel("test RMSE ($1000s)")
    spread.set_title(f"test RMSE over {len(results['training']['seeds'])} seed(s) vs the book")
    spread.legend()
    save_figure(figure, path)


def plot_mnist(results: dict[str, Any], path: str | os.PathLike) -> None:
    """Validation loss and accuracy at each evaluation, one line per step of the ladder."""
    plt = _pyplot()
    figure, (losses, accuracies) = plt.subplots(1, 2, figsize=(14, 5))
    colors = plt.get_cmap("tab10").colors
    for index, step in enumerate(results["steps"]):
        color = colors[index % len(colors)]
        history = step["history"]
        plot_history(losses, history, step["title"], color, train_loss=False)
        curve = step["accuracy_curve"]
        accuracies.plot(curve["epochs"], [100 * value for value in curve["accuracy"]],
                        marker="o", color=color, label=step["title"])
    losses.set_xlabel("epoch")
    losses.set_ylabel("validation loss (step 1: MSE, others: cross-entropy)")
    losses.set_yscale("log")
    losses.set_title(results["data"]["source"].split(" (")[0] + ": validation loss")
    accuracies.set_xlabel("epoch")
    accuracies.set_ylabel("validation accuracy (%)")
    accuracies.set_title("validation accuracy")
    accuracies.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(figure, path)
