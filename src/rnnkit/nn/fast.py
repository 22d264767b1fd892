"""The fast path of the recurrent layers: fused, compiled gate kernels.

Same math and same parameters as the readable reference in
:mod:`rnnkit.nn.cells` (the tests check one against the other), arranged for
speed:

* both bias vectors are folded into the input projection ``Gx`` once per
  sequence (except the GRU's ``b_hn`` when the reset gate comes after the
  matmul, since ``r`` multiplies it);
* the whole time loop of a direction is one compiled ``nogil`` function
  (``*_loop_forward`` / ``*_loop_backward``): per step it calls the BLAS gemm
  for the recurrent product itself (:mod:`rnnkit.nn.blas`: MKL, or NumPy's own
  OpenBLAS), then applies every gate non-linearity, the state update and the
  length mask in one vectorised pass, writing into preallocated (T, B, ...)
  arrays: no Python and no allocation per step;
* the recurrence never mixes batch rows, so the rows are split into
  contiguous ranges, one per thread (``_run_rows``: the user's BLAS thread
  setting, at most one per core; one thread for small work), each running its
  whole time loop with a one-thread BLAS and no synchronisation per step;
* backward mirrors it: per step the compiled loop computes the gate gradients
  (and keeps the "skip" gradient of padded steps), then one gemm sends them back
  through ``W_hh``;
* where no BLAS can be called from compiled code (``RNNKIT_BLAS=numpy``, or no
  threadpoolctl) the drivers keep the earlier per-step form: the loop in Python,
  one ``np.matmul(..., out=)`` and the same kernels a step (same results).

Each cell has a pair of whole-direction drivers here, ``*_forward`` and
``*_backward`` (``lstm_forward``, ``gru_forward``, ``gru_reset_before_forward``,
``rnn_tanh_forward``, ``rnn_relu_forward`` and their backwards); the cell
classes of :mod:`rnnkit.nn.cells` select theirs as ``fast_forward`` /
``fast_backward``, and the layer calls them through its cell. Every driver has
the same contract as the layer's reference loop:

* ``*_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun``, with
  ``X`` (T, B, I), ``state0`` a tuple of (B, H) arrays (``(h0,)`` or
  ``(h0, c0)``), ``mask`` (T, B, 1) or None, ``ws`` the :class:`Workspace` of
  this (layer, direction); the run's ``states`` are (T+1, B, H) arrays;
* ``*_backward(run, dY, dstate, W_hh) -> (dGx, dGh_n, n_input, dstate0)``:
  ``dGx`` (T, B, G*H) the gate pre-activation gradients of the input side;
  ``dGh_n`` (T, B, H) the recurrent side's gradient of the last gate block
  where it differs (the GRU, reset after), else None; ``n_input`` (T, B, H)
  the input of that block's recurrent matmul where it is not ``h_prev`` (the
  GRU, reset before: ``r * h_prev``), else None; ``dstate0`` a tuple like
  ``state0``.

The kernels are compiled with numba when it is installed (``pip install
rnnkit[fast]``); without it the layers use the reference path, which gives the
same results. Set ``RNNKIT_DISABLE_JIT=1`` (before import) to keep numba out;
``with rnnkit.nn.fast.flags(enabled=False):`` (or ``rnnkit.nn.fast.ENABLED =
False``) forces the reference path at any time.

Kernel argument conventions (one step, batch B, hidden H):
``gh`` is the recurrent matmul ``h_prev W_hh^T`` without bias, ``gx`` this
step's row of ``Gx``, ``m`` the step's mask (B,) with 1 for valid and 0 for
padded, ``dh_skip`` the part of dL/dh that bypasses the cell (padded steps,
the GRU's ``z * h_prev`` path) and ``dh_rec`` the part coming back through
``W_hh``.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from . import blas

try:  # pragma: no cover - exercised implicitly
    if os.environ.get("RNNKIT_DISABLE_JIT"):
        raise ImportError("disabled by RNNKIT_DISABLE_JIT")
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    numba = None
    AVAILABLE = False

#: Whether the layers use the compiled path (when ``AVAILABLE``); see :func:`flags`.
ENABLED = AVAILABLE


@contextlib.contextmanager
def flags(enabled: bool):
    """Inside the block the layers use the compiled path (``True``) or the reference path.

    Like ``torch.backends.cudnn.flags(enabled=...)``: the previous setting comes
    back when the block ends. Raises ``RuntimeError`` when the compiled path is
    asked for but numba is missing (or ``RNNKIT_DISABLE_JIT`` is set). A run
    remembers the path it took, so a forward's backward always matches it.
    """
    global ENABLED
    if enabled and not AVAILABLE:
        raise RuntimeError("the fast path needs numba: pip install 'rnnkit[fast]' "
                           "(and RNNKIT_DISABLE_JIT unset)")  # fmt: skip
    previous = ENABLED
    ENABLED = bool(enabled)
    try:
        yield
    finally:
        ENABLED = previous


#: Matmuls with at most this many multiply-adds run on one BLAS thread: waking
#: BLAS threads costs more than they save on small products (and on a busy
#: machine a thread that has to wait for a core can cost milliseconds a call).
SMALL_MATMUL_MACS = 1 << 21

_blas = None  # ((backend, module count), all BLAS controllers, the loops' own) once looked up
_single = False  # inside a one-thread region already


@contextlib.contextmanager
def small_work_threads(macs: int, steps: int = 1):
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

    Only ever lowers the thread count, and only inside the region. Needs threadpoolctl (the
    ``fast`` extra); without it this does nothing. Talks to the BLAS libraries' own
    controllers (about a microsecond a call; a full ``threadpool_limits`` costs tens of
    microseconds, a tenth of a small step).
    """
    global _single, _region_threads
    if _single:
        yield
        return
    user = None
    if macs > SMALL_MATMUL_MACS:
        if steps <= 1 or not (SPLIT_ROWS and ENABLED and blas.backend().compiled):
            yield
            return
        user = thread_setting()
        if user < 2:
            yield
            return
    libs = _controllers()
    previous = [lib.get_num_threads() for lib in libs]
    lower = [(lib, n) for lib, n in zip(libs, previous, strict=True) if n is not None and n > 1]
    _single, _region_threads = True, user
    try:
        for lib, _ in lower:
            lib.set_num_threads(1)
        yield
    finally:
        for lib, n in lower:
            lib.set_num_threads(n)
        _single, _region_threads = False, None


