"""Conv2D and its operations: finite differences (float64) and PyTorch, forward and backward.

Shapes include non-square images, odd and even kernels, a 1 x 1 kernel, a kernel as large as
the padded image, strides 1, 2 and 3 and paddings 0, 1, 2, "same" and "valid".
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dlscratch import (
    ChannelBiasAdd,
    ChannelScale,
    Conv2D,
    Conv2D_Op,
    Conv2DOperation,
    Linear,
    ReLU,
    Tanh,
)
from dlscratch.conv import WindowGeometry, col2im, im2col, resolve_padding
from dlscratch.gradcheck import check_operation

# (batch, in_channels, height, width, out_channels, kernel, stride, padding)
CONFIGS = [
    (2, 3, 7, 9, 4, 3, 1, "same"),
    (2, 2, 8, 6, 3, 4, 1, "same"),      # even kernel: the extra row and column bottom-right
    (2, 2, 5, 8, 2, 2, 1, "same"),
    (3, 2, 9, 11, 4, 3, 2, 0),
    (2, 3, 10, 7, 2, 2, 3, 1),
    (2, 1, 12, 13, 3, 5, 2, 2),
    (2, 3, 9, 8, 2, 4, 3, 2),           # even kernel, stride 3, padding 2
    (1, 4, 6, 5, 2, 1, 1, 0),           # 1 x 1 kernel: reads the image itself
    (2, 3, 7, 8, 2, 1, 2, 0),           # 1 x 1 kernel, stride 2
    (2, 2, 4, 5, 3, 1, 1, 1),           # 1 x 1 kernel on padding
    (2, 2, 5, 5, 3, 5, 1, 0),           # kernel as large as the image: a 1 x 1 output
    (2, 2, 3, 4, 2, 5, 1, 1),           # kernel as large as the padded height
    (2, 2, 6, 7, 2, 3, 1, "valid"),
    (2, 1, 8, 8, 2, 3, 2, 1),
]


def _layer(config, activation=None, bias=True, seed=0):
    N, C, H, W, O, k, stride, padding = config
    layer = Conv2D(O, k, activation=activation or Linear(), weight_init="he", stride=stride,
                   padding=padding, bias=bias)
    layer.rng = np.random.default_rng(seed)
    layer.dtype = np.dtype(np.float64)
    return layer


def _torch_conv(torch, x, W, B, stride, padding):
    with warnings.catch_warnings():  # torch warns that even kernels on "same" pad by a copy
        warnings.simplefilter("ignore", UserWarning)
        return torch.nn.functional.conv2d(x, W, B, stride=stride, padding=padding)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_conv2d_layer_matches_torch_forward_and_backward(torch, config):
    N, C, H, W, O, k, stride, padding = config
    rng = np.random.default_rng(sum(config[:6]))
    x = rng.standard_normal((N, C, H, W))
    layer = _layer(config)
    layer.forward(x)
    layer.params[1][...] = rng.standard_normal(O)  # a bias that is not zero
    out = layer.forward(x)
    grad = rng.standard_normal(out.shape)
    input_grad = layer.backward(grad)

    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(layer.params[0], requires_grad=True)
    Bt = torch.tensor(layer.params[1], requires_grad=True)
    expected = _torch_conv(torch, xt, Wt, Bt, stride, padding)
    expected.backward(torch.tensor(grad))
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(input_grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.param_grads[0], Wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.param_grads[1], Bt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv2d_matches_torch_on_random_shapes(torch):
    rng = np.random.default_rng(2026)
    for trial in range(25):
        N, C, O = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 4)
        k = int(rng.integers(1, 6))
        stride = int(rng.integers(1, 4))
        padding = int(rng.integers(0, 3)) if stride > 1 or rng.random() < 0.5 else "same"
        p = 0 if padding == "same" else padding
        H = int(rng.integers(max(1, k - 2 * p), 14))
        W = int(rng.integers(max(1, k - 2 * p), 14))
        layer = _layer((N, C, H, W, O, k, stride, padding), seed=trial)
        x = rng.standard_normal((N, C, H, W))
        out = layer.forward(x)
        grad = rng.standard_normal(out.shape)
        input_grad = layer.backward(grad)
        xt = torch.tensor(x, requires_grad=True)
        Wt = torch.tensor(layer.params[0], requires_grad=True)
        expected = _torch_conv(torch, xt, Wt, None, stride, padding)
        expected.backward(torch.tensor(grad))
        where = f"trial {trial}: {(N, C, H, W, O, k, stride, padding)}"
        np.testing.assert_allclose(out, expected.detach().numpy(), atol=1e-10, err_msg=where)
        np.testing.assert_allclose(input_grad, xt.grad.numpy(), atol=1e-10, err_msg=where)
        np.testing.assert_allclose(layer.param_grads[0], Wt.grad.numpy(), atol=1e-10,
                                   err_msg=where)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_conv2d_operation_gradients_match_finite_differences(config):
    N, C, H, W, O, k, stride, padding = config
    rng = np.random.default_rng(7)
    weights = rng.standard_normal((O, C, k, k))
    operation = Conv2DOperation(weights, stride, resolve_padding(padding, k))
    errors = check_operation(operation, rng.standard_normal((N, C, H, W)), seed=1)
    assert set(errors) == {"input", "param"}


def test_asymmetric_padding_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    operation = Conv2DOperation(rng.standard_normal((2, 2, 3, 3)), 2, (0, 2, 1, 0))
    check_operation(operation, rng.standard_normal((2, 2, 6, 7)), seed=2)


def test_conv2d_layer_gradients_through_activation_and_dropout_free_path_match_finite_differences():
    rng = np.random.default_rng(4)
    layer = _layer((2, 2, 6, 5, 3, 3, 1, "same"), activation=Tanh())
    x = rng.standard_normal((2, 2, 6, 5))
    layer.forward(x)
    layer.params[1][...] = rng.standard_normal(3)
    check_operation(layer, x, seed=3)


def test_channel_bias_add_and_channel_scale_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    for shape in [(3, 4), (2, 3, 4, 5), (2, 3, 5)]:
        x = rng.standard_normal(shape)
        check_operation(ChannelBiasAdd(rng.standard_normal(shape[1])), x, seed=1)
        check_operation(ChannelScale(rng.standard_normal(shape[1])), x, seed=1)


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> == <x, col2im(c)> for any x and c: col2im is the exact transpose."""
    rng = np.random.default_rng(6)
    for H, W, k, stride, padding in [(7, 9, 3, 2, (1, 1, 1, 1)), (6, 6, 4, 1, (1, 2, 1, 2)),
                                     (9, 5, 2, 3, (2, 2, 0, 0))]:
        geometry = WindowGeometry(H, W, k, stride, padding)
        x = rng.standard_normal((3, H, W, 2))                     # channel-major (C, H, W, N)
        cols = rng.standard_normal((3, k, k, geometry.out_height, geometry.out_width, 2))
        left = np.sum(im2col(x, geometry) * cols)
        right = np.sum(x * col2im(cols, geometry, x.shape))
        assert left == pytest.approx(right, rel=1e-12)


