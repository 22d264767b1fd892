"""Optimizers, gradient clipping and learning-rate schedules, as in ``torch.optim``.

Every optimizer updates ``param.data`` in place from ``param.grad`` with exactly
PyTorch's formulas (single-tensor CPU path), so a run here and a run with
``torch.optim`` fed the same gradients agree to rounding. Notation below:
``g`` the gradient, ``θ`` the parameter, ``γ`` the learning rate ``lr``,
``λ`` the weight decay, ``t`` the step count (from 1).

State is plain data: :meth:`Optimizer.state_dict` returns a nested dict of
JSON scalars (hyper-parameters, step counts) and NumPy arrays (buffers, keyed by
the parameter's index as a string), so a checkpoint can store the scalars as
JSON and the arrays as ``.npz``; no pickle. Loading it into a fresh optimizer
over the same parameters continues training bit for bit.

One optimizer has one parameter group; ``optimizer.lr`` is a float that the
schedules at the bottom of this file (or you) change between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .module import Parameter

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "clip_grad_norm",
    "clip_grad_value",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LambdaLR",
    "ReduceLROnPlateau",
]


def _check(condition: bool, what: str, value: object) -> None:
    if not condition:
        raise ValueError(f"{what}, received {value!r}")


# ---------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------


class Optimizer:
    """Base class: parameter list, per-parameter state, ``step``/``zero_grad``, state dicts.

    Subclasses list their hyper-parameters in ``_hyper_names`` (the constructor
    stores each as an attribute), name their buffers in :meth:`_buffer_names`
    and implement :meth:`_update` for one parameter. Buffers are allocated
    up front in the parameter's dtype; a few scratch arrays per parameter are
    reused every step so that a step allocates (almost) nothing.
    Parameters with ``requires_grad == False`` are skipped (their step count
    does not advance).
    """

    _hyper_names: tuple[str, ...] = ("lr",)

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise ValueError(
                    f"params[{i}]: expected a rnnkit.nn.Parameter, received {type(p).__name__}"
                )
            if id(p) in seen:
                raise ValueError(f"params[{i}] appears more than once in the parameter list")
            seen.add(id(p))
        _check(lr >= 0.0, "lr must be >= 0", lr)
        self.lr = float(lr)
        self._scratch: list[list[np.ndarray]] = [[] for _ in self.params]
        self.state: list[dict[str, Any]] = []

    def _init_state(self) -> None:
        """Allocate every buffer (called by subclasses once hyper-parameters are set)."""
        self.state = [
            {"step": 0, **{name: self._new_buffer(name, p.data) for name in self._buffer_names()}}
            for p in self.params
        ]

    # -- what subclasses define -------------------------------------------
    def _buffer_names(self) -> list[str]:
        return []

    def _new_buffer(self, name: str, data: np.ndarray) -> np.ndarray:
        return np.zeros_like(data)

    def _update(self, p: Parameter, state: dict[str, Any], index: int) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    # -- helpers for subclasses ----------------------------------------------
    def _tmp(self, index: int, count: int) -> list[np.ndarray]:
        """``count`` scratch arrays shaped like parameter ``index`` (allocated once)."""
        bufs = self._scratch[index]
        while len(bufs) < count:
            bufs.append(np.empty_like(self.params[index].data))
        return bufs

    @staticmethod
    def _decayed_grad(p: Parameter, weight_decay: float, out: np.ndarray) -> np.ndarray:
        """``g + λ θ`` written into ``out`` (or ``g`` itself when ``λ = 0``)."""
        if weight_decay == 0:
            return p.grad
        np.multiply(p.data, weight_decay, out=out)
        out += p.grad
        return out

    # -- public API ----------------------------------------------------------
    def step(self) -> None:
        """Update every trainable parameter once from its current ``grad``."""
        for i, p in enumerate(self.params):
            if not p.requires_grad:
                continue
            state = self.state[i]
            state["step"] += 1
            self._update(p, state, i)

    def zero_grad(self) -> None:
        """Fill every parameter's ``grad`` with zeros (in place)."""
        for p in self.params:
            p.grad.fill(0)

    def hyperparameters(self) -> dict[str, Any]:
        """The hyper-parameters as JSON scalars (tuples become lists)."""
        out: dict[str, Any] = {}
        for name in self._hyper_names:
            value = getattr(self, name)
            out[name] = [float(v) for v in value] if isinstance(value, tuple) else value
        return out

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as JSON scalars and array copies::

        {"optimizer": "Adam", "num_params": 3,
         "hyperparameters": {"lr": 0.001, "betas": [0.9, 0.999], ...},
         "state": {"0": {"step": 5, "exp_avg": ndarray, ...}, "1": {...}, ...}}
        """
        state = {
            str(i): {k: (v.copy() if isinstance(v, np.ndarray) else int(v)) for k, v in s.items()}
            for i, s in enumerate(self.state)
        }
        return {
            "optimizer": type(self).__name__,
            "num_params": len(self.params),
            "hyperparameters": self.hyperparameters(),
            "state": state,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters, step counts and buffers from :meth:`state_dict`.

        Everything is validated before anything is written (optimizer type,
        number of parameters, hyper-parameter names, buffer names and shapes),
        so a failed load raises ``ValueError`` and leaves the optimizer as it was.
        Arrays are copied into the existing buffers, i.e. cast to each
        parameter's dtype.
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"expected a dict, received {type(state_dict).__name__}")
        missing = [
            k
            for k in ("optimizer", "num_params", "hyperparameters", "state")
            if k not in state_dict
        ]
        if missing:
            raise ValueError(f"optimizer state dict lacks keys {missing}")
        if state_dict["optimizer"] != name:
            raise ValueError(
                f"optimizer type mismatch: expected {name}, received {state_dict['optimizer']}"
            )
        n = len(self.params)
        if int(state_dict["num_params"]) != n or len(state_dict["state"]) != n:
            raise ValueError(
                f"number of parameters mismatch: expected {n}, received "
                f"{state_dict['num_params']} (with {len(state_dict['state'])} state entries)"
            )
        hyper = state_dict["hyperparameters"]
        if sorted(hyper) != sorted(self._hyper_names):
            raise ValueError(
                f"hyper-parameter mismatch: expected {sorted(self._hyper_names)}, "
                f"received {sorted(hyper)}"
            )
        entries = {int(k): v for k, v in state_dict["state"].items()}
        expected_keys = sorted(["step", *self._buffer_names()])
        for i, p in enumerate(self.params):
            if i not in entries:
                raise ValueError(
                    f"state for parameter {i} missing: received keys {sorted(entries)}"
                )
            entry = entries[i]
            if sorted(entry) != expected_keys:
                raise ValueError(
                    f"parameter {i}: expected state keys {expected_keys}, received {sorted(entry)}"
                )
            for key in self._buffer_names():
                shape = np.shape(entry[key])
                if shape != p.data.shape:
                    raise ValueError(
                        f"parameter {i} buffer '{key}': expected shape {p.data.shape}, "
                        f"received {shape}"
                    )
        for key, value in hyper.items():
            current = getattr(self, key)
            if isinstance(current, tuple):
                value = tuple(float(v) for v in value)
            elif isinstance(current, bool):
                value = bool(value)
            else:
                value = float(value)
            setattr(self, key, value)
        for i, state in enumerate(self.state):
            entry = entries[i]
            state["step"] = int(entry["step"])
            for key in self._buffer_names():
                state[key][...] = np.asarray(entry[key])

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} params, {hyper})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum (PyTorch's ``torch.optim.SGD``).

    ::

        g ← g + λ θ                                  (weight_decay)
        b ← g                      at the first step (momentum ≠ 0)
        b ← μ b + (1 - dampening) g   afterwards
        g ← g + μ b   (nesterov)   or   g ← b
        θ ← θ - γ g
    """

    _hyper_names = ("lr", "momentum", "dampening", "nesterov", "weight_decay")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        _check(momentum >= 0.0, "momentum must be >= 0", momentum)
        _check(weight_decay >= 0.0, "weight_decay must be >= 0", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "nesterov requires momentum > 0 and dampening = 0, received "
                f"momentum={momentum}, dampening={dampening}"
            )
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self._init_state()

    def _buffer_names(self) -> list[str]:
        return ["momentum_buffer"] if self.momentum != 0 else []

    def _update(self, p: Parameter, state: dict[str, Any], index: int) -> None:
        s0, s1 = self._tmp(index, 2)
        d = self._decayed_grad(p, self.weight_decay, s0)
        if self.momentum != 0:
            buf = state["momentum_buffer"]
            if state["step"] == 1:
                np.copyto(buf, d)
            else:
                buf *= self.momentum
                if self.dampening == 0:
                    buf += d
                else:
                    np.multiply(d, 1 - self.dampening, out=s1)
                    buf += s1
            if self.nesterov:
                np.multiply(buf, self.momentum, out=s1)
                s1 += d
                d = s1
            else:
                d = buf
        np.multiply(d, -self.lr, out=s1)
        p.data += s1


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch's ``torch.optim.Adagrad``).

    ::

        g ← g + λ θ
        γ_t = γ / (1 + (t - 1) lr_decay)
        s ← s + g²                          (s starts at initial_accumulator_value)
        θ ← θ - γ_t g / (√s + eps)
    """

    _hyper_names = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, lr)
        _check(lr_decay >= 0.0, "lr_decay must be >= 0", lr_decay)
        _check(weight_decay >= 0.0, "weight_decay must be >= 0", weight_decay)
        _check(
            initial_accumulator_value >= 0.0,
            "initial_accumulator_value must be >= 0",
            initial_accumulator_value,
        )
        _check(eps >= 0.0, "eps must be >= 0", eps)
        self.lr_decay = float(lr_decay)
        self.weight_decay = float(weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.eps = float(eps)
        self._init_state()

    def _buffer_names(self) -> list[str]:
        return ["sum"]

    def _new_buffer(self, name: str, data: np.ndarray) -> np.ndarray:
        return np.full_like(data, self.initial_accumulator_value)

    def _update(self, p: Parameter, state: dict[str, Any], index: int) -> None:
        s0, s1 = self._tmp(index, 2)
        d = self._decayed_grad(p, self.weight_decay, s0)
        clr = self.lr / (1 + (state["step"] - 1) * self.lr_decay)
        acc = state["sum"]
        np.multiply(d, d, out=s1)
        acc += s1
        np.sqrt(acc, out=s1)
        s1 += self.eps
        np.divide(d, s1, out=s1)
        s1 *= -clr
        p.data += s1


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch's ``torch.optim.RMSprop``).

    ::

        g ← g + λ θ
        v ← α v + (1 - α) g²
        centered:  ḡ ← ḡ + (1 - α)(g - ḡ),   d = √(v - ḡ²) + eps
        otherwise: d = √v + eps
        momentum > 0:  b ← μ b + g / d,   θ ← θ - γ b
        otherwise:     θ ← θ - γ g / d
    """

    _hyper_names = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        _check(0.0 <= alpha <= 1.0, "alpha must be in [0, 1]", alpha)
        _check(eps >= 0.0, "eps must be >= 0", eps)
        _check(weight_decay >= 0.0, "weight_decay must be >= 0", weight_decay)
        _check(momentum >= 0.0, "momentum must be >= 0", momentum)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.momentum = float(momentum)
        self.centered = bool(centered)
        self._init_state()

    def _buffer_names(self) -> list[str]:
        names = ["square_avg"]
        if self.momentum > 0:
            names.append("momentum_buffer")
        if self.centered:
            names.append("grad_avg")
        return names

    def _update(self, p: Parameter, state: dict[str, Any], index: int) -> None:
        s0, s1 = self._tmp(index, 2)
        d = self._decayed_grad(p, self.weight_decay, s0)
        square_avg = state["square_avg"]
        square_avg *= self.alpha
        np.multiply(d, d, out=s1)
        s1 *= 1 - self.alpha
        square_avg += s1
        if self.centered:
            grad_avg = state["grad_avg"]
            np.subtract(d, grad_avg, out=s1)  # lerp toward g
            s1 *= 1 - self.alpha
            grad_avg += s1
            np.multiply(grad_avg, grad_avg, out=s1)
            np.subtract(square_avg, s1, out=s1)
            np.sqrt(s1, out=s1)
        else:
            np.sqrt(square_avg, out=s1)
        s1 += self.eps
        np.divide(d, s1, out=s1)  # g / d
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += s1
            np.multiply(buf, -self.lr, out=s1)
        else:
            s1 *= -self.lr
        p.data += s1


