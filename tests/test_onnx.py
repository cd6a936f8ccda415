"""dlscratch.onnx: onnxruntime gives our outputs; the file is checked; load brings it back."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
from bridge_cases import ACTIVATIONS, Square

from dlscratch import (
    GELU,
    Dense,
    Dropout,
    LeakyReLU,
    Linear,
    MeanSquaredError,
    NeuralNetwork,
    Operation,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from dlscratch.demos.boston import boston_networks
from dlscratch.demos.mnist import mnist_ladder
from dlscratch.layers import Layer
from dlscratch.onnx import (
    INPUT_NAME,
    IR_VERSION,
    OPSET,
    OUTPUT_NAME,
    export,
    load,
    register_converter,
)


def run_onnx(path, X: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: X.astype(np.float32)})[0]


def float64_twin(net: NeuralNetwork) -> NeuralNetwork:
    """The same network and parameters in float64: the reference for float32 rounding."""
    from dlscratch.persistence import network_description, network_from_description

    twin = network_from_description({**network_description(net), "dtype": "float64"}, "twin")
    twin.build(net.input_shape)
    twin.load_state_dict(net.state_dict())
    return twin


def assert_same_outputs(net: NeuralNetwork, path, X: np.ndarray) -> None:
    """onnxruntime's float32 outputs are ours: as close to the float64 result as ours are.

    (A network of N(0, 1) weights on 784 inputs has pre-activations near 30: float32 rounding
    there is far above 1e-6, so the tolerance is measured on our own float32 error.)
    """
    ours = net.predict(X)
    theirs = run_onnx(path, X)
    assert theirs.shape == ours.shape and theirs.dtype == np.float32
    exact = float64_twin(net).predict(X.astype(np.float64))
    our_error = float(np.abs(ours - exact).max())
    scale = max(1.0, float(np.abs(exact).max()))
    np.testing.assert_allclose(theirs, exact, rtol=0, atol=4 * our_error + 1e-6 * scale)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: type(a).__name__)
def test_onnxruntime_gives_our_outputs_for_every_activation(tmp_path, activation):
    net = NeuralNetwork([Dense(16, activation, weight_init="glorot", dropout=0.8),
                         Dense(4, Linear(), weight_init="glorot")],
                        SoftmaxCrossEntropy(), seed=3)
    path = tmp_path / "net.onnx"
    export(net, path, input_shape=6)
    X = np.random.default_rng(0).normal(scale=2.0, size=(37, 6)).astype(np.float32)
    assert_same_outputs(net, path, X)
    assert_same_outputs(net, path, X[:1])  # the batch dimension is dynamic


@pytest.mark.parametrize("step", mnist_ladder(), ids=lambda step: step.key)
def test_onnxruntime_gives_the_outputs_of_the_mnist_demo_networks(tmp_path, step):
    net = step.network()
    X = np.random.default_rng(1).normal(size=(50, 784)).astype(np.float32)
    net.predict(X[:1])  # built by a forward pass
    path = tmp_path / f"{step.key}.onnx"
    export(net, path)
    assert_same_outputs(net, path, X)


@pytest.mark.parametrize("name", ["linear regression", "neural network", "deep learning"])
def test_onnxruntime_gives_the_outputs_of_the_boston_demo_networks(tmp_path, name):
    net = boston_networks(seed=20190501)[name]
    path = tmp_path / "boston.onnx"
    export(net, path, input_shape=13)
    X = np.random.default_rng(2).normal(size=(40, 13)).astype(np.float32)
    assert_same_outputs(net, path, X)


def test_a_trained_float64_network_exports_in_float32(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 5))
    y = X @ rng.normal(size=(5, 2))
    net = NeuralNetwork([Dense(8, Tanh(), weight_init="glorot"), Dense(2, Linear())],
                        MeanSquaredError(), seed=0, dtype="float64")
    from dlscratch import SGD, Trainer

    Trainer(net, SGD(lr=0.01)).fit(X, y, epochs=3, verbose=False)
    path = tmp_path / "f64.onnx"
    export(net, path)
    np.testing.assert_allclose(run_onnx(path, X), net.predict(X), rtol=1e-5, atol=1e-5)


def test_the_file_is_checked_with_the_documented_opset_names_and_batch_dimension(tmp_path):
    net = NeuralNetwork([Dense(5, ReLU()), Dense(3, Linear())], SoftmaxCrossEntropy())
    path = tmp_path / "net.onnx"
    export(net, path, input_shape=(4,))
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    (graph_input,), (graph_output,) = model.graph.input, model.graph.output
    assert graph_input.name == INPUT_NAME and graph_output.name == OUTPUT_NAME
    input_dims = graph_input.type.tensor_type.shape.dim
    output_dims = graph_output.type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in input_dims] == ["batch", 4]
    assert [d.dim_param or d.dim_value for d in output_dims] == ["batch", 3]
    assert sorted(i.name for i in model.graph.initializer) == sorted(net.state_dict())
    # the outputs are logits: the softmax is applied by the loss, not the graph
    assert "Softmax" not in {node.op_type for node in model.graph.node}


def test_load_gives_the_network_back_exactly(tmp_path):
    net = NeuralNetwork([Dense(9, GELU(), weight_init="he", dropout=0.7),
                         Dense(7, LeakyReLU(0.2)), Dense(3, Sigmoid())],
                        MeanSquaredError(normalize=True), seed=11)
    path = tmp_path / "net.onnx"
    export(net, path, input_shape=5)
    back = load(path)
    assert repr(back) == repr(net)
    assert back.state_dict().keys() == net.state_dict().keys()
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], value)
    X = np.random.default_rng(5).normal(size=(10, 5)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


def test_load_refuses_a_model_without_the_dlscratch_description(tmp_path):
    from dlscratch.persistence import ModelFileError

    net = NeuralNetwork([Dense(2, Linear())], MeanSquaredError())
    path = tmp_path / "net.onnx"
    export(net, path, input_shape=3)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError, match="reads models written by dlscratch.onnx.export"):
        load(path)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not an ONNX model"):
        load(tmp_path / "junk.onnx")


# ---------------------------------------------------------------------- bad input
def test_an_unbuilt_network_asks_for_input_shape_or_a_forward_pass(tmp_path):
    net = NeuralNetwork([Dense(3, Tanh())], MeanSquaredError())
    with pytest.raises(ValueError, match="give input_shape.*or run a forward pass first"):
        export(net, tmp_path / "net.onnx")
    assert not (tmp_path / "net.onnx").exists()
    export(net, tmp_path / "net.onnx", input_shape=4)
    assert net.input_shape == (4,)
    with pytest.raises(ValueError, match=r"input_shape \(5,\) differs from the shape the "
                                         r"network was built for, \(4,\)"):
        export(net, tmp_path / "other.onnx", input_shape=5)
    with pytest.raises(TypeError, match="input_shape must be a positive integer or a tuple"):
        export(net, tmp_path / "other.onnx", input_shape="4")
    with pytest.raises(ValueError, match="input_shape must be in"):
        export(NeuralNetwork([Dense(3, Tanh())], MeanSquaredError()), tmp_path / "o.onnx",
               input_shape=(0,))


class Cube(Operation):
    """out = x^3 (given a converter in a test)."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return self.input_ ** 3

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return 3 * self.input_ ** 2 * output_grad


