"""``rnnkit embed`` (train, neighbors, analogy, export)."""

from __future__ import annotations

from .parsing import EXIT_OK, Command, UsageError, _check_resume, add_command_group, given_options
from .runs import (
    _default_run_dir,
    _refuse_torchrun,
    report_training,
    run_options,
    stop_options,
)


def add_embed_commands(sub) -> None:
    from ..embed import DEFAULT_STOP, EmbedConfig, EmbedSettings
    from ..embed.api import AnalogyRequest, ExportRequest, NeighborsRequest, TrainTexts

    add_command_group(sub, "embed", "word vectors (word2vec): train, neighbors, analogy, export",
                      "Word vectors by skip-gram (or CBOW) with negative sampling.", [
        Command("train", "train word vectors on text files", (
            "Train word2vec vectors on TEXT files (words split on white space; a context "
            "never crosses a line). The learning rate falls linearly from --lr to --lr-min "
            "over the stop rule's epochs or steps. The vectors are kept in RUN_DIR's "
            "checkpoint; write them as a word2vec text file with 'rnnkit embed export'."
        ), cmd_embed_train, (TrainTexts, run_options("embed"), ("model", EmbedConfig),
                             ("training", EmbedSettings), stop_options(DEFAULT_STOP))),
        Command("neighbors", "the nearest words by cosine",
                "The K words nearest to WORD by cosine similarity.", cmd_embed_neighbors,
                (NeighborsRequest,)),
        Command("analogy", "a is to b as c is to ...",
                "The words nearest to b - a + c (unit vectors), the three inputs excluded.",
                cmd_embed_analogy, (AnalogyRequest,)),
        Command("export", "write a run's vectors in the word2vec text format",
                "Write the vectors of RUN_DIR (or a checkpoint) to FILE in the word2vec text "
                "format (header 'N D', then 'word v1 ... vD').", cmd_embed_export,
                (ExportRequest,)),
    ])  # fmt: skip


def cmd_embed_train(args) -> int:
    from ..embed import EmbedConfig, EmbedSettings, train
    from ..embed.api import TrainTexts
    from ..training import StopRule

    texts = TrainTexts(**given_options(args, TrainTexts)).texts
    if args.resume:
        _check_resume(args, EmbedConfig, EmbedSettings)
    elif not texts:
        raise UsageError("give the TEXT files to train on")
    _refuse_torchrun("embed train runs as one process, without torchrun")
    run_dir = args.out or _default_run_dir("embed")
    result, vectors = train(
        list(texts), out=run_dir, resume=args.resume, force=args.force,
        progress=not args.quiet, **given_options(args, StopRule),
        **given_options(args, EmbedConfig), **given_options(args, EmbedSettings),
    )  # fmt: skip
    summary = f"; {len(vectors):,} words of {vectors.vectors.shape[1]} dimensions"
    some = vectors.words[0] if len(vectors) else "WORD"
    return report_training(
        result, run_dir, f"rnnkit embed train --out {run_dir} --resume", summary,
        f"try: rnnkit embed neighbors {run_dir} {some}",
    )  # fmt: skip


def _load(path: str):
    from ..embed import KeyedVectors

    return KeyedVectors.load(path)


def _lookup(call):
    try:
        return call()
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None


def _print(pairs) -> None:
    for word, score in pairs:
        print(f"{word}\t{score:.4f}")


def _request(args, cls):
    from ..training.settings import check_bounds

    request = cls(**given_options(args, cls))
    try:
        check_bounds(request)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return request


def cmd_embed_neighbors(args) -> int:
    from ..embed.api import NeighborsRequest

    r = _request(args, NeighborsRequest)
    vectors = _load(r.vectors)
    _print(_lookup(lambda: vectors.neighbors(r.word, r.k)))
    return EXIT_OK


def cmd_embed_analogy(args) -> int:
    from ..embed.api import AnalogyRequest

    r = _request(args, AnalogyRequest)
    vectors = _load(r.vectors)
    _print(_lookup(lambda: vectors.analogy(r.a, r.b, r.c, r.k)))
    return EXIT_OK


def cmd_embed_export(args) -> int:
    from ..embed import export_word2vec
    from ..embed.api import ExportRequest

    r = _request(args, ExportRequest)
    try:
        vectors = export_word2vec(r.run_dir, r.out, force=r.force)
    except FileExistsError as exc:
        raise UsageError(f"{r.out} exists; give --force to overwrite it") from exc
    print(f"wrote {len(vectors):,} vectors of {vectors.vectors.shape[1]} dimensions to {r.out}")
    return EXIT_OK
