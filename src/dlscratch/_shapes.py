"""Shapes before arrays: what a network's parameters and activations will take, allocating nothing.

A layer tells its array shapes through one method, ``Layer.expected_shapes(input_shape)``:
``({name: shape, ...}, output_shape)`` for input rows of ``input_shape``, where the names are
those of its ``state_dict`` entries (parameters and buffers, such as ``W``, ``B`` or
``running_mean``). Loading checks a file's arrays against these shapes before building the
network, and ``build`` refuses a network that cannot fit in memory before allocating it.

A layer without the method still works: loading then builds a copy of it to learn its shapes
(the size guard does not cover that layer's own parameters). A parameterless operation used as
a layer (an activation, ``Dropout``) is run on one row of zeros.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence

import numpy as np


class NetworkTooLargeError(MemoryError, ValueError):
    """A network whose parameters or activations cannot fit in this machine's memory."""


def physical_memory() -> int | None:
    """Bytes of memory of this machine (or the process's address-space limit, when one is set
    and smaller), or None where the system does not say."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and soft > 0:
            memory = min(memory, soft)
    except (ImportError, OSError, ValueError):  # not POSIX
        pass
    return memory


def human(nbytes: float) -> str:
    """``nbytes`` as 1.5 GB, 300 MB, 12 kB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def _is_layer(obj) -> bool:
    """True for a ``Layer`` (it names its parameters); this module sits below ``layers`` and so
    knows a layer by its methods, not its class."""
    return callable(getattr(obj, "parameter_names", None))


def layer_shapes(layer, input_shape: tuple[int, ...], dtype: np.dtype, run: bool = True
                 ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]] | None:
    """(array shapes by name, output row shape) of ``layer`` for rows of ``input_shape``.

    Uses ``layer.expected_shapes``; without it, ``run=True`` builds a copy of the layer on one
    row of zeros (allocating), ``run=False`` returns None.
    """
    preserved = _shape_preserving(layer, input_shape)
    if preserved is not None:
        return preserved
    method = getattr(layer, "expected_shapes", None)
    if method is not None:
        try:
            arrays, output = method(tuple(input_shape))
        except NotImplementedError:
            pass
        else:
            return ({str(name): tuple(int(n) for n in shape) for name, shape in arrays.items()},
                    tuple(int(n) for n in output))
    if not run:
        return None
    probe = copy.deepcopy(layer)
    if _is_layer(probe):
        probe.dtype = dtype
        if probe.rng is None:
            probe.rng = np.random.default_rng(0)
    output = probe.forward(np.zeros((1, *input_shape), dtype=dtype), inference=True)
    names = list(probe.parameter_names()) if _is_layer(probe) else []
    arrays = list(getattr(probe, "params", ()))
    if hasattr(probe, "buffer_names"):
        names += list(probe.buffer_names())
        arrays += list(getattr(probe, "buffers", ()))
    return {name: tuple(array.shape) for name, array in zip(names, arrays)}, tuple(output.shape[1:])


def _shape_preserving(layer, input_shape: tuple[int, ...]
                      ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]] | None:
    """({}, input_shape) for dlscratch's element-wise operations used as layers (activations,
    Dropout), which need not run to tell their shape; None for anything else."""
    from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
    from .dropout import Dropout

    if type(layer) not in (ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh, Dropout):
        return None
    if type(layer) is Softmax:
        ndim = len(input_shape) + 1
        if not -ndim < layer.axis < ndim or layer.axis % ndim == 0:
            raise ValueError(f"Softmax.forward: axis={layer.axis} is not an axis of one row of "
                             f"shape {tuple(input_shape)}")
    return {}, tuple(input_shape)


