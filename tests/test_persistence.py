"""Saving and loading: one safe .npz file, bit-identical round trips, checked on the way in.

Loading never unpickles, validates every name, shape, dtype and value it reads, and a process
killed while saving leaves the previous file intact and loadable.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import pickle
import random
import signal
import stat
import sys
import time
import zipfile

import numpy as np
import pytest

from dlscratch import (
    ELU,
    GELU,
    SGD,
    BinaryCrossEntropy,
    Dense,
    Dropout,
    Huber,
    LeakyReLU,
    Linear,
    MeanAbsoluteError,
    MeanSquaredError,
    ModelFileError,
    NeuralNetwork,
    Operation,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    persistence,
)
from dlscratch._io import atomic_write

X = np.random.default_rng(0).normal(size=(9, 3))
ACTIVATIONS = [Linear(), Sigmoid(), Tanh(), ReLU(), LeakyReLU(alpha=0.2), ELU(alpha=0.5), GELU(),
               Softmax()]
LOSSES = [MeanSquaredError(), MeanSquaredError(normalize=True), MeanAbsoluteError(),
          Huber(delta=0.3), SoftmaxCrossEntropy(), BinaryCrossEntropy()]


def small_net(seed: int = 1, dtype=np.float32) -> NeuralNetwork:
    return NeuralNetwork([Dense(4, LeakyReLU(0.1)), Dense(2, Linear())], MeanSquaredError(),
                         seed=seed, dtype=dtype)


def assert_same_network(a: NeuralNetwork, b: NeuralNetwork) -> None:
    assert repr(a) == repr(b)
    assert a.dtype == b.dtype and a.seed == b.seed and a.input_shape == b.input_shape
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for key in state_a:
        assert state_a[key].dtype == state_b[key].dtype
        np.testing.assert_array_equal(state_a[key], state_b[key])


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_every_activation_loss_and_dtype_round_trips_bit_identically(tmp_path, loss, dtype):
    layers = [Dense(5, activation, weight_init=init, dropout=0.7)
              for activation, init in zip(ACTIVATIONS, ["standard", "glorot", "he"] * 3)]
    net = NeuralNetwork(layers + [Dropout(0.9), Dense(2, Linear())], loss, seed=5, dtype=dtype)
    net.build(3)
    net.save(tmp_path / "model.npz")
    loaded = NeuralNetwork.load(tmp_path / "model.npz")
    assert_same_network(net, loaded)
    assert isinstance(loaded.layers[4].activation, LeakyReLU)
    assert loaded.layers[4].activation.alpha == 0.2 and loaded.layers[5].activation.alpha == 0.5
    assert loaded.layers[0].dropout == 0.7 and loaded.layers[-2].keep_prob == 0.9
    prediction = net.predict(X)
    assert prediction.dtype == np.dtype(dtype)
    assert prediction.tobytes() == loaded.predict(X).tobytes()


def test_a_trained_network_round_trips_and_keeps_training_identically(tmp_path):
    y = X[:, :2].copy()
    net = small_net(dtype=np.float64)
    Trainer(net, SGD(lr=0.05)).fit(X, y, epochs=3, batch_size=4, verbose=False)
    net.save(str(tmp_path / "trained.npz"))  # str and PathLike both work
    loaded = NeuralNetwork.load(tmp_path / "trained.npz")
    assert loaded.predict(X).tobytes() == net.predict(X).tobytes()
    for each in (net, loaded):
        Trainer(each, SGD(lr=0.05)).fit(X, y, epochs=2, batch_size=4, restart=False,
                                        verbose=False)
    assert_same_network(net, loaded)


def test_an_unbuilt_network_round_trips_and_builds_the_same_weights(tmp_path):
    net = small_net(seed=11)
    net.save(tmp_path / "unbuilt.npz")
    loaded = NeuralNetwork.load(tmp_path / "unbuilt.npz")
    assert not loaded.built and loaded.input_shape is None
    assert loaded.predict(X).tobytes() == net.predict(X).tobytes()


def test_saving_twice_overwrites_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "model.npz"
    small_net(1).build(3).save(path)
    small_net(2).build(3).save(path)
    assert_same_network(NeuralNetwork.load(path), small_net(2).build(3))
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_save_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "model.npz"
    small_net().save(path)
    assert NeuralNetwork.load(path).layers[0].neurons == 4


def test_the_file_is_an_npz_of_plain_arrays_with_a_json_description(tmp_path):
    net = small_net().build(3)
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["__meta__", "layers.0.B", "layers.0.W", "layers.1.B",
                                      "layers.1.W"]
        meta = json.loads(data["__meta__"].tobytes())
    assert meta["format"] == "dlscratch.network" and meta["version"] == 1
    assert meta["dtype"] == "float32" and meta["input_shape"] == [3] and meta["seed"] == 1
    assert meta["layers"][0] == {"class": "Dense", "config": {"neurons": 4, "weight_init":
                                                             "standard", "dropout": 1.0},
                                 "activation": {"class": "LeakyReLU", "config": {"alpha": 0.1}}}
    assert meta["loss"] == {"class": "MeanSquaredError", "config": {}}


def test_saved_file_gets_the_permissions_of_a_plain_open(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    small_net().save(tmp_path / "m.npz")
    with open(tmp_path / "plain", "w"):
        pass
    assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == \
        stat.S_IMODE(os.stat(tmp_path / "plain").st_mode)


def test_save_refuses_what_it_could_not_load(tmp_path):
    class Custom(Operation):
        def _output(self, inference=False):
            return self.input_

        def _input_grad(self, output_grad):
            return output_grad

    net = NeuralNetwork([Dense(2, Custom())], MeanSquaredError())
    with pytest.raises(TypeError, match=r"layers\[0\] \(Dense\) cannot be saved.*Custom"):
        net.save(tmp_path / "m.npz")
    assert not os.listdir(tmp_path)
    with pytest.raises(TypeError, match=r"path must be a file path \(str or os.PathLike\), "
                                        r"got 3 \(int\)"):
        small_net().save(3)
    with pytest.raises(TypeError, match="path must be a file path.*got None"):
        NeuralNetwork.load(None)
    with pytest.raises(ValueError, match="is a folder; expected a file path"):
        small_net().save(tmp_path)


# ---------------------------------------------------------------------- state dicts
def test_state_dict_has_dotted_names_and_copies():
    net = small_net().build(3)
    state = net.state_dict()
    assert list(state) == ["layers.0.W", "layers.0.B", "layers.1.W", "layers.1.B"]
    assert state["layers.0.W"].shape == (3, 4) and state["layers.1.B"].shape == (1, 2)
    state["layers.0.W"][...] = 7
    assert not np.any(net.state_dict()["layers.0.W"] == 7)


def test_load_state_dict_round_trip_in_place_and_into_an_unbuilt_network():
    source = small_net(seed=1).build(3)
    target = small_net(seed=2).build(3)
    weights = target.params()[0]
    target.load_state_dict(source.state_dict())
    assert target.params()[0] is weights  # updated in place: optimizers keep their references
    assert_same_network_params(source, target)
    fresh = small_net(seed=3)
    fresh.load_state_dict(source.state_dict())
    assert fresh.input_shape == (3,)
    assert_same_network_params(source, fresh)


def assert_same_network_params(a, b):
    for (name_a, pa), (name_b, pb) in zip(a.named_params(), b.named_params()):
        assert name_a == name_b
        np.testing.assert_array_equal(pa, pb)


def test_load_state_dict_non_strict_loads_what_is_there():
    source = small_net(seed=1).build(3)
    target = small_net(seed=2).build(3)
    before = target.state_dict()
    partial = {"layers.0.W": source.state_dict()["layers.0.W"], "extra.key": np.zeros(3)}
    target.load_state_dict(partial, strict=False)
    after = target.state_dict()
    np.testing.assert_array_equal(after["layers.0.W"], partial["layers.0.W"])
    for key in ("layers.0.B", "layers.1.W", "layers.1.B"):
        np.testing.assert_array_equal(after[key], before[key])
    with pytest.raises(ValueError, match=r"layers\.0\.W has shape \(5, 4\).*expects shape "
                                         r"\(3, 4\)"):
        target.load_state_dict({"layers.0.W": np.zeros((5, 4))}, strict=False)


def test_load_state_dict_casts_to_the_network_dtype_and_checks_overflow():
    net = small_net(dtype=np.float32).build(3)
    state = {key: value.astype(np.float64) for key, value in net.state_dict().items()}
    net.load_state_dict(state)
    assert all(p.dtype == np.float32 for p in net.params())
    state["layers.0.W"][0, 0] = 1e300
    with pytest.raises(ValueError, match=r"state_dict\['layers\.0\.W'\].*too large for float32"):
        net.load_state_dict(state)


# ---------------------------------------------------------------------- damaged and foreign files
@pytest.fixture
def model_bytes(tmp_path) -> bytes:
    small_net().build(3).save(tmp_path / "good.npz")
    return (tmp_path / "good.npz").read_bytes()


def test_every_truncation_of_a_model_file_is_refused_cleanly(tmp_path, model_bytes):
    path = tmp_path / "cut.npz"
    for cut in sorted({0, 1, 3, 4, 30, 100, 500} | set(range(0, len(model_bytes), 97))):
        path.write_bytes(model_bytes[:cut])
        with pytest.raises(ModelFileError, match="cut.npz"):
            NeuralNetwork.load(path)


def test_flipped_bytes_never_give_a_wrong_model_silently(tmp_path, model_bytes):
    reference = small_net().build(3)
    path = tmp_path / "flipped.npz"
    rng = random.Random(0)
    for _ in range(60):
        data = bytearray(model_bytes)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        try:
            loaded = NeuralNetwork.load(path)
        except ModelFileError:
            continue
        # zip metadata the reader ignores may change; what loads must be the saved model
        assert_same_network(loaded, reference)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"hello, this is text", "not a zip archive"),
    (b"\x93NUMPY\x01\x00", "not a zip archive"),
    (pickle.dumps({"layers.0.W": 1}), "not a zip archive"),
])
def test_files_that_are_not_zip_archives_are_refused(tmp_path, content, message):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        NeuralNetwork.load(path)


def test_missing_files_and_foreign_npz_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        NeuralNetwork.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="no __meta__ entry"):
        NeuralNetwork.load(tmp_path / "plain.npz")
    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as archive:
        archive.writestr("__meta__.npy", b"not an npy file")
    with pytest.raises(ModelFileError, match="'__meta__' is not a valid .npy array"):
        NeuralNetwork.load(tmp_path / "raw.npz")


def write_model(path, meta: dict, arrays: dict[str, np.ndarray]) -> str:
    persistence.write_npz(path, arrays, meta)
    return str(path)


@pytest.fixture
def good():
    net = small_net().build(3)
    return persistence.network_description(net), net.state_dict()


def edited(meta, edit):
    meta = json.loads(json.dumps(meta))
    edit(meta)
    return meta


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format="other"), r"is a 'other' file; expected 'dlscratch.network'"),
    (lambda m: m.update(format="dlscratch.checkpoint"), "'dlscratch.checkpoint' file"),
    (lambda m: m.update(version=2), "format version 2; this dlscratch reads versions 1 to 1"),
    (lambda m: m.update(version="1"), "format version '1'"),
    (lambda m: m.update(version=True), "format version True"),
    (lambda m: m.pop("version"), "format version None"),
    (lambda m: m["layers"][0].update({"class": "Evil"}), "unknown layer class 'Evil'"),
    (lambda m: m["layers"][0].update({"class": "system"}), "unknown layer class 'system'"),
    (lambda m: m["layers"][0].update({"class": "Layer"}), "unknown layer class 'Layer'"),
    (lambda m: m["layers"][0].update({"class": "WeightMultiply"}), "unknown layer class"),
    (lambda m: m["layers"][0].update({"class": "MeanSquaredError"}),
     "unknown layer class 'MeanSquaredError'"),
    (lambda m: m.update(loss={"class": "Dense", "config": {"neurons": 2}}),
     "unknown loss class 'Dense'"),
    (lambda m: m["loss"].update({"class": "Loss"}), "unknown loss class 'Loss'"),
    (lambda m: m["layers"][0].update(activation={"class": "Dense", "config": {"neurons": 1}}),
     "unknown activation class 'Dense'"),
    (lambda m: m["layers"][0].update({"class": 3}), "expected an object with a 'class' name"),
    (lambda m: m["layers"][0]["config"].update(neurons="4"), "neurons must be an integer"),
    (lambda m: m["layers"][0]["config"].update(neurons=True), "neurons must be an integer"),
    (lambda m: m["layers"][0]["config"].update(neurons=float("nan")), "neurons"),
    (lambda m: m["layers"][0]["config"].update(dropout=7), r"dropout must be in \(0, 1\]"),
    (lambda m: m["layers"][0]["config"].update(weight_init="xavier"), "unknown weight_init"),
    (lambda m: m["layers"][0]["activation"]["config"].update(alpha=[1]),
     "must be plain numbers and strings"),
    (lambda m: m["layers"][0]["activation"]["config"].update(alpha=-1), "alpha"),
    (lambda m: m["layers"][0]["config"].update(extra=1), "unexpected keyword argument 'extra'"),
    (lambda m: m["layers"][0].update(hook="os.system"), r"unexpected entries \['hook'\]"),
    (lambda m: m["layers"][0].update(config=[1]), "must be plain numbers and strings"),
    (lambda m: m.update(layers=[]), "'layers' must be a non-empty list"),
    (lambda m: m.update(layers={"0": 1}), "'layers' must be a non-empty list"),
    (lambda m: m.update(dtype="int8"), "dtype must be 'float32' or 'float64', got 'int8'"),
    (lambda m: m.update(seed=-3), "seed must be a non-negative integer or null, got -3"),
    (lambda m: m.update(seed=1.5), "seed must be"),
    (lambda m: m.update(input_shape="3"), "input_shape must be a list of positive integers"),
    (lambda m: m.update(input_shape=[0]), "input_shape must be a list of positive integers"),
    (lambda m: m.update(input_shape=[4]), r"layers\.0\.W has shape \(3, 4\).*expects shape "
                                          r"\(4, 4\)"),
    (lambda m: m.update(dtype="float64"), "parameter layers.0.W is float32, the network float64"),
])
def test_a_bad_description_is_refused_with_the_reason(tmp_path, good, edit, message):
    meta, arrays = good
    path = write_model(tmp_path / "bad.npz", edited(meta, edit), arrays)
    with pytest.raises(ModelFileError, match=message):
        NeuralNetwork.load(path)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("layers.1.B"), r"missing keys \['layers\.1\.B'\].*layers\.1\.B \(1, 2\)"),
    (lambda a: a.update({"layers.9.W": np.zeros(2, np.float32)}),
     r"unexpected keys \['layers\.9\.W'\]"),
    (lambda a: a.update({"layers.0.W": np.zeros((2, 4), np.float32)}),
     r"layers\.0\.W has shape \(2, 4\).*expects shape \(3, 4\)"),
    (lambda a: a.update({"layers.0.B": np.full((1, 4), np.nan, np.float32)}), "non-finite"),
    (lambda a: a.update({"layers.0.B": np.ones((1, 4), np.int64)}), "is int64"),
    (lambda a: a.update({"layers.0.B": np.ones((1, 4), np.complex64)}), "not a numeric array"),
])
def test_bad_parameter_arrays_are_refused_naming_the_key(tmp_path, good, change, message):
    meta, arrays = good
    arrays = dict(arrays)
    change(arrays)
    if any(a.dtype.kind == "c" for a in arrays.values()):  # write_npz refuses to write these
        with zipfile.ZipFile(tmp_path / "bad.npz", "w") as archive:
            for name, array in {**arrays, "__meta__": np.frombuffer(
                    json.dumps(meta).encode(), np.uint8)}.items():
                buffer = io.BytesIO()
                np.save(buffer, array)
                archive.writestr(name + ".npy", buffer.getvalue())
        path = tmp_path / "bad.npz"
    else:
        path = write_model(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(ModelFileError, match=message):
        NeuralNetwork.load(path)


def test_description_that_is_not_json_or_not_an_object(tmp_path, good):
    _, arrays = good
    for raw, message in ((b"{not json", "not valid JSON"), (b"\xff\xfe", "not valid JSON"),
                         (b"[1, 2]", "is a 'list' file")):
        buffer_path = tmp_path / "m.npz"
        np.savez(buffer_path, __meta__=np.frombuffer(raw, np.uint8), **arrays)
        with pytest.raises(ModelFileError, match=message):
            NeuralNetwork.load(buffer_path)
    np.savez(tmp_path / "m.npz", __meta__=np.zeros((2, 2), np.uint8))
    with pytest.raises(ModelFileError, match="description entry is malformed"):
        NeuralNetwork.load(tmp_path / "m.npz")


# ---------------------------------------------------------------------- no unpickling, ever
class Payload:
    """Unpickling this creates ``marker``: proof that the file's code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize("where", ["parameter", "meta"])
