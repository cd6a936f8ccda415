"""Saving and loading: one ``.npz`` file of arrays plus a versioned JSON description; no pickle."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._io import atomic_write

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
    """Read what ``write_npz`` wrote; refuse pickled objects and anything that is not ours."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if META_KEY not in names:
                raise ModelFileError(f"{path!r} is not a dlscratch file (no {META_KEY} entry)")
            arrays = {name: data[name] for name in names if name != META_KEY}
            meta_bytes = data[META_KEY]
    except ModelFileError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise ModelFileError(f"{path!r} holds a pickled object; dlscratch never unpickles "
                                 f"files (it could run arbitrary code), so it was refused") from None
        raise ModelFileError(f"{path!r} could not be read as a dlscratch file: {error}") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as error:
        raise ModelFileError(f"{path!r} is corrupt or not a dlscratch file: {error}") from None
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        raise ModelFileError(f"{path!r}: the description entry is malformed")
    try:
        meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path!r}: the description is not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != expected_format:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(f"{path!r} is a {found!r} file; expected {expected_format!r}")
    version = meta.get("version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(f"{path!r} has format version {version!r}; this dlscratch reads "
                             f"versions 1 to {FORMAT_VERSION}")
    return arrays, meta


# ---------------------------------------------------------------------- architecture <-> JSON
def _registry() -> dict[str, type]:
    """Every class a saved architecture may name (nothing else is ever instantiated)."""
    from . import activations, dropout, layers, losses
    from .base import Operation
    from .losses import Loss

    classes: dict[str, type] = {}
    for module in (activations, dropout, layers, losses):
        for name in dir(module):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, (Operation, Loss)) \
                    and value.__module__ == module.__name__:
                classes[name] = value
    return classes


def describe(obj: Any) -> dict:
    """The JSON description of a layer, operation or loss: its class and constructor arguments."""
    description = {"class": type(obj).__name__, "config": obj.get_config()}
    activation = getattr(obj, "activation", None)
    if activation is not None:
        description["activation"] = describe(activation)
    return description


def rebuild(description: Any, where: str) -> Any:
    """The object a ``describe`` dict stands for; every name and argument is checked."""
    registry = _registry()
    if not isinstance(description, dict) or not isinstance(description.get("class"), str):
        raise ModelFileError(f"{where}: expected an object with a 'class' name, got "
                             f"{description!r}")
    name = description["class"]
    if name not in registry:
        raise ModelFileError(f"{where}: unknown class {name!r}; known: {sorted(registry)}")
    config = description.get("config", {})
    if not isinstance(config, dict) or not all(
            isinstance(v, (int, float, str, bool, type(None))) for v in config.values()):
        raise ModelFileError(f"{where}: the arguments of {name} must be plain numbers and "
                             f"strings, got {config!r}")
    kwargs = dict(config)
    if "activation" in description:
        kwargs["activation"] = rebuild(description["activation"], f"{where}.activation")
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
            "params": [name for name, _ in net.named_params()]}


def network_from_description(meta: dict, where: str):
    """A new, unbuilt network from ``network_description`` output."""
    from .network import NeuralNetwork

    layers_meta = meta.get("layers")
    if not isinstance(layers_meta, list) or not layers_meta:
        raise ModelFileError(f"{where}: 'layers' must be a non-empty list")
    layers = [rebuild(layer, f"{where}: layers[{i}]") for i, layer in enumerate(layers_meta)]
    loss = rebuild(meta.get("loss"), f"{where}: loss")
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
    return tuple(shape)


# ---------------------------------------------------------------------- networks
def save_network(net, path: str | os.PathLike) -> None:
    """Write ``net`` (architecture and parameters) to ``path`` atomically."""
    write_npz(path, dict(net.named_params()), network_description(net))


def load_network(path: str | os.PathLike):
    """Rebuild the network saved at ``path``, checking every name, shape and value."""
    arrays, meta = read_npz(path, MODEL_FORMAT)
    where = repr(os.fspath(path))
    net = network_from_description(meta, where)
    input_shape = _input_shape(meta, where)
    if input_shape is not None:
        net.build(input_shape)
        try:
            net.load_state_dict(arrays, strict=True)
        except (KeyError, ValueError, TypeError) as error:
            raise ModelFileError(f"{where}: {error}") from None
    elif arrays:
        raise ModelFileError(f"{where}: parameters are present but no input_shape")
    return net
