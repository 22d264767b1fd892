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
from .base import (
    FastRun,
    _backward_start,
    _compiled,
    _fused_input_side,
    _input_side,
    _row_split,
)
from .jit import _ONE, _ZERO, _jit, _tanh


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
def rnn_loop_forward(addr, ilp64, Gx, A, W, P, bias, relu, masked, fused, I, m, Hs, acts, b0,
                     b1):  # fmt: skip
    """The whole forward time loop over rows [b0, b1): ``acts[t] = φ(A[t] W + Gx[t])`` with
    the product from compiled code (by ``P``, W packed, where not empty), one of:

    * ``A = Hs``, ``W = W_hh^T``: Gx holds the input projection, biases included;
    * ``fused``: ``A`` (T+1, B, >= I+H) holds the rows ``[x_t, Hs[t]]`` in its first I+H
      columns and ``W = [W_ih, W_hh]^T``: both products in one a step, no input projection
      apart (Gx is not read, ``bias`` (H,) is added instead); the loop copies each new h
      into ``A[t+1, :, I:I+H]``.

    ``masked``: h = h_prev + m (a - h_prev), else acts are the states themselves (``acts``
    is ``Hs[1:]``)."""
    T = acts.shape[0]
    H = Hs.shape[2]
    K = W.shape[0]
    for t in range(T):
        blas.gemm_w(addr, ilp64, A[t, b0:b1, :K], W, P, acts[t, b0:b1], 0.0)
        for b in range(b0, b1):
            # (four loops, not a branch per element: that kept LLVM from vectorising them)
            if fused and relu:
                for j in range(H):
                    acts[t, b, j] = max(acts[t, b, j] + bias[j], _ZERO)
            elif fused:
                for j in range(H):
                    acts[t, b, j] = _tanh(acts[t, b, j] + bias[j])
            elif relu:
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
            if fused:
                for j in range(H):
                    A[t + 1, b, I + j] = Hs[t + 1, b, j]


@_jit
def rnn_loop_backward(addr, ilp64, dY, m, dh_skip, dh_rec, acts, dGx, W_hh, P, relu, b0, b1):
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
        blas.gemm_w(addr, ilp64, dGx[t, b0:b1], W_hh, P, dh_rec[b0:b1], 0.0)


def _relu(a, out):
    return np.maximum(a, 0, out=out)


def _rnn_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws, activation) -> FastRun:
    """Forward of one direction; ``activation(a, out=a)`` is np.tanh or relu."""
    (h0,) = state0
    T, B, I = X.shape
    Hd = W_hh.shape[1]
    be = _compiled(T)
    if be is not None and T * B >= I + Hd:  # both products in one a step (see lstm_forward)
        XH, W, bias, m, Hs = _fused_input_side(X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws)
        Gx = bias[None, None]  # (not read)
    else:
        Gx, W, _, _, m, Hs = _input_side(X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws)
        XH, bias = None, Gx[0, 0]  # (not read)
    # the activations are the states: keep them once (apart only for the mask)
    acts = Hs[1:] if mask is None else ws.get("acts", (T, B, Hd), X.dtype)
    if be is not None:
        fused = XH is not None
        n, (P,) = _row_split(be, B, T * B * Hd * W.shape[0], W)
        args = (be.address(X.dtype), be.ilp64, Gx, XH if fused else Hs, W, P, bias,
                activation is _relu, mask is not None, fused, I, m, Hs, acts)  # fmt: skip
        threads._run_rows(rnn_loop_forward, args, B, n)
        return FastRun(X, (Hs,), acts, None, mask, m, ws,
                       XH=XH[:, :, : I + Hd + 1] if fused else None)  # fmt: skip
    with threads.small_work_threads(B * Hd * Hd):  # the per-step matmuls
        for t in range(T):
            a = acts[t]
            np.matmul(Hs[t], W, out=a)
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
        n, (P,) = _row_split(be, B, T * B * Hd * Hd, W_hh)
        args = (be.address(dGx.dtype), be.ilp64, dY, m, dh_skip, dh_rec, acts, dGx, W_hh, P,
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
