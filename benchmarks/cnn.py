"""The convolutional workloads of ``run.py``: the book's chapter 5 network and a small modern one.

Loaded by ``workers.py`` (one measurement per process, as for the MLP). Systems:

* ``torch``: idiomatic CPU PyTorch (``nn.Sequential``, batches by indexing, ``optim.SGD``);
* ``dlscratch``: the public API (``Conv2D``, ``BatchNorm``, ``MaxPool2D``, ``Dense``,
  ``Trainer.fit``), the whole ``fit`` timed; unlike the MLP workloads, without a test set (no
  evaluation inside the timed run: a test pass over 1,000 images is a quarter of an epoch's
  forward work here, and the other systems do not evaluate either);
* ``numpy``: the same training written by hand in float32 NumPy (``numpy_floor_*``), the
  floor for any NumPy framework: it is written for speed, not for reading;
* ``book`` (``cnn-book`` only): the book library's convolution (``book_conv.LincolnConv2D``,
  float64, Python loops over rows and pixels) in the same network; a few batches are timed,
  best of ``--repeats`` as for the others;
* ``book-loops`` (``cnn-book`` only): the chapter's six-loop convolution, two images timed.

All systems start from the same weights (torch's default distribution, drawn with NumPy) and
see the same batches in the same order, so torch, dlscratch and the floor end at nearly the
same test accuracy (float32 rounding differs; dropout is left out of the book's network,
because masks cannot be made equal across frameworks).
"""

from __future__ import annotations

import math
import time

import numpy as np

BOOK_SEED = 20190402   # the book's chapter 5 seed (initial weights here)
ORDER_SEED = 1         # batch order: np.random.default_rng(1).permutation(n) once per epoch
BOOK_BATCHES = 3       # batches of the book library's convolution that are timed
LOOP_IMAGES = 2        # images through the chapter's looped convolution (one step)

WORKLOADS = {
    # Conv2D(16, 5x5, same) tanh -> flatten -> Dense(10); as shared/bench/peers.py's cnn-mnist5k
    # (lr 0.1 diverges from torch's initialisation on pixels in [0, 1])
    "cnn-book": dict(kind="cnn", arch="book", batch=64, epochs=1, lr=0.01, momentum=0.9,
                     systems=("torch", "dlscratch", "numpy", "book", "book-loops")),
    # two blocks of Conv2D(5x5, same) ReLU -> BatchNorm -> MaxPool2D(2), then Dense(10)
    "cnn-modern": dict(kind="cnn", arch="modern", batch=64, epochs=1, lr=0.05, momentum=0.9,
                       systems=("torch", "dlscratch", "numpy")),
}
MODERN_CHANNELS = (16, 32)
MODERN_KERNEL = 5
BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # torch's convention: running = (1 - 0.1) running + 0.1 batch
DTYPE = np.float32  # the floor's; float64 only to check it against torch exactly
MODERN_KEYS = ("conv1_W", "conv1_b", "bn1_gamma", "bn1_beta", "conv2_W", "conv2_b",
               "bn2_gamma", "bn2_beta", "dense_W", "dense_b")  # torch's parameter order


def initial_weights(arch: str) -> dict:
    """torch-layout float64 arrays, drawn with NumPy (torch's default U(+-1/sqrt(fan_in)))."""
    import numpy as np

    rng = np.random.default_rng(BOOK_SEED)

    def uniform(fan_in, shape):
        bound = 1 / math.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape)

    if arch == "book":
        return {"conv_W": uniform(25, (16, 1, 5, 5)), "conv_b": uniform(25, (16,)),
                "dense_W": uniform(16 * 28 * 28, (10, 16 * 28 * 28)),
                "dense_b": uniform(16 * 28 * 28, (10,))}
    c1, c2 = MODERN_CHANNELS
    k = MODERN_KERNEL
    return {"conv1_W": uniform(k * k, (c1, 1, k, k)), "conv1_b": uniform(k * k, (c1,)),
            "bn1_gamma": np.ones(c1), "bn1_beta": np.zeros(c1),
            "conv2_W": uniform(k * k * c1, (c2, c1, k, k)), "conv2_b": uniform(k * k * c1, (c2,)),
            "bn2_gamma": np.ones(c2), "bn2_beta": np.zeros(c2),
            "dense_W": uniform(c2 * 49, (10, c2 * 49)), "dense_b": uniform(c2 * 49, (10,))}


