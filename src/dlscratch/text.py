"""Character language models, the book's chapter 6: ``RNNModel`` and ``RNNTrainer``.

A text becomes a vocabulary (its distinct characters, sorted), the vocabulary turns characters
into ids, and the ids into one-hot rows (or feed an ``Embedding``). ``RNNModel`` is a
``NeuralNetwork`` of recurrent layers that predicts, at every step of a sequence, the next
character; ``RNNTrainer`` walks the text in batches, trains the model, reports the validation
perplexity beside the unigram baseline and samples text as it learns::

    layers = [LSTMLayer(hidden_size=256, output_size=62, weight_scale=0.01)]
    mod = RNNModel(layers=layers, vocab_size=62, sequence_length=25,
                   loss=SoftmaxCrossEntropy())
    optim = AdaGrad(lr=0.01, gradient_clipping=True)
    trainer = RNNTrainer('input.txt', mod, optim, batch_size=32)
    trainer.train(1000, sample_every=100)

The perplexity is ``exp`` of the mean cross-entropy per predicted character; the unigram
baseline is the perplexity of always predicting the training text's character frequencies.

The book's chapter-6 loss is a sum over batch, time and characters (gradient softmax - target),
and its learning rates (``SGD(lr=0.001)`` for cell 24) are sized for that sum: ``RNNModel``
trains on the summed loss by default (``reduction="sum"``), while ``SoftmaxCrossEntropy`` over
a ``NeuralNetwork`` stays the mean (``torch.nn.CrossEntropyLoss``). The loss that
``single_step`` returns, and the perplexity, are per character either way.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import is_array, on_device, one_hot, to_device, to_host
from .base import Operation
from .losses import Loss, SoftmaxCrossEntropy
from .network import NeuralNetwork
from .optimizers import Optimizer
from .validation import check_choice, check_number, check_path, check_positive

TEXT_MODEL_FORMAT = "dlscratch.text_model"

__all__ = [
    "RNNModel",
    "RNNOptimizer",
    "RNNTrainer",
    "TextHistory",
    "build_vocabulary",
    "read_text",
    "stdlib_docstrings",
    "unigram_perplexity",
]


# ---------------------------------------------------------------------- text and vocabulary
def read_text(path: str | os.PathLike, owner: str = "read_text") -> str:
    """The UTF-8 text of the file at ``path``; a missing or non-UTF-8 file is a clear error."""
    from ._io import open_regular_file

    path = check_path("text_file", path, owner)
    try:
        handle = open_regular_file(path, "UTF-8 text file (or pass the text itself with "
                                         "text=...)")
    except FileNotFoundError:
        raise FileNotFoundError(f"{owner}: text_file {path!r} does not exist; expected a UTF-8 "
                                f"text file (or pass the text itself with text=...)") from None
    except ValueError as error:
        raise ValueError(f"{owner}: text_file {error}") from None
    with handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = data[error.start:error.start + 1].hex()
        raise ValueError(f"{owner}: text_file {path!r} is not UTF-8 text: byte 0x{bad} at byte "
                         f"offset {error.start} ({error.reason}); expected a UTF-8 encoded "
                         f"file") from None


def build_vocabulary(text: str) -> list[str]:
    """The distinct characters of ``text``, sorted by code point (never ``set`` order)."""
    return sorted(set(text))


def _check_text(text: Any, name: str, owner: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{owner}: {name} must be a str, got {type(text).__name__}")
    if len(text) < 2:
        raise ValueError(f"{owner}: {name} must hold at least 2 characters (one to read, one to "
                         f"predict), got {len(text)} ({text!r})")
    return text


def unigram_perplexity(train_text: str, eval_text: str, vocabulary: Sequence[str]) -> float:
    """Perplexity on ``eval_text[1:]`` of the training text's character frequencies.

    Add-one smoothing over ``vocabulary``, so a character unseen in training costs a finite
    amount. ``eval_text[1:]``: the characters a model predicts (the first one has no context).
    """
    index = {char: i for i, char in enumerate(vocabulary)}
    counts = np.bincount(_encode(train_text, index, "train_text", "unigram_perplexity"),
                         minlength=len(vocabulary)).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    eval_ids = _encode(eval_text, index, "eval_text", "unigram_perplexity")[1:]
    if len(eval_ids) == 0:
        raise ValueError("unigram_perplexity: eval_text must hold at least 2 characters, got "
                         f"{len(eval_text)}")
    return float(np.exp(-log_p[eval_ids].mean()))


def _encode(text: str, index: dict[str, int], name: str, owner: str) -> np.ndarray:
    try:
        return np.fromiter((index[char] for char in text), dtype=np.int64, count=len(text))
    except KeyError:
        unknown = sorted({char for char in text if char not in index})
        shown = "".join(unknown[:20])
        raise ValueError(f"{owner}: {name} holds {len(unknown)} character(s) not in the "
                         f"vocabulary: {shown!r}; expected only the {len(index)} characters "
                         f"the model was trained on") from None


# ---------------------------------------------------------------------- the default text
#: Standard-library modules whose docstrings make the default text (those missing in a given
#: Python are skipped). Pure-Python modules present from Python 3.10 on.
STDLIB_MODULES = (
    "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "collections",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "difflib", "doctest",
    "email", "enum", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt",
    "gettext", "glob", "gzip", "heapq", "hmac", "html", "imaplib", "inspect", "ipaddress", "json",
    "logging", "mailbox", "netrc", "numbers", "operator", "optparse", "os", "pathlib", "pdb",
    "pickle", "platform", "poplib", "pprint", "queue", "quopri", "random", "re", "sched",
    "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib", "socket", "socketserver",
    "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading",
    "timeit", "tokenize", "trace", "traceback", "turtle", "typing", "unittest", "uuid",
    "warnings", "wave", "weakref", "webbrowser", "zipfile", "zipimport",
)


def stdlib_docstrings(modules: Sequence[str] = STDLIB_MODULES, max_chars: int | None = None
                      ) -> str:
    """English text available offline wherever Python is: the docstrings of ``modules``.

    Each module's source is parsed (never imported, so nothing runs); its docstring and those
    of its classes and functions, in source order, are cleaned (``inspect.cleandoc``) and
    joined by blank lines, module by module in sorted order. The text is the same on every
    machine with the same Python version.
    """
    import ast
    import importlib.util
    import inspect

    pieces: list[str] = []
    for name in sorted(modules):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        origin = getattr(spec, "origin", None)
        if not origin or not origin.endswith(".py") or not os.path.isfile(origin):
            continue
        with open(origin, encoding="utf-8") as handle:
            try:
                tree = ast.parse(handle.read())
            except (SyntaxError, ValueError):
                continue
        for node in _in_source_order(tree):
            doc = ast.get_docstring(node, clean=False)
            if doc and doc.strip():
                pieces.append(inspect.cleandoc(doc))
        if max_chars is not None and sum(map(len, pieces)) >= max_chars:
            break
    text = "\n\n".join(pieces) + "\n"
    return text if max_chars is None else text[:max_chars]


def _in_source_order(node):
    import ast

    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _in_source_order(child)


# ---------------------------------------------------------------------- the book's optimizer
class RNNOptimizer(Optimizer):
    """The book's base of its chapter-6 optimizers: an ``Optimizer`` whose ``gradient_clipping``
    (every gradient element clipped to [-2, 2] before the update) is on unless turned off.

    A subclass written the book's way overrides ``_update_rule(self, **kwargs)`` and reads
    ``kwargs['param']`` and ``kwargs['grad']``. dlscratch's own ``SGD`` and ``AdaGrad`` take
    ``gradient_clipping=True`` as the book's do, and any optimizer works with ``RNNTrainer``.
    """

    def __init__(self, lr: float = 0.01, gradient_clipping: bool = True, **options: Any) -> None:
        super().__init__(lr, gradient_clipping=gradient_clipping, **options)


# ---------------------------------------------------------------------- the model
class TextVocabulary:
    """Characters to ids and back, and the model's inputs and targets made from ids (one-hot
    rows, or the ids themselves for an ``Embedding`` first layer)."""

    @property
    def vocabulary(self) -> list[str] | None:
        """The characters, in id order (None until a trainer or ``load`` sets it)."""
        return None if self._vocabulary is None else list(self._vocabulary)

    @vocabulary.setter
    def vocabulary(self, chars: Sequence[str]) -> None:
        if isinstance(chars, str):
            chars = list(chars)
        chars = list(chars)
        if not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise TypeError("RNNModel: vocabulary must be a sequence of single characters, got "
                            f"{chars[:5]!r}...")
        if len(set(chars)) != len(chars):
            raise ValueError("RNNModel: vocabulary holds a character twice; expected distinct "
                             "characters")
        if len(chars) != self.vocab_size:
            raise ValueError(f"RNNModel: the vocabulary has {len(chars)} characters, but the "
                             f"model was built with vocab_size={self.vocab_size}; expected them "
                             f"equal (RNNModel(..., vocab_size={len(chars)}))")
        self._vocabulary = chars
        self._index = {char: i for i, char in enumerate(chars)}

    def _require_vocabulary(self, owner: str) -> list[str]:
        if self._vocabulary is None:
            raise ValueError(f"{owner}: the model has no vocabulary yet; train it with "
                             f"RNNTrainer, load it with RNNModel.load, or set model.vocabulary")
        return self._vocabulary

    def encode(self, text: str, name: str = "text", owner: str = "RNNModel.encode"
               ) -> np.ndarray:
        """The ids (int64) of the characters of ``text``."""
        self._require_vocabulary(owner)
        if not isinstance(text, str):
            raise TypeError(f"{owner}: {name} must be a str, got {type(text).__name__}")
        return _encode(text, self._index, name, owner)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The characters of ``ids``."""
        chars = self._require_vocabulary("RNNModel.decode")
        array = np.asarray(ids)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise TypeError(f"RNNModel.decode: ids must be a 1-D sequence of integer ids, got "
                            f"{str(ids)[:80]} (shape {array.shape}, dtype {array.dtype})")
        bad = (array < 0) | (array >= len(chars))
        if bad.any():
            position = int(np.argmax(bad))
            raise ValueError(f"RNNModel.decode: ids holds {array[position]} at position "
                             f"{position}, out of range; expected ids in [0, {len(chars) - 1}] "
                             f"for a vocabulary of {len(chars)} characters")
        return "".join(chars[int(i)] for i in array)

    @property
    def takes_ids(self) -> bool:
        """Whether the first layer is an ``Embedding`` (inputs are ids, not one-hot rows)."""
        return type(self.layers[0]).__name__ == "Embedding"

    def inputs(self, ids: np.ndarray) -> np.ndarray:
        """The model input for (batch, time) ids: one-hot (batch, time, vocab_size) rows in the
        model's dtype, or the ids themselves for an ``Embedding``; made where the ids are."""
        if self.takes_ids:
            return ids
        return self._one_hot(ids)

    def _one_hot(self, ids: np.ndarray) -> np.ndarray:
        """(batch, time, vocab_size) one-hot rows of (batch, time) ids, in the model's dtype,
        made where the ids are (no vocab_size x vocab_size identity is ever made)."""
        ids = ids if is_array(ids) else np.asarray(ids)
        rows = one_hot(ids.reshape(-1), self.vocab_size, dtype=self.dtype, like=ids)
        return rows.reshape(*ids.shape, self.vocab_size)

    def targets(self, ids: np.ndarray) -> np.ndarray:
        """What the loss compares with: the ids for softmax cross-entropy, one-hot otherwise."""
        if isinstance(self.loss, SoftmaxCrossEntropy):
            return ids
        return self._one_hot(ids)


