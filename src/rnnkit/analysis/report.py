"""What ``rnnkit analyze gradients`` produces: the study, its table, its data and its plot on disk.

Files written into ``out_dir``::

    gradient_flow.png    one log-scale panel per curve group (needs matplotlib)
    gradient_flow.md     the description and the Markdown table
    gradient_flow.json   settings and every curve, all distances
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path

from ..training.checkpoint import atomic_write
from .gradient_flow import GradientFlowStudy, check_study_options, gradient_flow_study

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


def analyze_gradients(
    out_dir: str | os.PathLike = "analysis", *, force: bool = False, **study_options
) -> GradientReport:
    """Run :func:`gradient_flow_study` (``study_options`` are its arguments) and write its files.

    An existing ``gradient_flow.*`` in ``out_dir`` is refused (``FileExistsError``,
    before the study runs) unless ``force``; every file is written atomically.
    Returns a :class:`GradientReport` with the study and the paths written.
    """
    given = inspect.signature(gradient_flow_study).bind(**study_options)
    given.apply_defaults()
    check_study_options(**given.arguments)
    out = Path(out_dir)
    names = ("gradient_flow.md", "gradient_flow.json", "gradient_flow.png")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory")
    existing = [str(out / n) for n in names if os.path.lexists(out / n)]
    if existing and not force:
        raise FileExistsError(
            f"{existing[0]} exists; choose another output directory or replace it with --force"
        )
    study = gradient_flow_study(**study_options)
    out.mkdir(parents=True, exist_ok=True)
    table_path, json_path = out / names[0], out / names[1]
    report = GradientReport(study, table_path, json_path, None)
    atomic_write(table_path, lambda f: f.write((report.text() + "\n").encode("utf-8")))
    atomic_write(json_path, lambda f: f.write((study.dumps() + "\n").encode("utf-8")))
    try:
        from .plots import plot_gradient_flow

        report.png_path = plot_gradient_flow(study, out / names[2])
    except ImportError:
        pass
    return report
