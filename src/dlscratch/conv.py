"""Convolution (chapter 5): the operation as im2col plus one matrix product, and the Conv2D layer.

Shapes are NCHW, weights ``(out_channels, in_channels, k, k)`` as in PyTorch and ONNX. The
output of an image of height H is ``floor((H + pad_top + pad_bottom - k) / stride) + 1`` rows
high (PyTorch's and ONNX's rule: input rows that no window reaches are not used), the same for
the width.

Memory is channel-major with the batch last. Every 4-D array this module and ``pooling.py``
return is an NCHW *view* of a ``(C, H, W, batch)`` array (``channel_major`` gives that array
back for free), so that:

- the convolution's matrix product ``W2 @ cols`` comes out as ``(O, Ho * Wo * batch)``, which is
  already the next layer's layout: no transposing copy of the output, nor of the gradient that
  comes back;
- every im2col and col2im slice moves runs of ``Wo * batch`` contiguous numbers (in NCHW they
  would be runs of ``Wo``: 14 numbers on a 14 x 14 image).

Element-wise operations keep the layout because they are told to: every new array they return
is written into ``np.empty_like`` of their input (or in place). NumPy's ufuncs would follow
their operands' layout by themselves, but CuPy's always return C-ordered arrays, which would
cost every convolution and pooling a transposing copy per batch. An NCHW-contiguous batch (the
user's images) is accepted everywhere and copied to channel-major once, where a convolution or
pooling reads it.

im2col copies the input into columns: ``cols[c, i, j, h, w, n]`` is what kernel offset (i, j)
of output pixel (h, w) of image n reads in channel c, a strided slice of the input. The copy is
k * k slice assignments (one per kernel offset, each over the whole batch and every channel; no
loop over pixels, channels or images), and each pass of the convolution is then one matrix
product. The padding is never materialised (``WindowGeometry``: entries that read padding stay
zero from the allocation, and the columns' array is reused from batch to batch). col2im, the
adjoint, is one in-place add per kernel offset, chosen over a second im2col of the gradient (a
"full" convolution with the flipped kernel), which would copy O/C times as many numbers for the
same product and needs stride 1. Slices work the same on NumPy and on device arrays, which
``sliding_window_view`` (NumPy only) would not.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .activations import InPlaceActivation, Linear
from .backend import empty, zeros
from .base import Operation, ParamOperation
from .dropout import Dropout
from .layers import Layer
from .reshape import FlattenOperation
from .validation import check_choice, check_number, check_positive

CONV_WEIGHT_INITS = ("normal", "glorot", "he")
# the most numbers of im2col columns made at once in inference (64 MB in float32)
INFERENCE_COLUMNS = 2**24


def channel_major(x: np.ndarray) -> np.ndarray:
    """The ``(C, *spatial, batch)`` view of a ``(batch, C, *spatial)`` array (no copy)."""
    return x.transpose(*range(1, x.ndim), 0)


def from_channel_major(array: np.ndarray) -> np.ndarray:
    """The ``(batch, C, *spatial)`` view of a ``(C, *spatial, batch)`` array (no copy)."""
    return array.transpose(array.ndim - 1, *range(array.ndim - 1))


def channel_major_copy(x: np.ndarray) -> np.ndarray:
    """``channel_major(x)``, copied to contiguous memory only if it is not already."""
    moved = channel_major(x)
    return moved if moved.flags.c_contiguous else moved.copy()


def channel_rows(x: np.ndarray) -> np.ndarray:
    """``(batch, C, ...)`` -> ``(C, everything else)``, a view of a channel-major array."""
    return channel_major_copy(x).reshape(x.shape[1], -1)


def _offset_slices(size: int, pad_before: int, kernel: int, stride: int, out_size: int
                   ) -> list[tuple[slice, slice]]:
    """For each kernel offset i: (output slice, input slice) of the positions inside the image.

    Output position o reads input position ``o * stride + i - pad_before``; only the outputs
    whose input lies in [0, size) are listed (the others read padding, which is zero).
    """
    slices = []
    for i in range(kernel):
        first = max(0, -(-(pad_before - i) // stride))          # ceil((pad - i) / stride)
        last = min(out_size - 1, (size - 1 + pad_before - i) // stride)
        if last < first:
            slices.append((slice(0, 0), slice(0, 0)))
            continue
        start = first * stride + i - pad_before
        slices.append((slice(first, last + 1),
                       slice(start, start + (last - first) * stride + 1, stride)))
    return slices


class WindowGeometry:
    """Where each kernel offset of a k x k window with stride and padding reads an H x W image."""

    def __init__(self, height: int, width: int, kernel: int, stride: int,
                 padding: tuple[int, int, int, int]) -> None:
        top, bottom, left, right = padding
        self.kernel, self.stride = kernel, stride
        self.out_height = (height + top + bottom - kernel) // stride + 1
        self.out_width = (width + left + right - kernel) // stride + 1
        rows = _offset_slices(height, top, kernel, stride, self.out_height)
        cols = _offset_slices(width, left, kernel, stride, self.out_width)
        # (i, j, output rows, input rows, output columns, input columns)
        self.offsets = [(i, j, rows[i][0], rows[i][1], cols[j][0], cols[j][1])
                        for i in range(kernel) for j in range(kernel)]


def im2col(x: np.ndarray, geometry: WindowGeometry, out: np.ndarray | None = None
           ) -> np.ndarray:
    """``cols[c, i, j, h, w, n] = x_padded[c, h * stride + i, w * stride + j, n]``.

    ``x`` is channel-major, ``(C, H, W, batch)``. ``out`` (shape ``(C, k, k, Ho, Wo, batch)``)
    is reused when given: its padding entries must be zero (they are never written).
    """
    C, N = x.shape[0], x.shape[-1]
    k = geometry.kernel
    if out is None:
        out = zeros((C, k, k, geometry.out_height, geometry.out_width, N), x.dtype, like=x)
    for i, j, out_rows, in_rows, out_cols, in_cols in geometry.offsets:
        out[:, i, j, out_rows, out_cols] = x[:, in_rows, in_cols]
    return out


def col2im(cols: np.ndarray, geometry: WindowGeometry, input_shape: tuple[int, ...]
           ) -> np.ndarray:
    """The adjoint of ``im2col``: every column entry is added back where it was read from.

    ``cols``: ``(C, k, k, Ho, Wo, batch)``; the result: ``input_shape``, ``(C, H, W, batch)``.
    Overlapping windows accumulate; entries that read padding are dropped. One in-place add per
    kernel offset, each over every channel and the whole batch.
    """
    grad = zeros(input_shape, cols.dtype, like=cols)
    for i, j, out_rows, in_rows, out_cols, in_cols in geometry.offsets:
        target = grad[:, in_rows, in_cols]
        np.add(target, cols[:, i, j, out_rows, out_cols], out=target)
    return grad


def resolve_padding(padding: int | str, kernel: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for an int or ``"same"``/``"valid"`` (PyTorch's split)."""
    if padding == "same":
        total = kernel - 1
        before = total // 2
        return before, total - before, before, total - before
    if padding == "valid":
        return 0, 0, 0, 0
    return padding, padding, padding, padding