_region_threads = None  # the user's thread setting inside a region that lowered BLAS to 1


def _lookup():
    """``(all, own)``: threadpoolctl's controllers of the BLAS libraries loaded now, and those
    of the library the compiled loops call (all of them where it is not among them); cached,
    ``([], [])`` without threadpoolctl."""
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
        _blas = (key, libs, own)
    return _blas[1], _blas[2]


def _controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded now (cached; [] without it)."""
    return _lookup()[0]


def thread_setting() -> int:
    """The user's thread count (``OMP_NUM_THREADS``, threadpoolctl limits) of the BLAS the
    compiled loops call (of every BLAS loaded where that one is not found; the number of
    cores without threadpoolctl).

    Inside a :func:`small_work_threads` region this reads 1, which is right: there every
    product, and so every time loop, is below :data:`PARALLEL_MIN_MACS`."""
    counts = [lib.get_num_threads() for lib in _lookup()[1]]
    return max([n for n in counts if n is not None], default=os.cpu_count() or 1)


# Constants of the kernels. Typed float32 so that float32 arrays are computed in
# float32 (a Python float literal would promote every expression to float64 and
# halve the SIMD width); 0, 0.5 and 1 are exact, so float64 arrays give the
# same results either way.
_ZERO = np.float32(0.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


def _jit(fn):
    if numba is None:
        return fn
    # error_model="numpy": a float division never raises (no branch per division), so the
    # element-wise loops vectorise
    return numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")(fn)


def _tanh(x):
    """tanh inside the compiled loops (numba only; see the overload below)."""
    return np.tanh(x)


if numba is not None:  # pragma: no branch

    @numba.extending.overload(_tanh, jit_options={"cache": True, "error_model": "numpy"})
    def _tanh_overload(x):
        """float32: a rational approximation LLVM can vectorise (libm's scalar tanhf would cost
        more than the step's matmul); relative error a few float32 ulps, the same order as
        NumPy's own SIMD tanhf. float64: libm's tanh, exact to an ulp (the tests' reference)."""
        if x != numba.types.float32:
            return lambda x: np.tanh(x)

        def tanh32(x):
            # tanh(x) = x P(x^2) / Q(x^2) on |x| <= 7.905..., where tanhf rounds to +-1
            x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
            x2 = x * x
            p = np.float32(-2.76076847742355e-16)
            p = p * x2 + np.float32(2.00018790482477e-13)
            p = p * x2 + np.float32(-8.60467152213735e-11)
            p = p * x2 + np.float32(5.12229709037114e-08)
            p = p * x2 + np.float32(1.48572235717979e-05)
            p = p * x2 + np.float32(6.37261928875436e-04)
            p = p * x2 + np.float32(4.89352455891786e-03)
            q = np.float32(1.19825839466702e-06)
            q = q * x2 + np.float32(1.18534705686654e-04)
            q = q * x2 + np.float32(2.26843463243900e-03)
            q = q * x2 + np.float32(4.89352518554385e-03)
            return x * p / q

        return tanh32


# ---------------------------------------------------------------------------
# What every driver shares
# ---------------------------------------------------------------------------


class Workspace:
    """Scratch arrays of one (layer, direction), reused from call to call.

    A training loop calls forward and backward with the same shapes step after
    step; fresh (T, B, G*H) arrays each time would cost a page fault per 4 KiB
    (the allocator hands large blocks back to the system when they are freed),
    10-15% of a step at mid-sized shapes. ``get`` returns the array kept under
    ``name`` when its shape and dtype match, else a new one (kept from then on).
    Only arrays that never leave the layer live here: outputs and gradients
    handed to the caller are always fresh, so a later call never overwrites
    what the caller holds.
    """

    __slots__ = ("_arrays",)

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.empty(shape, dtype=dtype)
        return a


class FastRun:
    """What the fast path keeps between forward and backward of one (layer, direction).

    ``states``: (T+1, B, H) arrays, ``(H,)`` or ``(H, C)``; ``acts`` (T, B, G*H):
    the gate values after their non-linearity (the vanilla RNN: its activations);
    ``aux``: the cell's extra per-step array for backward (LSTM tanh(c), GRU hn
    or r * h_prev); ``m`` (T, B) the mask as the kernels read it.
    """

    __slots__ = ("X", "states", "acts", "aux", "mask", "rev", "m", "ws")

    def __init__(self, X, states, acts, aux, mask, m, ws) -> None:
        self.X, self.states, self.acts, self.aux = X, states, acts, aux
        self.mask, self.m, self.ws, self.rev = mask, m, ws, None


# Per-gate-block scale of the fused weights: 0.5 for sigmoid gates, 1 for tanh ones.
# With σ(x) = (1 + tanh(x / 2)) / 2, halving the sigmoid gates' rows of W_ih,
# W_hh and the biases lets one vectorised ``np.tanh`` evaluate every gate of a
# step (and scaling by 0.5 is exact in floating point).
_LSTM_SCALE = (_HALF, _HALF, _ONE, _HALF)  # i, f, g, o
_GRU_SCALE = (_HALF, _HALF, _ONE)  # r, z, n


def _input_side(X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws, block_scale=None, gx_name="Gx",
                keep_b_hn=False):  # fmt: skip
    """What a forward driver sets up before its time loop.

    Returns ``(Gx, W_hhT, step_scale, b_hn, m, Hs)``: the input projection Gx
    (T, B, G*H), computed into ``ws[gx_name]``, with both biases folded in
    (``keep_b_hn``: all but the GRU's ``b_hn``, returned apart, zeros without
    bias); ``W_hhT`` (H, G*H); ``step_scale`` (G*H,), the gate scale still to be
    applied to each step's recurrent matmul, or None; the mask ``m`` (T, B) and
    the fresh states ``Hs`` (T+1, B, H) with ``Hs[0] = h0``.
    """
    T, B, I = X.shape
    Hd = W_hh.shape[1]
    GH = W_hh.shape[0]
    dt = X.dtype
    scale = None
    step_scale = None  # scale applied to each step's recurrent matmul instead of to W_hh
    if block_scale is not None:
        # Scale whichever is smaller: the weights, or the T*B rows they produce
        # (one-step calls, as in generation, must not copy the weights).
        scale = np.repeat(np.array(block_scale, dtype=dt), Hd)  # (G*H,)
        if T * B >= I:
            W_ih = W_ih * scale[:, None]
        if T * B >= Hd:
            W_hh = W_hh * scale[:, None]
        else:
            step_scale = scale
        if b_ih is not None:
            b_ih, b_hh = b_ih * scale, b_hh * scale
    # The step matmul h W_hh^T runs ~25% faster (OpenBLAS, small B) on a
    # contiguous W_hh^T than on the transposed view; copy it when T*B rows
    # amortise the copy.
    W_hhT = np.ascontiguousarray(W_hh.T) if T * B >= Hd else W_hh.T  # (H, G*H)
    Gx = ws.get(gx_name, (T, B, GH), dt)  # (T, B, G*H)
    matmul(X.reshape(T * B, -1), W_ih.T, Gx.reshape(T * B, GH))
    if scale is not None and T * B < I:
        Gx *= scale
    b_hn = np.zeros(Hd, dtype=dt) if keep_b_hn else None
    if b_ih is not None:  # both biases in one pass over Gx
        bias = b_ih + b_hh
        if keep_b_hn:  # b_hn sits inside r * (...): keep it apart
            bias[2 * Hd :] = b_ih[2 * Hd :]
            b_hn = b_hh[2 * Hd :]
        Gx += bias
    m = np.ones((T, B), dtype=dt) if mask is None else np.ascontiguousarray(mask[:, :, 0])
    Hs = np.empty((T + 1, B, Hd), dtype=dt)  # fresh: the layer's output is a view of it
    Hs[0] = h0
    return Gx, W_hhT, step_scale, b_hn, m, Hs


def _backward_start(run: FastRun, dY, dh, W_hh, dgx_name: str):
    """``(dY, dh_skip, dh_rec, dGx)`` for a backward driver: dY contiguous, dh_skip a copy of
    dh, dh_rec zeros (B, H), dGx (T, B, G*H) from the workspace."""
    T, B, _ = run.X.shape
    dt = run.X.dtype
    dh_skip = np.array(dh, dtype=dt, copy=True)
    dh_rec = np.zeros((B, W_hh.shape[1]), dtype=dt)
    dGx = run.ws.get(dgx_name, (T, B, W_hh.shape[0]), dt)
    return np.ascontiguousarray(dY), dh_skip, dh_rec, dGx


# ---------------------------------------------------------------------------
# Whole time loops in compiled code, the batch split over threads
# ---------------------------------------------------------------------------

#: Below this many multiply-adds per direction (all steps) the time loop runs on the
#: calling thread: handing rows to other threads costs tens of microseconds.
PARALLEL_MIN_MACS = 1 << 22

#: Split the batch rows over the fast path's own threads (else the compiled loops run on
#: the calling thread and each product uses the BLAS library's threads). ``RNNKIT_SPLIT_ROWS=0``
#: (before import) turns it off, to compare the two.
SPLIT_ROWS = os.environ.get("RNNKIT_SPLIT_ROWS", "1").strip() not in ("0", "false", "no")

_pool = None


def _workers(B: int, macs: int) -> int:
    """How many threads share the B rows of a time loop of ``macs`` multiply-adds: the user's
    BLAS thread setting, at most one per core and per row, one for small work."""
    if macs < PARALLEL_MIN_MACS or not SPLIT_ROWS:
        return 1
    threads = _region_threads if _region_threads is not None else thread_setting()
    return max(1, min(threads, os.cpu_count() or 1, B))


def _rows_task(backend, fn, args, b0, b1):
    backend.set_local_threads(1)  # this thread's BLAS calls stay on this thread
    fn(*args, b0, b1)


def _run_rows(fn, args, B: int, n: int) -> None:
    """``fn(*args, b0, b1)`` over ``n`` contiguous row ranges [b0, b1) of the batch.

    The recurrence never mixes batch rows, so each range runs its whole time
    loop on its own thread (``fn`` is a ``nogil`` compiled loop) without any
    synchronisation per step; one range runs on the calling thread as it is.
    """
    global _pool
    if n <= 1:
        fn(*args, 0, B)
        return
    if _pool is None or _pool._max_workers < n:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="rnnkit")
    cuts = [B * i // n for i in range(n + 1)]
    backend = blas.backend()
    futures = [_pool.submit(_rows_task, backend, fn, args, cuts[i], cuts[i + 1])
               for i in range(n)]  # fmt: skip
    for f in futures:
        f.result()


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
    if _single:  # inside a layer call that has lowered the BLAS threads already
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


def _compiled(T: int) -> blas.Backend | None:
    """The BLAS the compiled loops call, or None: use the per-step drivers.

    One step (generation: T = 1) keeps the per-step driver: there is no Python loop to
    save, and its ``np.matmul`` of one row measured faster than the compiled call's."""
    be = blas.backend()
    return be if be.compiled and T > 1 else None


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------


@_jit
def lstm_state_step(acts, m, c_prev, c, tanh_c):
    """acts holds tanh of the (half-scaled) pre-activations: turn i, f, o into σ = (1 + t) / 2,
    then c_new = f c_prev + i g; writes the masked c and c_new (to be tanh'ed) into tanh_c."""
    B, H = c.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            i = _HALF + _HALF * acts[b, j]
            f = _HALF + _HALF * acts[b, H + j]
            acts[b, j] = i
            acts[b, H + j] = f
            acts[b, 3 * H + j] = _HALF + _HALF * acts[b, 3 * H + j]
            cp = c_prev[b, j]
            cn = f * cp + i * acts[b, 2 * H + j]
            tanh_c[b, j] = cn
            c[b, j] = cp + mb * (cn - cp)


@_jit
def lstm_hidden_step(acts, m, tanh_c, h_prev, h):
    """h = o tanh(c), masked."""
    B, H = h.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            hp = h_prev[b, j]
            h[b, j] = hp + mb * (acts[b, 3 * H + j] * tanh_c[b, j] - hp)

@_jit
def lstm_backward_step(dy, m, dh_skip, dh_rec, dc, acts, c_prev, tanh_c, dgates):
    """Gate gradients of one step; updates dh_skip and dc in place (see LSTMCell.backward)."""
    B, H = dh_skip.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            dhv = dh_skip[b, j] + dh_rec[b, j] + dy[b, j] * mb
            dcv = dc[b, j]
            dh_cell = dhv * mb
            i = acts[b, j]
            f = acts[b, H + j]
            g = acts[b, 2 * H + j]
            o = acts[b, 3 * H + j]
            tc = tanh_c[b, j]
            dct = dcv * mb + dh_cell * o * (_ONE - tc * tc)
            dgates[b, j] = dct * g * i * (_ONE - i)
            dgates[b, H + j] = dct * c_prev[b, j] * f * (_ONE - f)
            dgates[b, 2 * H + j] = dct * i * (_ONE - g * g)
            dgates[b, 3 * H + j] = dh_cell * tc * o * (_ONE - o)
            dc[b, j] = dct * f + dcv * (_ONE - mb)
            dh_skip[b, j] = dhv * (_ONE - mb)



@_jit
def lstm_loop_forward(addr, ilp64, acts, W_hhT, scaled, scale, gh, m, Hs, Cs, tanh_c, b0, b1):
    """The whole forward time loop over batch rows [b0, b1), BLAS called from compiled code.

    Per step: ``acts[t] += Hs[t] W_hhT`` (``scaled``: the gate scale is already in W_hhT;
    else the product goes to ``gh`` and is scaled by ``scale`` (G*H,) here), then i, f, o =
    σ, g = tanh, c = f c_prev + i g, h = o tanh(c), masked, as lstm_state_step and
    lstm_hidden_step."""
    T = acts.shape[0]
    H = Hs.shape[2]
    for t in range(T):
        a = acts[t]
        if scaled:
            blas.gemm(addr, ilp64, Hs[t, b0:b1], W_hhT, a[b0:b1], 1.0, 1.0)
        else:
            blas.gemm(addr, ilp64, Hs[t, b0:b1], W_hhT, gh[b0:b1], 1.0, 0.0)
            for b in range(b0, b1):
                for j in range(4 * H):
                    a[b, j] += scale[j] * gh[b, j]
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                i = _HALF + _HALF * _tanh(a[b, j])
                f = _HALF + _HALF * _tanh(a[b, H + j])
                g = _tanh(a[b, 2 * H + j])
                o = _HALF + _HALF * _tanh(a[b, 3 * H + j])
                a[b, j] = i
                a[b, H + j] = f
                a[b, 2 * H + j] = g
                a[b, 3 * H + j] = o
                cp = Cs[t, b, j]
                cn = f * cp + i * g
                tc = _tanh(cn)
                tanh_c[t, b, j] = tc
                Cs[t + 1, b, j] = cp + mb * (cn - cp)
                hp = Hs[t, b, j]
                Hs[t + 1, b, j] = hp + mb * (o * tc - hp)


@_jit
def lstm_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, dc, acts, Cs, tanh_c, dGx, W_hh,
                       b0, b1):  # fmt: skip
    """The whole BPTT loop over batch rows [b0, b1): lstm_backward_step, then
    ``dh_rec = dGx[t] W_hh`` from compiled code, for t = T-1..0."""
    T = dY.shape[0]
    H = dh_skip.shape[1]
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                dhv = dh_skip[b, j] + dh_rec[b, j] + dY[t, b, j] * mb
                dcv = dc[b, j]
                dh_cell = dhv * mb
                i = acts[t, b, j]
                f = acts[t, b, H + j]
                g = acts[t, b, 2 * H + j]
                o = acts[t, b, 3 * H + j]
                tc = tanh_c[t, b, j]
                dct = dcv * mb + dh_cell * o * (_ONE - tc * tc)
                dGx[t, b, j] = dct * g * i * (_ONE - i)
                dGx[t, b, H + j] = dct * Cs[t, b, j] * f * (_ONE - f)
                dGx[t, b, 2 * H + j] = dct * i * (_ONE - g * g)
                dGx[t, b, 3 * H + j] = dh_cell * tc * o * (_ONE - o)
                dc[b, j] = dct * f + dcv * (_ONE - mb)
                dh_skip[b, j] = dhv * (_ONE - mb)
        blas.gemm(addr, ilp64, dGx[t, b0:b1], W_hh, dh_rec[b0:b1], 1.0, 0.0)


def lstm_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun:
    """Forward of one direction (contract in the module docstring); keeps acts, C, tanh(c)."""
    h0, c0 = state0
    # The LSTM adds each step's recurrent matmul to its row of Gx in place, so Gx
    # is computed straight into the activation buffer (one (T, B, 4H) array less).
    acts, W_hhT, step_scale, _, m, Hs = _input_side(
        X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws, _LSTM_SCALE, "acts")
    T, B, GH = acts.shape
    Hd, dt = Hs.shape[2], X.dtype
    Cs = ws.get("C", (T + 1, B, Hd), dt)
    Cs[0] = c0
    tanh_c = ws.get("tanh_c", (T, B, Hd), dt)
    gh = ws.get("gh", (B, GH), dt)
    be = _compiled(T)
    if be is not None:
        scaled = step_scale is None
        scale = gh[0] if scaled else step_scale  # (unused when scaled)
        args = (be.address(dt), be.ilp64, acts, W_hhT, scaled, scale, gh, m, Hs, Cs, tanh_c)
        _run_rows(lstm_loop_forward, args, B, _workers(B, T * B * GH * Hd))
        return FastRun(X, (Hs, Cs), acts, tanh_c, mask, m, ws)
    with small_work_threads(B * GH * Hd):  # the per-step matmuls
        for t in range(T):
            a = acts[t]  # holds Gx[t]
            np.matmul(Hs[t], W_hhT, out=gh)
            if step_scale is not None:
                gh *= step_scale
            a += gh
            np.tanh(a, out=a)
            lstm_state_step(a, m[t], Cs[t], Cs[t + 1], tanh_c[t])
            np.tanh(tanh_c[t], out=tanh_c[t])
            lstm_hidden_step(a, m[t], tanh_c[t], Hs[t], Hs[t + 1])
    return FastRun(X, (Hs, Cs), acts, tanh_c, mask, m, ws)


def lstm_backward(run: FastRun, dY, dstate, W_hh):
    """BPTT of one direction (contract in the module docstring)."""
    dh, dc = dstate
    # Consumed by the weight gradients, then dead.
    dY, dh_skip, dh_rec, dGx = _backward_start(run, dY, dh, W_hh, "dGx")
    T, B, GH = dGx.shape
    dc = np.array(dc, dtype=dGx.dtype, copy=True)
    (_, Cs), acts, tanh_c, m = run.states, run.acts, run.aux, run.m
    be = _compiled(T)
    if be is not None:
        args = (be.address(dGx.dtype), be.ilp64, dY, m, dh_skip, dh_rec, dc, acts, Cs, tanh_c,
                dGx, W_hh)  # fmt: skip
        _run_rows(lstm_loop_backward, args, B, _workers(B, T * B * GH * W_hh.shape[1]))
        dh_skip += dh_rec
        return dGx, None, None, (dh_skip, dc)
    with small_work_threads(B * GH * W_hh.shape[1]):  # the per-step matmuls
        for t in reversed(range(T)):
            lstm_backward_step(dY[t], m[t], dh_skip, dh_rec, dc, acts[t], Cs[t], tanh_c[t],
                               dGx[t])  # fmt: skip
            np.matmul(dGx[t], W_hh, out=dh_rec)
    dh_skip += dh_rec
    return dGx, None, None, (dh_skip, dc)


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------


@_jit
def gru_after_gates_step(gh, gx, b_hn, acts, hn):
    """Reset after: acts[:, :2H] holds tanh of half-scaled r, z pre-activations; turn them into
    σ, keep hn = h W_hn^T + b_hn, and write the candidate's pre-activation x_n + r hn."""
    B, H = hn.shape
    for b in range(B):
        for j in range(H):
            r = _HALF + _HALF * acts[b, j]
            acts[b, j] = r
            acts[b, H + j] = _HALF + _HALF * acts[b, H + j]
            hnv = gh[b, 2 * H + j] + b_hn[j]
            hn[b, j] = hnv
            acts[b, 2 * H + j] = gx[b, 2 * H + j] + r * hnv


@_jit
def gru_state_step(acts, m, h_prev, h):
    """h = n + z (h_prev - n), masked (acts holds r, z, n)."""
    B, H = h.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            n = acts[b, 2 * H + j]
            hp = h_prev[b, j]
            hnew = n + acts[b, H + j] * (hp - n)
            h[b, j] = hp + mb * (hnew - hp)

@_jit
def gru_after_backward_step(dy, m, dh_skip, dh_rec, acts, hn, h_prev, dgx, dgh, dgh_n):
    """Gate gradients of one step (reset after). ``dgh`` (B, 3H) is the recurrent side's
    gradient for this step's matmul; only its n block differs from ``dgx``, and that
    block is also kept in ``dgh_n`` for the weight gradient."""
    B, H = dh_skip.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            dhv = dh_skip[b, j] + dh_rec[b, j] + dy[b, j] * mb
            dcell = dhv * mb
            r = acts[b, j]
            z = acts[b, H + j]
            n = acts[b, 2 * H + j]
            dn = dcell * (_ONE - z) * (_ONE - n * n)
            dz = dcell * (h_prev[b, j] - n) * z * (_ONE - z)
            dr = dn * hn[b, j] * r * (_ONE - r)
            dgx[b, j] = dr
            dgx[b, H + j] = dz
            dgx[b, 2 * H + j] = dn
            dgh[b, j] = dr
            dgh[b, H + j] = dz
            dgh[b, 2 * H + j] = dn * r
            dgh_n[b, j] = dn * r
            dh_skip[b, j] = dhv * (_ONE - mb) + dcell * z


@_jit
def gru_before_gates_step(t_rz, h_prev, acts, rh):
    """Reset before, part 1: r, z = σ from the tanh of half-scaled pre-activations in t_rz,
    and the candidate matmul's input r * h_prev."""
    B, H = rh.shape
    for b in range(B):
        for j in range(H):
            r = _HALF + _HALF * t_rz[b, j]
            acts[b, j] = r
            acts[b, H + j] = _HALF + _HALF * t_rz[b, H + j]
            rh[b, j] = r * h_prev[b, j]



@_jit
def gru_before_backward_state(dy, m, dh_skip, dh_rec, acts, h_prev, dg):
    """Backward part 1: dn and dz pre-activations; dh_skip gets the padded and z * h_prev paths."""
    B, H = dh_skip.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            dhv = dh_skip[b, j] + dh_rec[b, j] + dy[b, j] * mb
            dcell = dhv * mb
            z = acts[b, H + j]
            n = acts[b, 2 * H + j]
            dg[b, 2 * H + j] = dcell * (_ONE - z) * (_ONE - n * n)
            dg[b, H + j] = dcell * (h_prev[b, j] - n) * z * (_ONE - z)
            dh_skip[b, j] = dhv * (_ONE - mb) + dcell * z


@_jit
def gru_before_backward_reset(drh, acts, h_prev, dh_skip, dg):
    """Backward part 2: from d(r h) to dr pre-activation and the r * d(r h) path to h_prev."""
    B, H = dh_skip.shape
    for b in range(B):
        for j in range(H):
            r = acts[b, j]
            d = drh[b, j]
            dg[b, j] = d * h_prev[b, j] * r * (_ONE - r)
            dh_skip[b, j] += d * r



@_jit
def gru_loop_forward(addr, ilp64, Gx, W_hhT, scale, b_hn, gh, m, Hs, acts, hn, b0, b1):
    """The whole forward time loop (reset after) over batch rows [b0, b1): ``gh = Hs[t] W_hhT``
    from compiled code, then r, z = σ(Gx + scale gh) (``scale`` (2H,): ones when the gate scale
    is in W_hhT), hn = gh_n + b_hn, n = tanh(x_n + r hn), h = n + z (h_prev - n), masked."""
    T = Gx.shape[0]
    H = Hs.shape[2]
    for t in range(T):
        blas.gemm(addr, ilp64, Hs[t, b0:b1], W_hhT, gh[b0:b1], 1.0, 0.0)
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                r = _HALF + _HALF * _tanh(Gx[t, b, j] + scale[j] * gh[b, j])
                z = _HALF + _HALF * _tanh(Gx[t, b, H + j] + scale[H + j] * gh[b, H + j])
                hnv = gh[b, 2 * H + j] + b_hn[j]
                n = _tanh(Gx[t, b, 2 * H + j] + r * hnv)
                acts[t, b, j] = r
                acts[t, b, H + j] = z
                acts[t, b, 2 * H + j] = n
                hn[t, b, j] = hnv
                hp = Hs[t, b, j]
                Hs[t + 1, b, j] = hp + mb * (n + z * (hp - n) - hp)


@_jit
def gru_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, acts, hn, Hs, dGx, dgh, dGh_n, W_hh,
                      b0, b1):  # fmt: skip
    """The whole BPTT loop (reset after) over rows [b0, b1): gru_after_backward_step, then
    ``dh_rec = dgh W_hh`` from compiled code, for t = T-1..0."""
    T = dY.shape[0]
    for t in range(T - 1, -1, -1):
        gru_after_backward_step(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                acts[t, b0:b1], hn[t, b0:b1], Hs[t, b0:b1], dGx[t, b0:b1],
                                dgh[b0:b1], dGh_n[t, b0:b1])  # fmt: skip
        blas.gemm(addr, ilp64, dgh[b0:b1], W_hh, dh_rec[b0:b1], 1.0, 0.0)


