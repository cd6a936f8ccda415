"""Optimizers: update the network's parameters in place from their gradients."""

from __future__ import annotations


import numpy as np

from .validation import check_choice, check_number, check_positive

DECAY_TYPES = (None, "linear", "exponential")


class Optimizer:
    """Updates ``net.params()`` from ``net.param_grads()``; the trainer sets ``optim.net = net``.

    ``lr`` is the learning rate of the first epoch. ``decay_type`` (the book's ``"linear"`` or
    ``"exponential"``) moves it to ``final_lr`` by the last epoch. State (velocities, the step
    count, the learning rate) is reset by ``reset()``, which ``Trainer.fit(restart=True)`` calls.
    """

    def __init__(self, lr: float = 0.01, final_lr: float = 0.0, decay_type: str | None = None) -> None:
        owner = type(self).__name__
        check_positive("lr", lr, owner=owner)
        check_number("final_lr", final_lr, low=0, low_open=False, owner=owner)
        check_choice("decay_type", decay_type, DECAY_TYPES, owner=owner)
        if decay_type == "exponential" and final_lr <= 0:
            raise ValueError(f"{owner}: exponential decay needs final_lr > 0 (it multiplies the "
                             f"learning rate by a constant each epoch), got final_lr={final_lr}")
        self.initial_lr = float(lr)
        self.lr = float(lr)
        self.final_lr = float(final_lr)
        self.decay_type = decay_type
        self.net = None
        self.max_epochs = 1
        self.first = True
        self.steps = 0

    # ------------------------------------------------------------------ learning rate
    def lr_at(self, epoch: int, epochs: int) -> float:
        """The learning rate for ``epoch`` (0-based) of ``epochs``: ``lr`` at 0, ``final_lr`` at the last."""
        if self.decay_type is None or epochs <= 1:
            return self.initial_lr
        fraction = epoch / (epochs - 1)
        if self.decay_type == "linear":
            return self.initial_lr + (self.final_lr - self.initial_lr) * fraction
        return self.initial_lr * (self.final_lr / self.initial_lr) ** fraction

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Set ``lr`` for ``epoch`` (0-based) of ``epochs``; the trainer calls it each epoch."""
        self.max_epochs = epochs
        self.lr = self.lr_at(epoch, epochs)

    def _setup_decay(self) -> None:
        """The book's hook, kept for code that drives the optimizer by hand."""
        self._epoch = 0
        self.set_epoch(0, self.max_epochs)

    def _decay_lr(self) -> None:
        """The book's hook: move to the next epoch's learning rate."""
        self._epoch = getattr(self, "_epoch", 0) + 1
        self.set_epoch(min(self._epoch, self.max_epochs - 1), self.max_epochs)

    # ------------------------------------------------------------------ updates
    def step(self) -> None:
        """Update every parameter in place from its gradient."""
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.step: no network; set optim.net = net "
                               f"(Trainer does this for you)")
        params = self.net.params()
        grads = self.net.param_grads()
        if len(grads) != len(params):
            raise RuntimeError(f"{type(self).__name__}.step: {len(params)} parameters but "
                               f"{len(grads)} gradients; run net.backward before step")
        if self.first:
            self._init_state(params)
            self.first = False
        self.steps += 1
        for index, (param, grad) in enumerate(zip(params, grads)):
            self._update_rule(index, param, grad)

    def _init_state(self, params: list[np.ndarray]) -> None:
        """Create per-parameter state (velocities, moments) shaped like ``params``."""

    def _update_rule(self, index: int, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update_rule")

    def reset(self) -> None:
        """Forget all state: the next step starts as the first one did."""
        self.first = True
        self.steps = 0
        self.lr = self.initial_lr
        self._reset_state()

    def _reset_state(self) -> None:
        """Drop per-parameter state."""

    # ------------------------------------------------------------------ state for checkpoints
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Per-parameter state arrays by name (for checkpoints)."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``state_arrays`` returned."""

    def state_dict(self) -> dict:
        """Scalars and arrays that, restored, continue training exactly."""
        return {"lr": self.lr, "initial_lr": self.initial_lr, "steps": self.steps,
                "first": self.first, "max_epochs": self.max_epochs,
                "arrays": self.state_arrays()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict``."""
        self.lr = float(state["lr"])
        self.initial_lr = float(state["initial_lr"])
        self.steps = int(state["steps"])
        self.first = bool(state["first"])
        self.max_epochs = int(state["max_epochs"])
        self.load_state_arrays(state.get("arrays", {}))

    def get_config(self) -> dict:
        config = {"lr": self.initial_lr}
        if self.decay_type is not None:
            config.update(final_lr=self.final_lr, decay_type=self.decay_type)
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """param -= lr * grad."""

    def _update_rule(self, index: int, param: np.ndarray, grad: np.ndarray) -> None:
        param -= self.lr * grad


class SGDMomentum(Optimizer):
    """velocity = momentum * velocity + lr * grad;  param -= velocity (the book's form).

    With a constant learning rate this is exactly ``torch.optim.SGD(momentum=...)``.
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, final_lr: float = 0.0,
                 decay_type: str | None = None) -> None:
        super().__init__(lr, final_lr, decay_type)
        check_number("momentum", momentum, low=0, high=1, low_open=False, high_open=True,
                     owner="SGDMomentum")
        self.momentum = float(momentum)
        self.velocities: list[np.ndarray] = []

    def _init_state(self, params: list[np.ndarray]) -> None:
        self.velocities = [np.zeros_like(param) for param in params]

    def _reset_state(self) -> None:
        self.velocities = []

    def _update_rule(self, index: int, param: np.ndarray, grad: np.ndarray) -> None:
        velocity = self.velocities[index]
        velocity *= self.momentum
        velocity += self.lr * grad
        param -= velocity

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {f"velocity.{i}": v for i, v in enumerate(self.velocities)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if arrays:
            self.velocities = [np.array(arrays[f"velocity.{i}"]) for i in range(len(arrays))]

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum}


__all__ = ["Optimizer", "SGD", "SGDMomentum"]
