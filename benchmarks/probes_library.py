"""Adversarial probes of the library surfaces: CNN, recurrent, loss, file, bridge, training loop,
resource. Each probe does one hostile (or one legitimate but unusual) thing and is classified:

    python benchmarks/probes_library.py             # every probe, the totals at the end
    python benchmarks/probes_library.py --verbose   # one line per probe
    python benchmarks/probes_library.py --surface file --surface resource

The rule. A probe expects either a refusal ("refuse": the input is wrong) or an answer ("work":
the input is legal and the answer is checked).

- fine: a "refuse" probe raised a clear error: an exception of the library's kinds (ValueError,
  TypeError, NotImplementedError, OSError, RuntimeError, NetworkTooLargeError), raised from
  dlscratch's own code (the innermost frame of the traceback is in the package, so never a
  NumPy or Python error from deep inside) and not NumPy's "Unable to allocate". A "work" probe
  returned an answer that its check accepts.
- weak: a "refuse" probe raised, but not clearly (raised inside NumPy or Python, an IndexError,
  KeyError, AttributeError or ZeroDivisionError, an allocation failure); or a "work" probe was
  refused with a clear error (a legal input turned away).
- broken: a "refuse" probe returned without an error (a wrong input accepted silently); a
  "work" probe gave a wrong answer or crashed; a probe hung past its timeout or ran out of its
  memory limit (those run in a subprocess with an address-space limit).

The script exits 1 when a probe is broken.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
import traceback
import types
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

import dlscratch as dl  # noqa: E402
from dlscratch import persistence  # noqa: E402
from dlscratch._shapes import NetworkTooLargeError  # noqa: E402
from dlscratch.recurrent import GRULayer, LSTMLayer, RNNLayer  # noqa: E402
from dlscratch.text import RNNModel, RNNTrainer  # noqa: E402

PACKAGE = os.path.dirname(os.path.abspath(dl.__file__))
CLEAR = (ValueError, TypeError, NotImplementedError, OSError, RuntimeError, NetworkTooLargeError)
UNCLEAR = (IndexError, KeyError, AttributeError, ZeroDivisionError, OverflowError)


@dataclass
class Probe:
    surface: str
    name: str
    expect: str  # "refuse" or "work"
    run: Callable[[], object] | None = None
    code: str | None = None  # run in a subprocess instead (hang and memory probes)
    memory_mb: int = 700
    timeout: float = 60.0


PROBES: list[Probe] = []


def refuse(surface: str, name: str):
    def register(function):
        PROBES.append(Probe(surface, name, "refuse", function))
        return function
    return register


def work(surface: str, name: str):
    def register(function):
        PROBES.append(Probe(surface, name, "work", function))
        return function
    return register


def isolated(surface: str, name: str, expect: str, code: str, memory_mb: int = 700,
             timeout: float = 60.0) -> None:
    PROBES.append(Probe(surface, name, expect, code=code, memory_mb=memory_mb, timeout=timeout))


# ---------------------------------------------------------------------- classification
def classify(expect: str, error: BaseException | None, tb) -> tuple[str, str]:
    """(fine | weak | broken, what happened), by the rule of the module's docstring."""
    if error is None:
        return ("broken", "accepted silently") if expect == "refuse" else ("fine", "answered")
    message = f"{type(error).__name__}: {str(error)[:160]}"
    if isinstance(error, AssertionError):
        return "broken", f"wrong answer: {message}"
    frames = traceback.extract_tb(tb)
    inside = bool(frames) and os.path.abspath(frames[-1].filename).startswith(PACKAGE)
    # (an error of both kinds, such as KeyMismatchError, a KeyError and a ValueError, is clear)
    clear = isinstance(error, CLEAR) and inside \
        and (not isinstance(error, UNCLEAR) or isinstance(error, ValueError)) \
        and not str(error).startswith("Unable to allocate")
    if expect == "refuse":
        return ("fine", message) if clear else ("weak", f"unclear: {message}")
    return ("weak", f"legal input refused: {message}") if clear \
        else ("broken", f"crashed: {message}")


def run_in_process(probe: Probe) -> tuple[str, str]:
    with np.errstate(all="ignore"):
        try:
            answer = probe.run()
        except BaseException as error:  # noqa: BLE001 - every outcome is classified
            if isinstance(error, KeyboardInterrupt):
                raise
            return classify(probe.expect, error, error.__traceback__)
    if probe.expect == "work" and answer is False:
        return "broken", "wrong answer (the check returned False)"
    return classify(probe.expect, None, None)


HARNESS = """
import json, os, resource, sys, traceback
limit = {memory_mb} * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.path.insert(0, {src!r})
sys.path.insert(0, {here!r})
from probes_library import classify
def probe():
{body}
try:
    answer = probe()
    outcome = ("broken", "wrong answer") if (answer is False and {expect!r} == "work") \\
        else classify({expect!r}, None, None)
except MemoryError as error:
    outcome = classify({expect!r}, error, error.__traceback__)
except BaseException as error:
    outcome = classify({expect!r}, error, error.__traceback__)
print("OUTCOME " + json.dumps(outcome))
"""


def run_isolated(probe: Probe) -> tuple[str, str]:
    code = HARNESS.format(memory_mb=probe.memory_mb, src=SRC, here=HERE, expect=probe.expect,
                          body=textwrap.indent(textwrap.dedent(probe.code), "    "))
    env = dict(os.environ, PYTHONPATH=SRC, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=probe.timeout, env=env)
    except subprocess.TimeoutExpired:
        return "broken", f"hung past {probe.timeout:g} s"
    for line in done.stdout.splitlines():
        if line.startswith("OUTCOME "):
            outcome = json.loads(line[len("OUTCOME "):])
            return outcome[0], outcome[1]
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return "broken", f"died (exit {done.returncode}, {probe.memory_mb} MB limit): {tail[:160]}"


# ---------------------------------------------------------------------- helpers
RNG = np.random.default_rng(0)
TMP = tempfile.mkdtemp(prefix="dlscratch-probes-")


def tmp(name: str) -> str:
    return os.path.join(TMP, name)


def mse() -> dl.MeanSquaredError:
    return dl.MeanSquaredError()


def small_net(dtype=np.float32) -> dl.NeuralNetwork:
    return dl.NeuralNetwork([dl.Dense(4, dl.Tanh()), dl.Dense(1, dl.Linear())], mse(),
                            dtype=dtype).build(3)


def saved_model() -> str:
    path = tmp("model.npz")
    if not os.path.exists(path):
        small_net().save(path)
    return path


def close(a, b, tol=1e-10) -> bool:
    return bool(np.allclose(a, b, rtol=tol, atol=tol))


def import_torch():
    import torch

    torch.set_num_threads(1)
    return torch


