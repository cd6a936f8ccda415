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
CuPy allows it, and counted in ``transfers``: the tests bound it per batch. Reductions return
0-d arrays (as CuPy's do), so ``if x.max() > 3:`` is a counted read too. ``uploads`` counts
host-to-device copies (``asarray`` of host data).

Where CuPy computes differently from NumPy, ``StrictArray`` does as CuPy does (the audit of
issue 23, against CuPy's "Differences between CuPy and NumPy" and its source):

- element-wise results are C-ordered whatever their operands' layout (CuPy's ufuncs have no
  ``order='K'``; only ``out=`` and ``*_like``/``astype``/``copy(order='K')`` keep a layout);
- ``ufunc.at`` (an atomic scatter on CuPy) adds in a shuffled order, so a sum that relies on
  it changes in its last bits from run to run;
- an element-wise call whose input overlaps its ``out`` without being the same array object
  makes CuPy copy that input first: counted in ``overlap_copies``.

``ExactArray`` (module ``exact``) is the same wall with NumPy's own semantics (layouts as
NumPy, ``ufunc.at`` in order): results equal NumPy's to the bit whatever the code does with
layouts, for comparisons that must not depend on them.

The module object ``strict`` has NumPy's creation functions (``zeros``, ``empty``, ``arange``,
...), ``asarray``/``asnumpy``, ``ndarray`` and ``random.default_rng``, as ``cupy`` does.
"""

from __future__ import annotations

import collections
import types
from typing import Any

import numpy as np

# NumPy keyword arguments that CuPy's version of the function does not take (its
# __array_function__ would raise TypeError for them)
_CUPY_MISSING_KWARGS = {np.take: {"mode"}}


class _Counters:
    transfers = 0
    uploads = 0
    overlap_copies = 0
    #: copies that change the memory order (``.copy()``/``np.ascontiguousarray`` of an array
    #: that is not C-contiguous): a transposition in device memory
    layout_copies = 0
    #: when a list: the shape of every new device array (not views) is appended to it
    allocations: list | None = None
    #: NumPy functions, ufuncs and methods dispatched to device arrays, by name: on CuPy each
    #: is at least one kernel launch and some microseconds of Python
    calls: collections.Counter = collections.Counter()


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


def _wrap(value: Any, cls: type | None = None) -> Any:
    # CuPy returns 0-d device arrays where NumPy returns scalars (reductions, vdot, ...)
    cls = cls or StrictArray
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, StrictArray):
        return cls(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(item, cls) for item in value)
    if isinstance(value, list):
        return [_wrap(item, cls) for item in value]
    return value


# NumPy functions and ndarray methods that compute element by element (C-ordered on CuPy)
_ELEMENTWISE_FUNCTIONS = {np.clip, np.where, np.round, np.around, np.nan_to_num}
_ELEMENTWISE_METHODS = {"clip", "round"}

# ufunc.at adds in an order drawn afresh each time (not seeded: that is the point)
_AT_ORDER = np.random.default_rng()


def _shuffled_at(ufunc, target: np.ndarray, indices: Any, values: Any = None) -> None:
    """``ufunc.at(target, indices, values)`` applied in a random order of the positions, as
    CuPy's atomic scatter does (the order of the floating-point sums changes)."""
    if isinstance(indices, np.ndarray) and indices.ndim == 1:
        order = _AT_ORDER.permutation(len(indices))
        if isinstance(values, np.ndarray) and values.ndim and len(values) == len(indices):
            values = values[order]
        if values is None:
            ufunc.at(target, indices[order])
        else:
            ufunc.at(target, indices[order], values)
        return
    ufunc.at(target, indices, *(() if values is None else (values,)))


def _count_overlap(inputs: tuple, outs: tuple) -> None:
    """CuPy copies an input that may share memory with an output unless it is that very array
    object (``_copy_in_args_if_needed``): count those copies."""
    for value in inputs:
        if not isinstance(value, StrictArray):
            continue
        for out in outs:
            if isinstance(out, StrictArray) and value is not out \
                    and np.may_share_memory(value._data, out._data):
                counters.overlap_copies += 1
                break


class StrictArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A NumPy array that only NumPy's dispatch can reach (see the module docstring)."""

    __slots__ = ("_data",)
    #: CuPy's behaviour where it differs from NumPy's (C-ordered element-wise results, ufunc.at
    #: in a shuffled order); ``ExactArray`` turns it off
    cupy_semantics = True

    def __init__(self, data: np.ndarray) -> None:
        object.__setattr__(self, "_data", data)
        if counters.allocations is not None and data.base is None:
            counters.allocations.append(data.shape)

    # ---- dispatch
    def __array_function__(self, func, types_, args, kwargs):
        name = getattr(func, "__name__", repr(func))
        _refuse_host(args, f"np.{name}")
        self._check_devices((args, kwargs), f"np.{name}")
        counters.calls[name] += 1
        _refuse_host(kwargs, f"np.{name}")
        unsupported = _CUPY_MISSING_KWARGS.get(func, set()) & set(kwargs)
        if unsupported:
            raise TypeError(f"np.{name} on a device array: CuPy's {name} takes no "
                            f"{', '.join(sorted(unsupported))} argument")
        out = kwargs.get("out")
        if func is np.ascontiguousarray and isinstance(args[0], StrictArray) \
                and not args[0]._data.flags.c_contiguous:
            counters.layout_copies += 1
        result = func(*_unwrap(args), **_unwrap(kwargs))
        if out is not None and isinstance(out, StrictArray) and result is out._data:
            return out
        if out is None and func in _ELEMENTWISE_FUNCTIONS and type(self).cupy_semantics:
            result = np.ascontiguousarray(result)
        return _wrap(result, type(self))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        _refuse_host(inputs, where)
        self._check_devices((inputs, kwargs), where)
        counters.calls[where[3:]] += 1
        _refuse_host(kwargs, where)
        out = kwargs.get("out")
        cls = type(self)
        if method == "__call__" and out is not None:
            _count_overlap(inputs, out if isinstance(out, tuple) else (out,))
        if method == "at" and cls.cupy_semantics:
            _shuffled_at(ufunc, *_unwrap(inputs))
            return None
        if method == "__call__" and out is None and cls.cupy_semantics:
            kwargs["order"] = "C"  # CuPy's element-wise kernels allocate C-ordered outputs
        result = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            if len(outs) == 1:
                return outs[0]
            return outs
        return _wrap(result, cls)

    def _check_devices(self, values: Any, where: str) -> None:
        """Refuse arrays of another device (only ``fake_cupy`` has several)."""

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
        self._check_devices((self, key), "indexing")
        return _wrap(self._data[_unwrap(key)], type(self))

    def __setitem__(self, key, value):
        _refuse_host(key, "indexing")
        self._check_devices((self, key, value), "assignment")
        _refuse_host(value, "assignment")
        self._data[_unwrap(key)] = _unwrap(value)

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        return (_wrap(row, type(self)) for row in self._data)

    def __repr__(self) -> str:
        return f"StrictArray({self._data!r})"

    def __copy__(self):
        return type(self)(self._data.copy())

    def __deepcopy__(self, memo):
        return type(self)(self._data.copy())

    # ---- everything else an ndarray has (shape, dtype, sum, astype, reshape, T, ...)
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # __array_interface__, __array_struct__, __dlpack__, ...
            raise AttributeError(name)
        attribute = getattr(self._data, name)
        if not callable(attribute):
            return _wrap(attribute, type(self)) if isinstance(attribute, np.ndarray) \
                else attribute

        def method(*args, **kwargs):
            if name == "copy" and not self._data.flags.c_contiguous:
                counters.layout_copies += 1
            _refuse_host(args, f".{name}()")
            self._check_devices((self, args, kwargs), f".{name}()")
            counters.calls[f".{name}"] += 1
            _refuse_host(kwargs, f".{name}()")
            out = kwargs.get("out")
            result = attribute(*_unwrap(args), **_unwrap(kwargs))
            if out is not None and isinstance(out, StrictArray):
                return out
            if name in _ELEMENTWISE_METHODS and type(self).cupy_semantics:
                result = np.ascontiguousarray(result)
            return _wrap(result, type(self))

        return method

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "shape":
            self._data.shape = value
            return
        raise AttributeError(f"StrictArray has no settable attribute {name!r}")


