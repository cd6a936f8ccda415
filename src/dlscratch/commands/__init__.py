"""The commands on the user's own data: train, predict, evaluate, summary, plot, runs.

``register(commands)`` adds them to the ``dlscratch`` parser; each sets ``run_command``, which
``cli.main`` calls with the parsed arguments and returns as the exit status.
"""

from __future__ import annotations

import argparse

from . import show, train, use


def register(commands: argparse._SubParsersAction) -> None:
    """Add train, predict, evaluate, summary, plot and runs to ``commands``."""
    train.register(commands)
    use.register(commands)
    show.register(commands)