# ---------------------------------------------------------------------- CNN
X4 = RNG.standard_normal((2, 1, 6, 6))
for _name, _make, _X in [
    ("conv: 3-D input", lambda: dl.Conv2D(2, 3), np.zeros((2, 6, 6))),
    ("conv: 2-D input", lambda: dl.Conv2D(2, 3), np.zeros((2, 36))),
    ("conv: 5-D input", lambda: dl.Conv2D(2, 3), np.zeros((2, 1, 1, 6, 6))),
    ("conv: 0 channels", lambda: dl.Conv2D(2, 3, weight_init="he"), np.zeros((2, 0, 6, 6))),
    ("conv: 0 rows", lambda: dl.Conv2D(2, 3, weight_init="glorot"), np.zeros((2, 1, 0, 6))),
    ("conv: float16 input", lambda: dl.Conv2D(2, 3), np.zeros((2, 1, 6, 6), np.float16)),
    ("conv: kernel larger than the image", lambda: dl.Conv2D(2, 7, padding=0), X4),
    ("conv: string input", lambda: dl.Conv2D(2, 3), np.full((1, 1, 2, 2), "a")),
    ("max pool: window larger than the image", lambda: dl.MaxPool2D(7), X4),
    ("avg pool: 2-D input", lambda: dl.AvgPool2D(2), np.zeros((2, 4))),
    ("global pool: 2-D input", lambda: dl.GlobalAvgPool2D(), np.zeros((2, 4))),
    ("batch norm: 1-D input", lambda: dl.BatchNorm(), np.zeros(4)),
    ("batch norm: one row in training", lambda: dl.BatchNorm(), np.zeros((1, 4))),
]:
    refuse("cnn", _name)(lambda make=_make, X=_X: make().forward(X))

for _name, _make in [
    ("conv: out_channels 0", lambda: dl.Conv2D(0, 3)),
    ("conv: param_size 2.5", lambda: dl.Conv2D(2, 2.5)),
    ("conv: stride 0", lambda: dl.Conv2D(2, 3, stride=0)),
    ("conv: padding -1", lambda: dl.Conv2D(2, 3, padding=-1)),
    ("conv: padding 'full'", lambda: dl.Conv2D(2, 3, padding="full")),
    ("conv: same padding with stride 2", lambda: dl.Conv2D(2, 3, stride=2)),
    ("conv: dropout 0", lambda: dl.Conv2D(2, 3, dropout=0)),
    ("conv: flatten 'yes'", lambda: dl.Conv2D(2, 3, flatten="yes")),
    ("conv: activation a layer", lambda: dl.Conv2D(2, 3, activation=dl.Dense(2))),
    ("pool: size 0", lambda: dl.MaxPool2D(0)),
    ("pool: stride -2", lambda: dl.AvgPool2D(2, -2)),
    ("batch norm: momentum 2", lambda: dl.BatchNorm(momentum=2)),
    ("batch norm: eps 0", lambda: dl.BatchNorm(eps=0)),
]:
    refuse("cnn", _name)(_make)


@refuse("cnn", "conv: channels change after the build")
def _conv_channels():
    layer = dl.Conv2D(2, 3)
    layer.forward(X4)
    layer.forward(np.zeros((2, 3, 6, 6)))


@refuse("cnn", "batch norm: channels change after the build")
def _bn_channels():
    layer = dl.BatchNorm()
    layer.forward(np.ones((3, 4)) * np.arange(3)[:, None])
    layer.forward(np.ones((3, 5)))


@work("cnn", "conv: every padding and stride against torch (float64)")
def _conv_torch():
    torch = import_torch()
    for k, stride, padding in ((3, 1, "same"), (2, 1, "same"), (3, 2, 1), (4, 3, 0), (1, 1, 2)):
        layer = dl.Conv2D(3, k, stride=stride, padding=padding)
        layer.dtype = np.dtype(np.float64)
        X = RNG.standard_normal((2, 2, 7, 8))
        out = layer.forward(X)
        W, B = layer.params
        pad = {"same": "same"}.get(padding, padding)
        ref = torch.nn.functional.conv2d(torch.from_numpy(X), torch.from_numpy(W),
                                         torch.from_numpy(B), stride=stride, padding=pad)
        if not close(out, ref.numpy()):
            return False
    return True


@work("cnn", "pools against torch (float64)")
def _pools_torch():
    torch = import_torch()
    X = RNG.standard_normal((2, 3, 7, 9))
    for size, stride in ((2, 2), (3, 1), (3, 2)):
        for ours, theirs in ((dl.MaxPool2D, torch.nn.functional.max_pool2d),
                             (dl.AvgPool2D, torch.nn.functional.avg_pool2d)):
            if not close(ours(size, stride).forward(X),
                         theirs(torch.from_numpy(X), size, stride).numpy()):
                return False
    return close(dl.GlobalAvgPool2D().forward(X), X.mean(axis=(2, 3)))


@work("cnn", "batch norm training statistics on images of one row")
def _bn_images():
    layer = dl.BatchNorm()
    layer.dtype = np.dtype(np.float64)
    X = RNG.standard_normal((1, 2, 3, 3))
    out = layer.forward(X)
    return close(out.mean(axis=(0, 2, 3)), 0) and close(out.std(axis=(0, 2, 3)), 1, 1e-4)


@work("cnn", "conv network trains on a last batch of one row with batch norm")
def _bn_short_batch():
    X = RNG.standard_normal((9, 1, 1, 1))
    net = dl.NeuralNetwork([dl.Conv2D(2, 1), dl.BatchNorm(), dl.Flatten(),
                            dl.Dense(1, dl.Linear())], mse())
    history = dl.Trainer(net, dl.SGD(0.01)).fit(X, X[:, 0, 0], epochs=2, batch_size=4,
                                                verbose=False)
    return len(history.train_loss) == 2


# ---------------------------------------------------------------------- recurrent
X3 = RNG.standard_normal((2, 5, 3))
for _name, _make, _X in [
    ("lstm: 2-D input", lambda: LSTMLayer(4, 2), np.zeros((2, 3))),
    ("lstm: 4-D input", lambda: LSTMLayer(4, 2), np.zeros((2, 3, 4, 5))),
    ("lstm: 0 steps", lambda: LSTMLayer(4, 2), np.zeros((2, 0, 3))),
    ("gru: 0 sequences", lambda: GRULayer(4, 2), np.zeros((0, 3, 3))),
    ("rnn: 0 features", lambda: RNNLayer(4, 2), np.zeros((2, 3, 0))),
    ("gru: float16 input", lambda: GRULayer(4, 2), np.zeros((2, 3, 3), np.float16)),
    ("embedding: negative id", lambda: dl.Embedding(5, 2), np.array([[0, -1]])),
    ("embedding: id == vocab_size", lambda: dl.Embedding(5, 2), np.array([[5]])),
    ("embedding: id 2.5", lambda: dl.Embedding(5, 2), np.array([[2.5]])),
    ("embedding: boolean ids", lambda: dl.Embedding(5, 2), np.array([[True, False]])),
    ("embedding: 3-D ids", lambda: dl.Embedding(5, 2), np.zeros((1, 2, 3), int)),
    ("embedding: string ids", lambda: dl.Embedding(5, 2), np.array([["a"]])),
    ("embedding: NaN id", lambda: dl.Embedding(5, 2), np.array([[np.nan]])),
]:
    refuse("recurrent", _name)(lambda make=_make, X=_X: make().forward(X))

