"""In-place initialisers for NumPy arrays, drawing from the engine's one generator.

Each function fills ``array`` in place (values are computed in float64 and cast
to the array's dtype) and returns it, like ``torch.nn.init``. Randomness comes
from :func:`rnnkit.nn.random.get_rng`, so :func:`rnnkit.nn.manual_seed` makes
every initialisation reproducible.

The recurrent helpers know PyTorch's fused gate layout: a layer's
``weight_ih_l{k}`` is ``(G*H, I)``, ``weight_hh_l{k}`` is ``(G*H, H)`` and each
bias is ``(G*H,)``, with the G gate blocks stacked along the first axis in the
order of the cell's ``gate_names`` (:mod:`rnnkit.nn.cells`, which says it):

* LSTM (G = 4): input ``i``, forget ``f``, cell candidate ``g``, output ``o``
* GRU (G = 3): reset ``r``, update ``z``, new ``n``
* RNN (G = 1).
"""

from __future__ import annotations

import math
import re

import numpy as np

from . import random as nnrandom
from .cells import CELLS, Cell, LSTMCell
from .module import Module

__all__ = [
    "uniform_",
    "normal_",
    "zeros_",
    "constant_",
    "xavier_uniform_",
    "orthogonal_",
    "orthogonal_recurrent_",
    "set_forget_gate_bias_",
    "init_recurrent_",
    "GATES",
]

#: Number of gate blocks per PyTorch ``mode`` string, as the cell classes declare them (for
#: modules that carry only a ``mode``, as PyTorch's do).
GATES = {cls.mode: cls.num_gates for cls in CELLS.values()}
#: The forget gate's block of the LSTM's fused weights (its ``gate_names``: i, f, g, o).
_FORGET = LSTMCell.gate_index("f")


def uniform_(array: np.ndarray, a: float = 0.0, b: float = 1.0) -> np.ndarray:
    """Fill with draws from U(a, b)."""
    array[...] = nnrandom.get_rng().uniform(a, b, size=array.shape)
    return array


