"""Shared fixtures: ``torch``, the reference implementation (float64, one thread)."""

from __future__ import annotations

import os

import pytest


def import_torch():
    """Import torch, or skip the test (fail in CI, where torch is part of the test extra)."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("torch is required in CI (pip install -e '.[test]')")
        pytest.skip("torch is not installed (pip install -e '.[test]')")
    return torch


@pytest.fixture(scope="session")
def _torch_module():
    torch = import_torch()
    torch.set_num_threads(1)  # small tensors: threads only add noise and start-up time
    return torch


@pytest.fixture
def torch(_torch_module):
    """The torch module with float64 as the default dtype for the duration of one test."""
    previous = _torch_module.get_default_dtype()
    _torch_module.set_default_dtype(_torch_module.float64)
    yield _torch_module
    _torch_module.set_default_dtype(previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed one: everything the tests need is in the test extra."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which counts as a failure: {reason}"
