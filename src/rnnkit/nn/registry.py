"""Where the layers find the compiled fast path, without importing it.

The readable reference (:mod:`rnnkit.nn.cells`, the time loops of
:mod:`rnnkit.nn.recurrent`) knows nothing of compiled code. The fast path,
:mod:`rnnkit.nn.fast`, sits beside it and, when imported (``rnnkit.nn``
imports it, so it is always there), fills this module in:

* :func:`register` ``(cell_class, forward, backward)``: the whole-direction
  drivers of one cell class (contract in :mod:`rnnkit.nn.fast`), found by the
  exact class, so a subclass with other math runs the reference loop;
* :func:`register_scan` ``(cell_class, kernels)``: the compiled scan path of a
  minimal cell (:class:`ScanKernels`);
* :func:`install` ``(path)``: the fast path itself, which answers three
  questions the layers ask: whether it is on (``path.ENABLED``), the BLAS
  thread region of a layer call (``path.small_work_threads``) and the large
  products split over its row threads (``path.matmul``).

Before (or without) an installed path, the layers run the reference loop with
NumPy's products and the BLAS threads as the user set them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

_DRIVERS: dict[type, tuple[Callable, Callable]] = {}  # cell class -> (forward, backward)
_SCAN: dict[type, ScanKernels] = {}  # minimal cell class -> its compiled scan kernels
_path = None  # the fast path's module, once it installed itself


def register(cell_class: type, forward: Callable, backward: Callable) -> None:
    """Make ``forward`` / ``backward`` the compiled drivers of layers built on ``cell_class``."""
    _DRIVERS[cell_class] = (forward, backward)


class ScanKernels(NamedTuple):
    """The compiled scan path of one minimal cell class (:mod:`rnnkit.nn.fast.min_cells`):

    * ``coefficients(Gx, mask) -> (a, b, acts)``: ``h_t = a_t h_{t-1} + b_t`` from the gate
      pre-activations (T, B, G*H), padded steps ``a = 1``, ``b = 0``;
    * ``backward(dh, acts, h_prev, a) -> dGx``: the gate pre-activation gradients;
    * ``recurrence(a, b, h0) -> states`` (T+1, B, H) and ``adjoint(a, dY, dh_n) -> λ``."""

    coefficients: Callable
    backward: Callable
    recurrence: Callable
    adjoint: Callable


def register_scan(cell_class: type, kernels: ScanKernels) -> None:
    """Make ``kernels`` the compiled scan path of layers built on ``cell_class`` (the
    reference is the log-space scan of :mod:`rnnkit.nn.scan`)."""
    _SCAN[cell_class] = kernels


def scan_kernels(cell) -> ScanKernels | None:
    """The compiled scan path of ``cell``'s class when the fast path is on and has one, else
    None (then the layer runs the log-space scan). A run remembers what it took."""
    return _SCAN.get(type(cell)) if enabled() else None


def drivers(cell_class: type) -> tuple[Callable, Callable] | None:
    """The ``(forward, backward)`` drivers registered for exactly ``cell_class``, or None."""
    return _DRIVERS.get(cell_class)


def install(path) -> None:
    """Make ``path`` (a module with ``ENABLED``, ``small_work_threads`` and ``matmul``) the
    fast path the layers use."""
    global _path
    _path = path


def enabled() -> bool:
    """Whether the layers use the compiled path now (``rnnkit.nn.fast.ENABLED``)."""
    return _path is not None and bool(_path.ENABLED)


def forward_driver(cell) -> Callable | None:
    """The compiled forward driver of ``cell``'s class when the fast path is on, else None
    (then the layer runs its reference loop)."""
    if not enabled():
        return None
    found = _DRIVERS.get(type(cell))
    return None if found is None else found[0]


def backward_driver(cell) -> Callable:
    """The compiled backward driver of ``cell``'s class (a run remembers the path it took, so
    this does not look at the switch)."""
    return _DRIVERS[type(cell)][1]


def threads(macs: int, steps: int = 1, weight: int = 0):
    """The BLAS thread region of a layer call whose largest matmul has ``macs`` multiply-adds
    over ``steps`` time steps, by a weight of ``weight`` elements
    (:func:`rnnkit.nn.fast.small_work_threads`); nothing without a fast path."""
    if _path is None:
        return contextlib.nullcontext()
    return _path.small_work_threads(macs, steps, weight)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False):
    """``out = a @ b`` (``accumulate``: ``out += a @ b``), on the fast path's row threads where
    it is installed and on (:func:`rnnkit.nn.fast.matmul`), else NumPy's."""
    if enabled():
        return _path.matmul(a, b, out, accumulate)
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)
    return out


class Workspace:
    """Scratch arrays of one (layer, direction), reused from call to call.

    A training loop calls forward and backward with the same shapes step after
    step; fresh (T, B, G*H) arrays each time would cost a page fault per 4 KiB
    (the allocator hands large blocks back to the system when they are freed),
    10-15% of a step at mid-sized shapes. ``get`` returns the array kept under
    ``name`` when its shape and dtype match, else a new one (kept from then on).
    Only arrays that never leave the layer live here: outputs and gradients
    handed to the caller are always fresh, so a later call never overwrites
    what the caller holds. The layer owns one per (layer, direction); the
    compiled drivers fill it.
    """

    __slots__ = ("_arrays",)

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.empty(shape, dtype=dtype)
        return a
