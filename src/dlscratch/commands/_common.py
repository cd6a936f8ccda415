"""What the commands share: errors and exit codes, argument types, model files, printing."""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from .._io import json_ready  # noqa: F401  (the commands import it from here)
from ..csvdata import DataError

PLOTS_EXTRA = 'pip install "dlscratch[cli]"'
#: The metadata "kind" of a model written by ``dlscratch train``.
MODEL_KIND = "dlscratch.cli.tabular"


class CommandError(Exception):
    """A problem the user can fix (data, files, a model): one line on stderr, exit status 1."""


#: The largest count an option takes (epochs, batch size, evaluations between stops): a run of
#: 10**20 epochs is a typing slip, not a plan.
MAX_COUNT = 10_000_000


def positive_int(text: str) -> int:
    """argparse type: an integer in [1, MAX_COUNT]."""
    try:
        value = int(text) if len(str(text)) <= 30 else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {str(text)[:40]!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {MAX_COUNT:,}, "
                                         f"got {value:,}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def fraction(low_open: bool, high_open: bool) -> Callable[[str], float]:
    """argparse type: a number between 0 and 1 (each end included unless open)."""
    def parse(text: str) -> float:
        value = _float(text)
        if value < 0 or value > 1 or (low_open and value == 0) or (high_open and value == 1):
            interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text!r}")
        return value
    parse.__name__ = "fraction"
    return parse


def _float(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def layer_sizes(text: str) -> list[int]:
    """argparse type: hidden layer sizes such as ``64,32`` (``none`` or ``""`` for none)."""
    text = str(text).strip()
    if text.lower() in ("", "none", "0"):
        return []
    sizes = []
    for part in text.split(","):
        try:
            size = int(part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected sizes of hidden layers such as 64,32 (or none), got {text!r}") from None
        if size < 1:
            raise argparse.ArgumentTypeError(f"expected positive layer sizes, got {text!r}")
        sizes.append(size)
    return sizes


def column_list(text: str) -> list[str]:
    """argparse type: comma-separated column names."""
    return [name.strip() for name in str(text).split(",") if name.strip()]


def add_debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="on an error, print the full traceback, not just one line")


def run_guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``handler``; a user's error becomes one line on stderr and exit status 1."""
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("dlscratch: interrupted", file=sys.stderr)
        return 130
    except (CommandError, DataError, ValueError, TypeError, OSError, ImportError) as error:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"dlscratch {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 1
    except MemoryError as error:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"dlscratch {args.command}: error: not enough memory for these settings "
              f"({one_line(error)}); choose smaller layers or batches", file=sys.stderr)
        return 1


def one_line(error: BaseException) -> str:
    message = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    return " ".join(message.split())


def require_matplotlib(what: str = "the pictures") -> None:
    """Fail at once, before any work, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CommandError(f"{what} need matplotlib, which is not installed; install it with: "
                           f"{PLOTS_EXTRA}") from None


def check_regular_file(path: str, what: str, flag: str = "") -> str:
    """``path`` when it is a regular file (or a link to one) that can be opened for reading;
    else a CommandError saying what it is: missing, a folder, a FIFO, a device, a link loop."""
    from .._io import open_regular_file

    prefix = f"{flag} " if flag else ""
    try:
        open_regular_file(path, what).close()
    except FileNotFoundError:
        raise CommandError(f"{prefix}{path}: no such {what}") from None
    except ValueError as error:
        raise CommandError(f"{prefix}{error}") from None
    except OSError as error:
        raise CommandError(f"{prefix}{path}: cannot be read: {error.strerror or error}") from None
    return path


def load_model(path: str):
    """(network, metadata) of a model written by ``dlscratch train``; CommandError otherwise."""
    from ..network import NeuralNetwork
    from ..persistence import ModelFileError

    check_regular_file(path, "model file")
    try:
        net = NeuralNetwork.load(path)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such model file") from None
    except ModelFileError as error:
        raise CommandError(one_line(error)) from None
    metadata = net.metadata
    if not isinstance(metadata, dict) or metadata.get("kind") != MODEL_KIND:
        raise CommandError(f"{path} is a dlscratch network but was not written by 'dlscratch "
                           f"train' (it has no feature names, scaler or task); train one with "
                           f"'dlscratch train DATA.csv --target COLUMN'")
    check_model_metadata(metadata, net, path)
    return net, metadata


def check_model_metadata(metadata: dict, net, path: str) -> None:
    """The entries the commands rely on, with the types they need."""
    features = metadata.get("features")
    task = metadata.get("task")
    ok = (isinstance(features, list) and features and all(isinstance(f, str) for f in features)
          and task in ("classification", "regression")
          and isinstance(metadata.get("target"), str))
    if ok and task == "classification":
        classes = metadata.get("classes")
        ok = isinstance(classes, list) and len(classes) >= 2 and \
            all(isinstance(c, str) for c in classes)
    if ok and net.input_shape is not None:
        ok = net.input_shape == (len(features),)
    if not ok:
        raise CommandError(f"{path}: the model's description of its data is damaged "
                           f"(features, target, task or classes)")
    outputs = _output_size(net, len(features))
    expected = len(metadata["classes"]) if task == "classification" else 1
    if outputs is not None and outputs != expected:
        what = f"{expected} classes" if task == "classification" else "one regression target"
        raise CommandError(f"{path}: the network has {outputs} output(s), but the model's "
                           f"description lists {what}; the file was edited or damaged")
    if task == "classification" and len(set(metadata["classes"])) != expected:
        raise CommandError(f"{path}: the model's class list names a class twice; the file was "
                           f"edited or damaged")


def _output_size(net, n_features: int) -> int | None:
    """The width of the network's output for one row of ``n_features`` zeros."""
    try:
        output = net.predict(np.zeros((1, n_features), dtype=net.dtype))
    except (ValueError, TypeError):
        return None
    return int(np.asarray(output).reshape(1, -1).shape[1])


def print_json(data: Any) -> None:
    """One JSON line on stdout, flushed (for scripts reading as it goes)."""
    print(json.dumps(json_ready(data)), flush=True)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def format_confusion(counts: np.ndarray, classes: list[str]) -> str:
    """The confusion matrix as text: a row per true class, a column per predicted class."""
    names = [str(c) for c in classes]
    width = max(6, *(len(n) for n in names), len(str(int(counts.max(initial=0)))))
    head = "true \\ predicted"
    first = max(len(head), *(len(n) for n in names))
    lines = [head.ljust(first) + "  " + "  ".join(n.rjust(width) for n in names)]
    for name, row in zip(names, counts):
        lines.append(name.ljust(first) + "  " + "  ".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)


def format_metrics(metrics: dict[str, float]) -> str:
    """``accuracy 96.4% (27/28)`` or ``r2 0.512, rmse 53.2, mae 42.1``."""
    parts = []
    for name, value in metrics.items():
        if name == "accuracy":
            parts.append(f"accuracy {100 * value:.1f}%")
        elif name in ("right", "rows"):
            continue
        else:
            parts.append(f"{name} {value:.4g}")
    if "right" in metrics and "rows" in metrics:
        parts[0] += f" ({int(metrics['right'])}/{int(metrics['rows'])})"
    return ", ".join(parts)
