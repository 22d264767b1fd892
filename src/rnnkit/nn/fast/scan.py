"""The minimal cells' linear recurrence ``h_t = a_t h_{t-1} + b_t`` and its adjoint, compiled
(registered in :mod:`rnnkit.nn.registry` as the scan kernels of
:class:`rnnkit.nn.recurrent.MinRNNBase`).

The reference (:mod:`rnnkit.nn.scan`) solves the recurrence for all steps at once in log
space, the form a parallel machine wants (Feng et al. 2024, appendix). On a CPU the
recurrence is one multiply-add per element and step, so the cheapest exact way is the
plain loop over time, each step one pass over (B, H) contiguous values: no logarithms,
no exponentials, no float64 sums, and since ``0 < a <= 1`` the rounding does not grow
with ``t`` (each step adds at most an ulp of ``|h|``). The tests check it against the
log-space scan and the per-step cell in float64 (1e-10) and float32.

Shapes: ``a``, ``b``, ``dY`` (T, B, H) in the layer's dtype, ``a = exp(log_a)``; ``h0``,
``dh_n`` (B, H).
"""

from __future__ import annotations

import numpy as np

from .. import registry
from .jit import _jit


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


def linear_recurrence(a: np.ndarray, b: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """States (T+1, B, H) of ``h_t = a_t h_{t-1} + b_t``, ``states[0] = h0`` (dtype of ``b``)."""
    T = b.shape[0]
    dtype = b.dtype
    states = np.empty((T + 1, *b.shape[1:]), dtype=dtype)
    states[0] = h0
    flat = states.reshape(T + 1, -1)
    _recurrence(np.ascontiguousarray(a, dtype=dtype).reshape(T, -1),
                np.ascontiguousarray(b).reshape(T, -1), flat)  # fmt: skip
    return states


def linear_recurrence_adjoint(a: np.ndarray, dY: np.ndarray, dh_n: np.ndarray) -> np.ndarray:
    """λ (T, B, H), the whole gradient at each ``h_t``: ``λ_t = dY_t + a_{t+1} λ_{t+1}``,
    ``λ_{T-1} = dY_{T-1} + dh_n`` (as :func:`rnnkit.nn.scan.linear_scan_adjoint`)."""
    T = dY.shape[0]
    dtype = dY.dtype
    lam = np.empty(dY.shape, dtype=dtype)  # C order: the kernel writes through its reshape
    _recurrence_adjoint(np.ascontiguousarray(a, dtype=dtype).reshape(T, -1),
                        np.ascontiguousarray(dY).reshape(T, -1),
                        np.ascontiguousarray(dh_n, dtype=dtype).reshape(-1),
                        lam.reshape(T, -1))  # fmt: skip
    return lam


registry.register_scan(linear_recurrence, linear_recurrence_adjoint)
