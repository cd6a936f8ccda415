"""Recurrent layers of chapter 6 (RNNLayer, LSTMLayer, GRULayer) and the Embedding of token ids.

Each recurrent layer reads ``(batch, time, features)`` and runs a cell over the time steps, then
projects every hidden state to ``output_size`` (the book's ``W_v``/``B_v``), so it returns
``(batch, time, output_size)`` (or ``(batch, output_size)``, the last step only, with
``return_sequences=False``). Backward is full backpropagation through time.

The parameters are PyTorch's, transposed like ``Dense`` (``x @ W``)::

    params() = [W_ih (features, g*H), W_hh (H, g*H), b_ih (1, g*H), b_hh (1, g*H),
                W_out (H, output_size), b_out (1, output_size)]

with g = 1 (RNN, tanh), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n) in PyTorch's order, so
``nn.RNN``/``nn.LSTM``/``nn.GRU`` plus ``nn.Linear`` given ``W.T`` compute exactly what these do.

How the time goes: the input projection of every step is one matrix product before the loop,
each step is one product ``h @ W_hh`` for all gates together plus a few element-wise passes on
preallocated buffers, and backward gathers the parameter gradients of all steps in a few large
products after its loop. Inside the loops the products are ``np.dot(a, b, out=)`` on 2-D blocks
(the same BLAS call as ``np.matmul`` on NumPy; on CuPy before version 14 ``matmul(out=)`` goes
through a slower Python path, ``dot`` does not), and no element-wise call reads a view that
overlaps its output (CuPy would copy it first). The gates are computed as 1 / (1 + exp(-a))
(the LSTM's tanh gate as 2 sigma(2a) - 1), so all the gates of a step go through one ``exp``
call: NumPy's ``exp`` is much faster than its ``tanh``.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import arange, array_module, empty, is_host, move_arrays
from .layers import Layer
from .validation import check_positive, check_same_shape


def _check_flag(name: str, value: object, owner: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


class RecurrentParameters:
    """A recurrent layer's parameters: drawn on the first forward, named, their shapes told
    without allocating, and the configuration that rebuilds them."""

    def _setup_layer(self, input_: np.ndarray) -> None:
        """Draw W_ih, W_hh, b_ih, b_hh, W_out, b_out in that order from the layer's generator.

        ``weight_scale=None``: PyTorch's defaults, every array from U(-1/sqrt(H), 1/sqrt(H))
        (that of nn.RNN/LSTM/GRU, and of nn.Linear(H, output_size)); a number: the book's
        N(0, weight_scale^2) for every array.
        """
        n_in, hidden, width = input_.shape[2], self.hidden_size, self.gates * self.hidden_size
        shapes = [(n_in, width), (hidden, width), (1, width), (1, width),
                  (hidden, self.output_size), (1, self.output_size)]
        if self.weight_scale is None:
            bound = 1.0 / math.sqrt(hidden)
            arrays = [self.rng.uniform(-bound, bound, shape) for shape in shapes]
        else:
            arrays = [self.rng.normal(0.0, self.weight_scale, shape) for shape in shapes]
        self.params = [array.astype(self.dtype) for array in arrays]
        self.param_grads = []
        self.operations = []

    def parameter_names(self) -> list[str]:
        return ["W_ih", "W_hh", "b_ih", "b_hh", "W_out", "b_out"]

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """The six arrays of PyTorch's layout (transposed) and the output row, from the shapes."""
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__}.forward: input rows must have shape (time, "
                             f"features), got {tuple(input_shape)}")
        steps, features = input_shape
        hidden, width, out = self.hidden_size, self.gates * self.hidden_size, self.output_size
        shapes = {"W_ih": (features, width), "W_hh": (hidden, width), "b_ih": (1, width),
                  "b_hh": (1, width), "W_out": (hidden, out), "b_out": (1, out)}
        return shapes, ((steps, out) if self.return_sequences else (out,))

    def get_config(self) -> dict:
        return {"hidden_size": self.hidden_size, "output_size": self.output_size,
                "weight_scale": self.weight_scale, "return_sequences": self.return_sequences,
                "stateful": self.stateful}

    @property
    def summary_shape(self) -> str:
        """The output shape as NeuralNetwork.summary shows it."""
        if self.return_sequences:
            return f"(batch, time, {self.output_size})"
        return f"(batch, {self.output_size})"


