"""Reading CSV files for the command line: line numbers, missing values, labels, the scaler."""

from __future__ import annotations

import numpy as np
import pytest

from dlscratch.csvdata import (
    DataError,
    Standardizer,
    class_names,
    guess_task,
    numeric_matrix,
    read_csv,
    split_rows,
)


def test_rows_keep_their_line_numbers_across_blank_lines_and_quoted_breaks(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('\ufeffa,b\n1,"x\ny"\n\n\n2,3\n', encoding="utf-8")
    table = read_csv(path)
    assert table.columns == ["a", "b"]  # the byte-order mark is not part of the name
    assert table.lines == [2, 6]  # line 3 ends the quoted field; 4 and 5 are blank
    with pytest.raises(DataError, match=r"column 'b' holds text \('x\\ny' on line 2\)"):
        numeric_matrix(table, ["a", "b"])


@pytest.mark.parametrize("text, words", [
    ("", "the file is empty"),
    ("\n\n", "the file is empty"),
    ("a,b\n", "header but no data rows"),
    ("a,a\n1,2\n", "names column 'a' twice"),
    ("a,,c\n1,2,3\n", "column 2 of the header"),
    ("a,b\n1,2,3\n", "line 2 has 3 field"),
])
def test_malformed_files_are_data_errors(tmp_path, text, words):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=words):
        read_csv(path)


def test_a_binary_file_is_not_read_as_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_csv(path)


@pytest.mark.parametrize("cell, words", [
    ("", "missing value"), ("NA", "missing value"), ("?", "missing value"),
    ("inf", "expected a finite number"), ("1_000", "holds text"), ("abc", "holds text"),
])
def test_bad_cells_are_named(tmp_path, cell, words):
    path = tmp_path / "d.csv"
    path.write_text(f"a,b\n1,2\n3,{cell}\n")
    with pytest.raises(DataError, match=words):
        numeric_matrix(read_csv(path), ["a", "b"])


def test_task_guess_and_class_order():
    assert guess_task(["a", "b"])[0] == "classification"
    assert guess_task(["1", "2", "3"])[0] == "classification"
    assert guess_task([str(i) for i in range(50)])[0] == "regression"
    assert guess_task(["1.5", "2", "3"])[0] == "regression"
    assert class_names(["10", "9", "2"]) == ["2", "9", "10"]
    assert class_names(["b", "a", "b"]) == ["a", "b"]


def test_split_keeps_every_class_and_repeats():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2)
    train, val = split_rows(len(labels), 0.2, 3, labels)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    assert set(labels[train]) == {0, 1, 2} and set(labels[val]) == {0, 1, 2}
    again = split_rows(len(labels), 0.2, 3, labels)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert len(split_rows(10, 0.0, 0)[1]) == 0


def test_standardizer_round_trips_and_leaves_constant_columns_at_zero():
    X = np.array([[1.0, 5.0], [3.0, 5.0]])
    scaler = Standardizer.fit(X)
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z, [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(scaler.inverse(Z), X)
    again = Standardizer.from_dict(scaler.to_dict(), 2, "m")
    np.testing.assert_array_equal(again.mean, scaler.mean)
    with pytest.raises(DataError, match="does not fit 3 column"):
        Standardizer.from_dict(scaler.to_dict(), 3, "m")
