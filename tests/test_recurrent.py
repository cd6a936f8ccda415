"""Recurrent layers, Embedding, the cross-entropy over time steps and the book's gradient clipping.

Every cell is checked against finite differences (float64) and against PyTorch's nn.RNN,
nn.LSTM and nn.GRU followed by nn.Linear, loaded with the same weights through the layout
W_ih (features, g*H), W_hh (H, g*H), b_ih, b_hh (1, g*H), W_out (H, output), b_out (1, output).
"""

from __future__ import annotations

import numpy as np
import pytest

from dlscratch import (
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Dense,
    Embedding,
    GRULayer,
    Linear,
    LSTMLayer,
    MeanSquaredError,
    NeuralNetwork,
    RMSProp,
    RNNLayer,
    SGDMomentum,
    SoftmaxCrossEntropy,
    Trainer,
)
from dlscratch.gradcheck import check_loss, check_network, numerical_gradient

CELLS = [RNNLayer, LSTMLayer, GRULayer]
CELL_IDS = ["rnn", "lstm", "gru"]


# ---------------------------------------------------------------------- torch twins
def torch_twin(torch, layer):
    """(nn.RNN/LSTM/GRU, nn.Linear) holding the layer's parameters (transposed)."""
    kind = {RNNLayer: torch.nn.RNN, LSTMLayer: torch.nn.LSTM, GRULayer: torch.nn.GRU}
    W_ih, W_hh, b_ih, b_hh, W_out, b_out = layer.params
    rnn = kind[type(layer)](W_ih.shape[0], layer.hidden_size, batch_first=True)
    linear = torch.nn.Linear(layer.hidden_size, layer.output_size)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(W_ih.T))
        rnn.weight_hh_l0.copy_(torch.tensor(W_hh.T))
        rnn.bias_ih_l0.copy_(torch.tensor(b_ih[0]))
        rnn.bias_hh_l0.copy_(torch.tensor(b_hh[0]))
        linear.weight.copy_(torch.tensor(W_out.T))
        linear.bias.copy_(torch.tensor(b_out[0]))
    return rnn, linear


def torch_grads(rnn, linear) -> list[np.ndarray]:
    """The torch gradients in the layout of ``params()``."""
    return [rnn.weight_ih_l0.grad.numpy().T, rnn.weight_hh_l0.grad.numpy().T,
            rnn.bias_ih_l0.grad.numpy()[None], rnn.bias_hh_l0.grad.numpy()[None],
            linear.weight.grad.numpy().T, linear.bias.grad.numpy()[None]]


def run_torch(torch, rnn, linear, X, return_sequences, state=None):
    """(output, input tensor, final state) of the torch twin on X."""
    x = torch.tensor(X, requires_grad=True)
    hidden, final = rnn(x, state) if state is not None else rnn(x)
    output = linear(hidden) if return_sequences else linear(hidden[:, -1])
    return output, x, final


def built_layer(cls, hidden, output, X, **kwargs):
    layer = cls(hidden, output, **kwargs)
    layer.dtype = np.dtype(np.float64)
    layer.rng = np.random.default_rng(7)
    layer.forward(X)
    return layer


def assert_close(ours, theirs, name=""):
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------------- against torch
@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1), (3, 7, 5, 4, 6), (4, 12, 3, 9, 2)])
def test_cell_matches_torch_forward_and_every_gradient(torch, cls, return_sequences, shape):
    batch, steps, n_in, hidden, n_out = shape
    rng = np.random.default_rng(sum(shape))
    X = rng.standard_normal((batch, steps, n_in))
    layer = built_layer(cls, hidden, n_out, X, return_sequences=return_sequences)
    rnn, linear = torch_twin(torch, layer)
    layer.input_grad_needed = True
    ours = layer.forward(X)
    theirs, x, _ = run_torch(torch, rnn, linear, X, return_sequences)
    assert ours.shape == tuple(theirs.shape)
    assert_close(ours, theirs.detach().numpy(), "output")
    G = rng.standard_normal(ours.shape)
    (theirs * torch.tensor(G)).sum().backward()
    input_grad = layer.backward(G)
    assert_close(input_grad, x.grad.numpy(), "input gradient")
    names = layer.parameter_names()
    for name, grad, expected in zip(names, layer.param_grads, torch_grads(rnn, linear)):
        assert grad.shape == expected.shape, name
        assert_close(grad, expected, name)


