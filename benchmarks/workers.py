"""One measurement in a fresh process: ``python workers.py '<json job>'`` prints one JSON line.

``run.py`` starts this file once per (workload, system, round), so no two systems' thread pools
(torch's OpenMP, OpenBLAS's pthreads) ever share a process. A job is a dict with ``workload``,
``system`` (``torch``, ``dlscratch``, ``numpy``, ``gemm``), ``data`` (the .npz that ``run.py``
prepared) and ``src`` (the dlscratch source folder to import).

What a training measurement does, for every system alike:

1. imports, loads the data, converts it to float32 (outside any figure);
2. records the resident set size (RSS) and resets the kernel's peak-RSS mark;
3. trains one warm-up epoch on a separate copy of the network (allocators, BLAS buffers and
   torch's kernel caches come up), then ``repeats`` (default 3) timed runs, each from the
   shared initial weights on the shared batch order;
4. reports samples/s of the fastest timed run (``samples_per_s``; every run's figure is in
   ``samples_per_s_runs``), the peak RSS above step 2 (warm-up included), and the test metric
   of the last timed network (every run gives the same one).

The GEMM bound is best of ``repeats`` passes too, so all three systems are measured alike: the
fastest of a few runs in one process is the figure least disturbed by the machine's slow
spells (the reason ``timeit`` reports a minimum).
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import sys
import time

from lstm_workers import LSTM_WORKLOADS

THREADS = 2
REPEATS = 3            # timed runs per process; the fastest is reported
INIT_SEED = 0          # the MLP's initial weights, as in shared/bench/peers.py
BOOK_SEED = 20190501   # the book's chapter 3 seed, for the Boston networks' initial weights
ORDER_SEED = 1         # batch order: np.random.default_rng(1).permutation(n) once per epoch

MLP_SIZES = [784, 256, 128, 10]
WORKLOADS = {
    "mlp-b32": dict(kind="mlp", sizes=MLP_SIZES, batch=32, epochs=5, lr=0.05, momentum=0.9),
    "mlp-b256": dict(kind="mlp", sizes=MLP_SIZES, batch=256, epochs=5, lr=0.05, momentum=0.9),
    "boston": dict(kind="boston", sizes=[13, 13, 1], batch=32, epochs=50, lr=0.01, momentum=0.0),
    "boston-deep": dict(kind="boston", sizes=[13, 13, 13, 1], batch=32, epochs=50, lr=0.01,
                        momentum=0.0),
}
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn import WORKLOADS as CNN_WORKLOADS  # noqa: E402

WORKLOADS.update(CNN_WORKLOADS)
WORKLOADS.update(LSTM_WORKLOADS)


# ---------------------------------------------------------------------------- shared setup
def initial_weights(workload: str) -> list[tuple]:
    """(W (in, out), B (1, out)) per dense layer, float64, drawn with NumPy for every system.

    MLP: torch.nn.Linear's default U(+-1/sqrt(fan_in)); Boston: the book's standard normal.
    """
    import numpy as np

    cfg = WORKLOADS[workload]
    pairs = list(zip(cfg["sizes"][:-1], cfg["sizes"][1:]))
    if cfg["kind"] == "mlp":
        rng = np.random.default_rng(INIT_SEED)
        return [(rng.uniform(-1 / math.sqrt(i), 1 / math.sqrt(i), (i, o)),
                 rng.uniform(-1 / math.sqrt(i), 1 / math.sqrt(i), (1, o))) for i, o in pairs]
    rng = np.random.default_rng(BOOK_SEED)
    return [(rng.standard_normal((i, o)), rng.standard_normal((1, o))) for i, o in pairs]


def batch_order(n: int, epochs: int) -> list:
    """The permutations dlscratch's Trainer draws with ``fit(seed=ORDER_SEED)``, one per epoch."""
    import numpy as np

    rng = np.random.default_rng(ORDER_SEED)
    return [rng.permutation(n) for _ in range(epochs)]


def load_data(path: str, kind: str):
    """X_train, y_train, X_test, y_test as float32 (labels int64 for the MLP)."""
    import numpy as np

    with np.load(path) as data:
        arrays = [data[f"{kind}_{name}"] for name in ("X_train", "y_train", "X_test", "y_test")]
    X_train, y_train, X_test, y_test = arrays
    if kind == "mlp":
        return (X_train.astype(np.float32), y_train.astype(np.int64),
                X_test.astype(np.float32), y_test.astype(np.int64))
    return (X_train.astype(np.float32), y_train.astype(np.float32).reshape(-1, 1),
            X_test.astype(np.float32), y_test.astype(np.float64).reshape(-1, 1))


