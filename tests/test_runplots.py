"""The pictures of a run: whole-epoch ticks and an accuracy panel that does not magnify noise."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dlscratch import runplots  # noqa: E402


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Draw a 20-epoch classification history; return the figure instead of closing it."""
    figures = []
    monkeypatch.setattr(runplots, "save_figure", lambda figure, path: figures.append(figure))
    epochs = list(range(1, 21))
    accuracy = [0.96] * 10 + [1.0] + [0.96] * 9  # one row of a 25-row validation set
    history = {"train_loss": list(np.linspace(1.0, 0.1, 20)), "val_loss": [0.5] * 20,
               "eval_epochs": epochs, "metrics": {"accuracy": accuracy}, "best_epoch": 11}
    runplots.plot_loss_curves(history, tmp_path / "loss.png", "wine: loss", "cross-entropy")
    yield figures[0]
    import matplotlib.pyplot as plt

    plt.close(figures[0])


def test_twenty_epochs_get_whole_epoch_ticks(drawn):
    for ax in drawn.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_the_accuracy_panel_is_at_least_ten_points_tall(drawn):
    low, high = drawn.axes[1].get_ylim()
    assert high >= 100 and high - low >= 10
