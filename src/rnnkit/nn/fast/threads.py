"""Thread and BLAS regions of the fast path: who runs the products, on how many threads.

* :func:`small_work_threads`: the BLAS thread setting of one layer call (one BLAS thread
  for small work, or where the fast path's own row threads share the work);
* :func:`thread_setting`: the user's BLAS thread count; :func:`_workers`: how many row
  threads share a time loop or a large product;
* :func:`_run_rows`: a compiled loop over contiguous ranges of batch rows, one range per
  thread; :func:`matmul`: a large product split the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

import numpy as np

from .. import blas
from .jit import _jit

# The package's switch (rnnkit.nn.fast.ENABLED, which users and tests set), read at call time.
_package = sys.modules[__package__]

#: Matmuls with at most this many multiply-adds run on one BLAS thread: waking
#: BLAS threads costs more than they save on small products (and on a busy
#: machine a thread that has to wait for a core can cost milliseconds a call).
SMALL_MATMUL_MACS = 1 << 21

#: A product whose weight has at least this many elements keeps the user's BLAS threads
#: however few its rows: one row (generation) reads the whole weight for a multiply-add
#: per element, so its time is the weight's trip from memory, which two cores share.
LARGE_WEIGHT = 1 << 20

#: Below this many multiply-adds per direction (all steps) the time loop runs on the
#: calling thread: handing rows to other threads costs tens of microseconds.
PARALLEL_MIN_MACS = 1 << 22

#: Split the batch rows over the fast path's own threads (else the compiled loops run on
#: the calling thread and each product uses the BLAS library's threads). ``RNNKIT_SPLIT_ROWS=0``
#: (before import) turns it off, to compare the two.
SPLIT_ROWS = os.environ.get("RNNKIT_SPLIT_ROWS", "1").strip() not in ("0", "false", "no")

#: Cores of the machine, read once (``os.cpu_count`` took ~15 us a call on a 2-core VM, and a
#: layer call asks several times).
_CORES = os.cpu_count() or 1

_blas = None  # ((backend, module count), all BLAS controllers, the loops' own) once looked up
_pool = None

# A BLAS library's thread count is one setting for the whole process, and layers may be
# called from several Python threads at once (the explorer serves requests on worker
# threads). So the regions share one lowering: the first region to open (in any thread)
# lowers the libraries to one thread and notes the user's setting, the last to close puts
# the setting back; what a region decides for its own calls lives in its own thread.
_lock = threading.Lock()  # guards _open, _lowered, _setting and the creation of _pool
_open = 0  # regions open now, all Python threads together
_lowered: list = []  # [(controller, n)]: the libraries the first region lowered from n to 1
_setting = None  # the user's thread_setting() while regions hold the libraries lowered
_local = threading.local()  # .threads: this thread's row-split count inside its region


def region_threads() -> int | None:
    """How many threads split the rows inside the calling thread's region (the user's
    setting for compiled time loops, 1 for small work), or None outside any region."""
    return getattr(_local, "threads", None)


@contextlib.contextmanager
def small_work_threads(macs: int, steps: int = 1, weight: int = 0):
    """The BLAS thread setting of a layer call whose largest matmul has ``macs`` multiply-adds
    over ``steps`` time steps: one BLAS thread where the work is small, or where the fast
    path's own threads will share it.

    * Small work (``macs <= SMALL_MATMUL_MACS``): one thread; waking BLAS threads costs
      more than they save on small products.
    * Compiled time loops (``steps > 1``, a BLAS callable from compiled code, the user's
      setting at least 2): one BLAS thread too, and the user's setting is kept for
      :func:`_workers`, which splits the batch rows (time loops and the layer's large
      products, :func:`matmul`) over that many threads of the fast path's own. A BLAS
      library's thread pool is then never woken inside the layer: its threads keep spinning
      for a while after each product (OpenBLAS: ~0.1 s) and would take the cores from the
      row threads; and a one-thread setting per thread is not available (the
      ``openblas_set_num_threads_local`` of NumPy's OpenBLAS sets the global count).
    * Else the user's setting as it is.

    Only ever lowers the thread count, and only while a region is open. Safe to enter from
    several Python threads at once: the libraries stay lowered while any region is open
    and get the user's setting back when the last one closes (a setting the user changes
    from another thread while regions are open is overwritten then); a region nested in
    the same thread's does nothing. Needs threadpoolctl (the ``fast`` extra); without it
    this does nothing. Talks to the BLAS libraries' own controllers (about a microsecond a
    call; a full ``threadpool_limits`` costs tens of microseconds, a tenth of a small step).
    """
    global _open, _lowered, _setting
    if region_threads() is not None:  # inside this thread's region already
        yield
        return
    with _lock:
        # the user's setting is looked up only where it is needed, and once (a lookup is a
        # few microseconds, and a generation step opens several regions that keep it as is)
        user = None
        threads = 1
        if weight >= LARGE_WEIGHT and macs <= SMALL_MATMUL_MACS:
            threads = None  # few rows of a large weight: the user's setting, as it is
        elif macs > SMALL_MATMUL_MACS:
            compiled = SPLIT_ROWS and _package.ENABLED and blas.backend().compiled
            if steps > 1 and compiled:
                user = _setting if _open else thread_setting()
                threads = user if user >= 2 else None
            else:
                threads = None
        if threads is not None:
            if not _open:
                user = thread_setting() if user is None else user
                libs = _controllers()
                previous = [lib.get_num_threads() for lib in libs]
                _setting = user
                # (not MKL: its count is per calling thread; lowered below, in each thread)
                _lowered = [(lib, n) for lib, n in zip(libs, previous, strict=True)
                            if n is not None and n > 1 and lib.internal_api != "mkl"]  # fmt: skip
                for lib, _ in _lowered:
                    _set_num_threads(lib, 1)
            _open += 1
    if threads is None:
        yield
        return
    _local.threads = threads
    # MKL keeps its thread count per calling thread: lowering it from whichever thread
    # opens the first region would reach that thread only, and the last region's restoring
    # would land in another. So each region lowers its own thread's count and puts back
    # what it found (nothing for OpenBLAS, whose count is the process's).
    setters = _lookup()[2]
    previous = [setter(1) for setter in setters]
    try:
        yield
    finally:
        for setter, n in zip(setters, previous, strict=True):
            setter(n)
        _local.threads = None
        with _lock:
            _open -= 1
            if not _open:
                for lib, n in _lowered:
                    _set_num_threads(lib, n)
                _lowered, _setting = [], None


def _mkl_local(lib):
    """A loaded MKL's ``mkl_set_num_threads_local``: sets the calling thread's count only
    (0: back to the global count) and returns the thread's count before."""
    setter = lib.dynlib.MKL_Set_Num_Threads_Local
    setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
    return setter