def test_a_model_file_carrying_a_pickled_object_is_refused_and_never_runs(tmp_path, good, where):
    meta, arrays = good
    marker = tmp_path / "marker"
    evil = np.empty(1, dtype=object)
    evil[0] = Payload(str(marker))
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            if not (where == "parameter" and name == "layers.0.W"):
                archive.writestr(f"{name}.npy", npy_bytes(array))
        meta_array = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        archive.writestr("__meta__.npy", npy_bytes(evil if where == "meta" else meta_array))
        if where == "parameter":
            archive.writestr("layers.0.W.npy", npy_bytes(evil))
    # the payload is real: unpickling the file would create the marker
    with np.load(path, allow_pickle=True) as data:
        name = "__meta__" if where == "meta" else "layers.0.W"
        data[name]
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ModelFileError, match="pickled object.*never unpickles"):
        NeuralNetwork.load(path)
    assert not marker.exists()


def test_a_raw_pickle_named_like_a_model_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(ModelFileError):
        NeuralNetwork.load(path)
    assert not marker.exists()


def test_write_npz_refuses_object_arrays_and_the_reserved_name(tmp_path):
    with pytest.raises(TypeError, match="'x' has dtype object"):
        persistence.write_npz(tmp_path / "f.npz", {"x": np.array([None])}, {})
    with pytest.raises(ValueError, match="reserved"):
        persistence.write_npz(tmp_path / "f.npz", {"__meta__": np.zeros(1)}, {})
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------------- atomic writes
def test_an_error_during_a_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    small_net(1).build(3).save(path)
    before = path.read_bytes()

    def failing_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence.np, "savez", failing_savez)
    with pytest.raises(KeyboardInterrupt):
        small_net(2).build(3).save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    assert_same_network(NeuralNetwork.load(path), small_net(1).build(3))


