"""``rnnkit analyze gradients``."""

from __future__ import annotations

import dataclasses
import sys

from .parsing import (
    EXIT_OK,
    _help_of,
    add_options,
    given_options,
)


def add_analyze_commands(sub) -> None:
    from ..analysis.gradient_flow import GradientFlowOptions

    analyze = sub.add_parser("analyze", help="measure vanishing and exploding gradients")
    asub = analyze.add_subparsers(title="commands", metavar="COMMAND")
    grads = asub.add_parser(
        "gradients",
        help="||dLoss/dh_t|| against the distance to the loss: table and log-scale plot",
        description=(
            "For RNN, LSTM and GRU (same hidden size), a vanilla RNN with W_hh scaled to "
            "spectral radius below/at/above 1 (and with clipping), and the LSTM forget-gate "
            "bias 0 vs 1: prints the table and writes gradient_flow.png/.md/.json to --out."
        ),
    )
    grads.add_argument(
        "--out", metavar="DIR", default="analysis", help="output directory (analysis)"
    )
    grads.add_argument("--force", action="store_true",
                       help="replace gradient_flow.* files already in --out")  # fmt: skip
    add_options(grads, GradientFlowOptions)
    grads.set_defaults(run=cmd_analyze_gradients)
    analyze.set_defaults(run=_help_of(analyze))


def cmd_analyze_gradients(args) -> int:
    from ..analysis import analyze_gradients
    from ..analysis.gradient_flow import GradientFlowOptions

    options = GradientFlowOptions(**given_options(args, GradientFlowOptions))
    options.validate()
    report = analyze_gradients(args.out, force=args.force, **dataclasses.asdict(options))
    print(report.text())
    written = [report.png_path, report.table_path, report.json_path]
    print("\nwrote " + ", ".join(str(p) for p in written if p is not None))
    if report.png_path is None:
        print("(no plot: matplotlib is not installed; pip install 'rnnkit[apps]')", file=sys.stderr)
    return EXIT_OK
