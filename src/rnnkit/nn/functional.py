"""The squashing functions the engine and the applications share, each written once.

All four are numerically stable for any finite input (and ``-inf`` entries in
softmax / log-softmax, as long as each slice has one finite entry):

    sigmoid(x)        = 1 / (1 + e^-x)                 = (1 + tanh(x / 2)) / 2
    softplus(x)       = log(1 + e^x)                   = max(x, 0) + log(1 + e^-|x|)
    softmax(x)_c      = e^(x_c - m) / sum_k e^(x_k - m),              m = max_k x_k
    log_softmax(x)_c  = (x_c - m) - log sum_k e^(x_k - m)

Shapes: any ``(...)`` for sigmoid and softplus; ``(..., C, ...)`` for softmax and log-softmax,
normalised along ``axis`` (the last by default); the output has the input's
shape and dtype.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2: no overflow for any x."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for any x.

    ``log σ(x) = -softplus(-x)`` and ``log(1 - σ(x)) = -softplus(x)``."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the maximum so exp never overflows."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # (...), max is 1
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` along ``axis`` without taking the log of a probability."""
    z = x - x.max(axis=axis, keepdims=True)  # (...), max is 0
    z -= np.log(np.exp(z).sum(axis=axis, keepdims=True))  # sum >= 1
    return z
