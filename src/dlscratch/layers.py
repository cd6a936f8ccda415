"""Layers: groups of operations that build themselves on the first forward pass."""

from __future__ import annotations

import copy

import numpy as np

from ._shapes import NetworkTooLargeError, check_fits_in_memory, human
from .activations import Sigmoid
from .backend import array_module, is_host, move_arrays
from .base import Operation, ParamOperation
from .dense import BiasAdd, WeightMultiply
from .dropout import Dropout
from .validation import (
    check_bool,
    check_choice,
    check_number,
    check_positive,
    check_same_shape,
)

WEIGHT_INITS = ("standard", "glorot", "he")


class Layer(Operation):
    """Operations in sequence with ``neurons`` outputs; ``params``/``param_grads`` in one order.

    ``_setup_layer(input_)`` builds ``operations`` and ``params`` on the first ``forward``, so the
    input size is inferred. The network gives each layer its own random generator (``rng``) and
    the array ``dtype``.
    """

    # True for a layer whose output size follows its input (pooling, flattening, batch norm):
    # its neurons is None
    sized_by_input = False

    def __init__(self, neurons: int | None) -> None:
        super().__init__()
        if neurons is not None or not self.sized_by_input:
            check_positive("neurons", neurons, integer=True, owner=type(self).__name__)
            neurons = int(neurons)
        self.neurons = neurons
        self.first = True
        self.params: list[np.ndarray] = []
        self.param_grads: list[np.ndarray] = []
        # state that is not trained (batch norm's running statistics): updated in place, saved
        # with the model, never given to an optimizer
        self.buffers: list[np.ndarray] = []
        self.operations: list[Operation] = []
        self.input_grad_needed = True
        self.rng: np.random.Generator | None = None
        self.dtype: np.dtype | None = None
        self.seed: int | None = None
        self.input_shape: tuple[int, ...] | None = None

    def _setup_layer(self, input_: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _setup_layer")

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """({name: shape} of every state-dict array, output row shape) for input rows of
        ``input_shape``, computed without allocating anything (the size checks of ``build`` and
        of loading use it). Layers that do not implement it are built to learn their shapes."""
        raise NotImplementedError

    def _first_input_checks(self, input_: np.ndarray, integer: bool = False) -> None:
        """Refuse, before a layer is built on it, an input whose rows have an empty axis (no
        parameter can be drawn for 0 features or channels) or a float type other than float32
        and float64 (float16 parameters would overflow at 65504)."""
        name = type(self).__name__
        shape = getattr(input_, "shape", None)
        if shape is not None and len(shape) > 1 and 0 in tuple(shape[1:]):
            raise ValueError(f"{name}.forward: input of shape {tuple(shape)} has an empty axis; "
                             f"expected at least one feature (or channel, step, pixel) per row")
        dtype = getattr(input_, "dtype", None)
        if self.dtype is None and dtype is not None and dtype.kind == "f" \
                and dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"{name}.forward: input is {dtype}; a layer computes in float32 or "
                            f"float64: cast it, e.g. x.astype(np.float32)")

    def _setup_checked(self, input_: np.ndarray) -> None:
        """``_setup_layer``, refused with a clear error when the parameters cannot fit in memory."""
        owner = f"{type(self).__name__}.forward"
        check_fits_in_memory([self], self.input_shape, self.dtype, owner)
        try:
            self._setup_layer(input_)
        except MemoryError as error:
            if isinstance(error, NetworkTooLargeError):
                raise
            size = human(input_.dtype.itemsize * np.prod(input_.shape[1:], dtype=float))
            raise NetworkTooLargeError(f"{owner}: not enough memory to create the parameters of "
                                       f"{self!r} for inputs of shape {self.input_shape} (one "
                                       f"input row is {size}); use fewer neurons or smaller "
                                       f"inputs") from None

    def forward(self, input_: np.ndarray, inference: bool = False) -> np.ndarray:
        """Build the layer if needed, then pass ``input_`` through every operation in order."""
        if self.first:
            self._first_input_checks(input_)
            if self.rng is None:
                self.rng = np.random.default_rng(self.seed)
            if self.dtype is None:
                self.dtype = input_.dtype if input_.dtype.kind == "f" else np.dtype(np.float64)
            self.input_shape = tuple(input_.shape[1:])
            self._setup_checked(input_)
            if not is_host(input_):
                # parameters are drawn on the host (same seed, same weights), then moved
                move_arrays(self, array_module(input_))
            self.first = False
        elif input_.shape[1:] != self.input_shape:
            raise ValueError(f"{type(self).__name__}.forward: input has shape {input_.shape}, but "
                             f"the layer was built for inputs of shape (batch, "
                             f"{', '.join(map(str, self.input_shape))})")
        self.input_ = input_
        for operation in self.operations:
            input_ = operation.forward(input_, inference)
        self.output = input_
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray | None:
        """Pass the gradient through the operations in reverse; store the parameter gradients."""
        check_same_shape(self, "output_grad", output_grad, "output", self.output)
        first_operation = self.operations[0]
        if isinstance(first_operation, ParamOperation):
            first_operation.input_grad_needed = self.input_grad_needed
        for operation in reversed(self.operations):
            output_grad = operation.backward(output_grad)
        self._param_grads()
        if output_grad is not None:
            check_same_shape(self, "input_grad", output_grad, "input", self.input_)
        self.input_grad = output_grad
        return output_grad

    def _param_grads(self) -> None:
        """Collect ``param_grads`` from the parameter operations (the book's helper)."""
        self.param_grads = [operation.param_grad for operation in self.operations
                            if isinstance(operation, ParamOperation)]

    def _params(self) -> None:
        """Collect ``params`` from the parameter operations (the book's helper)."""
        self.params = [operation.param for operation in self.operations
                       if isinstance(operation, ParamOperation)]

    def _release(self) -> None:
        super()._release()
        for operation in self.operations:
            operation._release()

    def reset(self) -> None:
        """Forget the parameters: the next forward builds the layer afresh."""
        self.first = True
        self.params, self.param_grads, self.operations = [], [], []
        self.buffers = []

    def parameter_names(self) -> list[str]:
        """Names of ``params`` in order, used in state dicts (``layers.0.W``)."""
        return [f"param{i}" for i in range(len(self.params))]

    def buffer_names(self) -> list[str]:
        """Names of ``buffers`` in order, used in state dicts (``layers.0.running_mean``)."""
        return [f"buffer{i}" for i in range(len(self.buffers))]

    def get_config(self) -> dict:
        return {"neurons": self.neurons}


