"""ONNX export of a dlscratch network, and load of what export wrote (the ``onnx`` extra).

    from dlscratch.onnx import export
    export(net, "model.onnx")          # input "input" (batch, *row shape), output "output"
    import onnxruntime as ort
    ort.InferenceSession("model.onnx").run(["output"], {"input": X.astype("float32")})[0]

The graph holds the network's own outputs (logits where the loss applies the softmax, as
``net.predict``), in float32, with a dynamic batch dimension named "batch"; dropout is the
identity. Opset ``OPSET`` with IR version ``IR_VERSION`` (any onnxruntime from 1.12 on runs
it), checked with ``onnx.checker``. The network's description (``NeuralNetwork.save``'s JSON) is
stored in the model's metadata under ``dlscratch.network`` so ``load`` rebuilds it.

Each layer or operation class is converted by one function registered with
``@register_converter(SomeClass)``: it receives the object, the ``GraphBuilder`` and the name
of its input tensor, adds nodes and initializers, and returns the name of its output tensor. A
``Layer`` without a converter of its own is converted operation by operation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import numpy as np

from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .backend import to_host, zeros
from .dense import BiasAdd, WeightMultiply
from .dropout import Dropout
from .layers import Layer
from .network import NeuralNetwork
from .validation import check_path, check_positive

#: The operator set version and IR version of exported models.
OPSET = 17
IR_VERSION = 8
#: Names of the graph's input and output.
INPUT_NAME = "input"
OUTPUT_NAME = "output"
#: Metadata key of the network's JSON description.
METADATA_KEY = "dlscratch.network"

Converter = Callable[..., str]
_CONVERTERS: dict[type, Converter] = {}


def register_converter(cls: type) -> Callable[[Converter], Converter]:
    """Register ``function(obj, builder, x) -> output name`` as the converter of ``cls``."""
    def decorate(function: Converter) -> Converter:
        _CONVERTERS[cls] = function
        return function
    return decorate


def converter_for(obj: object) -> Converter | None:
    """The converter registered for exactly the class of ``obj`` (a subclass may compute
    something else; a ``Layer`` subclass is then converted through its operations)."""
    return _CONVERTERS.get(type(obj))


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as error:  # pragma: no cover - the extra is installed in the tests
        raise ImportError("dlscratch.onnx needs the onnx package; install it with: "
                          "pip install \"dlscratch[onnx]\"") from error
    return onnx, helper, numpy_helper


class GraphBuilder:
    """Collects the nodes and initializers of one graph; converters add to it."""

    def __init__(self, param_names: dict[int, str]) -> None:
        self.onnx, self.helper, self.numpy_helper = _import_onnx()
        self.nodes: list = []
        self.initializers: list = []
        self._param_names = param_names  # id(array) -> state-dict name ("layers.0.W")
        self._done: dict[int, tuple[str, np.ndarray]] = {}
        self.integer_input = False
        self._count = 0

    def fresh(self, hint: str) -> str:
        """A new, unique tensor name."""
        self._count += 1
        return f"{hint}_{self._count}"

    def node(self, op_type: str, inputs: Sequence[str], **attributes) -> str:
        """Add one node; return the name of its (single) output."""
        output = self.fresh(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output],
                                                name=f"{op_type}_{self._count}", **attributes))
        return output

    def initializer(self, array: np.ndarray, name: str | None = None) -> str:
        """A float32 constant tensor (a parameter under its state-dict name); once per array."""
        if id(array) in self._done:
            return self._done[id(array)][0]
        name = name or self._param_names.get(id(array)) or self.fresh("param")
        values = to_host(array).astype(np.float32)
        self.initializers.append(self.numpy_helper.from_array(values, name))
        self._done[id(array)] = (name, array)  # the array is kept: its id stays its own
        return name

    def constant(self, value: float | np.ndarray) -> str:
        """A new float32 constant tensor (a scalar or an array)."""
        name = self.fresh("const")
        values = np.asarray(value, dtype=np.float32)
        self.initializers.append(self.numpy_helper.from_array(values, name))
        return name

    def constant_int64(self, values: Sequence[int]) -> str:
        """A new int64 constant tensor (shapes, axes, split sizes)."""
        name = self.fresh("const")
        self.initializers.append(self.numpy_helper.from_array(
            np.asarray(values, dtype=np.int64), name))
        return name

    def input_is_integer(self, name: str) -> bool:
        """Whether tensor ``name`` is the graph's int64 input."""
        return name == INPUT_NAME and self.integer_input

    def convert(self, obj: object, x: str, where: str) -> str:
        """Convert ``obj`` (a layer or an operation) applied to tensor ``x``."""
        function = converter_for(obj)
        if function is not None:
            return function(obj, self, x)
        if isinstance(obj, Layer):
            for index, operation in enumerate(obj.operations):
                if converter_for(operation) is None:
                    raise NotImplementedError(
                        f"dlscratch.onnx.export: {where} ({type(obj).__name__}) holds "
                        f"operation {index}, {type(operation).__name__}, which has no ONNX "
                        f"converter; supported: {supported()}")
                x = self.convert(operation, x, f"{where}.operations[{index}]")
            return x
        raise NotImplementedError(f"dlscratch.onnx.export: {where} is a "
                                  f"{type(obj).__name__}, which has no ONNX converter; "
                                  f"supported: {supported()}")


