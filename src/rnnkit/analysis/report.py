"""What ``rnnkit analyze gradients`` produces: the study, its table, its data and its plot on disk.

Files written into ``out_dir``::

    gradient_flow.png    one log-scale panel per curve group (needs matplotlib)
    gradient_flow.md     the description and the Markdown table
    gradient_flow.json   settings and every curve, all distances
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .gradient_flow import GradientFlowStudy, gradient_flow_study

__all__ = ["GradientReport", "analyze_gradients"]


@dataclass
class GradientReport:
    study: GradientFlowStudy
    table_path: Path
    json_path: Path
    png_path: Path | None  # None when matplotlib is not installed

    def text(self) -> str:
        """The description and the table, as printed by the command."""
        return f"{self.study.describe()}\n\n{self.study.table()}"


def analyze_gradients(out_dir: str | os.PathLike = "analysis", **study_options) -> GradientReport:
    """Run :func:`gradient_flow_study` (``study_options`` are its arguments) and write its files.

    Returns a :class:`GradientReport` with the study and the paths written.
    """
    study = gradient_flow_study(**study_options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / "gradient_flow.md"
    json_path = out / "gradient_flow.json"
    report = GradientReport(study, table_path, json_path, None)
    table_path.write_text(report.text() + "\n", encoding="utf-8")
    json_path.write_text(study.dumps() + "\n", encoding="utf-8")
    try:
        from .plots import plot_gradient_flow

        report.png_path = plot_gradient_flow(study, out / "gradient_flow.png")
    except ImportError:
        pass
    return report
