"""Saving and loading: one ``.npz`` file of arrays plus a versioned JSON description; no pickle."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._archive import META_KEY, ModelFileError, read_archive
from ._io import atomic_write, check_writable_target
from ._shapes import NetworkTooLargeError, layer_shapes, network_shapes
from .backend import to_host
from .base import Operation, ParamOperation
from .layers import Layer
from .losses import Loss
from .network import NeuralNetwork
from .validation import check_path

FORMAT_VERSION = 1
MODEL_FORMAT = "dlscratch.network"
#: the entries of a model description; "metadata" (a JSON object) is the only optional one
DESCRIPTION_KEYS = ("format", "version", "dtype", "seed", "input_shape", "loss", "layers",
                    "params")
OPTIONAL_KEYS = ("metadata",)
MAX_METADATA_BYTES = 2**20
#: one row's activations may take this much beyond four times the parameters (see load_network):
#: a plausibility bound, since loading runs nothing on the declared shapes
ROW_ALLOWANCE = 256 * 2**20
#: what a layer that cannot tell its shapes may be run on, at most, to learn them
RUN_ALLOWANCE = 32 * 2**20


# ---------------------------------------------------------------------- the file format
def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and the JSON ``meta`` into one ``.npz``, atomically.

    ``path`` must be absent or a regular file (a symbolic link, a FIFO or a device is refused:
    the save would replace the link or the device node itself).
    """
    if META_KEY in arrays:
        raise ValueError(f"write_npz: the array name {META_KEY!r} is reserved")
    payload = {name: to_host(array) for name, array in arrays.items()}  # from any device
    for name, array in payload.items():
        if array.dtype.kind not in "biuf":
            raise TypeError(f"write_npz: array {name!r} has dtype {array.dtype}; only numeric "
                            f"arrays are saved")
    payload[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"),
                                      dtype=np.uint8)
    with atomic_write(check_writable_target(path, "path", "save")) as handle:
        np.savez(handle, **payload)


def read_npz(path: str | os.PathLike, expected_format: str,
             plan: Callable[[dict, int], Mapping[str, tuple[tuple[int, ...], Any]]] | None = None
             ) -> tuple[dict[str, np.ndarray], dict]:
    """Read what ``write_npz`` wrote; refuse pickled objects and anything that is not ours.

    Raises FileNotFoundError for a missing file and ModelFileError (a ValueError) for every
    file that is not a complete, numeric, dlscratch file of ``expected_format`` (a FIFO, a
    device or a folder included, at once). ``plan(meta, declared)`` returns
    ``{name: (shape, dtype)}``, the arrays the description calls for (``declared``: the bytes
    the archive's arrays declare in all, bounded by the file's size): names and declared sizes
    are checked against it
    from the zip directory before any array is read (see ``_archive``).
    """
    path = _check_path(path, "read_npz")
    return read_archive(path, repr(path), expected_format, FORMAT_VERSION, plan)


def _check_path(path: Any, owner: str) -> str:
    return check_path("path", path, owner)


# ---------------------------------------------------------------------- architecture <-> JSON
def _registry() -> dict[str, type]:
    """Every class a saved architecture may name (nothing else is ever instantiated).

    The concrete operations and losses defined in the dlscratch package, found by walking the
    subclasses of Operation and Loss (so layers added in new modules are found too); abstract
    bases and operations that need arrays in their constructor (WeightMultiply, BiasAdd) are
    left out.
    """
    # every class is defined by now: importing the package (which any import of this module
    # does first) imports all its modules
    excluded = {Operation, ParamOperation, Layer, Loss}
    classes: dict[str, type] = {}
    pending = [Operation, Loss]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls in excluded or issubclass(cls, ParamOperation) \
                or not cls.__module__.startswith(__package__ + "."):
            continue
        classes.setdefault(cls.__name__, cls)
    return classes


def describe(obj: Any) -> dict:
    """The JSON description of a layer, operation or loss: its class and constructor arguments."""
    description = {"class": type(obj).__name__, "config": obj.get_config()}
    activation = getattr(obj, "activation", None)
    if activation is not None:
        description["activation"] = describe(activation)
    return description


def _role_base(role: str) -> tuple[type, tuple[type, ...]]:
    """(required base, forbidden bases) of a class in ``role``: layer, activation or loss."""
    if role == "loss":
        return Loss, ()
    if role == "activation":
        return Operation, (Layer,)
    return Operation, ()


def _plain(value: Any) -> bool:
    """A plain JSON number, string, bool or null."""
    return isinstance(value, (int, float, str, bool, type(None)))


