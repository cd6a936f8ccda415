"""Evaluation metrics: accuracy for classification, MAE / RMSE / R^2 for regression."""

from __future__ import annotations

import numpy as np

from .backend import to_host
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


def _sum_of_squares(array: np.ndarray) -> np.ndarray:
    """sum(array^2), accumulated in float64 without a float64 copy of the array (a whole test
    set's predictions, on a device too): a 0-d array."""
    return np.square(array).sum(dtype=np.float64)


def root_mean_squared_error(prediction: np.ndarray, target: np.ndarray) -> float:
    """sqrt(mean((p - y)^2))."""
    difference = prediction - target.reshape(prediction.shape)
    return float(np.sqrt(_sum_of_squares(difference) / difference.size))


def r2_score(prediction: np.ndarray, target: np.ndarray) -> float:
    """1 - sum((y - p)^2) / sum((y - mean(y))^2) (over all outputs together)."""
    target = target.reshape(prediction.shape)
    residual = _sum_of_squares(target - prediction)
    mean = target.mean(axis=0, dtype=np.float64).astype(target.dtype)
    total = _sum_of_squares(target - mean)
    residual, total = to_host(np.stack([residual, total])).tolist()  # one read for both
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
