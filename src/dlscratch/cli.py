"""The ``dlscratch`` command: ``dlscratch demo boston`` and ``dlscratch demo mnist``.

    dlscratch demo boston [--seeds N] [--epochs N] [--out DIR] [--quiet]
    dlscratch demo mnist [--full] [--epochs N] [--out DIR] [--quiet]
    dlscratch demo cnn [--full] [--epochs N] [--out DIR] [--quiet]
    dlscratch demo text [FILE] [--iterations N] [--hidden N] [--out DIR] [--quiet]
    dlscratch --version

Argument errors are reported by argparse (exit status 2); a demo that cannot run (a missing
optional dependency, the full MNIST not cached, an output folder that cannot be written)
prints one line saying why and exits with status 1, before any training. Ctrl-C stops a demo,
writes no result file and exits with status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ._version import __version__

DEMO_EXTRA = 'pip install "dlscratch[demo]"'


def _positive_int(text: str, high: int | None = None) -> int:
    """argparse type: an integer >= 1 (and <= ``high``: every number has a bound)."""
    try:
        value = int(text) if len(text) <= 30 else None
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {high:,}, got "
                                         f"{value:,}")
    return value


def _bounded(high: int):
    """argparse type: an integer in [1, high]."""
    def parse(text: str) -> int:
        return _positive_int(text, high)

    parse.__name__ = f"integer in [1, {high}]"
    return parse


#: the bounds of the numeric options (a seeds list of 10**22 entries would fill the memory)
MAX_SEEDS = 1000
MAX_EPOCHS = 100_000
MAX_THREADS = 1024
MAX_ITERATIONS = 10_000_000
#: the widest LSTM the text demo builds (4 gates of 8192 x 8192 weights: 1 GiB in float32)
MAX_HIDDEN = 8192


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default="outputs",
                        help="folder for the figure and the JSON results (default: ./outputs)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines; only the results table and the files written")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="array type of the networks (default: float32)")
    parser.add_argument("--threads", type=_bounded(MAX_THREADS), default=1, metavar="N",
                        help="BLAS threads while training (default: 1, fastest for these "
                             "small matrices and bit-for-bit repeatable; float32 results move "
                             "with it; needs threadpoolctl)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dlscratch`` command."""
    parser = argparse.ArgumentParser(
        prog="dlscratch",
        description="The network of 'Deep Learning from Scratch' (Weidman) in NumPy: train "
                    "on your own CSV data, or run the book's experiments.")
    parser.add_argument("--version", action="version", version=f"dlscratch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="run one of the book's experiments",
                               description="Run one of the book's experiments.")
    demos = demo.add_subparsers(dest="demo", metavar="DEMO", required=True)

    boston = demos.add_parser(
        "boston", help="chapter 3: linear regression, a network and a deep network on Boston "
                       "housing",
        description="The book's chapter 3: three networks on the Boston housing prices, "
                    "trained with SGD(lr=0.01) for 50 epochs, at the book's seed and more.")
    boston.add_argument("--seeds", type=_bounded(MAX_SEEDS), default=8, metavar="N",
                        help="number of seeds: the book's (20190501) and the N-1 after it "
                             f"(default: 8, at most {MAX_SEEDS})")
    boston.add_argument("--epochs", type=_bounded(MAX_EPOCHS), default=50, metavar="N",
                        help="epochs per network (default: 50, the book's)")
    _add_common(boston)

    mnist = demos.add_parser(
        "mnist", help="chapter 4: the ladder of training tricks on MNIST",
        description="The book's chapter 4: softmax cross-entropy, momentum, learning-rate "
                    "decay, Glorot initialisation and dropout, one at a time, on MNIST-5k "
                    "(offline) or the full MNIST.")
    mnist.add_argument("--full", action="store_true",
                       help="use the full MNIST (60,000 / 10,000) from the cache; it is never "
                            "downloaded here")
    mnist.add_argument("--epochs", type=_bounded(MAX_EPOCHS), default=50, metavar="N",
                       help="epochs per step (default: 50, the book's)")
    _add_common(mnist)

    cnn = demos.add_parser(
        "cnn", help="chapter 5: the book's convolutional network and a modern CNN on MNIST",
        description="The book's chapter 5: its CNN (Conv2D 16 5x5 tanh, Dense 10) for one "
                    "epoch, and a modern CNN (two Conv2D + BatchNorm + MaxPool2D blocks) with "
                    "Adam, on MNIST-5k (offline) or the full MNIST; test accuracy and time per "
                    "epoch, a picture of the learned filters and of misclassified digits.")
    cnn.add_argument("--full", action="store_true",
                     help="use the full MNIST (60,000 / 10,000) from the cache; it is never "
                          "downloaded here")
    cnn.add_argument("--epochs", type=_bounded(MAX_EPOCHS), default=10, metavar="N",
                     help="epochs of the modern CNN (default: 10); the book's network trains "
                          "one epoch, as in the book")
    _add_common(cnn)
    text = demos.add_parser(
        "text", help="chapter 6: a character-level LSTM learns to write like a text",
        description="The book's chapter 6: an LSTM trained on a text, one character at a time, "
                    "printing samples as it learns and the validation perplexity beside the "
                    "unigram baseline. Default text: Python standard-library docstrings "
                    "(offline).")
    text.add_argument("file", nargs="?", metavar="FILE",
                      help="a UTF-8 text file (default: the docstrings of Python's standard "
                           "library)")
    text.add_argument("--iterations", type=_bounded(MAX_ITERATIONS), default=600, metavar="N",
                      help="training batches (default: 600)")
    text.add_argument("--hidden", type=_bounded(MAX_HIDDEN), default=256, metavar="N",
                      help=f"hidden size of the LSTM (default: 256, at most {MAX_HIDDEN})")
    text.add_argument("--sample-every", type=_bounded(MAX_ITERATIONS), default=100, metavar="N",
                      help="iterations between evaluations and samples (default: 100)")
    _add_common(text)
    # the commands on the user's own data: train, predict, evaluate, summary, plot, runs
    from .commands import register

    register(commands)
    return parser


