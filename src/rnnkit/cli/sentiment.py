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
    Command,
    UsageError,
    _check_resume,
    add_command_group,
    given_options,
)
from .runs import (
    _default_run_dir,
    _interrupted_status,
    _refuse_torchrun,
    report_training,
    resume_command,
    run_options,
    stop_options,
)


def _read_labeled(path: str, args):
    from ..text.readers import LabeledFileOptions, read_labeled

    options = LabeledFileOptions(**given_options(args, LabeledFileOptions))
    return read_labeled(path, **dataclasses.asdict(options))


def add_sentiment_commands(sub) -> None:
    from ..sentiment import ModelConfig, TextConfig, TrainSettings
    from ..sentiment.classifier import EvalRequest, PredictRequest
    from ..sentiment.train import DEFAULT_STOP, TrainData
    from ..text.readers import LabeledFileOptions
    from ..training import EngineChoice, InitFrom
    from ..training.settings import ModelArgument

    add_command_group(sub, "sentiment", "text classifier: train, eval, predict",
                      "Recurrent text classifier (sentiment or any labels) on your labelled "
                      "text.", [  # fmt: skip
        Command("train", "train a classifier on labelled text", (
            "Train Embedding -> LSTM/GRU -> pooling -> Linear on labelled text. Evaluates on "
            "--valid (or a held-out part of --train) a few times per epoch, keeps the best "
            "validation accuracy in RUN_DIR/best.npz, stops early, and logs metrics.jsonl "
            "and loss.png. With --pretrain it first trains the embedding and recurrent "
            "layers as a language model (RUN_DIR/pretrain-metrics.jsonl, pretrained.npz), "
            "then fine-tunes; the stop rule counts fine-tuning. Defaults follow "
            "docs/sentiment.md."
        ), cmd_sentiment_train, (TrainData, run_options("sentiment"),
                                 ("data files", LabeledFileOptions), ("model", ModelConfig),
                                 ("text", TextConfig), ("training", TrainSettings),
                                 stop_options(DEFAULT_STOP), EngineChoice, InitFrom)),  # fmt: skip
        Command("eval", "accuracy, per-class precision/recall/F1, macro-F1, confusion matrix",
                "Evaluate RUN_DIR's best checkpoint (or a .npz model) on labelled data.",
                cmd_sentiment_eval, (ModelArgument, EvalRequest,
                                     ("data files", LabeledFileOptions))),  # fmt: skip
        Command("predict", "label and probability of each text (arguments, --file or stdin "
                "lines)", (
            "Print 'LABEL<TAB>PROBABILITY<TAB>TEXT' per input, or with --json one JSON object "
            "per line. Inputs are the TEXT arguments, else the lines of --file, else the lines "
            "of stdin. An empty input gets label '-' and probability '-' (JSON: null)."
        ), cmd_sentiment_predict, (ModelArgument, PredictRequest)),
    ])


def cmd_sentiment_train(args) -> int:
    from ..sentiment import ModelConfig, SentimentClassifier, TextConfig, TrainSettings
    from ..sentiment.classifier import WIDE_MODEL, WIDE_TEXT
    from ..sentiment.train import TrainData
    from ..training import EngineChoice, InitFrom, StopRule

    if args.resume:
        _check_resume(args, ModelConfig, TextConfig, TrainSettings, InitFrom)
    init = given_options(args, InitFrom)
    architecture = {**given_options(args, ModelConfig), **given_options(args, TextConfig)}
    for name in (*WIDE_TEXT, *WIDE_MODEL):  # the wide path starts new: its own settings
        architecture.pop(name, None)
    if init.get("init_from") and architecture:
        flags = ", ".join("--" + k.replace("_", "-") for k in architecture)
        raise UsageError(f"--init-from takes the architecture and vocabulary of its run; "
                         f"drop {flags}")  # fmt: skip
    engine = given_options(args, EngineChoice).get("engine", "numpy")
    if engine != "torch":
        _refuse_torchrun("the NumPy engine trains in one process: add --engine torch to train "
                         "one run on all of them (docs/sentiment.md)")  # fmt: skip
    files = TrainData(**given_options(args, TrainData))
    train = _read_labeled(files.train, args)
    valid = _read_labeled(files.valid, args) if files.valid else None
    teacher = _load_models(files.teacher) if files.teacher and not args.resume else None
    unlabeled = _read_lines(files.unlabeled) if files.unlabeled else None
    run_dir = args.out or _default_run_dir("sentiment")
    clf = SentimentClassifier(**given_options(args, ModelConfig), **given_options(args, TextConfig))
    result = clf.fit(
        train.texts, train.labels, valid.texts if valid else None, valid.labels if valid else None,
        out=run_dir, force=args.force, resume=args.resume, teacher=teacher, unlabeled=unlabeled,
        progress=not args.quiet, **given_options(args, StopRule),
        **given_options(args, TrainSettings), **given_options(args, EngineChoice), **init,
    )  # fmt: skip
    if os.environ.get("RANK", "0") != "0":  # a torchrun process other than rank 0: it reports
        if result.reason == "interrupted":
            return _interrupted_status(result)
        return EXIT_ERROR if result.reason == "diverged" else EXIT_OK
    counts = train.label_counts()
    shown = str(counts) if len(counts) <= 10 else f"in {len(counts):,} classes"
    prefix = f"read {len(train):,} training examples {shown}; "
    if unlabeled:
        prefix += f"{len(unlabeled):,} unlabeled texts; "
    summary = ""
    if result.best is not None:
        summary += f"; best validation accuracy {result.best:.4f} at step {result.best_step}"
    return report_training(
        result,
        run_dir,
        resume_command(f"sentiment train --out {run_dir} --resume --train {files.train}"
                       + "".join(f" --unlabeled {u}" for u in files.unlabeled), engine,
                       " ..."),
        summary, f'try: rnnkit sentiment predict {run_dir} "some text"', prefix,
    )  # fmt: skip


def _read_lines(paths) -> list[str]:
    """The non-blank lines of each file (plain or gzip), one text each."""
    from ..text.readers import stream_file_lines

    texts = []
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"--unlabeled {path}: no such file")
        for lines in stream_file_lines(path):
            texts.extend(line for line in lines if line.strip())
    return texts


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
    if request.texts and request.file:
        raise UsageError("give texts as arguments or --file, not both")
    try:
        codecs.lookup(request.encoding)
    except LookupError:
        raise UsageError(f"unknown text encoding {request.encoding!r}") from None
    clf = _load_classifier(args.run_dir, request.ensemble_with)
    if request.texts:
        for start in range(0, len(request.texts), PREDICT_BATCH):
            _print_predictions(clf, list(request.texts[start : start + PREDICT_BATCH]),
                               request.json)  # fmt: skip
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
