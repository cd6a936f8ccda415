"""Hostile model files, checkpoints and paths: refused at once, cheaply, changing nothing.

Every file is checked whole (names and declared sizes from the zip directory, the description,
every array's shape and dtype) before anything is allocated or changed; paths that are not
regular files are refused before they are opened; a failed load or resume leaves the network,
the optimizer and the callbacks exactly as they were.
"""

from __future__ import annotations

import copy
import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from dlscratch import (
    SGD,
    Adam,
    Dense,
    EarlyStopping,
    LambdaCallback,
    Linear,
    MeanSquaredError,
    ModelCheckpoint,
    ModelFileError,
    NeuralNetwork,
    Operation,
    SGDMomentum,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    Trainer,
    persistence,
)
from dlscratch import layers as dl_layers
from dlscratch import losses as dl_losses

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 3))
Y = np.tanh(X @ RNG.normal(size=(3, 1)))


def small_net(seed: int = 1, dtype=np.float32) -> NeuralNetwork:
    return NeuralNetwork([Dense(4, Tanh()), Dense(1, Linear())], MeanSquaredError(), seed=seed,
                         dtype=dtype)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_zip(path, entries: dict[str, bytes], compression=zipfile.ZIP_STORED) -> str:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return str(path)


def meta_bytes(meta: dict) -> bytes:
    return npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def model_meta(**changes) -> dict:
    meta = persistence.network_description(small_net().build(3))
    meta.update(changes)
    return meta


def lie_about_size(path, entry: str, size: int) -> None:
    """Patch the uncompressed size that the zip directory (and local header) declare."""
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(entry)
    struct.pack_into("<I", data, info.header_offset + 22, size)  # local file header
    start = 0
    while True:
        position = data.find(b"PK\x01\x02", start)
        assert position >= 0
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46:position + 46 + name_length].decode() == entry:
            struct.pack_into("<I", data, position + 24, size)
            break
        start = position + 4
    open(path, "wb").write(bytes(data))


class Alarm:
    """Fail instead of hanging: a call that blocks for more than ``seconds`` is interrupted."""

    def __init__(self, seconds: int = 5) -> None:
        self.seconds = seconds

    def __enter__(self):
        def timeout(signum, frame):
            raise TimeoutError("the call blocked")

        self.previous = signal.signal(signal.SIGALRM, timeout)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


# ---------------------------------------------------------------------- paths that are not files
@pytest.fixture
def odd_paths(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.npz"
    os.symlink(loop, loop)
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    return {"FIFO": fifo, "character device": "/dev/zero", "folder": folder,
            "symbolic link loop": loop}


@pytest.mark.parametrize("kind", ["FIFO", "character device", "folder", "symbolic link loop"])
def test_loading_a_path_that_is_not_a_regular_file_fails_at_once(odd_paths, kind):
    path = odd_paths[kind]
    with Alarm(), pytest.raises(ValueError, match=kind.split()[-1]):
        NeuralNetwork.load(path)
    with Alarm(), pytest.raises(ValueError, match=kind.split()[-1]):
        Trainer(small_net(), SGD(0.1)).fit(X, Y, epochs=2, resume_from=path, verbose=False)


@pytest.mark.parametrize("kind", ["FIFO", "character device", "folder", "symbolic link loop"])
def test_saving_onto_a_path_that_is_not_a_regular_file_is_refused(odd_paths, kind):
    path = odd_paths[kind]
    before = os.lstat(path)
    net = small_net().build(3)
    with Alarm(), pytest.raises(ValueError, match=str(path)):
        net.save(path)
    with Alarm(), pytest.raises(ValueError, match=str(path)):
        Trainer(net, SGD(0.1)).fit(X, Y, epochs=2, checkpoint=path, verbose=False)
    with Alarm(), pytest.raises(ValueError, match=str(path)):
        Trainer(net, SGD(0.1)).fit(X, Y, epochs=2, verbose=False,
                                   callbacks=[ModelCheckpoint(str(path))])
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino,
                                                            before.st_rdev)


def test_a_path_with_a_nul_character_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="NUL character"):
        NeuralNetwork.load(str(tmp_path / "m\0.npz"))
    with pytest.raises(ValueError, match="NUL character"):
        small_net().build(3).save(str(tmp_path / "m\0.npz"))


