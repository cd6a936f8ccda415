"""The parts every optimizer is made of, one concept each (``Optimizer`` in optimizers.py
combines them; its update rules use them):

- ``LearningRateSchedule``: the learning rate of each epoch (the book's ``decay_type`` or a
  ``Schedule``);
- ``GradientAdjustments``: what happens to the gradients before the update (the book's
  element-wise clipping, global-norm clipping, weight decay);
- ``ScratchBuffers``: temporaries reused across steps, so a step allocates nothing;
- ``ParameterState``: the per-parameter arrays (velocities, moments), on the parameters' device;
- ``StateCheckpoint``: that state as arrays and a JSON-ready dict, checked before it is restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .backend import to_host, to_module
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


def check_book_decay(owner: str, lr: float, final_lr: float, decay_type: str | None,
                     schedule: Schedule | None) -> None:
    """Refuse a learning rate, or a book-style decay (``final_lr``, ``decay_type``), that is
    not one."""
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


def check_schedule(owner: str, lr: float, final_lr: float, decay_type: str | None,
                   schedule: Schedule | None) -> None:
    """Refuse a ``schedule`` that is not a Schedule, comes with a book-style decay, or ends
    above ``lr``."""
    if schedule is None:
        return
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


class LearningRateSchedule:
    """lr for each epoch: ``schedule.lr_at(epoch, epochs, initial_lr)``.

    The book's ``decay_type`` ("linear" or "exponential", down to ``final_lr``) is a shorthand
    for ``LinearDecay(final_lr)`` or ``ExponentialDecay(final_lr)``; no decay is ``ConstantLR``.
    """

    def _init_schedule(self, lr: float, final_lr: float, decay_type: str | None,
                       schedule: Schedule | None) -> None:
        self.initial_lr = float(lr)
        self.lr = float(lr)
        self.final_lr = float(final_lr)
        self.decay_type = decay_type
        self._user_schedule = schedule
        if schedule is not None:
            self.schedule = schedule
        elif decay_type == "linear":
            self.schedule = LinearDecay(final_lr)
        elif decay_type == "exponential":
            self.schedule = ExponentialDecay(final_lr)
        else:
            self.schedule = ConstantLR()
        self.max_epochs = 1

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


class GradientAdjustments:
    """grad -> clip(grad, -2, 2) (the book's), then grad * min(clip_norm / ||grads||, 1), then
    grad + weight_decay * param for the weights (not the biases) unless the decay is decoupled.
    """

    #: Whether weight decay shrinks the parameters directly (AdamW) instead of adding an L2 term.
    decoupled_weight_decay = False

    def _init_adjustments(self, owner: str, weight_decay: float, clip_norm: float | None,
                          gradient_clipping: bool) -> None:
        self.weight_decay = float(weight_decay)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        if not isinstance(gradient_clipping, (bool, np.bool_)):
            raise TypeError(f"{owner}: gradient_clipping must be True or False, got "
                            f"{gradient_clipping!r}")
        self.gradient_clipping = bool(gradient_clipping)
        self._decays: list[bool] | None = None  # per parameter: does weight decay apply?

    def _clip_grads(self, grads: list[np.ndarray]) -> None:
        """Clip the gradients in place: element by element (the book's), then by global norm."""
        if self.gradient_clipping:
            for grad in grads:  # the book's element-wise clipping, in place
                np.clip(grad, -GRADIENT_CLIP, GRADIENT_CLIP, out=grad)
        if self.clip_norm is not None:
            self._clip_grad_norm(grads)

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


class ScratchBuffers:
    """Temporaries shaped like a parameter, one flat buffer per slot and dtype, kept across
    steps."""

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


class ParameterState:
    """The per-parameter arrays (velocities, moments) named by ``state_names``, created as zeros
    on the first step and kept on the parameters' device."""

    #: Names of the per-parameter state arrays, saved as ``"<name>.<index>"``.
    state_names: tuple[str, ...] = ()

    def _init_state(self, params: list[np.ndarray]) -> None:
        """Create per-parameter state (velocities, moments): zeros shaped like ``params``."""
        self.state = {name: [np.zeros_like(param) for param in params]
                      for name in self.state_names}

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

    def _follow_device(self, module) -> None:
        """Move the state to the parameters' device (after ``net.to(...)`` or a resume)."""
        self.state = {name: [to_module(array, module) for array in arrays]
                      for name, arrays in self.state.items()}
        self._scratch_buffers = {}
        self._array_module = module

    def __getstate__(self) -> dict:
        # a module cannot be pickled: the state follows the parameters' device at the next step
        return {**self.__dict__, "_array_module": None}

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


class StateCheckpoint:
    """The state as named arrays (``"m.0"``) and a JSON-ready dict: restored, training continues
    exactly; everything is checked before anything is set."""

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
