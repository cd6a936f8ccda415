"""The book's convolutions, rewritten here only to be timed against dlscratch's.

Two versions, both from *Deep Learning from Scratch* (Weidman, 2019), chapter 5, with the
book's loops and NumPy calls kept one for one (our names, the same work):

* ``LincolnConv2D``: the convolution operation of the book's library (``lincoln``'s
  ``Conv2D_Op``, which its chapter 5 network trains with). It pads every row of every channel
  of every image with ``np.concatenate`` and gathers one patch per output pixel in a Python loop
  (``np.stack`` of H x W slices), then makes one matrix product per pass. Its parameter layout
  is ``(in_channels, out_channels, k, k)``; it handles square images, odd kernels and stride 1
  only; its input gradient does not flip the kernel, and its parameter gradient pairs the patch
  rows (pixel-major) with the gradient rows (batch-major), so it is wrong for batches larger
  than one. None of that changes how long it takes, which is all this module is for.
* ``loop_conv_output`` / ``loop_conv_input_grad`` / ``loop_conv_param_grad``: the chapter's
  first, fully looped version (six nested Python loops: channel in, channel out, two pixel
  axes, two kernel axes), the way the book explains the operation before it speeds it up.

Both run in float64, as the book's code does (its zero padding is a float64 array).
"""

from __future__ import annotations

import numpy as np


class LincolnConv2D:
    """The book library's convolution: padding and patches in Python loops, one matmul a pass."""

    def __init__(self, param: np.ndarray) -> None:
        self.param = param  # (in_channels, out_channels, k, k)
        self.param_size = param.shape[2]
        self.param_pad = self.param_size // 2

    # padding, one row at a time, as the book does it
    def _pad_row(self, row: np.ndarray) -> np.ndarray:
        zeros = np.repeat(np.array([0]), self.param_pad)
        return np.concatenate([zeros, row, zeros])

    def _pad_image(self, image: np.ndarray) -> np.ndarray:
        rows = np.stack([self._pad_row(row) for row in image])
        band = np.zeros((self.param_pad, image.shape[0] + 2 * self.param_pad))
        return np.concatenate([band, rows, band])

    def _pad_channels(self, channels: np.ndarray) -> np.ndarray:
        return np.stack([self._pad_image(channel) for channel in channels])

    def _patches(self, batch: np.ndarray) -> np.ndarray:
        """(H * W, batch, channels, k, k): one slice per output pixel, stacked."""
        padded = np.stack([self._pad_channels(image) for image in batch])
        k = self.param_size
        side = padded.shape[2]
        slices = []
        for h in range(side - k + 1):
            for w in range(side - k + 1):
                slices.append(padded[:, :, h:h + k, w:w + k])
        return np.stack(slices)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        self.inputs = inputs
        batch, side = inputs.shape[0], inputs.shape[2]
        pixels = inputs.shape[2] * inputs.shape[3]
        patch_size = self.param.shape[0] * self.param.shape[2] * self.param.shape[3]
        patches = self._patches(inputs).transpose(1, 0, 2, 3, 4).reshape(batch, pixels, -1)
        param = self.param.transpose(0, 2, 3, 1).reshape(patch_size, -1)
        return np.matmul(patches, param).reshape(batch, side, side, -1).transpose(0, 3, 1, 2)

    def input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        batch, side = self.inputs.shape[0], self.inputs.shape[2]
        pixels = self.inputs.shape[2] * self.inputs.shape[3]
        patches = self._patches(output_grad).transpose(1, 0, 2, 3, 4).reshape(batch * pixels, -1)
        param = self.param.reshape(self.param.shape[0], -1).transpose(1, 0)
        return (np.matmul(patches, param).reshape(batch, side, side, self.param.shape[0])
                .transpose(0, 3, 1, 2))

    def param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        batch = self.inputs.shape[0]
        pixels = self.inputs.shape[2] * self.inputs.shape[3]
        in_channels, out_channels = self.param.shape[0], self.param.shape[1]
        patches = self._patches(self.inputs).reshape(batch * pixels, -1).transpose(1, 0)
        grad = output_grad.transpose(0, 2, 3, 1).reshape(batch * pixels, -1)
        return (np.matmul(patches, grad)
                .reshape(in_channels, self.param_size, self.param_size, out_channels)
                .transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------- the loops
def _pad_batch(batch: np.ndarray, pad: int) -> np.ndarray:
    """(batch, channels, H + 2 pad, W + 2 pad), through the row-by-row padding above."""
    op = LincolnConv2D(np.zeros((1, 1, 2 * pad + 1, 2 * pad + 1)))
    return np.stack([op._pad_channels(image) for image in batch])


def loop_conv_output(inputs: np.ndarray, param: np.ndarray) -> np.ndarray:
    """out[c_out, o_w, o_h] += param[c_in, c_out, p_w, p_h] * padded[c_in, o_w + p_w, o_h + p_h]."""
    k = param.shape[2]
    padded = _pad_batch(inputs, k // 2)
    in_channels, out_channels = param.shape[0], param.shape[1]
    side = inputs.shape[2]
    outs = []
    for obs in padded:
        out = np.zeros((out_channels, side, side))
        for c_in in range(in_channels):
            for c_out in range(out_channels):
                for o_w in range(side):
                    for o_h in range(side):
                        for p_w in range(k):
                            for p_h in range(k):
                                out[c_out][o_w][o_h] += \
                                    param[c_in][c_out][p_w][p_h] * obs[c_in][o_w + p_w][o_h + p_h]
        outs.append(out)
    return np.stack(outs)


def loop_conv_input_grad(inputs: np.ndarray, output_grad: np.ndarray,
                         param: np.ndarray) -> np.ndarray:
    """The chapter's looped input gradient (the kernel flipped through its indices)."""
    k = param.shape[2]
    padded_grad = _pad_batch(output_grad, k // 2)
    in_channels, out_channels = param.shape[0], param.shape[1]
    grads = []
    for obs, grad_obs in zip(inputs, padded_grad):
        input_grad = np.zeros_like(obs)
        for c_in in range(in_channels):
            for c_out in range(out_channels):
                for i_w in range(obs.shape[1]):
                    for i_h in range(obs.shape[2]):
                        for p_w in range(k):
                            for p_h in range(k):
                                input_grad[c_in][i_w][i_h] += \
                                    grad_obs[c_out][i_w + k - p_w - 1][i_h + k - p_h - 1] \
                                    * param[c_in][c_out][p_w][p_h]
        grads.append(input_grad)
    return np.stack(grads)


def loop_conv_param_grad(inputs: np.ndarray, output_grad: np.ndarray,
                         param: np.ndarray) -> np.ndarray:
    """The chapter's looped parameter gradient, summed over the batch."""
    k = param.shape[2]
    padded = _pad_batch(inputs, k // 2)
    param_grad = np.zeros_like(param)
    in_channels, out_channels = param.shape[0], param.shape[1]
    side_h, side_w = output_grad.shape[2:]
    for i in range(inputs.shape[0]):
        for c_in in range(in_channels):
            for c_out in range(out_channels):
                for o_w in range(side_h):
                    for o_h in range(side_w):
                        for p_w in range(k):
                            for p_h in range(k):
                                param_grad[c_in][c_out][p_w][p_h] += \
                                    padded[i][c_in][o_w + p_w][o_h + p_h] \
                                    * output_grad[i][c_out][o_w][o_h]
    return param_grad
