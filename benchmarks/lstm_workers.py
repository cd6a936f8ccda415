"""The character LSTM workload (``lstm-char``): one measurement per process, as in workers.py.

One-hot characters (vocabulary 62) -> LSTM (hidden 256) -> linear 62, softmax cross-entropy at
every one of the 25 steps, batch 32, Adam (lr 0.005), float32, two threads: the conventions of
shared/bench/peers.py's ``lstm-char`` (its generated text, its batch draws, its step count).
Every system starts from the same initial weights, drawn once with NumPy (torch's own
``U(+-1/sqrt(hidden))`` for every parameter) and trains on the same batches, so all end with
about the same training loss (float32 over 50 Adam steps of a recurrence: they agree to a few
digits, not to the last one).

Systems: ``torch`` (nn.LSTM + nn.Linear, torch.optim.Adam), ``dlscratch`` (``LSTMLayer`` in a
``NeuralNetwork``, ``Adam``; ``train_batch`` then ``step``), ``numpy`` (the floor: one hand-written
float32 function, fused gates, every buffer preallocated, sigmoid through tanh in place, the
weight gradients of all steps in one matrix product each) and ``gemm`` (only the matrix products
of a step: the bound). A sample is one sequence of 25 characters (forward, backward and update);
``steps_per_s`` is samples/s divided by the batch.
"""

from __future__ import annotations

import math
import os
import sys
import time

THREADS = 2
SEED = 0
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LSTM_WORKLOADS = {
    "lstm-char": dict(kind="lstm", batch=32, seq=25, hidden=256, vocab=62, steps=50, lr=0.005,
                      warmup=5),
}


# ---------------------------------------------------------------------------- shared setup
def config(job: dict) -> dict:
    """The workload's settings, with the job's ``overrides`` (the smoke test's tiny sizes)."""
    return {**LSTM_WORKLOADS[job["workload"]], **job.get("overrides", {})}


