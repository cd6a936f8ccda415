"""Pooling: the maximum or the mean of each k x k window (MaxPool2D, AvgPool2D), or of the image.

Windows are read as k * k strided slices of the input, one per offset inside the window (the
same slices as im2col, see ``conv.py``); there is no loop over pixels, channels or images, and
the code runs unchanged on device arrays. As in ``conv.py``, the work is done on the
channel-major ``(C, H, W, batch)`` memory and the results are NCHW views of it. No padding
(PyTorch's default): the output is ``floor((H - size) / stride) + 1`` rows high, and rows that
no window reaches are not used.
"""

from __future__ import annotations

import numpy as np

from .backend import empty, zeros
from .base import Operation
from .conv import WindowGeometry, channel_major, channel_major_copy, from_channel_major
from .reshape import OperationLayer
from .validation import check_positive


class _PoolOperation(Operation):
    def __init__(self, size: int, stride: int) -> None:
        super().__init__()
        self.size, self.stride = size, stride
        self._geometry: WindowGeometry | None = None
        self._geometry_for: tuple[int, int] | None = None

    def geometry(self, height: int, width: int) -> WindowGeometry:
        """The windows of an H x W image (checked: the window must fit)."""
        if self._geometry_for != (height, width):
            if height < self.size or width < self.size:
                raise ValueError(f"{type(self).__name__}: the pooling window ({self.size} x "
                                 f"{self.size}, size={self.size}) is larger than the input "
                                 f"({height} x {width}); expected a size of at most "
                                 f"{min(height, width)}")
            self._geometry = WindowGeometry(height, width, self.size, self.stride, (0, 0, 0, 0))
            self._geometry_for = (height, width)
        return self._geometry

    def _input_planes(self) -> tuple[np.ndarray, WindowGeometry]:
        """The input as ``(C, H, W, N)`` and its windows."""
        x = channel_major_copy(self.input_)
        return x, self.geometry(*x.shape[1:3])

    def _windows(self) -> np.ndarray:
        """The k * k windows as planes, (k * k, C, Ho, Wo, N): plane t holds what window
        offset t = i * k + j reads (runs of N numbers copied slice by slice); the sums and
        comparisons that follow then run over whole contiguous planes."""
        x, geometry = self._input_planes()
        windows = empty((self.size * self.size, x.shape[0], geometry.out_height,
                         geometry.out_width, x.shape[-1]), x.dtype, like=x)
        for t, (_, _, _, in_rows, _, in_cols) in enumerate(geometry.offsets):
            windows[t] = x[:, in_rows, in_cols]
        return windows

    def _scatter(self, planes, like: np.ndarray) -> np.ndarray:
        """dL/dx (NCHW view of (C, H, W, N)) from the gradient of each window plane
        (``planes(t)`` gives plane t, (C, Ho, Wo, N)): windows that do not overlap (stride >=
        size) are assigned, overlapping ones added up."""
        N, C, H, W = self.input_.shape
        geometry = self.geometry(H, W)
        grad = zeros((C, H, W, N), like.dtype, like=like)
        overlapping = self.stride < self.size
        for t, (_, _, _, in_rows, _, in_cols) in enumerate(geometry.offsets):
            target = grad[:, in_rows, in_cols]
            if overlapping:
                np.add(target, planes(t), out=target)
            else:
                target[...] = planes(t)
        return from_channel_major(grad)

    def get_config(self) -> dict:
        return {"size": self.size, "stride": self.stride}