def test_saving_to_dev_null_leaves_the_device(tmp_path):
    before = os.stat("/dev/null")
    with pytest.raises(ValueError, match="character device"):
        small_net().build(3).save("/dev/null")
    after = os.stat("/dev/null")
    assert (after.st_mode, after.st_rdev) == (before.st_mode, before.st_rdev)


def test_saving_over_a_symlink_keeps_the_link_and_its_target(tmp_path):
    target = tmp_path / "real.npz"
    small_net(1).build(3).save(target)
    content = target.read_bytes()
    link = tmp_path / "link.npz"
    os.symlink(target, link)
    with pytest.raises(ValueError, match="symbolic link"):
        small_net(2).build(3).save(link)
    assert os.path.islink(link) and target.read_bytes() == content
    # loading through a link to a regular file is fine
    loaded = NeuralNetwork.load(link)
    np.testing.assert_array_equal(loaded.params()[0], small_net(1).build(3).params()[0])


def test_save_errors_name_the_users_path_not_the_temporary_file(tmp_path, monkeypatch):
    def refuse(source, target):
        raise PermissionError(13, "Permission denied", source)

    monkeypatch.setattr(os, "replace", refuse)
    path = tmp_path / "m.npz"
    with pytest.raises(PermissionError) as info:
        small_net().build(3).save(path)
    message = str(info.value)
    assert str(path) in message and ".tmp" not in message
    assert os.listdir(tmp_path) == []


def test_a_checkpoint_folder_that_refuses_files_fails_before_training(tmp_path, monkeypatch):
    from dlscratch import _io

    real = _io._create_temporary

    def read_only(folder, prefix):
        if folder == str(tmp_path / "ro"):
            raise PermissionError(13, "Permission denied")
        return real(folder, prefix)

    monkeypatch.setattr(_io, "_create_temporary", read_only)
    (tmp_path / "ro").mkdir()
    epochs = []
    with pytest.raises(PermissionError, match="ro"):
        Trainer(small_net(), SGD(0.1)).fit(
            X, Y, epochs=3, checkpoint=tmp_path / "ro" / "run.ckpt", verbose=False,
            callbacks=[LambdaCallback(on_epoch_begin=lambda t, e: epochs.append(e))])
    assert epochs == []
    # a folder that cannot exist (a file stands in its place) fails before training too
    (tmp_path / "file").write_text("x")
    with pytest.raises((OSError, ValueError), match="file"):
        Trainer(small_net(), SGD(0.1)).fit(
            X, Y, epochs=3, checkpoint=tmp_path / "file" / "run.ckpt", verbose=False,
            callbacks=[LambdaCallback(on_epoch_begin=lambda t, e: epochs.append(e))])
    assert epochs == []


# ---------------------------------------------------------------------- the description
@pytest.mark.parametrize("edit, message", [
    (lambda m: m["layers"][0].pop("activation"), r"misses \['activation'\]"),
    (lambda m: m["layers"][1]["config"].pop("dropout"), r"misses \['dropout'\]"),
    (lambda m: m["layers"][1]["config"].pop("weight_init"), r"misses \['weight_init'\]"),
    (lambda m: m["layers"][0].pop("config"), "'config' of Dense is missing"),
    (lambda m: m["layers"][0]["activation"].pop("config"), "'config' of Tanh is missing"),
    (lambda m: m.pop("seed"), r"misses entries \['seed'\]"),
    (lambda m: m.pop("input_shape"), r"misses entries \['input_shape'\]"),
    (lambda m: m.pop("params"), r"misses entries \['params'\]"),
    (lambda m: m.pop("loss"), r"misses entries \['loss'\]"),
    (lambda m: m.update(hook="os.system"), r"unknown entries \['hook'\]"),
    (lambda m: m.update(metadata=[1, 2]), "metadata must be a JSON object"),
    (lambda m: m.update(metadata={"x": "y" * 2**21}), "metadata takes"),
    (lambda m: m.update(params=["layers.0.W"]), r"misses \['layers.0.B'"),
    (lambda m: m.update(params=["layers.0.W", "layers.0.B", "layers.1.W", "layers.1.B",
                                "layers.7.W"]), r"lists \['layers.7.W'\]"),
])
def test_a_missing_or_unknown_description_entry_is_an_error_never_a_default(tmp_path, edit,
                                                                            message):
    net = small_net().build(3)
    meta = json.loads(json.dumps(persistence.network_description(net)))
    edit(meta)
    path = tmp_path / "m.npz"
    persistence.write_npz(path, net.state_dict(), meta)
    with pytest.raises(ModelFileError, match=message):
        NeuralNetwork.load(path)


