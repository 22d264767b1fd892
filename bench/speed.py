"""Speed and memory of rnnkit against PyTorch on the CPU, each library in its own process.

Usage::

    make bench                                   # = .venv/bin/python bench/speed.py
    .venv/bin/python bench/speed.py --threads 2 --pairs 3 --json bench/results/speed.json
    .venv/bin/python bench/speed.py --quick      # smoke run: two smallest shapes, short timings
    .venv/bin/python bench/speed.py --only lstm,gru   # names: lstm, gru, rnn, lm, generate
    .venv/bin/python bench/speed.py --only lstm,gru,min_gru,min_lstm,ln_lstm  # 2024 cells
    .venv/bin/python bench/speed.py --blas mkl   # rnnkit with RNNKIT_BLAS=mkl (the mkl extra)
    .venv/bin/python bench/phases.py --kind lstm # where rnnkit's step spends its time, by phase

Needs NumPy, PyTorch (CPU) and threadpoolctl. Prints a table and writes a JSON
file with every figure, every process's samples, the machine and the targets
of issues 5 and 12.

**Why one library per process.** A user runs either rnnkit or PyTorch, not
both in one interpreter. Timed side by side in one process, the two libraries'
thread pools (NumPy's OpenBLAS threads and PyTorch's OpenMP threads, which keep
spinning for a while after their work ends) compete for the same cores: on a
2-core machine PyTorch's LSTM step at (32, 100, 65, 128) took 22.8 ms timed
beside rnnkit and 10.8 ms in a process of its own (issue 12), and the earlier
version of this script reported LSTM ratios up to 2x more favourable to rnnkit
than what a user gets. So every figure here comes from a fresh interpreter that
imports one library only: rnnkit's worker never imports torch, PyTorch's never
imports rnnkit. For each case the processes run back to back, alternating
``rnnkit torch rnnkit torch ...`` (``--pairs`` pairs), so that a drift in the
machine's speed hits both libraries alike.

What is measured (float32 everywhere, the same thread count for both libraries:
``torch.set_num_threads(n)`` and ``threadpoolctl.threadpool_limits(n)``, which
caps NumPy's BLAS and the OpenMP runtime alike; by default ``n`` is every core,
which is also what either library uses when a user sets nothing):

* **Training step**: forward plus backward through the whole sequence of a
  one-layer LSTM / GRU / vanilla RNN (tanh), layout (T, B, I), with the
  gradients of every parameter *and of the input* (rnnkit's ``backward``
  always returns the input gradient, so PyTorch's input has
  ``requires_grad=True``). The upstream gradient is a fixed random array for
  the output. Gradients are zeroed between steps, outside the timed region
  (PyTorch: in place, like rnnkit's). Plus a language-model step:
  Embedding(65, 64) -> LSTM(64, 512, 2 layers) -> Linear(512, 65) -> softmax
  cross-entropy (mean), batch 64, sequence 100, forward + backward.
* **Generation**: characters per second when sampling 2,000 characters one at
  a time from Embedding(65, 64) -> LSTM(64, 512, 2 layers) -> Linear(512, 65):
  each step embeds the last character, runs one LSTM step carrying the state,
  applies the linear layer and the softmax and draws the next character from
  a seeded generator (rnnkit: ``model.eval()``, a NumPy ``Generator`` and an
  inverse-CDF draw; PyTorch: ``eval()``, ``torch.no_grad()`` and
  ``torch.multinomial`` with a seeded ``torch.Generator``). A second case
  draws ``--num-samples 64`` texts side by side (one batched ``(1, 64)`` step
  per character, as ``rnnkit textgen sample --num-samples 64`` does) and
  counts the characters of all of them.
* **Timing inside one process**: ``time.perf_counter``. Warm-up: at least
  ``--warmup`` steps and at least ``--warmup-seconds`` (1 s). Then ``--reps``
  repetitions, each timing enough consecutive steps to last about 50 ms (one
  step for the large shapes) and keeping the mean per step; the process
  reports the median of its repetitions. Where one process would take longer
  than ``--case-budget / (2 * pairs)`` seconds the repetitions are lowered
  (never below 3).
* **The figure** for a library and case is the median over its processes of
  their medians; ``spread`` is the largest over the smallest process median,
  and every repetition of every process is kept in the JSON. ratio = PyTorch's
  figure / rnnkit's (above 1: rnnkit faster).
* **FLOPs and the matmul rate**: the machine's float32 rate is the median time
  of a 2048 x 2048 @ 2048 x 2048 product (2 * 2048**3 FLOP) with the same
  threads and the same BLAS that rnnkit's fast path calls in its time loops
  (``--blas``: NumPy's ``np.matmul`` for ``openblas`` and ``numpy``, MKL's
  ``cblas_sgemm`` for ``mkl``; every rnnkit row records the BLAS it used), in
  rnnkit's kind of process (no torch); PyTorch's ``torch.mm``
  rate is measured in a PyTorch process and recorded too. A training step's
  FLOP count is its matmul FLOPs only (element-wise gate math is not
  counted). For one recurrent layer with G gate blocks (LSTM 4, GRU 3, RNN 1)::

      forward   2 T B G H (I + H)      input projection + recurrent matmul
      backward  4 T B G H (I + H)      dX, dW_ih, dh_prev, dW_hh
      total     6 T B G H (I + H)

  and for the language model the same per LSTM layer (I = 64, then 512) plus
  ``6 T B H V`` for the output layer (forward, dX, dW). Each step is then
  reported as ``FLOP / time / matmul rate``, the fraction of the machine's rate.
* **Peak memory** of one training step, in one process per library (all cases
  in it), with ``MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0
  MALLOC_ARENA_MAX=1``: every block above 64 KiB is its own ``mmap`` and goes
  back to the system when freed, so the resident set size (RSS) follows the
  live arrays. For each case: run one step on a throwaway instance (this takes
  one-time costs out of the figure: JIT compilation, oneDNN primitive caches,
  thread pools); build the measured model, its gradient buffers and the
  inputs; read the RSS (the baseline); run one warm-up step; reset the
  kernel's peak RSS (``echo 5 > /proc/self/clear_refs``; where that is refused
  a thread samples ``/proc/self/statm`` every 0.5 ms instead, which can miss
  short peaks); run one step; peak = ``VmHWM`` - baseline. Measured from the
  baseline *before* the warm-up step, the figure is the steady-state peak of
  a training loop: it includes whatever a step keeps alive until the next
  one (rnnkit's layers keep their last forward's cache; PyTorch frees its
  graph). Blocks under 64 KiB come from the heap, whose freed space is reused
  without showing in the RSS, so each library's allocations are also traced
  byte by byte: rnnkit's with ``tracemalloc`` over the same two steps (it sees
  NumPy's arrays, not memory that compiled code allocates itself), PyTorch's
  by replaying the allocation events of ``torch.profiler`` (``profile_memory``)
  over one more step (it sees tensors, not what oneDNN allocates itself). The
  figure compared is, for each library, the larger of RSS and trace. Small
  shapes (peaks under about 1 MiB) are still approximate.

Targets (issue 12): speed ratio ``pytorch_time / rnnkit_time`` >= 1.0 at every
row (the language-model step included) and >= 1.3 at the two smallest shapes;
>= 90 % of the matmul rate for every cell at the largest shape; generation
>= 2x PyTorch's chars/s; rnnkit's peak step memory <= PyTorch's. Each row is
marked PASS or MISS. This is a benchmark, not a test: the figures depend on
the machine and on its load (anything else running makes every figure noisy;
the load average at the start and end is recorded), so nothing here is
asserted in the tests.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

# (batch, seq_len, input, hidden), smallest first
SHAPES = [(1, 25, 65, 100), (32, 100, 65, 128), (64, 100, 128, 256),
          (64, 100, 512, 512), (128, 50, 1024, 1024)]
CELLS = {"lstm": 4, "gru": 3, "rnn": 1}  # gate blocks G per cell type
#: The cells of 2024 (issue "Recurrent cells of 2024"), measured only when named in --only:
#: their gate blocks, and whether a block reads the hidden state (the min cells' gates read
#: the input alone, so their only products are over all T*B rows at once). PyTorch has no
#: layer for them: the torch column of their rows is torch.nn.LSTM at the same shape.
NEW_CELLS = {"min_gru": (2, False), "min_lstm": (3, False), "ln_lstm": (4, True)}
#: rnnkit's and PyTorch's class of each cell kind (PyTorch's LSTM where it has none)
RNNKIT_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "min_gru": "MinGRU",
                "min_lstm": "MinLSTM", "ln_lstm": "LayerNormLSTM"}
TORCH_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
LM = {"batch": 64, "seq": 100, "vocab": 65, "hidden": 512, "embed": 64, "layers": 2}
LM_QUICK = {"batch": 8, "seq": 20, "vocab": 65, "hidden": 64, "embed": 16, "layers": 2}
GEN = {"chars": 2000, "vocab": 65, "hidden": 512, "embed": 64, "layers": 2}
NAMES = ("lstm", "gru", "rnn", "lm", "generate")  # the default run
EXTRA_NAMES = tuple(NEW_CELLS)  # measured when named
LIBS = ("rnnkit", "torch")
MIN_REP_SECONDS = 0.05  # a repetition times enough steps to last about this long
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0",
              "MALLOC_ARENA_MAX": "1"}
#: The targets of issue "The LSTM at oneDNN's speed" (torch_time / rnnkit_time >= speed ratio;
#: GRU and RNN >= 1.3 at the two smallest shapes, the 2-layer LM step >= 1.1; every cell at the
#: largest shape >= 85 % of the matmul rate; generation >= 10x PyTorch's step loop; peak
#: training-step memory <= PyTorch's)
TARGETS = {"speed_ratio": 1.0, "speed_ratio_small": 1.3, "speed_ratio_lm": 1.1,
           "matmul_fraction_largest": 0.85, "generation_ratio": 10.0, "memory_ratio": 1.0}
MiB = 2 ** 20
NOISY = 1.5  # a figure whose process medians vary by more than this factor is marked "~"


# ---------------------------------------------------------------------------
# Threads and machine
# ---------------------------------------------------------------------------


def set_threads(n: int, torch: bool = False):
    """Use ``n`` threads in NumPy's BLAS, OpenMP and numba (and PyTorch when ``torch``).

    Keep the returned limiter alive. rnnkit's worker passes ``torch=False`` and so
    never imports torch.
    """
    from threadpoolctl import threadpool_limits

    if not torch:  # load the BLAS of rnnkit's time loops first, so that the limit covers it
        try:
            importlib.import_module("rnnkit.nn.blas").backend()
        except ImportError:
            pass
    limiter = threadpool_limits(limits=n)
    if torch:
        import torch as _torch

        _torch.set_num_threads(n)
    else:
        try:  # parallel numba kernels (if rnnkit's fast path uses any) get the same count
            import numba

            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        except ImportError:
            pass
    return limiter


def fast_path_info() -> dict:
    """Whether rnnkit's compiled path is present and active (works before and after it exists)."""
    try:
        fast = importlib.import_module("rnnkit.nn.fast")
    except ImportError as exc:
        return {"module": False, "available": False, "active": False, "reason": str(exc)}
    flags = {k: v for k, v in vars(fast).items()
             if k.isupper() and isinstance(v, (bool, int, float, str))}
    available = bool(getattr(fast, "AVAILABLE", False))
    return {"module": True, "available": available,
            "active": available and bool(getattr(fast, "ENABLED", True)), **flags}


