"""The array module behind the arrays: NumPy on the CPU, CuPy (or a stand-in) on a device.

NumPy functions dispatch to device arrays on their own (``np.matmul(a, b)`` runs on the GPU
when ``a`` and ``b`` are CuPy arrays), so the math is written once with ``np.`` and works on
both. Only creating arrays and drawing random numbers needs the module by name: that is what
this module is for. Every new array in the hot path is made with ``np.*_like`` or with one of
the helpers below, which follow the array given as ``like``.

A device is ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or an array module object with NumPy's API plus
``asarray`` (host to device) and ``asnumpy`` (device to host), as ``cupy`` has
(``resolve_device``). Parameters are always drawn on the host from the network's seed and then
moved (``move_arrays``), so a seed gives the same initial weights everywhere.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import numpy as np

CUDA_INSTALL_HINT = ('pip install "dlscratch[cuda12]" (CUDA 12 drivers) or '
                     'pip install "dlscratch[cuda13]" (CUDA 13 drivers)')

# device array type -> its array module (filled by ``register_array_module``)
_DEVICE_MODULES: dict[type, ModuleType] = {}


class DeviceUnavailableError(ImportError, RuntimeError):
    """The device asked for cannot be used here (no CuPy, no GPU); the message says why."""


def register_array_module(module: Any) -> type:
    """Remember ``module`` (NumPy's API plus ``asarray``/``asnumpy``) and return its array type."""
    for name in ("asarray", "asnumpy", "zeros", "empty"):
        if not callable(getattr(module, name, None)):
            raise TypeError(f"register_array_module: {module!r} has no {name}(); expected an "
                            f"array module with NumPy's API plus asarray and asnumpy, as cupy")
    array_type = type(module.asarray(np.zeros(1, dtype=np.float32)))
    _DEVICE_MODULES[array_type] = module
    return array_type


def array_module(array: Any) -> ModuleType:
    """The module that made ``array``: ``numpy`` for host arrays, else its device module."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    module = _DEVICE_MODULES.get(type(array))
    if module is not None:
        return module
    for array_type, module in _DEVICE_MODULES.items():
        if isinstance(array, array_type):
            return module
    if type(array).__module__.partition(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def is_array(value: Any) -> bool:
    """Whether ``value`` is an array of NumPy or of a known device module (not a scalar)."""
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, np.generic):
        return False
    if any(isinstance(value, array_type) for array_type in _DEVICE_MODULES):
        return True
    return type(value).__module__.partition(".")[0] == "cupy" and hasattr(value, "shape")


def is_host(array: Any) -> bool:
    """Whether ``array`` lives in host memory (a NumPy array or scalar)."""
    return array_module(array) is np


def _module_of(like: Any) -> Any:
    """The array module named by ``like``: an array, an array module or a ``Device``."""
    if isinstance(like, Device):
        return like.module
    if isinstance(like, ModuleType) and like is np:
        return np
    if not is_array(like) and callable(getattr(like, "asnumpy", None)):
        return like
    return array_module(like)


# ---------------------------------------------------------------------- creation
def zeros(shape: Any, dtype: Any, like: Any) -> Any:
    """Zeros of ``shape`` and ``dtype`` on the device of ``like``."""
    return _module_of(like).zeros(shape, dtype=dtype)


def empty(shape: Any, dtype: Any, like: Any) -> Any:
    """An uninitialised array of ``shape`` and ``dtype`` on the device of ``like``."""
    return _module_of(like).empty(shape, dtype=dtype)


def arange(n: int, like: Any, dtype: Any = np.int64) -> Any:
    """0, 1, ..., n - 1 on the device of ``like``."""
    return _module_of(like).arange(n, dtype=dtype)


def one_hot(labels: Any, classes: int, dtype: Any = np.float32, like: Any = None) -> Any:
    """Rows (len(labels), classes) with a 1 at each label, on the device of ``like`` (or of
    ``labels``)."""
    module = _module_of(labels if like is None else like)
    labels = to_module(labels, module)
    out = module.zeros((len(labels), classes), dtype=dtype)
    out[module.arange(len(labels)), labels] = 1
    return out


# ---------------------------------------------------------------------- random numbers
class DeviceGenerator:
    """A random generator that draws on a device, re-seeded from the host when asked.

    The host decides the seed (``seed(n)``): a device run then repeats exactly and a
    checkpoint needs no device generator state. CuPy: a cuRAND Philox generator (seeding is
    free, no state to initialise); another module: its ``random.default_rng(seed)``.
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self._state: Any = None
        self._is_cupy = getattr(module, "__name__", "") == "cupy"

    def seed(self, seed: int) -> None:
        """Restart the stream from ``seed`` (a non-negative integer below 2**63)."""
        seed = int(seed)
        if self._is_cupy:
            # as a uint64: CuPy casts the seed to uint64 with casting="safe"
            if self._state is None:
                from cupy.cuda import curand

                self._state = self.module.random.RandomState(
                    np.uint64(seed), method=curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
            else:
                self._state.seed(np.uint64(seed))
        elif self.module is np:
            self._state = np.random.default_rng(seed)
        else:
            self._state = self.module.random.default_rng(seed)

    def random(self, shape: Any, dtype: Any = np.float32) -> Any:
        """Uniform numbers in [0, 1) of ``shape`` and ``dtype`` on the device."""
        if self._state is None:
            raise RuntimeError("DeviceGenerator.random: call seed() first")
        if self._is_cupy:
            return self._state.random_sample(shape, dtype=dtype)
        return self._state.random(shape, dtype=dtype)

    def standard_normal(self, shape: Any, dtype: Any = np.float32) -> Any:
        """N(0, 1) numbers of ``shape`` and ``dtype`` on the device."""
        if self._state is None:
            raise RuntimeError("DeviceGenerator.standard_normal: call seed() first")
        return self._state.standard_normal(shape, dtype=dtype)  # CuPy's RandomState has it too


def random_uniform(generator: Any, shape: Any, dtype: Any = np.float32, like: Any = None) -> Any:
    """U[0, 1) of ``shape``: drawn by ``generator`` (a host ``numpy.random.Generator``, then moved
    to the device of ``like``, or a ``DeviceGenerator``, drawing where it lives)."""
    if isinstance(generator, DeviceGenerator):
        return generator.random(shape, dtype)
    values = generator.random(shape, dtype=np.dtype(dtype))
    return values if like is None else to_device(values, like)


def random_normal(generator: Any, shape: Any, dtype: Any = np.float32, like: Any = None) -> Any:
    """N(0, 1) of ``shape`` from ``generator`` (see ``random_uniform`` for where it is drawn).

    A host generator draws in float64 and rounds to ``dtype`` (so float32 and float64 networks
    start from the same numbers, as parameter initialisation needs).
    """
    if isinstance(generator, DeviceGenerator):
        return generator.standard_normal(shape, dtype)
    values = generator.standard_normal(shape).astype(dtype, copy=False)
    return values if like is None else to_device(values, like)


def random_bernoulli(generator: Any, p: float, shape: Any, dtype: Any = np.float32,
                     like: Any = None) -> Any:
    """1 with probability ``p``, else 0, as ``dtype`` (a float32 uniform compared with ``p``)."""
    return (random_uniform(generator, shape, np.float32, like) < p).astype(dtype)


# ---------------------------------------------------------------------- host transfer
def to_host(array: Any, copy: bool = False) -> np.ndarray:
    """``array`` as a NumPy array (copied from the device when it lives there; ``copy`` copies
    a host array too)."""
    module = array_module(array)
    if module is np:
        return np.array(array, copy=True) if copy else np.asarray(array)
    return module.asnumpy(array)


def to_module(array: Any, module: Any) -> Any:
    """``array`` on the device of array module ``module`` (unchanged when it is already there)."""
    if module is np:
        return to_host(array)
    if array_module(array) is module:
        return array
    return module.asarray(to_host(array))


def to_device(array: Any, like: Any) -> Any:
    """``array`` on the device of ``like`` (an array, an array module or a ``Device``;
    unchanged when it is already there)."""
    return to_module(array, _module_of(like))


# ---------------------------------------------------------------------- devices
class Device(str):
    """Where a network's arrays live: ``"cpu"`` (NumPy), ``"cuda:N"`` (CuPy) or another array
    module. A string (its name), with the array ``module`` and the GPU ``index``; compares equal
    to its name (``"cuda"`` matches any ``"cuda:N"``) and to its module.
    """

    module: Any
    index: int | None

    def __new__(cls, name: str, module: Any, index: int | None = None) -> Device:
        device = super().__new__(cls, name)
        device.module = module
        device.index = index
        return device

    def __copy__(self) -> Device:
        return self  # immutable, and it holds a module, which cannot be copied

    def __deepcopy__(self, memo: dict) -> Device:
        return self

    def __reduce__(self) -> tuple:
        # pickled by name ("cpu", "cuda:N"), resolved again on load; a module object has none
        if self.type not in ("cpu", "cuda"):
            raise TypeError(f"a network on the array module {self.name!r} cannot be pickled; "
                            f"move it with net.to('cpu') first")
        return resolve_device, (self.name,)

    @property
    def name(self) -> str:
        """``"cpu"``, ``"cuda:N"`` or the name of the array module."""
        return str.__str__(self)

    @property
    def type(self) -> str:
        """``"cpu"``, ``"cuda"`` or the name of the array module."""
        return self.name.partition(":")[0]

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Device):
            return self.module is other.module and self.index == other.index
        if isinstance(other, str):
            other = other.strip().lower()
            return other == self.name or (other == self.type and self.type in ("cpu", "cuda"))
        return other is self.module

    def __ne__(self, other: Any) -> bool:
        return not self == other

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"Device({self.name!r})"


CPU = Device("cpu", np)

_CUDA_NAME = re.compile(r"cuda(?::(\d+))?")


def _import_cupy(device: str) -> Any:
    try:
        import cupy
    except ImportError:
        raise DeviceUnavailableError(f"device {device!r} needs CuPy, which is not installed: "
                                     f"{CUDA_INSTALL_HINT}") from None
    return cupy


def resolve_device(device: Any, owner: str = "to") -> Device:
    """The ``Device`` that ``device`` names: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, a ``Device``,
    ``numpy`` or an array module object (NumPy's API plus ``asarray`` and ``asnumpy``)."""
    if isinstance(device, Device):
        return device
    if device is None or device is np:
        return CPU
    if isinstance(device, str):
        name = device.strip().lower()
        if name == "cpu":
            return CPU
        match = _CUDA_NAME.fullmatch(name)
        if match is None:
            raise ValueError(f"{owner}: unknown device {device!r}; expected 'cpu', 'cuda', "
                             f"'cuda:N' or an array module such as cupy")
        cupy = _import_cupy(device)
        try:
            count = cupy.cuda.runtime.getDeviceCount()
            index = cupy.cuda.runtime.getDevice() if match.group(1) is None \
                else int(match.group(1))
        except Exception as error:  # CUDARuntimeError: no driver, no GPU
            raise DeviceUnavailableError(f"{owner}: device {device!r} is not available: "
                                         f"CuPy found no usable GPU ({error})") from None
        if not 0 <= index < count:
            raise ValueError(f"{owner}: device {device!r} does not exist; this machine has "
                             f"{count} GPU(s): cuda:0 to cuda:{count - 1}")
        register_array_module(cupy)
        return Device(f"cuda:{index}", cupy, index)
    if isinstance(device, (bytes, int, float)) or not callable(getattr(device, "asarray", None)) \
            or not callable(getattr(device, "asnumpy", None)):
        raise TypeError(f"{owner}: device must be 'cpu', 'cuda', 'cuda:N' or an array module "
                        f"with asarray and asnumpy (such as cupy), got {device!r}")
    register_array_module(device)
    if getattr(device, "__name__", "") == "cupy":
        return resolve_device("cuda", owner)
    return Device(str(getattr(device, "__name__", type(device).__name__)), device)


def activate(device: Device) -> None:
    """Make ``device`` the current one (for ``"cuda:N"``: CuPy allocates and runs there)."""
    if device.type == "cuda" and device.index is not None:
        device.module.cuda.Device(device.index).use()


# ---------------------------------------------------------------------- moving objects
def _walkable(value: Any) -> bool:
    from .base import Operation

    if isinstance(value, Operation):
        return True
    return hasattr(value, "__dict__") and not isinstance(value, type) \
        and type(value).__module__.startswith("dlscratch.")


def move_arrays(root: Any, module: Any) -> None:
    """Replace every array held by ``root`` (a layer or operation) and by the operations inside
    it with a copy on the device of ``module``, in place.

    The same array reached twice (a layer's ``params`` and its ``WeightMultiply.param``) becomes
    the same new array, so the operations and the layer keep sharing it; lists and dicts are
    updated in place, so whoever holds them (``layer.params``, ``layer.buffers``) sees the moved
    arrays.
    """
    moved: dict[int, tuple[Any, Any]] = {}  # id(old) -> (old, new); old kept alive for its id
    seen: set[int] = set()

    def convert(value: Any) -> Any:
        if is_array(value):
            if array_module(value) is module:
                return value
            entry = moved.get(id(value))
            if entry is None:
                entry = moved[id(value)] = (value, to_module(value, module))
            return entry[1]
        if isinstance(value, list):
            for index, item in enumerate(value):
                value[index] = convert(item)
            return value
        if isinstance(value, dict):
            for key in list(value):
                value[key] = convert(value[key])
            return value
        if isinstance(value, tuple):
            items = [convert(item) for item in value]
            if all(new is old for new, old in zip(items, value)):
                return value
            return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
        if _walkable(value):
            walk(value)
        return value

    def walk(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        attributes = vars(obj)
        for name in list(attributes):
            value = attributes[name]
            new = convert(value)
            if new is not value:
                attributes[name] = new

    walk(root)


__all__ = ["CPU", "CUDA_INSTALL_HINT", "Device", "DeviceGenerator", "DeviceUnavailableError",
           "activate", "arange", "array_module", "empty", "is_array", "is_host", "move_arrays",
           "one_hot", "random_bernoulli", "random_normal", "random_uniform",
           "register_array_module", "resolve_device", "to_device", "to_host", "to_module",
           "zeros"]
