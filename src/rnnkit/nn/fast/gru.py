"""The GRU's compiled kernels and whole-direction drivers (contract in :mod:`rnnkit.nn.fast`),
both forms: reset after the matmul (PyTorch's, :class:`rnnkit.nn.cells.GRUCell`) and reset
before it (Cho et al.'s, :class:`rnnkit.nn.cells.GRUResetBeforeCell`), registered for each.

r and z come half-scaled (see ``_GRU_SCALE``), so one tanh gives σ(x) = (1 + tanh(x / 2)) / 2.
"""

from __future__ import annotations

import numpy as np

from .. import blas
from ..cells import GRUCell, GRUResetBeforeCell
from ..registry import register
from . import threads
from .base import (
    _GRU_SCALE,
    FastRun,
    _backward_start,
    _compiled,
    _input_side,
    _row_split,
)
from .jit import _HALF, _ONE, _inline, _jit, _tanh

# One element's arithmetic, written once: the per-step kernels (after a vectorised np.tanh)
# and the whole-loop kernels (tanh inline) call the same functions.


@_inline
def _sigmoid(t):
    """σ(x) from t = tanh(x / 2) (the gate's pre-activation comes half-scaled)."""
    return _HALF + _HALF * t


@_inline
def _new_state(n, z, hp, mb):
    """h = n + z (h_prev - n), masked: a padded step (m = 0) keeps h_prev."""
    return hp + mb * (n + z * (hp - n) - hp)


@_jit
def gru_after_gates_step(gh, gx, b_hn, acts, hn):
    """Reset after: acts[:, :2H] holds tanh of half-scaled r, z pre-activations; turn them into
    σ, keep hn = h W_hn^T + b_hn, and write the candidate's pre-activation x_n + r hn."""
    B, H = hn.shape
    for b in range(B):
        for j in range(H):
            r = _sigmoid(acts[b, j])
            acts[b, j] = r
            acts[b, H + j] = _sigmoid(acts[b, H + j])
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
            h[b, j] = _new_state(acts[b, 2 * H + j], acts[b, H + j], h_prev[b, j], mb)


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
            r = _sigmoid(t_rz[b, j])
            acts[b, j] = r
            acts[b, H + j] = _sigmoid(t_rz[b, H + j])
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
def gru_loop_forward(addr, ilp64, Gx, W_hhT, P, J, scale, b_hn, gh, m, Hs, acts, hn, b0, b1):
    """The whole forward time loop (reset after) over batch rows [b0, b1): ``gh = Hs[t] W_hhT``
    (by ``P``, W_hhT packed, where not empty; :func:`rnnkit.nn.blas.pack`) from compiled
    code, then r, z = σ(Gx + scale gh) (``scale`` (2H,): ones when the gate scale
    is in W_hhT), hn = gh_n + b_hn, n = tanh(x_n + r hn), h = n + z (h_prev - n), masked."""
    T = Gx.shape[0]
    H = Hs.shape[2]
    for t in range(T):
        blas.gemm_j(addr, ilp64, Hs[t, b0:b1], W_hhT, P, J, gh[b0:b1], 0.0)
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                r = _sigmoid(_tanh(Gx[t, b, j] + scale[j] * gh[b, j]))
                z = _sigmoid(_tanh(Gx[t, b, H + j] + scale[H + j] * gh[b, H + j]))
                hnv = gh[b, 2 * H + j] + b_hn[j]
                n = _tanh(Gx[t, b, 2 * H + j] + r * hnv)
                acts[t, b, j] = r
                acts[t, b, H + j] = z
                acts[t, b, 2 * H + j] = n
                hn[t, b, j] = hnv
                Hs[t + 1, b, j] = _new_state(n, z, Hs[t, b, j], mb)


@_jit
def gru_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, acts, hn, Hs, dGx, dgh, dGh_n, W_hh,
                      P, J, b0, b1):  # fmt: skip
    """The whole BPTT loop (reset after) over rows [b0, b1): gru_after_backward_step, then
    ``dh_rec = dgh W_hh`` (by ``P``, W_hh packed, where not empty) from compiled code, for
    t = T-1..0."""
    T = dY.shape[0]
    for t in range(T - 1, -1, -1):
        gru_after_backward_step(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                acts[t, b0:b1], hn[t, b0:b1], Hs[t, b0:b1], dGx[t, b0:b1],
                                dgh[b0:b1], dGh_n[t, b0:b1])  # fmt: skip
        blas.gemm_j(addr, ilp64, dgh[b0:b1], W_hh, P, J, dh_rec[b0:b1], 0.0)


