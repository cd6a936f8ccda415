"""The parts a ``NeuralNetwork`` (network.py) is made of, one concept each: building its
parameters, the device they live on, prediction in batches, the named parameters and state
dict, and the description (summary). Each part works on the network's ``layers``, ``loss``,
``dtype`` and ``_device``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from ._shapes import check_fits_in_memory
from .backend import Device, empty, move_arrays, on_device, resolve_device, to_device, zeros
from .backend import to_host as host_array
from .layers import Layer
from .validation import KeyMismatchError, as_array, check_bool, check_positive

#: the network a part belongs to (the methods that return it return the network itself)
Network = TypeVar("Network")


class NetworkBuilding:
    """Parameters drawn from the network's seed on the first forward (or by ``build``)."""

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

    def build(self: Network, input_shape: int | Sequence[int]) -> Network:
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

        check_fits_in_memory(self.layers, tuple(int(n) for n in shape), self.dtype,
                             "NeuralNetwork.build")
        self.forward(np.zeros((1, *shape), dtype=self.dtype), inference=True)
        self._release()
        return self


class NetworkDevice:
    """Where the parameters live, and moving them there."""

    @property
    def device(self) -> Device:
        """Where the parameters live (compares equal to ``"cpu"``, ``"cuda"``, ``"cuda:0"``...)."""
        return self._device

    def to(self: Network, device: Any) -> Network:
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


class NetworkPrediction:
    """Inference over many rows, batch by batch, each batch checked and cast."""

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


class NetworkParameters:
    """Parameters, gradients and buffers in one order, by name, and as a state dict."""

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


class NetworkDescription:
    """What the network is: parameter count, output shapes, a summary table."""

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