def metric(kind: str, prediction, y_test) -> tuple[str, float]:
    import numpy as np

    prediction = np.asarray(prediction, dtype=np.float64)
    if kind == "mlp":
        return "accuracy", float((prediction.argmax(axis=1) == y_test).mean())
    return "rmse", float(np.sqrt(((prediction - y_test) ** 2).mean()))


def rates(samples: int, walls: list[float]) -> dict:
    """samples/s of the fastest run, and of every run in order."""
    return dict(samples_per_s=samples / min(walls), wall_s=min(walls),
                samples_per_s_runs=[samples / wall for wall in walls])


class Memory:
    """Peak RSS above a baseline: ``start()`` takes the baseline and resets the kernel's peak."""

    def start(self) -> None:
        self.baseline_kb = _status_kb("VmRSS")
        self.reset_ok = False
        try:
            with open("/proc/self/clear_refs", "w") as handle:  # "5": reset the peak RSS mark
                handle.write("5")
            self.reset_ok = _status_kb("VmHWM") <= self.baseline_kb + 1024
        except OSError:
            pass
        if not self.reset_ok:  # no reset possible: the peak may predate the baseline
            self.baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak_mb(self) -> float:
        peak = _status_kb("VmHWM") if self.reset_ok else \
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(peak - self.baseline_kb, 0) / 1024


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as handle:
            match = re.search(rf"^{field}:\s+(\d+) kB", handle.read(), re.MULTILINE)
        if match:
            return int(match.group(1))
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: info.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for info in threadpool_info() if info.get("user_api") == "blas"]


# ---------------------------------------------------------------------------- torch
def run_torch(job: dict) -> dict:
    import numpy as np
    import torch
    import torch.nn as nn

    torch.set_num_threads(job.get("threads", THREADS))
    torch.manual_seed(0)
    cfg = WORKLOADS[job["workload"]]
    X_train, y_train, X_test, y_test = load_data(job["data"], cfg["kind"])
    init = initial_weights(job["workload"])
    n, batch, epochs = len(X_train), cfg["batch"], cfg["epochs"]
    orders = [torch.from_numpy(order) for order in batch_order(n, epochs)]
    X = torch.from_numpy(X_train)
    Y = torch.from_numpy(y_train)
    hidden = nn.ReLU if cfg["kind"] == "mlp" else nn.Sigmoid
    memory = Memory()
    memory.start()

    def model_and_optimizer():
        layers = []
        for index, (W, B) in enumerate(init):
            linear = nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T))
                linear.bias.copy_(torch.from_numpy(B[0]))
            layers += [linear] if index == len(init) - 1 else [linear, hidden()]
        model = nn.Sequential(*layers)
        if cfg["momentum"]:
            optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"],
                                        momentum=cfg["momentum"])
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
        return model, optimizer

    loss_function = nn.CrossEntropyLoss() if cfg["kind"] == "mlp" else nn.MSELoss()

    def train(model, optimizer, orders):
        for order in orders:
            for start in range(0, n, batch):
                index = order[start:start + batch]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_function(model(X[index]), Y[index])
                loss.backward()
                optimizer.step()

    train(*model_and_optimizer(), orders[:1])  # warm-up
    walls = []
    for _ in range(job.get("repeats", REPEATS)):  # each from the same initial weights
        model, optimizer = model_and_optimizer()
        start = time.perf_counter()
        train(model, optimizer, orders)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    with torch.no_grad():
        prediction = model(torch.from_numpy(X_test)).numpy()
    name, value = metric(cfg["kind"], prediction, y_test)
    return dict(**rates(n * epochs, walls), peak_mb=peak, metric_name=name,
                metric=value, threads=torch.get_num_threads(), torch=torch.__version__,
                dtype=str(model[0].weight.dtype).replace("torch.", ""),
                peak_reset=memory.reset_ok, numpy=np.__version__)