def machine_info(threads: int) -> dict:
    """CPU model, cores, Python, NumPy and the load; imports neither library under test."""
    cpu = platform.processor() or "unknown"
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        cpu = m.group(1).strip() if m else cpu
        m = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        flags = m.group(1) if m else ""
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "simd": [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                 if f in flags.split()],
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        # OpenBLAS reads these at load time; a forced older core type (e.g. Haswell's AVX2
        # kernels on an AVX-512 machine) can halve its matmul rate (docs/performance.md)
        "openblas_env": {k: os.environ.get(k) for k in OPENBLAS_ENV if k in os.environ},
    }
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        pass
    return info


#: Environment variables that change which kernels OpenBLAS runs (read when it loads).
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def openblas_kernel(info: dict) -> str | None:
    """The OpenBLAS kernel family ("SkylakeX", "Haswell", ...) in a process's library_info."""
    for p in info.get("threadpools", []):
        if p.get("internal_api") == "openblas":
            return p.get("architecture")
    return None


def library_info(lib: str) -> dict:
    """Versions and thread pools as seen from inside one library's process."""
    from threadpoolctl import threadpool_info

    info = {"threadpools": [{k: p.get(k) for k in ("user_api", "internal_api", "version",
                                                   "num_threads", "architecture", "filepath")}
                            for p in threadpool_info()]}
    if lib == "rnnkit":
        info["rnnkit_fast_path"] = fast_path_info()
        info["rnnkit_blas"] = rnnkit_blas()
        try:
            import numba

            info["numba"] = numba.__version__
            info["numba_threads"] = numba.get_num_threads()
        except ImportError:
            info["numba"] = None
    else:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    return info