def test_output_size_follows_the_pytorch_rule_and_unreached_rows_are_unused():
    # H = 8, k = 3, stride 3, no padding: floor((8 - 3) / 3) + 1 = 2 rows; rows 6 and 7 unread
    layer = _layer((1, 1, 8, 8, 1, 3, 3, 0))
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 8))
    out = layer.forward(x)
    assert out.shape == (1, 1, 2, 2)
    input_grad = layer.backward(np.ones_like(out))
    assert np.all(input_grad[:, :, 6:, :] == 0) and np.all(input_grad[:, :, :, 6:] == 0)
    assert layer.output_shape((1, 8, 8)) == (1, 2, 2)


def test_same_padding_puts_the_extra_row_and_column_bottom_right():
    assert resolve_padding("same", 4) == (1, 2, 1, 2)
    assert resolve_padding("same", 5) == (2, 2, 2, 2)
    # a 2 x 2 kernel of ones on "same" padding: out[h, w] = x[h, w] + x[h, w+1] + x[h+1, w] + ...
    operation = Conv2DOperation(np.ones((1, 1, 2, 2)), 1, resolve_padding("same", 2))
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    out = operation.forward(x)[0, 0]
    assert out[0, 0] == 0 + 1 + 3 + 4
    assert out[2, 2] == 8  # the last row and column see only padding beyond the image


def test_the_book_names_and_arguments():
    layer = Conv2D(out_channels=16, param_size=5, dropout=0.8, weight_init="glorot",
                   flatten=True, activation=Tanh())
    assert (layer.out_channels, layer.param_size, layer.dropout, layer.flatten) == (16, 5, 0.8,
                                                                                     True)
    assert issubclass(Conv2D_Op, Conv2DOperation) and Conv2D_Op is not Conv2DOperation
    positional = Conv2D(8, 3, 0.9, "he", ReLU(), False)
    assert (positional.dropout, positional.weight_init, positional.flatten) == (0.9, "he", False)
    assert isinstance(Conv2D(4, 3).activation, Linear)


