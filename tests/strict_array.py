"""A strict stand-in for CuPy: NumPy arrays behind a wall, so that a "device" run proves that no
step silently falls back to NumPy.

``StrictArray`` wraps a NumPy array. NumPy functions and ufuncs given one dispatch to it
(``__array_function__``, ``__array_ufunc__``: unwrap, compute with NumPy, wrap), exactly as they
dispatch to CuPy arrays, so results are NumPy's to the bit. Like CuPy it refuses:

- implicit conversion to NumPy (``np.asarray(x)`` raises TypeError: ``__array__`` raises and
  there is no ``__array_interface__``, buffer or DLPack export);
- host NumPy arrays mixed into its operations (``x + np.ones(3)``, ``np.copyto(x, host)``,
  ``x[host_index]``, ``host[...] = x``): TypeError. Python and NumPy scalars are allowed.

Reading a value on the host (``float(x)``, ``bool(x)``, ``x.item()``, ``asnumpy``) is allowed, as
CuPy allows it, and counted in ``transfers``: the tests bound it per batch. ``uploads`` counts
host-to-device copies (``asarray`` of host data).

The module object ``strict`` has NumPy's creation functions (``zeros``, ``empty``, ``arange``,
...), ``asarray``/``asnumpy``, ``ndarray`` and ``random.default_rng``, as ``cupy`` does.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

# NumPy keyword arguments that CuPy's version of the function does not take (its
# __array_function__ would raise TypeError for them)
_CUPY_MISSING_KWARGS = {np.take: {"mode"}}


class _Counters:
    transfers = 0
    uploads = 0


counters = _Counters()


def _refuse_host(value: Any, where: str) -> None:
    if isinstance(value, np.ndarray):
        raise TypeError(f"strict device array: {where} got a host numpy.ndarray "
                        f"(shape {value.shape}); move it with asarray first (CuPy refuses it)")
    if isinstance(value, (list, tuple)):
        for item in value:
            _refuse_host(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_host(item, where)


def _unwrap(value: Any) -> Any:
    if isinstance(value, StrictArray):
        return value._data
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


def _wrap(value: Any) -> Any:
    # CuPy returns 0-d device arrays where NumPy returns scalars (reductions, vdot, ...)
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, StrictArray):
        return StrictArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(item) for item in value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


class StrictArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A NumPy array that only NumPy's dispatch can reach (see the module docstring)."""

    __slots__ = ("_data",)

    def __init__(self, data: np.ndarray) -> None:
        object.__setattr__(self, "_data", data)

    # ---- dispatch
    def __array_function__(self, func, types_, args, kwargs):
        name = getattr(func, "__name__", repr(func))
        _refuse_host(args, f"np.{name}")
        _refuse_host(kwargs, f"np.{name}")
        unsupported = _CUPY_MISSING_KWARGS.get(func, set()) & set(kwargs)
        if unsupported:
            raise TypeError(f"np.{name} on a device array: CuPy's {name} takes no "
                            f"{', '.join(sorted(unsupported))} argument")
        out = kwargs.get("out")
        result = func(*_unwrap(args), **_unwrap(kwargs))
        if out is not None and isinstance(out, StrictArray) and result is out._data:
            return out
        return _wrap(result)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        _refuse_host(inputs, where)
        _refuse_host(kwargs, where)
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            if len(outs) == 1:
                return outs[0]
            return outs
        return _wrap(result)

    # ---- no implicit conversion, as CuPy
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly (strict stand-in)")

    # ---- explicit reads on the host: allowed and counted
    def get(self) -> np.ndarray:
        counters.transfers += 1
        return self._data.copy()

    def item(self, *args) -> Any:
        counters.transfers += 1
        return self._data.item(*args)

    def tolist(self) -> Any:
        counters.transfers += 1
        return self._data.tolist()

    def __float__(self) -> float:
        counters.transfers += 1
        return float(self._data)

    def __int__(self) -> int:
        counters.transfers += 1
        return int(self._data)

    def __index__(self) -> int:
        counters.transfers += 1
        return self._data.__index__()

    def __bool__(self) -> bool:
        counters.transfers += 1
        return bool(self._data)

    def __format__(self, spec: str) -> str:
        counters.transfers += 1
        return format(self._data.item() if self._data.ndim == 0 else self._data, spec)

    # ---- indexing: no host arrays
    def __getitem__(self, key):
        _refuse_host(key, "indexing")
        return _wrap(self._data[_unwrap(key)])

    def __setitem__(self, key, value):
        _refuse_host(key, "indexing")
        _refuse_host(value, "assignment")
        self._data[_unwrap(key)] = _unwrap(value)

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        return (_wrap(row) for row in self._data)

    def __repr__(self) -> str:
        return f"StrictArray({self._data!r})"

    def __copy__(self):
        return StrictArray(self._data.copy())

    def __deepcopy__(self, memo):
        return StrictArray(self._data.copy())

    # ---- everything else an ndarray has (shape, dtype, sum, astype, reshape, T, ...)
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # __array_interface__, __array_struct__, __dlpack__, ...
            raise AttributeError(name)
        attribute = getattr(self._data, name)
        if not callable(attribute):
            return _wrap(attribute) if isinstance(attribute, np.ndarray) else attribute

        def method(*args, **kwargs):
            _refuse_host(args, f".{name}()")
            _refuse_host(kwargs, f".{name}()")
            out = kwargs.get("out")
            result = attribute(*_unwrap(args), **_unwrap(kwargs))
            if out is not None and isinstance(out, StrictArray):
                return out
            return _wrap(result)

        return method

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "shape":
            self._data.shape = value
            return
        raise AttributeError(f"StrictArray has no settable attribute {name!r}")


