"""The two building blocks of every network: Operation and ParamOperation."""

from __future__ import annotations

import inspect

import numpy as np

from .validation import check_same_shape


class Operation:
    """One step of a network: ``forward`` computes the output, ``backward`` applies the chain rule.

    Subclasses implement ``_output`` (the function) and ``_input_grad`` (its derivative times the
    gradient that flows back). ``_output`` may take an ``inference`` flag, as in the book's
    chapter 4, or no argument, as in chapter 3: both forms work.
    """

    _output_takes_inference = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "_output" in cls.__dict__:
            parameters = inspect.signature(cls.__dict__["_output"]).parameters
            cls._output_takes_inference = len(parameters) > 1

    def __init__(self) -> None:
        self.input_: np.ndarray | None = None
        self.output: np.ndarray | None = None

    def forward(self, input_: np.ndarray, inference: bool = False) -> np.ndarray:
        """Store the input and return the output of the operation."""
        self.input_ = input_
        if self._output_takes_inference:
            self.output = self._output(inference)
        else:
            self.output = self._output()
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """Return dL/d(input) given dL/d(output), checking both shapes."""
        check_same_shape(self, "output_grad", output_grad, "output", self.output)
        self.input_grad = self._input_grad(output_grad)
        check_same_shape(self, "input_grad", self.input_grad, "input", self.input_)
        return self.input_grad

    def _output(self, inference: bool = False) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _output")

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _input_grad")

    def _release(self) -> None:
        """Drop the arrays kept for backward (used after inference)."""
        self.input_ = None
        self.output = None

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this operation (for saving a model)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ParamOperation(Operation):
    """An operation with a parameter: ``backward`` also stores ``param_grad`` = dL/d(param)."""

    #: where ``_param_grad`` may write dL/d(param) instead of a new array (the trainer's flat
    #: gradient buffer during ``fit``, see ``lean.py``); None: a new array each time
    param_grad_buffer: np.ndarray | None = None

    def __init__(self, param: np.ndarray) -> None:
        super().__init__()
        self.param = param
        self.param_grad: np.ndarray | None = None
        self.input_grad_needed = True

    def backward(self, output_grad: np.ndarray) -> np.ndarray | None:
        """Store dL/d(param) and return dL/d(input) (None when ``input_grad_needed`` is off)."""
        check_same_shape(self, "output_grad", output_grad, "output", self.output)
        self.param_grad = self._param_grad(output_grad)
        check_same_shape(self, "param_grad", self.param_grad, "param", self.param)
        if not self.input_grad_needed:
            self.input_grad = None
            return None
        self.input_grad = self._input_grad(output_grad)
        check_same_shape(self, "input_grad", self.input_grad, "input", self.input_)
        return self.input_grad

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _param_grad")
