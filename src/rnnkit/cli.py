"""The ``rnnkit`` command line: parses arguments, calls the packages, prints.

Each command group has one ``add_<group>_commands(subparsers)`` function that
registers its subcommands, each bound (``set_defaults(run=...)``) to a
``cmd_<group>_<name>(args) -> int`` function; :data:`COMMAND_GROUPS` lists the
groups. Applications are imported inside the command functions, so ``rnnkit
--help`` stays quick.

Errors a user can cause (a missing file, a bad option value, a corrupt
checkpoint...) print one line on stderr and exit with status 1 (2 for a
command-line syntax error), never a traceback; set ``RNNKIT_DEBUG=1`` to see
the traceback anyway.
"""

from __future__ import annotations

import argparse
import codecs
import dataclasses
import datetime as dt
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: a training stopped by SIGTERM (saved, like Ctrl-C's 130): 128 + 15, as the shell says
EXIT_TERMINATED = 143


class UsageError(Exception):
    """A command-line problem found after parsing (e.g. conflicting options)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one ``--help`` away)."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


# ---------------------------------------------------------------------------
# options generated from the applications' dataclasses
# ---------------------------------------------------------------------------


def add_options(parser, cls: type) -> None:
    """One flag per option field of ``cls`` (see :mod:`rnnkit.training.settings`).

    Flags default to "not given" (the attribute is absent), so that the
    application's own defaults apply and ``--resume`` can tell what was given.
    """
    from .training import option_fields

    for f in option_fields(cls):
        md, default = f.metadata, f.default
        if isinstance(default, bool):
            flag = md.get("negate") if default else "--" + f.name.replace("_", "-")
            parser.add_argument(flag, dest=f.name, action="store_const", const=not default,
                                default=argparse.SUPPRESS,
                                help=md.get("negate_help", md["help"]))  # fmt: skip
            continue
        help_text = md["help"]
        if default is not None and "default:" not in help_text:
            shown = default if isinstance(default, tuple) else (default,)
            help_text += " (" + " ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                         for v in shown) + ")"  # fmt: skip
        parser.add_argument(
            *(md.get("flags") or ("--" + f.name.replace("_", "-"),)),
            dest=f.name,
            type=_parser_of(f),
            nargs=md.get("nargs"),
            choices=md.get("choices"),
            metavar=md.get("metavar"),
            default=argparse.SUPPRESS,
            help=help_text,
        )
        for old in md.get("aliases", ()):  # a renamed option's old flag, for a release
            parser.add_argument("--" + old.replace("_", "-"), dest=old, type=_parser_of(f),
                                metavar=f.name, default=argparse.SUPPRESS,
                                help=argparse.SUPPRESS)  # fmt: skip


def _parser_of(f) -> Callable[[str], object]:
    """The flag's text -> the field's value: ``parse`` metadata, else int/float/str by type."""
    annotation = str(f.type)
    parse = f.metadata.get("parse") or next(
        (t for t in (int, float) if annotation.startswith(t.__name__)), str
    )

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            if parse in (int, float):
                raise  # argparse says "invalid int value: 'many'"
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def given_options(args: argparse.Namespace, cls: type) -> dict:
    """The options of ``cls`` given on the command line, with ``0`` as None where it means off."""
    from .training import option_fields

    given = {}
    for f in option_fields(cls):
        for name in (f.name, *f.metadata.get("aliases", ())):
            if not hasattr(args, name):
                continue
            if name != f.name:
                flag, new = "--" + name.replace("_", "-"), "--" + f.name.replace("_", "-")
                if f.name in given:
                    raise UsageError(f"give {new} or its old name {flag}, not both")
                print(f"rnnkit: warning: {flag} is deprecated: use {new}", file=sys.stderr)
            value = getattr(args, name)
            if f.metadata.get("nargs"):  # several values: a tuple, as the field holds
                value = tuple(value)
            given[f.name] = None if f.metadata.get("zero_is_none") and value == 0 else value
    return given


def _refuse_settings_on_resume(args: argparse.Namespace, *classes: type) -> None:
    given = [name for cls in classes for name in given_options(args, cls)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(f"--resume continues a run with its own settings; drop {flags}")


def _stop_group(parser, default) -> None:
    from .training import StopRule

    rule = ", ".join(f"--{k} {v:g}" for k, v in vars(default).items() if v is not None)
    add_options(parser.add_argument_group(f"stop rule (default: {rule}; the first reached wins)"),
                StopRule)  # fmt: skip


def _default_run_dir(app: str) -> str:
    return os.path.join("runs", dt.datetime.now().strftime(f"{app}-%Y%m%d-%H%M%S"))


def _interrupted_status(result) -> int:
    """130 for a run stopped by Ctrl-C (or by another process of its group), 143 for SIGTERM."""
    import signal

    sigterm = getattr(signal, "SIGTERM", None)
    return EXIT_TERMINATED if sigterm is not None and result.signal == sigterm else EXIT_INTERRUPTED


def _torchrun_sizes() -> tuple[int, int] | None:
    """``(WORLD_SIZE, LOCAL_WORLD_SIZE)`` when this process is one of several that torchrun
    started, else None (one process, or variables that do not parse: the engine says so)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        return None
    return (world, local) if world > 1 else None


def _refuse_torchrun(what: str) -> None:
    """Under torchrun with several processes, a NumPy-engine training would start one
    independent run per process (all but one then fail on the run directory's lock)."""
    sizes = _torchrun_sizes()
    if sizes is not None:
        raise UsageError(
            f"this is one of {sizes[0]} processes started by torchrun, but {what}; "
            "nothing was started"
        )


def report_training(
    result, run_dir: str, resume_command: str, summary: str, hint: str, prefix: str = ""
) -> int:
    """How a training run ended, for both applications; returns the exit status."""
    if result.reason == "diverged":
        print(f"rnnkit: error: {result.message}", file=sys.stderr)
        return EXIT_ERROR
    if result.reason == "interrupted":
        print(f"rnnkit: {result.message}; continue with: {resume_command}", file=sys.stderr)
        return _interrupted_status(result)
    print(f"{prefix}stopped ({result.reason}) at step {result.step}{summary}")
    print(f"run directory: {run_dir} ({hint})")
    return EXIT_OK


# ---------------------------------------------------------------------------
# textgen
# ---------------------------------------------------------------------------


#: what a command that reads a model takes
MODEL_HELP = "run directory, checkpoint file or safetensors export"


def add_textgen_commands(sub) -> None:
    from .textgen import CharRNNConfig, TrainSettings
    from .textgen.api import DEFAULT_STOP
    from .textgen.sampling import SampleRequest, SamplingOptions
    from .training import EngineChoice

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


def _add_run_options(parser, app: str) -> None:
    parser.add_argument("--out", metavar="RUN_DIR",
                        help=f"run directory (default: runs/{app}-<time>)")  # fmt: skip
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out exactly")  # fmt: skip
    parser.add_argument("--force", action="store_true",
                        help="start over in an existing RUN_DIR (the old run is deleted "
                        "once the new one has written its first checkpoint)")  # fmt: skip


def _add_checkpoint_option(parser) -> None:
    parser.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                        help="which checkpoint of RUN_DIR (best)")  # fmt: skip


