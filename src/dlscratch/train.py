"""Trainer: shuffles, runs mini-batches, evaluates, stops early, checkpoints; returns a History."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .callbacks import Callback, EarlyStopping
from .losses import Loss
from .metrics import evaluation_metrics
from .network import NeuralNetwork
from .optimizers import Optimizer
from .validation import as_array, check_lengths, check_path, check_positive

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


class Trainer:
    """Trains ``net`` with ``optim`` (``Trainer(net, SGD(lr=0.01)).fit(X, y, X_test, y_test)``)."""

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

    # ------------------------------------------------------------------ public
    def fit(self, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray | None = None,
            y_test: np.ndarray | None = None, epochs: int = 100, eval_every: int = 10,
            batch_size: int = 32, seed: int | None = 1, single_output: bool = False,
            restart: bool = True, early_stopping: bool = True, conv_testing: bool = False,
            verbose: bool = True, callbacks: list[Callback] | None = None,
            checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1,
            resume_from: str | os.PathLike | None = None) -> History:
        """Train for ``epochs`` epochs of shuffled mini-batches; evaluate every ``eval_every``.

        With ``early_stopping`` the run stops at the first evaluation whose loss is not lower
        than the best so far and the best evaluation's parameters are put back into ``net``.
        ``restart`` re-draws the initial weights from the network's seed and resets the
        optimizer; ``restart=False`` continues from the current parameters. ``checkpoint``
        writes the whole training state every ``checkpoint_every`` epochs; ``resume_from``
        continues such a run exactly. ``single_output`` and ``conv_testing`` are accepted for
        the book's signature and have no effect.
        """
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
        if checkpoint is not None:
            checkpoint = check_path("checkpoint", checkpoint, owner)
        if resume_from is not None:
            resume_from = check_path("resume_from", resume_from, owner)

        self.verbose = verbose
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

        if restart and resume_from is None:
            self.net.reset_parameters()
            self.optim.reset()
            self.best_loss = 1e9
        self.net.check_features(X_train, "X_train", owner)
        if not self.net.built:
            self.net.build(X_train.shape[1:])
        y_train = self._checked_targets(y_train, "y_train", len(X_train))
        if y_test is not None:
            y_test = self._checked_targets(y_test, "y_test", len(X_test))

        stopper = None
        if early_stopping and X_test is not None:
            stopper = EarlyStopping(patience=1, min_delta=0.0, restore_best_weights=True,
                                    book_messages=True)
            callbacks.insert(0, stopper)
        run = _Run(self, X_train, y_train, X_test, y_test, epochs, eval_every, batch_size, seed,
                   callbacks, checkpoint, checkpoint_every)
        self.epochs = epochs
        self.resuming = resume_from is not None
        if self.resuming:
            run.resume(resume_from)
        history = run.train()
        if stopper is not None and stopper.best_loss is not None:
            self.best_loss = stopper.best_loss
        return history

    def _checked_targets(self, y: np.ndarray, name: str, n_rows: int) -> np.ndarray:
        """Check y against the loss and the network's output shape; cast float targets."""
        output_shape = self._output_shape()
        placeholder = np.broadcast_to(np.zeros((), dtype=self.net.dtype), (n_rows, *output_shape))
        try:
            y = self.net.loss._check_target(placeholder, y)
        except (ValueError, TypeError) as error:
            loss_name = type(self.net.loss).__name__
            message = (str(error).replace(f"{loss_name}.forward: ", "").replace("target", name)
                       .replace("the prediction", "the network's output"))
            raise type(error)(f"Trainer.fit: {message} (loss {loss_name})") from None
        if y.dtype.kind == "f" and y.dtype != self.net.dtype:
            # the cast is checked: 1e300 does not fit in float32
            y = as_array(y, name, self.net.dtype, owner="Trainer.fit")
        return y

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
            print(message)