@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_params_have_pytorchs_layout_transposed(cls):
    gates = {RNNLayer: 1, LSTMLayer: 4, GRULayer: 3}[cls]
    layer = built_layer(cls, 5, 3, np.zeros((2, 4, 7)))
    assert layer.parameter_names() == ["W_ih", "W_hh", "b_ih", "b_hh", "W_out", "b_out"]
    assert [p.shape for p in layer.params] == [(7, 5 * gates), (5, 5 * gates), (1, 5 * gates),
                                               (1, 5 * gates), (5, 3), (1, 3)]


def test_a_stacked_network_with_embedding_matches_torch_loss_and_gradients(torch):
    vocab, batch, steps = 9, 4, 6
    rng = np.random.default_rng(3)
    ids = rng.integers(0, vocab, (batch, steps))
    targets = rng.integers(0, vocab, (batch, steps))
    net = NeuralNetwork([Embedding(vocab, 5), LSTMLayer(6, 4), GRULayer(3, vocab)],
                        SoftmaxCrossEntropy(), seed=2, dtype=np.float64)
    loss = net.train_batch(ids, targets)
    embedding, lstm, gru = net.layers
    assert lstm.input_.dtype == np.float64 and embedding.input_.dtype.kind == "i"

    torch_embedding = torch.nn.Embedding(vocab, 5)
    with torch.no_grad():
        torch_embedding.weight.copy_(torch.tensor(embedding.params[0]))
    lstm_rnn, lstm_linear = torch_twin(torch, lstm)
    gru_rnn, gru_linear = torch_twin(torch, gru)
    hidden, _ = lstm_rnn(torch_embedding(torch.tensor(ids)))
    hidden, _ = gru_rnn(lstm_linear(hidden))
    logits = gru_linear(hidden)
    torch_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab),
                                                   torch.tensor(targets.reshape(-1)))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    expected = [torch_embedding.weight.grad.numpy(), *torch_grads(lstm_rnn, lstm_linear),
                *torch_grads(gru_rnn, gru_linear)]
    for (name, _), grad, reference in zip(net.named_params(), net.param_grads(), expected):
        assert_close(grad, reference, name)


def test_sequence_classification_with_the_last_step_matches_torch(torch):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 8, 3))
    labels = rng.integers(0, 4, 5)
    net = NeuralNetwork([LSTMLayer(6, 5), RNNLayer(4, 4, return_sequences=False)],
                        SoftmaxCrossEntropy(), seed=1, dtype=np.float64)
    loss = net.train_batch(X, labels)
    lstm, rnn_layer = net.layers
    lstm_rnn, lstm_linear = torch_twin(torch, lstm)
    rnn, linear = torch_twin(torch, rnn_layer)
    hidden, _ = lstm_rnn(torch.tensor(X))
    hidden, _ = rnn(lstm_linear(hidden))
    torch_loss = torch.nn.functional.cross_entropy(linear(hidden[:, -1]), torch.tensor(labels))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    expected = [*torch_grads(lstm_rnn, lstm_linear), *torch_grads(rnn, linear)]
    for (name, _), grad, reference in zip(net.named_params(), net.param_grads(), expected):
        assert_close(grad, reference, name)


# ---------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_cell_gradients_match_finite_differences(cls, return_sequences):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2, 4, 3))
    y = rng.integers(0, 2, (2, 4) if return_sequences else (2,))
    net = NeuralNetwork([cls(3, 2, return_sequences=return_sequences)], SoftmaxCrossEntropy(),
                        seed=0, dtype=np.float64)
    errors = check_network(net, X, y)
    assert set(errors) == {"input", *(f"layers.0.{n}" for n in net.layers[0].parameter_names())}


@pytest.mark.parametrize("first, second", [(LSTMLayer, GRULayer), (GRULayer, RNNLayer),
                                           (RNNLayer, LSTMLayer)])
