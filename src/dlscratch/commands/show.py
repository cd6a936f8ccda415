"""``dlscratch plot activations``, ``dlscratch plot history RUN`` and ``dlscratch runs``."""

from __future__ import annotations

import argparse
import json
import os

from ..runs import RUN_FILE, list_runs
from ._common import (
    CommandError,
    add_debug,
    check_regular_file,
    print_json,
    require_matplotlib,
    run_guarded,
)


def register(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser("plot", help="draw the activation functions or a run's curves",
                               description="Draw a picture into a PNG file.")
    kinds = plot.add_subparsers(dest="plot", metavar="WHAT", required=True)
    activations = kinds.add_parser(
        "activations", help="every activation function and its derivative",
        description="Every element-wise activation of dlscratch (Linear, Sigmoid, Tanh, ReLU, "
                    "LeakyReLU, ELU, GELU) and its derivative, computed by the library's own "
                    "forward and backward passes.")
    activations.add_argument("--out", metavar="FILE.png", default="activations.png",
                             help="default: ./activations.png")
    add_debug(activations)
    activations.set_defaults(run_command=lambda args: run_guarded(run_plot_activations, args))
    history = kinds.add_parser(
        "history", help="redraw the loss curves of a run folder",
        description="Redraw the training and validation loss of a run from its history.json.")
    history.add_argument("run", metavar="RUN",
                         help="a run folder (runs/<timestamp>-<name>) or a run's name as "
                              "`dlscratch runs` lists it (<timestamp>-<name>)")
    history.add_argument("--out", metavar="FILE.png",
                         help="default: RUN/loss.png")
    history.add_argument("--runs-dir", metavar="DIR", default="runs",
                         help="where a bare run name is looked up (default: ./runs)")
    add_debug(history)
    history.set_defaults(run_command=lambda args: run_guarded(run_plot_history, args))

    runs = commands.add_parser("runs", help="list the run folders with their best metric",
                               description="List the runs of dlscratch train, oldest first, "
                                           "with status, task, epochs and the best validation "
                                           "metric.")
    runs.add_argument("--runs-dir", metavar="DIR", default="runs",
                      help="the folder of run folders (default: ./runs)")
    runs.add_argument("--json", action="store_true", help="print one JSON line per run")
    add_debug(runs)
    runs.set_defaults(run_command=lambda args: run_guarded(run_runs, args))


def run_plot_activations(args: argparse.Namespace) -> int:
    require_matplotlib("dlscratch plot")
    if os.path.isdir(args.out):
        raise CommandError(f"--out {args.out}: is a folder; expected a .png file name")
    from ..runplots import plot_activations

    names = plot_activations(args.out)
    print(f"{args.out}: {', '.join(names)} and their derivatives")
    return 0


def run_plot_history(args: argparse.Namespace) -> int:
    require_matplotlib("dlscratch plot")
    named = os.path.join(args.runs_dir, args.run)
    if not os.path.isdir(args.run) and os.path.isdir(named) and args.run == \
            os.path.basename(os.path.normpath(args.run)):
        args.run = named  # a run name as `dlscratch runs` prints it
    path = os.path.join(args.run, "history.json")
    if not os.path.isdir(args.run):
        raise CommandError(f"{args.run}: no such run folder (nor a run of that name in "
                           f"{args.runs_dir}; `dlscratch runs` lists them)")
    if os.path.lexists(path):  # a FIFO, a device or a link loop is named, never opened
        check_regular_file(path, "history file")
    if not os.path.isfile(path):
        raise CommandError(f"{args.run} is not a run folder of dlscratch train (no "
                           f"history.json)")
    try:
        with open(path, encoding="utf-8") as handle:
            history = json.load(handle)
        if not isinstance(history, dict) or not isinstance(history.get("train_loss"), list):
            raise ValueError("no train_loss list")
    except (ValueError, OSError) as error:
        raise CommandError(f"{path}: not a readable history ({error})") from None
    task = None
    try:
        with open(os.path.join(args.run, RUN_FILE), encoding="utf-8") as handle:
            task = json.load(handle).get("task")
    except (OSError, ValueError, AttributeError):
        pass
    from ..runplots import plot_loss_curves

    out = args.out or os.path.join(args.run, "loss.png")
    loss_name = {"classification": "cross-entropy",
                 "regression": "mean squared error (standardised target)"}.get(task, "loss")
    name = os.path.basename(os.path.normpath(args.run))
    plot_loss_curves(history, out, f"{name}: loss", loss_name)
    print(f"{out}: {len(history['train_loss'])} epochs")
    return 0


def run_runs(args: argparse.Namespace) -> int:
    from ..runs import best_metric, format_runs

    if os.path.exists(args.runs_dir) and not os.path.isdir(args.runs_dir):
        raise CommandError(f"--runs-dir {args.runs_dir}: is not a folder")
    runs = list_runs(args.runs_dir)
    if args.json:
        for run in runs:
            name, value = best_metric(run)
            print_json({"run": run["folder"], "status": run.get("status"),
                        "task": run.get("task"), "target": run.get("target"),
                        "epochs_run": run.get("epochs_run"), "best_metric": name or None,
                        "best_value": value})
        return 0
    if not runs:
        print(f"no runs in {args.runs_dir} yet; start one with: dlscratch train DATA.csv "
              f"--target COLUMN")
        return 0
    print(format_runs(runs))
    return 0