for _name, _make in [
    ("lstm: hidden_size 0", lambda: LSTMLayer(0, 2)),
    ("gru: hidden_size 1.5", lambda: GRULayer(1.5, 2)),
    ("rnn: output_size -1", lambda: RNNLayer(3, -1)),
    ("lstm: weight_scale 0", lambda: LSTMLayer(3, 2, 0.0)),
    ("lstm: return_sequences 'no'", lambda: LSTMLayer(3, 2, return_sequences="no")),
    ("gru: stateful 1", lambda: GRULayer(3, 2, stateful=1)),
    ("embedding: vocab_size 0", lambda: dl.Embedding(0, 2)),
    ("embedding: embedding_dim 2.0", lambda: dl.Embedding(3, 2.0)),
]:
    refuse("recurrent", _name)(_make)


@refuse("recurrent", "lstm: features change after the build")
def _lstm_features():
    layer = LSTMLayer(4, 2)
    layer.forward(X3)
    layer.forward(np.zeros((2, 5, 4)))


@refuse("recurrent", "stateful gru: the batch size changes")
def _stateful_batch():
    layer = GRULayer(4, 2, stateful=True)
    layer.forward(X3)
    layer.forward(X3[:1])


@refuse("recurrent", "predict cuts rows of a stateful layer into batches")
def _stateful_predict():
    net = dl.NeuralNetwork([LSTMLayer(3, 2, stateful=True)], mse())
    net.predict(RNG.standard_normal((9, 4, 3)), batch_size=4)


def _recurrent_against_torch(ours, theirs_class) -> bool:
    torch = import_torch()
    from dlscratch.torch import to_torch

    net = dl.NeuralNetwork([ours], mse(), dtype=np.float64).build((5, 3))
    model = to_torch(net).eval()
    return close(net.predict(X3), model(torch.from_numpy(X3)).detach().numpy())


for _cls, _torch_name in ((RNNLayer, "RNN"), (LSTMLayer, "LSTM"), (GRULayer, "GRU")):
    work("recurrent", f"{_cls.__name__} against torch.nn.{_torch_name} (float64)")(
        lambda cls=_cls, name=_torch_name: _recurrent_against_torch(cls(6, 2), name))


@work("recurrent", "embedding: float64 ids above 2**24 read exactly")
def _exact_ids():
    net = dl.NeuralNetwork([dl.Embedding(2**24 + 3, 1)], mse(), seed=0)
    W = net.build((1,)).params()[0]
    out = net.predict(np.array([[2.0**24 + 1]]))
    return out[0, 0, 0] == W[2**24 + 1, 0]


def text_model() -> RNNModel:
    return RNNModel([RNNLayer(4, 3)], sequence_length=3, vocab_size=3,
                    loss=dl.SoftmaxCrossEntropy(), vocabulary="abc")


for _name, _call in [
    ("text: decode id 999", lambda m: m.decode([999])),
    ("text: decode id -1", lambda m: m.decode([-1])),
    ("text: decode id 1.5", lambda m: m.decode([1.5])),
    ("text: sample seed -1", lambda m: m.sample(3, seed=-1)),
    ("text: sample length 0", lambda m: m.sample(0)),
    ("text: sample temperature 0", lambda m: m.sample(3, temperature=0)),
    ("text: sample prompt with an unknown character", lambda m: m.sample(3, prompt="z")),
    ("text: perplexity of one character", lambda m: m.perplexity("a")),
    ("text: perplexity batch_size 0", lambda m: m.perplexity("abcabc", batch_size=0)),
    ("text: vocabulary with a character twice", lambda m: setattr(m, "vocabulary", "aab")),
    ("text: encode bytes", lambda m: m.encode(b"abc")),
]:
    refuse("recurrent", _name)(lambda call=_call: call(text_model()))


@refuse("recurrent", "text: trainer on a text with another vocabulary size")
def _trainer_vocab():
    model = RNNModel([RNNLayer(4, 3)], sequence_length=3, vocab_size=3,
                     loss=dl.SoftmaxCrossEntropy())
    RNNTrainer(text="abcdabcdabcd", model=model, optim=dl.SGD(0.1))


@work("recurrent", "text: perplexity is the same whatever the batch size")
def _perplexity_batches():
    model = text_model()
    text = "abcbacabccbaabc" * 5
    values = [model.perplexity(text, batch_size=size) for size in (1, 2, 5, 100)]
    return bool(np.allclose(values, values[0], rtol=1e-6))


# ---------------------------------------------------------------------- loss
P2 = RNG.standard_normal((4, 3))


def sce(target, prediction=P2):
    return dl.SoftmaxCrossEntropy().forward(prediction, target)


for _name, _call in [
    ("sce: label 3 of 3 classes", lambda: sce(np.array([0, 1, 2, 3]))),
    ("sce: label -1", lambda: sce(np.array([0, 1, 2, -1]))),
    ("sce: label 1.5", lambda: sce(np.array([0, 1, 2, 1.5]))),
    ("sce: one-hot row summing to 2", lambda: sce(np.array([[1, 1, 0]] + [[1, 0, 0]] * 3))),
    ("sce: negative probability", lambda: sce(np.array([[1.5, -0.5, 0]] * 4))),
    ("sce: target of another shape", lambda: sce(np.zeros((4, 4)))),
    ("sce: 5 labels for 4 rows", lambda: sce(np.zeros(5, int))),
    ("sce: NaN target", lambda: sce(np.array([0, 1, np.nan, 2]))),
    ("sce: string labels", lambda: sce(np.array(["a", "b", "c", "a"]))),
    ("sce: one output per row", lambda: sce(np.array([0, 0]), np.zeros((2, 1)))),
    ("sce: sequence labels of the wrong shape",
     lambda: sce(np.zeros((2, 4), int), np.zeros((2, 3, 5)))),
    ("sce: sequence label out of range", lambda: sce(np.full((2, 3), 5), np.zeros((2, 3, 5)))),
    ("bce: target 2", lambda: dl.BinaryCrossEntropy().forward(np.zeros((2, 1)),
                                                              np.array([[0], [2]]))),
    ("mse: target shape (3, 2) for (3, 1)", lambda: mse().forward(np.zeros((3, 1)),
                                                                  np.zeros((3, 2)))),
    ("mse: infinite target", lambda: mse().forward(np.zeros((2, 1)), np.array([[np.inf], [0]]))),
    ("mae: empty prediction", lambda: dl.MeanAbsoluteError().forward(np.zeros((0, 1)),
                                                                    np.zeros((0, 1)))),
    ("huber: delta 0", lambda: dl.Huber(delta=0)),
    ("huber: delta -1", lambda: dl.Huber(delta=-1)),
    ("sce: eps -1", lambda: dl.SoftmaxCrossEntropy(eps=-1)),
    ("mse: normalize 'yes'", lambda: dl.MeanSquaredError(normalize="yes")),
    ("loss: backward before forward", lambda: mse().backward()),
    ("loss: scalar prediction", lambda: mse().forward(np.float64(1.0), np.float64(1.0))),
]:
    refuse("loss", _name)(_call)


@refuse("loss", "double softmax: Softmax output before SoftmaxCrossEntropy")
def _double_softmax():
    dl.NeuralNetwork([dl.Dense(3, dl.Softmax())], dl.SoftmaxCrossEntropy())


@refuse("loss", "double softmax: a Softmax layer last")
def _double_softmax_layer():
    dl.NeuralNetwork([dl.Dense(3, dl.Linear()), dl.Softmax()], dl.SoftmaxCrossEntropy())


