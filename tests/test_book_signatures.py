"""Every public name and signature of the book's code, checked one by one against dlscratch.

The book's signatures are data below, written by reading ``lincoln/lincoln/*.py`` and the
chapter-6 notebook ``06_rnns/RNN_DLFS.ipynb`` of SethHWeidman/DLFS_code (the book's repository
is not needed here). For each: the book's positional parameters must be ours, in the same
places, with the same names and defaults (ours may add optional parameters after them, or
keyword-only ones). ``DEPARTURES`` lists where we differ on purpose, with the reason and our
signature, which is checked too: a departure that drifts fails as a mismatch does.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import numpy as np
import pytest

REQUIRED = object()

# (the book's name, ours as "module:qualified name", the book's signature, its methods)
BOOK: list[tuple[str, str, str, dict[str, str]]] = [
    # lincoln/base.py
    ("lincoln.base.Operation", "dlscratch.base:Operation", "()",
     {"forward": "(input_)", "backward": "(output_grad)"}),
    ("lincoln.base.ParamOperation", "dlscratch.base:ParamOperation", "(param)",
     {"forward": "(input_)", "backward": "(output_grad)"}),
    # lincoln/activations.py
    ("lincoln.activations.Linear", "dlscratch.activations:Linear", "()", {}),
    ("lincoln.activations.Sigmoid", "dlscratch.activations:Sigmoid", "()", {}),
    ("lincoln.activations.Tanh", "dlscratch.activations:Tanh", "()", {}),
    ("lincoln.activations.ReLU", "dlscratch.activations:ReLU", "()", {}),
    # lincoln/dense.py
    ("lincoln.dense.WeightMultiply", "dlscratch.dense:WeightMultiply", "(W)", {}),
    ("lincoln.dense.BiasAdd", "dlscratch.dense:BiasAdd", "(B)", {}),
    # lincoln/conv.py
    ("lincoln.conv.Conv2D_Op", "dlscratch.conv:Conv2D_Op", "(W)",
     {"forward": "(input_)", "backward": "(output_grad)"}),
    # lincoln/reshape.py
    ("lincoln.reshape.Flatten", "dlscratch.reshape:Flatten", "()", {}),
    # lincoln/layers.py
    ("lincoln.layers.Layer", "dlscratch.layers:Layer", "(neurons)",
     {"forward": "(input_)", "backward": "(output_grad)"}),
    ("lincoln.layers.Dense", "dlscratch.layers:Dense",
     "(neurons, activation=Linear(), conv_in=False, weight_init='standard')", {}),
    ("lincoln.layers.Conv2D", "dlscratch.layers:Conv2D",
     "(out_channels, param_size, dropout=1.0, weight_init='normal', activation=Linear(), "
     "flatten=False)", {}),
    # lincoln/losses.py
    ("lincoln.losses.Loss", "dlscratch.losses:Loss", "()",
     {"forward": "(prediction, target)", "backward": "()"}),
    ("lincoln.losses.MeanSquaredError", "dlscratch.losses:MeanSquaredError",
     "(normalize=False)", {}),
    ("lincoln.losses.SoftmaxCrossEntropy", "dlscratch.losses:SoftmaxCrossEntropy",
     "(eps=1e-9)", {}),
    # lincoln/optimizers.py
    ("lincoln.optimizers.Optimizer", "dlscratch.optimizers:Optimizer",
     "(lr=0.01, final_lr=0, decay_type=None)", {"step": "()"}),
    ("lincoln.optimizers.SGD", "dlscratch.optimizers:SGD",
     "(lr=0.01, final_lr=0, decay_type=None)", {"step": "()"}),
    ("lincoln.optimizers.SGDMomentum", "dlscratch.optimizers:SGDMomentum",
     "(lr=0.01, final_lr=0, decay_type=None, momentum=0.9)", {"step": "()"}),
    ("lincoln.optimizers.AdaGrad", "dlscratch.optimizers:AdaGrad",
     "(lr=0.01, final_lr_exp=0, final_lr_linear=0)", {"step": "()"}),
    ("lincoln.optimizers.RegularizedSGD", "dlscratch.optimizers:RegularizedSGD",
     "(lr=0.01, alpha=0.1)", {"step": "()"}),
    # lincoln/network.py
    ("lincoln.network.LayerBlock", "dlscratch.network:LayerBlock", "(layers)",
     {"forward": "(X_batch)", "backward": "(loss_grad)", "params": "()", "param_grads": "()"}),
    ("lincoln.network.NeuralNetwork", "dlscratch.network:NeuralNetwork",
     "(layers, loss=MeanSquaredError, seed=1)",
     {"forward": "(X_batch)", "backward": "(loss_grad)", "params": "()", "param_grads": "()",
      "forward_loss": "(X_batch, y_batch)", "train_batch": "(X_batch, y_batch)"}),
    # lincoln/train.py
    ("lincoln.train.Trainer", "dlscratch.train:Trainer", "(net, optim)",
     {"fit": "(X_train, y_train, X_test, y_test, epochs=100, eval_every=10, batch_size=32, "
             "seed=1, restart=True, early_stopping=True, conv_testing=False)",
      "generate_batches": "(X, y, size=32)"}),
    # lincoln/utils/np_utils.py
    ("lincoln.utils.np_utils.to_2d", "dlscratch.utils.np_utils:to_2d", "(a, type='col')", {}),
    ("lincoln.utils.np_utils.normalize", "dlscratch.utils.np_utils:normalize", "(a)", {}),
    ("lincoln.utils.np_utils.unnormalize", "dlscratch.utils.np_utils:unnormalize", "(a)", {}),
    ("lincoln.utils.np_utils.permute_data", "dlscratch.utils.np_utils:permute_data", "(X, y)",
     {}),
    ("lincoln.utils.np_utils.generate_batch", "dlscratch.utils.np_utils:generate_batch",
     "(X, y, start=0, batch_size=10)", {}),
    ("lincoln.utils.np_utils.assert_same_shape", "dlscratch.utils.np_utils:assert_same_shape",
     "(output, output_grad)", {}),
    ("lincoln.utils.np_utils.assert_dim", "dlscratch.utils.np_utils:assert_dim", "(t, dim)", {}),
    ("lincoln.utils.np_utils.softmax", "dlscratch.utils.np_utils:softmax", "(x, axis=None)", {}),
    # lincoln/utils/mnist.py
    ("lincoln.utils.mnist.download_mnist", "dlscratch.utils.mnist:download_mnist", "()", {}),
    ("lincoln.utils.mnist.load", "dlscratch.utils.mnist:load", "()", {}),
    # 06_rnns/RNN_DLFS.ipynb: the chapter-6 notebook's own classes
    ("RNN_DLFS.RNNOptimizer", "dlscratch.text:RNNOptimizer", "(lr=0.01, gradient_clipping=True)",
     {"step": "()"}),
    ("RNN_DLFS.SGD", "dlscratch.optimizers:SGD", "(lr=0.01, gradient_clipping=True)",
     {"step": "()"}),
    ("RNN_DLFS.AdaGrad", "dlscratch.optimizers:AdaGrad", "(lr=0.01, gradient_clipping=True)",
     {"step": "()"}),
    ("RNN_DLFS.Loss", "dlscratch.losses:Loss", "()",
     {"forward": "(prediction, target)", "backward": "()"}),
    ("RNN_DLFS.SoftmaxCrossEntropy", "dlscratch.losses:SoftmaxCrossEntropy", "(eps=1e-9)", {}),
    ("RNN_DLFS.RNNLayer", "dlscratch.recurrent:RNNLayer",
     "(hidden_size, output_size, weight_scale=None)",
     {"forward": "(x_seq_in)", "backward": "(x_seq_out_grad)"}),
    ("RNN_DLFS.LSTMLayer", "dlscratch.recurrent:LSTMLayer",
     "(hidden_size, output_size, weight_scale=0.01)",
     {"forward": "(x_seq_in)", "backward": "(x_seq_out_grad)"}),
    ("RNN_DLFS.GRULayer", "dlscratch.recurrent:GRULayer",
     "(hidden_size, output_size, weight_scale=0.01)",
     {"forward": "(x_seq_in)", "backward": "(x_seq_out_grad)"}),
    ("RNN_DLFS.RNNModel", "dlscratch.text:RNNModel", "(layers, sequence_length, vocab_size, loss)",
     {"forward": "(x_batch)", "backward": "(loss_grad)", "single_step": "(x_batch, y_batch)"}),
    ("RNN_DLFS.RNNTrainer", "dlscratch.text:RNNTrainer",
     "(text_file, model, optim, batch_size=32)",
     {"sample_output": "(input_char, sample_length)",
      "train": "(num_iterations, sample_every=100)"}),
]

# Where we differ on purpose: (the book's name, the method or "" for the constructor) ->
# (the reason, our positional signature, which is checked as the book's would be).
DEPARTURES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("lincoln.layers.Dense", ""): (
        "the printed book's Dense(neurons, activation=Sigmoid(), conv_in, dropout, weight_init);"
        " the repository's dropped dropout from the signature but still reads it (NameError)",
        "(neurons, activation=Sigmoid(), conv_in=False, dropout=1.0, weight_init='standard')"),
    ("lincoln.optimizers.AdaGrad", ""): (
        "the repository's AdaGrad(lr, final_lr_exp, final_lr_linear) hands final_lr_linear to "
        "decay_type; ours takes final_lr and decay_type like every optimizer (eps keyword-only)",
        "(lr=0.01, final_lr=0.0, decay_type=None)"),
    ("lincoln.optimizers.RegularizedSGD", ""): (
        "not provided: SGD(lr, weight_decay=alpha / lr) is the same update on the weights "
        "(biases are not decayed)", None),
    ("lincoln.network.LayerBlock", ""): (
        "not provided: NeuralNetwork holds its layers itself (a LayerBlock is a NeuralNetwork "
        "without a loss)", None),
    ("lincoln.network.NeuralNetwork", ""): (
        "loss is required: the book's default is the class MeanSquaredError, not an instance, "
        "which fails on the first forward_loss",
        "(layers, loss, seed=1)"),
    ("lincoln.network.NeuralNetwork", "forward"): (
        "chapter 6's spelling x_batch (RNNModel is a NeuralNetwork); the same position",
        "(x_batch)"),
    ("lincoln.network.NeuralNetwork", "forward_loss"): (
        "chapter 6's spelling x_batch, y_batch; the same positions", "(x_batch, y_batch)"),
    ("lincoln.network.NeuralNetwork", "train_batch"): (
        "chapter 6's spelling x_batch, y_batch; the same positions", "(x_batch, y_batch)"),
    ("lincoln.train.Trainer", "fit"): (
        "the printed book's fit has single_output=False after seed (the repository dropped it)",
        "(X_train, y_train, X_test=None, y_test=None, epochs=100, eval_every=10, "
        "batch_size=32, seed=1, single_output=False, restart=True, early_stopping=True, "
        "conv_testing=False)"),
    ("RNN_DLFS.SGD", ""): (
        "one SGD for chapters 4 and 6: a bool in second place is chapter 6's gradient_clipping "
        "(SGD(0.01, True) clips); gradient_clipping is keyword-only and off by default",
        "(lr=0.01, final_lr=0.0, decay_type=None)"),
    ("RNN_DLFS.AdaGrad", ""): (
        "as SGD: a bool in second place is chapter 6's gradient_clipping",
        "(lr=0.01, final_lr=0.0, decay_type=None)"),
    ("RNN_DLFS.RNNLayer", ""): (
        "the same signature, but weight_scale=None draws PyTorch's initial weights, not the "
        "notebook's N(0, 2 / (vocab_size + output_size))",
        "(hidden_size, output_size, weight_scale=None)"),
    ("RNN_DLFS.LSTMLayer", ""): (
        "weight_scale=None (PyTorch's initial weights) instead of 0.01; the book's cells give it",
        "(hidden_size, output_size, weight_scale=None)"),
    ("RNN_DLFS.GRULayer", ""): (
        "weight_scale=None (PyTorch's initial weights) instead of 0.01; the book's cells give it",
        "(hidden_size, output_size, weight_scale=None)"),
    ("RNN_DLFS.RNNLayer", "forward"): ("every layer's forward(input_), the same position",
                                       "(input_)"),
    ("RNN_DLFS.RNNLayer", "backward"): ("every layer's backward(output_grad), the same position",
                                        "(output_grad)"),
    ("RNN_DLFS.LSTMLayer", "forward"): ("as RNNLayer", "(input_)"),
    ("RNN_DLFS.LSTMLayer", "backward"): ("as RNNLayer", "(output_grad)"),
    ("RNN_DLFS.GRULayer", "forward"): ("as RNNLayer", "(input_)"),
    ("RNN_DLFS.GRULayer", "backward"): ("as RNNLayer", "(output_grad)"),
}


def _parse(signature: str) -> list[tuple[str, object]]:
    """``"(a, b=1)"`` -> [("a", REQUIRED), ("b", 1)]; a call default stays as its source."""
    args = ast.parse(f"def f{signature}: pass").body[0].args
    names = [a.arg for a in args.args]
    defaults = [REQUIRED] * (len(names) - len(args.defaults))
    for node in args.defaults:
        try:
            defaults.append(ast.literal_eval(node))
        except ValueError:
            defaults.append(ast.unparse(node))  # Linear(), MeanSquaredError
    return list(zip(names, defaults))


def _resolve(target: str):
    module, _, qualname = target.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _ours(obj, method: str) -> list[inspect.Parameter]:
    function = obj if not method else getattr(obj, method)
    if inspect.isclass(function):
        function = function.__init__
    parameters = list(inspect.signature(function).parameters.values())
    if parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    return parameters


def _differences(parameters: list[inspect.Parameter], book: list[tuple[str, object]]
                 ) -> list[str]:
    """How our parameters fail to take the book's call: names, places and defaults."""
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    problems = []
    for index, (name, default) in enumerate(book):
        if index >= len(positional):
            problems.append(f"no parameter in place {index} for the book's {name}")
            continue
        ours = positional[index]
        if ours.name != name:
            problems.append(f"place {index}: ours is {ours.name}, the book's {name}")
        if default is REQUIRED:
            continue
        if ours.default is inspect.Parameter.empty:
            problems.append(f"{name}: the book's default {default!r}, ours is required")
        elif isinstance(default, str) and default.endswith(")"):
            continue  # an object made at definition time (Linear()): compared by behaviour below
        elif isinstance(default, str) and default[:1].isupper():
            problems.append(f"{name}: the book's default {default}, ours {ours.default!r}")
        elif ours.default != default or isinstance(ours.default, bool) != isinstance(default,
                                                                                     bool):
            problems.append(f"{name}: the book's default {default!r}, ours {ours.default!r}")
    for extra in positional[len(book):]:
        if extra.default is inspect.Parameter.empty:
            problems.append(f"ours adds the required parameter {extra.name}")
    return problems


