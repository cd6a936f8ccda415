"""Learning-rate schedules: the learning rate of each epoch, for any optimizer.

A schedule is stateless: ``lr_at(epoch, epochs, base_lr)`` gives the learning rate of ``epoch``
(0-based) of a run of ``epochs`` epochs that starts from ``base_lr``. The optimizer asks it at
the start of every epoch (``Optimizer.set_epoch``), so a restarted or resumed run sees the same
learning rates. ``SGD(lr=0.1, schedule=CosineDecay(final_lr=0.001))``.
"""

from __future__ import annotations

import math

from .validation import check_number, check_positive


class Schedule:
    """lr = lr_at(epoch, epochs, base_lr); subclasses implement ``_lr_at``."""

    def lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        """The learning rate of ``epoch`` (0-based) of ``epochs``, starting from ``base_lr``."""
        if type(epoch) is int and type(epochs) is int and type(base_lr) is float \
                and 0 <= epoch and 0 < epochs and 0 < base_lr < math.inf:
            return float(self._lr_at(epoch, epochs, base_lr))  # the trainer's call: valid
        owner = f"{type(self).__name__}.lr_at"
        check_number("epoch", epoch, low=0, low_open=False, integer=True, owner=owner)
        check_positive("epochs", epochs, integer=True, owner=owner)
        check_positive("base_lr", base_lr, owner=owner)
        return float(self._lr_at(int(epoch), int(epochs), float(base_lr)))

    def _lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement _lr_at")

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _fraction(epoch: int, epochs: int) -> float:
    """How far ``epoch`` is through the run: 0 at the first epoch, 1 at the last (and after)."""
    if epochs <= 1:
        return 0.0
    return min(epoch, epochs - 1) / (epochs - 1)


class ConstantLR(Schedule):
    """lr = base_lr at every epoch (unlike torch's ConstantLR, which scales it for a while)."""

    def _lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        return base_lr


class LinearDecay(Schedule):
    """lr = (1 - t) base_lr + t final_lr, t = epoch / (epochs - 1): the book's linear decay.

    base_lr at the first epoch, exactly ``final_lr`` at the last (0 is allowed); a one-epoch
    run keeps base_lr.
    """

    def __init__(self, final_lr: float = 0.0) -> None:
        check_number("final_lr", final_lr, low=0, low_open=False, owner="LinearDecay")
        self.final_lr = float(final_lr)

    def _lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        t = _fraction(epoch, epochs)
        return (1 - t) * base_lr + t * self.final_lr

    def get_config(self) -> dict:
        return {"final_lr": self.final_lr}


class ExponentialDecay(Schedule):
    """lr = base_lr^(1 - t) final_lr^t, t = epoch / (epochs - 1): the book's exponential decay.

    The learning rate is multiplied by the same factor every epoch, from base_lr at the first
    epoch to exactly ``final_lr`` at the last. A one-epoch run keeps base_lr. With
    ``final_lr=0`` the factor is 0: the rate is 0 from the second epoch on (a warning says so;
    LinearDecay goes to 0 gradually).
    """

    def __init__(self, final_lr: float) -> None:
        check_number("final_lr", final_lr, low=0, low_open=False, owner="ExponentialDecay")
        if final_lr == 0:
            import warnings

            warnings.warn("ExponentialDecay(final_lr=0): a constant factor that reaches 0 is 0, "
                          "so the learning rate is 0 from the second epoch on; use linear "
                          "decay to reach 0 gradually", UserWarning, stacklevel=3)
        self.final_lr = float(final_lr)

    def _lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        t = _fraction(epoch, epochs)
        return base_lr ** (1 - t) * self.final_lr ** t

    def get_config(self) -> dict:
        return {"final_lr": self.final_lr}


class StepDecay(Schedule):
    """lr = base_lr * gamma^(epoch // step_size), as torch.optim.lr_scheduler.StepLR per epoch."""

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        check_positive("step_size", step_size, integer=True, owner="StepDecay")
        check_positive("gamma", gamma, owner="StepDecay")
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def _lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)

    def get_config(self) -> dict:
        return {"step_size": self.step_size, "gamma": self.gamma}


class CosineDecay(Schedule):
    """lr = final_lr + (base_lr - final_lr) (1 + cos(pi t)) / 2, t = epoch / (epochs - 1).

    torch.optim.lr_scheduler.CosineAnnealingLR with ``T_max = epochs - 1`` and
    ``eta_min = final_lr``: base_lr at the first epoch and exactly ``final_lr`` at the last (torch
    users often pass ``T_max = epochs``, which stops one step short of eta_min). A one-epoch run
    keeps base_lr.
    """

    def __init__(self, final_lr: float = 0.0) -> None:
        check_number("final_lr", final_lr, low=0, low_open=False, owner="CosineDecay")
        self.final_lr = float(final_lr)

    def _lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        t = _fraction(epoch, epochs)
        return self.final_lr + (base_lr - self.final_lr) * (1 + math.cos(math.pi * t)) / 2

    def get_config(self) -> dict:
        return {"final_lr": self.final_lr}


class WarmUp(Schedule):
    """lr = base_lr (s + (1 - s) epoch / epochs) for the first ``epochs`` epochs, then ``then``.

    A linear warm-up from ``start_factor`` * base_lr (default 1/3, torch's LinearLR default) that
    reaches base_lr at epoch ``epochs``; from there the ``then`` schedule (constant by default)
    runs over the remaining epochs as if they were a run of their own. The warm-up part equals
    torch.optim.lr_scheduler.LinearLR(start_factor, total_iters=epochs).
    """

    def __init__(self, epochs: int, then: Schedule | None = None,
                 start_factor: float = 1 / 3) -> None:
        check_positive("epochs", epochs, integer=True, owner="WarmUp")
        if then is not None and not isinstance(then, Schedule):
            raise TypeError(f"WarmUp: then must be a Schedule such as CosineDecay() or None, got "
                            f"{then!r} ({type(then).__name__})")
        check_number("start_factor", start_factor, low=0, high=1, owner="WarmUp")
        self.epochs = int(epochs)
        self.then = then if then is not None else ConstantLR()
        self.start_factor = float(start_factor)

    def _lr_at(self, epoch: int, epochs: int, base_lr: float) -> float:
        if epoch < self.epochs:
            return base_lr * (self.start_factor
                              + (1 - self.start_factor) * epoch / self.epochs)
        return self.then.lr_at(epoch - self.epochs, max(epochs - self.epochs, 1), base_lr)

    def get_config(self) -> dict:
        return {"epochs": self.epochs, "then": self.then, "start_factor": self.start_factor}


__all__ = ["Schedule", "ConstantLR", "LinearDecay", "ExponentialDecay", "StepDecay",
           "CosineDecay", "WarmUp"]
