"""``rnnkit demo``: a small text generator trained on Python's own source, then sampled."""

from __future__ import annotations

from .parsing import EXIT_OK

DEMO_MINUTES = 1.5


def add_demo_command(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help=(f"train a small generator on Python's own source for {DEMO_MINUTES:g} minutes, "
              "then write code"),
        description=(
            "Trains a small LSTM on the Python standard library's source (no download) "
            "and prints text it generates."
        ),
    )
    demo.add_argument(
        "--minutes", type=float, default=DEMO_MINUTES, help=f"training time ({DEMO_MINUTES})"
    )
    demo.add_argument("--length", type=int, default=600, help="characters to generate (600)")
    demo.add_argument(
        "--out", metavar="RUN_DIR", help="also keep the run (checkpoints, metrics, plot)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed for training and sampling (0)")
    demo.set_defaults(run=cmd_demo)


def cmd_demo(args) -> int:
    from ..textgen.demo import run_demo

    run_demo(minutes=args.minutes, length=args.length, out=args.out, seed=args.seed)
    return EXIT_OK
