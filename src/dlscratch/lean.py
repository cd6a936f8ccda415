"""The trainer's lean step: one training step on a batch, its checks done once per ``fit``.

``Trainer.fit`` checks the data, the targets and the network at the door. After that, the
checks that ``Operation.backward`` and ``Layer.backward`` repeat on every batch (shapes of
every gradient) cannot fail for the network's own operations, so a step may skip them. It calls
the very same ``_output``, ``_input_grad`` and ``_param_grad`` of the book's operations, in the
book's order, and changes only where arrays live and how often NumPy is called:

- the parameter gradients are written into one flat buffer per network (each parameter's
  gradient a view of it, through ``ParamOperation.param_grad_buffer``), and the optimizer's
  state lives in flat buffers too, so that the update rule (``Optimizer._delta``) runs once over
  all parameters, and the change is subtracted once per run of neighbouring parameters (a
  ``Dense`` layer keeps W and B side by side);
- in a ``Dense`` layer the bias is added into the fresh product X @ W, and an activation whose
  backward needs only its output (``InPlaceActivation``) overwrites that sum;
- the first layer's input gradient is never computed (the network's ``input_grad_needed``), and
  an identity's input gradient (``Linear``, ``BiasAdd``) is no call at all;
- the batch losses are not read one by one: the trainer sums them once per epoch, where a
  non-finite one stops the run as it would have at its batch (the rest of that epoch is
  computed, then the parameters of the end of the previous epoch are put back, as on a
  device).

The results are bit for bit those of ``NeuralNetwork.train_batch`` followed by
``Optimizer.step`` (tests/test_lean_step.py). The lean step only runs networks whose every piece
is one it knows (Dense layers of the library's activations, the library's losses and optimizers
without weight decay or ``clip_norm``, on the CPU, no method replaced on an instance); anything
else, a subclass included, takes the general path.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .activations import ELU, GELU, InPlaceActivation, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .base import ParamOperation
from .dense import BiasAdd, WeightMultiply
from .dropout import Dropout
from .layers import Dense
from .losses import (
    BinaryCrossEntropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)
from .optimizers import GRADIENT_CLIP, SGD, AdaGrad, Adam, Optimizer, RMSProp, SGDMomentum

if TYPE_CHECKING:
    from .network import NeuralNetwork

#: the exact classes whose forward and backward the lean step reproduces
OPERATIONS = (WeightMultiply, BiasAdd, Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, GELU, Dropout)
LOSSES = (MeanSquaredError, MeanAbsoluteError, Huber, SoftmaxCrossEntropy, BinaryCrossEntropy)
OPTIMIZERS = (SGD, SGDMomentum, AdaGrad, RMSProp, Adam)
#: operations whose input gradient is the output gradient itself
IDENTITY_GRADIENTS = (Linear, BiasAdd)
#: methods that, replaced on an instance, send the run down the general path
PATCHABLE = ("forward", "backward", "train_batch", "_train_batch_checked", "_output",
             "_input_grad", "_param_grad", "_forward_checked", "step", "_update_rule", "_delta",
             "_begin_step")


def parameter_views(params: list[np.ndarray], flat: np.ndarray) -> list[np.ndarray]:
    """Views of ``flat``, one per parameter, shaped like it."""
    views, start = [], 0
    for param in params:
        views.append(flat[start:start + param.size].reshape(param.shape))
        start += param.size
    return views


def parameter_runs(params: list[np.ndarray]) -> list[tuple[np.ndarray, int, int]]:
    """(array, start, stop): ``array`` holds the parameters whose flat positions are
    [start, stop), in that order: a 1-D view over neighbours in one buffer, or a parameter
    alone."""
    runs: list[tuple[np.ndarray, int, int]] = []
    position = 0
    for param in params:
        size = param.size
        base = param.base
        address = param.__array_interface__["data"][0]
        if runs and param.flags.c_contiguous and base is not None and size:
            array, start, stop = runs[-1]
            if array.base is base and array.ndim == 1 and address == \
                    array.__array_interface__["data"][0] + array.nbytes:
                offset = (array.__array_interface__["data"][0]
                          - base.__array_interface__["data"][0]) // base.itemsize
                runs[-1] = (base[offset:offset + stop - start + size], start, stop + size)
                position += size
                continue
        if param.flags.c_contiguous and isinstance(base, np.ndarray) and base.ndim == 1 \
                and base.flags.c_contiguous and base.dtype == param.dtype and size:
            offset = (address - base.__array_interface__["data"][0]) // base.itemsize
            runs.append((base[offset:offset + size], position, position + size))
        else:
            runs.append((param, position, position + size))
        position += size
    return runs


def reproduces_exactly(net: NeuralNetwork, optim: Optimizer) -> bool:
    """Whether every piece of ``net`` and ``optim`` is one whose behaviour the lean step
    reproduces exactly: the library's own network, loss, Dense layers, operations and
    optimizer, on the CPU, no weight decay or clip_norm, no method replaced."""
    from .network import NeuralNetwork

    cls_net = type(net)
    if any(getattr(cls_net, name) is not getattr(NeuralNetwork, name)
           for name in ("train_batch", "forward", "backward", "_train_batch_checked")):
        return False
    if net.device != "cpu" or not net.built or type(net.loss) not in LOSSES \
            or type(optim) not in OPTIMIZERS:
        return False
    loss = net.loss
    if any(getattr(type(loss), name) is not getattr(Loss, name)
           for name in ("forward", "backward", "_forward_checked")):
        return False
    if optim.weight_decay != 0 or optim.clip_norm is not None or optim.net is not net:
        return False  # per-parameter options: the general step applies them
    for layer in net.layers:
        if type(layer) is not Dense:
            return False
        if any(type(operation) not in OPERATIONS for operation in layer.operations):
            return False
        if len(layer.params) != 2 or any(not isinstance(param, np.ndarray)
                                         for param in layer.params):
            return False
    params = net.params()
    if any(param.dtype != net.dtype for param in params):
        return False
    # a method replaced on one object (a test's or a user's patch) is called as it is
    pieces = [net, loss, optim, *net.layers,
              *(operation for layer in net.layers for operation in layer.operations)]
    if any(name in vars(piece) for piece in pieces for name in PATCHABLE):
        return False
    return True


class LeanStep:
    """forward, loss, backward and the optimizer's update of one batch, without the per-batch
    checks (see the module's docstring); ``__call__`` returns the batch's loss, unread."""

    def __init__(self, net: NeuralNetwork, optim: Optimizer) -> None:
        self.net, self.optim, self.loss = net, optim, net.loss
        self.layers = [(layer, list(layer.operations)) for layer in net.layers]
        self.params = net.params()
        # one flat gradient buffer; each parameter operation writes its gradient into its view
        self.flat_grad = np.zeros(sum(param.size for param in self.params), dtype=net.dtype)
        # the update's scratch space: the gradient buffer itself where the rule allows it (one
        # array fewer streamed through the cache per step), else a buffer of its own
        self.work = self.flat_grad if optim.delta_reads_grad_once \
            else np.empty_like(self.flat_grad)
        self._bind_gradient_buffer()
        self.backward_plan = self._backward_plan()
        self.begin_step = type(optim)._begin_step is not Optimizer._begin_step
        self._choose_in_place()
        # the parameters as runs of neighbouring memory (a Dense layer's W and B are one run):
        # the update subtracts one slice of the flat change from each run
        self.runs = parameter_runs(self.params)
        self.bound_state: dict | None = None
        self.flat_state: list[np.ndarray] = []
        self.delta_runs: dict[int, list[np.ndarray]] = {}

    def _bind_gradient_buffer(self) -> None:
        """Give each parameter operation its view of the flat gradient buffer to write into."""
        grads = iter(parameter_views(self.params, self.flat_grad))
        for layer, operations in self.layers:
            for operation in operations:
                if isinstance(operation, ParamOperation):
                    operation.param_grad = operation.param_grad_buffer = next(grads)
            layer._param_grads()

    def _backward_plan(self) -> list[tuple[Any, Any, bool]]:
        """Backward, in reverse: (param_grad or None, input_grad or None, stop after
        param_grad), as bound methods; an identity's input gradient (Linear, BiasAdd) is no call
        at all."""
        backward_plan: list[tuple[Any, Any, bool]] = []
        for index, (layer, operations) in enumerate(reversed(self.layers)):
            first_layer = index == len(self.layers) - 1
            for position, operation in enumerate(reversed(operations)):
                param_grad = operation._param_grad \
                    if isinstance(operation, ParamOperation) else None
                stop = param_grad is not None and first_layer \
                    and position == len(operations) - 1 and not layer.input_grad_needed
                input_grad = None if type(operation) in IDENTITY_GRADIENTS \
                    else operation._input_grad
                backward_plan.append((param_grad, input_grad, stop))
        return backward_plan

    def _choose_in_place(self) -> None:
        """Let the operations that may overwrite their input do so: in a Dense layer the bias
        is added into the product X @ W, a fresh array that nothing else reads, and an
        activation whose backward needs only its output (sigmoid, tanh, ReLU) overwrites that
        sum: two arrays fewer per layer and batch."""
        self.in_place: list[Any] = []
        for _, operations in self.layers:
            for before, operation in zip(operations, operations[1:]):
                fresh = type(before) is WeightMultiply or before in self.in_place
                if fresh and (type(operation) is BiasAdd
                              or isinstance(operation, InPlaceActivation)) \
                        and not operation.in_place:
                    self.in_place.append(operation)
        for operation in self.in_place:
            operation.in_place = True

    @classmethod
    def for_network(cls, net: NeuralNetwork, optim: Optimizer) -> LeanStep | None:
        """A lean step for ``net`` and ``optim``, or None when some piece is not one whose
        behaviour it reproduces exactly (then the trainer calls ``train_batch`` and ``step``)."""
        return cls(net, optim) if reproduces_exactly(net, optim) else None

    def total_loss(self, losses: list, batch_size: int, n_rows: int) -> tuple[float, int]:
        """(sum of loss * rows over an epoch's batches, index of the first non-finite batch
        or -1), summed in the order and precision of the general path."""
        values = np.array(losses, dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.all():
            return math.nan, int(np.argmin(finite))
        total = 0.0
        last = len(values) - 1
        for index, value in enumerate(values.tolist()):
            total += value * (batch_size if index < last else n_rows - last * batch_size)
        return total, -1

    def release(self) -> None:
        """After ``fit``: the operations make new gradient arrays again when called directly.

        The gradient buffer may have been the update's scratch space (it then holds lr times
        the last batch's gradients), so the gradients are dropped: ``net.param_grads()`` is
        empty until the next ``backward``, rather than wrong.
        """
        for layer, operations in self.layers:
            for operation in operations:
                if isinstance(operation, ParamOperation):
                    operation.param_grad_buffer = operation.param_grad = None
            layer.param_grads = []
        for operation in self.in_place:
            operation.in_place = False

    # ------------------------------------------------------------------ one batch
    def __call__(self, X_batch: np.ndarray, y_batch: np.ndarray):
        """Train on one batch (rows already checked and cast); returns the loss unread."""
        X = X_batch
        for layer, operations in self.layers:
            layer.input_ = X
            for operation in operations:  # Operation.forward, inlined
                operation.input_ = X
                X = operation.output = operation._output()
            layer.output = X
        loss = self.loss
        loss.prediction, loss.target = X, y_batch
        value = loss._output()
        grad = loss._input_grad()
        for param_grad, input_grad, stop in self.backward_plan:
            if param_grad is not None:
                param_grad(grad)  # into the operation's param_grad, a view of flat_grad
                if stop:
                    break
            if input_grad is not None:
                grad = input_grad(grad)
        self.update()
        return value

    def update(self) -> None:
        """``Optimizer.step`` on the flat buffers: one ``_delta`` for all parameters."""
        optim = self.optim
        if optim.first or optim.state is not self.bound_state:
            self._bind_state()
        if optim.gradient_clipping:
            np.clip(self.flat_grad, -GRADIENT_CLIP, GRADIENT_CLIP, out=self.flat_grad)
        optim.steps += 1
        if self.begin_step:
            optim._begin_step()
        delta = optim._delta(self.flat_grad, self.work, *self.flat_state)
        for (array, _, _), change in zip(self.runs, self.delta_runs[id(delta)]):
            array -= change

    def _bind_state(self) -> None:
        """The optimizer's state as views of flat buffers (created at the first step, else
        copied from its arrays: after a resume, or for a run that continues)."""
        optim = self.optim
        if not optim.first and optim._array_module is not np:
            optim._follow_device(np)  # state left on a device follows the network back, as in step
        if optim.first:
            optim._init_state(self.params)
            optim._bound = self.params
            optim._array_module = np
            optim.first = False
        flat_state = []
        for name in optim.state_names:
            arrays = optim.state[name]
            flat = np.concatenate([np.ravel(array) for array in arrays]).astype(
                self.flat_grad.dtype, copy=False)
            optim.state[name] = parameter_views(self.params, flat)
            flat_state.append(flat)
        self.flat_state = flat_state
        self.bound_state = optim.state
        self.delta_runs = {id(flat): [flat[start:stop].reshape(array.shape)
                                      for array, start, stop in self.runs]
                           for flat in [self.work, *flat_state]}
