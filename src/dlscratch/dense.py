"""The two parameter operations of a dense layer: X @ W and X + B."""

from __future__ import annotations

import numpy as np

from .base import ParamOperation


class WeightMultiply(ParamOperation):
    """out = X @ W;  dL/dX = dL/dout @ W.T;  dL/dW = X.T @ dL/dout.

    X: (batch, n_in), W: (n_in, n_out), out: (batch, n_out). dL/dX is laid out in memory as X
    is (column-major for the flattened output of a convolution, see ``reshape.py``).
    """

    def __init__(self, W: np.ndarray) -> None:
        super().__init__(W)

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.matmul(self.input_, self.param)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        x = self.input_
        if x.ndim == 2 and x.flags.f_contiguous and not x.flags.c_contiguous:
            return np.matmul(self.param, output_grad.T).T
        return np.matmul(output_grad, self.param.T)

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return np.matmul(self.input_.T, output_grad, out=self.param_grad_buffer)


class BiasAdd(ParamOperation):
    """out = X + B (B broadcast over the batch);  dL/dX = dL/dout;  dL/dB = sum over the batch.

    X: (batch, n), B: (1, n), out: (batch, n). ``in_place`` (off unless the trainer turns it on
    for a fresh X that nothing else reads, see ``lean.py``) adds B into X itself.
    """

    in_place = False

    def __init__(self, B: np.ndarray) -> None:
        if B.ndim != 2 or B.shape[0] != 1:
            raise ValueError(f"BiasAdd: B must have shape (1, n), got {B.shape}")
        super().__init__(B)

    def _output(self, inference: bool = False) -> np.ndarray:
        if self.in_place:
            return np.add(self.input_, self.param, out=self.input_)
        return self.input_ + self.param

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad.sum(axis=0, keepdims=True, out=self.param_grad_buffer)
