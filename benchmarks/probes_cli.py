"""Hostile probes of the command line, CSV data, scikit-learn estimators and demos (issue 19).

    PYTHONPATH=src python benchmarks/probes_cli.py [--only WORD] [--jobs 2] [--verbose]

Every probe is one thing a user might do wrong (or right but unusual). Command-line probes run
``python -m dlscratch`` in a subprocess limited to 2 GB of address space, 60 s of CPU and 90 s of
wall time; library probes (csvdata, the scikit-learn estimators) run in one child process under
the same memory limit, each with an alarm. Each outcome is classified by this rule:

* broken: a hang (timeout), the memory limit reached, a Python traceback shown to the user, a
  refusal expected but exit status 0 (silently accepted), or a result that is wrong without an
  error (a check of the output failed);
* weak: refused, but not in one clear line (several lines of stderr, or the message lacks the
  words it must hold: the path's kind, the line, the argument), or accepted with NumPy warnings
  on stderr, or a valid input refused;
* fine: refused in one line naming what is wrong, or accepted with a correct result.

It prints one line per probe that is not fine, then the totals.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 2_000_000_000
CPU_LIMIT_S = 60
WALL_LIMIT_S = 90


@dataclass
class Probe:
    """One hostile input: a command line (``argv``) or library code (``code``)."""

    name: str
    argv: list[str] | None = None
    code: str | None = None
    refuse: bool = True              # the input must be refused
    words: tuple[str, ...] = ()      # words the one-line refusal must hold (any case)
    check: Callable[[subprocess.CompletedProcess, Path], str | None] | None = None
    setup: Callable[[Path], None] | None = None
    outcome: str = ""
    detail: str = ""
    extra: dict = field(default_factory=dict)


def limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), OPENBLAS_NUM_THREADS="1",
                MPLBACKEND="Agg")


# ---------------------------------------------------------------------- the work folder
def rows(n=60, seed=0, target=lambda i, x: int(x[0] > 0), scale=(1.0, 1.0, 1.0)):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return [[*(repr(float(v * s)) for v, s in zip(x, scale)), str(target(i, x))]
            for i, x in enumerate(X)]


def write(path: Path, header, body, sep=",") -> None:
    lines = [sep.join(header)] + [sep.join(str(v) for v in row) for row in body]
    path.write_text("\n".join(lines) + "\n")


def prepare(work: Path) -> None:
    """The files every probe may use: good.csv, reg.csv, a trained model of each, specials."""
    H = ["a", "b", "c", "label"]
    write(work / "good.csv", H, rows())
    write(work / "reg.csv", ["a", "b", "c", "y"],
          rows(target=lambda i, x: repr(float(3.3 * x[0] - x[1] + 0.01 * i))))
    os.mkfifo(work / "fifo")
    (work / "folder").mkdir()
    os.symlink("loop2", work / "loop1")
    os.symlink("loop1", work / "loop2")
    os.symlink("nowhere", work / "dangling")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(work / "sock"))
    sock.close()
    for name, data in (("clf.npz", "good.csv"), ("reg.npz", "reg.csv")):
        target = "label" if name == "clf.npz" else "y"
        subprocess.run([sys.executable, "-m", "dlscratch", "train", data, "--target", target,
                        "--epochs", "5", "--no-plots", "--quiet", "--out", name,
                        "--runs-dir", "setup-runs"], cwd=work, env=env(), check=True,
                       capture_output=True)
    (work / "settings.toml").write_text('target = "label"\nepochs = 2\n')
    hist = work / "setup-runs"
    run = sorted(hist.iterdir())[0]
    shutil.copytree(run, work / "run-fifo")
    os.unlink(work / "run-fifo" / "history.json")
    os.mkfifo(work / "run-fifo" / "history.json")


KINDS = {"fifo": ("fifo", ("fifo",)), "device": ("/dev/zero", ("device",)),
         "null": ("/dev/null", ("device",)), "folder": ("folder", ("folder",)),
         "loop": ("loop1", ("loop",)), "missing": ("no-such.csv", ("no such",)),
         "dangling": ("dangling", ("no such",)), "socket": ("sock", ("socket",))}


def pictures_written(result, work: Path) -> str | None:
    runs = list((work / "runs").iterdir())
    if len(runs) != 1:
        return f"{len(runs)} run folders"
    info = json.loads((runs[0] / "run.json").read_text())
    pngs = [p for p in runs[0].iterdir() if p.suffix == ".png"]
    if info.get("status") != "completed" or len(pngs) < 2:
        return f"status {info.get('status')}, pictures {[p.name for p in pngs]}"
    return None


# ---------------------------------------------------------------------- probes
def cli_probes() -> list[Probe]:
    probes: list[Probe] = []
    add = probes.append
    # 1. every path the CLI reads, with every kind of path that is not a regular file
    places = {
        "train DATA": lambda p: ["train", p, "--target", "label", "--no-plots"],
        "predict DATA": lambda p: ["predict", "clf.npz", p],
        "predict MODEL": lambda p: ["predict", p, "good.csv"],
        "evaluate DATA": lambda p: ["evaluate", "clf.npz", p],
        "evaluate MODEL": lambda p: ["evaluate", p, "good.csv"],
        "summary MODEL": lambda p: ["summary", p],
        "train --config": lambda p: ["train", "good.csv", "--config", p, "--no-plots"],
        "demo text FILE": lambda p: ["demo", "text", p, "--iterations", "1", "--out", "o"],
    }
    for place, make in places.items():
        for kind, (path, words) in KINDS.items():
            words = ("no such", "does not exist") if kind in ("missing", "dangling") else words
            add(Probe(f"path: {place} is {kind}", make(path), words=words,
                      extra={"any_word": kind in ("missing", "dangling")}))
    add(Probe("path: plot history with history.json a FIFO", ["plot", "history", "run-fifo",
                                                               "--out", "h.png"],
              words=("fifo",)))

    # 2. CSV content
    def csv_probe(name, header, body, refuse, words=(), sep=",", extra_args=(), check=None,
                  target="label", raw=None):
        def setup(work, header=header, body=body, sep=sep, raw=raw):
            if raw is not None:
                (work / "t.csv").write_bytes(raw)
            else:
                write(work / "t.csv", header, body, sep)
        add(Probe(f"csv: {name}", ["train", "t.csv", "--target", target, "--epochs", "3",
                                   "--no-plots", "--quiet", "--out", "t.npz", *extra_args],
                  refuse=refuse, words=words, setup=setup, check=check))

    H = ["a", "b", "c", "label"]
    for sep, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"), (",", "comma")):
        csv_probe(f"{label}-separated", H, rows(), False, sep=sep)
    csv_probe("semicolon with decimal commas", H,
              [[v.replace(".", ",") for v in r] for r in rows()], True, ("text", "line"),
              sep=";")
    csv_probe("empty file", H, [], True, ("empty",), raw=b"")
    csv_probe("header only", H, [], True, ("no data rows",))
    csv_probe("blank lines only", H, [], True, ("empty",), raw=b"\n\n\n")
    csv_probe("UTF-8 BOM", H, [], False, raw=b"\xef\xbb\xbf" + "\n".join(
        [",".join(H)] + [",".join(r) for r in rows()]).encode())
    csv_probe("CRLF line ends", H, [], False, raw="\r\n".join(
        [",".join(H)] + [",".join(r) for r in rows()]).encode())
    csv_probe("a row with an extra field", H, rows()[:5] + [rows()[5] + ["9"]] + rows()[6:],
              True, ("line 7", "field"))
    csv_probe("duplicated column", ["a", "a", "c", "label"], rows(), True, ("twice",))
    csv_probe("empty column name", ["a", "", "c", "label"], rows(), True, ("no name",))
    csv_probe("latin-1 bytes", H, [], True, ("utf-8",),
              raw=("a,b,c,label\n1,2,3,caf\xe9\n4,5,6,x\n").encode("latin-1"))
    csv_probe("NUL byte in a feature", H, [], True, ("line 2",),
              raw=b"a,b,c,label\n1,\x00,3,y\n4,5,6,x\n")
    csv_probe("a 2 MB field", H, [], True, ("field",),
              raw=b"a,b,c,label\n1,2,3," + b"x" * 2_000_000 + b"\n4,5,6,y\n")
    csv_probe("unicode column names", ["\u00e4", "\u03b2", "\u4e2d", "label"], rows(), False)
    csv_probe("quoted column name with a comma", ['"a,1"', "b", "c", "label"], rows(), False)
    csv_probe("no such target column", H, rows(), True, ("no column", "label"),
              target="price")
    for cell in ("inf", "-inf", "Infinity", "-INFINITY", "1e999", "-1e400", "+inf", "-nan"):
        body = rows(target=lambda i, x: repr(float(x[0] + 0.01 * i)))
        body[9][3] = cell
        csv_probe(f"target holds {cell}", H, body, True, ("line 11",))
    for cell in ("nan", "NA", "", "?"):
        body = rows(target=lambda i, x: repr(float(x[0] + 0.01 * i)))
        body[9][3] = cell
        csv_probe(f"target holds missing {cell!r}", H, body, True, ("missing", "line 11"))
    for cell in ("inf", "nan", "abc", "1_000", "0x10", "1e400"):
        body = rows()
        body[4][1] = cell
        csv_probe(f"feature holds {cell}", H, body, True, ("'b'", "line 6"))
    body = rows()
    body[4][1] = " 1.5 "
    csv_probe("feature with spaces around", H, body, False)

    def finite_predictions(out_name="t.npz", data="t.csv"):
        def check(result, work):
            run = subprocess.run([sys.executable, "-m", "dlscratch", "predict", out_name, data],
                                 cwd=work, env=env(), capture_output=True, text=True,
                                 timeout=WALL_LIMIT_S, preexec_fn=limits)
            if run.returncode != 0:
                return f"predict failed: {run.stderr.strip()[-200:]}"
            values = [line.rsplit(",", 1)[1] for line in run.stdout.splitlines()[1:]]
            bad = [v for v in values if v.lower() in ("inf", "-inf", "nan")]
            return f"non-finite predictions {bad[:3]}" if bad else None
        return check

    for name, scale in (("feature 1e300", (1e300, 1, 1)), ("feature 1e-300", (1e-300, 1, 1)),
                        ("feature 1.7e308", (1.7e308 / 4, 1, 1)),
                        ("features of mixed 1e200 and 1e-200", (1e200, 1e-200, 1))):
        csv_probe(name, ["a", "b", "c", "y"],
                  rows(scale=scale, target=lambda i, x: repr(float(3 * x[0] + 0.01 * i))),
                  False, check=finite_predictions(), target="y",
                  extra_args=("--task", "regression"))
    for name, factor in (("target 1e300", 1e300), ("target 1e-300", 1e-300),
                         ("target -1e250", -1e250)):
        csv_probe(name, ["a", "b", "c", "y"],
                  rows(target=lambda i, x, f=factor: repr(float((3 * x[0] + 0.01 * i) * f))),
                  False, check=finite_predictions(), target="y",
                  extra_args=("--task", "regression"))

    def classes_are(expected):
        def check(result, work):
            import numpy as np  # noqa: F401

            sys.path.insert(0, str(ROOT / "src"))
            from dlscratch.network import NeuralNetwork

            got = NeuralNetwork.load(work / "t.npz").metadata["classes"]
            return None if got == expected else f"classes {got}, expected {expected}"
        return check

    for spellings in (("1", "1.0"), ("1", "+1"), ("1", "1e0"), ("2", "2.00")):
        csv_probe(f"labels {' and '.join(spellings)} are one class", H,
                  rows(target=lambda i, x, s=spellings: s[i % 2] if x[0] > 0 else "0"),
                  False, check=classes_are(["0", spellings[0]]))
    csv_probe("text labels", H, rows(target=lambda i, x: "yes" if x[0] > 0 else "no"), False,
              check=classes_are(["no", "yes"]))
    csv_probe("one class only", H, rows(target=lambda i, x: "a"), True, ("one class",))
    csv_probe("1,200 classes", H, rows(1200, target=lambda i, x: f"c{i}"), True,
              ("too many",), extra_args=("--task", "classification"))
    csv_probe("constant regression target", H, rows(target=lambda i, x: "7.5"), True,
              ("every row",), extra_args=("--task", "regression"))
    csv_probe("constant feature column", H, [[r[0], "4", r[2], r[3]] for r in rows()], False)
    csv_probe("one data row", H, rows(1), True, ("row",))
    csv_probe("two data rows of two classes", H, rows(2, target=lambda i, x: i), False)
    csv_probe("four data rows, no validation", H, rows(4, target=lambda i, x: i % 2), False,
              extra_args=("--validation", "0"))
    csv_probe("a target named like a feature in --ignore", H, rows(), True, ("ignore",),
              extra_args=("--ignore", "label"))
    csv_probe("--ignore an unknown column", H, rows(), True, ("ignore",),
              extra_args=("--ignore", "zzz"))
    csv_probe("every feature ignored", H, rows(), True, ("no feature",),
              extra_args=("--ignore", "a,b,c"))

    # 2b. with pictures: huge values must draw or be refused, not crash matplotlib
    def plotted(name, body, header=("a", "b", "c", "y"), args=()):
        def setup(work, body=body, header=header):
            write(work / "t.csv", list(header), body)
        add(Probe(f"plots: {name}", ["train", "t.csv", "--target", header[-1], "--epochs",
                                     "3", "--quiet", *args], refuse=False, setup=setup,
                  check=pictures_written))

    plotted("target 1e300", rows(target=lambda i, x: repr(float((3 * x[0] + i) * 1e300))),
            args=("--task", "regression"))
    plotted("target 1e-300", rows(target=lambda i, x: repr(float((3 * x[0] + i) * 1e-300))),
            args=("--task", "regression"))
    plotted("feature 1e300, classification", rows(scale=(1e300, 1, 1)),
            header=("a", "b", "c", "label"))
    plotted("64 pixel features of 1e300 (misclassified images)",
            [[repr(float(v)) for v in (i % 7) * 1e300 * __import__("numpy").ones(64)]
             + [str(i % 2)] for i in range(60)],
            header=tuple(f"p{k}" for k in range(64)) + ("label",))
    plotted("labels with commas and quotes", rows(target=lambda i, x: '"a,b"' if x[0] > 0
                                                  else "c'd"),
            header=("a", "b", "c", "label"))
    # 2c. more CSV corners
    def sparse(size, name="t.csv", head=b""):
        def setup(work):
            with open(work / name, "wb") as handle:
                handle.write(head)
                handle.truncate(size)
        return setup

    add(Probe("csv: a 300 MB file of NUL bytes", ["train", "t.csv", "--target", "label"],
              words=("t.csv",), setup=sparse(300 << 20)))
    add(Probe("csv: a header then 300 MB without a line end", ["train", "t.csv", "--target",
                                                               "label"],
              words=("t.csv",), setup=sparse(300 << 20, head=b"a,b,label\n1,2,")))
    add(Probe("config: a 300 MB file of NUL bytes", ["train", "good.csv", "--config", "c.toml"],
              words=("c.toml",), setup=sparse(300 << 20, "c.toml")))
    add(Probe("model: a 300 MB file of NUL bytes", ["summary", "m.npz"], words=("m.npz",),
              setup=sparse(300 << 20, "m.npz")))
    csv_probe("header names with spaces around", [" a ", "b ", " c", " label "], rows(), False)
    csv_probe("a quoted field across two lines", H, [], False,
              raw=b'a,b,c,label\n1,2,3,"x\ny"\n4,5,6,z\n' + b"\n".join(
                  ",".join(r).encode() for r in rows(20, target=lambda i, x: "xz"[i % 2])))
    csv_probe("--task regression on text labels", H,
              rows(target=lambda i, x: "yes" if x[0] > 0 else "no"), True, ("text", "line"),
              extra_args=("--task", "regression"))
    csv_probe("--task classification on 500 distinct fractions", H,
              rows(500, target=lambda i, x: repr(float(x[0]))), False,
              extra_args=("--task", "classification", "--epochs", "1"))
    csv_probe("--name with path characters", H, rows(), False,
              extra_args=("--name", "../../etc/x"),
              check=lambda r, w: None if not (w.parent.parent / "etc").exists()
              and len(list((w / "runs").iterdir())) == 1 else "run folder escaped --runs-dir")
    csv_probe("--out empty", H, rows(), True, ("--out",), extra_args=("--out", ""))
    csv_probe("--runs-dir empty", H, rows(), True, ("runs-dir",), extra_args=("--runs-dir", ""))

    # 3. options of train
    def opt(name, args, refuse=True, words=()):
        add(Probe(f"train option: {name}", ["train", "good.csv", "--target", "label",
                                            "--no-plots", "--quiet", *args],
                  refuse=refuse, words=words))

    for flag, value, words in (("--epochs", "0", ("--epochs",)),
                               ("--epochs", "-1", ("--epochs",)),
                               ("--epochs", str(10**20), ("--epochs",)),
                               ("--epochs", "1e3", ("--epochs",)),
                               ("--batch-size", "0", ("--batch-size",)),
                               ("--batch-size", str(10**40), ("--batch-size",)),
                               ("--lr", "0", ("--lr",)), ("--lr", "nan", ("--lr",)),
                               ("--lr", "inf", ("--lr",)), ("--lr", "-0.1", ("--lr",)),
                               ("--layers", "abc", ("--layers",)),
                               ("--layers", "-5", ("--layers",)),
                               ("--dropout", "1", ("--dropout",)),
                               ("--validation", "1", ("--validation",)),
                               ("--patience", "-1", ("--patience",)),
                               ("--eval-every", "0", ("--eval-every",)),
                               ("--task", "ranking", ("--task",)),
                               ("--image-shape", "3x3", ("image-shape",)),
                               ("--image-shape", "axb", ("image-shape",)),
                               ("--activation", "swish", ("--activation",))):
        opt(f"{flag} {value[:12]}", [flag, value], words=words)
    opt("--layers 2000000,2000000 (memory)", ["--layers", "2000000,2000000", "--epochs", "1"],
        words=("memory",))
    opt("--seed 2**70", ["--seed", str(2**70), "--epochs", "1"], refuse=False)
    opt("--batch-size larger than the data", ["--batch-size", "100000", "--epochs", "2"],
        refuse=False)
    opt("--layers none (linear)", ["--layers", "none", "--epochs", "2"], refuse=False)
    opt("--validation 0.99", ["--validation", "0.99", "--epochs", "2"], refuse=False)

    # 4. destinations
    def dest(name, args, words, setup=None):
        add(Probe(f"destination: {name}", ["train", "good.csv", "--target", "label",
                                           "--no-plots", "--quiet", "--epochs", "2", *args],
                  words=words, setup=setup,
                  check=None))

    def link(work):
        os.symlink("clf.npz", work / "link.npz")

    def afile(work):
        (work / "afile").write_text("x")

    dest("--out at a symbolic link", ["--out", "link.npz"], ("symbolic link",), link)
    dest("--out is a folder", ["--out", "folder"], ("folder",))
    dest("--out is a FIFO", ["--out", "fifo"], ("fifo",))
    dest("--out is /dev/null", ["--out", "/dev/null"], ("device",))
    dest("--out under a file", ["--out", "afile/m.npz"], ("not a folder",), afile)
    dest("--runs-dir is a file", ["--runs-dir", "afile"], ("runs-dir",), afile)
    dest("--runs-dir under a file", ["--runs-dir", "afile/runs"], ("runs-dir",), afile)
    dest("--out in /proc", ["--out", "/proc/m.npz"], ("--out",))

    # 5. config files
    def config(name, text, refuse=True, words=()):
        def setup(work, text=text):
            (work / "c.toml").write_bytes(text if isinstance(text, bytes) else text.encode())
        add(Probe(f"config: {name}", ["train", "good.csv", "--config", "c.toml", "--no-plots",
                                      "--quiet"], refuse=refuse, words=words, setup=setup))

    config("not TOML", "target = \n", words=("toml",))
    config("an unknown key", 'target = "label"\nepoks = 3\n', words=("epoks",))
    config("epochs as text", 'target = "label"\nepochs = "3"\n', words=("epochs",))
    config("epochs 10**20", 'target = "label"\nepochs = 100000000000000000000\n',
           words=("epochs",))
    config("lr nan", 'target = "label"\nlr = nan\n', words=("lr",))
    config("binary bytes", b"\x89PNG\r\n\x1a\n\x00\x00", words=("config",))
    config("a [train] table", '[train]\ntarget = "label"\nepochs = 2\n', refuse=False)
    config("layers as a string", 'target = "label"\nepochs = 2\nlayers = "8,4"\n',
           refuse=False)

    # 6. predict, evaluate, summary
    def use(name, argv, refuse=True, words=(), setup=None, check=None):
        add(Probe(f"use: {name}", argv, refuse=refuse, words=words, setup=setup, check=check))

    def reordered(work):
        write(work / "r.csv", ["c", "label", "b", "a", "extra"],
              [[r[2], r[3], r[1], r[0], "z"] for r in rows()])

    def missing_column(work):
        write(work / "m.csv", ["a", "b", "label"], [[r[0], r[1], r[3]] for r in rows()])

    def edited(classes):
        def setup(work, classes=classes):
            sys.path.insert(0, str(ROOT / "src"))
            from dlscratch.network import NeuralNetwork

            net = NeuralNetwork.load(work / "clf.npz")
            net.metadata["classes"] = classes
            net.save(work / "edited.npz")
        return setup

    def plain_network(work):
        sys.path.insert(0, str(ROOT / "src"))
        from dlscratch import Dense, MeanSquaredError, NeuralNetwork

        net = NeuralNetwork([Dense(1)], MeanSquaredError(), seed=0)
        net.build(3)
        net.save(work / "plain.npz")

    def garbage(work):
        (work / "garbage.npz").write_bytes(os.urandom(3000))

    def truncated(work):
        (work / "trunc.npz").write_bytes((work / "clf.npz").read_bytes()[:500])

    def relabelled(work):
        body = rows()
        for r in body:
            r[3] = {"0": "0.0", "1": "1.00"}[r[3]]
        write(work / "relab.csv", ["a", "b", "c", "label"], body)

    def unknown_class(work):
        body = rows()
        body[3][3] = "7"
        write(work / "unk.csv", ["a", "b", "c", "label"], body)

    def far(work):
        body = rows()
        body[2][0] = "1e300"
        write(work / "far.csv", ["a", "b", "c", "label"], body)

    def evaluates_right(result, work):
        return None if "accuracy" in result.stdout else f"no accuracy: {result.stdout[:100]}"

    use("columns reordered plus an extra", ["predict", "clf.npz", "r.csv"], False,
        setup=reordered)
    use("a feature column missing", ["predict", "clf.npz", "m.csv"], True, ("'c'",),
        setup=missing_column)
    for classes in (["0", "1", "2"], ["0"], ["0", "0"], ["a", "b", "c", "d"]):
        use(f"class list edited to {classes}", ["predict", "edited.npz", "good.csv"], True,
            ("edited",), setup=edited(classes))
    use("a network not written by train", ["predict", "plain.npz", "good.csv"], True,
        ("not written by",), setup=plain_network)
    use("random bytes as a model", ["predict", "garbage.npz", "good.csv"], True,
        ("garbage.npz",), setup=garbage)
    use("a truncated model", ["summary", "trunc.npz"], True, ("trunc.npz",), setup=truncated)
    use("evaluate with labels 0.0 / 1.00 for classes 0 / 1", ["evaluate", "clf.npz",
                                                             "relab.csv"], False,
        setup=relabelled, check=evaluates_right)
    use("evaluate with an unknown class", ["evaluate", "clf.npz", "unk.csv"], True,
        ("line 5",), setup=unknown_class)
    use("--proba on a regression model", ["predict", "reg.npz", "reg.csv", "--proba"], True,
        ("--proba",))
    use("predict --out is a folder", ["predict", "clf.npz", "good.csv", "--out", "folder"],
        True, ("folder",))
    use("predict --out at a symlink", ["predict", "clf.npz", "good.csv", "--out", "ln.csv"],
        True, ("symbolic link",), setup=lambda w: os.symlink("good.csv", w / "ln.csv"))
    use("a value far outside the training range", ["predict", "clf.npz", "far.csv"], True,
        ("line 4", "'a'"), setup=far)
    use("evaluate a regression on data without the target", ["evaluate", "reg.npz",
                                                              "good.csv"], True, ("'y'",))
    use("summary --json", ["summary", "clf.npz", "--json"], False)
    use("predict rows holding inf", ["predict", "clf.npz", "inf.csv"], True, ("line 3", "'b'"),
        setup=lambda w: write(w / "inf.csv", ["a", "b", "c"], [["1", "2", "3"],
                                                                ["1", "-inf", "3"]]))
    use("evaluate a regression whose target holds Infinity", ["evaluate", "reg.npz", "ri.csv"],
        True, ("line 3",), setup=lambda w: write(w / "ri.csv", ["a", "b", "c", "y"],
                                                 [["1", "2", "3", "4"], ["1", "2", "3",
                                                                         "Infinity"]]))
    use("plot history of a run folder", ["plot", "history", "run-fifo/..", "--out", "x.png"],
        True, ("history",))
    use("runs with a run.json that is not JSON", ["runs", "--runs-dir", "rj"], False,
        setup=lambda w: (os.makedirs(w / "rj" / "x"),
                         (w / "rj" / "x" / "run.json").write_text("{not json")))
    use("runs listing with a FIFO run.json", ["runs", "--runs-dir", "rr"], False,
        setup=lambda w: (os.makedirs(w / "rr" / "x"), os.mkfifo(w / "rr" / "x" / "run.json")))

    # 7. demos (argument checks: nothing trains)
    def demo(name, argv, words):
        add(Probe(f"demo: {name}", ["demo", *argv], words=words))

    demo("cnn --epochs 10**20", ["cnn", "--epochs", str(10**20)], ("--epochs",))
    demo("cnn --epochs 0", ["cnn", "--epochs", "0"], ("--epochs",))
    demo("text --hidden 10**11", ["text", "--hidden", str(10**11)], ("--hidden",))
    demo("text --hidden 1e11", ["text", "--hidden", "1e11"], ("--hidden",))
    demo("text --hidden 0", ["text", "--hidden", "0"], ("--hidden",))
    demo("text --iterations 10**30", ["text", "--iterations", str(10**30)], ("--iterations",))
    demo("text --sample-every 0", ["text", "--sample-every", "0"], ("--sample-every",))
    demo("boston --seeds 0", ["boston", "--seeds", "0"], ("--seeds",))
    demo("boston --seeds 1001", ["boston", "--seeds", "1001"], ("--seeds",))
    demo("mnist --epochs 10**6", ["mnist", "--epochs", str(10**6)], ("--epochs",))
    demo("boston --out is a file", ["boston", "--out", "good.csv"], ("--out",))
    demo("boston --out empty", ["boston", "--out", ""], ("--out",))
    demo("boston --threads 0", ["boston", "--threads", "0"], ("--threads",))
    demo("boston --threads 5000", ["boston", "--threads", "5000"], ("--threads",))
    demo("text with a 1-character file", ["text", "one.txt", "--out", "o"], ("one.txt",))
    probes[-1].setup = lambda w: (w / "one.txt").write_text("a")
    demo("text with a non-UTF-8 file", ["text", "bin.txt", "--out", "o"], ("utf-8",))
    probes[-1].setup = lambda w: (w / "bin.txt").write_bytes(b"\xff\xfe\x00abc" * 10)
    return probes


# ---------------------------------------------------------------------- library probes
LIBRARY = r'''
import numpy as np, warnings
from sklearn.exceptions import NotFittedError
from dlscratch.sklearn import NeuralNetClassifier as C, NeuralNetRegressor as R
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 3)); y = X @ [1.0, -2.0, 0.5] + 0.05 * rng.normal(size=120)
labels = (y > 0).astype(int)

def r2(model, X, t, s=1.0):
    p = model.predict(X) / s; t = t / s
    return 1 - ((p - t) ** 2).sum() / ((t - t.mean()) ** 2).sum()
'''

# (name, code, expect): expect "ok" (the code's last expression must be True), or an
# exception class name and words its message must hold
SKLEARN: list[tuple[str, str, object]] = []


def sk(name, code, expect="ok", words=()):
    SKLEARN.append((name, code, (expect, words)))


def library_probes() -> None:
    for est, target, lr in (("R", "y", 1e6), ("C", "labels", 1e8)):
        for partial in (False, True):
            call = (f"m.partial_fit(X*1e6, {target}{', classes=[0,1]' if est == 'C' else ''})"
                    if partial else f"m.fit(X*1e6, {target})")
            sk(f"sklearn: {est} diverges in {'partial_fit' if partial else 'fit'}",
               f"m = {est}(optimizer='sgd', learning_rate={lr}, epochs=3, random_state=0)\n"
               f"try:\n    {call}\n    {call}\nexcept ValueError as e:\n    msg = str(e)\n"
               f"try:\n    m.predict(X); ok = False\nexcept NotFittedError:\n    ok = True\n"
               f"ok and 'diverged' in msg and 'learning_rate' in msg")
    for scale in (1e-300, 1e-200, 1e-15, 1e-5, 1e5, 1e15, 1e100, 1e200, 1e300):
        sk(f"sklearn: regressor targets x{scale:g}",
           f"m = R(hidden_layer_sizes=(32,), epochs=80, random_state=0).fit(X, y*{scale!r})\n"
           f"np.isfinite(m.predict(X)).all() and r2(m, X, y*{scale!r}, {scale!r}) > 0.95")
    for scale in (1e-300, 1e300):
        sk(f"sklearn: score() at targets x{scale:g}",
           f"m = R(epochs=40, random_state=0).fit(X, y*{scale!r})\n"
           f"m.score(X, y*{scale!r}) > 0.95")
    for std, center in ((3.7e-13, 1.0), (1e-14, 0.0), (1e-9, 1e6)):
        sk(f"sklearn: regressor std {std:g} around {center:g}",
           f"t = {center!r} + {std!r} * y / y.std()\n"
           f"m = R(hidden_layer_sizes=(32,), epochs=80, random_state=0).fit(X, t)\n"
           f"np.corrcoef(m.predict(X), t)[0, 1] > 0.95")
    for value in (7.5, -3.25, 1e300, 0.0):
        sk(f"sklearn: constant target {value:g} predicted exactly",
           f"m = R(epochs=3, random_state=0).fit(X, np.full(120, {value!r}))\n"
           f"(m.predict(X) == {value!r}).all()")
    for value in ("2", "-1", "0.5", "'yes'", "None"):
        sk(f"sklearn: early_stopping={value}", f"R(epochs=1, early_stopping={value}).fit(X, y)",
           "TypeError", ("early_stopping",))
    for make in ("y.astype(str)", "y.astype(str).astype(object)", "y > 0",
                 "np.array([str(v).encode() for v in y])"):
        sk(f"sklearn: regressor y = {make}", f"R(epochs=1).fit(X, {make})", "ValueError",
           ("numbers",))
    sk("sklearn: X with inf", "Xb = X.copy(); Xb[3, 1] = np.inf; R(epochs=1).fit(Xb, y)",
       "ValueError", ("infinity",))
    sk("sklearn: X with nan", "Xb = X.copy(); Xb[3, 1] = np.nan; C(epochs=1).fit(Xb, labels)",
       "ValueError", ("nan",))
    sk("sklearn: X 1e300 (beyond float32)", "R(epochs=1).fit(X * 1e300, y)", "ValueError",
       ("too large",))
    sk("sklearn: y with inf", "t = y.copy(); t[5] = np.inf; R(epochs=1).fit(X, t)",
       "ValueError", ("infinity",))
    sk("sklearn: y with nan (classifier)", "t = y.copy(); t[5] = np.nan; C(epochs=1).fit(X, t)",
       "ValueError", ())
    for param, value, err in (("hidden_layer_sizes", "0", "ValueError"),
                              ("hidden_layer_sizes", "(-1,)", "ValueError"),
                              ("hidden_layer_sizes", "'abc'", "TypeError"),
                              ("epochs", "0", "ValueError"), ("epochs", "1.5", "TypeError"),
                              ("batch_size", "0", "ValueError"),
                              ("learning_rate", "0.0", "ValueError"),
                              ("learning_rate", "float('nan')", "ValueError"),
                              ("learning_rate", "float('inf')", "ValueError"),
                              ("validation_fraction", "1.0", "ValueError"),
                              ("dropout", "1.0", "ValueError"),
                              ("activation", "'swish'", "ValueError"),
                              ("optimizer", "'lbfgs'", "ValueError")):
        epochs = "" if param == "epochs" else ", epochs=1"
        sk(f"sklearn: {param}={value}", f"R({param}={value}{epochs}).fit(X, y)",
           (err, "ValueError", "TypeError"), (param,))
    sk("sklearn: hidden_layer_sizes=(10**7, 10**7) (memory)",
       "R(hidden_layer_sizes=(10**7, 10**7), epochs=1).fit(X, y)",
       ("NetworkTooLargeError", "MemoryError"), ("needs",))
    sk("sklearn: predict with 4 features after 3",
       "R(epochs=1).fit(X, y).predict(np.ones((2, 4)))", "ValueError", ("features",))
    sk("sklearn: predict_proba before fit", "C().predict_proba(X)", "NotFittedError", ())
    sk("sklearn: negative sample_weight", "R(epochs=1).fit(X, y, sample_weight=-np.ones(120))",
       "ValueError", ("negative",))
    sk("sklearn: all-zero sample_weight", "R(epochs=1).fit(X, y, sample_weight=np.zeros(120))",
       "ValueError", ("zero",))
    sk("sklearn: one class", "C(epochs=1).fit(X, np.zeros(120))", "ValueError", ("class",))
    sk("sklearn: partial_fit without classes", "C().partial_fit(X, labels)", "ValueError",
       ("classes",))
    sk("sklearn: a label outside partial_fit's classes",
       "C().partial_fit(X, labels, classes=[0, 1]).partial_fit(X, labels + 1)", "ValueError",
       ("classes",))
    sk("sklearn: labels 1 and 1.0 (floats) one class",
       "m = C(epochs=2).fit(X, labels.astype(float))\nlen(m.classes_) == 2")
    sk("sklearn: string labels", "m = C(epochs=5, random_state=0).fit(X, np.where(labels, 'a', "
       "'b'))\nset(m.predict(X)) <= {'a', 'b'}")
    sk("sklearn: 2-D y of one column for the regressor",
       "m = R(epochs=2).fit(X, y.reshape(-1, 1))\nm.predict(X).shape == (120, 1)")
    sk("sklearn: multi-output with a constant column",
       "m = R(epochs=2).fit(X, np.column_stack([y, np.full(120, 2.5)]))\n"
       "(m.predict(X)[:, 1] == 2.5).all()")
    sk("sklearn: pickle round trip predicts the same",
       "import pickle\nm = C(epochs=2, random_state=0).fit(X, labels)\n"
       "(pickle.loads(pickle.dumps(m)).predict_proba(X) == m.predict_proba(X)).all()")
    sk("sklearn: a refit after divergence",
       "m = R(optimizer='sgd', learning_rate=1e6, epochs=2)\ntry:\n    m.fit(X*1e6, y)\n"
       "except ValueError:\n    pass\nm.set_params(learning_rate=1e-3, optimizer='adam')\n"
       "np.isfinite(m.fit(X, y).predict(X)).all()")
    sk("sklearn: GridSearchCV over learning rates with one diverging",
       "from sklearn.model_selection import GridSearchCV\n"
       "g = GridSearchCV(R(epochs=3, optimizer='sgd', random_state=0), "
       "{'learning_rate': [1e-2, 1e7]}, cv=2, error_score=np.nan)\n"
       "with warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n"
       "    g.fit(X, y)\ng.best_params_['learning_rate'] == 1e-2")
    for est in ("C", "R"):
        sk(f"sklearn: check_estimator({est})",
           "from sklearn.utils.estimator_checks import check_estimator\n"
           "from dlscratch.sklearn import EXPECTED_FAILED_CHECKS as E\n"
           f"m = {est}(epochs=50, random_state=0)\n"
           "with warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n"
           "    res = check_estimator(m, expected_failed_checks=E[type(m).__name__], "
           "on_fail=None)\n"
           "bad = [r['check_name'] for r in res if r['status'] == 'failed']\n"
           "print('failed checks:', bad)\nnot bad")
    sk("sklearn: X as a list of lists", "m = R(epochs=2).fit(X.tolist(), y.tolist())\n"
       "m.predict(X[:3].tolist()).shape == (3,)")
    sk("sklearn: a sparse X", "import scipy.sparse as sp\nR(epochs=1).fit(sp.csr_matrix(X), y)",
       ("TypeError", "ValueError"), ("sparse",))
    sk("sklearn: X with 0 rows", "R(epochs=1).fit(X[:0], y[:0])", "ValueError", ("0 sample",))
    sk("sklearn: one row", "m = R(epochs=2).fit(X[:1], y[:1])\n"
       "(m.predict(X[:1]) == y[:1]).all()")
    sk("sklearn: one row with early_stopping", "R(epochs=2, early_stopping=True).fit(X[:1], y[:1])",
       "ValueError", ("validation",))
    sk("sklearn: labels mixing 1 and 'a'", "C(epochs=1).fit(X, np.array([1, 'a'] * 60, "
       "dtype=object))", ("ValueError", "TypeError"), ())
    sk("sklearn: boolean labels", "m = C(epochs=3, random_state=0).fit(X, labels > 0)\n"
       "m.predict(X).dtype == bool")
    sk("sklearn: probabilities sum to one", "m = C(epochs=3).fit(X * 100, labels)\n"
       "np.allclose(m.predict_proba(X * 100).sum(axis=1), 1)")
    sk("sklearn: y of shape (n, 0)", "R(epochs=1).fit(X, np.empty((120, 0)))", "ValueError", ())
    sk("sklearn: regressor constant plus tiny noise 1e-300",
       "t = 5.0 + 0 * y; t[::2] = np.nextafter(5.0, 6.0)\n"
       "m = R(epochs=30, random_state=0).fit(X, t)\n"
       "np.isfinite(m.predict(X)).all() and np.abs(m.predict(X) - 5.0).max() < 1e-12")
    sk("sklearn: early_stopping keeps a finite best", "m = R(epochs=30, early_stopping=True, "
       "random_state=0).fit(X, y)\nnp.isfinite(m.best_validation_loss_)")
    # csvdata at the library level
    for cells, n in ((["1", "1.0", "2"], 2), (["01", "1", "+1.0e0"], 1),
                     (["12345678901234567890", "12345678901234567891"], 2),
                     (["a", "A", "a "], 2), (["0.1", "0.10", ".1"], 1)):
        sk(f"csvdata: class_names({cells})",
           f"from dlscratch.csvdata import class_names\nlen(class_names({cells!r})) == {n}")
    for line, sep in (("a;b;c", ";"), ("a\tb", "\t"), ('"x;y",b', ","), ("a|b|c;d", "|"),
                      ("single", ",")):
        sk(f"csvdata: detect_delimiter({line!r})",
           f"from dlscratch.csvdata import detect_delimiter\n"
           f"detect_delimiter({line!r}) == {sep!r}")


CHILD = r'''
import json, signal, sys, traceback, warnings
probes = json.loads(sys.stdin.read())
prelude = probes.pop(0)
results = []
class Timeout(Exception):
    pass
def alarm(*args):
    raise Timeout()
signal.signal(signal.SIGALRM, alarm)
for name, code, (expect, words) in probes:
    scope = {}
    exec(prelude, scope)
    lines = code.strip().splitlines()
    signal.alarm(120)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec("\n".join(lines[:-1]), scope)
            try:
                last = compile(lines[-1], "<probe>", "eval")
            except SyntaxError:
                exec(lines[-1], scope)
                value = None
            else:
                value = eval(last, scope)
        signal.alarm(0)
        numpy_warnings = [str(w.message) for w in caught if "RuntimeWarning" in
                          type(w.message).__name__]
        truth = value if type(value).__name__ in ("bool", "bool_") else None
        results.append({"name": name, "raised": None,
                        "value": None if truth is None else bool(truth),
                        "warnings": numpy_warnings})
    except Timeout:
        results.append({"name": name, "raised": "Timeout", "message": ""})
    except BaseException as error:
        signal.alarm(0)
        tb = traceback.format_exc()
        results.append({"name": name, "raised": type(error).__name__, "message": str(error),
                        "traceback": tb[-600:]})
print("@@RESULTS@@" + json.dumps(results))
'''


def run_library(probes, verbose: bool) -> list[Probe]:
    out: list[Probe] = []
    payload = [LIBRARY] + [[name, code, list(expect)] for name, code, expect in probes]
    # several children so that a crash or a memory kill costs one batch, not all
    for start in range(0, len(payload) - 1, 12):
        batch = [payload[0]] + payload[1 + start:1 + start + 12]
        try:
            run = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(batch),
                                 capture_output=True, text=True, env=env(), preexec_fn=limits,
                                 timeout=WALL_LIMIT_S * 12)
            marker = run.stdout.rfind("@@RESULTS@@")
            results = json.loads(run.stdout[marker + 11:]) if marker >= 0 else []
        except subprocess.TimeoutExpired:
            results = []
        done = {r["name"]: r for r in results}
        for name, code, (expect, words) in batch[1:]:
            probe = Probe(name, code=code, refuse=expect != "ok", words=tuple(words))
            r = done.get(name)
            if r is None:
                probe.outcome, probe.detail = "broken", "the child died or hung (memory/time)"
            else:
                classify_library(probe, r, expect)
            out.append(probe)
            if verbose:
                print(f"{probe.outcome:6} {probe.name} {probe.detail}", flush=True)
    return out


def classify_library(probe: Probe, r: dict, expect) -> None:
    raised = r.get("raised")
    if raised == "Timeout":
        probe.outcome, probe.detail = "broken", "hang (120 s)"
        return
    if expect == "ok":
        if raised is not None:
            probe.outcome, probe.detail = "broken", f"{raised}: {r['message'][:160]}"
        elif r["value"] is not True:
            probe.outcome, probe.detail = "broken", "wrong result without an error"
        elif r.get("warnings"):
            probe.outcome, probe.detail = "weak", f"NumPy warnings: {r['warnings'][:1]}"
        else:
            probe.outcome = "fine"
        return
    allowed = (expect,) if isinstance(expect, str) else tuple(expect)
    if raised is None:
        probe.outcome, probe.detail = "broken", "accepted without an error"
    elif raised not in allowed and not (raised == "MemoryError" and "MemoryError" in allowed):
        probe.outcome, probe.detail = "weak", f"{raised} (expected {allowed[0]}): " \
                                              f"{r['message'][:160]}"
    elif not all(w.lower() in r["message"].lower() for w in probe.words):
        probe.outcome, probe.detail = "weak", f"message lacks {probe.words}: " \
                                              f"{r['message'][:160]}"
    else:
        probe.outcome = "fine"


# ---------------------------------------------------------------------- command-line runs
def run_cli_probe(probe: Probe, base: Path) -> Probe:
    work = Path(tempfile.mkdtemp(prefix="probe-", dir=base))
    for entry in base.joinpath("template").iterdir():
        target = work / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        elif entry.is_fifo() or entry.is_socket():
            if entry.is_fifo():
                os.mkfifo(target)
        elif entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, ignore_dangling_symlinks=True,
                            copy_function=_copy_regular)
        else:
            shutil.copy2(entry, target)
    try:
        if probe.setup is not None:
            probe.setup(work)
        if "socket" in probe.name and not (work / "sock").exists():
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(work / "sock"))
            s.close()
        try:
            result = subprocess.run([sys.executable, "-m", "dlscratch", *probe.argv], cwd=work,
                                    env=env(), capture_output=True, text=True,
                                    timeout=WALL_LIMIT_S, preexec_fn=limits,
                                    stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            probe.outcome, probe.detail = "broken", f"hang: no answer in {WALL_LIMIT_S} s"
            return probe
        classify_cli(probe, result, work)
    except Exception as error:  # a probe's own setup failed
        probe.outcome, probe.detail = "weak", f"probe error: {error!r}"
        traceback.print_exc()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return probe


def _copy_regular(src, dst):
    if os.path.isfile(src) and not os.path.islink(src):
        shutil.copy2(src, dst)
    elif Path(src).is_fifo():
        os.mkfifo(dst)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if result.returncode == 2:  # argparse: usage lines, then the error line
        lines = [line for line in lines if "error:" in line]
    return lines


def classify_cli(probe: Probe, result: subprocess.CompletedProcess, work: Path) -> None:
    err = result.stderr
    if result.returncode < 0 or result.returncode == 137:
        probe.outcome, probe.detail = "broken", f"killed (signal {-result.returncode})"
    elif "Traceback" in err or "MemoryError" in err and "not enough memory" not in err:
        probe.outcome, probe.detail = "broken", "traceback: " + err.strip().splitlines()[-1][:160]
    elif probe.refuse:
        lines = error_lines(result)
        text = " ".join(lines).lower()
        any_word = probe.extra.get("any_word", False)
        has = (any if any_word else all)(w.lower() in text for w in probe.words) \
            if probe.words else True
        if result.returncode == 0:
            probe.outcome, probe.detail = "broken", "accepted (exit status 0)"
        elif len(lines) != 1:
            probe.outcome, probe.detail = "weak", f"{len(lines)} lines of stderr: {err[-200:]!r}"
        elif not has:
            probe.outcome, probe.detail = "weak", f"lacks {probe.words}: {lines[0][:200]}"
        else:
            probe.outcome, probe.detail = "fine", lines[0][:200]
    else:
        if result.returncode != 0:
            probe.outcome, probe.detail = "weak", f"valid input refused: {err.strip()[-200:]}"
            return
        problem = probe.check(result, work) if probe.check else None
        if problem:
            probe.outcome, probe.detail = "broken", problem
        elif "Warning" in err:
            probe.outcome, probe.detail = "weak", f"warnings on stderr: {err.strip()[:160]}"
        else:
            probe.outcome = "fine"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the probes whose name holds this word")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="print every probe")
    args = parser.parse_args()
    probes = cli_probes()
    library_probes()
    library = SKLEARN
    if args.only:
        probes = [p for p in probes if args.only in p.name]
        library = [p for p in library if args.only in p[0]]
    base = Path(tempfile.mkdtemp(prefix="dlscratch-probes-"))
    try:
        (base / "template").mkdir()
        prepare(base / "template")
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            done = []
            for probe in pool.map(lambda p: run_cli_probe(p, base), probes):
                done.append(probe)
                if args.verbose:
                    print(f"{probe.outcome:6} {probe.name}: {probe.detail[:150]}", flush=True)
        done += run_library(library, args.verbose)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    totals = {kind: [p for p in done if p.outcome == kind] for kind in ("fine", "weak", "broken")}
    print()
    for kind in ("broken", "weak"):
        for probe in totals[kind]:
            print(f"{kind.upper():6} {probe.name}: {textwrap.shorten(probe.detail, 220)}")
    print(f"\n{len(done)} probes: {len(totals['fine'])} fine, {len(totals['weak'])} weak, "
          f"{len(totals['broken'])} broken")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
