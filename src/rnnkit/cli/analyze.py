"""``rnnkit analyze gradients``."""

from __future__ import annotations

import dataclasses
import sys

from .parsing import EXIT_OK, Command, add_command_group, given_options


def add_analyze_commands(sub) -> None:
    from ..analysis.gradient_flow import GradientFlowOptions, StudyOutput

    add_command_group(sub, "analyze", "measure vanishing and exploding gradients", None, [
        Command("gradients",
                "||dLoss/dh_t|| against the distance to the loss: table and log-scale plot", (
            "For RNN, LSTM and GRU (same hidden size), a vanilla RNN with W_hh scaled to "
            "spectral radius below/at/above 1 (and with clipping), and the LSTM forget-gate "
            "bias 0 vs 1: prints the table and writes gradient_flow.png/.md/.json to --out."
        ), cmd_analyze_gradients, (StudyOutput, GradientFlowOptions)),
    ])  # fmt: skip


def cmd_analyze_gradients(args) -> int:
    from ..analysis import analyze_gradients
    from ..analysis.gradient_flow import GradientFlowOptions, StudyOutput

    where = StudyOutput(**given_options(args, StudyOutput))
    options = GradientFlowOptions(**given_options(args, GradientFlowOptions))
    options.validate()
    report = analyze_gradients(where.out, force=where.force, **dataclasses.asdict(options))
    print(report.text())
    written = [report.png_path, report.table_path, report.json_path]
    print("\nwrote " + ", ".join(str(p) for p in written if p is not None))
    if report.png_path is None:
        print("(no plot: matplotlib is not installed; pip install 'rnnkit[apps]')", file=sys.stderr)
    return EXIT_OK