@_jit
def gru_before_loop_forward(addr, ilp64, Gx, W_rzT, W_nT, scale, t_rz, gh_n, m, Hs, acts, rh,
                            b0, b1):  # fmt: skip
    """The whole forward time loop (reset before) over rows [b0, b1): ``t_rz = Hs[t] W_rzT``,
    r, z = σ(Gx + scale t_rz), rh = r h_prev, ``gh_n = rh W_nT``, n = tanh(x_n + gh_n),
    h = n + z (h_prev - n), masked; both products from compiled code."""
    T = Gx.shape[0]
    H = Hs.shape[2]
    for t in range(T):
        blas.gemm(addr, ilp64, Hs[t, b0:b1], W_rzT, t_rz[b0:b1], 1.0, 0.0)
        for b in range(b0, b1):
            for j in range(H):
                r = _HALF + _HALF * _tanh(Gx[t, b, j] + scale[j] * t_rz[b, j])
                acts[t, b, j] = r
                acts[t, b, H + j] = _HALF + _HALF * _tanh(Gx[t, b, H + j]
                                                          + scale[H + j] * t_rz[b, H + j])
                rh[t, b, j] = r * Hs[t, b, j]
        blas.gemm(addr, ilp64, rh[t, b0:b1], W_nT, gh_n[b0:b1], 1.0, 0.0)
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                n = _tanh(Gx[t, b, 2 * H + j] + gh_n[b, j])
                acts[t, b, 2 * H + j] = n
                hp = Hs[t, b, j]
                Hs[t + 1, b, j] = hp + mb * (n + acts[t, b, H + j] * (hp - n) - hp)


