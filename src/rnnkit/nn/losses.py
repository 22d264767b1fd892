"""Losses on logits: softmax cross-entropy and sigmoid binary cross-entropy.

Both are modules without parameters: ``loss = criterion(logits, target)`` returns
a Python float (``reduction="none"``: an array) and ``criterion.backward(grad=1.0)``
returns ``dloss/dlogits`` with the logits' shape and dtype. They accept float32
and float64 logits and compute in that dtype (sums are taken in float64).
"""

from __future__ import annotations

import numpy as np

from .functional import log_softmax
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, received {reduction!r}")
    return reduction


def _check_logits(logits) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.dtype not in (np.float32, np.float64):
        raise ValueError(f"logits must be float32 or float64, received {logits.dtype}")
    return logits


def _saved(module: Module, name: str):
    value = getattr(module, name, None)
    if value is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return value


def _upstream(grad, reduction: str, shape: tuple[int, ...]) -> np.ndarray:
    """The incoming gradient: a scalar for mean/sum, an array of ``shape`` for none."""
    grad = np.asarray(grad, dtype=np.float64)
    if reduction == "none":
        if grad.shape != shape:
            raise ValueError(f"backward expected grad of shape {shape}, received {grad.shape}")
    elif grad.size != 1:
        raise ValueError(f"backward expected a scalar grad, received shape {grad.shape}")
    return grad.reshape(shape) if reduction == "none" else grad.reshape(())


