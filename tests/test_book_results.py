"""The book's chapter 3 experiment, run for real: each network within 10% of the book's RMSE."""

import numpy as np
import pytest

from dlscratch.activations import Linear, Sigmoid
from dlscratch.layers import Dense
from dlscratch.losses import MeanSquaredError
from dlscratch.network import NeuralNetwork
from dlscratch.optimizers import SGD
from dlscratch.train import Trainer

BOOK_SEED = 20190501
BOOK_RMSE = {"linear": 5.01, "one hidden layer": 4.03, "two hidden layers": 3.83}
HIDDEN = {"linear": [], "one hidden layer": [13], "two hidden layers": [13, 13]}


@pytest.fixture(scope="module")
def boston_split():
    model_selection = pytest.importorskip("sklearn.model_selection")
    from dlscratch.datasets import load_boston

    X, y = load_boston()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X, y, test_size=0.3, random_state=80718)
    return X_train, y_train.reshape(-1, 1), X_test, y_test.reshape(-1, 1)


@pytest.mark.parametrize("network", list(BOOK_RMSE))
def test_chapter_three_network_with_the_books_seed_is_within_ten_percent(boston_split, network):
    X_train, y_train, X_test, y_test = boston_split
    net = NeuralNetwork(
        layers=[Dense(neurons=n, activation=Sigmoid()) for n in HIDDEN[network]]
        + [Dense(neurons=1, activation=Linear())],
        loss=MeanSquaredError(), seed=BOOK_SEED)
    Trainer(net, SGD(lr=0.01)).fit(X_train, y_train, X_test, y_test, epochs=50, eval_every=10,
                                   seed=BOOK_SEED, verbose=False)
    rmse = float(np.sqrt(np.mean((net.predict(X_test) - y_test) ** 2)))
    assert abs(rmse - BOOK_RMSE[network]) <= 0.10 * BOOK_RMSE[network], rmse
