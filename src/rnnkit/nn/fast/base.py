"""What every driver of the fast path shares: the run kept for backward, the input side set
up before a forward time loop, the start of a backward one, and the choice between the
compiled time loop and the per-step form."""

from __future__ import annotations

import numpy as np

from .. import blas
from ..registry import Workspace
from . import threads
from .jit import _HALF, _ONE
from .threads import matmul

__all__ = ["FastRun", "Workspace"]


class FastRun:
    """What the fast path keeps between forward and backward of one (layer, direction).

    ``states``: (T+1, B, H) arrays, ``(H,)`` or ``(H, C)``; ``acts`` (T, B, G*H):
    the gate values after their non-linearity (the vanilla RNN: its activations);
    ``aux``: the cell's extra per-step array for backward (LSTM tanh(c), GRU hn
    or r * h_prev); ``m`` (T, B) the mask as the kernels read it.

    ``XH`` (T+1, B, I+H+1): the rows ``[x_t, h_prev, 1]`` of a forward loop that multiplied
    both weights in one product a step (the LSTM's, where T*B >= I + H), kept so that the
    layer's dW_ih, dW_hh and bias gradient are one product ``dGx^T XH``; else None.
    """

    __slots__ = ("X", "states", "acts", "aux", "mask", "rev", "m", "ws", "XH")

    def __init__(self, X, states, acts, aux, mask, m, ws, XH=None) -> None:
        self.X, self.states, self.acts, self.aux = X, states, acts, aux
        self.mask, self.m, self.ws, self.rev, self.XH = mask, m, ws, None, XH


# Per-gate-block scale of the fused weights: 0.5 for sigmoid gates, 1 for tanh ones.
# With σ(x) = (1 + tanh(x / 2)) / 2, halving the sigmoid gates' rows of W_ih,
# W_hh and the biases lets one vectorised ``np.tanh`` evaluate every gate of a
# step (and scaling by 0.5 is exact in floating point).
_LSTM_SCALE = (_HALF, _HALF, _ONE, _HALF)  # i, f, g, o
_GRU_SCALE = (_HALF, _HALF, _ONE)  # r, z, n