@_jit
def gru_before_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, acts, Hs, dGx, drh, W_rz, W_n,
                             b0, b1):  # fmt: skip
    """The whole BPTT loop (reset before) over rows [b0, b1), the steps of
    gru_reset_before_backward with both products from compiled code."""
    T = dY.shape[0]
    H = Hs.shape[2]
    for t in range(T - 1, -1, -1):
        gru_before_backward_state(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                  acts[t, b0:b1], Hs[t, b0:b1], dGx[t, b0:b1])  # fmt: skip
        blas.gemm(addr, ilp64, dGx[t, b0:b1, 2 * H :], W_n, drh[b0:b1], 1.0, 0.0)
        gru_before_backward_reset(drh[b0:b1], acts[t, b0:b1], Hs[t, b0:b1], dh_skip[b0:b1],
                                  dGx[t, b0:b1])  # fmt: skip
        blas.gemm(addr, ilp64, dGx[t, b0:b1, : 2 * H], W_rz, dh_rec[b0:b1], 1.0, 0.0)


def gru_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun:
    """Forward of one direction, reset after (contract in the module docstring); keeps acts
    and hn = h W_hn^T + b_hn."""
    (h0,) = state0
    Gx, W_hhT, step_scale, b_hn, m, Hs = _input_side(
        X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws, _GRU_SCALE, "Gx", keep_b_hn=True)
    T, B, GH = Gx.shape
    Hd, dt = Hs.shape[2], X.dtype
    acts = ws.get("acts", (T, B, GH), dt)
    gh = ws.get("gh", (B, GH), dt)
    hn = ws.get("hn", (T, B, Hd), dt)
    if step_scale is not None:
        step_scale = step_scale[: 2 * Hd]
    be = _compiled(T)
    if be is not None:
        scale = np.ones(2 * Hd, dt) if step_scale is None else step_scale
        args = (be.address(dt), be.ilp64, Gx, W_hhT, scale, b_hn, gh, m, Hs, acts, hn)
        _run_rows(gru_loop_forward, args, B, _workers(B, T * B * GH * Hd))
        return FastRun(X, (Hs,), acts, hn, mask, m, ws)
    with small_work_threads(B * GH * Hd):  # the per-step matmuls
        for t in range(T):
            a = acts[t]
            np.matmul(Hs[t], W_hhT, out=gh)
            if step_scale is not None:
                gh[:, : 2 * Hd] *= step_scale
            np.add(gh[:, : 2 * Hd], Gx[t, :, : 2 * Hd], out=a[:, : 2 * Hd])
            np.tanh(a[:, : 2 * Hd], out=a[:, : 2 * Hd])
            gru_after_gates_step(gh, Gx[t], b_hn, a, hn[t])
            np.tanh(a[:, 2 * Hd :], out=a[:, 2 * Hd :])
            gru_state_step(a, m[t], Hs[t], Hs[t + 1])
    return FastRun(X, (Hs,), acts, hn, mask, m, ws)