def rebuild(description: Any, where: str, role: str = "layer") -> Any:
    """The object a ``describe`` dict stands for; every name, role and argument is checked.

    ``role`` is ``"layer"``, ``"activation"`` or ``"loss"``: a loss cannot stand for a layer,
    nor a layer for an activation. Nothing missing is filled with a default: ``config`` must
    hold every argument ``get_config`` writes, and a class with an activation must name it.
    """
    registry = _registry()
    if not isinstance(description, dict) or not isinstance(description.get("class"), str):
        raise ModelFileError(f"{where}: expected an object with a 'class' name, got "
                             f"{str(description)[:200]}")
    name = description["class"]
    base, forbidden = _role_base(role)
    allowed = sorted(n for n, c in registry.items()
                     if issubclass(c, base) and not issubclass(c, forbidden))
    if name not in allowed:
        raise ModelFileError(f"{where}: unknown {role} class {name[:80]!r}; expected one of "
                             f"{allowed}")
    unknown = set(description) - {"class", "config", "activation"}
    if unknown:
        raise ModelFileError(f"{where}: unexpected entries {sorted(unknown)} in the description "
                             f"of {name}")
    if "config" not in description:
        raise ModelFileError(f"{where}: the entry 'config' of {name} is missing (the arguments "
                             f"it was built with; {{}} when there are none)")
    config = description["config"]
    if not isinstance(config, dict) or not all(_plain(v) for v in config.values()):
        raise ModelFileError(f"{where}: the arguments of {name} must be plain numbers and "
                             f"strings, got {str(config)[:200]}")
    kwargs = dict(config)
    if "activation" in description:
        if "activation" in kwargs:
            raise ModelFileError(f"{where}: activation given twice for {name}")
        kwargs["activation"] = rebuild(description["activation"], f"{where}.activation",
                                       "activation")
    try:
        obj = registry[name](**kwargs)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{where}: cannot rebuild {name}({kwargs}): {error}") from None
    missing = [key for key in obj.get_config() if key not in config]
    if getattr(obj, "activation", None) is not None and "activation" not in description:
        missing.append("activation")
    if missing:
        raise ModelFileError(f"{where}: the description of {name} misses {missing}; a missing "
                             f"entry is an error, never a default (the file was edited or cut)")
    return obj


def network_description(net) -> dict:
    """The versioned JSON description of ``net``: layers, activations, loss, dtype, seed."""
    return {"format": MODEL_FORMAT, "version": FORMAT_VERSION,
            "dtype": net.dtype.name, "seed": net.seed,
            "input_shape": list(net.input_shape) if net.input_shape is not None else None,
            "loss": describe(net.loss), "layers": [describe(layer) for layer in net.layers],
            "params": [name for name, _ in net.named_params()],
            **_metadata_entry(net)}


# ---------------------------------------------------------------------- user metadata
#: The most JSON text a model's ``metadata`` may take (feature names, a scaler, class names).
MAX_METADATA_CHARS = 8 * 2**20