CASES = [(book, target, "", signature) for book, target, signature, _ in BOOK] + [
    (book, target, method, signature)
    for book, target, _, methods in BOOK for method, signature in methods.items()]


@pytest.mark.parametrize("book, target, method, signature", CASES,
                         ids=[f"{c[0]}.{c[2]}" if c[2] else c[0] for c in CASES])
def test_book_signature(book, target, method, signature):
    obj = _resolve(target)
    absent = DEPARTURES.get((book, ""), ("", ""))[1] is None
    if absent:  # a documented absence: the name must really be absent
        assert obj is None, f"{target} exists now: document its signature instead"
        return
    departure = DEPARTURES.get((book, method))
    if departure is not None:
        reason, ours = departure
        assert obj is not None, f"{target} is missing ({reason})"
        assert _differences(_ours(obj, method), _parse(ours)) == [], reason
        return
    assert obj is not None, f"the book's {book} has no counterpart {target}"
    problems = _differences(_ours(obj, method), _parse(signature))
    assert problems == [], f"{book}{'.' + method if method else ''}: {problems}"


def test_every_departure_names_a_listed_book_signature():
    listed = {(book, "") for book, *_ in BOOK} | {
        (book, method) for book, _, _, methods in BOOK for method in methods}
    assert set(DEPARTURES) <= listed