class LanguageModelUse:
    """What a trained character model is for: log-probabilities, perplexity, sampling."""

    def log_probabilities(self, ids: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """log P(next character) (n, time, vocab_size) in float64 for (n, time) ids, in batches,
        inference mode, each sequence from a zero state."""
        out = np.empty((*ids.shape, self.vocab_size), dtype=np.float64)
        try:
            for start in range(0, len(ids), batch_size):
                chunk = ids[start:start + batch_size]
                scores = to_host(self.forward(self.inputs(chunk), inference=True)
                                 ).astype(np.float64)
                scores -= scores.max(axis=-1, keepdims=True)
                scores -= np.log(np.exp(scores).sum(axis=-1, keepdims=True))
                out[start:start + len(chunk)] = scores
        finally:
            self._release()
        return out

    def perplexity(self, text: str, batch_size: int = 128) -> float:
        """exp(mean cross-entropy) of predicting ``text[1:]``, read in windows of
        ``sequence_length`` characters, each from a zero state (as in training)."""
        ids = self.encode(_check_text(text, "text", "RNNModel.perplexity"), "text",
                          "RNNModel.perplexity")
        check_positive("batch_size", batch_size, integer=True, owner="RNNModel.perplexity")
        T = self.sequence_length
        n_full = (len(ids) - 1) // T
        total, count = 0.0, 0
        if n_full:
            windows = ids[:n_full * T + 1]
            inputs = windows[:-1].reshape(n_full, T)
            targets = windows[1:].reshape(n_full, T)
            # batch by batch: memory bounded by a batch's (batch, T, vocab) log-probabilities,
            # whatever the text's length
            for start in range(0, n_full, batch_size):
                chunk = slice(start, start + batch_size)
                log_p = self.log_probabilities(inputs[chunk], batch_size)
                total -= float(np.take_along_axis(log_p, targets[chunk][..., None],
                                                  axis=-1).sum())
            count += targets.size
        rest = len(ids) - 1 - n_full * T
        if rest:
            tail = ids[n_full * T:]
            log_p = self.log_probabilities(tail[None, :-1], batch_size)
            total -= float(np.take_along_axis(log_p, tail[None, 1:, None], axis=-1).sum())
            count += rest
        try:
            return math.exp(total / count)
        except OverflowError:  # a model that diverged: worse than any finite perplexity
            return math.inf

    def sample(self, length: int = 200, prompt: str | None = None, temperature: float = 1.0,
               seed: int | np.random.Generator | None = None) -> str:
        """``length`` characters drawn one at a time from the model, after ``prompt``.

        Each character is drawn from softmax(scores / temperature) given the last
        ``sequence_length`` characters (read from a zero state, exactly as in training); a low
        temperature sharpens the choice, a high one flattens it. ``seed`` fixes the draw.
        ``prompt`` defaults to a newline (or the vocabulary's first character); it is not part
        of the returned text.
        """
        owner = "RNNModel.sample"
        chars = self._require_vocabulary(owner)
        check_positive("length", length, integer=True, owner=owner)
        check_number("temperature", temperature, low=0, owner=owner)
        if prompt is None:
            prompt = "\n" if "\n" in self._index else chars[0]
        if not isinstance(prompt, str) or not prompt:
            raise ValueError(f"{owner}: prompt must be a non-empty str, got {prompt!r}")
        context = list(self.encode(prompt, "prompt", owner))
        if not (seed is None or isinstance(seed, np.random.Generator)):
            check_number("seed", seed, low=0, low_open=False, integer=True, owner=owner)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        T = self.sequence_length
        out = []
        try:
            for _ in range(int(length)):
                window = np.asarray(context[-T:], dtype=np.int64)[None, :]
                scores = to_host(self.forward(self.inputs(window), inference=True)[0, -1]
                                 ).astype(np.float64) / float(temperature)
                scores -= scores.max()
                p = np.exp(scores)
                p /= p.sum()
                nxt = int(rng.choice(len(p), p=p))
                context.append(nxt)
                out.append(chars[nxt])
        finally:
            self._release()
        return "".join(out)


class TextModelFile:
    """A character model's file: the network's ``.npz`` with the vocabulary, the sequence length
    and the reduction in its description (never unpickled)."""

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture, parameters, sequence length and vocabulary to one ``.npz``."""
        from .persistence import _check_rebuilds, network_description, write_npz

        path = check_path("path", path, "RNNModel.save")
        if not self.built:
            raise ValueError("RNNModel.save: the model has no parameters yet; train it (or call "
                             "forward once) before saving")
        meta = network_description(self)
        for index, (layer, description) in enumerate(zip(self.layers, meta["layers"])):
            _check_rebuilds(layer, description, f"layers[{index}]", "layer")
        _check_rebuilds(self.loss, meta["loss"], "loss", "loss")
        meta.update(format=TEXT_MODEL_FORMAT, sequence_length=self.sequence_length,
                    vocab_size=self.vocab_size, vocabulary=self.vocabulary,
                    reduction=self.reduction)
        write_npz(path, self.state_dict(), meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RNNModel:
        """Rebuild a model saved with ``save``, vocabulary included (never unpickles)."""
        from ._shapes import network_shapes
        from .persistence import (
            ROW_ALLOWANCE,
            RUN_ALLOWANCE,
            ModelFileError,
            build_without_running,
            network_from_description,
            read_npz,
        )

        path = check_path("path", path, "RNNModel.load")
        arrays, meta = read_npz(path, TEXT_MODEL_FORMAT)
        where = repr(path)
        base = network_from_description(meta, where)
        sequence_length, vocab_size = meta.get("sequence_length"), meta.get("vocab_size")
        for name, value in (("sequence_length", sequence_length), ("vocab_size", vocab_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelFileError(f"{where}: {name} must be a positive integer, got {value!r}")
        vocabulary = meta.get("vocabulary")
        reduction = meta.get("reduction", "mean")  # files from before it trained on the mean
        if reduction not in cls.REDUCTIONS:
            raise ModelFileError(f"{where}: reduction must be one of {cls.REDUCTIONS}, got "
                                 f"{reduction!r}")
        layers, loss, seed, dtype = base.layers, base.loss, base.seed, base.dtype
        del base  # the rebuilt layers belong to the model, not to this first network
        try:
            model = cls(layers=layers, sequence_length=sequence_length,
                        vocab_size=vocab_size, loss=loss, seed=seed, dtype=dtype,
                        vocabulary=vocabulary, reduction=reduction)
        except (TypeError, ValueError) as error:
            raise ModelFileError(f"{where}: {error}") from None
        for name, array in arrays.items():
            if array.dtype != model.dtype:
                raise ModelFileError(f"{where}: parameter {name} is {array.dtype}, the model "
                                     f"{model.dtype}")
        # the shapes the description calls for, checked against the file's arrays before any
        # parameter is made; nothing runs (a vocab_size of 10**7 costs no one-hot row)
        input_shape = (1,) if model.takes_ids else (1, vocab_size)
        try:
            shapes, _ = network_shapes(model.layers, input_shape, model.dtype,
                                       row_budget=ROW_ALLOWANCE, run_budget=RUN_ALLOWANCE)
        except (ValueError, TypeError, MemoryError) as error:
            raise ModelFileError(f"{where}: the description does not make a model: "
                                 f"{error}") from None
        found = {name: tuple(array.shape) for name, array in arrays.items()}
        if found != shapes:
            raise ModelFileError(f"{where}: the file's arrays {found} are not those the "
                                 f"description calls for, {shapes}")
        try:
            build_without_running(model, input_shape)
            model.load_state_dict(arrays, strict=True)
        except (KeyError, ValueError, TypeError) as error:
            raise ModelFileError(f"{where}: {error}") from None
        return model


class RNNModel(TextModelFile, TextVocabulary, LanguageModelUse, NeuralNetwork):
    """The book's model: recurrent layers that map (batch, time, vocab_size) one-hot characters
    to (batch, time, vocab_size) scores of the next character, and a loss over every step.

    ``sequence_length`` is the length of the training sequences; the model itself reads
    sequences of any length. ``vocabulary`` (set by ``RNNTrainer``, kept by ``save``) maps ids
    to characters. With an ``Embedding`` as the first layer the inputs are the ids themselves
    (batch, time) instead of one-hot rows.

    ``reduction`` is how training adds up a ``SoftmaxCrossEntropy`` over the characters of a
    batch: ``"sum"`` (the default, the book's chapter 6, whose learning rates assume it) takes
    the gradient of the loss summed over batch and time, softmax - target; ``"mean"`` that of
    the mean (torch's ``CrossEntropyLoss``), batch * time times smaller. Either way
    ``single_step`` returns the mean loss per character, whose exp is the perplexity.
    """

    REDUCTIONS = ("sum", "mean")

    def __init__(self, layers: Sequence[Operation], sequence_length: int, vocab_size: int,
                 loss: Loss, seed: int | None = 1, dtype: Any = np.float32,
                 vocabulary: Sequence[str] | None = None, hidden_size: int | None = None,
                 *, reduction: str = "sum") -> None:
        check_positive("sequence_length", sequence_length, integer=True, owner="RNNModel")
        check_positive("vocab_size", vocab_size, integer=True, owner="RNNModel")
        check_choice("reduction", reduction, self.REDUCTIONS, owner="RNNModel")
        self.reduction = reduction
        super().__init__(layers=layers, loss=loss, seed=seed, dtype=dtype)
        output_size = getattr(self.layers[-1], "output_size", None)
        if isinstance(output_size, numbers.Integral) and output_size != vocab_size:
            raise ValueError(f"RNNModel: the last layer has output_size={output_size}, but "
                             f"vocab_size={vocab_size}; expected the last layer to score every "
                             f"character of the vocabulary (output_size=vocab_size)")
        self.sequence_length = int(sequence_length)
        self.vocab_size = int(vocab_size)
        self.hidden_size = hidden_size  # the book's LSTMModel takes it; nothing uses it
        for layer in self.layers:  # the book's layers read it
            layer.sequence_length = self.sequence_length
        self._vocabulary: list[str] | None = None
        self._index: dict[str, int] = {}
        if vocabulary is not None:
            self.vocabulary = vocabulary

    # ------------------------------------------------------------------ training
    def single_step(self, x_batch: np.ndarray, y_batch: np.ndarray) -> float:
        """The book's step: forward, loss, backward (the optimizer's ``step`` follows)."""
        return self.train_batch(x_batch, y_batch)

    def train_batch(self, x_batch: np.ndarray, y_batch: np.ndarray,
                    inference: bool = False) -> float:
        """Forward, loss, backward on one batch, the gradient reduced as ``reduction`` says;
        returns the mean loss per character."""
        prediction = self.forward(x_batch, inference)
        return self._backward_reduced(prediction, self.loss.forward(prediction, y_batch))

    def _train_batch_checked(self, x_batch: np.ndarray, y_batch: np.ndarray,
                             read: bool = True) -> float:
        """``train_batch`` for a trainer whose targets were checked once, at the door: the
        loss skips its per-batch checks and, with ``read=False``, leaves the loss on the
        device."""
        if type(self.loss).forward is not Loss.forward:
            return self.train_batch(x_batch, y_batch)
        prediction = self.forward(x_batch)
        y_batch = to_device(y_batch, like=prediction)
        loss = self.loss._forward_checked(prediction, y_batch, read=read)
        return self._backward_reduced(prediction, loss)

    def _backward_reduced(self, prediction: np.ndarray, loss: Any) -> Any:
        """Backward from the loss, its gradient scaled to ``reduction``; the loss per character."""
        grad = self.loss.backward()
        if isinstance(self.loss, SoftmaxCrossEntropy):
            characters = int(np.prod(prediction.shape[:-1]))
            summed = self.loss.reduction == "sum"
            if self.reduction == "sum" and not summed:
                grad *= characters
            elif self.reduction == "mean" and summed:
                grad *= 1.0 / characters
            if summed:
                loss /= characters
        self.backward(grad)
        return loss

    def __repr__(self) -> str:
        layers = ",\n    ".join(repr(layer) for layer in self.layers)
        return (f"RNNModel(layers=[\n    {layers}],\n  sequence_length={self.sequence_length}, "
                f"vocab_size={self.vocab_size}, loss={self.loss!r}, seed={self.seed}, "
                f"dtype={self.dtype.name}, reduction={self.reduction!r})")


# ---------------------------------------------------------------------- the trainer
@dataclass
class TextHistory:
    """What ``RNNTrainer.train`` saw: the loss of every iteration and every evaluation."""

    iterations: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_iterations: list[int] = field(default_factory=list)
    val_perplexity: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    unigram_perplexity: float | None = None
    interrupted: bool = False

    def moving_average(self, window: int = 100) -> list[float]:
        """The loss averaged over the last ``window`` iterations (the book's plotted curve)."""
        out, total = [], 0.0
        for i, loss in enumerate(self.losses):
            total += loss
            if i >= window:
                total -= self.losses[i - window]
            out.append(total / min(i + 1, window))
        return out


def _checked_trainer_arguments(text_file, text, model, optim, batch_size, validation_fraction,
                               sample_length, temperature, seed) -> str:
    """The text to train on (read from ``text_file`` or given), every ``RNNTrainer`` argument
    refused with a clear error when it cannot work."""
    owner = "RNNTrainer"
    if (text_file is None) == (text is None):
        raise ValueError(f"{owner}: give exactly one of text_file (a path) and text= (the "
                         f"text itself), got text_file={text_file!r} and "
                         f"text={'None' if text is None else f'a str of {len(text)}'}")
    if text is None:
        if isinstance(text_file, bytes) or not isinstance(text_file, (str, os.PathLike)):
            raise TypeError(f"{owner}: text_file must be a path (str or os.PathLike), got "
                            f"{type(text_file).__name__}; pass the text itself as text=...")
        text = read_text(text_file, owner)
    text = _check_text(text, "text", owner)
    if not isinstance(model, RNNModel):
        raise TypeError(f"{owner}: model must be an RNNModel, got {type(model).__name__}")
    if not isinstance(optim, Optimizer):
        raise TypeError(f"{owner}: optim must be a dlscratch Optimizer such as "
                        f"Adam(lr=0.01) or SGD(lr=0.01, clip_norm=5), got "
                        f"{type(optim).__name__}")
    check_positive("batch_size", batch_size, integer=True, owner=owner)
    check_number("validation_fraction", validation_fraction, low=0, low_open=False,
                 high=0.5, owner=owner)
    check_positive("sample_length", sample_length, integer=True, owner=owner)
    check_number("temperature", temperature, low=0, owner=owner)
    check_number("seed", seed, low=0, low_open=False, integer=True, owner=owner)
    return text


class TextBatches:
    """The training batches: ``batch_size`` random windows of ``sequence_length + 1`` ids."""

    def batch_ids(self, iteration: int) -> np.ndarray:
        """(batch_size, sequence_length + 1) ids: inputs ``[:, :-1]``, targets ``[:, 1:]``."""
        T, B = self.sequence_length, self.batch_size
        positions = len(self.train_ids) - T  # start s reads s .. s + T
        starts = (np.arange(B) * positions // B + iteration * T) % positions
        return self.train_ids[starts[:, None] + np.arange(T + 1)]

    def _device_batch_ids(self, iteration: int) -> np.ndarray:
        """``batch_ids(iteration)`` made on the model's device from the training ids, which go
        there once (with the rows' starting offsets): no upload per iteration."""
        T, B = self.sequence_length, self.batch_size
        positions = len(self.train_ids) - T
        cached = getattr(self, "_device_text", None)
        if cached is None or cached[0] != self.model.device:
            device = self.model.device
            cached = self._device_text = (
                device, to_device(self.train_ids, like=device),
                to_device(np.arange(B) * positions // B, like=device),
                to_device(np.arange(T + 1), like=device))
        _, train_ids, offsets, window = cached
        starts = (offsets + iteration * T) % positions
        return np.take(train_ids, starts[:, None] + window)

    def _generate_one_hot_array(self, indices: np.ndarray) -> np.ndarray:
        """The book's helper: (batch, time) ids to (batch, time, vocab_size) one-hot rows."""
        return np.eye(self.vocab_size, dtype=self.model.dtype)[np.asarray(indices)]


class TextMeasures:
    """How the model is doing: perplexities (the unigram baseline, the validation text) and
    samples."""

    def unigram_perplexity(self) -> float:
        """The baseline: perplexity on the validation text of the training text's frequencies."""
        if self._unigram is None:
            self._unigram = unigram_perplexity(self.train_text, self._eval_text(), self.chars)
        return self._unigram

    def validation_perplexity(self) -> float:
        """The model's perplexity on the held-out text (on the training text if none)."""
        return self.model.perplexity(self._eval_text())

    def _eval_text(self) -> str:
        return self.validation_text if self.validation_text else self.train_text

    def sample(self, length: int | None = None, prompt: str | None = None,
               temperature: float | None = None, seed: int | None = None) -> str:
        """Text drawn from the model (see ``RNNModel.sample``); the trainer's own seeded
        generator when ``seed`` is None, so a run's samples repeat."""
        return self.model.sample(self.sample_length if length is None else length, prompt,
                                 self.temperature if temperature is None else temperature,
                                 self._sample_rng if seed is None else seed)

    def sample_output(self, input_char: int, sample_length: int) -> str:
        """The book's sampler: ``sample_length`` characters after the character ``input_char``."""
        check_number("input_char", input_char, low=0, low_open=False, high=self.vocab_size,
                     high_open=True, integer=True, owner="RNNTrainer.sample_output")
        return self.sample(sample_length, prompt=self.idx_to_char[int(input_char)])


class TextTraining:
    """The training loop: batches through ``single_step`` and the optimizer, an evaluation (loss,
    perplexity, sample) every ``sample_every`` iterations; on a device the losses are read at
    the evaluations only."""

    def train(self, num_iterations: int, sample_every: int = 100) -> TextHistory:
        """Train for ``num_iterations`` batches; every ``sample_every`` (and at the end) measure
        the validation perplexity and print it with a sample. Ctrl-C stops cleanly."""
        from .train import TrainingDivergedError

        check_positive("num_iterations", num_iterations, integer=True, owner="RNNTrainer.train")
        check_positive("sample_every", sample_every, integer=True, owner="RNNTrainer.train")
        history = self.history
        if history.unigram_perplexity is None:
            history.unigram_perplexity = self.unigram_perplexity()
        with on_device(self.model.device):
            if self.model.device != "cpu":
                return self._train_on_device(int(num_iterations), sample_every)
            model, optim = self.model, self.optim
            last = self.iteration + int(num_iterations)
            try:
                while self.iteration < last:
                    ids = self.batch_ids(self.iteration)
                    loss = model.single_step(model.inputs(ids[:, :-1]),
                                             model.targets(ids[:, 1:]))
                    if not math.isfinite(loss):
                        raise TrainingDivergedError(
                            f"RNNTrainer.train: the loss became {loss} at iteration "
                            f"{self.iteration + 1} (lr {optim.lr}); try a smaller learning "
                            f"rate or gradient clipping (clip_norm=5)", history)
                    optim.step()
                    self.iteration += 1
                    history.iterations.append(self.iteration)
                    history.losses.append(loss)
                    if self.iteration % sample_every == 0 or self.iteration == last:
                        self._evaluate()
            except KeyboardInterrupt:
                history.interrupted = True
                if self.verbose:
                    self.print_fn(f"interrupted at iteration {self.iteration}")
            return history

    def _train_on_device(self, num_iterations: int, sample_every: int) -> TextHistory:
        """``train`` on a device: the text's ids are there (uploaded once), each batch and its
        one-hot rows are made there, and the losses stay there until the next evaluation, which
        reads them in one transfer (a non-finite one then stops the run, naming its
        iteration); an iteration reads nothing back and uploads nothing."""
        from .train import TrainingDivergedError

        model, optim, history = self.model, self.optim, self.history
        step = model.single_step
        if type(model).single_step is RNNModel.single_step \
                and type(model).train_batch is RNNModel.train_batch:
            # the ids come from the vocabulary, in range by construction: no per-batch checks
            def step(X, y):
                return model._train_batch_checked(X, y, read=False)
        pending: list = []

        def read_pending() -> None:
            if not pending:
                return
            losses = [loss for _, loss in pending]
            if all(is_array(loss) for loss in losses):
                losses = to_host(np.stack(losses)).tolist()
            for (iteration, _), loss in zip(pending, losses):
                loss = float(loss)
                if not math.isfinite(loss):
                    pending.clear()
                    raise TrainingDivergedError(
                        f"RNNTrainer.train: the loss became {loss} at iteration {iteration} "
                        f"(lr {optim.lr}; on a device the losses are read at each evaluation, "
                        f"so the parameters went on for up to sample_every={sample_every} "
                        f"iterations); try a smaller learning rate or gradient clipping "
                        f"(clip_norm=5)", history)
                history.iterations.append(iteration)
                history.losses.append(loss)
            pending.clear()

        last = self.iteration + num_iterations
        ids_layer = model.layers[0] if hasattr(model.layers[0], "check_ids") else None
        if ids_layer is not None:  # ids from the vocabulary: in range by construction
            ids_layer.ids_checked = True
        model._inputs_checked = True  # one-hot rows or ids of the text: finite by construction
        try:
            while self.iteration < last:
                ids = self._device_batch_ids(self.iteration)
                loss = step(model.inputs(ids[:, :-1]), model.targets(ids[:, 1:]))
                optim.step()
                self.iteration += 1
                pending.append((self.iteration, loss))
                if self.iteration % sample_every == 0 or self.iteration == last:
                    read_pending()
                    self._evaluate()
        except KeyboardInterrupt:
            read_pending()
            history.interrupted = True
            if self.verbose:
                self.print_fn(f"interrupted at iteration {self.iteration}")
        finally:
            if ids_layer is not None:
                ids_layer.ids_checked = False
            model._inputs_checked = False
        return history

    def _evaluate(self) -> None:
        history = self.history
        perplexity = self.validation_perplexity()
        # as the book: start from the character where the walk through the text stands
        prompt = self.idx_to_char[int(self.batch_ids(self.iteration)[0, 0])]
        text = self.sample(prompt=prompt)
        history.eval_iterations.append(self.iteration)
        history.val_perplexity.append(perplexity)
        history.samples.append(text)
        if self.verbose:
            window = history.losses[-100:]
            which = "validation" if self.validation_text else "training"
            self.print_fn(f"iteration {self.iteration}: loss {sum(window) / len(window):.3f} "
                          f"(mean of the last {len(window)}), {which} perplexity "
                          f"{perplexity:.2f} (unigram baseline {history.unigram_perplexity:.2f})")
            self.print_fn(prompt + text)


class RNNTrainer(TextTraining, TextBatches, TextMeasures):
    """Trains an ``RNNModel`` on a text file (the book's) or on ``text=...``, sampling as it goes.

    The vocabulary is the text's distinct characters, sorted (the model's own when it has one,
    e.g. after ``RNNModel.load``). The last ``validation_fraction`` of the text is held out.
    Batches walk the training text: row ``b`` of the batch starts at ``b / batch_size`` of the
    way through it and every iteration moves each row on by ``sequence_length`` characters
    (wrapping round), so each iteration trains on ``batch_size`` different places and a few
    hundred iterations cover the text. ``optim`` is any dlscratch optimizer.
    """

    def __init__(self, text_file: str | os.PathLike | None = None, model: RNNModel | None = None,
                 optim: Optimizer | None = None, batch_size: int = 32, *,
                 text: str | None = None, validation_fraction: float = 0.1, seed: int = 0,
                 sample_length: int = 200, temperature: float = 1.0, verbose: bool = True,
                 print_fn: Callable[[str], None] = print) -> None:
        owner = "RNNTrainer"
        text = _checked_trainer_arguments(text_file, text, model, optim, batch_size,
                                          validation_fraction, sample_length, temperature, seed)
        if model.vocabulary is None:
            vocabulary = build_vocabulary(text)
            if len(vocabulary) != model.vocab_size:
                raise ValueError(f"{owner}: the text has {len(vocabulary)} distinct characters, "
                                 f"but the model was built with vocab_size={model.vocab_size}; "
                                 f"expected vocab_size={len(vocabulary)} (and output_size="
                                 f"{len(vocabulary)} in the last layer)")
            model.vocabulary = vocabulary
        self.data = text
        self.model = model
        self.chars = model.vocabulary
        self.vocab_size = len(self.chars)
        self.char_to_idx = {ch: i for i, ch in enumerate(self.chars)}
        self.idx_to_char = dict(enumerate(self.chars))
        self.ids = model.encode(text, "text", owner)
        self.sequence_length = model.sequence_length
        self.batch_size = int(batch_size)
        self.optim = optim
        self.optim.model = model  # the book's name
        self.optim.net = model
        self.seed = int(seed)
        self.sample_length = int(sample_length)
        self.temperature = float(temperature)
        self.verbose = verbose
        self.print_fn = print_fn

        self._hold_out(text, validation_fraction)
        self.iteration = 0
        self.history = TextHistory()
        self._unigram: float | None = None
        self._sample_rng = np.random.default_rng(self.seed)

    def _hold_out(self, text: str, validation_fraction: float) -> None:
        """Keep the last ``validation_fraction`` of the text for validation; refuse a split
        that leaves too little on either side."""
        owner = "RNNTrainer"
        n_val = int(len(text) * validation_fraction)
        if validation_fraction > 0 and n_val < 2:
            raise ValueError(f"{owner}: validation_fraction={validation_fraction} of a text of "
                             f"{len(text)} characters holds out {n_val}; expected at least 2 "
                             f"(a longer text, or validation_fraction=0 for none)")
        self.train_text = text[:len(text) - n_val]
        self.validation_text = text[len(text) - n_val:]
        self.train_ids = self.ids[:len(self.train_text)]
        T = self.sequence_length
        if len(self.train_ids) < T + 1:
            held = f" after holding out {n_val} for validation" if n_val else ""
            raise ValueError(f"{owner}: sequence_length={T} is longer than the text: it holds "
                             f"{len(self.train_ids)} training characters{held}, so sequences "
                             f"of at most {len(self.train_ids) - 1} (each needs one more "
                             f"character as its last target); expected a longer text or a "
                             f"shorter sequence_length")

    def save(self, path: str | os.PathLike) -> None:
        """Save the model with its vocabulary (``RNNModel.load`` reads it back)."""
        self.model.save(path)