def test_stacked_layers_match_finite_differences_over_several_steps(first, second):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((2, 5, 2))
    y = rng.standard_normal((2, 5, 2))
    net = NeuralNetwork([first(3, 3, weight_scale=0.7), second(2, 2, weight_scale=0.7)],
                        MeanSquaredError(), seed=1, dtype=np.float64)
    errors = check_network(net, X, y)
    assert len(errors) == 13  # the input and 2 x 6 parameters


def test_embedding_gradient_matches_finite_differences_with_repeated_ids():
    ids = np.array([[0, 2, 2, 1], [2, 0, 3, 2]])
    y = np.array([[1, 0, 1, 1], [0, 0, 1, 0]])
    net = NeuralNetwork([Embedding(5, 3), GRULayer(3, 2)], SoftmaxCrossEntropy(), seed=0,
                        dtype=np.float64)
    net.train_batch(ids, y)
    analytic = [grad.copy() for grad in net.param_grads()]
    for param, grad in zip(net.params(), analytic):
        numeric = numerical_gradient(lambda: net.forward_loss(ids, y), param)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    assert not analytic[0][4].any()  # id 4 never occurs: no gradient


def test_softmax_cross_entropy_over_time_matches_finite_differences():
    rng = np.random.default_rng(7)
    prediction = rng.standard_normal((3, 4, 5))
    labels = rng.integers(0, 5, (3, 4))
    check_loss(SoftmaxCrossEntropy(), prediction, labels)
    check_loss(SoftmaxCrossEntropy(), prediction, np.eye(5)[labels])


# ---------------------------------------------------------------------- state
@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_each_forward_starts_from_zero_state_by_default(cls):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((3, 5, 2))
    layer = built_layer(cls, 4, 3, X)
    first = layer.forward(X)
    np.testing.assert_array_equal(layer.forward(X), first)


