"""``dlscratch train DATA.csv --target COLUMN``: a network for a CSV file, kept in a run folder."""

from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import shutil
import stat
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._version import __version__
from ..callbacks import Callback, EarlyStopping
from ..csvdata import DataError, Standardizer, read_csv, split_rows
from ..runs import new_run_folder, to_toml, write_history_csv, write_json, write_text
from ._common import (
    MAX_COUNT,
    MODEL_KIND,
    PLOTS_EXTRA,
    CommandError,
    add_debug,
    check_regular_file,
    column_list,
    confusion_matrix,
    format_confusion,
    format_metrics,
    fraction,
    json_ready,
    layer_sizes,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
    require_matplotlib,
    run_guarded,
)
from .tabular import (
    ACTIVATIONS,
    OPTIMIZERS,
    build_network,
    build_optimizer,
    check_standardised,
    metrics,
    predict,
    prepare_training,
)

#: The settings a config file may hold, their defaults, and how a value is checked.
DEFAULTS: dict[str, Any] = {
    "target": None, "task": None, "layers": [64, 32], "activation": "tanh",
    "optimizer": "adam", "lr": None, "epochs": 300, "batch_size": 32, "dropout": 0.0,
    "weight_decay": 0.03, "validation": 0.2, "patience": 5, "eval_every": 5, "seed": 0,
    "ignore": [], "name": None, "image_shape": None,
}
#: A settings file larger than this is not one (it is read whole into memory).
MAX_CONFIG_BYTES = 1 << 20
#: The learning rate of each optimizer when --lr is not given.
DEFAULT_LR = {"adam": 0.001, "adamw": 0.001, "rmsprop": 0.001, "sgd": 0.01, "momentum": 0.01,
              "adagrad": 0.01}

