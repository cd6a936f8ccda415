"""Trainer: shuffles, runs mini-batches, evaluates, stops early, checkpoints; returns a History."""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._io import check_folder_writable
from .backend import is_array, on_device, to_device, to_host, to_module, zeros
from .callbacks import Callback, EarlyStopping
from .lean import LeanStep
from .losses import Loss
from .metrics import evaluation_metrics
from .network import NeuralNetwork
from .optimizers import Optimizer
from .validation import as_array, check_bool, check_lengths, check_path, check_positive

CHECKPOINT_FORMAT = "dlscratch.checkpoint"


def logger():
    """The "dlscratch" logger (logging loads on first use, not on ``import dlscratch``)."""
    import logging

    return logging.getLogger("dlscratch")


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite; ``history`` holds the run up to that point."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What ``fit`` saw: per-epoch training loss, evaluations and their metrics, the best epoch.

    Epochs are counted from 1, as the book prints them.
    """

    train_loss: list[float] = field(default_factory=list)
    eval_epochs: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_loss: float | None = None
    stopped_epoch: int | None = None
    interrupted: bool = False

    @property
    def epochs_run(self) -> int:
        """How many epochs were completed."""
        return len(self.train_loss)

    def __repr__(self) -> str:
        """One line: epochs, last losses and metrics, best epoch, how the run ended."""
        parts = [f"epochs_run={self.epochs_run}"]
        if self.train_loss:
            parts.append(f"train_loss={self.train_loss[-1]:.4g}")
        if self.val_loss:
            parts.append(f"val_loss={self.val_loss[-1]:.4g} (epoch {self.eval_epochs[-1]})")
        parts.extend(f"{name}={values[-1]:.4g}" for name, values in self.metrics.items()
                     if values)
        if self.best_epoch is not None:
            parts.append(f"best_epoch={self.best_epoch} (val_loss {self.best_val_loss:.4g})")
        if self.stopped_epoch is not None:
            parts.append(f"stopped_epoch={self.stopped_epoch}")
        if self.interrupted:
            parts.append("interrupted=True")
        return f"History({', '.join(parts)})"

    def record_evaluation(self, epoch: int, val_loss: float, metrics: dict[str, float]) -> None:
        """Add one evaluation; keeps ``best_epoch``/``best_val_loss`` up to date."""
        self.eval_epochs.append(epoch)
        self.val_loss.append(val_loss)
        for name, value in metrics.items():
            self.metrics.setdefault(name, []).append(value)
        if self.best_val_loss is None or val_loss < self.best_val_loss:
            self.best_val_loss, self.best_epoch = val_loss, epoch

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready)."""
        return {"train_loss": list(self.train_loss), "eval_epochs": list(self.eval_epochs),
                "val_loss": list(self.val_loss),
                "metrics": {k: list(v) for k, v in self.metrics.items()}, "lr": list(self.lr),
                "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "stopped_epoch": self.stopped_epoch, "interrupted": self.interrupted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The inverse of ``to_dict``."""
        return cls(**data)


class _FitInputs:
    """What ``fit`` checks and prepares before a run: the data, the targets, the network, the
    token ids, and where the arrays live."""

    def _ready_network(self, X_train: np.ndarray, restart: bool, resuming: bool) -> None:
        """Re-draw the weights and reset the optimizer for a fresh run; build the network for
        X_train's rows; refuse an optimizer whose state is for other parameters."""
        owner = "Trainer.fit"
        if restart and not resuming:
            self.net.reset_parameters()
            self.optim.reset()
            self.best_loss = 1e9
        self.net.check_features(X_train, "X_train", owner)
        if not self.net.built:
            self.net.build(X_train.shape[1:])
        if not restart or resuming:
            self.optim.check_fits(self.net.params(), owner)

    def _checked_ids(self, X_train, X_test, batch_size: int):
        """The first layer when it reads token ids (checked here once, not batch by batch),
        else None; a BatchNorm refuses batches of fewer than 2 rows."""
        owner = "Trainer.fit"
        ids_layer = self.net.layers[0] if hasattr(self.net.layers[0], "check_ids") else None
        if ids_layer is not None:  # token ids: checked once here, not batch by batch
            ids_layer.check_ids(X_train, "X_train", owner)
            if X_test is not None:
                ids_layer.check_ids(X_test, "X_test", owner)
        if _batch_norm_rows(self.net) > min(batch_size, len(X_train)):
            raise ValueError(f"{owner}: the network has a BatchNorm, which needs training batches "
                             f"of at least 2 rows (one value per channel has no variance), but "
                             f"batch_size={batch_size} and X_train has {len(X_train)} rows; give "
                             f"batch_size >= 2 and at least 2 rows (a last batch of one row "
                             f"joins the batch before it)")
        return ids_layer

    def _checked_data(self, X_train, y_train, X_test, y_test) -> tuple:
        """The training (and test) arrays checked and cast: X to the network's input dtype, y
        of one to three dimensions, rows of equal count and shape."""
        owner = "Trainer.fit"
        dtype = self.net._input_dtype(X_train)  # integer ids stay integers for an Embedding
        # sequence models (a recurrent layer or an Embedding first) may have (batch, time,
        # classes) targets
        y_ndim = (1, 2, 3) if getattr(self.net.layers[0], "variable_length", False) else (1, 2)
        X_train = as_array(X_train, "X_train", dtype, ndim=tuple(range(2, 6)), owner=owner)
        y_train = as_array(y_train, "y_train", ndim=y_ndim, owner=owner)
        check_lengths(owner, X_train=X_train, y_train=y_train)
        if X_test is not None:
            X_test = as_array(X_test, "X_test", dtype, ndim=X_train.ndim, owner=owner)
            y_test = as_array(y_test, "y_test", ndim=y_ndim, owner=owner)
            check_lengths(owner, X_test=X_test, y_test=y_test)
            if X_test.shape[1:] != X_train.shape[1:]:
                raise ValueError(f"{owner}: X_test rows have shape {X_test.shape[1:]}, X_train "
                                 f"rows {X_train.shape[1:]}; they must match")
        return X_train, y_train, X_test, y_test

    def _checked_targets(self, y: np.ndarray, name: str, n_rows: int) -> np.ndarray:
        """Check y against the loss and the network's output shape; cast float targets."""
        output_shape = self._output_shape()
        placeholder = np.broadcast_to(np.zeros((), dtype=self.net.dtype), (n_rows, *output_shape))
        try:
            y = self.net.loss._check_target(placeholder, y)
        except (ValueError, TypeError) as error:
            loss_name = type(self.net.loss).__name__
            # "target" (the word only: "targets" stays plural, never "y_trains") -> y_train
            message = re.sub(r"\btarget\b", name, str(error).replace(f"{loss_name}.forward: ", ""))
            message = message.replace("the prediction", "the network's output")
            raise type(error)(f"Trainer.fit: {message} (loss {loss_name})") from None
        if y.dtype.kind == "f" and y.dtype != self.net.dtype:
            # the cast is checked: 1e300 does not fit in float32
            y = as_array(y, name, self.net.dtype, owner="Trainer.fit")
        return y

    def _place_data(self, X_train, y_train, X_test, y_test) -> tuple:
        """The data on the network's device: all of it when it fits in ``device_data_limit``,
        else left where it is (batches are then copied one by one) except ``y_test``, which the
        evaluation needs whole. On the CPU, device arrays are copied to the host once."""
        arrays = (X_train, y_train, X_test, y_test)
        module = self.net.device.module
        if module is np:
            return tuple(None if a is None else to_host(a) for a in arrays)
        whole = sum(a.nbytes for a in arrays if a is not None) <= self.device_data_limit
        return tuple(None if a is None else to_module(a, module)
                     if whole or index == 3 else a for index, a in enumerate(arrays))


class Trainer(_FitInputs):
    """Trains ``net`` with ``optim`` (``Trainer(net, SGD(lr=0.01)).fit(X, y, X_test, y_test)``).

    On a device (``net.to("cuda")``), ``fit`` takes host or device arrays. Data of at most
    ``device_data_limit`` bytes (X and y, training and test together; 1 GiB by default) is
    copied to the network's device once per ``fit``; larger data stays where it is and each
    batch is copied when it is used. The data is never copied whole again: the shuffle is a
    permutation drawn on the host (so a run repeats), uploaded once per epoch, and each batch
    gathers its rows through it. A step on a device reads nothing back: the batch losses and
    one flag saying whether every parameter is finite are read together, in one transfer, at
    the end of each epoch, where a non-finite loss stops the run (``TrainingDivergedError``
    names its batch as on the CPU, and the network gets the parameters of the end of the
    previous epoch). ``conv_testing`` reads every 10th batch's loss, as it prints it.
    """

    #: the largest data set (bytes) that ``fit`` copies to the network's device in one piece
    device_data_limit: int = 2 ** 30

    def __init__(self, net: NeuralNetwork, optim: Optimizer) -> None:
        if not isinstance(net, NeuralNetwork):
            raise TypeError(f"Trainer: net must be a NeuralNetwork, got {type(net).__name__}")
        if not isinstance(optim, Optimizer):
            raise TypeError(f"Trainer: optim must be an Optimizer such as SGD(lr=0.01), got "
                            f"{type(optim).__name__}")
        self.net = net
        self.optim = optim
        self.optim.net = net
        self.best_loss = 1e9
        self.stop_training = False
        self.history: History | None = None
        self.verbose = True
        self.resuming = False
        self.epochs = 0
        self.logged_fields: list[str] | None = None

    # ------------------------------------------------------------------ public
    def fit(self, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray | None = None,
            y_test: np.ndarray | None = None, epochs: int = 100, eval_every: int = 10,
            batch_size: int = 32, seed: int | None = 1, single_output: bool = False,
            restart: bool = True, early_stopping: bool = True, conv_testing: bool = False,
            verbose: bool = True, callbacks: list[Callback] | None = None,
            checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1,
            resume_from: str | os.PathLike | None = None) -> History:
        """Train for ``epochs`` epochs of shuffled mini-batches; evaluate every ``eval_every``
        (the last epoch when ``eval_every`` > ``epochs``: test data is always evaluated).

        With ``early_stopping`` the run stops at the first evaluation whose loss is not lower
        than the best so far and the best evaluation's parameters are put back into ``net``.
        ``restart`` re-draws the initial weights from the network's seed and resets the
        optimizer; ``restart=False`` continues from the current parameters. ``checkpoint``
        writes the whole training state every ``checkpoint_every`` epochs; ``resume_from``
        continues such a run exactly. ``conv_testing`` prints, as the book's chapter-5 trainer,
        the loss of every 10th batch and the test accuracy every 100 batches (a sign of life in
        long convolution epochs). ``single_output`` is accepted for the book's signature and
        has no effect.
        """
        with on_device(self.net.device):  # every new array on the network's GPU
            return self._fit(X_train, y_train, X_test, y_test, epochs, eval_every, batch_size,
                             seed, single_output, restart, early_stopping, conv_testing, verbose,
                             callbacks, checkpoint, checkpoint_every, resume_from)

    def _fit(self, X_train, y_train, X_test, y_test, epochs, eval_every, batch_size, seed,
             single_output, restart, early_stopping, conv_testing, verbose, callbacks,
             checkpoint, checkpoint_every, resume_from) -> History:
        callbacks, checkpoint, resume_from = _checked_fit_settings(
            epochs, eval_every, batch_size, checkpoint_every, seed, callbacks, X_test, y_test,
            restart, early_stopping, verbose, single_output, conv_testing, checkpoint,
            resume_from)
        self.verbose = verbose
        X_train, y_train, X_test, y_test = self._checked_data(X_train, y_train, X_test, y_test)
        self._ready_network(X_train, restart, resume_from is not None)
        y_train = self._checked_targets(y_train, "y_train", len(X_train))
        if y_test is not None:
            y_test = self._checked_targets(y_test, "y_test", len(X_test))
        ids_layer = self._checked_ids(X_train, X_test, batch_size)
        X_train, y_train, X_test, y_test = self._place_data(X_train, y_train, X_test, y_test)

        stopper = None
        if early_stopping and X_test is not None:
            stopper = EarlyStopping(patience=1, min_delta=0.0, restore_best_weights=True,
                                    book_messages=True)
            callbacks.insert(0, stopper)
        run = _Run(self, X_train, y_train, X_test, y_test, epochs, eval_every, batch_size, seed,
                   callbacks, checkpoint, checkpoint_every)
        run.conv_testing = bool(conv_testing)
        self.epochs = epochs
        self.resuming = resume_from is not None
        self.logged_fields = run.logged_fields()
        for callback in callbacks:  # settings that could never work fail before any change
            if hasattr(callback, "check_run"):
                callback.check_run(self)
        if self.resuming:
            run.resume(resume_from)
        # an overflow ends as a non-finite loss, which stops the run with one clear message;
        # NumPy's warnings on the way would only say it again, less clearly
        with np.errstate(over="ignore", invalid="ignore"):
            if ids_layer is not None:
                ids_layer.ids_checked = True
            try:
                history = run.train()
            finally:
                if ids_layer is not None:
                    ids_layer.ids_checked = False
        if stopper is not None and stopper.best_loss is not None:
            self.best_loss = stopper.best_loss
        return history

    def _output_shape(self) -> tuple[int, ...]:
        if not hasattr(self, "_cached_output_shape") or self._cached_for is not self.net.layers[-1]:
            probe = self.net.forward(np.zeros((1, *self.net.input_shape), dtype=self.net.dtype),
                                     inference=True)
            self.net._release()
            self._cached_output_shape = probe.shape[1:]
            self._cached_for = self.net.layers[-1]
        return self._cached_output_shape

    @staticmethod
    def generate_batches(X: np.ndarray, y: np.ndarray, size: int = 32):
        """Consecutive ``(X[i:i + size], y[i:i + size])``, the last one partial (the book's)."""
        check_positive("size", size, integer=True, owner="Trainer.generate_batches")
        check_lengths("Trainer.generate_batches", X=X, y=y)
        for start in range(0, len(X), size):
            yield X[start:start + size], y[start:start + size]

    def say(self, message: str) -> None:
        """Log ``message``; also print it when ``verbose`` (the book prints its progress)."""
        logger().info(message)
        if self.verbose:
            # a ProgressBar routes the prints above its bar (tqdm.write) while it is open
            getattr(self, "_print", print)(message)


def _checked_fit_settings(epochs, eval_every, batch_size, checkpoint_every, seed, callbacks,
                          X_test, y_test, restart, early_stopping, verbose, single_output,
                          conv_testing, checkpoint, resume_from) -> tuple:
    """Refuse any ``fit`` setting that could never work, before anything changes: (the
    callbacks as a list, the checked checkpoint path, the checked resume_from path)."""
    owner = "Trainer.fit"
    for name, value in (("epochs", epochs), ("eval_every", eval_every),
                        ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        check_positive(name, value, integer=True, owner=owner)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"{owner}: seed must be a non-negative integer or None, got {seed!r}")
    if isinstance(callbacks, Callback):
        raise TypeError(f"{owner}: callbacks must be a list of Callback objects, got "
                        f"{callbacks!r}; write callbacks=[...]")
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"{owner}: callbacks must be Callback objects, got {callback!r}")
    if (X_test is None) != (y_test is None):
        raise ValueError(f"{owner}: give both X_test and y_test, or neither")
    for name, value in (("restart", restart), ("early_stopping", early_stopping),
                        ("verbose", verbose), ("single_output", single_output),
                        ("conv_testing", conv_testing)):
        check_bool(name, value, owner)
    if resume_from is not None:
        resume_from = check_path("resume_from", resume_from, owner)
    if checkpoint is not None:
        # before any training: a folder that refuses files would fail after the first epoch
        checkpoint = check_path("checkpoint", checkpoint, owner)
        check_folder_writable(checkpoint, "checkpoint", owner)
        _check_replaces_a_checkpoint(checkpoint, owner)
    return callbacks, checkpoint, resume_from