def load_images(path: str, limit: int | None = None):
    """MNIST-5k from run.py's .npz: X as (n, 1, 28, 28) float32 in [0, 1], labels int64
    (the first ``limit`` training images only, when given: for a quick check)."""
    with np.load(path) as data:
        X_train, y_train = data["mlp_X_train"][:limit], data["mlp_y_train"][:limit]
        X_test, y_test = data["mlp_X_test"], data["mlp_y_test"]
    return (X_train.astype(np.float32).reshape(-1, 1, 28, 28), y_train.astype(np.int64),
            X_test.astype(np.float32).reshape(-1, 1, 28, 28), y_test.astype(np.int64))


def batch_order(n: int, epochs: int) -> list:
    import numpy as np

    rng = np.random.default_rng(ORDER_SEED)
    return [rng.permutation(n) for _ in range(epochs)]


def _result(samples: int, walls: list[float], **extra) -> dict:
    return dict(samples_per_s=samples / min(walls), wall_s=min(walls),
                samples_per_s_runs=[samples / wall for wall in walls], **extra)


def _accuracy(logits, labels) -> float:
    import numpy as np

    return float((np.asarray(logits).argmax(axis=1) == labels).mean())


# ---------------------------------------------------------------------------- torch
def run_torch(job: dict, memory) -> dict:
    import numpy as np
    import torch
    import torch.nn as nn

    torch.set_num_threads(job.get("threads", 2))
    torch.manual_seed(0)
    cfg = WORKLOADS[job["workload"]]
    X_train, y_train, X_test, y_test = load_images(job["data"], job.get("limit"))
    init = initial_weights(cfg["arch"])
    n, batch, epochs = len(X_train), cfg["batch"], cfg["epochs"]
    orders = [torch.from_numpy(order) for order in batch_order(n, epochs)]
    X, Y = torch.from_numpy(X_train), torch.from_numpy(y_train)
    memory.start()

    def model_and_optimizer():
        if cfg["arch"] == "book":
            model = nn.Sequential(nn.Conv2d(1, 16, 5, padding="same"), nn.Tanh(), nn.Flatten(),
                                  nn.Linear(16 * 28 * 28, 10))
            values = [init["conv_W"], init["conv_b"], init["dense_W"], init["dense_b"]]
        else:
            c1, c2, k = *MODERN_CHANNELS, MODERN_KERNEL
            model = nn.Sequential(
                nn.Conv2d(1, c1, k, padding="same"), nn.ReLU(), nn.BatchNorm2d(c1),
                nn.MaxPool2d(2),
                nn.Conv2d(c1, c2, k, padding="same"), nn.ReLU(), nn.BatchNorm2d(c2),
                nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 49, 10))
            values = [init[key] for key in MODERN_KEYS]
        with torch.no_grad():
            for param, value in zip(model.parameters(), values, strict=True):
                param.copy_(torch.from_numpy(value))
        return model, torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])

    loss_function = nn.CrossEntropyLoss()

    def train(model, optimizer, orders):
        model.train()
        for order in orders:
            for start in range(0, n, batch):
                index = order[start:start + batch]
                optimizer.zero_grad(set_to_none=True)
                loss_function(model(X[index]), Y[index]).backward()
                optimizer.step()

    train(*model_and_optimizer(), orders[:1])  # warm-up
    walls = []
    for _ in range(job.get("repeats", 3)):
        model, optimizer = model_and_optimizer()
        start = time.perf_counter()
        train(model, optimizer, orders)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(X_test)).numpy()
    return _result(n * epochs, walls, peak_mb=peak, metric_name="accuracy",
                   metric=_accuracy(logits, y_test), threads=torch.get_num_threads(),
                   torch=torch.__version__, dtype="float32", numpy=np.__version__)


