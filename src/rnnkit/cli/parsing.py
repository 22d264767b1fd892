"""How the command line is parsed: exit statuses, one-line usage errors, and the
flags made from the applications' option dataclasses (one field, one flag)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

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



def add_options(parser, cls: type) -> None:
    """One flag per option field of ``cls`` (see :mod:`rnnkit.training.settings`).

    Flags default to "not given" (the attribute is absent), so that the
    application's own defaults apply and ``--resume`` can tell what was given.
    """
    from ..training import option_fields

    for f in option_fields(cls):
        md, default = f.metadata, f.default
        if isinstance(default, bool):
            flag = md.get("negate") if default else "--" + f.name.replace("_", "-")
            parser.add_argument(flag, dest=f.name, action="store_const", const=not default,
                                default=argparse.SUPPRESS,
                                help=md.get("negate_help", md["help"]))  # fmt: skip
            continue
        help_text = md["help"]
        if default not in (None, ()) and "default:" not in help_text:
            shown = default if isinstance(default, tuple) else (default,)
            help_text += " (" + " ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                         for v in shown) + ")"  # fmt: skip
        if md.get("positional"):  # an argument: required, or "?" / "*" by its nargs
            nargs = md.get("nargs") or (None if md.get("required") else "?")
            parser.add_argument(f.name, type=_parser_of(f), nargs=nargs, metavar=md.get("metavar"),
                                default=argparse.SUPPRESS, help=help_text)  # fmt: skip
            continue
        parser.add_argument(
            *(md.get("flags") or ("--" + f.name.replace("_", "-"),)),
            dest=f.name,
            type=_parser_of(f),
            **({"action": "append"} if md.get("repeatable") else {"nargs": md.get("nargs")}),
            choices=md.get("choices"),
            metavar=md.get("metavar"),
            required=md.get("required", False),
            default=argparse.SUPPRESS,
            help=help_text,
        )
        for old in md.get("aliases", ()):  # a renamed option's old flag, for a release
            parser.add_argument("--" + old.replace("_", "-"), dest=old, type=_parser_of(f),
                                metavar=f.name, default=argparse.SUPPRESS,
                                help=argparse.SUPPRESS)  # fmt: skip


@dataclass(frozen=True)
class Command:
    """One subcommand, declared: ``rnnkit GROUP <name>`` runs ``run(args) -> status``.

    ``arguments`` make its flags and arguments, in order: an option dataclass (one
    flag per field, see :func:`add_options`), ``(title, dataclass)`` for a titled
    group of them, or a function ``(parser) -> None`` for a piece every command of a
    kind shares (the run directory's flags, the stop rule).
    """

    name: str
    help: str
    description: str
    run: Callable[[argparse.Namespace], int]
    arguments: tuple = ()


def add_command_group(sub, name: str, help: str, description: str, commands) -> None:
    """``rnnkit <name> COMMAND``: one parser per :class:`Command`; the group alone
    prints its help."""
    group = sub.add_parser(name, help=help, description=description)
    commands_of = group.add_subparsers(title="commands", metavar="COMMAND")
    for command in commands:
        parser = commands_of.add_parser(command.name, help=command.help,
                                        description=command.description)  # fmt: skip
        for piece in command.arguments:
            if isinstance(piece, tuple):
                add_options(parser.add_argument_group(piece[0]), piece[1])
            elif isinstance(piece, type):
                add_options(parser, piece)
            else:
                piece(parser)
        parser.set_defaults(run=command.run)
    group.set_defaults(run=_help_of(group))


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
    from ..training import option_fields

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
            if f.metadata.get("nargs") or f.metadata.get("repeatable"):  # a tuple, as the field
                value = tuple(value)
            given[f.name] = None if f.metadata.get("zero_is_none") and value == 0 else value
    return given


def _check_resume(args: argparse.Namespace, *classes: type) -> None:
    """``--resume`` names its run (``--out``) and gives none of the settings in ``classes``
    (the run keeps its own)."""
    if not args.out:
        raise UsageError("--resume needs --out RUN_DIR, the run to continue")
    given = [name for cls in classes for name in given_options(args, cls)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(f"--resume continues a run with its own settings; drop {flags}")


def _stop_group(parser, default) -> None:
    """A training command's stop rule (``default`` when none is given) and ``--quiet``."""
    from ..training import StopRule

    rule = ", ".join(f"--{k} {v:g}" for k, v in vars(default).items() if v is not None)
    add_options(parser.add_argument_group(f"stop rule (default: {rule}; the first reached wins)"),
                StopRule)  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command group called without a subcommand prints its help."""

    def show(_args) -> int:
        parser.print_help()
        return EXIT_USAGE

    return show
