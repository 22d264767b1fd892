"""What the two sentiment benchmarks share: run ``rnnkit sentiment train``, then
``eval`` once on the test data, and record the figures (``bench/sentiment_*.py``)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

# Single-threaded BLAS for the commands: the matrices are small ((64, 128) @ (128, 512)) and
# two BLAS threads competing with anything else on a 2-core machine run slower, not faster.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]


def rel(path: Path) -> str:
    """``path`` relative to the repository root (where the commands run)."""
    return os.path.relpath(path, ROOT)


def rnnkit(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rnnkit.cli", *args]
    print("$ rnnkit", " ".join(args), flush=True)
    return subprocess.run(cmd, check=True, cwd=ROOT, text=True, capture_output=capture)


def train_and_evaluate(train_args: list[str], out: Path, test: Path) -> tuple[dict, dict]:
    """Train (``rnnkit *train_args``, run directory ``out``), evaluate the best checkpoint
    on ``test`` once. Returns the eval report and the run's figures."""
    load_before = os.getloadavg()
    start = time.monotonic()
    rnnkit(*train_args)
    train_s = time.monotonic() - start
    report = json.loads(
        rnnkit("sentiment", "eval", rel(out), "--data", rel(test), "--json", capture=True).stdout
    )
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "val_accuracy" in r]
    best = max(evals, key=lambda r: r["val_accuracy"])
    run = {
        "command": "rnnkit " + " ".join(train_args),
        "train_wall_s": round(train_s, 1),
        "best_step": best["step"],
        "best_epoch": best["epoch"],
        "best_elapsed_s": best.get("elapsed"),
        "evaluations": [(r["step"], round(r["val_accuracy"], 4)) for r in evals],
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },  # fmt: skip
    }
    return report, run


def save(result: dict, name: str, out: Path) -> Path:
    """Write ``bench/results/NAME.json`` and copy the run's learning curves to
    ``docs/figures/NAME.png``; returns the JSON path."""
    dest = ROOT / "bench" / "results" / f"{name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")
    figure = ROOT / "docs" / "figures" / f"{name}.png"
    if (out / "loss.png").is_file():
        figure.parent.mkdir(parents=True, exist_ok=True)
        figure.write_bytes((out / "loss.png").read_bytes())
    return dest
