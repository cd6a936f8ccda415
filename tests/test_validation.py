"""Errors at the door: every public entry point names the argument, what it got and what it wanted.

Each test asserts the exception type and that the message carries the argument's name and the
offending value, and that the error is raised by dlscratch itself (not from inside NumPy).
"""

from __future__ import annotations

import re
import traceback

import numpy as np
import pytest

from dlscratch import (
    SGD,
    BinaryCrossEntropy,
    Dense,
    Dropout,
    EarlyStopping,
    Huber,
    LeakyReLU,
    Linear,
    MeanSquaredError,
    ModelCheckpoint,
    NeuralNetwork,
    ReLU,
    SGDMomentum,
    SoftmaxCrossEntropy,
    Trainer,
)
from dlscratch.validation import as_array, check_number

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 3))
Y = X.sum(axis=1)


def regression_net(**kwargs) -> NeuralNetwork:
    return NeuralNetwork([Dense(4, ReLU()), Dense(1, Linear())], MeanSquaredError(), seed=3,
                         **kwargs)


def classifier(classes: int = 3) -> NeuralNetwork:
    return NeuralNetwork([Dense(classes, Linear())], SoftmaxCrossEntropy(), seed=3)


def fit(net=None, X_train=X, y_train=Y, **kwargs):
    kwargs.setdefault("verbose", False)
    kwargs.setdefault("epochs", 1)
    return Trainer(net or regression_net(), SGD(lr=0.01)).fit(X_train, y_train, **kwargs)