def check_metadata(metadata: Any, where: str, error: type = ValueError) -> dict | None:
    """``metadata`` if it is None or a JSON object (str keys) of at most MAX_METADATA_CHARS."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise (TypeError if error is ValueError else error)(
            f"{where}: metadata must be a dict (a JSON object) or None, got "
            f"{type(metadata).__name__}")
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as problem:
        raise error(f"{where}: metadata must hold only JSON values (dicts with str keys, "
                    f"lists, str, finite numbers, bool, None): {problem}") from None
    if any(not isinstance(key, str) for key in metadata):
        raise error(f"{where}: metadata keys must be strings, got "
                    f"{[key for key in metadata if not isinstance(key, str)][:3]}")
    if len(text) > MAX_METADATA_CHARS:
        raise error(f"{where}: metadata takes {len(text):,} characters as JSON; at most "
                    f"{MAX_METADATA_CHARS:,} are allowed")
    return json.loads(text)


def _metadata_entry(net) -> dict:
    metadata = getattr(net, "metadata", None)
    return {} if metadata is None else {"metadata": metadata}


def check_description_keys(meta: dict, where: str) -> None:
    """Every entry of a model description present, nothing unknown, metadata a small object."""
    missing = [key for key in DESCRIPTION_KEYS if key not in meta]
    unknown = [key for key in meta if key not in DESCRIPTION_KEYS + OPTIONAL_KEYS]
    if missing or unknown:
        raise ModelFileError(f"{where}: the description misses entries {missing} and has "
                             f"unknown entries {unknown[:20]}; expected exactly "
                             f"{list(DESCRIPTION_KEYS)} (and optionally 'metadata')")
    if "metadata" in meta:
        metadata = meta["metadata"]
        if not isinstance(metadata, dict):
            raise ModelFileError(f"{where}: metadata must be a JSON object, got "
                                 f"{type(metadata).__name__}")
        size = len(json.dumps(metadata))
        if size > MAX_METADATA_BYTES:
            raise ModelFileError(f"{where}: metadata takes {size:,} bytes, more than "
                                 f"{MAX_METADATA_BYTES:,}")


def network_from_description(meta: dict, where: str):
    """A new, unbuilt network from ``network_description`` output (no array is created)."""
    layers_meta = meta.get("layers")
    if not isinstance(layers_meta, list) or not layers_meta:
        raise ModelFileError(f"{where}: 'layers' must be a non-empty list")
    if len(layers_meta) > 10_000:
        raise ModelFileError(f"{where}: {len(layers_meta):,} layers; at most 10,000")
    layers = [rebuild(layer, f"{where}: layers[{i}]", "layer")
              for i, layer in enumerate(layers_meta)]
    if "loss" not in meta:
        raise ModelFileError(f"{where}: the entry 'loss' is missing")
    loss = rebuild(meta["loss"], f"{where}: loss", "loss")
    seed = meta.get("seed")
    dtype = meta.get("dtype")
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"{where}: dtype must be 'float32' or 'float64', got {dtype!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ModelFileError(f"{where}: seed must be a non-negative integer or null, got {seed!r}")
    return NeuralNetwork(layers=layers, loss=loss, seed=seed, dtype=dtype)


def _input_shape(meta: dict, where: str) -> tuple[int, ...] | None:
    shape = meta.get("input_shape")
    if shape is None:
        return None
    if not isinstance(shape, list) or not 0 < len(shape) <= 8 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ModelFileError(f"{where}: input_shape must be a list of positive integers, "
                             f"got {str(shape)[:100]}")
    if math.prod(shape) > 2**28:
        raise ModelFileError(f"{where}: input_shape {shape} has {math.prod(shape):,} values per "
                             f"row, more than any network this library builds (2**28)")
    return tuple(shape)


def plan_model(meta: dict, declared: int, where: str):
    """(unbuilt network, input shape, {name: (shape, dtype)}) for a model description.

    The arrays' shapes come from the layers' ``expected_shapes`` (nothing is allocated for a
    layer that has it); one row's activations may take ``ROW_ALLOWANCE`` plus four times the
    bytes the archive declares, so a small file cannot make loading build something large.
    """
    check_description_keys(meta, where)
    net = network_from_description(meta, where)
    input_shape = _input_shape(meta, where)
    params = meta["params"]
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise ModelFileError(f"{where}: params must be a list of names, got {str(params)[:200]}")
    if input_shape is None:
        if params:
            raise ModelFileError(f"{where}: parameters {params[:5]} are listed but there is no "
                                 f"input_shape")
        return net, None, {}
    try:
        shapes, _ = network_shapes(net.layers, input_shape, net.dtype,
                                   row_budget=ROW_ALLOWANCE + 4 * declared,
                                   run_budget=RUN_ALLOWANCE + 4 * declared)
    except (NetworkTooLargeError, ValueError, TypeError, MemoryError) as error:
        raise ModelFileError(f"{where}: the description does not make a network for inputs of "
                             f"shape {input_shape} that this file can hold: {error}") from None
    not_arrays = [name for name in params if name not in shapes]
    absent = [name for name in net_param_names(net, shapes) if name not in params]
    if not_arrays or absent:
        raise ModelFileError(f"{where}: params lists {not_arrays[:10]} that the layers do not "
                             f"have and misses {absent[:10]}")
    return net, input_shape, {name: (shape, net.dtype) for name, shape in shapes.items()}


def net_param_names(net, shapes: Mapping[str, Any]) -> list[str]:
    """The names in ``shapes`` that are parameters of ``net``'s layers, not buffers."""
    names = []
    for name in shapes:
        _, index, local = name.split(".", 2)
        layer = net.layers[int(index)]
        buffers = layer.buffer_names() if hasattr(layer, "buffer_names") else ()
        if local not in buffers:
            names.append(name)
    return names


