"""The array module behind the arrays: NumPy on the CPU, CuPy (or a stand-in) on a device.

NumPy functions dispatch to device arrays on their own (``np.matmul(a, b)`` runs on the GPU
when ``a`` and ``b`` are CuPy arrays), so the math is written once with ``np.`` and works on
both. Only creating arrays and drawing random numbers needs the module by name: that is what
this module is for. Every new array in the hot path is made with ``np.*_like`` or with one of
the helpers below, which follow the array given as ``like``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

# device array type -> its array module (filled by ``register_array_module``)
_DEVICE_MODULES: dict[type, ModuleType] = {}


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
    for array_type, module in _DEVICE_MODULES.items():
        if isinstance(array, array_type):
            return module
    if type(array).__module__.partition(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def is_host(array: Any) -> bool:
    """Whether ``array`` lives in host memory (a NumPy array or scalar)."""
    return array_module(array) is np


def zeros(shape: Any, dtype: Any, like: Any) -> Any:
    """Zeros of ``shape`` and ``dtype`` on the device of ``like``."""
    return array_module(like).zeros(shape, dtype=dtype)


def empty(shape: Any, dtype: Any, like: Any) -> Any:
    """An uninitialised array of ``shape`` and ``dtype`` on the device of ``like``."""
    return array_module(like).empty(shape, dtype=dtype)


def to_host(array: Any) -> np.ndarray:
    """``array`` as a NumPy array (copied from the device when it lives there)."""
    module = array_module(array)
    if module is np:
        return np.asarray(array)
    return module.asnumpy(array)


def to_device(array: Any, like: Any) -> Any:
    """``array`` on the device of ``like`` (unchanged when it is already there)."""
    module = array_module(like)
    if module is np:
        return to_host(array)
    if array_module(array) is module:
        return array
    return module.asarray(np.asarray(array))