def raises(error: type[Exception], *fragments: str, call):
    """Run ``call``; assert it raises ``error`` from dlscratch code with every fragment in it."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    last_frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert "/dlscratch/" in last_frame.filename.replace("\\", "/"), last_frame
    return message


# ---------------------------------------------------------------------- constructors
@pytest.mark.parametrize("neurons, error, got", [
    (0, ValueError, "got 0"), (-3, ValueError, "got -3"), (2.5, TypeError, "got 2.5"),
    ("4", TypeError, "got '4'"), (True, TypeError, "got True"), (None, TypeError, "got None"),
])
def test_dense_neurons_must_be_a_positive_integer(neurons, error, got):
    raises(error, "Dense", "neurons", got, call=lambda: Dense(neurons))


def test_dense_unknown_weight_init_lists_the_allowed_ones():
    raises(ValueError, "weight_init", "'xavier'", "'standard'", "'glorot'", "'he'",
           call=lambda: Dense(3, weight_init="xavier"))


@pytest.mark.parametrize("dropout, error", [(0, ValueError), (1.5, ValueError), (-0.1, ValueError),
                                            (float("nan"), ValueError), ("0.5", TypeError)])
def test_dense_dropout_must_be_in_zero_one(dropout, error):
    message = raises(error, "Dense", "dropout", call=lambda: Dense(3, dropout=dropout))
    if error is ValueError and dropout == dropout:
        assert repr(dropout) in message and "(0, 1]" in message


def test_dropout_keep_prob_must_be_in_zero_one():
    raises(ValueError, "keep_prob", "(0, 1]", "got 0", call=lambda: Dropout(0))


def test_dense_activation_must_be_an_operation():
    raises(TypeError, "activation", "'relu'", call=lambda: Dense(3, activation="relu"))


@pytest.mark.parametrize("lr, error, got", [
    (0, ValueError, "got 0"), (-1, ValueError, "got -1"), (float("inf"), ValueError, "got inf"),
    ("0.1", TypeError, "got '0.1'"), (None, TypeError, "got None"),
])
@pytest.mark.parametrize("optimizer", [SGD, SGDMomentum])
def test_optimizer_lr_must_be_positive(optimizer, lr, error, got):
    raises(error, optimizer.__name__, "lr", got, call=lambda: optimizer(lr=lr))


def test_unknown_decay_type_lists_the_allowed_ones():
    raises(ValueError, "SGDMomentum", "decay_type", "'cosine'", "'linear'", "'exponential'",
           call=lambda: SGDMomentum(decay_type="cosine"))


def test_momentum_must_be_in_zero_one():
    raises(ValueError, "momentum", "got 1.2", call=lambda: SGDMomentum(momentum=1.2))


def test_loss_and_activation_hyperparameters_are_checked():
    raises(ValueError, "Huber", "delta", "got -1", call=lambda: Huber(delta=-1))
    raises(ValueError, "LeakyReLU", "alpha", "got -0.5", call=lambda: LeakyReLU(alpha=-0.5))
    raises(ValueError, "EarlyStopping", "patience", "got -1",
           call=lambda: EarlyStopping(patience=-1))


def test_network_needs_at_least_one_layer():
    raises(ValueError, "NeuralNetwork", "layers", "empty",
           call=lambda: NeuralNetwork(layers=[], loss=MeanSquaredError()))


@pytest.mark.parametrize("loss", ["mse", MeanSquaredError, None, Dense(1)])
def test_network_loss_must_be_a_loss_instance(loss):
    raises(TypeError, "NeuralNetwork", "loss", repr(loss),
           call=lambda: NeuralNetwork([Dense(1)], loss=loss))


def test_network_layers_must_be_layers_and_distinct():
    raises(TypeError, "layers[1]", "'dense'",
           call=lambda: NeuralNetwork([Dense(2), "dense"], MeanSquaredError()))
    layer = Dense(2)
    raises(ValueError, "layers[1]", "same object",
           call=lambda: NeuralNetwork([layer, layer], MeanSquaredError()))


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), ("1", TypeError)])
def test_network_seed_must_be_a_non_negative_integer(seed, error):
    raises(error, "seed", repr(seed) if error is TypeError else str(seed),
           call=lambda: NeuralNetwork([Dense(1)], MeanSquaredError(), seed=seed))


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "complex128"])
def test_network_dtype_must_be_float32_or_float64(dtype):
    raises(ValueError, "dtype", "float32 or float64", np.dtype(dtype).name,
           call=lambda: NeuralNetwork([Dense(1)], MeanSquaredError(), dtype=dtype))


@pytest.mark.parametrize("optim", ["sgd", SGD, None])
def test_trainer_needs_an_optimizer_instance(optim):
    raises(TypeError, "Trainer", "optim", call=lambda: Trainer(regression_net(), optim))


def test_trainer_needs_a_network():
    raises(TypeError, "Trainer", "net", "list", call=lambda: Trainer([Dense(1)], SGD()))


# ---------------------------------------------------------------------- fit arguments
@pytest.mark.parametrize("name", ["epochs", "eval_every", "batch_size", "checkpoint_every"])
@pytest.mark.parametrize("value, error, got", [
    (0, ValueError, "got 0"), (-1, ValueError, "got -1"), (2.5, TypeError, "got 2.5"),
    ("8", TypeError, "got '8'"), (True, TypeError, "got True"),
])
def test_fit_counts_must_be_positive_integers(name, value, error, got):
    raises(error, "Trainer.fit", name, got, call=lambda: fit(**{name: value}))


def test_fit_accepts_numpy_integers_and_huge_batches():
    history = fit(epochs=np.int64(2), batch_size=10**20)
    assert history.epochs_run == 2


def test_fit_seed_must_be_a_non_negative_integer():
    raises(ValueError, "Trainer.fit", "seed", "-2", call=lambda: fit(seed=-2))


def test_fit_callbacks_must_be_callbacks():
    raises(TypeError, "callbacks", "print", call=lambda: fit(callbacks=[print]))


def test_fit_callbacks_must_be_a_list():
    raises(TypeError, "callbacks must be a list", "EarlyStopping", "callbacks=[...]",
           call=lambda: fit(callbacks=EarlyStopping()))


def test_fit_checkpoint_paths_are_checked_before_training(tmp_path):
    raises(TypeError, "Trainer.fit", "checkpoint", "got 3 (int)", call=lambda: fit(checkpoint=3))
    raises(TypeError, "Trainer.fit", "resume_from", "got 3.5 (float)",
           call=lambda: fit(resume_from=3.5))
    raises(ValueError, "checkpoint", "is a folder", call=lambda: fit(checkpoint=tmp_path))
    raises(ValueError, "checkpoint", "is empty", call=lambda: fit(checkpoint=""))
    raises(TypeError, "checkpoint", "(bytes)", call=lambda: fit(checkpoint=b"run.ckpt"))
    raises(TypeError, "ModelCheckpoint", "path", "got None", call=lambda: ModelCheckpoint(None))


@pytest.mark.parametrize("shape, error, fragment", [
    (0, ValueError, "got 0"), (-1, ValueError, "got -1"), ((3, 0), ValueError, "got 0"),
    ("3", TypeError, "got '3'"), (2.5, TypeError, "got 2.5"), (None, TypeError, "got None"),
    ((), ValueError, "empty"), ((2.0,), TypeError, "got 2.0"),
])
def test_build_checks_the_input_shape(shape, error, fragment):
    raises(error, "NeuralNetwork.build", "input_shape", fragment,
           call=lambda: regression_net().build(shape))


def test_fit_needs_both_test_arrays_or_neither():
    raises(ValueError, "X_test", "y_test", call=lambda: fit(X_test=X))


# ---------------------------------------------------------------------- fit data
def test_fit_rejects_nan_in_X_naming_the_value_and_index():
    bad = X.copy()
    bad[3, 1] = np.nan
    raises(ValueError, "Trainer.fit", "X_train", "nan", "(3, 1)", "finite",
           call=lambda: fit(X_train=bad))


def test_fit_rejects_inf_in_y():
    bad = Y.copy()
    bad[7] = -np.inf
    raises(ValueError, "y_train", "-inf", "(7,)", call=lambda: fit(y_train=bad))


def test_fit_rejects_nan_in_test_data():
    bad = X.copy()
    bad[0, 0] = np.inf
    raises(ValueError, "X_test", "inf", call=lambda: fit(X_test=bad, y_test=Y))


def test_fit_rejects_values_that_overflow_the_network_dtype():
    message = raises(ValueError, "X_train", "1e+300", "float32", "float64",
                     call=lambda: fit(X_train=X * 0 + 1e300))
    assert "non-finite" not in message  # the user's numbers were finite
    raises(ValueError, "y_train", "float32", call=lambda: fit(y_train=Y * 0 + 1e300))
    # float64 holds them: no error at the door
    net = regression_net(dtype=np.float64)
    Trainer(net, SGD(lr=1e-300)).fit(X, Y * 0 + 1e100, epochs=1, verbose=False)


def test_fit_rejects_x_and_y_of_different_lengths():
    raises(ValueError, "X_train", "y_train", "20", "19", "same number of rows",
           call=lambda: fit(y_train=Y[:-1]))
    raises(ValueError, "X_test", "y_test", "5", "4",
           call=lambda: fit(X_test=X[:5], y_test=Y[:4]))


@pytest.mark.parametrize("X_train, y_train, fragments", [
    (X[:, 0], Y, ("X_train", "dimensions", "got 1", "(20,)")),
    (X, Y.reshape(20, 1, 1), ("y_train", "1 or 2 dimensions", "got 3", "(20, 1, 1)")),
    (X.reshape(20, 3, 1, 1, 1, 1), Y, ("X_train", "got 6")),
])
def test_fit_rejects_wrong_number_of_dimensions(X_train, y_train, fragments):
    raises(ValueError, *fragments, call=lambda: fit(X_train=X_train, y_train=y_train))


def test_fit_rejects_a_feature_count_other_than_the_network_was_built_for():
    net = regression_net()
    fit(net)
    raises(ValueError, "X_train", "2 features", "built for 3",
           call=lambda: Trainer(net, SGD()).fit(X[:, :2], Y, restart=False, verbose=False))
    raises(ValueError, "X_test", "(2,)", "(3,)", call=lambda: fit(X_test=X[:, :2], y_test=Y))


def test_fit_rejects_targets_that_do_not_fit_the_output():
    raises(ValueError, "y_train", "(20, 2)", "(20, 1)",
           call=lambda: fit(y_train=np.zeros((20, 2))))


@pytest.mark.parametrize("X_train, got", [
    (X.astype(str), "<U"), (X.astype(object), "object"), (X.astype(complex), "complex128"),
    (np.array(["a", "b"]), "<U1"),
])
def test_fit_rejects_non_numeric_data(X_train, got):
    raises(TypeError, "X_train", "real numbers", got, call=lambda: fit(X_train=X_train))


def test_fit_rejects_ragged_and_none_data():
    raises(TypeError, "X_train", "ragged", call=lambda: fit(X_train=[[1, 2], [3]], y_train=[1, 2]))
    raises(TypeError, "X_train", "None", call=lambda: fit(X_train=None))
    raises(TypeError, "X_train", "string", call=lambda: fit(X_train="1,2,3"))


def test_fit_rejects_empty_data():
    raises(ValueError, "X_train", "empty", "(0, 3)", call=lambda: fit(X_train=X[:0], y_train=Y[:0]))


def test_fit_rejects_class_labels_out_of_range():
    labels = np.array([0, 1, 2, 3] * 5)
    raises(ValueError, "y_train", "class label 3", "row 3", "[0, 2]",
           call=lambda: fit(classifier(3), y_train=labels))
    raises(ValueError, "y_train", "class label -1", "row 0",
           call=lambda: fit(classifier(3), y_train=np.r_[-1, labels[1:] % 3]))
    raises(ValueError, "y_train", "0.5", "whole numbers",
           call=lambda: fit(classifier(3), y_train=np.r_[0.5, np.zeros(19)]))


def test_fit_rejects_one_hot_rows_that_do_not_sum_to_one():
    one_hot = np.eye(3)[np.arange(20) % 3]
    one_hot[4] = [1, 1, 0]
    raises(ValueError, "y_train", "row 4", "sums to 2", "sum to 1",
           call=lambda: fit(classifier(3), y_train=one_hot))
    one_hot[4] = [2, -1, 0]
    raises(ValueError, "y_train", "row 4", "[0, 1]",
           call=lambda: fit(classifier(3), y_train=one_hot))


def test_fit_rejects_binary_targets_outside_zero_one():
    net = NeuralNetwork([Dense(1, Linear())], BinaryCrossEntropy())
    raises(ValueError, "y_train", "2", "[0, 1]", call=lambda: fit(net, y_train=(Y > 0) * 2.0))


def test_fit_error_happens_before_any_training():
    net = regression_net().build(3)
    before = net.state_dict()
    with pytest.raises(ValueError):
        Trainer(net, SGD()).fit(X, Y[:-1], restart=False, verbose=False)
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items())


# ---------------------------------------------------------------------- predict
def built() -> NeuralNetwork:
    return regression_net().build(3)


@pytest.mark.parametrize("data, error, fragments", [
    (np.full((2, 3), np.nan), ValueError, ("X", "nan", "(0, 0)", "finite")),
    (np.zeros((0, 3)), ValueError, ("X", "empty", "(0, 3)")),
    (np.zeros(3), ValueError, ("X", "dimensions", "got 1", "(3,)")),
    (np.zeros((2, 4)), ValueError, ("X", "4 features", "built for 3")),
    (np.zeros((2, 3), complex), TypeError, ("X", "complex128",)),
    (np.zeros((2, 3), object), TypeError, ("X", "object",)),
    ("abc", TypeError, ("X", "string")),
    (None, TypeError, ("X", "None")),
    (np.full((2, 3), 1e300), ValueError, ("X", "1e+300", "float32")),
])
def test_predict_rejects_bad_inputs(data, error, fragments):
    raises(error, "NeuralNetwork.predict", *fragments, call=lambda: built().predict(data))


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-1, ValueError),
                                               (1.5, TypeError)])
def test_predict_batch_size_must_be_positive(batch_size, error):
    raises(error, "NeuralNetwork.predict", "batch_size", str(batch_size),
           call=lambda: built().predict(X, batch_size=batch_size))


@pytest.mark.parametrize("data", [X.astype(np.float16), X > 0, (X * 10).astype(np.int8),
                                  X.tolist()])
def test_predict_accepts_every_real_dtype(data):
    output = built().predict(data)
    assert output.shape == (20, 1) and output.dtype == np.float32 and np.isfinite(output).all()


# ---------------------------------------------------------------------- losses
@pytest.mark.parametrize("loss", [MeanSquaredError(), Huber(), BinaryCrossEntropy()])
def test_loss_rejects_nan_targets(loss):
    raises(ValueError, f"{type(loss).__name__}.forward", "target", "nan", "finite",
           call=lambda: loss.forward(np.zeros((2, 1)), np.array([[np.nan], [0.0]])))


def test_loss_rejects_shape_mismatch_naming_both_shapes():
    raises(ValueError, "MeanSquaredError.forward", "target", "(3, 1)", "(2, 1)",
           call=lambda: MeanSquaredError().forward(np.zeros((2, 1)), np.zeros((3, 1))))


def test_loss_rejects_empty_and_non_numeric_inputs():
    raises(ValueError, "prediction", "empty",
           call=lambda: MeanSquaredError().forward(np.zeros((0, 1)), np.zeros((0, 1))))
    raises(TypeError, "target", "string",
           call=lambda: MeanSquaredError().forward(np.zeros(2), "ab"))
    raises(TypeError, "prediction", "object",
           call=lambda: MeanSquaredError().forward(np.zeros(2, object), np.zeros(2)))
    raises(ValueError, "prediction", "scalar",
           call=lambda: MeanSquaredError().forward(np.float64(1.0), np.float64(1.0)))


def test_loss_accepts_lists_and_nan_predictions():
    assert MeanSquaredError().forward([[1.0], [3.0]], [[0.0], [1.0]]) == pytest.approx(2.5)
    # a NaN prediction gives a NaN loss: that is how the trainer notices divergence
    assert np.isnan(MeanSquaredError().forward(np.array([[np.nan]]), np.array([[0.0]])))


def test_softmax_cross_entropy_label_errors():
    loss = SoftmaxCrossEntropy()
    raises(ValueError, "target", "class label 3", "row 1", "[0, 2]",
           call=lambda: loss.forward(np.zeros((2, 3)), np.array([0, 3])))
    raises(ValueError, "target", "class label -1",
           call=lambda: loss.forward(np.zeros((2, 3)), np.array([0, -1])))
    raises(ValueError, "target", "0.5", "whole numbers",
           call=lambda: loss.forward(np.zeros((2, 3)), np.array([0.5, 1.0])))
    raises(ValueError, "target", "nan", call=lambda: loss.forward(np.zeros((2, 3)),
                                                                  np.array([np.nan, 1.0])))
    raises(ValueError, "target", "3 labels", "2 predictions",
           call=lambda: loss.forward(np.zeros((2, 3)), np.array([0, 1, 2])))
    raises(ValueError, "target row 1", "sums to 2",
           call=lambda: loss.forward(np.zeros((2, 3)), np.array([[1, 0, 0], [1, 1, 0]])))
    raises(TypeError, "target", "bool",
           call=lambda: loss.forward(np.zeros((2, 3)), np.array([True, False])))
    assert loss.forward(np.zeros((2, 3)), np.array([0.0, 2.0])) == pytest.approx(np.log(3))


def test_binary_cross_entropy_rejects_targets_outside_zero_one():
    raises(ValueError, "BinaryCrossEntropy.forward", "target", "-1", "[0, 1]",
           call=lambda: BinaryCrossEntropy().forward(np.zeros((2, 1)), np.array([[-1.0], [1.0]])))


# ---------------------------------------------------------------------- state dicts
def test_load_state_dict_shape_error_names_key_expected_and_found():
    net = built()
    state = net.state_dict()
    state["layers.0.W"] = np.zeros((2, 4))
    raises(ValueError, "layers.0.W", "(2, 4)", "(3, 4)", call=lambda: net.load_state_dict(state))


def test_load_state_dict_key_errors_name_the_keys_and_expected_shapes():
    net = built()
    state = net.state_dict()
    del state["layers.1.B"]
    state["layers.7.W"] = np.zeros(2)
    with pytest.raises(KeyError) as info:  # a KeyError, and a ValueError as well
        net.load_state_dict(state)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for fragment in ("missing keys ['layers.1.B']", "layers.1.B (1, 1)",
                     "unexpected keys ['layers.7.W']"):
        assert fragment in message
    assert not message.startswith('"')  # not the quoted repr KeyError normally gives


def test_load_state_dict_checks_values_and_arguments():
    net = built()
    state = net.state_dict()
    state["layers.0.B"] = np.full((1, 4), np.inf)
    raises(ValueError, "layers.0.B", "inf", call=lambda: net.load_state_dict(state))
    raises(TypeError, "state_dict", "list", call=lambda: net.load_state_dict([1]))
    raises(TypeError, "strict", "'yes'", call=lambda: net.load_state_dict({}, strict="yes"))


def test_a_failed_load_state_dict_changes_nothing():
    net = built()
    before = net.state_dict()
    state = {key: value + 1 for key, value in before.items()}
    state["layers.1.W"] = np.zeros((5, 1))  # wrong shape, checked after layers.0
    with pytest.raises(ValueError):
        net.load_state_dict(state)
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items())


# ---------------------------------------------------------------------- the helpers themselves
def test_check_number_handles_huge_integers_and_reports_the_interval():
    check_number("n", 10**400, low=0, integer=True)
    with pytest.raises(ValueError, match=re.escape("n must be in (0, 1], got 2")):
        check_number("n", 2, low=0, high=1)


def test_as_array_names_the_first_bad_value_and_counts_them():
    with pytest.raises(ValueError, match=re.escape("holds 2 non-finite value(s) (first: inf at "
                                                   "index (0, 1))")):
        as_array(np.array([[0, np.inf], [np.nan, 1]]), "data")
    assert as_array([1, 2], "data", np.float32).dtype == np.float32
