"""The fast path of the recurrent layers: fused, compiled gate kernels.

Same math and same parameters as the readable reference in
:mod:`rnnkit.nn.cells` (the tests check one against the other), arranged for
speed:

* both bias vectors are folded into the input projection ``Gx`` once per
  sequence (except the GRU's ``b_hn`` when the reset gate comes after the
  matmul, since ``r`` multiplies it);
* per step, one BLAS matmul for the recurrent part (``np.matmul(..., out=)``
  into a preallocated buffer), then one compiled loop that applies every gate
  non-linearity, the state update and the length mask in a single pass, writing
  into preallocated (T, B, ...) arrays: no per-step allocation;
* backward mirrors it: one compiled loop per step computes the gate gradients
  (and keeps the "skip" gradient of padded steps), one matmul sends them back
  through ``W_hh``.

The kernels are compiled with numba when it is installed (``pip install
rnnkit[fast]``); without it the layers use the reference path, which gives the
same results. Set ``RNNKIT_DISABLE_JIT=1`` (before import) or
``rnnkit.nn.fast.ENABLED = False`` to force the reference path.

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

import numpy as np

try:  # pragma: no cover - exercised implicitly
    if os.environ.get("RNNKIT_DISABLE_JIT"):
        raise ImportError("disabled by RNNKIT_DISABLE_JIT")
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    numba = None
    AVAILABLE = False

#: Whether the layers use the compiled path (when ``AVAILABLE``).
ENABLED = AVAILABLE

#: Matmuls with at most this many multiply-adds run on one BLAS thread: waking
#: BLAS threads costs more than they save on small products (and on a busy
#: machine a thread that has to wait for a core can cost milliseconds a call).
SMALL_MATMUL_MACS = 1 << 21

_blas = None
_single = False  # inside a one-thread region already


@contextlib.contextmanager
def small_work_threads(macs: int):
    """One BLAS thread for a region whose matmuls are small (``macs`` multiply-adds each).

    Only ever lowers the thread count, and only inside the region; larger work
    keeps the user's setting (``OMP_NUM_THREADS``, threadpoolctl). Needs
    threadpoolctl (the ``fast`` extra); without it this does nothing. Talks to
    the BLAS libraries' own controllers (about a microsecond a call; a full
    ``threadpool_limits`` costs tens of microseconds, a tenth of a small step).
    """
    global _blas, _single
    if _single or macs > SMALL_MATMUL_MACS:
        yield
        return
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except ImportError:  # pragma: no cover
            _blas = []
    previous = [lib.get_num_threads() for lib in _blas]
    lower = [(lib, n) for lib, n in zip(_blas, previous, strict=True) if n is not None and n > 1]
    _single = True
    try:
        for lib, _ in lower:
            lib.set_num_threads(1)
        yield
    finally:
        for lib, n in lower:
            lib.set_num_threads(n)
        _single = False


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
    return numba.njit(cache=True, nogil=True, boundscheck=False)(fn)


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
    """Gate gradients of one step; updates dh_skip and dc in place (see cells.lstm_cell_backward)."""
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
def rnn_backward_step(dy, m, relu, dh_skip, dh_rec, acts, dgates):
    B, H = dh_skip.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            dhv = dh_skip[b, j] + dh_rec[b, j] + dy[b, j] * mb
            v = acts[b, j]
            if relu:
                dgates[b, j] = dhv * mb if v > 0 else _ZERO
            else:
                dgates[b, j] = dhv * mb * (_ONE - v * v)
            dh_skip[b, j] = dhv * (_ONE - mb)


# ---------------------------------------------------------------------------
# Whole-direction drivers used by rnnkit.nn.recurrent
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
    """What the fast path keeps between forward and backward of one (layer, direction)."""

    __slots__ = ("X", "H", "C", "acts", "aux", "mask", "rev", "m", "ws")


def _half_scale(mode: str, H: int):
    """Per-row scale of the fused gate weights: 0.5 for sigmoid gates, 1 for tanh ones.

    With σ(x) = (1 + tanh(x / 2)) / 2, halving the sigmoid gates' rows of W_ih,
    W_hh and the biases lets one vectorised ``np.tanh`` evaluate every gate of
    a step (and scaling by 0.5 is exact in floating point).
    """
    if mode == "LSTM":  # i, f, g, o
        scale = np.full(4 * H, _HALF)
        scale[2 * H : 3 * H] = _ONE
        return scale
    if mode == "GRU":  # r, z, n
        scale = np.full(3 * H, _HALF)
        scale[2 * H :] = _ONE
        return scale
    return None


def run_direction(mode, reset_after, X, h0, c0, W_ih, W_hh, b_ih, b_hh, mask, ws=None) -> FastRun:
    """Forward over X (T, B, I); ``mask`` (T, B, 1) or None. Returns the run with H (T+1, B, H).

    ``ws``: the :class:`Workspace` of this (layer, direction), or None for fresh arrays.
    The arrays the run keeps for backward live in ``ws`` until the next call.
    """
    ws = Workspace() if ws is None else ws
    T, B, _ = X.shape
    Hd = W_hh.shape[1]
    GH = W_hh.shape[0]
    dt = X.dtype
    scale = _half_scale(mode, Hd)
    step_scale = None  # scale applied to each step's recurrent matmul instead of to W_hh
    if scale is not None:
        # Scale whichever is smaller: the weights, or the T*B rows they produce
        # (one-step calls, as in generation, must not copy the weights).
        scale = scale.astype(dt)
        if T * B >= X.shape[2]:
            W_ih = W_ih * scale[:, None]
        if T * B >= Hd:
            W_hh = W_hh * scale[:, None]
        else:
            step_scale = scale if mode == "LSTM" else scale[: 2 * Hd]
        if b_ih is not None:
            b_ih, b_hh = b_ih * scale, b_hh * scale
    # The step matmul h W_hh^T runs ~25% faster (OpenBLAS, small B) on a
    # contiguous W_hh^T than on the transposed view; copy it when T*B rows
    # amortise the copy.
    W_hhT = np.ascontiguousarray(W_hh.T) if T * B >= Hd else W_hh.T  # (H, G*H)
    # The LSTM adds each step's recurrent matmul to its row of Gx in place, so Gx
    # is computed straight into the activation buffer (one (T, B, 4H) array less).
    acts = ws.get("acts", (T, B, GH), dt) if mode in ("LSTM", "GRU") or mask is not None else None
    Gx = acts if mode == "LSTM" else ws.get("Gx", (T, B, GH), dt)  # (T, B, G*H)
    np.matmul(X.reshape(T * B, -1), W_ih.T, out=Gx.reshape(T * B, GH))
    if scale is not None and T * B < X.shape[2]:
        Gx *= scale
    b_hn = np.zeros(Hd, dtype=dt)
    if b_ih is not None:  # both biases in one pass over Gx
        bias = b_ih + b_hh
        if mode == "GRU" and reset_after:  # b_hn sits inside r * (...): keep it apart
            bias[2 * Hd :] = b_ih[2 * Hd :]
            b_hn = b_hh[2 * Hd :]
        Gx += bias
    m = np.ones((T, B), dtype=dt) if mask is None else np.ascontiguousarray(mask[:, :, 0])
    Hs = np.empty((T + 1, B, Hd), dtype=dt)  # fresh: the layer's output is a view of it
    Hs[0] = h0
    run = FastRun()
    run.C = None
    run.aux = None
    with small_work_threads(B * GH * Hd):  # the per-step matmuls
        if mode == "LSTM":
            Cs = ws.get("C", (T + 1, B, Hd), dt)
            Cs[0] = c0
            tanh_c = ws.get("tanh_c", (T, B, Hd), dt)
            gh = ws.get("gh", (B, GH), dt)
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
            run.C, run.aux = Cs, tanh_c
        elif mode == "GRU" and reset_after:
            gh = ws.get("gh", (B, GH), dt)
            hn = ws.get("hn", (T, B, Hd), dt)
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
            run.aux = hn
        elif mode == "GRU":
            W_rzT, W_nT = W_hhT[:, : 2 * Hd], W_hhT[:, 2 * Hd :]
            if T * B >= Hd:
                W_rzT, W_nT = np.ascontiguousarray(W_rzT), np.ascontiguousarray(W_nT)
            t_rz = ws.get("t_rz", (B, 2 * Hd), dt)
            gh_n = ws.get("gh_n", (B, Hd), dt)
            rh = ws.get("rh", (T, B, Hd), dt)
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
            run.aux = rh
        else:
            if mask is None:  # the activations are the states: keep them once
                acts = Hs[1:]
            for t in range(T):
                a = acts[t]
                np.matmul(Hs[t], W_hhT, out=a)
                a += Gx[t]
                if mode == "RNN_RELU":
                    np.maximum(a, 0, out=a)
                else:
                    np.tanh(a, out=a)
                if mask is not None:
                    masked_update(a, m[t], Hs[t], Hs[t + 1])
    run.X, run.H, run.acts, run.mask, run.m, run.ws = X, Hs, acts, mask, m, ws
    return run


def backward_direction(mode, reset_after, run: FastRun, dY, dh, dc, W_hh):
    """BPTT of one direction.

    Returns ``(dGx, dGh_n, dh0, dc0)``: dGx (T, B, G*H) the gate pre-activation
    gradients (input side, = recurrent side except in the GRU), and for the GRU
    dGh_n (T, B, H), the recurrent side's gradient of the candidate block.
    """
    T, B, _ = run.X.shape
    Hd = W_hh.shape[1]
    GH = W_hh.shape[0]
    dt = run.X.dtype
    dY = np.ascontiguousarray(dY)
    m, acts, Hs = run.m, run.acts, run.H
    dh_skip = np.array(dh, dtype=dt, copy=True)
    dh_rec = np.zeros((B, Hd), dtype=dt)
    # Consumed by the weight gradients, then dead. Except in the LSTM (whose Gx
    # became its activations), forward's Gx is dead now: its buffer takes dGx,
    # so the workspace holds no more memory than fresh arrays would at peak.
    dGx = run.ws.get("dGx" if mode == "LSTM" else "Gx", (T, B, GH), dt)
    dGh_n = None
    with small_work_threads(B * GH * Hd):  # the per-step matmuls
        if mode == "LSTM":
            dc = np.array(dc, dtype=dt, copy=True)
            Cs, tanh_c = run.C, run.aux
            for t in reversed(range(T)):
                lstm_backward_step(dY[t], m[t], dh_skip, dh_rec, dc, acts[t], Cs[t], tanh_c[t], dGx[t])
                np.matmul(dGx[t], W_hh, out=dh_rec)
        elif mode == "GRU" and reset_after:
            dgh = run.ws.get("dgh", (B, GH), dt)  # one step's recurrent-side gradient
            dGh_n = run.ws.get("dGh_n", (T, B, Hd), dt)
            for t in reversed(range(T)):
                gru_after_backward_step(dY[t], m[t], dh_skip, dh_rec, acts[t], run.aux[t], Hs[t], dGx[t], dgh, dGh_n[t])
                np.matmul(dgh, W_hh, out=dh_rec)
        elif mode == "GRU":
            W_rz, W_n = W_hh[: 2 * Hd], W_hh[2 * Hd :]
            drh = run.ws.get("drh", (B, Hd), dt)
            for t in reversed(range(T)):
                gru_before_backward_state(dY[t], m[t], dh_skip, dh_rec, acts[t], Hs[t], dGx[t])
                np.matmul(dGx[t, :, 2 * Hd :], W_n, out=drh)
                gru_before_backward_reset(drh, acts[t], Hs[t], dh_skip, dGx[t])
                np.matmul(dGx[t, :, : 2 * Hd], W_rz, out=dh_rec)
            dGh_n = dGx[:, :, 2 * Hd :]
        else:
            relu = mode == "RNN_RELU"
            for t in reversed(range(T)):
                rnn_backward_step(dY[t], m[t], relu, dh_skip, dh_rec, acts[t], dGx[t])
                np.matmul(dGx[t], W_hh, out=dh_rec)
    dh_skip += dh_rec
    return dGx, dGh_n, dh_skip, dc