class MaxPool2DOperation(_PoolOperation):
    """out[n, c, h, w] = max over the window of x[n, c, s*h + i, s*w + j];  dL/dx = dL/dout at
    the window's first maximum (row-major order, as PyTorch), 0 elsewhere.

    X: (batch, C, H, W), out: (batch, C, Ho, Wo).
    """

    _winners: np.ndarray | None = None

    def _output(self, inference: bool = False) -> np.ndarray:
        windows = self._windows()
        out = windows.max(axis=0)
        self._winners = None if inference else self._first_maximum(windows, out)
        return from_channel_major(out)

    @staticmethod
    def _first_maximum(windows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """(k * k, ...) booleans: True at each window's first maximum only, so a window of
        equal values (zeros after a ReLU) sends its gradient to one input, as PyTorch's does."""
        winners = windows == out
        taken = winners[0].copy()
        for t in range(1, len(winners)):
            # one view object as input and output: CuPy copies an input that overlaps the
            # output unless it is the output array itself
            plane = winners[t]
            np.greater(plane, taken, out=plane)  # a maximum not taken before
            np.logical_or(taken, plane, out=taken)
        return winners

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        if self._winners is None:  # forward ran in inference mode
            self._output(inference=False)
        winners = self._winners
        grad = channel_major_copy(output_grad)
        routed = np.empty_like(grad)
        return self._scatter(lambda t: np.multiply(grad, winners[t], out=routed), grad)

    def _release(self) -> None:
        super()._release()
        self._winners = None


class AvgPool2DOperation(_PoolOperation):
    """out[n, c, h, w] = mean over the window of x[n, c, s*h + i, s*w + j];
    dL/dx = the sum, over the windows that read x, of dL/dout / size^2.

    X: (batch, C, H, W), out: (batch, C, Ho, Wo).
    """

    def _output(self, inference: bool = False) -> np.ndarray:
        out = self._windows().sum(axis=0)
        out *= 1.0 / (self.size * self.size)
        return from_channel_major(out)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        share = channel_major_copy(output_grad) * (1.0 / (self.size * self.size))
        return self._scatter(lambda t: share, share)


class GlobalAvgPool2DOperation(Operation):
    """out[n, c] = mean over h, w of x[n, c, h, w];  dL/dx[n, c, h, w] = dL/dout[n, c] / (H * W).

    X: (batch, C, H, W), out: (batch, C).
    """

    def _output(self, inference: bool = False) -> np.ndarray:
        x = self.input_
        N, C = x.shape[:2]
        moved = channel_major(x)                              # (C, H, W, N)
        if moved.flags.c_contiguous:
            return moved.reshape(C, -1, N).mean(axis=1).T.copy()
        return x.reshape(N, C, -1).mean(axis=2)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        N, C, H, W = self.input_.shape
        grad = empty((C, H, W, N), output_grad.dtype, like=output_grad)
        grad[...] = (output_grad.T * (1.0 / (H * W))).reshape(C, 1, 1, N)
        return from_channel_major(grad)


def _check_4d(layer: OperationLayer, input_: np.ndarray) -> None:
    if getattr(input_, "ndim", None) != 4:
        raise ValueError(f"{type(layer).__name__}.forward: input must have 4 dimensions (batch, "
                         f"channels, height, width), got shape {getattr(input_, 'shape', None)}")


class _Pool2D(OperationLayer):
    operation_class: type[_PoolOperation]

    def __init__(self, size: int, stride: int | None = None) -> None:
        super().__init__()
        owner = type(self).__name__
        check_positive("size", size, integer=True, owner=owner)
        if stride is not None:
            check_positive("stride", stride, integer=True, owner=owner)
        self.size = int(size)
        self.stride = self.size if stride is None else int(stride)

    def _make_operation(self, input_: np.ndarray) -> Operation:
        _check_4d(self, input_)
        operation = self.operation_class(self.size, self.stride)
        operation.geometry(*input_.shape[2:])  # refuse a window larger than the image now
        return operation

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """No arrays; the output row (rows that do not fit are refused by ``forward``)."""
        if len(input_shape) != 3:
            return {}, tuple(input_shape)
        output = tuple(max(1, n) for n in self.output_shape(tuple(input_shape)))
        return {}, output

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one output row for input rows of ``input_shape`` (C, H, W)."""
        channels, height, width = input_shape
        return (channels, (height - self.size) // self.stride + 1,
                (width - self.size) // self.stride + 1)

    def get_config(self) -> dict:
        return {"size": self.size, "stride": self.stride}


class MaxPool2D(_Pool2D):
    """The maximum of each ``size`` x ``size`` window, windows ``stride`` apart (default: size).

    X: (batch, C, H, W), out: (batch, C, floor((H - size) / stride) + 1, same for W).
    """

    operation_class = MaxPool2DOperation


class AvgPool2D(_Pool2D):
    """The mean of each ``size`` x ``size`` window, windows ``stride`` apart (default: size).

    X: (batch, C, H, W), out: (batch, C, floor((H - size) / stride) + 1, same for W).
    """

    operation_class = AvgPool2DOperation


class GlobalAvgPool2D(OperationLayer):
    """The mean of each channel over the whole image: (batch, C, H, W) -> (batch, C)."""

    def _make_operation(self, input_: np.ndarray) -> Operation:
        _check_4d(self, input_)
        return GlobalAvgPool2DOperation()

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one output row for input rows of ``input_shape`` (C, H, W)."""
        return (input_shape[0],)

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """No arrays; one mean per channel."""
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D.forward: input must have 4 dimensions (batch, "
                             f"channels, height, width), got rows of shape {tuple(input_shape)}")
        return {}, (input_shape[0],)