def network_shapes(layers: Sequence, input_shape: tuple[int, ...], dtype: np.dtype,
                   row_budget: int | None = None, run_budget: int | None = None
                   ) -> tuple[dict[str, tuple[int, ...]], int]:
    """(``layers.<i>.<name>`` -> shape for the whole network, bytes of one row's activations).

    ``row_budget``: the most bytes the activations of one row may take (the input and every
    layer's output). ``run_budget``: the most bytes of the row a layer that cannot tell its
    shapes (no ``expected_shapes``) may be run on to learn them.
    """
    itemsize = np.dtype(dtype).itemsize
    shapes: dict[str, tuple[int, ...]] = {}
    shape = tuple(input_shape)
    rows = math.prod(shape) * itemsize
    for index, layer in enumerate(layers):
        if row_budget is not None and rows > row_budget:
            raise NetworkTooLargeError(f"one row's activations up to layers[{index}] take "
                                       f"{human(rows)}, more than allowed ({human(row_budget)})")
        known = layer_shapes(layer, shape, dtype, run=False)
        if known is None:
            size = math.prod(shape) * itemsize
            if run_budget is not None and size > run_budget:
                raise NetworkTooLargeError(f"layers[{index}] ({type(layer).__name__}) tells its "
                                           f"shapes only by running on one row, and that row "
                                           f"takes {human(size)}, more than allowed "
                                           f"({human(run_budget)})")
            known = layer_shapes(layer, shape, dtype)
        arrays, shape = known
        shapes.update((f"layers.{index}.{name}", value) for name, value in arrays.items())
        rows += math.prod(shape) * itemsize
    if row_budget is not None and rows > row_budget:
        raise NetworkTooLargeError(f"one row's activations take {human(rows)}, more than "
                                   f"allowed ({human(row_budget)})")
    return shapes, rows


def check_work_array(owner: str, name: str, shape: tuple[int, ...], dtype: np.dtype,
                     hint: str) -> None:
    """Raise NetworkTooLargeError when a work array (convolution columns, recurrent states) of
    ``shape`` cannot fit in this machine's memory, before NumPy is asked for it."""
    limit = physical_memory()
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if limit is not None and nbytes > limit:
        raise NetworkTooLargeError(f"{owner}: the work array {name} of shape {tuple(shape)} "
                                   f"needs {human(nbytes)}, more than this machine's memory "
                                   f"({human(limit)}); {hint}")


def check_fits_in_memory(layers: Sequence, input_shape: tuple[int, ...], dtype: np.dtype,
                         owner: str) -> None:
    """Raise NetworkTooLargeError when the parameters (those the layers can tell without being
    built) and one row of activations need more bytes than this machine has.

    A parameterless operation without ``expected_shapes`` (an activation, Dropout) is taken to
    keep its input's size; the check stops at the first layer it cannot see through.
    """
    limit = physical_memory()
    if limit is None:
        return
    itemsize = np.dtype(dtype).itemsize
    shape = tuple(input_shape)
    total = math.prod(shape) * itemsize
    largest, biggest, assumed = 0, "", False
    where = "the input row"
    for index, layer in enumerate(layers):
        if total > limit:
            break
        try:
            known = layer_shapes(layer, shape, dtype, run=False)
        except ValueError:
            if assumed:  # the shape was a guess: leave the error to the real forward
                return
            raise
        if known is None:
            if _is_layer(layer):
                return
            known, assumed = ({}, shape), True
        arrays, shape = known
        where = f"up to layers[{index}], {layer!r}"
        for name, array_shape in arrays.items():
            size = math.prod(array_shape) * itemsize
            total += size
            if size > largest:
                largest, biggest = size, f"; layers[{index}].{name} alone has shape {array_shape}"
        total += math.prod(shape) * itemsize
    # parameters are drawn in float64, then cast: the largest draw exists twice for a moment
    total += largest // itemsize * 8
    if total > limit:
        raise NetworkTooLargeError(
            f"{owner}: the network needs {human(total)} for inputs of shape {input_shape} "
            f"({where}){biggest}, more than this machine's memory ({human(limit)}); use fewer "
            f"neurons or smaller inputs")
