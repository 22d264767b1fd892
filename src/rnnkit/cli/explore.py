"""``rnnkit explore``."""

from __future__ import annotations

# ---------------------------------------------------------------------------
# explore
# ---------------------------------------------------------------------------


def add_explore_commands(sub) -> None:
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
    explore.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    explore.add_argument("--port", type=int, default=8000,
                         help="port to listen on; 0 picks a free one (8000)")  # fmt: skip
    explore.add_argument("--html", metavar="FILE",
                         help="write a self-contained HTML report instead of serving")  # fmt: skip
    explore.add_argument("--force", action="store_true",
                         help="with --html: replace an existing report file")  # fmt: skip
    explore.add_argument(
        "--text", metavar="FILE",
        help="with --html: the text to trace (sentences, one a line, for a classifier)",
    )  # fmt: skip
    explore.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                         help="close a connection whose request (line and headers, then "
                              "body) has not arrived within SECONDS (10)")  # fmt: skip
    explore.add_argument("--labels", metavar="LABEL=NAME,...",
                         help="names for a classifier's labels, e.g. 0=negative,1=positive "
                              "(pos/neg are named without it)")  # fmt: skip
    explore.set_defaults(run=cmd_explore)


def cmd_explore(args) -> int:
    from ..explore.command import run_explore

    return run_explore(args.run_dirs, host=args.host, port=args.port, html=args.html,
                       text=args.text, timeout=args.timeout, force=args.force,
                       labels=args.labels)  # fmt: skip