def cmd_textgen_train(args) -> int:
    from .textgen import CharLM, CharRNNConfig, TrainSettings
    from .training import EngineChoice, StopRule

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
    """The command that continues this run as it was started: under torchrun, torchrun with
    as many processes (--resume with another number of processes is not exact)."""
    command = f"textgen train --out {run_dir} --resume"
    if engine == "torch":
        command += " --engine torch"
    sizes = _torchrun_sizes()
    if sizes is None:
        return f"rnnkit {command}"
    world, local = sizes
    if world == local:  # one machine, as docs/beyond-one-machine.md launches it
        return f"torchrun --standalone --nproc_per_node {local} -m rnnkit.cli {command}"
    nodes = world // local if world % local == 0 else "N"
    return (f"torchrun --nnodes {nodes} --nproc_per_node {local} <your rendezvous options> "
            f"-m rnnkit.cli {command} (on every node)")  # fmt: skip


def _corpus_path(name: str) -> Path:
    """CORPUS as a path; a known dataset name means its downloaded copy."""
    path = Path(name)
    if path.exists():
        return path
    from .text import download

    if name in download.DATASETS:
        cached = download.cached_path(name)
        if cached is None:
            raise UsageError(f"{name} is not downloaded yet: run 'rnnkit data download {name}'")
        return cached
    return path  # read_corpus reports it missing


