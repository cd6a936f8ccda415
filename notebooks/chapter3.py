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
# # Chapter 3: deep learning from scratch
#
# *Deep Learning from Scratch*, chapter 3, run beside the book with dlscratch: the book's
# classes (`Operation`, `ParamOperation`, `WeightMultiply`, `BiasAdd`, `Sigmoid`, `Layer`,
# `Dense`, `Loss`, `NeuralNetwork`, `Optimizer`, `Trainer`) and its three models on the Boston
# housing data (offline). About ten seconds on two cores.

# %%
import matplotlib.pyplot as plt
import numpy as np

from dlscratch.activations import Linear, Sigmoid
from dlscratch.datasets import load_boston, standardize, train_test_split
from dlscratch.layers import Dense
from dlscratch.losses import MeanSquaredError
from dlscratch.network import NeuralNetwork
from dlscratch.optimizers import SGD
from dlscratch.train import Trainer

# %% [markdown]
# ## The sigmoid and its derivative
#
# `Sigmoid` is an `Operation`: `forward` computes the function, `backward` multiplies the
# gradient that comes back by the function's derivative. Here both come from the library's own
# passes, the derivative as `backward` of a gradient of ones.

# %%
x = np.linspace(-6, 6, 241).reshape(-1, 1)
sigmoid = Sigmoid()
s = sigmoid.forward(x)
ds = sigmoid.backward(np.ones_like(x))
plt.figure(figsize=(6, 3.5))
plt.plot(x, s, label="sigmoid(x)")
plt.plot(x, ds, label="its derivative s (1 - s)")
plt.axhline(0, color="gray", linewidth=0.5)
plt.legend()
plt.title("Sigmoid.forward and Sigmoid.backward")
plt.show()

# %% [markdown]
# ## The data
#
# 506 houses, 13 features, prices in $1000s; standardised with the training rows' statistics
# and split 70 / 30 with the book's `random_state`.

# %%
X, y = load_boston()
X_train, X_test, y_train, y_test = train_test_split(X, y.reshape(-1, 1), test_size=0.3,
                                                    seed=80718)
X_train, X_test = standardize(X_train, X_test)
print(X_train.shape, X_test.shape, y_train.shape)

# %% [markdown]
# ## The book's three models
#
# A linear regression, a network with one hidden layer of 13 sigmoid neurons, and one with two.

# %%
def book_model(hidden_layers):
    return NeuralNetwork(
        layers=[*(Dense(neurons=13, activation=Sigmoid()) for _ in range(hidden_layers)),
                Dense(neurons=1, activation=Linear())],
        loss=MeanSquaredError(),
        seed=20190501)


models = {"linear regression": book_model(0), "neural network": book_model(1),
          "deep learning": book_model(2)}
histories = {}
for name, model in models.items():
    print(f"--- {name}")
    trainer = Trainer(model, SGD(lr=0.01))
    histories[name] = trainer.fit(X_train, y_train, X_test, y_test, epochs=50, eval_every=10,
                                  seed=20190501)

# %% [markdown]
# ## The book's metrics, and a picture of them

# %%
def rmse(model):
    return float(np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)))


def mae(model):
    return float(np.mean(np.abs(model.predict(X_test) - y_test)))


for name, model in models.items():
    print(f"{name:18} MAE {mae(model):.2f}   RMSE {rmse(model):.2f}")

figure, (curves, scatter) = plt.subplots(1, 2, figsize=(11, 4))
for name, history in histories.items():
    curves.plot(history.eval_epochs, history.val_loss, marker="o", label=name)
curves.set_xlabel("epoch")
curves.set_ylabel("validation loss (mean squared error)")
curves.set_title("Validation loss, every 10 epochs")
curves.legend()
best = models["deep learning"]
scatter.scatter(y_test, best.predict(X_test), s=10)
scatter.plot([5, 50], [5, 50], color="gray", linestyle="--")
scatter.set_xlabel("actual price ($1000s)")
scatter.set_ylabel("predicted")
scatter.set_title("deep learning: predicted against actual")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## One training step by hand
#
# `Trainer.fit` repeats this: forward, loss, backward, update. The gradients have the shapes
# of the parameters they belong to.

# %%
net = book_model(1)
X_batch, y_batch = X_train[:32], y_train[:32]
prediction = net.forward(X_batch)
loss = net.loss.forward(prediction, y_batch)
net.backward(net.loss.backward())
for (name, param), grad in zip(net.named_params(), net.param_grads()):
    print(f"{name:10} {param.shape} gradient {grad.shape}")
optimizer = SGD(lr=0.01)
optimizer.net = net
optimizer.step()
print(f"loss {loss:.1f} -> {net.forward_loss(X_batch, y_batch):.1f} after one step")
