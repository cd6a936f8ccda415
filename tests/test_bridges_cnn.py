"""The ONNX and PyTorch bridges for the convolutional layers (Conv2D, pooling, Flatten,
BatchNorm): onnxruntime and torch give our outputs; from_torch(to_torch(net)) is exact; one
training step in torch and in dlscratch gives the same parameters."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
from conftest import import_torch

from dlscratch import (
    SGD,
    Dense,
    Linear,
    NeuralNetwork,
    ReLU,
    SGDMomentum,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
)
from dlscratch.conv import Conv2D
from dlscratch.normalization import BatchNorm
from dlscratch.onnx import INPUT_NAME, OUTPUT_NAME, export, load
from dlscratch.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from dlscratch.reshape import Flatten


def networks(dtype):
    return {
        "conv-bn-pool-dense": NeuralNetwork(
            [Conv2D(4, 3, activation=ReLU(), weight_init="he"), BatchNorm(), MaxPool2D(2),
             Conv2D(6, 2, activation=Tanh(), weight_init="glorot"), AvgPool2D(2, 1),
             Flatten(), Dense(5, ReLU()), BatchNorm(), Dense(3, Linear())],
            SoftmaxCrossEntropy(), seed=1, dtype=dtype),
        "strided-global-pool": NeuralNetwork(
            [Conv2D(4, 3, activation=ReLU(), stride=2, padding=1, bias=False),
             GlobalAvgPool2D(), Dense(3, Linear())], SoftmaxCrossEntropy(), seed=2, dtype=dtype),
        "book-conv-flatten-dropout": NeuralNetwork(
            [Conv2D(5, 5, activation=Tanh(), flatten=True, dropout=0.8, weight_init="glorot"),
             Dense(3, Linear())], SoftmaxCrossEntropy(), seed=3, dtype=dtype),
    }


def trained(net, X):
    """A few steps, so the running statistics and the weights are not their initial values."""
    Trainer(net, SGD(0.01)).fit(X, np.arange(len(X)) % 3, epochs=2, batch_size=4, verbose=False,
                                early_stopping=False)
    return net


@pytest.mark.parametrize("name", list(networks("float32")))
def test_onnxruntime_gives_our_outputs_and_load_gives_the_network_back(tmp_path, name):
    X = np.random.default_rng(0).normal(size=(8, 2, 12, 12)).astype(np.float32)
    net = trained(networks("float32")[name], X)
    export(net, tmp_path / "cnn.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "cnn.onnx"),
                                           providers=["CPUExecutionProvider"])
    ours = net.predict(X)
    theirs = session.run([OUTPUT_NAME], {INPUT_NAME: X})[0]
    np.testing.assert_allclose(theirs, ours, rtol=1e-4,
                               atol=1e-5 * max(1.0, float(np.abs(ours).max())))
    back = load(tmp_path / "cnn.onnx")
    assert repr(back) == repr(net)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


@pytest.mark.parametrize("name", list(networks("float64")))
def test_to_torch_gives_our_outputs_and_from_torch_the_network_back(name):
    torch = import_torch()
    from dlscratch.torch import from_torch, to_torch

    X = np.random.default_rng(0).normal(size=(8, 2, 12, 12))
    net = trained(networks("float64")[name], X)
    model = to_torch(net).eval()
    with torch.no_grad():
        theirs = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(theirs, net.predict(X), rtol=1e-10, atol=1e-12)
    back = from_torch(model, SoftmaxCrossEntropy())
    assert repr(back) == repr(net) and back.input_shape == net.input_shape
    assert back.state_dict().keys() == net.state_dict().keys()
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


def test_a_training_step_with_batch_norm_gives_equal_parameters_and_statistics():
    torch = import_torch()
    from dlscratch.torch import from_torch, to_torch

    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 2, 10, 10))
    y = rng.integers(0, 3, size=6)
    net = networks("float64")["conv-bn-pool-dense"]
    net.build((2, 10, 10))
    model = to_torch(net).train()
    ours = SGDMomentum(lr=0.05, momentum=0.9)
    ours.net = net
    theirs = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):
        net.train_batch(X, y)
        ours.step()
        theirs.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.from_numpy(X)),
                                          torch.from_numpy(y)).backward()
        theirs.step()
    back = from_torch(model, SoftmaxCrossEntropy())
    for key, value in net.state_dict().items():
        np.testing.assert_allclose(back.state_dict()[key], value, rtol=1e-9, atol=1e-12,
                                   err_msg=key)
