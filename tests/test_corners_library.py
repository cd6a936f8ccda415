"""Issue 19, library side: the corners where a wrong answer came without an error.

Each class of defect is tested as a variant of the reported example (other shapes, sizes,
spellings); memory and hang cases run in a subprocess with an address-space limit and a
timeout.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dlscratch import (
    SGD,
    BatchNorm,
    Conv2D,
    Dense,
    EarlyStopping,
    Flatten,
    Linear,
    MaxPool2D,
    MeanSquaredError,
    NeuralNetwork,
    ReLU,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    persistence,
)
from dlscratch._archive import ModelFileError
from dlscratch.gradcheck import check_operation
from dlscratch.recurrent import Embedding, GRULayer, LSTMLayer, RNNLayer
from dlscratch.text import RNNModel

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def run_limited(code: str, memory_mb: int = 600, timeout: float = 60
                ) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python with an address-space limit and a timeout."""
    prelude = textwrap.dedent(f"""
        import resource
        limit = {memory_mb} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    """)
    env = dict(os.environ, PYTHONPATH=SRC, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------- 1. softmax axis
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (3, 2, 5, 2), (1, 7, 1)])
def test_softmax_normalises_the_last_axis_by_default_for_every_rank(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    out = Softmax().forward(x)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-12)
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(out, shifted / shifted.sum(axis=-1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("axis, shape", [(-1, (3, 4, 5)), (1, (3, 4, 5)), (-2, (2, 3, 4)),
                                         (2, (2, 3, 2, 4)), (1, (4, 6)), (-1, (2, 1, 3))])
def test_softmax_gradient_along_any_axis_matches_finite_differences(axis, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    check_operation(Softmax(axis=axis), x, rtol=1e-6)
    np.testing.assert_allclose(Softmax(axis=axis).forward(x).sum(axis=axis), 1.0, rtol=1e-12)


@pytest.mark.parametrize("axis, shape", [(-1, (3, 4, 5)), (1, (3, 4, 5)), (2, (2, 3, 4, 2)),
                                         (-3, (2, 3, 4, 2))])
def test_softmax_forward_and_backward_match_torch(torch, axis, shape):
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    op = Softmax(axis=axis)
    out = op.forward(x)
    grad = op.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.softmax(tx, dim=axis)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(out, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_])
def test_softmax_of_integer_scores_gives_float_probabilities(dtype):
    out = Softmax().forward(np.array([[1, 0, 1], [0, 0, 0]], dtype=dtype))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out[1], 1 / 3)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0)


@pytest.mark.parametrize("axis", [0, 3, -4, 1.0, True, "last"])
def test_softmax_refuses_the_batch_axis_and_axes_a_row_lacks(axis):
    x = np.zeros((2, 3, 4))
    with pytest.raises((ValueError, TypeError), match="axis"):
        Softmax(axis=axis).forward(x)


def test_softmax_agrees_with_the_loss_on_sequences():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 5, 4))
    labels = rng.integers(0, 4, (2, 5))
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, labels)
    picked = np.take_along_axis(Softmax().forward(logits), labels[..., None], axis=-1)
    np.testing.assert_allclose(-np.log(picked).mean(), loss.forward(logits, labels), rtol=1e-12)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_softmax_axis_survives_save_onnx_and_torch(tmp_path, torch, axis):
    import onnxruntime

    from dlscratch import onnx as dl_onnx
    from dlscratch.torch import from_torch, to_torch

    net = NeuralNetwork([LSTMLayer(4, 3), Softmax(axis=axis)], MeanSquaredError(), seed=2,
                        dtype=np.float64).build((5, 2))
    X = np.random.default_rng(4).standard_normal((3, 5, 2))
    expected = net.predict(X)
    net.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(NeuralNetwork.load(tmp_path / "m.npz").predict(X), expected)
    model = to_torch(net)
    assert model[-1].dim == axis
    np.testing.assert_allclose(model.eval()(torch.from_numpy(X)).detach().numpy(), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(from_torch(model, MeanSquaredError()).predict(X), expected,
                               rtol=1e-12)
    dl_onnx.export(net, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"),
                                           providers=["CPUExecutionProvider"])
    out = session.run(["output"], {"input": X.astype(np.float32)})[0]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_a_file_saved_before_the_axis_argument_loads_as_the_last_axis(tmp_path):
    net = NeuralNetwork([Dense(3, Softmax())], MeanSquaredError()).build(2)
    meta = persistence.network_description(net)
    assert meta["layers"][0]["activation"] == {"class": "Softmax", "config": {}}
    persistence.write_npz(tmp_path / "old.npz", net.state_dict(), meta)
    assert NeuralNetwork.load(tmp_path / "old.npz").layers[0].activation.axis == -1


@pytest.mark.parametrize("dim", [None, 0])
def test_from_torch_refuses_an_implicit_or_batch_softmax_dim(torch, dim):
    from dlscratch.torch import from_torch

    with pytest.raises(NotImplementedError, match=rf"dim={dim}"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Softmax(dim=dim)),
                   MeanSquaredError())


