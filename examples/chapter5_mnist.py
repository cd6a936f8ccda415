"""Deep Learning from Scratch, chapter 5: "Convolutional Neural Networks", the CNN on MNIST.

The book's code (its chapter 5 notebook) with its imports pointed at dlscratch. The book loads
the full MNIST with ``mnist.load()``; this script uses MNIST-5k (4,000 training and 1,000 test
images, offline), or the full MNIST with ``--full`` when it is cached
(``dlscratch.datasets.load_mnist()`` downloads it once). One more change: the notebook's last
cell passes the flat ``X_test`` to ``calc_accuracy_model``, which only worked there because the
cell ran out of order; the convolutional network needs ``X_test_conv``.

The book reports 89.37% after one epoch on the full MNIST (1,000 batches of 60); MNIST-5k gives
the network 67 batches.

Run:  python examples/chapter5_mnist.py [--full]
(DLSCRATCH_EXAMPLE_BATCHES=N trains on the first N batches only, for a quick check.)
"""

import os
import sys

import numpy as np

from dlscratch.activations import Linear, Tanh
from dlscratch.datasets import load_mnist, mnist_5k_split
from dlscratch.layers import Conv2D, Dense
from dlscratch.losses import SoftmaxCrossEntropy
from dlscratch.network import NeuralNetwork
from dlscratch.optimizers import SGDMomentum
from dlscratch.train import Trainer

if "--full" in sys.argv[1:]:
    X_train, y_train, X_test, y_test = load_mnist(download=False)
else:
    X_train, y_train, X_test, y_test = mnist_5k_split()
X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
if os.environ.get("DLSCRATCH_EXAMPLE_BATCHES"):
    keep = 60 * int(os.environ["DLSCRATCH_EXAMPLE_BATCHES"])
    X_train, y_train = X_train[:keep], y_train[:keep]

X_train, X_test = X_train - np.mean(X_train), X_test - np.mean(X_train)
X_train, X_test = X_train / np.std(X_train), X_test / np.std(X_train)

X_train_conv, X_test_conv = X_train.reshape(-1, 1, 28, 28), X_test.reshape(-1, 1, 28, 28)

num_labels = len(y_train)
train_labels = np.zeros((num_labels, 10))
for i in range(num_labels):
    train_labels[i][y_train[i]] = 1

num_labels = len(y_test)
test_labels = np.zeros((num_labels, 10))
for i in range(num_labels):
    test_labels[i][y_test[i]] = 1


def calc_accuracy_model(model, test_set):
    return print(f'''The model validation accuracy is: {np.equal(np.argmax(model.forward(test_set, inference=True), axis=1), y_test).sum() * 100.0 / test_set.shape[0]:.2f}%''')  # noqa: E501


model = NeuralNetwork(
    layers=[Conv2D(out_channels=16,
                   param_size=5,
                   dropout=0.8,
                   weight_init="glorot",
                   flatten=True,
                   activation=Tanh()),
            Dense(neurons=10,
                  activation=Linear())],
    loss=SoftmaxCrossEntropy(),
    seed=20190402)

trainer = Trainer(model, SGDMomentum(lr=0.1, momentum=0.9))
trainer.fit(X_train_conv, train_labels, X_test_conv, test_labels,
            epochs=1,
            eval_every=1,
            seed=20190402,
            batch_size=60,
            conv_testing=True)

calc_accuracy_model(model, X_test_conv)