@refuse("loss", "one loss object shared by two networks")
def _shared_loss():
    loss = mse()
    first = dl.NeuralNetwork([dl.Dense(1)], loss)
    dl.NeuralNetwork([dl.Dense(1)], loss)
    return first


@work("loss", "sce (labels, one-hot, sequences) against torch (float64)")
def _sce_torch():
    torch = import_torch()
    labels = np.array([0, 2, 1, 2])
    ours = sce(labels)
    theirs = torch.nn.functional.cross_entropy(torch.from_numpy(P2), torch.from_numpy(labels))
    seq = RNG.standard_normal((2, 3, 4))
    seq_labels = RNG.integers(0, 4, (2, 3))
    seq_ours = sce(seq_labels, seq)
    seq_theirs = torch.nn.functional.cross_entropy(torch.from_numpy(seq).reshape(6, 4),
                                                   torch.from_numpy(seq_labels).reshape(6))
    return close(ours, theirs.item()) and close(sce(np.eye(3)[labels]), ours) \
        and close(seq_ours, seq_theirs.item())


@work("loss", "bce on logits against torch (float64), extreme logits finite")
def _bce_torch():
    torch = import_torch()
    p = np.array([[-800.0], [0.3], [800.0]])
    y = np.array([[0.0], [1.0], [1.0]])
    ours = dl.BinaryCrossEntropy().forward(p, y)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(p), torch.from_numpy(y), reduction="sum") / 3
    return close(ours, theirs.item())


@work("loss", "softmax along every axis sums to one (3-D and 4-D)")
def _softmax_axes():
    x = RNG.standard_normal((2, 3, 4, 5))
    return all(close(dl.Softmax(axis).forward(x).sum(axis=axis), 1.0) for axis in (1, 2, 3, -1))


@work("loss", "softmax of integer scores gives float probabilities")
def _softmax_integers():
    out = dl.Softmax().forward(np.array([[1, 2, 3], [0, 0, 0]]))
    return out.dtype.kind == "f" and close(out.sum(axis=-1), 1.0) and close(out[1], 1 / 3)


@refuse("loss", "softmax over the batch axis")
def _softmax_batch():
    dl.Softmax(axis=0)


@refuse("loss", "softmax axis beyond the input")
def _softmax_beyond():
    dl.Softmax(axis=3).forward(np.zeros((2, 3)))


@work("loss", "softmax gradient along axis 1 of a sequence (finite differences)")
def _softmax_grad():
    from dlscratch.gradcheck import check_operation

    check_operation(dl.Softmax(axis=1), RNG.standard_normal((2, 3, 4)))
    return True