# ---------------------------------------------------------------------------- dlscratch
def dlscratch_network(dls, arch: str):
    """The workload's network in dlscratch (float32), built, with the shared initial weights."""
    import numpy as np

    init = initial_weights(arch)
    if arch == "book":
        layers = [dls.Conv2D(out_channels=16, param_size=5, activation=dls.Tanh(), flatten=True),
                  dls.Dense(neurons=10, activation=dls.Linear())]
        values = [init["conv_W"], init["conv_b"], init["dense_W"].T, init["dense_b"]]
    else:
        c1, c2, k = *MODERN_CHANNELS, MODERN_KERNEL
        layers = [dls.Conv2D(c1, k, activation=dls.ReLU()), dls.BatchNorm(), dls.MaxPool2D(2),
                  dls.Conv2D(c2, k, activation=dls.ReLU()), dls.BatchNorm(), dls.MaxPool2D(2),
                  dls.Flatten(), dls.Dense(10, activation=dls.Linear())]
        values = [init[key] for key in MODERN_KEYS[:-2]] + [init["dense_W"].T, init["dense_b"]]
    net = dls.NeuralNetwork(layers=layers, loss=dls.SoftmaxCrossEntropy(), seed=BOOK_SEED,
                            dtype=np.float32)
    net.build((1, 28, 28))
    load_weights(net, values)
    return net


def load_weights(net, values: list) -> None:
    """Copy ``values`` into ``net.params()`` in order (same sizes; biases reshaped)."""
    params = net.params()
    if len(params) != len(values):
        raise RuntimeError(f"dlscratch has {len(params)} parameter arrays, the workload "
                           f"{len(values)}: {[p.shape for p in params]}")
    for param, value in zip(params, values):
        if param.size != value.size or (param.ndim == value.ndim and param.shape != value.shape):
            raise RuntimeError(f"dlscratch parameter {param.shape} vs initial {value.shape}")
        param[...] = value.reshape(param.shape)


def run_dlscratch(job: dict, memory) -> dict:
    import os
    import sys

    import numpy as np

    sys.path.insert(0, os.path.abspath(job["src"]))
    import dlscratch as dls

    cfg = WORKLOADS[job["workload"]]
    X_train, y_train, X_test, y_test = load_images(job["data"], job.get("limit"))
    n, batch, epochs = len(X_train), cfg["batch"], cfg["epochs"]
    memory.start()

    def network_and_trainer():
        net = dlscratch_network(dls, cfg["arch"])
        return net, dls.Trainer(net, dls.SGDMomentum(lr=cfg["lr"], momentum=cfg["momentum"]))

    def fit(trainer, epochs):  # no test set: like the others, training only is timed
        trainer.fit(X_train, y_train, epochs=epochs, batch_size=batch, seed=ORDER_SEED,
                    restart=False, early_stopping=False, verbose=False)

    fit(network_and_trainer()[1], 1)  # warm-up
    walls = []
    for _ in range(job.get("repeats", 3)):
        net, trainer = network_and_trainer()
        start = time.perf_counter()
        fit(trainer, epochs)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    return _result(n * epochs, walls, peak_mb=peak, metric_name="accuracy",
                   metric=_accuracy(net.predict(X_test), y_test), dtype=str(net.dtype),
                   numpy=np.__version__,
                   note="whole Trainer.fit timed (its data checks included, no evaluation)")


# ---------------------------------------------------------------------------- the floor
class _Im2col:
    """'Same' k x k convolution as one GEMM, W (O, C k k) @ cols (C k k, H W B), in CHWB layout.

    Arrays are (channels, height, width, batch) everywhere: the GEMM's output (O, H W B) is the
    next layer's input without a transpose, batch norm reduces over contiguous rows, and every
    slice copy below moves contiguous runs of W * B numbers (in NCHW they would be runs of W).
    The padded input and the columns live in buffers kept between batches (the border is zeroed
    once); columns are k*k slice copies, cols[c, i, j] = x_padded[c, i:i + H, j:j + W], and the
    input gradient is their adjoint, k*k slice additions into a padded buffer.
    """

    def __init__(self, channels: int, k: int, height: int, width: int) -> None:
        self.channels, self.k, self.height, self.width = channels, k, height, width
        self.pad = k // 2
        self.buffers: dict = {}

    def _buffers(self, batch: int):
        if batch not in self.buffers:
            C, k, H, W, p = self.channels, self.k, self.height, self.width, self.pad
            self.buffers[batch] = (np.zeros((C, H + 2 * p, W + 2 * p, batch), DTYPE),
                                   np.empty((C, k, k, H, W, batch), DTYPE),
                                   np.empty((C, H + 2 * p, W + 2 * p, batch), DTYPE))
        return self.buffers[batch]

    def columns(self, x):
        """x (C, H, W, B) -> cols (C k k, H W B), a buffer that the next call reuses."""
        C, k, H, W, p = self.channels, self.k, self.height, self.width, self.pad
        padded, cols, _ = self._buffers(x.shape[-1])
        padded[:, p:p + H, p:p + W] = x
        for i in range(k):
            for j in range(k):
                cols[:, i, j] = padded[:, i:i + H, j:j + W]
        return cols.reshape(C * k * k, -1)

    def add_columns(self, dcols, batch: int):
        """The adjoint of ``columns``: dcols (C k k, H W B) -> dx (C, H, W, B)."""
        C, k, H, W, p = self.channels, self.k, self.height, self.width, self.pad
        dcols = dcols.reshape(C, k, k, H, W, batch)
        dpadded = self._buffers(batch)[2]
        dpadded.fill(0)
        for i in range(k):
            for j in range(k):
                dpadded[:, i:i + H, j:j + W] += dcols[:, i, j]
        return dpadded[:, p:p + H, p:p + W]


