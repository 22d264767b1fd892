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
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command-line problem found after parsing (e.g. conflicting options)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one ``--help`` away)."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


# ---------------------------------------------------------------------------
# textgen
# ---------------------------------------------------------------------------

# Options that shape a new run; with --resume they come from the checkpoint.
_TEXTGEN_RUN_OPTIONS = (
    "model", "hidden_size", "num_layers", "dropout", "embedding_size", "seq_length",
    "batch_size", "optimizer", "lr", "lr_decay", "lr_decay_every", "lr_decay_after", "lr_min",
    "grad_clip", "ema_decay",
    "eval_every", "log_every", "seed", "val_fraction", "encoding", "sample_length",
)  # fmt: skip


def add_textgen_commands(sub) -> None:
    import inspect

    from .textgen.api import DEFAULT_MINUTES, CharLM
    from .textgen.train import OPTIMIZERS, TrainSettings

    d = TrainSettings()
    a = {k: p.default for k, p in inspect.signature(CharLM).parameters.items()}  # architecture
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
    train.add_argument("corpus", nargs="?", metavar="CORPUS", help="text file (default: stdlib source)")
    train.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/textgen-<time>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR exactly")
    train.add_argument("--force", action="store_true", help="start over in an existing RUN_DIR")
    arch = train.add_argument_group("model")
    arch.add_argument("--model", "--cell", dest="model", choices=("lstm", "gru", "rnn"), help=f"recurrent cell ({a['cell']})")
    arch.add_argument("--hidden-size", type=int, help=f"units per layer ({a['hidden_size']})")
    arch.add_argument("--num-layers", type=int, help=f"stacked layers ({a['num_layers']})")
    arch.add_argument("--dropout", type=float, help=f"dropout between layers and before the output ({a['dropout']})")
    arch.add_argument("--embedding-size", type=int, help=f"character embedding size ({a['embedding_size']})")
    opt = train.add_argument_group("training")
    opt.add_argument("--seq-length", type=int, help=f"characters per chunk, BPTT length ({d.seq_length})")
    opt.add_argument("--batch-size", type=int, help=f"parallel streams ({d.batch_size})")
    opt.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help=f"({d.optimizer})")
    opt.add_argument("--lr", type=float, help=f"learning rate ({d.lr})")
    opt.add_argument("--lr-decay", type=float, help=f"multiply the lr by this ... ({d.lr_decay}; 1 = constant lr)")
    opt.add_argument("--lr-decay-every", type=int, metavar="STEPS", help=f"... every this many steps ... ({d.lr_decay_every})")
    opt.add_argument("--lr-decay-after", type=int, metavar="STEP", help=f"... from this step on ({d.lr_decay_after})")
    opt.add_argument("--lr-min", type=float, help=f"the decay stops at this lr ({d.lr_min})")
    opt.add_argument("--grad-clip", type=float, help=f"max global gradient norm, 0 = off ({d.grad_clip})")
    opt.add_argument("--ema-decay", type=float, help="evaluate, save and keep a moving average of the weights with this decay per step, e.g. 0.999 (default: off)")
    opt.add_argument("--eval-every", type=int, metavar="STEPS", help=f"steps between evaluations/checkpoints ({d.eval_every})")
    opt.add_argument("--log-every", type=int, metavar="STEPS", help=f"steps per train-loss record in metrics.jsonl ({d.log_every})")
    opt.add_argument("--val-fraction", type=float, help=f"tail of the corpus held out ({d.val_fraction})")
    opt.add_argument("--seed", type=int, help=f"initialisation and dropout seed ({d.seed})")
    opt.add_argument("--encoding", choices=("utf-8", "bytes"), help="read CORPUS as UTF-8 text (default) or raw bytes")
    opt.add_argument("--sample-length", type=int, metavar="N", help=f"characters sampled at each evaluation, 0 = none ({d.sample_length})")
    stop = train.add_argument_group(f"stop rule (default: --minutes {DEFAULT_MINUTES:g}; the first reached wins)")
    stop.add_argument("--epochs", type=float, help="passes over the training text")
    stop.add_argument("--steps", type=int, help="optimizer steps, counted from the run's start")
    stop.add_argument("--minutes", type=float, help="wall-clock minutes, counted from the run's start")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=cmd_textgen_train)

    sample = tg.add_parser(
        "sample",
        help="generate text from a trained model (streams to stdout)",
        description="Generate text from RUN_DIR's best checkpoint (or a .npz file), one character at a time.",
    )
    sample.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    sample.add_argument("--length", type=int, default=500, help="characters to generate (500)")
    sample.add_argument("--temperature", type=float, default=1.0, help="below 1: safer, above 1: wilder; 0 = greedy (1.0)")
    sample.add_argument("--top-k", type=int, help="sample among the K most likely characters")
    sample.add_argument("--top-p", type=float, help="sample among the most likely characters adding up to P")
    sample.add_argument("--greedy", action="store_true", help="always the most likely character")
    sample.add_argument("--prime", help="text to start from (printed first; default: a newline)")
    sample.add_argument("--seed", type=int, help="random seed: the same seed gives the same text")
    sample.add_argument("--checkpoint", choices=("best", "latest"), default="best", help="which checkpoint of RUN_DIR (best)")
    sample.set_defaults(run=cmd_textgen_sample)

    ev = tg.add_parser(
        "eval",
        help="loss in nats/char, bits/char and perplexity",
        description="Evaluate on FILE or, without it, on the run's own validation split.",
    )
    ev.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint file")
    ev.add_argument("file", nargs="?", metavar="FILE", help="text to evaluate on")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--checkpoint", choices=("best", "latest"), default="best", help="which checkpoint of RUN_DIR (best)")
    ev.set_defaults(run=cmd_textgen_eval)
    textgen.set_defaults(run=_help_of(textgen))