class RecurrentState:
    """The state a recurrent layer keeps between batches: the carried hidden state and the work
    arrays reused from batch to batch."""

    def reset_state(self) -> None:
        """Forget the carried hidden state: the next forward starts from zeros."""
        self._state = None

    def reset(self) -> None:
        super().reset()
        self._state = None
        self._buffers = {}

    def _release(self) -> None:
        super()._release()
        self._buffers = {}  # an inference batch of 1,024 sequences holds a lot of memory

    def _clear_gradients(self) -> None:
        """The book's hook (RNNModel calls it before backward): zero the parameter gradients."""
        self.param_grads = [np.zeros_like(param) for param in self.params]

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A work array kept between batches (reallocated only when the shape changes)."""
        array = self._buffers.get(name)
        if array is None or array.shape != shape:
            from ._shapes import check_work_array

            check_work_array(f"{type(self).__name__}.forward", name, shape, self.dtype,
                             "use shorter sequences, a smaller batch or fewer hidden units")
            array = self._buffers[name] = empty(shape, self.dtype, like=self.params[0])
        return array


class RecurrentLayer(RecurrentParameters, RecurrentState, Layer):
    """What RNNLayer, LSTMLayer and GRULayer share: parameters, buffers, projection, state.

    ``hidden_size`` H and ``output_size`` are the book's; ``weight_scale=None`` draws every
    parameter from PyTorch's U(-1/sqrt(H), 1/sqrt(H)), a number from the book's
    N(0, weight_scale^2). ``return_sequences=False`` returns the projection of the last step
    only, (batch, output_size). Every forward starts from zero hidden (and cell) state; with
    ``stateful=True`` it starts where the previous forward (training or inference) ended, the
    gradient stopping at the batch boundary, until ``reset_state()``.

    A subclass sets ``gates`` and ``state_size`` (hidden state arrays: 1, or 2 for the LSTM's
    cell) and implements ``_recur`` (the forward loop) and ``_recur_backward`` (its BPTT loop).
    """

    gates = 1
    state_size = 1
    #: the time axis may change from batch to batch (checked by NeuralNetwork.check_features)
    variable_length = True

    def __init__(self, hidden_size: int, output_size: int, weight_scale: float | None = None,
                 *, return_sequences: bool = True, stateful: bool = False) -> None:
        owner = type(self).__name__
        check_positive("hidden_size", hidden_size, integer=True, owner=owner)
        check_positive("output_size", output_size, integer=True, owner=owner)
        super().__init__(output_size)
        if weight_scale is not None:
            check_positive("weight_scale", weight_scale, owner=owner)
        self.hidden_size = int(hidden_size)
        self.output_size = int(output_size)
        self.weight_scale = None if weight_scale is None else float(weight_scale)
        self.return_sequences = _check_flag("return_sequences", return_sequences, owner)
        self.stateful = _check_flag("stateful", stateful, owner)
        self._state: list[np.ndarray] | None = None
        self._buffers: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ forward
    def forward(self, input_: np.ndarray, inference: bool = False) -> np.ndarray:
        """(batch, time, features) -> (batch, time, output_size), or (batch, output_size)."""
        name = type(self).__name__
        shape = getattr(input_, "shape", None)
        if shape is None or len(shape) != 3:
            raise ValueError(f"{name}.forward: input must have 3 dimensions (batch, time, "
                             f"features), got shape {shape}; one-hot encode the sequences or "
                             f"put an Embedding first")
        batch, steps, n_in = shape
        if batch == 0 or steps == 0:
            raise ValueError(f"{name}.forward: input of shape {shape} is empty; expected at least "
                             f"one sequence of at least one step")
        if self.first:
            self._first_input_checks(input_)
            if self.rng is None:
                self.rng = np.random.default_rng(self.seed)
            if self.dtype is None:
                self.dtype = input_.dtype if input_.dtype.kind == "f" else np.dtype(np.float64)
            self.input_shape = (steps, n_in)
            self._setup_checked(input_)
            if not is_host(input_):
                # parameters are drawn on the host (same seed, same weights), then moved
                move_arrays(self, array_module(input_))
            self.first = False
        elif n_in != self.input_shape[1]:
            raise ValueError(f"{name}.forward: input has {n_in} features per step (shape "
                             f"{shape}), but the layer was built for {self.input_shape[1]}")
        if input_.dtype != self.dtype:
            input_ = input_.astype(self.dtype)
        self.input_ = input_
        hidden, width = self.hidden_size, self.gates * self.hidden_size
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = self.params

        # time-major copies: every step then reads and writes contiguous (batch, ...) blocks
        X = self._buffer("X", (steps, batch, n_in))
        np.copyto(X, input_.transpose(1, 0, 2))
        states = [self._buffer(f"S{k}", (steps + 1, batch, hidden))
                  for k in range(self.state_size)]
        self._initial_state(states, batch)
        # the input part of every gate, all steps at once
        Gx = self._buffer("Gx", (steps, batch, width))
        # (the gate scales of the cell are applied to the small W_ih, not to every step's gates)
        scale = self._gate_scale(b_ih[0])
        if scale is not None:
            W_ih = np.multiply(W_ih, scale, out=self._buffer("W_ih_scaled", W_ih.shape))
        np.matmul(X.reshape(steps * batch, n_in), W_ih, out=Gx.reshape(steps * batch, width))
        self._recur(Gx, states, W_hh, b_ih, b_hh, scale)
        H = states[0]
        if self.stateful:
            self._state = [state[steps].copy() for state in states]

        if self.return_sequences:
            projected = self._buffer("Y", (steps, batch, self.output_size))
            np.matmul(H[1:].reshape(steps * batch, hidden), W_out,
                      out=projected.reshape(steps * batch, self.output_size))
            self.output = np.add(projected.transpose(1, 0, 2), b_out)
        else:
            self.output = np.matmul(H[steps], W_out)
            self.output += b_out
        return self.output

    def _initial_state(self, states: list[np.ndarray], batch: int) -> None:
        if self._state is None:
            for state in states:
                state[0].fill(0)
            return
        if self._state[0].shape[0] != batch:
            raise ValueError(f"{type(self).__name__}.forward: a batch of {batch} sequences, but "
                             f"the carried state (stateful=True) is for "
                             f"{self._state[0].shape[0]}; call reset_state() first")
        for state, carried in zip(states, self._state):
            np.copyto(state[0], carried)

    def _gate_scale(self, like: np.ndarray) -> np.ndarray | None:
        """Per gate column, the factor the cell wants its pre-activations multiplied by (or
        None): Gx holds (x W_ih) * scale when ``_recur`` gets it."""
        return None

    def _recur(self, Gx: np.ndarray, states: list[np.ndarray], W_hh: np.ndarray,
               b_ih: np.ndarray, b_hh: np.ndarray, scale: np.ndarray | None) -> None:
        """Run the cell over the steps: fill ``states[k][1:]`` from ``states[k][0]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _recur")

    # ------------------------------------------------------------------ backward
    def backward(self, output_grad: np.ndarray) -> np.ndarray | None:
        """Backpropagation through time; stores the six parameter gradients, returns dL/dX."""
        check_same_shape(self, "output_grad", output_grad, "output", self.output)
        if not self._buffers:
            raise RuntimeError(f"{type(self).__name__}.backward: the forward pass was released "
                               f"(predict keeps nothing); run forward again first")
        X, H = self._buffers["X"], self._buffers["S0"]
        steps, batch, n_in = X.shape
        hidden, width = self.hidden_size, self.gates * self.hidden_size
        rows = steps * batch
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = self.params

        # the projection to output_size, and what it sends back to each hidden state
        dH = self._buffer("dH", (steps, batch, hidden))
        if self.return_sequences:
            dY = self._buffer("dY", (steps, batch, self.output_size))
            np.copyto(dY, output_grad.transpose(1, 0, 2))
            dY_rows = dY.reshape(rows, self.output_size)
            dW_out = np.matmul(H[1:].reshape(rows, hidden).T, dY_rows)
            db_out = dY_rows.sum(axis=0, keepdims=True)
            np.matmul(dY_rows, W_out.T, out=dH.reshape(rows, hidden))
        else:
            dW_out = np.matmul(H[steps].T, output_grad)
            db_out = output_grad.sum(axis=0, keepdims=True)
            dH[:steps - 1].fill(0)
            np.matmul(output_grad, W_out.T, out=dH[steps - 1])

        # dGx: gradient of each step's input part (x W_ih + b_ih); dGh: of (h W_hh + b_hh)
        dGx, dGh = self._recur_backward(dH, W_hh)
        dGx_rows = dGx.reshape(rows, width)
        dGh_rows = dGh.reshape(rows, width)
        dW_ih = np.matmul(X.reshape(rows, n_in).T, dGx_rows)
        dW_hh = np.matmul(H[:steps].reshape(rows, hidden).T, dGh_rows)
        db_ih = dGx_rows.sum(axis=0, keepdims=True)
        db_hh = db_ih.copy() if dGh is dGx else dGh_rows.sum(axis=0, keepdims=True)
        self.param_grads = [dW_ih, dW_hh, db_ih, db_hh, dW_out, db_out]
        if not self.input_grad_needed:
            self.input_grad = None
            return None
        dX = self._buffer("dX", (steps, batch, n_in))
        np.matmul(dGx_rows, W_ih.T, out=dX.reshape(rows, n_in))
        self.input_grad = dX.transpose(1, 0, 2).copy()
        return self.input_grad

    def _recur_backward(self, dH: np.ndarray, W_hh: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """BPTT through the cell given dL/dh_t from above; returns (dGx, dGh)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _recur_backward")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class RNNLayer(RecurrentLayer):
    """h_t = tanh(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh);  y_t = h_t W_out + b_out.

    Backward: da_t = (dL/dh_t + da_{t+1} W_hh^T) * (1 - h_t^2).
    """

    gates = 1

    def _recur(self, Gx, states, W_hh, b_ih, b_hh, scale):
        H = states[0]
        Gx += b_ih + b_hh
        for t in range(len(Gx)):
            h = H[t + 1]
            np.dot(H[t], W_hh, out=h)
            h += Gx[t]
            np.tanh(h, out=h)

    def _recur_backward(self, dH, W_hh):
        H = self._buffers["S0"]
        steps = len(dH)
        derivative = self._buffer("D", dH.shape)  # 1 - h^2, every step at once
        np.multiply(H[1:], H[1:], out=derivative)
        np.subtract(1, derivative, out=derivative)
        dA = self._buffer("dA", dH.shape)
        dh_next = self._buffer("dh_next", dH.shape[1:])
        W_hh_T = W_hh.T
        for t in range(steps - 1, -1, -1):
            dh = dH[t]
            if t < steps - 1:
                dh += dh_next
            np.multiply(dh, derivative[t], out=dA[t])
            if t:
                np.dot(dA[t], W_hh_T, out=dh_next)
        return dA, dA


class LSTMLayer(RecurrentLayer):
    """i, f, g, o = sigma, sigma, tanh, sigma of (x_t W_ih + b_ih + h_{t-1} W_hh + b_hh);
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t);  y_t = h_t W_out + b_out.

    Gates in PyTorch's order (i, f, g, o) along the columns of W_ih, W_hh, b_ih and b_hh.
    """

    gates = 4
    state_size = 2

    def _gate_vectors(self, like: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scale, alpha, beta) per gate column, all (4H,).

        Every gate is computed as 1 / (1 + exp(scale * a)): sigma(a) with scale -1 on i, f, o,
        and sigma(2a), turned into tanh(a) = 2 sigma(2a) - 1, with scale -2 on g (NumPy's exp
        is much faster than its tanh). The derivative of a gate value G is
        alpha + G (beta - G): (0, 1) on the sigmoid columns (s(1 - s)), (1, 0) on g (1 - g^2).
        """
        hidden = self.hidden_size
        scale = np.full_like(like, -1.0)
        scale[2 * hidden:3 * hidden] = -2.0
        alpha = np.zeros_like(like)
        alpha[2 * hidden:3 * hidden] = 1.0
        beta = 1.0 - alpha
        return scale, alpha, beta

    def _gate_scale(self, like: np.ndarray) -> np.ndarray:
        return self._gate_vectors(like)[0]

    def _recur(self, Gx, states, W_hh, b_ih, b_hh, scale):
        H, C = states
        hidden = self.hidden_size
        # the gate scales, already in Gx, go into the biases and W_hh once, not into each step
        Gx += (b_ih + b_hh) * scale
        W_hh_scaled = self._buffer("W_hh_scaled", W_hh.shape)
        np.multiply(W_hh, scale, out=W_hh_scaled)
        tanh_c = self._buffer("tanh_c", H[1:].shape)
        ig = self._buffer("ig", H.shape[1:])
        hW = self._buffer("hW", Gx.shape[1:])
        with np.errstate(over="ignore", under="ignore"):  # exp(large) = inf: the limit 0
            for t in range(len(Gx)):
                a = Gx[t]  # becomes the gate values i, f, g, o in place
                np.dot(H[t], W_hh_scaled, out=hW)
                a += hW
                np.exp(a, out=a)
                a += 1.0
                np.reciprocal(a, out=a)
                g = a[:, 2 * hidden:3 * hidden]
                g *= 2.0
                g -= 1.0
                c = C[t + 1]
                np.multiply(a[:, hidden:2 * hidden], C[t], out=c)
                np.multiply(a[:, :hidden], g, out=ig)
                c += ig
                np.tanh(c, out=tanh_c[t])
                np.multiply(a[:, 3 * hidden:], tanh_c[t], out=H[t + 1])

    def _recur_backward(self, dH, W_hh):
        """With the gate values G (i, f, g, o) and D their derivatives, for t = T-1 .. 0:

        dh = dL/dh_t + dh_next;  dc = dc_next + dh o (1 - tanh(c)^2);
        da = (dc g D_i, dc c_{t-1} D_f, dc i D_g, dh tanh(c) D_o);  dc_next = dc f;
        dh_next = da W_hh^T. Every factor that does not depend on dh or dc is computed for all
        steps at once before the loop.
        """
        G = self._buffers["Gx"]  # gate values (steps, batch, 4H)
        C = self._buffers["S1"]
        tanh_c = self._buffers["tanh_c"]
        steps, batch, width = G.shape
        hidden = self.hidden_size
        _, alpha, beta = self._gate_vectors(G[0, 0])
        # D = alpha + G (beta - G), then each column times what multiplies it in da
        D = self._buffer("D", G.shape)
        np.subtract(beta, G, out=D)
        D *= G
        D += alpha
        D[..., :hidden] *= G[..., 2 * hidden:3 * hidden]
        D[..., hidden:2 * hidden] *= C[:steps]
        D[..., 2 * hidden:3 * hidden] *= G[..., :hidden]
        D[..., 3 * hidden:] *= tanh_c
        # P = o (1 - tanh(c)^2): what dh sends into dc
        P = self._buffer("P", tanh_c.shape)
        np.multiply(tanh_c, tanh_c, out=P)
        np.subtract(1, P, out=P)
        P *= G[..., 3 * hidden:]
        D3 = D[..., :3 * hidden].reshape(steps, batch, 3, hidden)
        dA = self._buffer("dA", G.shape)
        dA3 = dA[..., :3 * hidden].reshape(steps, batch, 3, hidden)
        dc = self._buffer("dc", (batch, hidden))
        dc.fill(0)
        dc_term = self._buffer("dc_term", (batch, hidden))
        dh_next = self._buffer("dh_next", (batch, hidden))
        W_hh_T = W_hh.T
        for t in range(steps - 1, -1, -1):
            dh = dH[t]
            if t < steps - 1:
                dh += dh_next
            np.multiply(dh, P[t], out=dc_term)
            dc += dc_term
            np.multiply(D3[t], dc[:, None, :], out=dA3[t])
            np.multiply(D[t, :, 3 * hidden:], dh, out=dA[t, :, 3 * hidden:])
            if t:
                dc *= G[t, :, hidden:2 * hidden]
                np.dot(dA[t], W_hh_T, out=dh_next)
        return dA, dA


