"""dlscratch.sklearn: the estimator contract, scikit-learn's tools, the bad-input errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from dlscratch.sklearn import EXPECTED_FAILED_CHECKS, NeuralNetClassifier, NeuralNetRegressor

PARAMETERS = ["hidden_layer_sizes", "activation", "optimizer", "learning_rate", "epochs",
              "batch_size", "early_stopping", "validation_fraction", "weight_init", "dropout",
              "random_state", "verbose"]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4, n_classes=3,
                               class_sep=2.0, random_state=0)
    return X, y


# ---------------------------------------------------------------------- the contract
@pytest.mark.parametrize("estimator", [NeuralNetClassifier(epochs=50, random_state=0),
                                       NeuralNetRegressor(epochs=50, random_state=0)],
                         ids=lambda e: type(e).__name__)
def test_check_estimator_passes(estimator):
    expected = EXPECTED_FAILED_CHECKS[type(estimator).__name__]
    assert len(expected) <= 3 and all(reason for reason in expected.values())
    results = check_estimator(estimator, expected_failed_checks=expected, on_fail=None,
                              on_skip=None)
    failed = [(r["check_name"], repr(r["exception"])[:300]) for r in results
              if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 55


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_constructor_parameters_are_the_issue_s_and_stored_untouched(cls):
    assert sorted(cls().get_params()) == sorted(PARAMETERS)
    estimator = cls(hidden_layer_sizes=[5], learning_rate=-1, activation="nope")
    assert estimator.hidden_layer_sizes == [5] and estimator.learning_rate == -1


def test_grid_search_with_two_jobs_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    search = GridSearchCV(NeuralNetClassifier(hidden_layer_sizes=(32,), epochs=15,
                                              batch_size=64, random_state=0),
                          {"learning_rate": [0.001, 0.01]}, cv=2, n_jobs=2)
    search.fit(X_train, y_train)
    assert search.best_params_["learning_rate"] in (0.001, 0.01)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.score(X_test, y_test) > 0.9


def test_pipeline_and_cross_val_score(digits):
    X_train, _, y_train, _ = digits
    pipeline = make_pipeline(StandardScaler(), NeuralNetClassifier(
        hidden_layer_sizes=(32,), epochs=20, batch_size=64, random_state=0))
    scores = cross_val_score(pipeline, X_train, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_pickle_gives_the_same_predictions_and_clone_an_unfitted_copy(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=30, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    restored.partial_fit(X, y)  # the optimizer's state travels too
    assert restored.n_iter_ == clf.n_iter_ + 1
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "net_")
    with pytest.raises(NotFittedError):
        copy.predict(X)


def test_same_random_state_same_model_and_different_seeds_differ(blobs):
    X, y = blobs
    first = NeuralNetClassifier(epochs=5, random_state=3).fit(X, y).predict_proba(X)
    again = NeuralNetClassifier(epochs=5, random_state=3).fit(X, y).predict_proba(X)
    other = NeuralNetClassifier(epochs=5, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


# ---------------------------------------------------------------------- classification
def test_string_labels_and_probabilities_in_the_order_of_classes(blobs):
    X, y = blobs
    names = np.array(["spam", "ham", "eggs"])[y]
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=60, random_state=0)
    clf.fit(X, names)
    assert list(clf.classes_) == ["eggs", "ham", "spam"]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), atol=1e-12)
    assert clf.score(X, names) > 0.85


def test_integer_labels_that_are_not_0_to_k(blobs):
    X, y = blobs
    labels = np.array([3, 7, 11])[y]
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=60, random_state=0)
    clf.fit(X, labels)
    assert list(clf.classes_) == [3, 7, 11]
    assert set(np.unique(clf.predict(X))) <= {3, 7, 11}
    assert clf.score(X, labels) > 0.85
    assert clf.net_.layers[-1].neurons == 3


def test_the_network_outputs_logits_and_matches_predict_proba(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=10, random_state=0).fit(X, y)
    logits = clf.net_.predict(X.astype(np.float32)).astype(np.float64)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-5, atol=1e-7)


def test_loss_curve_has_one_mean_loss_per_epoch_and_falls(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=40, random_state=0).fit(X, y)
    assert clf.n_iter_ == 40 and len(clf.loss_curve_) == 40
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert clf.validation_loss_curve_ is None


def test_dropout_is_the_fraction_dropped(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(8, 8), dropout=0.25, epochs=2,
                              random_state=0).fit(X, y)
    assert [layer.dropout for layer in clf.net_.layers] == [0.75, 0.75, 1.0]
    none = NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0).fit(X, y)
    assert [layer.dropout for layer in none.net_.layers] == [1.0, 1.0]


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity", "leaky_relu",
                                        "elu", "gelu", "sigmoid", "linear"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_activation_and_optimizer_trains(blobs, activation, optimizer):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), activation=activation,
                              optimizer=optimizer, learning_rate=0.01, epochs=30,
                              batch_size=32, random_state=0).fit(X, y)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(X, y) > 0.6


def test_early_stopping_stops_and_keeps_the_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = rng.integers(0, 2, size=200)  # noise: the validation loss soon rises
    clf = NeuralNetClassifier(hidden_layer_sizes=(64,), learning_rate=0.01, epochs=300,
                              early_stopping=True, random_state=0).fit(X, y)
    assert clf.n_iter_ < 300
    assert len(clf.validation_loss_curve_) == clf.n_iter_
    best = int(np.argmin(clf.validation_loss_curve_))
    assert clf.n_iter_ == best + 1 + 10
    assert clf.best_validation_loss_ == min(clf.validation_loss_curve_)


def test_partial_fit_needs_classes_first_and_continues(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 31 and clf.loss_curve_[-1] < clf.loss_curve_[1]
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X[:3], [0, 1, 5])


# ---------------------------------------------------------------------- regression
def test_multi_output_regression():
    X, Y = make_regression(n_samples=300, n_features=5, n_targets=2, noise=1.0, random_state=0)
    reg = NeuralNetRegressor(hidden_layer_sizes=(32,), epochs=100, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (300, 2)
    assert reg.net_.layers[-1].neurons == 2
    assert reg.score(X, Y) > 0.95


def test_regression_targets_far_from_zero_train_with_the_defaults():
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=1)
    y = 1000 * y + 50_000  # prices: the targets are standardized for training
    reg = NeuralNetRegressor(random_state=0).fit(X, y)
    assert reg.predict(X).shape == (300,)
    assert reg.score(X, y) > 0.95
    column = NeuralNetRegressor(random_state=0).fit(X, y[:, None]).predict(X)
    assert column.shape == (300, 1)
    np.testing.assert_allclose(column.ravel(), reg.predict(X), rtol=1e-12)


# ---------------------------------------------------------------------- sample weights
def test_sample_weight_of_ones_is_no_weight_and_zero_removes_rows(blobs):
    X, y = blobs
    make = lambda: NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=0)  # noqa: E731
    plain = make().fit(X, y).predict_proba(X)
    ones = make().fit(X, y, sample_weight=np.ones(len(X))).predict_proba(X)
    np.testing.assert_array_equal(plain, ones)
    weights = np.r_[np.ones(len(X)), np.zeros(50)]
    padded = make().fit(np.r_[X, X[:50] + 1], np.r_[y, y[:50]], sample_weight=weights)
    np.testing.assert_array_equal(padded.predict_proba(X), plain)


@pytest.mark.parametrize("cls", [NeuralNetClassifier, NeuralNetRegressor])
def test_integer_weights_equal_repeated_rows_to_float32_rounding(cls):
    # the check scikit-learn asks to a relative 1e-7 (see EXPECTED_FAILED_CHECKS): with one
    # batch per epoch both fits take the same steps, apart from float32 rounding
    rng = np.random.default_rng(0)
    X = rng.random((15, 30))
    y = rng.integers(0, 3, size=15)
    weights = rng.integers(1, 5, size=15)
    make = lambda: cls(hidden_layer_sizes=(16,), epochs=10, batch_size=100,  # noqa: E731
                       random_state=0)
    weighted = make().fit(X, y, sample_weight=weights)
    repeated = make().fit(X.repeat(weights, axis=0), y.repeat(weights))
    method = "predict_proba" if cls is NeuralNetClassifier else "predict"
    np.testing.assert_allclose(getattr(weighted, method)(X), getattr(repeated, method)(X),
                               rtol=1e-5)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-5)


def test_sample_weight_changes_the_fit(blobs):
    X, y = blobs
    weights = np.where(y == 0, 10.0, 1.0)
    make = lambda: NeuralNetClassifier(hidden_layer_sizes=(8,), epochs=20, random_state=0)  # noqa: E731
    heavy = make().fit(X, y, sample_weight=weights).predict_proba(X)[:, 0].mean()
    plain = make().fit(X, y).predict_proba(X)[:, 0].mean()
    assert heavy > plain + 0.05


# ---------------------------------------------------------------------- bad input
def test_predict_before_fit_raises_not_fitted_error():
    for estimator in (NeuralNetClassifier(), NeuralNetRegressor()):
        with pytest.raises(NotFittedError):
            estimator.predict(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        NeuralNetClassifier().predict_proba(np.zeros((2, 3)))


def test_bad_data_gives_scikit_learn_s_usual_errors(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but NeuralNetClassifier is "
                                         "expecting 6 features as input"):
        clf.predict(X[:, :5])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict(bad)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        NeuralNetClassifier().fit(bad, y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        NeuralNetClassifier().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        clf.predict(X[0])
    with pytest.raises(ValueError, match="only one class"):
        NeuralNetClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        NeuralNetClassifier().fit(X, np.linspace(0, 1, len(X)))


@pytest.mark.parametrize("params, message", [
    ({"activation": "softplus"}, "unknown activation 'softplus'; expected one of 'relu'"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'; expected one of 'sgd'"),
    ({"learning_rate": -1.0}, "learning_rate must be in"),
    ({"epochs": 0}, "epochs must be in"),
    ({"batch_size": 2.5}, "batch_size must be an integer"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes must be in"),
    ({"hidden_layer_sizes": "10"}, "hidden_layer_sizes must be a tuple"),
    ({"dropout": 1.0}, "dropout must be in"),
    ({"validation_fraction": 0.0}, "validation_fraction must be in"),
    ({"weight_init": "xavier"}, "unknown weight_init 'xavier'"),
])
def test_bad_parameters_are_named_in_fit(blobs, params, message):
    X, y = blobs
    estimator = NeuralNetClassifier(**params)  # stored untouched: no error yet
    with pytest.raises((ValueError, TypeError), match=message):
        estimator.fit(X, y)


def test_feature_names_are_remembered_and_checked(blobs):
    pandas = pytest.importorskip("pandas")  # installed with mlxtend (the test extra)
    X, y = blobs
    frame = pandas.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    clf = NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(frame, y)
    assert list(clf.feature_names_in_) == [f"f{i}" for i in range(6)]
    assert clf.n_features_in_ == 6
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[frame.columns[::-1]])


# ---------------------------------------------------------------------- the benchmark runs
def test_the_digits_benchmark_runs_and_prints_its_targets(tmp_path):
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    records = tmp_path / "records.jsonl"
    done = subprocess.run(
        [sys.executable, os.path.join(root, "benchmarks", "sklearn_digits.py"), "--seeds", "1",
         "--epochs", "2", "--dtypes", "float32", "--json", str(records)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "targets:" in done.stdout and "speed-up" in done.stdout, done.stdout
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert {row["system"] for row in rows} == {"dlscratch", "sklearn"}
    assert all(row["fit_s"] > 0 and 0 <= row["accuracy"] <= 1 for row in rows)


def test_weights_that_leave_one_class_are_refused_on_every_fit(blobs):
    X, y = blobs
    clf = NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="leaves samples of only one class"):
        clf.fit(X, y, sample_weight=(y == 1).astype(float))  # a refit checks it too


def test_ctrl_c_ends_fit_with_the_parameters_so_far(blobs, monkeypatch):
    from dlscratch.optimizers import Adam

    X, y = blobs
    steps = {"count": 0}
    original = Adam.step

    def step(self):
        steps["count"] += 1
        if steps["count"] == 20:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(Adam, "step", step)
    clf = NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=50, batch_size=32, random_state=0)
    with pytest.warns(UserWarning, match="interrupted by the user after 2 epoch"):
        clf.fit(X, y)
    assert clf.n_iter_ == 2 and clf.predict(X).shape == (len(X),)
