"""Forward and backward of every operation, loss and whole networks against PyTorch autograd.

One helper, ``check_against_torch`` (in the spirit of tinygrad's ``helper_test_op``), feeds the
same random float64 inputs and parameters to our operation and to a torch expression and
compares the output, the input gradient and the parameter gradients.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from dlscratch import (
    ELU,
    GELU,
    BiasAdd,
    BinaryCrossEntropy,
    Dense,
    Huber,
    LeakyReLU,
    Linear,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    NeuralNetwork,
    Operation,
    ParamOperation,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    WeightMultiply,
)

SHAPES = [(1, 1), (1, 4), (3, 1), (5, 3), (16, 7)]  # (batch, features), batch 1 included


def standard_normal(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return rng.standard_normal(shape)


def away_from_zero(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """|x| >= 0.1 with both signs: ReLU-like kinks (where torch and we may pick sides) avoided."""
    magnitude = 0.1 + 2 * np.abs(rng.standard_normal(shape))
    return np.where(rng.random(shape) < 0.5, -magnitude, magnitude)


def check_against_torch(torch, shapes: Sequence[Sequence[int]], torch_fn: Callable,
                        our_op: Callable[..., Operation | Loss], atol: float = 1e-10,
                        rtol: float = 1e-8, grad_atol: float = 1e-10, grad_rtol: float = 1e-8,
                        *, seed: int = 0, make_input: Callable = standard_normal,
                        target: np.ndarray | None = None) -> None:
    """Run our operation and ``torch_fn`` forward and backward on the same data and compare.

    ``shapes[0]`` is the input's shape, ``shapes[1:]`` those of the parameters; ``our_op(*params)``
    returns the operation (a ParamOperation holding the one parameter, or a parameterless
    Operation), or a Loss, which is then compared on ``target`` with
    ``torch_fn(prediction, target)`` returning a scalar. ``torch_fn(x, *params)`` otherwise.
    """
    rng = np.random.default_rng(seed)
    x = make_input(rng, shapes[0])
    params = [rng.standard_normal(shape) for shape in shapes[1:]]
    op = our_op(*[p.copy() for p in params])

    x_t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    params_t = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]

    if isinstance(op, Loss):
        assert not params, "a loss has no parameters"
        ours = np.asarray(op.forward(x.copy(), target))
        our_grads = [op.backward()]
        out_t = torch_fn(x_t, torch.from_numpy(np.asarray(target)))
        out_t.backward()
    else:
        ours = op.forward(x.copy())
        output_grad = rng.standard_normal(ours.shape)
        our_grads = [op.backward(output_grad.copy())]
        if isinstance(op, ParamOperation):
            our_grads.append(op.param_grad)
        out_t = torch_fn(x_t, *params_t)
        out_t.backward(torch.tensor(output_grad))

    np.testing.assert_allclose(ours, out_t.detach().numpy(), atol=atol, rtol=rtol,
                               err_msg=f"{op!r}: forward differs from torch")
    torch_grads = [x_t.grad, *(p.grad for p in params_t)]
    assert len(our_grads) == len(torch_grads)
    for index, (ours_grad, theirs) in enumerate(zip(our_grads, torch_grads)):
        what = "input" if index == 0 else f"parameter {index - 1}"
        assert ours_grad.shape == tuple(theirs.shape), f"{op!r}: {what} gradient shape"
        np.testing.assert_allclose(ours_grad, theirs.numpy(), atol=grad_atol, rtol=grad_rtol,
                                   err_msg=f"{op!r}: {what} gradient differs from torch")


# ---------------------------------------------------------------------------- operations
@pytest.mark.parametrize("n_out", [1, 4])
@pytest.mark.parametrize("shape", SHAPES)
def test_weight_multiply_matches_x_matmul_w(torch, shape, n_out):
    check_against_torch(torch, [shape, (shape[1], n_out)], lambda x, W: x @ W, WeightMultiply,
                        seed=sum(shape) + n_out)


@pytest.mark.parametrize("shape", SHAPES)
def test_bias_add_matches_broadcast_addition(torch, shape):
    check_against_torch(torch, [shape, (1, shape[1])], lambda x, B: x + B, BiasAdd,
                        seed=sum(shape))


def _activations(torch):
    F = torch.nn.functional
    return {
        "Linear": (Linear, lambda x: x * 1.0),
        "Sigmoid": (Sigmoid, torch.sigmoid),
        "Tanh": (Tanh, torch.tanh),
        "ReLU": (ReLU, torch.relu),
        "LeakyReLU(0.01)": (LeakyReLU, lambda x: F.leaky_relu(x, 0.01)),
        "LeakyReLU(0.2)": (lambda: LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
        "ELU(1)": (ELU, F.elu),
        "ELU(0.3)": (lambda: ELU(0.3), lambda x: F.elu(x, alpha=0.3)),
        "GELU": (GELU, lambda x: F.gelu(x, approximate="tanh")),
        "Softmax": (Softmax, lambda x: torch.softmax(x, dim=1)),
    }


ACTIVATION_NAMES = ["Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU(0.01)", "LeakyReLU(0.2)",
                    "ELU(1)", "ELU(0.3)", "GELU", "Softmax"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_matches_torch(torch, name, shape):
    ours, theirs = _activations(torch)[name]
    check_against_torch(torch, [shape], theirs, ours, seed=sum(shape), make_input=away_from_zero)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_matches_torch_on_wide_inputs(torch, name):
    ours, theirs = _activations(torch)[name]
    check_against_torch(torch, [(4, 9)], theirs, ours, seed=7,
                        make_input=lambda rng, shape: 15 * away_from_zero(rng, shape))


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU(0.2)", "ELU(0.3)", "GELU"])
def test_kinked_activations_at_exactly_zero_pick_torch_side(torch, name):
    """At x = 0 ReLU's gradient is 0 and LeakyReLU's alpha (the side torch picks too)."""
    ours, theirs = _activations(torch)[name]
    x = np.array([[-1.0, 0.0, 1.0], [0.0, -0.0, 2.0]])
    check_against_torch(torch, [x.shape], theirs, ours, make_input=lambda rng, shape: x)


# ---------------------------------------------------------------------------- losses
@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (6, 3)])
def test_mean_squared_error_matches_sum_of_squares_over_batch(torch, shape):
    rng = np.random.default_rng(sum(shape))
    target = rng.standard_normal(shape)
    check_against_torch(torch, [shape], lambda p, y: ((p - y) ** 2).sum() / p.shape[0],
                        MeanSquaredError, target=target, seed=1)


@pytest.mark.parametrize("shape", [(1, 2), (5, 4)])
def test_normalized_mean_squared_error_matches_torch(torch, shape):
    rng = np.random.default_rng(2)
    target = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]

    def torch_fn(p, y):
        q = p / p.sum(dim=1, keepdim=True)
        return ((q - y) ** 2).sum() / p.shape[0]

    check_against_torch(torch, [shape], torch_fn, lambda: MeanSquaredError(normalize=True),
                        target=target, make_input=lambda rng, s: rng.uniform(0.1, 1.0, s))


@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (6, 3)])
def test_mean_absolute_error_matches_torch(torch, shape):
    rng = np.random.default_rng(3)
    target = rng.standard_normal(shape)
    check_against_torch(torch, [shape], lambda p, y: (p - y).abs().sum() / p.shape[0],
                        MeanAbsoluteError, target=target,
                        make_input=lambda r, s: target + away_from_zero(r, s))


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("shape", [(1, 1), (8, 3)])
def test_huber_matches_torch_huber_loss_sum_over_batch(torch, shape, delta):
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    target = rng.standard_normal(shape)
    check_against_torch(
        torch, [shape],
        lambda p, y: F.huber_loss(p, y, reduction="sum", delta=delta) / p.shape[0],
        lambda: Huber(delta), target=target,
        make_input=lambda r, s: target + 2 * delta * away_from_zero(r, s))


@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (32, 10)])
def test_softmax_cross_entropy_with_labels_matches_torch_cross_entropy(torch, shape):
    F = torch.nn.functional
    labels = np.random.default_rng(5).integers(0, shape[1], shape[0])
    check_against_torch(torch, [shape], F.cross_entropy, SoftmaxCrossEntropy, target=labels,
                        make_input=lambda r, s: 4 * r.standard_normal(s))


@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (32, 10)])
def test_softmax_cross_entropy_with_one_hot_matches_torch_soft_targets(torch, shape):
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    one_hot = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    check_against_torch(torch, [shape], F.cross_entropy, SoftmaxCrossEntropy, target=one_hot,
                        make_input=lambda r, s: 4 * r.standard_normal(s))
    soft = rng.random(shape)
    soft /= soft.sum(axis=1, keepdims=True)
    check_against_torch(torch, [shape], F.cross_entropy, SoftmaxCrossEntropy, target=soft)


@pytest.mark.parametrize("shape", [(1, 1), (6, 1), (5, 4)])
def test_binary_cross_entropy_matches_torch_with_logits(torch, shape):
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    for target in ((rng.random(shape) < 0.5).astype(float), rng.random(shape)):
        check_against_torch(
            torch, [shape],
            lambda p, y: F.binary_cross_entropy_with_logits(p, y, reduction="sum") / p.shape[0],
            BinaryCrossEntropy, target=target, make_input=lambda r, s: 4 * r.standard_normal(s))


# ---------------------------------------------------------------------------- extreme inputs
EXTREMES = np.array([[-1000.0, -710.0, -50.0, 0.0, 50.0, 710.0, 1000.0],
                     [1000.0, 999.0, -1000.0, 3.0, -2.0, 0.5, 1000.0]])


def _strict():
    """Turn overflow, invalid values and division by zero (and any warning) into errors.

    Underflow (exp(-2000) == 0) is the harmless, intended result, so it stays allowed.
    """
    return np.errstate(over="raise", invalid="raise", divide="raise", under="ignore")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", [Sigmoid, Softmax, Tanh, ELU, GELU, LeakyReLU])
def test_activations_on_extreme_inputs_are_finite_without_warnings(torch, op, dtype):
    x = EXTREMES.astype(dtype)
    with warnings.catch_warnings(), _strict():
        warnings.simplefilter("error")
        operation = op()
        out = operation.forward(x)
        grad = operation.backward(np.ones_like(out))
    assert np.isfinite(out).all() and np.isfinite(grad).all()
    assert out.dtype == dtype and grad.dtype == dtype
    reference = {Sigmoid: torch.sigmoid, Softmax: lambda t: torch.softmax(t, dim=1),
                 Tanh: torch.tanh, ELU: torch.nn.functional.elu,
                 GELU: lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
                 LeakyReLU: torch.nn.functional.leaky_relu}[op]
    np.testing.assert_allclose(out, reference(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_on_extreme_logits_are_finite_without_warnings(torch, dtype):
    F = torch.nn.functional
    logits = EXTREMES.astype(dtype)
    labels = np.array([0, 2])
    one_hot = np.eye(7, dtype=dtype)[labels]
    bce_target = (np.arange(14).reshape(2, 7) % 2).astype(dtype)
    cases = [
        (SoftmaxCrossEntropy(), labels, lambda p: F.cross_entropy(p, torch.from_numpy(labels))),
        (SoftmaxCrossEntropy(), one_hot, lambda p: F.cross_entropy(p, torch.from_numpy(one_hot))),
        (BinaryCrossEntropy(), bce_target,
         lambda p: F.binary_cross_entropy_with_logits(p, torch.from_numpy(bce_target),
                                                      reduction="sum") / 2),
    ]
    for loss, target, reference in cases:
        with warnings.catch_warnings(), _strict():
            warnings.simplefilter("error")
            value = loss.forward(logits, target)
            grad = loss.backward()
        assert np.isfinite(value) and np.isfinite(grad).all(), loss
        p = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
        expected = reference(p)
        expected.backward()
        np.testing.assert_allclose(value, expected.item(), rtol=1e-6)
        np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------- whole networks
def _torch_activation(torch, activation: Operation):
    nn = torch.nn
    if isinstance(activation, LeakyReLU):
        return nn.LeakyReLU(activation.alpha)
    if isinstance(activation, ELU):
        return nn.ELU(activation.alpha)
    return {Linear: nn.Identity, Sigmoid: nn.Sigmoid, Tanh: nn.Tanh, ReLU: nn.ReLU,
            GELU: lambda: nn.GELU(approximate="tanh"),
            Softmax: lambda: nn.Softmax(dim=1)}[type(activation)]()


def torch_twin(torch, net: NeuralNetwork):
    """nn.Sequential with the network's weights (Linear.weight = W.T, Linear.bias = B[0])."""
    modules = []
    for layer in net.layers:
        W, B = layer.params
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(B[0].copy()))
        modules += [linear, _torch_activation(torch, layer.activation)]
    return torch.nn.Sequential(*modules)


