"""Optimizers: update the network's parameters in place from their gradients.

Every optimizer takes the book's ``lr``, ``final_lr`` and ``decay_type`` plus four keyword-only
options: ``gradient_clipping`` (the book's chapter-6 clipping of every gradient element to
[-2, 2], before the update), ``weight_decay`` (an L2 penalty added to the gradients of the
weights; biases are left alone), ``clip_norm`` (scale all gradients together so their global
L2 norm is at most ``clip_norm``, as torch.nn.utils.clip_grad_norm_) and ``schedule`` (a
learning-rate schedule from ``dlscratch.schedules``; the book's ``decay_type`` is a shorthand for
two of them). Each update rule gives, step for step, the parameters of its torch.optim twin.
"""

from __future__ import annotations

import math

import numpy as np

from ._optimizer_parts import (  # noqa: F401  (DECAY_TYPES, is_bias_name: importable from here)
    DECAY_TYPES,
    GRADIENT_CLIP,
    GradientAdjustments,
    LearningRateSchedule,
    ParameterState,
    ScratchBuffers,
    StateCheckpoint,
    check_book_decay,
    check_schedule,
    is_bias_name,
)
from .backend import array_module
from .schedules import Schedule
from .validation import (
    check_number,
    check_positive,
)


class Optimizer(LearningRateSchedule, GradientAdjustments, ScratchBuffers, ParameterState,
                StateCheckpoint):
    """Updates ``net.params()`` from ``net.param_grads()``; the trainer sets ``optim.net = net``.

    ``lr`` is the learning rate of the first epoch. A bool in second place is the book's
    chapter-6 ``gradient_clipping`` (its ``SGD(lr, gradient_clipping)``), not ``final_lr``.
    ``decay_type`` (the book's ``"linear"`` or ``"exponential"``) moves it to ``final_lr`` by
    the last epoch; ``schedule`` does the same job
    with any ``Schedule`` (give one or the other). Per-parameter state (velocities, moments) lives
    in ``state`` as lists of arrays shaped like the parameters; it is created on the first step
    and dropped, with the step count and the learning rate, by ``reset()``, which
    ``Trainer.fit(restart=True)`` calls.

    ``weight_decay`` adds ``weight_decay * param`` to the gradient of every parameter whose name
    does not start with "B"/"b" (biases), as torch's ``weight_decay`` does for a parameter group of
    the weights. ``clip_norm`` scales the gradients in place, all together, when their global L2
    norm exceeds it, exactly as ``torch.nn.utils.clip_grad_norm_(params, clip_norm)``.
    """

    #: Whether ``_delta`` reads ``grad`` only once, so that ``work`` may be ``grad`` itself (the
    #: trainer's lean step then overwrites its gradient buffer instead of streaming a scratch one)
    delta_reads_grad_once = False

    def __init__(self, lr: float = 0.01, final_lr: float = 0.0, decay_type: str | None = None,
                 *, weight_decay: float = 0.0, clip_norm: float | None = None,
                 schedule: Schedule | None = None, gradient_clipping: bool = False) -> None:
        owner = type(self).__name__
        if isinstance(final_lr, (bool, np.bool_)):
            # the book's chapter 6: SGD(lr, gradient_clipping), AdaGrad(lr, gradient_clipping)
            gradient_clipping, final_lr = final_lr, 0.0
        check_book_decay(owner, lr, final_lr, decay_type, schedule)
        check_number("weight_decay", weight_decay, low=0, low_open=False, owner=owner)
        if clip_norm is not None:
            check_positive("clip_norm", clip_norm, owner=owner)
        check_schedule(owner, lr, final_lr, decay_type, schedule)
        self._init_schedule(lr, final_lr, decay_type, schedule)
        self._init_adjustments(owner, weight_decay, clip_norm, gradient_clipping)
        self.net = None
        self.first = True
        self.steps = 0
        self.state: dict[str, list[np.ndarray]] = {}
        self._bound: list[np.ndarray] = []  # the parameter arrays the state was made for
        self._scratch_buffers: dict[tuple, np.ndarray] = {}
        self._array_module = None  # where the state lives; None: not yet decided

    def step(self) -> None:
        """Update every parameter in place from its gradient (clipped, plus weight decay)."""
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
            self._bound = params
            self.first = False
        elif len(params) != len(self._bound) or any(
                a is not b for a, b in zip(params, self._bound)):
            self.check_fits(params, f"{type(self).__name__}.step")
            self._bound, self._decays = params, None
        module = array_module(params[0]) if params else np
        if module is not self._array_module:
            self._follow_device(module)
        if self._decays is None:
            self._decays = self._weight_decay_mask(params)
        self._clip_grads(grads)
        self.steps += 1
        self._begin_step()
        coupled = not self.decoupled_weight_decay
        for index, (param, grad) in enumerate(zip(params, grads)):
            if coupled and self._decays[index]:
                grad = self._add_weight_decay(param, grad)
            self._update_rule(index=index, param=param, grad=grad)

    def _begin_step(self) -> None:
        """Compute what all parameters share in this step (Adam's bias corrections)."""

    def _update_rule(self, index: int, param: np.ndarray, grad: np.ndarray) -> None:
        """Update ``param`` (the ``index``-th) in place; ``grad`` must not be modified.

        The optimizers here subtract ``_delta``; the book's form (override this method) works
        too.
        """
        state = [self.state[name][index] for name in self.state_names]
        param -= self._delta(grad, self._scratch(1, param), *state)

    def _delta(self, grad: np.ndarray, work: np.ndarray, *state: np.ndarray) -> np.ndarray:
        """What to subtract from a parameter with gradient ``grad``, updating its ``state``
        arrays (in the order of ``state_names``) in place; ``work`` is scratch space shaped like
        ``grad``. Element by element, so one call may cover all parameters laid end to end."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update_rule or _delta")

    def get_config(self) -> dict:
        config = {"lr": self.initial_lr}
        if self.decay_type is not None:
            config.update(final_lr=self.final_lr, decay_type=self.decay_type)
        if self._user_schedule is not None:
            config["schedule"] = self._user_schedule
        if self.weight_decay != 0:
            config["weight_decay"] = self.weight_decay
        if self.clip_norm is not None:
            config["clip_norm"] = self.clip_norm
        if self.gradient_clipping:
            config["gradient_clipping"] = True
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """param -= lr * grad.

    ``SGD(lr=0.01, gradient_clipping=True)`` is the book's chapter-6 optimizer: every gradient
    element is first clipped to [-2, 2].
    """

    delta_reads_grad_once = True

    def _delta(self, grad: np.ndarray, work: np.ndarray, *state: np.ndarray) -> np.ndarray:
        return np.multiply(grad, self.lr, out=work)


class SGDMomentum(Optimizer):
    """velocity = momentum * velocity + lr * grad;  param -= velocity (the book's form).

    With a constant learning rate this is ``torch.optim.SGD(momentum=...)``, whose buffer is
    velocity / lr.
    """

    state_names = ("velocity",)
    delta_reads_grad_once = True

    def __init__(self, lr: float = 0.01, final_lr: float = 0.0, decay_type: str | None = None,
                 momentum: float = 0.9, *, weight_decay: float = 0.0,
                 clip_norm: float | None = None, schedule: Schedule | None = None,
                 gradient_clipping: bool = False) -> None:
        super().__init__(lr, final_lr, decay_type, weight_decay=weight_decay,
                         clip_norm=clip_norm, schedule=schedule,
                         gradient_clipping=gradient_clipping)
        check_number("momentum", momentum, low=0, high=1, low_open=False, high_open=True,
                     owner="SGDMomentum")
        self.momentum = float(momentum)

    @property
    def velocities(self) -> list[np.ndarray]:
        """One velocity per parameter (empty before the first step)."""
        return self.state.get("velocity", [])

    def _delta(self, grad: np.ndarray, work: np.ndarray, *state: np.ndarray) -> np.ndarray:
        (velocity,) = state
        velocity *= self.momentum
        velocity += np.multiply(grad, self.lr, out=work)
        return velocity

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum}


class AdaGrad(Optimizer):
    """sum += grad^2;  param -= lr * grad / (sqrt(sum) + eps)  (torch.optim.Adagrad)."""

    state_names = ("sum",)

    def __init__(self, lr: float = 0.01, final_lr: float = 0.0, decay_type: str | None = None,
                 *, eps: float = 1e-10, weight_decay: float = 0.0,
                 clip_norm: float | None = None, schedule: Schedule | None = None,
                 gradient_clipping: bool = False) -> None:
        super().__init__(lr, final_lr, decay_type, weight_decay=weight_decay,
                         clip_norm=clip_norm, schedule=schedule,
                         gradient_clipping=gradient_clipping)
        check_positive("eps", eps, owner="AdaGrad")  # eps = 0 gives 0/0 for a zero gradient
        self.eps = float(eps)

    def _delta(self, grad: np.ndarray, work: np.ndarray, *state: np.ndarray) -> np.ndarray:
        (squares,) = state
        squares += np.multiply(grad, grad, out=work)
        np.sqrt(squares, out=work)
        work += self.eps
        np.divide(grad, work, out=work)
        work *= self.lr
        return work

    def get_config(self) -> dict:
        return {**super().get_config(), "eps": self.eps}


class RMSProp(Optimizer):
    """s = alpha s + (1 - alpha) grad^2;  param -= lr * grad / (sqrt(s) + eps)  (torch RMSprop).

    With ``momentum`` > 0: buffer = momentum * buffer + grad / (sqrt(s) + eps);
    param -= lr * buffer, as torch.optim.RMSprop (centered=False).
    """

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, final_lr: float = 0.0, decay_type: str | None = None,
                 *, weight_decay: float = 0.0, clip_norm: float | None = None,
                 schedule: Schedule | None = None, gradient_clipping: bool = False) -> None:
        super().__init__(lr, final_lr, decay_type, weight_decay=weight_decay,
                         clip_norm=clip_norm, schedule=schedule,
                         gradient_clipping=gradient_clipping)
        check_number("alpha", alpha, low=0, high=1, low_open=False, high_open=True,
                     owner="RMSProp")
        check_positive("eps", eps, owner="RMSProp")  # eps = 0 gives 0/0 for a zero gradient
        check_number("momentum", momentum, low=0, high=1, low_open=False, high_open=True,
                     owner="RMSProp")
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.state_names = ("square_avg", "momentum_buffer") if momentum > 0 else ("square_avg",)

    def _delta(self, grad: np.ndarray, work: np.ndarray, *state: np.ndarray) -> np.ndarray:
        square_avg = state[0]
        square_avg *= self.alpha
        np.multiply(grad, grad, out=work)
        work *= 1 - self.alpha
        square_avg += work
        np.sqrt(square_avg, out=work)
        work += self.eps
        np.divide(grad, work, out=work)  # grad / (sqrt(s) + eps)
        if self.momentum > 0:
            buffer = state[1]
            buffer *= self.momentum
            buffer += work
            np.multiply(buffer, self.lr, out=work)
        else:
            work *= self.lr
        return work

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "eps": self.eps,
                "momentum": self.momentum}


class Adam(Optimizer):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr/(1-b1^t) m / (sqrt(v/(1-b2^t)) + eps).

    torch.optim.Adam: bias-corrected moments; ``weight_decay`` is an L2 term in the gradient
    (see AdamW for the decoupled form). The step count ``t`` is saved in ``state_dict``.
    """

    state_names = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, final_lr: float = 0.0, decay_type: str | None = None,
                 *, weight_decay: float = 0.0, clip_norm: float | None = None,
                 schedule: Schedule | None = None, gradient_clipping: bool = False) -> None:
        super().__init__(lr, final_lr, decay_type, weight_decay=weight_decay,
                         clip_norm=clip_norm, schedule=schedule,
                         gradient_clipping=gradient_clipping)
        owner = type(self).__name__
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            check_number(name, value, low=0, high=1, low_open=False, high_open=True, owner=owner)
        check_positive("eps", eps, owner=owner)  # eps = 0 gives 0/0 for a zero gradient
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)

    def _begin_step(self) -> None:
        self._step_size = self.lr / (1 - self.beta1 ** self.steps)
        self._bias_correction2_sqrt = math.sqrt(1 - self.beta2 ** self.steps)

    def _delta(self, grad: np.ndarray, work: np.ndarray, *state: np.ndarray) -> np.ndarray:
        m, v = state
        m *= self.beta1
        m += np.multiply(grad, 1 - self.beta1, out=work)
        v *= self.beta2
        np.multiply(grad, grad, out=work)
        work *= 1 - self.beta2
        v += work
        np.sqrt(v, out=work)
        work /= self._bias_correction2_sqrt
        work += self.eps
        np.divide(m, work, out=work)
        work *= self._step_size
        return work

    def get_config(self) -> dict:
        return {**super().get_config(), "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps}


class AdamW(Adam):
    """p *= 1 - lr * weight_decay (weights only), then the Adam step (torch.optim.AdamW)."""

    decoupled_weight_decay = True

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, final_lr: float = 0.0, decay_type: str | None = None,
                 *, weight_decay: float = 0.01, clip_norm: float | None = None,
                 schedule: Schedule | None = None, gradient_clipping: bool = False) -> None:
        super().__init__(lr, beta1, beta2, eps, final_lr, decay_type, weight_decay=weight_decay,
                         clip_norm=clip_norm, schedule=schedule,
                         gradient_clipping=gradient_clipping)

    def _update_rule(self, index: int, param: np.ndarray, grad: np.ndarray) -> None:
        if self._decays[index]:
            param *= 1 - self.lr * self.weight_decay
        super()._update_rule(index, param, grad)

    def get_config(self) -> dict:
        return {**super().get_config(), "weight_decay": self.weight_decay}


__all__ = ["Optimizer", "SGD", "SGDMomentum", "AdaGrad", "RMSProp", "Adam", "AdamW",
           "is_bias_name"]
