"""``rnnkit data download``."""

from __future__ import annotations

from .parsing import (
    EXIT_OK,
    _help_of,
)


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
    from ..text import download

    path = download.download(args.name, force=args.force)
    print(path)
    return EXIT_OK
