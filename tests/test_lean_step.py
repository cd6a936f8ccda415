"""The trainer's lean step (lean.py) gives exactly what train_batch and Optimizer.step give."""

from __future__ import annotations

import numpy as np
import pytest

from dlscratch import (
    ELU,
    GELU,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    BinaryCrossEntropy,
    Callback,
    Dense,
    Huber,
    LeakyReLU,
    Linear,
    MeanAbsoluteError,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    RMSProp,
    SGDMomentum,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    TrainingDivergedError,
)
from dlscratch.base import ParamOperation
from dlscratch.lean import LeanStep

# (name, hidden activations, loss, targets, optimizer factory)
CASES = [
    ("sigmoid-mse-sgd", [Sigmoid, Sigmoid], MeanSquaredError, "regression",
     lambda: SGD(lr=0.05)),
    ("tanh-mae-momentum", [Tanh], MeanAbsoluteError, "regression",
     lambda: SGDMomentum(lr=0.05, momentum=0.9)),
    ("relu-labels-adam", [ReLU, ReLU], SoftmaxCrossEntropy, "labels", lambda: Adam(lr=0.01)),
    ("leaky-onehot-rmsprop", [LeakyReLU], SoftmaxCrossEntropy, "one-hot",
     lambda: RMSProp(lr=0.01, momentum=0.5)),
    ("elu-huber-adagrad", [ELU], Huber, "regression", lambda: AdaGrad(lr=0.05)),
    ("gelu-bce-clipped", [GELU], BinaryCrossEntropy, "binary",
     lambda: SGD(lr=0.5, gradient_clipping=True)),
    ("relu-dropout-labels", ["dropout"], SoftmaxCrossEntropy, "labels",
     lambda: SGDMomentum(lr=0.05, momentum=0.9)),
    ("normalized-mse", [Sigmoid], lambda: MeanSquaredError(normalize=True), "one-hot",
     lambda: SGD(lr=0.1)),
]


def _data(targets: str, dtype, n: int = 70):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 6)).astype(dtype)
    if targets == "regression":
        return X, (X[:, :2] * 1.5 - X[:, 2:4] ** 2).astype(dtype)
    labels = rng.integers(0, 3, n)
    if targets == "labels":
        return X, labels
    if targets == "binary":
        return X, (X[:, :3] > 0).astype(dtype)
    return X, np.eye(3, dtype=dtype)[labels]


def _network(hidden, loss, targets: str, dtype, seed: int = 4) -> NeuralNetwork:
    outputs = 2 if targets == "regression" else 3
    layers = [Dense(9, ReLU(), dropout=0.7) if act == "dropout" else Dense(9, act())
              for act in hidden]
    return NeuralNetwork(layers + [Dense(outputs, Linear())], loss(), seed=seed, dtype=dtype)


def _manual(net, optimizer, X, y, epochs: int, batch_size: int, seed: int) -> list[float]:
    """The general path by hand: the trainer's shuffle, train_batch and step per batch."""
    optimizer.net = net
    rng = np.random.default_rng(seed)
    losses = []
    for epoch in range(epochs):
        optimizer.set_epoch(epoch, epochs)
        order = rng.permutation(len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            total += net.train_batch(X[batch], y[batch]) * len(batch)
            optimizer.step()
        losses.append(total / len(X))
    return losses


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, hidden, loss, targets, optimizer", CASES,
                         ids=[case[0] for case in CASES])
