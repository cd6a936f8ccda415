"""What fit keeps and restores, callbacks across fits, and the book's extension points."""

import numpy as np
import pytest

from dlscratch import (
    Dense,
    EarlyStopping,
    LambdaCallback,
    Linear,
    MeanSquaredError,
    ModelCheckpoint,
    NeuralNetwork,
    Optimizer,
    SGDMomentum,
    Tanh,
    Trainer,
)
from dlscratch.datasets import train_test_split


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, np.sin(X.sum(axis=1, keepdims=True))


def _net(seed=0):
    return NeuralNetwork([Dense(6, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=seed,
                         dtype=np.float64)


def test_epochs_after_the_last_evaluation_are_kept_when_nothing_stopped_the_run():
    X, y = _data()
    net = _net()
    seen = {}
    last_epoch = LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: seen.__setitem__(
        epoch, [p.copy() for p in trainer.net.params()]))
    history = Trainer(net, SGDMomentum(lr=0.01)).fit(X, y, X, y, epochs=15, eval_every=10,
                                                     verbose=False, callbacks=[last_epoch])
    assert history.epochs_run == 15 and history.stopped_epoch is None
    for param, expected in zip(net.params(), seen[15]):
        np.testing.assert_array_equal(param, expected)


def test_an_interrupt_keeps_the_parameters_reached_so_far_even_with_early_stopping():
    X, y = _data()
    net = _net()
    seen = {}

    def interrupt(trainer, epoch, logs):
        seen["params"] = [p.copy() for p in trainer.net.params()]
        if epoch == 8:
            raise KeyboardInterrupt

    history = Trainer(net, SGDMomentum(lr=0.01)).fit(
        X, y, X, y, epochs=20, eval_every=5, verbose=False,
        callbacks=[LambdaCallback(on_epoch_end=interrupt)])
    assert history.interrupted and history.epochs_run == 8
    for param, expected in zip(net.params(), seen["params"]):
        np.testing.assert_array_equal(param, expected)


def test_an_early_stopping_callback_used_in_two_fits_starts_afresh_in_the_second():
    X, y = _data()
    stopper = EarlyStopping(patience=2)
    first = _net(seed=1)
    Trainer(first, SGDMomentum(lr=0.01)).fit(X, y, X, y, epochs=30, eval_every=1,
                                             early_stopping=False, verbose=False,
                                             callbacks=[stopper])
    second = _net(seed=2)
    history = Trainer(second, SGDMomentum(lr=0.01)).fit(X, 2 * y, X, 2 * y, epochs=5,
                                                        eval_every=1, early_stopping=False,
                                                        verbose=False, callbacks=[stopper])
    assert history.epochs_run == 5
    assert not any(np.array_equal(a, b) for a, b in zip(first.params(), second.params()))
    assert stopper.best_epoch is not None and stopper.best_epoch <= 5


def test_model_checkpoint_saves_every_epoch_without_test_data_and_fills_logs(tmp_path):
    X, y = _data()
    every_epoch = ModelCheckpoint(tmp_path / "model_{epoch}.npz")
    best = ModelCheckpoint(tmp_path / "best_{epoch}_{val_loss:.4f}.npz", save_best_only=True)
    Trainer(_net(), SGDMomentum(lr=0.01)).fit(X, y, epochs=3, verbose=False,
                                              callbacks=[every_epoch])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"model_{e}.npz" for e in (1, 2, 3)]
    Trainer(_net(), SGDMomentum(lr=0.01)).fit(X, y, X, y, epochs=4, eval_every=2,
                                              verbose=False, callbacks=[best])
    assert [p.rsplit("/", 1)[-1][:7] for p in best.saved] == ["best_2_", "best_4_"]
    NeuralNetwork.load(best.saved[-1])
    with pytest.raises(ValueError, match="cannot be filled"):
        ModelCheckpoint(tmp_path / "model_{step}.npz")


def test_an_optimizer_written_the_books_chapter_four_way_trains():
    class BookSGD(Optimizer):
        def _update_rule(self, **kwargs):
            kwargs["param"] -= self.lr * kwargs["grad"]

    X, y = _data()
    history = Trainer(_net(), BookSGD(lr=0.05)).fit(X, y, X, y, epochs=10, eval_every=5,
                                                    early_stopping=False, verbose=False)
    assert history.train_loss[-1] < history.train_loss[0]


def test_backward_returns_the_input_gradient_when_asked_for():
    X, y = _data(n=5)
    net = _net()
    net.train_batch(X, y)
    assert net.backward(net.loss.backward()) is None
    net.input_grad_needed = True
    net.loss.forward(net.forward(X), y)
    input_grad = net.backward(net.loss.backward())
    assert input_grad is not None and input_grad.shape == X.shape
    assert net.forward_loss(X, y) == pytest.approx(net.loss.forward(net.forward(X), y))


def test_train_test_split_accepts_scikit_learns_random_state():
    X, y = _data()
    a = train_test_split(X, y, test_size=0.3, random_state=80718)
    b = train_test_split(X, y, test_size=0.3, seed=80718)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert len(a[1]) == 12


def test_one_hot_refuses_labels_that_would_need_a_giant_array():
    from dlscratch.datasets import one_hot

    with pytest.raises(ValueError, match="would need an array of"):
        one_hot(np.array([0, 6_000_000_000]))


def test_a_model_file_claiming_a_giant_input_is_refused_before_anything_is_built(tmp_path):
    import json

    from dlscratch import ModelFileError

    net = _net()
    net.build(3)
    net.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz") as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["input_shape"] = [2**20, 2**20]
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "giant.npz", **arrays)
    with pytest.raises(ModelFileError, match="values per row"):
        NeuralNetwork.load(tmp_path / "giant.npz")


def test_a_progress_bar_counts_the_epochs_and_shows_the_latest_losses():
    import io

    from dlscratch import ProgressBar

    X, y = _data()
    stream = io.StringIO()
    bar = ProgressBar(file=stream, mininterval=0)
    Trainer(_net(), SGDMomentum(lr=0.01)).fit(X, y, X, y, epochs=4, eval_every=2,
                                              verbose=False, callbacks=[bar])
    assert bar.bar.n == 4
    shown = stream.getvalue()
    assert "4/4" in shown and "val_loss=" in shown


def test_the_books_prints_go_above_an_open_progress_bar(monkeypatch, capsys):
    import io

    from tqdm.auto import tqdm

    from dlscratch import ProgressBar

    written: list[str] = []
    monkeypatch.setattr(tqdm, "write", staticmethod(lambda s, *a, **k: written.append(s)))
    X, y = _data()
    trainer = Trainer(_net(), SGDMomentum(lr=0.01))
    trainer.fit(X, y, X, y, epochs=4, eval_every=2, verbose=True,
                callbacks=[ProgressBar(file=io.StringIO(), mininterval=0)])
    assert any(line.startswith("Validation loss after 2 epochs") for line in written)
    assert "Validation loss after" not in capsys.readouterr().out  # none through plain print
    trainer.say("after the bar")  # once the bar is closed, print again
    assert capsys.readouterr().out == "after the bar\n"