def _torch_loss(torch, loss: Loss):
    F = torch.nn.functional
    if isinstance(loss, SoftmaxCrossEntropy):
        return F.cross_entropy
    if isinstance(loss, BinaryCrossEntropy):
        return lambda p, y: F.binary_cross_entropy_with_logits(p, y, reduction="sum") / len(p)
    if isinstance(loss, Huber):
        return lambda p, y: F.huber_loss(p, y, reduction="sum", delta=loss.delta) / len(p)
    return lambda p, y: ((p - y) ** 2).sum() / len(p)


NETWORKS = {
    "sigmoid-linear, mse": (lambda: [Dense(13, Sigmoid()), Dense(1, Linear())],
                            MeanSquaredError, 1),
    "tanh-relu-linear, mse": (lambda: [Dense(8, Tanh()), Dense(6, ReLU(), weight_init="he"),
                                       Dense(2, Linear())], MeanSquaredError, 2),
    "leaky-elu-gelu, softmax cross entropy": (
        lambda: [Dense(7, LeakyReLU(0.1), weight_init="glorot"), Dense(5, ELU(0.7)),
                 Dense(6, GELU()), Dense(4, Linear(), weight_init="glorot")],
        SoftmaxCrossEntropy, 4),
    "tanh-linear, binary cross entropy": (lambda: [Dense(6, Tanh()), Dense(3, Linear())],
                                          BinaryCrossEntropy, 3),
    "relu-softmax, huber": (lambda: [Dense(6, ReLU()), Dense(3, Softmax())],
                            lambda: Huber(0.2), 3),
}


