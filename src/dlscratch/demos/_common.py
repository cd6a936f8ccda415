"""What the demos share: a text table, atomic JSON output, and the BLAS thread count."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .._io import atomic_write, json_ready

#: A function that prints one line of progress (``print``) or swallows it (``quiet``).
Log = Callable[[str], None]


class DatasetUnavailable(RuntimeError):
    """A data set the demo needs is not on this machine (and the demo does not download)."""


class MissingDependency(ImportError):
    """An optional package a demo needs is not installed (said before any work is done)."""


#: import name -> the name pip installs it under
PACKAGES = {"sklearn": "scikit-learn", "mlxtend": "mlxtend", "matplotlib": "matplotlib"}
DEMO_EXTRA = 'pip install "dlscratch[demo]"'


def require(demo: str, modules: Sequence[str]) -> None:
    """Raise MissingDependency naming every missing package of ``modules``, with one hint."""
    import importlib.util

    missing = [PACKAGES.get(name, name) for name in modules
               if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependency(f"dlscratch demo {demo} needs {', '.join(missing)}, not "
                                f"installed here; install the demo extra: {DEMO_EXTRA}")


def check_interrupted(history: Any) -> None:
    """Stop the demo when ``fit`` ended early because of Ctrl-C: it returns its history rather
    than raising, and the demo must not carry on with a half-trained network."""
    if getattr(history, "interrupted", False):
        raise KeyboardInterrupt


def threads_note(threads: int | None) -> tuple[str, bool]:
    """(a line saying how many BLAS threads the demo uses, whether it could set them)."""
    if threads is None:
        return "BLAS threads: the library's default.", True
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return (f"threadpoolctl is not installed, so --threads {threads} has no effect and BLAS "
                f"uses its default threads (float32 results move with the thread count); "
                f"pip install threadpoolctl"), False
    return (f"BLAS threads: {threads} (fixed by --threads; float32 results move with the "
            f"thread count)."), True


def quiet_log(message: str) -> None:
    """A ``Log`` that says nothing."""


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(header)), *(len(row[i]) for row in cells))
              for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [value.ljust(widths[0]) if i == 0 else value.rjust(widths[i])
                 for i, value in enumerate(values)]
        return " | ".join(parts).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line([str(h) for h in headers]), rule, *(line(row) for row in cells)])


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a reader sees the old file or the new one)."""
    text = json.dumps(json_ready(data), indent=2, allow_nan=False) + "\n"
    with atomic_write(path, "wb") as handle:
        handle.write(text.encode("utf-8"))


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit the BLAS library to ``threads`` threads while the block runs (None: leave it).

    The demos multiply small matrices (a batch of 60 by 784 inputs), where extra BLAS threads
    cost more in synchronisation than they win, badly so on a busy machine. One thread also
    fixes the order of every floating-point sum, so a run repeats to the last bit. Needs
    threadpoolctl (installed with scikit-learn); without it the block runs unchanged.
    """
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def environment(threads: int | None, dtype: str) -> dict[str, Any]:
    """Versions and settings that a reader of the JSON needs to repeat a run."""
    from .._version import __version__

    applied = threads_note(threads)[1]
    return {"dlscratch": __version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "blas_threads": threads if applied else None, "dtype": dtype}


def relative_difference(value: float, reference: float) -> float:
    """(value - reference) / reference."""
    return (value - reference) / reference


def within(value: float, reference: float, tolerance: float = 0.10) -> bool:
    """Whether ``value`` lies within ``tolerance`` (relative) of ``reference``, on either side."""
    return abs(relative_difference(value, reference)) <= tolerance


@contextlib.contextmanager
def output_folder(out: str | os.PathLike, first_file: str, demo: str) -> Iterator[None]:
    """Check before any training that ``out`` takes files (creating it); should the demo fail
    or be interrupted, a folder it created is removed again when it is still empty."""
    from .._io import check_folder_writable

    existed = os.path.isdir(out)
    check_folder_writable(os.path.join(out, first_file), "--out", f"dlscratch demo {demo}")
    try:
        yield
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                os.rmdir(out)  # only an empty folder: nothing else is ever removed
        raise
