"""PyTorch both ways: ``to_torch(net)`` and ``from_torch(module, loss)`` (the ``torch`` extra).

    from dlscratch.torch import to_torch, from_torch
    model = to_torch(net)                  # torch.nn.Sequential holding copies of the weights
    model.eval()(torch.from_numpy(X))      # X of the net's dtype; logits for softmax losses
    net2 = from_torch(model, SoftmaxCrossEntropy())

``Dense(n, activation, dropout=p)`` becomes ``nn.Linear`` (weight ``W.T``, bias ``B[0]``), the
activation's module (``nn.Identity`` for ``Linear``, ``nn.GELU(approximate="tanh")`` for
``GELU``, ``nn.Softmax(dim=axis)`` ...) and ``nn.Dropout(1 - p)`` (torch takes the fraction
dropped; the book's ``p`` is the keep probability). The parameters are copies in the network's
dtype: the two models are independent afterwards. ``from_torch`` reads such a sequence back
(an ``nn.Linear`` followed by at most one activation and one dropout is one ``Dense``) and
refuses modules it cannot map, naming them.

Converters are registered per class: ``@register_to_torch(LayerClass)`` for a function
``(layer, torch) -> list[nn.Module]`` and ``@register_from_torch(nn.ModuleClass)`` for a function
``(module, builder) -> None`` that adds layers to the ``TorchImport`` builder.
"""

# This module is dlscratch.torch; ``import torch`` below is the real PyTorch (imports are
# absolute), and the names of this module never shadow it.
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

try:
    import torch
except ImportError as error:  # pragma: no cover - torch is in the test extra
    raise ImportError("dlscratch.torch needs PyTorch; install it with: "
                      "pip install \"dlscratch[torch]\"") from error

from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .backend import to_host
from .base import Operation
from .dropout import Dropout
from .layers import Dense, Layer
from .losses import Loss
from .network import NeuralNetwork

_TO_TORCH: dict[type, Callable] = {}
_FROM_TORCH: dict[type, Callable] = {}


def register_to_torch(cls: type) -> Callable:
    """Register ``function(obj, torch) -> list of torch modules`` for dlscratch class ``cls``."""
    def decorate(function: Callable) -> Callable:
        _TO_TORCH[cls] = function
        return function
    return decorate


def register_from_torch(cls: type) -> Callable:
    """Register ``function(module, builder) -> None`` for torch module class ``cls``."""
    def decorate(function: Callable) -> Callable:
        _FROM_TORCH[cls] = function
        return function
    return decorate


def _lookup(registry: dict[type, Callable], obj: object) -> Callable | None:
    # the exact class first: a subclass may compute something else
    return registry.get(type(obj))


def tensor(array: np.ndarray) -> torch.Tensor:
    """A torch tensor holding a copy of ``array`` (host memory, same dtype)."""
    return torch.tensor(np.ascontiguousarray(to_host(array)))


def array(value: torch.Tensor) -> np.ndarray:
    """A NumPy copy of a torch tensor."""
    return value.detach().cpu().numpy().copy()


# ---------------------------------------------------------------------- dlscratch -> torch
def to_torch(net: NeuralNetwork) -> torch.nn.Sequential:
    """An equivalent ``torch.nn.Sequential`` holding copies of the network's parameters.

    The network must be built (trained, or ``net.build(input_shape)``). The model is in
    training mode as torch creates it; call ``.eval()`` for inference (dropout off).
    """
    if not isinstance(net, NeuralNetwork):
        raise TypeError(f"to_torch: net must be a NeuralNetwork, got {type(net).__name__}")
    if not net.built:
        raise ValueError("to_torch: the network has no parameters yet (it was never built); "
                         "call net.build(input_shape) or run a forward pass first")
    modules: list[torch.nn.Module] = []
    for index, layer in enumerate(net.layers):
        modules.extend(_convert_to_torch(layer, f"layers[{index}]"))
    model = torch.nn.Sequential(*modules)
    # from_torch gives the network back with its seed and input shape
    model.dlscratch_seed = net.seed
    model.dlscratch_input_shape = net.input_shape
    return model


def _convert_to_torch(obj: Operation, where: str) -> list[torch.nn.Module]:
    function = _lookup(_TO_TORCH, obj)
    if function is None:
        kind = "layer" if isinstance(obj, Layer) else "operation"
        raise NotImplementedError(f"to_torch: {where} is a {type(obj).__name__}, a {kind} "
                                  f"without a PyTorch counterpart; supported: "
                                  f"{', '.join(sorted(c.__name__ for c in _TO_TORCH))}")
    return function(obj, torch)


