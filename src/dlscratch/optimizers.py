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
from collections.abc import Mapping
from typing import Any

import numpy as np

from .backend import array_module, to_host, to_module
from .schedules import ConstantLR, ExponentialDecay, LinearDecay, Schedule
from .validation import (
    KeyMismatchError,
    as_array,
    check_bool,
    check_choice,
    check_number,
    check_positive,
)

DECAY_TYPES = (None, "linear", "exponential")
#: ``gradient_clipping=True`` clips every gradient element to [-GRADIENT_CLIP, GRADIENT_CLIP]
GRADIENT_CLIP = 2.0


def is_bias_name(name: str) -> bool:
    """Whether the parameter called ``name`` (``layers.0.B``) is a bias, which is not decayed."""
    return name.rsplit(".", 1)[-1].startswith(("B", "b"))


class Optimizer:
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

    #: Names of the per-parameter state arrays, saved as ``"<name>.<index>"``.
    state_names: tuple[str, ...] = ()
    #: Whether weight decay shrinks the parameters directly (AdamW) instead of adding an L2 term.
    decoupled_weight_decay = False
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
        check_positive("lr", lr, owner=owner)
        check_number("final_lr", final_lr, low=0, low_open=False, owner=owner)
        check_choice("decay_type", decay_type, DECAY_TYPES, owner=owner)
        if decay_type is None and final_lr != 0 and schedule is None:
            raise ValueError(f"{owner}: final_lr={final_lr!r} is used only with a decay_type "
                             f"('linear' or 'exponential'); without one the learning rate stays "
                             f"lr={lr!r}. Give decay_type, or leave final_lr out")
        if decay_type is not None and final_lr > lr:
            raise ValueError(f"{owner}: final_lr={final_lr!r} is above lr={lr!r}; a decay goes "
                             f"down from lr to final_lr (for a warm-up use schedule=WarmUp(...))")
        check_number("weight_decay", weight_decay, low=0, low_open=False, owner=owner)
        if clip_norm is not None:
            check_positive("clip_norm", clip_norm, owner=owner)
        if schedule is not None:
            if not isinstance(schedule, Schedule):
                raise TypeError(f"{owner}: schedule must be a Schedule such as CosineDecay() or "
                                f"None, got {schedule!r} ({type(schedule).__name__})")
            if decay_type is not None or final_lr != 0:
                raise ValueError(f"{owner}: give either schedule or decay_type/final_lr, not "
                                 f"both; got schedule={schedule!r}, decay_type={decay_type!r}, "
                                 f"final_lr={final_lr!r}")
            target = getattr(getattr(schedule, "then", schedule), "final_lr", None)
            if isinstance(target, (int, float)) and target > lr:
                raise ValueError(f"{owner}: the schedule's final_lr={target!r} is above "
                                 f"lr={lr!r}; a decay goes down from lr to final_lr")
        self.initial_lr = float(lr)
        self.lr = float(lr)
        self.final_lr = float(final_lr)
        self.decay_type = decay_type
        self.weight_decay = float(weight_decay)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        if not isinstance(gradient_clipping, (bool, np.bool_)):
            raise TypeError(f"{owner}: gradient_clipping must be True or False, got "
                            f"{gradient_clipping!r}")
        self.gradient_clipping = bool(gradient_clipping)
        self._user_schedule = schedule
        if schedule is not None:
            self.schedule = schedule
        elif decay_type == "linear":
            self.schedule = LinearDecay(final_lr)
        elif decay_type == "exponential":
            self.schedule = ExponentialDecay(final_lr)
        else:
            self.schedule = ConstantLR()
        self.net = None
        self.max_epochs = 1
        self.first = True
        self.steps = 0
        self.state: dict[str, list[np.ndarray]] = {}
        self._decays: list[bool] | None = None  # per parameter: does weight decay apply?
        self._bound: list[np.ndarray] = []  # the parameter arrays the state was made for
        self._scratch_buffers: dict[tuple, np.ndarray] = {}
        self._array_module = None  # where the state lives; None: not yet decided

    # ------------------------------------------------------------------ learning rate
    def lr_at(self, epoch: int, epochs: int) -> float:
        """The learning rate for ``epoch`` (0-based) of ``epochs``, from ``schedule``."""
        return self.schedule.lr_at(epoch, epochs, self.initial_lr)

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
        if self.gradient_clipping:
            for grad in grads:  # the book's element-wise clipping, in place
                np.clip(grad, -GRADIENT_CLIP, GRADIENT_CLIP, out=grad)
        if self.clip_norm is not None:
            self._clip_grad_norm(grads)
        self.steps += 1
        self._begin_step()
        coupled = not self.decoupled_weight_decay
        for index, (param, grad) in enumerate(zip(params, grads)):
            if coupled and self._decays[index]:
                grad = self._add_weight_decay(param, grad)
            self._update_rule(index=index, param=param, grad=grad)

    def _weight_decay_mask(self, params: list[np.ndarray]) -> list[bool]:
        """Per parameter, whether weight decay applies: every named non-bias (and unnamed) one."""
        if self.weight_decay == 0:
            return [False] * len(params)
        named = getattr(self.net, "named_params", None)
        names = {id(array): name for name, array in named()} if named is not None else {}
        return [id(param) not in names or not is_bias_name(names[id(param)]) for param in params]

    def _clip_grad_norm(self, grads: list[np.ndarray]) -> None:
        """g *= min(clip_norm / (||g||_2 + 1e-6), 1) over all gradients together (torch's rule).

        The norm stays on the gradients' device (a 0-d array summed in float64): nothing is read
        back to the host, and a factor of exactly 1 leaves the gradients' bits unchanged.
        """
        total = sum(np.vdot(grad, grad).astype(np.float64) for grad in grads)
        scale = self.clip_norm / (np.sqrt(total) + 1e-6)  # torch's formula, epsilon included
        scale = np.minimum(scale, 1.0)
        for grad in grads:
            grad *= scale.astype(grad.dtype)

    def _add_weight_decay(self, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """grad + weight_decay * param, in a scratch buffer (the network's gradient is kept)."""
        decayed = np.multiply(param, self.weight_decay, out=self._scratch(0, param))
        decayed += grad
        return decayed

    def _scratch(self, slot: int, like: np.ndarray) -> np.ndarray:
        """A temporary shaped like ``like``, reused across steps and parameters.

        Slot 0 holds the decayed gradient, slot 1 the update rule's intermediate results; each is
        one flat buffer as large as the largest parameter, so a step allocates nothing.
        """
        # the shaped view is kept too (under a longer key): slicing and reshaping each step
        # costs more than a small parameter's update
        view = self._scratch_buffers.get((slot, like.dtype, like.shape))
        if view is not None:
            return view
        key = (slot, like.dtype)
        flat = self._scratch_buffers.get(key)
        if flat is None or flat.size < like.size:
            flat = self._scratch_buffers[key] = np.empty_like(like, shape=(like.size,))
            for old in [k for k in self._scratch_buffers if k[:2] == key and len(k) == 3]:
                del self._scratch_buffers[old]  # views of the smaller buffer it replaces
        view = flat[:like.size].reshape(like.shape)
        self._scratch_buffers[(slot, like.dtype, like.shape)] = view
        return view

    def check_fits(self, params: list[np.ndarray], owner: str) -> None:
        """Raise ValueError when the state (velocities, moments) is for other parameter shapes:
        an optimizer stepped on one network cannot carry on with a differently shaped one."""
        arrays = next(iter(self.state.values()), None)
        if self.first or arrays is None:
            return
        mine = [tuple(array.shape) for array in arrays]
        theirs = [tuple(param.shape) for param in params]
        if mine != theirs:
            raise ValueError(f"{owner}: this {type(self).__name__} holds state for parameters "
                             f"of shapes {mine}, but the network's parameters have shapes "
                             f"{theirs}; an optimizer belongs to one network: create a new "
                             f"one (or call optim.reset() to start its state afresh)")
    def __getstate__(self) -> dict:
        # a module cannot be pickled: the state follows the parameters' device at the next step
        return {**self.__dict__, "_array_module": None}

    def _follow_device(self, module) -> None:
        """Move the state to the parameters' device (after ``net.to(...)`` or a resume)."""
        self.state = {name: [to_module(array, module) for array in arrays]
                      for name, arrays in self.state.items()}
        self._scratch_buffers = {}
        self._array_module = module

    def _begin_step(self) -> None:
        """Compute what all parameters share in this step (Adam's bias corrections)."""

    def _init_state(self, params: list[np.ndarray]) -> None:
        """Create per-parameter state (velocities, moments): zeros shaped like ``params``."""
        self.state = {name: [np.zeros_like(param) for param in params]
                      for name in self.state_names}

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

    def reset(self) -> None:
        """Forget all state: the next step starts as the first one did."""
        self.first = True
        self.steps = 0
        self.lr = self.initial_lr
        self._reset_state()

    def _reset_state(self) -> None:
        """Drop per-parameter state and what was derived from the parameters."""
        self.state = {}
        self._decays = None
        self._bound = []
        self._scratch_buffers = {}
        self._array_module = None

    # ------------------------------------------------------------------ state for checkpoints
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Per-parameter state arrays by name (``"m.0"``, ``"v.0"``, ...; the live arrays)."""
        return {f"{name}.{index}": array for name, arrays in self.state.items()
                for index, array in enumerate(arrays)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``state_arrays`` returned (copied, cast to the parameters' dtype)."""
        self.state = self._checked_state_arrays(arrays)
        self._array_module = np  # moved to the parameters' device at the next step

    def _checked_state_arrays(self, arrays: Mapping[str, Any]) -> dict[str, list[np.ndarray]]:
        """The state ``arrays`` stand for, every name, shape and value checked; nothing set."""
        owner = f"{type(self).__name__}.load_state_arrays"
        if not isinstance(arrays, Mapping):
            raise TypeError(f"{owner}: arrays must be a mapping of name to array, got "
                            f"{type(arrays).__name__}")
        if not self.state_names or not arrays:
            if arrays:
                raise KeyMismatchError(f"{owner}: {type(self).__name__} keeps no state arrays, "
                                       f"got {list(arrays)[:10]}")
            return {}
        count = sum(1 for key in arrays if key.startswith(f"{self.state_names[0]}."))
        expected = [f"{name}.{index}" for name in self.state_names for index in range(count)]
        missing = [key for key in expected if key not in arrays]
        unexpected = [key for key in arrays if key not in expected]
        if missing or unexpected:
            raise KeyMismatchError(f"{owner}: missing keys {missing}, unexpected keys "
                                   f"{unexpected}; expected {expected}")
        params = self.net.params() if self.net is not None else None
        if params is not None and len(params) != count:
            raise ValueError(f"{owner}: the state is for {count} parameters, the network has "
                             f"{len(params)}")
        state = {}
        for name in self.state_names:
            state[name] = []
            for index in range(count):
                array = arrays[f"{name}.{index}"]
                if params is not None and np.shape(array) != params[index].shape:
                    raise ValueError(f"{owner}: {name}.{index} has shape {np.shape(array)}, the "
                                     f"parameter has shape {params[index].shape}")
                dtype = params[index].dtype if params is not None else None
                state[name].append(as_array(to_host(array), f"{name}.{index}", dtype,
                                            owner=owner, allow_empty=True).copy())
        return state

    def state_dict(self) -> dict:
        """JSON-ready scalars and copies of the arrays: restored, training continues exactly."""
        return {"lr": self.lr, "initial_lr": self.initial_lr, "steps": self.steps,
                "first": self.first, "max_epochs": self.max_epochs,
                "arrays": {name: to_host(array, copy=True)
                           for name, array in self.state_arrays().items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict``; everything is checked first, so a bad one changes nothing."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{owner}: state must be a mapping, got {type(state).__name__}")
        scalars = ("lr", "initial_lr", "steps", "first", "max_epochs")
        missing = [key for key in scalars if key not in state]
        unknown = [key for key in state if key not in scalars + ("arrays",)]
        if missing or unknown:
            raise KeyMismatchError(f"{owner}: missing entries {missing}, unknown entries "
                                   f"{unknown}; expected {list(scalars)} and 'arrays'")
        check_number("lr", state["lr"], low=0, low_open=False, owner=owner)
        check_positive("initial_lr", state["initial_lr"], owner=owner)
        check_number("steps", state["steps"], low=0, low_open=False, integer=True, owner=owner)
        check_number("max_epochs", state["max_epochs"], low=1, low_open=False, integer=True,
                     owner=owner)
        check_bool("first", state["first"], owner=owner)
        if bool(state["first"]) != (state["steps"] == 0):
            raise ValueError(f"{owner}: first={state['first']!r} with steps={state['steps']!r}; "
                             f"a state before the first step has steps=0, after it steps>=1")
        arrays = state.get("arrays", {})
        if not state["first"] and self.state_names and not arrays:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is from after a "
                             f"step but has no arrays; expected {', '.join(self.state_names)}")
        if state["first"] and arrays:
            raise ValueError(f"{owner}: the state is from before the first step but has arrays "
                             f"{list(arrays)[:6]}")
        new_state = self._checked_state_arrays(arrays)
        self.lr = float(state["lr"])
        self.initial_lr = float(state["initial_lr"])
        self.steps = int(state["steps"])
        self.first = bool(state["first"])
        self.max_epochs = int(state["max_epochs"])
        self._reset_state()
        self.state = new_state
        if self.net is not None and not self.first:
            self._bound = self.net.params()

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
