"""Arguments that used to be accepted without a clear error: each is now refused at the door.

The classes, not only the examples: truthy strings where a flag belongs, settings that would be
silently ignored or give a meaningless result, sizes that cannot be allocated, a layer or an
optimizer used by a second network, checkpoint paths that can never be filled.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

from dlscratch import (
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    BinaryCrossEntropy,
    Dense,
    Dropout,
    EarlyStopping,
    LambdaCallback,
    Linear,
    MeanSquaredError,
    ModelCheckpoint,
    NeuralNetwork,
    ReLU,
    RMSProp,
    SGDMomentum,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    WeightMultiply,
)
from dlscratch.gradcheck import check_loss, check_network, check_operation, numerical_gradient

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 3))
Y = np.sin(X.sum(axis=1, keepdims=True))
LABELS = (X[:, 0] > 0).astype(int)


def net(seed: int = 1, outputs: int = 1, loss=None) -> NeuralNetwork:
    return NeuralNetwork([Dense(4, Tanh()), Dense(outputs, Linear())],
                         loss or MeanSquaredError(), seed=seed)


# ---------------------------------------------------------------------- flags
@pytest.mark.parametrize("flag", ["early_stopping", "restart", "verbose", "single_output",
                                  "conv_testing"])
@pytest.mark.parametrize("value", ["no", "yes", "False", 0, 1, None])
def test_fit_flags_must_be_true_or_false(flag, value):
    with pytest.raises(TypeError, match=f"{flag} must be True or False, got {value!r}"):
        Trainer(net(), SGD(0.1)).fit(X, Y, epochs=1, **{flag: value})


@pytest.mark.parametrize("make, name", [
    (lambda v: MeanSquaredError(normalize=v), "normalize"),
    (lambda v: Dense(3, conv_in=v), "conv_in"),
    (lambda v: EarlyStopping(restore_best_weights=v), "restore_best_weights"),
    (lambda v: EarlyStopping(book_messages=v), "book_messages"),
    (lambda v: ModelCheckpoint("m.npz", save_best_only=v), "save_best_only"),
])
def test_other_flags_must_be_true_or_false(make, name):
    with pytest.raises(TypeError, match=f"{name} must be True or False, got 'no'"):
        make("no")
    make(np.bool_(True))  # NumPy's booleans are booleans


def test_input_grad_needed_must_be_true_or_false():
    network = net()
    with pytest.raises(TypeError, match="input_grad_needed must be True or False"):
        network.input_grad_needed = "no"
    assert network.input_grad_needed is False


# ---------------------------------------------------------------------- meaningless settings
def test_softmax_cross_entropy_on_one_output_is_refused():
    network = net(outputs=1, loss=SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match="one output per row.*always 1.*BinaryCrossEntropy"):
        Trainer(network, SGD(0.1)).fit(X, np.ones((30, 1)), epochs=1, verbose=False)
    with pytest.raises(ValueError, match="always be 0"):
        SoftmaxCrossEntropy().forward(np.zeros((4, 1)), np.zeros(4, int))
    # two classes are fine, and so is BinaryCrossEntropy on one output
    Trainer(net(outputs=2, loss=SoftmaxCrossEntropy()), SGD(0.1)).fit(X, LABELS, epochs=1,
                                                                       verbose=False)
    Trainer(net(outputs=1, loss=BinaryCrossEntropy()), SGD(0.1)).fit(
        X, LABELS.reshape(-1, 1), epochs=1, verbose=False)


@pytest.mark.parametrize("optimizer", [SGD, SGDMomentum, AdaGrad, RMSProp, Adam, AdamW])
def test_final_lr_without_decay_type_or_above_lr_is_refused(optimizer):
    with pytest.raises(ValueError, match="final_lr=0.001 is used only with a decay_type"):
        optimizer(0.01, final_lr=0.001)
    with pytest.raises(ValueError, match="final_lr=0.1 is above lr=0.01"):
        optimizer(0.01, final_lr=0.1, decay_type="linear")
    optimizer(0.01, final_lr=0.001, decay_type="exponential")  # the book's use
    optimizer(0.01, final_lr=0.01, decay_type="linear")


@pytest.mark.parametrize("optimizer", [AdaGrad, RMSProp, Adam, AdamW])
def test_eps_zero_is_refused(optimizer):
    with pytest.raises(ValueError, match=r"eps must be in \(0, inf\], got 0"):
        optimizer(0.01, eps=0)


def test_softmax_cross_entropy_eps_must_be_a_number():
    with pytest.raises(TypeError, match="eps must be a number"):
        SoftmaxCrossEntropy(eps="tiny")


@pytest.mark.parametrize("activation", [Dense(2), WeightMultiply(np.zeros((2, 2)))])
def test_a_layer_or_parameter_operation_is_not_an_activation(activation):
    with pytest.raises(TypeError, match="activation must be an activation such as Sigmoid"):
        Dense(3, activation=activation)


@pytest.mark.parametrize("function, call", [
    ("check_operation", lambda **k: check_operation(Sigmoid(), np.ones((2, 2)), **k)),
    ("check_loss", lambda **k: check_loss(MeanSquaredError(), np.ones((2, 1)), np.ones((2, 1)),
                                          **k)),
    ("check_network", lambda **k: check_network(
        NeuralNetwork([Dense(2)], MeanSquaredError(), dtype=np.float64), np.ones((2, 2)),
        np.ones((2, 2)), **k)),
])
def test_gradient_checks_refuse_a_zero_step_and_negative_tolerances(function, call):
    with pytest.raises(ValueError, match=rf"{function}: eps must be in \(0, inf\], got 0"):
        call(eps=0)
    with pytest.raises(ValueError, match="rtol"):
        call(rtol=-1)
    with pytest.raises(TypeError, match="atol must be a number"):
        call(atol="small")
    with pytest.raises(ValueError, match="numerical_gradient: eps"):
        numerical_gradient(lambda: 0.0, np.ones(3), eps=0.0)


# ---------------------------------------------------------------------- sizes
def test_a_layer_too_large_for_memory_is_refused_before_allocating():
    network = NeuralNetwork([Dense(10**12)], MeanSquaredError())
    with pytest.raises(MemoryError, match="needs .* TB.*more than this machine's memory"):
        network.build(13)
    with pytest.raises(ValueError, match=r"layers\[0\].W alone has shape \(13, 1000000000000\)"):
        network.build(13)
    assert not network.built
    with pytest.raises(MemoryError, match="more than this machine's memory"):
        network.forward(np.zeros((2, 13)))  # the first forward builds too
    network = NeuralNetwork([Dense(1000)], MeanSquaredError())
    with pytest.raises(MemoryError, match=r"inputs of shape \(2147483648,\)"):
        network.build(2**31)


# ---------------------------------------------------------------------- one network per object
def test_a_layer_used_in_a_second_network_is_refused_and_the_first_is_unchanged():
    layers = [Dense(4, Tanh()), Dense(1, Linear())]
    first = NeuralNetwork(layers, MeanSquaredError(), seed=1).build(3)
    before = first.predict(X)
    with pytest.raises(ValueError, match="already belongs to another network.*build a new layer"):
        NeuralNetwork([layers[0], Dense(1)], MeanSquaredError(), seed=2)
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        NeuralNetwork(layers, MeanSquaredError(), seed=2)
    np.testing.assert_array_equal(first.predict(X), before)
    dropout = Dropout(0.5)
    holder = NeuralNetwork([Dense(3), dropout, Dense(1)], MeanSquaredError())
    with pytest.raises(ValueError, match="already belongs"):
        NeuralNetwork([dropout, Dense(1)], MeanSquaredError())
    del holder  # once its network is gone, a layer is free again
    NeuralNetwork([dropout, Dense(1)], MeanSquaredError())
    # a copy of the network is a network of its own; a copy of its built layers keeps its
    # weights, which a new network would redraw: refused (tests/test_corners_library.py)
    twin = copy.deepcopy(first)
    np.testing.assert_array_equal(twin.predict(X), before)
    with pytest.raises(ValueError, match="already has parameters"):
        NeuralNetwork([copy.deepcopy(layer) for layer in layers], MeanSquaredError())
    # a network that failed to be made claims nothing
    spare = Dense(2)
    with pytest.raises(TypeError):
        NeuralNetwork([spare], loss="mse")
    NeuralNetwork([spare], MeanSquaredError())


def test_an_optimizer_reused_on_a_differently_shaped_network_is_refused():
    optim = SGDMomentum(0.05)
    Trainer(net(), optim).fit(X, Y, epochs=2, verbose=False)
    other = NeuralNetwork([Dense(7, Tanh()), Dense(1, Linear())], MeanSquaredError())
    with pytest.raises(ValueError, match="holds state for parameters of shapes .* create a new"):
        Trainer(other, optim).fit(X, Y, epochs=1, restart=False, verbose=False)
    other.build(3)
    other.train_batch(X, Y)
    optim.net = other
    with pytest.raises(ValueError, match="SGDMomentum.step: this SGDMomentum holds state"):
        optim.step()
    # restart=True starts the optimizer afresh: fine
    Trainer(other, optim).fit(X, Y, epochs=1, verbose=False)
    # and a network of the same shapes may take over the state
    same = NeuralNetwork([Dense(7, Tanh()), Dense(1, Linear())], MeanSquaredError()).build(3)
    Trainer(same, optim).fit(X, Y, epochs=1, restart=False, verbose=False)


# ---------------------------------------------------------------------- checkpoint paths
def test_a_checkpoint_path_whose_format_cannot_take_the_logs_is_refused_at_once():
    with pytest.raises(ValueError, match=r"\{loss:d\}.*cannot be filled"):
        ModelCheckpoint("m-{loss:d}.npz")
    with pytest.raises(ValueError, match="cannot be filled"):
        ModelCheckpoint("m-{epoch}-{nope}.npz")
    with pytest.raises(ValueError, match="cannot be filled"):
        ModelCheckpoint("m-{0}.npz")
    ModelCheckpoint("m-{epoch:03d}-{loss:.3f}.npz")


@pytest.mark.parametrize("path, fit, message", [
    ("m-{accuracy}.npz", dict(X_test=X, y_test=Y), r"names \['accuracy'\], which this run never "
                                                   r"logs"),
    ("m-{mae}.npz", dict(X_test=X, y_test=LABELS, y_train=LABELS, loss=SoftmaxCrossEntropy()),
     r"names \['mae'\]"),
    ("m-{val_loss}.npz", dict(), r"names \['val_loss'\]"),
    ("m.npz", dict(save_best_only=True), "save_best_only=True.*needs an evaluation"),
])
def test_a_checkpoint_that_could_never_save_is_refused_before_training(tmp_path, path, fit,
                                                                       message):
    fit = dict(fit)
    loss = fit.pop("loss", None)
    best = fit.pop("save_best_only", False)
    epochs = []
    network = net(outputs=2 if loss else 1, loss=loss)
    with pytest.raises(ValueError, match=message):
        Trainer(network, SGD(0.05)).fit(**{"X_train": X, "y_train": Y, **fit}, epochs=2,
                                        verbose=False, callbacks=[
            ModelCheckpoint(str(tmp_path / path), save_best_only=best),
            LambdaCallback(on_epoch_begin=lambda t, e: epochs.append(e))])
    assert epochs == [] and os.listdir(tmp_path) == []


def test_a_checkpoint_with_the_run_s_fields_saves(tmp_path):
    labels = LABELS
    network = net(outputs=2, loss=SoftmaxCrossEntropy())
    checkpoint = ModelCheckpoint(str(tmp_path / "m-{epoch}-{accuracy:.2f}.npz"))
    Trainer(network, SGD(0.05)).fit(X, labels, X, labels, epochs=2, eval_every=1, verbose=False,
                                    callbacks=[checkpoint])
    assert len(checkpoint.saved) == 2 and all(os.path.exists(p) for p in checkpoint.saved)


def test_relu_and_sigmoid_remain_valid_activations():
    Dense(3, ReLU())
    Dense(3, activation=Sigmoid())


def test_a_schedule_that_would_decay_upwards_is_refused():
    from dlscratch import CosineDecay, LinearDecay, WarmUp

    for schedule in (LinearDecay(final_lr=0.5), CosineDecay(final_lr=0.5),
                     WarmUp(2, then=CosineDecay(final_lr=0.5))):
        with pytest.raises(ValueError, match="final_lr=0.5 is above lr=0.1"):
            SGD(0.1, schedule=schedule)
    SGD(0.1, schedule=WarmUp(2, then=CosineDecay(final_lr=0.01)))


def test_a_network_too_large_behind_a_parameterless_first_layer_is_refused():
    network = NeuralNetwork([Dropout(0.5), Dense(1000)], MeanSquaredError())
    with pytest.raises(MemoryError, match="more than this machine's memory"):
        network.build(2**40)
    network = NeuralNetwork([Tanh(), Dense(10)], MeanSquaredError())
    with pytest.raises(MemoryError, match="more than this machine's memory"):
        network.build(2**42)
    # a small one builds as before
    NeuralNetwork([Tanh(), Dense(10)], MeanSquaredError()).build(7)


def test_a_checkpoint_path_that_cannot_be_filled_fails_before_a_resume_changes_anything(tmp_path):
    from dlscratch import LambdaCallback as Hook

    def stop(trainer, epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    fit = dict(X_train=X, y_train=Y, epochs=4, verbose=False, early_stopping=False)
    Trainer(net(3), SGD(0.05)).fit(callbacks=[Hook(on_epoch_end=stop)],
                                   checkpoint=tmp_path / "c.ckpt", **fit)
    network = net(3).build(3)
    before = [p.copy() for p in network.params()]
    with pytest.raises(ValueError, match=r"names \['val_loss'\]"):
        Trainer(network, SGD(0.05)).fit(resume_from=tmp_path / "c.ckpt", callbacks=[
            ModelCheckpoint(str(tmp_path / "m-{val_loss}.npz"))], **fit)
    for param, old in zip(network.params(), before):
        np.testing.assert_array_equal(param, old)