EXAMPLES = """\
examples:
  dlscratch train wine.csv --target cultivar
  dlscratch train houses.csv --target price --layers 128,64 --epochs 500 --out price.npz
  dlscratch train data.csv --config settings.toml --lr 0.0005     (flags override the file)

Features are standardised (the scaler is saved in the model file); a regression target is
standardised too and predictions come back in its units. Training stops when the validation
loss has not improved for --patience evaluations, and the model keeps the parameters of the best
evaluation. Every run is kept in RUNS_DIR/<timestamp>-<name>/: config.toml (reusable with
--config), command.txt, history.csv, history.json, run.json, model.npz and the pictures.
Exit status: 0 on success, 2 for wrong usage, 1 for data errors (one line on stderr).
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train a network on a CSV file and keep the run",
        description="Train a network on DATA.csv (a header row; numeric features; class labels\n"
                    "may be text) to predict --target; print metrics, save the model and a run\n"
                    "folder with its history and pictures. The defaults train well and repeat\n"
                    "exactly (fixed seed).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", metavar="DATA.csv", help="the training data: a CSV file with a "
                        "header row")
    parser.add_argument("--target", metavar="COLUMN", help="the column to predict (required, "
                        "here or in --config)")
    parser.add_argument("--task", choices=("regression", "classification"),
                        help="default: guessed from the target (text labels or at most 20 "
                             "distinct whole numbers: classification; otherwise regression)")
    parser.add_argument("--layers", type=layer_sizes, metavar="SIZES",
                        help="hidden layer sizes, comma-separated, or none for a linear model "
                             "(default: 64,32)")
    parser.add_argument("--activation", choices=ACTIVATIONS,
                        help="activation of the hidden layers (default: tanh; tanh and sigmoid "
                             "start from Glorot initialisation, the others from He)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="default: adam")
    parser.add_argument("--lr", type=positive_float, metavar="RATE",
                        help="learning rate (default: 0.001 for adam, adamw and rmsprop; 0.01 "
                             "for sgd, momentum and adagrad)")
    parser.add_argument("--epochs", type=positive_int, metavar="N",
                        help=f"most epochs to train (default: {DEFAULTS['epochs']}; early "
                             f"stopping usually ends sooner)")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help=f"rows per mini-batch (default: {DEFAULTS['batch_size']})")
    parser.add_argument("--dropout", type=fraction(False, True), metavar="P",
                        help="probability of dropping a hidden unit while training (default: 0, "
                             "no dropout)")
    parser.add_argument("--weight-decay", type=fraction(False, True), metavar="L2",
                        help="L2 penalty on the weights, not the biases (default: 0.03, which with "
                             "tanh and early stopping keeps small data sets from overfitting)")
    parser.add_argument("--validation", type=fraction(False, True), metavar="FRACTION",
                        help="share of the rows held out for validation and early stopping, "
                             "per class for classification (default: 0.2; 0: train on all "
                             "rows for --epochs epochs)")
    parser.add_argument("--patience", type=non_negative_int, metavar="N",
                        help=f"evaluations without improvement before stopping (default: "
                             f"{DEFAULTS['patience']}; 0: never stop early)")
    parser.add_argument("--eval-every", type=positive_int, metavar="N",
                        help="epochs between evaluations on the validation rows, one line each "
                             f"(default: {DEFAULTS['eval_every']})")
    parser.add_argument("--seed", type=non_negative_int, metavar="N",
                        help=f"seed of the split, the initial weights and the shuffling "
                             f"(default: {DEFAULTS['seed']}: runs repeat exactly)")
    parser.add_argument("--ignore", type=column_list, metavar="COLUMNS",
                        help="comma-separated columns to leave out (ids, text)")
    parser.add_argument("--image-shape", metavar="HxW",
                        help="the features are the pixels of HxW images (for the picture of "
                             "misclassified rows; default: guessed for a classification with a "
                             "square number >= 64 of features, 'none' to turn off)")
    parser.add_argument("--config", metavar="FILE.toml",
                        help="settings as 'key = value' lines (the names of these options, "
                             "with _ for -); flags given here override them")
    parser.add_argument("--out", metavar="MODEL",
                        help="also save the model here (it is always saved in the run folder); "
                             "a failed run never overwrites it")
    parser.add_argument("--name", help="name of the run folder (default: the CSV file's name)")
    parser.add_argument("--runs-dir", metavar="DIR", default="runs",
                        help="where run folders go (default: ./runs)")
    parser.add_argument("--no-plots", action="store_true",
                        help="write no pictures (then matplotlib is not needed)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true",
                        help="no progress bar or per-evaluation lines; only the results")
    output.add_argument("--json", action="store_true",
                        help="print JSON lines (one per evaluation, then the result) instead "
                             "of text")
    add_debug(parser)
    parser.set_defaults(run_command=lambda args: run_guarded(run_train, args), parser=parser)


# ---------------------------------------------------------------------- settings
def _check_setting(key: str, value: Any, where: str) -> Any:
    """A config file's value, checked with the rules of its flag."""
    def bad(expected: str) -> CommandError:
        return CommandError(f"{where}: {key} = {value!r}; expected {expected}")

    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_number = (is_int or isinstance(value, float)) and math.isfinite(value)
    if key in ("target", "name"):
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        return value
    if key in ("task", "activation", "optimizer"):
        choices = {"task": ("regression", "classification"), "activation": ACTIVATIONS,
                   "optimizer": OPTIMIZERS}[key]
        if value not in choices:
            raise bad(f"one of {', '.join(choices)}")
        return value
    if key == "layers":
        if isinstance(value, str):
            try:
                return layer_sizes(value)
            except argparse.ArgumentTypeError:
                raise bad("layer sizes such as [64, 32] or \"64,32\"") from None
        if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise bad("a list of positive integers such as [64, 32]")
        return list(value)
    if key == "ignore":
        if isinstance(value, str):
            return column_list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of column names")
        return list(value)
    if key in ("epochs", "batch_size", "eval_every"):
        if not is_int or not 1 <= value <= MAX_COUNT:
            raise bad(f"a positive integer up to {MAX_COUNT:,}")
        return value
    if key in ("patience", "seed"):
        if not is_int or value < 0:
            raise bad("an integer >= 0")
        return value
    if key == "lr":
        if not is_number or value <= 0:
            raise bad("a number > 0")
        return float(value)
    if key in ("dropout", "validation", "weight_decay"):
        if not is_number or not 0 <= value < 1:
            raise bad("a number in [0, 1)")
        return float(value)
    if key == "image_shape":
        if not isinstance(value, str):
            raise bad("a string such as \"8x8\" or \"none\"")
        return value
    raise CommandError(f"{where}: unknown setting {key!r}; expected one of "
                       f"{', '.join(DEFAULTS)}")


