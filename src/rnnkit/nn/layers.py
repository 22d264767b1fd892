"""Feed-forward layers around the recurrent core: Linear, Embedding, EmbeddingBag, Dropout.

Each layer keeps what its ``backward`` needs from the most recent ``forward``
(see ``docs/engine-contract.md``); parameter names, shapes and initialisation
follow PyTorch, so ``state_dict()`` round-trips with ``torch.nn.Linear``,
``torch.nn.Embedding`` and ``torch.nn.EmbeddingBag``.
"""

from __future__ import annotations

import math

import numpy as np

from . import random as nnrandom
from . import registry
from .module import Module, Parameter, normal_array, resolve_dtype, uniform_array


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (2-D); on the fast path split over the recurrent layers' row threads, so that
    a model's Linear layers do not wake the BLAS library's own spinning thread pool between
    its recurrent layers (:func:`rnnkit.nn.fast.matmul`)."""
    if not registry.enabled():
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    return registry.matmul(a, b, out)

def _check_float_input(x, dtype: np.dtype, name: str = "input") -> np.ndarray:
    """Return ``x`` as an array of ``dtype``; any other dtype is a ValueError naming both."""
    x = np.asarray(x)
    if x.dtype != dtype:
        raise ValueError(f"{name} dtype must be {dtype} (the module's dtype), received {x.dtype}")
    return x


def _saved(module: Module, name: str):
    value = getattr(module, name, None)
    if value is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return value


def _check_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    """``padding_idx`` in ``[0, V)`` (a negative one counts from the end), or None."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"padding_idx must be in [-{num_embeddings}, {num_embeddings}), received {padding_idx}"
        )
    return int(padding_idx) % num_embeddings


def _check_ids(ids, num_embeddings: int, layer: str) -> np.ndarray:
    """``ids`` as an integer array with every id in ``[0, V)``; else a ValueError."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"{layer} expected integer ids, received dtype {ids.dtype}")
    if ids.size:
        lo, hi = ids.min(), ids.max()
        if lo < 0 or hi >= num_embeddings:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{layer} ids must be in [0, {num_embeddings}), received {bad}")
    return ids


def _scatter_add_rows(target: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """``target[ids[n]] += rows[n]`` for every ``n``, repeated ids accumulating.

    Sorts the ids, sums each run of equal ids and adds once per row: the same
    result as ``np.add.at(target, ids, rows)``, about twice as fast.
    """
    if ids.size == 0:
        return
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    target[sorted_ids[starts]] += np.add.reduceat(rows[order], starts, axis=0)


class Linear(Module):
    """Affine map ``y = x W^T + b`` over the last axis.

    Args:
        in_features: size ``I`` of the last axis of the input.
        out_features: size ``O`` of the last axis of the output.
        bias: add a learnable ``b`` (otherwise ``self.bias is None``).
        dtype: float32 (default) or float64.

    Parameters (PyTorch's names and shapes):
        weight: ``(O, I)``, initialised ``U(-1/sqrt(I), 1/sqrt(I))``.
        bias: ``(O,)``, same initialisation.

    Shapes: ``x (..., I) -> y (..., O)``; any number of leading axes.

    Backward, with ``X`` the ``(N, I)`` input and ``dY`` the ``(N, O)`` gradient
    flattened over the leading axes::

        dW += dY^T X      (O, I)   one matmul for all positions
        db += sum_n dY    (O,)
        dX  = dY W        (N, I)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32):
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.dtype = resolve_dtype(dtype)
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(uniform_array(shape, bound, self.dtype))
        self.bias = Parameter(uniform_array(shape[:1], bound, self.dtype)) if bias else None
        self._x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _check_float_input(x, self.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expected input of shape (..., {self.in_features}), received {x.shape}"
            )
        self._x = x
        x2 = x.reshape(-1, self.in_features)  # (N, I)
        out = _matmul(x2, self.weight.data.T)  # (N, O)
        if self.bias is not None:
            out += self.bias.data
        return out.reshape(*x.shape[:-1], self.out_features)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = _saved(self, "_x")
        expected = (*x.shape[:-1], self.out_features)
        grad_output = np.asarray(grad_output, dtype=self.dtype)
        if grad_output.shape != expected:
            raise ValueError(
                f"Linear.backward expected grad_output of shape {expected}, "
                f"received {grad_output.shape}"
            )
        g2 = grad_output.reshape(-1, self.out_features)  # (N, O)
        if self.weight.requires_grad:  # (O, I)
            x2 = x.reshape(-1, self.in_features)
            if registry.enabled():
                registry.matmul(g2.T, x2, self.weight.grad, accumulate=True)
            else:
                self.weight.grad += g2.T @ x2
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += g2.sum(axis=0)
        return _matmul(g2, self.weight.data).reshape(x.shape)  # (..., I)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.dtype}"
        )


