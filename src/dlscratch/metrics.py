"""Evaluation metrics: accuracy for classification, MAE / RMSE / R^2 for regression."""

from __future__ import annotations

import numpy as np

from .losses import BinaryCrossEntropy, Loss


def accuracy(prediction: np.ndarray, target: np.ndarray) -> float:
    """Share of rows (or time steps) whose largest output is the target class (labels or
    one-hot rows; the classes are on the last axis)."""
    labels = target if target.ndim == prediction.ndim - 1 else target.argmax(axis=-1)
    return float((prediction.argmax(axis=-1) == labels).mean())


def binary_accuracy(logits: np.ndarray, target: np.ndarray) -> float:
    """Share of outputs on the right side of 0 (logits) for 0/1 targets."""
    return float(((logits > 0) == (target > 0.5)).mean())


def mean_absolute_error(prediction: np.ndarray, target: np.ndarray) -> float:
    """mean(|p - y|)."""
    return float(np.abs(prediction - target.reshape(prediction.shape)).mean())


def root_mean_squared_error(prediction: np.ndarray, target: np.ndarray) -> float:
    """sqrt(mean((p - y)^2))."""
    difference = prediction.astype(np.float64) - target.reshape(prediction.shape)
    return float(np.sqrt((difference * difference).mean()))


def r2_score(prediction: np.ndarray, target: np.ndarray) -> float:
    """1 - sum((y - p)^2) / sum((y - mean(y))^2) (over all outputs together)."""
    target = target.reshape(prediction.shape).astype(np.float64)
    residual = ((target - prediction) ** 2).sum()
    total = ((target - target.mean(axis=0)) ** 2).sum()
    return float(1.0 - residual / total) if total > 0 else float("nan")


def evaluation_metrics(loss: Loss, prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """The metrics the trainer records: accuracy for classification losses, else MAE/RMSE/R^2."""
    if isinstance(loss, BinaryCrossEntropy):
        return {"accuracy": binary_accuracy(prediction, target)}
    if loss.classification or (target.ndim == 1 and target.dtype.kind in "iu"):
        return {"accuracy": accuracy(prediction, target)}
    return {"mae": mean_absolute_error(prediction, target),
            "rmse": root_mean_squared_error(prediction, target),
            "r2": r2_score(prediction, target)}