def read_config(path: str) -> dict[str, Any]:
    """The settings of a TOML file (tomllib, or tomli before Python 3.11)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise CommandError(f"--config: reading TOML on Python "
                               f"{sys.version_info.major}.{sys.version_info.minor} needs "
                               f"tomli, which is not installed; install it with: "
                               f"{PLOTS_EXTRA} (or pip install tomli)") from None
    from .._io import open_regular_file

    check_regular_file(path, "config file", "--config")
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise CommandError(f"--config: {path} holds {os.path.getsize(path):,} bytes; a settings "
                           f"file is a few lines (at most {MAX_CONFIG_BYTES:,} bytes)")
    try:
        with open_regular_file(path, "config file") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise CommandError(f"--config: {path} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise CommandError(f"--config: {path} is not UTF-8 text") from None
    if isinstance(data.get("train"), dict) and len(data) == 1:
        data = data["train"]  # a [train] table is accepted too
    settings = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        settings[name] = _check_setting(name, value, f"--config {path}")
    return settings


def resolve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the config file, then the flags given on the command line."""
    settings = dict(DEFAULTS)
    if args.config is not None:
        settings.update(read_config(args.config))
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if settings["lr"] is None:
        settings["lr"] = DEFAULT_LR[settings["optimizer"]]
    return settings


def parse_image_shape(text: str | None, n_features: int, task: str) -> list[int] | None:
    """[height, width] of the images the features are, or None."""
    if text is None:
        side = math.isqrt(n_features)
        if task == "classification" and n_features >= 64 and side * side == n_features:
            return [side, side]
        return None
    if text.strip().lower() == "none":
        return None
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--image-shape: expected HxW such as 28x28 or none, got "
                           f"{text!r}") from None
    if height < 1 or width < 1 or height * width != n_features:
        raise CommandError(f"--image-shape {text}: {height}x{width} = {height * width} pixels, "
                           f"but the data has {n_features} feature columns")
    return [height, width]


# ---------------------------------------------------------------------- progress
class Reporter(Callback):
    """One line (or JSON line) per evaluation; remembers how far training got."""

    def __init__(self, mode: str, epochs: int, y_std: float, bar: Any = None) -> None:
        self.mode, self.epochs, self.y_std, self.bar = mode, epochs, y_std, bar
        self.epochs_done = 0

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        self.epochs_done = epoch
        if "val_loss" not in logs or self.mode == "quiet":
            return
        shown = {"loss": logs["loss"], "val_loss": logs["val_loss"]}
        for name in ("accuracy", "r2", "rmse", "mae"):
            if name in logs:
                shown[name] = logs[name] * (self.y_std if name in ("rmse", "mae") else 1.0)
        if self.mode == "json":
            print_json({"event": "evaluation", "epoch": epoch, **shown})
            return
        parts = [f"loss {shown['loss']:.4f}", f"val_loss {shown['val_loss']:.4f}"]
        if "accuracy" in shown:
            parts.append(f"val accuracy {100 * shown['accuracy']:.1f}%")
        if "r2" in shown:
            parts += [f"val r2 {shown['r2']:.4f}", f"val rmse {shown['rmse']:.4g}"]
        line = f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}: " + ", ".join(parts)
        if self.bar is not None and self.bar.bar is not None:
            self.bar.bar.write(line)
        else:
            print(line, flush=True)


def _progress_bar():
    try:
        from ..callbacks import ProgressBar

        # a bar only on a terminal: in a pipe or a log file its redraws are noise
        return ProgressBar(disable=not sys.stderr.isatty(), leave=False, file=sys.stderr,
                           dynamic_ncols=True)
    except ImportError:
        return None


# ---------------------------------------------------------------------- the command
def _names_a_folder(path: str) -> bool:
    """Whether ``path`` ends in a path separator (``adir/``): a folder, never a file name."""
    return path.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep))