# ---------------------------------------------------------------------------- dlscratch
def run_dlscratch(job: dict) -> dict:
    import numpy as np

    sys.path.insert(0, os.path.abspath(job["src"]))
    import dlscratch as dls

    cfg = WORKLOADS[job["workload"]]
    X_train, y_train, X_test, y_test = load_data(job["data"], cfg["kind"])
    init = initial_weights(job["workload"])
    n, batch, epochs = len(X_train), cfg["batch"], cfg["epochs"]
    memory = Memory()
    memory.start()

    def network_and_trainer():
        hidden = dls.ReLU if cfg["kind"] == "mlp" else dls.Sigmoid
        activations = [hidden() for _ in init[:-1]] + [dls.Linear()]
        loss = dls.SoftmaxCrossEntropy() if cfg["kind"] == "mlp" else dls.MeanSquaredError()
        net = dls.NeuralNetwork(layers=[dls.Dense(W.shape[1], activation=activation)
                                        for (W, _), activation in zip(init, activations)],
                                loss=loss, seed=0, dtype=np.float32)
        net.forward(np.zeros((2, init[0][0].shape[0]), dtype=np.float32))  # build the layers
        for param, value in zip(net.params(), [array for pair in init for array in pair]):
            if param.shape != value.shape:
                raise RuntimeError(f"dlscratch parameter {param.shape} vs init {value.shape}")
            param[...] = value
        optimizer = dls.SGDMomentum(lr=cfg["lr"], momentum=cfg["momentum"]) \
            if cfg["momentum"] else dls.SGD(lr=cfg["lr"])
        return net, dls.Trainer(net, optimizer)

    def fit(trainer, epochs):
        trainer.fit(X_train, y_train, X_test, y_test, epochs=epochs, eval_every=epochs,
                    batch_size=batch, seed=ORDER_SEED, restart=False, early_stopping=False,
                    verbose=False)

    fit(network_and_trainer()[1], 1)  # warm-up
    walls = []
    for _ in range(job.get("repeats", REPEATS)):  # each from the same initial weights
        net, trainer = network_and_trainer()
        start = time.perf_counter()
        fit(trainer, epochs)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    name, value = metric(cfg["kind"], net.predict(X_test), y_test)
    return dict(**rates(n * epochs, walls), peak_mb=peak, metric_name=name,
                metric=value, blas=blas_info(), dtype=str(net.params()[0].dtype),
                peak_reset=memory.reset_ok, numpy=np.__version__,
                note="whole Trainer.fit timed (data checks and one evaluation included)")


# ---------------------------------------------------------------------------- the NumPy floor
def run_numpy_loop(job: dict) -> dict:
    """The same training written by hand in float32 NumPy, with no framework: the floor.

    What a NumPy framework cannot beat: one function, in-place activations and bias adds, the
    softmax cross-entropy gradient fused, no input gradient for the first layer, and the same
    update as dlscratch's (momentum: v = mu v + lr g; p -= v, four passes over the parameters).
    Same initial weights and batch order as the other systems, so the same test metric.
    """
    import numpy as np

    cfg = WORKLOADS[job["workload"]]
    X_train, y_train, X_test, y_test = load_data(job["data"], cfg["kind"])
    init = initial_weights(job["workload"])
    n, batch, epochs = len(X_train), cfg["batch"], cfg["epochs"]
    lr, momentum = cfg["lr"], cfg["momentum"]
    classify = cfg["kind"] == "mlp"
    memory = Memory()
    memory.start()

    def hidden(Z):  # in place: ReLU for the MLP, sigmoid (tanh form) for Boston
        if classify:
            return np.maximum(Z, 0, out=Z)
        np.multiply(Z, 0.5, out=Z)
        np.tanh(Z, out=Z)
        Z += 1.0
        Z *= 0.5
        return Z

    def hidden_grad(H, grad):  # dL/dZ from dL/dH and H = hidden(Z), in place
        if classify:
            grad *= H > 0
        else:
            grad *= H * (1.0 - H)

    def forward(params, X):
        activations = [X]
        for index in range(0, len(params), 2):
            Z = activations[-1] @ params[index]
            Z += params[index + 1]
            activations.append(hidden(Z) if index + 2 < len(params) else Z)
        return activations

    def train(orders):
        params = [array.astype(np.float32) for pair in init for array in pair]
        velocities = [np.zeros_like(param) for param in params]
        layers = len(params) // 2
        for order in orders:
            X_epoch, y_epoch = X_train[order], y_train[order]
            for start in range(0, n, batch):
                X, y = X_epoch[start:start + batch], y_epoch[start:start + batch]
                activations = forward(params, X)
                grad = activations[-1]
                if classify:  # softmax cross-entropy, fused: (softmax - one_hot) / batch
                    grad -= grad.max(axis=1, keepdims=True)  # softmax as exp(log_softmax),
                    grad -= np.log(np.exp(grad).sum(axis=1, keepdims=True))  # as dlscratch
                    np.exp(grad, out=grad)  # and torch compute it, so the metric agrees
                    grad[np.arange(len(y)), y] -= 1.0
                    grad *= 1.0 / len(y)
                else:  # mean squared error: 2 (prediction - y) / batch
                    grad -= y
                    grad *= 2.0 / len(y)
                grads = [None] * len(params)
                for layer in reversed(range(layers)):
                    grads[2 * layer] = activations[layer].T @ grad
                    grads[2 * layer + 1] = grad.sum(axis=0, keepdims=True)
                    if layer:
                        grad = grad @ params[2 * layer].T
                        hidden_grad(activations[layer], grad)
                for param, grad, velocity in zip(params, grads, velocities):
                    grad *= lr
                    if momentum:
                        velocity *= momentum
                        velocity += grad
                        param -= velocity
                    else:
                        param -= grad
        return params

    train(batch_order(n, epochs)[:1])  # warm-up
    orders = batch_order(n, epochs)
    walls = []
    for _ in range(job.get("repeats", REPEATS)):
        start = time.perf_counter()
        params = train(orders)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    name, value = metric(cfg["kind"], forward(params, X_test)[-1], y_test)
    return dict(**rates(n * epochs, walls), peak_mb=peak, metric_name=name, metric=value,
                blas=blas_info(), dtype="float32", peak_reset=memory.reset_ok,
                numpy=np.__version__, note="hand-written loop, timed from the first batch")


