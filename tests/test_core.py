"""The contract of the core: imports, Operation/Layer/NeuralNetwork/Trainer behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import dlscratch
from dlscratch import (
    ELU,
    GELU,
    BiasAdd,
    Dense,
    Dropout,
    LambdaCallback,
    LeakyReLU,
    Linear,
    MeanSquaredError,
    NeuralNetwork,
    Operation,
    ParamOperation,
    ReLU,
    SGDMomentum,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    WeightMultiply,
)
from dlscratch.optimizers import SGD

# ---------------------------------------------------------------------------- imports
SEED_NAMES = ["Operation", "ParamOperation", "WeightMultiply", "BiasAdd", "Sigmoid", "Layer",
              "Dense", "Loss", "MeanSquaredError", "NeuralNetwork", "Optimizer", "SGD",
              "Trainer"]
CORE_NAMES = SEED_NAMES + [
    "Linear", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "Softmax", "Dropout",
    "MeanAbsoluteError", "Huber", "SoftmaxCrossEntropy", "BinaryCrossEntropy", "SGDMomentum",
    "History", "TrainingDivergedError", "Callback", "EarlyStopping", "LambdaCallback",
    "ModelCheckpoint"]


@pytest.mark.parametrize("name", CORE_NAMES)
def test_every_core_name_is_exported_flat(name):
    assert name in dlscratch.__all__
    namespace: dict = {}
    exec(f"from dlscratch import {name}", namespace)  # the statement a reader would type
    assert namespace[name] is getattr(dlscratch, name)


def test_every_name_in_all_exists():
    missing = [name for name in dlscratch.__all__ if not hasattr(dlscratch, name)]
    assert not missing
    assert len(set(dlscratch.__all__)) == len(dlscratch.__all__)


def test_the_books_module_layout_imports():
    from dlscratch import activations, layers, losses, network, optimizers, train
    from dlscratch.layers import Dense as BookDense
    from dlscratch.losses import MeanSquaredError as BookMSE
    from dlscratch.network import NeuralNetwork as BookNetwork
    from dlscratch.optimizers import SGD as BookSGD
    from dlscratch.train import Trainer as BookTrainer

    assert (BookDense, BookMSE, BookSGD, BookNetwork, BookTrainer) == (
        dlscratch.Dense, dlscratch.MeanSquaredError, dlscratch.SGD, dlscratch.NeuralNetwork,
        dlscratch.Trainer)
    assert activations.Sigmoid is dlscratch.Sigmoid
    assert layers.Dense is dlscratch.Dense
    assert losses.MeanSquaredError is dlscratch.MeanSquaredError
    assert network.NeuralNetwork is dlscratch.NeuralNetwork
    assert optimizers.SGD is dlscratch.SGD and train.Trainer is dlscratch.Trainer


# ---------------------------------------------------------------------------- Operation
class Square(Operation):
    def _output(self, inference: bool = False) -> np.ndarray:
        return self.input_ ** 2

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return 2 * self.input_ * output_grad


class ChapterThreeDouble(Operation):
    """Written the chapter-3 way: ``_output(self)`` without the inference flag."""

    def _output(self):
        return self.input_ * 2

    def _input_grad(self, output_grad):
        return output_grad * 2


def test_operation_forward_stores_input_and_returns_output():
    x = np.arange(6.0).reshape(2, 3)
    op = Square()
    out = op.forward(x)
    assert op.input_ is x
    np.testing.assert_array_equal(out, x ** 2)
    assert op.output is out
    np.testing.assert_array_equal(op.backward(np.ones((2, 3))), 2 * x)


@pytest.mark.parametrize("op", [Square(), Sigmoid(), ReLU(), Softmax(),
                                WeightMultiply(np.ones((3, 2))), BiasAdd(np.ones((1, 3)))])
def test_backward_checks_the_shape_and_names_the_operation_and_both_shapes(op):
    out = op.forward(np.ones((2, 3)))
    wrong = (out.shape[0] + 3, out.shape[1])
    with pytest.raises(ValueError) as error:
        op.backward(np.ones(wrong))
    message = str(error.value)
    assert type(op).__name__ in message
    assert str(wrong) in message and str(out.shape) in message


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before forward"):
        Sigmoid().backward(np.ones((1, 1)))


class WrongInputGrad(Operation):
    def _output(self, inference: bool = False) -> np.ndarray:
        return self.input_.sum(axis=1, keepdims=True) * np.ones((1, 2))

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad  # (batch, 2) instead of the input's (batch, 3)


def test_backward_checks_the_input_gradient_shape_too():
    op = WrongInputGrad()
    op.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"WrongInputGrad.*\(4, 2\).*\(4, 3\)"):
        op.backward(np.ones((4, 2)))


def test_a_chapter_three_operation_without_the_inference_argument_works():
    op = ChapterThreeDouble()
    x = np.ones((2, 2))
    np.testing.assert_array_equal(op.forward(x), 2 * x)
    np.testing.assert_array_equal(op.forward(x, inference=True), 2 * x)
    np.testing.assert_array_equal(op.backward(np.ones((2, 2))), 2 * np.ones((2, 2)))

    class Layerish(ChapterThreeDouble):  # a subclass inherits the signature choice
        pass

    np.testing.assert_array_equal(Layerish().forward(x), 2 * x)
    net = NeuralNetwork([Dense(3, Tanh()), ChapterThreeDouble(), Dense(1, Linear())],
                        MeanSquaredError(), seed=0)
    assert net.predict(np.ones((4, 2))).shape == (4, 1)


def test_param_operation_stores_its_parameter_gradient():
    W = np.arange(6.0).reshape(3, 2)
    op = WeightMultiply(W)
    assert isinstance(op, ParamOperation) and op.param is W
    x = np.ones((4, 3))
    op.forward(x)
    op.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(op.param_grad, x.T @ np.ones((4, 2)))


# ---------------------------------------------------------------------------- Layer
def test_layer_builds_lazily_and_infers_its_input_size():
    layer = Dense(neurons=13, activation=Sigmoid())
    assert layer.params == [] and layer.operations == [] and layer.first
    out = layer.forward(np.ones((5, 7)))
    assert out.shape == (5, 13)
    W, B = layer.params
    assert W.shape == (7, 13) and B.shape == (1, 13)
    assert layer.input_shape == (7,)
    assert [type(op) for op in layer.operations] == [WeightMultiply, BiasAdd, Sigmoid]
    assert layer.operations[0].param is W and layer.operations[1].param is B
    with pytest.raises(ValueError, match=r"\(5, 8\)"):
        layer.forward(np.ones((5, 8)))


def test_dense_takes_the_books_arguments_by_keyword_and_in_the_books_order():
    by_keyword = Dense(neurons=89, activation=Tanh(), weight_init="glorot", dropout=0.8)
    positional = Dense(89, Tanh(), False, 0.8, "glorot")  # neurons, activation, conv_in, ...
    for layer in (by_keyword, positional):
        assert (layer.neurons, layer.dropout, layer.weight_init) == (89, 0.8, "glorot")
        assert isinstance(layer.activation, Tanh)


@pytest.mark.parametrize("weight_init, variance", [
    ("standard", lambda n_in, n_out: 1.0),
    ("glorot", lambda n_in, n_out: 2.0 / (n_in + n_out)),
    ("he", lambda n_in, n_out: 2.0 / n_in),
])
def test_weight_init_draws_with_the_documented_variance(weight_init, variance):
    n_in, n_out = 300, 200
    net = NeuralNetwork([Dense(n_out, weight_init=weight_init)], MeanSquaredError(), seed=0,
                        dtype=np.float64).build(n_in)
    W, B = net.params()
    assert W.var() == pytest.approx(variance(n_in, n_out), rel=0.02)
    assert abs(W.mean()) < 0.05 * np.sqrt(variance(n_in, n_out))
    if weight_init == "standard":  # the book's: the bias from N(0, 1) too
        assert B.std() == pytest.approx(1.0, rel=0.3)
    else:
        np.testing.assert_array_equal(B, 0.0)


def test_network_builds_lazily_too():
    net = NeuralNetwork([Dense(4), Dense(2)], MeanSquaredError(), seed=0)
    assert net.params() == [] and not net.built
    net.forward(np.ones((3, 6)))
    assert net.built and [p.shape for p in net.params()] == [(6, 4), (1, 4), (4, 2), (1, 2)]


# ---------------------------------------------------------------------------- reproducibility
def _data(n=24, n_in=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    y = np.tanh(X @ rng.standard_normal((n_in, 1))) + 0.1 * rng.standard_normal((n, 1))
    return X, y


def _fit(net_seed=1, fit_seed=1, dropout=1.0, epochs=4, trainer=None, **kwargs):
    X, y = _data()
    if trainer is None:
        net = NeuralNetwork([Dense(6, Tanh(), dropout=dropout), Dense(1, Linear())],
                            MeanSquaredError(), seed=net_seed)
        trainer = Trainer(net, SGD(lr=0.05))
    history = trainer.fit(X[:16], y[:16], X[16:], y[16:], epochs=epochs, eval_every=2,
                          batch_size=5, seed=fit_seed, verbose=False, early_stopping=False,
                          **kwargs)
    return trainer, history, [p.copy() for p in trainer.net.params()]


def _same(params_a, params_b):
    return all(np.array_equal(a, b) for a, b in zip(params_a, params_b, strict=True))


@pytest.mark.parametrize("dropout", [1.0, 0.7])
def test_same_seed_gives_identical_parameters_and_history(dropout):
    _, history_a, params_a = _fit(dropout=dropout)
    _, history_b, params_b = _fit(dropout=dropout)
    assert _same(params_a, params_b)
    assert history_a.to_dict() == history_b.to_dict()


def test_different_seeds_give_different_results():
    _, history, params = _fit()
    _, _, params_net = _fit(net_seed=2)
    _, history_fit, params_fit = _fit(fit_seed=2)
    assert not _same(params, params_net)
    assert not _same(params, params_fit)
    assert history.train_loss != history_fit.train_loss


def test_restart_true_twice_gives_identical_results():
    trainer, history_a, params_a = _fit(dropout=0.8)
    _, history_b, params_b = _fit(trainer=trainer, dropout=0.8)
    assert _same(params_a, params_b)
    assert history_a.to_dict() == history_b.to_dict()


def test_restart_false_continues_from_the_current_parameters():
    trainer, first_history, params = _fit()
    seen = {}
    hook = LambdaCallback(on_train_begin=lambda t: seen.setdefault(
        "start", [p.copy() for p in t.net.params()]))
    _, second_history, _ = _fit(trainer=trainer, restart=False, callbacks=[hook])
    assert _same(seen["start"], params)
    assert second_history.train_loss[0] < first_history.train_loss[0]


def test_no_global_numpy_random_state_is_touched():
    X, y = _data()
    np.random.seed(12345)
    before = np.random.get_state()
    net = NeuralNetwork([Dense(6, ReLU(), dropout=0.5), Dropout(0.7), Dense(1, Linear())],
                        MeanSquaredError(), seed=None)
    trainer = Trainer(net, SGDMomentum(lr=0.01))
    trainer.fit(X, y, X, y, epochs=2, eval_every=1, batch_size=8, seed=None, verbose=False)
    net.predict(X)
    net.forward(X)  # training-mode forward: dropout masks drawn
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]


# ---------------------------------------------------------------------------- dtype
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("integer_targets", [False, True])
def test_dtype_holds_end_to_end(dtype, integer_targets):
    X, y = _data()
    if integer_targets:
        y = (y > 0).astype(np.int64)
    kwargs = {} if dtype == np.float32 else {"dtype": dtype}
    net = NeuralNetwork([Dense(5, GELU(), dropout=0.9), Dense(4, ELU()), Dense(1, Linear())],
                        MeanSquaredError(), seed=0, **kwargs)
    assert net.dtype == dtype
    Trainer(net, SGDMomentum(lr=0.01)).fit(X.astype(np.float64), y, epochs=2, batch_size=7,
                                           verbose=False)
    assert all(p.dtype == dtype for p in net.params())
    assert all(g.dtype == dtype for g in net.param_grads())
    assert net.predict(X).dtype == dtype
    assert net.forward(X).dtype == dtype


# ---------------------------------------------------------------------------- predict
def test_predict_in_batches_equals_one_forward_and_keeps_nothing():
    X, _ = _data(n=23)
    net = NeuralNetwork([Dense(6, Tanh(), dropout=0.5), Dense(4, LeakyReLU()),
                         Dense(2, Softmax())], MeanSquaredError(), seed=0, dtype=np.float64)
    whole = net.forward(X, inference=True)
    for batch_size in (1, 5, 23, 1000):
        np.testing.assert_allclose(net.predict(X, batch_size=batch_size), whole, rtol=1e-12)
    for layer in net.layers:
        assert layer.input_ is None and layer.output is None
        for op in layer.operations:
            assert op.input_ is None and op.output is None, op
    # inference: dropout off, so predict is deterministic
    np.testing.assert_array_equal(net.predict(X), net.predict(X))


def test_params_and_param_grads_are_in_matching_order_with_matching_shapes():
    X, y = _data()
    net = NeuralNetwork([Dense(5), Dense(3, ReLU()), Dense(1, Linear())], MeanSquaredError(),
                        seed=0)
    net.train_batch(X, y)
    params, grads = net.params(), net.param_grads()
    assert len(params) == len(grads) == 6
    assert [p.shape for p in params] == [g.shape for g in grads]
    assert [p.shape for p in params] == [(3, 5), (1, 5), (5, 3), (1, 3), (3, 1), (1, 1)]
    ops = [op for layer in net.layers for op in layer.operations
           if isinstance(op, ParamOperation)]
    assert all(p is op.param for p, op in zip(params, ops))
    assert all(g is op.param_grad for g, op in zip(grads, ops))


def test_summary_and_repr_describe_the_layers():
    net = NeuralNetwork([Dense(13, Sigmoid()), Dense(1, Linear())], MeanSquaredError(), seed=7)
    text = repr(net)
    assert "Dense(neurons=13" in text and "Dense(neurons=1" in text
    assert "MeanSquaredError" in text
    net.build(5)
    summary = net.summary()
    assert "(batch, 13)" in summary and "(batch, 1)" in summary
    assert "78" in summary and "14" in summary  # 5*13+13 and 13*1+1
    assert f"{5 * 13 + 13 + 13 + 1}" in summary
    assert net.count_params() == 92


# ---------------------------------------------------------------------------- Trainer
def test_trainer_runs_the_last_partial_batch():
    X, y = _data(n=10)
    net = NeuralNetwork([Dense(3), Dense(1, Linear())], MeanSquaredError(), seed=0)
    sizes = []
    original = net.train_batch

    def counting(x_batch, y_batch, *args, **kwargs):
        sizes.append(len(x_batch))
        return original(x_batch, y_batch, *args, **kwargs)

    net.train_batch = counting
    Trainer(net, SGD(lr=0.01)).fit(X, y, epochs=2, batch_size=4, verbose=False)
    assert sizes == [4, 4, 2, 4, 4, 2]


def test_history_has_one_train_loss_per_epoch_and_the_evaluations():
    _, history, _ = _fit(epochs=7)
    assert len(history.train_loss) == history.epochs_run == 7
    assert history.eval_epochs == [2, 4, 6]
    assert len(history.val_loss) == 3
    assert history.best_epoch in history.eval_epochs
    assert history.best_val_loss == min(history.val_loss)
    assert history.best_epoch == history.eval_epochs[int(np.argmin(history.val_loss))]
    assert all(np.isfinite(history.train_loss))


def test_early_stopping_stops_at_the_first_evaluation_that_does_not_improve():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = X @ rng.standard_normal((3, 1)) + 0.5 * rng.standard_normal((12, 1))
    X_test = rng.standard_normal((40, 3))
    y_test = X_test @ rng.standard_normal((3, 1))
    net = NeuralNetwork([Dense(16, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=3)
    history = Trainer(net, SGD(lr=0.01)).fit(X, y, X_test, y_test, epochs=200, eval_every=1,
                                             batch_size=4, verbose=False)
    losses = history.val_loss
    assert len(losses) >= 3
    assert all(b < a for a, b in zip(losses[:-2], losses[1:-1]))  # improving until ...
    assert losses[-1] >= losses[-2]  # ... the first evaluation that does not improve
    assert history.stopped_epoch == history.eval_epochs[-1] < 200
    assert history.best_epoch == history.eval_epochs[-2]


def test_verbose_false_prints_nothing(capsys):
    _fit(epochs=4)
    assert capsys.readouterr().out == ""
    X, y = _data()
    net = NeuralNetwork([Dense(3), Dense(1, Linear())], MeanSquaredError(), seed=0)
    Trainer(net, SGD(lr=0.01)).fit(X, y, X, y, epochs=2, eval_every=1, verbose=True)
    assert "Validation loss after 1 epochs" in capsys.readouterr().out


def test_softmax_cross_entropy_on_labels_and_on_one_hot_trains_the_same():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    results = []
    for target in (labels, np.eye(3)[labels]):
        net = NeuralNetwork([Dense(8, Tanh()), Dense(3, Linear())], SoftmaxCrossEntropy(),
                            seed=2, dtype=np.float64)
        history = Trainer(net, SGD(lr=0.1)).fit(X[:20], target[:20], X[20:], target[20:],
                                                epochs=6, eval_every=2, batch_size=6,
                                                verbose=False, early_stopping=False)
        results.append((history, net.params()))
    (history_labels, params_labels), (history_one_hot, params_one_hot) = results
    for a, b in zip(params_labels, params_one_hot, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(history_labels.train_loss, history_one_hot.train_loss, rtol=1e-12)
    np.testing.assert_allclose(history_labels.val_loss, history_one_hot.val_loss, rtol=1e-12)
    assert history_labels.metrics["accuracy"] == history_one_hot.metrics["accuracy"]


def test_a_layer_and_an_optimizer_written_the_books_way_work_in_our_network():
    from dlscratch.base import Operation
    from dlscratch.dense import BiasAdd, WeightMultiply
    from dlscratch.gradcheck import check_network
    from dlscratch.layers import Layer
    from dlscratch.optimizers import Optimizer

    class BookSigmoid(Operation):
        def _output(self):
            return 1.0 / (1.0 + np.exp(-1.0 * self.input_))

        def _input_grad(self, output_grad):
            return self.output * (1.0 - self.output) * output_grad

    class BookDense(Layer):
        def __init__(self, neurons, activation):
            super().__init__(neurons)
            self.activation = activation

        def _setup_layer(self, input_):
            rng = np.random.default_rng(7)
            self.params = [rng.standard_normal((input_.shape[1], self.neurons)),
                           rng.standard_normal((1, self.neurons))]
            self.operations = [WeightMultiply(self.params[0]), BiasAdd(self.params[1]),
                               self.activation]

    class BookSGD(Optimizer):
        def step(self):
            for param, param_grad in zip(self.net.params(), self.net.param_grads()):
                param -= self.lr * param_grad

    X, y = _data(n=12)
    net = NeuralNetwork([BookDense(4, BookSigmoid()), BookDense(1, Linear())],
                        MeanSquaredError(), seed=0, dtype=np.float64)
    check_network(net, X[:5], y[:5])
    history = Trainer(net, BookSGD(lr=0.05)).fit(X, y, X, y, epochs=20, eval_every=5,
                                                 early_stopping=False, verbose=False)
    assert history.train_loss[-1] < history.train_loss[0]
    assert [len(batch) for batch, _ in Trainer.generate_batches(X, y, 5)] == [5, 5, 2]
