"""Tables from CSV files (the stdlib ``csv`` module): numeric features, a target, a scaler.

Every problem is a ``DataError`` (a ValueError) whose message names the file, the column and the
line of the file (counted from 1, the header being line 1), so the command line can print it as
one line.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ._io import open_regular_file

#: Cells read as a missing value (compared after stripping spaces, case-insensitively).
MISSING = ("", "na", "n/a", "nan", "null", "none", "?", "-")
#: The most distinct integer values a target may hold to be guessed a class label.
MAX_GUESSED_CLASSES = 20
#: Fields larger than this are refused (csv's own default limit is 128 KiB).
FIELD_LIMIT = 1 << 20
#: The separators a file may use; the header line decides (see ``detect_delimiter``).
DELIMITERS = (",", ";", "\t", "|")


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


def detect_delimiter(header_line: str) -> str:
    """The separator of a CSV file, read off its header line (outside quotes).

    The rule: the one of ``,`` ``;`` tab ``|`` that occurs most often in the header line, a
    comma on a tie or when none occurs (a file of one column). So ``a;b;label`` is read with
    semicolons and ``a,b,label`` with commas, as a spreadsheet exports them.
    """
    outside, quoted = [], False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    text = "".join(outside)
    counts = {delimiter: text.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def read_csv(path: str | os.PathLike) -> Table:
    """The header and data rows of the CSV file at ``path`` (UTF-8, an optional BOM).

    The separator is a comma, a semicolon, a tab or ``|``, whichever the header line holds most
    (``detect_delimiter``). Only a regular file is read: a FIFO, a device, a folder or a
    symbolic-link loop is a DataError saying what the path is. Blank lines are skipped; a row
    with a different number of fields than the header, a duplicated or empty column name, an
    empty file or a file with no data rows is a DataError.
    """
    path = os.fspath(path)
    try:
        raw = open_regular_file(path, "CSV file")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except ValueError as error:
        raise DataError(f"{error}") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read: {error.strerror or error}") from None
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    header_line = 0
    try:
        with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
            first = ""
            while True:  # the first line that is not blank decides the separator
                first = handle.readline(FIELD_LIMIT)
                if not first or first.strip():
                    break
            handle.seek(0)
            reader = csv.reader(handle, delimiter=detect_delimiter(first))
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
                                    f"header (line {header_line}) has {len(header)}"
                                    f"{_separator_note(reader.dialect.delimiter)}")
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


def _separator_note(delimiter: str) -> str:
    shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "'|'"}[delimiter]
    return (f" (fields are separated by {shown}s, the separator the header line uses most; "
            f"quote a field that holds one)")


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


def _non_finite(cell: str) -> bool:
    """Whether ``cell`` spells a number that is not finite (inf, -Infinity, 1e999, -nan)."""
    text = cell.strip()
    if "_" in text:
        return False
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def target_cells(table: Table, column: str) -> list[str]:
    """The stripped target cells; a DataError on the first missing or non-finite one.

    A cell that spells a number but not a finite one (``inf``, ``-Infinity``, ``1e999``) is a
    data error naming its line, never a class label: a numeric column stays numeric.
    """
    k = table.index(column)
    cells = []
    for row, line in zip(table.rows, table.lines):
        cell = row[k].strip()
        if is_missing(cell):
            raise DataError(f"{table.path}: the target column {column!r} has a missing value "
                            f"({cell!r}) on line {line}; fill it in or remove the row")
        if _non_finite(cell):
            raise DataError(f"{table.path}: the target column {column!r} holds {cell!r} on "
                            f"line {line}; expected a finite number (or a text label that does "
                            f"not spell a number)")
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


def label_key(cell: str) -> Decimal | str:
    """What makes two labels the same class: its exact value for a label that is a finite
    number (so ``1``, ``1.0`` and ``+1`` are one class, ``1e0`` too), else its text."""
    text = cell.strip()
    if parse_number(text) is None:
        return text
    return Decimal(text)


def _label_name(key: Decimal | str, spellings: list[str]) -> str:
    """The name of a class: a whole number as digits (``1``), else its first spelling."""
    if isinstance(key, Decimal) and key == key.to_integral_value() and abs(key) < 10**30:
        return str(int(key))
    return spellings[0]


def class_names(cells: Sequence[str]) -> list[str]:
    """The distinct labels, numbers compared by value (``1`` and ``1.0`` are one class, named
    ``1``); numbers first in numeric order, then text labels in text order."""
    spellings: dict[Decimal | str, list[str]] = {}
    for cell in cells:
        spellings.setdefault(label_key(cell), []).append(cell.strip())
    numbers = sorted(key for key in spellings if isinstance(key, Decimal))
    texts = sorted(key for key in spellings if isinstance(key, str))
    return [_label_name(key, spellings[key]) for key in [*numbers, *texts]]


def encode_labels(table: Table, column: str, cells: Sequence[str],
                  classes: Sequence[str]) -> np.ndarray:
    """Integer labels of ``cells`` in ``classes`` (numbers compared by value); a DataError names
    an unknown label's line."""
    index: dict[Decimal | str, int] = {}
    for i, name in enumerate(classes):
        index.setdefault(label_key(name), i)
    labels = np.empty(len(cells), dtype=np.int64)
    for i, cell in enumerate(cells):
        key = label_key(cell)
        if key not in index:
            shown = ", ".join(repr(c) for c in classes[:20])
            raise DataError(f"{table.path}: the target column {column!r} holds {cell!r} on "
                            f"line {table.lines[i]}, a class the model was not trained on; "
                            f"its classes are {shown}")
        labels[i] = index[key]
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
    """x -> (x - mean) / std per column; a constant column keeps std = 1 (it becomes 0).

    Fitting is overflow-free for any finite data (a column near 1e300 or 1e-300 gets its true
    mean and std); ``transform`` of values far outside the training range is a DataError, not
    an infinity handed to the network.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """The mean and standard deviation of each column of ``X``, computed on X / max|X| so
        that no square or sum overflows."""
        X = np.asarray(X, dtype=np.float64)
        magnitude = np.abs(X).max(axis=0)
        magnitude = np.where(magnitude > 0, magnitude, 1.0)
        Z = X / magnitude
        mean_z = Z.mean(axis=0)
        std_z = np.sqrt(((Z - mean_z) ** 2).mean(axis=0))
        constant = (X == X[0]).all(axis=0)
        mean = np.where(constant, X[0], mean_z * magnitude)
        std = np.where(constant | (std_z * magnitude == 0), 1.0, std_z * magnitude)
        return cls(mean, std)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(X - mean) / std (as X / std - mean / std where X - mean would overflow)."""
        with np.errstate(over="ignore", invalid="ignore"):
            Z = (X - self.mean) / self.std
            if not np.isfinite(Z).all():
                Z = np.where(np.isfinite(Z), Z, X / self.std - self.mean / self.std)
        return Z

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Z * std + mean."""
        with np.errstate(over="ignore", invalid="ignore"):
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
    """The shortest text that reads back as the same float32 (predictions are float32), or 9
    significant digits for a value float32 cannot hold (beyond 3.4e38, below 1.2e-38)."""
    with np.errstate(over="ignore"):
        single = np.float32(value)
    if value == 0 or (np.isfinite(single) and abs(float(value)) >= np.finfo(np.float32).tiny):
        return np.format_float_positional(single, unique=True, trim="-")
    return f"{float(value):.9g}"
