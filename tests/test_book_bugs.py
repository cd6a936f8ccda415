"""One test per bug of the book's code (DLFS_code, ``lincoln/``) listed in STYLE.md.

Each test name says the right behaviour; the docstring says what the book did. Convolution
(the kernel flip) is not built yet and has no test here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dlscratch import (
    SGD,
    BiasAdd,
    Dense,
    LambdaCallback,
    Linear,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    SGDMomentum,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    WeightMultiply,
)
from dlscratch.gradcheck import check_loss, check_network, check_operation, numerical_gradient

SRC = Path(__file__).resolve().parents[1] / "src"


def test_relu_gradient_mask_is_taken_on_the_input_and_is_strictly_positive():
    """The book masked with ``output >= 0``: every output of ReLU is >= 0, so its gradient
    was the identity and negative inputs passed their gradient through."""
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 0.0, 0.5, 2.0]])
    grad = relu.backward(np.full_like(x, 3.0))
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.0, 3.0, 3.0]])


def test_default_activation_is_not_shared_between_dense_layers():
    """The book's ``activation: Operation = Sigmoid()`` default is one instance for every
    layer, so the second layer's forward overwrote the input the first one needs."""
    first, second = Dense(3), Dense(3)
    assert isinstance(first.activation, Sigmoid) and isinstance(second.activation, Sigmoid)
    assert first.activation is not second.activation
    shared = Tanh()
    third, fourth = Dense(3, shared), Dense(3, shared)
    assert third.activation is not fourth.activation

    rng = np.random.default_rng(0)
    net = NeuralNetwork([Dense(4), Dense(4), Dense(1, Linear())], MeanSquaredError(), seed=0,
                        dtype=np.float64)
    check_network(net, rng.standard_normal((5, 3)), rng.standard_normal((5, 1)))
    net = NeuralNetwork([third, fourth, Dense(1, Linear())], MeanSquaredError(), seed=0,
                        dtype=np.float64)
    check_network(net, rng.standard_normal((5, 3)), rng.standard_normal((5, 1)))


def test_layers_of_equal_shape_get_different_initial_weights():
    """The book reseeded every layer with the network's seed, so equal layers started equal
    (and, by symmetry, stayed equal)."""
    for weight_init in ("standard", "glorot", "he"):
        net = NeuralNetwork([Dense(4, weight_init=weight_init) for _ in range(3)],
                            MeanSquaredError(), seed=5)
        net.build(4)
        weights = [layer.params[0] for layer in net.layers]
        assert all(w.shape == (4, 4) for w in weights)
        for i in range(3):
            for j in range(i + 1, 3):
                assert not np.array_equal(weights[i], weights[j]), (weight_init, i, j)
        # still reproducible: the same seed gives the same three (different) matrices
        again = NeuralNetwork([Dense(4, weight_init=weight_init) for _ in range(3)],
                              MeanSquaredError(), seed=5).build(4)
        for w, w_again in zip(weights, (layer.params[0] for layer in again.layers)):
            np.testing.assert_array_equal(w, w_again)


@pytest.mark.parametrize("target_form", ["labels", "one-hot"])
def test_softmax_cross_entropy_loss_and_gradient_agree(target_form):
    """The book's loss (clipped softmax, summed -y log p - (1-y) log(1-p)) and its gradient
    (softmax - y) described two different functions."""
    rng = np.random.default_rng(1)
    logits = 2 * rng.standard_normal((7, 4))
    labels = rng.integers(0, 4, 7)
    target = labels if target_form == "labels" else np.eye(4)[labels]
    check_loss(SoftmaxCrossEntropy(), logits, target)
    # and the value is the textbook cross-entropy
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_softmax[np.arange(7), labels].mean()
    assert SoftmaxCrossEntropy().forward(logits, target) == pytest.approx(expected, rel=1e-12)


def test_softmax_cross_entropy_backward_twice_gives_the_same_gradient():
    loss = SoftmaxCrossEntropy()
    loss.forward(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([2, 0]))
    first = loss.backward().copy()
    np.testing.assert_array_equal(loss.backward(), first)


