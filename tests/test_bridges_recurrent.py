"""The ONNX and PyTorch bridges for the recurrent layers and Embedding: onnxruntime and torch
give our outputs (any sequence length); from_torch(to_torch(net)) is exact; training steps in
torch and in dlscratch give the same parameters."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
from conftest import import_torch

from dlscratch import Adam, MeanSquaredError, NeuralNetwork, SoftmaxCrossEntropy
from dlscratch.onnx import INPUT_NAME, OUTPUT_NAME, export, load
from dlscratch.recurrent import Embedding, GRULayer, LSTMLayer, RNNLayer

LAYERS = [RNNLayer, LSTMLayer, GRULayer]


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_onnxruntime_gives_our_outputs_for_any_length(tmp_path, cls, return_sequences):
    net = NeuralNetwork([cls(6, 4, return_sequences=return_sequences)], MeanSquaredError(),
                        seed=1)
    net.build((7, 3))
    export(net, tmp_path / "rnn.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "rnn.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", "time", 3]
    X = np.random.default_rng(0).normal(size=(5, 9, 3)).astype(np.float32)
    for length in (9, 2):  # not the length it was built with: the time axis is dynamic
        ours = net.predict(X[:, :length])
        theirs = session.run([OUTPUT_NAME], {INPUT_NAME: X[:, :length]})[0]
        np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-6)
    back = load(tmp_path / "rnn.onnx")
    assert repr(back) == repr(net)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


def test_an_embedding_network_takes_int64_ids_in_onnxruntime(tmp_path):
    ids = np.random.default_rng(1).integers(0, 11, size=(5, 7))
    net = NeuralNetwork([Embedding(11, 4), LSTMLayer(6, 11)], SoftmaxCrossEntropy(), seed=2)
    net.predict(ids)
    export(net, tmp_path / "lm.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "lm.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(int64)"
    np.testing.assert_allclose(session.run([OUTPUT_NAME], {INPUT_NAME: ids})[0],
                               net.predict(ids), rtol=1e-5, atol=1e-6)


def test_a_stateful_layer_is_refused_with_its_name(tmp_path):
    net = NeuralNetwork([GRULayer(4, 2, stateful=True)], MeanSquaredError())
    net.build((3, 2))
    with pytest.raises(NotImplementedError, match=r"GRULayer\(stateful=True\)"):
        export(net, tmp_path / "s.onnx")


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_to_torch_gives_our_outputs_and_steps_and_from_torch_the_network_back(
        cls, return_sequences):
    torch = import_torch()
    from dlscratch.torch import from_torch, to_torch

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 9, size=(4, 6))
    y = rng.integers(0, 5, size=(4, 6) if return_sequences else 4)
    net = NeuralNetwork([Embedding(9, 3), cls(5, 5, return_sequences=return_sequences)],
                        SoftmaxCrossEntropy(), seed=4, dtype="float64")
    net.predict(ids)
    model = to_torch(net)
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(torch.from_numpy(ids)).numpy(),
                                   net.predict(ids), rtol=1e-12, atol=1e-12)
    back = from_torch(model, SoftmaxCrossEntropy())
    assert repr(back) == repr(net) and back.input_shape == net.input_shape
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)

    ours = Adam(lr=0.01)
    ours.net = net
    theirs = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(2):
        net.train_batch(ids, y)
        ours.step()
        theirs.zero_grad()
        logits = model(torch.from_numpy(ids))
        torch.nn.functional.cross_entropy(logits.reshape(-1, 5),
                                          torch.from_numpy(y.reshape(-1))).backward()
        theirs.step()
    trained = from_torch(model, SoftmaxCrossEntropy())
    for key, value in net.state_dict().items():
        np.testing.assert_allclose(trained.state_dict()[key], value, rtol=1e-9, atol=1e-12,
                                   err_msg=key)
