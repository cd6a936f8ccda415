"""The ``dlscratch`` command: ``dlscratch demo boston`` and ``dlscratch demo mnist``.

    dlscratch demo boston [--seeds N] [--out DIR] [--quiet]
    dlscratch demo mnist [--full] [--epochs N] [--out DIR] [--quiet]
    dlscratch --version

Argument errors are reported by argparse (exit status 2); a demo that cannot run (a missing
optional dependency, the full MNIST not cached, an output folder that cannot be written)
prints one line saying why and exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__

DEMO_EXTRA = 'pip install "dlscratch[demo]"'


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default="outputs",
                        help="folder for the figure and the JSON results (default: ./outputs)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines; only the results table and the files written")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="array type of the networks (default: float32)")
    parser.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                        help="BLAS threads while training (default: 1, fastest for these "
                             "small matrices and bit-for-bit repeatable)")


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
    boston.add_argument("--seeds", type=_positive_int, default=8, metavar="N",
                        help="number of seeds: the book's (20190501) and the N-1 after it "
                             "(default: 8)")
    _add_common(boston)

    mnist = demos.add_parser(
        "mnist", help="chapter 4: the ladder of training tricks on MNIST",
        description="The book's chapter 4: softmax cross-entropy, momentum, learning-rate "
                    "decay, Glorot initialisation and dropout, one at a time, on MNIST-5k "
                    "(offline) or the full MNIST.")
    mnist.add_argument("--full", action="store_true",
                       help="use the full MNIST (60,000 / 10,000) from the cache; it is never "
                            "downloaded here")
    mnist.add_argument("--epochs", type=_positive_int, default=50, metavar="N",
                       help="epochs per step (default: 50, the book's)")
    _add_common(mnist)

    # the commands on the user's own data: train, predict, evaluate, summary, plot, runs
    from .commands import register

    register(commands)
    return parser


def _fail(message: str) -> int:
    print(f"dlscratch: error: {message}", file=sys.stderr)
    return 1


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
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        try:
            parser.error(f"argument --out: {args.out!r} exists and is not a folder")
        except SystemExit as exit_:
            return int(exit_.code)

    from . import demos

    try:
        if args.demo == "boston":
            demos.run_boston(seeds=args.seeds, out=args.out, quiet=args.quiet,
                             dtype=args.dtype, threads=args.threads)
        else:
            demos.run_mnist(full=args.full, epochs=args.epochs, out=args.out,
                            quiet=args.quiet, dtype=args.dtype, threads=args.threads)
    except ImportError as error:
        return _fail(f"the demos need scikit-learn, mlxtend and matplotlib ({error}); "
                     f"install them with: {DEMO_EXTRA}")
    except demos.DatasetUnavailable as error:
        return _fail(f"--full: {error}")
    except OSError as error:
        return _fail(f"{error} (while reading the data or writing the results into "
                     f"{args.out!r})")
    except KeyboardInterrupt:
        print("dlscratch: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