# ---------------------------------------------------------------------- the module
class _Generator:
    """``default_rng(seed)`` on the "device": NumPy's generator, results kept behind the wall."""

    def __init__(self, seed: Any, cls: type = StrictArray) -> None:
        self._rng = np.random.default_rng(seed)
        self._cls = cls

    def random(self, size=None, dtype=np.float64):
        return self._cls(np.asarray(self._rng.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64):
        return self._cls(np.asarray(self._rng.standard_normal(size, dtype=dtype)))


def make_module(name: str, cls: type = StrictArray) -> types.ModuleType:
    """An array module whose arrays are ``cls`` (StrictArray or a subclass of it)."""
    module = types.ModuleType(name, "A strict CuPy stand-in (tests only).")

    def asarray(data: Any, dtype: Any = None):
        """Host data (or an array of this module) on the "device"."""
        if isinstance(data, cls):
            return data if dtype is None else data.astype(dtype)
        if isinstance(data, StrictArray):
            raise TypeError("asarray: an array of another device")
        counters.uploads += 1
        return cls(np.array(data, dtype=dtype, copy=True))

    def asnumpy(array: Any) -> np.ndarray:
        """A device array as a host NumPy array (counted as a transfer)."""
        if isinstance(array, StrictArray):
            counters.transfers += 1
            return array._data.copy()
        return np.asarray(array)

    def creator(function):
        def create(*args, **kwargs):
            _refuse_host(args, function.__name__)
            _refuse_host(kwargs, function.__name__)
            return cls(function(*_unwrap(args), **_unwrap(kwargs)))

        create.__name__ = function.__name__
        return create

    module.ndarray = cls
    module.asarray = asarray
    module.array = asarray
    module.asnumpy = asnumpy
    for function in ("zeros", "empty", "ones", "full", "arange", "eye", "zeros_like",
                     "empty_like", "ones_like", "full_like"):
        setattr(module, function, creator(getattr(np, function)))
    for attribute in ("float16", "float32", "float64", "int32", "int64", "uint8", "bool_",
                      "dtype", "newaxis", "pi", "inf", "nan"):
        setattr(module, attribute, getattr(np, attribute))
    module.random = types.SimpleNamespace(default_rng=lambda seed=None: _Generator(seed, cls))
    module.counters = counters
    return module


strict = make_module("strict_array_module")
asarray, asnumpy = strict.asarray, strict.asnumpy


class ExactArray(StrictArray):
    """The arrays of ``exact``: the same wall, NumPy's semantics (layouts, ``ufunc.at`` order)."""

    __slots__ = ()
    cupy_semantics = False


exact = make_module("exact_array_module", ExactArray)


# ---------------------------------------------------------------------- a fake cupy
class FakeCupyArray(StrictArray):
    """The arrays of ``fake_cupy``: strict arrays of a module that calls itself cupy, each on
    the GPU that was current when it was made (``device_id``). As CuPy without peer access, an
    operation refuses arrays that are not on the current GPU."""

    __slots__ = ("device_id",)
    _state: Any = None  # the module's device state (a subclass per fake_cupy module sets it)

    def __init__(self, data: np.ndarray) -> None:
        super().__init__(data)
        object.__setattr__(self, "device_id", self._state.current if self._state else 0)

    def _check_devices(self, values: Any, where: str) -> None:
        current = self._state.current if self._state else 0
        for value in _arrays_in(values):
            if isinstance(value, FakeCupyArray) and value.device_id != current:
                raise ValueError(f"{where}: the device where the array resides "
                                 f"({value.device_id}) is different from the current device "
                                 f"({current}) (fake CuPy, as CuPy without peer access)")


def _arrays_in(value: Any):
    if isinstance(value, StrictArray):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _arrays_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays_in(item)


def fake_cupy(devices: int = 2) -> types.ModuleType:
    """A module named ``cupy`` with the parts of CuPy's API dlscratch uses by name (devices,
    the legacy cuRAND ``RandomState``), for the code paths that only run with CuPy. Its
    ``RandomState.seed`` casts the seed to uint64 with casting="safe", as CuPy does."""
    state = types.SimpleNamespace(current=0, used=[])
    array_type = type("FakeCupyArray", (FakeCupyArray,), {"__slots__": (), "_state": state})
    module = make_module("cupy", array_type)

    class Device:
        """CuPy's ``cupy.cuda.Device``: ``use()`` for good, or a context manager."""

        def __init__(self, index: int) -> None:
            self.index = index
            self._previous: list[int] = []

        def use(self) -> None:
            state.current = self.index
            state.used.append(self.index)

        def __enter__(self) -> Device:
            self._previous.append(state.current)
            self.use()
            return self

        def __exit__(self, *exc: Any) -> None:
            state.current = self._previous.pop()

    class RandomState:
        def __init__(self, seed=None, method=None) -> None:
            self.method = method
            self.seed(seed)

        def seed(self, seed=None) -> None:
            seed = int(np.asarray(seed).astype(np.uint64, casting="safe"))
            self._rng = np.random.default_rng(seed)

        def random_sample(self, size=None, dtype=float):
            return array_type(np.asarray(self._rng.random(size, dtype=dtype)))

        def standard_normal(self, size=None, dtype=float):
            return array_type(np.asarray(self._rng.standard_normal(size, dtype=dtype)))

    curand = types.ModuleType("cupy.cuda.curand")
    curand.CURAND_RNG_PSEUDO_PHILOX4_32_10 = 106
    cuda = types.ModuleType("cupy.cuda")
    cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: devices,
                                         getDevice=lambda: state.current)
    cuda.Device = Device
    cuda.curand = curand
    cuda.get_current_stream = lambda: types.SimpleNamespace(synchronize=lambda: None)
    module.cuda = cuda
    module.random.RandomState = RandomState
    module.state = state
    return module


def install_fake_cupy(monkeypatch, devices: int = 2) -> types.ModuleType:
    """Put ``fake_cupy(devices)`` in ``sys.modules`` as ``cupy`` for one test."""
    import sys

    module = fake_cupy(devices)
    monkeypatch.setitem(sys.modules, "cupy", module)
    monkeypatch.setitem(sys.modules, "cupy.cuda", module.cuda)
    monkeypatch.setitem(sys.modules, "cupy.cuda.curand", module.cuda.curand)
    return module
