"""Batch normalization: normalize each channel over the batch, then scale and shift it.

The layer is three operations in the seed's style: ``BatchNormalize`` (no parameters; it keeps
the running statistics), ``ChannelScale`` (gamma) and ``ChannelBiasAdd`` (beta).
"""

from __future__ import annotations

import numpy as np

from .backend import zeros
from .base import Operation
from .conv import ChannelBiasAdd, ChannelScale, _channel_dot, _sum_but_channels
from .layers import Layer
from .validation import check_number, check_positive


class BatchNormalize(Operation):
    """Training: xhat = (x - mean) / sqrt(var + eps) with the batch's mean and (biased) var per
    channel, and the running statistics move by ``momentum`` towards them (the running variance
    takes the unbiased var, n / (n - 1) times the batch's, as PyTorch);
    dL/dx = (dL/dxhat - mean(dL/dxhat) - xhat * mean(dL/dxhat * xhat)) / sqrt(var + eps).
    Inference: xhat = (x - running_mean) / sqrt(running_var + eps), a fixed affine map, and
    dL/dx = dL/dxhat / sqrt(running_var + eps).

    X: (batch, C) or (batch, C, H, W) (any rank >= 2; the statistics are over every axis but
    axis 1), running_mean and running_var: (C,).
    """

    def __init__(self, running_mean: np.ndarray, running_var: np.ndarray,
                 momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.running_mean = running_mean
        self.running_var = running_var
        self.momentum = float(momentum)
        self.eps = float(eps)
        self._inv_std: np.ndarray | None = None
        self._training = True

    def _axes_and_shape(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        x = self.input_
        channels = self.running_mean.shape[0]
        if x.ndim < 2 or x.shape[1] != channels:
            raise ValueError(f"BatchNormalize.forward: input must have {channels} channels on "
                             f"axis 1, got shape {x.shape}")
        return (0,) + tuple(range(2, x.ndim)), (1, channels) + (1,) * (x.ndim - 2)

    def _output(self, inference: bool = False) -> np.ndarray:
        x = self.input_
        axes, shape = self._axes_and_shape()
        self._training = not inference
        if inference:
            inv_std = 1.0 / np.sqrt(self.running_var.reshape(shape) + self.eps)
            self._inv_std = inv_std
            out = np.subtract(x, self.running_mean.reshape(shape), out=np.empty_like(x))
            out *= inv_std
            return out
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"BatchNorm: a training batch needs more than one value per "
                             f"channel, got input of shape {x.shape}; use batches of at least 2 "
                             f"rows (a last batch of one row: change batch_size)")
        mean = (_sum_but_channels(x) * (1.0 / count)).reshape(shape)
        out = np.subtract(x, mean, out=np.empty_like(x))
        var = (_channel_dot(out, out) * (1.0 / count)).reshape(shape)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        out *= inv_std
        self._inv_std = inv_std
        m = self.momentum
        running_mean, running_var = self.running_mean, self.running_var
        running_mean *= 1.0 - m
        running_mean += m * mean.reshape(running_mean.shape)
        running_var *= 1.0 - m
        running_var += (m * count / (count - 1)) * var.reshape(running_var.shape)
        return out

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        if not self._training:
            return np.multiply(output_grad, self._inv_std, out=np.empty_like(output_grad))
        _, shape = self._axes_and_shape()
        xhat = self.output
        scale = 1.0 / (output_grad.size // output_grad.shape[1])
        mean_grad = (_sum_but_channels(output_grad) * scale).reshape(shape)
        mean_product = (_channel_dot(output_grad, xhat) * scale).reshape(shape)
        # one array for the whole formula, laid out as the gradient
        grad = np.multiply(xhat, mean_product, out=np.empty_like(output_grad))
        np.subtract(output_grad, grad, out=grad)
        grad -= mean_grad
        grad *= self._inv_std
        return grad

    def get_config(self) -> dict:
        return {"momentum": self.momentum, "eps": self.eps}


class BatchNorm(Layer):
    """out = gamma * (x - mean) / sqrt(var + eps) + beta, per channel (PyTorch's BatchNorm1d/2d).

    X: (batch, features) or (batch, C, H, W); gamma (starts at 1) and beta (at 0): (C,). In
    training the batch's statistics normalize and the running ones follow them,
    ``running = (1 - momentum) * running + momentum * batch`` (the variance unbiased); in
    inference (``predict``, ``forward(..., inference=True)``) the running statistics are used.
    The running statistics are ``buffers`` (``running_mean``, ``running_var``): saved with the
    model, never trained.
    """

    sized_by_input = True

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__(neurons=None)
        check_number("momentum", momentum, low=0, high=1, low_open=False, owner="BatchNorm")
        check_positive("eps", eps, owner="BatchNorm")
        self.momentum = float(momentum)
        self.eps = float(eps)

    def forward(self, input_: np.ndarray, inference: bool = False) -> np.ndarray:
        """Normalize ``input_`` (the running statistics are read from ``buffers`` each time)."""
        if not self.first:
            if getattr(input_, "ndim", 0) < 2 or input_.shape[1] != self.input_shape[0]:
                raise ValueError(f"BatchNorm.forward: input has shape "
                                 f"{getattr(input_, 'shape', None)}, but the layer was built "
                                 f"for {self.input_shape[0]} channels on axis 1; expected "
                                 f"(batch, {', '.join(map(str, self.input_shape))})")
            # the buffers may have been replaced (moved to a device, loaded): follow them
            normalize = self.operations[0]
            normalize.running_mean, normalize.running_var = self.buffers
        return super().forward(input_, inference)

    def _setup_layer(self, input_: np.ndarray) -> None:
        if input_.ndim < 2:
            raise ValueError(f"BatchNorm.forward: input must have at least 2 dimensions "
                             f"(batch, channels, ...), got shape {input_.shape}")
        channels = input_.shape[1]
        gamma = zeros((channels,), self.dtype, like=input_)
        gamma += 1
        beta = zeros((channels,), self.dtype, like=input_)
        running_mean = zeros((channels,), self.dtype, like=input_)
        running_var = zeros((channels,), self.dtype, like=input_)
        running_var += 1
        self.params = [gamma, beta]
        self.buffers = [running_mean, running_var]
        self.operations = [BatchNormalize(running_mean, running_var, self.momentum, self.eps),
                           ChannelScale(gamma),
                           # in place: the scaled array is new and only this sum reads it
                           ChannelBiasAdd(beta, in_place=True)]

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one output row: that of the input."""
        return tuple(input_shape)

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """gamma, beta and the running statistics, one number per channel (input_shape[0])."""
        if len(input_shape) < 1:
            raise ValueError("BatchNorm.forward: input must have at least 2 dimensions "
                             "(batch, channels, ...)")
        channel = (input_shape[0],)
        return ({"gamma": channel, "beta": channel, "running_mean": channel,
                 "running_var": channel}, tuple(input_shape))

    def parameter_names(self) -> list[str]:
        return ["gamma", "beta"]

    def buffer_names(self) -> list[str]:
        return ["running_mean", "running_var"]

    def get_config(self) -> dict:
        return {"momentum": self.momentum, "eps": self.eps}

    def __repr__(self) -> str:
        return f"BatchNorm(momentum={self.momentum}, eps={self.eps})"
