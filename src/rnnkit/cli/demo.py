"""``rnnkit demo``: a small text generator trained on Python's own source, then sampled."""

from __future__ import annotations

import dataclasses

from .parsing import EXIT_OK, add_options, given_options


def add_demo_command(sub) -> None:
    from ..textgen.demo import DEMO_MINUTES, DemoOptions

    demo = sub.add_parser(
        "demo",
        help=(f"train a small generator on Python's own source for {DEMO_MINUTES:g} minutes, "
              "then write code"),
        description=(
            "Trains a small LSTM on the Python standard library's source (no download) "
            "and prints text it generates."
        ),
    )  # fmt: skip
    add_options(demo, DemoOptions)
    demo.set_defaults(run=cmd_demo)


def cmd_demo(args) -> int:
    from ..textgen.demo import DemoOptions, run_demo

    run_demo(**dataclasses.asdict(DemoOptions(**given_options(args, DemoOptions))))
    return EXIT_OK