def _softmax_cross_entropy_grad(logits, labels):
    """(softmax(logits) - one_hot) / batch for logits (classes, B), in place; softmax computed
    as exp(log_softmax), as torch and dlscratch compute it."""
    logits -= logits.max(axis=0, keepdims=True)
    logits -= np.log(np.exp(logits).sum(axis=0, keepdims=True))
    np.exp(logits, out=logits)
    logits[labels, np.arange(len(labels))] -= 1.0
    logits *= DTYPE(1.0 / len(labels))
    return logits


def _momentum(params, grads, velocities, lr, momentum):
    """v = mu v + lr g; p -= v (dlscratch's SGDMomentum; torch's SGD while lr is constant)."""
    for param, grad, velocity in zip(params, grads, velocities):
        grad *= lr
        velocity *= momentum
        velocity += grad
        param -= velocity


def _chwb(x):
    """(B, C, H, W) images -> (C, H, W, B), contiguous."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


def numpy_floor_book(init, X_train, y_train, orders, batch, lr, momentum):
    """The book's network by hand: conv 5x5 -> tanh -> flatten -> dense, float32, CHWB layout.

    Returns ``predict(X) -> logits (n, 10)`` of the trained network.
    """
    conv = _Im2col(1, 5, 28, 28)
    W1 = init["conv_W"].reshape(16, 25).astype(DTYPE)              # (O, C k k)
    b1 = init["conv_b"].reshape(16, 1).astype(DTYPE)
    W2 = init["dense_W"].astype(DTYPE)                             # (10, 16 28 28): torch's
    b2 = init["dense_b"].reshape(10, 1).astype(DTYPE)              # (c, h, w) flattening
    params = [W1, b1, W2, b2]
    velocities = [np.zeros_like(p) for p in params]
    lr, momentum = DTYPE(lr), DTYPE(momentum)

    def forward(x):  # x (B, 1, 28, 28)
        B = len(x)
        cols = conv.columns(_chwb(x))                                      # (25, 784 B)
        a = W1 @ cols                                                      # (16, 784 B)
        a += b1
        np.tanh(a, out=a)
        logits = W2 @ a.reshape(16 * 784, B)                               # (10, B)
        logits += b2
        return cols, a, logits

    for order in orders:
        X_epoch, y_epoch = X_train[order], y_train[order]
        for start in range(0, len(X_epoch), batch):
            x, y = X_epoch[start:start + batch], y_epoch[start:start + batch]
            B = len(x)
            cols, a, logits = forward(x)
            dz = _softmax_cross_entropy_grad(logits, y)                    # (10, B)
            flat = a.reshape(16 * 784, B)
            dW2 = dz @ flat.T
            db2 = dz.sum(axis=1, keepdims=True)
            da = (W2.T @ dz).reshape(16, -1)                               # (16, 784 B)
            np.multiply(a, a, out=a)
            np.subtract(1.0, a, out=a)                                     # tanh' = 1 - a^2
            da *= a
            dW1 = da @ cols.T
            db1 = da.sum(axis=1, keepdims=True)
            _momentum(params, [dW1, db1, dW2, db2], velocities, lr, momentum)
    return lambda X: np.concatenate([forward(X[i:i + 250])[2].T for i in range(0, len(X), 250)])


class _BatchNorm:
    """Training-mode batch norm of a (C, N) array over N (torch's running statistics)."""

    def __init__(self, gamma, beta):
        self.gamma = gamma.reshape(-1, 1).astype(DTYPE)
        self.beta = beta.reshape(-1, 1).astype(DTYPE)
        self.running_mean = np.zeros_like(self.gamma)
        self.running_var = np.ones_like(self.gamma)

    def forward(self, x, train=True):  # x (C, N) is normalized in place and kept as xhat
        if train:
            count = x.shape[1]
            mean = x.mean(axis=1, keepdims=True)
            x -= mean
            var = np.einsum("ij,ij->i", x, x).reshape(-1, 1) / DTYPE(count)
            self.inv_std = 1.0 / np.sqrt(var + DTYPE(BN_EPS))
            self.running_mean *= DTYPE(1 - BN_MOMENTUM)
            self.running_mean += DTYPE(BN_MOMENTUM) * mean
            self.running_var *= DTYPE(1 - BN_MOMENTUM)
            self.running_var += DTYPE(BN_MOMENTUM * count / (count - 1)) * var
            x *= self.inv_std
            self.xhat = x
        else:
            x -= self.running_mean
            x *= 1.0 / np.sqrt(self.running_var + DTYPE(BN_EPS))
        y = np.multiply(x, self.gamma)
        y += self.beta
        return y

    def backward(self, dy):  # dy (C, N) -> dx, in place; sets dgamma, dbeta
        count = dy.shape[1]
        self.dbeta = dy.sum(axis=1, keepdims=True)
        self.dgamma = np.einsum("ij,ij->i", dy, self.xhat).reshape(-1, 1)
        # dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat))
        dy -= self.dbeta / DTYPE(count)
        self.xhat *= self.dgamma / DTYPE(count)
        dy -= self.xhat
        dy *= self.gamma * self.inv_std
        return dy


_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _max_pool(x):
    """2x2 max pooling of (C, H, W, B): the larger of four strided views (runs of B numbers)."""
    pooled = np.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2])
    np.maximum(pooled, x[:, 1::2, 0::2], out=pooled)
    np.maximum(pooled, x[:, 1::2, 1::2], out=pooled)
    return pooled


