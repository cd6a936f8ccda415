"""Issue 19, the CLI and data side: paths that are not regular files, non-finite and huge
numbers in a CSV, the separator, numeric labels, edited models, destinations checked before
training, bounded demo options. Hangs and memory cases run in subprocesses with limits."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlscratch.cli import main
from dlscratch.csvdata import (
    DataError,
    Standardizer,
    class_names,
    detect_delimiter,
    encode_labels,
    format_number,
    numeric_matrix,
    read_csv,
    target_cells,
)

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[1]


def limited() -> None:
    """In the child: at most 1.5 GB of address space and 60 s of CPU."""
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))


def run_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "dlscratch", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limited)


def write(path: Path, header: str, rows, sep: str = ",") -> Path:
    lines = [header.replace(",", sep)] + [sep.join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def table_rows(n: int = 40, seed: int = 0, label=lambda i, x: int(x[0] > 0)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return [[*(repr(float(v)) for v in x), label(i, x)] for i, x in enumerate(X)]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "good.csv", "a,b,c,label", table_rows())
    return tmp_path


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------- not a regular file
def special(kind: str, folder: Path) -> str:
    if kind == "fifo":
        os.mkfifo(folder / "pipe.csv")
        return "pipe.csv"
    if kind == "device":
        return "/dev/zero"
    if kind == "folder":
        (folder / "dir.csv").mkdir()
        return "dir.csv"
    os.symlink("loop_b", folder / "loop_a")
    os.symlink("loop_a", folder / "loop_b")
    return "loop_a"


WORDS = {"fifo": "FIFO", "device": "device", "folder": "folder", "loop": "loop"}


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("where", ["train data", "predict data", "predict model",
                                   "evaluate model", "config", "demo text"])
def test_a_fifo_or_a_device_is_refused_at_once_in_a_subprocess(folder, kind, where):
    path = special(kind, folder)
    subprocess_args = {
        "train data": ["train", path, "--target", "label"],
        "predict data": ["predict", "model.npz", path],
        "predict model": ["predict", path, "good.csv"],
        "evaluate model": ["evaluate", path, "good.csv"],
        "config": ["train", "good.csv", "--config", path],
        "demo text": ["demo", "text", path, "--iterations", "1"],
    }[where]
    if where == "predict data":
        assert run_cli("train", "good.csv", "--target", "label", "--epochs", "1", "--no-plots",
                       "--out", "model.npz", cwd=folder).returncode == 0
    result = run_cli(*subprocess_args, cwd=folder)
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert WORDS[kind] in result.stderr and "not a regular file" in result.stderr
    assert "does not exist" not in result.stderr and "no such" not in result.stderr


@pytest.mark.parametrize("kind", ["folder", "loop"])
@pytest.mark.parametrize("argv", [["train", "{p}", "--target", "label"],
                                  ["train", "good.csv", "--config", "{p}"],
                                  ["summary", "{p}"], ["predict", "{p}", "good.csv"]])
def test_a_folder_or_a_link_loop_is_named_for_what_it_is(folder, capsys, kind, argv):
    path = special(kind, folder)
    assert main([a.format(p=path) for a in argv]) == 1
    line = error_line(capsys)
    assert WORDS[kind] in line and "no such" not in line, line


@pytest.mark.parametrize("kind", ["folder", "loop"])
def test_demo_text_names_a_folder_or_a_link_loop(folder, capsys, kind):
    path = special(kind, folder)
    assert main(["demo", "text", path, "--iterations", "1", "--out", "o"]) == 1
    line = error_line(capsys)
    assert WORDS[kind] in line and "does not exist" not in line


# ---------------------------------------------------------------------- non-finite numbers
@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity", "-INFINITY", "+inf", "1e999",
                                  "-1e400", "-nan", "+NaN"])
def test_a_non_finite_target_is_a_data_error_naming_the_line(tmp_path, cell):
    rows = table_rows(30, label=lambda i, x: repr(float(3.3 * x[0] + 0.01 * i)))
    rows[11][3] = cell
    table = read_csv(write(tmp_path / "t.csv", "a,b,c,y", rows))
    with pytest.raises(DataError, match=r"line 13") as caught:
        target_cells(table, "y")
    assert "text" not in str(caught.value) or "finite" in str(caught.value)


@pytest.mark.parametrize("cell", ["nan", "NaN", "NA", "", "null"])
def test_nan_spellings_in_the_target_are_missing_values(tmp_path, cell):
    rows = table_rows(10, label=lambda i, x: repr(float(x[0] + i)))
    rows[3][3] = cell
    table = read_csv(write(tmp_path / "t.csv", "a,b,c,y", rows))
    with pytest.raises(DataError, match="missing value .* line 5"):
        target_cells(table, "y")


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e999", "nan"])
def test_a_non_finite_feature_is_a_data_error_naming_the_line(tmp_path, cell):
    rows = table_rows(10)
    rows[6][1] = cell
    table = read_csv(write(tmp_path / "t.csv", "a,b,c,y", rows))
    with pytest.raises(DataError, match=r"column 'b' .* line 8"):
        numeric_matrix(table, ["a", "b", "c"])


def test_the_cli_refuses_an_inf_target_instead_of_training_a_classifier(folder, capsys):
    rows = table_rows(40, label=lambda i, x: repr(float(3.3 * x[0] + 0.01 * i)))
    rows[20][3] = "Infinity"
    write(folder / "inf.csv", "a,b,c,y", rows)
    assert main(["train", "inf.csv", "--target", "y", "--no-plots"]) == 1
    assert "line 22" in error_line(capsys)
    assert not (folder / "runs").exists()


# ---------------------------------------------------------------------- huge numbers
@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e150, 1e300, 1.7e308])
def test_standardizer_is_overflow_free_at_any_finite_scale(scale):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(50, 2)) * scale
    X[:, 1] = scale  # a constant column
    with np.errstate(all="raise"):
        scaler = Standardizer.fit(X)
        Z = scaler.transform(X)
    assert np.isfinite(scaler.std).all() and np.isfinite(scaler.mean).all()
    np.testing.assert_allclose(Z[:, 0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, 0].std(), 1, rtol=1e-12)
    assert (Z[:, 1] == 0).all()
    np.testing.assert_allclose(scaler.inverse(Z)[:, 0], X[:, 0], rtol=1e-12)


@pytest.mark.parametrize("feature_scale,target_scale", [(1e300, 1), (1e-300, 1), (1, 1e300),
                                                        (1, 1e-300), (-1e250, 1e200)])
def test_training_on_huge_or_tiny_columns_completes_and_predicts(folder, capsys, feature_scale,
                                                                 target_scale):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 2))
    y = (2 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=80)) * target_scale
    rows = [[repr(float(x[0] * feature_scale)), repr(float(x[1])), repr(float(v))]
            for x, v in zip(X, y)]
    write(folder / "big.csv", "a,b,y", rows)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status = main(["train", "big.csv", "--target", "y", "--task", "regression", "--epochs",
                       "40", "--no-plots", "--quiet", "--out", "big.npz"])
    out = capsys.readouterr()
    assert status == 0, out.err
    runs = list((folder / "runs").iterdir())
    assert json.loads((runs[0] / "run.json").read_text())["status"] == "completed"
    assert main(["predict", "big.npz", "big.csv", "--out", "p.csv"]) == 0
    predicted = np.array([float(r.split(",")[-1]) for r in
                          (folder / "p.csv").read_text().splitlines()[1:]])
    assert np.isfinite(predicted).all()
    assert np.corrcoef(predicted / target_scale, y / target_scale)[0, 1] > 0.8


def test_a_value_far_outside_the_training_range_is_refused_at_predict(folder, capsys):
    assert main(["train", "good.csv", "--target", "label", "--epochs", "1", "--no-plots",
                 "--quiet", "--out", "m.npz"]) == 0
    rows = table_rows(5)
    rows[2][0] = "1e300"
    write(folder / "far.csv", "a,b,c,label", rows)
    capsys.readouterr()
    assert main(["predict", "m.npz", "far.csv"]) == 1
    assert "column 'a'" in (line := error_line(capsys)) and "line 4" in line


@pytest.mark.parametrize("value", [1e300, 3.5e38, 1e-40, -2.5e-300, 0.0, 1.5])
def test_format_number_never_turns_a_finite_prediction_into_inf_or_zero(value):
    assert float(format_number(value)) == pytest.approx(value, rel=1e-7)


# ---------------------------------------------------------------------- separators
@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_the_separator_is_read_off_the_header_line(tmp_path, sep):
    rows = [["1.5", "2", "x"], ["3", "4.25", "y"]]
    table = read_csv(write(tmp_path / "s.csv", "a,b,label", rows, sep=sep))
    assert table.columns == ["a", "b", "label"]
    assert table.rows[1] == ["3", "4.25", "y"]


def test_detect_delimiter_ignores_separators_inside_quotes():
    assert detect_delimiter('"a,b";"c,d";e\n') == ";"
    assert detect_delimiter("only\n") == ","
    assert detect_delimiter("a;b,c,d\n") == ","


def test_a_semicolon_file_trains_by_its_column_names(folder, capsys):
    write(folder / "semi.csv", "a,b,c,label", table_rows(), sep=";")
    assert main(["train", "semi.csv", "--target", "label", "--epochs", "1", "--no-plots",
                 "--quiet"]) == 0


# ---------------------------------------------------------------------- numeric labels
@pytest.mark.parametrize("spellings", [("1", "1.0"), ("1", "+1", "1.00"), ("2", "2e0"),
                                       ("-3", "-3.000")])
def test_labels_equal_as_numbers_are_one_class(tmp_path, spellings):
    cells = [*spellings, "7", "7.0"]
    assert class_names(cells) == [str(int(float(spellings[0]))), "7"]
    table = read_csv(write(tmp_path / "l.csv", "a,y", [[i, c] for i, c in enumerate(cells)]))
    labels = encode_labels(table, "y", cells, class_names(cells))
    assert labels.tolist() == [0] * len(spellings) + [1, 1]


def test_labels_keep_distinct_values_exactly():
    assert len(class_names(["12345678901234567890", "12345678901234567891"])) == 2
    assert class_names(["0.5", "0.50", "b", "a"]) == ["0.5", "a", "b"]


# ---------------------------------------------------------------------- edited model files
@pytest.mark.parametrize("classes", [["0", "1", "2"], ["0"], ["0", "0"], ["a", "b", "c", "d"]])
def test_an_edited_class_list_is_a_one_line_error(folder, capsys, classes):
    from dlscratch.network import NeuralNetwork

    assert main(["train", "good.csv", "--target", "label", "--epochs", "1", "--no-plots",
                 "--quiet", "--out", "m.npz"]) == 0
    net = NeuralNetwork.load("m.npz")
    net.metadata["classes"] = classes
    net.save("edited.npz")
    capsys.readouterr()
    for command in ("predict", "evaluate"):
        assert main([command, "edited.npz", "good.csv"]) == 1
        assert "edited.npz" in error_line(capsys)


# ---------------------------------------------------------------------- destinations
def test_out_at_a_symlink_is_refused_before_training(folder, capsys):
    (folder / "real.npz").write_bytes(b"")
    os.symlink("real.npz", folder / "link.npz")
    assert main(["train", "good.csv", "--target", "label", "--out", "link.npz"]) == 1
    assert "symbolic link" in error_line(capsys)
    assert not (folder / "runs").exists()


@pytest.mark.parametrize("flag", ["--out", "--runs-dir"])
def test_a_destination_under_a_file_is_refused_before_training(folder, capsys, flag):
    (folder / "afile").write_text("x")
    value = "afile/sub/model.npz" if flag == "--out" else "afile/runs"
    assert main(["train", "good.csv", "--target", "label", flag, value]) == 1
    assert "nothing was trained" in error_line(capsys)
    assert not (folder / "runs").exists()


@pytest.mark.parametrize("out", ["adir/", "adir" + os.sep + os.sep, "existing/", "existing"])
def test_out_naming_a_folder_is_refused_before_training_creating_nothing(folder, capsys,
                                                                          monkeypatch, out):
    from dlscratch.train import Trainer

    def never(*args, **kwargs):
        raise AssertionError("training started")

    (folder / "existing").mkdir()
    before = sorted(path.name for path in folder.iterdir())
    monkeypatch.setattr(Trainer, "fit", never)
    assert main(["train", "good.csv", "--target", "label", "--no-plots", "--out", out]) == 1
    line = error_line(capsys)
    assert f"--out {out}:" in line and "folder" in line and "model.npz" in line
    assert sorted(path.name for path in folder.iterdir()) == before  # no adir, no runs


@pytest.mark.parametrize("out", ["preds/", "preds" + os.sep + os.sep, "existing/", "existing"])
def test_predict_out_naming_a_folder_is_refused_before_reading_creating_nothing(folder, capsys,
                                                                                out):
    assert main(["train", "good.csv", "--target", "label", "--no-plots", "--quiet",
                 "--epochs", "2", "--out", "model.npz"]) == 0
    capsys.readouterr()
    (folder / "existing").mkdir()
    before = sorted(path.name for path in folder.iterdir())
    assert main(["predict", "model.npz", "good.csv", "--out", out]) == 1
    line = error_line(capsys)
    assert f"--out {out}:" in line and "folder" in line and "predictions.csv" in line
    assert sorted(path.name for path in folder.iterdir()) == before


def test_the_library_refuses_to_save_to_a_path_ending_in_a_separator(tmp_path):
    from dlscratch import Dense, Linear, MeanSquaredError, NeuralNetwork

    net = NeuralNetwork([Dense(1, activation=Linear())], MeanSquaredError(), seed=0)
    net.forward(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="ends in a path separator, so it names a folder"):
        net.save(str(tmp_path / "adir") + os.sep)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_refusing_files_is_found_before_training(folder, capsys, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert main(["train", "good.csv", "--target", "label", "--out", "m.npz"]) == 1
    line = error_line(capsys)
    assert "does not accept new files" in line and "nothing was trained" in line


def test_a_failure_while_writing_the_run_leaves_no_half_folder(folder, capsys, monkeypatch):
    from dlscratch.commands import train as train_command

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train_command, "write_history_csv", broken)
    assert main(["train", "good.csv", "--target", "label", "--epochs", "1", "--no-plots"]) == 1
    assert "No space left" in error_line(capsys)
    assert list((folder / "runs").iterdir()) == []


# ---------------------------------------------------------------------- bounded options
@pytest.mark.parametrize("argv", [["cnn", "--epochs", str(10**20)], ["cnn", "--epochs", "100001"],
                                  ["text", "--hidden", str(10**11)], ["text", "--hidden", "1e11"],
                                  ["text", "--iterations", str(10**30)],
                                  ["text", "--sample-every", "0"]])
def test_demo_numbers_are_bounded(argv, capsys, tmp_path):
    assert main(["demo", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "argument" in err


@pytest.mark.parametrize("size", [2 << 20, 50 << 20])
def test_a_config_file_of_megabytes_is_refused_before_reading(folder, capsys, size):
    with open(folder / "big.toml", "wb") as handle:
        handle.truncate(size)
    assert main(["train", "good.csv", "--config", "big.toml"]) == 1
    assert "bytes" in error_line(capsys)


@pytest.mark.parametrize("flag", ["--runs-dir", "--out"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_destination_name_is_refused_before_training(folder, capsys, flag, value):
    assert main(["train", "good.csv", "--target", "label", "--no-plots", flag, value]) == 1
    assert flag in error_line(capsys)
    assert not (folder / "runs").exists()


@pytest.mark.parametrize("text", ["a", ""])
def test_demo_text_names_a_file_too_short(folder, capsys, text):
    (folder / "short.txt").write_text(text)
    assert main(["demo", "text", "short.txt", "--iterations", "1", "--out", "o"]) == 1
    assert "short.txt" in capsys.readouterr().err


@pytest.mark.parametrize("epochs", ["10000001", str(10**30)])
def test_train_counts_are_bounded_on_the_command_line_and_in_config(folder, capsys, epochs):
    assert main(["train", "good.csv", "--target", "label", "--epochs", epochs]) == 2
    assert "--epochs" in capsys.readouterr().err
    (folder / "c.toml").write_text(f'target = "label"\nepochs = {epochs}\n')
    assert main(["train", "good.csv", "--config", "c.toml"]) == 1
    assert "epochs" in error_line(capsys)