def supported() -> str:
    """The names of the classes with a converter."""
    return ", ".join(sorted(cls.__name__ for cls in _CONVERTERS))


# ---------------------------------------------------------------------- converters
@register_converter(WeightMultiply)
def _weight_multiply(op: WeightMultiply, g: GraphBuilder, x: str) -> str:
    return g.node("MatMul", [x, g.initializer(op.param)])


@register_converter(BiasAdd)
def _bias_add(op: BiasAdd, g: GraphBuilder, x: str) -> str:
    return g.node("Add", [x, g.initializer(op.param)])


@register_converter(Linear)
@register_converter(Dropout)
def _identity(op, g: GraphBuilder, x: str) -> str:
    return x  # dropout is the identity at inference


@register_converter(Sigmoid)
def _sigmoid(op, g: GraphBuilder, x: str) -> str:
    return g.node("Sigmoid", [x])


@register_converter(Tanh)
def _tanh(op, g: GraphBuilder, x: str) -> str:
    return g.node("Tanh", [x])


@register_converter(ReLU)
def _relu(op, g: GraphBuilder, x: str) -> str:
    return g.node("Relu", [x])


@register_converter(LeakyReLU)
def _leaky_relu(op: LeakyReLU, g: GraphBuilder, x: str) -> str:
    return g.node("LeakyRelu", [x], alpha=op.alpha)


@register_converter(ELU)
def _elu(op: ELU, g: GraphBuilder, x: str) -> str:
    return g.node("Elu", [x], alpha=op.alpha)


@register_converter(GELU)
def _gelu(op, g: GraphBuilder, x: str) -> str:
    # x/2 (1 + tanh(c (x + 0.044715 x^3))): the tanh form (opset 17 has no Gelu operator)
    cube = g.node("Mul", [g.node("Mul", [x, x]), x])
    inner = g.node("Add", [x, g.node("Mul", [cube, g.constant(0.044715)])])
    tanh = g.node("Tanh", [g.node("Mul", [inner, g.constant(GELU._c)])])
    one_plus = g.node("Add", [tanh, g.constant(1.0)])
    return g.node("Mul", [g.node("Mul", [x, g.constant(0.5)]), one_plus])


@register_converter(Softmax)
def _softmax(op, g: GraphBuilder, x: str) -> str:
    return g.node("Softmax", [x], axis=op.axis)


