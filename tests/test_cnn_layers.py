"""Pooling, Flatten and BatchNorm: finite differences (float64) and PyTorch, forward and backward;
their wiring into networks (buffers, state dicts, saved files, summary) and their error messages.
"""

from __future__ import annotations

import numpy as np
import pytest

from dlscratch import (
    SGD,
    AvgPool2D,
    BatchNorm,
    BatchNormalize,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    Linear,
    MaxPool2D,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    SGDMomentum,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
)
from dlscratch.gradcheck import check_network, check_operation, numerical_gradient
from dlscratch.pooling import (
    AvgPool2DOperation,
    GlobalAvgPool2DOperation,
    MaxPool2DOperation,
)
from dlscratch.reshape import FlattenOperation

# (batch, channels, height, width, size, stride)
POOL_CONFIGS = [
    (2, 3, 8, 8, 2, 2),
    (2, 2, 7, 9, 2, 2),     # odd sizes: the last row and column are not read
    (2, 2, 9, 7, 3, 3),
    (1, 3, 8, 10, 3, 1),    # overlapping windows
    (2, 2, 10, 11, 3, 2),
    (2, 1, 11, 9, 2, 3),    # gaps between windows
    (3, 2, 5, 6, 5, 1),     # a window as high as the image
]


def _built(layer, x):
    layer.dtype = np.dtype(x.dtype)
    layer.rng = np.random.default_rng(0)
    layer.forward(x)
    return layer


# ---------------------------------------------------------------------------- pooling vs torch
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch_forward_and_backward(torch, config, kind):
    N, C, H, W, size, stride = config
    rng = np.random.default_rng(sum(config))
    # after a ReLU: many ties (zeros), where the gradient must go to one input only
    x = np.maximum(rng.standard_normal((N, C, H, W)), 0) if kind == "max" \
        else rng.standard_normal((N, C, H, W))
    layer = (MaxPool2D if kind == "max" else AvgPool2D)(size, stride)
    out = _built(layer, x).forward(x)
    grad = rng.standard_normal(out.shape)
    input_grad = layer.backward(grad)
    xt = torch.tensor(x, requires_grad=True)
    pool = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    expected = pool(xt, size, stride)
    expected.backward(torch.tensor(grad))
    assert out.shape == tuple(expected.shape) == (N, C) + layer.output_shape((C, H, W))[1:]
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(input_grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_global_average_pooling_matches_torch(torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 7))
    layer = _built(GlobalAvgPool2D(), x)
    out = layer.forward(x)
    grad = rng.standard_normal(out.shape)
    input_grad = layer.backward(grad)
    xt = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.adaptive_avg_pool2d(xt, 1).flatten(1)
    expected.backward(torch.tensor(grad))
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(input_grad, xt.grad.numpy(), rtol=1e-12)


def test_max_pool_sends_the_gradient_of_a_tied_window_to_its_first_maximum():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 1, 1] = -1.0
    operation = MaxPool2DOperation(2, 2)
    assert operation.forward(x)[0, 0, 0, 0] == 0.0
    grad = operation.backward(np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(grad[0, 0], [[5.0, 0.0], [0.0, 0.0]])


# ---------------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=str)
def test_pooling_operations_gradients_match_finite_differences(config):
    N, C, H, W, size, stride = config
    rng = np.random.default_rng(3)
    # distinct values: no ties, where the maximum (and so finite differences) would jump
    x = rng.permutation(N * C * H * W).reshape(N, C, H, W) * 0.01
    check_operation(MaxPool2DOperation(size, stride), x, seed=1, eps=1e-4)
    check_operation(AvgPool2DOperation(size, stride), rng.standard_normal((N, C, H, W)), seed=1)


def test_global_average_pooling_and_flatten_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    check_operation(GlobalAvgPool2DOperation(), rng.standard_normal((2, 3, 4, 5)), seed=2)
    check_operation(FlattenOperation(), rng.standard_normal((2, 3, 4, 5)), seed=2)


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 5, 6), (5, 2, 7)])
def test_batch_normalize_gradients_match_finite_differences_in_training(shape):
    rng = np.random.default_rng(5)
    channels = shape[1]
    operation = BatchNormalize(np.zeros(channels), np.ones(channels))
    check_operation(operation, rng.standard_normal(shape) * 3 + 1, seed=3)


