"""Losses: compare a prediction with its target; ``backward`` gives dL/d(prediction)."""

from __future__ import annotations

import numpy as np

from .activations import softmax
from .backend import arange, to_device
from .validation import as_array, check_bool, check_choice, check_number


class Loss:
    """``forward(prediction, target)`` returns the loss as a float; ``backward()`` its gradient."""

    #: whether the loss is one of classification (the trainer then reports accuracy)
    classification = False

    def __init__(self) -> None:
        self.prediction: np.ndarray | None = None
        self.target: np.ndarray | None = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        """The loss of ``prediction`` against ``target`` (same shape, or labels where accepted).

        Both must be non-empty real arrays and ``target`` finite (a NaN prediction is allowed:
        its NaN loss is how the trainer notices divergence).
        """
        owner = f"{type(self).__name__}.forward"
        prediction = as_array(prediction, "prediction", owner=owner, finite=False)
        if prediction.ndim == 0:
            raise ValueError(f"{owner}: prediction must have at least 1 dimension (batch, ...), "
                             f"got a scalar")
        if prediction.dtype.kind != "f" or prediction.itemsize < 4:
            # bool, int and float16 predictions (never a network's): float16 would overflow
            # at 65504 and integer arithmetic would wrap
            prediction = prediction.astype(np.float64)
        target = to_device(as_array(target, "target", owner=owner), like=prediction)
        target = self._check_target(prediction, target)
        return self._forward_checked(prediction, target)

    def _forward_checked(self, prediction: np.ndarray, target: np.ndarray,
                         read: bool = True) -> float:
        """``forward`` without the checks, for a network's prediction and a target that
        ``_check_target`` already accepted (the trainer checks its targets once, at the door).

        ``read=False`` returns the loss as ``_output`` made it (a 0-d array on a device: the
        trainer reads a device epoch's losses back together, not one by one)."""
        self.prediction = prediction
        self.target = target
        loss = self._output()
        return float(loss) if read else loss

    def backward(self) -> np.ndarray:
        """dL/d(prediction), of the prediction's shape."""
        if self.prediction is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward")
        self.input_grad = self._input_grad()
        if self.input_grad.shape != self.prediction.shape:
            raise ValueError(f"{type(self).__name__}.backward: gradient has shape "
                             f"{self.input_grad.shape}, the prediction {self.prediction.shape}")
        return self.input_grad

    def _check_target(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        name = type(self).__name__
        prediction_shape = getattr(prediction, "shape", None)
        target_shape = getattr(target, "shape", None)
        if prediction_shape is None or target_shape is None:
            raise TypeError(f"{name}.forward: prediction and target must be arrays, got "
                            f"{type(prediction).__name__} and {type(target).__name__}")
        if target_shape != prediction_shape:
            if (prediction.ndim == 2 and prediction.shape[1] == 1 and target.ndim == 1
                    and len(target) == len(prediction)):
                return _in_dtype_of(prediction, target.reshape(-1, 1))
            raise ValueError(f"{name}.forward: target has shape {target_shape}, but the "
                             f"prediction has shape {prediction_shape}; they must be equal")
        return _in_dtype_of(prediction, target)

    def _output(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement _output")

    def _input_grad(self) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _input_grad")

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _sum_over_rows(total, rows: int):
    """``total`` / ``rows`` in float64: a Python float for a NumPy scalar (the same number,
    without NumPy's slower scalar arithmetic), a 0-d float64 array on a device (never read
    back here)."""
    if isinstance(total, np.generic):
        return float(total) / rows
    return total.astype(np.float64) / rows


def _in_dtype_of(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target`` cast to a float prediction's dtype: a float64 or integer target would
    otherwise turn every gradient of a float32 network into float64."""
    if prediction.dtype.kind != "f" or target.dtype == prediction.dtype:
        return target
    return as_array(target, "target", prediction.dtype, allow_empty=True)


class MeanSquaredError(Loss):
    """L = sum((p - y)^2) / batch;  dL/dp = 2 (p - y) / batch (the book's definition).

    ``normalize=True`` first divides each row of the prediction by its sum (the book's option
    for sigmoid outputs on one-hot targets); the gradient goes through that division too.
    ``book_gradient=True`` (with ``normalize``) runs the book's code instead: it sends back
    2 (q - y) / batch for the normalised q, as if there were no division (not the gradient).
    """

    def __init__(self, normalize: bool = False, *, book_gradient: bool = False) -> None:
        super().__init__()
        self.normalize = check_bool("normalize", normalize, owner="MeanSquaredError")
        self.book_gradient = check_bool("book_gradient", book_gradient,
                                        owner="MeanSquaredError")
        if self.book_gradient and not self.normalize:
            raise ValueError("MeanSquaredError: book_gradient=True changes only the gradient of "
                             "normalize=True; give normalize=True with it, or leave it out")

    def _output(self) -> float:
        prediction = self.prediction
        if self.normalize:
            self._row_sum = prediction.sum(axis=1, keepdims=True)
            prediction = prediction / self._row_sum
            self._normalized = prediction
        self._difference = prediction - self.target
        return _sum_over_rows(np.vdot(self._difference, self._difference), len(prediction))

    def _input_grad(self) -> np.ndarray:
        grad = self._difference * (2.0 / len(self.prediction))
        if self.normalize and not self.book_gradient:
            inner = (grad * self._normalized).sum(axis=1, keepdims=True)
            grad = (grad - inner) / self._row_sum
        return grad

    def get_config(self) -> dict:
        config = {"normalize": self.normalize} if self.normalize else {}
        if self.book_gradient:
            config["book_gradient"] = True
        return config


class MeanAbsoluteError(Loss):
    """L = sum(|p - y|) / batch;  dL/dp = sign(p - y) / batch."""

    def _output(self) -> float:
        self._difference = self.prediction - self.target
        return np.abs(self._difference).sum().astype(np.float64) / len(self.prediction)

    def _input_grad(self) -> np.ndarray:
        return np.sign(self._difference) * (1.0 / len(self.prediction))


class Huber(Loss):
    """L = sum(d^2/2 if |d| <= delta else delta (|d| - delta/2)) / batch, d = p - y;
    dL/dp = clip(d, -delta, delta) / batch."""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        check_number("delta", delta, low=0, owner="Huber")
        self.delta = float(delta)

    def _output(self) -> float:
        d = self.prediction - self.target
        self._difference = d
        absolute = np.abs(d)
        quadratic = np.minimum(absolute, self.delta)
        linear = absolute - quadratic
        return (0.5 * quadratic * quadratic + self.delta * linear).sum().astype(np.float64) \
            / len(d)

    def _input_grad(self) -> np.ndarray:
        return np.clip(self._difference, -self.delta, self.delta) * (1.0 / len(self.prediction))

    def get_config(self) -> dict:
        return {"delta": self.delta}


class SoftmaxCrossEntropy(Loss):
    """L = -sum(y * log softmax(p)) / batch, via log-sum-exp;  dL/dp = (softmax(p) - y) / batch.

    ``target``: one-hot rows (batch, classes) that sum to one, or integer labels (batch,).
    For sequences, prediction (batch, time, classes) with one-hot (batch, time, classes) or
    integer (batch, time) targets: every time step is one row and the mean runs over batch and
    time (torch's CrossEntropyLoss), so exp(loss) is the perplexity.
    ``reduction="sum"`` sums over the rows instead (torch's ``reduction='sum'``, the book's
    chapter-6 loss): L = -sum(y * log softmax(p)), dL/dp = softmax(p) - y.
    ``eps`` is accepted for the book's signature and unused: no clipping is needed.
    """

    classification = True
    REDUCTIONS = ("mean", "sum")

    def __init__(self, eps: float = 1e-9, reduction: str = "mean") -> None:
        super().__init__()
        check_number("eps", eps, low=0, low_open=False, owner="SoftmaxCrossEntropy")
        check_choice("reduction", reduction, self.REDUCTIONS, owner="SoftmaxCrossEntropy")
        self.eps = eps
        self.reduction = reduction

    def _rows_divisor(self, rows: int) -> int:
        """What the summed loss and gradient are divided by: the rows, or 1 for a sum."""
        return rows if self.reduction == "mean" else 1

    def _check_target(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        if getattr(prediction, "ndim", None) == 2 and prediction.shape[1] == 1:
            # softmax over one output is always 1: the loss would be 0 whatever the network does
            raise ValueError("SoftmaxCrossEntropy.forward: the prediction has one output per row "
                             f"(shape {prediction.shape}); softmax over one class is always 1, so "
                             "the loss would always be 0. Give the last layer one output per "
                             "class (at least 2), or use BinaryCrossEntropy for one output")
        target_ndim = getattr(target, "ndim", None)
        if getattr(prediction, "ndim", None) == 3:
            return self._check_sequence_target(prediction, target)
        if target_ndim == 1 and getattr(prediction, "ndim", None) == 2:
            if target.dtype.kind not in "iuf":
                raise TypeError("SoftmaxCrossEntropy.forward: a 1-D target must hold integer "
                                f"class labels, got dtype {target.dtype}")
            if target.dtype.kind == "f":
                whole = target == np.round(target)
                if not whole.all():
                    row = int(np.argmin(whole))
                    raise ValueError(f"SoftmaxCrossEntropy.forward: target holds {target[row]} "
                                     f"at row {row}; class labels must be whole numbers")
            if len(target) != len(prediction):
                raise ValueError(f"SoftmaxCrossEntropy.forward: target has {len(target)} labels "
                                 f"for {len(prediction)} predictions")
            classes = prediction.shape[1]
            out_of_range = (target < 0) | (target >= classes)
            if out_of_range.any():
                row = int(np.argmax(out_of_range))
                raise ValueError(f"SoftmaxCrossEntropy.forward: target holds class label "
                                 f"{target[row]:g} at row {row}, out of range; expected labels "
                                 f"in [0, {classes - 1}] for {classes} classes")
            return target.astype(np.int64, copy=False)
        target = super()._check_target(prediction, target)
        if target.ndim != 2:
            raise ValueError(f"SoftmaxCrossEntropy.forward: target must be class labels (batch,) "
                             f"or one-hot rows (batch, classes), got shape {target.shape}")
        outside = (target < 0) | (target > 1)
        if outside.any():
            row, column = (int(i) for i in np.argwhere(outside)[0])
            raise ValueError(f"SoftmaxCrossEntropy.forward: target row {row} holds "
                             f"{target[row, column]:.4g}; one-hot (or probability) entries must "
                             f"be in [0, 1]")
        row_sums = target.sum(axis=1)
        if len(row_sums) and np.abs(row_sums - 1.0).max() > 1e-3:
            row = int(np.abs(row_sums - 1.0).argmax())
            raise ValueError(f"SoftmaxCrossEntropy.forward: target row {row} sums to "
                             f"{row_sums[row]:.4g}; one-hot (or probability) rows must sum to 1")
        return target

    def _check_sequence_target(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Checks for a (batch, time, classes) prediction: the targets of every step."""
        owner = "SoftmaxCrossEntropy.forward"
        batch, steps, classes = prediction.shape
        if target.ndim == 2:
            if target.shape != (batch, steps):
                raise ValueError(f"{owner}: target has shape {target.shape}, but the prediction "
                                 f"has shape {prediction.shape}; expected class labels of shape "
                                 f"{(batch, steps)} or one-hot targets of the prediction's shape")
            if target.dtype.kind not in "iuf":
                raise TypeError(f"{owner}: a 2-D target must hold integer class labels, got "
                                f"dtype {target.dtype}")
            if target.dtype.kind == "f":
                whole = target == np.round(target)
                if not whole.all():
                    index = tuple(int(i) for i in np.argwhere(~whole)[0])
                    raise ValueError(f"{owner}: target holds {target[index]} at index {index}; "
                                     f"class labels must be whole numbers")
            out_of_range = (target < 0) | (target >= classes)
            if out_of_range.any():
                index = tuple(int(i) for i in np.argwhere(out_of_range)[0])
                raise ValueError(f"{owner}: target holds class label {target[index]:g} at index "
                                 f"{index}, out of range; expected labels in [0, {classes - 1}] "
                                 f"for {classes} classes")
            return target.astype(np.int64, copy=False)
        if target.shape != prediction.shape:
            raise ValueError(f"{owner}: target has shape {target.shape}, but the prediction has "
                             f"shape {prediction.shape}; expected class labels {(batch, steps)} "
                             f"or one-hot targets of the prediction's shape")
        # the checks of one-hot rows, on the (batch * time) rows; row r is step r % time of
        # sequence r // time
        rows = self._check_target(prediction.reshape(-1, classes), target.reshape(-1, classes))
        return rows.reshape(target.shape)

    def _output(self) -> float:
        logits = self.prediction
        if logits.ndim == 3:  # every time step is one row: the mean runs over batch and time
            return self._sequence_output()
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_sum_exp = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_probabilities = shifted - log_sum_exp
        # softmax as exp(log_softmax), as torch computes it: float32 runs stay close to torch's
        self._probabilities = np.exp(log_probabilities)
        n = len(logits)
        divisor = self._rows_divisor(n)
        if self.target.ndim == 1:
            picked = log_probabilities[arange(n, like=logits), self.target]
            return -picked.sum().astype(np.float64) / divisor
        return -np.vdot(self.target, log_probabilities).astype(np.float64) / divisor

    def _sequence_output(self) -> float:
        """``_output`` on (batch * time, classes) rows of a (batch, time, classes) prediction."""
        prediction, target = self.prediction, self.target
        classes = prediction.shape[-1]
        self.prediction = prediction.reshape(-1, classes)
        self.target = target.reshape(-1) if target.ndim == 2 else target.reshape(-1, classes)
        try:
            return self._output()
        finally:
            self.prediction, self.target = prediction, target

    def _input_grad(self) -> np.ndarray:
        if self.prediction.ndim == 3:
            rows = self._probabilities.shape[0]
            grad = self._probabilities.copy()
            target = self.target.reshape(rows, -1) if self.target.ndim == 3 \
                else self.target.reshape(-1)
            if target.ndim == 1:
                grad[arange(rows, like=grad), target] -= 1.0
            else:
                grad -= target
            if self.reduction == "mean":
                grad *= 1.0 / rows
            return grad.reshape(self.prediction.shape)
        grad = self._probabilities.copy()  # a copy: backward may be called more than once
        if self.target.ndim == 1:
            grad[arange(len(grad), like=grad), self.target] -= 1.0
        else:
            grad -= self.target
        if self.reduction == "mean":
            grad *= 1.0 / len(grad)
        return grad

    def get_config(self) -> dict:
        return {"reduction": self.reduction} if self.reduction != "mean" else {}


class BinaryCrossEntropy(Loss):
    """L = sum(softplus(p) - y p) / batch on logits p;  dL/dp = (sigmoid(p) - y) / batch.

    ``target``: 0/1 (or probabilities) of the prediction's shape.
    """

    classification = True

    def _check_target(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        target = super()._check_target(prediction, target)
        outside = (target < 0) | (target > 1)
        if outside.any():
            index = tuple(int(i) for i in np.argwhere(outside)[0])
            raise ValueError(f"BinaryCrossEntropy.forward: target holds {target[index]:.4g} at "
                             f"index {index}; expected 0/1 labels or probabilities in [0, 1]")
        return target

    def _output(self) -> float:
        p = self.prediction
        softplus = np.maximum(p, 0) + np.log1p(np.exp(-np.abs(p)))
        return (softplus - self.target * p).sum().astype(np.float64) / len(p)

    def _input_grad(self) -> np.ndarray:
        probabilities = 0.5 * (np.tanh(0.5 * self.prediction) + 1.0)
        return (probabilities - self.target) * (1.0 / len(self.prediction))


__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "SoftmaxCrossEntropy",
           "BinaryCrossEntropy", "softmax"]
