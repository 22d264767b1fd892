"""The LSTM's compiled kernels and its whole-direction drivers (contract in
:mod:`rnnkit.nn.fast`), registered for :class:`rnnkit.nn.cells.LSTMCell`.

The gate pre-activations of the sigmoid gates come half-scaled (see ``_LSTM_SCALE``), so
one tanh gives every gate: σ(x) = (1 + tanh(x / 2)) / 2.
"""

from __future__ import annotations

import numpy as np

from .. import blas
from ..cells import LSTMCell
from ..registry import register
from . import threads
from .base import (
    _LSTM_SCALE,
    FastRun,
    _backward_start,
    _compiled,
    _fused_input_side,
    _input_side,
    _row_split,
)
from .jit import _HALF, _ONE, _inline, _jit, _tanh

# One element's arithmetic, written once: the per-step kernels (after a vectorised np.tanh)
# and the whole-loop kernels (tanh inline) call the same functions.


@_inline
def _cell_forward(ti, tf, g, to, c_prev, mb):
    """From the tanh of the half-scaled i, f, o pre-activations and g = tanh(x_g): the gates
    i, f, o = σ = (1 + t) / 2, c_new = f c_prev + i g, and the cell state kept (masked)."""
    i = _HALF + _HALF * ti
    f = _HALF + _HALF * tf
    o = _HALF + _HALF * to
    c_new = f * c_prev + i * g
    return i, f, o, c_new, _masked(c_prev, mb, c_new)


@_inline
def _masked(prev, mb, new):
    """prev + m (new - prev): a padded step (m = 0) keeps the previous value."""
    return prev + mb * (new - prev)


@_inline
def _cell_backward(dh, dc, mb, i, f, g, o, tanh_c, c_prev):
    """One element of LSTMCell.backward on a masked step: ``dh`` dL/dh_t (skip, recurrent
    and output parts together), ``dc`` dL/dc_t. Returns the gate pre-activation gradients
    (di, df, dg, do), dL/dc_prev and the part of dL/dh_prev that skips the cell (padded)."""
    dh_cell = dh * mb
    dct = dc * mb + dh_cell * o * (_ONE - tanh_c * tanh_c)
    return (dct * g * i * (_ONE - i), dct * c_prev * f * (_ONE - f), dct * i * (_ONE - g * g),
            dh_cell * tanh_c * o * (_ONE - o), dct * f + dc * (_ONE - mb), dh * (_ONE - mb))


@_jit
def lstm_state_step(acts, m, c_prev, c, tanh_c):
    """acts holds tanh of the (half-scaled) pre-activations: turn i, f, o into σ = (1 + t) / 2,
    then c_new = f c_prev + i g; writes the masked c and c_new (to be tanh'ed) into tanh_c."""
    B, H = c.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            i, f, o, cn, c[b, j] = _cell_forward(acts[b, j], acts[b, H + j], acts[b, 2 * H + j],
                                                 acts[b, 3 * H + j], c_prev[b, j], mb)
            acts[b, j] = i
            acts[b, H + j] = f
            acts[b, 3 * H + j] = o
            tanh_c[b, j] = cn


@_jit
def lstm_hidden_step(acts, m, tanh_c, h_prev, h):
    """h = o tanh(c), masked."""
    B, H = h.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            h[b, j] = _masked(h_prev[b, j], mb, acts[b, 3 * H + j] * tanh_c[b, j])


@_jit
def lstm_backward_step(dy, m, dh_skip, dh_rec, dc, acts, c_prev, tanh_c, dgates):
    """Gate gradients of one step; updates dh_skip and dc in place (see LSTMCell.backward)."""
    B, H = dh_skip.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            dh = dh_skip[b, j] + dh_rec[b, j] + dy[b, j] * mb
            (dgates[b, j], dgates[b, H + j], dgates[b, 2 * H + j], dgates[b, 3 * H + j],
             dc[b, j], dh_skip[b, j]) = _cell_backward(
                dh, dc[b, j], mb, acts[b, j], acts[b, H + j], acts[b, 2 * H + j],
                acts[b, 3 * H + j], tanh_c[b, j], c_prev[b, j])  # fmt: skip


