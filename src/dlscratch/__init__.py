"""dlscratch: the network of "Deep Learning from Scratch", from scratch in NumPy."""

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

__version__ = "0.1.0"


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