def test_fit_is_bit_for_bit_train_batch_then_step(name, hidden, loss, targets, optimizer, dtype):
    X, y = _data(targets, dtype)
    trained, manual = _network(hidden, loss, targets, dtype), _network(hidden, loss, targets, dtype)
    trained.build(6)
    manual.build(6)
    assert LeanStep.for_network(trained, _bound(optimizer(), trained)) is not None
    optim = optimizer()
    history = Trainer(trained, optim).fit(X, y, epochs=4, batch_size=16, seed=5,
                                          restart=False, early_stopping=False, verbose=False)
    manual_optim = optimizer()
    losses = _manual(manual, manual_optim, X, y, epochs=4, batch_size=16, seed=5)
    for ours, theirs in zip(trained.params(), manual.params(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert history.train_loss == losses
    assert optim.steps == manual_optim.steps
    ours_state, their_state = optim.state_dict(), manual_optim.state_dict()
    assert ours_state.keys() == their_state.keys()
    for key, array in their_state["arrays"].items():
        np.testing.assert_array_equal(ours_state["arrays"][key], array)


def _bound(optimizer, net):
    optimizer.net = net
    return optimizer


def test_a_second_fit_continues_exactly_as_the_general_path():
    X, y = _data("regression", np.float32)
    trained, manual = (_network([Sigmoid], MeanSquaredError, "regression", np.float32)
                       for _ in range(2))
    optim = SGDMomentum(lr=0.05, momentum=0.9)
    trainer = Trainer(trained, optim)
    trainer.fit(X, y, epochs=2, batch_size=16, seed=5, early_stopping=False, verbose=False)
    trainer.fit(X, y, epochs=2, batch_size=16, seed=6, restart=False, early_stopping=False,
                verbose=False)
    manual.build(6)
    manual_optim = SGDMomentum(lr=0.05, momentum=0.9)
    _manual(manual, manual_optim, X, y, epochs=2, batch_size=16, seed=5)
    _manual(manual, manual_optim, X, y, epochs=2, batch_size=16, seed=6)
    for ours, theirs in zip(trained.params(), manual.params(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # after fit, the optimizer's public step works on the same state
    trained.train_batch(X[:8], y[:8])
    manual.train_batch(X[:8], y[:8])
    optim.step()
    manual_optim.step()
    for ours, theirs in zip(trained.params(), manual.params(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_after_fit_the_operations_behave_as_before_when_called_directly():
    X, y = _data("regression", np.float32)
    net = _network([Sigmoid], MeanSquaredError, "regression", np.float32)
    Trainer(net, SGD(lr=0.05)).fit(X, y, epochs=1, batch_size=16, verbose=False)
    operations = [op for layer in net.layers for op in layer.operations]
    assert all(op.param_grad_buffer is None for op in operations
               if isinstance(op, ParamOperation))
    assert not any(getattr(op, "in_place", False) for op in operations)
    # the last batch's gradients were the update's scratch space: gone, not wrong
    assert net.param_grads() == []
    with pytest.raises(RuntimeError, match="run net.backward before step"):
        Trainer(net, SGD(lr=0.05)).optim.step()
    net.train_batch(X[:5], y[:5])
    kept = net.param_grads()
    copies = [grad.copy() for grad in kept]
    net.train_batch(X[5:10], y[5:10])
    for grad, copy in zip(kept, copies):  # new arrays: the old gradients are untouched
        np.testing.assert_array_equal(grad, copy)
    assert all(a is not b for a, b in zip(kept, net.param_grads()))
    # the checks at the door of a direct call are still there
    with pytest.raises(ValueError, match="output_grad has shape"):
        net.layers[0].operations[2].backward(np.zeros((5, 4), dtype=np.float32))


class _Reset(Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 2:
            trainer.optim.reset()


def test_an_optimizer_reset_by_a_callback_is_seen_by_the_next_step():
    X, y = _data("labels", np.float32)
    trained, general = (_network([ReLU], SoftmaxCrossEntropy, "labels", np.float32)
                        for _ in range(2))
    Trainer(trained, Adam(lr=0.01)).fit(X, y, epochs=4, batch_size=16, callbacks=[_Reset()],
                                        early_stopping=False, verbose=False)
    trainer = Trainer(general, Adam(lr=0.01))
    general.train_batch = general.train_batch  # a patch on the instance: the general path
    trainer.fit(X, y, epochs=4, batch_size=16, callbacks=[_Reset()], early_stopping=False,
                verbose=False)
    for ours, theirs in zip(trained.params(), general.params(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_divergence_is_found_and_reported_as_on_the_general_path():
    X, y = _data("regression", np.float32)
    y = y * 1e3
    messages, params = [], []
    for patched in (False, True):
        net = _network([Sigmoid], MeanSquaredError, "regression", np.float32)
        if patched:
            net.train_batch = net.train_batch
        with pytest.raises(TrainingDivergedError) as info:
            Trainer(net, SGD(lr=1e6)).fit(X, y, epochs=3, batch_size=16, early_stopping=False,
                                          verbose=False)
        messages.append(str(info.value))
        params.append([p.copy() for p in net.params()])
    assert messages[0] == messages[1] and "batch " in messages[0]
    for ours, theirs in zip(*params):
        np.testing.assert_array_equal(ours, theirs)
        assert np.isfinite(ours).all()


def _dense_net(**kwargs) -> NeuralNetwork:
    net = NeuralNetwork([Dense(5, Sigmoid()), Dense(2, Linear())], MeanSquaredError(), seed=0,
                        **kwargs)
    return net.build(4)


class _MyDense(Dense):
    pass


@pytest.mark.parametrize("change", ["weight_decay", "clip_norm", "adamw", "subclass_layer",
                                    "softmax_op", "patched_layer", "patched_loss"])
def test_what_the_lean_step_does_not_reproduce_takes_the_general_path(change):
    net = _dense_net()
    optimizer = SGD(lr=0.1)
    if change == "weight_decay":
        optimizer = SGD(lr=0.1, weight_decay=0.01)
    elif change == "clip_norm":
        optimizer = SGD(lr=0.1, clip_norm=1.0)
    elif change == "adamw":
        optimizer = AdamW(lr=0.1)
    elif change == "subclass_layer":
        net = NeuralNetwork([_MyDense(5, Sigmoid()), Dense(2, Linear())], MeanSquaredError(),
                            seed=0).build(4)
    elif change == "softmax_op":
        net = NeuralNetwork([Dense(5, Sigmoid()), Dense(2, Softmax())], MeanSquaredError(),
                            seed=0).build(4)
    elif change == "patched_layer":
        net.layers[1].forward = net.layers[1].forward
    elif change == "patched_loss":
        net.loss._output = net.loss._output
    optimizer.net = net
    assert LeanStep.for_network(net, optimizer) is None
    plain, plain_optimizer = _dense_net(), SGD(lr=0.1)
    assert LeanStep.for_network(plain, plain_optimizer) is None  # no network set
    assert LeanStep.for_network(plain, _bound(plain_optimizer, plain)) is not None


def test_dense_keeps_w_and_b_side_by_side_in_one_array():
    net = _dense_net()
    for layer in net.layers:
        W, B = layer.params
        assert W.base is not None and W.base is B.base
        assert B.__array_interface__["data"][0] == W.__array_interface__["data"][0] + W.nbytes
    step = LeanStep.for_network(net, _bound(SGD(lr=0.1), net))
    assert len(step.runs) == len(net.layers)  # one subtraction per layer
    # the state dict is the same as ever: separate arrays under their names
    state = net.state_dict()
    assert list(state) == ["layers.0.W", "layers.0.B", "layers.1.W", "layers.1.B"]
    assert state["layers.0.W"].shape == (4, 5) and state["layers.0.B"].shape == (1, 5)


def test_parameters_in_arrays_of_their_own_are_updated_one_by_one():
    net = _dense_net()
    other = _dense_net()
    for layer in net.layers:  # e.g. after a deepcopy or a move between devices
        layer.params[:] = [param.copy() for param in layer.params]
        layer.operations[0].param, layer.operations[1].param = layer.params
    step = LeanStep.for_network(net, _bound(SGD(lr=0.1), net))
    assert len(step.runs) == 4
    X, y = np.ones((3, 4), np.float32), np.zeros((3, 2), np.float32)
    step(X, y)
    optimizer = _bound(SGD(lr=0.1), other)
    other.train_batch(X, y)
    optimizer.step()
    for ours, theirs in zip(net.params(), other.params(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