# ---------------------------------------------------------------------- export and load
def export(net: NeuralNetwork, path: str | os.PathLike,
           input_shape: int | Sequence[int] | None = None) -> None:
    """Write ``net`` as an ONNX model to ``path`` (atomically).

    ``input_shape`` is the shape of one row (as in ``net.build``); it is needed only for a
    network that was never built, which is then built with it. The graph's input is
    ``INPUT_NAME`` of shape (batch, *input_shape), its output ``OUTPUT_NAME``, both float32.
    """
    owner = "dlscratch.onnx.export"
    if not isinstance(net, NeuralNetwork):
        raise TypeError(f"{owner}: net must be a NeuralNetwork, got {type(net).__name__}")
    path = check_path("path", path, owner)
    if input_shape is not None:
        if isinstance(input_shape, (str, bytes)) or not isinstance(
                input_shape, (int, np.integer, Sequence)):
            raise TypeError(f"{owner}: input_shape must be a positive integer or a tuple of them "
                            f"(the shape of one row), got {input_shape!r}")
        shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) \
            else tuple(input_shape)
        for size in shape:
            check_positive("input_shape", size, integer=True, owner=owner)
        if not net.built:
            net.build(shape)
        elif tuple(shape) != net.input_shape:
            raise ValueError(f"{owner}: input_shape {tuple(shape)} differs from the shape the "
                             f"network was built for, {net.input_shape}")
    elif not net.built:
        raise ValueError(f"{owner}: the network has no parameters yet (it was never built); "
                         f"give input_shape, the shape of one input row (such as 13 or "
                         f"(1, 28, 28)), or run a forward pass first (fit or predict)")
    model = to_onnx_model(net)
    from ._io import atomic_write

    with atomic_write(path) as handle:
        handle.write(model.SerializeToString())


def to_onnx_model(net: NeuralNetwork):
    """The checked ``onnx.ModelProto`` of a built network (what ``export`` writes)."""
    onnx, helper, _ = _import_onnx()
    if net.input_shape is None:
        raise ValueError("dlscratch.onnx.export: the network's input shape is unknown (its first "
                         "layer is not a Layer that records it); start it with a Dense layer")
    named = list(net.named_params())
    if hasattr(net, "named_buffers"):  # running statistics (batch normalization)
        named += list(net.named_buffers())
    builder = GraphBuilder({id(array): name for name, array in named})
    # a network that starts with an Embedding takes int64 token ids
    builder.integer_input = bool(getattr(net.layers[0], "integer_input", False))
    x = INPUT_NAME
    for index, layer in enumerate(net.layers):
        x = builder.convert(layer, x, f"layers[{index}]")
    builder.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name="output"))
    params = net.params()
    like = params[0] if params else np.zeros(0)
    probe_dtype = np.int64 if builder.integer_input else net.dtype
    probe = net.forward(zeros((1, *net.input_shape), probe_dtype, like=like), inference=True)
    net._release()
    float32 = onnx.TensorProto.FLOAT
    input_dims, output_dims = ["batch", *net.input_shape], ["batch", *probe.shape[1:]]
    if getattr(net.layers[0], "variable_length", False):  # sequences: (batch, time, ...)
        input_dims[1] = "time"
        if len(output_dims) >= 3:
            output_dims[1] = "time"
    input_type = onnx.TensorProto.INT64 if builder.integer_input else float32
    graph = helper.make_graph(
        builder.nodes, "dlscratch_network",
        [helper.make_tensor_value_info(INPUT_NAME, input_type, input_dims)],
        [helper.make_tensor_value_info(OUTPUT_NAME, float32, output_dims)],
        initializer=builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="dlscratch",
                              doc_string=f"dlscratch network: {net.loss!r} applies to the output")
    from .persistence import network_description

    helper.set_model_props(model, {METADATA_KEY: json.dumps(network_description(net))})
    onnx.checker.check_model(model, full_check=True)
    return model


