"""Deep Learning from Scratch, chapter 3: "Deep Learning from Scratch" on the Boston data.

The book's code with its imports pointed at dlscratch. The one other change: scikit-learn no
longer ships ``load_boston``, so the data come from ``dlscratch.datasets.load_boston`` (the
same 506 houses, bundled with mlxtend, offline).

Run:  python examples/chapter3_boston.py
(DLSCRATCH_EXAMPLE_EPOCHS=N trains for N epochs instead of the book's 50.)
"""

import os

import numpy as np
from numpy import ndarray

from dlscratch.activations import Linear, Sigmoid
from dlscratch.datasets import load_boston
from dlscratch.layers import Dense
from dlscratch.losses import MeanSquaredError
from dlscratch.network import NeuralNetwork
from dlscratch.optimizers import SGD
from dlscratch.train import Trainer

EPOCHS = int(os.environ.get("DLSCRATCH_EXAMPLE_EPOCHS", "50"))


# Evaluation metrics

def mae(y_true: ndarray, y_pred: ndarray):
    return np.mean(np.abs(y_true - y_pred))


def rmse(y_true: ndarray, y_pred: ndarray):
    return np.sqrt(np.mean(np.power(y_true - y_pred, 2)))


def eval_regression_model(model: NeuralNetwork,
                          X_test: ndarray,
                          y_test: ndarray):
    preds = model.forward(X_test)
    preds = preds.reshape(-1, 1)
    print("Mean absolute error: {:.2f}".format(mae(preds, y_test)))  # noqa: UP032
    print()
    print("Root mean squared error {:.2f}".format(rmse(preds, y_test)))  # noqa: UP032


# The three models

lr = NeuralNetwork(
    layers=[Dense(neurons=1,
                  activation=Linear())],
    loss=MeanSquaredError(),
    seed=20190501
)

nn = NeuralNetwork(
    layers=[Dense(neurons=13,
                  activation=Sigmoid()),
            Dense(neurons=1,
                  activation=Linear())],
    loss=MeanSquaredError(),
    seed=20190501
)

dl = NeuralNetwork(
    layers=[Dense(neurons=13,
                  activation=Sigmoid()),
            Dense(neurons=13,
                  activation=Sigmoid()),
            Dense(neurons=1,
                  activation=Linear())],
    loss=MeanSquaredError(),
    seed=20190501
)


# Read in the data, train-test split etc.

data, target = load_boston()  # the book: boston = load_boston(); data = boston.data; ...

# Scaling the data
from sklearn.preprocessing import StandardScaler  # noqa: E402

s = StandardScaler()
data = s.fit_transform(data)


def to_2d_np(a: ndarray,
             type: str = "col") -> ndarray:
    '''
    Turns a 1D Tensor into 2D
    '''

    assert a.ndim == 1, \
        "Input tensors must be 1 dimensional"

    if type == "col":
        return a.reshape(-1, 1)
    elif type == "row":
        return a.reshape(1, -1)


from sklearn.model_selection import train_test_split  # noqa: E402

X_train, X_test, y_train, y_test = train_test_split(data, target, test_size=0.3,
                                                    random_state=80718)

# make target 2d array
y_train, y_test = to_2d_np(y_train), to_2d_np(y_test)


# Train the three models

trainer = Trainer(lr, SGD(lr=0.01))

trainer.fit(X_train, y_train, X_test, y_test,
            epochs=EPOCHS,
            eval_every=10,
            seed=20190501)
print()
eval_regression_model(lr, X_test, y_test)
print()

trainer = Trainer(nn, SGD(lr=0.01))

trainer.fit(X_train, y_train, X_test, y_test,
            epochs=EPOCHS,
            eval_every=10,
            seed=20190501)
print()
eval_regression_model(nn, X_test, y_test)
print()

trainer = Trainer(dl, SGD(lr=0.01))

trainer.fit(X_train, y_train, X_test, y_test,
            epochs=EPOCHS,
            eval_every=10,
            seed=20190501)
print()
eval_regression_model(dl, X_test, y_test)
