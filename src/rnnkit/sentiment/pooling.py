"""Pooling a recurrent layer's outputs over the *valid* steps of each sequence.

A right-padded batch has ``lengths[b] <= T`` real steps per row; pooling must
never look at the padding. Three summaries, forward and backward side by side:

* ``last``: the final hidden state, taken from the layer's ``h_n`` (which the
  layer reads at each sequence's last valid step; the backward direction's
  final state is its state after reading the first word). Reading
  ``output[:, T-1]`` instead, as the seed tutorial did, would summarise the
  padding.
* ``mean``: ``sum_{t < len} y_t / len``.
* ``max``: element-wise ``max_{t < len} y_t``; the gradient flows to the
  arg-max step of each feature only.

Shapes: ``output (B, T, F)``, ``lengths (B,)``, ``final (B, F)`` (last layer's
``h_n`` with directions concatenated as in ``output``), pooled ``(B, F)``.
"""

from __future__ import annotations

import numpy as np

POOLINGS = ("last", "mean", "max")


def valid_mask(lengths: np.ndarray, T: int, dtype) -> np.ndarray:
    """``mask[b, t] = 1`` for ``t < lengths[b]``; shape (B, T, 1)."""
    return (np.arange(T)[None, :] < np.asarray(lengths)[:, None]).astype(dtype)[:, :, None]


def pool_forward(output: np.ndarray, lengths: np.ndarray, final: np.ndarray, mode: str):
    """Summarise each sequence; returns ``(pooled (B, F), cache)``."""
    B, T, F = output.shape
    if mode == "last":
        return final, (mode, output.shape, None)
    mask = valid_mask(lengths, T, output.dtype)  # (B, T, 1)
    if mode == "mean":
        scale = 1.0 / np.asarray(lengths, dtype=output.dtype)[:, None]  # (B, 1)
        return (output * mask).sum(axis=1) * scale, (mode, output.shape, (mask, scale))
    if mode == "max":
        masked = np.where(mask > 0, output, -np.inf)  # padding can never win
        argmax = masked.argmax(axis=1)  # (B, F)
        pooled = np.take_along_axis(output, argmax[:, None, :], axis=1)[:, 0, :]
        return pooled, (mode, output.shape, argmax)
    raise ValueError(f"pooling must be one of {POOLINGS}, received {mode!r}")


def pool_backward(grad_pooled: np.ndarray, cache):
    """Returns ``(grad_output (B, T, F), grad_final (B, F) or None)``."""
    mode, shape, saved = cache
    if mode == "last":
        return np.zeros(shape, dtype=grad_pooled.dtype), grad_pooled
    if mode == "mean":
        mask, scale = saved
        return mask * (grad_pooled * scale)[:, None, :], None
    argmax = saved
    grad_output = np.zeros(shape, dtype=grad_pooled.dtype)
    np.put_along_axis(grad_output, argmax[:, None, :], grad_pooled[:, None, :], axis=1)
    return grad_output, None