def test_batch_normalize_gradient_matches_finite_differences_in_inference():
    rng = np.random.default_rng(6)
    operation = BatchNormalize(rng.standard_normal(3), rng.random(3) + 0.5)
    x = rng.standard_normal((4, 3, 2, 5))
    weights = rng.standard_normal(x.shape)
    operation.forward(x, inference=True)
    analytic = operation.backward(weights)
    numeric = numerical_gradient(
        lambda: float(np.sum(operation.forward(x, inference=True) * weights)), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_a_whole_cnn_passes_the_network_gradient_check():
    rng = np.random.default_rng(7)
    net = NeuralNetwork([Conv2D(3, 3, activation=Tanh(), weight_init="he"), BatchNorm(),
                         MaxPool2D(2), Conv2D(2, 2, padding=1, activation=Tanh(), stride=2),
                         AvgPool2D(2, 1), Flatten(), Dense(3, activation=Linear())],
                        SoftmaxCrossEntropy(), seed=3, dtype=np.float64)
    X = rng.standard_normal((4, 2, 8, 9))
    y = np.eye(3)[rng.integers(0, 3, 4)]
    errors = check_network(net, X, y, rtol=1e-5, atol=1e-7)
    assert {"input", "layers.0.W", "layers.0.B", "layers.1.gamma", "layers.1.beta",
            "layers.3.W", "layers.6.W"} <= set(errors)


# ---------------------------------------------------------------------------- batch norm vs torch
@pytest.mark.parametrize("shape", [(8, 5), (6, 3, 4, 5), (1, 2, 3, 3)])
def test_batch_norm_matches_torch_in_training_forward_backward_and_running_stats(torch, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) * 2 + 0.5
    layer = _built(BatchNorm(momentum=0.2, eps=1e-3), x)
    gamma, beta = layer.params
    gamma[...] = rng.standard_normal(shape[1])
    beta[...] = rng.standard_normal(shape[1])
    layer.buffers[0][...] = rng.standard_normal(shape[1])
    layer.buffers[1][...] = rng.random(shape[1]) + 0.5
    running_mean, running_var = (torch.tensor(b.copy()) for b in layer.buffers)
    out = layer.forward(x)
    grad = rng.standard_normal(out.shape)
    input_grad = layer.backward(grad)

    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    expected = torch.nn.functional.batch_norm(xt, running_mean, running_var, gt, bt,
                                              training=True, momentum=0.2, eps=1e-3)
    expected.backward(torch.tensor(grad))
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(input_grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(layer.param_grads[0], gt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.param_grads[1], bt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.buffers[0], running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers[1], running_var.numpy(), rtol=1e-12)


def test_batch_norm_matches_torch_in_eval_mode(torch):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 3, 4, 4))
    layer = _built(BatchNorm(), x)
    layer.params[0][...] = rng.standard_normal(3)
    layer.params[1][...] = rng.standard_normal(3)
    layer.buffers[0][...] = rng.standard_normal(3)
    layer.buffers[1][...] = rng.random(3) + 0.2
    before = [b.copy() for b in layer.buffers]
    out = layer.forward(x, inference=True)
    grad = rng.standard_normal(out.shape)
    input_grad = layer.backward(grad)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(layer.params[0], requires_grad=True)
    bt = torch.tensor(layer.params[1], requires_grad=True)
    expected = torch.nn.functional.batch_norm(xt, torch.tensor(before[0]),
                                              torch.tensor(before[1]), gt, bt, training=False)
    expected.backward(torch.tensor(grad))
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(input_grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.param_grads[0], gt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for buffer, saved in zip(layer.buffers, before):
        np.testing.assert_array_equal(buffer, saved)  # inference never moves the statistics


@pytest.mark.parametrize("dims", [1, 2])
def test_batch_norm_running_statistics_follow_torch_modules_over_many_batches(torch, dims):
    rng = np.random.default_rng(12)
    shape = (8, 4) if dims == 1 else (6, 4, 3, 5)
    module = torch.nn.BatchNorm1d(4) if dims == 1 else torch.nn.BatchNorm2d(4)
    module = module.double().train()
    layer = BatchNorm()
    for step in range(5):
        x = rng.standard_normal(shape) * (step + 1) + step
        if step == 0:
            _built(layer, x)
        else:
            layer.forward(x)
        module(torch.tensor(x))
    np.testing.assert_allclose(layer.buffers[0], module.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.buffers[1], module.running_var.numpy(), rtol=1e-12)
    x = rng.standard_normal(shape)
    module.eval()
    np.testing.assert_allclose(layer.forward(x, inference=True),
                               module(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- networks
def _small_cnn(seed=0, dtype=np.float32):
    return NeuralNetwork([Conv2D(4, 3, activation=ReLU(), weight_init="he"), BatchNorm(),
                          MaxPool2D(2), Flatten(), Dense(3, activation=Linear()),
                          BatchNorm()], SoftmaxCrossEntropy(), seed=seed, dtype=dtype)


def _images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = np.eye(3)[rng.integers(0, 3, n)]
    return X, y


def test_buffers_are_not_parameters_and_optimizers_leave_them_alone():
    net = _small_cnn()
    X, y = _images()
    net.build((1, 8, 8))
    buffers = net.named_buffers()
    assert [name for name, _ in buffers] == ["layers.1.running_mean", "layers.1.running_var",
                                             "layers.5.running_mean", "layers.5.running_var"]
    assert not any(b is p for _, b in buffers for p in net.params())
    assert "layers.1.gamma" in dict(net.named_params())
    optimizer = SGD(lr=0.1)
    optimizer.net = net
    net.train_batch(X, y)
    moved = [b.copy() for _, b in buffers]
    optimizer.step()  # a step changes the parameters only
    for (_, buffer), copy in zip(net.named_buffers(), moved):
        np.testing.assert_array_equal(buffer, copy)
    assert all(buffer is same for (_, buffer), (_, same) in zip(buffers, net.named_buffers()))


def test_predict_uses_the_running_statistics_and_training_updates_them():
    net = _small_cnn()
    X, y = _images()
    Trainer(net, SGDMomentum(lr=0.05)).fit(X, y, epochs=2, batch_size=8, verbose=False)
    running_mean = dict(net.named_buffers())["layers.1.running_mean"]
    assert np.any(running_mean != 0)
    # predict does not depend on the other rows of its batch (the batch's statistics would)
    np.testing.assert_allclose(net.predict(X[:5]), net.predict(X)[:5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.predict(X[:5]), net.forward(X[:5], inference=True),
                               rtol=1e-6)
    frozen = [b.copy() for _, b in net.named_buffers()]
    net.predict(X)
    for (_, buffer), copy in zip(net.named_buffers(), frozen):
        np.testing.assert_array_equal(buffer, copy)


def test_save_and_load_round_trip_with_batch_norm_buffers(tmp_path):
    net = _small_cnn(seed=4)
    X, y = _images(seed=1)
    Trainer(net, SGDMomentum(lr=0.05)).fit(X, y, epochs=2, batch_size=8, verbose=False)
    path = tmp_path / "cnn.npz"
    net.save(path)
    loaded = NeuralNetwork.load(path)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    state, loaded_state = net.state_dict(), loaded.state_dict()
    assert list(state) == list(loaded_state)
    assert "layers.1.running_var" in state and "layers.0.W" in state
    for key in state:
        np.testing.assert_array_equal(state[key], loaded_state[key])
    assert repr(loaded) == repr(net)


def test_load_state_dict_copies_buffers_in_place_and_checks_them():
    net, other = _small_cnn(seed=1), _small_cnn(seed=2)
    X, y = _images()
    for network in (net, other):
        network.build((1, 8, 8))
    net.train_batch(X, y)
    buffer = dict(other.named_buffers())["layers.1.running_mean"]
    other.load_state_dict(net.state_dict())
    assert dict(other.named_buffers())["layers.1.running_mean"] is buffer
    np.testing.assert_array_equal(buffer, dict(net.named_buffers())["layers.1.running_mean"])
    state = net.state_dict()
    del state["layers.5.running_var"]
    with pytest.raises(ValueError, match="layers.5.running_var"):
        other.load_state_dict(state)
    state = net.state_dict()
    state["layers.1.running_mean"] = np.zeros(7, dtype=np.float32)
    with pytest.raises(ValueError, match=r"layers.1.running_mean has shape \(7,\)"):
        other.load_state_dict(state)


def test_summary_shows_every_layers_output_shape():
    net = NeuralNetwork([Conv2D(8, 5, activation=ReLU()), BatchNorm(), MaxPool2D(2),
                         Conv2D(16, 3, padding=0, stride=2), AvgPool2D(2, 1), GlobalAvgPool2D(),
                         Dense(10, activation=Linear())], SoftmaxCrossEntropy())
    assert "?" in net.summary()
    net.build((1, 28, 20))
    lines = net.summary().splitlines()
    expected = ["(batch, 8, 28, 20)", "(batch, 8, 28, 20)", "(batch, 8, 14, 10)",
                "(batch, 16, 6, 4)", "(batch, 16, 5, 3)", "(batch, 16)", "(batch, 10)"]
    for line, shape in zip(lines[1:], expected):
        assert shape in line
    assert "input (batch, 1, 28, 20)" in lines[-1]
    assert f"total parameters: {8 * 25 + 8 + 16 + 16 * 8 * 9 + 16 + 16 * 10 + 10:,}" in lines[-1]


def test_flatten_as_the_first_layer_of_an_mlp_saves_and_loads(tmp_path):
    net = NeuralNetwork([Flatten(), Dense(4, activation=Tanh()), Dense(1, activation=Linear())],
                        MeanSquaredError(), seed=0)
    X = np.random.default_rng(0).standard_normal((10, 2, 3, 3)).astype(np.float32)
    net.build((2, 3, 3))
    assert net.input_shape == (2, 3, 3)
    net.save(tmp_path / "mlp.npz")
    np.testing.assert_array_equal(NeuralNetwork.load(tmp_path / "mlp.npz").predict(X),
                                  net.predict(X))


# ---------------------------------------------------------------------------- the book's code
def test_the_books_chapter_5_code_runs_with_only_its_imports_changed(capsys):
    from dlscratch.layers import Conv2D, Dense  # noqa: F401  (the book's import lines)
    from dlscratch.losses import SoftmaxCrossEntropy
    from dlscratch.network import NeuralNetwork
    from dlscratch.optimizers import SGDMomentum
    from dlscratch.train import Trainer

    rng = np.random.default_rng(0)
    X_train = rng.standard_normal((150, 784))
    X_test = rng.standard_normal((120, 784))
    y_train, y_test = rng.integers(0, 10, 150), rng.integers(0, 10, 120)
    X_train_conv, X_test_conv = X_train.reshape(-1, 1, 28, 28), X_test.reshape(-1, 1, 28, 28)
    train_labels, test_labels = np.eye(10)[y_train], np.eye(10)[y_test]

    model = NeuralNetwork(
        layers=[Conv2D(out_channels=16,
                       param_size=5,
                       dropout=0.8,
                       weight_init="glorot",
                       flatten=True,
                       activation=Tanh()),
                Dense(neurons=10,
                      activation=Linear())],
        loss=SoftmaxCrossEntropy(),
        seed=20190402)

    trainer = Trainer(model, SGDMomentum(lr=0.1, momentum=0.9))
    trainer.fit(X_train_conv, train_labels, X_test_conv, test_labels,
                epochs=1,
                eval_every=1,
                seed=20190402,
                batch_size=60,
                conv_testing=True)

    def calc_accuracy_model(model, test_set):
        return print(f'''The model validation accuracy is:
    {np.equal(np.argmax(model.forward(test_set, inference=True), axis=1), y_test).sum()
     * 100.0 / test_set.shape[0]:.2f}%''')

    calc_accuracy_model(model, X_test_conv)
    printed = capsys.readouterr().out
    assert "batch 0 loss" in printed and "batch 10 loss" not in printed  # 3 batches
    assert "Validation loss after 1 epochs is" in printed
    assert "The model validation accuracy is:" in printed
    assert model.layers[0].params[0].shape == (16, 1, 5, 5)
    assert model.layers[1].params[0].shape == (16 * 28 * 28, 10)


# ---------------------------------------------------------------------------- bad input
def test_a_batch_without_the_channel_axis_is_refused_with_the_reshape_to_make():
    layer = Conv2D(4, 3)
    with pytest.raises(ValueError, match=r"reshape them to \(batch, 1, H, W\).*"
                                         r"X.reshape\(-1, 1, 28, 28\)"):
        layer.forward(np.zeros((5, 28, 28), dtype=np.float32))
    net = NeuralNetwork([Conv2D(4, 3, flatten=True), Dense(2)], MeanSquaredError())
    with pytest.raises(ValueError, match=r"\(batch, 1, H, W\)"):
        net.forward(np.zeros((5, 28, 28)))
    with pytest.raises(ValueError, match=r"\(batch, 1, H, W\)"):
        Trainer(net, SGD()).fit(np.zeros((5, 28, 28)), np.zeros((5, 2)), verbose=False)
    net.build((1, 28, 28))
    with pytest.raises(ValueError, match=r"reshape it to \(batch, 1, 28, 28\), e.g. "
                                         r"X.reshape\(-1, 1, 28, 28\)"):
        net.predict(np.zeros((5, 28, 28)))
    with pytest.raises(ValueError, match=r"flat rows\? reshape them to \(batch, 1, H, W\)"):
        Trainer(net, SGD()).fit(np.zeros((5, 784)), np.zeros((5, 2)), verbose=False)


@pytest.mark.parametrize("make, match", [
    (lambda: Conv2D(4, 0), r"param_size must be in \(0, inf\], got 0"),
    (lambda: Conv2D(0, 3), r"out_channels must be in \(0, inf\], got 0"),
    (lambda: Conv2D(4, 3, stride=0, padding=0), r"stride must be in \(0, inf\], got 0"),
    (lambda: Conv2D(4, 3, stride=2), r"padding='same' needs stride=1.*got stride=2"),
    (lambda: Conv2D(4, 3, padding=-1), r"padding must be in \[0, inf\], got -1"),
    (lambda: Conv2D(4, 3, padding="full"), r"unknown padding 'full'; expected one of"),
    (lambda: Conv2D(4, 3, weight_init="uniform"), r"unknown weight_init 'uniform'"),
    (lambda: Conv2D(4, 3, dropout=1.5), r"dropout must be in"),
    (lambda: MaxPool2D(0), r"MaxPool2D: size must be in \(0, inf\], got 0"),
    (lambda: AvgPool2D(2, stride=0), r"AvgPool2D: stride must be in \(0, inf\], got 0"),
    (lambda: BatchNorm(momentum=1.5), r"momentum must be in \[0, 1\], got 1.5"),
    (lambda: BatchNorm(eps=0), r"eps must be in \(0, inf\], got 0"),
])
def test_bad_arguments_name_the_argument_what_it_got_and_what_was_expected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_kernel_or_window_larger_than_the_padded_image_is_refused():
    with pytest.raises(ValueError, match=r"kernel \(7 x 7, param_size=7\) is larger than the "
                                         r"padded input \(6 x 9.*expected a kernel of at most 6"):
        Conv2D(2, 7, padding=1).forward(np.zeros((1, 1, 4, 7), dtype=np.float32))
    with pytest.raises(ValueError, match=r"pooling window \(3 x 3, size=3\) is larger than the "
                                         r"input \(2 x 5\); expected a size of at most 2"):
        MaxPool2D(3).forward(np.zeros((1, 1, 2, 5), dtype=np.float32))
    net = NeuralNetwork([Conv2D(2, 3, padding=0), MaxPool2D(4), Flatten(), Dense(1)],
                        MeanSquaredError())
    with pytest.raises(ValueError, match=r"size=4\) is larger than the input \(3 x 3\)"):
        net.build((1, 5, 5))


def test_a_channel_count_other_than_the_built_one_is_refused():
    layer = Conv2D(4, 3)
    layer.forward(np.zeros((2, 3, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"input has 1 channels .*built for 3 input channels; "
                                         r"expected \(batch, 3, 8, 8\)"):
        layer.forward(np.zeros((2, 1, 8, 8), dtype=np.float32))
    norm = BatchNorm()
    norm.forward(np.zeros((4, 3, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"built for 3 channels on axis 1; expected \(batch, 3, "
                                         r"2, 2\)"):
        norm.forward(np.zeros((4, 5, 2, 2), dtype=np.float32))


def test_batch_norm_refuses_a_training_batch_of_one_value_per_channel():
    norm = BatchNorm()
    norm.forward(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"more than one value per channel, got input of shape "
                                         r"\(1, 3\)"):
        norm.forward(np.zeros((1, 3), dtype=np.float32))
    assert norm.forward(np.ones((1, 3), dtype=np.float32), inference=True).shape == (1, 3)


def test_a_checkpointed_run_resumes_exactly_with_batch_norm_statistics(tmp_path):
    X, y = _images(n=32, seed=3)
    full = _small_cnn(seed=5)
    Trainer(full, SGDMomentum(lr=0.05)).fit(X, y, epochs=3, batch_size=8, verbose=False,
                                            early_stopping=False)
    from dlscratch import Callback

    class PauseAfterTwoEpochs(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            trainer.stop_training = epoch == 2

    first = _small_cnn(seed=5)
    path = tmp_path / "run.npz"
    Trainer(first, SGDMomentum(lr=0.05)).fit(X, y, epochs=3, batch_size=8, verbose=False,
                                             early_stopping=False, checkpoint=path,
                                             callbacks=[PauseAfterTwoEpochs()])
    assert not np.array_equal(first.state_dict()["layers.1.running_mean"],
                              full.state_dict()["layers.1.running_mean"])
    resumed = _small_cnn(seed=5)
    Trainer(resumed, SGDMomentum(lr=0.05)).fit(X, y, epochs=3, batch_size=8, verbose=False,
                                               early_stopping=False, resume_from=path,
                                               callbacks=[PauseAfterTwoEpochs()])
    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert "layers.1.running_mean" in resumed_state
    for key, value in full_state.items():
        np.testing.assert_array_equal(resumed_state[key], value, err_msg=key)


def test_the_modern_block_conv_batch_norm_activation_pool_trains_saves_and_loads(tmp_path):
    """An activation stands as a layer of its own between BatchNorm and pooling."""
    net = NeuralNetwork([Conv2D(4, 3, bias=False), BatchNorm(), ReLU(), MaxPool2D(2),
                         Conv2D(6, 3, bias=False), BatchNorm(), ReLU(), MaxPool2D(2),
                         Flatten(), Dense(3, activation=Linear())], SoftmaxCrossEntropy(), seed=2)
    X, y = _images(n=32, seed=5)
    history = Trainer(net, SGDMomentum(lr=0.05)).fit(X, y, epochs=3, batch_size=8,
                                                     verbose=False, early_stopping=False)
    assert history.train_loss[-1] < history.train_loss[0]
    assert "(batch, 6, 2, 2)" in net.summary()
    net.save(tmp_path / "modern.npz")
    loaded = NeuralNetwork.load(tmp_path / "modern.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_a_network_with_a_standalone_activation_passes_the_gradient_check():
    rng = np.random.default_rng(8)
    net = NeuralNetwork([Conv2D(3, 3, bias=False), BatchNorm(), Tanh(), AvgPool2D(2),
                         GlobalAvgPool2D(), Dense(2, activation=Linear())],
                        SoftmaxCrossEntropy(), seed=1, dtype=np.float64)
    X = rng.standard_normal((3, 2, 6, 6))
    check_network(net, X, np.eye(2)[[0, 1, 1]])


def _snapshot(net):
    return [np.array(array, copy=True) for array in net.params_and_buffers()]


def test_early_stopping_restores_batch_norm_statistics_with_the_best_parameters():
    """The restored network is the best evaluation's whole state: parameters and the running
    statistics that go with them (otherwise predict would normalize with later statistics)."""
    from dlscratch import EarlyStopping, LambdaCallback

    rng = np.random.default_rng(3)
    X, X_test = rng.standard_normal((64, 6)), rng.standard_normal((32, 6))
    y, y_test = rng.standard_normal((64, 1)), rng.standard_normal((32, 1))  # unrelated: overfits
    net = NeuralNetwork([Dense(32, activation=ReLU()), BatchNorm(), Dense(1)],
                        MeanSquaredError(), seed=2, dtype=np.float64)
    stopper = EarlyStopping(patience=2)
    states = {}
    record = LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: states.__setitem__(
        epoch, _snapshot(trainer.net)))
    Trainer(net, SGDMomentum(lr=0.05)).fit(X, y, X_test, y_test, epochs=60, batch_size=16,
                                          eval_every=1, early_stopping=False,
                                          callbacks=[stopper, record], verbose=False)
    assert stopper.stopped and stopper.best_epoch < max(states)
    best = states[stopper.best_epoch]
    assert len(best) == len(net.params()) + 2
    for array, expected in zip(net.params_and_buffers(), best, strict=True):
        np.testing.assert_array_equal(array, expected)
    last = states[max(states)]
    assert not np.array_equal(last[-2], best[-2])  # the running mean did move after the best


def test_divergence_restores_batch_norm_statistics_with_the_parameters():
    from dlscratch import TrainingDivergedError

    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((64, 5)), np.full((64, 1), 1e200)  # the loss overflows at once
    net = NeuralNetwork([Dense(8, activation=ReLU()), BatchNorm(), Dense(1)], MeanSquaredError(),
                        seed=1, dtype=np.float64)
    net.build((5,))
    before = _snapshot(net)
    with pytest.raises(TrainingDivergedError):
        Trainer(net, SGD(lr=0.01)).fit(X, y, epochs=3, batch_size=8, verbose=False)
    for array, expected in zip(net.params_and_buffers(), before, strict=True):
        np.testing.assert_array_equal(array, expected)
