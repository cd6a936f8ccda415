"""Dropout: during training keep each unit with probability keep_prob, scaled by 1 / keep_prob."""

from __future__ import annotations

import numpy as np

from .backend import DeviceGenerator, array_module, is_host
from .base import Operation
from .validation import check_number


class Dropout(Operation):
    """Training: out = x * mask / keep_prob, mask ~ Bernoulli(keep_prob); inference: out = x.

    ``keep_prob`` has the book's meaning (``Dense(dropout=0.8)`` keeps 80% of the units). The
    scaling is "inverted", so nothing changes at inference. Usable inside a layer or directly as
    a layer of a ``NeuralNetwork``; the network gives it its own random generator.
    """

    def __init__(self, keep_prob: float = 0.8) -> None:
        super().__init__()
        check_number("keep_prob (dropout)", keep_prob, low=0, high=1, owner="Dropout")
        self.keep_prob = float(keep_prob)
        self.rng: np.random.Generator | None = None
        self.mask: np.ndarray | None = None

    def _output(self, inference: bool = False) -> np.ndarray:
        if inference or self.keep_prob == 1.0:
            self.mask = None
            return self.input_
        if self.rng is None:
            self.rng = np.random.default_rng()
        if is_host(self.input_):
            keep = self.rng.random(self.input_.shape, dtype=np.float32) < self.keep_prob
        else:
            keep = self._device_uniform() < self.keep_prob
        self.mask = keep.astype(self.input_.dtype)
        self.mask *= 1.0 / self.keep_prob
        return np.multiply(self.input_, self.mask, out=np.empty_like(self.input_))

    def _device_uniform(self):
        """U[0, 1) of the input's shape, drawn on the input's device.

        The device generator of step n is seeded with the n-th draw of the layer's host
        generator (itself a child of the network's seed): a run repeats exactly, and a
        checkpoint (which keeps the host generator's state) needs no device generator state.
        """
        module = array_module(self.input_)
        generator = getattr(self, "_device_generator", None)
        if generator is None or generator.module is not module:
            generator = self._device_generator = DeviceGenerator(module)
        generator.seed(self.rng.integers(0, 2 ** 63))
        return generator.random(self.input_.shape, np.float32)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return output_grad
        return np.multiply(output_grad, self.mask, out=np.empty_like(output_grad))

    def _release(self) -> None:
        super()._release()
        self.mask = None

    def get_config(self) -> dict:
        return {"keep_prob": self.keep_prob}