class Custom(Layer):
    def _setup_layer(self, input_: np.ndarray) -> None:
        self.operations = [Square()]


def test_unsupported_layers_are_named(tmp_path):
    net = NeuralNetwork([Dense(3, Square())], MeanSquaredError())
    with pytest.raises(NotImplementedError, match=r"layers\[0\] \(Dense\) holds operation 2, "
                                                  r"Square, which has no ONNX converter"):
        export(net, tmp_path / "a.onnx", input_shape=2)
    net = NeuralNetwork([Dense(3, Tanh()), Custom(3)], MeanSquaredError())
    with pytest.raises(NotImplementedError, match=r"Custom\) holds operation 0, Square"):
        export(net, tmp_path / "b.onnx", input_shape=3)
    net = NeuralNetwork([Dense(3, Tanh()), Square()], MeanSquaredError())
    with pytest.raises(NotImplementedError, match=r"layers\[1\] is a Square, which has no ONNX "
                                                  r"converter; supported: .*Dense|BiasAdd"):
        export(net, tmp_path / "c.onnx", input_shape=3)
    assert not list(tmp_path.iterdir())


def test_one_registered_function_converts_a_new_class(tmp_path):
    @register_converter(Cube)
    def _cube(op, g, x):
        return g.node("Mul", [g.node("Mul", [x, x]), x])

    net = NeuralNetwork([Dense(4, Cube(), weight_init="glorot"), Dropout(0.5),
                         Dense(2, Linear())], MeanSquaredError(), seed=2)
    export(net, tmp_path / "cube.onnx", input_shape=3)
    X = np.random.default_rng(6).normal(size=(8, 3)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "cube.onnx", X), net.predict(X), rtol=1e-5,
                               atol=1e-6)


def test_import_dlscratch_does_not_import_onnx_and_the_bridge_imports_the_real_package():
    code = ("import sys, dlscratch; print('onnx' in sys.modules, 'onnxruntime' in sys.modules); "
            "import dlscratch.onnx as bridge, onnx; print(bridge.__name__, onnx.__name__, "
            "hasattr(onnx, 'checker'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "False", "dlscratch.onnx", "onnx", "True"]


def test_a_scikit_learn_estimator_s_network_travels_to_onnxruntime(tmp_path):
    from sklearn.datasets import load_digits

    from dlscratch.sklearn import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    clf = NeuralNetClassifier(hidden_layer_sizes=(32,), epochs=5, random_state=0).fit(X, y[:300])
    export(clf.net_, tmp_path / "digits.onnx")
    logits = run_onnx(tmp_path / "digits.onnx", X).astype(np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, clf.predict_proba(X), atol=1e-5)
    top_two = np.sort(logits, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-4  # rows without a near tie
    np.testing.assert_array_equal(clf.classes_[logits.argmax(axis=1)][clear],
                                  clf.predict(X)[clear])
    assert clear.mean() > 0.95


class Relu6(ReLU):
    """A subclass that computes something else: never exported as its parent."""

    def _output(self, inference: bool = False) -> np.ndarray:
        return np.minimum(np.maximum(self.input_, 0), 6)


def test_a_subclass_is_not_exported_as_its_parent(tmp_path):
    net = NeuralNetwork([Dense(3, Relu6())], MeanSquaredError())
    with pytest.raises(NotImplementedError, match="Relu6, which has no ONNX converter"):
        export(net, tmp_path / "a.onnx", input_shape=2)