def test_atomic_write_in_text_mode(tmp_path):
    with atomic_write(tmp_path / "notes.txt", "w") as handle:
        handle.write("hello")
    assert (tmp_path / "notes.txt").read_text() == "hello"


def test_a_save_removes_what_killed_saves_left_an_hour_ago_and_nothing_else(tmp_path):
    path = tmp_path / "model.npz"
    stale = tmp_path / ".model.npz.0123456789ab.tmp"      # a save killed two hours ago
    recent = tmp_path / ".model.npz.ba9876543210.tmp"     # maybe a save still in progress
    other_model = tmp_path / ".other.npz.0123456789ab.tmp"
    unrelated = tmp_path / ".model.npz.notes.tmp"
    for leftover in (stale, recent, other_model, unrelated):
        leftover.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for old in (stale, other_model, unrelated):
        os.utime(old, (two_hours_ago, two_hours_ago))
    small_net(1).build(3).save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["model.npz", recent.name, other_model.name, unrelated.name])
    assert_same_network(NeuralNetwork.load(path), small_net(1).build(3))


def _save_forever(path: str, counter) -> None:  # runs in the forked child
    nets = [NeuralNetwork([Dense(300, Linear())], MeanSquaredError(), seed=seed,
                          dtype=np.float64).build(200) for seed in (1, 2)]
    for index in range(10**9):
        nets[index % 2].save(path)
        counter.value = index + 1


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_during_saves_always_leaves_a_loadable_file(tmp_path):
    """Kill a process that keeps saving, ~20 times; the file always loads, as one whole model."""
    path = str(tmp_path / "model.npz")
    expected = [NeuralNetwork([Dense(300, Linear())], MeanSquaredError(), seed=seed,
                              dtype=np.float64).build(200).state_dict() for seed in (1, 2)]
    NeuralNetwork([Dense(300, Linear())], MeanSquaredError(), seed=1,
                  dtype=np.float64).build(200).save(path)
    context = multiprocessing.get_context("fork")
    rng = random.Random(1)
    seen = set()
    killed_mid_write = 0
    deadline = time.monotonic() + 12
    for _ in range(20):
        counter = context.Value("q", 0, lock=False)
        child = context.Process(target=_save_forever, args=(path, counter), daemon=True)
        child.start()
        goal = rng.randint(1, 3)
        while counter.value < goal and child.is_alive() and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.01))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
        killed_mid_write += bool(leftovers)
        for name in leftovers:  # what a killed save leaves: never the file itself
            os.unlink(tmp_path / name)
        state = NeuralNetwork.load(path).state_dict()
        matches = [i for i, want in enumerate(expected)
                   if all(np.array_equal(state[k], want[k]) for k in want)]
        assert len(matches) == 1
        seen.add(matches[0])
        if time.monotonic() > deadline:
            break
    print(f"{killed_mid_write} of the kills landed inside a save")
    assert seen == {0, 1}
    assert killed_mid_write > 0  # some kills did land inside a save