def cmd_textgen_train(args) -> int:
    from .textgen.api import CharLM
    from .textgen.train import TrainSettings

    if args.resume:
        given = [o for o in _TEXTGEN_RUN_OPTIONS if getattr(args, o) is not None]
        if given or args.out or args.force:
            flags = ", ".join("--" + o.replace("_", "-") for o in given + ["out"] * bool(args.out))
            raise UsageError(f"--resume continues a run with its own settings; drop {flags or '--force'}")
        corpus = None
        if args.corpus:
            corpus = _corpus_path(args.corpus)
        lm, result = CharLM.resume(
            args.resume, epochs=args.epochs, steps=args.steps, minutes=args.minutes,
            text=corpus, progress=not args.quiet,
        )  # fmt: skip
        run_dir = args.resume
    else:
        arch = {
            "cell": args.model,
            "hidden_size": args.hidden_size,
            "num_layers": args.num_layers,
            "embedding_size": args.embedding_size,
            "dropout": args.dropout,
        }
        settings = {
            name: getattr(args, name)
            for name in TrainSettings.__dataclass_fields__
            if getattr(args, name, None) is not None
        }
        if settings.get("grad_clip") == 0:
            settings["grad_clip"] = None
        run_dir = args.out or os.path.join("runs", dt.datetime.now().strftime("textgen-%Y%m%d-%H%M%S"))
        lm = CharLM(**{k: v for k, v in arch.items() if v is not None})
        corpus = _corpus_path(args.corpus) if args.corpus else None
        result = lm.fit(
            corpus, encoding=args.encoding or "utf-8", out=run_dir, force=args.force,
            epochs=args.epochs, steps=args.steps, minutes=args.minutes,
            progress=not args.quiet, **settings,
        )  # fmt: skip
    return _report_training(result, run_dir)


