"""The layer-normalised LSTM's compiled kernels and its whole-direction drivers, registered for
:class:`rnnkit.nn.cells.LayerNormLSTMCell` (equations and the placement of the normalisations
there: Ba et al. 2016, ``LN(W_ih x)`` and ``LN(W_hh h)`` separately, and ``tanh(LN(c))``).

The drivers follow the contract of :mod:`rnnkit.nn.fast` with the normalisations' parameters
as one argument more, ``norm = (γ_ih (4H,), γ_hh (4H,), γ_c (H,), β_c (H,) or None)``:

* ``ln_lstm_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws, norm) -> FastRun``, whose
  ``aux`` is ``(n_x, inv_x, n_h, inv_h, n_c, inv_c, tanh_c)``: the normalised input product
  (T, B, 4H) and its inverse deviation (T, B, 1), the same for the recurrent product (T, B,
  4H), (T, B) and for the cell state (T, B, H), (T, B), and ``tanh(γ_c n_c + β_c)`` (T, B, H);
* ``ln_lstm_backward(run, dY, dstate, W_hh, norm) -> (db, dP, dGh, dnorm, dstate0)``: ``db``
  (4H,) the gradient of ``b_ih`` and of ``b_hh`` (the gate pre-activation gradients summed
  over all steps), ``dP`` (T, B, 4H) the gradient of the raw input product ``X W_ih^T``
  (through the input side's normalisation), ``dGh`` (T, B, 4H) that of the raw recurrent
  products ``h W_hh^T``, ``dnorm`` the gradients of ``norm`` (None for an absent ``β_c``),
  and ``(dh0, dc0)``. The layer (:class:`rnnkit.nn.recurrent.LayerNormLSTM`) turns ``dP`` and
  ``dGh`` into ``dX``, ``dW_ih`` and ``dW_hh`` with three large products.

Each step is one recurrent gemm and one pass over the batch rows: the normalisation of the
recurrent product (one row's mean and variance over its 4H values), the gates, the cell
state, its normalisation and ``h``. The rows are independent, so they split over the row
threads as the other cells' loops do; the gains' gradients are summed per row (arrays of B
rows, one thread writing each) and over the rows after the loop. The input side's
normalisation runs before the loop over all T*B positions at once (``ln_input``), its
backward after the BPTT loop (``ln_input_backward``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import blas
from ..cells import LayerNormLSTMCell
from ..registry import register
from . import threads
from .base import FastRun, _compiled
from .jit import _HALF, _ONE, _inline, _jit, _tanh


@_inline
def _moments(x, eps):
    """``(mean, 1 / sqrt(var + eps))`` of the 1-d ``x`` (biased variance), in float64. Four
    partial sums: a floating-point sum does not vectorise, four chains run side by side."""
    N = x.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    j = 0
    while j + 4 <= N:
        s0 += x[j]
        s1 += x[j + 1]
        s2 += x[j + 2]
        s3 += x[j + 3]
        j += 4
    while j < N:
        s0 += x[j]
        j += 1
    mu = (s0 + s1 + s2 + s3) / N
    s0 = s1 = s2 = s3 = 0.0
    j = 0
    while j + 4 <= N:
        d0, d1, d2, d3 = x[j] - mu, x[j + 1] - mu, x[j + 2] - mu, x[j + 3] - mu
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        j += 4
    while j < N:
        d0 = x[j] - mu
        s0 += d0 * d0
        j += 1
    return mu, 1.0 / math.sqrt((s0 + s1 + s2 + s3) / N + eps)


@_inline
def _means(dn, n):
    """``(mean(dn), mean(dn * n))`` of two 1-d arrays, in float64 (the two sums of a
    normalisation's backward), two partial sums each."""
    N = dn.shape[0]
    s0 = s1 = p0 = p1 = 0.0
    j = 0
    while j + 2 <= N:
        s0 += dn[j]
        s1 += dn[j + 1]
        p0 += dn[j] * n[j]
        p1 += dn[j + 1] * n[j + 1]
        j += 2
    while j < N:
        s0 += dn[j]
        p0 += dn[j] * n[j]
        j += 1
    return (s0 + s1) / N, (p0 + p1) / N


@_jit
def ln_input(P, gain, bias, n_x, inv_x, eps):
    """Per row r of P (R, 4H): ``n_x[r] = LN(P[r])``, ``inv_x[r, 0]`` its 1/sqrt(var + eps), and
    P[r] overwritten with ``gain * n_x[r] + bias``."""
    R, N = P.shape
    for r in range(R):
        row, nr = P[r], n_x[r]
        mu, inv = _moments(row, eps)
        inv_x[r, 0] = inv
        for j in range(N):
            nr[j] = (row[j] - mu) * inv
            row[j] = gain[j] * nr[j] + bias[j]


@_jit
def ln_input_backward(dGx, gain, n_x, inv_x, dP, d_gain, d_bias):
    """The backward of ``ln_input`` per row r of dGx (R, 4H) (the gradient of ``gain * n_x +
    bias``): ``dP[r] = LN'(dGx[r] * gain)``, and the sums over the rows of ``dGx * n_x`` and
    ``dGx`` added into ``d_gain`` and ``d_bias`` (4H,)."""
    R, N = dGx.shape
    for r in range(R):
        dg, nr, dp = dGx[r], n_x[r], dP[r]
        for j in range(N):
            d_gain[j] += dg[j] * nr[j]
            d_bias[j] += dg[j]
            dp[j] = dg[j] * gain[j]
        s1, s2 = _means(dp, nr)
        inv = inv_x[r, 0]
        for j in range(N):
            dp[j] = inv * (dp[j] - s1 - nr[j] * s2)


@_jit
def ln_lstm_rows_forward(t, acts, gh, g_hh, g_c, b_c, m, Hs, Cs, n_h, inv_h, n_c, inv_c, tanh_c,
                         eps, b0, b1):  # fmt: skip
    """Step ``t`` of rows [b0, b1): ``acts[t]`` holds ``γ_ih n_x + b_ih + b_hh``, ``gh`` the raw
    recurrent product ``h W_hh^T`` (B, 4H). Writes the gates into ``acts[t]``, the normalised
    products, the states (masked) and tanh(γ_c n_c + β_c), as LayerNormLSTMCell.forward. The
    sums of the normalisations run in loops of their own, so the element-wise loops (the
    gates' tanh) vectorise."""
    GH = gh.shape[1]
    H = GH // 4
    for b in range(b0, b1):
        a, g_row, mb, nh = acts[t, b], gh[b], m[t, b], n_h[t, b]
        mu, inv = _moments(g_row, eps)
        inv_h[t, b] = inv
        for j in range(GH):  # n read back from the array: in its dtype (float32: no float64)
            nh[j] = (g_row[j] - mu) * inv
            a[j] += g_hh[j] * nh[j]
        tc, nc, c_prev = tanh_c[t, b], n_c[t, b], Cs[t, b]
        for j in range(H):
            i = _HALF + _HALF * _tanh(_HALF * a[j])  # σ(x) = (1 + tanh(x / 2)) / 2
            f = _HALF + _HALF * _tanh(_HALF * a[H + j])
            g = _tanh(a[2 * H + j])
            o = _HALF + _HALF * _tanh(_HALF * a[3 * H + j])
            a[j] = i
            a[H + j] = f
            a[2 * H + j] = g
            a[3 * H + j] = o
            tc[j] = f * c_prev[j] + i * g  # c, until its normalisation below
        mu, inv = _moments(tc, eps)
        inv_c[t, b] = inv
        c_new, h_new, h_prev = Cs[t + 1, b], Hs[t + 1, b], Hs[t, b]
        for j in range(H):
            c = tc[j]
            nc[j] = (c - mu) * inv
            tj = _tanh(g_c[j] * nc[j] + b_c[j])  # the fast path's tanh in float32
            tc[j] = tj
            c_new[j] = c_prev[j] + mb * (c - c_prev[j])  # a padded step keeps the state
            h_new[j] = h_prev[j] + mb * (a[3 * H + j] * tj - h_prev[j])


@_jit
def ln_lstm_loop_forward(addr, ilp64, acts, W_hhT, gh, g_hh, g_c, b_c, m, Hs, Cs, n_h, inv_h,
                         n_c, inv_c, tanh_c, eps, b0, b1):  # fmt: skip
    """The whole forward time loop over rows [b0, b1), the gemm called from compiled code."""
    for t in range(acts.shape[0]):
        blas.gemm(addr, ilp64, Hs[t, b0:b1], W_hhT, gh[b0:b1], 1.0, 0.0)
        ln_lstm_rows_forward(t, acts, gh, g_hh, g_c, b_c, m, Hs, Cs, n_h, inv_h, n_c, inv_c,
                             tanh_c, eps, b0, b1)  # fmt: skip


@_jit
def ln_lstm_rows_backward(t, dY, m, dh_skip, dh_rec, dc, acts, Cs, n_h, inv_h, n_c, inv_c,
                          tanh_c, g_hh, g_c, dGx, dGh, acc_hh, acc_c, acc_bc, b0, b1):  # fmt: skip
    """Step ``t`` of rows [b0, b1), as LayerNormLSTMCell.backward on a masked step: ``dh`` is
    dh_skip + dh_rec + dY[t] (masked); writes dGx[t], dGh[t], updates dc and dh_skip (the part
    of dL/dh_prev that skips the cell: padded steps) and adds the gains' gradients of each
    row into acc_hh (B, 4H), acc_c and acc_bc (B, H)."""
    GH = dGx.shape[2]
    H = GH // 4
    for b in range(b0, b1):
        mb = m[t, b]
        a, tc, nc, nh = acts[t, b], tanh_c[t, b], n_c[t, b], n_h[t, b]
        dg, dgh, dhs, dcb = dGx[t, b], dGh[t, b], dh_skip[b], dc[b]
        dn = dgh[:H]  # scratch: the gradient of LN(c)'s output n_c
        for j in range(H):
            dh = dhs[j] + dh_rec[b, j] + dY[t, b, j] * mb  # the whole dL/dh_t
            dhs[j] = dh
            dz = dh * mb * a[3 * H + j] * (_ONE - tc[j] * tc[j])
            acc_c[b, j] += dz * nc[j]
            acc_bc[b, j] += dz
            dn[j] = dz * g_c[j]
        s1, s2 = _means(dn, nc)
        inv = inv_c[t, b]
        c_prev = Cs[t, b]
        for j in range(H):
            dh = dhs[j]
            dct = dcb[j] * mb + inv * (dn[j] - s1 - nc[j] * s2)
            i, f, g, o = a[j], a[H + j], a[2 * H + j], a[3 * H + j]
            dg[j] = dct * g * i * (_ONE - i)
            dg[H + j] = dct * c_prev[j] * f * (_ONE - f)
            dg[2 * H + j] = dct * i * (_ONE - g * g)
            dg[3 * H + j] = dh * mb * tc[j] * o * (_ONE - o)
            dcb[j] = dct * f + dcb[j] * (_ONE - mb)
            dhs[j] = dh * (_ONE - mb)
        for j in range(GH):
            acc_hh[b, j] += dg[j] * nh[j]
            dgh[j] = dg[j] * g_hh[j]
        s1, s2 = _means(dgh, nh)
        inv = inv_h[t, b]
        for j in range(GH):
            dgh[j] = inv * (dgh[j] - s1 - nh[j] * s2)


@_jit
def ln_lstm_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, dc, acts, Cs, n_h, inv_h, n_c,
                          inv_c, tanh_c, g_hh, g_c, dGx, dGh, acc_hh, acc_c, acc_bc, W_hh, b0,
                          b1):  # fmt: skip
    """The whole BPTT loop over rows [b0, b1), t = T-1..0: ln_lstm_rows_backward, then
    ``dh_rec = dGh[t] W_hh`` from compiled code."""
    for t in range(dY.shape[0] - 1, -1, -1):
        ln_lstm_rows_backward(t, dY, m, dh_skip, dh_rec, dc, acts, Cs, n_h, inv_h, n_c, inv_c,
                              tanh_c, g_hh, g_c, dGx, dGh, acc_hh, acc_c, acc_bc, b0, b1)
        blas.gemm(addr, ilp64, dGh[t, b0:b1], W_hh, dh_rec[b0:b1], 1.0, 0.0)


