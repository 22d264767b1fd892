"""Training-step speed, rnnkit vs PyTorch, in CPU time on one thread.

``bench/speed.py`` is the full benchmark (wall time, the user's thread count,
memory, generation). Wall time is only meaningful on an idle machine; this
script measures what survives a busy one: the CPU time (``time.process_time``)
of one training step (forward + backward with parameter and input gradients)
with one BLAS / PyTorch thread, median of several repetitions after warm-up,
for the shapes of issue 5. Prints a table and writes JSON.

Usage::

    .venv/bin/python bench/speed_cpu_time.py [--json bench/results/speed_cpu_time.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from rnnkit.nn import GRU, LSTM, RNN, fast

SHAPES = [(1, 25, 65, 100), (32, 100, 65, 128), (64, 100, 128, 256), (64, 100, 512, 512), (128, 50, 1024, 1024)]
CELLS = [("lstm", LSTM, torch.nn.LSTM), ("gru", GRU, torch.nn.GRU), ("rnn", RNN, torch.nn.RNN)]


def cpu_median(step, reps: int) -> float:
    # Warm-up: JIT compilation or cache loading, allocator, oneDNN primitives; one call
    # was not enough for the first case measured (0.81 ms instead of 0.51 ms).
    start, calls = time.process_time(), 0
    while calls < 3 or time.process_time() - start < 0.3:
        step()
        calls += 1
    times = []
    for _ in range(reps):
        t = time.process_time()
        step()
        times.append(time.process_time() - t)
    return float(np.median(times))


def measure(kind: str, ours_cls, torch_cls, shape, reps: int) -> dict:
    B, T, I, H = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    g = rng.standard_normal((T, B, H)).astype(np.float32)
    ours = ours_cls(I, H)

    def ours_step():
        ours.zero_grad()
        ours(x)
        ours.backward(g)

    theirs = torch_cls(I, H)
    tx, tg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

    def torch_step():
        theirs.zero_grad()
        tx.grad = None
        out, _ = theirs(tx)
        out.backward(tg)

    a, b = cpu_median(ours_step, reps), cpu_median(torch_step, reps)
    return {"kind": kind, "batch": B, "seq": T, "input": I, "hidden": H,
            "rnnkit_ms": a * 1e3, "torch_ms": b * 1e3, "ratio": b / a}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench/results/speed_cpu_time.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with threadpool_limits(1):
        for shape in SHAPES:
            reps = 21 if shape[3] <= 128 else (5 if shape[3] <= 512 else 3)
            for kind, ours_cls, torch_cls in CELLS:
                row = measure(kind, ours_cls, torch_cls, shape, reps)
                rows.append(row)
                print(f"{kind:5s} {str(shape):22s} rnnkit {row['rnnkit_ms']:9.2f} ms  "
                      f"torch {row['torch_ms']:9.2f} ms  ratio {row['ratio']:5.2f}", flush=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpu": platform.processor() or platform.machine(), "numpy": np.__version__,
               "torch": torch.__version__, "fast_path": fast.ENABLED, "threads": 1}
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