class GRULayer(RecurrentLayer):
    """r, z = sigma(x_t W_i{r,z} + b_i{r,z} + h_{t-1} W_h{r,z} + b_h{r,z});
    n = tanh(x_t W_in + b_in + r (h_{t-1} W_hn + b_hn));  h_t = (1 - z) n + z h_{t-1};
    y_t = h_t W_out + b_out (PyTorch's GRU, gates r, z, n in that order).
    """

    gates = 3

    def _gate_scale(self, like: np.ndarray) -> np.ndarray:
        """-1 on r and z (sigma(a) = 1 / (1 + exp(-a))), 1 on n."""
        scale = np.ones_like(like)
        scale[:2 * self.hidden_size] = -1.0
        return scale

    def _recur(self, Gx, states, W_hh, b_ih, b_hh, scale):
        H = states[0]
        steps, batch, width = Gx.shape
        hidden = self.hidden_size
        two = 2 * hidden
        # r and z: input part (negated already) plus both biases, negated; n: input part plus
        # b_in only (b_hn sits inside r * (...))
        bias = b_ih.copy()
        bias[:, :two] += b_hh[:, :two]
        bias *= scale
        Gx += bias
        W_hh_scaled = self._buffer("W_hh_scaled", W_hh.shape)
        np.multiply(W_hh, scale, out=W_hh_scaled)
        Gh = self._buffer("Gh", Gx.shape)  # h W_hh (+ b_hn on n): kept for backward
        RZ = self._buffer("RZ", (steps, batch, two))
        N = self._buffer("N", (steps, batch, hidden))
        b_hn = b_hh[:, two:]
        with np.errstate(over="ignore", under="ignore"):  # exp(large) = inf: the limit 0
            for t in range(steps):
                gh = Gh[t]
                np.dot(H[t], W_hh_scaled, out=gh)
                gh[:, two:] += b_hn
                rz = RZ[t]
                np.add(Gx[t, :, :two], gh[:, :two], out=rz)
                np.exp(rz, out=rz)
                rz += 1.0
                np.reciprocal(rz, out=rz)
                n = N[t]
                np.multiply(rz[:, :hidden], gh[:, two:], out=n)
                n += Gx[t, :, two:]
                np.tanh(n, out=n)
                h = H[t + 1]
                np.subtract(H[t], n, out=h)
                h *= rz[:, hidden:]
                h += n

    def _recur_backward(self, dH, W_hh):
        """For t = T-1 .. 0, with hn = h_{t-1} W_hn + b_hn:

        dh = dL/dh_t + dh_next;  da_n = dh (1 - z)(1 - n^2);  da_z = dh (h_{t-1} - n) z (1 - z);
        da_r = da_n hn r (1 - r);  d(hn) = da_n r;  dh_next = (da_r, da_z, d(hn)) W_hh^T + dh z.
        """
        H = self._buffers["S0"]
        RZ, N, Gh = self._buffers["RZ"], self._buffers["N"], self._buffers["Gh"]
        steps, batch, two = RZ.shape
        hidden = self.hidden_size
        width = 3 * hidden
        R, Z = RZ[..., :hidden], RZ[..., hidden:]
        # step-independent factors: Pn = (1 - z)(1 - n^2), Pz = (h - n) z (1 - z),
        # Pr = hn r (1 - r)
        Pn = self._buffer("Pn", N.shape)
        np.multiply(N, N, out=Pn)
        np.subtract(1, Pn, out=Pn)
        one_minus_z = self._buffer("one_minus_z", N.shape)
        np.subtract(1, Z, out=one_minus_z)
        Pn *= one_minus_z
        Pz = self._buffer("Pz", N.shape)
        np.subtract(H[:steps], N, out=Pz)
        Pz *= Z
        Pz *= one_minus_z
        Pr = self._buffer("Pr", N.shape)
        np.subtract(1, R, out=Pr)
        Pr *= R
        Pr *= Gh[..., two:]
        Pr *= Pn  # da_r = dh Pn Pr: from dh, not from da_n (an overlapping view of dGx)
        dGx = self._buffer("dGx", (steps, batch, width))
        dGh = self._buffer("dGh", (steps, batch, width))
        dh_next = self._buffer("dh_next", (batch, hidden))
        carry = self._buffer("carry", (batch, hidden))
        W_hh_T = W_hh.T
        for t in range(steps - 1, -1, -1):
            dh = dH[t]
            if t < steps - 1:
                dh += dh_next
            dx, dg = dGx[t], dGh[t]
            dan = dx[:, two:]
            np.multiply(dh, Pn[t], out=dan)
            np.multiply(dh, Pz[t], out=dx[:, hidden:two])
            np.multiply(dh, Pr[t], out=dx[:, :hidden])
            np.multiply(dan, R[t], out=dg[:, two:])
            dg[:, :two] = dx[:, :two]
            if t:
                np.dot(dg, W_hh_T, out=dh_next)
                np.multiply(dh, Z[t], out=carry)
                dh_next += carry
        return dGx, dGh