class Embedding(Module):
    """Lookup table: ``out[...] = weight[ids[...]]``.

    Args:
        num_embeddings: vocabulary size ``V``; valid ids are ``0..V-1``.
        embedding_dim: vector size ``D``.
        padding_idx: this row starts at zero and never receives a gradient
            (a negative value counts from the end, as in PyTorch).
        dtype: float32 (default) or float64.
        _weight, _freeze: used by :meth:`from_pretrained` (PyTorch's names).

    Parameters: ``weight (V, D)``, initialised ``N(0, 1)``.

    Shapes: ``ids (...) int -> out (..., D)``; ``backward(grad (..., D)) -> None``.

    Backward scatter-adds each position's gradient into the row it read,
    ``dW[v] += sum_{n: ids[n] = v} dOut[n]``, so repeated ids accumulate. Setting
    ``weight.requires_grad = False`` (see :meth:`from_pretrained`) freezes the table.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype=np.float32,
        _weight: np.ndarray | None = None,
        _freeze: bool = False,
    ):
        super().__init__()
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.dtype = resolve_dtype(dtype)
        padding_idx = _check_padding_idx(padding_idx, self.num_embeddings)
        self.padding_idx = padding_idx
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            weight = normal_array(shape, self.dtype)
            if padding_idx is not None:
                weight[padding_idx] = 0
        else:  # given vectors (from_pretrained): copied as they are, no random draw
            weight = np.array(_weight, dtype=self.dtype)
            if weight.shape != shape:
                raise ValueError(f"_weight must have shape {shape}, received {weight.shape}")
        self.weight = Parameter(weight, requires_grad=not _freeze)
        self._ids = None

    @classmethod
    def from_pretrained(
        cls,
        embeddings: np.ndarray,
        freeze: bool = True,
        padding_idx: int | None = None,
        dtype=None,
    ) -> Embedding:
        """Build a table from a ``(V, D)`` array (copied), e.g. pretrained word vectors.

        ``freeze=True`` sets ``weight.requires_grad = False``: ``backward`` then
        leaves ``weight.grad`` at zero. As in PyTorch the padding row keeps the
        given vector (it is not zeroed), it only gets no gradient. ``dtype``
        defaults to the array's own (float32 or float64).
        """
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2:
            raise ValueError(
                f"from_pretrained expected a 2-D (num_embeddings, embedding_dim) array, "
                f"received shape {embeddings.shape}"
            )
        dtype = embeddings.dtype if dtype is None else dtype
        return cls(
            *embeddings.shape,
            padding_idx=padding_idx,
            dtype=dtype,
            _weight=embeddings,
            _freeze=freeze,
        )

    def forward(self, ids: np.ndarray) -> np.ndarray:
        ids = _check_ids(ids, self.num_embeddings, "Embedding")
        self._ids = ids
        return self.weight.data[ids]  # (..., D)

    def backward(self, grad_output: np.ndarray) -> None:
        ids = _saved(self, "_ids")
        expected = (*ids.shape, self.embedding_dim)
        grad_output = np.asarray(grad_output, dtype=self.dtype)
        if grad_output.shape != expected:
            raise ValueError(
                f"Embedding.backward expected grad_output of shape {expected}, "
                f"received {grad_output.shape}"
            )
        if not self.weight.requires_grad:
            return None
        flat = ids.reshape(-1)  # (N,)
        grads = grad_output.reshape(-1, self.embedding_dim)  # (N, D)
        if self.padding_idx is not None:
            keep = flat != self.padding_idx
            flat, grads = flat[keep], grads[keep]
        if flat.size == 0:
            return None
        _scatter_add_rows(self.weight.grad, flat, grads)
        return None

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}, dtype={self.dtype}"


class EmbeddingBag(Module):
    """Sum or mean of the vectors of each *bag* of ids (PyTorch's ``nn.EmbeddingBag``).

    ``out[b] = reduce_{n in bag b} weight[ids[n]]`` with ``reduce`` = sum or
    mean. Ids equal to ``padding_idx`` are left out of the bag (and of the
    count a mean divides by); an empty bag gives a zero vector. It is what a
    word made of its character n-grams needs (fastText: a word's vector is the
    mean of its own vector and those of its n-grams), without materialising
    the ``(bags, ids, D)`` array of an :class:`Embedding` followed by a sum.

    Args:
        num_embeddings: table size ``V``; valid ids are ``0..V-1``.
        embedding_dim: vector size ``D``.
        mode: ``"sum"`` or ``"mean"`` (PyTorch's ``"max"`` is not provided).
        padding_idx: this row starts at zero, is skipped in every bag and never
            receives a gradient (a negative value counts from the end).
        dtype: float32 (default) or float64.

    Parameters: ``weight (V, D)``, initialised ``N(0, 1)`` (as PyTorch).

    Shapes, as in PyTorch: ``forward(input (B, L) int)`` -- each row is a bag
    of ``L`` ids -- or ``forward(input (N,) int, offsets (B,) int)`` -- bag
    ``b`` is ``input[offsets[b]:offsets[b+1]]``, the last one running to the
    end -- returns ``(B, D)``; ``backward(grad (B, D)) -> None``.

    ``per_sample_weights`` (the shape of ``input``, ``"sum"`` only, as in PyTorch)
    scales each id's vector before the sum: ``out[b] = sum_{n in bag b} a[n] weight[ids[n]]``
    (a linear model over weighted features is an ``EmbeddingBag`` of width 1 fed the
    feature values). They are constants here: no gradient is computed for them.

    Backward: each id of bag ``b`` receives ``dOut[b]`` (divided by the bag's
    size for the mean, times ``a[n]`` when weighted), scatter-added into ``dW`` so
    repeated ids accumulate.
    """

    MODES = ("sum", "mean")

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        mode: str = "mean",
        padding_idx: int | None = None,
        dtype=np.float32,
    ):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, received {mode!r}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.mode = mode
        self.dtype = resolve_dtype(dtype)
        self.padding_idx = _check_padding_idx(padding_idx, self.num_embeddings)
        weight = normal_array((self.num_embeddings, self.embedding_dim), self.dtype)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        self.weight = Parameter(weight)
        self._saved = None

    def forward(
        self,
        input: np.ndarray,
        offsets: np.ndarray | None = None,
        per_sample_weights: np.ndarray | None = None,
    ) -> np.ndarray:
        ids = _check_ids(input, self.num_embeddings, "EmbeddingBag")
        weights = None
        if per_sample_weights is not None:
            if self.mode != "sum":
                raise ValueError("per_sample_weights need mode='sum', as in PyTorch")
            weights = np.asarray(per_sample_weights, dtype=self.dtype)
            if weights.shape != ids.shape:
                raise ValueError(
                    f"per_sample_weights must have the input's shape {ids.shape}, "
                    f"received {weights.shape}"
                )
            weights = weights.reshape(-1)
        if offsets is None:
            if ids.ndim != 2:
                raise ValueError(
                    "EmbeddingBag expected input (B, L), or (N,) with offsets, "
                    f"received shape {ids.shape}"
                )
            bags, size = ids.shape
            bag_of = np.repeat(np.arange(bags), size)  # (B*L,)
            ids = ids.reshape(-1)
        else:
            offsets = np.asarray(offsets)
            if ids.ndim != 1 or offsets.ndim != 1 or offsets.dtype.kind not in "iu":
                raise ValueError(
                    f"EmbeddingBag with offsets expected input (N,) and integer offsets (B,), "
                    f"received {ids.shape} and {offsets.dtype} {offsets.shape}"
                )
            bags = len(offsets)
            if bags and (offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] > ids.size):
                raise ValueError(
                    "offsets must start at 0 and not decrease nor pass the input's length "
                    f"{ids.size}"
                )
            sizes = np.diff(np.r_[offsets, ids.size])  # (B,)
            bag_of = np.repeat(np.arange(bags), sizes)  # (N,)
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids, bag_of = ids[keep], bag_of[keep]
            weights = None if weights is None else weights[keep]
        counts = np.bincount(bag_of, minlength=bags)  # (B,) ids per bag
        out = np.zeros((bags, self.embedding_dim), dtype=self.dtype)  # (B, D)
        starts = np.flatnonzero(counts)
        if ids.size:  # bag_of is sorted, so reduceat sums each bag's run of rows
            first = np.r_[0, np.cumsum(counts)[:-1]][starts]
            rows = self.weight.data[ids]  # (N, D)
            if weights is not None:
                rows = rows * weights[:, None]
            out[starts] = np.add.reduceat(rows, first, axis=0)
        scale = None
        if self.mode == "mean":
            scale = (1.0 / np.maximum(counts, 1)).astype(self.dtype)  # (B,)
            out *= scale[:, None]
        self._saved = (ids, bag_of, scale, bags, weights)
        return out

    def backward(self, grad_output: np.ndarray) -> None:
        ids, bag_of, scale, bags, weights = _saved(self, "_saved")
        grad_output = np.asarray(grad_output, dtype=self.dtype)
        if grad_output.shape != (bags, self.embedding_dim):
            raise ValueError(
                "EmbeddingBag.backward expected grad_output of shape "
                f"{(bags, self.embedding_dim)}, "
                f"received {grad_output.shape}"
            )
        if not self.weight.requires_grad:
            return None
        if scale is not None:
            grad_output = grad_output * scale[:, None]
        rows = grad_output[bag_of]  # (N, D) per id
        if weights is not None:
            rows *= weights[:, None]
        _scatter_add_rows(self.weight.grad, ids, rows)
        return None

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return (f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}{pad}, "
                f"dtype={self.dtype}")


class Dropout(Module):
    """Inverted dropout: ``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` per element.

    Dividing by ``1 - p`` at training time keeps ``E[y] = x``, so evaluation is the
    identity. The mask comes from the engine's generator (:mod:`rnnkit.nn.random`),
    so ``manual_seed`` reproduces it. Backward: ``dx = dy * m / (1 - p)``, zero
    where an element was dropped.

    Args:
        p: probability of zeroing an element, in ``[0, 1)``.
        dtype: ``None`` (default) accepts float32 and float64 inputs and keeps
            their dtype; a dtype makes any other input a ValueError.

    Shapes: ``x (...) -> y (...)``. In eval mode, or with ``p == 0``, ``forward``
    returns ``x`` itself and ``backward`` returns ``grad_output`` itself.
    """

    def __init__(self, p: float = 0.5, dtype=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1), received {p}")
        self.p = float(p)
        self.dtype = None if dtype is None else resolve_dtype(dtype)
        self._mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if self.dtype is not None:
            _check_float_input(x, self.dtype)
        elif x.dtype not in (np.float32, np.float64):
            raise ValueError(f"Dropout expected a float32 or float64 input, received {x.dtype}")
        if not self.training or self.p == 0.0:
            self._mask = np.ones((), dtype=x.dtype)  # identity: backward passes grad through
            return x
        keep = nnrandom.get_rng().random(x.shape) >= self.p
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))  # (...)
        return x * self._mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        mask = _saved(self, "_mask")
        if mask.ndim == 0:
            return grad_output
        grad_output = np.asarray(grad_output)
        if grad_output.shape != mask.shape:
            raise ValueError(
                f"Dropout.backward expected grad_output of shape {mask.shape}, "
                f"received {grad_output.shape}"
            )
        return grad_output * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
