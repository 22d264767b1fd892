"""``rnnkit sentiment`` (train, eval, predict)."""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import sys

from .parsing import (
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    _check_resume,
    _help_of,
    _stop_group,
    add_options,
    given_options,
)
from .runs import (
    _add_run_options,
    _default_run_dir,
    _interrupted_status,
    _refuse_torchrun,
    report_training,
    resume_command,
)


def _add_data_options(parser, what: str) -> None:
    from ..text.readers import LabeledFileOptions

    add_options(parser.add_argument_group(f"{what} files"), LabeledFileOptions)


def _read_labeled(path: str, args):
    from ..text.readers import LabeledFileOptions, read_labeled

    options = LabeledFileOptions(**given_options(args, LabeledFileOptions))
    return read_labeled(path, **dataclasses.asdict(options))


def add_sentiment_commands(sub) -> None:
    from ..sentiment import ModelConfig, TextConfig, TrainSettings
    from ..sentiment.classifier import EvalRequest, PredictRequest
    from ..sentiment.train import DEFAULT_STOP
    from ..training import EngineChoice

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
    add_options(train, EngineChoice)
    train.set_defaults(run=cmd_sentiment_train)

    ev = ss.add_parser(
        "eval",
        help="accuracy, per-class precision/recall/F1, macro-F1, confusion matrix",
        description="Evaluate RUN_DIR's best checkpoint (or a .npz model) on labelled data.",
    )
    ev.add_argument("run_dir", metavar="RUN_DIR", help="run directory or model file")
    add_options(ev, EvalRequest)
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
    add_options(pr, PredictRequest)
    pr.set_defaults(run=cmd_sentiment_predict)
    sentiment.set_defaults(run=_help_of(sentiment))


def cmd_sentiment_train(args) -> int:
    from ..sentiment import ModelConfig, SentimentClassifier, TextConfig, TrainSettings
    from ..training import EngineChoice, StopRule

    if args.resume:
        _check_resume(args, ModelConfig, TextConfig, TrainSettings)
    engine = given_options(args, EngineChoice).get("engine", "numpy")
    if engine != "torch":
        _refuse_torchrun("the NumPy engine trains in one process: add --engine torch to train "
                         "one run on all of them (docs/sentiment.md)")  # fmt: skip
    train = _read_labeled(args.train, args)
    valid = _read_labeled(args.valid, args) if args.valid else None
    teacher = _load_models(args.teacher) if args.teacher and not args.resume else None
    run_dir = args.out or _default_run_dir("sentiment")
    clf = SentimentClassifier(**given_options(args, ModelConfig), **given_options(args, TextConfig))
    result = clf.fit(
        train.texts, train.labels, valid.texts if valid else None, valid.labels if valid else None,
        out=run_dir, force=args.force, resume=args.resume, teacher=teacher,
        progress=not args.quiet, **given_options(args, StopRule),
        **given_options(args, TrainSettings), **given_options(args, EngineChoice),
    )  # fmt: skip
    if os.environ.get("RANK", "0") != "0":  # a torchrun process other than rank 0: it reports
        if result.reason == "interrupted":
            return _interrupted_status(result)
        return EXIT_ERROR if result.reason == "diverged" else EXIT_OK
    counts = train.label_counts()
    shown = str(counts) if len(counts) <= 10 else f"in {len(counts):,} classes"
    prefix = f"read {len(train):,} training examples {shown}; "
    summary = ""
    if result.best is not None:
        summary += f"; best validation accuracy {result.best:.4f} at step {result.best_step}"
    return report_training(
        result,
        run_dir,
        resume_command(f"sentiment train --out {run_dir} --resume --train {args.train}", engine,
                       " ..."),
        summary, f'try: rnnkit sentiment predict {run_dir} "some text"', prefix,
    )  # fmt: skip


def _load_classifier(run_dir: str, ensemble_with: tuple[str, ...]):
    """RUN_DIR's model, or the ensemble of it and every --ensemble-with model."""
    return _load_models([run_dir, *ensemble_with])


def _load_models(paths):
    """One saved classifier, or the ensemble of several."""
    from ..sentiment import Ensemble, SentimentClassifier

    if len(paths) == 1:
        return SentimentClassifier.load(paths[0])
    try:
        return Ensemble.load(paths)
    except ValueError as exc:  # members with different labels
        raise UsageError(str(exc)) from None


def cmd_sentiment_eval(args) -> int:
    from ..sentiment.classifier import EvalRequest

    request = EvalRequest(**given_options(args, EvalRequest))
    clf = _load_classifier(args.run_dir, request.ensemble_with)
    data = _read_labeled(request.data, args)
    report = clf.evaluate(data.texts, data.labels)
    as_json = json.dumps({**report.to_dict(), "data": request.data})
    print(as_json if request.json else report.format())
    return EXIT_OK


def cmd_sentiment_predict(args) -> int:
    from ..sentiment.classifier import PredictRequest
    from ..text.readers import stream_file_lines, stream_lines

    request = PredictRequest(**given_options(args, PredictRequest))
    if args.texts and request.file:
        raise UsageError("give texts as arguments or --file, not both")
    try:
        codecs.lookup(request.encoding)
    except LookupError:
        raise UsageError(f"unknown text encoding {request.encoding!r}") from None
    clf = _load_classifier(args.run_dir, request.ensemble_with)
    if args.texts:
        for start in range(0, len(args.texts), PREDICT_BATCH):
            _print_predictions(clf, args.texts[start : start + PREDICT_BATCH], request.json)
        return EXIT_OK
    # --file or stdin, read as a stream: each line's answer as soon as it has come (a pipe
    # may hold a line-at-a-time dialogue, or never end), in bounded memory
    if request.file:
        batches = stream_file_lines(request.file, request.encoding)
    else:
        batches = stream_lines(sys.stdin.buffer, request.encoding)
    for lines in batches:
        for start in range(0, len(lines), PREDICT_BATCH):
            _print_predictions(clf, lines[start : start + PREDICT_BATCH], request.json)
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