def build_without_running(net, input_shape: tuple[int, ...]) -> None:
    """Create ``net``'s parameters for rows of ``input_shape`` without running anything.

    Loading uses it instead of ``net.build``: a forward pass, even of one row, would allocate
    what the declared shapes call for (a convolution's columns, a recurrent layer's states over
    every step), so a file of a few kB could ask for gigabytes. Each layer is set up from a
    zero-strided input of the right shape (no memory), and the next shape comes from
    ``expected_shapes``; only the parameters themselves are allocated, and the caller has
    checked them against the arrays the file holds.
    """
    shape = tuple(input_shape)
    for layer in net.layers:
        # a parameterless operation used as a layer (an activation) runs on one row of zeros,
        # as plan_model already did within its row budget
        known = layer_shapes(layer, shape, net.dtype, run=not isinstance(layer, Layer))
        if known is None:  # a layer without expected_shapes: built by one row, as before
            shape = tuple(layer.forward(np.zeros((1, *shape), dtype=net.dtype),
                                        inference=True).shape[1:])
            continue
        if isinstance(layer, Layer):
            batch = (1, *shape)
            input_dtype = np.int64 if getattr(layer, "integer_input", False) else net.dtype
            layer.input_shape = shape
            layer._setup_layer(np.broadcast_to(np.zeros((), dtype=input_dtype), batch))
            layer.first = False
        shape = known[1]
    net._release()


# ---------------------------------------------------------------------- networks
def save_network(net, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``net`` (architecture, parameters, ``metadata`` or ``net.metadata``) atomically.

    Checks first that the file will load: every layer, activation and loss must be a dlscratch
    class that its description rebuilds (a custom layer cannot be saved this way; save its
    ``state_dict()`` instead).
    """
    path = check_writable_target(_check_path(path, "NeuralNetwork.save"), "path",
                                 "NeuralNetwork.save")
    meta = network_description(net)
    if metadata is not None or "metadata" in meta:
        meta["metadata"] = check_metadata(metadata if metadata is not None else meta["metadata"],
                                          "NeuralNetwork.save")
    for index, (layer, description) in enumerate(zip(net.layers, meta["layers"])):
        _check_rebuilds(layer, description, f"layers[{index}]", "layer")
    _check_rebuilds(net.loss, meta["loss"], "loss", "loss")
    # the state dict: every array the layers' expected_shapes name (parameters and buffers)
    write_npz(path, net.state_dict(), meta)


def _check_rebuilds(obj: Any, description: dict, where: str, role: str) -> None:
    try:
        rebuilt = rebuild(json.loads(json.dumps(description)), where, role)
    except (ModelFileError, TypeError, ValueError) as error:
        raise TypeError(f"NeuralNetwork.save: {where} ({type(obj).__name__}) cannot be saved in "
                        f"a model file: {error}. Save net.state_dict() with numpy instead.") \
            from None
    _check_same_classes(obj, rebuilt, where)
    if repr(rebuilt) != repr(obj):
        raise TypeError(f"NeuralNetwork.save: {where} would load as {rebuilt!r}, not {obj!r}: "
                        f"its get_config() misses an argument")


def _check_same_classes(obj: Any, rebuilt: Any, where: str) -> None:
    """Refuse a class that is not dlscratch's own but would load as one (same name)."""
    if type(obj) is not type(rebuilt):
        cls = type(obj)
        raise TypeError(f"NeuralNetwork.save: {where} is {cls.__module__}.{cls.__qualname__}, "
                        f"not dlscratch's own {type(rebuilt).__name__}; a model file names only "
                        f"dlscratch's classes, so it would load as theirs and predict "
                        f"differently. Save net.state_dict() with numpy instead, and rebuild the "
                        f"network in code to load it.")
    activation = getattr(obj, "activation", None)
    if activation is not None:
        _check_same_classes(activation, getattr(rebuilt, "activation", None),
                            f"{where}.activation")


def load_network(path: str | os.PathLike):
    """Rebuild the network saved at ``path``, checking every name, shape and value.

    The description is checked whole and the arrays' names, shapes and dtypes are checked
    against it (from the archive's directory) before any array is read or any parameter is
    created, so a file can never make loading take more memory than the file can hold.
    """
    path = _check_path(path, "NeuralNetwork.load")
    where = repr(path)
    planned = {}

    def plan(meta: dict, declared: int):
        planned["net"], planned["input_shape"], specs = plan_model(meta, declared, where)
        return specs

    arrays, meta = read_npz(path, MODEL_FORMAT, plan)
    net, input_shape = planned["net"], planned["input_shape"]
    net.metadata = check_metadata(meta.get("metadata"), where, ModelFileError)
    if input_shape is not None:
        try:
            build_without_running(net, input_shape)
            net.load_state_dict(arrays, strict=True)
        except (KeyError, ValueError, TypeError, MemoryError) as error:
            raise ModelFileError(f"{where}: {error}") from None
    return net
