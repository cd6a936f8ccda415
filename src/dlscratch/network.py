"""NeuralNetwork: layers in order plus a loss; forward, backward and one training step."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .backend import (
    CPU,
    Device,
    empty,
    is_array,
    is_host,
    move_arrays,
    on_device,
    resolve_device,
    to_device,
    to_module,
)
from .backend import to_host as host_array
from .base import Operation
from .layers import Layer
from .losses import Loss
from .validation import KeyMismatchError, as_array, check_bool, check_positive

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NeuralNetwork:
    """X -> layers[0] -> ... -> layers[-1] -> prediction; ``loss`` compares it with y.

    ``seed`` fixes every layer's initial weights (each layer draws from its own child generator
    of ``numpy.random.SeedSequence(seed)``, so equal layers start different); ``dtype`` is the
    array type of parameters and activations (float32 for speed, float64 for gradient checks).
    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or an array module such as ``cupy``) is where
    parameters and activations live; see ``to``.
    """

    #: A JSON object saved with the model and loaded back (feature names, scaler, classes, ...).
    metadata: dict | None = None

    def __init__(self, layers: Sequence[Operation], loss: Loss, seed: int | None = 1,
                 dtype: type | np.dtype | str = np.float32, device: Any = "cpu") -> None:
        if isinstance(layers, Operation) or not isinstance(layers, Iterable):
            raise TypeError(f"NeuralNetwork: layers must be a list of layers, got {layers!r}")
        layers = list(layers)
        if not layers:
            raise ValueError("NeuralNetwork: layers is empty; expected at least one layer")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Operation):
                raise TypeError(f"NeuralNetwork: layers[{index}] must be a Layer (such as "
                                f"Dense(...)), got {layer!r}")
            if any(layer is other for other in layers[:index]):
                raise ValueError(f"NeuralNetwork: layers[{index}] is the same object as an "
                                 f"earlier layer; every layer must be its own instance")
            _check_not_owned(layer, index)
        if not isinstance(loss, Loss):
            raise TypeError(f"NeuralNetwork: loss must be a Loss such as MeanSquaredError(), "
                            f"got {loss!r}")
        _check_loss_not_owned(loss)
        _check_no_double_softmax(layers, loss)
        if seed is not None:
            if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
                raise TypeError(f"NeuralNetwork: seed must be a non-negative integer or None, "
                                f"got {seed!r}")
            if seed < 0:
                raise ValueError(f"NeuralNetwork: seed must be >= 0, got {seed}")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"NeuralNetwork: dtype must be float32 or float64, got {dtype!r}") \
                from None
        if dtype not in DTYPES:
            raise ValueError(f"NeuralNetwork: dtype must be float32 or float64, got {dtype}")
        self.layers = layers
        self.loss = loss
        self._register_ownership()
        self.seed = seed
        self.dtype = dtype
        self._entropy = np.random.SeedSequence(seed).entropy
        self.input_grad_needed = False
        self._device = CPU
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def _register_ownership(self) -> None:
        """Record that the layers and the loss belong to this network (see _check_not_owned)."""
        for obj, owners in [(layer, _OWNERS) for layer in self.layers] + [(self.loss,
                                                                           _LOSS_OWNERS)]:
            try:
                owners[obj] = weakref.ref(self)
            except TypeError:  # an unhashable user operation: it cannot be tracked
                pass

    def __setstate__(self, state: dict) -> None:
        """A copy (copy.deepcopy) or an unpickled network owns its copied layers and loss."""
        self.__dict__.update(state)
        if "layers" in state and "loss" in state:
            self._register_ownership()

    # ------------------------------------------------------------------ building
    def reset_parameters(self) -> None:
        """Forget all parameters; the next forward draws them again from the network's seed."""
        children = np.random.SeedSequence(self._entropy).spawn(len(self.layers))
        for layer, child in zip(self.layers, children):
            layer.rng = np.random.Generator(np.random.PCG64(child))
            layer.dtype = self.dtype
            if isinstance(layer, Layer):
                layer.reset()
        self._set_first_layer_input_grad()

    @property
    def input_grad_needed(self) -> bool:
        """Whether ``backward`` computes and returns dL/dX (off by default: training needs none)."""
        return self._input_grad_needed

    @input_grad_needed.setter
    def input_grad_needed(self, needed: bool) -> None:
        self._input_grad_needed = check_bool("input_grad_needed", needed, "NeuralNetwork")
        self._set_first_layer_input_grad()

    def _set_first_layer_input_grad(self) -> None:
        for index, layer in enumerate(self.layers):
            layer.input_grad_needed = self._input_grad_needed or index > 0

    @property
    def built(self) -> bool:
        """Whether every layer has its parameters (after the first forward)."""
        return not any(getattr(layer, "first", False) for layer in self.layers)

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of one input row the network was built for (None before the first forward)."""
        return getattr(self.layers[0], "input_shape", None) if self.built else None

    # ------------------------------------------------------------------ device
    @property
    def device(self) -> Device:
        """Where the parameters live (compares equal to ``"cpu"``, ``"cuda"``, ``"cuda:0"``...)."""
        return self._device

    def to(self, device: Any) -> NeuralNetwork:
        """Move every parameter (and layer buffer) to ``device``; returns the network.

        ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or an array module object with NumPy's
        API plus ``asarray`` and ``asnumpy`` (as ``cupy``). Before the network is built this only
        records the device: parameters are always drawn on the CPU from the seed, then moved
        there on the first forward. An optimizer's state follows at its next step; inputs are
        moved by ``forward``/``predict``/``Trainer.fit``.
        """
        resolved = resolve_device(device, owner="NeuralNetwork.to")
        with on_device(resolved):  # uploads go to the current GPU: make it this one
            for layer in self.layers:
                move_arrays(layer, resolved.module)
        self._device = resolved
        return self

    def build(self, input_shape: int | Sequence[int]) -> NeuralNetwork:
        """Create the parameters for inputs of shape (batch, *input_shape) without training."""
        shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) \
            else input_shape
        if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
            raise TypeError(f"NeuralNetwork.build: input_shape must be a positive integer or a "
                            f"tuple of them, got {input_shape!r}")
        shape = tuple(shape)
        for size in shape:
            check_positive("input_shape", size, integer=True, owner="NeuralNetwork.build")
        if not shape:
            raise ValueError("NeuralNetwork.build: input_shape is empty; expected the shape of "
                             "one input row, such as 13 or (1, 28, 28)")
        from ._shapes import check_fits_in_memory

        check_fits_in_memory(self.layers, tuple(int(n) for n in shape), self.dtype,
                             "NeuralNetwork.build")
        self.forward(np.zeros((1, *shape), dtype=self.dtype), inference=True)
        self._release()
        return self

    # ------------------------------------------------------------------ the passes
    def forward(self, x_batch: np.ndarray, inference: bool = False) -> np.ndarray:
        """The prediction for ``x_batch`` (batch, features); keeps what backward needs."""
        with on_device(self._device):  # new arrays on the network's own GPU
            return self._forward(x_batch, inference)

    def _forward(self, x_batch: np.ndarray, inference: bool) -> np.ndarray:
        X = x_batch if is_array(x_batch) else np.asarray(x_batch)
        if X.dtype != self.dtype:
            if X.dtype.kind not in "biuf":
                raise TypeError(f"NeuralNetwork.forward: x_batch must hold real numbers, got "
                                f"dtype {X.dtype}")
            X = X.astype(self._input_dtype(X))
        if X.ndim < 2:
            raise ValueError(f"NeuralNetwork.forward: x_batch must have 2 dimensions (batch, "
                             f"features), got shape {X.shape}")
        first = self.layers[0]
        if is_host(X) and self._device.module is not np \
                and hasattr(first, "check_ids") and not first.ids_checked:
            # integer ids (an Embedding) are checked on the host, before the upload: free
            first.check_ids(X)
            first.ids_checked = True
            try:
                return self._forward_layers(to_module(X, self._device.module), inference)
            finally:
                first.ids_checked = False
        X = to_module(X, self._device.module)  # a host batch goes to the device here
        if not self._inputs_checked:  # the book's API: a NaN would silently spread everywhere
            _check_finite_batch(X, "x_batch", "NeuralNetwork.forward")
        return self._forward_layers(X, inference)

    def _forward_layers(self, X: np.ndarray, inference: bool) -> np.ndarray:
        for layer in self.layers:
            X = layer.forward(X, inference)
        return X

    def _input_dtype(self, X: np.ndarray) -> np.dtype:
        """The dtype inputs are cast to: the network's, except integer ids for a first layer
        that takes them (``integer_input``, as Embedding), which stay integers."""
        dtype = getattr(X, "dtype", None)
        if dtype is not None and dtype.kind in "iufb" \
                and getattr(self.layers[0], "integer_input", False):
            # float ids too (never through float32, which rounds 16,777,217 to 16,777,216): the
            # layer converts whole numbers exactly and refuses the rest, and booleans
            return dtype
        return self.dtype

    def backward(self, loss_grad: np.ndarray) -> np.ndarray | None:
        """Send dL/d(prediction) back through the layers; each stores its parameter gradients.

        Returns dL/dX when ``input_grad_needed`` is set, else None (nobody needs it in training).
        """
        grad = loss_grad
        with on_device(self._device):
            for layer in reversed(self.layers):
                grad = layer.backward(grad)
        return grad

    #: set while the trainer or predict runs batches of data they checked whole, at the door
    _inputs_checked = False

    def train_batch(self, x_batch: np.ndarray, y_batch: np.ndarray,
                    inference: bool = False) -> float:
        """Forward, loss, backward on one batch; returns the loss."""
        prediction = self.forward(x_batch, inference)
        batch_loss = self.loss.forward(prediction, y_batch)
        self.backward(self.loss.backward())
        return batch_loss

    def _train_batch_checked(self, x_batch: np.ndarray, y_batch: np.ndarray,
                             read: bool = True) -> float:
        """``train_batch`` for the trainer, whose targets were checked once, at the door: the
        loss skips its per-batch checks (a loss that overrides ``forward`` still gets it)."""
        if type(self.loss).forward is not Loss.forward:
            return self.train_batch(x_batch, y_batch)
        self._inputs_checked = True
        try:
            prediction = self.forward(x_batch)
        finally:
            self._inputs_checked = False
        y_batch = to_device(y_batch, like=prediction)
        batch_loss = self.loss._forward_checked(prediction, y_batch, read=read)
        self.backward(self.loss.backward())
        return batch_loss

    def forward_loss(self, x_batch: np.ndarray, y_batch: np.ndarray,
                     inference: bool = False) -> float:
        """The loss of the prediction for ``x_batch`` against ``y_batch`` (the book's helper)."""
        return self.loss.forward(self.forward(x_batch, inference), y_batch)

    def predict(self, X: np.ndarray, batch_size: int = 1024, to_host: bool = True) -> np.ndarray:
        """The network's output for every row of X, in batches (memory bounded by the batch).

        Inference mode: dropout is off and no activation is kept once it returns. X may be a
        host or a device array; the output is a NumPy array, or stays on the network's device
        with ``to_host=False``.
        """
        check_positive("batch_size", batch_size, integer=True, owner="NeuralNetwork.predict")
        check_bool("to_host", to_host, "NeuralNetwork.predict")
        # values are checked and cast batch by batch (in _predict_batches), not as a whole: a
        # float64 X of a million rows is never copied to float32 in one piece
        X = as_array(X, "X", ndim=tuple(range(2, 6)), owner="NeuralNetwork.predict",
                     allow_empty=True, finite=False)
        self.check_features(X, "X", "NeuralNetwork.predict")
        if len(X) == 0:
            raise ValueError(f"NeuralNetwork.predict: X is empty (shape {X.shape}); expected at "
                             f"least one row")
        stateful = next((layer for layer in self.layers if getattr(layer, "stateful", False)),
                        None)
        if stateful is not None and len(X) > batch_size:
            raise ValueError(f"NeuralNetwork.predict: {stateful!r} carries each row's state to "
                             f"the same row of the next forward, so X ({len(X)} rows) cannot be "
                             f"cut into batches of {batch_size}; predict it in one batch "
                             f"(batch_size={len(X)}) or in pieces of your own")
        with on_device(self._device):
            output = self._predict_batches(X, batch_size, check=True)
            return host_array(output) if to_host else output

    def _predict_batches(self, X: np.ndarray, batch_size: int, check: bool = False
                         ) -> np.ndarray:
        """Forward in inference mode, batch by batch; ``check``: check and cast each batch."""
        output = None
        self._inputs_checked = True  # (check=False: the caller checked X whole)
        try:
            for start in range(0, len(X), batch_size):
                batch = X[start:start + batch_size]
                if check:
                    batch = self._checked_batch(X, batch)
                batch_output = self.forward(batch, inference=True)
                if output is None:
                    output = empty((len(X), *batch_output.shape[1:]), self.dtype,
                                   like=batch_output)
                output[start:start + len(batch_output)] = batch_output
        finally:
            self._inputs_checked = False
            self._release()
        return output

    def _checked_batch(self, X: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """``batch`` (rows of X) as a finite array of the network's dtype, or predict's error."""
        try:
            return as_array(batch, "X", self._input_dtype(batch), owner="NeuralNetwork.predict")
        except ValueError:
            # the same check on the whole of X, so the message counts and indexes in X itself
            as_array(X, "X", self.dtype, owner="NeuralNetwork.predict", allow_empty=True)
            raise

    def check_features(self, X: np.ndarray, name: str, owner: str) -> None:
        """Raise ValueError when X's rows do not have the shape the network was built for."""
        expected = self.input_shape
        if expected is not None and getattr(self.layers[0], "variable_length", False) \
                and X.ndim == len(expected) + 1 and tuple(X.shape[2:]) == expected[1:]:
            return  # sequences (batch, time, ...) of any length
        if expected is not None and tuple(X.shape[1:]) != expected:
            found = X.shape[1:] if X.ndim > 2 else X.shape[1]
            wanted = expected if len(expected) > 1 else expected[0]
            hint = ""
            if len(expected) > 1 and int(np.prod(X.shape[1:])) == int(np.prod(expected)):
                # the usual mistake with images: no channel axis, or flat rows
                hint = (f"; reshape it to (batch, {', '.join(map(str, expected))}), e.g. "
                        f"{name}.reshape(-1, {', '.join(map(str, expected))})")
            raise ValueError(f"{owner}: {name} has {found} features per row (shape {X.shape}), "
                             f"but the network was built for {wanted}{hint}")

    def _release(self) -> None:
        for layer in self.layers:
            layer._release()

    # ------------------------------------------------------------------ parameters
    def params(self) -> list[np.ndarray]:
        """Every parameter array, layer by layer (the arrays themselves: update them in place)."""
        return [param for layer in self.layers for param in getattr(layer, "params", ())]

    def params_and_buffers(self) -> list[np.ndarray]:
        """Every parameter, then every buffer (the arrays themselves): what a restore of "the
        network as it was" copies back, so batch norm's running statistics come with it."""
        return self.params() + [buffer for _, buffer in self.named_buffers()]

    def param_grads(self) -> list[np.ndarray]:
        """dL/d(param) for each array of ``params()``, in the same order."""
        return [grad for layer in self.layers for grad in getattr(layer, "param_grads", ())]

    def named_params(self) -> list[tuple[str, np.ndarray]]:
        """(``layers.<i>.<name>``, array) for every parameter, in the order of ``params()``."""
        named = []
        for index, layer in enumerate(self.layers):
            if isinstance(layer, Layer):
                names = layer.parameter_names()
                named.extend((f"layers.{index}.{name}", param)
                             for name, param in zip(names, layer.params))
        return named

    def named_buffers(self) -> list[tuple[str, np.ndarray]]:
        """(``layers.<i>.<name>``, array) for every buffer: state that is not trained, such as
        batch norm's ``running_mean``; saved with the parameters, never in ``params()``."""
        named = []
        for index, layer in enumerate(self.layers):
            buffers = getattr(layer, "buffers", None)
            if isinstance(layer, Layer) and buffers:
                named.extend((f"layers.{index}.{name}", buffer)
                             for name, buffer in zip(layer.buffer_names(), buffers))
        return named

    def state_dict(self) -> dict[str, np.ndarray]:
        """A NumPy copy of every parameter and buffer under its dotted name (``layers.0.W``,
        ``layers.1.running_mean``, ...), from any device."""
        return {name: host_array(array, copy=True)
                for name, array in self.named_params() + self.named_buffers()}

    def load_state_dict(self, state_dict: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy the arrays of ``state_dict`` into the parameters, in place, checking every key."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: state_dict must be a mapping of name to array, "
                            f"got {type(state_dict).__name__}")
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"load_state_dict: strict must be True or False, got {strict!r}")
        if not self.built:
            self._build_from_state_dict(state_dict)
            try:
                self.load_state_dict(state_dict, strict)
            except BaseException:
                self.reset_parameters()  # back to unbuilt, as it was: nothing half-loaded
                raise
            return
        own = dict(self.named_params() + self.named_buffers())
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        if strict and (missing or unexpected):
            expected = ", ".join(f"{key} {own[key].shape}" for key in missing)
            raise KeyMismatchError(f"load_state_dict: missing keys {missing} (expected shapes: "
                                   f"{expected or 'none'}), unexpected keys {unexpected}; "
                                   f"expected exactly {list(own)}")
        checked = {}
        for key, param in own.items():
            if key not in state_dict:
                continue
            value = as_array(state_dict[key], f"state_dict[{key!r}]", param.dtype,
                             owner="load_state_dict", allow_empty=True)
            if value.shape != param.shape:
                raise ValueError(f"load_state_dict: {key} has shape {value.shape} in the state "
                                 f"dict, but the network expects shape {param.shape}")
            checked[key] = value
        for key, value in checked.items():
            own[key][...] = to_device(value, like=own[key])

    def _build_from_state_dict(self, state_dict: Mapping[str, np.ndarray]) -> None:
        first = self.layers[0]
        first_weight = state_dict.get("layers.0.W")
        if getattr(first, "first", False) and first_weight is not None \
                and np.ndim(first_weight) == 2:
            self.build(np.shape(first_weight)[0])
        if not self.built:
            raise ValueError("load_state_dict: the network has no parameters yet and their "
                             "shapes cannot be inferred; call net.build(input_shape) first")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write the architecture and parameters to one ``.npz`` file, atomically.

        ``metadata`` (a JSON object; default ``self.metadata``) is saved with them and comes back
        as ``NeuralNetwork.load(path).metadata``.
        """
        from .persistence import save_network

        save_network(self, path, metadata)

    @classmethod
    def load(cls, path: str | os.PathLike, device: Any = None) -> NeuralNetwork:
        """Rebuild a network saved with ``save`` (never unpickles), on ``device`` if given."""
        from .persistence import load_network

        net = load_network(path)
        return net if device is None else net.to(device)

    # ------------------------------------------------------------------ description
    def count_params(self) -> int:
        """The number of scalar parameters."""
        return int(sum(param.size for param in self.params()))

    def _output_shapes(self) -> list[tuple[int, ...]] | None:
        """The shape of one output row of every layer (None before the network is built).

        Found by passing one row of zeros through the layers in inference mode, so it holds
        for any layer, whatever it does to the shape.
        """
        if not self.built or self.input_shape is None:
            return None
        from .backend import zeros

        params = self.params()
        like = params[0] if params else np.empty(0, dtype=self.dtype)
        X = zeros((1, *self.input_shape), self.dtype, like=like)
        shapes = []
        try:
            for layer in self.layers:
                X = layer.forward(X, inference=True)
                shapes.append(tuple(X.shape[1:]))
        finally:
            self._release()
        return shapes

    def summary(self) -> str:
        """A table of the layers: type, activation, output shape and parameter count."""
        rows = [("#", "layer", "output shape", "params")]
        shapes = self._output_shapes()
        for index, layer in enumerate(self.layers):
            output_shape = "?"
            if shapes is not None:  # a sequence layer says "time" where the length may vary
                output_shape = getattr(layer, "summary_shape", None) \
                    or f"(batch, {', '.join(map(str, shapes[index]))})"
            elif not isinstance(layer, Layer):
                output_shape = "(as input)"
            count = sum(p.size for p in getattr(layer, "params", ()))
            rows.append((str(index), repr(layer), output_shape, f"{count:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in rows]
        built = (f"input (batch, {', '.join(map(str, self.input_shape))})"
                 if self.built else "not built yet (parameters appear on the first forward)")
        lines.append(f"loss: {self.loss!r}; dtype: {self.dtype.name}; seed: {self.seed}; {built}; "
                     f"total parameters: {self.count_params():,}")
        if self._device != "cpu":
            lines[-1] += f"; device: {self._device}"
        return "\n".join(lines)

    def __repr__(self) -> str:
        layers = ",\n    ".join(repr(layer) for layer in self.layers)
        return (f"NeuralNetwork(layers=[\n    {layers}],\n  loss={self.loss!r}, seed={self.seed}, "
                f"dtype={self.dtype.name})")


#: layer -> its network (weak both ways: neither is kept alive; a copied or unpickled network
#: registers its own layers, see NeuralNetwork.__setstate__)
_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: loss -> its network, likewise
_LOSS_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_finite_batch(X: Any, name: str, owner: str) -> None:
    """Raise ValueError for a float batch holding NaN or infinity (ids and integers pass)."""
    if getattr(X, "dtype", None) is None or X.dtype.kind != "f" or not X.size:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        # one pass, no copy: 0 * sum is 0 exactly when the sum is finite, which it is when
        # every value is (a sum that overflows is then checked value by value)
        if bool(host_array(X.sum() * 0 == 0)) or bool(host_array(np.isfinite(X).all())):
            return
        bad = host_array(~np.isfinite(X))
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{owner}: {name} holds {host_array(X[index])} at index {index}; "
                         f"expected finite numbers")


def _check_no_double_softmax(layers: Sequence[Operation], loss: Loss) -> None:
    """Refuse a Softmax output before SoftmaxCrossEntropy, which applies softmax itself (the
    network would be trained through two softmaxes and its outputs would not be logits)."""
    from .activations import Softmax
    from .losses import SoftmaxCrossEntropy

    if not isinstance(loss, SoftmaxCrossEntropy):
        return
    last = layers[-1]
    if isinstance(last, Softmax) or isinstance(getattr(last, "activation", None), Softmax):
        raise ValueError(f"NeuralNetwork: the last layer ({last!r}) ends with a Softmax, and "
                         f"SoftmaxCrossEntropy applies the softmax itself: the network would "
                         f"be trained through two. Give the last layer a Linear() activation "
                         f"(its outputs are the logits); softmax them for probabilities")


def _check_loss_not_owned(loss: Loss) -> None:
    """Refuse a loss that another living network uses (it keeps each batch's prediction and
    target for backward: two networks would overwrite each other's)."""
    try:
        owner_ref = _LOSS_OWNERS.get(loss)
    except TypeError:
        return
    owner = owner_ref() if owner_ref is not None else None
    if owner is not None and owner.loss is loss:
        raise ValueError(f"NeuralNetwork: loss {loss!r} already belongs to another network; the "
                         f"loss keeps each batch's prediction and target for backward, so two "
                         f"networks sharing it would mix them up: give each network its own "
                         f"loss, such as {type(loss).__name__}()")


def _check_not_owned(layer: Operation, index: int) -> None:
    """Refuse a layer that already belongs to another network (it would be re-initialised)."""
    try:
        owner_ref = _OWNERS.get(layer)
    except TypeError:  # an unhashable or unreferenceable operation: nothing to check
        return
    owner = owner_ref() if owner_ref is not None else None
    if owner is not None and any(layer is other for other in owner.layers):
        raise ValueError(f"NeuralNetwork: layers[{index}] ({layer!r}) already belongs to another "
                         f"network, whose predictions would change when this one initialises or "
                         f"trains it; a layer belongs to one network: build a new layer (or "
                         f"copy.deepcopy the first network)")
    if isinstance(layer, Layer) and not getattr(layer, "first", True):
        raise ValueError(f"NeuralNetwork: layers[{index}] ({layer!r}) already has parameters "
                         f"(it was built or trained, perhaps in a network it was copied or "
                         f"unpickled with); a new network draws every layer's parameters afresh "
                         f"from its seed, which would silently replace them. Keep using that "
                         f"network (copy.deepcopy(net) or pickle copy it whole, with its "
                         f"weights), or build a new layer")