def _report_training(result, run_dir: str) -> int:
    if result.reason == "diverged":
        print(f"rnnkit: error: {result.message}", file=sys.stderr)
        return EXIT_ERROR
    if result.reason == "interrupted":
        print(f"rnnkit: {result.message}; continue with: rnnkit textgen train --resume {run_dir}",
              file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    summary = f"stopped ({result.reason}) at step {result.step}"
    if result.best is not None:
        summary += (
            f"; best validation loss {result.best:.4f} nats/char "
            f"({result.best / 0.6931471805599453:.4f} bits/char) at step {result.best_step}"
        )
    print(summary)
    print(f"run directory: {run_dir} (sample with: rnnkit textgen sample {run_dir})")
    return EXIT_OK


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


def _load_model(run_dir: str, which: str):
    from .textgen.api import CharLM
    from .training import CheckpointError, RunDir

    path = Path(run_dir)
    if path.is_dir():
        run = RunDir(path)
        path = run.best if which == "best" and run.best.exists() else run.latest
        if not path.exists():
            raise CheckpointError(f"no checkpoint in {run_dir} (expected {run.best.name} or {run.latest.name})")
    return CharLM.load(path)


def cmd_textgen_sample(args) -> int:
    lm = _load_model(args.run_dir, args.checkpoint)
    prime = args.prime if args.prime else lm.default_prime()
    pieces = lm.stream(
        args.length, prime=prime, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, greedy=args.greedy, seed=args.seed,
    )  # fmt: skip
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
    lm = _load_model(args.run_dir, args.checkpoint)
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

_DATA_FORMATS = ("auto", "tsv", "csv", "label-first", "fasttext", "folder")


def _add_data_options(parser, what: str) -> None:
    group = parser.add_argument_group(f"{what} files")
    group.add_argument("--format", choices=_DATA_FORMATS, default="auto",
                       help="file layout (auto: from the name and first line; a directory is folder-per-class)")
    group.add_argument("--text-column", metavar="COL", help="TSV/CSV text column, name or 0-based index (guessed)")
    group.add_argument("--label-column", metavar="COL", help="TSV/CSV label column, name or 0-based index (guessed)")
    group.add_argument("--encoding", default="utf-8", help="text encoding, e.g. latin-1 (utf-8)")


def _read_labeled(path: str, args):
    from .text.readers import read_labeled

    return read_labeled(path, format=args.format, text_column=args.text_column,
                        label_column=args.label_column, encoding=args.encoding)  # fmt: skip


def _defaults(function) -> dict:
    import inspect

    params = inspect.signature(function).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def add_sentiment_commands(sub) -> None:
    from .sentiment import SentimentClassifier

    m, f = _defaults(SentimentClassifier.__init__), _defaults(SentimentClassifier.fit)
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
    train.add_argument("--train", required=True, metavar="FILE", help="training data (file or class folders)")
    train.add_argument("--valid", metavar="FILE", help="validation data for early stopping")
    train.add_argument("--valid-fraction", type=float, default=f["valid_fraction"], help=f"held out of --train when no --valid ({f['valid_fraction']})")
    train.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/sentiment-<time>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out exactly (same data)")
    train.add_argument("--force", action="store_true", help="start over in an existing RUN_DIR")
    _add_data_options(train, "data")
    arch = train.add_argument_group("model")
    arch.add_argument("--cell", choices=("lstm", "gru"), default=m["cell"], help=f"recurrent cell ({m['cell']})")
    arch.add_argument("--embedding-dim", type=int, default=m["embedding_dim"], help=f"word vector size ({m['embedding_dim']})")
    arch.add_argument("--hidden-size", type=int, default=m["hidden_size"], help=f"units per direction ({m['hidden_size']})")
    arch.add_argument("--num-layers", type=int, default=m["num_layers"], help=f"stacked layers ({m['num_layers']})")
    arch.add_argument("--unidirectional", action="store_true", help="read left to right only")
    arch.add_argument("--pooling", choices=("last", "mean", "max"), default=m["pooling"], help=f"summary of the outputs ({m['pooling']})")
    arch.add_argument("--dropout", type=float, default=m["dropout"], help=f"dropout on the summary and between layers ({m['dropout']})")
    arch.add_argument("--embedding-dropout", type=float, default=m["embedding_dropout"], help=f"dropout on the word vectors ({m['embedding_dropout']})")
    arch.add_argument("--word-dropout", type=float, default=m["word_dropout"], help=f"probability that a training word becomes UNK ({m['word_dropout']})")
    arch.add_argument("--embedding-init", type=float, default=m["embedding_init"], help=f"std of the random initial word vectors ({m['embedding_init']})")
    arch.add_argument("--vectors", metavar="FILE", help="pretrained word vectors, GloVe/word2vec text format")
    arch.add_argument("--freeze-vectors", action="store_true", help="keep the pretrained vectors fixed")
    text = train.add_argument_group("text")
    text.add_argument("--min-freq", type=int, default=m["min_freq"], help=f"drop words seen fewer times ({m['min_freq']})")
    text.add_argument("--max-vocab", type=int, default=m["max_vocab"], help=f"vocabulary size cap, PAD and UNK included, 0 = none ({m['max_vocab']})")
    text.add_argument("--max-length", type=int, default=m["max_length"], help=f"tokens kept per text, 0 = all ({m['max_length']})")
    text.add_argument("--truncate", choices=("head", "tail", "both"), default=m["truncate"], help=f"part of a long text kept ({m['truncate']})")
    text.add_argument("--no-backoff", action="store_true", help="unknown words map to UNK directly (default: to a known word with the same stem first, warmly -> warm)")
    text.add_argument("--char-ngrams", type=_ngram_range, metavar="MIN-MAX", help="also learn a vector per character n-gram of MIN..MAX letters (e.g. 3-5): unseen words get their pieces' vectors (default: off)")
    text.add_argument("--ngram-min-words", type=int, default=m["ngram_min_words"], help=f"keep n-grams found in at least this many words ({m['ngram_min_words']})")
    text.add_argument("--max-ngrams", type=int, default=m["max_ngrams"], help=f"n-gram count cap, 0 = none ({m['max_ngrams']})")
    text.add_argument("--cased", action="store_true", help="do not lower-case")
    text.add_argument("--no-split-punctuation", action="store_true", help="split on whitespace only")
    text.add_argument("--keep-html", action="store_true", help="do not remove HTML tags such as <br />")
    opt = train.add_argument_group("training")
    opt.add_argument("--epochs", type=float, default=f["epochs"], help=f"passes over the training data ({f['epochs']})")
    opt.add_argument("--minutes", type=float, help="wall-clock limit, the first stop rule reached wins")
    opt.add_argument("--batch-size", type=int, default=f["batch_size"], help=f"examples per step ({f['batch_size']})")
    opt.add_argument("--lr", type=float, default=f["lr"], help=f"Adam learning rate ({f['lr']})")
    opt.add_argument("--lr-decay", type=float, default=f["lr_decay"], help=f"learning-rate factor per epoch ({f['lr_decay']})")
    opt.add_argument("--weight-decay", type=float, default=f["weight_decay"], help=f"L2 penalty ({f['weight_decay']})")
    opt.add_argument("--grad-clip", type=float, default=f["grad_clip"], help=f"max global gradient norm, 0 = off ({f['grad_clip']})")
    opt.add_argument("--ema-decay", type=float, default=f["ema_decay"], help="evaluate and keep a moving average of the weights with this decay per step, e.g. 0.998 (default: off)")
    opt.add_argument("--patience", type=int, default=f["patience"], help=f"evaluations without a better accuracy before stopping, 0 = never ({f['patience']})")
    opt.add_argument("--evals-per-epoch", type=int, default=f["evals_per_epoch"], help=f"validation passes per epoch ({f['evals_per_epoch']})")
    opt.add_argument("--teacher", action="append", default=[], metavar="RUN_DIR", help="distil this trained model into the new one: train on its probabilities mixed with the labels (repeatable: the ensemble's mean; default: off)")
    opt.add_argument("--distill-weight", type=float, default=f["distill_weight"], help=f"share of the teacher's probabilities in each target, the rest is the label ({f['distill_weight']})")
    opt.add_argument("--seed", type=int, default=f["seed"], help=f"initialisation, dropout and batch order ({f['seed']})")
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
                        help="average the class probabilities with this model too (repeatable)")  # fmt: skip