# ---------------------------------------------------------------------- files
def write_bytes(name: str, data: bytes) -> str:
    path = tmp(name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def loop_path() -> str:
    a, b = tmp("loop-a"), tmp("loop-b")
    if not os.path.lexists(a):
        os.symlink(b, a)
        os.symlink(a, b)
    return a


for _name, _path in [
    ("load: missing file", lambda: tmp("missing.npz")),
    ("load: a folder", lambda: TMP),
    ("load: a symbolic-link loop", loop_path),
    ("load: an empty file", lambda: write_bytes("empty.npz", b"")),
    ("load: random bytes", lambda: write_bytes("random.npz", RNG.bytes(300))),
    ("load: a truncated model", lambda: write_bytes("cut.npz",
                                                    open(saved_model(), "rb").read()[:200])),
    ("load: a zip of something else", lambda: _zip_of_text()),
    ("load: a plain .npy", lambda: _npy_file()),
]:
    refuse("file", _name)(lambda path=_path: dl.NeuralNetwork.load(path()))


def _zip_of_text() -> str:
    path = tmp("other.zip")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return path


def _npy_file() -> str:
    path = tmp("array.npy")
    np.save(path, np.zeros(3))
    return path


@refuse("file", "load: a pickled object array inside an npz")
def _pickled():
    path = tmp("pickled.npz")
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    dl.NeuralNetwork.load(path)


@refuse("file", "load: description of another format")
def _other_format():
    net = small_net()
    meta = persistence.network_description(net)
    meta["format"] = "something.else"
    persistence.write_npz(tmp("format.npz"), net.state_dict(), meta)
    dl.NeuralNetwork.load(tmp("format.npz"))


@refuse("file", "load: a parameter of the wrong shape")
def _wrong_shape():
    net = small_net()
    state = net.state_dict()
    state["layers.0.W"] = np.zeros((3, 5), np.float32)
    persistence.write_npz(tmp("shape.npz"), state, persistence.network_description(net))
    dl.NeuralNetwork.load(tmp("shape.npz"))


@refuse("file", "load: a NaN parameter")
def _nan_param():
    net = small_net()
    state = net.state_dict()
    state["layers.1.B"][0, 0] = np.nan
    persistence.write_npz(tmp("nan.npz"), state, persistence.network_description(net))
    dl.NeuralNetwork.load(tmp("nan.npz"))


@refuse("file", "load: an unknown layer class")
def _unknown_class():
    net = small_net()
    meta = persistence.network_description(net)
    meta["layers"][0]["class"] = "os.system"
    persistence.write_npz(tmp("class.npz"), net.state_dict(), meta)
    dl.NeuralNetwork.load(tmp("class.npz"))


for _name, _path in [
    ("save: over a folder", lambda: TMP),
    ("save: path with NUL", lambda: tmp("a\0b.npz")),
    ("save: path is an int", lambda: 3),
    ("save: path is bytes", lambda: b"model.npz"),
]:
    refuse("file", _name)(lambda path=_path: small_net().save(path()))


@refuse("file", "save: over a symbolic link")
def _save_symlink():
    link = tmp("link.npz")
    if not os.path.lexists(link):
        os.symlink(saved_model(), link)
    small_net().save(link)


@refuse("file", "save: over a read-only 0444 file")
def _save_read_only():
    path = tmp("ro.npz")
    if not os.path.exists(path):
        small_net().save(path)
    os.chmod(path, 0o444)
    small_net().save(path)


@work("file", "save: a 0600 model stays 0600")
def _save_mode():
    path = tmp("private.npz")
    small_net().save(path)
    os.chmod(path, 0o600)
    small_net().save(path)
    return oct(os.stat(path).st_mode & 0o777) == "0o600"


@work("file", "save: a legal 255-byte file name")
def _save_long_name():
    path = tmp("n" * 251 + ".npz")
    small_net().save(path)
    ok = dl.NeuralNetwork.load(path).input_shape == (3,)
    os.remove(path)
    return ok


@refuse("file", "save: a 256-byte file name")
def _save_too_long():
    small_net().save(tmp("n" * 252 + ".npz"))


@refuse("file", "save: below a regular file (its 'folder' is a file)")
def _save_below_a_file():
    small_net().save(os.path.join(saved_model(), "m.npz"))


@refuse("file", "onnx.load: random bytes")
def _onnx_random():
    from dlscratch import onnx as dl_onnx

    dl_onnx.load(write_bytes("random.onnx", RNG.bytes(200)))


@refuse("file", "onnx.load: a symbolic-link loop")
def _onnx_loop():
    from dlscratch import onnx as dl_onnx

    dl_onnx.load(loop_path())


def _onnx_model_edit(edit) -> None:
    import onnx

    from dlscratch import onnx as dl_onnx

    path = tmp("exported.onnx")
    dl_onnx.export(small_net(), path)
    model = onnx.load(path)
    edit(model)
    onnx.save(model, tmp("edited.onnx"))
    dl_onnx.load(tmp("edited.onnx"))


for _name, _edit in [
    ("onnx.load: an activation node replaced", lambda m: setattr(
        next(n for n in m.graph.node if n.op_type == "Tanh"), "op_type", "Relu")),
    ("onnx.load: a node removed", lambda m: m.graph.node.remove(m.graph.node[1])),
    ("onnx.load: the metadata removed", lambda m: m.metadata_props.pop()),
    ("onnx.load: the metadata not JSON", lambda m: setattr(m.metadata_props[0], "value", "{")),
    ("onnx.load: an initializer of another shape", lambda m: m.graph.initializer[0].dims.__setitem__(0, 5)),  # noqa: E501
]:
    refuse("file", _name)(lambda edit=_edit: _onnx_model_edit(edit))


@work("file", "onnx: export then load gives the same predictions")
def _onnx_round_trip():
    from dlscratch import onnx as dl_onnx

    net = dl.NeuralNetwork([dl.Conv2D(2, 3, activation=dl.ReLU()), dl.MaxPool2D(2),
                            dl.Flatten(), dl.Dense(3, dl.Softmax())], mse()).build((1, 6, 6))
    dl_onnx.export(net, tmp("cnn.onnx"))
    X = RNG.standard_normal((3, 1, 6, 6)).astype(np.float32)
    return close(dl_onnx.load(tmp("cnn.onnx")).predict(X), net.predict(X), 1e-6)


@refuse("file", "text: a file that is not UTF-8")
def _text_latin1():
    model = text_model()
    RNNTrainer(write_bytes("latin1.txt", "caf\xe9 abc".encode("latin-1")), model, dl.SGD(0.1))


@refuse("file", "text: a folder as text file")
def _text_folder():
    RNNTrainer(TMP, text_model(), dl.SGD(0.1))


@refuse("file", "text: a symbolic-link loop as text file")
def _text_loop():
    RNNTrainer(loop_path(), text_model(), dl.SGD(0.1))


def _fit_small(**kwargs):
    X = RNG.standard_normal((8, 3))
    net = kwargs.pop("net", None) or dl.NeuralNetwork([dl.Dense(1, dl.Linear())], mse())
    return dl.Trainer(net, dl.SGD(0.01)).fit(X, X[:, :1], epochs=kwargs.pop("epochs", 2),
                                             verbose=False, **kwargs)


@refuse("file", "checkpoint= at a saved model file")
def _checkpoint_over_model():
    _fit_small(checkpoint=saved_model())


@refuse("file", "checkpoint= at a CSV file")
def _checkpoint_over_csv():
    path = tmp("data.csv")
    with open(path, "w") as handle:
        handle.write("a,b\n1,2\n")
    _fit_small(checkpoint=path)


@work("file", "checkpoint= at an earlier checkpoint is replaced")
def _checkpoint_again():
    path = tmp("ckpt.npz")
    _fit_small(checkpoint=path)
    _fit_small(checkpoint=path)
    return True


@refuse("file", "resume_from a checkpoint with NaN in its history")
def _resume_nan():
    path = tmp("ckpt-nan.npz")
    _fit_small(checkpoint=path)
    arrays, meta = persistence.read_npz(path, "dlscratch.checkpoint")
    meta["epoch"] = 1
    meta["history"]["train_loss"] = [float("nan")]
    meta["history"]["lr"] = [0.01]
    persistence.write_npz(path, arrays, meta)
    _fit_small(resume_from=path)


@refuse("file", "resume_from a saved model file")
def _resume_model():
    _fit_small(resume_from=saved_model())


@refuse("file", "resume_from a missing file")
def _resume_missing():
    _fit_small(resume_from=tmp("nothing.npz"))


# hangs and endless reads, in a subprocess
for _name, _call in [
    ("load", "dl.NeuralNetwork.load"), ("onnx.load", "dl_onnx.load"),
    ("text file", "read_text"),
]:
    isolated("file", f"{_name}: a FIFO", "refuse", f"""
        import os, tempfile
        import dlscratch as dl
        from dlscratch import onnx as dl_onnx
        from dlscratch.text import read_text
        path = os.path.join(tempfile.mkdtemp(), "pipe")
        os.mkfifo(path)
        {_call}(path)
    """, timeout=30)
    isolated("file", f"{_name}: /dev/zero", "refuse", f"""
        import dlscratch as dl
        from dlscratch import onnx as dl_onnx
        from dlscratch.text import read_text
        {_call}("/dev/zero")
    """, memory_mb=500, timeout=30)


# ---------------------------------------------------------------------- bridge
def _from_torch(*modules, input_shape=None):
    torch = import_torch()
    from dlscratch.torch import from_torch

    return from_torch(torch.nn.Sequential(*modules), mse(), input_shape=input_shape)


def _nn():
    return import_torch().nn


for _name, _modules, _shape in [
    ("avg pool kernel (2, 3)", lambda nn: [nn.AvgPool2d((2, 3))], (1, 6, 6)),
    ("max pool kernel (3, 2)", lambda nn: [nn.MaxPool2d((3, 2))], (1, 6, 6)),
    ("max pool stride (1, 2)", lambda nn: [nn.MaxPool2d(2, stride=(1, 2))], (1, 6, 6)),
    ("avg pool divisor_override", lambda nn: [nn.AvgPool2d(2, divisor_override=3)], (1, 6, 6)),
    ("avg pool padding 1", lambda nn: [nn.AvgPool2d(3, padding=1)], (1, 6, 6)),
    ("max pool dilation 2", lambda nn: [nn.MaxPool2d(2, dilation=2)], (1, 6, 6)),
    ("max pool ceil_mode", lambda nn: [nn.MaxPool2d(2, ceil_mode=True)], (1, 7, 7)),
    ("max pool return_indices", lambda nn: [nn.MaxPool2d(2, return_indices=True)], (1, 6, 6)),
    ("flatten start_dim 2", lambda nn: [nn.Conv2d(1, 2, 3), nn.Flatten(start_dim=2)],
     (1, 6, 6)),
    ("flatten end_dim 2", lambda nn: [nn.Conv2d(1, 2, 3), nn.Flatten(1, 2)], (1, 6, 6)),
    ("dropout p=1", lambda nn: [nn.Linear(3, 2), nn.Dropout(p=1.0)], None),
    ("leaky relu slope -0.2", lambda nn: [nn.Linear(3, 2), nn.LeakyReLU(-0.2)], None),
    ("conv dilation 2", lambda nn: [nn.Conv2d(1, 2, 3, dilation=2)], (1, 8, 8)),
    ("conv groups 2", lambda nn: [nn.Conv2d(2, 2, 3, groups=2)], (2, 6, 6)),
    ("conv padding_mode reflect", lambda nn: [nn.Conv2d(1, 2, 3, padding=1,
                                                        padding_mode="reflect")], (1, 6, 6)),
    ("conv kernel (3, 1)", lambda nn: [nn.Conv2d(1, 2, (3, 1))], (1, 6, 6)),
    ("conv stride (1, 2)", lambda nn: [nn.Conv2d(1, 2, 3, stride=(1, 2))], (1, 6, 6)),
    ("conv padding (1, 0)", lambda nn: [nn.Conv2d(1, 2, 3, padding=(1, 0))], (1, 6, 6)),
    ("linear without bias", lambda nn: [nn.Linear(3, 2, bias=False)], None),
    ("batch norm affine=False", lambda nn: [nn.Linear(3, 2), nn.BatchNorm1d(2, affine=False)],
     None),
    ("batch norm momentum None", lambda nn: [nn.Linear(3, 2), nn.BatchNorm1d(2, momentum=None)],
     None),
    ("batch norm without running stats",
     lambda nn: [nn.Linear(3, 2), nn.BatchNorm1d(2, track_running_stats=False)], None),
    ("batch norm momentum 1.5", lambda nn: [nn.Linear(3, 2), nn.BatchNorm1d(2, momentum=1.5)],
     None),
    ("softmax dim None", lambda nn: [nn.Linear(3, 2), nn.Softmax(dim=None)], None),
    ("softmax dim 0", lambda nn: [nn.Linear(3, 2), nn.Softmax(dim=0)], None),
    ("zero pad not before a conv", lambda nn: [nn.Conv2d(1, 1, 3), nn.ZeroPad2d(1), nn.ReLU()],
     (1, 6, 6)),
    ("zero pad at the end", lambda nn: [nn.Conv2d(1, 1, 3), nn.ZeroPad2d(1)], (1, 6, 6)),
    ("zero pad that is not 'same'", lambda nn: [nn.ZeroPad2d(2), nn.Conv2d(1, 1, 3)],
     (1, 6, 6)),
    ("adaptive pool output (2, 2)", lambda nn: [nn.AdaptiveAvgPool2d(2)], (1, 6, 6)),
    ("adaptive pool(1) without flatten", lambda nn: [nn.Conv2d(1, 2, 3),
                                                     nn.AdaptiveAvgPool2d(1)], (1, 6, 6)),
    ("embedding padding_idx", lambda nn: [nn.Embedding(5, 2, padding_idx=0)], (3,)),
    ("embedding max_norm", lambda nn: [nn.Embedding(5, 2, max_norm=1.0)], (3,)),
    ("embedding scale_grad_by_freq", lambda nn: [nn.Embedding(5, 2, scale_grad_by_freq=True)],
     (3,)),
    ("an unsupported module (Conv1d)", lambda nn: [nn.Conv1d(1, 2, 3)], (1, 6)),
    ("mixed dtypes", lambda nn: [nn.Linear(3, 2), nn.Linear(2, 1).double()], None),
]:
    refuse("bridge", f"from_torch: {_name}")(
        lambda modules=_modules, shape=_shape: _from_torch(*modules(_nn()), input_shape=shape))


@refuse("bridge", "from_torch: a bidirectional LSTM adapter")
def _bidirectional():
    torch = import_torch()
    from dlscratch.torch import Recurrent, from_torch

    adapter = Recurrent(torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True),
                        torch.nn.Linear(8, 2))
    from_torch(torch.nn.Sequential(adapter), mse(), input_shape=(5, 3))


