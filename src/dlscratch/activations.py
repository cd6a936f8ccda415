"""Activation functions: operations without parameters, applied element by element."""

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

    def _target(self) -> np.ndarray | None:
        """Where the output goes: the input itself when in place, else a new array."""
        return self.input_ if self.in_place else None


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
        return output_grad * self.output * (1.0 - self.output)


class Tanh(InPlaceActivation):
    """out = tanh(x);  dL/dx = dL/dout * (1 - out^2)."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.tanh(self.input_, out=self._target())

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        # (1 - out^2) * dL/dout in one new array (three passes, no temporaries)
        grad = np.multiply(self.output, self.output)
        np.subtract(1.0, grad, out=grad)
        grad *= output_grad
        return grad


class ReLU(InPlaceActivation):
    """out = max(x, 0);  dL/dx = dL/dout where out > 0 (where x > 0), else 0."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.maximum(self.input_, 0, out=self._target())

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        # a product with the boolean mask: four times faster than np.where(mask, grad, 0)
        return output_grad * (self.output > 0)


class LeakyReLU(Operation):
    """out = x if x > 0 else alpha * x;  dL/dx = dL/dout * (1 if x > 0 else alpha)."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        check_number("alpha", alpha, low=0, low_open=False, owner="LeakyReLU")
        self.alpha = float(alpha)

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.where(self.input_ > 0, self.input_, self.input_ * self.alpha)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return np.where(self.input_ > 0, output_grad, output_grad * self.alpha)

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
        return np.where(self.input_ > 0, self.input_, negative_part)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return np.where(self.input_ > 0, output_grad, output_grad * (self.output + self.alpha))

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
        return 0.5 * x * (1.0 + self._tanh)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        x, t = self.input_, self._tanh
        inner_grad = self._c * (1.0 + 3 * 0.044715 * x * x)
        return output_grad * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner_grad)

    def _release(self) -> None:
        super()._release()
        self._tanh = None


class Softmax(Operation):
    """out_i = exp(x_i) / sum_j exp(x_j) per row;  dL/dx = out * (g - sum(g * out)) per row.

    For turning logits into probabilities at inference; train with SoftmaxCrossEntropy instead.
    """

    def _output(self, inference: bool = False) -> np.ndarray:
        return softmax(self.input_)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        s = self.output
        return s * (output_grad - (output_grad * s).sum(axis=1, keepdims=True))


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so exp never overflows."""
    shifted = x - x.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted
