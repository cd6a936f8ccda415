"""Saving and loading: one ``.npz`` file of arrays plus a versioned JSON description; no pickle."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._io import atomic_write
from .validation import check_path

FORMAT_VERSION = 1
MODEL_FORMAT = "dlscratch.network"
META_KEY = "__meta__"


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be read: corrupt, foreign or unsafe."""


# ---------------------------------------------------------------------- the file format
def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and the JSON ``meta`` into one ``.npz``, atomically."""
    if META_KEY in arrays:
        raise ValueError(f"write_npz: the array name {META_KEY!r} is reserved")
    payload = {name: np.asarray(array) for name, array in arrays.items()}
    for name, array in payload.items():
        if array.dtype.kind not in "biuf":
            raise TypeError(f"write_npz: array {name!r} has dtype {array.dtype}; only numeric "
                            f"arrays are saved")
    payload[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as handle:
        np.savez(handle, **payload)


def read_npz(path: str | os.PathLike, expected_format: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read what ``write_npz`` wrote; refuse pickled objects and anything that is not ours.

    Raises FileNotFoundError for a missing file and ModelFileError (a ValueError) for every
    file that is not a complete, numeric, dlscratch file of ``expected_format``.
    """
    path = _check_path(path, "read_npz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    # np.load would unpickle (or refuse to) anything that is not a zip or .npy file; a
    # dlscratch file is always a zip archive, so nothing else is even handed to NumPy.
    if magic not in _ZIP_MAGICS:
        what = "empty" if not magic else "not a zip archive"
        raise ModelFileError(f"{path!r} is not a dlscratch file ({what}); expected a .npz "
                             f"written by NeuralNetwork.save or Trainer.fit(checkpoint=...)")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if META_KEY not in names:
                raise ModelFileError(f"{path!r} is not a dlscratch file (no {META_KEY} entry)")
            arrays = {name: data[name] for name in names}
    except ModelFileError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise ModelFileError(f"{path!r} holds a pickled object; dlscratch never unpickles "
                                 f"files (it could run arbitrary code), so it was "
                                 f"refused") from None
        raise ModelFileError(f"{path!r} could not be read as a dlscratch file: {error}") from None
    except Exception as error:  # a damaged archive fails in many ways (zlib, zip, EOF, OSError)
        raise ModelFileError(f"{path!r} is corrupt or not a dlscratch file: "
                             f"{type(error).__name__}: {error}") from None
    for name, array in arrays.items():
        # a zip member that is not in .npy format comes back as raw bytes
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            found = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise ModelFileError(f"{path!r}: entry {name!r} is {found}, not a numeric array; "
                                 f"the file is corrupt or not a dlscratch file")
    meta_bytes = arrays.pop(META_KEY)
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        raise ModelFileError(f"{path!r}: the description entry is malformed (dtype "
                             f"{meta_bytes.dtype}, shape {meta_bytes.shape}; expected uint8 bytes)")
    try:
        meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelFileError(f"{path!r}: the description is not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != expected_format:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(f"{path!r} is a {found!r} file; expected {expected_format!r}")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) \
            or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(f"{path!r} has format version {version!r}; this dlscratch reads "
                             f"versions 1 to {FORMAT_VERSION}")
    return arrays, meta


_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


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
    from . import activations, dropout, layers, losses  # noqa: F401  (define the classes)
    from .base import Operation, ParamOperation
    from .layers import Layer
    from .losses import Loss

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
    from .base import Operation
    from .layers import Layer
    from .losses import Loss

    if role == "loss":
        return Loss, ()
    if role == "activation":
        return Operation, (Layer,)
    return Operation, ()


def rebuild(description: Any, where: str, role: str = "layer") -> Any:
    """The object a ``describe`` dict stands for; every name, role and argument is checked.

    ``role`` is ``"layer"``, ``"activation"`` or ``"loss"``: a loss cannot stand for a layer,
    nor a layer for an activation.
    """
    registry = _registry()
    if not isinstance(description, dict) or not isinstance(description.get("class"), str):
        raise ModelFileError(f"{where}: expected an object with a 'class' name, got "
                             f"{description!r}")
    name = description["class"]
    base, forbidden = _role_base(role)
    allowed = sorted(n for n, c in registry.items()
                     if issubclass(c, base) and not issubclass(c, forbidden))
    if name not in allowed:
        raise ModelFileError(f"{where}: unknown {role} class {name!r}; expected one of {allowed}")
    unknown = set(description) - {"class", "config", "activation"}
    if unknown:
        raise ModelFileError(f"{where}: unexpected entries {sorted(unknown)} in the description "
                             f"of {name}")
    config = description.get("config", {})
    if not isinstance(config, dict) or not all(
            isinstance(v, (int, float, str, bool, type(None))) for v in config.values()):
        raise ModelFileError(f"{where}: the arguments of {name} must be plain numbers and "
                             f"strings, got {config!r}")
    kwargs = dict(config)
    if "activation" in description:
        if "activation" in kwargs:
            raise ModelFileError(f"{where}: activation given twice for {name}")
        kwargs["activation"] = rebuild(description["activation"], f"{where}.activation",
                                       "activation")
    try:
        return registry[name](**kwargs)
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{where}: cannot rebuild {name}({kwargs}): {error}") from None


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


def network_from_description(meta: dict, where: str):
    """A new, unbuilt network from ``network_description`` output."""
    from .network import NeuralNetwork

    layers_meta = meta.get("layers")
    if not isinstance(layers_meta, list) or not layers_meta:
        raise ModelFileError(f"{where}: 'layers' must be a non-empty list")
    layers = [rebuild(layer, f"{where}: layers[{i}]", "layer")
              for i, layer in enumerate(layers_meta)]
    loss = rebuild(meta.get("loss"), f"{where}: loss", "loss")
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
    if not isinstance(shape, list) or not shape or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ModelFileError(f"{where}: input_shape must be a list of positive integers, "
                             f"got {shape!r}")
    if math.prod(shape) > 2**28:
        raise ModelFileError(f"{where}: input_shape {shape} has {math.prod(shape):,} values per "
                             f"row, more than any network this library builds (2**28)")
    return tuple(shape)


# ---------------------------------------------------------------------- networks
def save_network(net, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write ``net`` (architecture, parameters, ``metadata`` or ``net.metadata``) atomically.

    Checks first that the file will load: every layer, activation and loss must be a dlscratch
    class that its description rebuilds (a custom layer cannot be saved this way; save its
    ``state_dict()`` instead).
    """
    path = _check_path(path, "NeuralNetwork.save")
    meta = network_description(net)
    if metadata is not None or "metadata" in meta:
        meta["metadata"] = check_metadata(metadata if metadata is not None else meta["metadata"],
                                          "NeuralNetwork.save")
    for index, (layer, description) in enumerate(zip(net.layers, meta["layers"])):
        _check_rebuilds(layer, description, f"layers[{index}]", "layer")
    _check_rebuilds(net.loss, meta["loss"], "loss", "loss")
    write_npz(path, dict(net.named_params()), meta)


def _check_rebuilds(obj: Any, description: dict, where: str, role: str) -> None:
    try:
        rebuilt = rebuild(json.loads(json.dumps(description)), where, role)
    except (ModelFileError, TypeError, ValueError) as error:
        raise TypeError(f"NeuralNetwork.save: {where} ({type(obj).__name__}) cannot be saved in "
                        f"a model file: {error}. Save net.state_dict() with numpy instead.") \
            from None
    if repr(rebuilt) != repr(obj):
        raise TypeError(f"NeuralNetwork.save: {where} would load as {rebuilt!r}, not {obj!r}: "
                        f"its get_config() misses an argument")


def load_network(path: str | os.PathLike):
    """Rebuild the network saved at ``path``, checking every name, shape and value."""
    path = _check_path(path, "NeuralNetwork.load")
    arrays, meta = read_npz(path, MODEL_FORMAT)
    where = repr(path)
    net = network_from_description(meta, where)
    net.metadata = check_metadata(meta.get("metadata"), where, ModelFileError)
    input_shape = _input_shape(meta, where)
    for name, array in arrays.items():
        if array.dtype != net.dtype:
            raise ModelFileError(f"{where}: parameter {name} is {array.dtype}, the network "
                                 f"{net.dtype}")
    if input_shape is not None:
        net.build(input_shape)
        try:
            net.load_state_dict(arrays, strict=True)
        except (KeyError, ValueError, TypeError) as error:
            raise ModelFileError(f"{where}: {error}") from None
    elif arrays:
        raise ModelFileError(f"{where}: parameters are present but no input_shape")
    return net