# ---------------------------------------------------------------------- 2. from_torch
def _pooling_cases(torch):
    nn = torch.nn
    return [
        (nn.AvgPool2d((2, 3)), "kernel_size"), (nn.MaxPool2d((3, 2)), "kernel_size"),
        (nn.MaxPool2d(2, stride=(1, 2)), "stride"), (nn.AvgPool2d(2, stride=(2, 1)), "stride"),
        (nn.AvgPool2d(2, divisor_override=3), "divisor_override"),
        (nn.MaxPool2d(2, padding=1), "padding"), (nn.AvgPool2d(3, padding=(0, 1)), "padding"),
        (nn.MaxPool2d(2, dilation=2), "dilation"), (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
        (nn.AvgPool2d(2, ceil_mode=True), "ceil_mode"),
        (nn.MaxPool2d(2, return_indices=True), "return_indices"),
        (nn.Flatten(start_dim=2), "start_dim"), (nn.Flatten(0), "start_dim"),
        (nn.Flatten(1, 2), "end_dim"),
    ]


def test_from_torch_refuses_every_pooling_and_flatten_attribute_it_cannot_map(torch):
    from dlscratch.torch import from_torch

    for module, attribute in _pooling_cases(torch):
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), module)
        with pytest.raises(NotImplementedError, match=rf"{type(module).__name__} with "
                                                       rf"{attribute}="):
            from_torch(model, MeanSquaredError(), input_shape=(1, 6, 6))


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), ((2, 2), (2, 2)), (3, 2)])
def test_from_torch_pooling_it_accepts_computes_what_torch_computes(torch, kernel, stride):
    from dlscratch.torch import from_torch

    X = np.random.default_rng(5).standard_normal((2, 2, 7, 7))
    for pool in (torch.nn.MaxPool2d(kernel, stride), torch.nn.AvgPool2d(kernel, stride),
                 torch.nn.AvgPool2d(kernel, stride, count_include_pad=False)):
        # (the 1 x 1 convolution gives the network its float64 dtype)
        model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), pool, torch.nn.Flatten()).double()
        net = from_torch(model, MeanSquaredError(), input_shape=(2, 7, 7))
        np.testing.assert_allclose(net.predict(X),
                                   model(torch.from_numpy(X)).detach().numpy(), rtol=1e-12)


def test_from_torch_ignores_a_stale_padding_tag_and_refuses_a_stray_pad(torch):
    from dlscratch.torch import from_torch, to_torch

    net = NeuralNetwork([Conv2D(2, 3, padding="same"), Flatten()], MeanSquaredError(),
                        dtype=np.float64).build((1, 5, 5))
    model = to_torch(net)
    model[0].padding = (0, 0)  # edited after export: the tag "same" is now stale
    back = from_torch(model, MeanSquaredError(), input_shape=(1, 5, 5))
    X = np.random.default_rng(6).standard_normal((2, 1, 5, 5))
    np.testing.assert_allclose(back.predict(X), model(torch.from_numpy(X)).detach().numpy(),
                               rtol=1e-12)
    for tail in ([torch.nn.ReLU()], []):
        stray = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.ZeroPad2d(1), *tail)
        with pytest.raises(NotImplementedError, match="ZeroPad2d"):
            from_torch(stray, MeanSquaredError(), input_shape=(1, 5, 5))
    pooled = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1))
    with pytest.raises(NotImplementedError, match="AdaptiveAvgPool2d"):
        from_torch(pooled, MeanSquaredError(), input_shape=(1, 5, 5))