def _max_pool_grad(x, pooled, grad):
    """Route grad to each window's first maximum in row-major order, as torch does.

    Ties are common, not rare: after a convolution and batch norm, the blank background of an
    MNIST digit gives equal values across a whole window.
    """
    dx = np.empty_like(x)
    free = np.ones(pooled.shape, dtype=bool)  # windows whose maximum is not yet found
    hit = np.empty_like(free)
    for a, b in _CORNERS:
        np.equal(x[:, a::2, b::2], pooled, out=hit)
        hit &= free
        free &= ~hit
        np.multiply(hit, grad, out=dx[:, a::2, b::2])
    return dx


def numpy_floor_modern(init, X_train, y_train, orders, batch, lr, momentum):
    """The modern network by hand: [conv 5x5 + bias -> ReLU -> BN -> max-pool 2] x 2 -> dense.

    Returns ``predict(X) -> logits (n, 10)`` (batch norm in inference mode).
    """
    c1, c2, k = *MODERN_CHANNELS, MODERN_KERNEL
    conv1, conv2 = _Im2col(1, k, 28, 28), _Im2col(c1, k, 14, 14)
    W1 = init["conv1_W"].reshape(c1, k * k).astype(DTYPE)
    b1 = init["conv1_b"].reshape(c1, 1).astype(DTYPE)
    W2 = init["conv2_W"].reshape(c2, c1 * k * k).astype(DTYPE)
    b2 = init["conv2_b"].reshape(c2, 1).astype(DTYPE)
    bn1 = _BatchNorm(init["bn1_gamma"], init["bn1_beta"])
    bn2 = _BatchNorm(init["bn2_gamma"], init["bn2_beta"])
    W3 = init["dense_W"].astype(DTYPE)                                  # (10, c2 7 7)
    b3 = init["dense_b"].reshape(10, 1).astype(DTYPE)
    params = [W1, b1, bn1.gamma, bn1.beta, W2, b2, bn2.gamma, bn2.beta, W3, b3]
    velocities = [np.zeros_like(p) for p in params]
    lr, momentum = DTYPE(lr), DTYPE(momentum)

    def block(conv, W, b, bn, x, train):
        """conv + bias -> ReLU -> BN -> max-pool; x (C, H, W, B) -> what backward needs."""
        cols = conv.columns(x)
        a = W @ cols
        a += b
        np.maximum(a, 0, out=a)
        positive = a > 0
        h = bn.forward(a, train).reshape(-1, conv.height, conv.width, x.shape[-1])
        return cols, positive, h, _max_pool(h)

    def block_grad(conv, W, bn, cols, positive, h, pooled, grad, input_grad):
        """dL/dpooled -> (dW, db, dL/dx or None), BN's gradients left on ``bn``."""
        dh = bn.backward(_max_pool_grad(h, pooled, grad).reshape(W.shape[0], -1))
        dh *= positive
        dW = dh @ cols.T
        db = dh.sum(axis=1, keepdims=True)
        dx = conv.add_columns(W.T @ dh, grad.shape[-1]) if input_grad else None
        return dW, db, dx

    def forward(x, train=True):
        B = len(x)
        saved1 = block(conv1, W1, b1, bn1, _chwb(x), train)                 # pooled (c1, 14, 14, B)
        saved2 = block(conv2, W2, b2, bn2, saved1[-1], train)               # pooled (c2, 7, 7, B)
        flat = saved2[-1].reshape(c2 * 49, B)
        logits = W3 @ flat
        logits += b3
        return saved1, saved2, flat, logits

    for order in orders:
        X_epoch, y_epoch = X_train[order], y_train[order]
        for start in range(0, len(X_epoch), batch):
            x, y = X_epoch[start:start + batch], y_epoch[start:start + batch]
            B = len(x)
            saved1, saved2, flat, logits = forward(x)
            dz = _softmax_cross_entropy_grad(logits, y)                    # (10, B)
            dW3 = dz @ flat.T
            db3 = dz.sum(axis=1, keepdims=True)
            dpooled2 = (W3.T @ dz).reshape(c2, 7, 7, B)
            dW2, db2, dpooled1 = block_grad(conv2, W2, bn2, *saved2, dpooled2, True)
            dW1, db1, _ = block_grad(conv1, W1, bn1, *saved1, dpooled1, False)
            grads = [dW1, db1, bn1.dgamma, bn1.dbeta, dW2, db2, bn2.dgamma, bn2.dbeta, dW3, db3]
            _momentum(params, grads, velocities, lr, momentum)
    return lambda X: np.concatenate([forward(X[i:i + 250], train=False)[-1].T
                                     for i in range(0, len(X), 250)])


