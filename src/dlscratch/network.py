"""NeuralNetwork: layers in order plus a loss; forward, backward and one training step."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._network_parts import (
    NetworkBuilding,
    NetworkDescription,
    NetworkDevice,
    NetworkParameters,
    NetworkPrediction,
)
from .backend import CPU, is_array, is_host, on_device, to_device, to_module
from .backend import to_host as host_array
from .base import Operation
from .layers import Layer
from .losses import Loss

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NeuralNetwork(NetworkBuilding, NetworkDevice, NetworkPrediction, NetworkParameters,
                    NetworkDescription):
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
        layers, dtype = _checked_arguments(layers, loss, seed, dtype)
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

    def _release(self) -> None:
        for layer in self.layers:
            layer._release()

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

    def __repr__(self) -> str:
        layers = ",\n    ".join(repr(layer) for layer in self.layers)
        return (f"NeuralNetwork(layers=[\n    {layers}],\n  loss={self.loss!r}, seed={self.seed}, "
                f"dtype={self.dtype.name})")


#: layer -> its network (weak both ways: neither is kept alive; a copied or unpickled network
#: registers its own layers, see NeuralNetwork.__setstate__)
_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: loss -> its network, likewise
_LOSS_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _checked_arguments(layers: Sequence[Operation], loss: Loss, seed: int | None,
                       dtype: type | np.dtype | str) -> tuple[list[Operation], np.dtype]:
    """(the layers as a list, the dtype) for ``NeuralNetwork``, every argument refused with a
    clear error when it cannot work: layers that are not layers, are repeated or belong to
    another network, a loss that is not one or is shared, a doubled softmax, a bad seed or
    dtype."""
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
    return layers, dtype


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