# ---------------------------------------------------------------------- the module
def asarray(data: Any, dtype: Any = None) -> StrictArray:
    """Host data (or a StrictArray) on the "device"."""
    if isinstance(data, StrictArray):
        return data if dtype is None else data.astype(dtype)
    counters.uploads += 1
    return StrictArray(np.array(data, dtype=dtype, copy=True))


def asnumpy(array: Any) -> np.ndarray:
    """A device array as a host NumPy array (counted as a transfer)."""
    if isinstance(array, StrictArray):
        counters.transfers += 1
        return array._data.copy()
    return np.asarray(array)


def _creator(function):
    def create(*args, **kwargs):
        _refuse_host(args, function.__name__)
        _refuse_host(kwargs, function.__name__)
        return StrictArray(function(*_unwrap(args), **_unwrap(kwargs)))

    create.__name__ = function.__name__
    return create


class _Generator:
    """``default_rng(seed)`` on the "device": NumPy's generator, results kept behind the wall."""

    def __init__(self, seed: Any) -> None:
        self._rng = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64):
        return StrictArray(np.asarray(self._rng.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64):
        return StrictArray(np.asarray(self._rng.standard_normal(size, dtype=dtype)))

    def uniform(self, low=0.0, high=1.0, size=None):
        return StrictArray(np.asarray(self._rng.uniform(low, high, size)))


strict = types.ModuleType("strict_array_module", "A strict CuPy stand-in (tests only).")
strict.ndarray = StrictArray
strict.asarray = asarray
strict.array = asarray
strict.asnumpy = asnumpy
for _name in ("zeros", "empty", "ones", "full", "arange", "eye", "zeros_like", "empty_like",
              "ones_like", "full_like"):
    setattr(strict, _name, _creator(getattr(np, _name)))
for _name in ("float16", "float32", "float64", "int32", "int64", "uint8", "bool_", "dtype",
              "newaxis", "pi", "inf", "nan"):
    setattr(strict, _name, getattr(np, _name))
strict.random = types.SimpleNamespace(default_rng=_Generator)
strict.counters = counters