@pytest.mark.parametrize("weight_init, variance", [
    ("normal", lambda c, o, k: 1.0),
    ("glorot", lambda c, o, k: 2.0 / (c * k * k + o * k * k)),
    ("he", lambda c, o, k: 2.0 / (c * k * k)),
])
def test_weight_init_variances_count_the_kernel_in_the_fans(weight_init, variance):
    C, O, k = 8, 32, 5
    layer = Conv2D(O, k, weight_init=weight_init)
    layer.rng = np.random.default_rng(0)
    layer.dtype = np.dtype(np.float64)
    layer.forward(np.zeros((1, C, 6, 6)))
    W, B = layer.params
    assert W.shape == (O, C, k, k) and B.shape == (O,)
    assert np.all(B == 0)
    # 6,400 draws: the sample variance is within 5% of the true one with overwhelming odds
    assert W.var() == pytest.approx(variance(C, O, k), rel=0.05)


def test_bias_false_has_only_the_kernel():
    layer = _layer((2, 2, 5, 5, 3, 3, 1, "same"), bias=False)
    out = layer.forward(np.ones((2, 2, 5, 5)))
    assert len(layer.params) == 1 and layer.parameter_names() == ["W"]
    layer.backward(np.ones_like(out))
    assert len(layer.param_grads) == 1


def test_flatten_and_dropout_follow_the_activation_as_in_the_book():
    layer = Conv2D(4, 3, dropout=0.5, flatten=True, activation=Tanh())
    layer.rng = np.random.default_rng(0)
    out = layer.forward(np.random.default_rng(1).standard_normal((3, 2, 5, 6)).astype(np.float32))
    assert out.shape == (3, 4 * 5 * 6)
    names = [type(op).__name__ for op in layer.operations]
    assert names == ["Conv2DOperation", "ChannelBiasAdd", "Tanh", "FlattenOperation", "Dropout"]
    assert np.mean(out == 0) == pytest.approx(0.5, abs=0.1)
    inference = layer.forward(np.ones((3, 2, 5, 6), dtype=np.float32), inference=True)
    assert np.all(inference != 0)


def test_float32_stays_float32_and_matches_float64():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3, 9, 10))
    layer64 = _layer((4, 3, 9, 10, 5, 3, 1, "same"))
    out64 = layer64.forward(x)
    layer32 = Conv2D(5, 3, weight_init="he")
    layer32.rng = np.random.default_rng(0)
    out32 = layer32.forward(x.astype(np.float32))
    assert out32.dtype == np.float32 and layer32.params[0].dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    grad = rng.standard_normal(out64.shape)
    layer32.backward(grad.astype(np.float32))
    layer64.backward(grad)
    assert layer32.param_grads[0].dtype == np.float32
    np.testing.assert_allclose(layer32.param_grads[0], layer64.param_grads[0], rtol=1e-4,
                               atol=1e-4)


def test_the_reused_column_buffer_gives_fresh_results_each_batch():
    """Two batches in a row (and a smaller last one): each output is that batch's alone."""
    rng = np.random.default_rng(9)
    layer = _layer((3, 2, 6, 6, 2, 3, 1, 1))
    batches = [rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((3, 2, 6, 6)),
               rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 6, 6))]
    outputs = [layer.forward(batch).copy() for batch in batches]
    for batch, output in zip(batches, outputs):
        fresh = Conv2DOperation(layer.params[0], 1, 1).forward(batch)
        np.testing.assert_allclose(output, fresh + layer.params[1].reshape(1, -1, 1, 1))


def test_param_grad_after_an_inference_forward_is_still_right():
    rng = np.random.default_rng(10)
    W = rng.standard_normal((2, 2, 3, 3))
    x = rng.standard_normal((2, 2, 5, 5))
    trained = Conv2DOperation(W, 1, 1)
    trained.forward(x)
    expected = trained.backward(np.ones((2, 2, 5, 5)))
    expected_param = trained.param_grad
    inferred = Conv2DOperation(W, 1, 1)
    inferred.forward(x, inference=True)
    np.testing.assert_allclose(inferred.backward(np.ones((2, 2, 5, 5))), expected)
    np.testing.assert_allclose(inferred.param_grad, expected_param)


def test_inference_on_a_large_batch_works_in_chunks_with_the_same_result(monkeypatch):
    import dlscratch.conv as conv

    rng = np.random.default_rng(11)
    x = rng.standard_normal((7, 2, 6, 5))
    for stride, padding in [(1, "same"), (2, 1)]:
        layer = _layer((7, 2, 6, 5, 3, 3, stride, padding))
        whole = layer.forward(x, inference=True)
        monkeypatch.setattr(conv, "INFERENCE_COLUMNS", 200)  # a budget of one image a chunk
        chunked = layer.forward(x, inference=True)
        monkeypatch.undo()
        np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)
        trained = layer.forward(x)  # training: one piece, columns kept for the backward
        np.testing.assert_allclose(trained, whole, rtol=1e-12, atol=1e-12)