@register_to_torch(Dense)
def _dense_to_torch(layer: Dense, torch) -> list:
    W, B = layer.params
    linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=_torch_dtype(W.dtype))
    with torch.no_grad():
        linear.weight.copy_(tensor(W.T))
        linear.bias.copy_(tensor(B[0]))
    linear.dlscratch_weight_init = layer.weight_init  # for from_torch
    modules = [linear, *_convert_to_torch(layer.activation, f"{type(layer).__name__}.activation")]
    if layer.dropout < 1.0:
        modules.append(torch.nn.Dropout(p=1.0 - layer.dropout))
    return modules


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[dtype]


register_to_torch(Linear)(lambda op, torch: [torch.nn.Identity()])
register_to_torch(Sigmoid)(lambda op, torch: [torch.nn.Sigmoid()])
register_to_torch(Tanh)(lambda op, torch: [torch.nn.Tanh()])
register_to_torch(ReLU)(lambda op, torch: [torch.nn.ReLU()])
register_to_torch(LeakyReLU)(lambda op, torch: [torch.nn.LeakyReLU(negative_slope=op.alpha)])
register_to_torch(ELU)(lambda op, torch: [torch.nn.ELU(alpha=op.alpha)])
register_to_torch(GELU)(lambda op, torch: [torch.nn.GELU(approximate="tanh")])
register_to_torch(Softmax)(lambda op, torch: [torch.nn.Softmax(dim=op.axis)])
register_to_torch(Dropout)(lambda op, torch: [torch.nn.Dropout(p=1.0 - op.keep_prob)])


