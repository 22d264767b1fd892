"""Time to quality of each recurrent cell on tiny-shakespeare: the best validation loss each
reaches in the same wall-clock budget (issue "Recurrent cells of 2024", item 5).

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/cells_quality.py
    .venv/bin/python bench/cells_quality.py --minutes 2 --cells lstm,min_gru   # a pre-screen
    .venv/bin/python bench/cells_quality.py --size min_gru=3x768 --size lstm=1x512

Each cell trains in its own process, one after the other (never two at once: the machine's
cores are the budget), with ``rnnkit textgen train CORPUS --cell C --num-layers L
--hidden-size H --minutes M`` and the text generator's defaults otherwise; the validation
split is the corpus's last 10 %, which no run trains on, and the figure is the best
validation loss the run logged (its ``best.npz`` is chosen on that split, so it is a
model-selection figure, not a held-out test). ``--size`` sets a cell's layers and hidden
size (the defaults below are a starting point: the minimal cells have no recurrent
product, so a larger size costs them less per step; choose sizes for the budget with a
short pre-screen and say which were used). Writes ``bench/results/cells_quality.json``
and prints a Markdown table. The corpus is read from ``../shared/data``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
CELLS = ("lstm", "gru", "ln_lstm", "min_gru", "min_lstm")
#: (layers, hidden) per cell unless --size says otherwise
SIZES = {"lstm": (2, 512), "gru": (2, 512), "ln_lstm": (2, 512), "min_gru": (3, 768),
         "min_lstm": (3, 768)}


def run_cell(cell: str, layers: int, hidden: int, minutes: float, out: Path,
             corpus: Path) -> dict:  # fmt: skip
    cmd = [sys.executable, "-m", "rnnkit.cli", "textgen", "train", str(corpus), "--cell", cell,
           "--num-layers", str(layers), "--hidden-size", str(hidden), "--minutes", f"{minutes:g}",
           "--out", str(out), "--force", "--quiet", "--sample-length", "0"]  # fmt: skip
    print("$", " ".join(cmd[2:]), flush=True)
    load = os.getloadavg()
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT)  # a run that fails (diverges) is a row, not the end
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "val_loss" in r]
    best = min(evals, key=lambda r: r["val_loss"]) if evals else {}
    return {"cell": cell, "layers": layers, "hidden": hidden, "minutes": minutes,
            "best_val_loss": best.get("val_loss"), "best_step": best.get("step"),
            "steps": max((r.get("step", 0) for r in records), default=0),
            "returncode": done.returncode,
            "wall_s": round(time.monotonic() - start, 1), "command": " ".join(cmd[3:]),
            "load_before": [round(x, 2) for x in load],
            "load_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--size", action="append", default=[], metavar="CELL=LxH")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-cells")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "cells_quality.json")
    args = p.parse_args(argv)
    if not args.corpus.is_file():
        p.error(f"{args.corpus}: not found (tiny-shakespeare lives in ../shared/data)")
    sizes = dict(SIZES)
    for item in args.size:
        cell, _, shape = item.partition("=")
        layers, _, hidden = shape.partition("x")
        sizes[cell] = (int(layers), int(hidden))
    rows = [run_cell(c, *sizes[c], args.minutes, args.out / c, args.corpus)
            for c in args.cells.split(",")]  # fmt: skip
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.processor()
              or platform.machine(), "cpus": os.cpu_count(), "corpus": str(args.corpus),
              "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE",
                                                          "OPENBLAS_L2_SIZE") if k in os.environ},
              "rows": rows}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print("\n| cell | layers x hidden | steps | best val loss (nats/char) | at step |")
    print("|---|---|---|---|---|")
    for r in rows:
        failed = "" if r["returncode"] == 0 else " (the run failed: see its output)"
        loss = "-" if r["best_val_loss"] is None else f"{r['best_val_loss']:.4f}"
        print(f"| {r['cell']} | {r['layers']} x {r['hidden']} | {r['steps']} | "
              f"{loss}{failed} | {r['best_step']} |")
    return result


if __name__ == "__main__":
    main()
