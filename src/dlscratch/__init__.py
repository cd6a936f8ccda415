"""dlscratch: the network of "Deep Learning from Scratch", from scratch in NumPy.

The book's classes under the book's module names: Operation, ParamOperation (dlscratch.base),
WeightMultiply, BiasAdd (dense), Sigmoid and the other activations (activations), Layer, Dense,
Conv2D (layers), Loss, MeanSquaredError, SoftmaxCrossEntropy (losses), NeuralNetwork (network),
Optimizer, SGD, SGDMomentum, Adam (optimizers), Trainer (train); Conv2D_Op, the book's
convolution in its weight layout (conv); np_utils and mnist, the book's helpers
(dlscratch.utils); RNNModel, RNNTrainer (text). The book's code runs with only its imports
changed, in the book's positional order; the layers, losses, optimizers, the network, the
trainer and chapter 6's classes are also importable from here (from dlscratch import Dense,
RNNModel, RNNTrainer). RNNModel trains on the book's summed loss, so chapter 6's learning
rates learn as printed.

Example, five lines: the book's chapter 3 network on the Boston housing data (offline):

    from dlscratch import Dense, Linear, MeanSquaredError, NeuralNetwork, SGD, Sigmoid, Trainer
    from dlscratch.datasets import load_boston
    X, y = load_boston(); X = (X - X.mean(axis=0)) / X.std(axis=0)
    net = NeuralNetwork([Dense(13, Sigmoid()), Dense(1, Linear())], MeanSquaredError(), seed=1)
    Trainer(net, SGD(lr=0.01)).fit(X[:400], y[:400, None], X[400:], y[400:, None], epochs=50)

Where to go next:
  data       dlscratch.datasets: load_boston, mnist_5k_split (offline), load_digits,
             load_mnist and load_tiny_shakespeare (downloaded once), train_test_split, one_hot
  the book   from dlscratch.utils import mnist (the book's loader, from the cache of
             load_mnist); from dlscratch.conv import Conv2D_Op; from dlscratch import RNNLayer,
             LSTMLayer, GRULayer, RNNModel, RNNTrainer, SGD, AdaGrad, SoftmaxCrossEntropy
  demos      dlscratch demo boston | mnist | cnn | text (the book's chapters 3 to 6, offline);
             dlscratch train DATA.csv --target COLUMN (your own data); examples/ in the project
  GPU        net.to("cuda") with CuPy installed: data uploaded once, no host read per batch
  bridges    dlscratch.sklearn, dlscratch.onnx, dlscratch.torch (optional extras)
  errors     every public entry point raises ValueError/TypeError naming the argument;
             TrainingDivergedError, ModelFileError
  the site   pip install -e ".[docs]" && mkdocs serve, in the project folder: the architecture,
             a page and a notebook per chapter, where it departs from the book, the API
             reference (sources in docs/)
"""

from ._version import __version__ as __version__
from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .base import Operation, ParamOperation
from .callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint, ProgressBar
from .conv import ChannelBiasAdd, ChannelScale, Conv2D, Conv2D_Op, Conv2DOperation
from .dense import BiasAdd, WeightMultiply
from .dropout import Dropout
from .layers import Dense, Layer
from .losses import (
    BinaryCrossEntropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)
from .network import NeuralNetwork
from .normalization import BatchNorm, BatchNormalize
from .optimizers import SGD, AdaGrad, Adam, AdamW, Optimizer, RMSProp, SGDMomentum
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .recurrent import Embedding, GRULayer, LSTMLayer, RNNLayer
from .reshape import Flatten
from .schedules import (
    ConstantLR,
    CosineDecay,
    ExponentialDecay,
    LinearDecay,
    Schedule,
    StepDecay,
    WarmUp,
)
from .text import RNNModel, RNNTrainer
from .train import History, Trainer, TrainingDivergedError


def __getattr__(name: str):
    # persistence (json, zip archives, temporary files) loads on first use, not on import
    if name == "ModelFileError":
        from .persistence import ModelFileError

        return ModelFileError
    raise AttributeError(f"module 'dlscratch' has no attribute {name!r}")

__all__ = [
    "ELU", "GELU", "LeakyReLU", "Linear", "ReLU", "Sigmoid", "Softmax", "Tanh",
    "Operation", "ParamOperation", "WeightMultiply", "BiasAdd", "Dropout",
    "Layer", "Dense",
    "Conv2D", "Conv2DOperation", "Conv2D_Op", "ChannelBiasAdd", "ChannelScale", "MaxPool2D",
    "AvgPool2D", "GlobalAvgPool2D", "Flatten", "BatchNorm", "BatchNormalize",
    "RNNLayer", "LSTMLayer", "GRULayer", "Embedding", "RNNModel", "RNNTrainer",
    "Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "SoftmaxCrossEntropy",
    "BinaryCrossEntropy",
    "NeuralNetwork", "Optimizer", "SGD", "SGDMomentum", "AdaGrad", "RMSProp", "Adam", "AdamW",
    "Schedule", "ConstantLR", "LinearDecay", "ExponentialDecay", "StepDecay", "CosineDecay",
    "WarmUp",
    "Trainer", "History", "TrainingDivergedError", "ModelFileError",
    "Callback", "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "ProgressBar",
]
