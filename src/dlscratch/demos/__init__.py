"""The book's experiments as demos: ``dlscratch demo boston``, ``mnist`` and ``cnn``.

Each demo prints a table of its results beside the book's, and writes a figure and a JSON file
(atomically) into an output folder. scikit-learn, mlxtend and matplotlib are imported only when
a demo runs, so ``import dlscratch`` stays light.
"""

from ._common import DatasetUnavailable
from .boston import boston_data, boston_experiment, boston_networks, boston_table, run_boston
from .cnn import book_network, cnn_data, cnn_experiment, cnn_table, modern_network, run_cnn
from .mnist import Step, mnist_data, mnist_experiment, mnist_ladder, mnist_table, run_mnist
from .text import run_text, text_experiment, text_table

__all__ = [
    "DatasetUnavailable",
    "boston_data", "boston_experiment", "boston_networks", "boston_table", "run_boston",
    "Step", "mnist_data", "mnist_experiment", "mnist_ladder", "mnist_table", "run_mnist",
    "book_network", "cnn_data", "cnn_experiment", "cnn_table", "modern_network", "run_cnn",
    "run_text", "text_experiment", "text_table",
]