class Adam(Optimizer):
    r"""Adam (PyTorch's ``torch.optim.Adam``); ``weight_decay`` is L2 added to the gradient.

    ::

        g ← g + λ θ
        m ← m + (1 - β1)(g - m)              (= β1 m + (1 - β1) g)
        v ← β2 v + (1 - β2) g²
        amsgrad: v̂ ← max(v̂, v), use v̂ for v below
        θ ← θ - γ / (1 - β1^t) · m / (√v / √(1 - β2^t) + eps)
    """

    _hyper_names = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _decoupled = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr)
        _check(
            len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas),
            "betas must be two floats in [0, 1)",
            betas,
        )
        _check(eps >= 0.0, "eps must be >= 0", eps)
        _check(weight_decay >= 0.0, "weight_decay must be >= 0", weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.amsgrad = bool(amsgrad)
        self._init_state()

    def _buffer_names(self) -> list[str]:
        names = ["exp_avg", "exp_avg_sq"]
        if self.amsgrad:
            names.append("max_exp_avg_sq")
        return names

    def _update(self, p: Parameter, state: dict[str, Any], index: int) -> None:
        s0, s1 = self._tmp(index, 2)
        beta1, beta2 = self.betas
        if self._decoupled:
            if self.weight_decay != 0:
                p.data *= 1 - self.lr * self.weight_decay
            d = p.grad
        else:
            d = self._decayed_grad(p, self.weight_decay, s0)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        np.subtract(d, exp_avg, out=s1)  # lerp toward g
        s1 *= 1 - beta1
        exp_avg += s1
        exp_avg_sq *= beta2
        np.multiply(d, d, out=s1)
        s1 *= 1 - beta2
        exp_avg_sq += s1

        t = state["step"]
        step_size = self.lr / (1 - beta1**t)
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        second = exp_avg_sq
        if self.amsgrad:
            second = state["max_exp_avg_sq"]
            np.maximum(second, exp_avg_sq, out=second)
        np.sqrt(second, out=s1)
        s1 /= bias_correction2_sqrt
        s1 += self.eps
        np.divide(exp_avg, s1, out=s1)
        s1 *= -step_size
        p.data += s1


class AdamW(Adam):
    r"""Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``).

    The decay shrinks the parameter directly instead of entering the moments::

        θ ← θ (1 - γ λ),   then the Adam update with the raw gradient g.
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# ---------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------


def _trainable(parameters: Iterable[Parameter]) -> list[Parameter]:
    return [p for p in parameters if p.requires_grad]


def clip_grad_norm(
    parameters: Iterable[Parameter], max_norm: float, norm_type: float = 2.0
) -> float:
    r"""Scale all gradients together so that their global norm is at most ``max_norm``.

    ``total = ‖(‖g_1‖_p, ‖g_2‖_p, ...)‖_p`` (the p-norm of all gradients seen
    as one vector; ``norm_type=inf`` is the largest absolute value). Every
    gradient is multiplied in place by ``min(max_norm / (total + 1e-6), 1)``, as
    ``torch.nn.utils.clip_grad_norm_``; the remedy for exploding gradients in
    backpropagation through time. Parameters with ``requires_grad == False``
    are ignored. A non-finite total leaves the gradients untouched (check the
    returned value to skip such a step).

    Returns the total norm *before* clipping, as a Python float.
    """
    params = _trainable(parameters)
    norm_type = float(norm_type)
    max_norm = float(max_norm)
    if not params:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(p.grad), initial=0.0)) for p in params)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    else:
        _check(norm_type > 0, "norm_type must be > 0 or inf", norm_type)
        total = sum(float(np.sum(np.abs(p.grad) ** norm_type)) for p in params)
        total = total ** (1.0 / norm_type)
    clip_coef = max_norm / (total + 1e-6)
    if math.isfinite(total) and clip_coef < 1.0:
        for p in params:
            p.grad *= clip_coef
    return total


def clip_grad_value(parameters: Iterable[Parameter], clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    _check(clip_value >= 0, "clip_value must be >= 0", clip_value)
    for p in _trainable(parameters):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)


# ---------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------


class LRScheduler:
    """Base class: sets ``optimizer.lr`` from a closed-form schedule of the epoch.

    ``base_lr`` is the optimizer's ``lr`` at construction; the constructor
    performs the initial step (``last_epoch`` -1 -> 0) as PyTorch does. Call
    :meth:`step` once per epoch (or per iteration), after ``optimizer.step()``.
    Because :meth:`get_lr` depends only on ``base_lr`` and ``last_epoch``, the
    state dict is a few scalars and resume is exact. (PyTorch's chainable form
    gives the same values to rounding as long as nothing else changes the lr.)
    """

    _hyper_names: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"expected an Optimizer, received {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = int(last_epoch)
        self.step()

    def get_lr(self) -> float:
        """The learning rate at ``last_epoch``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def get_last_lr(self) -> float:
        """The learning rate the last :meth:`step` set."""
        return self._last_lr

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self._last_lr = float(self.get_lr())

    def state_dict(self) -> dict[str, Any]:
        """JSON scalars: scheduler type, ``base_lr``, ``last_epoch`` and hyper-parameters."""
        out = {
            "scheduler": type(self).__name__,
            "base_lr": self.base_lr,
            "last_epoch": self.last_epoch,
            "last_lr": self._last_lr,
        }
        out.update({name: getattr(self, name) for name in self._hyper_names})
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` (does not touch ``optimizer.lr``; load the
        optimizer's own state for that)."""
        name = type(self).__name__
        if state_dict.get("scheduler") != name:
            raise ValueError(
                f"scheduler type mismatch: expected {name}, received {state_dict.get('scheduler')}"
            )
        expected = sorted(["scheduler", "base_lr", "last_epoch", "last_lr", *self._hyper_names])
        if sorted(state_dict) != expected:
            raise ValueError(f"expected keys {expected}, received {sorted(state_dict)}")
        for key in self._hyper_names:
            setattr(self, key, type(getattr(self, key))(state_dict[key]))
        self.base_lr = float(state_dict["base_lr"])
        self.last_epoch = int(state_dict["last_epoch"])
        self._last_lr = float(state_dict["last_lr"])


class StepLR(LRScheduler):
    """``lr = base_lr · gamma ** (epoch // step_size)``."""

    _hyper_names = ("step_size", "gamma")

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        _check(int(step_size) >= 1, "step_size must be >= 1", step_size)
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = base_lr · gamma ** epoch``."""

    _hyper_names = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        return self.base_lr * self.gamma**self.last_epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) · (1 + cos(π · epoch / T_max)) / 2``.

    Past ``T_max`` the cosine continues (the lr climbs back up), as in PyTorch.
    """

    _hyper_names = ("T_max", "eta_min")

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        _check(int(T_max) >= 1, "T_max must be >= 1", T_max)
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * cosine / 2


class LambdaLR(LRScheduler):
    """``lr = base_lr · lr_lambda(epoch)``.

    The function is not part of the state dict: construct the scheduler with
    the same function, then load the state.
    """

    def __init__(
        self, optimizer: Optimizer, lr_lambda: Callable[[int], float], last_epoch: int = -1
    ) -> None:
        if not callable(lr_lambda):
            raise ValueError(f"lr_lambda must be callable, received {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        return self.base_lr * self.lr_lambda(self.last_epoch)


class ReduceLROnPlateau(LRScheduler):
    """Multiply ``lr`` by ``factor`` when a metric has stopped improving (PyTorch's rules).

    ``step(metric)`` once per evaluation. The metric improves when it beats the
    best so far by the threshold (``mode="min"``, ``threshold_mode="rel"``:
    ``metric < best · (1 - threshold)``; ``"abs"``: ``metric < best - threshold``;
    mirrored for ``"max"``). After more than ``patience`` evaluations without
    improvement ``lr ← max(lr · factor, min_lr)`` (ignored if the change is below
    ``eps``), then ``cooldown`` evaluations are not counted.
    """

    _hyper_names = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "eps",
    )

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"expected an Optimizer, received {type(optimizer).__name__}")
        _check(mode in ("min", "max"), "mode must be 'min' or 'max'", mode)
        _check(
            threshold_mode in ("rel", "abs"),
            "threshold_mode must be 'rel' or 'abs'",
            threshold_mode,
        )
        _check(factor < 1.0, "factor must be < 1", factor)
        self.optimizer = optimizer
        self.mode = mode
        self.factor = float(factor)
        self.patience = int(patience)
        self.threshold = float(threshold)
        self.threshold_mode = threshold_mode
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self.eps = float(eps)
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        self._last_lr = float(optimizer.lr)
        self.best: float | None = None  # None until the first metric
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, value: float) -> bool:
        best, th = self.best, self.threshold
        if best is None:  # nothing seen yet: compare with the worst possible value
            best = math.inf if self.mode == "min" else -math.inf
        if self.mode == "min":
            return value < (best * (1 - th) if self.threshold_mode == "rel" else best - th)
        return value > (best * (1 + th) if self.threshold_mode == "rel" else best + th)

    def get_lr(self) -> float:
        return self.optimizer.lr

    def step(self, metric: float) -> None:  # type: ignore[override]
        value = float(metric)
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old_lr = float(self.optimizer.lr)
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = float(self.optimizer.lr)

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        out.update(
            best=self.best,
            num_bad_epochs=self.num_bad_epochs,
            cooldown_counter=self.cooldown_counter,
        )
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        extra = ("best", "num_bad_epochs", "cooldown_counter")
        missing = [k for k in extra if k not in state_dict]
        if missing:
            raise ValueError(f"ReduceLROnPlateau state dict lacks keys {missing}")
        super().load_state_dict({k: v for k, v in state_dict.items() if k not in extra})
        best = state_dict["best"]
        self.best = None if best is None else float(best)
        self.num_bad_epochs = int(state_dict["num_bad_epochs"])
        self.cooldown_counter = int(state_dict["cooldown_counter"])
