"""Every backward pass agrees with finite differences (float64, dlscratch.gradcheck).

Inputs are kept away from the kinks (ReLU and LeakyReLU at 0, MAE at p = y, Huber at
|p - y| = delta), where the derivative is not defined and central differences straddle it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlscratch import (
    ELU,
    GELU,
    BiasAdd,
    BinaryCrossEntropy,
    Dense,
    Dropout,
    Huber,
    LeakyReLU,
    Linear,
    MeanAbsoluteError,
    MeanSquaredError,
    NeuralNetwork,
    Operation,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    WeightMultiply,
)
from dlscratch.gradcheck import check_loss, check_network, check_operation, numerical_gradient

SEEDS = [0, 1, 2]
SHAPES = [(1, 3), (4, 5), (7, 2)]

ACTIVATIONS = {
    "Linear": Linear,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "ReLU": ReLU,
    "LeakyReLU": lambda: LeakyReLU(0.1),
    "LeakyReLU(0.01)": LeakyReLU,
    "ELU": ELU,
    "ELU(0.5)": lambda: ELU(0.5),
    "GELU": GELU,
    "Softmax": Softmax,
}


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...], margin: float = 0.1,
                   scale: float = 1.0) -> np.ndarray:
    """Random values with |x| >= margin, both signs (no kink of ReLU-like functions nearby)."""
    magnitude = margin + scale * np.abs(rng.standard_normal(shape))
    return np.where(rng.random(shape) < 0.5, -magnitude, magnitude)


class FixedMaskDropout(Dropout):
    """Dropout that draws the same mask on every forward (its generator is reseeded each time)."""

    def __init__(self, keep_prob: float, mask_seed: int) -> None:
        super().__init__(keep_prob)
        self.mask_seed = mask_seed

    def _output(self, inference: bool = False) -> np.ndarray:
        self.rng = np.random.default_rng(self.mask_seed)
        return super()._output(inference)


# ---------------------------------------------------------------------------- operations
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_weight_multiply_gradients_match_finite_differences(seed, shape):
    rng = np.random.default_rng(seed)
    n_out = 1 + seed * 2
    W = rng.standard_normal((shape[1], n_out))
    errors = check_operation(WeightMultiply(W), rng.standard_normal(shape), seed=seed)
    assert set(errors) == {"input", "param"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_bias_add_gradients_match_finite_differences(seed, shape):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((1, shape[1]))
    errors = check_operation(BiasAdd(B), rng.standard_normal(shape), seed=seed)
    assert set(errors) == {"input", "param"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_input_gradient_matches_finite_differences(name, shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape, scale=2.0)
    errors = check_operation(ACTIVATIONS[name](), x, seed=seed)
    assert set(errors) == {"input"}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradient_on_large_inputs(name):
    """Saturated regions (|x| up to 30) still have the right (tiny) gradient."""
    rng = np.random.default_rng(5)
    x = away_from_zero(rng, (3, 6), margin=0.5, scale=10.0)
    check_operation(ACTIVATIONS[name](), x, seed=5, atol=1e-6)


@given(batch=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 6),
       seed=st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_weight_multiply_and_bias_add_on_random_shapes(batch, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n_in))
    check_operation(WeightMultiply(rng.standard_normal((n_in, n_out))), x, seed=seed)
    check_operation(BiasAdd(rng.standard_normal((1, n_in))), x, seed=seed)


# ---------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("keep_prob", [0.5, 0.8])
@pytest.mark.parametrize("shape", SHAPES)
def test_dropout_gradient_with_a_fixed_mask_matches_finite_differences(shape, keep_prob):
    rng = np.random.default_rng(3)
    check_operation(FixedMaskDropout(keep_prob, mask_seed=11), rng.standard_normal(shape))


def test_dropout_same_generator_state_gives_same_mask_and_backward_is_mask_times_grad():
    x = np.random.default_rng(0).standard_normal((6, 5))
    first, second = Dropout(0.6), Dropout(0.6)
    first.rng, second.rng = np.random.default_rng(42), np.random.default_rng(42)
    out_first, out_second = first.forward(x), second.forward(x)
    np.testing.assert_array_equal(out_first, out_second)
    np.testing.assert_array_equal(first.mask, second.mask)
    # the mask is 0 or 1 / keep_prob
    assert set(np.unique(first.mask)) <= {0.0, 1.0 / 0.6}
    np.testing.assert_array_equal(out_first, x * first.mask)
    grad = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_array_equal(first.backward(grad), grad * first.mask)


def test_dropout_at_inference_is_the_identity_with_identity_gradient():
    x = np.random.default_rng(0).standard_normal((4, 3))
    dropout = Dropout(0.5)
    dropout.rng = np.random.default_rng(0)
    np.testing.assert_array_equal(dropout.forward(x, inference=True), x)
    grad = np.ones_like(x)
    np.testing.assert_array_equal(dropout.backward(grad), grad)


# ---------------------------------------------------------------------------- losses
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (4, 3)])
def test_mean_squared_error_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    check_loss(MeanSquaredError(), rng.standard_normal(shape), rng.standard_normal(shape))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (4, 10)])
def test_mean_squared_error_normalized_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    prediction = rng.uniform(0.1, 1.0, shape)  # sigmoid-like outputs: positive row sums
    target = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    check_loss(MeanSquaredError(normalize=True), prediction, target)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (4, 3)])
def test_mean_absolute_error_gradient_away_from_kinks(shape, seed):
    rng = np.random.default_rng(seed)
    target = rng.standard_normal(shape)
    check_loss(MeanAbsoluteError(), target + away_from_zero(rng, shape), target)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("regime", ["quadratic", "linear", "both"])
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_gradient_in_both_regimes(delta, regime, seed):
    rng = np.random.default_rng(seed)
    shape = (6, 2)
    target = rng.standard_normal(shape)
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    inside = rng.uniform(0.05, 0.9, shape) * delta
    outside = rng.uniform(1.1, 3.0, shape) * delta
    magnitude = {"quadratic": inside, "linear": outside,
                 "both": np.where(rng.random(shape) < 0.5, inside, outside)}[regime]
    check_loss(Huber(delta), target + sign * magnitude, target)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (8, 10)])
def test_softmax_cross_entropy_gradient_one_hot_and_labels(shape, seed):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal(shape)
    labels = rng.integers(0, shape[1], shape[0])
    check_loss(SoftmaxCrossEntropy(), logits, labels)
    check_loss(SoftmaxCrossEntropy(), logits, np.eye(shape[1])[labels])


def test_softmax_cross_entropy_gradient_with_probability_targets():
    rng = np.random.default_rng(4)
    target = rng.random((5, 4))
    target /= target.sum(axis=1, keepdims=True)
    check_loss(SoftmaxCrossEntropy(), rng.standard_normal((5, 4)), target)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(1, 1), (6, 1), (4, 3)])
def test_binary_cross_entropy_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal(shape)
    check_loss(BinaryCrossEntropy(), logits, (rng.random(shape) < 0.5).astype(float))
    check_loss(BinaryCrossEntropy(), logits, rng.random(shape))  # soft targets


# ---------------------------------------------------------------------------- layers, networks
@pytest.mark.parametrize("weight_init", ["standard", "glorot", "he"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_single_dense_layer_gradients(name, weight_init):
    rng = np.random.default_rng(8)
    net = NeuralNetwork([Dense(3, ACTIVATIONS[name](), weight_init=weight_init)],
                        MeanSquaredError(), seed=8, dtype=np.float64)
    X = away_from_zero(rng, (5, 4))
    net.build(4)
    if weight_init != "standard":
        # zero biases plus inputs near 0 would put ReLU kinks in reach; move the biases off 0
        net.params()[1][...] = away_from_zero(rng, (1, 3))
    check_network(net, X, rng.standard_normal((5, 3)))


def test_dense_layer_gradient_with_batch_one():
    rng = np.random.default_rng(9)
    net = NeuralNetwork([Dense(2, Tanh())], MeanSquaredError(), seed=9, dtype=np.float64)
    check_network(net, rng.standard_normal((1, 3)), rng.standard_normal((1, 2)))


ARCHITECTURES = {
    "sigmoid-linear (the book's chapter 4 regression)": (
        lambda: [Dense(5, Sigmoid()), Dense(1, Linear())], MeanSquaredError, 1),
    "tanh-tanh-linear, mae": (
        lambda: [Dense(4, Tanh()), Dense(3, Tanh()), Dense(1, Linear())], MeanAbsoluteError, 1),
    "relu-leaky-linear, huber": (
        lambda: [Dense(5, ReLU(), weight_init="he"), Dense(4, LeakyReLU(0.2)),
                 Dense(2, Linear())], lambda: Huber(0.7), 2),
    "elu-gelu, softmax cross entropy": (
        lambda: [Dense(5, ELU(), weight_init="glorot"), Dense(4, GELU(), weight_init="glorot"),
                 Dense(3, Linear(), weight_init="glorot")], SoftmaxCrossEntropy, 3),
    "default sigmoid, normalized mse": (
        lambda: [Dense(4), Dense(3)], lambda: MeanSquaredError(normalize=True), 3),
    "tanh-softmax, mse": (
        lambda: [Dense(4, Tanh()), Dense(3, Softmax())], MeanSquaredError, 3),
    "gelu-linear, binary cross entropy": (
        lambda: [Dense(5, GELU(), weight_init="he"), Dense(2, Linear())], BinaryCrossEntropy, 2),
    "dropout inside Dense and as a layer (fixed masks)": (
        lambda: [Dense(6, Tanh()), FixedMaskDropout(0.7, mask_seed=2), Dense(2, Sigmoid())],
        MeanSquaredError, 2),
}


def _targets(loss_name: str, loss, rng, batch: int, n_out: int) -> np.ndarray:
    if isinstance(loss, SoftmaxCrossEntropy):
        return rng.integers(0, n_out, batch)
    if isinstance(loss, BinaryCrossEntropy) or getattr(loss, "normalize", False):
        return np.eye(n_out)[rng.integers(0, n_out, batch)]
    return rng.standard_normal((batch, n_out))


@pytest.mark.parametrize("batch", [1, 6])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_network_gradients_match_finite_differences(name, seed, batch):
    make_layers, make_loss, n_out = ARCHITECTURES[name]
    loss = make_loss()
    net = NeuralNetwork(make_layers(), loss, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(100 + seed)
    X = rng.standard_normal((batch, 3))
    errors = check_network(net, X, _targets(name, loss, rng, batch, n_out))
    assert set(errors) == {"input", *(key for key, _ in net.named_params())}


def test_network_with_dropout_inside_dense_uses_the_stored_mask_in_backward():
    """Dense(dropout=...) draws a new mask each forward; backward must use the one drawn."""
    rng = np.random.default_rng(0)
    net = NeuralNetwork([Dense(5, Tanh(), dropout=0.6), Dense(1, Linear())], MeanSquaredError(),
                        seed=0, dtype=np.float64)
    X, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    net.train_batch(X, y)
    dropout = net.layers[0].operations[-1]
    assert isinstance(dropout, Dropout)
    mask = dropout.mask.copy()
    analytic = [g.copy() for g in net.param_grads()]

    class Replay:
        def random(self, shape, dtype):  # replays the mask: kept where mask > 0
            return np.where(mask > 0, 0.0, 1.0).astype(dtype)

    dropout.rng = Replay()
    for param, grad in zip(net.params(), analytic):
        numeric = numerical_gradient(lambda: net.loss.forward(net.forward(X), y), param)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_check_network_requires_float64():
    net = NeuralNetwork([Dense(2)], MeanSquaredError(), seed=0)
    with pytest.raises(ValueError, match="float64"):
        check_network(net, np.ones((2, 2)), np.ones((2, 2)))


def test_gradient_checks_catch_a_wrong_backward():
    """The harness itself is not vacuous: a wrong derivative is reported."""

    class WrongSquare(Operation):
        def _output(self, inference: bool = False) -> np.ndarray:
            return self.input_ ** 2

        def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
            return output_grad * self.input_  # should be 2 * input_

    with pytest.raises(AssertionError, match="WrongSquare input gradient"):
        check_operation(WrongSquare(), np.random.default_rng(0).standard_normal((3, 2)) + 3)