def test_metadata_a_small_json_object_is_accepted(tmp_path):
    net = small_net().build(3)
    meta = persistence.network_description(net)
    meta["metadata"] = {"features": ["a", "b", "c"], "mean": [0.5, 1.5, 2.5]}
    persistence.write_npz(tmp_path / "m.npz", net.state_dict(), meta)
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def user_classes():
    class Tanh(Operation):  # the same name as the library's
        def _output(self, inference=False):
            return np.tanh(2 * self.input_)

        def _input_grad(self, output_grad):
            return output_grad * 2 * (1 - self.output ** 2)

    class Dense(dl_layers.Dense):
        pass

    class MeanSquaredError(dl_losses.MeanSquaredError):
        pass

    return Tanh, Dense, MeanSquaredError


@pytest.mark.parametrize("case", ["activation", "layer", "loss"])
def test_a_users_own_class_is_refused_at_save_even_under_a_library_name(tmp_path, case):
    Tanh, UserDense, UserMSE = user_classes()
    layers = [Dense(4, Tanh() if case == "activation" else Sigmoid()),
              (UserDense if case == "layer" else Dense)(1, Linear())]
    loss = UserMSE() if case == "loss" else MeanSquaredError()
    net = NeuralNetwork(layers, loss, seed=1).build(3)
    with pytest.raises(TypeError, match="not dlscratch's own"):
        net.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- sizes and zip bombs
def hostile_files(folder) -> dict[str, str]:
    """Files of at most 2 KB that declare far more than they hold."""
    files = {}
    small = {"layers.0.W.npy": npy(np.zeros((3, 4), np.float32)),
             "layers.0.B.npy": npy(np.zeros((1, 4), np.float32)),
             "layers.1.W.npy": npy(np.zeros((4, 1), np.float32)),
             "layers.1.B.npy": npy(np.zeros((1, 1), np.float32))}
    huge = model_meta(input_shape=[10**6])
    huge["layers"][0]["config"]["neurons"] = 10**9
    files["neurons=10**9, input 10**6"] = write_zip(folder / "a.npz", {
        "__meta__.npy": meta_bytes(huge), **small})
    huge = model_meta()
    huge["layers"][0]["config"]["neurons"] = 10**12
    files["neurons=10**12"] = write_zip(folder / "b.npz", {
        "__meta__.npy": meta_bytes(huge), **small})
    rows = model_meta(input_shape=[2**27], params=[])
    rows["layers"] = [{"class": "Tanh", "config": {}}] * 3
    files["a 512 MB row, no parameters"] = write_zip(folder / "c.npz", {
        "__meta__.npy": meta_bytes(rows)})
    path = write_zip(folder / "d.npz", {"__meta__.npy": meta_bytes(model_meta()), **small},
                     zipfile.ZIP_DEFLATED)
    lie_about_size(path, "layers.0.W.npy", 2**32 - 1)
    files["an entry that declares 4 GB"] = path
    path = write_zip(folder / "e.npz", {"__meta__.npy": meta_bytes(model_meta()), **small},
                     zipfile.ZIP_DEFLATED)
    lie_about_size(path, "__meta__.npy", 2**31)
    files["a description that declares 2 GB"] = path
    nested = npy(np.frombuffer(b"[" * 1800 + b"]" * 1800, np.uint8))
    files["deeply nested JSON"] = write_zip(folder / "f.npz", {"__meta__.npy": nested},
                                            zipfile.ZIP_DEFLATED)
    shapes = model_meta()
    files["a header that lies about its shape"] = write_zip(folder / "g.npz", {
        "__meta__.npy": meta_bytes(shapes), **small,
        "layers.0.W.npy": npy(np.zeros((3, 4), np.float32)).replace(b"(3, 4)", b"(3, 9)")})
    float64 = model_meta(input_shape=[10**4], dtype="float64")
    float64["layers"][0]["config"]["neurons"] = 10**5
    files["float64, 8 GB declared"] = write_zip(folder / "h.npz", {
        "__meta__.npy": meta_bytes(float64), **small})
    for name, path in files.items():
        assert os.path.getsize(path) <= 2048, name
    return files


