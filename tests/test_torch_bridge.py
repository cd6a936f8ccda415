"""dlscratch.torch: to_torch gives the same outputs and training steps; from_torch inverts it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from bridge_cases import ACTIVATIONS, Square
from conftest import import_torch

from dlscratch import (
    GELU,
    SGD,
    Adam,
    Dense,
    Dropout,
    Linear,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    SGDMomentum,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from dlscratch.demos.boston import boston_networks
from dlscratch.demos.mnist import mnist_ladder


@pytest.fixture(scope="module")
def bridge():
    import_torch()
    import dlscratch.torch as bridge

    return bridge


def torch_outputs(model, X: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy()


def assert_same_network(back: NeuralNetwork, net: NeuralNetwork) -> None:
    assert repr(back) == repr(net)
    assert back.seed == net.seed and back.dtype == net.dtype
    assert back.input_shape == net.input_shape
    own = net.state_dict()
    theirs = back.state_dict()
    assert theirs.keys() == own.keys()
    for name in own:
        assert theirs[name].dtype == own[name].dtype
        np.testing.assert_array_equal(theirs[name], own[name])


# ---------------------------------------------------------------------- outputs
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: type(a).__name__)
def test_to_torch_gives_equal_outputs_for_every_activation(bridge, activation):
    net = NeuralNetwork([Dense(16, activation, weight_init="glorot", dropout=0.8),
                         Dense(4, Linear(), weight_init="glorot")],
                        SoftmaxCrossEntropy(), seed=3, dtype="float64")
    net.build(6)
    X = np.random.default_rng(0).normal(scale=2.0, size=(37, 6))
    model = bridge.to_torch(net)
    np.testing.assert_allclose(torch_outputs(model, X), net.predict(X), rtol=1e-12,
                               atol=1e-12)
    assert_same_network(bridge.from_torch(model, SoftmaxCrossEntropy()), net)


@pytest.mark.parametrize("step", mnist_ladder(), ids=lambda step: step.key)
def test_the_mnist_demo_networks_go_to_torch_and_back(bridge, step):
    net = step.network()  # float32, as the demo trains them
    net.build(784)
    X = np.random.default_rng(1).normal(size=(20, 784)).astype(np.float32)
    model = bridge.to_torch(net)
    assert next(model.parameters()).dtype.is_floating_point
    ours = net.predict(X)
    np.testing.assert_allclose(torch_outputs(model, X), ours, rtol=1e-4,
                               atol=1e-5 * max(1.0, float(np.abs(ours).max())))
    assert_same_network(bridge.from_torch(model, step.loss()), net)


@pytest.mark.parametrize("name", ["linear regression", "neural network", "deep learning"])
def test_the_boston_demo_networks_go_to_torch_and_back(bridge, name):
    net = boston_networks(seed=20190501, dtype="float64")[name]
    net.build(13)
    X = np.random.default_rng(2).normal(size=(40, 13))
    model = bridge.to_torch(net)
    np.testing.assert_allclose(torch_outputs(model, X), net.predict(X), rtol=1e-12,
                               atol=1e-12)
    assert_same_network(bridge.from_torch(model, MeanSquaredError()), net)


# ---------------------------------------------------------------------- training
OPTIMIZERS = {
    "SGD": (lambda: SGD(lr=0.1), lambda p, torch: torch.optim.SGD(p, lr=0.1)),
    "SGDMomentum": (lambda: SGDMomentum(lr=0.05, momentum=0.9),
                    lambda p, torch: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "Adam": (lambda: Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7),
             lambda p, torch: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-7)),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_training_steps_on_the_same_batch_give_equal_parameters(bridge, torch, optimizer, task):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(32, 5))
    if task == "classification":
        y = rng.integers(0, 3, size=32)
        loss, outputs = SoftmaxCrossEntropy(), 3

        def torch_loss(prediction):
            return torch.nn.functional.cross_entropy(prediction, torch.from_numpy(y))
    else:
        y = rng.normal(size=(32, 2))
        loss, outputs = MeanSquaredError(), 2

        def torch_loss(prediction):  # dlscratch's MSE: sum of squares over the batch size
            return ((prediction - torch.from_numpy(y)) ** 2).sum() / len(y)
    net = NeuralNetwork([Dense(8, Tanh(), weight_init="glorot"),
                         Dense(6, GELU(), weight_init="he"),
                         Dense(outputs, Linear(), weight_init="glorot")],
                        loss, seed=5, dtype="float64")
    net.build(5)
    initial = net.state_dict()
    model = bridge.to_torch(net)
    make_ours, make_theirs = OPTIMIZERS[optimizer]
    ours = make_ours()
    ours.net = net
    theirs = make_theirs(model.parameters(), torch)
    for _ in range(3):  # the first step and two more, with the optimizers' state
        net.train_batch(X, y)
        ours.step()
        theirs.zero_grad()
        torch_loss(model(torch.from_numpy(X))).backward()
        theirs.step()
    back = bridge.from_torch(model, type(loss)())  # a loss belongs to one network
    for name, value in net.state_dict().items():
        np.testing.assert_allclose(back.state_dict()[name], value, rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    moved = np.abs(net.state_dict()["layers.0.W"] - initial["layers.0.W"]).max()
    assert moved > 1e-3  # the steps did change the weights


def test_the_two_models_are_independent_copies(bridge, torch):
    net = NeuralNetwork([Dense(3, ReLU()), Dense(2, Linear())], MeanSquaredError(), seed=0)
    net.build(4)
    before = net.state_dict()
    model = bridge.to_torch(net)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    np.testing.assert_array_equal(net.state_dict()["layers.0.W"], before["layers.0.W"])
    back = bridge.from_torch(model, MeanSquaredError())
    net.params()[0][...] = 0.0
    np.testing.assert_array_equal(back.state_dict()["layers.0.W"], before["layers.0.W"] + 1.0)


def test_from_torch_reads_a_hand_written_torch_model(bridge, torch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.25),
        torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LeakyReLU(0.2)),
        torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    net = bridge.from_torch(model, SoftmaxCrossEntropy())
    # each Linear with the activation and the dropout after it is one Dense
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "Dense", "Dense"]
    assert [layer.dropout for layer in net.layers] == [0.75, 0.5, 1.0]
    assert [type(layer.activation).__name__ for layer in net.layers] == ["ReLU", "LeakyReLU",
                                                                         "Linear"]
    assert net.dtype == np.float64 and net.input_shape == (4,)
    X = np.random.default_rng(3).normal(size=(10, 4))
    np.testing.assert_allclose(net.predict(X), torch_outputs(model, X), rtol=1e-12, atol=1e-12)


def test_bare_operation_layers_round_trip(bridge):
    net = NeuralNetwork([Dense(5, Linear()), Tanh(), Dropout(0.9), Dense(2, Sigmoid())],
                        MeanSquaredError(), seed=4, dtype="float64")
    net.build(3)
    model = bridge.to_torch(net)
    assert [type(m).__name__ for m in model] == ["Linear", "Identity", "Tanh", "Dropout",
                                                 "Linear", "Sigmoid"]
    assert_same_network(bridge.from_torch(model, MeanSquaredError()), net)


# ---------------------------------------------------------------------- refusals
def test_unsupported_layers_are_named_both_ways(bridge, torch):
    net = NeuralNetwork([Dense(3, Tanh()), Square()], MeanSquaredError())
    net.build(2)
    with pytest.raises(NotImplementedError, match=r"layers\[1\] is a Square, a operation|"
                                                  r"layers\[1\] is a Square"):
        bridge.to_torch(net)
    net = NeuralNetwork([Dense(3, Square())], MeanSquaredError())
    net.build(2)
    with pytest.raises(NotImplementedError, match="Dense.activation is a Square"):
        bridge.to_torch(net)

    class Mystery(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(NotImplementedError, match=r"module 1 \(Mystery\) has no dlscratch "
                                                  r"counterpart; supported: .*Linear"):
        bridge.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), Mystery()),
                          MeanSquaredError())
    with pytest.raises(NotImplementedError, match="exact erf form"):
        bridge.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()),
                          MeanSquaredError())
    with pytest.raises(NotImplementedError, match="without a bias"):
        bridge.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False)),
                          MeanSquaredError())


def test_bad_arguments(bridge, torch):
    with pytest.raises(ValueError, match="never built.*net.build"):
        bridge.to_torch(NeuralNetwork([Dense(2, Linear())], MeanSquaredError()))
    with pytest.raises(TypeError, match="loss must be a dlscratch Loss"):
        bridge.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.nn.MSELoss())
    with pytest.raises(ValueError, match="float16; expected float32 or float64"):
        bridge.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)).half(),
                          MeanSquaredError())
    with pytest.raises(ValueError, match="give input_shape"):
        bridge.from_torch(torch.nn.Sequential(torch.nn.Tanh()), MeanSquaredError())
    with pytest.raises(ValueError, match=r"expects a parameter of shape \(3, 4\), the module "
                                         r"has \(5, 4\)"):
        bridge.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(5, 4)),
                          MeanSquaredError())


def test_the_bridge_named_torch_does_not_shadow_pytorch(bridge):
    import_torch()
    code = ("import sys, dlscratch; assert 'torch' not in sys.modules; "
            "import dlscratch.torch as bridge; import torch; "
            "print(bridge.__name__, torch.__name__, bridge.torch is sys.modules['torch'], "
            "hasattr(torch, 'nn'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["dlscratch.torch", "torch", "True", "True"]