def gru_backward(run: FastRun, dY, dstate, W_hh):
    """BPTT of one direction, reset after (contract in the module docstring)."""
    # Forward's Gx is dead now: its buffer takes dGx, so the workspace holds no
    # more memory than fresh arrays would at peak.
    dY, dh_skip, dh_rec, dGx = _backward_start(run, dY, dstate[0], W_hh, "Gx")
    T, B, GH = dGx.shape
    Hd, dt = W_hh.shape[1], dGx.dtype
    (Hs,), acts, hn, m = run.states, run.acts, run.aux, run.m
    dgh = run.ws.get("dgh", (B, GH), dt)  # one step's recurrent-side gradient
    dGh_n = run.ws.get("dGh_n", (T, B, Hd), dt)
    be = _compiled(T)
    if be is not None:
        args = (be.address(dt), be.ilp64, dY, m, dh_skip, dh_rec, acts, hn, Hs, dGx, dgh, dGh_n,
                W_hh)  # fmt: skip
        _run_rows(gru_loop_backward, args, B, _workers(B, T * B * GH * Hd))
        dh_skip += dh_rec
        return dGx, dGh_n, None, (dh_skip,)
    with small_work_threads(B * GH * Hd):  # the per-step matmuls
        for t in reversed(range(T)):
            gru_after_backward_step(dY[t], m[t], dh_skip, dh_rec, acts[t], hn[t], Hs[t], dGx[t],
                                    dgh, dGh_n[t])  # fmt: skip
            np.matmul(dgh, W_hh, out=dh_rec)
    dh_skip += dh_rec
    return dGx, dGh_n, None, (dh_skip,)


