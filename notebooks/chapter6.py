# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 6: recurrent neural networks
#
# A character-level language model, as in the book: an `RNNModel` of one `LSTMLayer` learns
# to predict the next character of a text, and writes text of its own as it learns. The text
# is the docstrings of Python's standard library (offline). The book trains a 256-unit LSTM for
# 1,000 iterations; here a 64-unit one trains for 200, to run in well under a minute on two
# cores, and already writes words. Then the book's own cell 24, a vanilla RNN with the book's
# learning rate, on the book's summed loss and on the mean.

# %%
import matplotlib.pyplot as plt

from dlscratch import SGD, Adam, LSTMLayer, RNNLayer, RNNModel, RNNTrainer, SoftmaxCrossEntropy
from dlscratch.text import build_vocabulary, stdlib_docstrings

text = stdlib_docstrings(max_chars=150_000)
vocabulary = build_vocabulary(text)
print(f"{len(text):,} characters, {len(vocabulary)} distinct")
print(text[:300])

# %% [markdown]
# ## The model and the trainer
#
# `vocab_size` is the number of distinct characters; the model reads sequences of 25
# characters and predicts each next one. The trainer holds out the last tenth of the text and
# prints the validation perplexity and a sample every 50 iterations.

# %%
model = RNNModel(layers=[LSTMLayer(hidden_size=64, output_size=len(vocabulary))],
                 vocab_size=len(vocabulary), sequence_length=25, loss=SoftmaxCrossEntropy())
trainer = RNNTrainer(text=text, model=model, optim=Adam(lr=0.01, clip_norm=5), batch_size=32,
                     sample_length=120, temperature=0.7)
history = trainer.train(200, sample_every=50)

# %% [markdown]
# ## The learning curve
#
# The loss of every iteration (and its moving average, as the book plots it), and the
# validation perplexity against the unigram baseline: how surprised a model is that only knows
# how often each character occurs.

# %%
figure, (losses, perplexity) = plt.subplots(1, 2, figsize=(11, 3.8))
losses.plot(history.iterations, history.losses, alpha=0.4, label="loss")
losses.plot(history.iterations, history.moving_average(20), label="moving average (20)")
losses.set_xlabel("iteration")
losses.set_ylabel("cross-entropy (nats per character)")
losses.legend()
perplexity.plot(history.eval_iterations, history.val_perplexity, marker="o",
                label="LSTM, validation")
perplexity.axhline(history.unigram_perplexity, color="gray", linestyle="--",
                   label="unigram baseline")
perplexity.set_xlabel("iteration")
perplexity.set_ylabel("perplexity")
perplexity.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The book's own hyperparameters, on the summed loss
#
# The book's cell 24 trains a vanilla `RNNLayer(256)` with `SGD(lr=0.001,
# gradient_clipping=True)` on sequences of 10 characters in batches of 32 for 1,000
# iterations. Its loss is the *sum* over batch, time and characters, and that learning rate is
# sized for the sum. `RNNModel` trains on the same summed gradient by default
# (`reduction="sum"`) and reports the mean per character; trained on the mean instead, the same
# learning rate acts 32 x 10 = 320 times smaller. Both, with the book's hyperparameters as
# printed (a few seconds each):

# %%
runs = {}
for reduction in ("sum", "mean"):
    book_model = RNNModel(layers=[RNNLayer(hidden_size=256, output_size=len(vocabulary))],
                          vocab_size=len(vocabulary), sequence_length=10,
                          loss=SoftmaxCrossEntropy(), reduction=reduction)
    book_trainer = RNNTrainer(text=text, model=book_model,
                              optim=SGD(lr=0.001, gradient_clipping=True), batch_size=32,
                              verbose=False)
    runs[reduction] = book_trainer.train(1000, sample_every=100)
    print(f"reduction={reduction!r}: validation perplexity "
          f"{runs[reduction].val_perplexity[-1]:.2f} after 1,000 iterations")
print(f"unigram baseline: {runs['sum'].unigram_perplexity:.2f}")

figure, axis = plt.subplots(figsize=(6, 3.8))
for reduction, label in (("sum", "summed loss (the book's)"), ("mean", "mean loss")):
    axis.plot(runs[reduction].eval_iterations, runs[reduction].val_perplexity, marker="o",
              label=f"cell 24, {label}")
axis.axhline(runs["sum"].unigram_perplexity, color="gray", linestyle="--",
             label="unigram baseline")
axis.set_xlabel("iteration")
axis.set_ylabel("validation perplexity")
axis.set_yscale("log")
axis.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Sampling at different temperatures
#
# Low temperatures pick the likeliest characters (repetitive), high ones take more risks.

# %%
for temperature in (0.3, 0.7, 1.0):
    print(f"--- temperature {temperature}")
    print(trainer.sample(160, prompt="Return the ", temperature=temperature, seed=1))