@refuse("bridge", "from_torch: a GRU adapter that is not batch_first")
def _not_batch_first():
    torch = import_torch()
    from dlscratch.torch import Recurrent, from_torch

    from_torch(torch.nn.Sequential(Recurrent(torch.nn.GRU(3, 4), torch.nn.Linear(4, 2))),
               mse(), input_shape=(5, 3))


@refuse("bridge", "from_torch: a loss that is not dlscratch's")
def _torch_loss():
    torch = import_torch()
    from dlscratch.torch import from_torch

    from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.nn.MSELoss())


@refuse("bridge", "to_torch: a network never built")
def _to_torch_unbuilt():
    from dlscratch.torch import to_torch

    to_torch(dl.NeuralNetwork([dl.Dense(2)], mse()))


@refuse("bridge", "to_torch: a stateful LSTM")
def _to_torch_stateful():
    from dlscratch.torch import to_torch

    to_torch(dl.NeuralNetwork([LSTMLayer(3, 2, stateful=True)], mse()).build((4, 3)))


@refuse("bridge", "onnx.export: a stateful GRU")
def _onnx_stateful():
    from dlscratch import onnx as dl_onnx

    dl_onnx.export(dl.NeuralNetwork([GRULayer(3, 2, stateful=True)], mse()).build((4, 3)),
                   tmp("stateful.onnx"))


def _round_trip(layers, shape, X) -> bool:
    torch = import_torch()
    from dlscratch.torch import from_torch, to_torch

    net = dl.NeuralNetwork(layers, mse(), dtype=np.float64).build(shape)
    model = to_torch(net).eval()
    back = from_torch(model, mse())
    theirs = model(torch.from_numpy(X)).detach().numpy()
    return close(net.predict(X), theirs) and close(back.predict(X), theirs)


@work("bridge", "round trip: dense network with softmax and dropout")
def _rt_dense():
    return _round_trip([dl.Dense(5, dl.GELU(), dropout=0.8), dl.Dense(3, dl.Softmax())], 4,
                       RNG.standard_normal((6, 4)))


@work("bridge", "round trip: CNN with even 'same' kernel, batch norm, pools")
def _rt_cnn():
    return _round_trip([dl.Conv2D(3, 2, activation=dl.ReLU()), dl.BatchNorm(),
                        dl.AvgPool2D(2), dl.Conv2D(2, 3, padding=1, stride=2), dl.MaxPool2D(2),
                        dl.Flatten(), dl.Dense(2, dl.Linear())], (1, 9, 9),
                       RNG.standard_normal((3, 1, 9, 9)))


@work("bridge", "round trip: embedding, LSTM and a softmax over the classes")
def _rt_recurrent():
    torch = import_torch()
    from dlscratch.torch import from_torch, to_torch

    net = dl.NeuralNetwork([dl.Embedding(7, 3), LSTMLayer(4, 5), dl.Softmax()], mse(),
                           dtype=np.float64).build((6,))
    ids = RNG.integers(0, 7, (2, 6))
    model = to_torch(net).eval()
    theirs = model(torch.from_numpy(ids)).detach().numpy()
    return close(net.predict(ids), theirs) and close(from_torch(model, mse()).predict(ids),
                                                     theirs)


@work("bridge", "from_torch: avg pool with count_include_pad=False (no padding: same result)")
def _count_include_pad():
    torch = import_torch()
    from dlscratch.torch import from_torch

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.AvgPool2d(
        2, count_include_pad=False), torch.nn.Flatten()).double()
    X = RNG.standard_normal((2, 1, 4, 4))
    return close(from_torch(model, mse(), input_shape=(1, 4, 4)).predict(X),
                 model(torch.from_numpy(X)).detach().numpy())


@work("bridge", "from_torch: a stale padding tag loses to the module's padding")
def _stale_tag():
    torch = import_torch()
    from dlscratch.torch import from_torch, to_torch

    net = dl.NeuralNetwork([dl.Conv2D(1, 3), dl.Flatten()], mse(), dtype=np.float64)
    model = to_torch(net.build((1, 5, 5)))
    model[0].padding = (0, 0)
    X = RNG.standard_normal((2, 1, 5, 5))
    return close(from_torch(model, mse()).predict(X), model(torch.from_numpy(X)).detach().numpy())