def cmd_textgen_sample(args) -> int:
    from .textgen import CharLM
    from .textgen.sampling import SampleRequest, SamplingOptions

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
    from .textgen import CharLM

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
# sentiment
# ---------------------------------------------------------------------------


def _add_data_options(parser, what: str) -> None:
    from .text.readers import FORMATS

    group = parser.add_argument_group(f"{what} files")
    group.add_argument("--format", choices=FORMATS, default="auto",
                       help="file layout (auto: from the name and first line; "
                       "a directory is folder-per-class)")  # fmt: skip
    group.add_argument("--text-column", metavar="COL",
                       help="TSV/CSV text column, name or 0-based index (guessed)")  # fmt: skip
    group.add_argument("--label-column", metavar="COL",
                       help="TSV/CSV label column, name or 0-based index (guessed)")  # fmt: skip
    group.add_argument("--encoding", default="utf-8", help="text encoding, e.g. latin-1 (utf-8)")


def _read_labeled(path: str, args):
    from .text.readers import read_labeled

    return read_labeled(path, format=args.format, text_column=args.text_column,
                        label_column=args.label_column, encoding=args.encoding)  # fmt: skip


def add_sentiment_commands(sub) -> None:
    from .sentiment import ModelConfig, TextConfig, TrainSettings
    from .sentiment.train import DEFAULT_STOP

    sentiment = sub.add_parser(
        "sentiment",
        help="text classifier: train, eval, predict",
        description="Recurrent text classifier (sentiment or any labels) on your labelled text.",
    )
    ss = sentiment.add_subparsers(title="commands", metavar="COMMAND")

    train = ss.add_parser(
        "train",
        help="train a classifier on labelled text",
        description=(
            "Train Embedding -> LSTM/GRU -> pooling -> Linear on labelled text. Evaluates on "
            "--valid (or a held-out part of --train) a few times per epoch, keeps the best "
            "validation accuracy in RUN_DIR/best.npz, stops early, and logs metrics.jsonl "
            "and loss.png. Defaults follow docs/sentiment.md."
        ),
    )
    train.add_argument("--train", required=True, metavar="FILE",
                       help="training data (file or class folders)")  # fmt: skip
    train.add_argument("--valid", metavar="FILE", help="validation data for early stopping")
    _add_run_options(train, "sentiment")
    _add_data_options(train, "data")
    add_options(train.add_argument_group("model"), ModelConfig)
    add_options(train.add_argument_group("text"), TextConfig)
    training = train.add_argument_group("training")
    add_options(training, TrainSettings)
    training.add_argument("--teacher", action="append", default=[], metavar="RUN_DIR",
                          help="distil this trained model into the new one: train on its "
                          "probabilities mixed with the labels (repeatable: the ensemble's "
                          "mean; default: off)")  # fmt: skip
    _stop_group(train, DEFAULT_STOP)
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=cmd_sentiment_train)

    ev = ss.add_parser(
        "eval",
        help="accuracy, per-class precision/recall/F1, macro-F1, confusion matrix",
        description="Evaluate RUN_DIR's best checkpoint (or a .npz model) on labelled data.",
    )
    ev.add_argument("run_dir", metavar="RUN_DIR", help="run directory or model file")
    ev.add_argument("--data", required=True, metavar="FILE", help="labelled data to evaluate on")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    _add_ensemble_option(ev)
    _add_data_options(ev, "data")
    ev.set_defaults(run=cmd_sentiment_eval)

    pr = ss.add_parser(
        "predict",
        help="label and probability of each text (arguments, --file or stdin lines)",
        description=(
            "Print 'LABEL<TAB>PROBABILITY<TAB>TEXT' per input, or with --json one JSON object "
            "per line. Inputs are the TEXT arguments, else the lines of --file, else the lines "
            "of stdin. An empty input gets label '-' and probability '-' (JSON: null)."
        ),
    )
    pr.add_argument("run_dir", metavar="RUN_DIR", help="run directory or model file")
    pr.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    pr.add_argument("--file", metavar="FILE", help="one text per line (gzip read transparently)")
    pr.add_argument("--encoding", default="utf-8", help="encoding of --file / stdin (utf-8)")
    pr.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_ensemble_option(pr)
    pr.set_defaults(run=cmd_sentiment_predict)
    sentiment.set_defaults(run=_help_of(sentiment))


def _add_ensemble_option(parser) -> None:
    parser.add_argument("--ensemble-with", action="append", default=[], metavar="RUN_DIR",
                        help="average the class probabilities with this model too "
                        "(repeatable)")  # fmt: skip


