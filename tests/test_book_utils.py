"""dlscratch.utils: the book's lincoln.utils (np_utils and mnist), offline."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import dlscratch.datasets as ds
from dlscratch.utils import mnist, np_utils


def test_to_2d_makes_a_column_or_a_row():
    a = np.arange(3)
    assert np_utils.to_2d(a).shape == (3, 1)
    assert np_utils.to_2d(a, "col").tolist() == [[0], [1], [2]]
    assert np_utils.to_2d(a, type="row").tolist() == [[0, 1, 2]]
    with pytest.raises(AssertionError, match=r"1-dimensional, got shape \(1, 3\)"):
        np_utils.to_2d(a.reshape(1, 3))
    with pytest.raises(ValueError, match="type must be 'col' or 'row', got 'diag'"):
        np_utils.to_2d(a, "diag")


def test_normalize_and_unnormalize_are_the_books():
    p = np.array([[0.2], [0.9]])
    assert np.allclose(np_utils.normalize(p), [[0.2, 0.8], [0.9, 0.1]])
    # the book's unnormalize is a[np.newaxis, 0]: the first row, kept 2-D
    assert np.array_equal(np_utils.unnormalize(np.array([[1, 2], [3, 4]])), [[1, 2]])


def test_permute_data_shuffles_rows_together_with_numpys_global_generator():
    X, y = np.arange(10).reshape(5, 2), np.arange(5)
    np.random.seed(3)
    X1, y1 = np_utils.permute_data(X, y)
    np.random.seed(3)
    X2, y2 = np_utils.permute_data(X, y)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert np.array_equal(X1[:, 0] // 2, y1) and sorted(y1) == list(y)
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        np_utils.permute_data(X, y[:4])


def test_generate_batch_stops_at_the_end():
    X, y = np.arange(14).reshape(7, 2), np.arange(7).reshape(7, 1)
    Xb, yb = np_utils.generate_batch(X, y, start=5, batch_size=10)
    assert Xb.tolist() == [[10, 11], [12, 13]] and yb.tolist() == [[5], [6]]
    with pytest.raises(AssertionError, match="2-dimensional"):
        np_utils.generate_batch(X, y.ravel())


def test_the_books_asserts_are_errors_that_name_both_shapes():
    assert np_utils.assert_same_shape(np.zeros((2, 3)), np.ones((2, 3))) is None
    with pytest.raises(AssertionError, match=r"\(2, 3\).*\(3, 2\)") as caught:
        np_utils.assert_same_shape(np.zeros((2, 3)), np.zeros((3, 2)))
    assert isinstance(caught.value, ValueError)  # either kind of handler catches it
    assert np_utils.assert_dim(np.zeros((2, 3)), 2) is None
    with pytest.raises(ValueError, match="dimension 4, instead has dimension 2"):
        np_utils.assert_dim(np.zeros((2, 3)), 4)


def test_softmax_over_an_axis_or_the_whole_array():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]])
    rows = np_utils.softmax(x, axis=1)
    e = np.exp(x[0] - 3.0)
    assert np.allclose(rows[0], e / e.sum()) and np.allclose(rows[1], 1 / 3)
    whole = np_utils.softmax(np.array([0.0, np.log(3.0)]))
    assert np.allclose(whole, [0.25, 0.75]) and whole.sum() == pytest.approx(1.0)
    assert np_utils.softmax(np.array([1, 1])).dtype == np.float64


# ------------------------------------------------------------------------------ mnist
@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A file:// mirror of 6 train / 3 test images; the cache folder is a temporary one."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([7, 8, 5], dtype=np.uint8),
    }
    for name, array in arrays.items():
        ds.write_idx(mirror / name, array)
    monkeypatch.setattr(ds, "MNIST_FILES", {
        name: hashlib.md5((mirror / name).read_bytes()).hexdigest() for name in arrays})
    monkeypatch.setattr(ds, "MNIST_MIRRORS", (mirror.as_uri() + "/",))
    cache = tmp_path / "cache"
    monkeypatch.setenv("DLSCRATCH_DATA", str(cache))
    return cache, arrays


def test_load_without_the_cache_is_one_line_naming_the_download(tiny_mnist):
    cache, _ = tiny_mnist
    with pytest.raises(FileNotFoundError) as caught:
        mnist.load()
    message = str(caught.value)
    assert "\n" not in message and str(cache) in message
    assert mnist.DOWNLOAD_COMMAND in message and "download_mnist()" in message


def test_download_then_load_gives_the_books_four_arrays(tiny_mnist, capsys):
    cache, arrays = tiny_mnist
    mnist.download_mnist()
    assert "Save complete." in capsys.readouterr().out
    X_train, y_train, X_test, y_test = mnist.load()
    assert X_train.shape == (6, 784) and X_train.dtype == np.uint8
    assert np.array_equal(X_train, arrays["train-images-idx3-ubyte.gz"].reshape(6, 784))
    assert y_train.tolist() == [0, 1, 2, 3, 4, 9] and y_train.dtype == np.int64
    assert X_test.shape == (3, 784) and y_test.tolist() == [7, 8, 5]
    # the book's one-hot loop indexes with the labels: they must be integers
    labels = np.zeros((len(y_test), 10))
    labels[np.arange(3), y_test] = 1
    assert labels.sum() == 3


def test_init_is_download_and_a_damaged_cache_is_refused(tiny_mnist):
    cache, _ = tiny_mnist
    mnist.init()
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    with pytest.raises(FileNotFoundError, match="is damaged in the cache folder") as caught:
        mnist.load()
    assert "\n" not in str(caught.value)
