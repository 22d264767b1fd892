"""Figures for the analysis results (matplotlib, imported only when a figure is drawn).

Uses matplotlib's object API on the Agg canvas: no pyplot, no global backend
change, nothing opened on screen.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..training.checkpoint import atomic_write
from .gradient_flow import GradientFlowStudy

__all__ = ["plot_gradient_flow"]


def plot_gradient_flow(study: GradientFlowStudy, path: str | os.PathLike) -> Path:
    """Draw one log-scale panel per curve group of ``study`` into the PNG ``path``.

    x: distance ``k`` (steps between ``h_t`` and the loss); y: mean ``||dL/dh_t||``.
    Raises ``ImportError`` with an install hint when matplotlib is missing.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'rnnkit[apps]'") from exc

    groups = [g for g in study.GROUPS if any(c.group == g for c in study.curves)]
    fig = Figure(figsize=(5.2 * len(groups), 4.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, group in zip(axes, groups, strict=True):
        for curve in (c for c in study.curves if c.group == group):
            style = "--" if "clipped" in curve.label else "-"
            ax.semilogy(
                range(len(curve.norms)), curve.norms, style, label=curve.label, linewidth=1.6
            )
        ax.set_title(group)
        ax.set_xlabel("distance k from the loss step (steps back in time)")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("mean ||dL/dh_t||  (log scale)")
    fig.suptitle(f"Gradient flow through time: hidden size {study.hidden_size}, "
                 f"{study.batch_size} random sequences", fontsize=11)  # fmt: skip
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    return path
