"""Deep Learning from Scratch, chapter 4: "Extensions", the experiments on MNIST.

The book's code with its imports pointed at dlscratch. The book loads the full MNIST with
``mnist.load()``; this script uses MNIST-5k (4,000 training and 1,000 test images, offline),
or the full MNIST with ``--full`` when it is cached (``dlscratch.datasets.load_mnist()``
downloads it once). On MNIST-5k the accuracies are lower than the book's: an epoch is 67
batches instead of 1,000.

Run:  python examples/chapter4_mnist.py [--full]
(DLSCRATCH_EXAMPLE_EPOCHS=N trains for N epochs instead of the book's 50.)
"""

import os
import sys

import numpy as np

from dlscratch.activations import Linear, Sigmoid, Tanh
from dlscratch.datasets import load_mnist, mnist_5k_split
from dlscratch.layers import Dense
from dlscratch.losses import MeanSquaredError, SoftmaxCrossEntropy
from dlscratch.network import NeuralNetwork
from dlscratch.optimizers import SGD, SGDMomentum
from dlscratch.train import Trainer

EPOCHS = int(os.environ.get("DLSCRATCH_EXAMPLE_EPOCHS", "50"))

if "--full" in sys.argv[1:]:
    X_train, y_train, X_test, y_test = load_mnist(download=False)
else:
    X_train, y_train, X_test, y_test = mnist_5k_split()
X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)

num_labels = len(y_train)
train_labels = np.zeros((num_labels, 10))
for i in range(num_labels):
    train_labels[i][y_train[i]] = 1

num_labels = len(y_test)
test_labels = np.zeros((num_labels, 10))
for i in range(num_labels):
    test_labels[i][y_test[i]] = 1


# Data scaled to mean 0, variance 1 (with the training set's statistics)

X_train, X_test = X_train - np.mean(X_train), X_test - np.mean(X_train)
X_train, X_test = X_train / np.std(X_train), X_test / np.std(X_train)


def calc_accuracy_model(model, test_set):
    return print(f'''The model validation accuracy is: {np.equal(np.argmax(model.forward(test_set, inference=True), axis=1), y_test).sum() * 100.0 / test_set.shape[0]:.2f}%''')  # noqa: E501


def train(model, optimizer):
    """The book's call, repeated for every experiment (its notebook spells it out each time)."""
    trainer = Trainer(model, optimizer)
    trainer.fit(X_train, train_labels, X_test, test_labels,
                epochs=EPOCHS,
                eval_every=10,
                seed=20190119,
                batch_size=60)
    print()
    calc_accuracy_model(model, X_test)
    print()


print("# Mean squared error loss")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh()),
            Dense(neurons=10,
                  activation=Sigmoid())],
    loss=MeanSquaredError(normalize=False),
    seed=20190119)
train(model, SGD(0.1))

print("# Even normalizing the outputs of a classification model with MSE loss doesn't help")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh()),
            Dense(neurons=10,
                  activation=Sigmoid())],
    loss=MeanSquaredError(normalize=True),
    seed=20190119)
train(model, SGD(0.1))

print("# Softmax cross entropy")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh()),
            Dense(neurons=10,
                  activation=Linear())],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(model, SGD(0.1))

print("# SGD Momentum")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh()),
            Dense(neurons=10,
                  activation=Linear())],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(model, SGDMomentum(0.1, momentum=0.9))

print("# Learning rate decay: linear")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh()),
            Dense(neurons=10,
                  activation=Linear())],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(model, SGDMomentum(0.15, momentum=0.9, final_lr=0.05, decay_type='linear'))

print("# Learning rate decay: exponential")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh()),
            Dense(neurons=10,
                  activation=Linear())],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(model, SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type='exponential'))

print("# Changing weight init: Glorot, linear decay")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh(),
                  weight_init="glorot"),
            Dense(neurons=10,
                  activation=Linear(),
                  weight_init="glorot")],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(model, SGDMomentum(0.15, momentum=0.9, final_lr=0.05, decay_type='linear'))

print("# Changing weight init: Glorot, exponential decay")
mnist_soft = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh(),
                  weight_init="glorot"),
            Dense(neurons=10,
                  activation=Linear(),
                  weight_init="glorot")],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(mnist_soft, SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type='exponential'))

print("# Dropout")
model = NeuralNetwork(
    layers=[Dense(neurons=89,
                  activation=Tanh(),
                  weight_init="glorot",
                  dropout=0.8),
            Dense(neurons=10,
                  activation=Linear(),
                  weight_init="glorot")],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(model, SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type='exponential'))

print("# Deep learning, with dropout")
model = NeuralNetwork(
    layers=[Dense(neurons=178,
                  activation=Tanh(),
                  weight_init="glorot",
                  dropout=0.8),
            Dense(neurons=46,
                  activation=Tanh(),
                  weight_init="glorot",
                  dropout=0.8),
            Dense(neurons=10,
                  activation=Linear(),
                  weight_init="glorot")],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(model, SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type='exponential'))

print("# Deep learning, without dropout")
mnist_soft = NeuralNetwork(
    layers=[Dense(neurons=178,
                  activation=Tanh(),
                  weight_init="glorot"),
            Dense(neurons=46,
                  activation=Tanh(),
                  weight_init="glorot"),
            Dense(neurons=10,
                  activation=Linear(),
                  weight_init="glorot")],
    loss=SoftmaxCrossEntropy(),
    seed=20190119)
train(mnist_soft, SGDMomentum(0.2, momentum=0.9, final_lr=0.05, decay_type='exponential'))
