"""Long-range memory benchmark: the longest adding problem each cell solves under a fixed budget.

For every cell (RNN, LSTM, LSTM with forget bias 1, GRU) and every length
(ascending), a fresh model is trained on the adding problem for at most
``--max-steps`` optimizer steps (Adam, lr 0.01, batch 32, global-norm
clipping at 1, hidden size 32); it *solves* the length when its mean squared
error on 512 held-out sequences drops below 0.01 (a memoryless model scores
1/6), for most of the seeds (default three).
A cell is not tried beyond its first failed length. See
``rnnkit.analysis.long_range`` and docs/analysis.md.

Takes minutes (most of it the long LSTM/GRU runs); ``--jobs 4`` runs the
cells in parallel processes.

Run::

    python bench/long_range.py [--lengths 10 20 50 100 200 400 800] [--seeds 0 1 2] \
        [--json out.json]
"""

from __future__ import annotations

import os

# The matrices here are tiny ((32, 32) by (32, 128)): a multi-threaded BLAS only adds overhead.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from rnnkit.analysis import AddingSettings, LongRangeResult, long_range_benchmark  # noqa: E402


def _print_run(run) -> None:
    verdict = f"solved at step {run.steps}" if run.solved else f"not solved in {run.steps} steps"
    print(f"  {run.cell:<4} T={run.length:<5} seed {run.seed}  {verdict:<26} "
          f"held-out MSE {run.mse:.4f}  "
          f"({run.seconds:.0f} s)", flush=True)  # fmt: skip


def _one_cell(cell: str, lengths: list[int], settings: AddingSettings, seeds: list[int]):
    return long_range_benchmark([cell], lengths, settings, seeds=seeds, on_run=_print_run).runs


def main(argv: list[str] | None = None) -> int:
    d = AddingSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "lstm-fb1", "gru"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[10, 20, 50, 100, 200, 400, 800])
    parser.add_argument(
        "--max-steps", type=int, default=d.max_steps, help=f"budget ({d.max_steps})"
    )
    parser.add_argument("--hidden-size", type=int, default=d.hidden_size)
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        help="a cell solves a length when most seeds do (0 1 2)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="cells trained in parallel processes")
    parser.add_argument("--json", type=Path, help="also write every run to this JSON file")
    args = parser.parse_args(argv)

    settings = replace(d, max_steps=args.max_steps, hidden_size=args.hidden_size)
    print(f"adding problem, seeds {args.seeds}, {settings}", flush=True)
    start = time.perf_counter()
    lengths = sorted(args.lengths)
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(_one_cell, c, lengths, settings, args.seeds) for c in args.cells]
            runs = [r for f in futures for r in f.result()]
    else:
        runs = [r for c in args.cells for r in _one_cell(c, lengths, settings, args.seeds)]
    result = LongRangeResult(settings, list(args.cells), lengths, list(args.seeds), runs)
    print(f"\n{result.table()}\n\n(total {time.perf_counter() - start:.0f} s)")
    if args.json:
        args.json.write_text(result.dumps() + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