# ---------------------------------------------------------------------- torch -> dlscratch
class TorchImport:
    """Layers read from torch modules, with the parameters (and buffers) each receives once built.

    ``add_layer(layer, params, buffers)`` appends a finished layer. ``open(make, params)``
    starts one whose activation, flatten and dropout modules may follow (the order of a Dense's
    or Conv2D's operations): ``make(activation, keep_prob, flatten)`` builds it when the next
    module does not belong to it.
    """

    def __init__(self) -> None:
        self.layers: list[Operation] = []
        self.params: list[list[np.ndarray]] = []
        self.buffers: list[list[np.ndarray]] = []
        self.input_shape: tuple[int, ...] | None = None
        self.pending: dict | None = None
        self.dtypes: set[np.dtype] = set()

    def add_layer(self, layer: Operation, params: Sequence[np.ndarray] = (),
                  buffers: Sequence[np.ndarray] = ()) -> None:
        self.close()
        self.layers.append(layer)
        self.params.append(list(params))
        self.buffers.append(list(buffers))
        self.dtypes.update(array.dtype for array in (*params, *buffers))

    def open(self, make: Callable[[Operation, float, bool], Layer],
             params: Sequence[np.ndarray], flattenable: bool = False) -> None:
        """Start a layer that the following activation, flatten and dropout modules complete."""
        self.close()
        self.pending = {"make": make, "params": list(params), "activation": None,
                        "flatten": None if flattenable else False, "dropout": None}
        self.dtypes.update(param.dtype for param in params)

    def add_activation(self, activation: Operation) -> None:
        pending = self.pending
        if pending is not None and pending["activation"] is None and not pending["flatten"] \
                and pending["dropout"] is None:
            pending["activation"] = activation
        else:
            self.add_layer(activation)

    def add_flatten(self, make_layer: Callable[[], Operation]) -> None:
        pending = self.pending
        if pending is not None and pending["flatten"] is None and pending["dropout"] is None:
            pending["flatten"] = True
        else:
            self.add_layer(make_layer())

    def add_dropout(self, keep_prob: float) -> None:
        pending = self.pending
        if pending is not None and pending["dropout"] is None:
            pending["dropout"] = keep_prob
            self.close()
        else:
            self.add_layer(Dropout(keep_prob))

    def close(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            layer = pending["make"](pending["activation"] or Linear(),
                                    1.0 if pending["dropout"] is None else pending["dropout"],
                                    bool(pending["flatten"]))
            self.layers.append(layer)
            self.params.append(pending["params"])
            self.buffers.append([])


def from_torch(module: torch.nn.Module | Sequence[torch.nn.Module], loss: Loss,
               input_shape: int | Sequence[int] | None = None) -> NeuralNetwork:
    """The dlscratch network of a ``torch.nn.Sequential`` (nested ones are flattened).

    ``loss`` is the dlscratch loss of the new network (``SoftmaxCrossEntropy()`` for a model
    trained with ``nn.CrossEntropyLoss``). ``input_shape`` (one row) is needed only when the
    first module does not tell it (``nn.Linear`` does). The parameters are copied, in the
    module's dtype (float32 or float64).
    """
    if not isinstance(loss, Loss):
        raise TypeError(f"from_torch: loss must be a dlscratch Loss such as "
                        f"SoftmaxCrossEntropy() (for nn.CrossEntropyLoss) or MeanSquaredError(), "
                        f"got {type(loss).__name__}")
    modules = _flatten(module)
    if not modules:
        raise ValueError("from_torch: the module holds no layers")
    builder = TorchImport()
    for index, child in enumerate(modules):
        function = _lookup(_FROM_TORCH, child)
        if function is None:
            raise NotImplementedError(f"from_torch: module {index} ({type(child).__name__}) "
                                      f"has no dlscratch counterpart; supported: "
                                      f"{', '.join(sorted(c.__name__ for c in _FROM_TORCH))}")
        _check_waiting(builder, child)
        try:
            function(child, builder)
        except (TypeError, ValueError) as error:  # a dlscratch constructor refused a value
            raise ValueError(f"from_torch: module {index} ({child}) cannot be mapped: "
                             f"{error}") from None
    _check_waiting(builder, None)
    builder.close()
    if len(builder.dtypes) > 1:
        raise ValueError(f"from_torch: the parameters mix dtypes {sorted(map(str, builder.dtypes))}"
                         f"; expected all float32 or all float64")
    dtype = builder.dtypes.pop() if builder.dtypes else np.dtype(np.float32)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"from_torch: the parameters are {dtype}; expected float32 or float64 "
                         f"(convert the model with .float() or .double())")
    if input_shape is None:
        input_shape = getattr(module, "dlscratch_input_shape", None) or builder.input_shape
    if input_shape is None:
        raise ValueError("from_torch: the input shape cannot be read from the first module; "
                         "give input_shape, the shape of one input row")
    seed = getattr(module, "dlscratch_seed", 1)
    net = NeuralNetwork(builder.layers, loss, seed=seed, dtype=dtype)
    net.build(input_shape)
    for index, layer in enumerate(net.layers):
        for kind, values in (("parameter", builder.params[index]),
                             ("buffer", builder.buffers[index])):
            own = getattr(layer, f"{kind}s" if kind == "buffer" else "params", [])
            if len(own) != len(values):
                raise ValueError(f"from_torch: layer {index} ({type(layer).__name__}) has "
                                 f"{len(own)} {kind}s, the module gave {len(values)}")
            for array_, value in zip(own, values):
                if array_.shape != value.shape:
                    raise ValueError(f"from_torch: layer {index} ({type(layer).__name__}) "
                                     f"expects a {kind} of shape {array_.shape}, the module has "
                                     f"{value.shape}; do the layer sizes chain?")
                array_[...] = value
    return net


def _refuse(module: torch.nn.Module, attribute: str, value: object, expected: str) -> None:
    """Raise the error of a module attribute that dlscratch cannot map exactly."""
    raise NotImplementedError(f"from_torch: {type(module).__name__} with {attribute}={value!r} "
                              f"has no dlscratch counterpart ({module}); expected {expected}")