def cmd_sentiment_train(args) -> int:
    from .sentiment import ModelConfig, SentimentClassifier, TextConfig, TrainSettings
    from .training import StopRule

    if args.resume:
        if not args.out:
            raise UsageError("--resume needs --out RUN_DIR, the run to continue")
        _refuse_settings_on_resume(args, ModelConfig, TextConfig, TrainSettings)
    _refuse_torchrun("sentiment train has no torch engine: run it as one process, without "
                     "torchrun")  # fmt: skip
    train = _read_labeled(args.train, args)
    valid = _read_labeled(args.valid, args) if args.valid else None
    teacher = _load_models(args.teacher) if args.teacher and not args.resume else None
    run_dir = args.out or _default_run_dir("sentiment")
    clf = SentimentClassifier(**given_options(args, ModelConfig), **given_options(args, TextConfig))
    result = clf.fit(
        train.texts, train.labels, valid.texts if valid else None, valid.labels if valid else None,
        out=run_dir, force=args.force, resume=args.resume, teacher=teacher,
        progress=not args.quiet, **given_options(args, StopRule),
        **given_options(args, TrainSettings),
    )  # fmt: skip
    counts = train.label_counts()
    shown = str(counts) if len(counts) <= 10 else f"in {len(counts):,} classes"
    prefix = f"read {len(train):,} training examples {shown}; "
    summary = ""
    if result.best is not None:
        summary += f"; best validation accuracy {result.best:.4f} at step {result.best_step}"
    return report_training(
        result,
        run_dir,
        f"rnnkit sentiment train --out {run_dir} --resume --train {args.train} ...",
        summary, f'try: rnnkit sentiment predict {run_dir} "some text"', prefix,
    )  # fmt: skip


def _load_classifier(args):
    """RUN_DIR's model, or the ensemble of it and every --ensemble-with model."""
    return _load_models([args.run_dir, *args.ensemble_with])


def _load_models(paths):
    """One saved classifier, or the ensemble of several."""
    from .sentiment import Ensemble, SentimentClassifier

    if len(paths) == 1:
        return SentimentClassifier.load(paths[0])
    try:
        return Ensemble.load(paths)
    except ValueError as exc:  # members with different labels
        raise UsageError(str(exc)) from None


def cmd_sentiment_eval(args) -> int:
    clf = _load_classifier(args)
    data = _read_labeled(args.data, args)
    report = clf.evaluate(data.texts, data.labels)
    print(json.dumps({**report.to_dict(), "data": args.data}) if args.json else report.format())
    return EXIT_OK


def cmd_sentiment_predict(args) -> int:
    from .text.readers import read_unlabeled, stream_lines

    if args.texts and args.file:
        raise UsageError("give texts as arguments or --file, not both")
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise UsageError(f"unknown text encoding {args.encoding!r}") from None
    clf = _load_classifier(args)
    if args.texts or args.file:
        texts = list(args.texts) if args.texts else read_unlabeled(args.file, args.encoding)
        for start in range(0, len(texts), PREDICT_BATCH):
            _print_predictions(clf, texts[start : start + PREDICT_BATCH], args.json)
        return EXIT_OK
    # stdin: each line's answer as soon as it has come (a pipe may hold a line-at-a-time
    # dialogue, or never end), in bounded memory
    for lines in stream_lines(sys.stdin.buffer, args.encoding):
        for start in range(0, len(lines), PREDICT_BATCH):
            _print_predictions(clf, lines[start : start + PREDICT_BATCH], args.json)
            sys.stdout.flush()
    return EXIT_OK


#: texts classified together by ``sentiment predict``
PREDICT_BATCH = 256


def _print_predictions(clf, texts: list[str], as_json: bool) -> None:
    for text, p in zip(texts, clf.predict(texts), strict=True):
        if as_json:
            print(json.dumps({"text": text, **p.to_dict()}))  # ASCII: safe for any line splitter
        elif p.label is None:
            print(f"-\t-\t{text}")
        else:
            print(f"{p.label}\t{p.probability:.4f}\t{text}")


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


