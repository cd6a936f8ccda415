"""The fast training path gives the same numbers as the plain one, and memory stays bounded."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from dlscratch import (
    Dense,
    Linear,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    SGDMomentum,
    Sigmoid,
    SoftmaxCrossEntropy,
    Trainer,
)


def _classifier(seed: int = 3) -> NeuralNetwork:
    return NeuralNetwork([Dense(8, ReLU()), Dense(3, Linear())], SoftmaxCrossEntropy(),
                         seed=seed)


def _data(n: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)).astype(np.float32), rng.integers(0, 3, n)


@pytest.mark.parametrize("targets", ["labels", "one-hot"])
def test_trainer_gives_exactly_what_a_manual_loop_of_train_batch_and_step_gives(targets):
    X, labels = _data()
    y = labels if targets == "labels" else np.eye(3, dtype=np.float32)[labels]
    trained, manual = _classifier(), _classifier()
    Trainer(trained, SGDMomentum(lr=0.1, momentum=0.9)).fit(
        X, y, epochs=3, batch_size=16, seed=5, early_stopping=False, verbose=False)

    optimizer = SGDMomentum(lr=0.1, momentum=0.9)
    optimizer.net = manual
    rng = np.random.default_rng(5)  # the trainer's rule: one permutation per epoch
    for _ in range(3):
        order = rng.permutation(len(X))
        for start in range(0, len(X), 16):
            batch = order[start:start + 16]
            manual.train_batch(X[batch], y[batch])
            optimizer.step()
    for ours, theirs in zip(trained.params(), manual.params()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_loss_that_overrides_forward_is_still_called_for_every_batch():
    calls = []

    class CountingLoss(MeanSquaredError):
        def forward(self, prediction, target):
            calls.append(len(prediction))
            return super().forward(prediction, target)

    net = NeuralNetwork([Dense(4, Sigmoid()), Dense(1, Linear())], CountingLoss(), seed=0)
    X, _ = _data(n=10)
    Trainer(net, SGDMomentum(lr=0.01)).fit(X, X[:, :1], epochs=2, batch_size=4,
                                             early_stopping=False, verbose=False)
    assert calls == [4, 4, 2, 4, 4, 2]


def test_the_gradients_of_one_batch_survive_the_next_backward():
    rng = np.random.default_rng(1)
    net = NeuralNetwork([Dense(3, Sigmoid()), Dense(1, Linear())], MeanSquaredError(), seed=0)
    X1, X2 = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    y = rng.standard_normal((5, 1))
    net.train_batch(X1, y)
    first = net.param_grads()
    kept = [grad.copy() for grad in first]
    net.train_batch(X2, y)
    for grad, copy in zip(first, kept):
        np.testing.assert_array_equal(grad, copy)
    assert all(a is not b for a, b in zip(first, net.param_grads()))


def test_relu_gradient_is_the_output_gradient_where_the_input_is_strictly_positive():
    x = np.array([[-2.0, 0.0, 3.0], [1e-30, -1e-30, 5.0]], dtype=np.float32)
    relu = ReLU()
    relu.forward(x)
    grad = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(relu.backward(grad), np.where(x > 0, grad, 0))


def test_predict_checks_and_casts_batch_by_batch_with_bounded_memory():
    net = NeuralNetwork([Dense(4, Sigmoid()), Dense(1, Linear())], MeanSquaredError(), seed=0)
    net.build(13)
    X = np.random.default_rng(0).standard_normal((100_000, 13))  # float64, 10 MB
    tracemalloc.start()
    try:
        prediction = net.predict(X, batch_size=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert prediction.shape == (100_000, 1) and prediction.dtype == np.float32
    # the output (0.4 MB) plus a few batches; a float32 copy of X alone would be 5.2 MB
    assert peak < prediction.nbytes + 1_000_000, peak
    np.testing.assert_allclose(prediction[-1000:], net.predict(X[-1000:]), rtol=1e-6)


def test_predict_names_a_bad_value_by_its_index_in_x_not_in_its_batch():
    net = NeuralNetwork([Dense(2, Sigmoid())], MeanSquaredError(), seed=0)
    net.build(3)
    X = np.zeros((3000, 3))
    X[2500, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 non-finite value\(s\) \(first: nan at index "
                                         r"\(2500, 1\)\)"):
        net.predict(X, batch_size=1000)


def test_training_memory_does_not_grow_with_the_number_of_epochs():
    X, y = _data(n=2000)

    def peak(epochs: int) -> int:
        net = _classifier()
        trainer = Trainer(net, SGDMomentum(lr=0.01))
        tracemalloc.start()
        try:
            trainer.fit(X, y, X[:100], y[:100], epochs=epochs, eval_every=1, batch_size=64,
                        early_stopping=False, verbose=False)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(8) < 1.2 * peak(2)


def test_import_dlscratch_loads_no_heavy_module():
    code = ("import sys, dlscratch; "
            "print(sorted(m for m in ('matplotlib', 'sklearn', 'torch', 'tqdm', 'scipy') "
            "if m in sys.modules)); print(dlscratch.ModelFileError.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["[]", "ModelFileError"]
