"""Tables to arrays and back: the features, the target, the scaler and the network of a model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..csvdata import (
    DataError,
    Standardizer,
    Table,
    class_names,
    encode_labels,
    guess_task,
    numeric_matrix,
    regression_targets,
    target_cells,
)

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu")
OPTIMIZERS = ("adam", "adamw", "sgd", "momentum", "rmsprop", "adagrad")


@dataclass
class Prepared:
    """The arrays of a training table and what the model file must remember of it."""

    task: str
    task_reason: str
    features: list[str]
    X: np.ndarray
    y: np.ndarray
    classes: list[str] = field(default_factory=list)


def prepare_training(table: Table, target: str, task: str | None,
                     ignore: list[str]) -> Prepared:
    """Check the table and turn it into features X (float64) and targets y."""
    table.index(target)
    unknown = [name for name in ignore if name not in table.columns]
    if unknown:
        raise DataError(f"{table.path}: --ignore names column(s) {unknown} that the file does "
                        f"not have; its columns are {table.columns}")
    if target in ignore:
        raise DataError(f"{table.path}: the target {target!r} is also in --ignore")
    features = [name for name in table.columns if name != target and name not in ignore]
    if not features:
        raise DataError(f"{table.path}: no feature columns are left besides the target "
                        f"{target!r}; expected at least one column of numbers")
    cells = target_cells(table, target)
    reason = "chosen with --task"
    if task is None:
        task, reason = guess_task(cells)
        reason = f"guessed: {reason}; choose with --task"
    X = numeric_matrix(table, features)
    if task == "classification":
        classes = class_names(cells)
        if len(classes) < 2:
            raise DataError(f"{table.path}: the target {target!r} holds one class "
                            f"({classes[0]!r}) in all {len(cells)} rows; classification needs "
                            f"at least two")
        if len(classes) > 1000:
            raise DataError(f"{table.path}: the target {target!r} holds {len(classes)} distinct "
                            f"values, too many classes; for numbers use --task regression")
        y = encode_labels(table, target, cells, classes)
        return Prepared(task, reason, features, X, y, classes)
    y = regression_targets(table, target, cells)
    if (y == y[0]).all():
        raise DataError(f"{table.path}: the target {target!r} is {cells[0]} in every row; there "
                        f"is nothing to learn")
    return Prepared(task, reason, features, X, y)


def build_network(task: str, n_outputs: int, layers: list[int], activation: str,
                  dropout: float, seed: int):
    """Dense hidden layers (He or Glorot initialisation) and a linear output layer."""
    from ..activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
    from ..layers import Dense
    from ..losses import MeanSquaredError, SoftmaxCrossEntropy
    from ..network import NeuralNetwork

    make = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "leaky_relu": LeakyReLU,
            "elu": ELU, "gelu": GELU}[activation]
    init = "he" if activation in ("relu", "leaky_relu", "elu", "gelu") else "glorot"
    hidden = [Dense(size, activation=make(), weight_init=init, dropout=1.0 - dropout)
              for size in layers]
    output = Dense(n_outputs, activation=Linear(), weight_init="glorot")
    loss = SoftmaxCrossEntropy() if task == "classification" else MeanSquaredError()
    return NeuralNetwork(layers=[*hidden, output], loss=loss, seed=seed)


def build_optimizer(name: str, lr: float, weight_decay: float):
    """The optimizer called ``name`` (adam, adamw, sgd, momentum, rmsprop, adagrad)."""
    from ..optimizers import SGD, AdaGrad, Adam, AdamW, RMSProp, SGDMomentum

    cls = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "momentum": SGDMomentum,
           "rmsprop": RMSProp, "adagrad": AdaGrad}[name]
    return cls(lr=lr, weight_decay=weight_decay)


def model_features(table: Table, metadata: dict, model_path: str) -> np.ndarray:
    """The model's feature columns of ``table``, standardised with the saved scaler."""
    features = metadata["features"]
    missing = table.missing_columns(features)
    if missing:
        shown = ", ".join(repr(name) for name in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise DataError(f"{table.path} lacks column(s) {shown}{more} that the model "
                        f"{model_path} was trained on; its columns are {table.columns}")
    X = numeric_matrix(table, features)
    scaler = Standardizer.from_dict(metadata.get("scaler") or {}, len(features), model_path)
    return check_standardised(scaler.transform(X), table, features)


#: Standardised features beyond this are refused: float32 (the network's type) ends near 3.4e38,
#: and a value this many standard deviations from the training data predicts nothing useful.
MAX_STANDARDISED = 1e30


def check_standardised(Z: np.ndarray, table: Table, features: list[str],
                       rows: np.ndarray | None = None) -> np.ndarray:
    """``Z`` when every standardised value is finite and below ``MAX_STANDARDISED``; else a
    DataError naming the column and the line of the first that is not."""
    bad = ~(np.abs(Z) <= MAX_STANDARDISED)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        row = i if rows is None else int(rows[i])
        cell = table.rows[row][table.index(features[j])].strip()
        raise DataError(f"{table.path}: column {features[j]!r} holds {cell!r} on line "
                        f"{table.lines[row]}, {abs(Z[i, j]):.3g} standard deviations from the "
                        f"training data's mean, too far to compute with; rescale the column "
                        f"(or drop the row)")
    return Z


def model_targets(table: Table, metadata: dict) -> np.ndarray:
    """The target column as class indices (classification) or numbers (regression)."""
    target = metadata["target"]
    if target not in table.columns:
        raise DataError(f"{table.path} has no target column {target!r}, which evaluate needs to "
                        f"compare the predictions with; its columns are {table.columns}")
    cells = target_cells(table, target)
    if metadata["task"] == "classification":
        return encode_labels(table, target, cells, metadata["classes"])
    return regression_targets(table, target, cells)


def predict(net, metadata: dict, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(predictions, probabilities): class indices and (rows, classes) probabilities, or
    regression values in the target's units and None."""
    from ..activations import softmax

    output = net.predict(X.astype(net.dtype)).astype(np.float64)
    if metadata["task"] == "classification":
        probabilities = softmax(output)
        return probabilities.argmax(axis=1), probabilities
    scale = metadata.get("target_scaler") or {"mean": [0.0], "std": [1.0]}
    target_scaler = Standardizer.from_dict(scale, 1, "the model")
    return target_scaler.inverse(output[:, :1]).ravel(), None


def metrics(task: str, predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """accuracy (and right/rows) for classification; r2, rmse, mae for regression (computed on
    values divided by their largest magnitude, so targets near 1e300 do not overflow)."""
    if task == "classification":
        right = int((predicted == target).sum())
        return {"accuracy": right / len(target), "right": right, "rows": len(target)}
    with np.errstate(over="ignore", invalid="ignore"):
        scale = float(max(np.abs(target).max(initial=0.0), np.abs(predicted).max(initial=0.0)))
        scale = scale if 0 < scale < math.inf else 1.0
        error = predicted / scale - target / scale
        centred = target / scale - (target / scale).mean()
        total = float((centred ** 2).sum())
        r2 = 1.0 - float((error ** 2).sum()) / total if total > 0 else math.nan
        return {"r2": r2, "rmse": scale * float(np.sqrt((error ** 2).mean())),
                "mae": scale * float(np.abs(error).mean())}
