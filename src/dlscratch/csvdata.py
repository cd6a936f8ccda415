"""Tables from CSV files (the stdlib ``csv`` module): numeric features, a target, a scaler.

Every problem is a ``DataError`` (a ValueError) whose message names the file, the column and the
line of the file (counted from 1, the header being line 1), so the command line can print it as
one line.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Cells read as a missing value (compared after stripping spaces, case-insensitively).
MISSING = ("", "na", "n/a", "nan", "null", "none", "?", "-")
#: The most distinct integer values a target may hold to be guessed a class label.
MAX_GUESSED_CLASSES = 20
#: Fields larger than this are refused (csv's own default limit is 128 KiB).
FIELD_LIMIT = 1 << 20


class DataError(ValueError):
    """A data file that cannot be used: missing, empty, malformed, or not what is expected."""


@dataclass
class Table:
    """The text cells of a CSV file: ``columns`` (the header) and ``rows`` with their ``lines``."""

    path: str
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]

    def index(self, column: str) -> int:
        """The position of ``column``, or a DataError listing the columns."""
        try:
            return self.columns.index(column)
        except ValueError:
            raise DataError(f"{self.path}: no column {column!r}; the columns are "
                            f"{_names(self.columns)}") from None

    def missing_columns(self, wanted: Sequence[str]) -> list[str]:
        """The names in ``wanted`` that the table lacks, in their order."""
        present = set(self.columns)
        return [name for name in wanted if name not in present]


def _names(columns: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


def is_missing(cell: str) -> bool:
    """Whether ``cell`` stands for a missing value (empty, NA, NaN, null, ?, ...)."""
    return cell.strip().lower() in MISSING


def read_csv(path: str | os.PathLike) -> Table:
    """The header and data rows of the CSV file at ``path`` (UTF-8, an optional BOM).

    Blank lines are skipped; a row with a different number of fields than the header, a
    duplicated or empty column name, an empty file or a file with no data rows is a DataError.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a folder; expected a CSV file")
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    header_line = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            previous = 0
            for record in reader:
                line, previous = previous + 1, reader.line_num
                if not record or all(not cell.strip() for cell in record):
                    continue
                if header is None:
                    header, header_line = [cell.strip() for cell in record], line
                    continue
                if len(record) != len(header):
                    raise DataError(f"{path}: line {line} has {len(record)} field(s), but the "
                                    f"header (line {header_line}) has {len(header)}")
                rows.append(record)
                lines.append(line)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not a UTF-8 text file ({error.reason} at byte "
                        f"{error.start}); expected a CSV file") from None
    except csv.Error as error:
        raise DataError(f"{path}: not a readable CSV file: {error}") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read: {error.strerror or error}") from None
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a header row of column names and "
                        f"rows of values")
    empty = [i + 1 for i, name in enumerate(header) if not name]
    if empty:
        raise DataError(f"{path}: column {empty[0]} of the header (line {header_line}) has no "
                        f"name")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: the header (line {header_line}) names column {name!r} "
                            f"twice")
        seen.add(name)
    if not rows:
        raise DataError(f"{path}: the file has a header but no data rows")
    return Table(path, header, rows, lines)