def rnnkit_blas() -> str | None:
    """The BLAS rnnkit's fast path calls in its time loops (``RNNKIT_BLAS``), or None."""
    try:
        return importlib.import_module("rnnkit.nn.blas").backend().name
    except ImportError:
        return None


def matmul_rate(lib: str, size: int = 2048, reps: int = 5) -> float:
    """Measured float32 GFLOP/s of a size x size @ size x size product: torch.mm, or for
    rnnkit the BLAS of its time loops (MKL's sgemm; else NumPy's matmul, its OpenBLAS)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    if lib == "rnnkit" and rnnkit_blas() == "mkl":
        blas = importlib.import_module("rnnkit.nn.blas")
        be = blas.backend()

        def product():
            blas.gemm(be.address(np.float32), be.ilp64, a, b, out, 1.0, 0.0)
    elif lib == "rnnkit":
        def product():
            np.matmul(a, b, out=out)
    else:
        import torch

        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)

        def product():
            torch.mm(ta, tb, out=tout)
    t0 = time.perf_counter()  # warm-up: the first products of a fresh process run slow
    while time.perf_counter() - t0 < 1.0:  # (page faults, thread start-up); seen 111 vs 190
        product()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        product()
        times.append(time.perf_counter() - t0)
    return 2.0 * size ** 3 / statistics.median(times) / 1e9


# ---------------------------------------------------------------------------
# FLOP counts
# ---------------------------------------------------------------------------


def train_flops(kind: str, batch: int, seq: int, inp: int, hidden: int) -> float:
    """Matmul FLOPs of forward + backward of one recurrent layer: 6 T B G H (I + H), or
    6 T B G H I for a cell whose gates read the input alone (the min cells)."""
    blocks, recurrent = NEW_CELLS.get(kind, (CELLS.get(kind), True))
    return 6.0 * seq * batch * blocks * hidden * (inp + (hidden if recurrent else 0))


def lm_flops(batch: int, seq: int, vocab: int, hidden: int, embed: int, layers: int) -> float:
    """Matmul FLOPs of the language-model step: each LSTM layer plus the output layer."""
    total = 0.0
    for layer in range(layers):
        total += train_flops("lstm", batch, seq, embed if layer == 0 else hidden, hidden)
    return total + 6.0 * seq * batch * hidden * vocab


def case_flops(case: dict) -> float:
    if case["kind"] == "lm":
        return lm_flops(case["batch"], case["seq"], case["vocab"], case["hidden"],
                        case["embed"], case["layers"])
    return train_flops(case["kind"], case["batch"], case["seq"], case["input"], case["hidden"])


# ---------------------------------------------------------------------------
# Training steps: build(lib, case) -> (step, zero); both take no argument.
# The data (inputs, upstream gradient, targets) is identical for both libraries.
# ---------------------------------------------------------------------------


def _case_data(case: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    T, B = case["seq"], case["batch"]
    if case["kind"] == "lm":
        ids = rng.integers(0, case["vocab"], size=(T, B), dtype=np.int64)
        targets = rng.integers(0, case["vocab"], size=(T, B), dtype=np.int64)
        return {"ids": ids, "targets": targets}
    x = rng.standard_normal((T, B, case["input"]), dtype=np.float32)
    grad = rng.standard_normal((T, B, case["hidden"]), dtype=np.float32)
    return {"x": x, "grad": grad}


def _rnnkit_train(case: dict, data: dict):
    from rnnkit import nn

    nn.manual_seed(0)
    if case["kind"] == "lm":
        emb = nn.Embedding(case["vocab"], case["embed"])
        lstm = nn.LSTM(case["embed"], case["hidden"], num_layers=case["layers"])
        head = nn.Linear(case["hidden"], case["vocab"])
        loss_fn = nn.CrossEntropyLoss()
        ids, targets = data["ids"], data["targets"]
        modules = (emb, lstm, head)

        def step():
            out, _ = lstm(emb(ids))
            loss_fn(head(out), targets)
            grad_x, _ = lstm.backward(head.backward(loss_fn.backward()))
            emb.backward(grad_x)

        def zero():
            for m in modules:
                m.zero_grad()

        return step, zero

    cls = getattr(nn, RNNKIT_CLASS[case["kind"]])
    model = cls(case["input"], case["hidden"])
    x, grad = data["x"], data["grad"]

    def step():
        model(x)
        model.backward(grad)

    return step, model.zero_grad


def _torch_train(case: dict, data: dict):
    import torch

    torch.manual_seed(0)
    if case["kind"] == "lm":
        emb = torch.nn.Embedding(case["vocab"], case["embed"])
        lstm = torch.nn.LSTM(case["embed"], case["hidden"], num_layers=case["layers"])
        head = torch.nn.Linear(case["hidden"], case["vocab"])
        ids = torch.from_numpy(data["ids"])
        targets = torch.from_numpy(data["targets"]).reshape(-1)
        params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
        vocab = case["vocab"]

        def step():
            out, _ = lstm(emb(ids))
            loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, vocab), targets)
            loss.backward()
    else:
        cls = getattr(torch.nn, TORCH_CLASS.get(case["kind"], "LSTM"))  # see NEW_CELLS
        model = cls(case["input"], case["hidden"])
        x = torch.from_numpy(data["x"]).requires_grad_(True)
        grad = torch.from_numpy(data["grad"])
        params = list(model.parameters())

        def step():
            out, _ = model(x)
            out.backward(grad)

    for p in params:  # gradient buffers exist before the first step, as in rnnkit
        p.grad = torch.zeros_like(p)

    def zero():
        for p in params:
            p.grad.zero_()
        if case["kind"] != "lm":
            x.grad = None  # the input gradient is a fresh array each step, as in rnnkit

    return step, zero


def build_train(lib: str, case: dict, data: dict | None = None):
    """``(step, zero)`` for one library and case; ``data`` defaults to ``_case_data(case)``."""
    data = _case_data(case) if data is None else data
    return (_rnnkit_train if lib == "rnnkit" else _torch_train)(case, data)


# ---------------------------------------------------------------------------
# Timing inside one process
# ---------------------------------------------------------------------------


def time_steps(step, zero, reps: int, warmup: int = 2, warmup_seconds: float = 1.0,
               min_rep_seconds: float = MIN_REP_SECONDS, budget: float = 30.0) -> dict:
    """Median seconds per step of ``step()`` (``zero()`` runs untimed before each step).

    Warm-up: at least ``warmup`` steps and ``warmup_seconds``. Each repetition runs
    ``inner`` steps (so it lasts about ``min_rep_seconds``) and keeps the mean; when
    the repetitions would take longer than ``budget`` seconds, ``reps`` is lowered
    (not below 3, nor below the ``reps`` asked when that is smaller).
    """
    n, t0, last = 0, time.perf_counter(), 0.0
    while n < warmup or time.perf_counter() - t0 < warmup_seconds:
        zero()
        t1 = time.perf_counter()
        step()
        last = time.perf_counter() - t1
        n += 1
    inner = max(1, int(min_rep_seconds / max(last, 1e-6)))
    reps_used = max(1, reps)
    if last * inner * reps_used > budget:
        reps_used = max(min(3, reps_used), int(budget / (last * inner)))
    samples = []
    for _ in range(reps_used):
        total = 0.0
        for _ in range(inner):
            zero()
            t1 = time.perf_counter()
            step()
            total += time.perf_counter() - t1
        samples.append(total / inner)
    return {"seconds": statistics.median(samples), "samples": samples, "inner": inner,
            "reps": reps_used, "warmup_steps": n}


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------



def _status_kib(field: str) -> int | None:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


class PeakRSS:
    """Peak resident set size (bytes) inside a ``with`` block, from the kernel's high-water mark."""

    def __enter__(self):
        self.method = "clear_refs+VmHWM"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS
        except OSError:
            self.method = "statm sampling (0.5 ms)"
            self._stop = threading.Event()
            self._samples = []
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm") as f:
            while not self._stop.is_set():
                f.seek(0)
                self._samples.append(int(f.read().split()[1]) * page)
                time.sleep(0.0005)

    def __exit__(self, *exc):
        if self.method.startswith("statm"):
            self._stop.set()
            self._thread.join()
            self.peak = max(self._samples, default=0)
        else:
            self.peak = (_status_kib("VmHWM") or 0) * 1024
        return False