@_jit
def lstm_loop_forward(addr, ilp64, acts, A, W, P, J, beta, scaled, scale, gh, bias, m, Hs, Cs,
                      tanh_c, fused, I, b0, b1):  # fmt: skip
    """The whole forward time loop over batch rows [b0, b1), BLAS called from compiled code.

    Per step the gate pre-activations ``acts[t] = A[t] W + beta acts[t]`` (by ``P``, W
    packed once, where it is not empty, see :func:`rnnkit.nn.blas.pack`; or by MKL's kernel
    generated for the product's shapes, from ``J``, see :func:`rnnkit.nn.blas.jit`), one of:

    * ``A = Hs``, ``W = W_hh^T``, ``beta = 1``: acts holds the input projection already;
      ``scaled``: the gate scale is already in W; else the product goes to ``gh`` and is
      scaled by ``scale`` (G*H,) here;
    * ``fused``: ``A`` (T+1, B, >= I+H) holds the rows ``[x_t, Hs[t]]`` in its first I+H
      columns, ``W = [W_ih, W_hh]^T`` (I+H, G*H), scaled, ``beta = 0``: input and recurrent
      products in one a step (one pass over the gates fewer, no input projection apart);
      the loop writes each new h into ``A[t+1, :, I:I+H]`` too. (A whole C-ordered array,
      not a view of its columns: a store through a strided view keeps LLVM from
      vectorising the gate loop.)

    Then, with ``bias`` (G*H,) added as the pre-activations are read, i, f, o = σ, g = tanh,
    c = f c_prev + i g, h = o tanh(c), masked, with the arithmetic of lstm_state_step and
    lstm_hidden_step."""
    T = acts.shape[0]
    H = Hs.shape[2]
    K = W.shape[0]
    for t in range(T):
        a = acts[t]
        if scaled:
            blas.gemm_j(addr, ilp64, A[t, b0:b1, :K], W, P, J, a[b0:b1], beta)
        else:
            blas.gemm_j(addr, ilp64, A[t, b0:b1, :K], W, P, J, gh[b0:b1], 0.0)
            for b in range(b0, b1):
                for j in range(4 * H):
                    a[b, j] += scale[j] * gh[b, j]
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                g = _tanh(a[b, 2 * H + j] + bias[2 * H + j])
                i, f, o, cn, Cs[t + 1, b, j] = _cell_forward(
                    _tanh(a[b, j] + bias[j]), _tanh(a[b, H + j] + bias[H + j]), g,
                    _tanh(a[b, 3 * H + j] + bias[3 * H + j]), Cs[t, b, j], mb)  # fmt: skip
                a[b, j] = i
                a[b, H + j] = f
                a[b, 2 * H + j] = g
                a[b, 3 * H + j] = o
                tc = _tanh(cn)
                tanh_c[t, b, j] = tc
                Hs[t + 1, b, j] = _masked(Hs[t, b, j], mb, o * tc)
            if fused:  # (apart: a conditional store in the loop above keeps it scalar)
                for j in range(H):
                    A[t + 1, b, I + j] = Hs[t + 1, b, j]


@_jit
def lstm_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, dc, acts, Cs, tanh_c, dGx, W_hh, P,
                       J, b0, b1):  # fmt: skip
    """The whole BPTT loop over batch rows [b0, b1): the arithmetic of lstm_backward_step,
    then ``dh_rec = dGx[t] W_hh`` (by ``P``, W_hh packed, where not empty, or by MKL's
    generated kernel from ``J``) from compiled code, for t = T-1..0.

    (Measured slower, 2026-12-06, docs/performance.md: dX[t] = dGx[t] W_ih in the same
    product a step, by [W_hh, W_ih], against one large product after the loop; and the
    bias gradient summed here as dGx is written, against the ones column of the forward's
    [x_t, h_prev, 1] rows in the weight-gradient product.)"""
    T = dY.shape[0]
    H = dh_skip.shape[1]
    for t in range(T - 1, -1, -1):
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                dh = dh_skip[b, j] + dh_rec[b, j] + dY[t, b, j] * mb
                di, df, dg, do, dc[b, j], dh_skip[b, j] = _cell_backward(
                    dh, dc[b, j], mb, acts[t, b, j], acts[t, b, H + j], acts[t, b, 2 * H + j],
                    acts[t, b, 3 * H + j], tanh_c[t, b, j], Cs[t, b, j])
                dGx[t, b, j] = di
                dGx[t, b, H + j] = df
                dGx[t, b, 2 * H + j] = dg
                dGx[t, b, 3 * H + j] = do
        blas.gemm_j(addr, ilp64, dGx[t, b0:b1], W_hh, P, J, dh_rec[b0:b1], 0.0)


