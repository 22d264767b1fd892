"""``rnnkit textgen`` (train, sample, eval, score)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from pathlib import Path

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
    _add_checkpoint_option,
    _default_run_dir,
    _interrupted_status,
    _refuse_torchrun,
    report_training,
    resume_command,
    run_options,
    stop_options,
)

# ---------------------------------------------------------------------------
# textgen
# ---------------------------------------------------------------------------


def add_textgen_commands(sub) -> None:
    from ..textgen import CharRNNConfig, TrainSettings
    from ..textgen.api import DEFAULT_STOP
    from ..textgen.sampling import SampleRequest, SamplingOptions
    from ..textgen.scoring import EvalRequest, ScoreRequest
    from ..textgen.train import CorpusChoice
    from ..training import EngineChoice, InitFrom
    from ..training.settings import ModelArgument

    add_command_group(sub, "textgen", "character-level text generator: train, sample, eval, score",
                      "Character-level language model (char-rnn style) on any text.", [  # fmt: skip
        Command("train", "train on a text file (or the default corpus), or resume a run", (
            "Train a character-level model. CORPUS is a UTF-8 text file (or any file with "
            "--encoding bytes), or the name of a downloaded dataset (tinyshakespeare); "
            "without it, Python's standard library source is used. Every 'eval-every' "
            "steps the model is evaluated on the tail of the corpus, a sample is printed "
            "and RUN_DIR/latest.npz (and best.npz) are written atomically."
        ), cmd_textgen_train, (CorpusChoice, run_options("textgen"), ("model", CharRNNConfig),
                               ("training", TrainSettings), stop_options(DEFAULT_STOP),
                               EngineChoice, InitFrom)),  # fmt: skip
        Command("sample", "generate text from a trained model (streams to stdout)", (
            "Generate text from RUN_DIR's best checkpoint (or a .npz checkpoint, or a "
            ".safetensors export), one character at a time."
        ), cmd_textgen_sample, (ModelArgument, SampleRequest, SamplingOptions,
                                _add_checkpoint_option)),  # fmt: skip
        Command("eval", "loss in nats/char, bits/char and perplexity",
                "Evaluate on FILE or, without it, on the run's own validation split.",
                cmd_textgen_eval, (ModelArgument, EvalRequest, _add_checkpoint_option)),
        Command("score", "log-probability of each line: nats/char, bits/char, perplexity", (
            "Score each line of FILE (or of standard input, as the lines arrive) under the "
            "model: each line on its own, from the start state after a newline, its ending "
            "newline included. A line with characters outside the vocabulary is reported "
            "unscorable. --whole scores the whole text as 'textgen eval' does."
        ), cmd_textgen_score, (ModelArgument, ScoreRequest, _add_checkpoint_option)),
    ])


def cmd_textgen_train(args) -> int:
    from ..textgen import CharLM, CharRNNConfig, TrainSettings
    from ..textgen.train import CorpusChoice
    from ..training import EngineChoice, InitFrom, StopRule

    if args.resume:
        _check_resume(args, CharRNNConfig, TrainSettings, InitFrom)
        if args.force:
            raise UsageError("--resume continues a run; drop --force")
    engine = given_options(args, EngineChoice).get("engine", "numpy")
    if engine != "torch":
        _refuse_torchrun("the NumPy engine trains in one process: add --engine torch to train "
                         "one run on all of them (docs/beyond-one-machine.md)")  # fmt: skip
    init = given_options(args, InitFrom)
    if init.get("init_from") and given_options(args, CharRNNConfig):
        flags = ", ".join("--" + k.replace("_", "-") for k in given_options(args, CharRNNConfig))
        raise UsageError(f"--init-from takes the architecture of its run; drop {flags}")
    run_dir = args.out or _default_run_dir("textgen")
    corpus = CorpusChoice(**given_options(args, CorpusChoice))
    lm = CharLM(**given_options(args, CharRNNConfig))
    result = lm.fit(
        _corpus_path(corpus.corpus) if corpus.corpus else None,
        encoding=corpus.encoding, map_unknown=corpus.map_unknown, out=run_dir,
        resume=args.resume, force=args.force,
        progress=not args.quiet, **given_options(args, StopRule),
        **given_options(args, TrainSettings), **given_options(args, EngineChoice), **init,
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
    try:
        request.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    lm = CharLM.load(args.run_dir, args.checkpoint)
    bytes_model = lm.vocab.encoding == "bytes"
    if request.prime_file is not None:
        data = Path(request.prime_file).read_bytes()
        prime = data if bytes_model else _utf8(data, request.prime_file)
    else:
        prime = request.prime if request.prime else lm.default_prime()
    if bytes_model and isinstance(prime, str):
        prime = prime.encode("utf-8")
    stream, newline = (sys.stdout.buffer, b"\n") if bytes_model else (sys.stdout, "\n")
    keywords = dict(prime=prime, seed=request.seed, stop=request.stop,
                    **given_options(args, SamplingOptions))  # fmt: skip
    if request.num_samples == 1 and not request.json:
        pieces = lm.stream(request.length, **keywords)
        first = next(pieces, newline[:0])  # checks the options and the prime before printing
        stream.write(prime + first)
        for piece in pieces:
            stream.write(piece)
            stream.flush()
        stream.write(newline)
        stream.flush()
        return EXIT_OK
    texts = lm.generate(request.length, num_samples=request.num_samples, **keywords)
    documents = lm.vocab.markers  # whole documents, separated as in the corpus
    for k, text in enumerate(texts):
        if request.json:
            shown = (lambda t: t.decode("utf-8", errors="replace")) if bytes_model else str
            print(json.dumps({"sample": k, "prime": shown(prime), "text": shown(text)}))
            continue
        if documents and k > 0:
            stream.write(lm._separator()[1:])  # (the newline that ends each one is written)
        elif request.num_samples > 1 and not documents:
            stream.write(f"--- sample {k} ---\n".encode() if bytes_model
                         else f"--- sample {k} ---\n")  # fmt: skip
        stream.write(prime + text + newline)
    stream.flush()
    return EXIT_OK


def _utf8(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text, as this model's prime must be") from None


def cmd_textgen_score(args) -> int:
    from ..text.readers import stream_lines
    from ..textgen import CharLM
    from ..textgen.scoring import ScoreRequest

    request = ScoreRequest(**given_options(args, ScoreRequest))
    try:
        request.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    lm = CharLM.load(args.run_dir, args.checkpoint)
    file = request.file
    source = sys.stdin.buffer if file == "-" else None
    if request.whole:
        if source is None:  # the very computation of 'textgen eval FILE'
            _print_score(lm.evaluate(Path(file)), request.json)
        else:
            data = source.read()
            _print_score(lm.evaluate(data if lm.vocab.encoding == "bytes"
                                     else _utf8(data, "stdin")), request.json)  # fmt: skip
        return EXIT_OK
    # each line's score as soon as it has come, in bounded memory
    with (open(file, "rb") if source is None else contextlib.nullcontext(source)) as f:
        number = 0
        for lines in stream_lines(f, what=file if source is None else "stdin"):
            for start in range(0, len(lines), SCORE_BATCH):
                for result in lm.score(lines[start : start + SCORE_BATCH],
                                       per_char=request.per_char):  # fmt: skip
                    number += 1
                    _print_score({"line": number, **result}, request.json)
            sys.stdout.flush()
    return EXIT_OK


#: lines scored together by ``textgen score``
SCORE_BATCH = 256


def _print_score(result: dict, as_json: bool) -> None:
    if as_json:
        surprise = result.get("surprise")
        if surprise and isinstance(surprise[0][0], bytes):
            result["surprise"] = [[c.decode("latin-1"), v] for c, v in surprise]
        print(json.dumps(result))
        return
    head = f"line {result['line']}: " if "line" in result else ""
    if "unscorable" in result:
        print(f"{head}unscorable: not in the vocabulary: {', '.join(result['unscorable'])}")
        return
    print(f"{head}{result['loss']:.4f} nats/char, {result['bpc']:.4f} bits/char, "
          f"perplexity {result['perplexity']:.3f}, {result['chars']} chars")  # fmt: skip
    if "surprise" in result:
        print("  " + " ".join(f"{json.dumps(c if isinstance(c, str) else c.decode('latin-1'))}"
                              f" {v:.2f}" for c, v in result["surprise"]))  # fmt: skip


def cmd_textgen_eval(args) -> int:
    from ..textgen import CharLM
    from ..textgen.scoring import EvalRequest

    request = EvalRequest(**given_options(args, EvalRequest))
    lm = CharLM.load(args.run_dir, args.checkpoint)
    result = lm.evaluate(Path(request.file) if request.file else None)
    cap = lm.settings.val_max_chars
    capped = f", its first {cap:,} characters" if result["chars"] >= cap - 1 else ""
    split = f"the validation split ({lm.settings.val_fraction:g} tail of the corpus{capped})"
    if lm.vocab.markers:
        split = f"the held-out documents ({result['documents']:,}, {lm.documents_mode()})"
    where = request.file or split
    if request.json:
        print(json.dumps({**result, "text": where}))
    else:
        print(
            f"{result['loss']:.4f} nats/char, {result['bpc']:.4f} bits/char, "
            f"perplexity {result['perplexity']:.3f} on {result['chars']:,} characters of {where}"
        )
    return EXIT_OK
