"""Nothing lost: divergence, interruption, checkpoints and exact resumption.

A run interrupted (KeyboardInterrupt at an epoch's end or inside an epoch, or a killed process)
and resumed from its checkpoint ends with parameters bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import time

import numpy as np
import pytest

import dlscratch
from dlscratch import (
    SGD,
    Dense,
    Dropout,
    EarlyStopping,
    LambdaCallback,
    Linear,
    MeanSquaredError,
    ModelFileError,
    NeuralNetwork,
    SGDMomentum,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    TrainingDivergedError,
    persistence,
)

RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=4)
X = RNG.normal(size=(64, 4))
Y = np.sin(X @ WEIGHTS)
X_TEST = RNG.normal(size=(16, 4))
Y_TEST = np.sin(X_TEST @ WEIGHTS)

SETUPS = {
    "sgd": dict(optim=lambda: SGD(lr=0.05)),
    "momentum": dict(optim=lambda: SGDMomentum(lr=0.02, momentum=0.9)),
    "dropout": dict(optim=lambda: SGDMomentum(lr=0.02), dropout=0.8),
    "dropout_layer": dict(optim=lambda: SGD(lr=0.05), dropout_layer=True),
    "early_stopping": dict(optim=lambda: SGDMomentum(lr=0.15, momentum=0.5),
                           fit=dict(early_stopping=True, eval_every=1)),
    "linear_decay": dict(optim=lambda: SGDMomentum(lr=0.05, final_lr=0.001,
                                                   decay_type="linear")),
    "exponential_decay": dict(optim=lambda: SGD(lr=0.05, final_lr=0.001,
                                                decay_type="exponential"), dropout=0.9),
    "user_early_stopping": dict(optim=lambda: SGD(lr=0.1),
                                callbacks=lambda: [EarlyStopping(patience=2)],
                                fit=dict(eval_every=1)),
}


def make_net(setup: dict) -> NeuralNetwork:
    layers = [Dense(8, Tanh(), dropout=setup.get("dropout", 1.0))]
    if setup.get("dropout_layer"):
        layers.append(Dropout(0.7))
    return NeuralNetwork(layers + [Dense(1, Linear())], MeanSquaredError(), seed=7,
                         dtype=np.float64)


def fit_args(setup: dict, **extra) -> dict:
    args = dict(X_train=X, y_train=Y, X_test=X_TEST, y_test=Y_TEST, epochs=8, eval_every=2,
                batch_size=8, seed=3, verbose=False, early_stopping=False)
    args.update(setup.get("fit", {}))
    args.update(extra)
    return args


def train(setup: dict, callbacks=(), **extra):
    """A fresh network, optimizer and trainer; returns (net, history)."""
    net = make_net(setup)
    own = setup["callbacks"]() if "callbacks" in setup else []
    history = Trainer(net, setup["optim"]()).fit(callbacks=own + list(callbacks),
                                                 **fit_args(setup, **extra))
    return net, history


def params_bytes(net: NeuralNetwork) -> list[bytes]:
    return [param.tobytes() for param in net.params()]


def history_without_flags(history) -> dict:
    data = history.to_dict()
    data.pop("interrupted")
    return data


def interrupt_at_end_of(epoch: int) -> LambdaCallback:
    def hook(trainer, current, logs):
        if current == epoch:
            raise KeyboardInterrupt

    return LambdaCallback(on_epoch_end=hook)


# ---------------------------------------------------------------------- interrupt and resume
@pytest.mark.parametrize("name", sorted(SETUPS))
@pytest.mark.parametrize("stop_epoch", [1, 3, 5])
def test_interrupted_at_an_epoch_end_and_resumed_is_bit_identical(tmp_path, name, stop_epoch):
    setup = SETUPS[name]
    reference, reference_history = train(setup, callbacks=[LambdaCallback()])

    path = tmp_path / "run.ckpt"
    _, history = train(setup, callbacks=[interrupt_at_end_of(stop_epoch)], checkpoint=path,
                       checkpoint_every=1)
    assert history.interrupted and history.stopped_epoch == stop_epoch
    assert path.exists()

    resumed, resumed_history = train(setup, callbacks=[LambdaCallback()], resume_from=path)
    assert params_bytes(resumed) == params_bytes(reference)
    assert history_without_flags(resumed_history) == history_without_flags(reference_history)
    assert not resumed_history.interrupted


@pytest.mark.parametrize("hook", ["on_epoch_begin", "on_evaluate"])
@pytest.mark.parametrize("name", ["early_stopping", "dropout"])
def test_interrupted_in_any_hook_resumes_bit_identically(tmp_path, hook, name):
    setup = SETUPS[name]
    reference, reference_history = train(setup, callbacks=[LambdaCallback()])

    def interrupt(trainer, epoch, *logs):
        if epoch == 4:
            raise KeyboardInterrupt

    path = tmp_path / "run.ckpt"
    _, history = train(setup, callbacks=[LambdaCallback(**{hook: interrupt})], checkpoint=path)
    assert history.interrupted
    resumed, resumed_history = train(setup, callbacks=[LambdaCallback()], resume_from=path)
    assert params_bytes(resumed) == params_bytes(reference)
    assert history_without_flags(resumed_history) == history_without_flags(reference_history)


def test_early_stopping_really_stops_in_the_early_stopping_setups():
    # the interruptions above land before, at (epoch 5) and after the early stop
    for name, stop in (("early_stopping", 5), ("user_early_stopping", 6)):
        _, history = train(SETUPS[name], callbacks=[LambdaCallback()])
        assert history.stopped_epoch == stop, name


def interrupt_on_step(optim, net: NeuralNetwork, interrupt_on_call: int) -> dict:
    """Make the ``interrupt_on_call``-th optimizer step raise KeyboardInterrupt after its update
    (Ctrl-C in the middle of an epoch); ``seen["params"]`` are the parameters at that moment.

    The step is wrapped (not ``net.train_batch``) because it is the one per-batch call every
    version of the trainer makes.
    """
    seen = {"calls": 0, "params": None}
    original = optim.step

    def step(*args, **kwargs):
        seen["calls"] += 1
        original(*args, **kwargs)
        if seen["calls"] == interrupt_on_call:
            seen["params"] = [param.copy() for param in net.params()]
            raise KeyboardInterrupt

    optim.step = step
    return seen


@pytest.mark.parametrize("name", ["momentum", "dropout", "early_stopping", "linear_decay"])
@pytest.mark.parametrize("call", [1, 13, 21])
def test_interrupted_inside_an_epoch_keeps_its_parameters_and_resumes_exactly(tmp_path, name,
                                                                              call):
    setup = SETUPS[name]
    reference, reference_history = train(setup)

    net, optim = make_net(setup), setup["optim"]()
    seen = interrupt_on_step(optim, net, call)
    path = tmp_path / "run.ckpt"
    history = Trainer(net, optim).fit(checkpoint=path, **fit_args(setup))
    # 8 batches per epoch: call 13 is inside epoch 2, call 21 inside epoch 3
    epoch = (call - 1) // 8
    assert history.interrupted and history.epochs_run == epoch
    assert seen["params"] is not None
    if not setup.get("fit", {}).get("early_stopping"):  # early stopping restores its best
        assert params_bytes(net) == [p.tobytes() for p in seen["params"]]
    arrays, meta = persistence.read_npz(path, "dlscratch.checkpoint")
    assert meta["epoch"] == epoch  # the last epoch boundary

    resumed, resumed_history = train(setup, resume_from=path)
    assert params_bytes(resumed) == params_bytes(reference)
    assert history_without_flags(resumed_history) == history_without_flags(reference_history)


def test_interrupt_without_checkpointing_returns_the_history_and_keeps_the_parameters(tmp_path):
    net, optim = make_net(SETUPS["sgd"]), SGD(lr=0.05)
    seen = interrupt_on_step(optim, net, 10)
    history = Trainer(net, optim).fit(**fit_args({}))
    assert history.interrupted and history.epochs_run == 1 and len(history.train_loss) == 1
    assert params_bytes(net) == [p.tobytes() for p in seen["params"]]
    assert not os.listdir(tmp_path)


def test_interrupt_calls_on_train_end_and_says_so(capsys):
    ended = []
    net, optim = make_net(SETUPS["sgd"]), SGD(lr=0.05)
    interrupt_on_step(optim, net, 3)
    Trainer(net, optim).fit(callbacks=[LambdaCallback(
        on_train_end=lambda trainer, history: ended.append(history.interrupted))],
        **fit_args({}, verbose=True))
    assert ended == [True]
    assert "interrupted during epoch 1" in capsys.readouterr().out


@pytest.mark.parametrize("every", [2, 4])
def test_checkpoint_every_n_epochs_and_resume_from_it(tmp_path, every):
    setup = SETUPS["momentum"]
    reference, _ = train(setup)
    path = tmp_path / "run.ckpt"
    written = []
    original = persistence.write_npz

    def spy(target, arrays, meta):
        written.append(meta["epoch"])
        original(target, arrays, meta)

    persistence.write_npz = spy
    try:
        _, history = train(setup, callbacks=[interrupt_at_end_of(5)], checkpoint=path,
                           checkpoint_every=every)
    finally:
        persistence.write_npz = original
    # the periodic checkpoints, then the interrupted epoch's boundary (end of epoch 4)
    assert written == [e for e in range(1, 6) if e % every == 0] + [4]
    resumed, _ = train(setup, callbacks=[LambdaCallback()], resume_from=path)
    assert params_bytes(resumed) == params_bytes(reference)


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    setup = SETUPS["early_stopping"]
    path = tmp_path / "run.ckpt"
    finished, history = train(setup, checkpoint=path)
    resumed, resumed_history = train(setup, resume_from=path)
    assert params_bytes(resumed) == params_bytes(finished)
    assert resumed_history.to_dict() == history.to_dict()


def test_a_stop_asked_by_a_plain_callback_is_a_pause(tmp_path):
    setup = SETUPS["sgd"]
    reference, _ = train(setup, callbacks=[LambdaCallback()])
    path = tmp_path / "run.ckpt"

    def pause(trainer, epoch, logs):
        if epoch == 2:
            trainer.stop_training = True

    _, history = train(setup, callbacks=[LambdaCallback(on_epoch_end=pause)], checkpoint=path)
    assert history.epochs_run == 2 and not history.interrupted
    resumed, _ = train(setup, callbacks=[LambdaCallback()], resume_from=path)
    assert params_bytes(resumed) == params_bytes(reference)


def _train_with_checkpoints(path: str) -> None:  # runs in the forked child
    setup = SETUPS["dropout"]
    slow = LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: time.sleep(0.02))
    train(setup, callbacks=[slow], checkpoint=path, epochs=40)


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")
def test_a_killed_training_process_resumes_bit_identically(tmp_path):
    setup = SETUPS["dropout"]
    reference, _ = train(setup, callbacks=[LambdaCallback()], epochs=40)
    path = str(tmp_path / "run.ckpt")
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_train_with_checkpoints, args=(path,), daemon=True)
    child.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(path) and persistence.read_npz(path, "dlscratch.checkpoint")[1][
                "epoch"] >= 5:
            break
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    epoch = persistence.read_npz(path, "dlscratch.checkpoint")[1]["epoch"]
    assert 5 <= epoch < 40
    resumed, _ = train(setup, callbacks=[LambdaCallback()], resume_from=path, epochs=40)
    assert params_bytes(resumed) == params_bytes(reference)


# ---------------------------------------------------------------------- bad resumes
@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    train(SETUPS["momentum"], callbacks=[interrupt_at_end_of(2)], checkpoint=path)
    return path


@pytest.mark.parametrize("change, message", [
    (dict(epochs=7), "written with epochs=8, this call has epochs=7"),
    (dict(batch_size=4), "batch_size=8, this call has batch_size=4"),
    (dict(seed=4), "seed=3, this call has seed=4"),
    (dict(eval_every=3), "eval_every=2"),
    (dict(X_train=X[:60], y_train=Y[:60]), "64 training rows, this call has 60"),
])
def test_resume_with_other_arguments_is_refused(checkpoint, change, message):
    setup = SETUPS["momentum"]
    with pytest.raises(ValueError, match=message):
        train(setup, callbacks=[LambdaCallback()], resume_from=checkpoint, **change)


def test_resume_with_another_optimizer_or_callbacks_is_refused(checkpoint):
    with pytest.raises(ValueError, match="used SGDMomentum, this trainer has SGD"):
        train(SETUPS["sgd"], callbacks=[LambdaCallback()], resume_from=checkpoint)


def test_resume_needs_the_callbacks_with_state_and_only_those(tmp_path):
    path = tmp_path / "run.ckpt"
    train(SETUPS["momentum"], callbacks=[EarlyStopping(patience=5), interrupt_at_end_of(2)],
          checkpoint=path)
    with pytest.raises(ValueError, match=r"the state of callbacks \['EarlyStopping'\], this "
                                         r"call's callbacks with state are \[\]"):
        train(SETUPS["momentum"], resume_from=path)
    # the callback without state (the one that interrupted the run) need not come back
    _, history = train(SETUPS["momentum"], callbacks=[EarlyStopping(patience=5)],
                       resume_from=path)
    assert history.epochs_run == 8


def test_resume_into_another_architecture_is_refused(checkpoint):
    net = NeuralNetwork([Dense(5, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=7,
                        dtype=np.float64)
    with pytest.raises(ModelFileError, match=r"does not fit this network: layers\.0\.W has shape "
                                             r"\(4, 8\) in the checkpoint, the network expects "
                                             r"\(4, 5\)"):
        Trainer(net, SGDMomentum(lr=0.02)).fit(callbacks=[LambdaCallback()],
                                               resume_from=checkpoint, **fit_args({}))


def test_resume_from_a_model_file_or_garbage_is_refused(tmp_path):
    make_net(SETUPS["sgd"]).save(tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match="'dlscratch.network' file; expected "
                                             "'dlscratch.checkpoint'"):
        train(SETUPS["sgd"], resume_from=tmp_path / "model.npz")
    (tmp_path / "garbage.ckpt").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        train(SETUPS["sgd"], resume_from=tmp_path / "garbage.ckpt")
    with pytest.raises(FileNotFoundError):
        train(SETUPS["sgd"], resume_from=tmp_path / "missing.ckpt")


@pytest.mark.parametrize("edit, message", [
    (lambda m, a: m.update(rng={"bit_generator": "Evil"}), "malformed"),
    (lambda m, a: m.update(layer_rngs=[]), "layer_rngs"),
    (lambda m, a: m.update(epoch=99), r"epoch must be an integer in \[0, 8\], got 99"),
    (lambda m, a: m.update(epoch="2"), "epoch must be an integer"),
    (lambda m, a: m["history"].update(extra=1), "malformed"),
    (lambda m, a: m["optimizer"].update(lr="fast"), "optimizer lr must be a number"),
    (lambda m, a: m["optimizer"].pop("steps"), "malformed"),
    (lambda m, a: a.update({"optim.velocity.0": np.zeros((9, 9))}),
     r"optimizer array velocity\.0 has shape \(9, 9\)"),
    (lambda m, a: a.update({"optim.velocity.0": np.full((4, 8), np.nan)}), "finite"),
    (lambda m, a: a.pop("net.layers.1.B"), r"does not fit.*missing keys \['layers\.1\.B'\]"),
    (lambda m, a: a.update({"net.layers.1.B": np.full((1, 1), np.inf)}), "non-finite"),
])
def test_a_damaged_checkpoint_is_refused_and_changes_nothing(checkpoint, edit, message):
    arrays, meta = persistence.read_npz(checkpoint, "dlscratch.checkpoint")
    edit(meta, arrays)
    persistence.write_npz(checkpoint, arrays, meta)
    net = make_net(SETUPS["momentum"]).build(4)
    before = params_bytes(net)
    with pytest.raises(ModelFileError, match=message):
        Trainer(net, SGDMomentum(lr=0.02)).fit(callbacks=[LambdaCallback()],
                                               resume_from=checkpoint, **fit_args({}))
    assert params_bytes(net) == before


# ---------------------------------------------------------------------- divergence
def test_diverged_error_is_exported_and_a_runtime_error():
    assert dlscratch.TrainingDivergedError is TrainingDivergedError
    assert issubclass(TrainingDivergedError, RuntimeError)
    assert issubclass(dlscratch.ModelFileError, ValueError)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_learning_rate_far_too_high_stops_with_a_clear_message(dtype):
    net = NeuralNetwork([Dense(8, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=1,
                        dtype=dtype)
    with pytest.raises(TrainingDivergedError) as info:
        Trainer(net, SGD(lr=1e6)).fit(X, Y, epochs=50, batch_size=8, verbose=False)
    error = info.value
    message = str(error)
    epoch = error.history.stopped_epoch
    assert epoch == len(error.history.train_loss) + 1
    for fragment in ("diverged", f"at epoch {epoch}, batch ", "learning rate 1e+06",
                     "Hint: lower the learning rate (try lr=100000)"):
        assert fragment in message
    assert "inf" in message or "nan" in message
    assert all(np.isfinite(param).all() for param in net.params())
    assert all(math.isfinite(loss) for loss in error.history.train_loss)


def boost_lr_after(epoch: int) -> LambdaCallback:
    def hook(trainer, current, logs):
        if current == epoch:
            trainer.optim.initial_lr = 1e200  # the next epoch's learning rate

    return LambdaCallback(on_epoch_end=hook)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_keeps_the_parameters_of_the_last_finite_epoch():
    setup = SETUPS["sgd"]
    with pytest.raises(TrainingDivergedError, match="at epoch 4.*end of epoch 3") as info:
        train(setup, callbacks=[boost_lr_after(3)], epochs=10)
    diverged_net = info.value.history
    assert diverged_net.epochs_run == 3 and diverged_net.stopped_epoch == 4
    # the same run, three epochs long, ends where the diverged one was put back
    reference, _ = train(setup, callbacks=[LambdaCallback()], epochs=3)
    net = make_net(setup)
    with pytest.raises(TrainingDivergedError):
        Trainer(net, setup["optim"]()).fit(callbacks=[boost_lr_after(3)],
                                           **fit_args(setup, epochs=10))
    # epochs=10 and epochs=3 shuffle the same way and use the same constant learning rate
    assert params_bytes(net) == params_bytes(reference)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_with_early_stopping_keeps_the_best_evaluated_parameters():
    setup = dict(optim=lambda: SGD(lr=0.05), fit=dict(early_stopping=True, eval_every=2))
    net = make_net(setup)
    with pytest.raises(TrainingDivergedError, match="best evaluation \\(epoch 2\\)") as info:
        Trainer(net, setup["optim"]()).fit(callbacks=[boost_lr_after(3)],
                                           **fit_args(setup, epochs=10))
    assert info.value.history.eval_epochs == [2] and info.value.history.best_epoch == 2
    reference, _ = train(setup, callbacks=[LambdaCallback()], epochs=2)
    assert params_bytes(net) == params_bytes(reference)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_in_the_first_epoch_restores_the_initial_parameters():
    net = make_net(SETUPS["sgd"]).build(4)
    initial = params_bytes(net)
    with pytest.raises(TrainingDivergedError, match="at epoch 1.*when fit began"):
        Trainer(net, SGD(lr=1e300)).fit(X, Y, epochs=3, batch_size=8, restart=False,
                                         verbose=False)
    assert params_bytes(net) == initial


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_of_a_classifier():
    labels = (X[:, 0] > 0).astype(int)
    net = NeuralNetwork([Dense(8, Tanh()), Dense(2, Linear())], SoftmaxCrossEntropy(), seed=1)
    with pytest.raises(TrainingDivergedError, match="learning rate 1e\\+38"):
        Trainer(net, SGD(lr=1e38)).fit(X, labels, epochs=20, batch_size=8, verbose=False)
    assert all(np.isfinite(param).all() for param in net.params())