class _LeanPath:
    """The lean step (lean.py) of a run of a Dense network on the CPU: its epochs."""

    def lean_step(self):
        """The lean step (``lean.py``) when this run allows it, else None: the network and
        optimizer are the library's own, on the CPU, and no batch is printed."""
        if self.conv_testing:
            return None
        if getattr(self.net.train_batch, "__func__", None) is not NeuralNetwork.train_batch \
                or getattr(self.optim.step, "__func__", None) is not Optimizer.step:
            return None  # replaced on the instance (a patch): the general path calls it
        lean = LeanStep.for_network(self.net, self.optim)
        if lean is not None:  # the end-of-epoch check of the parameters, run by run
            self.params = [array for array, _, _ in lean.runs]
        return lean

    def lean_epoch(self, lean, order: np.ndarray, epoch: int) -> tuple[float, int]:
        """One epoch of lean steps over the data in ``order``: (sum of loss * rows, index of
        the last batch). The losses are read together at the end; a non-finite one stops the
        run as it would have at its batch."""
        X_epoch, y_epoch = self.shuffled_copy(order)
        size, n = self.batch_size, len(X_epoch)
        losses = [lean(X_epoch[start:start + size], y_epoch[start:start + size])
                  for start in range(0, n, size)]
        total, bad = lean.total_loss(losses, size, n)
        if bad >= 0:
            self.diverged(float(losses[bad]), epoch, bad)
        return total, len(losses) - 1

    def shuffled_copy(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """X_train and y_train in ``order``, gathered into two buffers kept for the run, so
        the lean path's batches are views (host data only: the lean path runs on the CPU;
        on a device the batches gather their rows, and the data exists once)."""
        if getattr(self, "_epoch_buffers", None) is None:
            self._epoch_buffers = (np.empty_like(self.X_train, order="C"),
                                   np.empty_like(self.y_train, order="C"))
        X_epoch, y_epoch = self._epoch_buffers
        # mode="clip": with the default mode, take(out=) first fills a temporary copy
        np.take(self.X_train, order, axis=0, out=X_epoch, mode="clip")
        np.take(self.y_train, order, axis=0, out=y_epoch, mode="clip")
        return X_epoch, y_epoch


class _Evaluation:
    """What a run reports: validation loss and metrics, the book's chapter-5 lines, the logged
    fields."""

    def logged_fields(self) -> list[str]:
        """The names this run's logs will hold: epoch, loss, lr, and with test data val_loss and
        the metrics the loss records (accuracy, or mae, rmse and r2)."""
        fields = ["epoch", "loss", "lr"]
        if self.X_test is not None:
            output = self.trainer._output_shape()
            placeholder = zeros((1, *output), self.net.dtype, like=self.y_test)
            with np.errstate(all="ignore"):
                metrics = evaluation_metrics(self.net.loss, placeholder, self.y_test[:1])
            fields += ["val_loss", *metrics]
        return fields

    def conv_testing_lines(self, batch_index: int, loss: float) -> None:
        """The book's chapter-5 progress: batch loss every 10 batches, accuracy every 100."""
        if batch_index % 10 == 0:
            self.trainer.say(f"batch {batch_index} loss {loss}")
        if batch_index % 100 == 0 and batch_index > 0 and self.X_test is not None:
            from .metrics import evaluation_metrics

            prediction = self.net._predict_batches(self.X_test, 1024)
            metrics = evaluation_metrics(self.net.loss, prediction, self.y_test)
            if "accuracy" in metrics:
                self.trainer.say(f"Validation accuracy after {batch_index} batches is "
                                 f"{100 * metrics['accuracy']:.2f}%")

    def evaluate(self) -> dict[str, float]:
        """Validation loss and metrics, recorded in the history and passed to callbacks."""
        prediction = self.net._predict_batches(self.X_test, 1024)
        loss = self.net.loss
        val_loss = loss.forward(prediction, self.y_test)
        metrics = evaluation_metrics(loss, prediction, self.y_test)
        self.history.record_evaluation(self.epoch, val_loss, metrics)
        if not any(getattr(c, "book_messages", False) for c in self.callbacks):
            self.trainer.say(f"Validation loss after {self.epoch} epochs is {val_loss:.3f}")
        logs = {"val_loss": val_loss, **metrics}
        for callback in self.callbacks:
            callback.on_evaluate(self.trainer, self.epoch, logs)
        return logs


class _DivergenceGuard:
    """The last finite parameters, kept each epoch and put back when the loss diverges."""

    def read_losses(self, losses: list, epoch: int) -> tuple[float, bool]:
        """Sum of loss * batch rows over a device epoch's batches, and whether every parameter
        is finite, read back in one transfer; the first non-finite loss stops the run as it
        would have at its batch."""
        flags = [np.isfinite(param).all() for param in self.params]
        finite = np.stack(flags).all() if flags else np.bool_(True)
        if all(is_array(loss) for loss in losses) and is_array(finite):
            values = to_host(np.concatenate([np.stack(losses).astype(np.float64),
                                                     finite.astype(np.float64)[None]]))
            losses, finite = values[:-1].tolist(), bool(values[-1])
        else:
            finite = bool(finite)
        total = 0.0
        bounds = self.batch_bounds()
        for batch_index, loss in enumerate(losses):
            loss = float(loss)
            if not math.isfinite(loss):
                self.diverged(loss, epoch, batch_index)
            start, stop = bounds[batch_index]
            total += loss * (stop - start)
        return total, finite

    def remember_good_params(self) -> None:
        for saved, array in zip(self.last_good, self.net.params_and_buffers(), strict=True):
            np.copyto(saved, array)

    def diverged(self, loss: float, epoch: int, batch_index: int) -> None:
        restored = (f"the last finite parameters (end of epoch {epoch})" if epoch > 0
                    else "the parameters it had when fit began")
        best = next((c for c in self.callbacks if isinstance(c, EarlyStopping)
                     and c.best_params is not None and c.restore_best_weights), None)
        source = best.best_params if best is not None else self.last_good
        if best is not None:
            restored = f"the parameters of the best evaluation (epoch {best.best_epoch})"
        for array, saved in zip(self.net.params_and_buffers(), source, strict=True):
            np.copyto(array, to_device(saved, like=array))
        self.history.stopped_epoch = epoch + 1
        lr = self.optim.lr
        message = (f"Training diverged: the loss became {loss} at epoch {epoch + 1}, batch "
                   f"{batch_index + 1}, with learning rate {lr:g}. The network keeps {restored}. "
                   f"Hint: lower the learning rate (try lr={lr / 10:g}), standardize the inputs, "
                   f"or check the data for extreme values.")
        # said once, by the exception (an error-level log line would print it a second time)
        logger().debug(message)
        raise TrainingDivergedError(message, self.history)


class _Checkpoints:
    """A run's checkpoint: everything needed to continue exactly, written and resumed from."""

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Everything needed to continue this run exactly: arrays and a JSON description."""
        from .persistence import network_description

        arrays = {f"net.{name}": array for name, array in self.net.state_dict().items()}
        optimizer = self.optim.state_dict()
        for name, array in optimizer.pop("arrays").items():
            arrays[f"optim.{name}"] = to_host(array, copy=True)
        callback_states = []
        for index, callback in enumerate(self.stateful_callbacks()):
            state, callback_arrays = callback.state_dict()
            callback_states.append({"class": type(callback).__name__, "state": state})
            for name, array in callback_arrays.items():
                arrays[f"callback.{index}.{name}"] = to_host(array, copy=True)
        meta = {"format": CHECKPOINT_FORMAT, "version": 1, "epoch": self.epoch,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "eval_every": self.eval_every, "seed": self.seed,
                "network": network_description(self.net), "optimizer": optimizer,
                "optimizer_class": type(self.optim).__name__,
                "optimizer_config": optimizer_config(self.optim),
                "rng": self.rng.bit_generator.state,
                "layer_rngs": [layer.rng.bit_generator.state if layer.rng is not None else None
                               for layer in self.net.layers],
                "history": self.history.to_dict(), "callbacks": callback_states,
                "best_loss": self.trainer.best_loss, "n_train": len(self.X_train)}
        return arrays, meta

    def stateful_callbacks(self) -> list[Callback]:
        """The callbacks whose state a checkpoint keeps (those that define ``state_dict``)."""
        return [callback for callback in self.callbacks
                if type(callback).state_dict is not Callback.state_dict]

    def write_checkpoint(self, path, state: tuple[dict[str, np.ndarray], dict]) -> None:
        from .persistence import write_npz

        write_npz(path, state[0], state[1])

    def resume(self, path) -> None:
        """Load a checkpoint written by a run with the same arguments and continue from it.

        The whole checkpoint is checked before anything is changed: its entries, the network
        it was written for (architecture, loss, dtype), the optimizer's class and settings,
        every array's name, shape, dtype and values, every number's type and range, the
        history and the callbacks' state. A foreign, corrupt or mismatched checkpoint raises
        ModelFileError (ValueError for other fit arguments) and leaves the network, the
        optimizer and the callbacks exactly as they were.
        """
        from .persistence import ModelFileError, read_npz

        where = f"Trainer.fit(resume_from={os.fspath(path)!r})"
        checked: dict[str, Any] = {}

        def plan(meta: dict, declared: int) -> dict:
            checked.update(_check_checkpoint(self, meta, declared, where))
            return checked["plan"]

        arrays, meta = read_npz(path, CHECKPOINT_FORMAT, plan)
        for name, array in arrays.items():
            if not np.isfinite(array).all():
                raise ModelFileError(f"{where}: the array {name} holds non-finite values")
        optimizer, callbacks = self.dry_run_loads(meta, arrays, where)
        net_arrays = {name[4:]: a for name, a in arrays.items() if name.startswith("net.")}
        # everything is checked: from here on nothing can fail half-way
        try:
            self.net.load_state_dict(net_arrays)
        except (KeyError, ValueError, TypeError) as error:
            raise ModelFileError(f"{where}: the checkpoint does not fit this network: {error}") \
                from None
        self.optim.__dict__.update(optimizer.__dict__)
        self.optim._bound = self.net.params() if not self.optim.first else []
        self.optim._decays = None
        for callback, probe in callbacks:
            callback.__dict__.update(probe.__dict__)
        self.restore_generators(meta)
        self.history = History.from_dict(meta["history"])
        self.trainer.best_loss = float(meta["best_loss"])
        # A run that early stopping had ended stays ended (its best weights were restored when
        # it stopped); a stop asked for by any other callback was a pause, and training goes on.
        self.stopped_at_resume = any(isinstance(callback, EarlyStopping) and callback.stopped
                                     for callback in self.callbacks)
        self.epoch = meta["epoch"]
        self.remember_good_params()

    def dry_run_loads(self, meta: dict, arrays: dict[str, np.ndarray], where: str
                      ) -> tuple[Optimizer, list[tuple[Callback, Callback]]]:
        """The optimizer and each stateful callback loaded from the checkpoint as shallow
        copies (their loaders check everything and rebind attributes, so a refusal leaves the
        originals as they were): (optimizer copy, [(callback, loaded copy), ...])."""
        from .persistence import ModelFileError

        stateful = self.stateful_callbacks()
        optimizer = copy.copy(self.optim)
        try:
            optimizer.load_state_dict({**meta["optimizer"], "arrays": {
                name[6:]: array for name, array in arrays.items() if name.startswith("optim.")}})
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{where}: the optimizer state is malformed: {error}") from None
        callbacks = []
        for index, (callback, saved) in enumerate(zip(stateful, meta["callbacks"])):
            prefix = f"callback.{index}."
            probe = copy.copy(callback)
            try:
                probe.load_state_dict(saved["state"], {
                    name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)})
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
                raise ModelFileError(f"{where}: the state of callback {index} "
                                     f"({type(callback).__name__}) is malformed: {error}") from None
            callbacks.append((callback, probe))
        return optimizer, callbacks

    def restore_generators(self, meta: dict) -> None:
        """Put the run's and every layer's random generator back where the checkpoint left it."""
        self.rng.bit_generator.state = meta["rng"]
        for layer, state in zip(self.net.layers, meta["layer_rngs"]):
            if state is not None and getattr(layer, "rng", None) is not None:
                layer.rng.bit_generator.state = state
                for operation in getattr(layer, "operations", ()):
                    if hasattr(operation, "rng"):
                        operation.rng = layer.rng


class _Run(_LeanPath, _Evaluation, _DivergenceGuard, _Checkpoints):
    """The state of one ``fit`` call: epoch, generators, history, snapshots."""

    def __init__(self, trainer: Trainer, X_train, y_train, X_test, y_test, epochs: int,
                 eval_every: int, batch_size: int, seed: int | None, callbacks: list[Callback],
                 checkpoint, checkpoint_every: int) -> None:
        self.trainer, self.net, self.optim = trainer, trainer.net, trainer.optim
        self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
        self.epochs, self.eval_every, self.batch_size = epochs, eval_every, batch_size
        self.seed = seed
        self.callbacks = callbacks
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.rng = np.random.default_rng(seed)
        self.history = History()
        self.epoch = 0
        self.params = self.net.params()
        # parameters and buffers (asked for at each use: loading may replace a buffer)
        self.last_good = [array.copy() for array in self.net.params_and_buffers()]
        self.boundary_state: tuple[dict[str, np.ndarray], dict] | None = None
        self.stopped_at_resume = False
        self.conv_testing = False
        self.deferred = False

    def train(self) -> History:
        """Run the epochs left, then the callbacks' ends; an interruption writes the last
        complete epoch's checkpoint."""
        trainer = self.trainer
        self.begin()
        train_batch = self.train_batch_function()
        lean = self.lean_step()
        try:
            # boundary_state: the state after the last complete epoch (callbacks included); an
            # interruption anywhere inside an epoch writes it, and resuming redoes that epoch.
            if self.checkpoint is not None:
                self.boundary_state = self.state()
            while self.epoch < self.epochs and not trainer.stop_training:
                epoch = self.epoch
                self.optim.set_epoch(epoch, self.epochs)
                for callback in self.callbacks:
                    callback.on_epoch_begin(trainer, epoch + 1)
                train_loss = self.run_epoch(epoch, lean, train_batch)
                self.end_epoch(epoch, train_loss)
        except KeyboardInterrupt:
            self.interrupted()
        finally:
            if lean is not None:
                lean.release()
        if trainer.stop_training and self.history.stopped_epoch is None:
            self.history.stopped_epoch = self.epoch
        for callback in self.callbacks:
            callback.on_train_end(trainer, self.history)
        return self.history

    def begin(self) -> None:
        """Hand the trainer this run's history and tell the callbacks training begins."""
        trainer = self.trainer
        trainer.stop_training = False
        trainer.history = self.history
        for callback in self.callbacks:
            callback.on_train_begin(trainer)
        if self.stopped_at_resume:
            trainer.stop_training = True
        # on a device the batch losses stay there and are read once per epoch, together: a
        # step never waits for the device (a diverged batch is found at the epoch's end)
        self.deferred = self.net.device != "cpu"

    def train_batch_function(self):
        """``net.train_batch``, or its checked-once form when it is the library's own."""
        train_batch = self.net.train_batch
        if getattr(train_batch, "__func__", None) is NeuralNetwork.train_batch:
            # not replaced by a subclass or a patch: the targets were checked at the door, so
            # the batches skip the loss's per-batch checks
            checked = self.net._train_batch_checked
            train_batch = (lambda X, y: checked(X, y, read=False)) if self.deferred else checked
        return train_batch

    def run_epoch(self, epoch: int, lean, train_batch) -> float:
        """One pass over the shuffled training data; the mean training loss."""
        n = len(self.X_train)
        # drawn on the host, wherever the data is; on the data's device, once an epoch
        order = to_device(self.rng.permutation(n), like=self.X_train)
        if lean is not None:  # the lean path (lean.py): the batches run there
            total, batch_index = self.lean_epoch(lean, order, epoch)
            finite = all(np.isfinite(param).all() for param in self.params)
        else:
            total, finite, batch_index = self.general_epoch(order, epoch, train_batch)
        train_loss = total / n
        if not finite:
            self.diverged(math.nan, epoch, batch_index)
        return train_loss

    def general_epoch(self, order, epoch: int, train_batch) -> tuple[float, bool, int]:
        """The batches of one epoch, each gathering its rows: (sum of loss * rows, whether
        every parameter is finite, index of the last batch)."""
        deferred = self.deferred
        total = 0.0
        losses = []
        batch_index = 0
        for batch_index, (start, stop) in enumerate(self.batch_bounds()):
            rows = order[start:stop]  # a batch gathers its rows
            X_batch = np.take(self.X_train, rows, axis=0)
            loss = train_batch(X_batch, np.take(self.y_train, rows, axis=0))
            if deferred:
                losses.append(loss)
                self.optim.step()
                if self.conv_testing and batch_index % 10 == 0:
                    self.conv_testing_lines(batch_index, float(loss))
                continue
            if not math.isfinite(loss):
                self.diverged(loss, epoch, batch_index)
            self.optim.step()
            total += loss * len(X_batch)
            if self.conv_testing:
                self.conv_testing_lines(batch_index, loss)
        if deferred:
            total, finite = self.read_losses(losses, epoch)
        else:
            finite = all(np.isfinite(param).all() for param in self.params)
        return total, finite, batch_index

    def end_epoch(self, epoch: int, train_loss: float) -> None:
        """Record the epoch, evaluate when due, tell the callbacks, checkpoint when due."""
        self.remember_good_params()
        self.history.train_loss.append(train_loss)
        self.history.lr.append(self.optim.lr)
        self.epoch = epoch + 1
        logs = {"loss": train_loss, "lr": self.optim.lr}
        if self.X_test is not None and (self.epoch % self.eval_every == 0 or (
                self.eval_every > self.epochs == self.epoch)):
            # (eval_every beyond the last epoch: that epoch is evaluated, never none)
            logs.update(self.evaluate())
        for callback in self.callbacks:
            callback.on_epoch_end(self.trainer, self.epoch, logs)
        if self.checkpoint is not None:
            self.boundary_state = self.state()
            if self.epoch % self.checkpoint_every == 0:
                self.write_checkpoint(self.checkpoint, self.boundary_state)

    def interrupted(self) -> None:
        """Ctrl-C: keep the parameters reached; write the last complete epoch's checkpoint."""
        self.history.interrupted = True
        self.history.stopped_epoch = self.epoch
        self.trainer.say(f"Training interrupted during epoch {self.epoch + 1}; the network "
                         f"keeps the parameters reached so far.")
        if self.checkpoint is not None and self.boundary_state is not None:
            self.write_checkpoint(self.checkpoint, self.boundary_state)
            self.trainer.say(f"Checkpoint of epoch {self.boundary_state[1]['epoch']} written to "
                             f"{os.fspath(self.checkpoint)!r}; resume with "
                             f"fit(..., resume_from=...).")

    def batch_bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of every batch of an epoch: ``batch_size`` rows each, the last one
        shorter; a last batch of one row joins the batch before it when a BatchNorm needs two
        values per channel (see ``_batch_norm_rows``)."""
        n, size = len(self.X_train), self.batch_size
        bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1 \
                and _batch_norm_rows(self.net) > 1:
            bounds[-2:] = [(bounds[-2][0], n)]
        return bounds


CHECKPOINT_KEYS = ("format", "version", "epoch", "epochs", "batch_size", "eval_every", "seed",
                   "network", "optimizer", "optimizer_class", "optimizer_config", "rng",
                   "layer_rngs", "history", "callbacks", "best_loss", "n_train")


def optimizer_config(optim: Optimizer) -> dict[str, Any]:
    """The optimizer's settings as JSON values (a schedule by its repr)."""
    return {key: value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
            for key, value in optim.get_config().items()}


def net_array_shapes(net: NeuralNetwork) -> dict[str, tuple[int, ...]]:
    """Shapes of the arrays a checkpoint keeps for ``net``: those of its ``state_dict``."""
    return {name: tuple(array.shape) for name, array in net.state_dict().items()}


def _check_checkpoint(run: _Run, meta: dict, declared: int, where: str) -> dict[str, Any]:
    """Every entry of a checkpoint's description against this run; returns the array plan."""
    from .persistence import ModelFileError

    def fail(message: str) -> ModelFileError:
        return ModelFileError(f"{where}: {message}")

    _check_run_settings(run, meta, where, fail)
    stateful, saved_callbacks = _check_saved_callbacks(run, meta, where, fail)
    _check_network_matches(run.net, meta["network"], declared, where)
    epoch = meta["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= run.epochs:
        raise fail(f"the checkpoint is malformed: epoch must be an integer in [0, {run.epochs}], "
                   f"got {epoch!r}")
    optimizer = meta["optimizer"]
    _check_saved_optimizer(run, optimizer, where, fail)
    _check_generator_states(run, meta, fail)
    _check_history(meta["history"], epoch, fail)
    best_loss = meta["best_loss"]
    if isinstance(best_loss, bool) or not isinstance(best_loss, (int, float)) \
            or not math.isfinite(best_loss):
        raise fail(f"the checkpoint is malformed: best_loss must be a finite number, got "
                   f"{best_loss!r}")
    return {"plan": _checkpoint_plan(run, optimizer, stateful, saved_callbacks)}


def _check_run_settings(run: _Run, meta: dict, where: str, fail) -> None:
    """The checkpoint has every entry and was written by a run with this run's settings,
    data size and optimizer (class and configuration)."""
    missing = [key for key in CHECKPOINT_KEYS if key not in meta]
    unknown = [key for key in meta if key not in CHECKPOINT_KEYS]
    if missing or unknown:
        raise fail(f"the checkpoint misses entries {missing} and has unknown entries "
                   f"{unknown[:10]}; it is damaged or not from this version of dlscratch")
    for name in ("epochs", "batch_size", "eval_every", "seed"):
        if meta[name] != getattr(run, name):
            raise ValueError(f"{where}: the checkpoint was written with {name}={meta[name]!r}, "
                             f"this call has {name}={getattr(run, name)!r}")
    if meta["n_train"] != len(run.X_train):
        raise ValueError(f"{where}: the checkpoint was written for {meta['n_train']!r} training "
                         f"rows, this call has {len(run.X_train)}")
    if meta["optimizer_class"] != type(run.optim).__name__:
        raise ValueError(f"{where}: the checkpoint used {meta['optimizer_class']}, this trainer "
                         f"has {type(run.optim).__name__}")
    saved_config, own_config = meta["optimizer_config"], optimizer_config(run.optim)
    if not isinstance(saved_config, dict):
        raise fail(f"optimizer_config must be an object, got {str(saved_config)[:100]}")
    if saved_config != own_config:
        keys = sorted(set(saved_config) | set(own_config))
        differences = [f"{key}={saved_config.get(key, '(none)')!r} in the checkpoint, "
                       f"{own_config.get(key, '(none)')!r} here" for key in keys
                       if saved_config.get(key) != own_config.get(key)]
        raise ValueError(f"{where}: the checkpoint's {meta['optimizer_class']} has other "
                         f"settings: {'; '.join(differences)}")


def _check_saved_callbacks(run: _Run, meta: dict, where: str, fail) -> tuple[list, list]:
    """The saved callback states are those of this run's stateful callbacks, in order:
    (the stateful callbacks, their saved entries)."""
    saved_callbacks = meta["callbacks"]
    if not isinstance(saved_callbacks, list) or not all(
            isinstance(saved, dict) and set(saved) == {"class", "state"}
            and isinstance(saved["state"], dict) for saved in saved_callbacks):
        raise fail(f"callbacks must be a list of {{'class', 'state'}} objects, got "
                   f"{str(saved_callbacks)[:200]}")
    stateful = run.stateful_callbacks()
    names = [saved["class"] for saved in saved_callbacks]
    expected = [type(callback).__name__ for callback in stateful]
    if names != expected:
        raise ValueError(f"{where}: the checkpoint has the state of callbacks {names}, this "
                         f"call's callbacks with state are {expected}; resume with the same ones "
                         f"in the same order")
    return stateful, saved_callbacks


def _check_saved_optimizer(run: _Run, optimizer: Any, where: str, fail) -> None:
    """The optimizer's saved scalars are all there, well typed, and start from this lr."""
    if not isinstance(optimizer, dict):
        raise fail(f"optimizer must be an object, got {str(optimizer)[:100]}")
    scalars = ("lr", "initial_lr", "steps", "first", "max_epochs")
    absent = [key for key in scalars if key not in optimizer]
    if absent or set(optimizer) - set(scalars):
        raise fail(f"the checkpoint is malformed: optimizer misses {absent} or has unknown "
                   f"entries {sorted(set(optimizer) - set(scalars))}")
    for key in scalars:
        value = optimizer[key]
        if key == "first":
            if not isinstance(value, bool):
                raise fail(f"the checkpoint is malformed: optimizer first must be true or "
                           f"false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise fail(f"the checkpoint is malformed: optimizer {key} must be a number >= 0, "
                       f"got {value!r}")
    if optimizer["initial_lr"] != run.optim.initial_lr:
        raise ValueError(f"{where}: the checkpoint's optimizer started from lr="
                         f"{optimizer['initial_lr']!r}, this one from lr={run.optim.initial_lr!r}")


def _check_generator_states(run: _Run, meta: dict, fail) -> None:
    """The run's and every layer's saved generator state is a PCG64 state."""
    if not isinstance(meta["layer_rngs"], list) or len(meta["layer_rngs"]) != len(run.net.layers):
        raise fail(f"the checkpoint is malformed: layer_rngs must list one state per layer "
                   f"({len(run.net.layers)})")
    for name, state in [("rng", meta["rng"])] + [
            (f"layer_rngs[{i}]", s) for i, s in enumerate(meta["layer_rngs"])]:
        if name != "rng" and state is None:
            continue
        try:
            np.random.PCG64().state = state
        except Exception as error:  # the setter raises TypeError, ValueError, KeyError, ...
            raise fail(f"the checkpoint is malformed: {name} is not a PCG64 generator state "
                       f"({type(error).__name__}: {error})") from None


def _checkpoint_plan(run: _Run, optimizer: dict, stateful: list, saved_callbacks: list
                     ) -> dict[str, tuple[tuple[int, ...] | None, Any]]:
    """The arrays the checkpoint must hold: name -> (shape, dtype) (None: any shape)."""
    dtype = run.net.dtype
    params = run.net.params()
    plan: dict[str, tuple[tuple[int, ...] | None, Any]] = {
        f"net.{name}": (shape, dtype) for name, shape in net_array_shapes(run.net).items()}
    if not optimizer["first"]:
        plan.update((f"optim.{name}.{index}", (tuple(param.shape), dtype))
                    for name in run.optim.state_names for index, param in enumerate(params))
    for index, (callback, saved) in enumerate(zip(stateful, saved_callbacks)):
        shapes = callback.state_array_shapes(saved["state"], run.net)
        if shapes is None:
            plan[f"callback.{index}.*"] = (None, dtype)
        else:
            plan.update((f"callback.{index}.{name}", (tuple(shape), dtype))
                        for name, shape in shapes.items())
    return plan


def _check_network_matches(net: NeuralNetwork, saved: Any, declared: int, where: str) -> None:
    """Refuse a checkpoint of another architecture, loss or dtype, saying what differs."""
    from .persistence import ModelFileError, network_description, plan_model

    if not isinstance(saved, dict):
        raise ModelFileError(f"{where}: network must be a network description, got "
                             f"{str(saved)[:100]}")
    _, saved_shape, saved_arrays = plan_model(saved, declared, f"{where}: network")
    own = network_description(net)
    problems = []
    own_shapes = net_array_shapes(net)
    for name, shape in own_shapes.items():
        if name in saved_arrays and tuple(saved_arrays[name][0]) != shape:
            problems.append(f"{name} has shape {tuple(saved_arrays[name][0])} in the "
                            f"checkpoint, the network expects {shape}")
    gone = [name for name in own_shapes if name not in saved_arrays]
    extra = [name for name in saved_arrays if name not in own_shapes]
    if gone:
        problems.append(f"missing keys {gone}")
    if extra:
        problems.append(f"unexpected keys {extra}")
    if saved["dtype"] != own["dtype"]:
        problems.append(f"dtype {saved['dtype']} in the checkpoint, {own['dtype']} here")
    if saved["loss"] != own["loss"]:
        problems.append(f"loss {_short(saved['loss'])} in the checkpoint, {_short(own['loss'])} "
                        f"here")
    if len(saved["layers"]) != len(own["layers"]):
        problems.append(f"{len(saved['layers'])} layers in the checkpoint, "
                        f"{len(own['layers'])} here")
    else:
        problems.extend(f"layers[{i}] is {_short(a)} in the checkpoint, {_short(b)} here"
                        for i, (a, b) in enumerate(zip(saved["layers"], own["layers"])) if a != b)
    if saved_shape is not None and tuple(saved_shape) != net.input_shape:
        problems.append(f"input rows of shape {tuple(saved_shape)} in the checkpoint, "
                        f"{net.input_shape} here")
    if problems:
        raise ModelFileError(f"{where}: the checkpoint does not fit this network: "
                             f"{'; '.join(problems)}")


def _short(description: dict) -> str:
    """A layer's or loss's description as ``Dense(neurons=8, ..., activation=Tanh())``."""
    args = [f"{key}={value!r}" for key, value in description.get("config", {}).items()]
    if "activation" in description:
        args.append(f"activation={_short(description['activation'])}")
    return f"{description.get('class')}({', '.join(args)})"


def _check_history(data: Any, epoch: int, fail) -> None:
    """A checkpoint's history: History's fields, of the right types and lengths for ``epoch``."""
    fields = ("train_loss", "eval_epochs", "val_loss", "metrics", "lr", "best_epoch",
              "best_val_loss", "stopped_epoch", "interrupted")
    if not isinstance(data, dict) or set(data) != set(fields):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise fail(f"the checkpoint is malformed: history must have the entries "
                   f"{list(fields)}, got {found}")

    def numbers(name: str, values: Any, length: int, finite: bool = True) -> None:
        # a run stops at a non-finite loss, so a history never holds one (r2 may be NaN: a
        # constant target)
        if not isinstance(values, list) or len(values) != length or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                and (math.isfinite(v) or not finite) for v in values):
            raise fail(f"the checkpoint is malformed: history {name} must be a list of "
                       f"{length} {'finite ' if finite else ''}numbers, got "
                       f"{str(values)[:100]}")

    numbers("train_loss", data["train_loss"], epoch)
    numbers("lr", data["lr"], epoch)
    evaluations = data["eval_epochs"]
    if not isinstance(evaluations, list) or not all(
            isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= epoch
            for e in evaluations) or evaluations != sorted(set(evaluations)):
        raise fail(f"the checkpoint is malformed: history eval_epochs must be increasing epochs "
                   f"in [1, {epoch}], got {str(evaluations)[:100]}")
    numbers("val_loss", data["val_loss"], len(evaluations))
    if not isinstance(data["metrics"], dict):
        raise fail("the checkpoint is malformed: history metrics must be an object")
    for name, values in data["metrics"].items():
        numbers(f"metrics[{name!r}]", values, len(evaluations), finite=False)
    for name in ("best_epoch", "stopped_epoch"):
        value = data[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= epoch):
            raise fail(f"the checkpoint is malformed: history {name} must be null or an epoch "
                       f"in [0, {epoch}], got {value!r}")
    best = data["best_val_loss"]
    if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))
                             or not math.isfinite(best)):
        raise fail(f"the checkpoint is malformed: history best_val_loss must be null or a "
                   f"number, got {best!r}")
    if not isinstance(data["interrupted"], bool):
        raise fail(f"the checkpoint is malformed: history interrupted must be true or false, "
                   f"got {data['interrupted']!r}")