def normal_(array: np.ndarray, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """Fill with draws from N(mean, std²)."""
    array[...] = nnrandom.get_rng().normal(mean, std, size=array.shape)
    return array


def zeros_(array: np.ndarray) -> np.ndarray:
    """Fill with 0."""
    array[...] = 0
    return array


def constant_(array: np.ndarray, value: float) -> np.ndarray:
    """Fill with ``value``."""
    array[...] = value
    return array


def _fans(array: np.ndarray) -> tuple[int, int]:
    """``(fan_in, fan_out)`` as PyTorch computes them: a ``(out, in, *k)`` weight."""
    if array.ndim < 2:
        raise ValueError(
            f"fan in/out need an array with at least 2 dims, received shape {array.shape}"
        )
    receptive = int(np.prod(array.shape[2:], dtype=np.int64)) if array.ndim > 2 else 1
    return array.shape[1] * receptive, array.shape[0] * receptive


def xavier_uniform_(array: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with ``a = gain · √(6 / (fan_in + fan_out))``.

    For a ``(out, in)`` matrix ``fan_in = in`` and ``fan_out = out``.
    """
    fan_in, fan_out = _fans(array)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound)


def orthogonal_(array: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """A (semi-)orthogonal matrix times ``gain``, as ``torch.nn.init.orthogonal_``.

    The array is viewed as ``(rows, cols)`` with ``rows = shape[0]``. A Gaussian
    matrix (transposed when ``rows < cols``) is factored ``A = QR`` and ``Q``'s
    columns are multiplied by ``sign(diag R)``, which makes ``Q`` uniformly
    (Haar) distributed. Result: ``W Wᵀ = I`` when ``rows <= cols``, ``Wᵀ W = I``
    otherwise.
    """
    if array.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dims, received shape {array.shape}")
    rows = array.shape[0]
    cols = array.size // rows
    flat = nnrandom.get_rng().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)  # q (max, min) with orthonormal columns
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    array[...] = (gain * q).reshape(array.shape)
    return array


def _gate_blocks(weight: np.ndarray, num_gates: int) -> list[np.ndarray]:
    """Views of the ``num_gates`` row blocks of a fused ``(G*H, ...)`` array."""
    if num_gates < 1 or weight.shape[0] % num_gates != 0:
        raise ValueError(
            f"expected a first dimension divisible by num_gates={num_gates}, "
            f"received shape {weight.shape}"
        )
    hidden = weight.shape[0] // num_gates
    return [weight[k * hidden : (k + 1) * hidden] for k in range(num_gates)]


def orthogonal_recurrent_(weight_hh: np.ndarray, num_gates: int, gain: float = 1.0) -> np.ndarray:
    """Orthogonal init of each ``(H, H)`` gate block of a fused ``(G*H, H)`` matrix.

    Each gate's recurrent map is then norm-preserving on its own, which is what
    matters for gradients through time (an orthogonal ``(G*H, H)`` matrix as a
    whole would not make the blocks orthogonal).
    """
    if weight_hh.ndim != 2 or weight_hh.shape[0] != num_gates * weight_hh.shape[1]:
        raise ValueError(
            f"expected weight_hh of shape ({num_gates}*H, H) for num_gates={num_gates}, "
            f"received {weight_hh.shape}"
        )
    for block in _gate_blocks(weight_hh, num_gates):
        orthogonal_(block, gain)
    return weight_hh


def set_forget_gate_bias_(bias: np.ndarray, value: float = 1.0) -> np.ndarray:
    """Set the forget-gate block ``bias[H:2H]`` of an LSTM bias (order i, f, g, o).

    Only that block is written. PyTorch's LSTM adds two biases,
    ``bias_ih + bias_hh``, so the effective forget bias is the sum: to get 1,
    set 1 on one of them and 0 on the other (what :func:`init_recurrent_`
    does with ``forget_bias=1.0``), or 0.5 on each.
    """
    G = LSTMCell.num_gates
    if bias.ndim != 1 or bias.shape[0] % G != 0:
        raise ValueError(f"expected an LSTM bias of shape ({G}*H,), received {bias.shape}")
    hidden = bias.shape[0] // G
    bias[_FORGET * hidden : (_FORGET + 1) * hidden] = value
    return bias


def _num_gates(module) -> int | None:
    """The gate blocks of a recurrent module: its cell's (``module.cell``), else those of its
    PyTorch ``mode`` string, else None (unknown: the caller reads the shapes)."""
    cell = getattr(module, "cell", None)
    if isinstance(cell, Cell):
        return cell.num_gates
    mode = getattr(module, "mode", None)
    if mode is None:
        return None
    if mode not in GATES:
        raise ValueError(f"expected mode in {sorted(GATES)}, received {mode!r}")
    return GATES[mode]


_RECURRENT_NAME = re.compile(r"^(weight|bias)_(ih|hh)_(l\d+(?:_reverse)?)$")


def init_recurrent_(
    rnn_module: Module, scheme: str = "pytorch", forget_bias: float | None = None
) -> Module:
    """(Re)initialise every recurrent layer in ``rnn_module`` in place.

    Parameters named like PyTorch's (``weight_ih_l0``, ``weight_hh_l1_reverse``,
    ``bias_ih_l0``, also inside child modules) are grouped per layer and
    direction; the number of gates G comes from the owning module's cell
    (``module.cell.num_gates``), else its ``mode`` (``"RNN_TANH"``, ``"RNN_RELU"``,
    ``"LSTM"``, ``"GRU"``, as PyTorch's modules have), else from
    ``weight_hh.shape[0] // weight_hh.shape[1]``.

    * ``scheme="pytorch"``: everything U(-1/√H, 1/√H), PyTorch's default.
    * ``scheme="orthogonal"``: ``xavier_uniform_`` on each ``(H, I)`` gate block
      of ``weight_ih``, :func:`orthogonal_recurrent_` on ``weight_hh``, zero biases.
    * ``forget_bias`` (LSTM only, needs biases): afterwards the forget block of
      ``bias_ih`` is set to ``forget_bias`` and that of ``bias_hh`` to 0, so the
      effective forget bias is ``forget_bias``.

    Other parameters are left alone. Returns ``rnn_module``.
    """
    if scheme not in ("pytorch", "orthogonal"):
        raise ValueError(f"scheme must be 'pytorch' or 'orthogonal', received {scheme!r}")
    # (module path, layer suffix) -> {"weight_ih": array, ...}
    layers: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    modules = dict(rnn_module.named_modules())
    for full_name, param in rnn_module.named_parameters():
        path, _, name = full_name.rpartition(".")
        match = _RECURRENT_NAME.match(name)
        if match:
            kind, which, suffix = match.groups()
            layers.setdefault((path, suffix), {})[f"{kind}_{which}"] = param.data
    if not layers:
        raise ValueError(
            "expected recurrent parameters named like weight_hh_l0, received "
            f"{[n for n, _ in rnn_module.named_parameters()]}"
        )
    for (path, suffix), arrays in layers.items():
        where = f"{path + '.' if path else ''}*_{suffix}"
        if "weight_hh" not in arrays:
            raise ValueError(f"{where}: expected a weight_hh, received {sorted(arrays)}")
        weight_hh = arrays["weight_hh"]
        hidden = weight_hh.shape[1]
        num_gates = _num_gates(modules.get(path))
        if num_gates is None:
            num_gates = weight_hh.shape[0] // hidden
        if weight_hh.shape != (num_gates * hidden, hidden):
            raise ValueError(
                f"{where}: expected weight_hh of shape ({num_gates}*H, H), "
                f"received {weight_hh.shape}"
            )

        if scheme == "pytorch":
            bound = 1.0 / math.sqrt(hidden)
            for array in arrays.values():
                uniform_(array, -bound, bound)
        else:
            if "weight_ih" in arrays:
                for block in _gate_blocks(arrays["weight_ih"], num_gates):
                    xavier_uniform_(block)
            orthogonal_recurrent_(weight_hh, num_gates)
            for key in ("bias_ih", "bias_hh"):
                if key in arrays:
                    zeros_(arrays[key])

        if forget_bias is not None:
            if num_gates != LSTMCell.num_gates:
                raise ValueError(
                    f"{where}: forget_bias needs an LSTM ({LSTMCell.num_gates} gates), "
                    f"received {num_gates} gates"
                )
            if "bias_ih" not in arrays or "bias_hh" not in arrays:
                raise ValueError(
                    f"{where}: forget_bias needs bias_ih and bias_hh, received {sorted(arrays)}"
                )
            set_forget_gate_bias_(arrays["bias_ih"], forget_bias)
            set_forget_gate_bias_(arrays["bias_hh"], 0.0)
    return rnn_module