def test_small_hostile_files_are_refused_cheaply_in_memory_and_time(tmp_path):
    files = hostile_files(tmp_path)
    small_net().build(3).save(tmp_path / "good.npz")
    script = textwrap.dedent(f"""
        import json, resource, sys, time, tracemalloc
        from dlscratch import NeuralNetwork, ModelFileError
        NeuralNetwork.load({str(tmp_path / "good.npz")!r})  # imports done, caches warm
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results = {{}}
        for name, path in json.loads(sys.argv[1]).items():
            tracemalloc.start()
            started = time.perf_counter()
            try:
                NeuralNetwork.load(path)
                outcome = "loaded"
            except ModelFileError as error:
                outcome = str(error)
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            results[name] = [outcome, seconds, peak]
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({{"results": results, "maxrss_growth_kb": grown}}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(files)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for name, (outcome, seconds, peak) in report["results"].items():
        assert outcome != "loaded", name
        assert seconds < 1.0, (name, seconds)
        assert peak < 100 * 2**20, (name, peak)
    assert report["maxrss_growth_kb"] * 1024 < 100 * 2**20, report


@pytest.mark.parametrize("name, message", [
    ("neurons=10**9, input 10**6", "take 4 GB, more than allowed"),
    ("neurons=10**12", "take 4 TB, more than allowed"),
    ("a 512 MB row, no parameters", "more than allowed"),
    ("an entry that declares 4 GB", "more than compression can give"),
    ("a description that declares 2 GB", "more than compression can give"),
    ("deeply nested JSON", "not valid JSON"),
    ("a header that lies about its shape", r"has shape \(3, 9\) in the file"),
    ("float64, 8 GB declared", r"expects shape \(10000, 100000\)"),
])
def test_each_hostile_file_says_why(tmp_path, name, message):
    with pytest.raises(ModelFileError, match=message):
        NeuralNetwork.load(hostile_files(tmp_path)[name])


def test_a_zip_bomb_entry_is_refused_from_the_directory_before_it_is_read(tmp_path, monkeypatch):
    """The issue's case: a model file plus a deflated 1 GiB entry (about 1 MB on disk)."""
    path = tmp_path / "bomb.npz"
    small_net().build(3).save(path)
    zeros = bytes(2**20)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("extra.npy", "w", force_zip64=True) as entry:
            for _ in range(1024):
                entry.write(zeros)
    assert os.path.getsize(path) < 2**21
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(ModelFileError, match=r"unexpected keys \['extra'\]"):
        NeuralNetwork.load(path)
    assert opened == ["__meta__.npy"]  # the description only, never a parameter or the bomb


def test_an_entry_whose_size_disagrees_with_the_description_is_refused_unread(tmp_path,
                                                                            monkeypatch):
    meta = model_meta()
    arrays = {"layers.0.W.npy": npy(np.zeros((3, 4), np.float32)),
              "layers.0.B.npy": npy(np.zeros((1, 4), np.float32)),
              "layers.1.W.npy": npy(np.zeros((4, 1), np.float32)),
              "layers.1.B.npy": npy(np.zeros((1, 400), np.float32))}  # declared (1, 1)
    path = write_zip(tmp_path / "m.npz", {"__meta__.npy": meta_bytes(meta), **arrays})
    with pytest.raises(ModelFileError, match=r"layers.1.B has shape \(1, 400\) in the file, but "
                                             r"the network expects shape \(1, 1\)"):
        NeuralNetwork.load(path)


def test_entries_that_are_not_plain_npy_names_are_refused(tmp_path):
    for name in ("../evil.npy", "a/b.npy", "x.txt", ".hidden.npy"):
        path = write_zip(tmp_path / "m.npz", {"__meta__.npy": meta_bytes(model_meta()),
                                              name: npy(np.zeros(1))})
        with pytest.raises(ModelFileError, match="unexpected entry"):
            NeuralNetwork.load(path)


def test_a_deflated_model_file_written_by_savez_compressed_loads(tmp_path):
    net = small_net().build(3)
    np.savez_compressed(tmp_path / "m.npz", __meta__=np.frombuffer(
        json.dumps(persistence.network_description(net)).encode(), np.uint8),
        **net.state_dict())
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


# ---------------------------------------------------------------------- failed loads change nothing
def snapshot(net: NeuralNetwork, optim=None, callbacks=()) -> dict:
    """Everything a failed load must leave as it was, as comparable plain values."""
    state = {"built": net.built, "params": [p.tobytes() for p in net.params()],
             "shapes": [p.shape for p in net.params()],
             "rngs": [json.dumps(layer.rng.bit_generator.state, default=str)
                      for layer in net.layers]}
    if optim is not None:
        optim_state = optim.state_dict()
        state["optim"] = ({k: v for k, v in optim_state.items() if k != "arrays"},
                          {k: v.tobytes() for k, v in optim_state["arrays"].items()},
                          sorted(optim.__dict__), optim.net is net)
    for index, callback in enumerate(callbacks):
        cb_state, arrays = callback.state_dict()
        state[f"callback{index}"] = (json.dumps(cb_state, default=str),
                                     {k: np.asarray(v).tobytes() for k, v in arrays.items()})
    return state


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("layers.1.B"), "missing keys"),
    (lambda s: s.update({"layers.1.B": np.zeros((1, 2))}), "shape"),
    (lambda s: s.update({"layers.1.B": np.full((1, 1), np.nan)}), "non-finite"),
    (lambda s: s.update({"layers.1.B": np.array([["x"]])}), "real numbers"),
    (lambda s: s.update({"layers.9.W": np.zeros(1)}), "unexpected keys"),
])
@pytest.mark.parametrize("built", [True, False])
def test_a_failed_load_state_dict_changes_nothing(change, message, built):
    good = small_net(5).build(3).state_dict()
    change(good)
    net = small_net(1)
    if built:
        net.build(3)
    before = snapshot(net)
    with pytest.raises((ValueError, TypeError, KeyError), match=message):
        net.load_state_dict(good)
    assert snapshot(net) == before