@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_stateful_layer_continues_where_the_last_batch_ended(torch, cls):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((3, 10, 2))
    whole = built_layer(cls, 4, 3, X).forward(X)
    layer = built_layer(cls, 4, 3, X[:, :6], stateful=True)
    layer.reset_state()
    first = layer.forward(X[:, :6])
    second = layer.forward(X[:, 6:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12,
                               atol=1e-14)

    # backward of the second batch treats the carried state as a constant input, as torch does
    rnn, linear = torch_twin(torch, layer)
    _, _, state = run_torch(torch, rnn, linear, X[:, :6], True)
    state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    theirs, x, _ = run_torch(torch, rnn, linear, X[:, 6:], True, state)
    G = rng.standard_normal(second.shape)
    (theirs * torch.tensor(G)).sum().backward()
    layer.input_grad_needed = True
    assert_close(layer.backward(G), x.grad.numpy(), "input gradient")
    for name, grad, expected in zip(layer.parameter_names(), layer.param_grads,
                                    torch_grads(rnn, linear)):
        assert_close(grad, expected, name)

    layer.reset_state()
    np.testing.assert_array_equal(layer.forward(X), whole)


@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_stateful_gradients_match_finite_differences(cls):
    rng = np.random.default_rng(10)
    X = rng.standard_normal((2, 3, 2))
    layer = built_layer(cls, 3, 2, X, stateful=True, return_sequences=False)
    layer.input_grad_needed = True
    carried = [state.copy() for state in layer._state]
    G = rng.standard_normal((2, 2))

    def loss() -> float:
        layer._state = [state.copy() for state in carried]
        return float(np.sum(layer.forward(X) * G))

    loss()
    input_grad = layer.backward(G)
    grads = [grad.copy() for grad in layer.param_grads]
    np.testing.assert_allclose(input_grad, numerical_gradient(loss, X), rtol=1e-6, atol=1e-9)
    for param, grad in zip(layer.params, grads):
        np.testing.assert_allclose(grad, numerical_gradient(loss, param), rtol=1e-6, atol=1e-9)


def test_stateful_layer_refuses_a_batch_of_another_size_until_reset():
    layer = built_layer(LSTMLayer, 4, 3, np.ones((3, 5, 2)), stateful=True)
    with pytest.raises(ValueError, match=r"batch of 1 .* for 3; call reset_state"):
        layer.forward(np.ones((1, 1, 2)))
    layer.reset_state()
    assert layer.forward(np.ones((1, 1, 2))).shape == (1, 1, 3)


# ---------------------------------------------------------------------- shapes and init
@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_any_sequence_length_after_building(cls):
    net = NeuralNetwork([cls(4, 3)], MeanSquaredError(), dtype=np.float64)
    net.build((5, 2))
    for steps in (1, 5, 17):
        assert net.predict(np.ones((3, steps, 2))).shape == (3, steps, 3)
    with pytest.raises(ValueError, match="features"):
        net.predict(np.ones((3, 5, 4)))


def test_default_weights_are_pytorchs_uniform_and_a_number_is_the_books_normal_scale():
    layer = built_layer(LSTMLayer, 64, 50, np.zeros((1, 1, 40)))
    bound = 1 / np.sqrt(64)
    for param in layer.params:
        assert np.abs(param).max() <= bound
    assert np.abs(layer.params[1]).max() > 0.9 * bound
    layer = built_layer(LSTMLayer, 64, 50, np.zeros((1, 1, 40)), weight_scale=0.01)
    assert layer.params[1].std() == pytest.approx(0.01, rel=0.05)
    assert layer.params[4].std() == pytest.approx(0.01, rel=0.05)


def test_the_books_constructor_and_gradient_hook_work():
    layer = LSTMLayer(hidden_size=8, output_size=6, weight_scale=0.01)
    X = np.eye(6)[np.random.default_rng(0).integers(0, 6, (2, 5))]
    layer.forward(X)
    layer._clear_gradients()
    assert [g.shape for g in layer.param_grads] == [p.shape for p in layer.params]
    assert not any(g.any() for g in layer.param_grads)
    layer.backward(np.ones((2, 5, 6)))
    assert all(g.any() for g in layer.param_grads)


def test_summary_shows_sequence_output_shapes():
    net = NeuralNetwork([Embedding(10, 4), LSTMLayer(8, 6), GRULayer(5, 3,
                                                                    return_sequences=False)],
                        SoftmaxCrossEntropy())
    net.build(7)
    rows = net.summary().splitlines()
    assert "Embedding(vocab_size=10, embedding_dim=4)" in rows[1]
    assert "(batch, time, 4)" in rows[1] and rows[1].endswith(" 40")
    assert "(batch, time, 6)" in rows[2] and rows[2].endswith(f"{4 * 32 + 8 * 32 + 64 + 54:,}")
    assert "return_sequences=False" in rows[3] and "(batch, 3)" in rows[3]


# ---------------------------------------------------------------------- embedding, loss
def test_embedding_matches_torch_embedding(torch):
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 6, (4, 7))
    layer = Embedding(6, 3)
    layer.dtype = np.dtype(np.float64)
    out = layer.forward(ids)
    reference = torch.nn.Embedding(6, 3)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.params[0]))
    expected = reference(torch.tensor(ids))
    G = rng.standard_normal(out.shape)
    (expected * torch.tensor(G)).sum().backward()
    layer.backward(G)
    np.testing.assert_array_equal(out, expected.detach().numpy())
    np.testing.assert_allclose(layer.param_grads[0], reference.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("one_hot", [False, True])
def test_cross_entropy_over_time_matches_torch_and_is_log_perplexity(torch, one_hot):
    rng = np.random.default_rng(12)
    prediction = rng.standard_normal((3, 6, 5))
    labels = rng.integers(0, 5, (3, 6))
    loss = SoftmaxCrossEntropy()
    value = loss.forward(prediction, np.eye(5)[labels] if one_hot else labels)
    logits = torch.tensor(prediction, requires_grad=True)
    reference = torch.nn.functional.cross_entropy(logits.reshape(-1, 5),
                                                  torch.tensor(labels.reshape(-1)))
    reference.backward()
    assert value == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), logits.grad.numpy(), rtol=1e-12, atol=1e-15)
    uniform = SoftmaxCrossEntropy().forward(np.zeros((2, 3, 7)), np.zeros((2, 3), dtype=int))
    assert np.exp(uniform) == pytest.approx(7)


