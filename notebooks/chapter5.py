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
# # Chapter 5: convolutional neural networks
#
# The book's convolutional network, one `Conv2D` layer of 16 5x5 filters (tanh, dropout 0.8,
# Glorot initialisation) and a dense layer of ten outputs, trained for one epoch with SGD and
# momentum, as in the book. On MNIST-5k (4,000 training and 1,000 test digits, offline): 67
# batches of 60 against the book's 1,000, so about 83% where the book reaches 89%. Then what
# it learned: its filters, what they see in a digit, and the digits it misses.

# %%
import matplotlib.pyplot as plt
import numpy as np

from dlscratch.activations import Linear, Tanh
from dlscratch.datasets import mnist_5k_split, one_hot
from dlscratch.layers import Conv2D, Dense
from dlscratch.losses import SoftmaxCrossEntropy
from dlscratch.network import NeuralNetwork
from dlscratch.optimizers import SGDMomentum
from dlscratch.train import Trainer

X_train, y_train, X_test, y_test = mnist_5k_split()
mean, std = X_train.mean(), X_train.std()
X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
train_labels, test_labels = one_hot(y_train, 10), one_hot(y_test, 10)
X_train_conv, X_test_conv = X_train.reshape(-1, 1, 28, 28), X_test.reshape(-1, 1, 28, 28)
print(X_train_conv.shape, X_test_conv.shape)

# %% [markdown]
# ## The book's network, one epoch

# %%
model = NeuralNetwork(
    layers=[Conv2D(out_channels=16, param_size=5, dropout=0.8, weight_init="glorot",
                   flatten=True, activation=Tanh()),
            Dense(neurons=10, activation=Linear())],
    loss=SoftmaxCrossEntropy(),
    seed=20190402)

trainer = Trainer(model, SGDMomentum(lr=0.1, momentum=0.9))
trainer.fit(X_train_conv, train_labels, X_test_conv, test_labels,
            epochs=1, eval_every=1, seed=20190402, batch_size=60,
            conv_testing=True)
predicted = model.predict(X_test_conv).argmax(axis=1)
print(f"The model validation accuracy is: {np.mean(predicted == y_test):.2%}")
print(model.summary())

# %% [markdown]
# ## Its 16 learned filters
#
# The weights of the convolution, `(out_channels, in_channels, 5, 5)`: red adds, blue
# subtracts.

# %%
filters = model.layers[0].params[0][:, 0]
figure, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for index, ax in enumerate(axes.ravel()):
    limit = np.abs(filters[index]).max()
    ax.imshow(filters[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"filter {index}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## What the filters see in one digit
#
# The convolution's output for the first test digit (before the tanh): one 28x28 feature map
# per filter, the padding `k // 2` keeping the size.

# %%
from dlscratch.conv import Conv2DOperation  # noqa: E402

weights = model.layers[0].params[0]
maps = Conv2DOperation(weights).forward(X_test_conv[:1])[0]
figure, axes = plt.subplots(2, 9, figsize=(12, 3))
axes[0, 0].imshow(X_test_conv[0, 0], cmap="gray_r")
axes[0, 0].set_title(f"digit {y_test[0]}", fontsize=8)
axes[1, 0].axis("off")
for index in range(16):
    ax = axes.ravel()[index + 1 + (index >= 8)]
    ax.imshow(maps[index], cmap="viridis")
    ax.set_title(f"map {index}", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# ## The digits it misses

# %%
wrong = np.flatnonzero(predicted != y_test)
shown = wrong[:16]
figure, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, index in zip(axes.ravel(), shown):
    ax.imshow(X_test_conv[index, 0], cmap="gray_r")
    ax.set_title(f"{y_test[index]} -> {predicted[index]}", fontsize=9)
for ax in axes.ravel():
    ax.axis("off")
figure.suptitle(f"{len(wrong)} of {len(y_test)} test digits missed; the first {len(shown)} "
                f"shown (label -> prediction)")
plt.show()