def _check_replaces_a_checkpoint(path: str, owner: str) -> None:
    """Refuse ``checkpoint=`` at an existing file that is not a checkpoint (a saved model, a
    CSV...): writing the checkpoint would replace it."""
    from ._archive import ModelFileError, read_archive

    if not os.path.lexists(path) or (os.path.isfile(path) and os.path.getsize(path) == 0):
        return  # nothing to lose (an empty file: a freshly made temporary name)

    class _IsCheckpoint(Exception):
        pass

    def stop(meta: dict, declared: int):
        raise _IsCheckpoint

    try:
        read_archive(path, repr(path), CHECKPOINT_FORMAT, 1, stop)
    except _IsCheckpoint:
        return
    except (ModelFileError, OSError) as error:
        raise ValueError(f"{owner}: checkpoint {path!r} exists and is not a checkpoint of "
                         f"Trainer.fit ({error}); writing one there would replace it: give "
                         f"another path, or remove the file first") from None
    raise ValueError(f"{owner}: checkpoint {path!r} exists and is not a checkpoint of "
                     f"Trainer.fit; give another path, or remove the file first")


def _batch_norm_rows(net: NeuralNetwork) -> int:
    """The fewest rows a training batch needs: 2 where a BatchNorm sees one value per channel
    and row (features, or 1 x 1 images), else 1."""
    from .normalization import BatchNorm

    for layer in net.layers:
        if isinstance(layer, BatchNorm) and layer.input_shape is not None \
                and math.prod(layer.input_shape[1:]) == 1:
            return 2
    return 1


__all__ = ["Trainer", "History", "TrainingDivergedError", "Loss"]