def _fail(message: str) -> int:
    print(f"dlscratch: error: {message}", file=sys.stderr)
    return 1


def _text_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be the demo's text (missing, a folder, a FIFO, a device, a link
    loop), or None when it is a regular file."""
    from ._io import open_regular_file

    try:
        open_regular_file(path, "UTF-8 text file").close()
    except FileNotFoundError:
        return f"argument FILE: {path!r} does not exist; expected a UTF-8 text file"
    except ValueError as error:
        return f"argument FILE: {error}"
    except OSError as error:
        return f"argument FILE: {path!r} cannot be read: {error.strerror or error}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and argument errors
        return exit_.code if isinstance(exit_.code, int) else 1
    if getattr(args, "run_command", None) is not None:  # a command of commands/
        args.argv = list(sys.argv[1:] if argv is None else argv)
        try:
            return args.run_command(args)
        except SystemExit as exit_:  # a usage error found after parsing
            return exit_.code if isinstance(exit_.code, int) else 1
    problem = None
    if not args.out or "\0" in args.out:
        problem = f"argument --out: {args.out!r} is not a folder name"
    elif os.path.exists(args.out) and not os.path.isdir(args.out):
        problem = f"argument --out: {args.out!r} exists and is not a folder"
    if problem is None and args.demo == "text" and args.file is not None:
        # a file that cannot be read is a problem of the data, not of the usage: status 1
        problem = _text_file_problem(args.file)
        if problem is not None:
            return _fail(f"dlscratch demo text: {problem}")
    if problem is not None:
        try:
            parser.error(problem)
        except SystemExit as exit_:
            return int(exit_.code)

    try:
        from .demos import run_boston, run_cnn, run_mnist, run_text

        if args.demo == "boston":
            run_boston(seeds=args.seeds, epochs=args.epochs, out=args.out,
                             quiet=args.quiet, dtype=args.dtype, threads=args.threads)
        elif args.demo == "cnn":
            run_cnn(full=args.full, epochs=args.epochs, out=args.out,
                          quiet=args.quiet, dtype=args.dtype, threads=args.threads)
        elif args.demo == "text":
            try:
                run_text(file=args.file, iterations=args.iterations, hidden=args.hidden,
                               sample_every=args.sample_every, out=args.out, quiet=args.quiet,
                               dtype=args.dtype, threads=args.threads)
            except ValueError as error:  # a file that is not UTF-8 text, or too short
                message = str(error)
                if args.file is not None and args.file not in message:
                    message = f"FILE {args.file!r}: {message}"
                return _fail(message)
        else:
            run_mnist(full=args.full, epochs=args.epochs, out=args.out,
                            quiet=args.quiet, dtype=args.dtype, threads=args.threads)
    except ImportError as error:
        # one install hint: the demos' own message has it; add it only to a foreign one
        message = str(error)
        if "pip install" not in message:
            message = f"a package the demo needs is missing ({message}); install: {DEMO_EXTRA}"
        return _fail(message)
    except RuntimeError as error:
        from .demos import DatasetUnavailable

        if not isinstance(error, DatasetUnavailable):
            raise
        return _fail(f"--full: {error}")
    except OSError as error:
        return _fail(f"{error} (while reading the data or writing the results into "
                     f"{args.out!r})")
    except MemoryError as error:
        return _fail(f"not enough memory for this demo's settings ({error}); choose smaller "
                     f"ones")
    except KeyboardInterrupt:
        print("dlscratch: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