def _check_destinations(args: argparse.Namespace) -> None:
    """Before the first epoch, creating nothing: --out can take the model (a new path or a
    regular file, in a folder that accepts files) and --runs-dir can take a run folder."""
    from .._io import _kind

    for flag, value in (("--runs-dir", args.runs_dir), ("--out", args.out)):
        if value is not None and not value.strip():
            raise CommandError(f"{flag}: an empty name; expected a folder name (--runs-dir) or "
                               f"a model file name (--out); nothing was trained")
    targets = [("--runs-dir", os.path.join(args.runs_dir, ".run"))]
    if args.out is not None:
        targets.insert(0, ("--out", args.out))
    for flag, path in targets:
        if flag == "--out" and os.path.lexists(path):
            mode = os.lstat(path).st_mode
            if not stat.S_ISREG(mode):
                raise CommandError(f"--out {path}: is {_kind(mode)}; expected a new path or a "
                                   f"regular file to save the model to; nothing was trained")
        folder = os.path.dirname(os.path.abspath(path))
        existing = folder
        while not os.path.exists(existing):  # the folders a save would create
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise CommandError(f"{flag} {path}: {existing} is not a folder; nothing was trained")
        try:
            probe = tempfile.TemporaryFile(dir=existing)
        except OSError as error:
            raise CommandError(f"{flag} {path}: the folder {existing} does not accept new files "
                               f"({error.strerror or error}); nothing was trained") from None
        probe.close()


@dataclass
class Prepared:
    """A training run's data and model, ready for ``Trainer.fit``: the rows split, the features
    (and a regression's target) standardised on the training rows."""

    settings: dict[str, Any]
    table: Any
    data: Any
    image_shape: list[int] | None
    train_rows: np.ndarray
    val_rows: np.ndarray
    scaler: Standardizer
    target_scaler: Standardizer | None
    X: np.ndarray
    y: np.ndarray
    net: Any
    optimizer: Any

    @property
    def classification(self) -> bool:
        return self.data.task == "classification"

    @property
    def has_validation(self) -> bool:
        return len(self.val_rows) > 0

    @property
    def n_outputs(self) -> int:
        return len(self.data.classes) if self.classification else 1

    @property
    def y_std(self) -> float:
        """The target's standard deviation (1 for classes): metrics back in the target's units."""
        return float(self.target_scaler.std[0]) if self.target_scaler is not None else 1.0


def run_train(args: argparse.Namespace) -> int:
    settings = resolve_settings(args)
    mode = _check_arguments(args, settings)
    say = (lambda *a, **k: None) if mode != "text" else print
    job = _prepare(args, settings)
    _describe(job, say)
    started = time.time()
    fitted = _fit(job, mode)
    if fitted is None:
        return 130
    history, failure = fitted
    metadata = _model_metadata(job)
    train_metrics, val_metrics, val_predicted = _evaluate(job, metadata)
    status = "diverged" if failure else "interrupted" if history.interrupted else "completed"
    metadata["trained_on"] = {"file": os.path.basename(job.table.path), "rows": len(job.data.y),
                              "training_rows": len(job.train_rows),
                              "validation_rows": len(job.val_rows),
                              "best_epoch": history.best_epoch,
                              "validation_metrics": json_ready(val_metrics)}
    job.net.metadata = metadata
    history_dict = _history_in_target_units(history, job.y_std)
    folder = new_run_folder(args.runs_dir, settings["name"] or
                            os.path.splitext(os.path.basename(job.table.path))[0])
    try:
        pictures, out_error = _write_run(folder, args, settings, job.data, job.table, history,
                                         history_dict, failure, status, started, job.train_rows,
                                         job.val_rows, train_metrics, val_metrics, val_predicted,
                                         metadata, job.net)
    except BaseException:
        # a run folder is whole or absent: never half of one (this process made it just now)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    model_path = os.path.join(folder, "model.npz")
    if failure is not None:
        raise CommandError(f"no model was saved; the run is in {folder}: {failure}")
    if history.interrupted:
        print(f"dlscratch train: interrupted after {history.epochs_run} epoch(s); the run "
              f"(with the best model so far) is in {folder}; --out was not written",
              file=sys.stderr)
        return 130
    if out_error is not None:
        raise CommandError(f"the run completed and its model is in {model_path}, but --out "
                           f"{args.out} could not be written: {out_error}")
    if mode == "json":
        print_json({"event": "result", "status": status, "task": job.data.task,
                    "epochs_run": history.epochs_run, "best_epoch": history.best_epoch,
                    "training_metrics": train_metrics, "validation_metrics": val_metrics or None,
                    "run": folder, "model": model_path, "out": args.out, "pictures": pictures})
        return 0
    _print_result(job, args, mode, history, started, train_metrics, val_metrics, val_predicted,
                  folder, pictures)
    return 0