class Dense(Layer):
    """out = activation(X @ W + B), then dropout in training when ``dropout`` < 1.

    X: (batch, n_in), W: (n_in, neurons), B: (1, neurons). ``weight_init``: ``"standard"``
    (the book's: W and B from N(0, 1)), ``"glorot"`` (W from N(0, 2 / (n_in + neurons)), B = 0)
    or ``"he"`` (W from N(0, 2 / n_in), B = 0), where the second number is the variance.
    ``dropout`` is the keep probability, as in the book.
    """

    # the book's argument order: Dense(neurons, activation, conv_in, dropout, weight_init)
    def __init__(self, neurons: int, activation: Operation | None = None,
                 conv_in: bool = False, dropout: float = 1.0,
                 weight_init: str = "standard") -> None:
        super().__init__(neurons)
        if activation is None:
            activation = Sigmoid()
        if not isinstance(activation, Operation) or isinstance(activation, Layer) \
                or isinstance(activation, ParamOperation):
            raise TypeError(f"Dense: activation must be an activation such as Sigmoid() or "
                            f"ReLU(), got {activation!r}; a layer goes into the network's list "
                            f"of layers, not into another layer")
        check_bool("conv_in", conv_in, owner="Dense")
        check_choice("weight_init", weight_init, WEIGHT_INITS, owner="Dense")
        check_number("dropout", dropout, low=0, high=1, owner="Dense")
        # A layer keeps its own activation: one instance shared by two layers would mix up the
        # inputs each one stores for its backward pass.
        self.activation = copy.copy(activation)
        self.weight_init = weight_init
        self.dropout = float(dropout)
        self.conv_in = conv_in

    def _setup_layer(self, input_: np.ndarray) -> None:
        if input_.ndim != 2:
            raise ValueError(f"Dense.forward: input must have 2 dimensions (batch, features), "
                             f"got shape {input_.shape}")
        n_in = input_.shape[1]
        if self.weight_init == "standard":
            W = self.rng.standard_normal((n_in, self.neurons))
            B = self.rng.standard_normal((1, self.neurons))
        else:
            variance = 2.0 / (n_in + self.neurons) if self.weight_init == "glorot" else 2.0 / n_in
            W = self.rng.standard_normal((n_in, self.neurons)) * np.sqrt(variance)
            B = np.zeros((1, self.neurons))
        # W and B side by side in one array (B right after W): an optimizer may update both
        # with one NumPy call (see lean.py); each is still an array of its own shape
        storage = np.empty(W.size + B.size, dtype=self.dtype)
        self.params = [storage[:W.size].reshape(W.shape), storage[W.size:].reshape(B.shape)]
        self.params[0][...] = W
        self.params[1][...] = B
        self.operations = [WeightMultiply(self.params[0]), BiasAdd(self.params[1]),
                           self.activation]
        if self.dropout < 1.0:
            dropout = Dropout(self.dropout)
            dropout.rng = self.rng
            self.operations.append(dropout)

    def parameter_names(self) -> list[str]:
        return ["W", "B"]

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        if len(input_shape) != 1:
            raise ValueError(f"Dense.forward: input must have 2 dimensions (batch, features), "
                             f"got rows of shape {tuple(input_shape)}")
        return {"W": (input_shape[0], self.neurons), "B": (1, self.neurons)}, (self.neurons,)

    def get_config(self) -> dict:
        return {"neurons": self.neurons, "weight_init": self.weight_init,
                "dropout": self.dropout}

    def __repr__(self) -> str:
        extra = f", dropout={self.dropout}" if self.dropout < 1 else ""
        return (f"Dense(neurons={self.neurons}, activation={self.activation!r}, "
                f"weight_init={self.weight_init!r}{extra})")



# The layers of chapters 5 and 6 live in their own modules, which import Layer from here: they
# are offered on first access (``from dlscratch.layers import Conv2D, LSTMLayer``), so this module
# never imports them and no import circle forms.
_LATER_LAYERS = {"Conv2D": "conv", "Conv2DOperation": "conv", "Conv2D_Op": "conv",
                 "BatchNorm": "normalization", "MaxPool2D": "pooling", "AvgPool2D": "pooling",
                 "GlobalAvgPool2D": "pooling", "Flatten": "reshape",
                 "RNNLayer": "recurrent", "LSTMLayer": "recurrent", "GRULayer": "recurrent",
                 "Embedding": "recurrent"}


def __getattr__(name: str):
    if name in _LATER_LAYERS:
        import importlib

        return getattr(importlib.import_module(f".{_LATER_LAYERS[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
