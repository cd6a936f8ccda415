"""What the bridge tests (test_onnx, test_torch_bridge) share: every activation a bridge must
carry, and a custom operation no bridge knows."""

from __future__ import annotations

import numpy as np

from dlscratch import ELU, GELU, LeakyReLU, Linear, Operation, ReLU, Sigmoid, Softmax, Tanh

ACTIVATIONS = [Linear(), Sigmoid(), Tanh(), ReLU(), LeakyReLU(0.1), ELU(0.7), GELU(), Softmax()]


class Square(Operation):
    """out = x^2 (a custom operation without a converter)."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return self.input_ * self.input_

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return 2 * self.input_ * output_grad
