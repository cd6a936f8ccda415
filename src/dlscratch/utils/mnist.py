"""The book's ``lincoln.utils.mnist``: ``load()`` returns X_train, y_train, X_test, y_test.

The arrays come from the checksummed cache of ``dlscratch.datasets.load_mnist`` (the folder
``$DLSCRATCH_DATA``, else ``~/.cache/dlscratch``): 60,000 and 10,000 rows of 784 uint8 pixels
and int64 labels 0-9, as the book's pickle holds them. ``load()`` never downloads; run
``download_mnist()`` (or ``init()``) once, or the command ``DOWNLOAD_COMMAND``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DOWNLOAD_COMMAND", "download_mnist", "init", "load"]

#: The shell command that fills the cache ``load()`` reads.
DOWNLOAD_COMMAND = 'python -c "from dlscratch.utils import mnist; mnist.download_mnist()"'


class MNISTNotCachedError(FileNotFoundError):
    """MNIST is not (or not intact) in the cache folder; the message names the download."""


def download_mnist() -> None:
    """Download the four MNIST files into the cache (once; verified by checksum)."""
    from ..datasets import load_mnist

    load_mnist(download=True)
    print("Save complete.")


def init() -> None:
    """The book's older name for ``download_mnist``."""
    download_mnist()


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X_train (60000, 784) uint8, y_train (60000,) int64, X_test (10000, 784), y_test."""
    from ..datasets import data_home, load_mnist

    try:
        return load_mnist(download=False)
    except (FileNotFoundError, ValueError) as error:
        reason = "is not" if isinstance(error, FileNotFoundError) else "is damaged"
        raise MNISTNotCachedError(f"mnist.load: MNIST {reason} in the cache folder "
                                  f"{data_home(create=False)}; download it once with: "
                                  f"{DOWNLOAD_COMMAND}") from None
