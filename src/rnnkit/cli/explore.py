"""``rnnkit explore``."""

from __future__ import annotations

import dataclasses

from .parsing import add_options, given_options


def add_explore_commands(sub) -> None:
    from ..explore.command import ExploreOptions

    explore = sub.add_parser(
        "explore",
        help="see inside trained models in the browser (or in one HTML file)",
        description=(
            "Serves a local page (Generate, Cells, Gates, Sentiment, Gradient flow) over the "
            "runs given; --html writes the same views to one self-contained file instead."
        ),
    )
    explore.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                         help="run directories or checkpoint files")  # fmt: skip
    add_options(explore, ExploreOptions)
    explore.set_defaults(run=cmd_explore)


def cmd_explore(args) -> int:
    from ..explore.command import ExploreOptions, run_explore

    options = ExploreOptions(**given_options(args, ExploreOptions))
    return run_explore(args.run_dirs, **dataclasses.asdict(options))