@pytest.mark.parametrize("make, attribute", [
    (lambda nn: nn.Dropout(p=1.0), "p=1.0"),
    (lambda nn: nn.LeakyReLU(-0.1), "negative_slope"),
    (lambda nn: nn.ELU(alpha=0.0), "alpha"),
    (lambda nn: nn.Embedding(5, 2, scale_grad_by_freq=True), "scale_grad_by_freq"),
    (lambda nn: nn.Embedding(5, 2, padding_idx=0), "padding_idx"),
])
def test_from_torch_names_the_module_and_attribute_it_refuses(torch, make, attribute):
    from dlscratch.torch import from_torch

    module = make(torch.nn)
    first = [] if isinstance(module, torch.nn.Embedding) else [torch.nn.Linear(3, 2)]
    with pytest.raises((NotImplementedError, ValueError)) as error:
        from_torch(torch.nn.Sequential(*first, module), MeanSquaredError(), input_shape=(4,))
    assert attribute in str(error.value) and type(module).__name__ in str(error.value)
    assert "Dense: dropout" not in str(error.value)


# ---------------------------------------------------------------------- 3. small files, big shapes
@pytest.mark.parametrize("layers, built_on, declared", [
    ("[Conv2D(1, 21)]", (1, 30, 30), [1, 1200, 1200]),
    ("[Conv2D(2, 9, padding=4), MaxPool2D(2)]", (1, 20, 20), [1, 1500, 1500]),
    ("[LSTMLayer(256, 2)]", (5, 1), [500000, 1]),
    ("[GRULayer(64, 2, return_sequences=False)]", (5, 3), [2000000, 3]),
    ("[Conv2D(2, 5, padding=2), Tanh(), MaxPool2D(4), GlobalAvgPool2D(), Dense(2)]",
     (1, 16, 16), [1, 2000, 2000]),
])
def test_loading_a_small_file_that_declares_big_inputs_costs_little(tmp_path, layers, built_on,
                                                                    declared):
    result = run_limited(f"""
        from dlscratch import *
        from dlscratch import persistence, onnx as dl_onnx
        from dlscratch.recurrent import LSTMLayer, GRULayer
        from dlscratch.pooling import GlobalAvgPool2D
        net = NeuralNetwork({layers}, MeanSquaredError()).build({built_on})
        meta = persistence.network_description(net)
        meta["input_shape"] = {declared}
        path = {str(tmp_path / "m.npz")!r}
        persistence.write_npz(path, net.state_dict(), meta)
        loaded = NeuralNetwork.load(path)
        assert loaded.input_shape == tuple({declared}), loaded.input_shape
        print("loaded")
    """, memory_mb=700, timeout=120)
    assert result.returncode == 0 and "loaded" in result.stdout, result.stderr[-2000:]


def test_an_onnx_file_declaring_big_inputs_loads_in_bounded_memory(tmp_path):
    result = run_limited(f"""
        import json, onnx
        from dlscratch import *
        from dlscratch import persistence, onnx as dl_onnx
        net = NeuralNetwork([Conv2D(1, 15)], MeanSquaredError()).build((1, 20, 20))
        dl_onnx.export(net, {str(tmp_path / "m.onnx")!r})
        model = onnx.load({str(tmp_path / "m.onnx")!r})
        meta = json.loads(model.metadata_props[0].value)
        meta["input_shape"] = [1, 1400, 1400]
        model.metadata_props[0].value = json.dumps(meta)
        onnx.save(model, {str(tmp_path / "big.onnx")!r})
        print(dl_onnx.load({str(tmp_path / "big.onnx")!r}).input_shape)
    """, memory_mb=1200, timeout=120)
    assert result.returncode == 0 and "(1, 1400, 1400)" in result.stdout, result.stderr[-2000:]