def _set_num_threads(lib, n: int) -> None:
    """Set a BLAS library's thread count from whichever thread holds the region.

    threadpoolctl's ``set_num_threads`` of OpenBLAS (pthreads) lets only one "controlling"
    thread change the count (the first to call it, until its ``threadpool_limits`` block
    ends or it dies) and silently does nothing in any other: a region opened or closed on
    another thread would leave the libraries at the user's setting, or at one thread for
    good. The regions change the count under their own lock, so they call the library's
    setter itself where threadpoolctl has it apart (``_real_set_num_threads``)."""
    setter = getattr(lib, "_real_set_num_threads", None) or lib.set_num_threads
    setter(n)


def _lookup():
    """``(all, own, mkl)``: threadpoolctl's controllers of the BLAS libraries loaded now,
    those of the library the compiled loops call (all of them where it is not among them),
    and the per-thread setters of the loaded MKLs (:func:`_mkl_local`); cached, ``([], [],
    [])`` without threadpoolctl."""
    global _blas
    # Looked up again when a library may have been loaded since: another backend (loaded on
    # first use), or new modules (numba imports SciPy, with its own OpenBLAS, on a compile).
    key = (blas.backend(), len(sys.modules))
    if _blas is None or _blas[0] != key:
        try:
            from threadpoolctl import ThreadpoolController

            libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except ImportError:  # pragma: no cover
            libs = []
        own = libs
        path = getattr(key[0]._lib, "_name", None)
        if path:
            path = os.path.realpath(path)
            own = [c for c in libs if os.path.realpath(c.filepath) == path] or libs
        mkl = [_mkl_local(c) for c in libs if c.internal_api == "mkl"]
        _blas = (key, libs, own, mkl)
    return _blas[1:]