def step_memory(lib: str, case: dict) -> dict:
    """Steady-state peak bytes of one training step above model + gradients + inputs.

    Reliable RSS figures need the allocator settings in MALLOC_ENV (see the
    module docstring); ``measure_memory`` runs this in such a subprocess.
    """
    step, zero = build_train(lib, case)  # a throwaway instance takes the one-time costs
    zero()  # (JIT compilation, oneDNN primitives, thread pools) out of the figure
    step()
    del step, zero
    gc.collect()
    step, zero = build_train(lib, case)
    zero()  # the gradient buffers resident before the base figure (NumPy's zeros are
    gc.collect()  # untouched pages until written: else the step's RSS would count them)
    base = (_status_kib("VmRSS") or 0) * 1024
    use_tm = lib == "rnnkit"
    if use_tm:
        tracemalloc.start()
        tm_overhead0 = tracemalloc.get_tracemalloc_memory()
    zero()
    step()  # warm-up: one-time buffers, and what a step keeps for the next one
    zero()
    if use_tm:
        tracemalloc.reset_peak()
    with PeakRSS() as peak:
        step()
    result = {"rss_peak_bytes": peak.peak - base if peak.peak else None, "rss_method": peak.method}
    if use_tm:
        result["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        if result["rss_peak_bytes"] is not None:  # tracemalloc's own bookkeeping is not ours
            result["rss_peak_bytes"] -= tracemalloc.get_tracemalloc_memory() - tm_overhead0
        tracemalloc.stop()
    else:  # a separate step: the profiler's own records would inflate the RSS figure
        zero()
        result["allocator_peak_bytes"] = torch_allocator_peak(step)
    del step, zero
    gc.collect()
    return result


def torch_allocator_peak(step) -> int | None:
    """Peak bytes live in PyTorch's CPU allocator during ``step()``, from the profiler.

    Replays the profiler's allocation events (``profile_memory=True``; sizes are
    negative for frees) in time order. Uses the profiler's event tree, a
    private API: returns None where it is missing.
    """
    try:
        import torch
        from torch._C._profiler import _EventType

        activities = [torch.profiler.ProfilerActivity.CPU]
        with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
            step()
        events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            node = stack.pop()
            if node.tag == _EventType.Allocation:
                events.append((node.start_time_ns, node.extra_fields.alloc_size))
            stack.extend(node.children)
    except Exception:  # noqa: BLE001 - any failure of a private API means "not measured"
        return None
    live = peak = 0
    for _, size in sorted(events, key=lambda e: e[0]):
        live += size
        peak = max(peak, live)
    return peak


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------



def generate_rnnkit(chars: int, vocab: int = 65, hidden: int = 512, embed: int = 64,
                    layers: int = 2, seed: int = 0, warmup: int = 20,
                    num_samples: int = 1) -> dict:  # fmt: skip
    """chars/s sampling ``chars`` characters one at a time (eval mode, state carried), for
    ``num_samples`` texts side by side: one ``(1, N)`` step per character, all N counted."""
    from rnnkit import nn

    nn.manual_seed(0)
    emb, lstm = nn.Embedding(vocab, embed), nn.LSTM(embed, hidden, layers)
    head = nn.Linear(hidden, vocab)
    for m in (emb, lstm, head):
        m.eval()
    rng = np.random.default_rng(seed)
    ids = np.zeros((1, num_samples), dtype=np.int64)

    def run(n):
        state, text = None, []
        ids[:] = 0
        for _ in range(n):
            out, state = lstm(emb(ids), state)
            z = head(out[0]).astype(np.float64)  # (N, V)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            cdf = np.cumsum(p, axis=1)
            u = rng.random(num_samples) * cdf[:, -1]
            c = np.minimum((cdf <= u[:, None]).sum(axis=1), vocab - 1)  # inverse CDF per row
            ids[0] = c
            text.append(int(c[0]))
        return text

    run(warmup)
    t0 = time.perf_counter()
    text = run(chars)
    seconds = time.perf_counter() - t0
    total = chars * num_samples
    return {"chars": total, "seconds": seconds, "chars_per_s": total / seconds,
            "sample": text[:20]}  # fmt: skip


def generate_torch(chars: int, vocab: int = 65, hidden: int = 512, embed: int = 64,
                   layers: int = 2, seed: int = 0, warmup: int = 20,
                   num_samples: int = 1) -> dict:  # fmt: skip
    """The same step loop in PyTorch under ``torch.no_grad()``, ``torch.multinomial`` sampling."""
    import torch

    torch.manual_seed(0)
    emb = torch.nn.Embedding(vocab, embed)
    lstm = torch.nn.LSTM(embed, hidden, layers)
    head = torch.nn.Linear(hidden, vocab)
    for m in (emb, lstm, head):
        m.eval()
    gen = torch.Generator().manual_seed(seed)

    def run(n):
        state, text = None, []
        c = torch.zeros(num_samples, dtype=torch.long)
        with torch.no_grad():
            for _ in range(n):
                out, state = lstm(emb(c[None, :]), state)  # (1, N, H)
                probs = torch.softmax(head(out[0]), dim=-1)  # (N, V)
                c = torch.multinomial(probs, 1, generator=gen)[:, 0]
                text.append(int(c[0]))
        return text

    run(warmup)
    t0 = time.perf_counter()
    text = run(chars)
    seconds = time.perf_counter() - t0
    total = chars * num_samples
    return {"chars": total, "seconds": seconds, "chars_per_s": total / seconds,
            "sample": text[:20]}  # fmt: skip


def generation_rate(lib: str, chars: int, reps: int = 3, **model) -> dict:
    """Median chars/s of ``reps`` generation runs of ``chars`` characters in this process."""
    fn = generate_rnnkit if lib == "rnnkit" else generate_torch
    runs = [fn(chars, **model)["chars_per_s"] for _ in range(max(1, reps))]
    return {"chars_per_s": statistics.median(runs), "samples": runs}


# ---------------------------------------------------------------------------
# Workers: one library per process
# ---------------------------------------------------------------------------


def run_job(job: dict) -> dict:
    """Do one job inside this process, which imports only ``job["lib"]``'s library.

    Kinds: ``train`` (time one case), ``generate``, ``matmul``, ``memory`` (every
    case of ``job["cases"]``; run with MALLOC_ENV), ``info``.
    """
    lib, kind = job["lib"], job["kind"]
    if lib not in LIBS:
        raise ValueError(f"lib must be one of {LIBS}; received {lib!r}")
    if lib == "rnnkit" and job.get("blas", "auto") != "auto":
        os.environ["RNNKIT_BLAS"] = job["blas"]  # read when rnnkit first runs a layer
    limiter = set_threads(job["threads"], torch=lib == "torch")  # noqa: F841 (kept alive)
    blas = {"blas": rnnkit_blas()} if lib == "rnnkit" else {}
    if kind == "train":
        step, zero = build_train(lib, job["case"])
        return {**time_steps(step, zero, job["reps"], job.get("warmup", 2),
                             job.get("warmup_seconds", 1.0),
                             job.get("min_rep_seconds", MIN_REP_SECONDS),
                             job.get("budget", 30.0)), **blas}
    if kind == "generate":
        return {**generation_rate(lib, job["chars"], job.get("reps", 3),
                                  **job.get("model", {})), **blas}
    if kind == "matmul":
        return {"gflops": matmul_rate(lib, job["size"], job.get("reps", 5)), **blas}
    if kind == "memory":
        return {"cases": [step_memory(lib, case) for case in job["cases"]]}
    if kind == "info":
        return library_info(lib)
    raise ValueError(f"unknown job kind {kind!r}")


def spawn(job: dict, env: dict | None = None, timeout: float | None = None) -> dict:
    """Run :func:`run_job` in a fresh interpreter; returns its result (raises on failure)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("result: "):
            return json.loads(line[len("result: "):])
    raise RuntimeError(f"{job['lib']} worker for {job['kind']} failed (exit {proc.returncode}):\n"
                       f"{proc.stderr[-3000:]}")


def worker_main(spec: str) -> None:
    """Entry point of a worker process: one JSON job in, one ``result:`` line out.

    The result says whether the other library was imported (it must not be).
    """
    job = json.loads(spec)
    result = run_job(job)
    other = "torch" if job["lib"] == "rnnkit" else "rnnkit"
    result["other_library_imported"] = other in sys.modules
    print("result: " + json.dumps(result), flush=True)


def paired(job: dict, pairs: int, libs=LIBS, env: dict | None = None) -> dict:
    """Run ``job`` for each library in its own process, alternating A B A B, ``pairs`` times.

    Returns ``lib -> [result of each process]`` in the order they ran.
    """
    results = {lib: [] for lib in libs}
    for _ in range(max(1, pairs)):
        for lib in libs:
            results[lib].append(spawn({**job, "lib": lib}, env))
    return results


def combine(runs: list[dict], key: str = "seconds") -> dict:
    """One library's figure from its processes: the median of their medians, and the spread."""
    values = [r[key] for r in runs]
    return {key: statistics.median(values), "process_" + key: values,
            "spread": max(values) / min(values) if min(values) > 0 else float("inf"),
            "processes": len(values), "samples": [r["samples"] for r in runs],
            "reps": [r["reps"] for r in runs] if "reps" in runs[0] else None,
            **({"blas": runs[0]["blas"]} if "blas" in runs[0] else {})}


# ---------------------------------------------------------------------------
# One case, targets, report
# ---------------------------------------------------------------------------


def bench_train_case(case: dict, threads: int, pairs: int = 3, reps: int = 7, warmup: int = 2,
                     warmup_seconds: float = 1.0, min_rep_seconds: float = MIN_REP_SECONDS,
                     case_budget: float = 120.0, rate_gflops: float | None = None,
                     libs=LIBS, blas: str = "auto") -> dict:
    """Time one training case, each library in its own processes (see :func:`paired`);
    ``blas``: rnnkit's ``RNNKIT_BLAS`` (``auto``: its own choice)."""
    job = {"kind": "train", "case": case, "threads": threads, "reps": reps, "warmup": warmup,
           "warmup_seconds": warmup_seconds, "min_rep_seconds": min_rep_seconds,
           "budget": case_budget / (2 * max(1, pairs)), "blas": blas}
    runs = paired(job, pairs, libs)
    return train_row(case, runs, rate_gflops)


def train_row(case: dict, runs: dict, rate_gflops: float | None = None) -> dict:
    """A report row from each library's process results for one case."""
    flop = case_flops(case)
    row = {"case": dict(case), "flop": flop}
    for lib, lib_runs in runs.items():
        entry = combine(lib_runs)
        entry["gflops"] = flop / entry["seconds"] / 1e9
        if rate_gflops:
            entry["matmul_fraction"] = entry["gflops"] / rate_gflops
        row[lib] = entry
    if "rnnkit" in row and "torch" in row:
        row["ratio"] = row["torch"]["seconds"] / row["rnnkit"]["seconds"]
    return row


def bench_generation(chars: int, threads: int, pairs: int = 3, reps: int = 3,
                     blas: str = "auto", **model) -> dict:
    """Median chars/s per library, each in its own processes, and rnnkit / torch."""
    job = {"kind": "generate", "chars": chars, "threads": threads, "reps": reps, "model": model,
           "blas": blas}
    return generation_row(chars, paired(job, pairs), model)


def generation_row(chars: int, runs: dict, model: dict | None = None) -> dict:
    result = {"chars": chars, **{k: v for k, v in GEN.items() if k != "chars"}, **(model or {})}
    for lib, lib_runs in runs.items():
        result[lib] = combine(lib_runs, "chars_per_s")
    if set(runs) == set(LIBS):
        result["ratio"] = result["rnnkit"]["chars_per_s"] / result["torch"]["chars_per_s"]
        result["target"] = TARGETS["generation_ratio"]
        result["pass"] = result["ratio"] >= TARGETS["generation_ratio"]
    return result


#: the samples drawn side by side in the batched generation case
BATCH_SAMPLES = 64


def generation_batch(row: dict) -> dict:
    """The batched case's row: figured like the single one, judged against no target."""
    return {k: v for k, v in row.items() if k not in ("target", "pass")}


def measure_memory(cases: list[dict], threads: int, libs=LIBS, blas: str = "auto") -> list[dict]:
    """:func:`step_memory` of every case, one process per library with MALLOC_ENV."""
    per_lib = {lib: spawn({"kind": "memory", "lib": lib, "cases": cases, "threads": threads,
                           "blas": blas}, MALLOC_ENV)["cases"] for lib in libs}
    return [{lib: per_lib[lib][i] for lib in libs} for i in range(len(cases))]


def attach_memory(row: dict, memory: dict) -> None:
    """Add a case's :func:`step_memory` figures; ``peak_bytes``: the larger of RSS and trace."""
    for lib, entry in memory.items():
        if lib not in row:
            continue
        row[lib].update(entry)
        vals = [entry.get(k) for k in ("rss_peak_bytes", "tracemalloc_peak_bytes",
                                       "allocator_peak_bytes")]
        vals = [v for v in vals if v is not None]
        row[lib]["peak_bytes"] = max(0, *vals) if vals else None


def evaluate_targets(row: dict, small: bool, largest: bool) -> dict:
    """PASS / MISS of each applicable target for one training row (``small``: a GRU or RNN
    row at one of the two smallest shapes)."""
    checks = {}
    if "ratio" in row:
        need = TARGETS["speed_ratio_small"] if small else TARGETS["speed_ratio"]
        if row["case"]["kind"] == "lm":
            need = TARGETS["speed_ratio_lm"]
        checks["speed"] = {"value": row["ratio"], "target": need, "pass": row["ratio"] >= need}
    if largest and "matmul_fraction" in row.get("rnnkit", {}):
        frac = row["rnnkit"]["matmul_fraction"]
        need = TARGETS["matmul_fraction_largest"]
        checks["matmul_fraction"] = {"value": frac, "target": need, "pass": frac >= need}
    ours, theirs = row.get("rnnkit", {}).get("peak_bytes"), row.get("torch", {}).get("peak_bytes")
    if ours is not None and theirs is not None:
        ratio = ours / theirs if theirs > 0 else (1.0 if ours <= 0 else float("inf"))
        checks["memory"] = {"value": ratio, "target": TARGETS["memory_ratio"],
                            "pass": ratio <= TARGETS["memory_ratio"], "note": "rnnkit / torch peak"}
    return checks


def row_targets(row: dict) -> dict:
    """:func:`evaluate_targets` with the row's place among SHAPES (the LM row is neither);
    none for the 2024 cells' rows, whose torch column is another layer (NEW_CELLS)."""
    c = row["case"]
    if c["kind"] in NEW_CELLS:
        return {}
    shape = (c["batch"], c["seq"], c.get("input"), c["hidden"])
    small = c["kind"] in ("gru", "rnn") and shape in [tuple(s) for s in SHAPES[:2]]
    return evaluate_targets(row, small=small,
                            largest=shape == tuple(SHAPES[-1]))


def _label(case: dict) -> str:
    if case["kind"] == "lm":
        return (f"lm  ({case['batch']}, {case['seq']}, V{case['vocab']}, {case['hidden']}, "
                f"E{case['embed']})")
    kind = case["kind"] + ("*" if case["kind"] in NEW_CELLS else "")  # *: torch column is LSTM
    return f"{kind:<4}({case['batch']}, {case['seq']}, {case['input']}, {case['hidden']})"


def _mib(b) -> str:
    return "-" if b is None else f"{b / MiB:.1f}"


def _noisy(*entries) -> bool:
    return any(e.get("spread", 1.0) > NOISY for e in entries)


def _load(avg) -> str:
    return "-" if not avg else f"{avg[0]:.1f}"


def _pct(x) -> str:
    return f"{x * 100:>7.0f}%" if x is not None else f"{'-':>8}"


def format_table(result: dict) -> str:
    """The printed report: machine, matmul rate, training rows, generation, target summary."""
    m, mm = result["machine"], result["matmul"]
    nan = float("nan")
    lines = [
        f"rnnkit vs PyTorch {m.get('torch', {}).get('torch')} CPU, float32, {m['threads']} "
        f"threads, {m['cpu']} ({m['cpu_count']} cores), NumPy {m['numpy']}, rnnkit fast path "
        f"active: {m.get('rnnkit', {}).get('rnnkit_fast_path', {}).get('active')}; "
        f"each library in its own processes, {result['settings']['pairs']} pairs per case",
        f"matmul {mm['size']}^3: rnnkit's BLAS ({mm.get('rnnkit_blas')}) "
        f"{mm['numpy_gflops']:.1f} GFLOP/s, torch.mm {mm.get('torch_gflops') or nan:.1f} "
        "GFLOP/s (fractions below use rnnkit's)",
        f"OpenBLAS kernels in rnnkit's processes: {openblas_kernel(m.get('rnnkit', {}))}"
        + "".join(f"; {k}={v} set in the environment" for k, v in
                  m.get("openblas_env", {}).items()),
        "",
        f"{'case (B, T, I, H)':<34}{'GFLOP':>7}{'rnnkit ms':>11}{'torch ms':>10}{'ratio':>8}"
        f"{'rk %mm':>8}{'pt %mm':>8}{'rk MiB':>8}{'pt MiB':>8}  targets",
    ]
    for row in result["train"]:
        rk, pt = row.get("rnnkit", {}), row.get("torch", {})
        checks = row.get("targets", {})
        flags = " ".join(f"{k}:{'PASS' if c['pass'] else 'MISS'}" for k, c in checks.items())
        lines.append(
            f"{_label(row['case']):<34}{row['flop'] / 1e9:>7.2f}"
            f"{rk.get('seconds', nan) * 1e3:>11.2f}{pt.get('seconds', nan) * 1e3:>10.2f}"
            f"{row.get('ratio', nan):>7.2f}{'~' if _noisy(rk, pt) else ' '}"
            f"{_pct(rk.get('matmul_fraction'))}{_pct(pt.get('matmul_fraction'))}"
            f"{_mib(rk.get('peak_bytes')):>8}{_mib(pt.get('peak_bytes')):>8}  {flags}"
        )
    gen = result.get("generation")
    if gen:
        lines.append("")
        rk, pt = gen.get("rnnkit", {}), gen.get("torch", {})
        ratio = gen.get("ratio")
        verdict = ""
        if ratio is not None:
            verdict = (f", ratio {ratio:.2f}{'~' if _noisy(rk, pt) else ''} (target >= "
                       f"{gen['target']}: {'PASS' if gen['pass'] else 'MISS'})")
        lines.append(
            f"generation ({gen['chars']} chars, {gen['layers']}-layer LSTM {gen['hidden']}): "
            f"rnnkit {rk.get('chars_per_s', nan):.0f} chars/s, "
            f"torch {pt.get('chars_per_s', nan):.0f} chars/s{verdict}")
    batch = result.get("generation_batch")
    if batch:
        rk, pt = batch.get("rnnkit", {}), batch.get("torch", {})
        lines.append(
            f"generation, {batch['num_samples']} samples in one batch: "
            f"rnnkit {rk.get('chars_per_s', nan):.0f} chars/s, "
            f"torch {pt.get('chars_per_s', nan):.0f} chars/s (all samples' characters)")
    s = result["summary"]
    lines += ["", f"targets: {s['passed']} PASS, {s['missed']} MISS"]
    lines += [f"  MISS {x}" for x in s["misses"]]
    if any(row["case"]["kind"] in NEW_CELLS for row in result["train"]):
        lines.append("(* PyTorch has no such layer: its torch column is torch.nn.LSTM at the "
                     "same shape, and the row has no targets)")
    lines.append("(ratio = torch time / rnnkit time, ~ where a library's process medians vary by "
                 f"more than {NOISY}x; %mm = share of the\n measured matmul rate; MiB = "
                 "steady-state peak step memory; load average at start / end: "
                 f"{_load(m.get('load_average'))} / {_load(m.get('load_average_end'))})")
    return "\n".join(lines)


def summarize(result: dict) -> dict:
    passed, misses = 0, []
    for row in result["train"]:
        for name, check in row.get("targets", {}).items():
            if check["pass"]:
                passed += 1
            else:
                misses.append(f"{_label(row['case'])} {name}: {check['value']:.2f} "
                              f"vs {check['target']}")
    gen = result.get("generation")
    if gen and "pass" in gen:
        if gen["pass"]:
            passed += 1
        else:
            misses.append(f"generation ratio: {gen['ratio']:.2f} vs {gen['target']}")
    return {"passed": passed, "missed": len(misses), "misses": misses, "targets": TARGETS}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--pairs", type=int, default=3,
                   help="process pairs (rnnkit, torch) per case, run alternately")
    p.add_argument("--reps", type=int, default=7, help="repetitions per process (median)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up steps per process (at least)")
    p.add_argument("--warmup-seconds", type=float, default=1.0,
                   help="warm-up seconds per process (at least)")
    p.add_argument("--case-budget", type=float, default=120.0,
                   help="seconds of timed steps one case may take before --reps is lowered")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "speed.json"))
    p.add_argument("--quick", action="store_true",
                   help="smoke run: two smallest shapes, a small LM, 1 pair, short timings, "
                        "200 chars")
    p.add_argument("--only", default=",".join(NAMES), help=f"comma list of {', '.join(NAMES)}")
    p.add_argument("--no-memory", action="store_true", help="skip the memory processes")
    p.add_argument("--blas", default="auto", choices=("auto", "mkl", "openblas", "numpy"),
                   help="rnnkit's RNNKIT_BLAS (the BLAS of its compiled time loops; the "
                        "matmul rate is measured with it too)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if not only <= set(NAMES) | set(EXTRA_NAMES):
        p.error(f"--only takes {', '.join(NAMES + EXTRA_NAMES)}; received "
                f"{sorted(only - set(NAMES) - set(EXTRA_NAMES))}")
    for name in ("threads", "pairs", "reps"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1; received {getattr(args, name)}")
    args.only = only
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return {}
    if args.quick:
        args.pairs, args.reps, args.warmup_seconds = 1, 2, 0.1
    shapes = SHAPES[:2] if args.quick else SHAPES
    cases = [{"kind": k, "batch": b, "seq": t, "input": i, "hidden": h}
             for k in (*CELLS, *NEW_CELLS) if k in args.only for (b, t, i, h) in shapes]
    if "lm" in args.only:
        cases.append({"kind": "lm", **(LM_QUICK if args.quick else LM)})

    t_start = time.time()
    machine = machine_info(args.threads)
    machine["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for lib in LIBS:
        machine[lib] = spawn({"kind": "info", "lib": lib, "threads": args.threads,
                              "blas": args.blas})
    result = {"machine": machine,
              "settings": {"method": "each library in its own process, alternating",
                           "pairs": args.pairs, "reps": args.reps, "warmup": args.warmup,
                           "warmup_seconds": args.warmup_seconds, "quick": args.quick,
                           "case_budget": args.case_budget, "only": sorted(args.only),
                           "dtype": "float32", "min_rep_seconds": MIN_REP_SECONDS,
                           "memory_env": MALLOC_ENV, "blas": args.blas,
                           "command": " ".join(sys.argv)}}
    if machine.get("openblas_env"):
        forced = " ".join(f"{k}={v}" for k, v in machine["openblas_env"].items())
        print(f"note: {forced} is set, so rnnkit's OpenBLAS runs "
              f"{openblas_kernel(machine['rnnkit'])} kernels; to measure what OpenBLAS picks "
              f"for this CPU: env -u {' -u '.join(machine['openblas_env'])} make bench",
              flush=True)
    size = 1024 if args.quick else 2048
    print(f"matmul rate {size}^3 ({args.threads} threads), one process per library...",
          flush=True)
    rates = paired({"kind": "matmul", "size": size, "threads": args.threads, "reps": 10,
                    "blas": args.blas}, args.pairs)
    result["matmul"] = {"size": size, "flop": 2.0 * size ** 3,
                        **{f"{'numpy' if lib == 'rnnkit' else 'torch'}_gflops":
                           statistics.median(r["gflops"] for r in rates[lib]) for lib in LIBS},
                        "rnnkit_blas": rates["rnnkit"][0].get("blas"), "processes": rates}
    rate = result["matmul"]["numpy_gflops"]

    rows = []
    for case in cases:
        print(f"train {_label(case)} ...", flush=True)
        rows.append(bench_train_case(case, args.threads, args.pairs, args.reps, args.warmup,
                                     args.warmup_seconds, case_budget=args.case_budget,
                                     rate_gflops=rate, blas=args.blas))
    if cases and not args.no_memory:
        print(f"peak memory of {len(cases)} cases (one process per library)...", flush=True)
        for row, mem in zip(rows, measure_memory(cases, args.threads, blas=args.blas),
                            strict=True):
            attach_memory(row, mem)
    for row in rows:
        row["targets"] = row_targets(row)
    result["train"] = rows

    if "generate" in args.only:
        chars = 200 if args.quick else GEN["chars"]
        print(f"generation ({chars} chars)...", flush=True)
        result["generation"] = bench_generation(chars, args.threads, args.pairs,
                                                blas=args.blas)
        print(f"generation ({chars} chars x {BATCH_SAMPLES} samples)...", flush=True)
        result["generation_batch"] = generation_batch(
            bench_generation(chars, args.threads, args.pairs, blas=args.blas,
                             num_samples=BATCH_SAMPLES))  # fmt: skip
    result["summary"] = summarize(result)
    result["seconds"] = time.time() - t_start
    try:
        result["machine"]["load_average_end"] = list(os.getloadavg())
    except OSError:
        pass

    print()
    print(format_table(result))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwritten {path}")
    return result


if __name__ == "__main__":
    main()