def test_an_onnx_file_declaring_a_layer_bigger_than_its_arrays_is_refused(tmp_path):
    import onnx

    from dlscratch import onnx as dl_onnx

    net = NeuralNetwork([Dense(3, Linear())], MeanSquaredError()).build(4)
    dl_onnx.export(net, tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    meta = json.loads(model.metadata_props[0].value)
    meta["layers"][0]["config"]["neurons"] = 20000
    model.metadata_props[0].value = json.dumps(meta)
    onnx.save(model, str(tmp_path / "big.onnx"))
    with pytest.raises(ModelFileError):
        dl_onnx.load(tmp_path / "big.onnx")


# ---------------------------------------------------------------------- 4. what a path is
@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "loop"])
def test_onnx_load_and_text_files_refuse_what_is_not_a_regular_file(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    elif kind == "folder":
        path = tmp_path
    else:
        path = tmp_path / "a"
        os.symlink(tmp_path / "b", path)
        os.symlink(tmp_path / "a", tmp_path / "b")
    result = run_limited(f"""
        from dlscratch import onnx as dl_onnx
        from dlscratch.text import read_text
        for load in (dl_onnx.load, read_text):
            try:
                load({str(path)!r})
            except (ValueError, FileNotFoundError) as error:
                print(type(error).__name__, error)
    """, memory_mb=800, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and not any("does not exist" in line for line in lines), lines
    assert all(word in result.stdout for word in ("not a regular file",)) or kind == "folder"


def test_the_symlink_loop_message_reads_as_one_sentence(tmp_path):
    os.symlink(tmp_path / "y", tmp_path / "x")
    os.symlink(tmp_path / "x", tmp_path / "y")
    with pytest.raises(ModelFileError) as error:
        NeuralNetwork.load(tmp_path / "x")
    assert "symbolic link loop" in str(error.value)
    assert "expected a dlscratch file written by NeuralNetwork.save" in str(error.value)


# ---------------------------------------------------------------------- 10. ownership
@pytest.mark.parametrize("copier", [copy.deepcopy, lambda obj: pickle.loads(pickle.dumps(obj))])
def test_layers_copied_with_their_network_still_belong_to_it(copier):
    X = np.random.default_rng(7).standard_normal((5, 3))
    net = NeuralNetwork([Dense(4, Tanh()), Dense(2, Linear())], MeanSquaredError()).build(3)
    twin = copier(net)
    before = twin.predict(X)
    with pytest.raises(ValueError, match="already"):
        NeuralNetwork(twin.layers, MeanSquaredError())
    with pytest.raises(ValueError, match="already has parameters"):
        NeuralNetwork(copier(net).layers, MeanSquaredError())  # the copy itself is gone
    with pytest.raises(ValueError, match="already has parameters"):
        NeuralNetwork([copier(net.layers[0]), Dense(1)], MeanSquaredError())
    np.testing.assert_array_equal(twin.predict(X), before)
    unbuilt = NeuralNetwork([Dense(2), Dense(1)], MeanSquaredError())
    unbuilt_twin = copier(unbuilt)
    with pytest.raises(ValueError, match="already belongs"):
        NeuralNetwork([unbuilt_twin.layers[1]], MeanSquaredError())
    with pytest.raises(ValueError, match="loss"):
        NeuralNetwork([Dense(1)], unbuilt_twin.loss)


def test_a_loss_shared_by_two_networks_is_refused_and_free_once_the_first_is_gone():
    loss = SoftmaxCrossEntropy()
    first = NeuralNetwork([Dense(3, Linear())], loss)
    with pytest.raises(ValueError, match="loss SoftmaxCrossEntropy.*already belongs"):
        NeuralNetwork([Dense(3, Linear())], loss)
    del first
    NeuralNetwork([Dense(3, Linear())], loss)


# ---------------------------------------------------------------------- 11. batch norm
@pytest.mark.parametrize("rows, batch_size", [(33, 32), (65, 32), (9, 4), (3, 2), (17, 8)])
def test_batch_norm_never_fails_half_way_on_a_last_batch_of_one_row(rows, batch_size):
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((rows, 3)), rng.standard_normal((rows, 1))
    for layers in ([Dense(4, ReLU()), BatchNorm(), Dense(1, Linear())],
                   [Conv2D(2, 1), BatchNorm(), Flatten(), Dense(1, Linear())]):
        data = X if isinstance(layers[0], Dense) else X[:, :1, None, None]
        net = NeuralNetwork(layers, MeanSquaredError(), dtype=np.float64)
        history = Trainer(net, SGD(0.01)).fit(data, y, epochs=2, batch_size=batch_size,
                                              verbose=False)
        assert len(history.train_loss) == 2 and np.isfinite(history.train_loss).all()


@pytest.mark.parametrize("rows, batch_size", [(1, 4), (2, 1), (10, 1)])
def test_batch_norm_batches_that_can_never_work_are_refused_before_training(rows, batch_size):
    X = np.random.default_rng(9).standard_normal((rows, 3))
    net = NeuralNetwork([Dense(4, ReLU()), BatchNorm(), Dense(1, Linear())],
                        MeanSquaredError()).build(3)
    before = net.state_dict()
    with pytest.raises(ValueError, match="BatchNorm.*at least 2 rows"):
        Trainer(net, SGD(0.01)).fit(X, X[:, :1], epochs=1, batch_size=batch_size,
                                    verbose=False, restart=False)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_batch_norm_on_images_trains_on_batches_of_one():
    X = np.random.default_rng(10).standard_normal((3, 1, 4, 4))
    net = NeuralNetwork([Conv2D(2, 3), BatchNorm(), Flatten(), Dense(1, Linear())],
                        MeanSquaredError())
    Trainer(net, SGD(0.01)).fit(X, X[:, 0, 0, :1], epochs=1, batch_size=1, verbose=False)


# ---------------------------------------------------------------------- 12. embedding ids
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint32, np.int32])
def test_embedding_ids_are_read_exactly_whatever_their_type(dtype):
    vocab = 2**24 + 4
    net = NeuralNetwork([Embedding(vocab, 1)], MeanSquaredError(), dtype=np.float32, seed=0)
    ids = np.array([[2**24 + 1, 2**24 + 3, 5]], dtype=dtype)
    out = net.predict(ids)
    W = net.params()[0]
    np.testing.assert_array_equal(out[0, :, 0], W[[2**24 + 1, 2**24 + 3, 5], 0])
    np.testing.assert_array_equal(net.forward(ids)[0, :, 0], out[0, :, 0])


