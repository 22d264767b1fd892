"""``rnnkit textgen`` (train, sample, eval) and ``rnnkit demo``."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from .parsing import (
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    _help_of,
    _refuse_settings_on_resume,
    _stop_group,
    add_options,
    given_options,
)
from .runs import (
    MODEL_HELP,
    _add_checkpoint_option,
    _add_run_options,
    _default_run_dir,
    _interrupted_status,
    _refuse_torchrun,
    report_training,
    resume_command,
)

# ---------------------------------------------------------------------------
# textgen
# ---------------------------------------------------------------------------


#: what a command that reads a model takes
def add_textgen_commands(sub) -> None:
    from ..textgen import CharRNNConfig, TrainSettings
    from ..textgen.api import DEFAULT_STOP
    from ..textgen.sampling import SampleRequest, SamplingOptions
    from ..training import EngineChoice

    textgen = sub.add_parser(
        "textgen",
        help="character-level text generator: train, sample, eval",
        description="Character-level language model (char-rnn style) on any text.",
    )
    tg = textgen.add_subparsers(title="commands", metavar="COMMAND")

    train = tg.add_parser(
        "train",
        help="train on a text file (or the default corpus), or resume a run",
        description=(
            "Train a character-level model. CORPUS is a UTF-8 text file (or any file with "
            "--encoding bytes), or the name of a downloaded dataset (tinyshakespeare); "
            "without it, Python's standard library source is used. Every 'eval-every' "
            "steps the model is evaluated on the tail of the corpus, a sample is printed "
            "and RUN_DIR/latest.npz (and best.npz) are written atomically."
        ),
    )
    train.add_argument("corpus", nargs="?", metavar="CORPUS",
                       help="text file (default: stdlib source)")  # fmt: skip
    _add_run_options(train, "textgen")
    add_options(train.add_argument_group("model"), CharRNNConfig)
    training = train.add_argument_group("training")
    add_options(training, TrainSettings)
    training.add_argument("--encoding", choices=("utf-8", "bytes"),
                          help="read CORPUS as UTF-8 text (default) or raw bytes")  # fmt: skip
    _stop_group(train, DEFAULT_STOP)
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    add_options(train, EngineChoice)
    train.set_defaults(run=cmd_textgen_train)

    sample = tg.add_parser(
        "sample",
        help="generate text from a trained model (streams to stdout)",
        description=(
            "Generate text from RUN_DIR's best checkpoint (or a .npz checkpoint, or a "
            ".safetensors export), one character at a time."
        ),
    )
    sample.add_argument("run_dir", metavar="RUN_DIR", help=MODEL_HELP)
    add_options(sample, SampleRequest)
    add_options(sample, SamplingOptions)
    _add_checkpoint_option(sample)
    sample.set_defaults(run=cmd_textgen_sample)

    ev = tg.add_parser(
        "eval",
        help="loss in nats/char, bits/char and perplexity",
        description="Evaluate on FILE or, without it, on the run's own validation split.",
    )
    ev.add_argument("run_dir", metavar="RUN_DIR", help=MODEL_HELP)
    ev.add_argument("file", nargs="?", metavar="FILE", help="text to evaluate on")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    _add_checkpoint_option(ev)
    ev.set_defaults(run=cmd_textgen_eval)
    textgen.set_defaults(run=_help_of(textgen))


def cmd_textgen_train(args) -> int:
    from ..textgen import CharLM, CharRNNConfig, TrainSettings
    from ..training import EngineChoice, StopRule

    if args.resume:
        if not args.out:
            raise UsageError("--resume needs --out RUN_DIR, the run to continue")
        _refuse_settings_on_resume(args, CharRNNConfig, TrainSettings)
        if args.force:
            raise UsageError("--resume continues a run; drop --force")
    engine = given_options(args, EngineChoice).get("engine", "numpy")
    if engine != "torch":
        _refuse_torchrun("the NumPy engine trains in one process: add --engine torch to train "
                         "one run on all of them (docs/beyond-one-machine.md)")  # fmt: skip
    run_dir = args.out or _default_run_dir("textgen")
    lm = CharLM(**given_options(args, CharRNNConfig))
    result = lm.fit(
        _corpus_path(args.corpus) if args.corpus else None,
        encoding=args.encoding or "utf-8", out=run_dir, resume=args.resume, force=args.force,
        progress=not args.quiet, **given_options(args, StopRule),
        **given_options(args, TrainSettings), **given_options(args, EngineChoice),
    )  # fmt: skip
    if os.environ.get("RANK", "0") != "0":  # a torchrun process other than rank 0: it reports
        if result.reason == "interrupted":
            return _interrupted_status(result)
        return EXIT_ERROR if result.reason == "diverged" else EXIT_OK
    summary = ""
    if result.best is not None:
        summary = (
            f"; best validation loss {result.best:.4f} nats/char "
            f"({result.best / math.log(2):.4f} bits/char) at step {result.best_step}"
        )
    return report_training(result, run_dir, _textgen_resume_command(run_dir, engine), summary,
                           f"sample with: rnnkit textgen sample {run_dir}")  # fmt: skip


def _textgen_resume_command(run_dir: str, engine: str) -> str:
    """The command that continues this run as it was started (see :func:`resume_command`)."""
    return resume_command(f"textgen train --out {run_dir} --resume", engine)


def _corpus_path(name: str) -> Path:
    """CORPUS as a path; a known dataset name means its downloaded copy."""
    path = Path(name)
    if path.exists():
        return path
    from ..text import download

    if name in download.DATASETS:
        cached = download.cached_path(name)
        if cached is None:
            raise UsageError(f"{name} is not downloaded yet: run 'rnnkit data download {name}'")
        return cached
    return path  # read_corpus reports it missing


def cmd_textgen_sample(args) -> int:
    from ..textgen import CharLM
    from ..textgen.sampling import SampleRequest, SamplingOptions

    request = SampleRequest(**given_options(args, SampleRequest))
    request.validate()
    lm = CharLM.load(args.run_dir, args.checkpoint)
    prime = request.prime if request.prime else lm.default_prime()
    pieces = lm.stream(request.length, prime=prime, seed=request.seed,
                       **given_options(args, SamplingOptions))  # fmt: skip
    if lm.vocab.encoding == "bytes":  # raw bytes out, as they came in
        stream, newline = sys.stdout.buffer, b"\n"
        prime = prime.encode("utf-8") if isinstance(prime, str) else prime
    else:
        stream, newline = sys.stdout, "\n"
    first = next(pieces, newline[:0])  # checks the options and the prime before printing
    stream.write(prime + first)
    for piece in pieces:
        stream.write(piece)
        stream.flush()
    stream.write(newline)
    stream.flush()
    return EXIT_OK


def cmd_textgen_eval(args) -> int:
    from ..textgen import CharLM

    lm = CharLM.load(args.run_dir, args.checkpoint)
    result = lm.evaluate(Path(args.file) if args.file else None)
    where = args.file or f"the validation split ({lm.settings.val_fraction:g} tail of the corpus)"
    if args.json:
        print(json.dumps({**result, "text": where}))
    else:
        print(
            f"{result['loss']:.4f} nats/char, {result['bpc']:.4f} bits/char, "
            f"perplexity {result['perplexity']:.3f} on {result['chars']:,} characters of {where}"
        )
    return EXIT_OK




# ---------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------

DEMO_MINUTES = 1.5


def add_demo_command(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help=(f"train a small generator on Python's own source for {DEMO_MINUTES:g} minutes, "
              "then write code"),
        description=(
            "Trains a small LSTM on the Python standard library's source (no download) "
            "and prints text it generates."
        ),
    )
    demo.add_argument(
        "--minutes", type=float, default=DEMO_MINUTES, help=f"training time ({DEMO_MINUTES})"
    )
    demo.add_argument("--length", type=int, default=600, help="characters to generate (600)")
    demo.add_argument(
        "--out", metavar="RUN_DIR", help="also keep the run (checkpoints, metrics, plot)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed for training and sampling (0)")
    demo.set_defaults(run=cmd_demo)


def cmd_demo(args) -> int:
    from ..textgen.demo import run_demo

    run_demo(minutes=args.minutes, length=args.length, out=args.out, seed=args.seed)
    return EXIT_OK