def gru_reset_before_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun:
    """Forward of one direction, reset before (contract in the module docstring); keeps acts
    and rh = r * h_prev."""
    (h0,) = state0
    Gx, W_hhT, step_scale, _, m, Hs = _input_side(
        X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws, _GRU_SCALE, "Gx")
    T, B, GH = Gx.shape
    Hd, dt = Hs.shape[2], X.dtype
    acts = ws.get("acts", (T, B, GH), dt)
    W_rzT, W_nT = W_hhT[:, : 2 * Hd], W_hhT[:, 2 * Hd :]
    if T * B >= Hd:
        W_rzT, W_nT = np.ascontiguousarray(W_rzT), np.ascontiguousarray(W_nT)
    t_rz = ws.get("t_rz", (B, 2 * Hd), dt)
    gh_n = ws.get("gh_n", (B, Hd), dt)
    rh = ws.get("rh", (T, B, Hd), dt)
    if step_scale is not None:
        step_scale = step_scale[: 2 * Hd]
    be = _compiled(T)
    if be is not None:
        scale = np.ones(2 * Hd, dt) if step_scale is None else step_scale
        args = (be.address(dt), be.ilp64, Gx, W_rzT, W_nT, scale, t_rz, gh_n, m, Hs, acts, rh)
        _run_rows(gru_before_loop_forward, args, B, _workers(B, T * B * GH * Hd))
        return FastRun(X, (Hs,), acts, rh, mask, m, ws)
    with small_work_threads(B * GH * Hd):  # the per-step matmuls
        for t in range(T):
            a = acts[t]
            np.matmul(Hs[t], W_rzT, out=t_rz)
            if step_scale is not None:
                t_rz *= step_scale
            t_rz += Gx[t, :, : 2 * Hd]
            np.tanh(t_rz, out=t_rz)
            gru_before_gates_step(t_rz, Hs[t], a, rh[t])
            np.matmul(rh[t], W_nT, out=gh_n)
            gh_n += Gx[t, :, 2 * Hd :]
            np.tanh(gh_n, out=a[:, 2 * Hd :])
            gru_state_step(a, m[t], Hs[t], Hs[t + 1])
    return FastRun(X, (Hs,), acts, rh, mask, m, ws)


