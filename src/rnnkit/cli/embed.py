"""``rnnkit embed`` (train, neighbors, analogy, export)."""

from __future__ import annotations

from .parsing import (
    EXIT_OK,
    UsageError,
    _check_resume,
    _help_of,
    _stop_group,
    add_options,
    given_options,
)
from .runs import _add_run_options, _default_run_dir, _refuse_torchrun, report_training

VECTORS_HELP = "run directory, checkpoint .npz or word2vec/GloVe text file"


def add_embed_commands(sub) -> None:
    from ..embed import DEFAULT_STOP, EmbedConfig, EmbedSettings

    embed = sub.add_parser(
        "embed",
        help="word vectors (word2vec): train, neighbors, analogy, export",
        description="Word vectors by skip-gram (or CBOW) with negative sampling.",
    )
    es = embed.add_subparsers(title="commands", metavar="COMMAND")
    train = es.add_parser(
        "train",
        help="train word vectors on text files",
        description=(
            "Train word2vec vectors on TEXT files (words split on white space; a context "
            "never crosses a line). The learning rate falls linearly from --lr to --lr-min "
            "over the stop rule's epochs or steps. The vectors are kept in RUN_DIR's "
            "checkpoint; write them as a word2vec text file with 'rnnkit embed export'."
        ),
    )
    train.add_argument("texts", nargs="*", metavar="TEXT",
                       help="training text files (on --resume: default the run's own)")  # fmt: skip
    _add_run_options(train, "embed")
    add_options(train.add_argument_group("model"), EmbedConfig)
    add_options(train.add_argument_group("training"), EmbedSettings)
    _stop_group(train, DEFAULT_STOP)
    train.set_defaults(run=cmd_embed_train)

    nb = es.add_parser("neighbors", help="the nearest words by cosine",
                       description="The K words nearest to WORD by cosine similarity.")  # fmt: skip
    nb.add_argument("vectors", metavar="RUN_OR_FILE", help=VECTORS_HELP)
    nb.add_argument("word", metavar="WORD")
    nb.add_argument("-k", type=int, default=10, help="how many (10)")
    nb.set_defaults(run=cmd_embed_neighbors)

    an = es.add_parser("analogy", help="a is to b as c is to ...",
                       description="The words nearest to b - a + c (unit vectors), the three "
                       "inputs excluded.")  # fmt: skip
    an.add_argument("vectors", metavar="RUN_OR_FILE", help=VECTORS_HELP)
    an.add_argument("a")
    an.add_argument("b")
    an.add_argument("c")
    an.add_argument("-k", type=int, default=10, help="how many (10)")
    an.set_defaults(run=cmd_embed_analogy)

    ex = es.add_parser("export", help="write a run's vectors in the word2vec text format",
                       description="Write the vectors of RUN_DIR (or a checkpoint) to FILE in "
                       "the word2vec text format (header 'N D', then 'word v1 ... vD').",
                       )  # fmt: skip
    ex.add_argument("run_dir", metavar="RUN_DIR", help="run directory or checkpoint .npz")
    ex.add_argument("--out", required=True, metavar="FILE", help="the text file to write")
    ex.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    ex.set_defaults(run=cmd_embed_export)
    embed.set_defaults(run=_help_of(embed))


def cmd_embed_train(args) -> int:
    from ..embed import EmbedConfig, EmbedSettings, train
    from ..training import StopRule

    if args.resume:
        _check_resume(args, EmbedConfig, EmbedSettings)
    elif not args.texts:
        raise UsageError("give the TEXT files to train on")
    _refuse_torchrun("embed train runs as one process, without torchrun")
    run_dir = args.out or _default_run_dir("embed")
    result, vectors = train(
        args.texts, out=run_dir, resume=args.resume, force=args.force,
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


def cmd_embed_neighbors(args) -> int:
    if args.k < 1:
        raise UsageError(f"-k must be at least 1, received {args.k}")
    vectors = _load(args.vectors)
    _print(_lookup(lambda: vectors.neighbors(args.word, args.k)))
    return EXIT_OK


def cmd_embed_analogy(args) -> int:
    if args.k < 1:
        raise UsageError(f"-k must be at least 1, received {args.k}")
    vectors = _load(args.vectors)
    _print(_lookup(lambda: vectors.analogy(args.a, args.b, args.c, args.k)))
    return EXIT_OK


def cmd_embed_export(args) -> int:
    from ..embed import export_word2vec

    try:
        vectors = export_word2vec(args.run_dir, args.out, force=args.force)
    except FileExistsError as exc:
        raise UsageError(f"{args.out} exists; give --force to overwrite it") from exc
    print(f"wrote {len(vectors):,} vectors of {vectors.vectors.shape[1]} dimensions to {args.out}")
    return EXIT_OK