class CrossEntropyLoss(Module):
    """Softmax cross-entropy over the last axis of unnormalised ``logits``.

    For every counted position ``n`` with target class ``t_n`` and logits ``z_n (C,)``::

        log p_n = z_n - max(z_n) - log sum_c exp(z_nc - max(z_n))   (stable log-softmax)
        l_n     = -log p_n[t_n]

    A position is counted unless ``target == ignore_index`` or ``mask`` is false
    there. ``reduction="mean"`` averages over counted positions, ``"sum"`` adds
    them, ``"none"`` returns ``l`` with zeros at uncounted positions. Backward::

        dL/dz_n = s_n * (softmax(z_n) - onehot(t_n)),   s_n = grad / #counted  (mean)
                                                              grad             (sum)
                                                              grad[n]          (none)

        and 0 at uncounted positions.

    Unlike PyTorch (which returns nan), a mean over no counted position is 0.0
    with a zero gradient, so a fully padded batch does not poison training.

    Soft targets, as PyTorch's class-probability form: a float ``target (..., C)``
    of the logits' shape holds a distribution ``q_n`` per position (teacher
    probabilities in distillation, smoothed labels), and::

        l_n = -sum_c q_nc log p_nc,        dL/dz_n = s_n * (softmax(z_n) - q_n)

    ``ignore_index`` does not apply to them; ``mask`` does.

    Shapes: ``logits (..., C)`` (class axis last, whereas PyTorch puts it at axis
    1), ``target (...)`` integer class ids or ``(..., C)`` probabilities,
    ``mask (...)`` bool or 0/1. Targets outside ``[0, C)`` are an error only
    where counted.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.reduction = _check_reduction(reduction)
        self._probs = None

    def forward(self, logits: np.ndarray, target: np.ndarray, mask=None) -> float | np.ndarray:
        logits = _check_logits(logits)
        target = np.asarray(target)
        if logits.ndim == 0 or logits.shape[-1] == 0:
            raise ValueError(f"logits must have shape (..., C) with C > 0, received {logits.shape}")
        soft = target.dtype.kind == "f"
        if soft:
            if target.shape != logits.shape:
                raise ValueError(
                    f"probability targets must have the logits' shape {logits.shape}, "
                    f"received {target.shape}"
                )
            if not np.all(np.isfinite(target)) or (target < 0).any():
                raise ValueError("probability targets must be finite and >= 0")
        elif target.dtype.kind not in "iu":
            raise ValueError(
                f"target must hold integer class ids or float probabilities, "
                f"received dtype {target.dtype}"
            )
        elif target.shape != logits.shape[:-1]:
            raise ValueError(
                f"target shape must be logits.shape[:-1] = {logits.shape[:-1]}, "
                f"received {target.shape}"
            )
        num_classes = logits.shape[-1]
        shape = logits.shape[:-1]
        counted = np.ones(shape, dtype=bool) if soft else target != self.ignore_index  # (...)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != shape:
                raise ValueError(f"mask shape must be {shape}, received {mask.shape}")
            if mask.dtype != bool and not np.all((mask == 0) | (mask == 1)):
                raise ValueError("mask must be bool or hold only 0 and 1")
            counted &= mask.astype(bool)
        if soft:
            return self._soft_forward(logits, target.astype(logits.dtype, copy=False), counted)
        bad = counted & ((target < 0) | (target >= num_classes))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"target values must be in [0, {num_classes}) or ignore_index="
                f"{self.ignore_index}; received {target[where]} at position {where}"
            )

        t = np.where(counted, target, 0)  # (...) safe class ids
        log_p = log_softmax(logits)  # (..., C)
        log_p_t = np.take_along_axis(log_p, t[..., None], axis=-1)[..., 0]  # (...)
        losses = np.where(counted, -log_p_t, 0).astype(logits.dtype)  # (...)
        probs = np.exp(log_p, out=log_p)  # (..., C) softmax(logits), in place

        self._probs, self._t, self._q, self._counted = probs, t, None, counted
        return self._reduce(losses, counted)

    def _soft_forward(self, logits: np.ndarray, q: np.ndarray, counted: np.ndarray):
        """``l_n = -sum_c q_nc log p_nc`` for probability targets ``q (..., C)``."""
        log_p = log_softmax(logits)  # (..., C)
        losses = np.where(counted, -(q * log_p).sum(axis=-1), 0).astype(logits.dtype)
        self._probs, self._t, self._q, self._counted = np.exp(log_p), None, q, counted
        return self._reduce(losses, counted)

    def _reduce(self, losses: np.ndarray, counted: np.ndarray):
        self._count = int(counted.sum())
        if self.reduction == "none":
            return losses
        total = float(losses.sum(dtype=np.float64))
        if self.reduction == "sum":
            return total
        return total / self._count if self._count else 0.0

    def backward(self, grad=1.0) -> np.ndarray:
        probs = _saved(self, "_probs")
        counted = self._counted
        grad = _upstream(grad, self.reduction, counted.shape)
        if self.reduction == "mean":
            grad = grad / max(self._count, 1)
        scale = (counted * grad).astype(probs.dtype)  # (...), 0 where not counted
        num_classes = probs.shape[-1]
        grad_logits = probs.reshape(-1, num_classes).copy()  # (N, C)
        if self._q is None:
            grad_logits[np.arange(grad_logits.shape[0]), self._t.reshape(-1)] -= 1
        else:
            grad_logits -= self._q.reshape(-1, num_classes)
        grad_logits *= scale.reshape(-1, 1)
        return grad_logits.reshape(probs.shape)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy on logits ``x`` with targets ``y`` in ``[0, 1]``.

    With ``s = sigmoid(x)``, ``l = -[w y log s + (1 - y) log(1 - s)]``, computed
    without overflow as::

        l = max(x, 0) - x y + log(1 + exp(-|x|))                  (no pos_weight)
        l = w y softplus(-x) + (1 - y) softplus(x)                 (pos_weight w)
        softplus(x) = max(x, 0) + log(1 + exp(-|x|))

    Backward::

        dl/dx = s - y                                              (no pos_weight)
        dl/dx = (1 - y) s - w y (1 - s)                            (pos_weight w)

    times ``grad / N`` for ``"mean"`` (``N`` = number of elements), ``grad`` for
    ``"sum"``, ``grad[...]`` for ``"none"``.

    Shapes: ``logits (...)``, ``target`` the same shape; ``pos_weight`` broadcasts
    against the logits (usually ``(C,)`` for ``(..., C)`` multi-label logits).
    """

    def __init__(self, reduction: str = "mean", pos_weight: np.ndarray | None = None):
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self.pos_weight = None if pos_weight is None else np.asarray(pos_weight, dtype=np.float64)
        self._x = None

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        x = _check_logits(logits)
        y = np.asarray(target)
        if y.shape != x.shape:
            raise ValueError(f"target shape must equal logits shape {x.shape}, received {y.shape}")
        y = y.astype(x.dtype, copy=False)
        e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
        if self.pos_weight is None:
            w = None
            losses = np.maximum(x, 0) - x * y + np.log1p(e)
        else:
            try:
                w = np.broadcast_to(self.pos_weight.astype(x.dtype), x.shape)
            except ValueError:
                raise ValueError(
                    f"pos_weight of shape {self.pos_weight.shape} does not broadcast "
                    f"to logits of shape {x.shape}"
                ) from None
            log1p_e = np.log1p(e)
            losses = w * y * (np.maximum(-x, 0) + log1p_e) + (1 - y) * (np.maximum(x, 0) + log1p_e)
        self._x, self._y, self._w, self._e = x, y, w, e
        if self.reduction == "none":
            return losses
        total = float(losses.sum(dtype=np.float64))
        return total / max(x.size, 1) if self.reduction == "mean" else total

    def backward(self, grad=1.0) -> np.ndarray:
        x = _saved(self, "_x")
        y, w, e = self._y, self._w, self._e
        # sigmoid(x) from the forward's e = exp(-|x|): no second exp; equals
        # functional.sigmoid to an ulp; a sentiment test depends on these exact bits
        sig = np.where(x >= 0, 1, e) / (1 + e)
        dx = sig - y if w is None else (1 - y) * sig - w * y * (1 - sig)
        grad = _upstream(grad, self.reduction, x.shape)
        if self.reduction == "mean":
            grad = grad / max(x.size, 1)
        return (dx * grad).astype(x.dtype)

    def extra_repr(self) -> str:
        pw = "" if self.pos_weight is None else f", pos_weight={self.pos_weight.tolist()}"
        return f"reduction={self.reduction!r}{pw}"