def _check_arguments(args: argparse.Namespace, settings: dict[str, Any]) -> str:
    """Refuse missing or contradictory arguments before any data is read; the output mode."""
    if not settings["target"]:
        args.parser.error("the following arguments are required: --target (or 'target' in "
                          "--config)")
    mode = "json" if args.json else "quiet" if args.quiet else "text"
    if not args.no_plots:
        require_matplotlib("the pictures of a run (or --no-plots)")
    if args.out is not None and _names_a_folder(args.out):
        raise CommandError(f"--out {args.out}: ends in a path separator, so it names a folder; "
                           f"expected a model file name such as model.npz; nothing was trained")
    if args.out is not None and os.path.isdir(args.out):
        raise CommandError(f"--out {args.out}: is a folder; expected a model file name such as "
                           f"model.npz")
    if os.path.exists(args.runs_dir) and not os.path.isdir(args.runs_dir):
        raise CommandError(f"--runs-dir {args.runs_dir}: exists and is not a folder")
    return mode


def _prepare(args: argparse.Namespace, settings: dict[str, Any]) -> Prepared:
    """Read the table, split its rows, standardise, and build the network and optimizer."""
    table = read_csv(args.data)
    data = prepare_training(table, settings["target"], settings["task"], settings["ignore"])
    classification = data.task == "classification"
    image_shape = parse_image_shape(settings["image_shape"], len(data.features), data.task)
    train_rows, val_rows = split_rows(len(data.y), settings["validation"], settings["seed"],
                                      data.y if classification else None)
    if len(train_rows) < 2:
        raise DataError(f"{table.path}: {len(data.y)} data row(s) leave {len(train_rows)} for "
                        f"training; expected at least 2 (lower --validation or add rows)")
    _check_destinations(args)
    scaler = Standardizer.fit(data.X[train_rows])
    X = check_standardised(scaler.transform(data.X), table, data.features).astype(np.float32)
    if classification:
        y = data.y
        target_scaler = None
    else:
        target_scaler = Standardizer.fit(data.y[train_rows].reshape(-1, 1))
        y = target_scaler.transform(data.y.reshape(-1, 1)).astype(np.float32)
    n_outputs = len(data.classes) if classification else 1
    net = build_network(data.task, n_outputs, settings["layers"], settings["activation"],
                        settings["dropout"], settings["seed"])
    optimizer = build_optimizer(settings["optimizer"], settings["lr"], settings["weight_decay"])
    return Prepared(settings, table, data, image_shape, train_rows, val_rows, scaler,
                    target_scaler, X, y, net, optimizer)


def _describe(job: Prepared, say) -> None:
    """The task, the data and the network, in three lines."""
    settings, data = job.settings, job.data
    target_text = (f"{len(data.classes)} classes" if job.classification else "numbers")
    say(f"task: {data.task} ({data.task_reason})")
    say(f"data: {job.table.path}: {len(data.y)} rows = {len(job.train_rows)} training + "
        f"{len(job.val_rows)} validation, {len(data.features)} features, target "
        f"{settings['target']!r} ({target_text})")
    hidden = "".join(f" -> {size} {settings['activation']}" for size in settings["layers"])
    say(f"network: {len(data.features)} inputs{hidden} -> {job.n_outputs} "
        f"{'softmax' if job.classification else 'linear'}; {settings['optimizer']} lr "
        f"{settings['lr']:g}, batch {settings['batch_size']}, up to {settings['epochs']} "
        f"epochs, seed {settings['seed']}")


