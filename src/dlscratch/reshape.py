"""Reshaping: Flatten (the book's operation, also a layer); the base of parameter-free layers."""

from __future__ import annotations

import numpy as np

from .base import Operation
from .layers import Layer


class FlattenOperation(Operation):
    """out = X.reshape(batch, -1);  dL/dX = dL/dout.reshape(X.shape).

    X: (batch, d1, d2, ...), out: (batch, d1 * d2 * ...). Neither way copies, for a C-ordered X
    and for a channel-major one (a convolution's output, see ``conv.py``): the latter is
    flattened as the transpose of its ``(d1 * d2 * ..., batch)`` matrix, and the gradient is
    read back the same way.
    """

    def _channel_major(self) -> bool:
        x = self.input_
        return not x.flags.c_contiguous and x.transpose(*range(1, x.ndim), 0).flags.c_contiguous

    def _output(self, inference: bool = False) -> np.ndarray:
        x = self.input_
        if self._channel_major():
            return x.transpose(*range(1, x.ndim), 0).reshape(-1, x.shape[0]).T
        return x.reshape(x.shape[0], -1)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        shape = self.input_.shape
        if self._channel_major():
            grad = output_grad.T.reshape(*shape[1:], shape[0])
            return grad.transpose(grad.ndim - 1, *range(grad.ndim - 1))
        return output_grad.reshape(shape)


class OperationLayer(Layer):
    """A layer without parameters around one operation (pooling, flattening).

    It behaves as every layer: built on the first forward, it remembers the input shape it was
    built for and refuses others, and it can stand anywhere in a ``NeuralNetwork``.
    """

    sized_by_input = True

    def __init__(self) -> None:
        super().__init__(neurons=None)

    def _make_operation(self, input_: np.ndarray) -> Operation:
        raise NotImplementedError(f"{type(self).__name__} must implement _make_operation")

    def _setup_layer(self, input_: np.ndarray) -> None:
        self.operations = [self._make_operation(input_)]

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Flatten(OperationLayer):
    """out = X.reshape(batch, -1): (batch, C, H, W) -> (batch, C * H * W), for a following Dense."""

    def _make_operation(self, input_: np.ndarray) -> Operation:
        return FlattenOperation()

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """No arrays; the output row from ``output_shape``."""
        return {}, tuple(self.output_shape(tuple(input_shape)))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one output row for input rows of ``input_shape``."""
        return (int(np.prod(input_shape)),)
