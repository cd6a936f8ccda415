"""Activation functions: operations without parameters, applied element by element.

A result keeps the memory layout of the array it is computed from (``out=np.empty_like(x)``):
NumPy's ufuncs would follow their operands by themselves, CuPy's return C-ordered arrays, and
the channel-major layout of convolution outputs (``conv.py``) must survive an activation.
"""

from __future__ import annotations

import numpy as np

from .base import Operation
from .validation import check_number


class Linear(Operation):
    """out = x;  dL/dx = dL/dout (the identity, for regression outputs)."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return self.input_

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad


class InPlaceActivation(Operation):
    """An activation whose backward needs only its output, so that it may overwrite its input.

    ``in_place`` is off unless a layer turns it on, for an input that is a fresh array which
    nothing else reads (``Conv2D`` does, after its bias sum): one array fewer per batch.
    """

    in_place = False

    def _target(self) -> np.ndarray:
        """Where the output goes: the input itself when in place, else a new array laid out as
        the input."""
        return self.input_ if self.in_place else np.empty_like(self.input_)


class Sigmoid(InPlaceActivation):
    """out = 1 / (1 + exp(-x));  dL/dx = dL/dout * out * (1 - out).

    Computed as (1 + tanh(x / 2)) / 2, which equals the sigmoid and never overflows.
    """

    def _output(self, inference: bool = False) -> np.ndarray:
        out = np.multiply(self.input_, 0.5, out=self._target())
        np.tanh(out, out=out)
        out += 1.0
        out *= 0.5
        return out

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        grad = np.multiply(output_grad, self.output, out=np.empty_like(output_grad))
        grad *= 1.0 - self.output
        return grad


class Tanh(InPlaceActivation):
    """out = tanh(x);  dL/dx = dL/dout * (1 - out^2)."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.tanh(self.input_, out=self._target())

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        # (1 - out^2) * dL/dout in one new array (three passes, no temporaries)
        grad = np.multiply(self.output, self.output, out=np.empty_like(output_grad))
        np.subtract(1.0, grad, out=grad)
        grad *= output_grad
        return grad


class ReLU(InPlaceActivation):
    """out = max(x, 0);  dL/dx = dL/dout where out > 0 (where x > 0), else 0."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.maximum(self.input_, 0, out=self._target())

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        # a product with the boolean mask: four times faster than np.where(mask, grad, 0)
        return np.multiply(output_grad, self.output > 0, out=np.empty_like(output_grad))


class LeakyReLU(Operation):
    """out = x if x > 0 else alpha * x;  dL/dx = dL/dout * (1 if x > 0 else alpha)."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        check_number("alpha", alpha, low=0, low_open=False, owner="LeakyReLU")
        self.alpha = float(alpha)

    def _output(self, inference: bool = False) -> np.ndarray:
        x = self.input_
        return _laid_out_as(np.where(x > 0, x, x * self.alpha), x)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return _laid_out_as(np.where(self.input_ > 0, output_grad, output_grad * self.alpha),
                            output_grad)

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


class ELU(Operation):
    """out = x if x > 0 else alpha (exp(x) - 1);  dL/dx = dL/dout (1 if x > 0 else out + alpha)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        check_number("alpha", alpha, low=0, owner="ELU")
        self.alpha = float(alpha)

    def _output(self, inference: bool = False) -> np.ndarray:
        negative_part = np.expm1(np.minimum(self.input_, 0)) * self.alpha
        return _laid_out_as(np.where(self.input_ > 0, self.input_, negative_part), self.input_)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return _laid_out_as(np.where(self.input_ > 0, output_grad,
                                     output_grad * (self.output + self.alpha)), output_grad)

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


class GELU(Operation):
    """out = x/2 * (1 + tanh(c * (x + 0.044715 x^3))), c = sqrt(2/pi) (the tanh form of GELU).

    This is PyTorch's ``GELU(approximate="tanh")``; it differs from the erf form by < 1e-3.
    """

    _c = float(np.sqrt(2.0 / np.pi))

    def _output(self, inference: bool = False) -> np.ndarray:
        x = self.input_
        self._tanh = np.tanh(self._c * (x + 0.044715 * x * x * x))
        return np.multiply(0.5 * x, 1.0 + self._tanh, out=np.empty_like(x))

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        x, t = self.input_, self._tanh
        inner_grad = self._c * (1.0 + 3 * 0.044715 * x * x)
        return np.multiply(output_grad, 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner_grad,
                           out=np.empty_like(output_grad))

    def _release(self) -> None:
        super()._release()
        self._tanh = None


class Softmax(Operation):
    """out_i = exp(x_i) / sum_j exp(x_j) along ``axis``;  dL/dx = out * (g - sum(g * out)) along it.

    ``axis`` defaults to the last axis (-1), as in Keras: the classes of (batch, classes) rows
    and of every step of (batch, time, classes) sequences, the axis SoftmaxCrossEntropy uses.
    Axis 0 (the batch) is refused: a prediction would then depend on the rows beside it.
    For turning logits into probabilities at inference; train with SoftmaxCrossEntropy instead.
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Softmax: axis must be an integer (default -1, the last axis), "
                            f"got {axis!r}")
        if axis == 0:
            raise ValueError("Softmax: axis must not be 0, the batch axis (each row would then "
                             "depend on the others); give -1 (the last axis, the default) or "
                             "another axis of one row")
        self.axis = int(axis)

    def _checked_axis(self) -> int:
        ndim = self.input_.ndim
        if not -ndim < self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"Softmax.forward: axis={self.axis} is not an axis of one row of an "
                             f"input of shape {self.input_.shape}; expected an axis in "
                             f"[1, {ndim - 1}] or [-{ndim - 1}, -1]")
        return self.axis

    def _output(self, inference: bool = False) -> np.ndarray:
        return softmax(self.input_, self._checked_axis())

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        s = self.output
        return s * (output_grad - (output_grad * s).sum(axis=self.axis, keepdims=True))

    def get_config(self) -> dict:
        # the default is left out: files saved before the argument existed load unchanged
        return {} if self.axis == -1 else {"axis": self.axis}


def _laid_out_as(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``result`` in the memory layout of ``like`` (``np.where`` has no ``out``: on CuPy, a
    channel-major ``like`` costs one copy here; on NumPy the layouts already agree)."""
    if result.strides == like.strides or like.flags.c_contiguous:
        return result
    out = np.empty_like(like, dtype=result.dtype)
    out[...] = result
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis`` (the last by default), shifted by the maximum so exp never
    overflows."""
    if x.dtype.kind != "f":  # integer or boolean scores: probabilities are floats
        x = x.astype(np.float64)
    shifted = x - x.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted
