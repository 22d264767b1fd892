"""Numerical gradient checking for any :class:`rnnkit.nn.Module`.

The check builds a scalar loss ``L = sum_k sum(w_k * out_k)`` with fixed random
weights ``w_k`` over every floating-point output array (nested tuples such as an
LSTM's ``(output, (h, c))`` included). The analytic gradient is what the
module's ``backward(w...)`` accumulates into ``param.grad`` and returns for the
inputs; the numerical one is the central difference

    dL/dθ ≈ (L(θ + ε) - L(θ - ε)) / 2ε

taken element by element in float64. The engine's random generator is reseeded
before every forward, so modules with dropout draw the same mask each time and
are checked too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .nn import random as nnrandom
from .nn.module import Module


@dataclass
class GradcheckResult:
    """Worst relative error per checked array (``param:<name>`` or ``input:<i>``)."""

    errors: dict[str, float] = field(default_factory=dict)
    checked: int = 0

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)


def _leaves(obj) -> list:
    if isinstance(obj, (tuple, list)):
        out = []
        for o in obj:
            out.extend(_leaves(o))
        return out
    return [obj]


def _is_float_array(x) -> bool:
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)


def _like(obj, leaves: list):
    """Rebuild ``obj``'s nesting with arrays taken in order from ``leaves``."""
    if isinstance(obj, (tuple, list)):
        return tuple(_like(o, leaves) for o in obj)
    if _is_float_array(obj):
        return leaves.pop(0)
    return None


def _indices(size: int, max_checks: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, max_checks, replace=False))


def gradcheck(
    module: Module,
    inputs: Sequence,
    kwargs: dict | None = None,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    seed: int = 0,
    max_checks: int | None = 200,
    check_inputs: bool = True,
) -> GradcheckResult:
    """Compare ``module.backward`` with central differences; raise ``AssertionError`` on mismatch.

    Args:
        module: a module whose parameters are float64.
        inputs: positional arguments of ``forward``; floating-point arrays among
            them (also inside tuples, e.g. an LSTM's ``(h0, c0)``) are checked
            against the gradients ``backward`` returns, in the same order.
        kwargs: keyword arguments of ``forward`` (``lengths=...``), not checked.
        max_checks: at most this many randomly chosen elements per array
            (``None`` checks every element).

    Returns:
        A :class:`GradcheckResult` with the worst error per array, where the
        error of one element is ``|a - n| / max(|a|, |n|, atol / rtol)``.
    """
    kwargs = dict(kwargs or {})
    for name, p in module.named_parameters():
        if p.data.dtype != np.float64:
            raise ValueError(f"gradcheck needs float64 parameters; '{name}' is {p.data.dtype}")
    rng = np.random.default_rng(seed + 1)

    def run():
        nnrandom.manual_seed(seed)
        return module.forward(*inputs, **kwargs)

    out = run()
    out_leaves = [o for o in _leaves(out) if _is_float_array(o)]
    weights = [rng.standard_normal(o.shape) for o in out_leaves]

    def loss() -> float:
        leaves = [o for o in _leaves(run()) if _is_float_array(o)]
        return float(sum(np.sum(w * o) for w, o in zip(weights, leaves, strict=True)))

    # Analytic gradients.
    module.zero_grad()
    out = run()
    grads = _like(out, [w.copy() for w in weights])
    returned = module.backward(*grads) if isinstance(out, tuple) else module.backward(grads)
    analytic: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, p in module.named_parameters():
        if p.requires_grad:
            analytic[f"param:{name}"] = (p.data, p.grad.copy())
    if check_inputs:
        float_inputs = [x for x in _leaves(list(inputs)) if _is_float_array(x)]
        returned_leaves = [g for g in _leaves(returned) if g is not None]
        for i, (x, g) in enumerate(zip(float_inputs, returned_leaves, strict=False)):
            if g.shape != x.shape:
                raise AssertionError(
                    f"input {i}: gradient shape {g.shape} differs from input shape {x.shape}"
                )
            analytic[f"input:{i}"] = (x, g)

    result = GradcheckResult()
    failures = []
    for key, (array, grad) in analytic.items():
        flat = array.reshape(-1)
        gflat = grad.reshape(-1)
        worst = 0.0
        for j in _indices(flat.size, max_checks, rng):
            old = flat[j]
            flat[j] = old + eps
            lp = loss()
            flat[j] = old - eps
            lm = loss()
            flat[j] = old
            num = (lp - lm) / (2 * eps)
            a = gflat[j]
            err = abs(a - num) / max(abs(a), abs(num), atol / rtol)
            worst = max(worst, err)
            result.checked += 1
            if err > rtol:
                where = np.unravel_index(j, array.shape)
                failures.append(f"{key}[{where}]: analytic {a:.8g}, numerical {num:.8g}")
        result.errors[key] = worst
    if failures:
        shown = "\n  ".join(failures[:10])
        raise AssertionError(f"gradcheck failed at {len(failures)} element(s):\n  {shown}")
    return result