def load(path: str | os.PathLike) -> NeuralNetwork:
    """The dlscratch network of a model written by ``export`` (float32 parameters).

    The network is rebuilt from the description in the model's metadata, and the graph must be
    exactly the one ``export`` writes for that network (an edited graph is refused, never
    ignored). A FIFO, a device, a folder or a symbolic-link loop is refused at once; the
    parameters' shapes are checked against the description before any is read, and nothing
    runs on the declared input shape, so a small file cannot make loading take much memory.
    """
    from ._archive import ModelFileError
    from ._io import open_regular_file
    from .persistence import build_without_running, plan_model

    onnx, _, numpy_helper = _import_onnx()
    path = check_path("path", path, "dlscratch.onnx.load")
    try:
        handle = open_regular_file(path, "file (an ONNX model written by dlscratch.onnx.export)")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path!r}") from None
    except ValueError as error:
        raise ModelFileError(f"dlscratch.onnx.load: {error}") from None
    with handle:
        data = handle.read()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # a damaged protobuf fails in many ways
        raise ModelFileError(f"{path!r} is not an ONNX model: {type(error).__name__}: "
                             f"{error}") from None
    props = {prop.key: prop.value for prop in model.metadata_props}
    if METADATA_KEY not in props:
        raise ModelFileError(f"{path!r} has no {METADATA_KEY!r} metadata; dlscratch.onnx.load "
                             f"reads models written by dlscratch.onnx.export")
    try:
        meta = json.loads(props[METADATA_KEY])
    except (json.JSONDecodeError, RecursionError) as error:
        raise ModelFileError(f"{path!r}: the {METADATA_KEY} metadata is not JSON: "
                             f"{error}") from None
    where = f"{path!r} ({METADATA_KEY})"
    if not isinstance(meta, dict):
        raise ModelFileError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    initializers = {init.name: init for init in model.graph.initializer}
    for init in initializers.values():
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise ModelFileError(f"{path!r}: initializer {init.name!r} keeps its data in another "
                                 f"file; dlscratch.onnx.export never writes external data")
    net, input_shape, specs = plan_model(meta, len(data), where)
    if input_shape is None:
        raise ModelFileError(f"{where}: no input_shape")
    state = {}
    for name, (shape, _) in specs.items():
        init = initializers.get(name)
        if init is None:
            raise ModelFileError(f"{path!r}: the graph has no initializer {name!r}, which the "
                                 f"description calls for")
        if tuple(init.dims) != tuple(shape) or init.data_type != onnx.TensorProto.FLOAT:
            raise ModelFileError(f"{path!r}: initializer {name!r} has shape {tuple(init.dims)} "
                                 f"and type {init.data_type}; the description calls for a float "
                                 f"of shape {tuple(shape)}")
        try:
            state[name] = numpy_helper.to_array(init)
        except Exception as error:  # data of the wrong length, and the like
            raise ModelFileError(f"{path!r}: initializer {name!r} cannot be read: "
                                 f"{error}") from None
    try:
        build_without_running(net, input_shape)
        net.load_state_dict(state, strict=True)
    except (KeyError, ValueError, TypeError, MemoryError) as error:
        raise ModelFileError(f"{path!r}: {error}") from None
    _check_graph(net, model, path)
    return net