def add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="download public datasets into the user cache")
    dsub = data.add_subparsers(title="commands", metavar="COMMAND")
    dl = dsub.add_parser(
        "download",
        help="fetch a dataset (checked by sha256) into ~/.cache/rnnkit or $RNNKIT_CACHE",
    )
    dl.add_argument("name", metavar="NAME", help="tinyshakespeare")
    dl.add_argument("--force", action="store_true", help="download again even if cached")
    dl.set_defaults(run=cmd_data_download)
    data.set_defaults(run=_help_of(data))


def cmd_data_download(args) -> int:
    from .text import download

    path = download.download(args.name, force=args.force)
    print(path)
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
    from .textgen.demo import run_demo

    run_demo(minutes=args.minutes, length=args.length, out=args.out, seed=args.seed)
    return EXIT_OK


# ---------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------


def add_analyze_commands(sub) -> None:
    from .analysis.gradient_flow import GradientFlowOptions

    analyze = sub.add_parser("analyze", help="measure vanishing and exploding gradients")
    asub = analyze.add_subparsers(title="commands", metavar="COMMAND")
    grads = asub.add_parser(
        "gradients",
        help="||dLoss/dh_t|| against the distance to the loss: table and log-scale plot",
        description=(
            "For RNN, LSTM and GRU (same hidden size), a vanilla RNN with W_hh scaled to "
            "spectral radius below/at/above 1 (and with clipping), and the LSTM forget-gate "
            "bias 0 vs 1: prints the table and writes gradient_flow.png/.md/.json to --out."
        ),
    )
    grads.add_argument(
        "--out", metavar="DIR", default="analysis", help="output directory (analysis)"
    )
    grads.add_argument("--force", action="store_true",
                       help="replace gradient_flow.* files already in --out")  # fmt: skip
    add_options(grads, GradientFlowOptions)
    grads.set_defaults(run=cmd_analyze_gradients)
    analyze.set_defaults(run=_help_of(analyze))


def cmd_analyze_gradients(args) -> int:
    from .analysis import analyze_gradients
    from .analysis.gradient_flow import GradientFlowOptions

    options = GradientFlowOptions(**given_options(args, GradientFlowOptions))
    options.validate()
    report = analyze_gradients(args.out, force=args.force, **dataclasses.asdict(options))
    print(report.text())
    written = [report.png_path, report.table_path, report.json_path]
    print("\nwrote " + ", ".join(str(p) for p in written if p is not None))
    if report.png_path is None:
        print("(no plot: matplotlib is not installed; pip install 'rnnkit[apps]')", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------
# explore
# ---------------------------------------------------------------------------


def add_explore_commands(sub) -> None:
    explore = sub.add_parser(
        "explore",
        help="see inside trained models in the browser (or in one HTML file)",
        description=(
            "Serves a local page (Generate, Cells, Gates, Sentiment, Gradient flow) over the "
            "runs given; --html writes the same views to one self-contained file instead."
        ),
    )
    explore.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                         help="run directories or checkpoint files")  # fmt: skip
    explore.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    explore.add_argument("--port", type=int, default=8000,
                         help="port to listen on; 0 picks a free one (8000)")  # fmt: skip
    explore.add_argument("--html", metavar="FILE",
                         help="write a self-contained HTML report instead of serving")  # fmt: skip
    explore.add_argument("--force", action="store_true",
                         help="with --html: replace an existing report file")  # fmt: skip
    explore.add_argument(
        "--text", metavar="FILE",
        help="with --html: the text to trace (sentences, one a line, for a classifier)",
    )  # fmt: skip
    explore.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                         help="close a connection whose request (line and headers, then "
                              "body) has not arrived within SECONDS (10)")  # fmt: skip
    explore.add_argument("--labels", metavar="LABEL=NAME,...",
                         help="names for a classifier's labels, e.g. 0=negative,1=positive "
                              "(pos/neg are named without it)")  # fmt: skip
    explore.set_defaults(run=cmd_explore)


def cmd_explore(args) -> int:
    from .explore.command import run_explore

    return run_explore(args.run_dirs, host=args.host, port=args.port, html=args.html,
                       text=args.text, timeout=args.timeout, force=args.force,
                       labels=args.labels)  # fmt: skip


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------