def char_text(n_chars: int = 200_000, seed: int = SEED):
    """peers.py's text: a Zipf stream of 400 random 'words' over [a-zA-Z0-9], as indices."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(list(ALPHABET), rng.integers(3, 9))) for _ in range(400)]
    weights = 1.0 / np.arange(1, 401)
    out, total = [], 0
    while total < n_chars:
        for k in rng.choice(400, 1000, p=weights / weights.sum()):
            out.append(words[k])
            total += len(words[k])
    index = {c: i for i, c in enumerate(ALPHABET)}
    return np.array([index[c] for c in "".join(out)[:n_chars]], dtype=np.int64)


def batches(cfg: dict):
    """(training windows (steps, batch, seq + 1), held-out windows (256, seq + 1)), as peers.py."""
    import numpy as np

    ids = char_text()
    B, T, S = cfg["batch"], cfg["seq"], cfg["steps"]
    cut = int(0.9 * len(ids))
    rng = np.random.default_rng(SEED + 2)
    starts = rng.integers(0, cut - T - 1, (S, B))
    test_starts = rng.integers(cut, len(ids) - T - 1, 256)
    window = lambda s: np.stack([ids[k:k + T + 1] for k in s])  # noqa: E731
    return np.stack([window(s) for s in starts]), window(test_starts)


def initial_weights(cfg: dict) -> dict:
    """PyTorch's layout, transposed like Dense: W_ih (V, 4H), W_hh (H, 4H), b_ih, b_hh (1, 4H),
    W_out (H, V), b_out (1, V); gates i, f, g, o; all U(+-1/sqrt(H)) in float64."""
    import numpy as np

    H, V = cfg["hidden"], cfg["vocab"]
    rng = np.random.default_rng(SEED + 1)
    bound = 1 / math.sqrt(H)
    shapes = dict(W_ih=(V, 4 * H), W_hh=(H, 4 * H), b_ih=(1, 4 * H), b_hh=(1, 4 * H),
                  W_out=(H, V), b_out=(1, V))
    return {name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}


def rates(samples: int, walls: list[float], batch: int) -> dict:
    best = min(walls)
    return dict(samples_per_s=samples / best, steps_per_s=samples / batch / best, wall_s=best,
                samples_per_s_runs=[samples / wall for wall in walls])


def accuracy(logits, windows) -> float:
    import numpy as np

    return float((np.asarray(logits).argmax(-1) == windows[:, 1:]).mean())


# ---------------------------------------------------------------------------- torch
def run_torch(job: dict) -> dict:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from workers import Memory

    torch.set_num_threads(job.get("threads", THREADS))
    torch.manual_seed(SEED)
    cfg = config(job)
    B, H, V = cfg["batch"], cfg["hidden"], cfg["vocab"]
    train_windows, test_windows = batches(cfg)
    init = initial_weights(cfg)
    windows = [torch.from_numpy(w) for w in train_windows]
    memory = Memory()
    memory.start()

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(V, H, batch_first=True)
            self.head = nn.Linear(H, V)

        def forward(self, x):
            return self.head(self.lstm(F.one_hot(x, V).float())[0])

    def model_and_optimizer():
        model = CharLSTM()
        with torch.no_grad():
            for name, ours in (("weight_ih_l0", "W_ih"), ("weight_hh_l0", "W_hh")):
                getattr(model.lstm, name).copy_(torch.from_numpy(init[ours].T))
            model.lstm.bias_ih_l0.copy_(torch.from_numpy(init["b_ih"][0]))
            model.lstm.bias_hh_l0.copy_(torch.from_numpy(init["b_hh"][0]))
            model.head.weight.copy_(torch.from_numpy(init["W_out"].T))
            model.head.bias.copy_(torch.from_numpy(init["b_out"][0]))
        return model, torch.optim.Adam(model.parameters(), lr=cfg["lr"])

    def train(model, optimizer, windows):
        for w in windows:
            x, y = w[:, :-1], w[:, 1:]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
            loss.backward()
            optimizer.step()
        return loss

    train(*model_and_optimizer(), windows[:cfg["warmup"]])
    walls = []
    for _ in range(job.get("repeats", 3)):
        model, optimizer = model_and_optimizer()
        start = time.perf_counter()
        loss = train(model, optimizer, windows)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    with torch.no_grad():
        logits = model(torch.from_numpy(test_windows[:, :-1])).numpy()
    return dict(**rates(B * len(windows), walls, B), peak_mb=peak,
                metric_name="heldout_next_char_accuracy", metric=accuracy(logits, test_windows),
                final_train_loss=float(loss), threads=torch.get_num_threads(),
                torch=torch.__version__, numpy=np.__version__, dtype="float32",
                peak_reset=memory.reset_ok)


# ---------------------------------------------------------------------------- dlscratch
def run_dlscratch(job: dict) -> dict:
    import numpy as np
    from workers import Memory, blas_info

    sys.path.insert(0, os.path.abspath(job["src"]))
    import dlscratch as dls
    from dlscratch.recurrent import LSTMLayer

    cfg = config(job)
    B, T, H, V = cfg["batch"], cfg["seq"], cfg["hidden"], cfg["vocab"]
    train_windows, test_windows = batches(cfg)
    init = initial_weights(cfg)
    eye = np.eye(V, dtype=np.float32)
    memory = Memory()
    memory.start()

    def network_and_optimizer():
        net = dls.NeuralNetwork(layers=[LSTMLayer(hidden_size=H, output_size=V)],
                                loss=dls.SoftmaxCrossEntropy(), seed=SEED, dtype=np.float32)
        net.forward(np.zeros((1, T, V), dtype=np.float32))  # build the layer
        order = ("W_ih", "W_hh", "b_ih", "b_hh", "W_out", "b_out")
        for param, name in zip(net.params(), order, strict=True):
            if param.shape != init[name].shape:
                raise RuntimeError(f"dlscratch parameter {param.shape} vs {name} "
                                   f"{init[name].shape}")
            param[...] = init[name]
        optimizer = dls.Adam(lr=cfg["lr"])
        optimizer.net = net
        return net, optimizer

    def train(net, optimizer, windows):
        for w in windows:
            loss = net.train_batch(eye[w[:, :-1]], w[:, 1:])  # integer targets (batch, time)
            optimizer.step()
        return loss

    train(*network_and_optimizer(), train_windows[:cfg["warmup"]])
    walls = []
    for _ in range(job.get("repeats", 3)):
        net, optimizer = network_and_optimizer()
        start = time.perf_counter()
        loss = train(net, optimizer, train_windows)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    logits = net.predict(eye[test_windows[:, :-1]])
    return dict(**rates(B * len(train_windows), walls, B), peak_mb=peak,
                metric_name="heldout_next_char_accuracy", metric=accuracy(logits, test_windows),
                final_train_loss=float(loss), blas=blas_info(), numpy=np.__version__,
                dtype=str(net.params()[0].dtype), peak_reset=memory.reset_ok,
                note="NeuralNetwork.train_batch + Adam.step per batch, one-hot built per batch")


# ---------------------------------------------------------------------------- the NumPy floor
class NumpyLSTM:
    """One float32 LSTM training step by hand: the floor for a NumPy framework.

    Time-major buffers, allocated once. Forward: the input projection of all steps in one
    product; per step one (B, H) @ (H, 4H) product and the bias added, then all four
    gates at once from exp: the pre-activations of i, f, o are scaled by -1 and those of the
    candidate g by -2 (in the projection and in a scaled copy of W_hh made once per step), so
    exp, add 1, reciprocal give sigma(x) on i, f, o and sigma(2x) on g, and tanh(x) =
    2 sigma(2x) - 1; tanh(c) likewise. (numpy's float32 ``exp`` is vectorised on AVX2, its
    ``tanh`` is not: this is about twice as fast.) The output projection and the softmax
    cross-entropy gradient over all steps at once. Backward: every factor that does not depend
    on the incoming gradient (the gate derivatives times their partner: g, c_{t-1}, i,
    tanh(c), and o (1 - tanh(c)^2)) for all steps in a few large operations, so each step is
    seven small operations and one product; the weight gradients of all steps in one product
    each.
    Adam as torch.optim.Adam. Gates in PyTorch's order i, f, g, o.
    """

    def __init__(self, init: dict, cfg: dict) -> None:
        import numpy as np

        B, T, H, V = cfg["batch"], cfg["seq"], cfg["hidden"], cfg["vocab"]
        self.B, self.T, self.H, self.V = B, T, H, V
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
        # both biases are kept (Adam moves each by about lr, so their sum by twice that)
        self.params = [f32(init["W_ih"]), f32(init["W_hh"]), f32(init["b_ih"]),
                       f32(init["b_hh"]), f32(init["W_out"]), f32(init["b_out"])]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.grads[3] = self.grads[2]  # d/db_hh = d/db_ih
        self.b = np.empty_like(self.params[2])
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        self.scratch2 = [np.empty_like(p) for p in self.params]
        self.t = 0
        self.lr = cfg["lr"]
        self.eye = np.eye(V, dtype=np.float32)
        sig = np.ones(4 * H, np.float32)
        sig[2 * H:3 * H] = 0.0                                  # 1 on i, f, o; 0 on g
        # pre-activations scaled by -1 (i, f, o) and -2 (g): then 1 / (1 + exp(a)) is
        # sigma(x) on i, f, o and sigma(2x) on g, and tanh(x) = 2 sigma(2x) - 1
        self.scale = np.where(sig > 0, -1.0, -2.0).astype(np.float32)
        self.alpha = 1.0 - sig                                  # derivative: alpha + G (beta - G)
        self.beta = sig                                         # s (1 - s) or 1 - g^2
        e = np.empty
        self.X = e((T, B, V), np.float32)
        self.G = e((T, B, 4 * H), np.float32)                   # gate values i, f, g, o
        self.D = e((T, B, 4 * H), np.float32)
        self.dA = e((T, B, 4 * H), np.float32)
        self.Hs = np.zeros((T + 1, B, H), np.float32)
        self.Cs = np.zeros((T + 1, B, H), np.float32)
        self.tanhC = e((T, B, H), np.float32)
        self.P = e((T, B, H), np.float32)
        self.W_hh_s = e((H, 4 * H), np.float32)
        self.W_ih_s = e((V, 4 * H), np.float32)
        self.hW = e((B, 4 * H), np.float32)
        self.logits = e((T * B, V), np.float32)
        self.lse = e((T * B, 1), np.float32)
        self.dH = e((T * B, H), np.float32)
        self.dh_next = e((B, H), np.float32)
        self.dc = e((B, H), np.float32)
        self.dc_term = e((B, H), np.float32)
        self.ig = e((B, H), np.float32)
        self.rows = np.arange(T * B)

    def forward(self, ids):
        """Logits (T * B, V) of ids (B, T); keeps what the backward pass needs."""
        import numpy as np

        T, B, H = self.T, self.B, self.H
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = self.params
        np.take(self.eye, ids.T, axis=0, out=self.X)           # one-hot, time-major
        # scaled copies of the (small) weights and bias: no extra pass over the (T B, 4H) gates
        np.multiply(W_ih, self.scale, out=self.W_ih_s)
        np.multiply(W_hh, self.scale, out=self.W_hh_s)
        np.add(b_ih, b_hh, out=self.b)
        self.b *= self.scale
        G = self.G.reshape(T * B, 4 * H)
        np.matmul(self.X.reshape(T * B, self.V), self.W_ih_s, out=G)  # all input projections
        hW, ig, b = self.hW, self.ig, self.b
        with np.errstate(over="ignore"):  # exp(large) = inf gives 1 / inf = 0, as it should
            for t in range(T):
                a = self.G[t]
                np.matmul(self.Hs[t], self.W_hh_s, out=hW)
                a += hW
                a += b
                np.exp(a, out=a)                  # numpy's float32 exp is vectorised, its
                a += 1.0                          # tanh is not (on AVX2): 2x faster this way
                np.reciprocal(a, out=a)
                g = a[:, 2 * H:3 * H]
                g *= 2.0
                g -= 1.0
                c = self.Cs[t + 1]
                np.multiply(a[:, H:2 * H], self.Cs[t], out=c)
                np.multiply(a[:, :H], g, out=ig)
                c += ig
                tc = self.tanhC[t]                # tanh(c) = 2 / (1 + exp(-2c)) - 1
                np.multiply(c, -2.0, out=tc)
                np.exp(tc, out=tc)
                tc += 1.0
                np.divide(2.0, tc, out=tc)
                tc -= 1.0
                np.multiply(a[:, 3 * H:], tc, out=self.Hs[t + 1])
        np.matmul(self.Hs[1:].reshape(T * B, H), W_out, out=self.logits)
        self.logits += b_out
        return self.logits

    def loss_and_backward(self, ids_next) -> float:
        """Mean cross-entropy over batch and time; fills ``grads``."""
        import numpy as np

        T, B, H = self.T, self.B, self.H
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = self.params
        dW_ih, dW_hh, db, _, dW_out, db_out = self.grads
        target = ids_next.T.reshape(-1)
        z = self.logits                       # becomes dL/dlogits in place
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=self.lse)
        z /= self.lse
        loss = -float(np.log(z[self.rows, target]).mean())
        z[self.rows, target] -= 1.0
        z *= 1.0 / (T * B)
        np.matmul(self.Hs[1:].reshape(T * B, H).T, z, out=dW_out)
        np.sum(z, axis=0, keepdims=True, out=db_out)
        np.matmul(z, W_out.T, out=self.dH)
        dH = self.dH.reshape(T, B, H)
        G, D, P, dA = self.G, self.D, self.P, self.dA
        # D: gate derivative times its partner in dL/da, for all steps at once
        np.subtract(self.beta, G, out=D)
        D *= G
        D += self.alpha
        D[..., :H] *= G[..., 2 * H:3 * H]
        D[..., H:2 * H] *= self.Cs[:T]
        D[..., 2 * H:3 * H] *= G[..., :H]
        D[..., 3 * H:] *= self.tanhC
        np.multiply(self.tanhC, self.tanhC, out=P)  # P = o (1 - tanh(c)^2)
        np.subtract(1.0, P, out=P)
        P *= G[..., 3 * H:]
        D3 = D[..., :3 * H].reshape(T, B, 3, H)
        dA3 = dA[..., :3 * H].reshape(T, B, 3, H)
        dc, dc_term, dh_next = self.dc, self.dc_term, self.dh_next
        dc[...] = 0.0
        W_hh_T = W_hh.T
        for t in range(T - 1, -1, -1):
            dh = dH[t]
            if t < T - 1:
                dh += dh_next
            np.multiply(dh, P[t], out=dc_term)
            dc += dc_term
            np.multiply(D3[t], dc[:, None, :], out=dA3[t])
            np.multiply(D[t, :, 3 * H:], dh, out=dA[t, :, 3 * H:])
            if t:
                dc *= G[t, :, H:2 * H]
                np.matmul(dA[t], W_hh_T, out=dh_next)
        dG = dA.reshape(T * B, 4 * H)
        np.matmul(self.Hs[:-1].reshape(T * B, H).T, dG, out=dW_hh)
        np.matmul(self.X.reshape(T * B, self.V).T, dG, out=dW_ih)
        np.sum(dG, axis=0, keepdims=True, out=db)
        return loss

    def adam(self, beta1=0.9, beta2=0.999, eps=1e-8) -> None:
        """torch.optim.Adam: p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
        import numpy as np

        self.t += 1
        step = self.lr / (1 - beta1 ** self.t)
        root = math.sqrt(1 - beta2 ** self.t)
        for p, g, m, v, s, s2 in zip(self.params, self.grads, self.m, self.v, self.scratch,
                                     self.scratch2):
            m *= beta1
            np.multiply(g, 1 - beta1, out=s)
            m += s
            v *= beta2
            np.multiply(g, g, out=s)
            s *= 1 - beta2
            v += s
            np.sqrt(v, out=s)
            s *= 1.0 / root
            s += eps
            np.divide(m, s, out=s2)
            s2 *= step
            p -= s2

    def train_step(self, window) -> float:
        self.forward(window[:, :-1])
        loss = self.loss_and_backward(window[:, 1:])
        self.adam()
        return loss

    def predict(self, ids):
        """Logits (batch, time, V) for any batch, without the training buffers."""
        import numpy as np

        W_ih, W_hh, b_ih, b_hh, W_out, b_out = self.params
        b = b_ih + b_hh
        H = self.H
        n, T = ids.shape
        h = np.zeros((n, H), np.float32)
        c = np.zeros((n, H), np.float32)
        out = np.empty((n, T, self.V), np.float32)
        sigmoid = lambda a: 0.5 * np.tanh(0.5 * a) + 0.5  # noqa: E731
        for t in range(T):
            a = self.eye[ids[:, t]] @ W_ih + b + h @ W_hh
            i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
            c = f * c + i * np.tanh(a[:, 2 * H:3 * H])
            h = o * np.tanh(c)
            out[:, t] = h @ W_out + b_out
        return out