def _input_side(X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws, block_scale=None, gx_name="Gx",
                keep_b_hn=False, fold_bias=False):  # fmt: skip
    """What a forward driver sets up before its time loop.

    Returns ``(Gx, W_hhT, step_scale, b_hn, m, Hs)``: the input projection Gx
    (T, B, G*H), computed into ``ws[gx_name]``, with both biases folded in
    (``keep_b_hn``: all but the GRU's ``b_hn``, returned apart, zeros without
    bias; ``fold_bias``: none, and ``b_hn`` is the whole bias b_ih + b_hh (G*H,),
    scaled, zeros without bias, for a time loop that adds it as it reads Gx: one
    pass over the (T, B, G*H) array fewer); ``W_hhT`` (H, G*H); ``step_scale``
    (G*H,), the gate scale still to be applied to each step's recurrent matmul, or
    None; the mask ``m`` (T, B) and the fresh states ``Hs`` (T+1, B, H) with
    ``Hs[0] = h0``.
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
    if fold_bias:
        b_hn = b_ih + b_hh if b_ih is not None else np.zeros(GH, dtype=dt)
    elif b_ih is not None:  # both biases in one pass over Gx
        bias = b_ih + b_hh
        if keep_b_hn:  # b_hn sits inside r * (...): keep it apart
            bias[2 * Hd :] = b_ih[2 * Hd :]
            b_hn = b_hh[2 * Hd :]
        Gx += bias
    return (Gx, W_hhT, step_scale, b_hn, *_mask_and_states(X, h0, mask, Hd))


def _fused_input_side(X, h0, W_ih, W_hh, b_ih, b_hh, mask, ws, block_scale=None):
    """What a forward driver sets up for a time loop that multiplies ``[x_t, h_prev]`` by
    ``[W_ih, W_hh]^T`` in one product a step (no input projection apart).

    Returns ``(XH, W, bias, m, Hs)``: ``XH`` (T+1, B, >= I+H+1) from the workspace, its rows
    ``[x_t, h0 (t = 0), 1]`` (the loop writes each next h into its columns I..I+H; the ones
    column gives the bias gradient in the same product as dW_ih and dW_hh, and the columns
    after it pad each row to whole cache lines); ``W`` (I+H, G*H) the weights, transposed
    and scaled by the gate scale ``block_scale`` (see ``_LSTM_SCALE``); ``bias`` (G*H,)
    b_ih + b_hh, scaled (zeros without bias), for the loop to add as it reads the gates;
    ``m`` and ``Hs`` as :func:`_input_side` gives them.
    """
    T, B, I = X.shape
    GH, Hd = W_hh.shape
    dt = X.dtype
    W = ws.get("W_cat", (I + Hd, GH), dt)
    _transpose_into(W[:I], W_ih)
    _transpose_into(W[I:], W_hh)
    bias = b_ih + b_hh if b_ih is not None else np.zeros(GH, dt)
    if block_scale is not None:
        scale = np.repeat(np.array(block_scale, dtype=dt), Hd)  # (G*H,)
        W *= scale
        bias *= scale
    per_line = 64 // dt.itemsize  # a row's length in whole 64-byte cache lines
    XH = ws.get("XH", (T + 1, B, -(-(I + Hd + 1) // per_line) * per_line), dt)
    XH[:T, :, :I] = X
    XH[0, :, I : I + Hd] = h0
    XH[:T, :, I + Hd] = 1
    return (XH, W, bias, *_mask_and_states(X, h0, mask, Hd))


def _transpose_into(out, W) -> None:
    """``out[...] = W.T``, in blocks of 64 rows of W: a whole transposed copy reads W's
    columns at a stride of a power of two bytes (H = 128, 1024, ...), whose lines fall in a
    few cache sets and evict each other (NumPy's copy of a (512, 128) float32 W took 67 us,
    by blocks 25 us)."""
    for j in range(0, W.shape[0], 64):
        out[:, j : j + 64] = W[j : j + 64].T


def _mask_and_states(X, h0, mask, Hd: int):
    """``(m, Hs)``: the mask as the kernels read it (T, B) and the fresh states
    (T+1, B, H) with ``Hs[0] = h0``."""
    T, B, _ = X.shape
    dt = X.dtype
    m = np.ones((T, B), dtype=dt) if mask is None else np.ascontiguousarray(mask[:, :, 0])
    Hs = np.empty((T + 1, B, Hd), dtype=dt)  # fresh: the layer's output is a view of it
    Hs[0] = h0
    return m, Hs


def _backward_start(run: FastRun, dY, dh, W_hh, dgx_name: str):
    """``(dY, dh_skip, dh_rec, dGx)`` for a backward driver: dY contiguous, dh_skip a copy of
    dh, dh_rec zeros (B, H), dGx (T, B, G*H) from the workspace."""
    T, B, _ = run.X.shape
    dt = run.X.dtype
    dh_skip = np.array(dh, dtype=dt, copy=True)
    dh_rec = np.zeros((B, W_hh.shape[1]), dtype=dt)
    dGx = run.ws.get(dgx_name, (T, B, W_hh.shape[0]), dt)
    return np.ascontiguousarray(dY), dh_skip, dh_rec, dGx


def _row_split(be: blas.Backend, B: int, macs: int, *products):
    """``(n, prepared)``: how many threads share the B rows of a compiled time loop of
    ``macs`` multiply-adds, and for each step product ``(W, A0, C0, beta)`` (``C = A W +
    beta C``; ``A0``, ``C0`` one step's operands, for their row strides) what the loop
    multiplies by: ``(P, J)``, W packed for one thread's rows (:func:`blas.pack`) and MKL's
    kernels generated for the threads' row counts (:func:`blas.jit`), each empty where not
    made (:func:`blas.gemm_j` takes both)."""
    n = threads._workers(B, macs)
    cuts = threads._cuts(B, n)
    rows = {cuts[i + 1] - cuts[i] for i in range(n)}
    prepared = []
    for W, A0, C0, beta in products:
        lda, ldc = A0.strides[0] // A0.itemsize, C0.strides[0] // C0.itemsize
        prepared.append((blas.pack(W, max(rows), be), blas.jit(W, rows, lda, ldc, beta, be)))
    return n, prepared


def _compiled(T: int) -> blas.Backend | None:
    """The BLAS the compiled loops call, or None: use the per-step drivers.

    One step (generation: T = 1) keeps the per-step driver: there is no Python loop to
    save, and its ``np.matmul`` of one row measured faster than the compiled call's."""
    be = blas.backend()
    return be if be.compiled and T > 1 else None
