"""The book's ``lincoln.utils``: ``np_utils`` (array helpers) and ``mnist`` (the data loader).

``from lincoln.utils import mnist`` becomes ``from dlscratch.utils import mnist`` and
``from lincoln.utils.np_utils import assert_same_shape`` becomes
``from dlscratch.utils.np_utils import assert_same_shape``.
"""

from . import mnist, np_utils

__all__ = ["mnist", "np_utils"]
