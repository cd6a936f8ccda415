"""The same code on a device: every training path runs on a strict CuPy stand-in, bit for bit.

``strict`` (tests/strict_array.py) wraps NumPy arrays so that NumPy's dispatch reaches them but
nothing else does: an implicit conversion, or a host array mixed into a device operation, raises
TypeError as CuPy does. Where CuPy computes differently from NumPy it does as CuPy does
(element-wise results C-ordered, reductions 0-d arrays whose every use on the host is a counted
read, ``ufunc.at`` in a shuffled order, overlap copies counted). A network moved there with
``net.to(strict)`` therefore proves that no step falls back to NumPy, and since the stand-in
computes with NumPy, its results must equal the CPU run to the last bit: the layouts the code
relies on survive CuPy's C-ordered results, and no sum depends on an atomic order. ``exact`` is
the same wall with NumPy's semantics.

To cover a new layer, add a ``Case`` to ``CASES`` (a network factory and its data); to cover a
new optimizer, add a factory to ``OPTIMIZERS``. Every test below runs over them.
"""

from __future__ import annotations

import collections
import copy
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from strict_array import StrictArray, counters, exact, strict

from dlscratch import (
    ELU,
    GELU,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    BinaryCrossEntropy,
    CosineDecay,
    Dense,
    Dropout,
    EarlyStopping,
    Huber,
    LambdaCallback,
    LeakyReLU,
    Linear,
    MeanAbsoluteError,
    MeanSquaredError,
    ModelCheckpoint,
    NeuralNetwork,
    ReLU,
    RMSProp,
    SGDMomentum,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    StepDecay,
    Tanh,
    Trainer,
    TrainingDivergedError,
    WarmUp,
    backend,
)
from dlscratch.base import Operation
from dlscratch.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    GRULayer,
    Layer,
    LSTMLayer,
    MaxPool2D,
    RNNLayer,
)
from dlscratch.persistence import MODEL_FORMAT, read_npz

# ---------------------------------------------------------------------- what runs on the device


def _regression(n: int = 48, features: int = 5, outputs: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 16, features)).astype(np.float32)
    y = (X[:, :outputs] * 0.7 + np.sin(X[:, 1:2])).astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:]


def _labels(n: int = 48, features: int = 5, classes: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 16, features)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X[:n], y[:n] % classes, X[n:], y[n:] % classes


def _one_hot(n: int = 48, features: int = 5, classes: int = 3, seed: int = 2):
    X, y, X_test, y_test = _labels(n, features, classes, seed)
    eye = np.eye(classes, dtype=np.float32)
    return X, eye[y], X_test, eye[y_test]


def _binary(n: int = 48, features: int = 5, seed: int = 3):
    X, y, X_test, y_test = _labels(n, features, 2, seed)
    return X, y[:, None].astype(np.float32), X_test, y_test[:, None].astype(np.float32)


def _images(n: int = 24, channels: int = 1, side: int = 8, classes: int = 3, seed: int = 4):
    """(batch, channels, side, side) images and labels, for convolutional cases."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 8, channels, side, side)).astype(np.float32)
    y = (X[:, 0, : side // 2].mean(axis=(1, 2)) > 0).astype(np.int64) + (X[:, 0, 0, 0] > 1)
    return X[:n], y[:n] % classes, X[n:], y[n:] % classes


def _sequences(n: int = 24, steps: int = 5, features: int = 4, classes: int = 3, seed: int = 5):
    """(batch, time, features) sequences with a label per step, for recurrent cases."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 8, steps, features)).astype(np.float32)
    y = (np.cumsum(X[:, :, 0], axis=1) > 0).astype(np.int64) + (X[:, :, 1] > 1)
    return X[:n], y[:n] % classes, X[n:], y[n:] % classes


@dataclass
class Case:
    """A network (a fresh one per call, same seed) and the data it trains on."""

    name: str
    network: Callable[[], NeuralNetwork]
    data: Callable[[], tuple]

    def __repr__(self) -> str:
        return self.name


def _classifier(activation, **dense) -> Callable[[], NeuralNetwork]:
    return lambda: NeuralNetwork([Dense(7, activation, **dense), Dense(3, Linear())],
                                 SoftmaxCrossEntropy(), seed=4)


