"""The vanilla RNN's compiled kernels and whole-direction drivers (contract in
:mod:`rnnkit.nn.fast`), φ = tanh or relu, registered for :class:`rnnkit.nn.cells.RNNTanhCell`
and :class:`rnnkit.nn.cells.RNNReLUCell`.
"""

from __future__ import annotations

import numpy as np

from .. import blas
from ..cells import RNNReLUCell, RNNTanhCell
from ..registry import register
from . import threads
from .base import FastRun, _backward_start, _compiled, _input_side, _row_split
from .jit import _ONE, _ZERO, _inline, _jit, _tanh


@_inline
def _masked(prev, mb, new):
    """prev + m (new - prev): a padded step (m = 0) keeps the previous state (one element's
    arithmetic, written once for the per-step kernel and the whole loop)."""
    return prev + mb * (new - prev)


@_jit
def masked_update(v, m, h_prev, h):
    """h = h_prev + m (v - h_prev): a padded step keeps the previous state."""
    B, H = h.shape
    for b in range(B):
        mb = m[b]
        for j in range(H):
            h[b, j] = _masked(h_prev[b, j], mb, v[b, j])


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
def rnn_loop_forward(addr, ilp64, Gx, W_hhT, P, J, relu, masked, m, Hs, acts, b0, b1):
    """The whole forward time loop over rows [b0, b1): ``acts[t] = φ(Hs[t] W_hhT + Gx[t])``
    with the product from compiled code (by ``P``, W_hhT packed, where not empty);
    ``masked``: h = h_prev + m (a - h_prev), else acts are the states themselves (``acts``
    is ``Hs[1:]``)."""
    T = Gx.shape[0]
    H = Hs.shape[2]
    for t in range(T):
        blas.gemm_j(addr, ilp64, Hs[t, b0:b1], W_hhT, P, J, acts[t, b0:b1], 0.0)
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
                    Hs[t + 1, b, j] = _masked(Hs[t, b, j], mb, acts[t, b, j])


@_jit
def rnn_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, acts, dGx, W_hh, P, J, relu, b0, b1):
    """The whole BPTT loop over rows [b0, b1): the tanh or relu backward step, then
    ``dh_rec = dGx[t] W_hh`` (by ``P``, W_hh packed, where not empty) from compiled code,
    for t = T-1..0."""
    T = dY.shape[0]
    for t in range(T - 1, -1, -1):
        if relu:
            rnn_relu_backward_step(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                   acts[t, b0:b1], dGx[t, b0:b1])  # fmt: skip
        else:
            rnn_tanh_backward_step(dY[t, b0:b1], m[t, b0:b1], dh_skip[b0:b1], dh_rec[b0:b1],
                                   acts[t, b0:b1], dGx[t, b0:b1])  # fmt: skip
        blas.gemm_j(addr, ilp64, dGx[t, b0:b1], W_hh, P, J, dh_rec[b0:b1], 0.0)


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
        n, ((P, J),) = _row_split(be, B, T * B * Hd * Hd, (W_hhT, Hs[0], acts[0], 0.0))
        args = (be.address(X.dtype), be.ilp64, Gx, W_hhT, P, J, activation is _relu,
                mask is not None, m, Hs, acts)  # fmt: skip
        threads._run_rows(rnn_loop_forward, args, B, n)
        return FastRun(X, (Hs,), acts, None, mask, m, ws)
    with threads.small_work_threads(B * Hd * Hd):  # the per-step matmuls
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
        n, ((P, J),) = _row_split(be, B, T * B * Hd * Hd, (W_hh, dGx[0], dh_rec, 0.0))
        args = (be.address(dGx.dtype), be.ilp64, dY, m, dh_skip, dh_rec, acts, dGx, W_hh, P, J,
                step is rnn_relu_backward_step)  # fmt: skip
        threads._run_rows(rnn_loop_backward, args, B, n)
        dh_skip += dh_rec
        return dGx, None, None, (dh_skip,)
    with threads.small_work_threads(B * Hd * Hd):  # the per-step matmuls
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


register(RNNTanhCell, rnn_tanh_forward, rnn_tanh_backward)
register(RNNReLUCell, rnn_relu_forward, rnn_relu_backward)
