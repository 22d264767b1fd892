"""``rnnkit explore``."""

from __future__ import annotations

import dataclasses

from .parsing import add_options, given_options


def add_explore_commands(sub) -> None:
    from ..explore.command import ExploreOptions, ExploreRuns

    explore = sub.add_parser(
        "explore",
        help="see inside trained models in the browser (or in one HTML file)",
        description=(
            "Serves a local page (Generate, Cells, Gates, Sentiment, Gradient flow) over the "
            "runs given; --html writes the same views to one self-contained file instead."
        ),
    )
    add_options(explore, ExploreRuns)
    add_options(explore, ExploreOptions)
    explore.set_defaults(run=cmd_explore)


def cmd_explore(args) -> int:
    from ..explore.command import ExploreOptions, ExploreRuns, run_explore

    runs = ExploreRuns(**given_options(args, ExploreRuns))
    options = ExploreOptions(**given_options(args, ExploreOptions))
    return run_explore(list(runs.run_dirs), **dataclasses.asdict(options))
