"""The two parameter operations of a dense layer: X @ W and X + B."""

from __future__ import annotations

import numpy as np

from .base import ParamOperation


class WeightMultiply(ParamOperation):
    """out = X @ W;  dL/dX = dL/dout @ W.T;  dL/dW = X.T @ dL/dout.

    X: (batch, n_in), W: (n_in, n_out), out: (batch, n_out).
    """

    def __init__(self, W: np.ndarray) -> None:
        super().__init__(W)
        self._param_grad_buffer: np.ndarray | None = None

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.matmul(self.input_, self.param)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return np.matmul(output_grad, self.param.T)

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        # Written into one buffer, reused by every backward (as large as W: no allocation per
        # step); the optimizer reads it before the next backward overwrites it.
        buffer = self._param_grad_buffer
        if self.input_.dtype != self.param.dtype or output_grad.dtype != self.param.dtype:
            return np.matmul(self.input_.T, output_grad)
        if buffer is None or buffer.shape != self.param.shape or buffer.dtype != self.param.dtype:
            buffer = self._param_grad_buffer = np.empty_like(self.param)
        return np.matmul(self.input_.T, output_grad, out=buffer)


class BiasAdd(ParamOperation):
    """out = X + B (B broadcast over the batch);  dL/dX = dL/dout;  dL/dB = sum over the batch.

    X: (batch, n), B: (1, n), out: (batch, n).
    """

    def __init__(self, B: np.ndarray) -> None:
        if B.ndim != 2 or B.shape[0] != 1:
            raise ValueError(f"BiasAdd: B must have shape (1, n), got {B.shape}")
        super().__init__(B)

    def _output(self, inference: bool = False) -> np.ndarray:
        return self.input_ + self.param

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad.sum(axis=0, keepdims=True)