@pytest.mark.parametrize("operation", ["WeightMultiply", "BiasAdd"])
def test_parameter_gradient_is_right_for_batches_larger_than_one(operation):
    """A parameter gradient must sum over the batch (X.T @ grad, grad.sum(axis=0))."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((7, 3))
    param = rng.standard_normal((3, 2)) if operation == "WeightMultiply" else \
        rng.standard_normal((1, 3))
    op = WeightMultiply(param) if operation == "WeightMultiply" else BiasAdd(param)
    check_operation(op, X, seed=7)
    # the batch gradient is the sum of the seven one-row gradients
    output_grad = rng.standard_normal(op.forward(X).shape)
    op.backward(output_grad)
    batch_grad = op.param_grad.copy()
    total = np.zeros_like(param)
    for row in range(7):
        op.forward(X[row:row + 1])
        op.backward(output_grad[row:row + 1])
        total += op.param_grad
    np.testing.assert_allclose(batch_grad, total, rtol=1e-12, atol=1e-12)
    # and against finite differences of the batch loss directly
    numeric = numerical_gradient(lambda: float((op.forward(X) * output_grad).sum()), param)
    np.testing.assert_allclose(batch_grad, numeric, rtol=1e-6, atol=1e-8)


def _overfitting_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = X @ rng.standard_normal((3, 1)) + 0.5 * rng.standard_normal((12, 1))
    X_test = rng.standard_normal((40, 3))
    y_test = X_test @ rng.standard_normal((3, 1))
    return X, y, X_test, y_test


def test_early_stopping_restores_exactly_the_best_evaluations_parameters():
    """The book kept a deepcopy made one evaluation late (or restored into a copy), so the
    network ended with the parameters of the wrong epoch."""
    X, y, X_test, y_test = _overfitting_problem()
    net = NeuralNetwork([Dense(16, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=3,
                        dtype=np.float64)
    snapshots: dict[int, list[np.ndarray]] = {}
    record = LambdaCallback(on_evaluate=lambda trainer, epoch, logs: snapshots.__setitem__(
        epoch, [p.copy() for p in trainer.net.params()]))
    arrays = net.params()
    history = Trainer(net, SGD(lr=0.01)).fit(X, y, X_test, y_test, epochs=200, eval_every=1,
                                               batch_size=4, seed=1, verbose=False,
                                               callbacks=[record])
    # the validation loss went down, then up: training stopped after the best evaluation
    assert history.best_epoch is not None and history.best_epoch > 1
    assert history.stopped_epoch == history.best_epoch + 1 < 200
    assert history.val_loss[-1] >= history.best_val_loss
    best = snapshots[history.best_epoch]
    last = snapshots[history.stopped_epoch]
    assert any(not np.array_equal(b, s) for b, s in zip(best, last))
    for param, expected in zip(net.params(), best):
        np.testing.assert_array_equal(param, expected)
    # restored in place, into the caller's arrays
    assert all(a is b for a, b in zip(arrays, net.params()))
    assert net.loss.forward(net.predict(X_test), y_test) == pytest.approx(history.best_val_loss,
                                                                          rel=1e-12)


def test_shape_errors_are_real_errors_even_under_python_dash_O():
    """The book used ``assert`` for shape checks; ``python -O`` strips them."""
    script = textwrap.dedent("""
        import numpy as np
        from dlscratch import Sigmoid
        op = Sigmoid()
        op.forward(np.zeros((2, 3)))
        try:
            op.backward(np.zeros((2, 4)))
        except ValueError as error:
            print("ValueError:", error)
        else:
            print("no error")
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert message.startswith("ValueError:"), message
    assert "Sigmoid" in message and "(2, 4)" in message and "(2, 3)" in message


def test_optimizer_state_is_reset_between_fit_calls():
    """The book's optimizer kept its decayed learning rate and momentum velocities, so a
    second ``fit`` started with the first one's leftovers."""
    X, y, X_test, y_test = _overfitting_problem()

    def run(trainer):
        history = trainer.fit(X, y, X_test, y_test, epochs=6, eval_every=3, batch_size=4,
                              seed=2, verbose=False, early_stopping=False)
        return history, [p.copy() for p in trainer.net.params()]

    def make_trainer():
        net = NeuralNetwork([Dense(5, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=4)
        return Trainer(net, SGDMomentum(lr=0.05, momentum=0.9, final_lr=0.005,
                                        decay_type="linear"))

    trainer = make_trainer()
    first_history, first_params = run(trainer)
    assert trainer.optim.lr == pytest.approx(0.005)
    assert any(np.abs(v).max() > 0 for v in trainer.optim.velocities)
    second_history, second_params = run(trainer)
    fresh_history, fresh_params = run(make_trainer())
    assert second_history.lr[0] == pytest.approx(0.05)
    assert second_history.train_loss == first_history.train_loss == fresh_history.train_loss
    for a, b, c in zip(first_params, second_params, fresh_params):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