@pytest.mark.parametrize("ids, error", [([[True, False]], TypeError), ([[1.5, 2]], ValueError),
                                        ([[0.0, -1.0]], ValueError), ([[1, 7]], ValueError)])
def test_embedding_refuses_ids_that_are_no_ids(ids, error):
    net = NeuralNetwork([Embedding(5, 2)], MeanSquaredError())
    with pytest.raises(error, match="ids"):
        net.predict(np.array(ids))
    with pytest.raises(error, match="ids"):
        net.forward(np.array(ids))


# ---------------------------------------------------------------------- 13. perplexity in chunks
def test_perplexity_takes_memory_bounded_by_a_batch_whatever_the_text_length():
    result = run_limited("""
        import resource
        from dlscratch import SoftmaxCrossEntropy
        from dlscratch.recurrent import RNNLayer
        from dlscratch.text import RNNModel
        chars = "abcdefghijklmnopqrstuvwx"
        text = (chars * 120000)[:2_000_000]
        model = RNNModel([RNNLayer(8, 24)], sequence_length=10, vocab_size=24,
                         loss=SoftmaxCrossEntropy(), vocabulary=chars)
        value = model.perplexity(text, batch_size=256)
        print("ok", value)
    """, memory_mb=700, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_chunked_perplexity_equals_the_whole_computation():
    chars = "abcde"
    model = RNNModel([GRULayer(6, 5)], sequence_length=4, vocab_size=5,
                     loss=SoftmaxCrossEntropy(), vocabulary=chars, dtype=np.float64)
    text = "".join(np.random.default_rng(11).choice(list(chars), 103))
    ids = model.encode(text)
    windows = ids[:25 * 4 + 1]
    log_p = model.log_probabilities(windows[:-1].reshape(25, 4), batch_size=1000)
    tail = ids[100:]
    tail_p = model.log_probabilities(tail[None, :-1])
    total = -np.take_along_axis(log_p, windows[1:].reshape(25, 4)[..., None], -1).sum() \
        - np.take_along_axis(tail_p, tail[None, 1:, None], -1).sum()
    expected = np.exp(total / (len(ids) - 1))
    for batch_size in (1, 3, 7, 128):
        assert model.perplexity(text, batch_size=batch_size) == pytest.approx(expected,
                                                                              rel=1e-12)


# ---------------------------------------------------------------------- weak: raw errors
@pytest.mark.parametrize("make, X", [
    (lambda: LSTMLayer(10**6, 2), np.zeros((1, 2, 3))),
    (lambda: GRULayer(3 * 10**5, 2), np.zeros((1, 2, 3))),
    (lambda: Embedding(10**12, 4), np.zeros((1, 2), dtype=np.int64)),
    (lambda: Conv2D(2, 3, padding=10**4), np.zeros((2, 1, 5, 5))),
    (lambda: Dense(10**12), np.zeros((1, 3))),
])
def test_layers_too_big_for_memory_are_refused_with_a_clear_error(make, X):
    from dlscratch._shapes import NetworkTooLargeError

    with pytest.raises(NetworkTooLargeError, match="memory"):
        make().forward(X)


@pytest.mark.parametrize("layer, X", [
    (lambda: Conv2D(2, 3, weight_init="he"), np.zeros((2, 0, 5, 5))),
    (lambda: Conv2D(2, 3, weight_init="glorot"), np.zeros((2, 1, 0, 5))),
    (lambda: Dense(2, weight_init="he"), np.zeros((2, 0))),
    (lambda: RNNLayer(2, 2), np.zeros((2, 3, 0))),
])
def test_empty_axes_are_refused_before_a_layer_is_built(layer, X):
    with pytest.raises(ValueError, match="empty axis"):
        layer().forward(X)


@pytest.mark.parametrize("layer, X", [(lambda: Dense(2), np.zeros((2, 3), np.float16)),
                                      (lambda: LSTMLayer(2, 2), np.zeros((1, 2, 3), np.float16)),
                                      (lambda: Conv2D(1, 1), np.zeros((1, 1, 2, 2), np.float16))])
def test_a_layer_on_its_own_never_makes_float16_parameters(layer, X):
    with pytest.raises(TypeError, match="float16"):
        layer().forward(X)


def test_text_model_decode_sample_and_load_refuse_with_clear_errors(tmp_path):
    model = RNNModel([RNNLayer(4, 3)], sequence_length=3, vocab_size=3,
                     loss=SoftmaxCrossEntropy(), vocabulary="abc")
    for ids in ([999], [-1], [0, 3]):
        with pytest.raises(ValueError, match="out of range"):
            model.decode(ids)
    with pytest.raises(TypeError, match="integer ids"):
        model.decode([0.5])
    for seed in (-1, 1.5, "x"):
        with pytest.raises((ValueError, TypeError), match="seed"):
            model.sample(5, seed=seed)
    model.forward(model.inputs(np.zeros((1, 2), dtype=np.int64)))
    model.save(tmp_path / "t.npz")
    arrays, meta = persistence.read_npz(tmp_path / "t.npz", "dlscratch.text_model")
    meta["vocab_size"] = 10**7
    meta["vocabulary"] = None
    persistence.write_npz(tmp_path / "big.npz", arrays, meta)
    result = run_limited(f"""
        from dlscratch.text import RNNModel
        try:
            RNNModel.load({str(tmp_path / "big.npz")!r})
        except ValueError as error:
            print("refused", type(error).__name__)
    """, memory_mb=600)
    assert "refused ModelFileError" in result.stdout, result.stderr[-2000:]


# ---------------------------------------------------------------------- weak: file semantics
def test_saving_keeps_the_mode_and_refuses_a_read_only_file(tmp_path):
    net = NeuralNetwork([Dense(2, Linear())], MeanSquaredError()).build(3)
    for mode in (0o600, 0o640, 0o604):
        path = tmp_path / f"m{mode:o}.npz"
        net.save(path)
        os.chmod(path, mode)
        net.save(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == mode
    for mode in (0o444, 0o400):
        path = tmp_path / f"ro{mode:o}.npz"
        net.save(path)
        os.chmod(path, mode)
        before = path.read_bytes()
        with pytest.raises(PermissionError, match="read-only"):
            NeuralNetwork([Dense(2, Linear())], MeanSquaredError()).build(3).save(path)
        assert path.read_bytes() == before


@pytest.mark.parametrize("length", [240, 250, 255])
@pytest.mark.parametrize("char", ["m", "é"])
def test_a_legal_long_file_name_saves_and_loads(tmp_path, length, char):
    name = char * (length - 4) + ".npz"
    name = os.fsdecode(os.fsencode(name)[-255:].lstrip(b"\x80\x81\x82\x83\x84\x85\x86\x87"
                                                       b"\x88\x89\xa9"))
    net = NeuralNetwork([Dense(2, Linear())], MeanSquaredError()).build(3)
    net.save(tmp_path / name)
    net.save(tmp_path / name)  # over itself, and the stale-temporary sweep
    assert NeuralNetwork.load(tmp_path / name).input_shape == (3,)
    assert os.listdir(tmp_path) == [name]


def test_checkpoint_refuses_a_file_that_is_not_a_checkpoint_and_a_nan_history(tmp_path):
    X = np.random.default_rng(12).standard_normal((8, 3))
    net = NeuralNetwork([Dense(1, Linear())], MeanSquaredError())
    model_file = tmp_path / "model.npz"
    net.build(3).save(model_file)
    other = tmp_path / "data.csv"
    other.write_text("a,b\n1,2\n")
    for path in (model_file, other):
        before = path.read_bytes()
        with pytest.raises(ValueError, match="not a checkpoint"):
            Trainer(net, SGD(0.01)).fit(X, X[:, :1], epochs=1, checkpoint=path, verbose=False)
        assert path.read_bytes() == before
    good = tmp_path / "ckpt.npz"
    Trainer(net, SGD(0.01)).fit(X, X[:, :1], epochs=2, checkpoint=good, verbose=False)
    Trainer(net, SGD(0.01)).fit(X, X[:, :1], epochs=2, checkpoint=good, verbose=False)
    arrays, meta = persistence.read_npz(good, "dlscratch.checkpoint")
    for field in ("train_loss", "lr"):
        bad = json.loads(json.dumps(meta))
        bad["epoch"] = 1
        bad["history"][field][0] = float("nan")
        persistence.write_npz(tmp_path / "nan.npz", arrays, bad)
        with pytest.raises(ModelFileError, match="finite"):
            Trainer(NeuralNetwork([Dense(1, Linear())], MeanSquaredError()), SGD(0.01)).fit(
                X, X[:, :1], epochs=2, resume_from=tmp_path / "nan.npz", verbose=False)


# ---------------------------------------------------------------------- weak: accepted silently
def test_eval_every_beyond_the_epochs_still_evaluates_the_last_epoch():
    X = np.random.default_rng(13).standard_normal((12, 3))
    for epochs, eval_every, expected in ((3, 5, [3]), (4, 100, [4]), (6, 3, [3, 6])):
        net = NeuralNetwork([Dense(1, Linear())], MeanSquaredError())
        history = Trainer(net, SGD(0.01)).fit(X, X[:, :1], X, X[:, :1], epochs=epochs,
                                              eval_every=eval_every, verbose=False,
                                              early_stopping=False)
        assert history.eval_epochs == expected


def test_early_stopping_without_validation_data_is_refused():
    X = np.random.default_rng(14).standard_normal((12, 3))
    net = NeuralNetwork([Dense(1, Linear())], MeanSquaredError())
    with pytest.raises(ValueError, match="EarlyStopping.*validation"):
        Trainer(net, SGD(0.01)).fit(X, X[:, :1], epochs=2, callbacks=[EarlyStopping(2)],
                                    verbose=False)


@pytest.mark.parametrize("layers", [
    lambda: [Dense(3, Softmax())], lambda: [Dense(4, Tanh()), Softmax()],
    lambda: [Dense(4, Tanh()), Dense(3, Softmax(axis=1))],
])
def test_a_softmax_before_softmax_cross_entropy_is_refused(layers):
    with pytest.raises(ValueError, match="two"):
        NeuralNetwork(layers(), SoftmaxCrossEntropy())
    NeuralNetwork(layers(), MeanSquaredError())  # a softmax output is fine for other losses


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_through_the_books_api_are_refused(bad):
    net = NeuralNetwork([Dense(2, Tanh()), Dense(1, Linear())], MeanSquaredError()).build(3)
    X = np.ones((4, 3))
    X[2, 1] = bad
    before = net.state_dict()
    with pytest.raises(ValueError, match=r"index \(2, 1\)"):
        net.forward(X)
    with pytest.raises(ValueError, match="finite"):
        net.train_batch(X, np.ones((4, 1)))
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    wide = NeuralNetwork([Dense(1, Linear())], MeanSquaredError(), dtype=np.float64).build(3)
    huge = np.full((2, 3), 1e308)  # finite values whose sum overflows are fine
    assert wide.forward(huge).shape == (2, 1)


@pytest.mark.parametrize("value", ["no", 0, 1, None])
def test_predict_to_host_must_be_a_bool(value):
    net = NeuralNetwork([Dense(1, Linear())], MeanSquaredError()).build(3)
    with pytest.raises(TypeError, match="to_host"):
        net.predict(np.ones((2, 3)), to_host=value)


def test_net_to_refuses_objects_that_are_no_array_modules():
    import types

    fake = types.SimpleNamespace(asarray=np.asarray, asnumpy=np.asarray, zeros=np.zeros,
                                 empty=np.empty)
    numpy_like = types.ModuleType("numpy_like")
    for name in ("asarray", "zeros", "empty"):
        setattr(numpy_like, name, getattr(np, name))
    numpy_like.asnumpy = np.asarray
    for device in (fake, numpy_like, object()):
        net = NeuralNetwork([Dense(1, Linear())], MeanSquaredError())
        with pytest.raises(TypeError, match="array module"):
            net.to(device)
    net.build(3)
    assert net.predict(np.ones((2, 3))).shape == (2, 1)  # numpy arrays are still numpy's


def test_predict_with_a_stateful_layer_refuses_to_cut_rows_into_batches():
    net = NeuralNetwork([LSTMLayer(3, 2, stateful=True)], MeanSquaredError()).build((4, 2))
    X = np.random.default_rng(15).standard_normal((10, 4, 2))
    layer = net.layers[0]
    carried = layer._state
    with pytest.raises(ValueError, match="stateful|state"):
        net.predict(X, batch_size=4)
    assert layer._state is carried  # nothing ran: the state is the one carried before
    layer.reset_state()
    assert net.predict(X, batch_size=10).shape == (10, 4, 2)


# ---------------------------------------------------------------------- onnx: the graph is read
def test_onnx_load_refuses_a_graph_edited_after_export(tmp_path):
    import onnx

    from dlscratch import onnx as dl_onnx

    net = NeuralNetwork([Conv2D(2, 3, activation=ReLU()), MaxPool2D(2), Flatten(),
                         Dense(3, Tanh())], MeanSquaredError()).build((1, 6, 6))
    dl_onnx.export(net, tmp_path / "m.onnx")
    X = np.random.default_rng(16).standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(dl_onnx.load(tmp_path / "m.onnx").predict(X), net.predict(X),
                               rtol=1e-6)
    edits = {
        "op": lambda m: setattr(m.graph.node[2], "op_type", "Sigmoid"),
        "attribute": lambda m: next(n for n in m.graph.node if n.op_type == "MaxPool"
                                    ).attribute[0].ints.__setitem__(0, 3),
        "node removed": lambda m: m.graph.node.remove(m.graph.node[2]),
        "output renamed": lambda m: setattr(m.graph.output[0], "name", "y"),
    }
    for name, edit in edits.items():
        model = onnx.load(str(tmp_path / "m.onnx"))
        edit(model)
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
        with pytest.raises(ModelFileError, match="edited"):
            dl_onnx.load(tmp_path / f"{name}.onnx")


# ---------------------------------------------------------------------- weak: messages
@pytest.mark.parametrize("y", [np.zeros((6, 4)), np.zeros((6, 5, 3)), np.zeros((6, 5, 4)) + 2])
def test_fit_messages_name_y_train_and_keep_the_word_targets(y):
    net = NeuralNetwork([RNNLayer(3, 4)], SoftmaxCrossEntropy())
    with pytest.raises(ValueError) as error:
        Trainer(net, SGD(0.1)).fit(np.zeros((6, 5, 2)), y, epochs=1, verbose=False)
    assert "y_train" in str(error.value) and "y_trains" not in str(error.value)
