"""The minimal cells' fast path (:class:`rnnkit.nn.cells.MinGRUCell`,
:class:`rnnkit.nn.cells.MinLSTMCell`; Feng et al. 2024): the recurrence's coefficients,
the linear recurrence ``h_t = a_t h_{t-1} + b_t`` and its adjoint, and the gate gradients,
each one compiled pass; registered in :mod:`rnnkit.nn.registry` by cell class as
:class:`~rnnkit.nn.registry.ScanKernels` for :class:`rnnkit.nn.recurrent.MinRNNBase`.

The reference solves the recurrence for all steps at once in log space
(:mod:`rnnkit.nn.scan`), the form a parallel machine wants. On a CPU it is one
multiply-add per element and step, so the cheapest exact way is the plain loop over
time, one pass over (B, H) contiguous values a step: no logarithms in the recurrence, no
float64 sums, and since ``0 < a <= 1`` the rounding does not grow with ``t`` (a step adds
at most an ulp of ``|h|``). The coefficients are the cells' own (minLSTM: ``a = f/(f+i)``,
and where both gates underflow the reference's log-space form ``a = σ(-d)``, ``b = σ(d)
h~`` with ``d = log(i/f)``, so there is no 0/0); the gate gradients are those of the
cells' ``backward``. The tests check the whole layer
against the log-space scan and the per-step cell in float64 (1e-10) and float32.

Shapes: ``Gx`` (T, B, G*H) the gate pre-activations, ``mask`` (T, B, 1) or None; ``a``,
``b``, ``dY``, ``λ`` (T, B, H) in the layer's dtype; ``h0``, ``dh_n`` (B, H). Padded
steps have ``a = 1``, ``b = 0``.
"""

from __future__ import annotations

import numpy as np

from .. import registry
from ..cells import MinGRUCell, MinLSTMCell
from .jit import _HALF, _ONE, _ZERO, _inline, _jit, _tanh

#: below this, f + i is not divided by (float32's smallest normal number is 1.2e-38)
_TINY = np.float32(1e-30)


@_inline
def _sigmoid(x):
    return _HALF + _HALF * _tanh(_HALF * x)


@_inline
def _softplus(x):
    """log(1 + e^x) without overflow."""
    return max(x, _ZERO) + np.log1p(np.exp(-abs(x)))


@_jit
def _min_gru_coefficients(gx, m, a, b, acts):
    """z = σ(z_pre), h~ = n: a = 1 - z, b = z h~ (masked: a = 1, b = 0); flat (N, ...)."""
    N, H = a.shape
    for r in range(N):
        mr = m[r]
        for j in range(H):
            z = _sigmoid(gx[r, j])
            n = gx[r, H + j]
            acts[r, j] = z
            acts[r, H + j] = n
            a[r, j] = _ONE - mr * z
            b[r, j] = mr * z * n


@_jit
def _min_lstm_coefficients(gx, m, a, b, acts):
    """f, i = σ(.), h~ = g: a = f/(f+i), b = i/(f+i) h~; where f + i is too small to divide
    by (both gates underflow), the log-space form of the reference: with d = log(i/f),
    a = σ(-d), b = σ(d) h~."""
    N, H = a.shape
    tiny = _TINY
    for r in range(N):
        mr = m[r]
        for j in range(H):
            f_pre, i_pre, g = gx[r, j], gx[r, H + j], gx[r, 2 * H + j]
            f, i = _sigmoid(f_pre), _sigmoid(i_pre)
            acts[r, j], acts[r, H + j], acts[r, 2 * H + j] = f, i, g
            s = f + i
            if s > tiny:
                a_rj, i_norm = f / s, i / s
            else:  # both gates below 1e-30
                d = _softplus(-f_pre) - _softplus(-i_pre)
                a_rj, i_norm = _sigmoid(-d), _sigmoid(d)
            a[r, j] = _ONE + mr * (a_rj - _ONE)
            b[r, j] = mr * i_norm * g


@_jit
def _min_gru_backward(dh, acts, h_prev, a, dgx):
    """dz_pre = dh (h~ - h_prev) z (1 - z), dh~ = dh z (MinGRUCell.backward; ``a`` is
    taken for the drivers' common signature and not needed: z comes from ``acts``)."""
    N, H = dh.shape
    for r in range(N):
        for j in range(H):
            z, n = acts[r, j], acts[r, H + j]
            dgx[r, j] = dh[r, j] * (n - h_prev[r, j]) * z * (_ONE - z)
            dgx[r, H + j] = dh[r, j] * z