def _check_graph(net: NeuralNetwork, model, path: str) -> None:
    """Refuse a graph that is not the one ``export`` writes for ``net`` (nodes, inputs and
    outputs, initializer names): the network is rebuilt from the metadata, so an edited graph
    would otherwise be ignored without a word."""
    from ._archive import ModelFileError

    _, helper, _ = _import_onnx()
    named = list(net.named_params()) + list(net.named_buffers())
    builder = GraphBuilder({id(array): name for name, array in named})
    builder.integer_input = bool(getattr(net.layers[0], "integer_input", False))
    x = INPUT_NAME
    try:
        for index, layer in enumerate(net.layers):
            x = builder.convert(layer, x, f"layers[{index}]")
    except (NotImplementedError, ValueError, TypeError) as error:
        raise ModelFileError(f"{path!r}: the network of the metadata has no ONNX graph: "
                             f"{error}") from None
    builder.nodes.append(helper.make_node("Identity", [x], [OUTPUT_NAME], name="output"))
    graph = model.graph
    expected = [node.SerializeToString() for node in builder.nodes]
    found = [node.SerializeToString() for node in graph.node]
    differs = None
    if expected != found:
        index = next((i for i, (a, b) in enumerate(zip(expected, found)) if a != b),
                     min(len(expected), len(found)))
        differs = (f"node {index} differs ({len(found)} nodes, {len(expected)} expected: "
                   f"{graph.node[index].op_type if index < len(found) else 'none'} found)")
    elif [i.name for i in graph.input] != [INPUT_NAME] \
            or [o.name for o in graph.output] != [OUTPUT_NAME]:
        differs = "its inputs or outputs were renamed"
    elif sorted(init.name for init in graph.initializer) \
            != sorted(init.name for init in builder.initializers):
        differs = "its initializers are not the network's parameters"
    else:  # the constants the converters add (split sizes, axes) hold what they wrote
        params = {name for name, _ in named}
        found_init = {init.name: init for init in graph.initializer}
        for init in builder.initializers:
            if init.name not in params \
                    and found_init[init.name].SerializeToString() != init.SerializeToString():
                differs = f"the constant {init.name!r} was changed"
                break
    if differs is not None:
        raise ModelFileError(f"{path!r}: the graph is not the one dlscratch.onnx.export writes "
                             f"for the network its metadata describes: {differs}; the file was "
                             f"edited, and dlscratch.onnx.load rebuilds the network from the "
                             f"metadata, so it would ignore the edit")


__all__ = ["export", "load", "to_onnx_model", "register_converter", "converter_for",
           "GraphBuilder", "OPSET", "IR_VERSION", "INPUT_NAME", "OUTPUT_NAME"]


# ---------------------------------------------------------------------- convolutional layers
from .conv import Conv2D, Conv2DOperation  # noqa: E402
from .normalization import BatchNorm  # noqa: E402
from .pooling import (  # noqa: E402
    AvgPool2DOperation,
    GlobalAvgPool2DOperation,
    MaxPool2DOperation,
)
from .reshape import FlattenOperation  # noqa: E402


def _conv(op: Conv2DOperation, g: GraphBuilder, x: str, bias: np.ndarray | None = None) -> str:
    top, bottom, left, right = op.padding
    inputs = [x, g.initializer(op.param)] + ([g.initializer(bias)] if bias is not None else [])
    return g.node("Conv", inputs, kernel_shape=[op.kernel, op.kernel],
                  strides=[op.stride, op.stride], pads=[top, left, bottom, right])


register_converter(Conv2DOperation)(_conv)


@register_converter(Conv2D)
def _conv2d(layer: Conv2D, g: GraphBuilder, x: str) -> str:
    # the bias is the Conv node's third input (the named (C,) parameter, no reshape)
    operations = list(layer.operations)
    bias = operations[1].param if layer.bias else None
    x = _conv(operations[0], g, x, bias)
    for index, operation in enumerate(operations[2 if layer.bias else 1:]):
        x = g.convert(operation, x, f"Conv2D.operations[{index}]")
    return x


register_converter(FlattenOperation)(lambda op, g, x: g.node("Flatten", [x], axis=1))
register_converter(MaxPool2DOperation)(
    lambda op, g, x: g.node("MaxPool", [x], kernel_shape=[op.size, op.size],
                            strides=[op.stride, op.stride]))
register_converter(AvgPool2DOperation)(
    lambda op, g, x: g.node("AveragePool", [x], kernel_shape=[op.size, op.size],
                            strides=[op.stride, op.stride]))
register_converter(GlobalAvgPool2DOperation)(
    lambda op, g, x: g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1))


@register_converter(BatchNorm)
def _batch_norm(layer: BatchNorm, g: GraphBuilder, x: str) -> str:
    gamma, beta = layer.params
    running_mean, running_var = layer.buffers
    return g.node("BatchNormalization", [x, g.initializer(gamma), g.initializer(beta),
                                         g.initializer(running_mean),
                                         g.initializer(running_var)], epsilon=layer.eps)