def ln_lstm_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws, norm) -> FastRun:
    """Forward of one direction (contract in the module docstring)."""
    h0, c0 = state0
    g_ih, g_hh, g_c, b_c = norm
    T, B, _ = X.shape
    GH, Hd = W_hh.shape
    dt = X.dtype
    eps = LayerNormLSTMCell.eps
    acts = ws.get("acts", (T, B, GH), dt)  # the raw input product, then Gx, then the gates
    threads.matmul(X.reshape(T * B, -1), W_ih.T, acts.reshape(T * B, GH))
    bias = np.zeros(GH, dt)
    for b in (b_ih, b_hh):  # both additive: folded into Gx once
        if b is not None:
            bias += b
    b_c = np.zeros(Hd, dt) if b_c is None else b_c
    n_x = ws.get("n_x", (T, B, GH), dt)
    inv_x = ws.get("inv_x", (T, B, 1), dt)
    ln_input(acts.reshape(T * B, GH), g_ih, bias, n_x.reshape(T * B, GH),
             inv_x.reshape(T * B, 1), eps)  # fmt: skip
    m = np.ones((T, B), dtype=dt) if mask is None else np.ascontiguousarray(mask[:, :, 0])
    Hs = np.empty((T + 1, B, Hd), dtype=dt)  # fresh: the layer's output is a view of it
    Hs[0] = h0
    Cs = ws.get("C", (T + 1, B, Hd), dt)
    Cs[0] = c0
    n_h = ws.get("n_h", (T, B, GH), dt)
    inv_h = ws.get("inv_h", (T, B), dt)
    n_c = ws.get("n_c", (T, B, Hd), dt)
    inv_c = ws.get("inv_c", (T, B), dt)
    tanh_c = ws.get("tanh_c", (T, B, Hd), dt)
    gh = ws.get("gh", (B, GH), dt)
    W_hhT = np.ascontiguousarray(W_hh.T)  # (H, 4H)
    kept = (g_hh, g_c, b_c, m, Hs, Cs, n_h, inv_h, n_c, inv_c, tanh_c, eps)
    be = _compiled(T)
    if be is not None:
        args = (be.address(dt), be.ilp64, acts, W_hhT, gh, *kept)
        threads._run_rows(ln_lstm_loop_forward, args, B, threads._workers(B, T * B * GH * Hd))
    else:
        with threads.small_work_threads(B * GH * Hd):  # the per-step matmuls
            for t in range(T):
                np.matmul(Hs[t], W_hhT, out=gh)
                ln_lstm_rows_forward(t, acts, gh, *kept, 0, B)
    return FastRun(X, (Hs, Cs), acts, (n_x, inv_x, n_h, inv_h, n_c, inv_c, tanh_c), mask, m, ws)