class _Run:
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
        self.last_good = [param.copy() for param in self.params]
        self.boundary_state: tuple[dict[str, np.ndarray], dict] | None = None
        self.stopped_at_resume = False

    # ------------------------------------------------------------------ the loop
    def train(self) -> History:
        trainer = self.trainer
        trainer.stop_training = False
        trainer.history = self.history
        for callback in self.callbacks:
            callback.on_train_begin(trainer)
        if self.stopped_at_resume:
            trainer.stop_training = True
        n = len(self.X_train)
        batch_index = 0
        X_epoch = y_epoch = None
        train_batch = self.net.train_batch
        if getattr(train_batch, "__func__", None) is NeuralNetwork.train_batch:
            # not replaced by a subclass or a patch: the targets were checked at the door, so
            # the batches skip the loss's per-batch checks
            train_batch = self.net._train_batch_checked
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
                order = self.rng.permutation(n)
                if X_epoch is None:  # one shuffled copy for the whole run; batches are views
                    X_epoch = np.empty_like(self.X_train, order="C")
                    y_epoch = np.empty_like(self.y_train, order="C")
                # mode="clip": with the default mode, take(out=) first fills a temporary copy
                np.take(self.X_train, order, axis=0, out=X_epoch, mode="clip")
                np.take(self.y_train, order, axis=0, out=y_epoch, mode="clip")
                total = 0.0
                for batch_index, start in enumerate(range(0, n, self.batch_size)):
                    X_batch = X_epoch[start:start + self.batch_size]
                    loss = train_batch(X_batch, y_epoch[start:start + self.batch_size])
                    if not math.isfinite(loss):
                        self.diverged(loss, epoch, batch_index)
                    self.optim.step()
                    total += loss * len(X_batch)
                train_loss = total / n
                if not all(np.isfinite(param).all() for param in self.params):
                    self.diverged(math.nan, epoch, batch_index)
                self.remember_good_params()
                self.history.train_loss.append(train_loss)
                self.history.lr.append(self.optim.lr)
                self.epoch = epoch + 1
                logs = {"loss": train_loss, "lr": self.optim.lr}
                if self.X_test is not None and self.epoch % self.eval_every == 0:
                    logs.update(self.evaluate())
                for callback in self.callbacks:
                    callback.on_epoch_end(trainer, self.epoch, logs)
                if self.checkpoint is not None:
                    self.boundary_state = self.state()
                    if self.epoch % self.checkpoint_every == 0:
                        self.write_checkpoint(self.checkpoint, self.boundary_state)
        except KeyboardInterrupt:
            self.history.interrupted = True
            self.history.stopped_epoch = self.epoch
            trainer.say(f"Training interrupted during epoch {self.epoch + 1}; the network "
                        f"keeps the parameters reached so far.")
            if self.checkpoint is not None and self.boundary_state is not None:
                self.write_checkpoint(self.checkpoint, self.boundary_state)
                trainer.say(f"Checkpoint of epoch {self.boundary_state[1]['epoch']} written to "
                            f"{os.fspath(self.checkpoint)!r}; resume with "
                            f"fit(..., resume_from=...).")
        if trainer.stop_training and self.history.stopped_epoch is None:
            self.history.stopped_epoch = self.epoch
        for callback in self.callbacks:
            callback.on_train_end(trainer, self.history)
        return self.history

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

    def remember_good_params(self) -> None:
        for saved, param in zip(self.last_good, self.params):
            np.copyto(saved, param)

    def diverged(self, loss: float, epoch: int, batch_index: int) -> None:
        restored = (f"the last finite parameters (end of epoch {epoch})" if epoch > 0
                    else "the parameters it had when fit began")
        best = next((c for c in self.callbacks if isinstance(c, EarlyStopping)
                     and c.best_params is not None and c.restore_best_weights), None)
        source = best.best_params if best is not None else self.last_good
        if best is not None:
            restored = f"the parameters of the best evaluation (epoch {best.best_epoch})"
        for param, saved in zip(self.params, source):
            np.copyto(param, saved)
        self.history.stopped_epoch = epoch + 1
        lr = self.optim.lr
        message = (f"Training diverged: the loss became {loss} at epoch {epoch + 1}, batch "
                   f"{batch_index + 1}, with learning rate {lr:g}. The network keeps {restored}. "
                   f"Hint: lower the learning rate (try lr={lr / 10:g}), standardize the inputs, "
                   f"or check the data for extreme values.")
        logger().error(message)
        raise TrainingDivergedError(message, self.history)

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Everything needed to continue this run exactly: arrays and a JSON description."""
        from .persistence import network_description

        arrays = {f"net.{name}": param.copy() for name, param in self.net.named_params()}
        optimizer = self.optim.state_dict()
        for name, array in optimizer.pop("arrays").items():
            arrays[f"optim.{name}"] = np.array(array)
        callback_states = []
        for index, callback in enumerate(self.stateful_callbacks()):
            state, callback_arrays = callback.state_dict()
            callback_states.append({"class": type(callback).__name__, "state": state})
            for name, array in callback_arrays.items():
                arrays[f"callback.{index}.{name}"] = np.array(array)
        meta = {"format": CHECKPOINT_FORMAT, "version": 1, "epoch": self.epoch,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "eval_every": self.eval_every, "seed": self.seed,
                "network": network_description(self.net), "optimizer": optimizer,
                "optimizer_class": type(self.optim).__name__,
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

        Everything read is checked before anything is changed: a foreign, corrupt or
        mismatched checkpoint raises ModelFileError (or ValueError for other fit arguments).
        """
        from .persistence import ModelFileError, read_npz

        arrays, meta = read_npz(path, CHECKPOINT_FORMAT)
        where = f"Trainer.fit(resume_from={os.fspath(path)!r})"
        for name in ("epochs", "batch_size", "eval_every", "seed"):
            if meta.get(name) != getattr(self, name):
                raise ValueError(f"{where}: the checkpoint was written with {name}="
                                 f"{meta.get(name)!r}, this call has "
                                 f"{name}={getattr(self, name)!r}")
        if "n_train" in meta and meta["n_train"] != len(self.X_train):
            raise ValueError(f"{where}: the checkpoint was written for {meta['n_train']!r} "
                             f"training rows, this call has {len(self.X_train)}")
        if meta.get("optimizer_class") != type(self.optim).__name__:
            raise ValueError(f"{where}: the checkpoint used {meta.get('optimizer_class')}, this "
                             f"trainer has {type(self.optim).__name__}")
        saved_callbacks = meta.get("callbacks", [])
        names = [saved.get("class") if isinstance(saved, dict) else None
                 for saved in (saved_callbacks if isinstance(saved_callbacks, list) else [None])]
        stateful = self.stateful_callbacks()
        expected = [type(callback).__name__ for callback in stateful]
        if names != expected:
            raise ValueError(f"{where}: the checkpoint has the state of callbacks {names}, this "
                             f"call's callbacks with state are {expected}; resume with the same "
                             f"ones in the same order")
        net_arrays = {name[4:]: a for name, a in arrays.items() if name.startswith("net.")}
        own = dict(self.net.named_params())
        missing = [key for key in own if key not in net_arrays]
        unexpected = [key for key in net_arrays if key not in own]
        wrong = [f"{key} has shape {net_arrays[key].shape} in the checkpoint, the network "
                 f"expects {own[key].shape}" for key in own
                 if key in net_arrays and net_arrays[key].shape != own[key].shape]
        if missing or unexpected or wrong:
            problems = wrong + [f"missing keys {missing}"] * bool(missing) \
                + [f"unexpected keys {unexpected}"] * bool(unexpected)
            raise ModelFileError(f"{where}: the checkpoint does not fit this network: "
                                 f"{'; '.join(problems)}")
        try:
            epoch = meta["epoch"]
            if isinstance(epoch, bool) or not isinstance(epoch, int) \
                    or not 0 <= epoch <= self.epochs:
                raise ValueError(f"epoch must be an integer in [0, {self.epochs}], got {epoch!r}")
            params = self.net.params()
            optimizer = dict(meta["optimizer"])
            for key in ("lr", "initial_lr", "steps", "max_epochs"):
                if isinstance(optimizer[key], bool) \
                        or not isinstance(optimizer[key], (int, float)):
                    raise ValueError(f"optimizer {key} must be a number, got {optimizer[key]!r}")
            optimizer["arrays"] = {name[6:]: array for name, array in arrays.items()
                                   if name.startswith("optim.")}
            for name, array in optimizer["arrays"].items():
                index = name.rpartition(".")[2]
                if array.dtype.kind != "f" or not np.isfinite(array).all():
                    raise ValueError(f"optimizer array {name} must hold finite floats")
                if index.isdigit() and (int(index) >= len(params)
                                        or array.shape != params[int(index)].shape):
                    found = params[int(index)].shape if int(index) < len(params) else None
                    raise ValueError(f"optimizer array {name} has shape {array.shape}, the "
                                     f"parameter it belongs to {found}")
            rng = np.random.default_rng()
            rng.bit_generator.state = meta["rng"]
            layer_rngs = meta["layer_rngs"]
            if not isinstance(layer_rngs, list) or len(layer_rngs) != len(self.net.layers):
                raise ValueError(f"layer_rngs must list one state per layer "
                                 f"({len(self.net.layers)})")
            for state in layer_rngs:
                if state is not None:
                    np.random.default_rng().bit_generator.state = state
            history = History.from_dict(meta["history"])
            best_loss = float(meta.get("best_loss", 1e9))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelFileError(f"{where}: the checkpoint is malformed: {error}") from None
        try:
            self.net.load_state_dict(net_arrays)
        except (KeyError, ValueError, TypeError) as error:
            raise ModelFileError(f"{where}: the checkpoint does not fit this network: {error}") \
                from None
        self.optim.load_state_dict(optimizer)
        self.rng.bit_generator.state = meta["rng"]
        for layer, state in zip(self.net.layers, layer_rngs):
            if state is not None:
                layer.rng.bit_generator.state = state
                for operation in getattr(layer, "operations", ()):
                    if hasattr(operation, "rng"):
                        operation.rng = layer.rng
        for index, (callback, saved) in enumerate(zip(stateful, saved_callbacks)):
            prefix = f"callback.{index}."
            try:
                callback.load_state_dict(saved["state"], {
                    name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)})
            except (KeyError, TypeError, ValueError) as error:
                raise ModelFileError(f"{where}: the state of callback {index} "
                                     f"({type(callback).__name__}) is malformed: {error}") from None
        self.history = history
        self.trainer.best_loss = best_loss
        # A run that early stopping had ended stays ended (its best weights were restored when
        # it stopped); a stop asked for by any other callback was a pause, and training goes on.
        self.stopped_at_resume = any(isinstance(callback, EarlyStopping) and callback.stopped
                                     for callback in self.callbacks)
        self.epoch = epoch
        self.remember_good_params()

__all__ = ["Trainer", "History", "TrainingDivergedError", "Loss"]