def _fit(job: Prepared, mode: str):
    """Train with early stopping on the validation rows and keep the best evaluation's
    parameters: (history, the divergence error or None), or None when interrupted before the
    first epoch ended."""
    from ..train import Trainer, TrainingDivergedError

    settings, X, y = job.settings, job.X, job.y
    train_rows, val_rows, has_validation = job.train_rows, job.val_rows, job.has_validation
    bar = _progress_bar() if mode == "text" else None
    reporter = Reporter(mode, settings["epochs"], job.y_std, bar)
    stopper = EarlyStopping(patience=settings["patience"] or 10**9, restore_best_weights=True)
    callbacks = [cb for cb in (stopper if has_validation else None, reporter, bar)
                 if cb is not None]
    trainer = Trainer(job.net, job.optimizer)
    library_log = logging.getLogger("dlscratch")
    if not library_log.handlers:  # the command says what happened itself, once
        library_log.addHandler(logging.NullHandler())
    failure = None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # a diverging run overflows on its way to the trainer's own clear message
            warnings.simplefilter("ignore", RuntimeWarning)
            history = trainer.fit(
                X[train_rows], y[train_rows],
                X[val_rows] if has_validation else None,
                y[val_rows] if has_validation else None,
                epochs=settings["epochs"], eval_every=settings["eval_every"],
                batch_size=settings["batch_size"], seed=settings["seed"], early_stopping=False,
                verbose=False, callbacks=callbacks)
    except TrainingDivergedError as error:
        if error.history.epochs_run == 0:
            raise CommandError(f"training diverged in the first epoch, nothing was written: "
                               f"{error}") from None
        history, failure = error.history, error
    if stopper.best_params is not None:  # the best evaluation, also when the epochs ran out
        for param, best in zip(job.net.params(), stopper.best_params):
            np.copyto(param, best)
    if history.epochs_run == 0:
        print("dlscratch train: interrupted before the first epoch ended; nothing was written",
              file=sys.stderr)
        return None
    return history, failure


def _model_metadata(job: Prepared) -> dict[str, Any]:
    """What the saved model keeps besides its parameters: task, features, scalers, classes."""
    data = job.data
    metadata: dict[str, Any] = {
        "kind": MODEL_KIND, "version": 1, "task": data.task, "target": job.settings["target"],
        "features": data.features, "scaler": job.scaler.to_dict(),
        "image_shape": job.image_shape, "dlscratch": __version__}
    if job.classification:
        metadata["classes"] = data.classes
    else:
        metadata["target_scaler"] = job.target_scaler.to_dict()
    return metadata