def _ngram_range(text: str) -> tuple[int, int]:
    """``"3-5"`` -> ``(3, 5)`` for ``--char-ngrams``."""
    try:
        low, high = (int(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX such as 3-5, received {text!r}") from None
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"need 1 <= MIN <= MAX, received {text!r}")
    return low, high


def cmd_sentiment_train(args) -> int:
    from .sentiment import SentimentClassifier
    from .text.tokenize import Tokenizer

    if args.resume and not args.out:
        raise UsageError("--resume needs --out RUN_DIR, the run to continue")
    train = _read_labeled(args.train, args)
    valid = _read_labeled(args.valid, args) if args.valid else None
    teacher = _load_models(args.teacher) if args.teacher and not args.resume else None
    run_dir = args.out or os.path.join("runs", dt.datetime.now().strftime("sentiment-%Y%m%d-%H%M%S"))
    clf = SentimentClassifier(
        cell=args.cell, embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
        num_layers=args.num_layers, bidirectional=not args.unidirectional, pooling=args.pooling,
        dropout=args.dropout, embedding_dropout=args.embedding_dropout,
        word_dropout=args.word_dropout, embedding_init=args.embedding_init,
        tokenizer=Tokenizer(lowercase=not args.cased, split_punctuation=not args.no_split_punctuation,
                            strip_html=not args.keep_html),
        min_freq=args.min_freq, max_vocab=args.max_vocab or None, max_length=args.max_length or None,
        truncate=args.truncate, unknown_backoff=not args.no_backoff,
        vectors=args.vectors, freeze_vectors=args.freeze_vectors, char_ngrams=args.char_ngrams,
        ngram_min_words=args.ngram_min_words, max_ngrams=args.max_ngrams or None,
    )  # fmt: skip
    result = clf.fit(
        train.texts, train.labels, valid.texts if valid else None, valid.labels if valid else None,
        run_dir=run_dir, force=args.force, resume=args.resume, epochs=args.epochs,
        minutes=args.minutes, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip or None, ema_decay=args.ema_decay,
        teacher=teacher, distill_weight=args.distill_weight, patience=args.patience or None,
        evals_per_epoch=args.evals_per_epoch, valid_fraction=args.valid_fraction, seed=args.seed,
        progress=not args.quiet,
    )  # fmt: skip
    if result.reason == "diverged":
        print(f"rnnkit: error: {result.message}", file=sys.stderr)
        return EXIT_ERROR
    if result.reason == "interrupted":
        print(f"rnnkit: {result.message} (rnnkit sentiment train --resume --out {run_dir} ...)", file=sys.stderr)
        return EXIT_INTERRUPTED
    counts = train.label_counts()
    shown = str(counts) if len(counts) <= 10 else f"in {len(counts):,} classes"
    summary = f"read {len(train):,} training examples {shown}; "
    summary += f"stopped ({result.reason}) at step {result.step}"
    if result.best is not None:
        summary += f"; best validation accuracy {result.best:.4f} at step {result.best_step}"
    print(summary)
    print(f"run directory: {run_dir} (try: rnnkit sentiment predict {run_dir} \"some text\")")
    return EXIT_OK


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
    from .text.readers import read_unlabeled

    if args.texts and args.file:
        raise UsageError("give texts as arguments or --file, not both")
    clf = _load_classifier(args)
    if args.texts:
        texts = list(args.texts)
    elif args.file:
        texts = read_unlabeled(args.file, args.encoding)
    else:
        try:
            texts = sys.stdin.buffer.read().decode(args.encoding).split("\n")
        except UnicodeDecodeError as exc:
            raise UsageError(f"stdin is not valid {args.encoding} ({exc.reason}); try --encoding latin-1") from None
        except LookupError:
            raise UsageError(f"unknown text encoding {args.encoding!r}") from None
        if texts and texts[-1] == "":
            texts.pop()
    for text, p in zip(texts, clf.predict(texts), strict=True):
        if args.json:
            print(json.dumps({"text": text, **p.to_dict()}))  # ASCII: safe for any line splitter
        elif p.label is None:
            print(f"-\t-\t{text}")
        else:
            print(f"{p.label}\t{p.probability:.4f}\t{text}")
    return EXIT_OK


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
        help="train a small generator on Python's own source for ~2 minutes, then write code",
        description=(
            "Trains a small LSTM on the Python standard library's source (no download) "
            "and prints text it generates."
        ),
    )
    demo.add_argument("--minutes", type=float, default=DEMO_MINUTES, help=f"training time ({DEMO_MINUTES})")
    demo.add_argument("--length", type=int, default=600, help="characters to generate (600)")
    demo.add_argument("--out", metavar="RUN_DIR", help="also keep the run (checkpoints, metrics, plot)")
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
    grads.add_argument("--out", metavar="DIR", default="analysis", help="output directory (analysis)")
    grads.add_argument("--hidden-size", type=int, default=64, help="units in every layer (64)")
    grads.add_argument("--steps", type=int, default=100, help="distances measured, 0..STEPS-1 (100)")
    grads.add_argument("--batch-size", type=int, default=64, help="random sequences averaged over (64)")
    grads.add_argument("--input-scale", type=float, default=0.1, help="inputs ~ N(0, scale²) (0.1)")
    grads.add_argument("--radii", type=float, nargs="+", default=[0.9, 1.0, 1.5], help="spectral radii of W_hh (0.9 1 1.5)")
    grads.add_argument("--forget-biases", type=float, nargs="+", default=[0.0, 1.0], help="LSTM forget-gate biases (0 1)")
    grads.add_argument("--max-norm", type=float, default=5.0, help="clipping threshold (5)")
    grads.add_argument("--seed", type=int, default=0, help="seed for inputs and weights (0)")
    grads.set_defaults(run=cmd_analyze_gradients)
    analyze.set_defaults(run=_help_of(analyze))


def cmd_analyze_gradients(args) -> int:
    from .analysis import analyze_gradients

    report = analyze_gradients(
        args.out, hidden_size=args.hidden_size, steps=args.steps, batch_size=args.batch_size,
        input_scale=args.input_scale, radii=tuple(args.radii),
        forget_biases=tuple(args.forget_biases), max_norm=args.max_norm, seed=args.seed,
    )  # fmt: skip
    print(report.text())
    written = [report.png_path, report.table_path, report.json_path]
    print("\nwrote " + ", ".join(str(p) for p in written if p is not None))
    if report.png_path is None:
        print("(no plot: matplotlib is not installed; pip install 'rnnkit[apps]')", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

#: one registration function per command group, in --help order
COMMAND_GROUPS: list[Callable] = [
    add_demo_command, add_textgen_commands, add_sentiment_commands, add_data_commands,
    add_analyze_commands,
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
    from .text.download import DownloadError
    from .training import CheckpointError

    # CorpusError and RunDirError are ValueErrors; OSError covers missing and unreadable files.
    return (UsageError, CheckpointError, DownloadError, ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` command; returns the exit status."""
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
        print(f"rnnkit: error: out of memory: {_one_line(exc)}; choose smaller sizes", file=sys.stderr)
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