# ---------------------------------------------------------------------- training loop
X_TRAIN = RNG.standard_normal((10, 3))
Y_TRAIN = X_TRAIN[:, :1]


def fit(**kwargs):
    net = kwargs.pop("net", None) or dl.NeuralNetwork([dl.Dense(1, dl.Linear())], mse())
    X = kwargs.pop("X", X_TRAIN)
    y = kwargs.pop("y", Y_TRAIN)
    optim = kwargs.pop("optim", None) or dl.SGD(0.01)
    options = {"epochs": 2, "verbose": False}
    options.update(kwargs)
    return dl.Trainer(net, optim).fit(X, y, **options)


for _name, _kwargs in [
    ("epochs 0", {"epochs": 0}), ("batch_size 0", {"batch_size": 0}),
    ("eval_every 0", {"eval_every": 0}), ("epochs 2.5", {"epochs": 2.5}),
    ("seed -1", {"seed": -1}), ("restart 'yes'", {"restart": "yes"}),
    ("X_test without y_test", {"X_test": X_TRAIN}),
    ("X_test of other rows", {"X_test": np.zeros((3, 4)), "y_test": np.zeros((3, 1))}),
    ("callbacks not a list", {"callbacks": dl.EarlyStopping()}),
    ("EarlyStopping without validation", {"callbacks": [dl.EarlyStopping(2)]}),
    ("NaN in X_train", {"X": np.where(np.eye(10, 3) > 0, np.nan, X_TRAIN)}),
    ("inf in y_train", {"y": np.where(np.arange(10)[:, None] == 4, np.inf, Y_TRAIN)}),
    ("y_train of 9 rows", {"y": Y_TRAIN[:9]}),
    ("y_train of strings", {"y": np.array([["a"]] * 10)}),
    ("batch norm and batch_size 1", {"net": dl.NeuralNetwork(
        [dl.Dense(2), dl.BatchNorm(), dl.Dense(1, dl.Linear())], mse()), "batch_size": 1}),
    ("a learning rate that diverges", {"optim": dl.SGD(1e6), "epochs": 50,
                                       "X": X_TRAIN * 1e3}),
]:
    refuse("train", f"fit: {_name}")(lambda kwargs=_kwargs: fit(**dict(kwargs)))


@work("train", "fit: eval_every beyond the epochs evaluates the last epoch")
def _eval_beyond():
    history = fit(X_test=X_TRAIN, y_test=Y_TRAIN, eval_every=10, epochs=3,
                  early_stopping=False)
    return history.eval_epochs == [3]


@work("train", "fit: batch norm with a last batch of one row (33 rows, batch 32)")
def _bn_33():
    X = RNG.standard_normal((33, 3))
    net = dl.NeuralNetwork([dl.Dense(4, dl.ReLU()), dl.BatchNorm(), dl.Dense(1, dl.Linear())],
                           mse())
    return len(fit(net=net, X=X, y=X[:, :1], batch_size=32).train_loss) == 2


@work("train", "fit: float64 Embedding ids train as the integer ids do")
def _fit_float_ids():
    ids = RNG.integers(0, 6, (8, 4))
    y = RNG.standard_normal((8, 4, 2))
    losses = []
    for X in (ids, ids.astype(np.float64)):
        net = dl.NeuralNetwork([dl.Embedding(6, 3), RNNLayer(3, 2)], mse(), seed=3)
        losses.append(fit(net=net, X=X, y=y).train_loss)
    return losses[0] == losses[1]


for _name, _call in [
    ("predict to_host='no'", lambda net: net.predict(np.ones((2, 3)), to_host="no")),
    ("predict batch_size 0", lambda net: net.predict(np.ones((2, 3)), batch_size=0)),
    ("predict of 4 features", lambda net: net.predict(np.ones((2, 4)))),
    ("predict of no rows", lambda net: net.predict(np.ones((0, 3)))),
    ("predict of NaN", lambda net: net.predict(np.full((2, 3), np.nan))),
    ("forward of NaN (the book's API)", lambda net: net.forward(np.full((2, 3), np.nan))),
    ("train_batch of inf (the book's API)",
     lambda net: net.train_batch(np.full((2, 3), np.inf), np.ones((2, 1)))),
    ("train_batch with a NaN target", lambda net: net.train_batch(np.ones((2, 3)),
                                                                  np.full((2, 1), np.nan))),
    ("net.to(an object that is no array module)", lambda net: net.to(types.SimpleNamespace(
        asarray=np.asarray, asnumpy=np.asarray, zeros=np.zeros, empty=np.empty))),
    ("net.to('gpu')", lambda net: net.to("gpu")),
    ("load_state_dict of a list", lambda net: net.load_state_dict([1, 2])),
    ("load_state_dict with a missing key", lambda net: net.load_state_dict(
        {k: v for k, v in net.state_dict().items() if k != "layers.0.W"})),
]:
    refuse("train", _name)(lambda call=_call: call(small_net()))


for _name, _make in [
    ("network: no layers", lambda: dl.NeuralNetwork([], mse())),
    ("network: the same layer twice", lambda: _same_layer_twice()),
    ("network: dtype float16", lambda: dl.NeuralNetwork([dl.Dense(1)], mse(), dtype="float16")),
    ("network: seed -1", lambda: dl.NeuralNetwork([dl.Dense(1)], mse(), seed=-1)),
    ("network: loss is a class, not an object", lambda: dl.NeuralNetwork([dl.Dense(1)],
                                                                        dl.MeanSquaredError)),
    ("network: layers of a deep copy reused", lambda: dl.NeuralNetwork(
        copy.deepcopy(small_net()).layers, mse())),
    ("network: layers of an unpickled network reused", lambda: dl.NeuralNetwork(
        pickle.loads(pickle.dumps(small_net())).layers, mse())),
    ("network: a trained layer reused", lambda: dl.NeuralNetwork(
        [small_net().layers[0]], mse())),
]:
    refuse("train", _name)(_make)


def _same_layer_twice():
    layer = dl.Dense(3)
    dl.NeuralNetwork([layer, layer], mse())


@work("train", "deep copy and pickle predict as the original")
def _copies_predict():
    net = small_net(np.float64)
    X = RNG.standard_normal((4, 3))
    return all(close(copy_.predict(X), net.predict(X)) for copy_ in (
        copy.deepcopy(net), pickle.loads(pickle.dumps(net))))


@work("train", "predict in batches equals predict in one batch (CNN with batch norm)")
def _predict_batches():
    net = dl.NeuralNetwork([dl.Conv2D(2, 3), dl.BatchNorm(), dl.Flatten(), dl.Dense(2)],
                           mse(), dtype=np.float64).build((1, 5, 5))
    X = RNG.standard_normal((11, 1, 5, 5))
    return close(net.predict(X, batch_size=3), net.predict(X, batch_size=11))


