"""Model files of the later chapters' layers: a description that declares huge layers is refused
from the shapes alone (``expected_shapes``), before anything is allocated (issue 9, for the
Conv2D, pooling, BatchNorm, recurrent and Embedding layers)."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from dlscratch import (
    BatchNorm,
    Conv2D,
    Dense,
    Embedding,
    Flatten,
    GRULayer,
    Linear,
    LSTMLayer,
    MaxPool2D,
    ModelFileError,
    NeuralNetwork,
    ReLU,
    SoftmaxCrossEntropy,
)
from dlscratch.persistence import MODEL_FORMAT, read_npz, write_npz


def _cnn():
    return NeuralNetwork([Conv2D(2, 3, activation=ReLU()), BatchNorm(), MaxPool2D(2), Flatten(),
                          Dense(3, Linear())], SoftmaxCrossEntropy(), seed=1).build((1, 8, 8))


def _rnn():
    return NeuralNetwork([Embedding(10, 4), LSTMLayer(5, 6), GRULayer(3, 10)],
                         SoftmaxCrossEntropy(), seed=2).build((6,))


CASES = [
    ("cnn", _cnn, 0, {"out_channels": 10**9}),
    ("cnn", _cnn, 0, {"param_size": 10**5}),
    ("cnn", _cnn, 0, {"param_size": 30, "padding": 0}),
    ("cnn", _cnn, 2, {"size": 10**6}),
    ("rnn", _rnn, 0, {"vocab_size": 10**10}),
    ("rnn", _rnn, 1, {"hidden_size": 10**7}),
    ("rnn", _rnn, 2, {"output_size": 10**9}),
]


@pytest.mark.parametrize("name, make, layer, config", CASES,
                         ids=[f"{c[0]}-{c[2]}-{next(iter(c[3]))}" for c in CASES])
def test_a_file_that_declares_a_huge_layer_is_refused_before_allocating(tmp_path, name, make,
                                                                       layer, config):
    make().save(tmp_path / "good.npz")
    arrays, meta = read_npz(tmp_path / "good.npz", MODEL_FORMAT)
    meta = json.loads(json.dumps(meta))
    meta["layers"][layer]["config"].update(config)
    write_npz(tmp_path / "bad.npz", arrays, meta)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError):
            NeuralNetwork.load(tmp_path / "bad.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a guard against building the declared network, not a speed test (loaded machines vary)
    assert time.perf_counter() - start < 20.0
    assert peak < 100 * 2**20


@pytest.mark.parametrize("make", [_cnn, _rnn], ids=["cnn", "rnn"])
def test_the_layers_declare_the_shapes_they_build(make):
    net = make()
    shape = net.input_shape
    for index, layer in enumerate(net.layers):
        if not hasattr(layer, "expected_shapes"):
            continue
        shapes, output = layer.expected_shapes(shape)
        names = layer.parameter_names() + list(getattr(layer, "buffer_names", list)())
        arrays = list(layer.params) + list(getattr(layer, "buffers", []))
        assert shapes == {n: tuple(a.shape) for n, a in zip(names, arrays)}, index
        shape = output
    assert shape == tuple(net.predict(
        __import__("numpy").zeros((1, *net.input_shape), dtype="int64" if make is _rnn
                                  else "float32")).shape[1:])