# ---------------------------------------------------------------------- recurrent layers
from .recurrent import Embedding, GRULayer, LSTMLayer, RecurrentLayer, RNNLayer  # noqa: E402

#: ONNX's gate order as positions in PyTorch's (= dlscratch's): LSTM i,f,g,o -> i,o,f,c;
#: GRU r,z,n -> z,r,h
_GATE_ORDER = {RNNLayer: ("RNN", [0]), LSTMLayer: ("LSTM", [0, 3, 1, 2]),
               GRULayer: ("GRU", [1, 0, 2])}


def _gates_in_onnx_order(g: GraphBuilder, name: str, hidden: int, order: list[int]) -> str:
    """The (rows, gates*H) parameter ``name`` with its gate blocks in ONNX's order."""
    if order == list(range(len(order))):
        return name
    parts = [g.fresh("gate") for _ in order]
    g.nodes.append(g.helper.make_node("Split", [name, g.constant_int64([hidden] * len(order))],
                                      parts, axis=1, name=g.fresh("Split")))
    return g.node("Concat", [parts[k] for k in order], axis=1)


def _recurrent(layer: RecurrentLayer, g: GraphBuilder, x: str) -> str:
    """ONNX's RNN/LSTM/GRU (time-major, from a zero state), then the projection W_out, b_out.

    The named parameters stay the initializers; the graph reorders and transposes them (a
    constant computation onnxruntime folds once)."""
    if layer.stateful:
        raise NotImplementedError(f"dlscratch.onnx.export: {type(layer).__name__}(stateful=True) "
                                  f"carries its state between batches; export runs every "
                                  f"sequence from a zero state: rebuild the layer with "
                                  f"stateful=False to export it")
    op_type, order = _GATE_ORDER[type(layer)]
    W_ih, W_hh, b_ih, b_hh, W_out, b_out = (g.initializer(p) for p in layer.params)
    H = layer.hidden_size
    zero = g.constant_int64([0])
    W = g.node("Unsqueeze", [g.node("Transpose", [_gates_in_onnx_order(g, W_ih, H, order)],
                                    perm=[1, 0]), zero])
    R = g.node("Unsqueeze", [g.node("Transpose", [_gates_in_onnx_order(g, W_hh, H, order)],
                                    perm=[1, 0]), zero])
    B = g.node("Concat", [_gates_in_onnx_order(g, b_ih, H, order),
                          _gates_in_onnx_order(g, b_hh, H, order)], axis=1)
    time_major = g.node("Transpose", [x], perm=[1, 0, 2])
    attributes = {"hidden_size": H}
    if op_type == "GRU":
        attributes["linear_before_reset"] = 1  # PyTorch's GRU: r * (h W_hn + b_hn)
    Y, Y_h = g.fresh("Y"), g.fresh("Y_h")
    outputs = [Y, Y_h] + ([g.fresh("Y_c")] if op_type == "LSTM" else [])
    g.nodes.append(g.helper.make_node(op_type, [time_major, W, R, B], outputs,
                                      name=g.fresh(op_type), **attributes))
    if layer.return_sequences:  # Y: (time, 1, batch, H) -> (batch, time, H)
        hidden = g.node("Transpose", [g.node("Squeeze", [Y, g.constant_int64([1])])],
                        perm=[1, 0, 2])
    else:  # Y_h: (1, batch, H) -> (batch, H)
        hidden = g.node("Squeeze", [Y_h, zero])
    return g.node("Add", [g.node("MatMul", [hidden, W_out]), b_out])


for _cls in _GATE_ORDER:
    register_converter(_cls)(_recurrent)


@register_converter(Embedding)
def _embedding(layer: Embedding, g: GraphBuilder, x: str) -> str:
    ids = x if g.input_is_integer(x) else g.node("Cast", [x], to=g.onnx.TensorProto.INT64)
    return g.node("Gather", [g.initializer(layer.params[0]), ids], axis=0)