def gru_reset_before_backward(run: FastRun, dY, dstate, W_hh):
    """BPTT of one direction, reset before (contract in the module docstring)."""
    dY, dh_skip, dh_rec, dGx = _backward_start(run, dY, dstate[0], W_hh, "Gx")
    T, B, GH = dGx.shape
    Hd, dt = W_hh.shape[1], dGx.dtype
    (Hs,), acts, m = run.states, run.acts, run.m
    W_rz, W_n = W_hh[: 2 * Hd], W_hh[2 * Hd :]
    drh = run.ws.get("drh", (B, Hd), dt)
    be = _compiled(T)
    if be is not None:
        args = (be.address(dt), be.ilp64, dY, m, dh_skip, dh_rec, acts, Hs, dGx, drh, W_rz, W_n)
        _run_rows(gru_before_loop_backward, args, B, _workers(B, T * B * GH * Hd))
        dh_skip += dh_rec
        return dGx, None, run.aux, (dh_skip,)
    with small_work_threads(B * GH * Hd):  # the per-step matmuls
        for t in reversed(range(T)):
            gru_before_backward_state(dY[t], m[t], dh_skip, dh_rec, acts[t], Hs[t], dGx[t])
            np.matmul(dGx[t, :, 2 * Hd :], W_n, out=drh)
            gru_before_backward_reset(drh, acts[t], Hs[t], dh_skip, dGx[t])
            np.matmul(dGx[t, :, : 2 * Hd], W_rz, out=dh_rec)
    dh_skip += dh_rec
    return dGx, None, run.aux, (dh_skip,)


# ---------------------------------------------------------------------------
# Vanilla RNN
# ---------------------------------------------------------------------------


@_jit
def masked_update(v, m, h_prev, h):
    """h = h_prev + m (v - h_prev): a padded step keeps the previous state."""
    B, H = h.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            hp = h_prev[b, j]
            h[b, j] = hp + mb * (v[b, j] - hp)


