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
# # Chapter 4: extensions
#
# The book's chapter 4 ladder on MNIST, rung by rung: squared error on sigmoid outputs, then
# softmax cross-entropy, momentum, learning-rate decay, Glorot initialisation and dropout. On
# MNIST-5k (4,000 training and 1,000 test digits, offline) and ten epochs a rung instead of
# the book's 50, to run in well under a minute on two cores; the accuracies are below the
# book's, which trains on 60,000 digits.

# %%
import matplotlib.pyplot as plt
import numpy as np

from dlscratch import activations, layers, losses, network, optimizers, train
from dlscratch.callbacks import LambdaCallback
from dlscratch.datasets import mnist_5k_split, one_hot

X_train, y_train, X_test, y_test = mnist_5k_split()
train_labels, test_labels = one_hot(y_train, 10), one_hot(y_test, 10)
mean, std = X_train.mean(), X_train.std()   # the book scales globally, not pixel by pixel
X_train, X_test = (X_train - mean) / std, (X_test - mean) / std

figure, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for digit, ax in enumerate(axes):
    ax.imshow(X_train[np.argmax(y_train == digit)].reshape(28, 28), cmap="gray_r")
    ax.set_title(str(digit))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## The ladder
#
# Every rung is the book's 89-neuron hidden layer (tanh) and ten outputs, seeded with the
# book's seed, trained with batches of 60.

# %%
def rung(output_activation, loss, optimizer, weight_init="standard", dropout=1.0):
    net = network.NeuralNetwork(
        layers=[layers.Dense(neurons=89, activation=activations.Tanh(),
                             weight_init=weight_init, dropout=dropout),
                layers.Dense(neurons=10, activation=output_activation,
                             weight_init=weight_init)],
        loss=loss, seed=20190119)
    curve = []  # the test accuracy after every epoch, whatever the loss

    def measure(trainer, epoch, logs):
        curve.append(float(np.mean(net.predict(X_test).argmax(axis=1) == y_test)))

    history = train.Trainer(net, optimizer).fit(
        X_train, train_labels, X_test, test_labels, epochs=10, eval_every=1,
        seed=20190119, batch_size=60, early_stopping=False, verbose=False,
        callbacks=[LambdaCallback(on_epoch_end=measure)])
    return net, history, curve


ladder = {
    "MSE, sigmoid outputs": lambda: rung(activations.Sigmoid(), losses.MeanSquaredError(),
                                         optimizers.SGD(0.1)),
    "softmax cross-entropy": lambda: rung(activations.Linear(), losses.SoftmaxCrossEntropy(),
                                          optimizers.SGD(0.1)),
    "+ momentum": lambda: rung(activations.Linear(), losses.SoftmaxCrossEntropy(),
                               optimizers.SGDMomentum(0.1, momentum=0.9)),
    "+ exponential decay": lambda: rung(
        activations.Linear(), losses.SoftmaxCrossEntropy(),
        optimizers.SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type="exponential")),
    "+ Glorot init": lambda: rung(
        activations.Linear(), losses.SoftmaxCrossEntropy(),
        optimizers.SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type="exponential"),
        weight_init="glorot"),
    "+ dropout 0.8": lambda: rung(
        activations.Linear(), losses.SoftmaxCrossEntropy(),
        optimizers.SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type="exponential"),
        weight_init="glorot", dropout=0.8),
}
results = {}
for title, make in ladder.items():
    results[title] = make()
    print(f"{title:24} test accuracy {results[title][2][-1]:.1%}")

# %% [markdown]
# ## What each rung gave
#
# Left: the test accuracy at the end of every rung. Right: the learning curves (the test
# accuracy after every epoch); squared error on sigmoid outputs is the slow one.

# %%
figure, (bars, curves) = plt.subplots(1, 2, figsize=(12, 4))
titles = list(results)
bars.barh(titles[::-1], [100 * results[t][2][-1] for t in titles[::-1]], color="tab:blue")
bars.set_xlabel("test accuracy (%)")
bars.set_xlim(0, 100)
for title, (_, _, curve) in results.items():
    curves.plot(range(1, len(curve) + 1), [100 * a for a in curve], marker=".", label=title)
curves.set_xlabel("epoch")
curves.set_ylabel("test accuracy (%)")
curves.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The learning rate under exponential decay
#
# `SGDMomentum(0.2, final_lr=0.05, decay_type="exponential")` multiplies the learning rate by
# the same factor after every epoch, from 0.2 to 0.05 at the last; the history records it.

# %%
history = results["+ exponential decay"][1]
plt.figure(figsize=(5, 3))
plt.plot(range(1, len(history.lr) + 1), history.lr, marker="o")
plt.xlabel("epoch")
plt.ylabel("learning rate")
plt.show()
