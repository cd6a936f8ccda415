"""``dlscratch predict``, ``evaluate`` and ``summary``: using a model written by ``train``."""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys

from ..csvdata import format_number, read_csv
from ..runs import write_text
from ._common import (
    CommandError,
    add_debug,
    confusion_matrix,
    format_confusion,
    format_metrics,
    load_model,
    print_json,
    run_guarded,
)
from .tabular import metrics, model_features, model_targets, predict


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict", help="predict the target of every row of a CSV file",
        description="Write DATA.csv's columns plus a 'prediction' column (class names for a "
                    "classifier, numbers in the target's units for a regression). Columns the "
                    "model does not use, such as the target, are passed through and ignored.")
    parser.add_argument("model", metavar="MODEL", help="a model file written by dlscratch train")
    parser.add_argument("data", metavar="DATA.csv", help="rows to predict (a header row; the "
                        "model's feature columns, in any order)")
    parser.add_argument("--out", metavar="FILE.csv",
                        help="write the predictions here (default: to standard output)")
    parser.add_argument("--proba", action="store_true",
                        help="add one probability column per class, 'proba_<class>' "
                             "(classifiers only)")
    add_debug(parser)
    parser.set_defaults(run_command=lambda args: run_guarded(run_predict, args))

    parser = commands.add_parser(
        "evaluate", help="metrics of a model on a CSV file that has the target column",
        description="Compare a model's predictions with the target column of DATA.csv: "
                    "accuracy and a confusion matrix for a classifier, R^2, RMSE and MAE for a "
                    "regression, on standard output.")
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("data", metavar="DATA.csv")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    add_debug(parser)
    parser.set_defaults(run_command=lambda args: run_guarded(run_evaluate, args))

    parser = commands.add_parser(
        "summary", help="describe a model file: layers, parameters, data, metrics",
        description="The layers and parameter counts of MODEL, and what it was trained on.")
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    add_debug(parser)
    parser.set_defaults(run_command=lambda args: run_guarded(run_summary, args))


def run_predict(args: argparse.Namespace) -> int:
    net, metadata = load_model(args.model)
    classification = metadata["task"] == "classification"
    if args.proba and not classification:
        raise CommandError(f"--proba: {args.model} is a regression model; probabilities come "
                           f"only from a classifier")
    if args.out is not None and (os.path.isdir(args.out)
                                 or args.out.endswith(tuple(s for s in (os.sep, os.altsep) if s))):
        raise CommandError(f"--out {args.out}: names a folder; expected a file name such as "
                           f"predictions.csv")
    table = read_csv(args.data)
    predicted, probabilities = predict(net, metadata, model_features(table, metadata,
                                                                     args.model))
    header = list(table.columns)
    name = "prediction"
    while name in header:
        name = "predicted_" + name
    header.append(name)
    classes = metadata.get("classes") or []
    if args.proba:
        header += [f"proba_{c}" for c in classes]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(table.rows):
        value = classes[predicted[i]] if classification else format_number(predicted[i])
        extra = [format(float(p), ".6f") for p in probabilities[i]] if args.proba else []
        writer.writerow([*row, value, *extra])
    if args.out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        write_text(args.out, buffer.getvalue())
        print(f"{len(table.rows)} predictions written to {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    net, metadata = load_model(args.model)
    table = read_csv(args.data)
    X = model_features(table, metadata, args.model)
    target = model_targets(table, metadata)
    predicted, _ = predict(net, metadata, X)
    result = metrics(metadata["task"], predicted, target)
    report = {"model": args.model, "data": args.data, "task": metadata["task"],
              "target": metadata["target"], "rows": len(target), "metrics": result}
    counts = None
    if metadata["task"] == "classification":
        counts = confusion_matrix(target, predicted, len(metadata["classes"]))
        report["classes"] = metadata["classes"]
        report["confusion_matrix"] = counts
    if args.json:
        print_json(report)
        return 0
    print(f"{args.data}: {len(target)} rows, target {metadata['target']!r} "
          f"({metadata['task']})")
    print(format_metrics(result))
    if counts is not None:
        print("confusion matrix (rows: true class, columns: predicted class):")
        print(format_confusion(counts, metadata["classes"]))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    net, metadata = load_model(args.model)
    trained = metadata.get("trained_on") or {}
    if args.json:
        print_json({"model": args.model, "task": metadata["task"], "target": metadata["target"],
                    "features": metadata["features"], "classes": metadata.get("classes"),
                    "parameters": net.count_params(), "trained_on": trained,
                    "layers": [repr(layer) for layer in net.layers]})
        return 0
    print(net.summary())
    print(f"task: {metadata['task']}; target: {metadata['target']!r}")
    features = metadata["features"]
    shown = ", ".join(features) if len(features) <= 20 else \
        ", ".join(features[:12]) + f", ... ({len(features)} in all)"
    print(f"features ({len(features)}, standardised with the saved scaler): {shown}")
    if metadata.get("classes"):
        print(f"classes ({len(metadata['classes'])}): "
              f"{', '.join(map(str, metadata['classes'][:30]))}")
    if trained:
        print(f"trained on: {trained.get('file')} ({trained.get('training_rows')} training + "
              f"{trained.get('validation_rows')} validation rows), best epoch "
              f"{trained.get('best_epoch')}")
        if trained.get("validation_metrics"):
            print(f"validation: {format_metrics(trained['validation_metrics'])}")
    return 0