def parse_number(cell: str) -> float | None:
    """``cell`` as a finite float, or None when it is not one."""
    text = cell.strip()
    if "_" in text:  # float() accepts "1_000"; a CSV number does not
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numeric_matrix(table: Table, columns: Sequence[str]) -> np.ndarray:
    """The float64 matrix (rows, len(columns)) of ``columns``; DataError for the first bad cell."""
    out = np.empty((len(table.rows), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        k = table.index(name)
        for i, row in enumerate(table.rows):
            cell = row[k]
            value = parse_number(cell)
            if value is None:
                raise DataError(bad_cell_message(table, name, cell, table.lines[i], "feature"))
            out[i, j] = value
    return out


def bad_cell_message(table: Table, column: str, cell: str, line: int, role: str) -> str:
    """The one-line explanation of a cell that is not a finite number."""
    if is_missing(cell):
        return (f"{table.path}: column {column!r} has a missing value ({cell.strip()!r}) on line "
                f"{line}; fill it in or remove the row")
    number = None
    try:
        number = float(cell.strip())
    except ValueError:
        pass
    if number is not None and not math.isfinite(number):
        return (f"{table.path}: column {column!r} holds {cell.strip()!r} on line {line}; "
                f"expected a finite number")
    advice = ("the target of a regression must be numbers (or use --task classification)"
              if role == "target" else
              "features must be numbers: encode the column as numbers or leave it out with "
              "--ignore")
    return (f"{table.path}: column {column!r} holds text ({cell.strip()[:40]!r} on line "
            f"{line}); {advice}")


def target_cells(table: Table, column: str) -> list[str]:
    """The stripped target cells; a DataError on the first missing one."""
    k = table.index(column)
    cells = []
    for row, line in zip(table.rows, table.lines):
        cell = row[k].strip()
        if is_missing(cell):
            raise DataError(f"{table.path}: the target column {column!r} has a missing value "
                            f"({cell!r}) on line {line}; fill it in or remove the row")
        cells.append(cell)
    return cells


def guess_task(cells: Sequence[str]) -> tuple[str, str]:
    """("classification" or "regression", the reason) for target cells."""
    numbers = [parse_number(cell) for cell in cells]
    if any(value is None for value in numbers):
        return "classification", "the target holds text labels"
    distinct = set(numbers)
    if all(value == int(value) for value in distinct) and len(distinct) <= MAX_GUESSED_CLASSES:
        return "classification", (f"the target holds {len(distinct)} distinct whole "
                                  f"number(s), at most {MAX_GUESSED_CLASSES}")
    return "regression", "the target holds numbers with more than " \
                         f"{MAX_GUESSED_CLASSES} distinct values or fractions"


def class_names(cells: Sequence[str]) -> list[str]:
    """The distinct labels, in numeric order when all are numbers, else in text order."""
    distinct = set(cells)
    numbers = {cell: parse_number(cell) for cell in distinct}
    if all(value is not None for value in numbers.values()):
        return sorted(distinct, key=lambda cell: (numbers[cell], cell))
    return sorted(distinct)


def encode_labels(table: Table, column: str, cells: Sequence[str],
                  classes: Sequence[str]) -> np.ndarray:
    """Integer labels of ``cells`` in ``classes``; a DataError names an unknown label's line."""
    index = {name: i for i, name in enumerate(classes)}
    labels = np.empty(len(cells), dtype=np.int64)
    for i, cell in enumerate(cells):
        if cell not in index:
            shown = ", ".join(repr(c) for c in classes[:20])
            raise DataError(f"{table.path}: the target column {column!r} holds {cell!r} on "
                            f"line {table.lines[i]}, a class the model was not trained on; "
                            f"its classes are {shown}")
        labels[i] = index[cell]
    return labels


def regression_targets(table: Table, column: str, cells: Sequence[str]) -> np.ndarray:
    """The target cells as float64 numbers; a DataError names the first that is not one."""
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        value = parse_number(cell)
        if value is None:
            raise DataError(bad_cell_message(table, column, cell, table.lines[i], "target"))
        out[i] = value
    return out


class Standardizer:
    """x -> (x - mean) / std per column; a constant column keeps std = 1 (it becomes 0)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """The mean and standard deviation of each column of ``X``."""
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(X - mean) / std."""
        return (X - self.mean) / self.std

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Z * std + mean."""
        return Z * self.std + self.mean

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready lists (float64 round-trips exactly through JSON)."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict, size: int, where: str) -> Standardizer:
        """The inverse of ``to_dict``, checked: ``size`` finite means and positive stds."""
        try:
            mean = np.asarray(data["mean"], dtype=np.float64)
            std = np.asarray(data["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: the saved scaler is malformed; expected mean and std "
                            f"lists") from None
        if mean.shape != (size,) or std.shape != (size,) or not np.isfinite(mean).all() \
                or not (np.isfinite(std).all() and (std > 0).all()):
            raise DataError(f"{where}: the saved scaler does not fit {size} column(s) of "
                            f"finite numbers")
        return cls(mean, std)


def split_rows(n: int, fraction: float, seed: int | None,
               labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): ``fraction`` of the rows at random, per class if given.

    With ``labels`` every class keeps at least one training row and gives about ``fraction``
    of its rows (at least one when it has two or more) to validation.
    """
    rng = np.random.default_rng(seed)
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    if labels is None:
        order = rng.permutation(n)
        n_val = min(max(1, round(n * fraction)), n - 1)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    train, val = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_val = min(max(1, round(len(rows) * fraction)), len(rows) - 1) if len(rows) > 1 else 0
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def format_number(value: float) -> str:
    """The shortest text that reads back as the same float32 (predictions are float32)."""
    return np.format_float_positional(np.float32(value), unique=True, trim="-")