def add_export_commands(sub) -> None:
    ex = sub.add_parser(
        "export", help="write a trained model as ONNX or safetensors",
        description="Export a text generator or classifier (RUN_DIR's best.npz, else "
        "latest.npz, a checkpoint file, or a safetensors export) for use without rnnkit; ONNX "
        "also writes FILE.json (preprocessing). Never overwrites its input or a checkpoint; "
        "an existing FILE (or FILE.json) is replaced, atomically, only with --force.",
    )  # fmt: skip
    ex.add_argument("run_dir", metavar="RUN_DIR",
                    help="a run directory, a checkpoint file or a safetensors export")  # fmt: skip
    ex.add_argument("--format", required=True, choices=("onnx", "safetensors"),
                    help="onnx or safetensors")  # fmt: skip
    ex.add_argument("--out", help="the file to write (default: RUN_DIR/model.FORMAT, or the "
                    "checkpoint's name with .FORMAT)")  # fmt: skip
    ex.add_argument("--force", action="store_true",
                    help="replace an existing output file (and its .json sidecar)")  # fmt: skip
    ex.set_defaults(run=cmd_export)


def cmd_export(args) -> int:
    from .interop import MissingExtraError, export

    run_dir = Path(args.run_dir)
    if run_dir.is_dir():
        default = run_dir / f"model.{args.format}"
    else:
        default = run_dir.with_suffix(f".{args.format}")
    try:
        written = export(args.run_dir, args.format, args.out or default, force=args.force)
    except MissingExtraError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print("wrote " + ", ".join(map(str, written)))
    return EXIT_OK


#: one registration function per command group, in --help order
COMMAND_GROUPS: list[Callable] = [
    add_demo_command, add_textgen_commands, add_sentiment_commands, add_data_commands,
    add_analyze_commands, add_explore_commands, add_export_commands,
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="rnnkit",
        description="Recurrent neural networks from scratch in NumPy: text generation and more.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_group in COMMAND_GROUPS:
        add_group(sub)
    parser.set_defaults(run=_help_of(parser))
    return parser


def _help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command group called without a subcommand prints its help."""

    def show(_args) -> int:
        parser.print_help()
        return EXIT_USAGE

    return show


def _user_errors() -> tuple[type[BaseException], ...]:
    from .interop.extras import MissingExtraError
    from .text.download import DownloadError
    from .training import CheckpointError

    # CorpusError and RunDirError are ValueErrors; OSError covers missing and unreadable files.
    return (UsageError, CheckpointError, DownloadError, MissingExtraError, ValueError, OSError)


MARKDOWN_HEAD = """# Command-line reference

Every command and option of `rnnkit`, as `rnnkit COMMAND --help` prints it. This page is
generated: `python -m rnnkit.cli --markdown > docs/cli.md` (`tests/test_cli_docs.py` checks
that it is up to date). User errors print one line on stderr and exit with status 1 (2 for a
syntax error); set `RNNKIT_DEBUG=1` to see a traceback. Longer guides:
[textgen.md](textgen.md), [sentiment.md](sentiment.md), [analysis.md](analysis.md),
[explore.md](explore.md).
"""


def markdown() -> str:
    """docs/cli.md: the help of every command, generated from the parser (100 columns)."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width
    try:
        sections = [MARKDOWN_HEAD]
        for name, parser in _commands(build_parser(), "rnnkit"):
            sections.append(f"## {name}\n\n```text\n{parser.format_help().rstrip()}\n```\n")
            renamed = [f"`{a.option_strings[0]}` (now `--{a.metavar.replace('_', '-')}`)"
                       for a in parser._actions if a.help == argparse.SUPPRESS and a.metavar]
            if renamed:  # fmt: skip
                sections.append(f"Renamed, still accepted with a warning: {', '.join(renamed)}.\n")
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(sections)


def _commands(parser: argparse.ArgumentParser, name: str):
    """``(name, parser)`` of the program and every command that is not only a group."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if name == "rnnkit" or not groups:
        yield name, parser
    for action in groups:
        for child_name, child in action.choices.items():
            yield from _commands(child, f"{name} {child_name}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` command; returns the exit status.

    ``--markdown`` (first argument) prints docs/cli.md instead.
    """
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--markdown"]:
        sys.stdout.write(markdown())
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # e.g. `rnnkit textgen sample run | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _user_errors() as exc:
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        print(f"rnnkit: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError as exc:  # sizes the user chose (NumPy's message says how much was asked)
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        message = f"out of memory: {_one_line(exc)}; choose smaller sizes"
        print(f"rnnkit: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except RecursionError:  # nothing we read should nest this deep; say so in one line
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        print("rnnkit: error: input nested too deeply (RecursionError)", file=sys.stderr)
        return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
