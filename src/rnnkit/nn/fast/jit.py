"""What every compiled kernel of the fast path is built with: numba (when present), the
decorators, the typed constants and a tanh LLVM can vectorise in float32.

The kernels are cached on disk (``cache=True``), and numba checks a kernel's cache against
its own source file only: after editing this module (the tanh) or :mod:`rnnkit.nn.blas`
(the gemm), delete the ``*.nbi`` / ``*.nbc`` files under ``nn/fast/__pycache__``."""

from __future__ import annotations

import os

import numpy as np

try:  # pragma: no cover - exercised implicitly
    if os.environ.get("RNNKIT_DISABLE_JIT"):
        raise ImportError("disabled by RNNKIT_DISABLE_JIT")
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    numba = None
    AVAILABLE = False

# Constants of the kernels. Typed float32 so that float32 arrays are computed in
# float32 (a Python float literal would promote every expression to float64 and
# halve the SIMD width); 0, 0.5 and 1 are exact, so float64 arrays give the
# same results either way.
_ZERO = np.float32(0.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


def _jit(fn=None, *, reassociate: bool = False):
    """A kernel: compiled, cached on disk, releasing the GIL (the row threads run it).

    ``@_jit(reassociate=True)``: sums may be reordered (LLVM's ``reassoc`` and ``contract``
    flags, not the rest of fast-math: NaN and infinity keep their meaning), so that a dot
    product's loop vectorises; its result then differs from the sequential sum in the last
    bits."""
    if fn is None:
        return lambda f: _jit(f, reassociate=reassociate)
    if numba is None:
        return fn
    # error_model="numpy": a float division never raises (no branch per division), so the
    # element-wise loops vectorise
    fastmath = {"reassoc", "contract"} if reassociate else False
    return numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
                      fastmath=fastmath)(fn)  # fmt: skip


def _inline(fn):
    """A piece of one element's arithmetic, written once and inlined (numba IR) into every
    kernel that calls it, so the step kernels and the loop kernels compute the same
    operations in the same order. Keep it in the module of the kernels that call it: numba's
    disk cache of a kernel does not notice changes to a function inlined from another file."""
    if numba is None:
        return fn
    return numba.njit(inline="always", nogil=True, boundscheck=False, error_model="numpy")(fn)


def _tanh(x):
    """tanh inside the compiled loops (numba only; see the overload below)."""
    return np.tanh(x)


if numba is not None:  # pragma: no branch

    @numba.extending.overload(_tanh, jit_options={"cache": True, "error_model": "numpy"})
    def _tanh_overload(x):
        """float32: a rational approximation LLVM can vectorise (libm's scalar tanhf would cost
        more than the step's matmul); relative error a few float32 ulps, the same order as
        NumPy's own SIMD tanhf. float64: libm's tanh, exact to an ulp (the tests' reference)."""
        if x != numba.types.float32:
            return lambda x: np.tanh(x)

        def tanh32(x):
            # tanh(x) = x P(x^2) / Q(x^2) on |x| <= 7.905..., where tanhf rounds to +-1
            x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
            x2 = x * x
            p = np.float32(-2.76076847742355e-16)
            p = p * x2 + np.float32(2.00018790482477e-13)
            p = p * x2 + np.float32(-8.60467152213735e-11)
            p = p * x2 + np.float32(5.12229709037114e-08)
            p = p * x2 + np.float32(1.48572235717979e-05)
            p = p * x2 + np.float32(6.37261928875436e-04)
            p = p * x2 + np.float32(4.89352455891786e-03)
            q = np.float32(1.19825839466702e-06)
            q = q * x2 + np.float32(1.18534705686654e-04)
            q = q * x2 + np.float32(2.26843463243900e-03)
            q = q * x2 + np.float32(4.89352518554385e-03)
            return x * p / q

        return tanh32
