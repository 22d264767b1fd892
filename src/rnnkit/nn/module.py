"""Parameters and modules: the containers every layer is built from.

A :class:`Module` owns :class:`Parameter` objects (``.data`` and ``.grad`` NumPy
arrays) and child modules, registered simply by assigning them as attributes,
exactly as in PyTorch. Names follow PyTorch (``weight_ih_l0``, ``embedding.weight``)
so ``state_dict()`` keys line up with a PyTorch module's.

The forward/backward contract (as in CS231n's ``*_forward`` / ``*_backward``):

* ``forward(*inputs)`` computes outputs and keeps, inside the module, exactly
  what ``backward`` needs.
* ``backward(*grad_outputs)`` takes one gradient per output (same structure),
  *accumulates* (``+=``) into every ``param.grad`` and returns the gradient with
  respect to the (floating-point) inputs.

Only the most recent forward is remembered; call ``backward`` once per forward.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping

import numpy as np

from . import random as nnrandom


class Parameter:
    """A trainable array and its gradient. ``grad`` has the shape and dtype of ``data``."""

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = True):
        self.data = np.ascontiguousarray(data)
        # np.zeros (calloc): pages cost nothing until a backward writes them, so a model
        # loaded only to predict holds its weights once (np.zeros_like would touch them)
        self.grad = np.zeros(self.data.shape, dtype=self.data.dtype)
        self.requires_grad = requires_grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: parameter registry, state dict, train/eval mode."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise RuntimeError("call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            self._modules[name] = value
        else:
            if name in params:
                if value is None:
                    del params[name]
                else:
                    raise TypeError(f"cannot assign {type(value).__name__} to parameter '{name}'")
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    # -- traversal --------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(name, parameter)`` in registration order, children after own."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for mname, m in self._modules.items():
            yield from m.named_parameters(prefix + mname + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix.rstrip("."), self
        for mname, m in self._modules.items():
            yield from m.named_modules(prefix + mname + ".")

    def num_parameters(self) -> int:
        return int(sum(p.data.size for p in self.parameters()))

    # -- state ----------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter array, keyed by PyTorch-style dotted names."""
        return OrderedDict((n, p.data.copy()) for n, p in self.named_parameters())

    def load_state_dict(
        self, state: Mapping[str, object], strict: bool = True, assign: bool = False
    ) -> None:
        """Copy arrays into the parameters (cast to each parameter's dtype).

        Accepts NumPy arrays or anything ``np.asarray`` understands (a PyTorch
        tensor's ``.numpy()``, say). With ``strict`` every key must match.
        Shapes are checked before anything is written, so a failed load leaves
        the module unchanged. With ``assign`` (as PyTorch's ``assign=True``) each
        parameter takes the given array itself where its dtype and layout already
        fit, instead of a copy: with :func:`skip_init` this loads a model without
        holding its weights twice. The caller must not reuse the arrays.
        """
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(
                f"state dict mismatch: missing keys {missing}, unexpected keys {unexpected}"
            )
        staged = {}
        for name, p in own.items():
            if name not in state:
                continue
            value = state[name]
            if hasattr(value, "detach"):  # a torch tensor
                value = value.detach().cpu().numpy()
            arr = np.asarray(value)
            if arr.shape != p.data.shape:
                raise ValueError(
                    f"shape mismatch for '{name}': expected {p.data.shape}, received {arr.shape}"
                )
            staged[name] = arr
        for name, arr in staged.items():
            p = own[name]
            if assign:
                p.data = np.ascontiguousarray(arr, dtype=p.data.dtype)
                if not p.data.flags.writeable:
                    p.data = p.data.copy()
            else:
                p.data[...] = arr

    # -- modes and gradients -----------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for _, m in self.named_modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    # -- calling ----------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        if len(lines) == 1:
            return lines[0] + ")"
        return "\n".join(lines) + "\n)"


def resolve_dtype(dtype) -> np.dtype:
    """Accept ``np.float32``, ``"float64"``... and refuse anything that is not float32/64."""
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, received {dt}")
    return dt


_skip_init = False


@contextlib.contextmanager
def skip_init():
    """Inside the block, new modules leave their parameters uninitialised.

    Like ``torch.nn.utils.skip_init``: for a module whose weights are about to
    be replaced by a checkpoint's, the random draws (and their float64
    temporaries) would cost time and up to three times the weights' memory for
    nothing. Parameters are ``np.empty`` (their pages cost nothing until
    written) and the global generator is not advanced. Always follow with
    ``load_state_dict(..., strict=True)``.
    """
    global _skip_init
    previous, _skip_init = _skip_init, True
    try:
        yield
    finally:
        _skip_init = previous


def init_skipped() -> bool:
    """Whether modules built now skip their initialisation (inside :func:`skip_init`):
    a model that rescales its fresh weights checks this first."""
    return _skip_init


def uniform_array(shape: tuple[int, ...], bound: float, dtype) -> np.ndarray:
    """Draw U(-bound, bound) from the global generator (see :mod:`rnnkit.nn.random`)."""
    if _skip_init:
        return np.empty(shape, dtype=dtype)
    return nnrandom.get_rng().uniform(-bound, bound, size=shape).astype(dtype)


def normal_array(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Draw N(0, 1) from the global generator (drawn in float64, then cast, so seeded
    results do not depend on ``dtype``)."""
    if _skip_init:
        return np.empty(shape, dtype=dtype)
    return nnrandom.get_rng().standard_normal(shape).astype(dtype)
