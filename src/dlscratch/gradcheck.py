"""Finite-difference gradient checks for operations, losses and whole networks (use float64).

They work on a device network too (``net.to("cuda")``): the perturbed arrays stay where they
are and the gradients are copied to the host to be compared (each loss value is one read, so a
device check is slow but true).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .backend import is_host, to_device, to_host
from .base import Operation, ParamOperation
from .losses import Loss
from .validation import check_number, check_positive


def _check_tolerances(owner: str, eps: float, rtol: float, atol: float) -> None:
    """eps > 0 (a zero step divides by zero), rtol and atol >= 0."""
    check_positive("eps", eps, owner=owner)
    check_number("rtol", rtol, low=0, low_open=False, owner=owner)
    check_number("atol", atol, low=0, low_open=False, owner=owner)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, perturbing ``x`` in place one element at a time."""
    check_positive("eps", eps, owner="numerical_gradient")
    grad = np.zeros(x.shape, dtype=np.float64)  # on the host: f() returns host numbers
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient: x must be contiguous (it is perturbed in place)")
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + eps
        plus = f()
        flat_x[i] = original - eps
        minus = f()
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def _host64(array: np.ndarray) -> np.ndarray:
    """A float64 host copy of ``array`` (from a device too: CuPy refuses ``np.array(x)``)."""
    return to_host(array).astype(np.float64)


def _own64(array: np.ndarray) -> np.ndarray:
    """A float64 copy of ``array`` where it lives (the checks perturb it in place)."""
    if is_host(array):
        return np.array(array, dtype=np.float64)
    return array.astype(np.float64)


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)
    return float((np.abs(analytic - numeric) / scale).max()) if analytic.size else 0.0


def _assert_close(name: str, analytic: np.ndarray, numeric: np.ndarray, rtol: float,
                  atol: float) -> float:
    if analytic.shape != numeric.shape:
        raise AssertionError(f"{name}: analytic gradient has shape {analytic.shape}, numerical "
                             f"{numeric.shape}")
    if not np.allclose(analytic, numeric, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), analytic.shape)
        raise AssertionError(f"{name}: gradient mismatch at {worst}: analytic "
                             f"{analytic[worst]:.8g}, numerical {numeric[worst]:.8g} "
                             f"(max relative error {_relative_error(analytic, numeric):.2e})")
    return _relative_error(analytic, numeric)


def check_operation(operation: Operation, input_: np.ndarray, *, seed: int = 0,
                    eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7) -> dict[str, float]:
    """Check ``backward`` of ``operation`` (and ``param_grad``) against finite differences.

    Uses the scalar L = sum(output * G) for a fixed random G, so dL/doutput = G. Inputs should
    be float64. Raises AssertionError naming the gradient that disagrees; returns the max
    relative errors.
    """
    _check_tolerances("check_operation", eps, rtol, atol)
    if not isinstance(operation, Operation):
        raise TypeError(f"check_operation: operation must be an Operation, got {operation!r}")
    input_ = _own64(input_)
    output = operation.forward(input_)
    weights = to_device(np.random.default_rng(seed).standard_normal(output.shape), like=output)

    def scalar() -> float:
        return float(np.sum(operation.forward(input_) * weights))

    operation.forward(input_)
    analytic_input = _host64(operation.backward(weights.copy()))
    analytic_param = None
    if isinstance(operation, ParamOperation):
        analytic_param = _host64(operation.param_grad)
    errors = {"input": _assert_close(f"{type(operation).__name__} input gradient",
                                     analytic_input, numerical_gradient(scalar, input_, eps),
                                     rtol, atol)}
    if analytic_param is not None:
        errors["param"] = _assert_close(f"{type(operation).__name__} parameter gradient",
                                        analytic_param,
                                        numerical_gradient(scalar, operation.param, eps),
                                        rtol, atol)
    return errors


def check_loss(loss: Loss, prediction: np.ndarray, target: np.ndarray, *, eps: float = 1e-6,
               rtol: float = 1e-5, atol: float = 1e-7) -> float:
    """Check ``loss.backward()`` against finite differences of ``loss.forward``."""
    _check_tolerances("check_loss", eps, rtol, atol)
    prediction = _own64(prediction)
    loss.forward(prediction, target)
    analytic = _host64(loss.backward())
    numeric = numerical_gradient(lambda: loss.forward(prediction, target), prediction, eps)
    return _assert_close(f"{type(loss).__name__} gradient", analytic, numeric, rtol, atol)


def check_network(net, X: np.ndarray, y: np.ndarray, *, eps: float = 1e-6, rtol: float = 1e-5,
                  atol: float = 1e-7) -> dict[str, float]:
    """Check every parameter gradient (and dL/dX) of ``net`` (dtype float64) on one batch."""
    _check_tolerances("check_network", eps, rtol, atol)
    if net.dtype != np.float64:
        raise ValueError(f"check_network: the network must be float64, got {net.dtype}")
    X = _own64(X)
    needed = net.input_grad_needed
    net.input_grad_needed = True
    try:
        def loss_value() -> float:
            return net.loss.forward(net.forward(X), y)

        prediction = net.forward(X)
        net.loss.forward(prediction, y)
        analytic_input = _host64(net.backward(net.loss.backward()))
        analytic = [_host64(g) for g in net.param_grads()]
        errors = {"input": _assert_close("network input gradient", analytic_input,
                                         numerical_gradient(loss_value, X, eps), rtol, atol)}
        for (name, param), grad in zip(net.named_params(), analytic):
            errors[name] = _assert_close(f"network gradient of {name}", grad,
                                         numerical_gradient(loss_value, param, eps), rtol, atol)
    finally:
        net.input_grad_needed = needed
    return errors