def run_numpy_floor(job: dict, memory) -> dict:
    import numpy

    cfg = WORKLOADS[job["workload"]]
    X_train, y_train, X_test, y_test = load_images(job["data"], job.get("limit"))
    init = initial_weights(cfg["arch"])
    n, batch, epochs = len(X_train), cfg["batch"], cfg["epochs"]
    train = numpy_floor_book if cfg["arch"] == "book" else numpy_floor_modern
    orders = batch_order(n, epochs)
    memory.start()
    train(init, X_train, y_train, orders[:1], batch, cfg["lr"], cfg["momentum"])  # warm-up
    walls = []
    for _ in range(job.get("repeats", 3)):
        start = time.perf_counter()
        predict = train(init, X_train, y_train, orders, batch, cfg["lr"], cfg["momentum"])
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    return _result(n * epochs, walls, peak_mb=peak, metric_name="accuracy",
                   metric=_accuracy(predict(X_test), y_test), dtype="float32",
                   numpy=numpy.__version__, note="hand-written loop, timed from the first batch")


# ---------------------------------------------------------------------------- the book
def run_book(job: dict, memory) -> dict:
    """A few training steps of the book's network on the book library's convolution (float64).

    Its forward, input gradient (lincoln computes it for every layer) and parameter gradient,
    tanh, the dense layer and softmax cross-entropy, and the momentum update, per batch.
    """
    import os
    import sys

    import numpy

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from book_conv import (
        LincolnConv2D,
        loop_conv_input_grad,
        loop_conv_output,
        loop_conv_param_grad,
    )

    cfg = WORKLOADS[job["workload"]]
    X_train, y_train, _, _ = load_images(job["data"], job.get("limit"))
    init = initial_weights("book")
    order = batch_order(len(X_train), 1)[0]
    X_epoch = X_train[order].astype(numpy.float64)
    y_epoch = y_train[order]
    loops = job["system"] == "book-loops"
    batch = LOOP_IMAGES if loops else cfg["batch"]
    batches = 1 if loops else BOOK_BATCHES

    def train() -> None:
        """``batches`` training steps from the initial weights."""
        param = init["conv_W"].transpose(1, 0, 2, 3).copy()   # the book's (in, out, k, k)
        W2 = init["dense_W"].T.copy()
        velocities = [numpy.zeros_like(param), numpy.zeros_like(W2)]
        for index in range(batches):
            x = X_epoch[index * batch:(index + 1) * batch]
            y = y_epoch[index * batch:(index + 1) * batch]
            if loops:
                out = loop_conv_output(x, param)
            else:
                op = LincolnConv2D(param)
                out = op.forward(x)
            a = numpy.tanh(out).reshape(len(x), -1)
            logits = a @ W2
            dz = _book_softmax_grad(logits, y)
            dW2 = a.T @ dz
            da = (dz @ W2.T).reshape(out.shape) * (1 - numpy.tanh(out) ** 2)
            if loops:
                loop_conv_input_grad(x, da, param)
                dparam = loop_conv_param_grad(x, da, param)
            else:
                op.input_grad(da)
                dparam = op.param_grad(da)
            for p, g, v in zip((param, W2), (dparam, dW2), velocities):
                v *= cfg["momentum"]
                v += cfg["lr"] * g
                p -= v

    memory.start()
    # best of --repeats, as for every other system (the chapter's loops: once, they take
    # seconds per image)
    walls = []
    for _ in range(1 if loops else job.get("repeats", 3)):
        start = time.perf_counter()
        train()
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    extra = {} if loops else _convolutions_alone(job, X_epoch[:batch * batches], init, batch)
    return _result(batch * batches, walls, peak_mb=peak, dtype="float64",
                   numpy=numpy.__version__, steps=batches, batch=batch,
                   note=f"{batches} training step(s) of {batch} images timed", **extra)