#: The widest [x_t, h_prev] row (I + H) the compiled loop multiplies by [W_ih, W_hh]^T in one
#: product a step; wider, the input projection is one large product before the loop. Measured
#: on a 2-core Intel Xeon with MKL (2026-12-06, training step, in-process medians): one
#: product a step was 12 % faster at (B, T, I, H) = (32, 100, 65, 128), 4 % at (64, 100, 128,
#: 256), 3 % at (64, 100, 512, 512), and 2.7 % slower at (128, 50, 1024, 1024), where the
#: large projection already runs near the matmul rate and the rows' copy costs more. MKL only
#: (a backend that packs): with NumPy's OpenBLAS, which packs the weight again at every call,
#: one product a step was 9 % slower at (64, 100, 512, 512) and even at (32, 100, 65, 128).
FUSED_MAX_WIDTH = 1024


def lstm_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun:
    """Forward of one direction (contract in the module docstring); keeps acts, C, tanh(c)."""
    h0, c0 = state0
    T, B, I = X.shape
    GH, Hd = W_hh.shape
    dt = X.dtype
    be = _compiled(T)
    Cs = ws.get("C", (T + 1, B, Hd), dt)
    Cs[0] = c0
    tanh_c = ws.get("tanh_c", (T, B, Hd), dt)
    gh = ws.get("gh", (B, GH), dt)
    if be is not None and be.packs and T * B >= I + Hd and I + Hd <= FUSED_MAX_WIDTH:
        # Both products in one a step, by [W_ih, W_hh]^T, where T*B rows amortise the
        # weights' copy; its rows [x_t, h_prev, 1] are kept for dW_ih, dW_hh and the bias
        # gradient in one product.
        XH, W, bias, m, Hs = _fused_input_side(X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws,
                                               _LSTM_SCALE)  # fmt: skip
        acts = ws.get("acts", (T, B, GH), dt)
        n, ((P, J),) = _row_split(be, B, T * B * GH * (I + Hd), (W, XH[0], acts[0], 0.0))
        # (scaled: the gate scale is in W, so ``scale`` is not read: the bias stands in)
        args = (be.address(dt), be.ilp64, acts, XH, W, P, J, 0.0, True, bias, gh, bias, m, Hs,
                Cs, tanh_c, True, I)  # fmt: skip
        threads._run_rows(lstm_loop_forward, args, B, n)
        return FastRun(X, (Hs, Cs), acts, tanh_c, mask, m, ws, XH=XH[:, :, : I + Hd + 1])
    # The LSTM adds each step's recurrent matmul to its row of Gx in place, so Gx
    # is computed straight into the activation buffer (one (T, B, 4H) array less);
    # the compiled loop adds the biases as it reads the gates (fold_bias).
    acts, W_hhT, step_scale, bias, m, Hs = _input_side(
        X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws, _LSTM_SCALE, "acts", fold_bias=be is not None)
    if be is not None:
        scaled = step_scale is None
        scale = gh[0] if scaled else step_scale  # (unused when scaled)
        step = (W_hhT, Hs[0], acts[0], 1.0) if scaled else (W_hhT, Hs[0], gh, 0.0)
        n, ((P, J),) = _row_split(be, B, T * B * GH * Hd, step)
        args = (be.address(dt), be.ilp64, acts, Hs, W_hhT, P, J, 1.0, scaled, scale, gh, bias, m,
                Hs, Cs, tanh_c, False, 0)  # fmt: skip
        threads._run_rows(lstm_loop_forward, args, B, n)
        return FastRun(X, (Hs, Cs), acts, tanh_c, mask, m, ws)
    with threads.small_work_threads(B * GH * Hd, weight=GH * Hd):  # the per-step matmuls
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
    Hd, dt = W_hh.shape[1], dGx.dtype
    dc = np.array(dc, dtype=dt, copy=True)
    (_, Cs), acts, tanh_c, m = run.states, run.acts, run.aux, run.m
    be = _compiled(T)
    if be is not None:
        n, ((P, J),) = _row_split(be, B, T * B * GH * Hd, (W_hh, dGx[0], dh_rec, 0.0))
        args = (be.address(dt), be.ilp64, dY, m, dh_skip, dh_rec, dc, acts, Cs, tanh_c, dGx,
                W_hh, P, J)  # fmt: skip
        threads._run_rows(lstm_loop_backward, args, B, n)
        dh_skip += dh_rec
        return dGx, None, None, (dh_skip, dc)
    with threads.small_work_threads(B * GH * Hd):  # the per-step matmuls
        for t in reversed(range(T)):
            lstm_backward_step(dY[t], m[t], dh_skip, dh_rec, dc, acts[t], Cs[t], tanh_c[t],
                               dGx[t])  # fmt: skip
            np.matmul(dGx[t], W_hh, out=dh_rec)
    dh_skip += dh_rec
    return dGx, None, None, (dh_skip, dc)


register(LSTMCell, lstm_forward, lstm_backward)