def _pair(value: object) -> tuple:
    """A torch size argument (int or tuple) as a pair."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _flatten(module) -> list[torch.nn.Module]:
    if isinstance(module, torch.nn.Sequential):
        return [leaf for child in module for leaf in _flatten(child)]
    if isinstance(module, torch.nn.Module):
        return [module]
    if isinstance(module, (list, tuple)):
        return [leaf for child in module for leaf in _flatten(child)]
    raise TypeError(f"from_torch: module must be a torch.nn.Sequential (or a list of modules), "
                    f"got {type(module).__name__}")


def _check_waiting(builder: TorchImport, child: torch.nn.Module | None) -> None:
    """Refuse a module that does not complete what the one before it left open: an
    nn.ZeroPad2d belongs to the nn.Conv2d right after it, an nn.AdaptiveAvgPool2d(1) to the
    nn.Flatten right after it (dlscratch's GlobalAvgPool2D flattens)."""
    pad = getattr(builder, "zero_pad", None)
    if pad is not None and not isinstance(child, torch.nn.Conv2d):
        raise NotImplementedError(f"from_torch: nn.ZeroPad2d({pad}) followed by "
                                  f"{type(child).__name__ if child is not None else 'nothing'} "
                                  f"has no dlscratch counterpart; padding exists only as the "
                                  f"padding of the Conv2d right after it")
    if getattr(builder, "flatten_absorbed", False) and not isinstance(child, torch.nn.Flatten):
        raise NotImplementedError(f"from_torch: nn.AdaptiveAvgPool2d(1) followed by "
                                  f"{type(child).__name__ if child is not None else 'nothing'} "
                                  f"has no dlscratch counterpart; dlscratch's GlobalAvgPool2D "
                                  f"is nn.AdaptiveAvgPool2d(1) then nn.Flatten()")


@register_from_torch(torch.nn.Linear)
def _linear_from_torch(module: torch.nn.Linear, builder: TorchImport) -> None:
    if module.bias is None:
        raise NotImplementedError("from_torch: nn.Linear without a bias has no dlscratch "
                                  "counterpart (Dense always adds one)")
    W = array(module.weight).T.copy()
    B = array(module.bias)[None, :]
    if builder.input_shape is None and not builder.layers and builder.pending is None:
        builder.input_shape = (module.in_features,)
    weight_init = getattr(module, "dlscratch_weight_init", "standard")
    builder.open(lambda activation, keep_prob, flatten: Dense(
        module.out_features, activation, dropout=keep_prob, weight_init=weight_init), [W, B])


def _activation(make: Callable[[torch.nn.Module], Operation]) -> Callable:
    return lambda module, builder: builder.add_activation(make(module))


register_from_torch(torch.nn.Identity)(_activation(lambda m: Linear()))
register_from_torch(torch.nn.Sigmoid)(_activation(lambda m: Sigmoid()))
register_from_torch(torch.nn.Tanh)(_activation(lambda m: Tanh()))
register_from_torch(torch.nn.ReLU)(_activation(lambda m: ReLU()))


@register_from_torch(torch.nn.LeakyReLU)
def _leaky_relu_from_torch(module: torch.nn.LeakyReLU, builder: TorchImport) -> None:
    if not module.negative_slope >= 0:
        _refuse(module, "negative_slope", module.negative_slope, "a slope >= 0")
    builder.add_activation(LeakyReLU(module.negative_slope))


@register_from_torch(torch.nn.ELU)
def _elu_from_torch(module: torch.nn.ELU, builder: TorchImport) -> None:
    if not module.alpha > 0:
        _refuse(module, "alpha", module.alpha, "alpha > 0")
    builder.add_activation(ELU(module.alpha))


@register_from_torch(torch.nn.GELU)
def _gelu_from_torch(module: torch.nn.GELU, builder: TorchImport) -> None:
    if module.approximate != "tanh":
        raise NotImplementedError("from_torch: nn.GELU() (the exact erf form) has no dlscratch "
                                  "counterpart; dlscratch's GELU is nn.GELU(approximate='tanh')")
    builder.add_activation(GELU())


@register_from_torch(torch.nn.Softmax)
def _softmax_from_torch(module: torch.nn.Softmax, builder: TorchImport) -> None:
    if module.dim is None or module.dim == 0:
        raise NotImplementedError(f"from_torch: nn.Softmax(dim={module.dim}) has no dlscratch "
                                  f"counterpart (attribute dim): dlscratch's Softmax(axis) needs "
                                  f"an explicit axis of one row (not 0, the batch); use "
                                  f"nn.Softmax(dim=-1) for the last axis")
    builder.add_activation(Softmax(axis=module.dim))


@register_from_torch(torch.nn.Dropout)
def _dropout_from_torch(module: torch.nn.Dropout, builder: TorchImport) -> None:
    if not 0 <= module.p < 1:
        _refuse(module, "p", module.p, "a dropped fraction p in [0, 1) (dlscratch keeps 1 - p "
                "of the units, and keeping none is no layer)")
    builder.add_dropout(1.0 - module.p)


__all__ = ["to_torch", "from_torch", "register_to_torch", "register_from_torch",
           "TorchImport"]


# ---------------------------------------------------------------------- convolutional layers
from .conv import Conv2D, resolve_padding  # noqa: E402
from .normalization import BatchNorm  # noqa: E402
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D  # noqa: E402
from .reshape import Flatten  # noqa: E402


@register_to_torch(Conv2D)
def _conv2d_to_torch(layer: Conv2D, torch) -> list:
    W = layer.params[0]
    top, bottom, left, right = layer.operations[0].padding
    modules = []
    if top == bottom == left == right:
        padding = top
    else:  # "same" with an even kernel: PyTorch's own split, as an explicit pad
        modules.append(torch.nn.ZeroPad2d((left, right, top, bottom)))
        padding = 0
    conv = torch.nn.Conv2d(W.shape[1], W.shape[0], W.shape[2], stride=layer.stride,
                           padding=padding, bias=layer.bias, dtype=_torch_dtype(W.dtype))
    with torch.no_grad():
        conv.weight.copy_(tensor(W))  # the same layout: (out, in, k, k)
        if layer.bias:
            conv.bias.copy_(tensor(layer.params[1]))
    conv.dlscratch_weight_init = layer.weight_init
    conv.dlscratch_padding = layer.padding
    modules += [conv, *_convert_to_torch(layer.activation, "Conv2D.activation")]
    if layer.flatten:
        modules.append(torch.nn.Flatten())
    if layer.dropout < 1.0:
        modules.append(torch.nn.Dropout(p=1.0 - layer.dropout))
    return modules


@register_to_torch(BatchNorm)
def _batch_norm_to_torch(layer: BatchNorm, torch) -> list:
    gamma, beta = layer.params
    running_mean, running_var = layer.buffers
    kind = torch.nn.BatchNorm1d if len(layer.input_shape) < 3 else torch.nn.BatchNorm2d
    norm = kind(len(gamma), eps=layer.eps, momentum=layer.momentum,
                dtype=_torch_dtype(gamma.dtype))
    with torch.no_grad():
        norm.weight.copy_(tensor(gamma))
        norm.bias.copy_(tensor(beta))
        norm.running_mean.copy_(tensor(running_mean))
        norm.running_var.copy_(tensor(running_var))
    return [norm]


register_to_torch(MaxPool2D)(lambda layer, torch: [torch.nn.MaxPool2d(layer.size, layer.stride)])
register_to_torch(AvgPool2D)(lambda layer, torch: [torch.nn.AvgPool2d(layer.size, layer.stride)])
register_to_torch(GlobalAvgPool2D)(
    lambda layer, torch: [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()])
register_to_torch(Flatten)(lambda layer, torch: [torch.nn.Flatten()])


@register_from_torch(torch.nn.ZeroPad2d)
def _zero_pad_from_torch(module: torch.nn.ZeroPad2d, builder: TorchImport) -> None:
    builder.close()
    builder.zero_pad = tuple(module.padding)  # (left, right, top, bottom), for the next Conv2d


@register_from_torch(torch.nn.Conv2d)
def _conv2d_from_torch(module: torch.nn.Conv2d, builder: TorchImport) -> None:
    k = module.kernel_size[0]
    if module.kernel_size[0] != module.kernel_size[1] or module.stride[0] != module.stride[1] \
            or module.dilation != (1, 1) or module.groups != 1 \
            or module.padding_mode != "zeros":
        raise NotImplementedError(f"from_torch: {module} has no dlscratch counterpart (Conv2D "
                                  f"takes square kernels and strides, no dilation or groups)")
    left, right, top, bottom = getattr(builder, "zero_pad", None) or (0, 0, 0, 0)
    builder.zero_pad = None
    if module.padding == "same":
        padding = "same"
    elif module.padding == "valid":
        padding = "valid"
    else:
        if module.padding[0] != module.padding[1]:
            raise NotImplementedError(f"from_torch: {module} pads rows and columns differently")
        padding = module.padding[0]
    if (left, right, top, bottom) != (0, 0, 0, 0):
        if padding not in (0, "valid") or (top, bottom, left, right) != resolve_padding("same", k) \
                or module.stride[0] != 1:
            raise NotImplementedError(f"from_torch: nn.ZeroPad2d({(left, right, top, bottom)}) "
                                      f"before {module} has no dlscratch counterpart")
        padding = "same"
    # the spelling to_torch recorded, only where it pads exactly as the module does (a tag
    # left on a module whose padding was changed since is ignored)
    tag = getattr(module, "dlscratch_padding", None)
    if tag is not None and tag != padding:
        try:
            same_geometry = resolve_padding(tag, k) == resolve_padding(padding, k) \
                and (tag != "same" or module.stride[0] == 1)
        except (TypeError, ValueError):
            same_geometry = False
        if same_geometry:
            padding = tag
    weight_init = getattr(module, "dlscratch_weight_init", "normal")
    params = [array(module.weight)] + ([array(module.bias)] if module.bias is not None else [])
    builder.open(lambda activation, keep_prob, flatten: Conv2D(
        module.out_channels, k, dropout=keep_prob, weight_init=weight_init,
        activation=activation, flatten=flatten, stride=module.stride[0], padding=padding,
        bias=module.bias is not None), params, flattenable=True)


@register_from_torch(torch.nn.BatchNorm1d)
@register_from_torch(torch.nn.BatchNorm2d)
def _batch_norm_from_torch(module, builder: TorchImport) -> None:
    if not module.affine or not module.track_running_stats or module.momentum is None:
        raise NotImplementedError(f"from_torch: {module} has no dlscratch counterpart "
                                  f"(BatchNorm is affine, with running statistics and a momentum)")
    builder.add_layer(BatchNorm(momentum=module.momentum, eps=module.eps),
                      [array(module.weight), array(module.bias)],
                      [array(module.running_mean), array(module.running_var)])


@register_from_torch(torch.nn.MaxPool2d)
@register_from_torch(torch.nn.AvgPool2d)
def _pool_from_torch(module, builder: TorchImport) -> None:
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    if kernel[0] != kernel[1]:
        _refuse(module, "kernel_size", module.kernel_size, "a square window (k, k)")
    if stride[0] != stride[1]:
        _refuse(module, "stride", module.stride, "the same stride along rows and columns")
    if _pair(module.padding) != (0, 0):
        _refuse(module, "padding", module.padding, "0 (dlscratch's pooling does not pad)")
    if module.ceil_mode:
        _refuse(module, "ceil_mode", module.ceil_mode, "False (windows that do not fit are "
                "left out)")
    if isinstance(module, torch.nn.MaxPool2d):
        if _pair(module.dilation) != (1, 1):
            _refuse(module, "dilation", module.dilation, "1")
        if module.return_indices:
            _refuse(module, "return_indices", module.return_indices, "False")
        kind = MaxPool2D
    else:
        if module.divisor_override is not None:
            _refuse(module, "divisor_override", module.divisor_override, "None (the mean of "
                    "the window)")
        kind = AvgPool2D  # count_include_pad changes nothing without padding
    builder.add_layer(kind(int(kernel[0]), int(stride[0])))


@register_from_torch(torch.nn.AdaptiveAvgPool2d)
def _global_pool_from_torch(module, builder: TorchImport) -> None:
    if _pair(module.output_size) != (1, 1):
        raise NotImplementedError(f"from_torch: {module} has no dlscratch counterpart (only an "
                                  f"output size of 1, the global average)")
    builder.add_layer(GlobalAvgPool2D())
    builder.flatten_absorbed = True  # the nn.Flatten after it belongs to GlobalAvgPool2D


@register_from_torch(torch.nn.Flatten)
def _flatten_from_torch(module, builder: TorchImport) -> None:
    if module.start_dim != 1:
        _refuse(module, "start_dim", module.start_dim, "1 (everything but the batch axis is "
                "flattened)")
    if module.end_dim != -1:
        _refuse(module, "end_dim", module.end_dim, "-1 (everything but the batch axis is "
                "flattened)")
    if getattr(builder, "flatten_absorbed", False):
        builder.flatten_absorbed = False
        return
    builder.add_flatten(Flatten)


# ---------------------------------------------------------------------- recurrent layers
from .recurrent import Embedding, GRULayer, LSTMLayer, RecurrentLayer, RNNLayer  # noqa: E402

_TORCH_RECURRENT = {RNNLayer: torch.nn.RNN, LSTMLayer: torch.nn.LSTM, GRULayer: torch.nn.GRU}


class Recurrent(torch.nn.Module):
    """The adapter of a dlscratch recurrent layer: ``nn.RNN``/``nn.LSTM``/``nn.GRU``
    (batch first, from a zero state) and the output projection ``nn.Linear`` of every step
    (``return_sequences``) or of the last one. (batch, time, features) -> (batch, time, out) or
    (batch, out)."""

    def __init__(self, rnn: torch.nn.Module, linear: torch.nn.Linear,
                 return_sequences: bool = True) -> None:
        super().__init__()
        self.rnn = rnn
        self.linear = linear
        self.return_sequences = bool(return_sequences)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(x)
        return self.linear(hidden if self.return_sequences else hidden[:, -1])


def _recurrent_to_torch(layer: RecurrentLayer, torch) -> list:
    if layer.stateful:
        raise NotImplementedError(f"to_torch: {type(layer).__name__}(stateful=True) carries its "
                                  f"state between batches, which the torch adapter does not")
    W_ih, W_hh, b_ih, b_hh, W_out, b_out = layer.params
    dtype = _torch_dtype(W_ih.dtype)
    rnn = _TORCH_RECURRENT[type(layer)](W_ih.shape[0], layer.hidden_size, batch_first=True,
                                        dtype=dtype)
    linear = torch.nn.Linear(layer.hidden_size, layer.output_size, dtype=dtype)
    with torch.no_grad():  # the same gate order as PyTorch's, transposed
        rnn.weight_ih_l0.copy_(tensor(W_ih.T))
        rnn.weight_hh_l0.copy_(tensor(W_hh.T))
        rnn.bias_ih_l0.copy_(tensor(b_ih[0]))
        rnn.bias_hh_l0.copy_(tensor(b_hh[0]))
        linear.weight.copy_(tensor(W_out.T))
        linear.bias.copy_(tensor(b_out[0]))
    adapter = Recurrent(rnn, linear, layer.return_sequences)
    adapter.dlscratch_weight_scale = layer.weight_scale
    return [adapter]


for _cls in _TORCH_RECURRENT:
    register_to_torch(_cls)(_recurrent_to_torch)


@register_to_torch(Embedding)
def _embedding_to_torch(layer: Embedding, torch) -> list:
    W = layer.params[0]
    embedding = torch.nn.Embedding(W.shape[0], W.shape[1], dtype=_torch_dtype(W.dtype))
    with torch.no_grad():
        embedding.weight.copy_(tensor(W))
    return [embedding]


@register_from_torch(Recurrent)
def _recurrent_from_torch(module: Recurrent, builder: TorchImport) -> None:
    rnn = module.rnn
    kinds = {torch_class: cls for cls, torch_class in _TORCH_RECURRENT.items()}
    cls = kinds.get(type(rnn))
    if cls is None or rnn.num_layers != 1 or rnn.bidirectional or not rnn.bias \
            or not rnn.batch_first or getattr(rnn, "proj_size", 0) \
            or getattr(rnn, "nonlinearity", "tanh") != "tanh":
        raise NotImplementedError(f"from_torch: {rnn} has no dlscratch counterpart (one "
                                  f"layer, one direction, biases, batch_first, tanh)")
    if type(module.linear) is not torch.nn.Linear or module.linear.bias is None:
        _refuse(module, "linear", module.linear, "an nn.Linear with a bias (the projection "
                "W_out, b_out)")
    layer = cls(rnn.hidden_size, module.linear.out_features,
                getattr(module, "dlscratch_weight_scale", None),
                return_sequences=module.return_sequences)
    builder.add_layer(layer, [array(rnn.weight_ih_l0).T.copy(), array(rnn.weight_hh_l0).T.copy(),
                              array(rnn.bias_ih_l0)[None, :], array(rnn.bias_hh_l0)[None, :],
                              array(module.linear.weight).T.copy(),
                              array(module.linear.bias)[None, :]])


@register_from_torch(torch.nn.Embedding)
def _embedding_from_torch(module: torch.nn.Embedding, builder: TorchImport) -> None:
    for attribute, neutral in (("padding_idx", None), ("max_norm", None),
                               ("scale_grad_by_freq", False), ("sparse", False)):
        value = getattr(module, attribute, neutral)
        if value != neutral:
            _refuse(module, attribute, value, f"{neutral} (dlscratch's Embedding is a plain "
                    f"lookup table)")
    builder.add_layer(Embedding(module.num_embeddings, module.embedding_dim),
                      [array(module.weight)])
