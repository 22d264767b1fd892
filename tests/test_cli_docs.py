"""docs/cli.md names every command and option the parser has."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.cli import build_parser

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def walk(parser: argparse.ArgumentParser, prefix: str = "rnnkit"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, f"{prefix} {name}")


def test_every_command_and_option_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = []
    for command, parser in walk(build_parser()):
        is_group = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if not is_group and f"## {command}\n" not in text:
            missing.append(f"section '## {command}'")
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag not in text:
                    missing.append(f"{command} {flag}")
    assert not missing, "docs/cli.md lacks: " + ", ".join(missing) + " (regenerate it from --help)"


def test_the_page_is_what_the_generator_writes():
    from rnnkit.cli import markdown

    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/cli.md is out of date: python -m rnnkit.cli --markdown > docs/cli.md"
    )