def test_every_file_the_package_writes_goes_through_atomic_write():
    """A static check: no ``open(..., "w")`` outside _io.py, and the array and figure writers
    only ever write to an atomic_write handle or an in-memory buffer."""
    import ast
    import pathlib

    import dlscratch

    writers = {"save", "savez", "savez_compressed", "savetxt", "savefig", "tofile", "dump"}
    problems = []
    package = pathlib.Path(dlscratch.__file__).parent
    for source in sorted(package.rglob("*.py")):
        if source.name == "_io.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            where = f"{source.relative_to(package)}:{node.lineno}"
            if name == "open":
                modes = [a.value for a in node.args[1:2] + [k.value for k in node.keywords
                                                           if k.arg == "mode"]
                         if isinstance(a, ast.Constant)]
                if any(set(str(mode)) & set("wax+") for mode in modes):
                    problems.append(f"{where}: open(..., {modes[0]!r})")
            elif name in writers and node.args and (
                    name in ("savefig", "tofile")
                    or getattr(getattr(node.func, "value", None), "id", "") in ("np", "json")):
                target = node.args[0]
                if not (isinstance(target, ast.Name) and target.id in ("handle", "buffer")):
                    problems.append(f"{where}: {name}({ast.unparse(target)}, ...)")
    assert not problems, "writes that bypass atomic_write:\n" + "\n".join(problems)
