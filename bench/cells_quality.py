"""Time to quality of each recurrent cell on tiny-shakespeare: the best validation loss each
reaches in the same wall-clock budget (issue "Recurrent cells of 2024", item 5).

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/cells_quality.py
    .venv/bin/python bench/cells_quality.py --minutes 2 --cells lstm,min_gru   # a pre-screen
    .venv/bin/python bench/cells_quality.py --size min_gru=3x768 --size lstm=1x512
    .venv/bin/python bench/cells_quality.py --cells min_gru --size min_gru=4x512,3x1024  # a grid
    .venv/bin/python bench/cells_quality.py --cells lstm --size lstm=1x256,2x512 --minutes 3,15

Each cell trains in its own process, one after the other (never two at once: the machine's
cores are the budget), with ``rnnkit textgen train CORPUS --cell C --num-layers L
--hidden-size H --minutes M`` and the text generator's defaults otherwise; the validation
split is the corpus's last 10 %, which no run trains on, and the figure is the best
validation loss the run logged (its ``best.npz`` is chosen on that split, so it is a
model-selection figure, not a held-out test). ``--size`` sets a cell's layers and hidden
size, several comma-separated sizes (and several ``--minutes``) make a grid, run in the
order given (the defaults below are a starting point: the minimal cells have no recurrent
product, so a larger size costs them less per step). Writes the JSON file after every run
(a cut-off grid keeps its finished rows) and prints a Markdown table. While the file named
by ``--pause-file`` exists, the grid waits before starting its next run, so that other work
can use the machine between runs without sharing the cores with one. The corpus is read
from ``../shared/data``.
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
         "min_lstm": (3, 768)}  # fmt: skip


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


def parse_sizes(items: list[str]) -> dict[str, list[tuple[int, int]]]:
    """``["min_gru=4x512,3x1024"]`` -> ``{"min_gru": [(4, 512), (3, 1024)]}``."""
    sizes = {cell: [shape] for cell, shape in SIZES.items()}
    for item in items:
        cell, _, shapes = item.partition("=")
        sizes[cell] = [tuple(int(n) for n in shape.split("x")) for shape in shapes.split(",")]
    return sizes


def wait_while(pause_file: Path | None) -> None:
    announced = False
    while pause_file is not None and pause_file.exists():
        if not announced:
            print(f"paused while {pause_file} exists", flush=True)
            announced = True
        time.sleep(5)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--minutes", default="15", help="a budget, or several comma-separated")
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--size", action="append", default=[], metavar="CELL=LxH")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-cells")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "cells_quality.json")
    p.add_argument("--pause-file", type=Path, default=None)
    args = p.parse_args(argv)
    if not args.corpus.is_file():
        p.error(f"{args.corpus}: not found (tiny-shakespeare lives in ../shared/data)")
    sizes = parse_sizes(args.size)
    budgets = [float(m) for m in args.minutes.split(",")]
    rows: list[dict] = []
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.processor()
              or platform.machine(), "cpus": os.cpu_count(), "corpus": str(args.corpus),
              "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE",
                                                          "OPENBLAS_L2_SIZE") if k in os.environ},
              "rows": rows}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for minutes in budgets:
        for cell in args.cells.split(","):
            for layers, hidden in sizes[cell]:
                wait_while(args.pause_file)
                out = args.out / f"{cell}-{layers}x{hidden}-{minutes:g}m"
                rows.append(run_cell(cell, layers, hidden, minutes, out, args.corpus))
                args.json.write_text(json.dumps(result, indent=1) + "\n")
    print("\n| cell | layers x hidden | minutes | steps | best val loss (nats/char) | at step |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        failed = "" if r["returncode"] == 0 else " (the run failed: see its output)"
        loss = "-" if r["best_val_loss"] is None else f"{r['best_val_loss']:.4f}"
        print(
            f"| {r['cell']} | {r['layers']} x {r['hidden']} | {r['minutes']:g} | {r['steps']} | "
            f"{loss}{failed} | {r['best_step']} |"
        )
    return result


if __name__ == "__main__":
    main()