def run_numpy(job: dict) -> dict:
    import numpy as np
    from workers import Memory, blas_info

    cfg = config(job)
    B = cfg["batch"]
    train_windows, test_windows = batches(cfg)
    init = initial_weights(cfg)
    memory = Memory()
    memory.start()

    def train(model, windows):
        for w in windows:
            loss = model.train_step(w)
        return loss

    train(NumpyLSTM(init, cfg), train_windows[:cfg["warmup"]])
    walls = []
    for _ in range(job.get("repeats", 3)):
        model = NumpyLSTM(init, cfg)
        start = time.perf_counter()
        loss = train(model, train_windows)
        walls.append(time.perf_counter() - start)
    peak = memory.peak_mb()
    return dict(**rates(B * len(train_windows), walls, B), peak_mb=peak,
                metric_name="heldout_next_char_accuracy",
                metric=accuracy(model.predict(test_windows[:, :-1]), test_windows),
                final_train_loss=loss, blas=blas_info(), numpy=np.__version__, dtype="float32",
                peak_reset=memory.reset_ok, note="hand-written float32 LSTM step (the floor)")


# ---------------------------------------------------------------------------- the GEMM bound
def run_gemm(job: dict) -> dict:
    """Only the matrix products of a training step, float32, into preallocated arrays:
    the input projection, 25 recurrent products forward and 24 backward, the output projection
    and its two gradients, and the weight gradients of W_ih and W_hh."""
    import numpy as np
    from workers import blas_info

    cfg = config(job)
    B, T, H, V, S = cfg["batch"], cfg["seq"], cfg["hidden"], cfg["vocab"], cfg["steps"]
    rng = np.random.default_rng(0)
    r = lambda *shape: rng.standard_normal(shape, dtype=np.float32)  # noqa: E731
    W_ih, W_hh, W_out = r(V, 4 * H), r(H, 4 * H), r(H, V)
    X, G, Hs, dG, dH = r(T * B, V), r(T * B, 4 * H), r(T * B, H), r(T * B, 4 * H), r(T * B, H)
    logits, dlogits = r(T * B, V), r(T * B, V)
    dW_ih, dW_hh, dW_out, rec = np.empty_like(W_ih), np.empty_like(W_hh), np.empty_like(W_out), \
        r(B, H)
    G3, dG3, H3 = G.reshape(T, B, 4 * H), dG.reshape(T, B, 4 * H), Hs.reshape(T, B, H)

    def one_pass() -> float:
        start = time.perf_counter()
        for _ in range(S):
            np.matmul(X, W_ih, out=G)
            for t in range(T):
                np.matmul(H3[t], W_hh, out=G3[t])
            np.matmul(Hs, W_out, out=logits)
            np.matmul(Hs.T, dlogits, out=dW_out)
            np.matmul(dlogits, W_out.T, out=dH)
            for t in range(T - 1, 0, -1):
                np.matmul(dG3[t], W_hh.T, out=rec)
            np.matmul(Hs.T, dG, out=dW_hh)
            np.matmul(X.T, dG, out=dW_ih)
        return time.perf_counter() - start

    one_pass()
    best = min(one_pass() for _ in range(job.get("repeats", 3)))
    # input projection and dW_ih; recurrent products forward (T) and backward (T - 1) and
    # dW_hh; output projection, dW_out and dH
    flops = S * 2.0 * (2 * T * B * V * 4 * H + (3 * T - 1) * B * H * 4 * H + 3 * T * B * H * V)
    return dict(samples_per_s=S * B / best, steps_per_s=S / best, samples_per_s_all_dx=S * B / best,
                gflops=flops / best / 1e9, blas=blas_info(), dtype="float32")


LSTM_SYSTEMS = {"torch": run_torch, "dlscratch": run_dlscratch, "numpy": run_numpy,
                "gemm": run_gemm}
