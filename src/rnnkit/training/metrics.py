"""The metrics log (JSON lines) and the loss-curve plot drawn from it."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .checkpoint import atomic_write, file_operation


class MetricsLog:
    """``metrics.jsonl``: one JSON object per line, each with at least ``"step"``.

    Lines are appended and flushed as they come. A line torn by a crash is
    ignored on reading. :meth:`truncate` cuts the log back to a checkpoint's
    step when a run resumes, so replayed steps are logged once, not twice.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def append(self, record: dict) -> None:
        line = json.dumps(_finite_or_none(record))
        try:
            file_operation("append", self.path)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as exc:  # a full disk names the log
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.path)) from None

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        records = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn by a crash mid-write
                if isinstance(record, dict) and "step" in record:
                    records.append(record)
        return records

    def truncate(self, step: int) -> None:
        """Keep only the records with ``record["step"] <= step`` (atomic rewrite)."""
        if not self.path.exists():
            return
        kept = [r for r in self.read() if r["step"] <= step]
        text = "".join(json.dumps(r) + "\n" for r in kept).encode("utf-8")
        atomic_write(self.path, lambda f: f.write(text))


def _finite_or_none(record: dict) -> dict:
    """JSON has no NaN/Infinity: write them as null."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
    }


def plot_metrics(
    metrics_path: str | os.PathLike, png_path: str | os.PathLike, title: str | None = None
) -> bool:
    """Draw every ``*loss`` series of the log against the step into a PNG.

    Accuracy-like series (keys ending in ``acc`` or ``accuracy``) go on a
    second axis. Uses matplotlib's object API with the Agg canvas (no pyplot,
    no global backend change), imported only here. Returns False, having
    drawn nothing, when matplotlib is missing or the log is empty.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    records = MetricsLog(metrics_path).read()
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in records:
        for key, value in r.items():
            if key == "step" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if key.endswith("loss") or key.endswith("acc") or key.endswith("accuracy"):
                xs, ys = series.setdefault(key, ([], []))
                xs.append(r["step"])
                ys.append(float(value))
    if not series:
        return False
    fig = Figure(figsize=(7, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax2 = None
    for key, (xs, ys) in sorted(series.items()):
        is_loss = key.endswith("loss")
        if not is_loss and ax2 is None:
            ax2 = ax.twinx()
            ax2.set_ylabel("accuracy")
        target = ax if is_loss else ax2
        style = {"marker": "o", "markersize": 3} if len(xs) < 60 else {}
        lw = 0.8 if key.startswith("train") else 1.6
        target.plot(xs, ys, label=key, linewidth=lw, **style)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if ax2 is not None:
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    png_path = Path(png_path)
    atomic_write(png_path, lambda f: fig.savefig(f, format="png"))
    return True
