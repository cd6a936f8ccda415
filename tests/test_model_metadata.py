"""``NeuralNetwork.save(path, metadata=...)``: a JSON object kept in the model file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlscratch import Dense, Linear, MeanSquaredError, ModelFileError, NeuralNetwork
from dlscratch.persistence import MAX_METADATA_CHARS, META_KEY, read_npz, write_npz


def small_net() -> NeuralNetwork:
    net = NeuralNetwork([Dense(3), Dense(1, activation=Linear())], MeanSquaredError(), seed=4)
    return net.build(2)


def test_metadata_comes_back_with_the_model(tmp_path):
    net = small_net()
    metadata = {"features": ["a", "b"], "scaler": {"mean": [0.1, 1e-300], "std": [2.5, 1.0]},
                "classes": None, "nested": [{"x": True}]}
    net.save(tmp_path / "m.npz", metadata=metadata)
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    assert loaded.metadata == metadata
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)


def test_net_metadata_is_saved_by_default_and_none_without_it(tmp_path):
    net = small_net()
    assert net.metadata is None
    net.save(tmp_path / "plain.npz")
    assert NeuralNetwork.load(tmp_path / "plain.npz").metadata is None
    net.metadata = {"task": "regression"}
    net.save(tmp_path / "m.npz")
    assert NeuralNetwork.load(tmp_path / "m.npz").metadata == {"task": "regression"}


@pytest.mark.parametrize("metadata, error, words", [
    ([1, 2], TypeError, "metadata must be a dict"),
    ({"x": np.zeros(2)}, ValueError, "only JSON values"),
    ({"x": float("nan")}, ValueError, "only JSON values"),
    ({1: "one"}, ValueError, "keys must be strings"),
    ({"x": "y" * (MAX_METADATA_CHARS + 1)}, ValueError, "at most"),
])
def test_metadata_that_is_not_a_bounded_json_object_is_refused(tmp_path, metadata, error,
                                                               words):
    with pytest.raises(error, match=words):
        small_net().save(tmp_path / "m.npz", metadata=metadata)
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("value", [[1, 2], "text", 3])
def test_a_file_whose_metadata_is_not_an_object_does_not_load(tmp_path, value):
    small_net().save(tmp_path / "m.npz")
    arrays, meta = read_npz(tmp_path / "m.npz", "dlscratch.network")
    meta["metadata"] = value
    assert META_KEY not in arrays
    write_npz(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ModelFileError, match="metadata must be a (dict|JSON object)"):
        NeuralNetwork.load(tmp_path / "bad.npz")
    assert json.loads(json.dumps(meta))  # the file itself is valid JSON: only the entry is bad