def ln_lstm_backward(run: FastRun, dY, dstate, W_hh, norm):
    """BPTT of one direction (contract in the module docstring)."""
    g_ih, g_hh, g_c, b_c = norm
    T, B, _ = run.X.shape
    GH, Hd = W_hh.shape
    dt = run.X.dtype
    dY = np.ascontiguousarray(dY)
    dh_skip = np.array(dstate[0], dtype=dt, copy=True)
    dc = np.array(dstate[1], dtype=dt, copy=True)
    dh_rec = np.zeros((B, Hd), dtype=dt)
    dGx = run.ws.get("dGx", (T, B, GH), dt)
    dGh = run.ws.get("dGh", (T, B, GH), dt)
    acc_hh, acc_c, acc_bc = np.zeros((B, GH), dt), np.zeros((B, Hd), dt), np.zeros((B, Hd), dt)
    _, _, n_h, inv_h, n_c, inv_c, tanh_c = run.aux
    Cs = run.states[1]
    kept = (dY, run.m, dh_skip, dh_rec, dc, run.acts, Cs, n_h, inv_h, n_c, inv_c, tanh_c, g_hh,
            g_c, dGx, dGh, acc_hh, acc_c, acc_bc)  # fmt: skip
    be = _compiled(T)
    if be is not None:
        args = (be.address(dt), be.ilp64, *kept, W_hh)
        threads._run_rows(ln_lstm_loop_backward, args, B, threads._workers(B, T * B * GH * Hd))
    else:
        with threads.small_work_threads(B * GH * Hd):  # the per-step matmuls
            for t in reversed(range(T)):
                ln_lstm_rows_backward(t, *kept, 0, B)
                np.matmul(dGh[t], W_hh, out=dh_rec)
    dh_skip += dh_rec
    n_x, inv_x = run.aux[:2]
    dP = run.ws.get("dP", (T, B, GH), dt)
    d_gain, d_bias = np.zeros(GH, np.float64), np.zeros(GH, np.float64)
    ln_input_backward(dGx.reshape(T * B, GH), g_ih, n_x.reshape(T * B, GH),
                      inv_x.reshape(T * B, 1), dP.reshape(T * B, GH), d_gain, d_bias)  # fmt: skip
    dnorm = (d_gain.astype(dt), acc_hh.sum(axis=0), acc_c.sum(axis=0),
             None if b_c is None else acc_bc.sum(axis=0))  # fmt: skip
    return d_bias.astype(dt), dP, dGh, dnorm, (dh_skip, dc)


register(LayerNormLSTMCell, ln_lstm_forward, ln_lstm_backward)