@_jit
def gru_before_loop_forward(addr, ilp64, Gx, W_rzT, W_nT, P_rz, P_n, J_rz, J_n, scale, t_rz, gh_n,
                            m, Hs, acts, rh, b0, b1):  # fmt: skip
    """The whole forward time loop (reset before) over rows [b0, b1): ``t_rz = Hs[t] W_rzT``,
    r, z = σ(Gx + scale t_rz), rh = r h_prev, ``gh_n = rh W_nT``, n = tanh(x_n + gh_n),
    h = n + z (h_prev - n), masked; both products from compiled code (by the packed
    ``P_rz``, ``P_n`` where not empty)."""
    T = Gx.shape[0]
    H = Hs.shape[2]
    for t in range(T):
        blas.gemm_j(addr, ilp64, Hs[t, b0:b1], W_rzT, P_rz, J_rz, t_rz[b0:b1], 0.0)
        for b in range(b0, b1):
            for j in range(H):
                r = _sigmoid(_tanh(Gx[t, b, j] + scale[j] * t_rz[b, j]))
                acts[t, b, j] = r
                acts[t, b, H + j] = _sigmoid(_tanh(Gx[t, b, H + j] + scale[H + j] * t_rz[b, H + j]))
                rh[t, b, j] = r * Hs[t, b, j]
        blas.gemm_j(addr, ilp64, rh[t, b0:b1], W_nT, P_n, J_n, gh_n[b0:b1], 0.0)
        for b in range(b0, b1):
            mb = m[t, b]
            for j in range(H):
                n = _tanh(Gx[t, b, 2 * H + j] + gh_n[b, j])
                acts[t, b, 2 * H + j] = n
                Hs[t + 1, b, j] = _new_state(n, acts[t, b, H + j], Hs[t, b, j], mb)


@_jit
def gru_before_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, acts, Hs, dGx, drh, W_rz, W_n,
                             P_rz, P_n, J_rz, J_n, b0, b1):  # fmt: skip
    """The whole BPTT loop (reset before) over rows [b0, b1), the steps of
    gru_reset_before_backward with both products from compiled code (by the packed
    ``P_rz``, ``P_n`` where not empty)."""
    T = dY.shape[0]
    H = Hs.shape[2]
    for t in range(T - 1, -1, -1):
        gru_before_backward_state(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                  acts[t, b0:b1], Hs[t, b0:b1], dGx[t, b0:b1])  # fmt: skip
        blas.gemm_j(addr, ilp64, dGx[t, b0:b1, 2 * H :], W_n, P_n, J_n, drh[b0:b1], 0.0)
        gru_before_backward_reset(drh[b0:b1], acts[t, b0:b1], Hs[t, b0:b1], dh_skip[b0:b1],
                                  dGx[t, b0:b1])  # fmt: skip
        blas.gemm_j(addr, ilp64, dGx[t, b0:b1, : 2 * H], W_rz, P_rz, J_rz, dh_rec[b0:b1], 0.0)


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
        n, ((P, J),) = _row_split(be, B, T * B * GH * Hd, (W_hhT, Hs[0], gh, 0.0))
        args = (be.address(dt), be.ilp64, Gx, W_hhT, P, J, scale, b_hn, gh, m, Hs, acts, hn)
        threads._run_rows(gru_loop_forward, args, B, n)
        return FastRun(X, (Hs,), acts, hn, mask, m, ws)
    with threads.small_work_threads(B * GH * Hd):  # the per-step matmuls
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
        n, ((P, J),) = _row_split(be, B, T * B * GH * Hd, (W_hh, dgh, dh_rec, 0.0))
        args = (be.address(dt), be.ilp64, dY, m, dh_skip, dh_rec, acts, hn, Hs, dGx, dgh, dGh_n,
                W_hh, P, J)  # fmt: skip
        threads._run_rows(gru_loop_backward, args, B, n)
        dh_skip += dh_rec
        return dGx, dGh_n, None, (dh_skip,)
    with threads.small_work_threads(B * GH * Hd):  # the per-step matmuls
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
        n, ((P_rz, J_rz), (P_n, J_n)) = _row_split(
            be, B, T * B * GH * Hd, (W_rzT, Hs[0], t_rz, 0.0), (W_nT, rh[0], gh_n, 0.0))
        args = (be.address(dt), be.ilp64, Gx, W_rzT, W_nT, P_rz, P_n, J_rz, J_n, scale, t_rz,
                gh_n, m, Hs, acts, rh)  # fmt: skip
        threads._run_rows(gru_before_loop_forward, args, B, n)
        return FastRun(X, (Hs,), acts, rh, mask, m, ws)
    with threads.small_work_threads(B * GH * Hd):  # the per-step matmuls
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
        n, ((P_rz, J_rz), (P_n, J_n)) = _row_split(
            be, B, T * B * GH * Hd, (W_rz, dGx[0], dh_rec, 0.0), (W_n, dGx[0], drh, 0.0))
        args = (be.address(dt), be.ilp64, dY, m, dh_skip, dh_rec, acts, Hs, dGx, drh, W_rz, W_n,
                P_rz, P_n, J_rz, J_n)  # fmt: skip
        threads._run_rows(gru_before_loop_backward, args, B, n)
        dh_skip += dh_rec
        return dGx, None, run.aux, (dh_skip,)
    with threads.small_work_threads(B * GH * Hd):  # the per-step matmuls
        for t in reversed(range(T)):
            gru_before_backward_state(dY[t], m[t], dh_skip, dh_rec, acts[t], Hs[t], dGx[t])
            np.matmul(dGx[t, :, 2 * Hd :], W_n, out=drh)
            gru_before_backward_reset(drh, acts[t], Hs[t], dh_skip, dGx[t])
            np.matmul(dGx[t, :, : 2 * Hd], W_rz, out=dh_rec)
    dh_skip += dh_rec
    return dGx, None, run.aux, (dh_skip,)



register(GRUCell, gru_forward, gru_backward)
register(GRUResetBeforeCell, gru_reset_before_forward, gru_reset_before_backward)