@_jit
def rnn_tanh_backward_step(dy, m, dh_skip, dh_rec, acts, dgates):
    """da = dh (1 - h²) on valid steps, 0 on padded ones; dh_skip keeps the padded part."""
    B, H = dh_skip.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            dhv = dh_skip[b, j] + dh_rec[b, j] + dy[b, j] * mb
            v = acts[b, j]
            dgates[b, j] = dhv * mb * (_ONE - v * v)
            dh_skip[b, j] = dhv * (_ONE - mb)


@_jit
def rnn_relu_backward_step(dy, m, dh_skip, dh_rec, acts, dgates):
    """da = dh 1[h > 0] on valid steps, 0 on padded ones; dh_skip keeps the padded part."""
    B, H = dh_skip.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            dhv = dh_skip[b, j] + dh_rec[b, j] + dy[b, j] * mb
            v = acts[b, j]
            dgates[b, j] = dhv * mb if v > 0 else _ZERO
            dh_skip[b, j] = dhv * (_ONE - mb)


@_jit
def rnn_loop_forward(addr, ilp64, Gx, W_hhT, relu, masked, m, Hs, acts, b0, b1):
    """The whole forward time loop over rows [b0, b1): ``acts[t] = φ(Hs[t] W_hhT + Gx[t])``
    with the product from compiled code; ``masked``: h = h_prev + m (a - h_prev), else acts
    are the states themselves (``acts`` is ``Hs[1:]``)."""
    T = Gx.shape[0]
    H = Hs.shape[2]
    for t in range(T):
        blas.gemm(addr, ilp64, Hs[t, b0:b1], W_hhT, acts[t, b0:b1], 1.0, 0.0)
        for b in range(b0, b1):
            if relu:
                for j in range(H):
                    acts[t, b, j] = max(acts[t, b, j] + Gx[t, b, j], _ZERO)
            else:
                for j in range(H):
                    acts[t, b, j] = _tanh(acts[t, b, j] + Gx[t, b, j])
            if masked:
                mb = m[t, b]
                for j in range(H):
                    hp = Hs[t, b, j]
                    Hs[t + 1, b, j] = hp + mb * (acts[t, b, j] - hp)


@_jit
def rnn_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, acts, dGx, W_hh, relu, b0, b1):
    """The whole BPTT loop over rows [b0, b1): the tanh or relu backward step, then
    ``dh_rec = dGx[t] W_hh`` from compiled code, for t = T-1..0."""
    T = dY.shape[0]
    for t in range(T - 1, -1, -1):
        if relu:
            rnn_relu_backward_step(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                   acts[t, b0:b1], dGx[t, b0:b1])  # fmt: skip
        else:
            rnn_tanh_backward_step(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                   acts[t, b0:b1], dGx[t, b0:b1])  # fmt: skip
        blas.gemm(addr, ilp64, dGx[t, b0:b1], W_hh, dh_rec[b0:b1], 1.0, 0.0)


def _relu(a, out):
    return np.maximum(a, 0, out=out)


def _rnn_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws, activation) -> FastRun:
    """Forward of one direction; ``activation(a, out=a)`` is np.tanh or relu."""
    (h0,) = state0
    Gx, W_hhT, _, _, m, Hs = _input_side(X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws)
    T, B, Hd = Gx.shape
    # the activations are the states: keep them once (apart only for the mask)
    acts = Hs[1:] if mask is None else ws.get("acts", (T, B, Hd), X.dtype)
    be = _compiled(T)
    if be is not None:
        args = (be.address(X.dtype), be.ilp64, Gx, W_hhT, activation is _relu, mask is not None,
                m, Hs, acts)  # fmt: skip
        _run_rows(rnn_loop_forward, args, B, _workers(B, T * B * Hd * Hd))
        return FastRun(X, (Hs,), acts, None, mask, m, ws)
    with small_work_threads(B * Hd * Hd):  # the per-step matmuls
        for t in range(T):
            a = acts[t]
            np.matmul(Hs[t], W_hhT, out=a)
            a += Gx[t]
            activation(a, out=a)
            if mask is not None:
                masked_update(a, m[t], Hs[t], Hs[t + 1])
    return FastRun(X, (Hs,), acts, None, mask, m, ws)


def _rnn_backward(run: FastRun, dY, dstate, W_hh, step):
    dY, dh_skip, dh_rec, dGx = _backward_start(run, dY, dstate[0], W_hh, "Gx")
    T, B, Hd = dGx.shape
    acts, m = run.acts, run.m
    be = _compiled(T)
    if be is not None:
        args = (be.address(dGx.dtype), be.ilp64, dY, m, dh_skip, dh_rec, acts, dGx, W_hh,
                step is rnn_relu_backward_step)  # fmt: skip
        _run_rows(rnn_loop_backward, args, B, _workers(B, T * B * Hd * Hd))
        dh_skip += dh_rec
        return dGx, None, None, (dh_skip,)
    with small_work_threads(B * Hd * Hd):  # the per-step matmuls
        for t in reversed(range(T)):
            step(dY[t], m[t], dh_skip, dh_rec, acts[t], dGx[t])
            np.matmul(dGx[t], W_hh, out=dh_rec)
    dh_skip += dh_rec
    return dGx, None, None, (dh_skip,)


def rnn_tanh_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun:
    """Forward of one direction, φ = tanh (contract in the module docstring)."""
    return _rnn_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws, np.tanh)


def rnn_tanh_backward(run: FastRun, dY, dstate, W_hh):
    """BPTT of one direction, φ = tanh (contract in the module docstring)."""
    return _rnn_backward(run, dY, dstate, W_hh, rnn_tanh_backward_step)


def rnn_relu_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun:
    """Forward of one direction, φ = relu (contract in the module docstring)."""
    return _rnn_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws, _relu)


def rnn_relu_backward(run: FastRun, dY, dstate, W_hh):
    """BPTT of one direction, φ = relu (contract in the module docstring)."""
    return _rnn_backward(run, dY, dstate, W_hh, rnn_relu_backward_step)
