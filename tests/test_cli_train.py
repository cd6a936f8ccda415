"""``dlscratch train / predict / evaluate / summary / plot / runs``, driven as a subprocess.

The data are written from scikit-learn's bundled data sets into a temporary folder: wine with
its cultivars as text labels (classification) and diabetes (regression). The accuracy and R^2
claims are measured on held-out rows from real runs with the default settings and compared with
scikit-learn's linear models on the same split.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CULTIVARS = np.array(["barolo", "grignolino", "barbera"])
FAST = ["--epochs", "3", "--no-plots"]


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "dlscratch", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def write_csv(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a data error (exit status 1, no traceback)."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Wine (text labels) and diabetes, each split into training and held-out CSV files."""
    from sklearn.datasets import load_diabetes, load_wine
    from sklearn.model_selection import train_test_split

    folder = tmp_path_factory.mktemp("data")
    wine = load_wine()
    labels = CULTIVARS[wine.target]
    X_train, X_test, y_train, y_test = train_test_split(
        wine.data, labels, test_size=0.25, random_state=0, stratify=wine.target)
    header = [*wine.feature_names, "cultivar"]
    write_csv(folder / "wine_train.csv", header,
              [[*map(repr, map(float, x)), y] for x, y in zip(X_train, y_train)])
    write_csv(folder / "wine_test.csv", header,
              [[*map(repr, map(float, x)), y] for x, y in zip(X_test, y_test)])
    diabetes = load_diabetes(scaled=False)
    D_train, D_test, t_train, t_test = train_test_split(
        diabetes.data, diabetes.target, test_size=0.25, random_state=0)
    header = [*diabetes.feature_names, "progression"]
    write_csv(folder / "diabetes_train.csv", header,
              [[*map(repr, map(float, x)), repr(float(y))] for x, y in zip(D_train, t_train)])
    write_csv(folder / "diabetes_test.csv", header,
              [[*map(repr, map(float, x)), repr(float(y))] for x, y in zip(D_test, t_test)])
    return {"folder": folder, "wine": (X_train, X_test, y_train, y_test),
            "diabetes": (D_train, D_test, t_train, t_test)}


@pytest.fixture(scope="module")
def wine_run(data):
    """One default training run on the wine rows (the real thing: default settings)."""
    folder = data["folder"]
    result = run_cli("train", "wine_train.csv", "--target", "cultivar", "--out", "wine.npz",
                     cwd=folder)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def diabetes_run(data, wine_run):
    folder = data["folder"]
    result = run_cli("train", "diabetes_train.csv", "--target", "progression", "--out",
                     "diabetes.npz", cwd=folder)
    assert result.returncode == 0, result.stderr
    return result


def run_folder_of(result: subprocess.CompletedProcess, cwd: Path) -> Path:
    line = next(line for line in result.stdout.splitlines() if line.startswith("run folder: "))
    return cwd / line.removeprefix("run folder: ")


