"""Callbacks: hooks the Trainer calls at the start and end of training, epochs and evaluations."""

from __future__ import annotations

import os
import string
from typing import TYPE_CHECKING, Any

import numpy as np

from ._io import check_folder_writable
from .backend import array_module, to_device, to_host
from .validation import check_bool, check_number, check_path, check_positive

if TYPE_CHECKING:
    from .train import History, Trainer


class Callback:
    """Override any hook; set ``trainer.stop_training = True`` to end training after this epoch.

    ``logs`` holds ``loss`` (the epoch's mean training loss) and ``lr``, plus, after an
    evaluation, ``val_loss`` and the metrics (``accuracy`` or ``mae``, ``rmse``, ``r2``).
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (counted from 1)."""

    def on_evaluate(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """After an evaluation on the test data at the end of ``epoch``."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """After epoch ``epoch`` (and its evaluation, if any)."""

    def on_train_end(self, trainer: Trainer, history: History) -> None:
        """After the last epoch, an early stop or an interruption."""

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready state and arrays, saved in checkpoints so a resumed run is identical."""
        return {}, {}

    def load_state_dict(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` returned.

        Check everything first and raise ValueError/TypeError/KeyError for a bad state; resuming
        tries it on a shallow copy of the callback, so assign attributes rather than change the
        objects they hold."""

    def state_array_shapes(self, state: dict[str, Any], net: Any
                           ) -> dict[str, tuple[int, ...]] | None:
        """The names and shapes of the arrays ``state_dict`` saved beside ``state`` (checked
        against a checkpoint before it is read); None accepts any (bounded by the file)."""
        return None


class EarlyStopping(Callback):
    """Stop after ``patience`` evaluations in a row with ``val_loss`` not below best - min_delta.

    With ``restore_best_weights`` the parameters of the best evaluation, and the buffers (batch
    norm's running statistics) that went with them, are copied back into the network (in
    place) when it has stopped training (not after an interruption, nor when
    the epochs simply ran out). ``patience=1`` is the book's rule. Each
    ``fit`` starts afresh (a resumed one continues from its checkpoint).
    """

    def __init__(self, patience: int = 1, min_delta: float = 0.0,
                 restore_best_weights: bool = True, book_messages: bool = False) -> None:
        check_number("patience", patience, low=0, low_open=False, integer=True,
                     owner="EarlyStopping")
        check_number("min_delta", min_delta, low=0, low_open=False, owner="EarlyStopping")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights,
                                               owner="EarlyStopping")
        self.book_messages = check_bool("book_messages", book_messages, owner="EarlyStopping")
        self._forget()

    def _forget(self) -> None:
        self.best_loss: float | None = None
        self.best_epoch: int | None = None
        self.best_params: list[np.ndarray] | None = None
        self.wait = 0
        self.stopped = False

    def on_train_begin(self, trainer: Trainer) -> None:
        if not trainer.resuming:
            self._forget()

    def check_run(self, trainer: Trainer) -> None:
        """Raise ValueError for a run without evaluations: it would never stop anything."""
        logged = getattr(trainer, "logged_fields", None)
        if logged is not None and "val_loss" not in logged:
            raise ValueError("EarlyStopping watches the validation loss, but this run has no "
                             "validation data; give fit X_test and y_test, or leave "
                             "EarlyStopping out")

    def on_evaluate(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        loss = logs["val_loss"]
        if self.best_loss is None or loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.wait = loss, epoch, 0
            params = trainer.net.params_and_buffers()
            if self.best_params is None or any(
                    array_module(saved) is not array_module(param)
                    for saved, param in zip(self.best_params, params)):
                self.best_params = [param.copy() for param in params]
            else:
                for saved, param in zip(self.best_params, params):
                    np.copyto(saved, param)
            if self.book_messages:
                trainer.say(f"Validation loss after {epoch} epochs is {loss:.3f}")
            return
        self.wait += 1
        if self.wait < max(self.patience, 1):
            if self.book_messages:
                trainer.say(f"Validation loss after {epoch} epochs is {loss:.3f}")
            return
        trainer.stop_training = True
        self.stopped = True
        if self.book_messages:
            trainer.say(f"Loss increased after epoch {epoch}, final loss was "
                        f"{self.best_loss:.3f}, using the model from epoch {self.best_epoch}")
        else:
            trainer.say(f"Early stopping at epoch {epoch}: no improvement on {self.best_loss:.4g} "
                        f"(epoch {self.best_epoch}) for {self.wait} evaluation(s)")

    def on_train_end(self, trainer: Trainer, history: History) -> None:
        if self.stopped and self.restore_best_weights and not history.interrupted:
            restored = trainer.net.params_and_buffers()
            for array, saved in zip(restored, self.best_params, strict=True):
                np.copyto(array, to_device(saved, like=array))

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "wait": self.wait,
                 "stopped": self.stopped}
        arrays = {} if self.best_params is None else {
            f"best.{i}": p for i, p in enumerate(self.best_params)}
        return state, arrays

    def load_state_dict(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        owner = "EarlyStopping.load_state_dict"
        expected = {"best_loss", "best_epoch", "wait", "stopped"}
        if set(state) != expected:
            raise KeyError(f"{owner}: the state has entries {sorted(state)}, expected "
                           f"{sorted(expected)}")
        best_loss, best_epoch = state["best_loss"], state["best_epoch"]
        if best_loss is not None:
            check_number("best_loss", best_loss, owner=owner)
        if best_epoch is not None:
            check_number("best_epoch", best_epoch, low=1, low_open=False, integer=True,
                         owner=owner)
        if (best_loss is None) != (best_epoch is None) or (best_loss is None) != (not arrays):
            raise ValueError(f"{owner}: best_loss, best_epoch and the best parameters come "
                             f"together; got best_loss={best_loss!r}, best_epoch={best_epoch!r} "
                             f"and {len(arrays)} arrays")
        check_number("wait", state["wait"], low=0, low_open=False, integer=True, owner=owner)
        stopped = check_bool("stopped", state["stopped"], owner=owner)
        names = [f"best.{i}" for i in range(len(arrays))]
        if sorted(arrays) != sorted(names):
            raise KeyError(f"{owner}: arrays {sorted(arrays)[:10]}, expected {names[:10]}")
        self.best_params = [to_host(arrays[name], copy=True) for name in names] or None
        self.best_loss, self.best_epoch = best_loss, best_epoch
        self.wait, self.stopped = int(state["wait"]), stopped

    def state_array_shapes(self, state: dict[str, Any], net: Any
                           ) -> dict[str, tuple[int, ...]] | None:
        if not isinstance(state, dict) or state.get("best_loss") is None:
            return {}
        return {f"best.{i}": tuple(array.shape)
                for i, array in enumerate(net.params_and_buffers())}


class ModelCheckpoint(Callback):
    """Save the network to ``path`` atomically: after every ``every``-th epoch, or with
    ``save_best_only`` after each evaluation that improves ``val_loss``.

    ``path`` may name ``{epoch}`` and the epoch's logs (``{loss}``, ``{val_loss:.3f}``, ...);
    a name from the evaluation is only filled on evaluated epochs, so then only those save.
    """

    FIELDS = ("epoch", "loss", "lr", "val_loss", "accuracy", "mae", "rmse", "r2")

    def __init__(self, path: str | os.PathLike, save_best_only: bool = False,
                 every: int = 1) -> None:
        check_positive("every", every, integer=True, owner="ModelCheckpoint")
        self.path = check_path("path", path, owner="ModelCheckpoint")
        try:
            # sample values of the types the logs hold: "{loss:d}" fails here, not mid-training
            self.path.format(**{name: 1 if name == "epoch" else 0.5 for name in self.FIELDS})
            self.fields = {name for _, name, _, _ in string.Formatter().parse(self.path)
                           if name is not None}
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as error:
            raise ValueError(f"ModelCheckpoint: path {self.path!r} has a field that cannot be "
                             f"filled ({type(error).__name__}: {error}); use only "
                             f"{{{'}, {'.join(self.FIELDS)}}} (epoch is an integer, the others "
                             f"floats)") from None
        self.save_best_only = check_bool("save_best_only", save_best_only,
                                         owner="ModelCheckpoint")
        self.every = int(every)
        self.best_loss: float | None = None
        self.saved: list[str] = []

    def on_train_begin(self, trainer: Trainer) -> None:
        self.check_run(trainer)
        if not trainer.resuming:
            self.best_loss = None

    def check_run(self, trainer: Trainer) -> None:
        """Raise ValueError when this run could never fill the path or save (``fit`` calls it
        before it changes anything, resuming included); check the folder takes files."""
        logged = getattr(trainer, "logged_fields", None)
        if logged is not None:
            never = sorted(self.fields - set(logged))
            if never:
                raise ValueError(f"ModelCheckpoint: path {self.path!r} names {never}, which this "
                                 f"run never logs (it logs {sorted(logged)}), so it would never "
                                 f"save; use fields of this run")
            if self.save_best_only and "val_loss" not in logged:
                raise ValueError("ModelCheckpoint(save_best_only=True) needs an evaluation "
                                 "(val_loss): give fit X_test and y_test, or save every epoch")
        folder = os.path.dirname(self.path)
        if "{" not in folder:
            check_folder_writable(self.path.replace("{", "").replace("}", ""), "path",
                                  "ModelCheckpoint")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.save_best_only:
            loss = logs.get("val_loss")
            if loss is None or (self.best_loss is not None and loss >= self.best_loss):
                return
            self.best_loss = loss
        elif epoch % self.every:
            return
        try:
            path = self.path.format(epoch=epoch, **logs)
        except KeyError:
            return  # a field of the evaluation on an epoch without one
        trainer.net.save(path)
        self.saved.append(path)

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"best_loss": self.best_loss}, {}

    def load_state_dict(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        owner = "ModelCheckpoint.load_state_dict"
        if set(state) != {"best_loss"} or arrays:
            raise KeyError(f"{owner}: the state has entries {sorted(state)} and arrays "
                           f"{sorted(arrays)[:5]}, expected only best_loss")
        if state["best_loss"] is not None:
            check_number("best_loss", state["best_loss"], owner=owner)
        self.best_loss = state["best_loss"]

    def state_array_shapes(self, state: dict[str, Any], net: Any
                           ) -> dict[str, tuple[int, ...]] | None:
        return {}


class ProgressBar(Callback):
    """A tqdm progress bar over the epochs, showing the latest loss, val_loss and metrics.

    Needs the ``progress`` extra (``pip install "dlscratch[progress]"``); tqdm is imported
    only when the bar is created.
    """

    def __init__(self, **tqdm_options: Any) -> None:
        try:
            import tqdm  # noqa: F401
        except ImportError:
            raise ImportError('ProgressBar needs tqdm: pip install "dlscratch[progress]"') \
                from None
        self.tqdm_options = tqdm_options
        self.bar = None

    def on_train_begin(self, trainer: Trainer) -> None:
        from tqdm.auto import tqdm

        run = trainer.history
        self.bar = tqdm(total=trainer.epochs, initial=run.epochs_run if run else 0,
                        unit="epoch", **self.tqdm_options)
        trainer._print = tqdm.write  # the book's prints go above the bar, not through it

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.bar.set_postfix({name: f"{value:.4g}" for name, value in logs.items()},
                             refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer: Trainer, history: History) -> None:
        trainer.__dict__.pop("_print", None)
        self.bar.close()


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda t, e, logs: ...)``."""

    def __init__(self, **hooks: Any) -> None:
        allowed = {"on_train_begin", "on_epoch_begin", "on_evaluate", "on_epoch_end",
                   "on_train_end"}
        for name, function in hooks.items():
            if name not in allowed:
                raise ValueError(f"LambdaCallback: unknown hook {name!r}; expected one of "
                                 f"{sorted(allowed)}")
            if not callable(function):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {function!r}")
            setattr(self, name, function)
