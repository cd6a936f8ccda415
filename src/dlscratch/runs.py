"""Run folders: ``runs/<timestamp>-<name>/`` with the config, history, model, plots and command.

A run folder is created only once training has completed its first epoch, and every file in it
is written atomically, so an interrupted or failed run never leaves half a file behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from collections.abc import Iterable
from typing import Any

from ._io import atomic_write

RUN_FILE = "run.json"


def new_run_folder(runs_dir: str, name: str, now: float | None = None) -> str:
    """Create and return ``runs_dir/<YYYYmmdd-HHMMSS>-<name>`` (``-2``, ``-3``... if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"
    os.makedirs(runs_dir, exist_ok=True)
    base = os.path.join(runs_dir, f"{stamp}-{safe[:60]}")
    for attempt in range(1, 1000):
        path = base if attempt == 1 else f"{base}-{attempt}"
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise OSError(f"{base}: too many runs with this name in the same second")


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(text.encode("utf-8"))


def write_json(path: str, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def history_rows(history: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of a history: one row per epoch, evaluations on their epochs."""
    metric_names = list(history.get("metrics", {}))
    header = ["epoch", "loss", "lr", "val_loss", *(f"val_{name}" for name in metric_names)]
    evaluations = {epoch: i for i, epoch in enumerate(history.get("eval_epochs", []))}
    rows = []
    for index, loss in enumerate(history.get("train_loss", [])):
        epoch = index + 1
        lrs = history.get("lr", [])
        row: list[Any] = [epoch, loss, lrs[index] if index < len(lrs) else ""]
        at = evaluations.get(epoch)
        if at is None:
            row.extend([""] * (1 + len(metric_names)))
        else:
            row.append(history["val_loss"][at])
            row.extend(history["metrics"][name][at] for name in metric_names)
        rows.append(row)
    return header, rows


def write_history_csv(path: str, history: dict[str, Any]) -> None:
    header, rows = history_rows(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    write_text(path, buffer.getvalue())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


# ---------------------------------------------------------------------- TOML
def to_toml(values: dict[str, Any], comment: str = "") -> str:
    """Flat ``key = value`` TOML for str, int, float, bool and lists of them (None left out)."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"to_toml: cannot write {value!r} ({type(value).__name__})")


# ---------------------------------------------------------------------- listing
def list_runs(runs_dir: str) -> list[dict[str, Any]]:
    """The ``run.json`` of every run folder in ``runs_dir``, oldest first, with its ``folder``."""
    runs = []
    if not os.path.isdir(runs_dir):
        return runs
    for entry in sorted(os.scandir(runs_dir), key=lambda e: e.name):
        path = os.path.join(entry.path, RUN_FILE)
        if not entry.is_dir() or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                run = json.load(handle)
        except (OSError, ValueError):
            run = {"status": "unreadable"}
        if not isinstance(run, dict):
            run = {"status": "unreadable"}
        run["folder"] = entry.path
        runs.append(run)
    return runs


def best_metric(run: dict[str, Any]) -> tuple[str, float | None]:
    """(name, value) of the run's headline metric: validation accuracy or R^2 when present."""
    metrics = run.get("validation_metrics") or run.get("training_metrics") or {}
    for name in ("accuracy", "r2"):
        value = metrics.get(name)
        if isinstance(value, (int, float)):
            prefix = "val " if run.get("validation_metrics") else "train "
            return prefix + name, float(value)
    return "", None


def format_runs(runs: Iterable[dict[str, Any]]) -> str:
    """A table of runs: folder, status, task, target, epochs, best metric."""
    rows = [("run", "status", "task", "target", "epochs", "best metric")]
    for run in runs:
        name, value = best_metric(run)
        if value is None:
            shown = "-"
        elif name.endswith("accuracy"):
            shown = f"{name} {100 * value:.1f}%"
        else:
            shown = f"{name} {value:.4f}"
        rows.append((os.path.basename(run["folder"]), str(run.get("status", "?")),
                     str(run.get("task", "?")), str(run.get("target", "?")),
                     str(run.get("epochs_run", "?")), shown))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)