@pytest.mark.parametrize("batch", [1, 9])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_loss_gradients_and_sgd_steps_match_torch_twin(torch, name, batch):
    make_layers, make_loss, n_out = NETWORKS[name]
    n_in, lr, steps = 5, 0.05, 4
    net = NeuralNetwork(make_layers(), make_loss(), seed=3, dtype=np.float64)
    net.build(n_in)
    twin = torch_twin(torch, net)
    torch_loss = _torch_loss(torch, net.loss)

    rng = np.random.default_rng(batch)
    X = rng.standard_normal((batch, n_in))
    if isinstance(net.loss, SoftmaxCrossEntropy):
        y = rng.integers(0, n_out, batch)
    elif isinstance(net.loss, BinaryCrossEntropy):
        y = (rng.random((batch, n_out)) < 0.5).astype(float)
    else:
        y = rng.standard_normal((batch, n_out))
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    torch_params = [p for linear in twin[::2] for p in (linear.weight, linear.bias)]

    for step in range(steps):
        ours = net.train_batch(X, y)
        twin.zero_grad()
        theirs = torch_loss(twin(X_t), y_t)
        theirs.backward()
        np.testing.assert_allclose(ours, theirs.item(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"loss at step {step}")
        grads = net.param_grads()
        for index, (grad, param_t) in enumerate(zip(grads, torch_params)):
            expected = param_t.grad.numpy()
            expected = expected.T if index % 2 == 0 else expected[None, :]
            np.testing.assert_allclose(grad, expected, rtol=1e-8, atol=1e-11,
                                       err_msg=f"gradient {index} at step {step}")
        # a manual SGD step on both sides (no Trainer, no torch.optim)
        for param, grad in zip(net.params(), grads):
            param -= lr * grad
        with torch.no_grad():
            for param_t in torch_params:
                param_t -= lr * param_t.grad

    for index, (param, param_t) in enumerate(zip(net.params(), torch_params)):
        expected = param_t.detach().numpy()
        expected = expected.T if index % 2 == 0 else expected[None, :]
        np.testing.assert_allclose(param, expected, rtol=1e-9, atol=1e-12,
                                   err_msg=f"parameter {index} after {steps} steps")
    np.testing.assert_allclose(net.predict(X), twin(X_t).detach().numpy(), rtol=1e-9,
                               atol=1e-12)


def test_network_input_gradient_matches_torch(torch):
    net = NeuralNetwork([Dense(4, Tanh()), Dense(2, Linear())], MeanSquaredError(), seed=0,
                        dtype=np.float64)
    net.input_grad_needed = True
    net.build(3)
    net._set_first_layer_input_grad()
    twin = torch_twin(torch, net)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    prediction = net.forward(X)
    net.loss.forward(prediction, y)
    input_grad = net.backward(net.loss.backward())
    X_t = torch.tensor(X, requires_grad=True)
    (((twin(X_t) - torch.from_numpy(y)) ** 2).sum() / 5).backward()
    np.testing.assert_allclose(input_grad, X_t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_check_against_torch_reports_a_wrong_gradient_or_output(torch):
    """The helper is not vacuous: a wrong derivative or a wrong function is reported."""

    class WrongSigmoid(Sigmoid):
        def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
            return output_grad * self.output  # misses the (1 - out) factor

    with pytest.raises(AssertionError, match="input gradient differs"):
        check_against_torch(torch, [(3, 4)], torch.sigmoid, WrongSigmoid)
    with pytest.raises(AssertionError, match="forward differs"):
        check_against_torch(torch, [(3, 4)], torch.tanh, Sigmoid)
    with pytest.raises(AssertionError, match="parameter 0 gradient differs"):
        # same value and input gradient, twice the parameter gradient
        check_against_torch(torch, [(3, 4), (4, 2)], lambda x, W: x @ (2 * W - W.detach()),
                            WeightMultiply)
