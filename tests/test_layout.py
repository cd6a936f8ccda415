"""Channel-major memory behind NCHW views (see ARCHITECTURE.md): what convolutions and pooling
return is laid out (C, H, W, batch), nothing depends on the layout of what comes in, and the
layers after a convolution (Flatten, Dense) take the layout without copying."""

from __future__ import annotations

import numpy as np
import pytest

from dlscratch import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    Sigmoid,
    Tanh,
)
from dlscratch.conv import Conv2DOperation, channel_major
from dlscratch.dense import WeightMultiply
from dlscratch.pooling import MaxPool2DOperation
from dlscratch.reshape import FlattenOperation


def _is_channel_major(array: np.ndarray) -> bool:
    return channel_major(array).flags.c_contiguous


def _layouts(x: np.ndarray) -> dict[str, np.ndarray]:
    """The same values in three memory layouts."""
    moved = np.ascontiguousarray(channel_major(x))
    return {"C": np.ascontiguousarray(x), "F": np.asfortranarray(x),
            "channel-major": moved.transpose(3, 0, 1, 2)}


def test_convolution_and_pooling_return_channel_major_views_both_ways():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 7, 6))
    conv = Conv2DOperation(rng.standard_normal((4, 2, 3, 3)), 1, 1)
    out = conv.forward(x)
    assert out.shape == (3, 4, 7, 6) and _is_channel_major(out)
    assert _is_channel_major(conv.backward(rng.standard_normal(out.shape)))
    pool = MaxPool2DOperation(2, 2)
    pooled = pool.forward(out)
    assert pooled.shape == (3, 4, 3, 3) and _is_channel_major(pooled)
    assert _is_channel_major(pool.backward(np.ones_like(pooled)))


@pytest.mark.parametrize("layout", ["F", "channel-major"])
def test_a_cnn_computes_the_same_numbers_whatever_the_input_layout(layout):
    """Forward, input gradient and every parameter gradient, float64, against C order."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2, 8, 8))
    target = rng.standard_normal((4, 3))

    def run(x_in):
        net = NeuralNetwork([Conv2D(4, 3, activation=Tanh()), BatchNorm(), MaxPool2D(2),
                             Conv2D(3, 2, activation=ReLU(), padding=1), AvgPool2D(2),
                             GlobalAvgPool2D(), Dense(3)], MeanSquaredError(), seed=5,
                            dtype=np.float64)
        net.build((2, 8, 8))
        net.layers[0].input_grad_needed = True
        for layer in net.layers:
            for operation in getattr(layer, "operations", []):
                operation.input_grad_needed = True
        out = net.forward(x_in)
        net.loss.forward(out, target)
        grad = net.backward(net.loss.backward())
        return out, grad, [g.copy() for g in net.param_grads()]

    expected = run(_layouts(x)["C"])
    got = run(_layouts(x)[layout])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=1e-14)
    for a, b in zip(got[2], expected[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layer", [BatchNorm, lambda: MaxPool2D(2), lambda: AvgPool2D(2),
                                   GlobalAvgPool2D, Flatten], ids=["bn", "max", "avg", "gap",
                                                                   "flatten"])
def test_each_layer_alone_is_layout_blind(layer):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 6, 4))
    results = []
    for x_in in _layouts(x).values():
        built = layer()
        built.dtype, built.rng = np.dtype(np.float64), np.random.default_rng(0)
        out = built.forward(x_in)
        grad = built.backward(np.arange(out.size, dtype=np.float64).reshape(out.shape))
        results.append((np.array(out), np.array(grad)))
    for out, grad in results[1:]:
        np.testing.assert_allclose(out, results[0][0], rtol=1e-13)
        np.testing.assert_allclose(grad, results[0][1], rtol=1e-13)


def test_flatten_and_dense_after_a_convolution_copy_nothing():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2, 4, 3))
    conv_out = Conv2DOperation(rng.standard_normal((3, 2, 3, 3)), 1, 1).forward(x)
    flatten = FlattenOperation()
    flat = flatten.forward(conv_out)
    assert np.shares_memory(flat, conv_out)
    np.testing.assert_array_equal(flat, np.ascontiguousarray(conv_out).reshape(5, -1))
    multiply = WeightMultiply(rng.standard_normal((36, 2)))
    multiply.forward(flat)
    dense_grad = rng.standard_normal((5, 2))
    grad_flat = multiply.backward(dense_grad)
    assert grad_flat.flags.f_contiguous  # the layout of its input
    c_ordered = WeightMultiply(multiply.param)
    c_ordered.forward(np.ascontiguousarray(flat))
    np.testing.assert_allclose(grad_flat, c_ordered.backward(dense_grad),
                               rtol=1e-13)
    grad = flatten.backward(grad_flat)
    assert np.shares_memory(grad, grad_flat) and _is_channel_major(grad)
    np.testing.assert_array_equal(grad, np.ascontiguousarray(grad_flat).reshape(conv_out.shape))


@pytest.mark.parametrize("activation", [Tanh, Sigmoid, ReLU])
def test_activations_overwrite_their_input_only_inside_a_convolution(activation):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3))
    kept = x.copy()
    alone = activation()
    out = alone.forward(x)
    np.testing.assert_array_equal(x, kept)  # a standalone activation leaves its input alone
    assert not np.shares_memory(out, x)
    mine = activation()
    layer = Conv2D(2, 3, activation=mine)
    layer.dtype, layer.rng = np.dtype(np.float64), np.random.default_rng(0)
    images = rng.standard_normal((2, 1, 5, 5))
    images_kept = images.copy()
    out = layer.forward(images)
    assert layer.activation.in_place and not mine.in_place  # the layer's own copy only
    assert np.shares_memory(out, layer.operations[0].output)  # written over the conv's output
    np.testing.assert_array_equal(images, images_kept)