# ---------------------------------------------------------------------- checkpoints
FIT = dict(X_train=X, y_train=Y, X_test=X[:10], y_test=Y[:10], epochs=6, eval_every=1,
           batch_size=8, seed=3, verbose=False, early_stopping=False)


def stop_at(epoch):
    def hook(trainer, current, logs):
        if current == epoch:
            raise KeyboardInterrupt

    return LambdaCallback(on_epoch_end=hook)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    Trainer(small_net(7, np.float64), SGDMomentum(0.05, momentum=0.9)).fit(
        callbacks=[EarlyStopping(patience=9), stop_at(3)], checkpoint=path, **FIT)
    return path


CORRUPTIONS = {
    "missing optimizer key": (lambda m, a: m["optimizer"].pop("first"), "optimizer misses"),
    "negative step count": (lambda m, a: m["optimizer"].update(steps=-4), "steps"),
    "fractional step count": (lambda m, a: m["optimizer"].update(steps=2.5), "steps"),
    "steps 0 after a step": (lambda m, a: m["optimizer"].update(steps=0), "first"),
    "string for a number": (lambda m, a: m["optimizer"].update(lr="0.1"), "lr must be a number"),
    "string epoch": (lambda m, a: m.update(epoch="3"), "epoch must be an integer"),
    "negative epoch": (lambda m, a: m.update(epoch=-1), "epoch must be an integer"),
    "missing entry": (lambda m, a: m.pop("rng"), r"misses entries \['rng'\]"),
    "unknown entry": (lambda m, a: m.update(extra=1), r"unknown entries \['extra'\]"),
    "bad generator state": (lambda m, a: m["rng"].update(state={"state": "x"}), "PCG64"),
    "bad layer generator": (lambda m, a: m["layer_rngs"].__setitem__(1, {"x": 1}), "PCG64"),
    "history too short": (lambda m, a: m["history"]["train_loss"].pop(), "train_loss"),
    "history of strings": (lambda m, a: m["history"].update(lr=["a", "b", "c"]), "lr"),
    "missing callback key": (lambda m, a: m["callbacks"][0]["state"].pop("wait"), "wait"),
    "callback string": (lambda m, a: m["callbacks"][0]["state"].update(wait="no"), "wait"),
    "callback negative": (lambda m, a: m["callbacks"][0]["state"].update(wait=-1), "wait"),
    "callback best_epoch": (lambda m, a: m["callbacks"][0]["state"].update(best_epoch="1"),
                            "best_epoch"),
    "callback array shape": (lambda m, a: a.update({"callback.0.best.0": np.zeros((2, 2))}),
                             "shape"),
    "callback array missing": (lambda m, a: a.pop("callback.0.best.3"), "missing keys"),
    "callback array NaN": (lambda m, a: a.update({"callback.0.best.0": np.full((3, 4), np.nan)}),
                           "non-finite"),
    "optimizer array shape": (lambda m, a: a.update({"optim.velocity.1": np.zeros((4, 9))}),
                              "shape"),
    "optimizer array dtype": (lambda m, a: a.update(
        {"optim.velocity.1": np.zeros((1, 4), np.float32)}), "float32"),
    "optimizer array missing": (lambda m, a: a.pop("optim.velocity.3"), "missing keys"),
    "network array int": (lambda m, a: a.update({"net.layers.0.W": np.zeros((3, 4), int)}),
                          "int64"),
    "unknown array": (lambda m, a: a.update({"net.layers.5.W": np.zeros(3)}), "unexpected"),
    "architecture": (lambda m, a: m["network"]["layers"][0]["config"].update(neurons=5),
                     r"layers\.0\.W has shape \(3, 5\) in the checkpoint"),
    "activation": (lambda m, a: m["network"]["layers"][0]["activation"].update({"class": "ReLU"}),
                   r"layers\[0\] is Dense\(.*activation=ReLU\(\)\) in the checkpoint"),
    "loss": (lambda m, a: m["network"].update(loss={"class": "MeanAbsoluteError", "config": {}}),
             r"loss MeanAbsoluteError\(\) in the checkpoint, MeanSquaredError\(\) here"),
    "dtype": (lambda m, a: m["network"].update(dtype="float32"),
              "dtype float32 in the checkpoint, float64 here"),
    "optimizer setting": (lambda m, a: m["optimizer_config"].update(momentum=0.5),
                          "momentum=0.5 in the checkpoint, 0.9 here"),
    "description missing": (lambda m, a: m["network"]["layers"][1].pop("activation"),
                            r"misses \['activation'\]"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_failed_resume_leaves_network_optimizer_and_callbacks_as_they_were(checkpoint, kind):
    edit, message = CORRUPTIONS[kind]
    arrays, meta = persistence.read_npz(checkpoint, "dlscratch.checkpoint")
    edit(meta, arrays)
    persistence.write_npz(checkpoint, arrays, meta)
    net = small_net(7, np.float64)
    optim = SGDMomentum(0.05, momentum=0.9)
    stopper = EarlyStopping(patience=9)
    # a network, optimizer and callback with a history of their own
    Trainer(net, optim).fit(callbacks=[stopper], **{**FIT, "epochs": 2})
    before = snapshot(net, optim, [stopper])
    with pytest.raises(ValueError, match=message):
        Trainer(net, optim).fit(callbacks=[stopper], resume_from=checkpoint, **FIT)
    assert snapshot(net, optim, [stopper]) == before


def test_the_checkpoint_fixture_resumes_when_intact(checkpoint):
    net, optim, stopper = small_net(7, np.float64), SGDMomentum(0.05, momentum=0.9), \
        EarlyStopping(patience=9)
    history = Trainer(net, optim).fit(callbacks=[stopper], resume_from=checkpoint, **FIT)
    assert history.epochs_run == 6
    reference = small_net(7, np.float64)
    Trainer(reference, SGDMomentum(0.05, momentum=0.9)).fit(
        callbacks=[EarlyStopping(patience=9)], **FIT)
    assert [p.tobytes() for p in net.params()] == [p.tobytes() for p in reference.params()]


def test_a_failed_optimizer_load_state_dict_changes_nothing():
    net = small_net(1, np.float64)
    optim = Adam(0.01)
    Trainer(net, optim).fit(X, Y, epochs=2, verbose=False)
    state = optim.state_dict()
    before = snapshot(net, optim)
    for bad in ({**state, "steps": -1}, {**state, "steps": "3"}, {**state, "first": "no"},
                {k: v for k, v in state.items() if k != "lr"},
                {**state, "arrays": {**state["arrays"], "m.0": np.zeros((9, 9))}},
                {**state, "arrays": {k: v for k, v in state["arrays"].items() if k != "v.1"}}):
        with pytest.raises((ValueError, TypeError, KeyError)):
            optim.load_state_dict(copy.deepcopy(bad))
        assert snapshot(net, optim) == before


def test_model_checkpoint_files_are_still_checked_as_models(tmp_path):
    path = tmp_path / "best.npz"
    net = small_net(3)
    Trainer(net, SGD(0.05)).fit(callbacks=[ModelCheckpoint(path, save_best_only=True)], **FIT)
    loaded = NeuralNetwork.load(path)
    assert loaded.input_shape == (3,)


def test_a_classifier_checkpoint_round_trips_with_its_accuracy_history(tmp_path):
    labels = (X[:, 0] > 0).astype(int)
    net = NeuralNetwork([Dense(5, Tanh()), Dense(2, Linear())], SoftmaxCrossEntropy(), seed=2)
    fit = dict(X_train=X, y_train=labels, X_test=X[:8], y_test=labels[:8], epochs=4,
               eval_every=1, verbose=False, early_stopping=False)
    Trainer(net, SGD(0.1)).fit(callbacks=[stop_at(2)], checkpoint=tmp_path / "c.ckpt", **fit)
    resumed = NeuralNetwork([Dense(5, Tanh()), Dense(2, Linear())], SoftmaxCrossEntropy(),
                            seed=2)
    history = Trainer(resumed, SGD(0.1)).fit(resume_from=tmp_path / "c.ckpt", **fit)
    assert len(history.metrics["accuracy"]) == 4


def test_hostile_checkpoints_are_refused_cheaply(checkpoint, tmp_path):
    import tracemalloc

    arrays, meta = persistence.read_npz(checkpoint, "dlscratch.checkpoint")
    variants = {}
    huge = json.loads(json.dumps(meta))
    huge["network"]["layers"][0]["config"]["neurons"] = 10**9
    huge["network"]["input_shape"] = [10**5]
    variants["network of 10**14 weights"] = (huge, arrays, None)
    variants["optimizer array declaring 4 GB"] = (meta, arrays, "optim.velocity.0.npy")
    variants["callback array declaring 4 GB"] = (meta, arrays, "callback.0.best.0.npy")
    for name, (variant_meta, variant_arrays, lie) in variants.items():
        path = tmp_path / f"{len(name)}.ckpt"
        persistence.write_npz(path, variant_arrays, variant_meta)
        if lie:
            lie_about_size(path, lie, 2**32 - 1)
        net, optim = small_net(7, np.float64), SGDMomentum(0.05, momentum=0.9)
        tracemalloc.start()
        with pytest.raises(ValueError):
            Trainer(net, optim).fit(callbacks=[EarlyStopping(patience=9)], resume_from=path,
                                    **FIT)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 100 * 2**20, (name, peak)


def test_a_layer_without_expected_shapes_still_loads_by_building_a_copy(tmp_path, monkeypatch):
    net = NeuralNetwork([Dense(4, Tanh()), dl_layers.Dropout(0.5), Dense(2, Linear())],
                        MeanSquaredError(), seed=3).build(3)
    net.save(tmp_path / "m.npz")

    def unknown(self, input_shape):
        raise NotImplementedError

    monkeypatch.setattr(dl_layers.Dense, "expected_shapes", unknown)
    loaded = NeuralNetwork.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # and the checks still hold: a wrong shape is refused before any array is read
    meta = persistence.network_description(net)
    meta["layers"][2]["config"]["neurons"] = 3
    persistence.write_npz(tmp_path / "bad.npz", net.state_dict(), meta)
    with pytest.raises(ModelFileError, match=r"layers.2.W has shape \(4, 2\) in the file, but "
                                             r"the network expects shape \(4, 3\)"):
        NeuralNetwork.load(tmp_path / "bad.npz")