class Embedding(Layer):
    """out[b, t] = W[ids[b, t]];  dL/dW[k] = sum of dL/dout[b, t] over the positions holding k.

    ids: integers (batch, time) in [0, vocab_size) (whole-number floats are accepted too);
    W: (vocab_size, embedding_dim), drawn from N(0, 1) as torch.nn.Embedding does; out:
    (batch, time, embedding_dim). The ids have no gradient: backward returns zeros for them.
    """

    #: NeuralNetwork and Trainer keep integer inputs as they are for a network that starts here
    integer_input = True
    variable_length = True

    def __init__(self, vocab_size: int, embedding_dim: int) -> None:
        check_positive("vocab_size", vocab_size, integer=True, owner="Embedding")
        check_positive("embedding_dim", embedding_dim, integer=True, owner="Embedding")
        super().__init__(embedding_dim)
        self.vocab_size = int(vocab_size)
        self.embedding_dim = int(embedding_dim)

    #: set while the ids were checked before they came here (``Trainer.fit`` checks a whole
    #: data set once, ``NeuralNetwork.forward`` checks a host batch before its upload)
    ids_checked = False

    def check_ids(self, ids: np.ndarray, name: str = "ids",
                  owner: str = "Embedding.forward") -> None:
        """Raise ValueError unless every id is in [0, vocab_size): one read of one flag from a
        device (an id out of range would index silently there: CuPy wraps it), none on the
        host's arrays."""
        if not ids.size:
            return
        low, high = ids.min(), ids.max()
        if is_host(ids):
            out_of_range = low < 0 or high >= self.vocab_size
        else:  # one transfer: the flag; the values are read only to write the message
            out_of_range = bool(np.logical_or(low < 0, high >= self.vocab_size))
        if out_of_range:
            bad = float(low) if low < 0 else float(high)
            raise ValueError(f"{owner}: {name} holds {bad:g}, out of range; expected "
                             f"ids in [0, {self.vocab_size - 1}] for vocab_size="
                             f"{self.vocab_size}")

    def _setup_layer(self, input_: np.ndarray) -> None:
        W = self.rng.standard_normal((self.vocab_size, self.embedding_dim))
        self.params = [W.astype(self.dtype)]
        self.operations = []

    def forward(self, input_: np.ndarray, inference: bool = False) -> np.ndarray:
        """(batch, time) ids -> (batch, time, embedding_dim) vectors."""
        shape = getattr(input_, "shape", None)
        dtype = getattr(input_, "dtype", None)
        if shape is None or len(shape) != 2:
            raise ValueError(f"Embedding.forward: ids must have 2 dimensions (batch, time), got "
                             f"shape {shape}")
        if dtype is None or dtype.kind not in "iuf":
            raise TypeError(f"Embedding.forward: ids must be integers (token ids), got dtype "
                            f"{dtype}" + ("; booleans are no ids: convert them with "
                                          "ids.astype(int) if 0 and 1 are meant"
                                          if dtype is not None and dtype.kind == "b" else ""))
        if self.first:
            if self.rng is None:
                self.rng = np.random.default_rng(self.seed)
            if self.dtype is None:
                self.dtype = np.dtype(np.float64)
            self.input_shape = (shape[1],)
            self._setup_checked(input_)
            if not is_host(input_):
                move_arrays(self, array_module(input_))  # drawn on the host, then moved
            self.first = False
        ids = input_
        if not self.ids_checked:
            self.check_ids(ids)
        if dtype.kind == "f":
            whole = ids == np.floor(ids)
            if not whole.all():
                index = tuple(int(i) for i in np.argwhere(~whole)[0])
                raise ValueError(f"Embedding.forward: ids holds {ids[index]} at index {index}; "
                                 f"expected whole numbers (token ids)")
            ids = ids.astype(np.int64)
        self.input_ = input_
        self._ids = ids
        self.output = np.take(self.params[0], ids, axis=0)
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray | None:
        """dL/dW by scatter-adding each position's gradient into its id's row."""
        check_same_shape(self, "output_grad", output_grad, "output", self.output)
        self.param_grads = [rows_summed_by_id(self._ids.reshape(-1),
                                              output_grad.reshape(-1, self.embedding_dim),
                                              self.vocab_size)]
        self.input_grad = np.zeros_like(self.input_, dtype=self.dtype) \
            if self.input_grad_needed else None
        return self.input_grad

    def _release(self) -> None:
        super()._release()
        self._ids = None

    def parameter_names(self) -> list[str]:
        return ["W"]

    def expected_shapes(self, input_shape: tuple[int, ...]
                        ) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """W (vocab_size, embedding_dim); ids (time,) give rows (time, embedding_dim)."""
        if len(input_shape) != 1:
            raise ValueError(f"Embedding.forward: ids must have 2 dimensions (batch, time), got "
                             f"rows of shape {tuple(input_shape)}")
        return ({"W": (self.vocab_size, self.embedding_dim)},
                (input_shape[0], self.embedding_dim))

    def get_config(self) -> dict:
        return {"vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim}

    @property
    def summary_shape(self) -> str:
        return f"(batch, time, {self.embedding_dim})"


def rows_summed_by_id(ids: np.ndarray, rows: np.ndarray, n_ids: int) -> np.ndarray:
    """out[k] = the sum of ``rows[i]`` over the positions i with ``ids[i] == k`` (0 for an id
    that does not occur), added in the order of i: the same bits on every run and device.

    A deterministic scatter-add: a stable sort of the ids, the rows gathered in that order and
    one segmented sum (``np.add.reduceat``) from the first position of each id
    (``np.searchsorted``). ``np.add.at`` would do it in one call, but on CuPy it is an atomic
    scatter whose order of addition, and so the last bits of the sum, change from run to run.
    Nothing is read back: the segments' starts have a fixed size, one per id.
    """
    n, width = rows.shape
    order = np.argsort(ids, kind="stable")
    starts = np.searchsorted(np.take(ids, order), arange(n_ids, like=ids))
    gathered = empty((n + 1, width), rows.dtype, like=rows)
    np.take(rows, order, axis=0, out=gathered[:n])
    gathered[n:] = 0  # reduceat needs a row to start at for the ids past the last one
    sums = np.add.reduceat(gathered, starts, axis=0)
    # an id that does not occur starts where the next one does: reduceat gave it that row
    counts = np.diff(starts, append=n)
    return np.where((counts > 0)[:, None], sums, 0)


__all__ = ["RecurrentLayer", "RNNLayer", "LSTMLayer", "GRULayer", "Embedding"]