def test_trainer_fits_integer_ids_and_targets_and_keeps_ids_integer():
    text = np.tile(np.arange(5), 40)
    X = np.stack([text[i:i + 8] for i in range(0, 150, 3)])
    y = np.stack([text[i + 1:i + 9] for i in range(0, 150, 3)])
    seen = set()

    class RecordingEmbedding(Embedding):
        def forward(self, input_, inference=False):
            seen.add(input_.dtype)
            return super().forward(input_, inference)

    net = NeuralNetwork([RecordingEmbedding(5, 4), LSTMLayer(16, 5)], SoftmaxCrossEntropy(),
                        seed=0)
    history = Trainer(net, Adam(lr=0.05)).fit(X, y, X, y, epochs=30, eval_every=10,
                                             verbose=False, early_stopping=False)
    assert X.dtype in seen and not any(dtype.kind == "f" and dtype != np.float32
                                       for dtype in seen)
    assert history.train_loss[-1] < 0.05 * history.train_loss[0]
    assert history.metrics["accuracy"][-1] == 1.0
    assert net.predict(X[:2, :3]).shape == (2, 3, 5)


def test_trainer_fits_one_hot_sequences_with_one_hot_targets():
    eye = np.eye(4)
    ids = np.tile(np.arange(4), 30)
    X = eye[np.stack([ids[i:i + 6] for i in range(0, 100, 2)])]
    y = eye[np.stack([ids[i + 1:i + 7] for i in range(0, 100, 2)])]
    net = NeuralNetwork([GRULayer(12, 4)], SoftmaxCrossEntropy(), seed=0)
    history = Trainer(net, SGD(lr=2.0, gradient_clipping=True)).fit(
        X, y, epochs=40, eval_every=40, batch_size=10, verbose=False)
    assert history.train_loss[-1] < 0.1 * history.train_loss[0]


# ---------------------------------------------------------------------- gradient clipping
def test_gradient_clipping_clips_each_element_to_two_before_the_update():
    net = NeuralNetwork([Dense(3, activation=Linear())], MeanSquaredError(), seed=0,
                        dtype=np.float64)
    X = np.array([[10.0, -10.0], [0.1, 0.2]])
    net.train_batch(X, np.zeros((2, 3)))
    grads = [grad.copy() for grad in net.param_grads()]
    before = [param.copy() for param in net.params()]
    assert any(np.abs(g).max() > 2 for g in grads)
    optimizer = SGD(lr=0.1, gradient_clipping=True)
    optimizer.net = net
    optimizer.step()
    for param, old, grad in zip(net.params(), before, grads):
        np.testing.assert_allclose(param, old - 0.1 * np.clip(grad, -2, 2), rtol=1e-14)
    for grad, clipped in zip(net.param_grads(), grads):  # in place, as the book clips them
        np.testing.assert_array_equal(grad, np.clip(clipped, -2, 2))


def test_adagrad_with_gradient_clipping_is_torch_adagrad_on_clipped_gradients(torch):
    net = NeuralNetwork([Dense(2, activation=Linear())], MeanSquaredError(), seed=0,
                        dtype=np.float64)
    X = np.array([[30.0, -4.0, 1.0]])
    net.build(3)
    params = [torch.tensor(p.copy(), requires_grad=True) for p in net.params()]
    reference = torch.optim.Adagrad(params, lr=0.1)
    optimizer = AdaGrad(lr=0.1, gradient_clipping=True)
    optimizer.net = net
    for _ in range(3):
        net.train_batch(X, np.ones((1, 2)))
        for param, grad in zip(params, net.param_grads()):
            param.grad = torch.tensor(np.clip(grad, -2, 2))
        reference.step()
        optimizer.step()
    for ours, theirs in zip(net.params(), params):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("cls", [SGD, SGDMomentum, AdaGrad, RMSProp, Adam, AdamW])
def test_gradient_clipping_is_part_of_every_optimizers_config(cls):
    optimizer = cls(lr=0.1, gradient_clipping=True)
    assert optimizer.get_config()["gradient_clipping"] is True
    assert repr(cls(**optimizer.get_config())) == repr(optimizer)
    assert "gradient_clipping" not in cls(lr=0.1).get_config()
    with pytest.raises(TypeError, match="gradient_clipping must be True or False"):
        cls(lr=0.1, gradient_clipping="yes")


