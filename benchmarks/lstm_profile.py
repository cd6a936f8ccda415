"""Where an lstm-char training step spends its time: dlscratch beside the hand-written floor.

    python benchmarks/lstm_profile.py [--steps 60] [--threads 1] [--src PATH]

dlscratch, the floor and PyTorch (nn.LSTM + nn.Linear) train on the same batches from the
same weights, interleaved step by step (so a busy spell on this shared machine hits all alike),
and every section of a step is timed in
CPU time of this process (``time.process_time``), which other processes on the machine do
not inflate the way they inflate wall time. With one BLAS thread (the default) CPU time is
the work done; with two, OpenBLAS's waiting threads count too. Prints the mean of each
section (the fastest and slowest 10% of steps left out) and the ratios of the totals.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--src", default=os.path.join(os.path.dirname(HERE), "src"))
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: time.process_time (default); wall: time.perf_counter, and "
                             "the fastest step counts as well as the trimmed mean")
    args = parser.parse_args(argv)
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)  # before numpy loads OpenBLAS
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.abspath(args.src))
    import time

    import lstm_workers as lw
    import numpy as np

    import dlscratch as dls
    from dlscratch.recurrent import LSTMLayer

    cfg = lw.LSTM_WORKLOADS["lstm-char"]
    windows, _ = lw.batches(cfg)
    init = lw.initial_weights(cfg)
    T, H, V = cfg["seq"], cfg["hidden"], cfg["vocab"]
    eye = np.eye(V, dtype=np.float32)
    net = dls.NeuralNetwork([LSTMLayer(H, V)], dls.SoftmaxCrossEntropy(), seed=0)
    net.forward(np.zeros((1, T, V), np.float32))
    for param, name in zip(net.params(), ("W_ih", "W_hh", "b_ih", "b_hh", "W_out", "b_out")):
        param[...] = init[name]
    optim = dls.Adam(lr=cfg["lr"])
    optim.net = net
    floor = lw.NumpyLSTM(init, cfg)
    # with more than one thread, torch's OpenMP workers keep spinning after each of its steps
    # and slow down whatever runs next in this process: then torch is left out (run.py
    # measures it in a process of its own)
    with_torch = not args.no_torch and args.threads == 1
    torch_step = torch_trainer(init, cfg, args.threads) if with_torch else None
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    times: dict[str, list[float]] = {}

    def timed(name, function, *arguments):
        start = clock()
        out = function(*arguments)
        times.setdefault(name, []).append(clock() - start)
        return out

    for step in range(args.steps):
        w = windows[step % len(windows)]
        x = timed("dlscratch: one-hot inputs", eye.__getitem__, w[:, :-1])
        out = timed("dlscratch: forward (LSTMLayer)", net.forward, x)
        timed("dlscratch: loss", net.loss.forward, out, w[:, 1:])
        grad = timed("dlscratch: loss gradient", net.loss.backward)
        timed("dlscratch: backward (LSTMLayer)", net.backward, grad)
        timed("dlscratch: Adam step", optim.step)
        timed("floor: forward (one-hot included)", floor.forward, w[:, :-1])
        timed("floor: loss, gradient and backward", floor.loss_and_backward, w[:, 1:])
        timed("floor: Adam step", floor.adam)
        if torch_step is not None:
            timed("torch: whole step", torch_step, w)

    def mean(values):
        values = sorted(values)
        cut = len(values) // 10
        return float(np.mean(values[cut:len(values) - cut] or values))

    totals = {"dlscratch": 0.0, "floor": 0.0, "torch": 0.0}
    fastest = {"dlscratch": 0.0, "floor": 0.0, "torch": 0.0}
    what = "CPU time" if args.clock == "cpu" else "wall time (trimmed mean, fastest)"
    print(f"lstm-char step (batch {cfg['batch']}, sequence {T}, hidden {H}, vocabulary {V}), "
          f"{args.steps} steps, {args.threads} BLAS thread(s), {what} per step:")
    for name, values in times.items():
        extra = f"  {min(values) * 1e3:7.2f} ms" if args.clock == "wall" else ""
        print(f"  {name:38} {mean(values) * 1e3:7.2f} ms{extra}")
        totals[name.split(":")[0]] += mean(values)
        fastest[name.split(":")[0]] += min(values)
    print(f"  {'dlscratch total':38} {totals['dlscratch'] * 1e3:7.2f} ms")
    print(f"  {'floor total':38} {totals['floor'] * 1e3:7.2f} ms")
    print(f"dlscratch reaches {totals['floor'] / totals['dlscratch']:.0%} of the floor")
    if torch_step is not None:
        print(f"dlscratch / torch (steps per second of {args.clock} time): "
              f"{totals['torch'] / totals['dlscratch']:.2f}x")
    if args.clock == "wall":
        versus_torch = (f", {fastest['torch'] / fastest['dlscratch']:.2f}x torch "
                        f"({fastest['torch'] * 1e3:.2f} ms)") if torch_step is not None else ""
        print(f"fastest sections summed: dlscratch {fastest['dlscratch'] * 1e3:.2f} ms, floor "
              f"{fastest['floor'] * 1e3:.2f} ms: dlscratch reaches "
              f"{fastest['floor'] / fastest['dlscratch']:.0%} of the floor{versus_torch}")
    return 0


def torch_trainer(init: dict, cfg: dict, threads: int):
    """One torch training step (nn.LSTM + nn.Linear, Adam) from the same weights."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    H, V = cfg["hidden"], cfg["vocab"]
    lstm, head = nn.LSTM(V, H, batch_first=True), nn.Linear(H, V)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(init["W_ih"].T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(init["W_hh"].T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(init["b_ih"][0]))
        lstm.bias_hh_l0.copy_(torch.from_numpy(init["b_hh"][0]))
        head.weight.copy_(torch.from_numpy(init["W_out"].T))
        head.bias.copy_(torch.from_numpy(init["b_out"][0]))
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=cfg["lr"])

    def step(window):
        w = torch.from_numpy(window)
        optimizer.zero_grad(set_to_none=True)
        logits = head(lstm(F.one_hot(w[:, :-1], V).float())[0])
        loss = F.cross_entropy(logits.reshape(-1, V), w[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()

    return step


if __name__ == "__main__":
    sys.exit(main())