# ---------------------------------------------------------------------- what it reaches
def test_wine_with_defaults_reaches_95_percent_on_held_out_rows(data, wine_run):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = data["folder"]
    assert "task: classification (guessed: the target holds text labels" in wine_run.stdout
    result = run_cli("evaluate", "wine.npz", "wine_test.csv", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    X_train, X_test, y_train, y_test = data["wine"]
    assert report["rows"] == len(y_test)
    right = report["metrics"]["right"]
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    baseline_right = int((baseline.fit(X_train, y_train).predict(X_test) == y_test).sum())
    print(f"wine held out: dlscratch {right}/{len(y_test)}, logistic regression "
          f"{baseline_right}/{len(y_test)}")
    assert right / len(y_test) >= 0.95 or right >= baseline_right - 1
    counts = np.array(report["confusion_matrix"])
    assert counts.sum() == len(y_test) and np.trace(counts) == right
    assert sorted(report["classes"]) == sorted(CULTIVARS)


def test_diabetes_with_defaults_is_within_005_r2_of_linear_regression(data, diabetes_run):
    from sklearn.linear_model import LinearRegression

    folder = data["folder"]
    assert "task: regression (guessed" in diabetes_run.stdout
    result = run_cli("evaluate", "diabetes.npz", "diabetes_test.csv", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    r2 = json.loads(result.stdout)["metrics"]["r2"]
    X_train, X_test, y_train, y_test = data["diabetes"]
    baseline = LinearRegression().fit(X_train, y_train).score(X_test, y_test)
    print(f"diabetes held out: dlscratch R^2 {r2:.4f}, linear regression {baseline:.4f}")
    assert r2 >= baseline - 0.05


def test_evaluate_prints_metrics_and_a_confusion_matrix(data, wine_run):
    result = run_cli("evaluate", "wine.npz", "wine_test.csv", cwd=data["folder"])
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout
    for name in CULTIVARS:
        assert name in result.stdout


# ---------------------------------------------------------------------- run folders
def load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the test extra installs tomli
        import tomli as tomllib
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def test_a_run_folder_keeps_config_history_model_pictures_and_command(data, wine_run):
    folder = data["folder"]
    run = run_folder_of(wine_run, folder)
    assert run.parent == folder / "runs" and run.name.endswith("-wine_train")
    expected = {"command.txt", "config.toml", "history.csv", "history.json", "run.json",
                "model.npz", "loss.png", "confusion_matrix.png"}
    assert expected <= {p.name for p in run.iterdir()}
    assert (run / "command.txt").read_text().strip() == \
        "dlscratch train wine_train.csv --target cultivar --out wine.npz"
    config = load_toml(run / "config.toml")
    assert config["target"] == "cultivar" and config["task"] == "classification"
    assert config["layers"] == [64, 32] and config["seed"] == 0
    history = json.loads((run / "history.json").read_text())
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed" and info["epochs_run"] == len(history["train_loss"])
    header, rows = read_csv(run / "history.csv")
    assert header[:4] == ["epoch", "loss", "lr", "val_loss"] and "val_accuracy" in header
    assert len(rows) == info["epochs_run"]
    evaluated = [row for row in rows if row[3]]
    assert [int(row[0]) for row in evaluated] == history["eval_epochs"]
    for picture in ("loss.png", "confusion_matrix.png"):
        assert (run / picture).read_bytes()[:8] == PNG_MAGIC
    # the model in the run folder and --out are the same network, with its data description
    assert (run / "model.npz").read_bytes() == (folder / "wine.npz").read_bytes()


def test_the_saved_config_trains_the_same_model_again(data, wine_run, tmp_path):
    run = run_folder_of(wine_run, data["folder"])
    result = run_cli("train", data["folder"] / "wine_train.csv", "--config",
                     run / "config.toml", "--out", "again.npz", "--quiet", "--no-plots",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from dlscratch import NeuralNetwork

    first = NeuralNetwork.load(data["folder"] / "wine.npz").state_dict()
    again = NeuralNetwork.load(tmp_path / "again.npz").state_dict()
    assert first.keys() == again.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])


def test_regression_run_draws_predicted_against_actual(data, diabetes_run):
    run = run_folder_of(diabetes_run, data["folder"])
    assert (run / "predicted_vs_actual.png").read_bytes()[:8] == PNG_MAGIC
    assert not (run / "confusion_matrix.png").exists()
    header, _ = read_csv(run / "history.csv")
    assert {"val_r2", "val_rmse", "val_mae"} <= set(header)


def test_runs_lists_every_run_with_its_best_metric(data, wine_run, diabetes_run):
    result = run_cli("runs", cwd=data["folder"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    wine = next(line for line in lines if "wine_train" in line)
    diabetes = next(line for line in lines if "diabetes_train" in line)
    assert "classification" in wine and "val accuracy" in wine and "%" in wine
    assert "regression" in diabetes and "val r2" in diabetes
    as_json = run_cli("runs", "--json", cwd=data["folder"])
    entries = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {e["best_metric"] for e in entries} >= {"val accuracy", "val r2"}
    empty = run_cli("runs", "--runs-dir", "nothing-here", cwd=data["folder"])
    assert empty.returncode == 0 and "no runs" in empty.stdout


def test_plot_history_redraws_a_runs_curves(data, wine_run, tmp_path):
    run = run_folder_of(wine_run, data["folder"])
    out = tmp_path / "curves.png"
    result = run_cli("plot", "history", run, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == PNG_MAGIC
    missing = run_cli("plot", "history", tmp_path / "nope", cwd=tmp_path)
    assert "no such run folder" in one_error_line(missing)


def test_plot_history_takes_a_run_name_as_runs_prints_it(data, wine_run):
    listed = run_cli("runs", cwd=data["folder"])
    name = Path(run_folder_of(wine_run, data["folder"])).name
    assert name in listed.stdout
    result = run_cli("plot", "history", name, "--out", "by-name.png", cwd=data["folder"])
    assert result.returncode == 0, result.stderr
    assert (data["folder"] / "by-name.png").read_bytes()[:8] == PNG_MAGIC


def test_plot_activations_draws_every_activation(tmp_path):
    result = run_cli("plot", "activations", "--out", "act.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "act.png").read_bytes()[:8] == PNG_MAGIC
    for name in ("Sigmoid", "Tanh", "ReLU", "GELU"):
        assert name in result.stdout


# ---------------------------------------------------------------------- predict, summary
def test_predict_adds_class_names_and_probabilities(data, wine_run, tmp_path):
    folder = data["folder"]
    result = run_cli("predict", folder / "wine.npz", folder / "wine_test.csv", "--out",
                     tmp_path / "p.csv", "--proba", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, rows = read_csv(tmp_path / "p.csv")
    in_header, in_rows = read_csv(folder / "wine_test.csv")
    assert header[:len(in_header)] == in_header  # the input columns, target included
    assert header[len(in_header)] == "prediction"
    probability_columns = header[len(in_header) + 1:]
    assert sorted(probability_columns) == sorted(f"proba_{c}" for c in CULTIVARS)
    assert [row[:len(in_header)] for row in rows] == in_rows
    for row in rows:
        assert row[len(in_header)] in CULTIVARS
        probabilities = np.array(row[len(in_header) + 1:], dtype=float)
        assert abs(probabilities.sum() - 1) < 1e-4
        assert probability_columns[probabilities.argmax()] == f"proba_{row[len(in_header)]}"
    right = sum(row[len(in_header)] == row[in_header.index("cultivar")] for row in rows)
    evaluated = json.loads(run_cli("evaluate", folder / "wine.npz", folder / "wine_test.csv",
                                   "--json", cwd=tmp_path).stdout)
    assert right == evaluated["metrics"]["right"]


def test_predict_without_the_target_writes_numbers_to_stdout(data, diabetes_run, tmp_path):
    folder = data["folder"]
    header, rows = read_csv(folder / "diabetes_test.csv")
    # columns in another order, the target left out: the model finds its features by name
    features = header[:-1][::-1]
    write_csv(tmp_path / "new.csv", features,
              [[row[header.index(name)] for name in features] for row in rows[:5]])
    result = run_cli("predict", folder / "diabetes.npz", "new.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(features) + ",prediction" and len(lines) == 6
    predictions = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert all(20 < p < 360 for p in predictions)  # the target's units, not standardised
    proba = run_cli("predict", folder / "diabetes.npz", "new.csv", "--proba", cwd=tmp_path)
    assert "regression model" in one_error_line(proba)


def test_summary_describes_layers_data_and_classes(data, wine_run):
    result = run_cli("summary", "wine.npz", cwd=data["folder"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Dense(neurons=64" in out and "total parameters" in out
    assert "task: classification; target: 'cultivar'" in out
    assert "alcohol" in out and "barolo" in out and "validation: accuracy" in out


# ---------------------------------------------------------------------- output modes
def test_json_prints_one_json_line_per_evaluation_then_the_result(data, tmp_path):
    result = run_cli("train", data["folder"] / "wine_train.csv", "--target", "cultivar",
                     "--epochs", "6", "--eval-every", "2", "--json", "--no-plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["epoch"] for e in events[:-1]] == [2, 4, 6]
    assert all(e["event"] == "evaluation" and "accuracy" in e for e in events[:-1])
    assert events[-1]["event"] == "result" and events[-1]["epochs_run"] == 6
    assert os.path.isfile(tmp_path / events[-1]["model"])


def test_quiet_prints_only_the_results(data, tmp_path):
    result = run_cli("train", data["folder"] / "wine_train.csv", "--target", "cultivar", *FAST,
                     "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert not any(line.lstrip().startswith("epoch ") for line in lines)
    assert "task:" not in result.stdout
    assert "validation rows: accuracy" in result.stdout and result.stderr == ""


def test_without_validation_rows_it_trains_all_epochs_on_every_row(data, tmp_path):
    result = run_cli("train", data["folder"] / "wine_train.csv", "--target", "cultivar",
                     "--validation", "0", "--epochs", "4", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training rows:   accuracy" in result.stdout and "validation rows" not in result.stdout
    run = run_folder_of(result, tmp_path)
    info = json.loads((run / "run.json").read_text())
    assert (info["epochs_run"], info["validation_rows"], info["validation_metrics"]) == (4, 0, None)
    assert info["training_rows"] == info["rows"] == len(data["wine"][0])
    assert (run / "loss.png").read_bytes()[:8] == PNG_MAGIC
    assert "train accuracy" in run_cli("runs", cwd=tmp_path).stdout


def test_flags_override_the_config_file(data, tmp_path):
    (tmp_path / "settings.toml").write_text(
        'target = "cultivar"\nepochs = 4\nlayers = [8]\nlr = 0.01\neval-every = 2\n')
    result = run_cli("train", data["folder"] / "wine_train.csv", "--config", "settings.toml",
                     "--epochs", "2", "--no-plots", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = run_folder_of(result, tmp_path)
    config = load_toml(run / "config.toml")
    assert (config["epochs"], config["layers"], config["lr"], config["eval_every"]) == \
        (2, [8], 0.01, 2)
    assert json.loads((run / "run.json").read_text())["epochs_run"] == 2


@pytest.mark.parametrize("text, expected", [
    ('target = "cultivar"\nlerning_rate = 0.1\n', "unknown setting 'lerning_rate'"),
    ('target = "cultivar"\nepochs = 2.5\n', "epochs = 2.5; expected a positive integer"),
    ('target = "cultivar"\nlayers = "wide"\n', "layers"),
    ('target = \n', "not valid TOML"),
])
def test_a_bad_config_file_is_one_clear_line(data, tmp_path, text, expected):
    (tmp_path / "bad.toml").write_text(text)
    result = run_cli("train", data["folder"] / "wine_train.csv", "--config", "bad.toml",
                     cwd=tmp_path)
    assert expected in one_error_line(result)
    assert not (tmp_path / "runs").exists()


def test_the_default_seed_repeats_a_run_exactly(data, tmp_path):
    paths = []
    for name in ("a", "b"):
        result = run_cli("train", data["folder"] / "diabetes_train.csv", "--target",
                         "progression", *FAST, "--quiet", "--out", f"{name}.npz", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        paths.append(tmp_path / f"{name}.npz")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert len(list((tmp_path / "runs").iterdir())) == 2  # two runs, two folders


def test_image_data_gets_a_grid_of_misclassified_examples(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    header = [f"pixel{i}" for i in range(64)] + ["digit"]
    write_csv(tmp_path / "digits.csv", header,
              [[*map(str, x.astype(int)), str(y)] for x, y in zip(digits.data[:400],
                                                                 digits.target[:400])])
    result = run_cli("train", "digits.csv", "--target", "digit", "--epochs", "2", "--quiet",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = run_folder_of(result, tmp_path)
    assert (run / "misclassified.png").read_bytes()[:8] == PNG_MAGIC
    assert (run / "confusion_matrix.png").read_bytes()[:8] == PNG_MAGIC


# ---------------------------------------------------------------------- bad input
@pytest.fixture
def small(tmp_path):
    """A few rows of a clean classification table to spoil one way or another."""
    header = ["a", "b", "label"]
    rows = [["1.0", "2.0", "x"], ["2.0", "1.0", "y"], ["3.0", "0.5", "x"],
            ["0.5", "3.0", "y"], ["1.5", "2.5", "x"], ["2.5", "1.5", "y"]]
    return tmp_path, header, rows


def train_fails(folder: Path, csv_name: str, *extra: str) -> str:
    target = [] if "--target" in extra else ["--target", "label"]
    result = run_cli("train", csv_name, *target, "--out", "model.npz", *extra, cwd=folder)
    line = one_error_line(result)
    assert not (folder / "runs").exists(), "nothing is written when training cannot start"
    return line


def test_missing_file(small):
    folder, _, _ = small
    assert train_fails(folder, "nope.csv") == "dlscratch train: error: nope.csv: no such file"


def test_empty_csv(small):
    folder, _, _ = small
    (folder / "empty.csv").write_text("")
    assert "empty.csv: the file is empty" in train_fails(folder, "empty.csv")
    (folder / "header.csv").write_text("a,b,label\n")
    assert "has a header but no data rows" in train_fails(folder, "header.csv")


def test_target_that_does_not_exist_lists_the_columns(small):
    folder, header, rows = small
    write_csv(folder / "d.csv", header, rows)
    result = run_cli("train", "d.csv", "--target", "price", cwd=folder)
    line = one_error_line(result)
    assert "no column 'price'; the columns are 'a', 'b', 'label'" in line


def test_target_with_one_class(small):
    folder, header, rows = small
    write_csv(folder / "d.csv", header, [[a, b, "x"] for a, b, _ in rows])
    assert "holds one class ('x') in all 6 rows" in train_fails(folder, "d.csv")


def test_text_feature_names_the_column_and_line(small):
    folder, header, rows = small
    rows[3][1] = "red"
    write_csv(folder / "d.csv", header, rows)
    line = train_fails(folder, "d.csv")
    assert "column 'b' holds text ('red' on line 5)" in line and "--ignore" in line
    ok = run_cli("train", "d.csv", "--target", "label", "--ignore", "b", *FAST, "--quiet",
                 cwd=folder)
    assert ok.returncode == 0, ok.stderr


def test_missing_value_names_the_column_and_line(small):
    folder, header, rows = small
    rows[4][0] = ""
    write_csv(folder / "d.csv", header, rows)
    assert "column 'a' has a missing value ('') on line 6" in train_fails(folder, "d.csv")
    rows[4][0] = "1"
    rows[1][2] = "NA"
    write_csv(folder / "d.csv", header, rows)
    assert "target column 'label' has a missing value ('NA') on line 3" in \
        train_fails(folder, "d.csv")


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(small):
    folder, _, _ = small
    (folder / "d.csv").write_text('a,note,label\n1,"two\nlines",x\n\n2,3,y\n3,oops,x\n')
    line = train_fails(folder, "d.csv")
    assert "column 'note' holds text ('two\\nlines' on line 2)" in line


def test_ragged_row_is_named_by_line(small):
    folder, header, rows = small
    text = "a,b,label\n1,2,x\n3,4\n"
    (folder / "d.csv").write_text(text)
    assert "line 3 has 2 field(s), but the header (line 1) has 3" in \
        train_fails(folder, "d.csv")


def test_a_file_that_is_not_a_model(small):
    folder, header, rows = small
    write_csv(folder / "d.csv", header, rows)
    (folder / "junk.npz").write_bytes(b"this is not a model")
    for command in ("predict", "evaluate"):
        line = one_error_line(run_cli(command, "junk.npz", "d.csv", cwd=folder))
        assert "is not a dlscratch file" in line
    np.savez(folder / "arrays.npz", x=np.zeros(3))
    line = one_error_line(run_cli("summary", "arrays.npz", cwd=folder))
    assert "not a dlscratch file" in line
    line = one_error_line(run_cli("predict", "missing.npz", "d.csv", cwd=folder))
    assert "missing.npz: no such model file" in line


def test_a_network_saved_without_data_description_is_refused(small):
    folder, header, rows = small
    write_csv(folder / "d.csv", header, rows)
    from dlscratch import Dense, MeanSquaredError, NeuralNetwork

    net = NeuralNetwork([Dense(1)], MeanSquaredError())
    net.build(2)
    net.save(folder / "plain.npz")
    line = one_error_line(run_cli("predict", "plain.npz", "d.csv", cwd=folder))
    assert "was not written by 'dlscratch train'" in line


def test_columns_that_differ_from_the_models_are_named(data, wine_run, tmp_path):
    header, rows = read_csv(data["folder"] / "wine_test.csv")
    keep = [i for i, name in enumerate(header) if name not in ("proline", "hue")]
    write_csv(tmp_path / "fewer.csv", [header[i] for i in keep],
              [[row[i] for i in keep] for row in rows])
    for command in ("predict", "evaluate"):
        line = one_error_line(run_cli(command, data["folder"] / "wine.npz", "fewer.csv",
                                      cwd=tmp_path))
        assert "lacks column(s) 'hue', 'proline' that the model" in line
    no_target = [i for i, name in enumerate(header) if name != "cultivar"]
    write_csv(tmp_path / "nolabel.csv", [header[i] for i in no_target],
              [[row[i] for i in no_target] for row in rows])
    line = one_error_line(run_cli("evaluate", data["folder"] / "wine.npz", "nolabel.csv",
                                  cwd=tmp_path))
    assert "no target column 'cultivar'" in line
    rows[2][header.index("cultivar")] = "chianti"
    write_csv(tmp_path / "unknown.csv", header, rows)
    line = one_error_line(run_cli("evaluate", data["folder"] / "wine.npz", "unknown.csv",
                                  cwd=tmp_path))
    assert "holds 'chianti' on line 4, a class the model was not trained on" in line


def test_debug_shows_the_traceback(small):
    folder, _, _ = small
    result = run_cli("train", "nope.csv", "--target", "label", "--debug", cwd=folder)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "DataError" in result.stderr


@pytest.mark.parametrize("argv, expected", [
    (["train", "d.csv"], "--target"),
    (["train", "d.csv", "--target", "label", "--epochs", "0"], "--epochs"),
    (["train", "d.csv", "--target", "label", "--task", "ranking"], "invalid choice"),
    (["train", "d.csv", "--target", "label", "--layers", "64,x"], "--layers"),
    (["train", "d.csv", "--target", "label", "--validation", "1"], "--validation"),
    (["train", "d.csv", "--target", "label", "--quiet", "--json"], "not allowed with"),
    (["predict", "model.npz"], "required"),
    (["plot"], "required"),
])
def test_wrong_usage_exits_2_with_the_usage_message(small, argv, expected):
    folder, header, rows = small
    write_csv(folder / "d.csv", header, rows)
    result = run_cli(*argv, cwd=folder)
    assert result.returncode == 2, result.stderr
    assert "usage: dlscratch" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "runs").exists()


def test_a_failed_run_never_overwrites_an_existing_model(small):
    folder, header, rows = small
    (folder / "model.npz").write_bytes(b"the user's precious model")
    rows[2][0] = "n/a"
    write_csv(folder / "d.csv", header, rows)
    train_fails(folder, "d.csv")
    # diverging in the first epoch: nothing written either
    rows[2][0] = "3.0"
    write_csv(folder / "d.csv", header, rows)
    diverge = ["--ignore", "label", "--target", "a", "--optimizer", "sgd", "--lr", "1e20",
               "--activation", "relu"]
    line = train_fails(folder, "d.csv", *diverge, "--batch-size", "1")
    assert "training diverged in the first epoch, nothing was written" in line
    assert (folder / "model.npz").read_bytes() == b"the user's precious model"
    # diverging later (one batch per epoch: the first epoch ends): the run is kept, no model
    result = run_cli("train", "d.csv", *diverge, "--out", "model.npz", cwd=folder)
    line = one_error_line(result)
    assert "no model was saved; the run is in" in line and "diverged" in line
    (run,) = (folder / "runs").iterdir()
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "diverged" and info["model"] is None and info["epochs_run"] >= 1
    assert not (run / "model.npz").exists() and (run / "history.csv").exists()
    assert (folder / "model.npz").read_bytes() == b"the user's precious model"


def test_missing_matplotlib_is_reported_before_any_work(small):
    folder, header, rows = small
    write_csv(folder / "d.csv", header, rows)
    code = ("import sys; sys.modules['matplotlib'] = None; from dlscratch.cli import main; "
            "raise SystemExit(main(['train', 'd.csv', '--target', 'label']))")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=60)
    line = one_error_line(result)
    assert "need matplotlib" in line and 'pip install "dlscratch[cli]"' in line
    assert not (folder / "runs").exists()


def test_missing_toml_reader_on_old_python_is_one_clear_line(small):
    folder, header, rows = small
    write_csv(folder / "d.csv", header, rows)
    (folder / "s.toml").write_text('target = "label"\n')
    code = ("import sys; sys.modules['tomllib'] = None; sys.modules['tomli'] = None; "
            "from dlscratch.cli import main; "
            "raise SystemExit(main(['train', 'd.csv', '--config', 's.toml']))")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=60)
    assert "needs tomli" in one_error_line(result)
