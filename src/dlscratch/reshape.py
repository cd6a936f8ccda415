"""Reshaping: Flatten (the book's operation, also a layer); the base of parameter-free layers."""

from __future__ import annotations

import numpy as np

from .base import Operation
from .layers import Layer


class FlattenOperation(Operation):
    """out = X.reshape(batch, -1);  dL/dX = dL/dout.reshape(X.shape) (no copy either way).

    X: (batch, d1, d2, ...), out: (batch, d1 * d2 * ...).
    """

    def _output(self, inference: bool = False) -> np.ndarray:
        return self.input_.reshape(self.input_.shape[0], -1)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad.reshape(self.input_.shape)


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