def _convolutions_alone(job: dict, X, init: dict, batch: int) -> dict:
    """The convolution alone, the book library's against dlscratch's ``Conv2DOperation``: on
    the same batches, forward, input gradient and weight gradient (the book computes all
    three), dlscratch in float32 and in float64 (the book's dtype); best of ``--repeats``."""
    import os
    import sys

    sys.path.insert(0, os.path.abspath(job["src"]))
    from book_conv import LincolnConv2D

    from dlscratch.conv import Conv2DOperation

    rng = np.random.default_rng(0)
    batches = [X[start:start + batch] for start in range(0, len(X), batch)]
    grads = [rng.standard_normal((len(x), 16, 28, 28)) for x in batches]
    book_param = init["conv_W"].transpose(1, 0, 2, 3).copy()

    def book() -> None:
        for x, grad in zip(batches, grads):
            op = LincolnConv2D(book_param)
            op.forward(x)
            op.input_grad(grad)
            op.param_grad(grad)

    def ours(dtype):
        op = Conv2DOperation(init["conv_W"].astype(dtype), 1, 2)
        op.input_grad_needed = True
        xs = [x.astype(dtype) for x in batches]
        gs = [g.astype(dtype) for g in grads]

        def run() -> None:
            for x, grad in zip(xs, gs):
                op.forward(x)
                op.backward(grad)
        return run

    def best(run) -> float:
        run()  # warm-up
        walls = []
        for _ in range(job.get("repeats", 3)):
            start = time.perf_counter()
            run()
            walls.append(time.perf_counter() - start)
        return min(walls)

    book_s = best(book)
    return {"conv_alone_book_s": book_s, "conv_alone_float32_s": best(ours(np.float32)),
            "conv_alone_float64_s": best(ours(np.float64)), "conv_alone_batches": len(batches)}


def _book_softmax_grad(logits, labels):
    import numpy

    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = numpy.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    probabilities[numpy.arange(len(labels)), labels] -= 1.0
    return probabilities / len(labels)


SYSTEMS = {"torch": run_torch, "dlscratch": run_dlscratch, "numpy": run_numpy_floor,
           "book": run_book, "book-loops": run_book}
