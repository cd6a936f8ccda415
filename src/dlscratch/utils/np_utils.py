"""The book's ``lincoln.utils.np_utils``: small NumPy helpers, with the book's semantics.

The book's ``assert`` statements are real exceptions here (``ShapeAssertionError``, an
``AssertionError`` that is also a ``ValueError``), so they still check under ``python -O``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Batch",
    "ShapeAssertionError",
    "assert_dim",
    "assert_same_shape",
    "generate_batch",
    "normalize",
    "permute_data",
    "softmax",
    "to_2d",
    "unnormalize",
]

Batch = tuple[np.ndarray, np.ndarray]


class ShapeAssertionError(AssertionError, ValueError):
    """An array of the wrong shape or dimension (the book's ``assert``, raised as an error)."""


def to_2d(a: np.ndarray, type: str = "col") -> np.ndarray:  # noqa: A002 - the book's name
    """A 1-D array (n,) as a column (n, 1) (``type="col"``) or a row (1, n) (``type="row"``)."""
    a = np.asarray(a)
    if a.ndim != 1:
        raise ShapeAssertionError(f"to_2d: a must be 1-dimensional, got shape {a.shape}")
    if type == "col":
        return a.reshape(-1, 1)
    if type == "row":
        return a.reshape(1, -1)
    raise ValueError(f"to_2d: type must be 'col' or 'row', got {type!r}")


def normalize(a: np.ndarray) -> np.ndarray:
    """[a, 1 - a] side by side: one probability column (n, 1) becomes two classes (n, 2)."""
    a = np.asarray(a)
    return np.concatenate([a, 1 - a], axis=1)


def unnormalize(a: np.ndarray) -> np.ndarray:
    """``a[np.newaxis, 0]``: the first row of ``a``, kept 2-D (the book's definition)."""
    return np.asarray(a)[np.newaxis, 0]


def permute_data(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X and y with their rows shuffled by the same permutation (NumPy's global generator)."""
    if len(X) != len(y):
        raise ShapeAssertionError(f"permute_data: X has {len(X)} rows but y has {len(y)}; "
                                  f"expected the same number")
    perm = np.random.permutation(X.shape[0])
    return X[perm], y[perm]


def generate_batch(X: np.ndarray, y: np.ndarray, start: int = 0, batch_size: int = 10
                   ) -> Batch:
    """Rows ``start`` to ``start + batch_size`` of the 2-D arrays X and y (fewer at the end)."""
    if X.ndim != 2 or y.ndim != 2:
        raise ShapeAssertionError(f"generate_batch: X and y must be 2-dimensional, got shapes "
                                  f"{X.shape} and {y.shape}")
    if start + batch_size > X.shape[0]:
        batch_size = X.shape[0] - start
    return X[start:start + batch_size], y[start:start + batch_size]


def assert_same_shape(output: np.ndarray, output_grad: np.ndarray) -> None:
    """Raise ``ShapeAssertionError`` unless the two arrays have the same shape."""
    first, second = np.shape(output), np.shape(output_grad)
    if first != second:
        raise ShapeAssertionError(f"Two tensors should have the same shape; instead, first "
                                  f"Tensor's shape is {tuple(first)} and second Tensor's shape "
                                  f"is {tuple(second)}.")


def assert_dim(t: np.ndarray, dim: int) -> None:
    """Raise ``ShapeAssertionError`` unless ``t`` has ``dim`` dimensions."""
    if np.ndim(t) != dim:
        raise ShapeAssertionError(f"Tensor expected to have dimension {dim}, instead has "
                                  f"dimension {np.ndim(t)} (shape {np.shape(t)})")


def softmax(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """exp(x - logsumexp(x)) along ``axis`` (over the whole array when ``axis`` is None)."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    shifted = np.exp(x - top)
    return shifted / shifted.sum(axis=axis, keepdims=True)
