"""The linear recurrence ``h_t = a_t * h_{t-1} + b_t`` solved for every ``t`` at once, and its
adjoint: the parallel path of the minimal cells (:class:`rnnkit.nn.cells.MinGRUCell`,
:class:`rnnkit.nn.cells.MinLSTMCell`; Feng et al. 2024, arXiv 2410.01201, appendix).

Unrolled, with ``h_{-1} = h0`` and ``A_t = a_0 a_1 ... a_t``::

    h_t = A_t (h0 + Σ_{s<=t} b_s / A_s)

``A_t`` underflows and ``1 / A_s`` overflows after a few hundred steps, so the sum is
taken in log space (Heinsen's scan, as in the paper's appendix): with ``L_t = Σ_{s<=t}
log a_s`` (a cumulative sum),

    h_t = exp(L_t + logcumsumexp_s(log b_s - L_s))          (s = -1 is h0, L_{-1} = 0)

The log needs positive values; the paper keeps ``b`` positive with a squashed candidate
``g(.)``. Here ``b`` and ``h0`` may have either sign: the sum runs once over the positive
parts and once over the negative parts, ``h = h⁺ - h⁻``. Each part is at most ``Σ |b_s|``
(``0 < a <= 1``), so the subtraction loses no more than a few ulps of that. The sums run
in float64 whatever the arrays' dtype: ``L_t`` grows with ``t``, and its rounding is
the scan's error (float32 would lose ~1e-7 |L_t| relative).

Adjoint (the gradient arriving at each h_t is ``dY_t``, and ``dh_n`` at the last)::

    λ_t = dY_t + a_{t+1} λ_{t+1}       λ_{T-1} = dY_{T-1} + dh_n
    dL/db_t = λ_t       dL/da_t = λ_t h_{t-1}       dL/dh0 = a_0 λ_0

the same recurrence run backwards in time: the same scan over the reversed sequence
with coefficients ``a_{t+1}`` (1 for the last step) and initial value ``dh_n``.

Shapes: ``log_a``, ``b``, ``dY`` (T, B, H); ``h0``, ``dh_n`` (B, H). Element-wise: each
(b, j) is its own recurrence.
"""

from __future__ import annotations

import numpy as np


def linear_scan(log_a: np.ndarray, b: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """States (T+1, B, H) of ``h_t = exp(log_a_t) h_{t-1} + b_t``, ``states[0] = h0``; in log
    space (module docstring). ``log_a <= 0``, finite; ``b`` and ``h0`` of any sign."""
    dt = b.dtype
    log_a, b, h0 = (np.asarray(v, dtype=np.float64) for v in (log_a, b, h0))
    L = np.cumsum(log_a, axis=0)  # (T, B, H): log A_t
    states = np.zeros((b.shape[0] + 1, *b.shape[1:]))
    states[0] = h0
    for sign in (1.0, -1.0):
        with np.errstate(divide="ignore"):  # log 0 = -inf: that part is absent
            log_h0 = np.log(np.maximum(sign * h0, 0.0))[None]  # (1, B, H)
            log_b = np.log(np.maximum(sign * b, 0.0))  # (T, B, H)
        log_sum = np.logaddexp.accumulate(np.concatenate([log_h0, log_b - L]), axis=0)[1:]
        states[1:] += sign * np.exp(L + log_sum)
    return states.astype(dt, copy=False)


def linear_scan_adjoint(log_a: np.ndarray, dY: np.ndarray, dh_n: np.ndarray) -> np.ndarray:
    """λ (T, B, H), the whole gradient at each ``h_t`` (module docstring): ``λ_t = dY_t +
    a_{t+1} λ_{t+1}`` from ``λ_T = dh_n`` with ``a_T = 1``, by :func:`linear_scan` reversed."""
    log_c = np.concatenate([np.zeros_like(log_a[:1]), log_a[:0:-1]])  # a_T = 1, a_{T-1}, .., a_1
    return linear_scan(log_c, dY[::-1], dh_n)[1:][::-1]