# ---------------------------------------------------------------------------- the GEMM bound
def run_gemm(job: dict) -> dict:
    """Only the matrix products of the training steps, float32, into preallocated arrays.

    Per dense layer and step: forward X @ W, weight gradient X.T @ dY, and input gradient
    dY @ W.T for every layer but the first (nobody needs dL/dX of the data): ``samples_per_s``.
    ``samples_per_s_all_dx`` adds the first layer's input gradient too, as
    shared/bench/peers.py's gemm-roofline does (3 GEMMs for every layer). Same batch schedule
    as training; best of ``repeats`` passes after a warm-up pass, as for the other systems.
    """
    import numpy as np

    cfg = WORKLOADS[job["workload"]]
    rng = np.random.default_rng(0)
    n = len(load_data(job["data"], cfg["kind"])[0])
    batch, epochs = cfg["batch"], cfg["epochs"]
    shapes = list(zip(cfg["sizes"][:-1], cfg["sizes"][1:]))
    weights = [rng.standard_normal((i, o), dtype=np.float32) for i, o in shapes]
    weight_grads = [np.empty_like(W) for W in weights]
    schedule = [min(batch, n - start) for start in range(0, n, batch)] * epochs
    buffers = {}
    for size in set(schedule):
        buffers[size] = [(rng.standard_normal((size, i), dtype=np.float32),
                          np.empty((size, o), np.float32),
                          rng.standard_normal((size, o), dtype=np.float32),
                          np.empty((size, i), np.float32)) for i, o in shapes]

    def one_pass(first_dx: bool) -> float:
        start = time.perf_counter()
        for size in schedule:
            for layer, ((X, Y, dY, dX), W, dW) in enumerate(zip(buffers[size], weights,
                                                                weight_grads)):
                np.matmul(X, W, out=Y)
                np.matmul(X.T, dY, out=dW)
                if layer or first_dx:
                    np.matmul(dY, W.T, out=dX)
        return time.perf_counter() - start

    result = {}
    for key, first_dx in (("samples_per_s", False), ("samples_per_s_all_dx", True)):
        one_pass(first_dx)
        result[key] = n * epochs / min(one_pass(first_dx)
                                       for _ in range(job.get("repeats", REPEATS)))
    flops = sum(2.0 * size * i * o * (3 if layer else 2) for size in schedule
                for layer, (i, o) in enumerate(shapes))
    result.update(gflops=flops / (n * epochs / result["samples_per_s"]) / 1e9,
                  blas=blas_info(), dtype="float32")
    return result


SYSTEMS = {"torch": run_torch, "dlscratch": run_dlscratch, "numpy": run_numpy_loop,
           "gemm": run_gemm}


def main() -> None:
    job = json.loads(sys.argv[1])
    if job["workload"] in CNN_WORKLOADS:  # the convolutional workloads live in cnn.py
        import cnn

        result = cnn.SYSTEMS[job["system"]](job, Memory())
    elif job["workload"] in LSTM_WORKLOADS:  # the character LSTM: lstm_workers.py
        from lstm_workers import LSTM_SYSTEMS
        result = LSTM_SYSTEMS[job["system"]](job)
    else:
        result = SYSTEMS[job["system"]](job)
    print(json.dumps({**job, **result}), flush=True)


if __name__ == "__main__":
    main()
