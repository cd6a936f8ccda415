"""The book's chapter 6: a character-level LSTM learns to write like a text.

By default the text is the docstrings of a fixed list of Python standard-library modules
(``dlscratch.text.stdlib_docstrings``: about 600,000 characters of English on any machine with
Python, offline); any UTF-8 file can stand in for it (the book used a Shakespeare text, which
``dlscratch.datasets.load_tiny_shakespeare`` downloads). The last tenth is held out: the demo
prints the validation perplexity at every evaluation beside the unigram baseline (the
perplexity of the training text's character frequencies), samples text as the model learns,
and writes the loss curve, the results and the trained model into the output folder.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._common import (
    Log,
    blas_threads,
    environment,
    format_table,
    quiet_log,
    threads_note,
    write_json,
)

SEED = 20190501
ITERATIONS = 600
HIDDEN = 256
SEQUENCE_LENGTH = 50
BATCH_SIZE = 32
LEARNING_RATE = 0.01
CLIP_NORM = 5.0


def text_experiment(text: str, source: str, iterations: int = ITERATIONS,
                    hidden: int = HIDDEN, sample_every: int = 100, seed: int = SEED,
                    dtype: str = "float32", log: Log = quiet_log) -> tuple[dict[str, Any], Any]:
    """Train an LSTM on ``text``; return (every number, JSON-ready; the trainer)."""
    from ..losses import SoftmaxCrossEntropy
    from ..optimizers import Adam
    from ..recurrent import LSTMLayer
    from ..text import RNNModel, RNNTrainer, build_vocabulary

    vocab_size = len(build_vocabulary(text))
    model = RNNModel(layers=[LSTMLayer(hidden_size=hidden, output_size=vocab_size)],
                     sequence_length=SEQUENCE_LENGTH, vocab_size=vocab_size,
                     loss=SoftmaxCrossEntropy(), seed=seed, dtype=dtype,
                     reduction="mean")  # Adam and clip_norm as torch's: the mean loss
    optim = Adam(lr=LEARNING_RATE, clip_norm=CLIP_NORM)
    trainer = RNNTrainer(model=model, optim=optim, batch_size=BATCH_SIZE, text=text, seed=seed,
                         verbose=log is not quiet_log, print_fn=log)
    log(f"{source}: {len(text):,} characters, {vocab_size} distinct; training on "
        f"{len(trainer.train_text):,}, validating on {len(trainer.validation_text):,}")
    log(f"LSTMLayer(hidden_size={hidden}, output_size={vocab_size}), sequences of "
        f"{SEQUENCE_LENGTH}, batches of {BATCH_SIZE}, Adam(lr={LEARNING_RATE}, "
        f"clip_norm={CLIP_NORM}), {iterations} iterations; unigram baseline perplexity "
        f"{trainer.unigram_perplexity():.2f}")
    log("")
    started = time.perf_counter()
    history = trainer.train(iterations, sample_every=sample_every)
    seconds = time.perf_counter() - started
    unigram = history.unigram_perplexity
    final = history.val_perplexity[-1] if history.val_perplexity else None
    results = {
        "experiment": "Deep Learning from Scratch, chapter 6: a character-level LSTM",
        "data": {"source": source, "characters": len(text), "vocab_size": vocab_size,
                 "train_characters": len(trainer.train_text),
                 "validation_characters": len(trainer.validation_text)},
        "model": {"layers": [repr(layer) for layer in model.layers],
                  "sequence_length": SEQUENCE_LENGTH, "parameters": model.count_params()},
        "training": {"iterations": trainer.iteration, "batch_size": BATCH_SIZE,
                     "optimizer": f"Adam(lr={LEARNING_RATE}, clip_norm={CLIP_NORM})",
                     "seed": seed, "interrupted": history.interrupted},
        "unigram_perplexity": unigram,
        "evaluations": [{"iteration": it, "validation_perplexity": ppl, "sample": sample}
                        for it, ppl, sample in zip(history.eval_iterations,
                                                   history.val_perplexity, history.samples)],
        "final_validation_perplexity": final,
        "ratio_to_unigram": None if final is None else final / unigram,
        "loss_moving_average": history.moving_average(),
        "seconds_training": seconds,
    }
    return results, trainer


def text_table(results: dict[str, Any]) -> str:
    """One row per evaluation: validation perplexity beside the unigram baseline."""
    unigram = results["unigram_perplexity"]
    rows = [[str(e["iteration"]), f"{e['validation_perplexity']:.2f}", f"{unigram:.2f}",
             f"{e['validation_perplexity'] / unigram:.2f}"] for e in results["evaluations"]]
    return format_table(["iteration", "validation perplexity", "unigram", "ratio"], rows)


def plot_text(results: dict[str, Any], path: str | os.PathLike) -> None:
    """Training loss (moving average of 100 iterations) and validation cross-entropy, in nats
    per character, with the unigram baseline."""
    import math

    from ..plots import _pyplot, save_figure

    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(8, 4.5))
    curve = results["loss_moving_average"]
    ax.plot(range(1, len(curve) + 1), curve, label="training loss (mean of the last 100)",
            alpha=0.8)
    evaluations = results["evaluations"]
    ax.plot([e["iteration"] for e in evaluations],
            [math.log(e["validation_perplexity"]) for e in evaluations], marker="o",
            label="validation cross-entropy")
    ax.axhline(math.log(results["unigram_perplexity"]), color="grey", linestyle="--",
               label="unigram baseline")
    ax.set_xlabel("iteration")
    ax.set_ylabel("nats per character (log perplexity)")
    ax.set_title(f"Character LSTM on {os.path.basename(str(results['data']['source']))}")
    ax.legend()
    save_figure(figure, path)


def run_text(file: str | os.PathLike | None = None, iterations: int = ITERATIONS,
             hidden: int = HIDDEN, sample_every: int = 100, seed: int = SEED,
             out: str | os.PathLike = "outputs", quiet: bool = False, dtype: str = "float32",
             threads: int | None = 1, echo: Log = print) -> dict[str, Any]:
    """Train, print the table, write ``text.png``, ``text.json`` and ``text_model.npz``."""
    import matplotlib  # noqa: F401  (checked before any work: the figure needs it)

    from ..text import read_text, stdlib_docstrings

    log = quiet_log if quiet else echo
    started = time.perf_counter()
    note, applied = threads_note(threads)
    (log if applied else echo)(note)
    if file is None:
        text, source = stdlib_docstrings(), "Python standard-library docstrings"
    else:
        text, source = read_text(file, "dlscratch demo text"), os.fspath(file)
    with blas_threads(threads):
        results, trainer = text_experiment(text, source, iterations, hidden, sample_every, seed,
                                           dtype, log)
    results["seconds"] = time.perf_counter() - started
    results["environment"] = environment(threads, dtype)
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, "text.png")
    json_path = os.path.join(out, "text.json")
    model_path = os.path.join(out, "text_model.npz")
    plot_text(results, png)
    trainer.save(model_path)
    results["files"] = {"png": os.path.abspath(png), "json": os.path.abspath(json_path),
                        "model": os.path.abspath(model_path)}
    write_json(json_path, results)
    echo("")
    echo(text_table(results))
    echo("")
    final, unigram = results["final_validation_perplexity"], results["unigram_perplexity"]
    if final is not None:
        echo(f"Validation perplexity {final:.2f} against the unigram baseline {unigram:.2f} "
             f"({final / unigram:.0%} of it) after {results['training']['iterations']} "
             f"iterations ({results['seconds_training']:.0f} s of training).")
        echo("A sample at temperature 0.7:")
        echo(trainer.sample(300, temperature=0.7, seed=seed))
    echo("")
    echo(f"Wrote {results['files']['png']}")
    echo(f"Wrote {results['files']['json']}")
    echo(f"Wrote {results['files']['model']} (RNNModel.load reads it, vocabulary included)")
    echo(f"Done in {results['seconds']:.1f} s.")
    return results