# ---------------------------------------------------------------------- persistence
def test_recurrent_networks_save_and_load_exactly(tmp_path):
    rng = np.random.default_rng(13)
    ids = rng.integers(0, 7, (3, 9))
    net = NeuralNetwork([Embedding(7, 4), LSTMLayer(5, 6, weight_scale=0.3),
                         RNNLayer(3, 4, stateful=True), GRULayer(4, 2, return_sequences=False)],
                        SoftmaxCrossEntropy(), seed=5)
    net.build(9)
    path = tmp_path / "recurrent.npz"
    net.save(path)
    loaded = NeuralNetwork.load(path)
    assert repr(loaded) == repr(net)
    assert [name for name, _ in loaded.named_params()] == [name for name, _ in net.named_params()]
    assert "layers.1.W_ih" in loaded.state_dict()
    for layer in (*net.layers, *loaded.layers):
        if hasattr(layer, "reset_state"):
            layer.reset_state()
    np.testing.assert_array_equal(loaded.predict(ids), net.predict(ids))


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_a_two_dimensional_batch_is_refused_with_the_expected_shape(cls):
    with pytest.raises(ValueError, match=r"3 dimensions \(batch, time, features\), got shape "
                                         r"\(4, 3\)"):
        cls(4, 2).forward(np.ones((4, 3)))
    net = NeuralNetwork([cls(4, 2)], MeanSquaredError())
    with pytest.raises(ValueError, match="3 dimensions"):
        net.forward(np.ones((4, 3)))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"hidden_size": 0, "output_size": 2}, ValueError, "hidden_size"),
    ({"hidden_size": 2.5, "output_size": 2}, TypeError, "hidden_size"),
    ({"hidden_size": 2, "output_size": -1}, ValueError, "output_size"),
    ({"hidden_size": 2, "output_size": 2, "weight_scale": -0.1}, ValueError, "weight_scale"),
    ({"hidden_size": 2, "output_size": 2, "return_sequences": "no"}, TypeError,
     "return_sequences"),
    ({"hidden_size": 2, "output_size": 2, "stateful": 1}, TypeError, "stateful"),
])
def test_bad_constructor_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        LSTMLayer(**kwargs)


def test_feature_count_must_stay_the_same():
    layer = built_layer(GRULayer, 3, 2, np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="4 features per step .* built for 5"):
        layer.forward(np.ones((2, 4, 4)))


def test_embedding_refuses_ids_outside_the_vocabulary_and_non_integers():
    layer = Embedding(5, 2)
    with pytest.raises(ValueError, match=r"ids holds 5, out of range; expected ids in \[0, 4\]"):
        layer.forward(np.array([[0, 5]]))
    with pytest.raises(ValueError, match="ids holds -1"):
        layer.forward(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="whole numbers"):
        layer.forward(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"2 dimensions \(batch, time\)"):
        layer.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match="vocab_size"):
        Embedding(0, 3)


def test_sequence_targets_outside_the_vocabulary_or_of_the_wrong_shape_are_refused():
    prediction = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"class label 4 at index \(1, 2\), out of range; "
                                         r"expected labels in \[0, 3\]"):
        SoftmaxCrossEntropy().forward(prediction, np.array([[0, 1, 2], [3, 0, 4]]))
    with pytest.raises(ValueError, match=r"target has shape \(2, 4\)"):
        SoftmaxCrossEntropy().forward(prediction, np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="whole numbers"):
        SoftmaxCrossEntropy().forward(prediction, np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="sums to"):
        SoftmaxCrossEntropy().forward(prediction, np.full((2, 3, 4), 0.5))
    net = NeuralNetwork([Embedding(4, 2), RNNLayer(3, 4)], SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match=r"Trainer.fit: y_train holds class label 7"):
        Trainer(net, SGD(lr=0.1)).fit(np.zeros((2, 3), dtype=int),
                                      np.array([[0, 1, 2], [3, 0, 7]]), epochs=1)


@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_gates_stay_finite_without_warnings(cls, dtype):
    X = np.array([[[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]]], dtype=dtype)
    layer = cls(3, 2, weight_scale=1.0)
    layer.dtype = np.dtype(dtype)
    layer.rng = np.random.default_rng(0)
    layer.input_grad_needed = True
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        output = layer.forward(X)
        input_grad = layer.backward(np.ones_like(output))
    assert np.isfinite(output).all() and np.isfinite(input_grad).all()
    assert all(np.isfinite(grad).all() for grad in layer.param_grads)