class Conv2DOperation(ParamOperation):
    """out[n, o] = sum over c, i, j of W[o, c, i, j] * x_pad[n, c, s*h + i, s*w + j].

    As matrices: ``out = W2 @ cols`` with ``W2 = W.reshape(O, C*k*k)`` and ``cols`` the im2col
    columns of the whole batch, ``(C*k*k, batch*Ho*Wo)``; then ``dL/dW2 = dL/dout @ cols.T``
    and ``dL/dcols = W2.T @ dL/dout``, which col2im adds back into the image (the exact
    adjoint, with overlapping windows accumulated): one matrix product per pass.

    X: (batch, C, H, W), W: (O, C, k, k), out: (batch, O, Ho, Wo). ``padding`` is an int or
    (top, bottom, left, right).
    """

    def __init__(self, W: np.ndarray, stride: int = 1,
                 padding: int | tuple[int, int, int, int] = 0) -> None:
        if W.ndim != 4 or W.shape[2] != W.shape[3]:
            raise ValueError(f"Conv2DOperation: W must have shape (out_channels, in_channels, "
                             f"k, k), got {W.shape}")
        check_positive("stride", stride, integer=True, owner="Conv2DOperation")
        if isinstance(padding, (int, np.integer)):
            padding = (int(padding),) * 4
        padding = tuple(padding)
        if len(padding) != 4 or any(isinstance(p, bool) or not isinstance(p, (int, np.integer))
                                    or p < 0 for p in padding):
            raise ValueError(f"Conv2DOperation: padding must be an int >= 0 or four of them "
                             f"(top, bottom, left, right), got {padding!r}")
        super().__init__(W)
        self.stride = int(stride)
        self.padding = tuple(int(p) for p in padding)
        self.kernel = W.shape[2]
        self._geometry: WindowGeometry | None = None
        self._geometry_for: tuple[int, int] | None = None
        self._cols: np.ndarray | None = None
        self._columns_buffer: np.ndarray | None = None  # reused from batch to batch
        self._grad_rows: np.ndarray | None = None  # dL/dout as a matrix, during backward

    def geometry(self, height: int, width: int) -> WindowGeometry:
        """The window geometry for H x W inputs (checked: the kernel must fit)."""
        if self._geometry_for != (height, width):
            top, bottom, left, right = self.padding
            k = self.kernel
            if height + top + bottom < k or width + left + right < k:
                raise ValueError(
                    f"{type(self).__name__}: the kernel ({k} x {k}, param_size={k}) is larger "
                    f"than the padded input ({height + top + bottom} x {width + left + right}: "
                    f"{height} x {width} plus padding {self.padding}); expected a kernel of at "
                    f"most {min(height + top + bottom, width + left + right)}, more padding or "
                    f"larger images")
            self._geometry = WindowGeometry(height, width, k, self.stride, self.padding)
            self._geometry_for = (height, width)
        return self._geometry

    def _columns(self, shape: tuple[int, ...], like: np.ndarray, inference: bool
                 ) -> np.ndarray:
        """The im2col array, kept from batch to batch in training (a fresh one in inference,
        where batches are large and rare); its padding entries stay zero, never written."""
        from ._shapes import check_work_array

        check_work_array("Conv2D.forward", "of im2col columns", shape, like.dtype,
                         "use a smaller batch, padding, kernel or image")
        if inference:
            return zeros(shape, like.dtype, like=like)
        buffer = self._columns_buffer
        if buffer is None or buffer.shape != shape or buffer.dtype != like.dtype \
                or type(buffer) is not type(like):
            buffer = self._columns_buffer = zeros(shape, like.dtype, like=like)
        return buffer

    def _weights(self) -> np.ndarray:
        """The weights in PyTorch's layout, (out_channels, in_channels, k, k)."""
        return self.param

    def _check_input(self, x: np.ndarray) -> None:
        """Refuse an input that is not (batch, in_channels, H, W) for these weights."""
        in_channels = self._weights().shape[1]
        if getattr(x, "ndim", None) != 4 or x.shape[1] != in_channels:
            raise ValueError(
                f"{type(self).__name__}.forward: the weights {self._layout} of shape "
                f"{tuple(self.param.shape)} take {in_channels} input channels, but the input "
                f"has shape {tuple(getattr(x, 'shape', ()))}; expected (batch, {in_channels}, "
                f"height, width)")

    _layout = "(out_channels, in_channels, k, k)"

    def _output(self, inference: bool = False) -> np.ndarray:
        self._check_input(self.input_)
        x = channel_major_copy(self.input_)                        # (C, H, W, N)
        C, H, W, N = x.shape
        geometry = self.geometry(H, W)
        O, Ho, Wo = self._weights().shape[0], geometry.out_height, geometry.out_width
        per_image = C * self.kernel ** 2 * Ho * Wo
        chunk = max(1, INFERENCE_COLUMNS // per_image)
        if not inference or N <= chunk:
            return from_channel_major(self._convolve(x, inference))
        # inference on a large batch (the book's model.forward(X_test, inference=True)): the
        # columns of a few images at a time, so memory stays bounded
        out = empty((O, Ho, Wo, N), x.dtype, like=x)
        for start in range(0, N, chunk):
            out[..., start:start + chunk] = self._convolve(x[..., start:start + chunk], True)
        return from_channel_major(out)

    def _convolve(self, x: np.ndarray, inference: bool) -> np.ndarray:
        """``(C, H, W, N)`` -> ``(O, Ho, Wo, N)``: one matrix product over the whole batch (a
        few large products run faster than one small product per image); the columns are kept
        for the parameter gradient in training."""
        C, H, W, N = x.shape
        geometry = self.geometry(H, W)
        weights = self._weights()
        O, k = weights.shape[0], self.kernel
        Ho, Wo = geometry.out_height, geometry.out_width
        cols = self._columns((C, k, k, Ho, Wo, N), x, inference)
        cols = im2col(x, geometry, cols).reshape(C * k * k, -1)
        self._cols = None if inference else cols
        return np.matmul(weights.reshape(O, -1), cols).reshape(O, Ho, Wo, N)

    def _columns_again(self) -> np.ndarray:
        """The columns of the stored input (after a forward in inference mode, not kept)."""
        self._convolve(channel_major_copy(self.input_), inference=False)
        return self._cols

    def backward(self, output_grad: np.ndarray) -> np.ndarray | None:
        """dL/dW and dL/dX (see the class), from one ``(O, Ho * Wo * N)`` matrix of dL/dout
        (free when dL/dout is channel-major, as the next layer returns it; else copied once)."""
        self._grad_rows = channel_rows(output_grad)
        try:
            return super().backward(output_grad)
        finally:
            self._grad_rows = None

    def _rows_of(self, output_grad: np.ndarray) -> np.ndarray:
        rows = self._grad_rows
        return rows if rows is not None else channel_rows(output_grad)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        weights = self._weights()
        O, C, k = *weights.shape[:2], self.kernel
        N, _, H, W = self.input_.shape
        geometry = self.geometry(H, W)
        dcols = np.matmul(weights.reshape(O, -1).T, self._rows_of(output_grad))
        dcols = dcols.reshape(C, k, k, geometry.out_height, geometry.out_width, N)
        return from_channel_major(col2im(dcols, geometry, (C, H, W, N)))

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        cols = self._cols if self._cols is not None else self._columns_again()
        # one product over the whole batch: (O, Ho Wo N) @ (Ho Wo N, C k k)
        return np.matmul(self._rows_of(output_grad), cols.T).reshape(self._weights().shape)

    def _release(self) -> None:
        super()._release()
        self._cols = None

    def get_config(self) -> dict:
        return {"stride": self.stride, "padding": self.padding}


class Conv2D_Op(Conv2DOperation):  # noqa: N801 - the book's name
    """The book's convolution: W (in_channels, out_channels, k, k), k odd, padding k // 2.

    out[n, o] = sum over c, i, j of W[c, o, i, j] * x_pad[n, c, h + i, w + j]: the output has
    the input's height and width. ``param_grad`` is in the book's layout, so the book's
    optimizers update ``param`` with it. Computed as ``Conv2DOperation`` with the weights
    transposed to (out_channels, in_channels, k, k), one matrix product per pass.
    """

    _layout = "(in_channels, out_channels, k, k)"

    def __init__(self, W: np.ndarray) -> None:
        if getattr(W, "ndim", None) != 4 or W.shape[2] != W.shape[3] or W.shape[2] % 2 == 0:
            raise ValueError(f"Conv2D_Op: W must have the book's shape (in_channels, "
                             f"out_channels, k, k) with k odd (the output keeps the image "
                             f"size with padding k // 2), got {getattr(W, 'shape', W)}")
        pad = W.shape[2] // 2
        super().__init__(W.transpose(1, 0, 2, 3), stride=1, padding=pad)
        self.param = W
        self.param_size = W.shape[2]
        self.param_pad = pad

    def _weights(self) -> np.ndarray:
        return self.param.transpose(1, 0, 2, 3)

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return super()._param_grad(output_grad).transpose(1, 0, 2, 3)

    def get_config(self) -> dict:
        return {}


class ChannelBiasAdd(ParamOperation):
    """out = X + B over the channel axis (axis 1);  dL/dX = dL/dout;  dL/dB = sum over the rest.

    X: (batch, C) or (batch, C, H, W) (any rank >= 2), B: (C,). With ``in_place`` the sum is
    written into X itself (for a layer whose previous operation hands over a fresh array that
    nothing else reads, as the convolution does: one pass over the output instead of two).
    """

    def __init__(self, B: np.ndarray, in_place: bool = False) -> None:
        if B.ndim != 1:
            raise ValueError(f"ChannelBiasAdd: B must have shape (channels,), got {B.shape}")
        super().__init__(B)
        self.in_place = bool(in_place)

    def _broadcast(self, array: np.ndarray, ndim: int) -> np.ndarray:
        return array.reshape((1, -1) + (1,) * (ndim - 2))

    def _output(self, inference: bool = False) -> np.ndarray:
        _check_channels(self, self.input_, self.param.shape[0])
        bias = self._broadcast(self.param, self.input_.ndim)
        out = self.input_ if self.in_place else np.empty_like(self.input_)
        return np.add(self.input_, bias, out=out)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return _sum_but_channels(output_grad)


class ChannelScale(ParamOperation):
    """out = X * G over the channel axis;  dL/dX = dL/dout * G;  dL/dG = sum(dL/dout * X).

    X: (batch, C) or (batch, C, H, W) (any rank >= 2), G: (C,).
    """

    def __init__(self, G: np.ndarray) -> None:
        if G.ndim != 1:
            raise ValueError(f"ChannelScale: G must have shape (channels,), got {G.shape}")
        super().__init__(G)

    def _broadcast(self, array: np.ndarray, ndim: int) -> np.ndarray:
        return array.reshape((1, -1) + (1,) * (ndim - 2))

    def _output(self, inference: bool = False) -> np.ndarray:
        _check_channels(self, self.input_, self.param.shape[0])
        return np.multiply(self.input_, self._broadcast(self.param, self.input_.ndim),
                           out=np.empty_like(self.input_))

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return np.multiply(output_grad, self._broadcast(self.param, output_grad.ndim),
                           out=np.empty_like(output_grad))

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return _channel_dot(output_grad, self.input_)


def _check_channels(operation: Operation, x: np.ndarray, channels: int) -> None:
    if x.ndim < 2 or x.shape[1] != channels:
        raise ValueError(f"{type(operation).__name__}.forward: input must have {channels} "
                         f"channels on axis 1, got shape {x.shape}")


def _sum_but_channels(array: np.ndarray) -> np.ndarray:
    """The sum over every axis but axis 1: (batch, C, ...) -> (C,)."""
    if array.ndim == 2:
        return array.sum(axis=0)
    moved = channel_major(array)
    if moved.flags.c_contiguous:  # channel-major memory: one contiguous row per channel
        return moved.reshape(array.shape[1], -1).sum(axis=1)
    # the contiguous inner axes first, then the batch: faster than one sum over (0, 2, 3)
    N, C = array.shape[:2]
    return array.reshape(N, C, -1).sum(axis=2).sum(axis=0)


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sum of ``a * b`` over every axis but axis 1, without the product as an array: (C,)."""
    moved_a, moved_b = channel_major(a), channel_major(b)
    if a.ndim > 2 and moved_a.flags.c_contiguous and moved_b.flags.c_contiguous:
        channels = a.shape[1]
        return np.einsum("ij,ij->i", moved_a.reshape(channels, -1),
                         moved_b.reshape(channels, -1))
    return _sum_but_channels(np.multiply(a, b, out=np.empty_like(a)))  # summed in a's layout


class Conv2D(Layer):
    """out = activation(conv(X, W) + B), then flatten and dropout when asked (the book's layer).

    X: (batch, in_channels, H, W) (NCHW), W: (out_channels, in_channels, k, k) with
    ``k = param_size``, B: (out_channels,); out: (batch, out_channels, Ho, Wo), or
    (batch, out_channels * Ho * Wo) with ``flatten=True`` (for a following ``Dense``), where
    ``Ho = floor((H + pad_top + pad_bottom - k) / stride) + 1`` (PyTorch's and ONNX's rule).

    ``padding``: ``"same"`` (the default, the book's: out is H x W; for an even k the extra row
    and column go at the bottom and right, as in PyTorch; stride 1 only), ``"valid"`` (= 0) or an
    int on every side. ``dropout`` is the keep probability, as in the book.
    ``weight_init``: ``"normal"`` (the book's: W from N(0, 1)), ``"glorot"`` (W from
    N(0, 2 / (in_channels * k * k + out_channels * k * k))) or ``"he"`` (W from
    N(0, 2 / (in_channels * k * k))), the second number being the variance; B starts at 0 and
    exists only with ``bias=True`` (the book's layer has none).
    """

    # the book's argument order: Conv2D(out_channels, param_size, dropout, weight_init,
    # activation, flatten)
    def __init__(self, out_channels: int, param_size: int, dropout: float = 1.0,
                 weight_init: str = "normal", activation: Operation | None = None,
                 flatten: bool = False, *, stride: int = 1, padding: int | str = "same",
                 bias: bool = True) -> None:
        owner = "Conv2D"
        check_positive("out_channels", out_channels, integer=True, owner=owner)
        super().__init__(out_channels)
        check_positive("param_size", param_size, integer=True, owner=owner)
        check_positive("stride", stride, integer=True, owner=owner)
        check_number("dropout", dropout, low=0, high=1, owner=owner)
        check_choice("weight_init", weight_init, CONV_WEIGHT_INITS, owner=owner)
        if activation is None:
            activation = Linear()
        if not isinstance(activation, Operation) or isinstance(activation, Layer):
            raise TypeError(f"{owner}: activation must be an Operation such as Tanh(), got "
                            f"{activation!r}")
        if isinstance(padding, str):
            check_choice("padding", padding, ("same", "valid"), owner=owner)
            if padding == "same" and stride != 1:
                raise ValueError(f"{owner}: padding='same' needs stride=1 (as in PyTorch), got "
                                 f"stride={stride}; give the padding as an int instead")
        else:
            check_number("padding", padding, low=0, low_open=False, integer=True, owner=owner)
        for name, value in (("flatten", flatten), ("bias", bias)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
        self.out_channels = int(out_channels)
        self.param_size = int(param_size)
        self.dropout = float(dropout)
        self.weight_init = weight_init
        self.activation = copy.copy(activation)
        self.flatten = bool(flatten)
        self.stride = int(stride)
        self.padding = padding if isinstance(padding, str) else int(padding)
        self.bias = bool(bias)

    @staticmethod
    def _refuse_rank(shape: tuple[int, ...] | None) -> None:
        """Raise the ValueError for a batch that is not (batch, channels, height, width)."""
        hint = ""
        if shape is not None and len(shape) == 3:
            hint = (f"; images without a channel axis? reshape them to (batch, 1, H, W), "
                    f"e.g. X.reshape(-1, 1, {shape[1]}, {shape[2]})")
        elif shape is not None and len(shape) == 2:
            hint = ("; flat rows? reshape them to (batch, 1, H, W), e.g. "
                    "X.reshape(-1, 1, 28, 28) for MNIST")
        raise ValueError(f"Conv2D.forward: input must have 4 dimensions (batch, channels, "
                         f"height, width), got shape {shape}{hint}")

    def forward(self, input_: np.ndarray, inference: bool = False) -> np.ndarray:
        """Check the input is an NCHW batch with the built channel count, then convolve."""
        if getattr(input_, "ndim", None) != 4:
            self._refuse_rank(getattr(input_, "shape", None))
        if not self.first and input_.shape[1] != self.input_shape[0]:
            raise ValueError(f"Conv2D.forward: input has {input_.shape[1]} channels (shape "
                             f"{input_.shape}), but the layer was built for "
                             f"{self.input_shape[0]} input channels; expected (batch, "
                             f"{', '.join(map(str, self.input_shape))})")
        return super().forward(input_, inference)

    def _setup_layer(self, input_: np.ndarray) -> None:
        in_channels, height, width = input_.shape[1:]
        k = self.param_size
        padding = resolve_padding(self.padding, k)
        fan_in, fan_out = in_channels * k * k, self.out_channels * k * k
        shape = (self.out_channels, in_channels, k, k)
        if self.weight_init == "normal":
            W = self.rng.standard_normal(shape)
        elif self.weight_init == "glorot":
            W = self.rng.standard_normal(shape) * math.sqrt(2.0 / (fan_in + fan_out))
        else:
            W = self.rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
        like = input_
        self.params = [_to(W, self.dtype, like)]
        convolution = Conv2DOperation(self.params[0], self.stride, padding)
        convolution.geometry(height, width)  # refuse a kernel larger than the padded image now
        self.operations = [convolution]
        if self.bias:
            self.params.append(zeros((self.out_channels,), self.dtype, like=like))
            # in place: the convolution's output is a new array that only this sum reads
            self.operations.append(ChannelBiasAdd(self.params[1], in_place=True))
        if isinstance(self.activation, InPlaceActivation):
            # its input is the convolution's new array (the bias added in place), which
            # nothing else reads
            self.activation.in_place = True
        self.operations.append(self.activation)
        if self.flatten:
            self.operations.append(FlattenOperation())
        if self.dropout < 1.0:
            dropout = Dropout(self.dropout)
            dropout.rng = self.rng
            self.operations.append(dropout)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one output row for input rows of ``input_shape`` (C, H, W)."""
        _, height, width = input_shape
        top, bottom, left, right = resolve_padding(self.padding, self.param_size)
        out_h = (height + top + bottom - self.param_size) // self.stride + 1
        out_w = (width + left + right - self.param_size) // self.stride + 1
        shape = (self.out_channels, out_h, out_w)
        return (math.prod(shape),) if self.flatten else shape

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """W (out, in, k, k) and B (out,) and the output row, from the shapes alone.

        Rows of the wrong rank or too small for the kernel are left to ``forward``, which
        refuses them with its own message before anything is allocated."""
        if len(input_shape) != 3:
            self._refuse_rank((None, *input_shape))
        output = tuple(max(1, n) for n in self.output_shape(input_shape))
        k = self.param_size
        shapes = {"W": (self.out_channels, input_shape[0], k, k)}
        if self.bias:
            shapes["B"] = (self.out_channels,)
        return shapes, output

    def parameter_names(self) -> list[str]:
        return ["W", "B"] if self.bias else ["W"]

    def get_config(self) -> dict:
        return {"out_channels": self.out_channels, "param_size": self.param_size,
                "dropout": self.dropout, "weight_init": self.weight_init,
                "flatten": self.flatten, "stride": self.stride, "padding": self.padding,
                "bias": self.bias}

    def __repr__(self) -> str:
        extra = "".join([f", dropout={self.dropout}" if self.dropout < 1 else "",
                         ", flatten=True" if self.flatten else "",
                         f", stride={self.stride}" if self.stride != 1 else "",
                         f", padding={self.padding!r}" if self.padding != "same" else "",
                         ", bias=False" if not self.bias else ""])
        return (f"Conv2D(out_channels={self.out_channels}, param_size={self.param_size}, "
                f"activation={self.activation!r}, weight_init={self.weight_init!r}{extra})")


def _to(array: np.ndarray, dtype, like: np.ndarray) -> np.ndarray:
    """A host array drawn at build time, cast and placed on the device of ``like``."""
    from .backend import to_device

    return to_device(array.astype(dtype), like)
