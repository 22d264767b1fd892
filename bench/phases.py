"""Where the time of one rnnkit training step goes, phase by phase, against what each phase
would take at the machine's measured rates.

Usage::

    .venv/bin/python bench/phases.py                       # LSTM (B, T, I, H) = (32, 100, 65, 128)
    .venv/bin/python bench/phases.py --kind gru --batch 64 --seq 100 --input 128 --hidden 256
    .venv/bin/python bench/phases.py --json phases.json   # every figure as JSON too

One layer, one direction, float32, no lengths, the fast path as the layer runs it (the same
drivers, the same BLAS thread region, the same row split); ``bench/speed.py`` measures the
whole step against PyTorch. Phases (median seconds over ``--reps`` timings each):

* **input projection**: ``Gx = X W_ih^T`` with both biases folded in (the drivers' input side;
  the LSTM's compiled loop adds the biases itself, and where T*B >= I + H multiplies
  ``[x_t, h_prev]`` by ``[W_ih, W_hh]^T`` in one product a step: no projection apart, 0 here);
* **forward loop**: the whole time loop, split into the **step products** (the same T
  products ``h W_hh^T``, timed alone in a compiled loop over the same row ranges) and the
  **gate arithmetic** (the rest of the loop: non-linearities, state update);
* **backward loop**: likewise, the step products ``dG W_hh`` and the gate gradients;
* **weight and input gradients**: ``dX = dG W_ih``, ``dW_ih += dG^T X``,
  ``dW_hh += dG^T H_prev`` and the bias sums;
* **everything else**: the layer's whole step (forward + backward, as ``bench/speed.py``
  times it) less the phases above: input checks, masks, copies, output assembly.

Each matrix-product phase is set beside the time its FLOPs would take at the machine's
measured float32 matmul rate (a ``--rate-size`` cubed product, as ``bench/speed.py``); each
gate-arithmetic phase beside the time of one pass over the arrays it reads and writes at
the measured memory bandwidth (a large array copy). The ratio ``measured / ideal`` says how
far a phase is from what the machine allows. Like every benchmark here the figures depend
on the machine and its load; nothing is asserted about them in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import matmul_rate, set_threads  # noqa: E402 - the sibling script, which sets up src/

from rnnkit import nn  # noqa: E402
from rnnkit.nn import blas, fast, registry  # noqa: E402
from rnnkit.nn.fast import base  # noqa: E402

KINDS = {  # kind -> (layer, options, the driver's input side: gate scale, Gx buffer, keep b_hn)
    "lstm": (nn.LSTM, {}, (base._LSTM_SCALE, "acts", False)),
    "gru": (nn.GRU, {}, (base._GRU_SCALE, "Gx", True)),
    "gru_cho": (nn.GRU, {"reset_after": False}, (base._GRU_SCALE, "Gx", False)),
    "rnn": (nn.RNN, {}, (None, "Gx", False)),
}
PHASES = ("input projection", "forward step products", "forward gate arithmetic",
          "backward step products", "backward gate arithmetic", "weight and input gradients",
          "everything else")  # fmt: skip


def _product_rows(addr, ilp64, A, W, P, J, out, T, b0, b1):
    """T step products ``out = A W`` over rows [b0, b1), as the compiled loops call them (by
    ``P``, W packed once, where the loops pack it; by MKL's generated kernels ``J`` where
    they use them)."""
    for _ in range(T):
        blas.gemm_j(addr, ilp64, A[b0:b1], W, P, J, out[b0:b1], 0.0)


if fast.AVAILABLE:
    _product_rows = fast.numba.njit(nogil=True)(_product_rows)


def median_seconds(fn, reps: int, before=None) -> float:
    """Median wall time of ``fn()`` over ``reps`` runs after one warm-up (``before()`` untimed
    ahead of each)."""
    times = []
    for k in range(reps + 1):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        if k:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def memory_bandwidth(mib: int = 256, reps: int = 5) -> float:
    """Measured bytes per second of a large float32 copy (read + write counted)."""
    src = np.ones(mib * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    seconds = median_seconds(lambda: np.copyto(dst, src), reps)
    return 2 * src.nbytes / seconds


def step_products(T: int, A: np.ndarray, W: np.ndarray, reps: int) -> float:
    """Seconds of T products ``A W`` the way a compiled time loop runs them (rows split over
    the fast path's threads), or one ``np.matmul`` a step where the BLAS is not callable
    from compiled code (the per-step drivers)."""
    be = blas.backend()
    out = np.empty((A.shape[0], W.shape[1]), dtype=A.dtype)
    if not (be.compiled and T > 1):
        def run():
            for _ in range(T):
                np.matmul(A, W, out=out)
    else:
        B = A.shape[0]
        # the threads, the packed weight and the generated kernels as the drivers make them
        n, ((P, J),) = base._row_split(be, B, T * B * A.shape[1] * W.shape[1], (W, A, out, 0.0))
        args = (be.address(A.dtype), be.ilp64, A, W, P, J, out, T)

        def run():
            fast.threads._run_rows(_product_rows, args, B, n)
    return median_seconds(run, reps)


def profile_case(kind: str, batch: int, seq: int, inp: int, hidden: int, reps: int = 7,
                 rate_gflops: float | None = None, bandwidth: float | None = None) -> dict:
    """Seconds of each phase (``PHASES``) of one training step of a one-layer ``kind``, and
    the ideal seconds of each at ``rate_gflops`` (matmuls) and ``bandwidth`` (bytes/s, gate
    arithmetic) where given."""
    if not fast.AVAILABLE:
        raise RuntimeError("the profile times the compiled path: it needs numba "
                           "(pip install 'rnnkit[fast]')")  # fmt: skip
    cls, options, (scale, gx_name, keep_b_hn) = KINDS[kind]
    T, B, I, H = seq, batch, inp, hidden
    nn.manual_seed(0)
    layer = cls(I, H, **options)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    grad = rng.standard_normal((T, B, H), dtype=np.float32)
    weights = layer._weights("_l0")
    W_ih, W_hh, b_ih, b_hh = (p.data for p in weights)
    GH, dt, itemsize = W_hh.shape[0], np.float32, 4
    forward, backward = registry.drivers(type(layer.cell))
    state0 = (np.zeros((B, H), dt),) * layer.cell.state_arity
    dstate = tuple(np.zeros((B, H), dt) for _ in state0)
    ws = registry.Workspace()
    seconds = {}

    def whole_step():
        layer(x)
        layer.backward(grad)

    total = median_seconds(whole_step, reps, before=layer.zero_grad)
    with registry.threads(layer._largest_matmul(T * B), T):  # the layer call's BLAS region
        run = forward(x, state0, W_ih, W_hh, b_ih, b_hh, None, ws)
        # The LSTM's loop multiplies [x_t, h_prev] by [W_ih, W_hh]^T in one product a step
        # where T*B >= I + H (run.XH): no input projection apart, and the step products
        # are those; else Gx first (with the biases where the loop does not add them).
        fused = run.XH is not None
        seconds["input projection"] = 0.0 if fused else median_seconds(
            lambda: base._input_side(x, state0[0], W_ih, W_hh, b_ih, b_hh, None, ws, scale,
                                     gx_name, keep_b_hn, fold_bias=kind == "lstm"), reps)
        loop = median_seconds(lambda: forward(x, state0, W_ih, W_hh, b_ih, b_hh, None, ws), reps)
        loop -= seconds["input projection"]
        K = I + H if fused else H
        h = rng.standard_normal((B, K), dtype=dt)
        W_step = np.concatenate((W_ih, W_hh), axis=1).T.copy() if fused else W_hh.T.copy()
        # (the GRU with the reset before makes this product in two: h W_rz^T, then (r h) W_n^T)
        products = step_products(T, h, W_step, reps)
        seconds["forward step products"] = products
        seconds["forward gate arithmetic"] = loop - products
        run = forward(x, state0, W_ih, W_hh, b_ih, b_hh, None, ws)
        result = backward(run, grad, dstate, W_hh)
        loop = median_seconds(lambda: backward(run, grad, dstate, W_hh), reps)
        dG = rng.standard_normal((B, GH), dtype=dt)
        products = step_products(T, dG, W_hh, reps)
        seconds["backward step products"] = products
        seconds["backward gate arithmetic"] = loop - products
        dGx, dGh_n, n_input, _ = result
        seconds["weight and input gradients"] = median_seconds(
            lambda: layer._weight_gradients(run, dGx, dGh_n, n_input, weights), reps)
    seconds["everything else"] = total - sum(seconds.values())

    flops = {  # matmul FLOPs of each product phase
        "input projection": 0 if fused else 2 * T * B * GH * I,
        "forward step products": 2 * T * B * K * GH,
        "backward step products": 2 * T * B * GH * H,
        "weight and input gradients": 2 * T * B * GH * (2 * I + H),
    }
    # one pass over what the gate arithmetic reads and writes: the gates (read and written
    # forward; read, and their gradients written, backward), the states and the cell's one
    # extra array per step (LSTM tanh(c), GRU hn or r h), and dY backward
    extra = 0 if kind == "rnn" else 1
    per_row = {"forward gate arithmetic": 2 * GH + (layer.cell.state_arity + extra) * H,
               "backward gate arithmetic": 2 * GH + (layer.cell.state_arity + extra + 1) * H}
    ideal = {}
    if rate_gflops:
        ideal.update({p: f / (rate_gflops * 1e9) for p, f in flops.items()})
    if bandwidth:
        ideal.update({p: itemsize * T * B * n / bandwidth for p, n in per_row.items()})
    return {"kind": kind, "batch": B, "seq": T, "input": I, "hidden": H, "step": total,
            "seconds": seconds, "ideal": ideal, "flops": flops, "rate_gflops": rate_gflops,
            "bandwidth": bandwidth, "blas": blas.backend().name, "fast_path": fast.ENABLED,
            "fused_input_product": fused}


def format_profile(result: dict) -> str:
    """The phases as a table: measured ms, share of the step, ideal ms and measured / ideal."""
    r = result
    lines = [f"{r['kind']} (B, T, I, H) = ({r['batch']}, {r['seq']}, {r['input']}, "
             f"{r['hidden']}), float32, BLAS {r['blas']}, step {1e3 * r['step']:.3f} ms",
             f"matmul rate {r['rate_gflops'] or 0:.1f} GFLOP/s, memory bandwidth "
             f"{(r['bandwidth'] or 0) / 1e9:.1f} GB/s",
             f"{'phase':<28}{'ms':>10}{'share':>8}{'ideal ms':>10}{'x ideal':>9}  ideal at"]
    for phase in PHASES:
        s = r["seconds"][phase]
        ideal = r["ideal"].get(phase) or None  # (0: a phase the loop does not have apart)
        basis = "" if ideal is None else ("matmul rate" if phase in r["flops"] else "bandwidth")
        cells = ("" if ideal is None else f"{1e3 * ideal:10.3f}{s / ideal:9.1f}") or " " * 19
        line = f"{phase:<28}{1e3 * s:10.3f}{100 * s / r['step']:7.1f}%{cells}  {basis}"
        lines.append(line.rstrip())
    total = sum(r["seconds"].values())
    lines.append(f"{'sum of the phases':<28}{1e3 * total:10.3f}{100 * total / r['step']:7.1f}%")
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", default="lstm", choices=list(KINDS))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=100)
    p.add_argument("--input", type=int, default=65)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--reps", type=int, default=7, help="timings per phase (median)")
    p.add_argument("--rate-size", type=int, default=2048,
                   help="side of the square product that measures the matmul rate")
    p.add_argument("--bandwidth-mib", type=int, default=256,
                   help="size of the array copy that measures the memory bandwidth")
    p.add_argument("--json", help="also write every figure to this file")
    args = p.parse_args(argv)
    limiter = set_threads(args.threads)  # noqa: F841 - kept alive for the run
    rate = matmul_rate("rnnkit", size=args.rate_size, reps=max(3, args.reps // 2))
    bandwidth = memory_bandwidth(args.bandwidth_mib)
    result = profile_case(args.kind, args.batch, args.seq, args.input, args.hidden, args.reps,
                          rate, bandwidth)  # fmt: skip
    result["threads"] = args.threads
    print(format_profile(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
