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

One module per command group (``textgen`` with ``demo``, ``sentiment``, ``embed``, ``data``,
``analyze``, ``explore``, ``export``), the parsing and the flags made from dataclasses in
``parsing``, what the training commands share in ``runs``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from .analyze import add_analyze_commands
from .data import add_data_commands
from .demo import add_demo_command
from .embed import add_embed_commands
from .explore import add_explore_commands
from .export import add_export_commands
from .parsing import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    _help_of,
    _Parser,
    add_options,
    given_options,
)
from .sentiment import add_sentiment_commands
from .textgen import add_textgen_commands

#: one registration function per command group, in --help order
COMMAND_GROUPS: list[Callable] = [
    add_demo_command, add_textgen_commands, add_sentiment_commands, add_embed_commands,
    add_data_commands, add_analyze_commands, add_explore_commands, add_export_commands,
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

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


def _user_errors() -> tuple[type[BaseException], ...]:
    from ..interop.extras import MissingExtraError
    from ..text.download import DownloadError
    from ..training import CheckpointError

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


__all__ = ["COMMAND_GROUPS", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED",
           "EXIT_USAGE", "UsageError", "add_options", "build_parser", "given_options", "main",
           "markdown"]  # fmt: skip
