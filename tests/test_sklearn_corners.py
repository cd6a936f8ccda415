"""Issue 19, the scikit-learn side: divergence leaves the estimator unfitted with a clear error,
targets of any finite scale learn, constant targets come back exactly, strict parameters."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from dlscratch.sklearn import NeuralNetClassifier, NeuralNetRegressor, TrainingDiverged  # noqa: E402


def data(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.05 * rng.normal(size=n)


@pytest.mark.parametrize("make", [
    lambda: NeuralNetRegressor(optimizer="sgd", learning_rate=1e6, epochs=3, random_state=0),
    lambda: NeuralNetClassifier(optimizer="sgd", learning_rate=1e8, epochs=3, random_state=1),
    lambda: NeuralNetRegressor(hidden_layer_sizes=(), optimizer="momentum", learning_rate=1e5,
                               epochs=4, random_state=2),
])
@pytest.mark.parametrize("partial", [False, True])
def test_a_diverging_fit_says_so_and_leaves_the_estimator_unfitted(make, partial):
    X, y = data()
    X = X * 1e6
    estimator = make()
    if isinstance(estimator, NeuralNetClassifier):
        y = (y > 0).astype(int)
    with warnings.catch_warnings(), pytest.raises(TrainingDiverged) as caught:
        warnings.simplefilter("error")  # the error says it all: no NumPy warnings on the way
        if partial:
            kwargs = {"classes": [0, 1]} if isinstance(estimator, NeuralNetClassifier) else {}
            for _ in range(5):
                estimator.partial_fit(X, y, **kwargs)
        else:
            estimator.fit(X, y)
    message = str(caught.value)
    assert "diverged" in message and "learning_rate" in message and "StandardScaler" in message
    assert "load_state_dict" not in message and caught.value.__cause__ is None
    with pytest.raises(NotFittedError):
        estimator.predict(X)
    assert not hasattr(estimator, "net_") and not hasattr(estimator, "n_features_in_")
    # a later fit with sane settings works from scratch
    estimator.set_params(learning_rate=0.01, optimizer="adam")
    estimator.fit(X / 1e6, y)
    assert np.isfinite(estimator.predict(X / 1e6).astype(float)).all()


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-15, 1e-5, 1.0, 1e10, 1e100, 1e200, 1e300])
@pytest.mark.parametrize("offset", [0.0, 30.0])
def test_the_regressor_learns_targets_of_any_finite_scale(scale, offset):
    X, y = data()
    target = (y + offset) * scale
    model = NeuralNetRegressor(hidden_layer_sizes=(32,), epochs=80, random_state=0)
    model.fit(X, target)
    predicted = model.predict(X)
    assert np.isfinite(predicted).all()
    residual = (predicted / scale - target / scale)
    r2 = 1 - (residual ** 2).sum() / ((target / scale - (target / scale).mean()) ** 2).sum()
    assert r2 > 0.95, r2


@pytest.mark.parametrize("std,center", [(3.7e-13, 1.0), (1e-14, 0.0), (5e-10, 1e6)])
def test_a_tiny_but_real_spread_is_learned_not_treated_as_constant(std, center):
    X, y = data()
    target = center + std * y / y.std()
    model = NeuralNetRegressor(hidden_layer_sizes=(32,), epochs=80, random_state=0)
    predicted = model.fit(X, target).predict(X)
    assert np.corrcoef(predicted, target)[0, 1] > 0.95
    assert predicted.std() == pytest.approx(target.std(), rel=0.2)


@pytest.mark.parametrize("value", [7.5, -3.1, 0.0, 1e300, -1e-300, 123456.789])
def test_a_constant_target_is_predicted_exactly(value):
    X, _ = data(50)
    model = NeuralNetRegressor(epochs=3, random_state=0).fit(X, np.full(50, value))
    assert (model.predict(X) == value).all()
    # and after a pickle round trip, for one of two outputs
    Y = np.column_stack([np.full(50, value), X[:, 0]])
    model = pickle.loads(pickle.dumps(NeuralNetRegressor(epochs=3, random_state=0).fit(X, Y)))
    assert (model.predict(X)[:, 0] == value).all()


@pytest.mark.parametrize("value", [2, -1, 0.5, "yes", None, 1.0])
def test_early_stopping_and_verbose_must_be_booleans(value):
    X, y = data(30)
    for name in ("early_stopping", "verbose"):
        with pytest.raises(TypeError, match=name):
            NeuralNetRegressor(epochs=1, **{name: value}).fit(X, y)


@pytest.mark.parametrize("value", [True, False, np.True_, 0, 1])
def test_boolean_spellings_are_accepted(value):
    X, y = data(30)
    NeuralNetRegressor(epochs=1, early_stopping=value, random_state=0).fit(X, y)


@pytest.mark.parametrize("make_y", [
    lambda y: y.astype(str), lambda y: y.astype(str).astype(object),
    lambda y: np.array([str(v).encode() for v in y]), lambda y: y > 0,
    lambda y: np.array([str(v) for v in y]).reshape(-1, 1),
])
def test_the_regressor_refuses_text_or_boolean_targets(make_y):
    X, y = data(30)
    with pytest.raises(ValueError, match="y must hold numbers"):
        NeuralNetRegressor(epochs=1).fit(X, make_y(y))


def test_an_object_array_of_numbers_is_accepted():
    X, y = data(30)
    model = NeuralNetRegressor(epochs=2, random_state=0).fit(X, y.astype(object))
    assert np.isfinite(model.predict(X)).all()


def test_clone_of_an_unfitted_estimator_after_divergence_still_works():
    X, y = data()
    model = NeuralNetRegressor(optimizer="sgd", learning_rate=1e6, epochs=2, random_state=0)
    with pytest.raises(TrainingDiverged):
        model.fit(X * 1e6, y)
    twin = clone(model).set_params(learning_rate=0.001, optimizer="adam")
    assert np.isfinite(twin.fit(X, y).predict(X)).all()


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1.0, 1e150, 1e300])
def test_score_is_the_same_r2_at_any_scale_without_warnings(scale):
    from sklearn.metrics import r2_score

    X, y = data()
    reference = NeuralNetRegressor(hidden_layer_sizes=(16,), epochs=30, random_state=0)
    expected = r2_score(y, reference.fit(X, y).predict(X))
    model = NeuralNetRegressor(hidden_layer_sizes=(16,), epochs=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = model.fit(X, y * scale).score(X, y * scale)
    assert got == pytest.approx(expected, abs=1e-9)
    Y = np.column_stack([y * scale, y])
    assert model.fit(X, Y).score(X, Y) == pytest.approx(
        r2_score(Y / [scale, 1.0], model.predict(X) / [scale, 1.0]), abs=1e-12)
