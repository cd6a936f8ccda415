"""Checks made once, at the door: each names the argument, what it got and what was expected."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from typing import Any

import numpy as np


def check_same_shape(owner: Any, name: str, array: Any, reference_name: str,
                     reference: Any) -> None:
    """Raise ValueError unless ``array`` has the shape of ``reference`` (a real check)."""
    if reference is None:
        raise RuntimeError(f"{type(owner).__name__}.backward: backward was called before "
                           f"forward (no {reference_name} is stored)")
    shape = getattr(array, "shape", None)
    if shape != reference.shape:
        raise ValueError(f"{type(owner).__name__}.backward: {name} has shape {shape}, but the "
                         f"{reference_name} has shape {reference.shape}; they must be equal")


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = True, high_open: bool = False, integer: bool = False,
                 owner: str = "") -> None:
    """Raise TypeError/ValueError unless ``value`` is a real (or integer) number in the range."""
    prefix = f"{owner}: " if owner else ""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(
            value, numbers.Integral if integer else numbers.Real):
        raise TypeError(f"{prefix}{name} must be {kind}, got {value!r} "
                        f"({type(value).__name__})")
    # integers are always finite (and may be too large for np.isfinite)
    if not isinstance(value, numbers.Integral) and not math.isfinite(float(value)):
        raise ValueError(f"{prefix}{name} must be finite, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        interval = (f"{left}{'-inf' if low is None else low}, "
                    f"{'inf' if high is None else high}{right}")
        raise ValueError(f"{prefix}{name} must be in {interval}, got {value!r}")


def check_bool(name: str, value: Any, owner: str = "") -> bool:
    """``value`` as a bool, or TypeError: only True and False (NumPy's too), never a truthy
    string such as "no" or a number."""
    if not isinstance(value, (bool, np.bool_)):
        prefix = f"{owner}: " if owner else ""
        raise TypeError(f"{prefix}{name} must be True or False, got {value!r} "
                        f"({type(value).__name__})")
    return bool(value)


def check_positive(name: str, value: Any, *, integer: bool = False, owner: str = "") -> None:
    """Raise unless ``value`` > 0."""
    check_number(name, value, low=0, integer=integer, owner=owner)


def check_path(name: str, value: Any, owner: str = "") -> str:
    """``value`` as a str path, or TypeError (not a path) / ValueError (an existing folder)."""
    prefix = f"{owner}: " if owner else ""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{prefix}{name} must be a file path (str or os.PathLike), got "
                        f"{value!r} ({type(value).__name__})")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{prefix}{name} must be a str path, got {value!r}")
    if not path:
        raise ValueError(f"{prefix}{name} is empty; expected a file path")
    if "\0" in path:
        raise ValueError(f"{prefix}{name} {path!r} holds a NUL character; no file has such a "
                         f"name")
    if os.path.isdir(path):
        raise ValueError(f"{prefix}{name} {path!r} is a folder; expected a file path")
    return path


def check_choice(name: str, value: Any, allowed: Iterable[Any], owner: str = "") -> None:
    """Raise ValueError unless ``value`` is one of ``allowed`` (the message lists them)."""
    allowed = list(allowed)
    if value not in allowed:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}unknown {name} {value!r}; expected one of "
                         f"{', '.join(repr(a) for a in allowed)}")


def as_array(data: Any, name: str, dtype: Any = None, *, ndim: int | tuple[int, ...] | None = None,
             owner: str = "", allow_empty: bool = False, finite: bool = True) -> np.ndarray:
    """``data`` as a finite numeric array (cast to ``dtype`` when given), or a clear error.

    Checks, in order: an array at all, real numbers (bool, int, float), the number of
    dimensions, not empty, finite values (when ``finite``), and that the cast to ``dtype``
    does not overflow (1e300 does not fit in float32).
    """
    prefix = f"{owner}: " if owner else ""
    if data is None:
        raise TypeError(f"{prefix}{name} must be an array, got None")
    if isinstance(data, (str, bytes)):
        raise TypeError(f"{prefix}{name} must be a numeric array, got a string")
    try:
        # arrays of another array module (CuPy) stay where they are: NumPy functions dispatch
        array = data if hasattr(data, "__array_function__") and hasattr(data, "dtype") \
            else np.asarray(data)
    except (ValueError, TypeError, OverflowError) as error:
        raise TypeError(f"{prefix}{name} could not be read as an array "
                        f"(ragged rows or mixed types?): {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{prefix}{name} must hold real numbers (bool, int or float), got dtype "
                        f"{array.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if array.ndim not in allowed:
            expected = ", ".join(str(d) for d in allowed[:-1])
            expected = f"{expected} or {allowed[-1]}" if expected else str(allowed[-1])
            raise ValueError(f"{prefix}{name} must have {expected} dimensions, got "
                             f"{array.ndim} (shape {array.shape})")
    if not allow_empty and array.size == 0:
        raise ValueError(f"{prefix}{name} is empty (shape {array.shape}); expected at least one "
                         f"row of data")
    if finite:
        _check_finite(array, name, prefix)
    if dtype is not None and array.dtype != dtype:
        original = array
        with np.errstate(over="ignore", invalid="ignore"):
            array = array.astype(dtype)
        if finite and array.dtype.kind == "f" and original.dtype.kind in "iuf" \
                and not np.isfinite(array).all():
            bad = np.argwhere(~np.isfinite(array))[0]
            value = original[tuple(bad)]
            raise ValueError(f"{prefix}{name} holds {value:.6g} at index "
                             f"{tuple(int(i) for i in bad)}, too large for {np.dtype(dtype).name} "
                             f"(largest {np.finfo(dtype).max:.3g}); rescale the data (standardize "
                             f"it) or use dtype=float64")
    return array


def _check_finite(array: np.ndarray, name: str, prefix: str) -> None:
    """Raise ValueError naming the first NaN or infinity of a float array."""
    if array.dtype.kind != "f":
        return
    if np.isfinite(array.sum(dtype=np.float64)):
        return  # no NaN or infinity: one number to read, no mask as large as the data
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        value = array[tuple(bad)]
        count = int(array.size - np.count_nonzero(finite))
        raise ValueError(f"{prefix}{name} holds {count} non-finite value(s) (first: {value} at "
                         f"index {tuple(int(i) for i in bad)}); expected finite numbers")


class KeyMismatchError(KeyError, ValueError):
    """Missing or unexpected names (in a state dict): both a KeyError and a ValueError."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def check_lengths(owner: str, **arrays: np.ndarray) -> None:
    """Raise ValueError unless every array has the same number of rows."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"{owner}: {' and '.join(lengths)} must have the same number of rows; "
                         f"{described}")