def test_absent_book_names_are_exactly_the_documented_ones():
    absent = {book for book, target, _, _ in BOOK if _resolve(target) is None}
    assert absent == {"lincoln.optimizers.RegularizedSGD", "lincoln.network.LayerBlock"}


def test_call_defaults_behave_as_the_book_says():
    """The defaults that are objects: Conv2D's activation is Linear; the book's Dense of
    chapter 4 (printed) is Sigmoid."""
    from dlscratch.activations import Linear, Sigmoid
    from dlscratch.layers import Conv2D, Dense

    assert isinstance(Conv2D(4, 3).activation, Linear)
    assert isinstance(Dense(4).activation, Sigmoid)


def test_the_book_positional_calls_do_what_the_book_says():
    from dlscratch.optimizers import SGD, AdaGrad, SGDMomentum

    momentum = SGDMomentum(0.1, 0.05, "linear", 0.8)
    assert (momentum.lr, momentum.final_lr, momentum.decay_type, momentum.momentum) == \
        (0.1, 0.05, "linear", 0.8)
    for optimizer in (SGD(0.001, True), AdaGrad(0.01, True)):  # chapter 6, positionally
        assert optimizer.gradient_clipping is True and optimizer.final_lr == 0.0
    assert SGD(0.01, False).gradient_clipping is False
    assert SGD(0.1, 0.01, "exponential").final_lr == 0.01
    assert AdaGrad(0.1, 0.01, "linear").decay_type == "linear"
    with pytest.raises(TypeError, match="positional"):
        AdaGrad(0.01, 0.0, None, 1e-8)  # eps is keyword-only now


def test_chapter_six_gradient_clipping_clips_to_two():
    from dlscratch import Dense, Linear, MeanSquaredError, NeuralNetwork
    from dlscratch.optimizers import SGD

    net = NeuralNetwork([Dense(1, Linear(), weight_init="glorot")], MeanSquaredError(),
                        dtype=np.float64)
    X, y = np.full((1, 1), 100.0), np.full((1, 1), -100.0)
    net.train_batch(X, y)
    before = [p.copy() for p in net.params()]
    optim = SGD(1.0, True)
    optim.net = net
    optim.step()
    steps = [b - p for b, p in zip(before, net.params())]
    assert max(float(np.abs(s).max()) for s in steps) == pytest.approx(2.0)