@_jit
def _min_lstm_backward(dh, acts, h_prev, a, dgx):
    """df_pre, di_pre, dh~ of MinLSTMCell.backward, written with the normalised forget gate
    a = f' = f/(f+i) of the forward (i' = 1 - a) so that nothing divides by f + i, which is
    0 in floating point when both gates underflow: with q = dh (h_prev - h~) f' i',
    df_pre = q (1 - f), di_pre = -q (1 - i), dh~ = dh i'."""
    N, H = dh.shape
    for r in range(N):
        for j in range(H):
            f, i, g = acts[r, j], acts[r, H + j], acts[r, 2 * H + j]
            fn = a[r, j]
            q = dh[r, j] * (h_prev[r, j] - g) * fn * (_ONE - fn)
            dgx[r, j] = q * (_ONE - f)
            dgx[r, H + j] = -q * (_ONE - i)
            dgx[r, 2 * H + j] = dh[r, j] * (_ONE - fn)



@_jit
def _recurrence(a, b, states):
    """states[t + 1] = a[t] * states[t] + b[t] over flat (T, N) arrays; states[0] given."""
    T, N = a.shape
    for t in range(T):
        for j in range(N):
            states[t + 1, j] = a[t, j] * states[t, j] + b[t, j]


@_jit
def _recurrence_adjoint(a, dY, dh_n, lam):
    """lam[t] = dY[t] + a[t + 1] * lam[t + 1], lam[T - 1] = dY[T - 1] + dh_n (flat (T, N))."""
    T, N = a.shape
    for j in range(N):
        lam[T - 1, j] = dY[T - 1, j] + dh_n[j]
    for t in range(T - 2, -1, -1):
        for j in range(N):
            lam[t, j] = dY[t, j] + a[t + 1, j] * lam[t + 1, j]


def _coefficients_driver(kernel, gates: int):
    def coefficients(Gx: np.ndarray, mask: np.ndarray | None):
        """``(a, b, acts)`` of the recurrence from the pre-activations ``Gx`` (T, B, G*H)."""
        T, B, GH = Gx.shape
        H = GH // gates
        dtype = Gx.dtype
        m = (np.ones(T * B, dtype) if mask is None
             else np.ascontiguousarray(mask, dtype=dtype).reshape(T * B))  # fmt: skip
        a, b = np.empty((T, B, H), dtype), np.empty((T, B, H), dtype)
        acts = np.empty((T, B, GH), dtype)
        kernel(np.ascontiguousarray(Gx).reshape(T * B, GH), m, a.reshape(T * B, H),
               b.reshape(T * B, H), acts.reshape(T * B, GH))  # fmt: skip
        return a, b, acts

    return coefficients


def _backward_driver(kernel):
    def backward(dh: np.ndarray, acts: np.ndarray, h_prev: np.ndarray, a: np.ndarray,
                 ) -> np.ndarray:  # fmt: skip
        """The gate pre-activation gradients (T, B, G*H) from ``dh`` = dL/dh_t (masked) and
        the forward's coefficients ``a``."""
        T, B, GH = acts.shape
        H = dh.shape[-1]
        dgx = np.empty((T, B, GH), acts.dtype)  # C order: the kernel writes through reshapes
        kernel(np.ascontiguousarray(dh, dtype=acts.dtype).reshape(T * B, H),
               acts.reshape(T * B, GH), np.ascontiguousarray(h_prev).reshape(T * B, H),
               np.ascontiguousarray(a).reshape(T * B, H), dgx.reshape(T * B, GH))  # fmt: skip
        return dgx

    return backward


def linear_recurrence(a: np.ndarray, b: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """States (T+1, B, H) of ``h_t = a_t h_{t-1} + b_t``, ``states[0] = h0`` (dtype of ``b``)."""
    T = b.shape[0]
    dtype = b.dtype
    states = np.empty((T + 1, *b.shape[1:]), dtype=dtype)
    states[0] = h0
    _recurrence(np.ascontiguousarray(a, dtype=dtype).reshape(T, -1),
                np.ascontiguousarray(b).reshape(T, -1), states.reshape(T + 1, -1))  # fmt: skip
    return states


def linear_recurrence_adjoint(a: np.ndarray, dY: np.ndarray, dh_n: np.ndarray) -> np.ndarray:
    """λ (T, B, H), the whole gradient at each ``h_t``: ``λ_t = dY_t + a_{t+1} λ_{t+1}``,
    ``λ_{T-1} = dY_{T-1} + dh_n`` (as :func:`rnnkit.nn.scan.linear_scan_adjoint`)."""
    T = dY.shape[0]
    dtype = a.dtype
    lam = np.empty(dY.shape, dtype=dtype)  # C order: the kernel writes through its reshape
    _recurrence_adjoint(a.reshape(T, -1), np.ascontiguousarray(dY, dtype=dtype).reshape(T, -1),
                        np.ascontiguousarray(dh_n, dtype=dtype).reshape(-1),
                        lam.reshape(T, -1))  # fmt: skip
    return lam


for _cell, _coefficients, _backward in (
    (MinGRUCell, _min_gru_coefficients, _min_gru_backward),
    (MinLSTMCell, _min_lstm_coefficients, _min_lstm_backward),
):
    registry.register_scan(_cell, registry.ScanKernels(
        _coefficients_driver(_coefficients, _cell.num_gates), _backward_driver(_backward),
        linear_recurrence,
        linear_recurrence_adjoint,
    ))  # fmt: skip
