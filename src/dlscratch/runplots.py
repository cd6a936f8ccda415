"""The pictures of a command-line run: loss curves, a confusion matrix, predicted against
actual, misclassified images, and the activation functions (matplotlib, imported on use)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .plots import _pyplot, save_figure


def plot_loss_curves(history: dict[str, Any], path: str | os.PathLike, title: str,
                     loss_name: str) -> None:
    """Training loss per epoch and validation loss per evaluation; the metric on the right."""
    plt = _pyplot()
    metrics = history.get("metrics") or {}
    headline = next((name for name in ("accuracy", "r2") if name in metrics), None)
    figure, axes = plt.subplots(1, 2 if headline else 1, figsize=(12 if headline else 7, 4.5),
                                squeeze=False)
    losses = axes[0][0]
    train = history.get("train_loss") or []
    losses.plot(range(1, len(train) + 1), train, color="tab:blue", label="training loss")
    if history.get("val_loss"):
        losses.plot(history["eval_epochs"], history["val_loss"], color="tab:orange",
                    marker="o", markersize=3, label="validation loss")
    best = history.get("best_epoch")
    if best is not None:
        losses.axvline(best, color="gray", linestyle="--", linewidth=1,
                       label=f"best epoch ({best}), kept")
    from matplotlib.ticker import MaxNLocator

    losses.set_xlabel("epoch")
    losses.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
    losses.set_ylabel(loss_name)
    if train and min(train) > 0 and max(train) / min(train) > 20:
        losses.set_yscale("log")
    losses.set_title(title)
    losses.legend()
    if headline:
        right = axes[0][1]
        values = np.asarray(metrics[headline], dtype=float)
        scale, label = (100.0, "validation accuracy (%)") if headline == "accuracy" \
            else (1.0, "validation R\u00b2")
        right.plot(history["eval_epochs"], values * scale, color="tab:green", marker="o",
                   markersize=3)
        if best is not None:
            right.axvline(best, color="gray", linestyle="--", linewidth=1)
        right.set_xlabel("epoch")
        right.xaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_ylabel(label)
        right.set_title(label)
        if headline == "r2" and np.isfinite(values).any():
            right.set_ylim(max(-1.0, float(np.nanmin(values)) - 0.05), 1.0)
        if headline == "accuracy" and np.isfinite(values).any():
            # at least 10 points tall, so one row of a small validation set is not a spike
            low = float(np.nanmin(values)) * scale
            right.set_ylim(max(0.0, min(math.floor(low / 5) * 5 - 5, 90.0)), 100.5)
    save_figure(figure, path)


def plot_confusion(counts: np.ndarray, classes: Sequence[str], path: str | os.PathLike,
                   title: str) -> None:
    """Counts of (true class, predicted class): the diagonal is right."""
    plt = _pyplot()
    n = len(classes)
    size = min(4 + 0.5 * n, 14)
    figure, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="rows")
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45 if n > 4 else 0,
                  ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), [str(c) for c in classes])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 30:
        top = counts.max(initial=0)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center",
                        color="white" if counts[i, j] > top / 2 else "black")
    ax.set_title(title)
    save_figure(figure, path)


def plot_predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray,
                             path: str | os.PathLike, title: str, target: str) -> None:
    """One dot per row; on the diagonal the prediction is exact."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(actual, predicted, s=14, alpha=0.7, color="tab:blue", edgecolor="none")
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="gray", linestyle="--", linewidth=1,
            label="prediction = actual")
    ax.set_xlabel(f"actual {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper left")
    ax.set_title(title)
    save_figure(figure, path)


def plot_misclassified(images: np.ndarray, true: Sequence[str], predicted: Sequence[str],
                       lines: Sequence[int], path: str | os.PathLike, title: str,
                       limit: int = 36) -> None:
    """A grid of misclassified images (rows, height, width), each titled true -> predicted."""
    plt = _pyplot()
    count = min(len(images), limit)
    columns = max(1, min(6, count))
    rows = max(1, math.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.3 * rows + 0.6),
                                squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index >= count:
            continue
        ax.imshow(images[index], cmap="gray_r", interpolation="nearest")
        ax.set_title(f"line {lines[index]}\n{true[index]} \u2192 {predicted[index]}",
                     fontsize=8)
    if count == 0:
        axes[0][0].text(0.5, 0.5, "no misclassified rows", ha="center", va="center")
    figure.suptitle(title)
    save_figure(figure, path)


def plot_activations(path: str | os.PathLike) -> list[str]:
    """Every element-wise activation of dlscratch and its derivative, computed by the library's
    own forward and backward passes; returns the names drawn."""
    from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Tanh

    plt = _pyplot()
    makers = [("Linear", Linear()), ("Sigmoid", Sigmoid()),
              ("Tanh", Tanh()), ("ReLU", ReLU()),
              ("LeakyReLU(alpha=0.1)", LeakyReLU(0.1)),
              ("ELU(alpha=1)", ELU(1.0)), ("GELU", GELU())]
    x = np.linspace(-4.0, 4.0, 801).reshape(-1, 1)
    columns = 4
    rows = math.ceil(len(makers) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.4 * rows), squeeze=False,
                                layout="constrained")
    for ax, (name, op) in zip(axes.ravel(), makers):
        value = op.forward(x.copy())
        derivative = op.backward(np.ones_like(value))
        ax.axhline(0, color="lightgray", linewidth=0.8)
        ax.axvline(0, color="lightgray", linewidth=0.8)
        ax.plot(x.ravel(), value.ravel(), color="tab:blue", label="f(x)")
        ax.plot(x.ravel(), derivative.ravel(), color="tab:orange", linestyle="--",
                label="f'(x)")
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.legend(loc="upper left", fontsize="small")
    for ax in axes.ravel()[len(makers):]:
        ax.axis("off")
    figure.suptitle("dlscratch activations (solid) and their derivatives (dashed), from "
                    "forward() and backward()")
    save_figure(figure, path)
    return [name for name, _ in makers]