def _controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded now (cached; [] without it)."""
    return _lookup()[0]


def thread_setting() -> int:
    """The user's thread count (``OMP_NUM_THREADS``, threadpoolctl limits) of the BLAS the
    compiled loops call (of every BLAS loaded where that one is not found; the number of
    cores without threadpoolctl).

    While a :func:`small_work_threads` region is open (in any thread) this reads 1; the row
    split reads the setting the region noted instead (:func:`_workers`)."""
    libs, own, _ = _lookup()
    # MKL's count is per calling thread (a user's limit set in one thread is not seen in
    # another): where the loops call MKL, the user's setting is that of the process-wide
    # libraries beside it (NumPy's OpenBLAS), MKL's own only where there is none.
    if any(lib.internal_api == "mkl" for lib in own):
        own = [lib for lib in libs if lib.internal_api != "mkl"] or own
    counts = [lib.get_num_threads() for lib in own]
    return max([n for n in counts if n is not None], default=_CORES)


def _workers(B: int, macs: int) -> int:
    """How many threads share the B rows of a time loop of ``macs`` multiply-adds: the user's
    BLAS thread setting, at most one per core and per row, one for small work."""
    if macs < PARALLEL_MIN_MACS or not SPLIT_ROWS:
        return 1
    threads = region_threads()
    if threads is None:  # outside a region of this thread; others may hold the BLAS lowered
        setting = _setting
        threads = setting if setting is not None else thread_setting()
    return max(1, min(threads, _CORES, B))


def _rows_task(backend, fn, args, b0, b1):
    backend.set_local_threads(1)  # this thread's BLAS calls stay on this thread
    fn(*args, b0, b1)


def _run_rows(fn, args, B: int, n: int) -> None:
    """``fn(*args, b0, b1)`` over ``n`` contiguous row ranges [b0, b1) of the batch.

    The recurrence never mixes batch rows, so each range runs its whole time
    loop on its own thread (``fn`` is a ``nogil`` compiled loop) without any
    synchronisation per step. The last range runs on the calling thread, which would
    otherwise only wait: one thread fewer to wake (a wake-up measured 50-90 us on a
    2-core VM, and a training step makes four of these calls per layer and direction); not
    outside a region that lowered this thread's BLAS to one thread (it would share the
    cores with the BLAS library's own threads: a batch of 64 generated texts ran at half
    speed that way).
    """
    global _pool
    if n <= 1:
        fn(*args, 0, B)
        return
    with _lock:
        if _pool is None or _pool._max_workers < n:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="rnnkit")
        pool = _pool
    cuts = _cuts(B, n)
    backend = blas.backend()
    here = region_threads() is not None  # this thread's BLAS is one-thread already
    futures = [pool.submit(_rows_task, backend, fn, args, cuts[i], cuts[i + 1])
               for i in range(n - here)]  # fmt: skip
    try:
        if here:
            fn(*args, cuts[n - 1], B)
    finally:  # the other ranges still write into the arrays: wait for them in any case
        for f in futures:
            f.result()


def _cuts(B: int, n: int) -> list[int]:
    """The bounds of ``n`` contiguous, near-equal ranges of B rows: range i is
    ``[cuts[i], cuts[i + 1])``."""
    return [B * i // n for i in range(n + 1)]


@_jit
def _gemm_rows(addr, ilp64, A, B, C, beta, b0, b1):
    """Rows [b0, b1) of C = A B + beta C (see :func:`matmul`)."""
    blas.gemm(addr, ilp64, A[b0:b1], B, C[b0:b1], 1.0, beta)


def matmul(A, B, out, accumulate: bool = False) -> np.ndarray:
    """``out = A @ B`` (``accumulate``: ``out += A @ B``), the rows of ``out`` split over the
    same threads as the time loops, each with a one-thread BLAS.

    The layers' large products (input projection, weight and input gradients) go through
    this too, so that a layer never wakes the BLAS library's own thread pool: its threads
    keep spinning for a while after each product (OpenBLAS: ~0.1 s) and would take a core
    from the time loops' threads. ``A`` and ``B`` 2-D with contiguous rows or columns,
    ``out`` with contiguous rows. Where that would be one thread (small work, a one-thread
    setting, no BLAS callable from compiled code): np.matmul on the calling thread.
    """
    M = out.shape[0]
    be = blas.backend()
    macs = M * A.shape[1] * B.shape[1]
    n = _workers(M, macs) if be.compiled and _gemm_operands(A, B, out) else 1
    if n == 1:  # small work, one thread, no compiled BLAS, other layouts: as NumPy does it
        if accumulate:
            out += A @ B
        else:
            np.matmul(A, B, out=out)
        return out
    args = (be.address(out.dtype), be.ilp64, A, B, out, 1.0 if accumulate else 0.0)
    if region_threads() is not None:  # inside a layer call that has lowered the BLAS already
        _run_rows(_gemm_rows, args, M, n)
    else:  # on its own (e.g. nn.Linear): the same one-thread BLAS region for the row threads
        with small_work_threads(macs, steps=2):
            _run_rows(_gemm_rows, args, M, n)
    return out


def _gemm_operands(A, B, out) -> bool:
    """Whether :func:`blas.gemm` takes these: 2-D, one float dtype, rows or columns of A and B
    contiguous, rows of ``out`` contiguous."""
    dt = out.dtype
    if dt not in (np.float32, np.float64) or A.dtype != dt or B.dtype != dt:
        return False
    if A.ndim != 2 or B.ndim != 2 or out.ndim != 2 or out.strides[1] != dt.itemsize:
        return False
    return all(a.strides[1] == dt.itemsize or a.strides[0] == dt.itemsize for a in (A, B))