CASES = [
    Case("dense-sigmoid-mse", lambda: NeuralNetwork(
        [Dense(6, Sigmoid()), Dense(1, Linear())], MeanSquaredError(), seed=5), _regression),
    Case("dense-float64", lambda: NeuralNetwork(
        [Dense(6, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=5, dtype=np.float64),
        _regression),
    Case("dense-mae", lambda: NeuralNetwork(
        [Dense(6, ReLU(), weight_init="he"), Dense(1, Linear())], MeanAbsoluteError(), seed=6),
        _regression),
    Case("dense-huber", lambda: NeuralNetwork(
        [Dense(6, ELU(), weight_init="glorot"), Dense(2, Linear())], Huber(0.5), seed=7),
        lambda: _regression(outputs=2)),
    Case("dense-mse-normalize", lambda: NeuralNetwork(
        [Dense(6, Tanh()), Dense(3, Sigmoid())], MeanSquaredError(normalize=True), seed=8),
        _one_hot),
    Case("dense-bce", lambda: NeuralNetwork(
        [Dense(6, GELU()), Dense(1, Linear())], BinaryCrossEntropy(), seed=9), _binary),
    Case("dense-softmax-one-hot", lambda: NeuralNetwork(
        [Dense(6, LeakyReLU(0.1)), Dense(3, Linear())], SoftmaxCrossEntropy(), seed=10),
        _one_hot),
    Case("dense-softmax-activation", lambda: NeuralNetwork(
        [Dense(6, Softmax()), Dense(3, Linear())], SoftmaxCrossEntropy(), seed=11), _labels),
    *[Case(f"dense-{type(activation).__name__.lower()}-labels", _classifier(activation),
           _labels) for activation in (Linear(), Sigmoid(), Tanh(), ReLU(), LeakyReLU(),
                                       ELU(), GELU())],
]


def _token_ids(n: int = 24, steps: int = 5, vocab: int = 7, seed: int = 6):
    """(batch, time) integer ids and the next id as the label of every step (Embedding cases)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(n + 8, steps + 1))
    return ids[:n, :-1], ids[:n, 1:], ids[n:, :-1], ids[n:, 1:]


def _last_step(data: Callable[[], tuple]) -> Callable[[], tuple]:
    def last() -> tuple:
        X, y, X_test, y_test = data()
        return X, y[:, -1], X_test, y_test[:, -1]
    return last


# the layers of chapters 5 and 6: convolution, pooling, batch norm, recurrent cells, embedding
CASES += [
    Case("conv-maxpool", lambda: NeuralNetwork(
        [Conv2D(4, 3, activation=ReLU()), MaxPool2D(2), Flatten(), Dense(3, Linear())],
        SoftmaxCrossEntropy(), seed=14), _images),
    Case("conv-stride-avgpool-batchnorm", lambda: NeuralNetwork(
        [Conv2D(4, 2, weight_init="he", stride=2, padding=1), BatchNorm(), ReLU(),
         AvgPool2D(2), Conv2D(3, 3, weight_init="glorot", activation=Tanh()),
         GlobalAvgPool2D(), Dense(3, Linear())], SoftmaxCrossEntropy(), seed=15),
        lambda: _images(channels=2, side=9)),
    Case("conv-book-flatten-batchnorm-dense", lambda: NeuralNetwork(
        [Conv2D(3, 3, weight_init="glorot", activation=Tanh(), flatten=True), BatchNorm(),
         Dense(3, Linear())], SoftmaxCrossEntropy(), seed=16), _images),
    Case("rnn", lambda: NeuralNetwork([RNNLayer(6, 3)], SoftmaxCrossEntropy(), seed=17),
         _sequences),
    Case("lstm", lambda: NeuralNetwork([LSTMLayer(6, 3)], SoftmaxCrossEntropy(), seed=18),
         _sequences),
    Case("gru-last-step", lambda: NeuralNetwork(
        [GRULayer(6, 3, return_sequences=False)], SoftmaxCrossEntropy(), seed=19),
        _last_step(_sequences)),
    Case("embedding-lstm-gru", lambda: NeuralNetwork(
        [Embedding(7, 4), LSTMLayer(5, 6), GRULayer(5, 7)], SoftmaxCrossEntropy(), seed=20),
        _token_ids),
]

# Runs with dropout cannot equal the CPU run (the device draws its own masks); they are checked
# for repeating exactly, also across a checkpoint.
DROPOUT_CASES = [
    Case("dense-dropout", lambda: NeuralNetwork(
        [Dense(8, ReLU(), dropout=0.7), Dense(3, Linear())], SoftmaxCrossEntropy(), seed=12),
        _labels),
    Case("dropout-layer", lambda: NeuralNetwork(
        [Dense(8, Tanh()), Dropout(0.6), Dense(1, Linear())], MeanSquaredError(), seed=13),
        _regression),
]

OPTIMIZERS = {
    "sgd": lambda: SGD(lr=0.05),
    "sgd-linear-decay": lambda: SGD(lr=0.05, final_lr=0.005, decay_type="linear"),
    "sgd-weight-decay-clip": lambda: SGD(lr=0.05, weight_decay=0.01, clip_norm=0.5),
    "momentum": lambda: SGDMomentum(lr=0.02, momentum=0.9),
    "momentum-exponential": lambda: SGDMomentum(lr=0.02, final_lr=0.002,
                                                decay_type="exponential"),
    "adagrad": lambda: AdaGrad(lr=0.05),
    "rmsprop": lambda: RMSProp(lr=0.01),
    "rmsprop-momentum": lambda: RMSProp(lr=0.005, momentum=0.5, weight_decay=0.001),
    "adam": lambda: Adam(lr=0.01),
    "adam-cosine-clip": lambda: Adam(lr=0.01, schedule=CosineDecay(0.001), clip_norm=0.1),
    "adamw-step": lambda: AdamW(lr=0.01, schedule=StepDecay(2, 0.5)),
    "adam-warmup-decay": lambda: Adam(lr=0.01, weight_decay=0.01,
                                      schedule=WarmUp(2, CosineDecay())),
}

def _case(name: str) -> Case:
    return next(case for case in CASES if case.name == name)


FIT = dict(epochs=4, eval_every=1, batch_size=16, seed=3, verbose=False)


def _fit(case: Case, optimizer: str, device=None, **options):
    net = case.network()
    if device is not None:
        net.to(device)
    X, y, X_test, y_test = case.data()
    trainer = Trainer(net, OPTIMIZERS[optimizer]())
    history = trainer.fit(X, y, X_test, y_test, **{**FIT, **options})
    return net, trainer, history


def _host(arrays):
    return [strict.asnumpy(a) if isinstance(a, StrictArray) else a for a in arrays]


def _assert_same_params(device_net, cpu_net):
    device_params = device_net.params()
    assert device_params and all(isinstance(p, StrictArray) for p in device_params)
    for ours, theirs in zip(_host(device_params), _host(cpu_net.params())):
        np.testing.assert_array_equal(ours, theirs)


# ---------------------------------------------------------------------- the stand-in itself
def test_the_stand_in_refuses_implicit_conversion_and_host_arrays_as_cupy_does():
    x = strict.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError):
        np.asarray(x)
    with pytest.raises(TypeError):
        np.add(x, np.ones(3))
    with pytest.raises(TypeError):
        x + np.ones(3)
    with pytest.raises(TypeError):
        np.matmul(np.ones((1, 2)), x)
    with pytest.raises(TypeError):
        np.copyto(x, np.zeros((2, 3)))
    with pytest.raises(TypeError):
        x[np.array([0, 1])]
    host = np.zeros((2, 3))
    with pytest.raises(TypeError):
        host[...] = x
    assert not hasattr(x, "__array_interface__")
    # what CuPy allows: NumPy functions dispatch, scalars mix in, explicit reads
    y = np.exp(x) * 2.0 + np.float32(1)
    assert isinstance(y, StrictArray) and isinstance(np.sum(y), StrictArray)
    np.testing.assert_array_equal(strict.asnumpy(y), np.exp(np.arange(6.0).reshape(2, 3)) * 2 + 1)
    before = counters.transfers
    assert float(np.sum(x)) == 15.0 and counters.transfers == before + 1


def test_the_stand_in_behaves_as_cupy_where_cupy_differs_from_numpy():
    """C-ordered element-wise results, 0-d reductions whose every use on the host is a counted
    read, overlap copies counted; ``exact`` keeps NumPy's layouts (for comparisons that must
    not depend on them)."""
    host = np.arange(24.0).reshape(2, 3, 4)
    for module, keeps_layout in ((strict, False), (exact, True)):
        x = module.asarray(host).transpose(2, 0, 1)  # not C-contiguous
        for result in (x + 1, np.exp(x), np.where(x > 3, x, 0), x.clip(0, 5),
                       np.maximum(x, 0)):
            assert result._data.strides == (x._data.strides if keeps_layout
                                             else np.empty(x.shape).strides)
        kept = np.add(x, 1, out=np.empty_like(x))  # out= keeps it on both
        assert kept._data.strides == x._data.strides
        total = x.sum()
        assert isinstance(total, StrictArray) and total.ndim == 0
        before = counters.transfers
        if total > 3:  # the comparison is a 0-d device array; the `if` reads it
            pass
        assert float(x.max()) == 23.0 and int(x.min()) == 0 and total.item() == 276.0
        assert counters.transfers - before == 4
    x = strict.asarray(np.zeros((4, 6)))
    before = counters.overlap_copies
    np.add(x[:, :3], 1, out=x[:, 3:])  # bounds overlap: CuPy copies the input
    view = x[:, :3]
    np.add(view, 1, out=view)          # the output array itself: no copy
    assert counters.overlap_copies - before == 1


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_training_on_the_exact_stand_in_equals_the_cpu_run_too(case):
    """The same wall with NumPy's semantics (``exact``): the bit-for-bit comparison below runs
    on the stand-in that behaves as CuPy; this one shows the wall itself changes nothing."""
    cpu_net, _, cpu_history = _fit(case, "adam")
    device_net, _, device_history = _fit(case, "adam", device=exact)
    assert device_history.to_dict() == cpu_history.to_dict()
    _assert_same_params(device_net, cpu_net)


# ---------------------------------------------------------------------- bit for bit
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_training_on_the_device_equals_the_cpu_run_bit_for_bit(case, optimizer):
    cpu_net, _, cpu_history = _fit(case, optimizer)
    device_net, _, device_history = _fit(case, optimizer, device=strict)
    assert device_net.device == strict and cpu_net.device == "cpu"
    _assert_same_params(device_net, cpu_net)
    assert device_history.to_dict() == cpu_history.to_dict()
    X_test = case.data()[2]
    prediction = device_net.predict(X_test)
    assert type(prediction) is np.ndarray
    np.testing.assert_array_equal(prediction, cpu_net.predict(X_test))


# Copies per batch that change the memory order (counted by the stand-in), each unavoidable:
# the user's NCHW images to channel-major, once, at the first convolution; GlobalAvgPool's
# (channels, batch) means turned to (batch, channels) rows (a few hundred numbers); a recurrent
# layer's input gradient from its time-major buffer back to (batch, time, features). Before
# issue 23, CuPy's C-ordered element-wise results cost every convolution and pooling one more.
LAYOUT_COPIES_PER_BATCH = {"conv-maxpool": 1, "conv-stride-avgpool-batchnorm": 2,
                           "conv-book-flatten-batchnorm-dense": 1, "embedding-lstm-gru": 2}


def _per_batch(case: Case, optimizer: str = "adam-cosine-clip", **options) -> dict[str, float]:
    """What one more batch costs on the stand-in: the difference between two runs that differ
    only in their number of batches, divided by the number of extra batches."""
    names = ("transfers", "uploads", "overlap_copies", "layout_copies")

    def counted(batch_size):
        before = [getattr(counters, name) for name in names]
        _fit(case, optimizer, device=strict, batch_size=batch_size, eval_every=100, **options)
        return [getattr(counters, name) - b for name, b in zip(names, before)]

    n = len(case.data()[0])
    few, many = counted(n), counted(4)
    extra_batches = options.get("epochs", FIT["epochs"]) * (n // 4 - 1)
    assert extra_batches > 0
    return {name: (m - f) / extra_batches for name, f, m in zip(names, few, many)}


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_a_device_batch_reads_nothing_back_uploads_nothing_and_keeps_its_layouts(case):
    """The batch losses (and whether the parameters are finite) are read once per epoch, all
    together; the data went up once; no element-wise call makes CuPy copy an overlapping input;
    the only layout copies are those listed in LAYOUT_COPIES_PER_BATCH."""
    cost = _per_batch(case)
    assert cost["transfers"] == 0  # no read per batch: the device never waits
    assert cost["uploads"] == 0
    assert cost["overlap_copies"] == 0
    assert cost["layout_copies"] == LAYOUT_COPIES_PER_BATCH.get(case.name, 0)


def test_the_training_data_is_on_the_device_exactly_once():
    """Shuffling gathers each batch through a permutation: no second copy of the data set,
    whether fit uploads it or the user gives device arrays (over the device limit too)."""
    case = _case("conv-maxpool")
    X, y, X_test, y_test = case.data()
    for given, limit in (("host", 2 ** 30), ("device", 2 ** 30), ("device", 0)):
        data = (X, y) if given == "host" else (strict.asarray(X), strict.asarray(y))
        net = case.network().to(strict)
        trainer = Trainer(net, SGD(lr=0.01))
        trainer.device_data_limit = limit
        counters.allocations = []
        try:
            trainer.fit(*data, epochs=3, batch_size=8, verbose=False)
            copies_of_X = [shape for shape in counters.allocations if shape == X.shape]
        finally:
            counters.allocations = None
        # fit's upload of host data, and nothing else: no shuffled copy per run or per epoch
        assert len(copies_of_X) == (1 if given == "host" else 0), (given, limit)


def test_data_over_the_device_limit_is_copied_batch_by_batch_with_the_same_result(monkeypatch):
    case = _case("dense-sigmoid-mse")
    whole, _, whole_history = _fit(case, "momentum", device=strict)
    monkeypatch.setattr(Trainer, "device_data_limit", 0)
    batched, _, batched_history = _fit(case, "momentum", device=strict)
    assert batched_history.to_dict() == whole_history.to_dict()
    _assert_same_params(batched, whole)

    def uploads(batch_size):
        before = counters.uploads
        _fit(case, "momentum", device=strict, batch_size=batch_size, eval_every=100)
        return counters.uploads - before

    n = len(case.data()[0])
    extra_batches = FIT["epochs"] * (n // 4 - 1)
    assert uploads(4) - uploads(n) == 2 * extra_batches  # X and y of every batch


# ---------------------------------------------------------------------- where parameters live
def test_to_before_the_first_forward_records_the_device_and_the_seed_draws_the_same_weights():
    cpu = _case("dense-sigmoid-mse").network()
    recorded = _case("dense-sigmoid-mse").network()
    assert recorded.to(strict) is recorded and recorded.device == strict
    assert not recorded.built and recorded.params() == []
    X = _case("dense-sigmoid-mse").data()[0]
    cpu.build(X.shape[1])
    recorded.build(X.shape[1])
    _assert_same_params(recorded, cpu)
    built_then_moved = _case("dense-sigmoid-mse").network().build(X.shape[1]).to(strict)
    _assert_same_params(built_then_moved, cpu)
    constructed = NeuralNetwork([Dense(6, Sigmoid()), Dense(1, Linear())], MeanSquaredError(),
                                seed=5, device=strict).build(X.shape[1])
    _assert_same_params(constructed, cpu)


def test_the_summary_says_where_a_device_network_lives():
    net = _case("dense-sigmoid-mse").network().build(5)
    assert "device" not in net.summary()
    assert net.to(strict).summary().endswith(f"; device: {strict.__name__}")


def test_to_keeps_the_operations_and_the_layer_sharing_each_parameter():
    net = _case("dense-sigmoid-mse").network().build(5).to(strict)
    for layer in net.layers:
        assert layer.operations[0].param is layer.params[0]
        assert layer.operations[1].param is layer.params[1]
    back = net.to("cpu")
    assert back.device == "cpu" and all(type(p) is np.ndarray for p in net.params())
    assert net.layers[0].operations[0].param is net.layers[0].params[0]


class _Scale(Layer):
    """A layer with a trained parameter and a non-trained buffer (as BatchNorm keeps)."""

    def _setup_layer(self, input_):
        self.params = [np.ones((1, input_.shape[1]), dtype=self.dtype)]
        self.buffers = [np.zeros((1, input_.shape[1]), dtype=self.dtype)]
        self.operations = [_ScaleOperation(self.params[0], self.buffers[0])]

    def buffer_names(self):
        return ["shift"]


class _ScaleOperation(Operation):
    def __init__(self, scale, shift):
        super().__init__()
        self.scale, self.shift = scale, shift

    def _output(self, inference=False):
        return self.input_ * self.scale + self.shift

    def _input_grad(self, output_grad):
        return output_grad * self.scale


def test_buffers_move_with_the_parameters_and_the_operations_follow_them():
    layer = _Scale(3)
    net = NeuralNetwork([layer, Dense(1, Linear())], MeanSquaredError(), seed=0).build(3)
    buffers = layer.buffers
    net.to(strict)
    assert layer.buffers is buffers and isinstance(buffers[0], StrictArray)
    assert layer.operations[0].shift is buffers[0]
    assert layer.operations[0].scale is layer.params[0]
    out = net.predict(np.ones((2, 3), dtype=np.float32), to_host=False)
    assert isinstance(out, StrictArray)


# ---------------------------------------------------------------------- fit and predict
def test_fit_and_predict_take_device_arrays_too():
    case = _case("dense-gelu-labels")
    X, y, X_test, y_test = case.data()
    on_host, _, host_history = _fit(case, "adam", device=strict)
    net = case.network().to(strict)
    history = Trainer(net, OPTIMIZERS["adam"]()).fit(
        strict.asarray(X), strict.asarray(y), strict.asarray(X_test), strict.asarray(y_test),
        **FIT)
    assert history.to_dict() == host_history.to_dict()
    _assert_same_params(net, on_host)
    kept = net.predict(strict.asarray(X_test), to_host=False)
    assert isinstance(kept, StrictArray)
    np.testing.assert_array_equal(strict.asnumpy(kept), on_host.predict(X_test))
    # a CPU network given device data trains on the host copy
    cpu = case.network()
    Trainer(cpu, OPTIMIZERS["adam"]()).fit(strict.asarray(X), y, X_test, y_test, **FIT)
    for ours, theirs in zip(cpu.params(), _host(on_host.params())):
        np.testing.assert_array_equal(ours, theirs)


def test_the_optimizer_state_follows_the_network_to_the_device_at_its_next_step():
    case = _case("dense-sigmoid-mse")
    X, y, X_test, y_test = case.data()
    cpu = case.network()
    moved = case.network()
    cpu_trainer = Trainer(cpu, Adam(lr=0.01))
    moved_trainer = Trainer(moved, Adam(lr=0.01))
    for trainer in (cpu_trainer, moved_trainer):
        trainer.fit(X, y, epochs=2, batch_size=16, verbose=False)
    moved.to(strict)
    assert all(type(m) is np.ndarray for m in moved_trainer.optim.state["m"])
    for trainer in (cpu_trainer, moved_trainer):
        trainer.fit(X, y, X_test, y_test, epochs=2, batch_size=16, restart=False, verbose=False)
    assert all(isinstance(m, StrictArray) for m in moved_trainer.optim.state["m"])
    _assert_same_params(moved, cpu)
    moved.to("cpu")  # and back
    for trainer in (cpu_trainer, moved_trainer):
        trainer.fit(X, y, epochs=1, batch_size=16, restart=False, verbose=False)
    for ours, theirs in zip(moved.params(), cpu.params()):
        np.testing.assert_array_equal(ours, theirs)


def test_early_stopping_on_the_device_restores_the_same_best_weights():
    case = _case("dense-sigmoid-mse")
    cpu_net, _, cpu_history = _fit(case, "sgd", epochs=30, early_stopping=False,
                                   callbacks=[EarlyStopping(patience=0, min_delta=1.0)])
    device_net, _, device_history = _fit(case, "sgd", device=strict, epochs=30,
                                         early_stopping=False,
                                         callbacks=[EarlyStopping(patience=0, min_delta=1.0)])
    assert cpu_history.stopped_epoch is not None and cpu_history.stopped_epoch < 30
    assert device_history.to_dict() == cpu_history.to_dict()
    _assert_same_params(device_net, cpu_net)


def test_a_diverging_device_run_stops_and_keeps_the_last_finite_parameters():
    case = _case("dense-sigmoid-mse")
    X, y, _, _ = case.data()
    nets, messages = [], []
    for device in ("cpu", strict):
        net = case.network().to(device)
        with pytest.raises(TrainingDivergedError) as caught:
            Trainer(net, SGD(lr=1e6)).fit(X, y * 1e6, epochs=5, batch_size=16, verbose=False)
        nets.append(net)
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "diverged" in messages[0]
    _assert_same_params(nets[1], nets[0])
    assert all(np.isfinite(p).all() for p in nets[0].params())


# ---------------------------------------------------------------------- files
def test_a_device_network_saves_the_same_file_and_loads_onto_a_device(tmp_path):
    case = _case("dense-softmax-one-hot")
    device_net, _, _ = _fit(case, "adam", device=strict)
    cpu_net, _, _ = _fit(case, "adam")
    device_net.save(tmp_path / "device.npz")
    cpu_net.save(tmp_path / "cpu.npz")
    device_arrays, device_meta = read_npz(tmp_path / "device.npz", MODEL_FORMAT)
    cpu_arrays, cpu_meta = read_npz(tmp_path / "cpu.npz", MODEL_FORMAT)
    assert device_meta == cpu_meta and device_arrays.keys() == cpu_arrays.keys()
    for key in cpu_arrays:
        assert device_arrays[key].dtype == cpu_arrays[key].dtype
        np.testing.assert_array_equal(device_arrays[key], cpu_arrays[key])
    loaded = NeuralNetwork.load(tmp_path / "cpu.npz", device=strict)
    assert loaded.device == strict
    _assert_same_params(loaded, cpu_net)
    X_test = case.data()[2]
    np.testing.assert_array_equal(loaded.predict(X_test), cpu_net.predict(X_test))
    state = device_net.state_dict()
    assert all(type(array) is np.ndarray for array in state.values())
    fresh = case.network().to(strict)
    fresh.load_state_dict(state)
    _assert_same_params(fresh, cpu_net)


def test_model_checkpoint_callback_saves_a_device_network(tmp_path):
    path = str(tmp_path / "epoch{epoch}.npz")
    net, _, _ = _fit(_case("dense-sigmoid-mse"), "sgd", device=strict,
                     callbacks=[ModelCheckpoint(path)])
    loaded = NeuralNetwork.load(path.format(epoch=FIT["epochs"]))
    for ours, theirs in zip(loaded.params(), _host(net.params())):
        np.testing.assert_array_equal(ours, theirs)


def _interrupt_at(epoch):
    def hook(trainer, current):
        if current == epoch:
            raise KeyboardInterrupt

    return LambdaCallback(on_epoch_begin=hook)


@pytest.mark.parametrize("case", [_case("dense-sigmoid-mse"), *DROPOUT_CASES], ids=repr)
def test_a_device_run_resumed_from_its_checkpoint_equals_the_uninterrupted_run(case, tmp_path):
    options = dict(epochs=5, callbacks=[EarlyStopping(patience=3)], early_stopping=False)
    whole, _, whole_history = _fit(case, "adam", device=strict, **options)
    checkpoint = tmp_path / "run.ckpt"
    net = case.network().to(strict)
    X, y, X_test, y_test = case.data()
    trainer = Trainer(net, OPTIMIZERS["adam"]())
    interrupted = trainer.fit(X, y, X_test, y_test, **{**FIT, **options, "callbacks": [
        EarlyStopping(patience=3), _interrupt_at(3)]}, checkpoint=checkpoint)
    assert interrupted.interrupted
    resumed_net = case.network().to(strict)
    resumed = Trainer(resumed_net, OPTIMIZERS["adam"]()).fit(
        X, y, X_test, y_test, **{**FIT, **options, "callbacks": [EarlyStopping(patience=3)]},
        resume_from=checkpoint)
    assert resumed.train_loss == whole_history.train_loss
    _assert_same_params(resumed_net, whole)


# ---------------------------------------------------------------------- dropout
@pytest.mark.parametrize("case", DROPOUT_CASES, ids=repr)
def test_dropout_on_the_device_draws_device_masks_that_repeat_exactly(case):
    first, _, first_history = _fit(case, "momentum", device=strict)
    second, _, second_history = _fit(case, "momentum", device=strict)
    assert first_history.to_dict() == second_history.to_dict()
    _assert_same_params(first, second)
    cpu, _, cpu_history = _fit(case, "momentum")
    assert cpu_history.train_loss != first_history.train_loss  # its own masks


def test_device_dropout_keeps_the_expected_share_and_scales_by_one_over_keep_prob():
    dropout = Dropout(0.7)
    dropout.rng = np.random.default_rng(0)
    x = strict.asarray(np.ones((400, 50), dtype=np.float32))
    out = dropout.forward(x)
    assert isinstance(out, StrictArray) and isinstance(dropout.mask, StrictArray)
    values = strict.asnumpy(out)
    kept = values != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(values[kept], 1 / 0.7, rtol=1e-6)
    again = strict.asnumpy(dropout.forward(x))
    assert (again != values).any()  # a new mask every step
    assert np.array_equal(strict.asnumpy(dropout.forward(x, inference=True)), np.ones((400, 50)))


# ---------------------------------------------------------------------- devices by name
def test_cuda_without_cupy_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    net = _case("dense-sigmoid-mse").network()
    for name in ("cuda", "cuda:0", "CUDA:1"):
        with pytest.raises(ImportError, match=r'dlscratch\[cuda12\]".*dlscratch\[cuda13\]'):
            net.to(name)
    with pytest.raises(backend.DeviceUnavailableError):
        NeuralNetwork([Dense(1, Linear())], MeanSquaredError(), device="cuda")
    assert net.device == "cpu"


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:-1", "tpu", ""])
def test_an_unknown_device_name_is_a_value_error(device):
    with pytest.raises(ValueError, match="NeuralNetwork.to: unknown device"):
        _case("dense-sigmoid-mse").network().to(device)


@pytest.mark.parametrize("device", [3, 1.5, object(), np.ones(2)])
def test_a_device_that_is_no_array_module_is_a_type_error(device):
    with pytest.raises(TypeError, match="device must be 'cpu', 'cuda', 'cuda:N' or an array"):
        _case("dense-sigmoid-mse").network().to(device)


def test_devices_compare_with_their_names_and_modules():
    assert backend.resolve_device("cpu") == "cpu" and backend.resolve_device(np) == "cpu"
    device = backend.resolve_device(strict)
    assert device == strict and device != "cpu" and str(device) == strict.__name__
    assert backend.resolve_device(device) is device


def test_backend_helpers_follow_the_array_they_are_given():
    like = strict.asarray(np.zeros(2, dtype=np.float32))
    assert isinstance(backend.zeros((2, 3), np.float32, like=like), StrictArray)
    assert isinstance(backend.empty((2,), np.float64, like=strict), StrictArray)
    assert type(backend.zeros((2,), np.float32, like=np.zeros(1))) is np.ndarray
    labels = strict.asarray(np.array([2, 0, 1]))
    hot = backend.one_hot(labels, 3)
    np.testing.assert_array_equal(strict.asnumpy(hot), np.eye(3, dtype=np.float32)[[2, 0, 1]])
    host_hot = backend.one_hot(np.array([1, 1]), 2, like=like)
    assert isinstance(host_hot, StrictArray)
    rng = np.random.default_rng(0)
    normal = backend.random_normal(rng, (3, 2), np.float32, like=like)
    assert isinstance(normal, StrictArray)
    np.testing.assert_array_equal(
        strict.asnumpy(normal),
        np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32))
    generator = backend.DeviceGenerator(strict)
    generator.seed(7)
    uniform = backend.random_uniform(generator, (1000,))
    mask = backend.random_bernoulli(generator, 0.25, (1000,), like=like)
    assert isinstance(uniform, StrictArray) and isinstance(mask, StrictArray)
    assert 0.2 < float(mask.mean()) < 0.3
    generator.seed(7)
    np.testing.assert_array_equal(strict.asnumpy(generator.random((1000,))),
                                  strict.asnumpy(uniform))
    assert backend.to_host(like).dtype == np.float32
    assert backend.to_device(np.ones(2), like=like).shape == (2,)


# ---------------------------------------------------------------------- the source itself
HOT_PATH_METHODS = {"_output", "_input_grad", "_param_grad", "_update_rule", "_begin_step",
                    "_clip_grad_norm", "_add_weight_decay", "_device_uniform"}
HOST_CREATORS = {"array", "asarray", "zeros", "ones", "empty", "full", "arange", "eye",
                 "ascontiguousarray", "frombuffer", "linspace"}


def _hot_path_violations(source: str, filename: str) -> list[str]:
    """Calls in hot-path methods that would create host arrays or read device values back:
    ``np.zeros(...)`` and friends (use ``np.zeros_like`` or ``dlscratch.backend``), ``.item()``,
    and ``float()``/``int()``/``bool()`` of anything (a loss returns a 0-d array)."""
    import ast

    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef) or node.name not in HOT_PATH_METHODS:
            continue
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            function = call.func
            where = f"{filename}:{call.lineno} in {node.name}"
            if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) \
                    and function.value.id == "np" and function.attr in HOST_CREATORS:
                problems.append(f"{where}: np.{function.attr}(...)")
            elif isinstance(function, ast.Attribute) and function.attr in ("item", "tolist"):
                problems.append(f"{where}: .{function.attr}()")
            elif isinstance(function, ast.Name) and function.id in ("float", "int", "bool"):
                problems.append(f"{where}: {function.id}(...)")
    return problems


def test_no_hot_path_method_in_the_library_creates_host_arrays_or_reads_values_back():
    import pathlib

    import dlscratch

    folder = pathlib.Path(dlscratch.__file__).parent
    problems = []
    for path in sorted(folder.rglob("*.py")):
        problems += _hot_path_violations(path.read_text(), path.name)
    assert problems == [], "\n".join(problems)


def test_the_source_check_finds_what_it_looks_for():
    bad = ("class A:\n    def _output(self):\n        z = np.zeros((2, 3))\n"
           "        return float(z.sum()) + z.item()\n")
    assert len(_hot_path_violations(bad, "layers.py")) == 3


# ---------------------------------------------------------------------- CuPy's own code paths
@pytest.fixture
def cupy(monkeypatch):
    """A fake ``cupy`` (strict arrays plus CuPy's device and cuRAND API) in ``sys.modules``."""
    from strict_array import install_fake_cupy

    return install_fake_cupy(monkeypatch)


def test_cuda_names_pick_the_gpu_and_use_it_only_for_the_network(cupy):
    net = _case("dense-sigmoid-mse").network().to("cuda:1")
    assert net.device == "cuda:1" and net.device == "cuda" and net.device != "cuda:0"
    assert net.device.index == 1
    # to() works on GPU 1 and leaves the current GPU as it was (issue 23: a network's arrays go
    # to its own GPU through backend.on_device, not by changing the current one for good)
    assert cupy.state.current == 0
    assert NeuralNetwork([Dense(1, Linear())], MeanSquaredError(), device="cuda").device \
        == "cuda:0"  # "cuda" is the current GPU
    cupy.cuda.Device(1).use()
    assert NeuralNetwork([Dense(1, Linear())], MeanSquaredError(), device="cuda").device \
        == "cuda:1"
    # the module object itself
    assert _case("dense-sigmoid-mse").network().to(cupy).device == "cuda:1"
    with pytest.raises(ValueError, match=r"'cuda:2' does not exist.*cuda:0 to cuda:1"):
        net.to("cuda:2")


def test_training_through_cupys_code_paths_equals_the_cpu_run(cupy):
    from strict_array import FakeCupyArray

    case = _case("dense-gelu-labels")
    cpu_net, _, cpu_history = _fit(case, "adam-cosine-clip")
    gpu_net, _, gpu_history = _fit(case, "adam-cosine-clip", device="cuda:0")
    assert all(isinstance(p, FakeCupyArray) for p in gpu_net.params())
    assert gpu_history.to_dict() == cpu_history.to_dict()
    for ours, theirs in zip(_host(gpu_net.params()), cpu_net.params()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("case", DROPOUT_CASES, ids=repr)
def test_dropout_through_cupys_random_state_repeats(cupy, case):
    first = _fit(case, "momentum", device="cuda")[2]
    second = _fit(case, "momentum", device="cuda")[2]
    assert first.to_dict() == second.to_dict()
    generator = next(op for layer in _fit(case, "sgd", device="cuda")[0].layers
                     for op in [layer, *getattr(layer, "operations", [])]
                     if isinstance(op, Dropout))._device_generator
    assert generator._is_cupy and generator._state.method == 106  # cuRAND Philox


def test_a_device_is_its_name_as_a_string():
    import json

    device = _case("dense-sigmoid-mse").network().device
    assert isinstance(device, str) and device == "cpu" and not device != "cpu"
    assert json.dumps({"device": device}) == '{"device": "cpu"}' and f"{device}" == "cpu"
    assert repr(device) == "Device('cpu')" and device.type == "cpu"


def test_embedding_ids_are_checked_once_per_fit_and_on_the_host_before_an_upload():
    """Trainer.fit checks the ids of the whole data set at the door (free on the host), so a
    batch reads nothing (see the test above); predict checks a host batch before uploading it
    (free) and a device batch with one read of one flag, not two (min and max)."""
    case = _case("embedding-lstm-gru")
    X, y, X_test, y_test = case.data()
    net = case.network().to(strict)
    Trainer(net, SGD(lr=0.05)).fit(X, y, epochs=1, batch_size=8, verbose=False)
    on_device = strict.asarray(X_test)

    def reads(run) -> int:
        before = counters.transfers
        run()
        return counters.transfers - before

    assert reads(lambda: net.predict(X_test, batch_size=4, to_host=False)) == 0
    batches = -(-len(X_test) // 4)
    assert reads(lambda: net.predict(on_device, batch_size=4, to_host=False)) == batches
    for bad in (X_test + 7, X_test - 8):
        with pytest.raises(ValueError, match=r"ids holds (-8|13), out of range.*\[0, 6\]"):
            net.predict(bad)
        with pytest.raises(ValueError, match=r"ids holds (-8|13), out of range"):
            net.predict(strict.asarray(bad))
        with pytest.raises(ValueError, match=r"Trainer.fit: X_train holds (-8|13), out of range"):
            Trainer(case.network().to(strict), SGD(lr=0.05)).fit(bad, y_test, epochs=1,
                                                                 verbose=False)
    assert not net.layers[0].ids_checked  # the trust ends with the call that checked


def test_embedding_gradients_repeat_exactly_where_ufunc_at_would_not():
    """The stand-in adds ``ufunc.at`` in a shuffled order, as CuPy's atomic scatter-add; the
    Embedding's sorted segmented sum gives the same bits on every run, equal to the CPU's."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=(64, 9))
    grad = rng.standard_normal((64, 9, 3)).astype(np.float32)
    flat_ids, rows = strict.asarray(ids.reshape(-1)), strict.asarray(grad.reshape(-1, 3))

    def scatter():
        out = np.zeros_like(strict.asarray(np.zeros((5, 3), np.float32)))
        np.add.at(out, flat_ids, rows)
        return strict.asnumpy(out)

    scattered = [scatter() for _ in range(6)]
    assert any(not np.array_equal(scattered[0], other) for other in scattered[1:])

    from dlscratch.recurrent import rows_summed_by_id

    ours = [strict.asnumpy(rows_summed_by_id(flat_ids, rows, 6)) for _ in range(3)]
    cpu = rows_summed_by_id(ids.reshape(-1), grad.reshape(-1, 3), 6)
    in_order = np.zeros((6, 3), np.float32)
    np.add.at(in_order, ids.reshape(-1), grad.reshape(-1, 3))
    for result in ours:
        np.testing.assert_array_equal(result, cpu)
    np.testing.assert_allclose(cpu, in_order, rtol=1e-5, atol=1e-5)  # the same sums
    assert not cpu[5].any()  # an id that does not occur


# ---------------------------------------------------------------------- the text trainer
TEXT = ("the quick brown fox jumps over the lazy dog; " * 12)


def _text_trainer(embedding: bool, device=None, loss=None):
    from dlscratch.text import RNNModel, RNNTrainer

    vocab = len(set(TEXT))
    layers = [Embedding(vocab, 6), LSTMLayer(8, vocab)] if embedding else [LSTMLayer(8, vocab)]
    model = RNNModel(layers, sequence_length=7, vocab_size=vocab,
                     loss=loss or SoftmaxCrossEntropy(), seed=3)
    if device is not None:
        model.to(device)
    return RNNTrainer(model=model, optim=Adam(lr=0.01), batch_size=5, text=TEXT, seed=1,
                      sample_length=5, verbose=False)


@pytest.mark.parametrize("embedding", [False, True], ids=["one-hot", "embedding"])
def test_rnn_trainer_on_the_device_equals_the_cpu_and_an_iteration_reads_nothing(embedding):
    cpu = _text_trainer(embedding)
    cpu_history = cpu.train(12, sample_every=6)
    device = _text_trainer(embedding, strict)
    history = device.train(12, sample_every=6)
    assert history.losses == cpu_history.losses and history.iterations == list(range(1, 13))
    assert history.val_perplexity == cpu_history.val_perplexity
    assert history.samples == cpu_history.samples
    _assert_same_params(device.model, cpu.model)

    def counted(iterations: int) -> tuple[int, int]:
        trainer = _text_trainer(embedding, strict)
        before = counters.transfers, counters.uploads
        trainer.train(iterations, sample_every=1000)  # one evaluation, at the end
        return counters.transfers - before[0], counters.uploads - before[1]

    few, many = counted(2), counted(9)
    assert many == few  # seven more iterations: no read, no upload


def test_rnn_trainer_on_the_device_reports_a_diverged_loss_with_its_iteration():
    from dlscratch.text import RNNTrainer

    messages = []
    for device in ("cpu", strict):
        model = _text_trainer(False, device).model
        trainer = RNNTrainer(model=model, optim=SGD(lr=1e38), batch_size=5, text=TEXT,
                             verbose=False)
        with np.errstate(all="ignore"), pytest.raises(TrainingDivergedError) as caught:
            trainer.train(30, sample_every=15)
        messages.append(str(caught.value))
    found = [re.search(r"the loss became (nan|inf) at iteration (\d+)", m) for m in messages]
    assert all(found) and found[0].groups() == found[1].groups()
    assert "read at each evaluation" in messages[1]


# ---------------------------------------------------------------------- two GPUs, checks, output
def test_two_networks_on_two_gpus_each_keep_their_arrays_on_their_own(cupy):
    """CuPy puts every new array on the *current* GPU; the fake one refuses, as CuPy without
    peer access, an operation on arrays of another GPU. Each network works on its own."""
    case = _case("conv-stride-avgpool-batchnorm")
    X, y, X_test, y_test = case.data()
    cpu_net, _, cpu_history = _fit(case, "adam")
    nets = [case.network().to("cuda:0"), case.network().to("cuda:1")]
    histories = []
    for net in nets:  # GPU 0 stays current all along
        trainer = Trainer(net, OPTIMIZERS["adam"]())
        histories.append(trainer.fit(X, y, X_test, y_test, **FIT))
        assert cupy.state.current == 0
    for net, history in zip(nets, histories):
        assert {p.device_id for p in net.params_and_buffers()} == {net.device.index}
        assert history.to_dict() == cpu_history.to_dict()
        _assert_same_params(net, cpu_net)
        np.testing.assert_array_equal(net.predict(X_test), cpu_net.predict(X_test))
        out = net.predict(X_test, to_host=False)
        assert out.device_id == net.device.index
    # without the device's context the fake GPU refuses, as CuPy would
    with pytest.raises(ValueError, match=r"array resides \(1\) is different from the current "
                                         r"device \(0\)"):
        np.exp(nets[1].params()[0])


@pytest.mark.parametrize("name", ["dense-float64", "conv-stride-avgpool-batchnorm"])
def test_gradcheck_works_on_a_device_network(name):
    from dlscratch.gradcheck import check_network, check_operation

    def network():
        net = _case(name).network()
        if net.dtype != np.float64:
            net = NeuralNetwork(copy.deepcopy(net.layers), copy.deepcopy(net.loss), seed=net.seed,
                                dtype=np.float64)
        return net

    X, y = (array[:3] for array in _case(name).data()[:2])
    cpu_errors = check_network(network(), X, y)
    device_net = network().to(strict)
    device_errors = check_network(device_net, X, y)
    assert device_errors == cpu_errors  # the same numbers, read back
    assert all(isinstance(p, StrictArray) for p in device_net.params())
    errors = check_operation(Tanh(), strict.asarray(np.linspace(-2, 2, 12).reshape(3, 4)))
    assert errors["input"] < 1e-6


def test_conv_testing_prints_the_books_lines_on_a_device_too(capsys):
    case = _case("conv-maxpool")
    X, y, X_test, y_test = case.data()
    printed = []
    for device in ("cpu", strict):
        net = case.network().to(device)
        Trainer(net, SGD(lr=0.01)).fit(X, y, X_test, y_test, epochs=1, batch_size=2,
                                       eval_every=1, conv_testing=True)
        printed.append([line for line in capsys.readouterr().out.splitlines()
                        if line.startswith("batch ")])
    assert printed[0] == printed[1] == [f"batch {i} loss {line.split()[-1]}"
                                        for i, line in zip((0, 10), printed[0])]
    assert len(printed[0]) == 2  # 12 batches: 0 and 10


def test_regression_metrics_on_the_device_equal_the_cpus():
    from dlscratch.metrics import evaluation_metrics

    rng = np.random.default_rng(0)
    prediction = rng.standard_normal((200, 2)).astype(np.float32)
    target = (prediction + 0.3 * rng.standard_normal((200, 2))).astype(np.float32)
    on_host = evaluation_metrics(MeanSquaredError(), prediction, target)
    before = counters.transfers
    on_device = evaluation_metrics(MeanSquaredError(), strict.asarray(prediction),
                                   strict.asarray(target))
    assert on_device == on_host and counters.transfers - before == 3  # mae, rmse, r2
    exact = prediction.astype(np.float64) - target
    assert on_host["rmse"] == pytest.approx(np.sqrt((exact ** 2).mean()), rel=1e-6)


@pytest.mark.parametrize("layer, per_step", [(RNNLayer, 6), (LSTMLayer, 19), (GRULayer, 20)],
                         ids=["rnn", "lstm", "gru"])
def test_recurrent_steps_dispatch_few_calls_and_no_matmul_with_out(layer, per_step):
    """What one more time step costs a training batch (forward and backward), in NumPy calls
    dispatched to the device: each is a kernel launch on CuPy. The per-step products are
    ``np.dot(out=)`` (``cupy.matmul(out=)`` takes a slow Python path before CuPy 14)."""
    def calls(steps: int) -> collections.Counter:
        net = NeuralNetwork([layer(6, 3)], SoftmaxCrossEntropy(), seed=1).to(strict)
        X = strict.asarray(np.random.default_rng(0).standard_normal((4, steps, 3))
                           .astype(np.float32))
        y = strict.asarray(np.zeros((4, steps), np.int64))
        net.train_batch(X, y)
        counters.calls.clear()
        net.train_batch(X, y)
        return collections.Counter(counters.calls)

    few, many = calls(5), calls(15)
    extra = {name: (many[name] - few[name]) / 10 for name in many}
    assert sum(extra.values()) == per_step
    assert extra.get("matmul", 0) == 0 and extra["dot"] == 2  # h W_hh, and its gradient
