"""Deep Learning from Scratch, chapter 6: "Recurrent Neural Networks", the experiments.

The book's code with its imports pointed at dlscratch. The book trains on a file ``input.txt``
of 62 distinct characters in the working folder; when there is none, this script writes one
into a temporary folder (the docstrings of Python's standard library, offline, keeping their
62 most frequent characters) and works there.

Run:  python examples/chapter6_text.py
(DLSCRATCH_EXAMPLE_ITERATIONS=N trains each model for at most N iterations instead of the
book's 1,000 and 2,000.)
"""

import collections
import os
import tempfile

from dlscratch.losses import SoftmaxCrossEntropy
from dlscratch.optimizers import SGD, AdaGrad
from dlscratch.recurrent import LSTMLayer, RNNLayer
from dlscratch.text import RNNModel, RNNTrainer, stdlib_docstrings

LIMIT = int(os.environ.get("DLSCRATCH_EXAMPLE_ITERATIONS", "0"))


def iterations(book: int) -> int:
    return min(book, LIMIT) if LIMIT > 0 else book


if not os.path.exists("input.txt"):
    text = stdlib_docstrings(max_chars=400_000)
    keep = {char for char, _ in collections.Counter(text).most_common(62)}
    os.chdir(tempfile.mkdtemp(prefix="dlscratch-chapter6-"))
    with open("input.txt", "w", encoding="utf-8") as handle:
        handle.write("".join(char for char in text if char in keep))
    print(f"Wrote {os.path.abspath('input.txt')} (62 distinct characters)")

# ---------------------------------------------------------------- the book's code
layers = [RNNLayer(hidden_size=256, output_size=62)]
mod = RNNModel(layers=layers,
               vocab_size=62, sequence_length=10,
               loss=SoftmaxCrossEntropy())
optim = SGD(lr=0.001, gradient_clipping=True)
trainer = RNNTrainer('input.txt', mod, optim)
trainer.train(iterations(1000), sample_every=100)

# Single LSTM layer
layers1 = [LSTMLayer(hidden_size=256, output_size=62, weight_scale=0.01)]
mod = RNNModel(layers=layers1,
               vocab_size=62, sequence_length=25,
               loss=SoftmaxCrossEntropy())
optim = AdaGrad(lr=0.01, gradient_clipping=True)
trainer = RNNTrainer('input.txt', mod, optim, batch_size=3)
trainer.train(iterations(1000), sample_every=100)

# Three variants of multiple layers:
layers2 = [RNNLayer(hidden_size=256, output_size=128, weight_scale=0.1),
           LSTMLayer(hidden_size=256, output_size=62, weight_scale=0.01)]
mod = RNNModel(layers=layers2,
               vocab_size=62, sequence_length=25,
               loss=SoftmaxCrossEntropy())
optim = AdaGrad(lr=0.01, gradient_clipping=True)
trainer = RNNTrainer('input.txt', mod, optim, batch_size=32)
trainer.train(iterations(2000), sample_every=100)

layers2 = [LSTMLayer(hidden_size=256, output_size=128, weight_scale=0.1),
           LSTMLayer(hidden_size=256, output_size=62, weight_scale=0.01)]
mod = RNNModel(layers=layers2,
               vocab_size=62, sequence_length=25,
               loss=SoftmaxCrossEntropy())
optim = SGD(lr=0.01, gradient_clipping=True)
trainer = RNNTrainer('input.txt', mod, optim, batch_size=32)
trainer.train(iterations(2000), sample_every=100)