def _evaluate(job: Prepared, metadata: dict[str, Any]):
    """(training metrics, validation metrics, validation predictions) of the trained model."""

    def evaluate(rows: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        with np.errstate(all="ignore"):  # a diverged run's last parameters may overflow
            predicted, _ = predict(job.net, metadata, job.X[rows])
        return metrics(job.data.task, predicted, job.data.y[rows]), predicted

    train_metrics, _ = evaluate(job.train_rows)
    val_metrics, val_predicted = evaluate(job.val_rows) if job.has_validation else ({}, None)
    return train_metrics, val_metrics, val_predicted


def _history_in_target_units(history, y_std: float) -> dict[str, Any]:
    """The history as a dict, rmse and mae in the target's units, not the standardised ones."""
    history_dict = history.to_dict()
    for name in ("rmse", "mae"):
        if name in history_dict["metrics"]:
            history_dict["metrics"][name] = [v * y_std for v in history_dict["metrics"][name]]
    return history_dict


def _print_result(job: Prepared, args: argparse.Namespace, mode: str, history, started: float,
                  train_metrics, val_metrics, val_predicted, folder: str,
                  pictures: list[str]) -> None:
    """The result for a reader: epochs, metrics, confusion matrix, where the files are."""
    model_path = os.path.join(folder, "model.npz")
    stop = (f"stopped early at epoch {history.epochs_run}" if history.stopped_epoch
            else f"{history.epochs_run} epochs")
    best = f", best epoch {history.best_epoch}" if history.best_epoch else ""
    print(f"trained: {stop}{best} ({time.time() - started:.1f} s)")
    print(f"training rows:   {format_metrics(train_metrics)}")
    if val_metrics:
        print(f"validation rows: {format_metrics(val_metrics)}")
        if job.classification and mode == "text":
            counts = confusion_matrix(job.data.y[job.val_rows], val_predicted,
                                      len(job.data.classes))
            print("confusion matrix of the validation rows:")
            print(format_confusion(counts, job.data.classes))
    print(f"run folder: {folder}")
    if pictures:
        print(f"pictures: {', '.join(pictures)}")
    print(f"model: {model_path}" + (f" (and {args.out})" if args.out else ""))
    if mode == "text":
        shown = args.out or model_path
        print(f"next: dlscratch predict {shlex.quote(shown)} NEW.csv --out predictions.csv")


def _write_run(folder, args, settings, data, table, history, history_dict, failure, status,
               started, train_rows, val_rows, train_metrics, val_metrics, val_predicted,
               metadata, net) -> tuple[list[str], str | None]:
    """Write the run folder's files (and --out); returns (the pictures, --out's error)."""
    model_path = os.path.join(folder, "model.npz")
    command = "dlscratch " + shlex.join(getattr(args, "argv", sys.argv[1:]))
    config = {key: value for key, value in settings.items() if value is not None}
    config["task"] = data.task
    write_text(os.path.join(folder, "command.txt"), command + "\n")
    write_text(os.path.join(folder, "config.toml"), to_toml(
        config, f"The settings of this run (defaults, --config, then flags); reuse with\n"
                f"dlscratch train DATA.csv --config {os.path.join(folder, 'config.toml')}"))
    write_json(os.path.join(folder, "history.json"), json_ready(history_dict))
    write_history_csv(os.path.join(folder, "history.csv"), json_ready(history_dict))
    if failure is None:
        net.save(model_path)
    pictures = []
    if not args.no_plots and failure is not None:
        from ..runplots import plot_loss_curves

        plot_loss_curves(history_dict, os.path.join(folder, "loss.png"),
                         f"{os.path.basename(folder)}: loss (diverged)", "loss")
        pictures = ["loss.png"]
    if not args.no_plots and failure is None:
        pictures = _draw(folder, history_dict, data, metadata, settings, val_rows, val_predicted,
                         table, val_metrics)
    run_info = {
        "status": status, "task": data.task, "target": settings["target"],
        "data": os.path.abspath(table.path), "command": command, "cwd": os.getcwd(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 3), "epochs_run": history.epochs_run,
        "best_epoch": history.best_epoch, "rows": len(data.y),
        "training_rows": len(train_rows), "validation_rows": len(val_rows),
        "training_metrics": train_metrics, "validation_metrics": val_metrics or None,
        "model": model_path if failure is None else None, "pictures": pictures,
        "dlscratch": __version__}
    if failure is not None:
        run_info["error"] = str(failure)
    out_error = None
    if failure is None and not history.interrupted and args.out is not None:
        try:
            net.save(args.out)
        except (OSError, ValueError) as error:
            out_error = " ".join(str(error).split())
            run_info["error"] = f"--out {args.out} could not be written: {out_error}"
    run_info["out"] = args.out if failure is None and out_error is None \
        and not history.interrupted else None
    write_json(os.path.join(folder, "run.json"), json_ready(run_info))
    return pictures, out_error


def _draw(folder: str, history: dict, data, metadata: dict, settings: dict,
          val_rows: np.ndarray, val_predicted: np.ndarray | None, table,
          val_metrics: dict) -> list[str]:
    """The pictures of a run; returns the file names written."""
    from ..runplots import (
        plot_confusion,
        plot_loss_curves,
        plot_misclassified,
        plot_predicted_vs_actual,
    )

    written = []
    name = os.path.basename(folder)
    loss_name = ("cross-entropy" if data.task == "classification"
                 else "mean squared error (standardised target)")
    plot_loss_curves(history, os.path.join(folder, "loss.png"),
                              f"{name}: loss", loss_name)
    written.append("loss.png")
    if val_predicted is None:
        return written
    what = f"validation rows ({len(val_rows)})"
    if data.task == "classification":
        counts = confusion_matrix(data.y[val_rows], val_predicted, len(data.classes))
        plot_confusion(counts, data.classes, os.path.join(folder, "confusion_matrix.png"),
                                f"{what}: {int(np.trace(counts))} right, accuracy "
                                f"{100 * val_metrics['accuracy']:.1f}%")
        written.append("confusion_matrix.png")
        if metadata.get("image_shape"):
            wrong = np.flatnonzero(val_predicted != data.y[val_rows])
            rows = val_rows[wrong]
            images = data.X[rows].reshape(len(rows), *metadata["image_shape"])
            plot_misclassified(
                images, [data.classes[i] for i in data.y[rows]],
                [data.classes[i] for i in val_predicted[wrong]],
                [table.lines[i] for i in rows], os.path.join(folder, "misclassified.png"),
                f"misclassified {what}: {len(rows)} (true \u2192 predicted)")
            written.append("misclassified.png")
    else:
        plot_predicted_vs_actual(
            data.y[val_rows], val_predicted, os.path.join(folder, "predicted_vs_actual.png"),
            f"{what}: R\u00b2 {val_metrics['r2']:.3f}, RMSE {val_metrics['rmse']:.4g}",
            settings["target"])
        written.append("predicted_vs_actual.png")
    return written