# ---------------------------------------------------------------------- resource
for _name, _code in [
    ("LSTMLayer(10**6) on its first forward", """
        import numpy as np
        from dlscratch.recurrent import LSTMLayer
        LSTMLayer(10**6, 2).forward(np.zeros((1, 2, 3)))
     """),
    ("Embedding(10**12) on its first forward", """
        import numpy as np
        from dlscratch.recurrent import Embedding
        Embedding(10**12, 4).forward(np.zeros((1, 2), dtype=np.int64))
     """),
    ("Dense(10**11) built", """
        import dlscratch as dl
        dl.NeuralNetwork([dl.Dense(10**11)], dl.MeanSquaredError()).build(3)
     """),
    ("LSTMLayer(20000).build under a 1.5 GB limit", """
        import dlscratch as dl
        from dlscratch.recurrent import LSTMLayer
        dl.NeuralNetwork([LSTMLayer(20000, 2)], dl.MeanSquaredError()).build((2, 3))
     """),
    ("Conv2D(padding=10**4) columns", """
        import numpy as np
        import dlscratch as dl
        dl.Conv2D(2, 3, padding=10**4).forward(np.zeros((2, 1, 5, 5)))
     """),
    ("GRU over 10**6 steps of a (1, 10**6, 1) batch, hidden 500", """
        import numpy as np
        from dlscratch.recurrent import GRULayer
        GRULayer(500, 2).forward(np.zeros((1, 10**6, 1)))
     """),
    ("RNNModel.load declaring vocab_size 10**7", """
        import os, tempfile
        import numpy as np
        import dlscratch as dl
        from dlscratch import persistence
        from dlscratch.recurrent import RNNLayer
        from dlscratch.text import RNNModel
        model = RNNModel([RNNLayer(4, 3)], sequence_length=3, vocab_size=3,
                         loss=dl.SoftmaxCrossEntropy(), vocabulary="abc")
        model.forward(model.inputs(np.zeros((1, 2), dtype=np.int64)))
        path = os.path.join(tempfile.mkdtemp(), "t.npz")
        model.save(path)
        arrays, meta = persistence.read_npz(path, "dlscratch.text_model")
        meta["vocab_size"] = 10**7
        meta["vocabulary"] = None
        persistence.write_npz(path, arrays, meta)
        RNNModel.load(path)
     """),
]:
    isolated("resource", _name, "refuse", _code, memory_mb=1500, timeout=120)

for _name, _layers, _built, _declared in [
    ("an 800-byte Conv2D file declaring 1200 x 1200 images", "[dl.Conv2D(1, 21)]",
     (1, 30, 30), [1, 1200, 1200]),
    ("a 1 MB LSTM file declaring 500,000 steps", "[LSTMLayer(256, 2)]", (5, 1), [500000, 1]),
    ("a small conv-pool-dense file declaring 2000 x 2000 images",
     "[dl.Conv2D(2, 5, padding=2), dl.MaxPool2D(4), dl.GlobalAvgPool2D(), dl.Dense(2)]",
     (1, 16, 16), [1, 2000, 2000]),
]:
    isolated("resource", f"load: {_name}", "work", f"""
        import os, tempfile
        import dlscratch as dl
        from dlscratch import persistence
        from dlscratch.recurrent import LSTMLayer
        net = dl.NeuralNetwork({_layers}, dl.MeanSquaredError()).build({_built})
        meta = persistence.network_description(net)
        meta["input_shape"] = {_declared}
        path = os.path.join(tempfile.mkdtemp(), "m.npz")
        persistence.write_npz(path, net.state_dict(), meta)
        return dl.NeuralNetwork.load(path).input_shape == tuple({_declared})
    """, memory_mb=500, timeout=120)

isolated("resource", "onnx.load: a file declaring 1400 x 1400 images", "work", """
    import json, os, tempfile
    import onnx
    import dlscratch as dl
    from dlscratch import onnx as dl_onnx
    folder = tempfile.mkdtemp()
    net = dl.NeuralNetwork([dl.Conv2D(1, 15)], dl.MeanSquaredError()).build((1, 20, 20))
    dl_onnx.export(net, os.path.join(folder, "m.onnx"))
    model = onnx.load(os.path.join(folder, "m.onnx"))
    meta = json.loads(model.metadata_props[0].value)
    meta["input_shape"] = [1, 1400, 1400]
    model.metadata_props[0].value = json.dumps(meta)
    onnx.save(model, os.path.join(folder, "big.onnx"))
    return dl_onnx.load(os.path.join(folder, "big.onnx")).input_shape == (1, 1400, 1400)
""", memory_mb=1000, timeout=120)

isolated("resource", "onnx.load: metadata declaring Dense(20000) over 3 weights", "refuse", """
    import json, os, tempfile
    import onnx
    import dlscratch as dl
    from dlscratch import onnx as dl_onnx
    folder = tempfile.mkdtemp()
    net = dl.NeuralNetwork([dl.Dense(3, dl.Linear())], dl.MeanSquaredError()).build(20000)
    dl_onnx.export(net, os.path.join(folder, "m.onnx"))
    model = onnx.load(os.path.join(folder, "m.onnx"))
    meta = json.loads(model.metadata_props[0].value)
    meta["layers"][0]["config"]["neurons"] = 20000
    model.metadata_props[0].value = json.dumps(meta)
    onnx.save(model, os.path.join(folder, "big.onnx"))
    dl_onnx.load(os.path.join(folder, "big.onnx"))
""", memory_mb=1000, timeout=120)

isolated("resource", "perplexity of 3 MB of text in 600 MB", "work", """
    import dlscratch as dl
    from dlscratch.recurrent import RNNLayer
    from dlscratch.text import RNNModel
    chars = "abcdefghijklmnopqrstuvwx"
    model = RNNModel([RNNLayer(8, 24)], sequence_length=10, vocab_size=24,
                     loss=dl.SoftmaxCrossEntropy(), vocabulary=chars)
    return model.perplexity((chars * 130000)[:3_000_000], batch_size=256) > 1
""", memory_mb=600, timeout=300)

isolated("resource", "predict 200,000 rows in batches in 400 MB", "work", """
    import numpy as np
    import dlscratch as dl
    net = dl.NeuralNetwork([dl.Dense(64, dl.ReLU()), dl.Dense(2)], dl.MeanSquaredError())
    X = np.ones((200000, 20), dtype=np.float32)
    return net.build(20).predict(X, batch_size=1000).shape == (200000, 2)
""", memory_mb=400, timeout=120)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--surface", action="append", help="only these surfaces")
    parser.add_argument("--verbose", action="store_true", help="one line per probe")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # torch's notes on its own kernels are no outcome
    probes = [p for p in PROBES if not args.surface or p.surface in args.surface]
    totals = {"fine": 0, "weak": 0, "broken": 0}
    by_surface: dict[str, dict[str, int]] = {}
    noted = []
    for probe in probes:
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            outcome, what = run_isolated(probe) if probe.code is not None \
                else run_in_process(probe)
        totals[outcome] += 1
        counts = by_surface.setdefault(probe.surface, {"fine": 0, "weak": 0, "broken": 0})
        counts[outcome] += 1
        line = f"{outcome:6} {probe.surface:9} {probe.name}: {what}"
        if args.verbose:
            print(line, flush=True)
        elif outcome != "fine":
            noted.append(line)
    for line in noted:
        print(line)
    print()
    for surface, counts in by_surface.items():
        print(f"{surface:9} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"{len(probes)} probes: fine {totals['fine']}, weak {totals['weak']}, "
          f"broken {totals['broken']}")
    return 1 if totals["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
