"""The math of one time step of the vanilla RNN, the LSTM and the GRU.

One small class per cell: :class:`RNNTanhCell`, :class:`RNNReLUCell`,
:class:`LSTMCell`, :class:`GRUCell` (PyTorch's form, reset after the matmul),
:class:`GRUResetBeforeCell` (Cho et al.'s, reset before), the minimal cells of
Feng et al. 2024 (:class:`MinGRUCell`, :class:`MinLSTMCell`) and the
layer-normalised LSTM of Ba et al. 2016 (:class:`LayerNormLSTMCell`, whose step
also takes and returns the normalisations' parameters, see there). Each class holds
no parameters; it knows

* ``name``: rnnkit's short name of the cell (``"lstm"``, ``"gru"``, ``"rnn"``,
  ...), the one configs and the command line spell; :data:`CELLS` maps these
  names to the classes, and is the only such table;
* ``mode``: PyTorch's name of the layer kind (``"RNN_TANH"``, ``"LSTM"``, ...);
* ``num_gates`` (G, the gate blocks of the fused weights) and ``gate_names``
  (``("i", "f", "g", "o")``, ``("r", "z", "n")``, none for the vanilla RNN):
  the gate layout the initialisers (:mod:`rnnkit.nn.init`) and the explorer
  read, block ``k`` being rows ``k*H .. (k+1)*H`` of every fused weight;
* ``state_names``: ``("h", "c")`` for the LSTM, ``("h",)`` otherwise; their
  number is ``state_arity``;
* ``layer_options``: the recurrent layer's constructor options that select the
  cell, beyond the layer's defaults (``{"nonlinearity": "relu"}``,
  ``{"reset_after": False}``), PyTorch's names where PyTorch has the layer;
* what the doors out of the house need, as names so that :mod:`rnnkit.nn`
  imports neither torch nor onnx: ``torch_name``, the ``torch.nn`` class that
  computes the same layer (built with ``layer_options``; None where PyTorch
  has none), and ``onnx_op``, ``onnx_gate_order`` (our gate blocks in the
  operator's order), ``onnx_attributes`` and ``onnx_activations`` (one
  direction's; the operator's default when empty); for the minimal cells, which
  neither has, ``recurrence`` (how the gate blocks make ``a``, ``b`` of ``h = a h_prev +
  b``, for exporters using standard operators) and ``torch_module`` (rnnkit's own torch
  module, :mod:`rnnkit.training.torch_cells`); for the layer-normalised LSTM, whose state
  enters its step non-linearly, ``onnx_step`` (the step an exporter builds as a ``Scan``
  body) and ``torch_module``;
* ``forward`` and ``backward`` of one step, side by side, so the chain rule
  reads top to bottom (the CS231n contract); derivatives are written with
  stored activations: ``σ' = s(1-s)``, ``tanh' = 1 - t²``. A backward knows its
  cell, so it cannot be called with the wrong flags;

Conventions shared by all cells (names and layouts are PyTorch's):

* ``gx``: the input projection of this step, ``x_t W_ih^T + b_ih``, shape
  ``(B, G*H)``. The layer computes it for all steps in one matmul, so the
  cells only do the recurrent part.
* ``state``: a tuple of ``(B, H)`` arrays in the order of ``state_names``
  (``(h,)`` or ``(h, c)``); ``forward`` returns ``(state, cache)``, the cache
  holding exactly what ``backward`` needs.
* ``weight_hh``: ``(G*H, H)``; ``bias_hh``: ``(G*H,)`` or ``None``.
* ``backward(dstate, cache, weight_hh)`` returns ``(dgx, dgh, dstate_prev)``:
  ``dgx`` the gradient of the gate pre-activations from the input side (also
  the gradient of ``b_ih``), ``dgh`` the same for the recurrent side (the
  gradient of ``b_hh``), and the gradient of the previous state. ``dgx`` and
  ``dgh`` differ only in the GRU, where the reset gate scales the recurrent
  part of the candidate. The layer turns them into weight gradients with one
  large matmul after the time loop.

This module is the readable reference and imports no compiled code: the fast
path (:mod:`rnnkit.nn.fast`, same parameters, same results) registers its
whole-direction drivers by cell class in :mod:`rnnkit.nn.registry`, where the
layer looks them up.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .functional import sigmoid, softplus


def _recurrent(h_prev: np.ndarray, weight_hh: np.ndarray, bias_hh: np.ndarray | None):
    gh = h_prev @ weight_hh.T  # (B, G*H)
    if bias_hh is not None:
        gh += bias_hh
    return gh


class Cell:
    """What every cell class has (see the module docstring); holds no parameters."""

    name: ClassVar[str]
    mode: ClassVar[str]
    num_gates: ClassVar[int]
    gate_names: ClassVar[tuple[str, ...]] = ()
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    #: Number of state arrays: 2 for the LSTM's (h, c), else 1 (``len(state_names)``).
    state_arity: ClassVar[int] = 1
    #: The layer's constructor options that select this cell (beyond its defaults).
    layer_options: ClassVar[dict[str, object]] = {}
    #: ``layer_options`` as the layer's repr shows them (``"nonlinearity='relu'"``).
    options: ClassVar[str] = ""
    #: The ``torch.nn`` class computing the same layer, by name; None where PyTorch has none.
    torch_name: ClassVar[str | None]
    #: The ONNX operator computing one layer of this cell; None where ONNX has none.
    onnx_op: ClassVar[str | None]
    #: ``onnx_gate_order[k]``: which of our gate blocks is the operator's block ``k``.
    onnx_gate_order: ClassVar[tuple[int, ...]]
    #: Whether the layer holds ``weight_hh``/``bias_hh``: False for the minimal cells, whose
    #: gates read only the input (their step is a linear recurrence in ``h``).
    recurrent_weights: ClassVar[bool] = True
    #: For a cell whose step is the element-wise linear recurrence ``h = a * h_prev + b``
    #: with ``a``, ``b`` functions of ``x`` alone (the minimal cells), how its gate blocks
    #: make ``a`` and ``b``, so that exporters build them with standard operators:
    #: ``"complement"`` (blocks z, h~: ``a = 1 - σ(z)``, ``b = σ(z) h~``) or ``"normalised"``
    #: (blocks f, i, h~: ``a = σ(f) / (σ(f) + σ(i))``, ``b = σ(i) / (σ(f) + σ(i)) h~``);
    #: None for the cells with recurrent weights.
    recurrence: ClassVar[str | None] = None
    #: For a cell that neither an ONNX operator computes (``onnx_op`` None) nor a linear
    #: ``recurrence`` describes, the name of its step that exporters build with standard
    #: operators as the body of a ``Scan`` (``"layer_norm_lstm"``: the recurrent ``MatMul``,
    #: ``LayerNormalization``, the gates and the cell state); None otherwise.
    onnx_step: ClassVar[str | None] = None
    #: Where ``torch.nn`` has no layer of this cell (``torch_name`` None): the dotted path of
    #: rnnkit's own torch module computing the layer, with ``torch.nn.LSTM``'s constructor
    #: and call (imported only by the torch engines and the bridge); None where there is none.
    torch_module: ClassVar[str | None] = None
    #: The operator's attributes that select this cell (besides sizes and direction).
    onnx_attributes: ClassVar[dict[str, object]] = {}
    #: The operator's ``activations`` for one direction; empty: the operator's default.
    onnx_activations: ClassVar[tuple[str, ...]] = ()
    #: The last gate block's recurrent-side gradient differs from its input side's
    #: (``dgh != dgx`` there; only the GRU with the reset gate after the matmul).
    separate_recurrent_grad: ClassVar[bool] = False
    #: Whether the layer holds layer-normalisation gains and shifts (the layer-normalised
    #: LSTM: ``weight_ln_ih``, ``weight_ln_hh`` (G*H,), ``weight_ln_c``, ``bias_ln_c`` (H,)).
    layer_norm: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.state_arity = len(cls.state_names)
        cls.options = ", ".join(f"{k}={v!r}" for k, v in cls.layer_options.items())

    @classmethod
    def gate_index(cls, gate: str) -> int | None:
        """The block of gate ``gate`` (a name of ``gate_names``) in the fused weights, or None
        when the cell has no such gate (``LSTMCell.gate_index("f") == 1``)."""
        return cls.gate_names.index(gate) if gate in cls.gate_names else None

    def forward(self, gx, state, weight_hh, bias_hh):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dstate, cache, weight_hh):  # pragma: no cover - abstract
        raise NotImplementedError

    def gates(self, cache) -> np.ndarray | None:
        """The step's gate values after their non-linearity, (B, G*H), blocks in the order of
        ``gate_names`` (a gated cell keeps them first in its cache); None without gates."""
        return cache[0] if self.gate_names else None

    def candidate_input(self, cache) -> np.ndarray | None:
        """The input of the last gate block's recurrent matmul when it is not ``h_prev``."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------------
# Vanilla RNN (Elman)
# ---------------------------------------------------------------------------


class RNNTanhCell(Cell):
    """h = tanh(x W_ih^T + b_ih + h_prev W_hh^T + b_hh).

    Shapes: gx (B, H), h_prev (B, H) -> h (B, H). The cache is ``h`` itself:
    the derivative is a function of the output, 1 - h².
    """

    mode = "RNN_TANH"
    num_gates = 1
    name = "rnn"
    torch_name = "RNN"
    onnx_op, onnx_gate_order, onnx_activations = "RNN", (0,), ("Tanh",)

    def forward(self, gx, state, weight_hh, bias_hh):
        (h_prev,) = state
        h = np.tanh(gx + _recurrent(h_prev, weight_hh, bias_hh))  # (B, H)
        return (h,), h

    def backward(self, dstate, cache, weight_hh):
        """da = dh * (1 - h²); dh_prev = da W_hh; dgx and dgh are the same array, da."""
        (dh,), h = dstate, cache
        da = dh * (1.0 - h * h)  # (B, H)
        return da, da, (da @ weight_hh,)


class RNNReLUCell(Cell):
    """h = relu(x W_ih^T + b_ih + h_prev W_hh^T + b_hh).

    Shapes as :class:`RNNTanhCell`; the cache is ``h``: relu' = 1[h > 0].
    """

    mode = "RNN_RELU"
    num_gates = 1
    name = "rnn_relu"
    layer_options = {"nonlinearity": "relu"}
    torch_name = "RNN"
    onnx_op, onnx_gate_order, onnx_activations = "RNN", (0,), ("Relu",)

    def forward(self, gx, state, weight_hh, bias_hh):
        (h_prev,) = state
        h = np.maximum(gx + _recurrent(h_prev, weight_hh, bias_hh), 0)  # (B, H)
        return (h,), h

    def backward(self, dstate, cache, weight_hh):
        """da = dh * 1[h > 0]; dh_prev = da W_hh; dgx and dgh are the same array, da."""
        (dh,), h = dstate, cache
        da = dh * (h > 0)  # (B, H)
        return da, da, (da @ weight_hh,)


# ---------------------------------------------------------------------------
# LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)
# ---------------------------------------------------------------------------


class LSTMCell(Cell):
    """One LSTM step, gates in PyTorch's order i, f, g, o.

        [i, f, g, o] = x W_ih^T + b_ih + h_prev W_hh^T + b_hh      (B, 4H)
        i, f, o = σ(i), σ(f), σ(o);  g = tanh(g)
        c = f * c_prev + i * g
        h = o * tanh(c)

    Shapes: gx (B, 4H), state (h_prev, c_prev), each (B, H) -> (h, c).
    Cache: (acts (B, 4H) = [i, f, g, o] after activation, c_prev, tanh(c)).
    """

    mode = "LSTM"
    num_gates = 4
    gate_names = ("i", "f", "g", "o")
    state_names = ("h", "c")
    name = "lstm"
    torch_name = "LSTM"
    onnx_op, onnx_gate_order = "LSTM", (0, 3, 1, 2)  # ONNX: i, o, f, c (c = our g)

    def forward(self, gx, state, weight_hh, bias_hh):
        h_prev, c_prev = state
        H = h_prev.shape[1]
        acts = gx + _recurrent(h_prev, weight_hh, bias_hh)  # pre-activations, (B, 4H)
        acts[:, : 2 * H] = sigmoid(acts[:, : 2 * H])  # i, f
        acts[:, 2 * H : 3 * H] = np.tanh(acts[:, 2 * H : 3 * H])  # g
        acts[:, 3 * H :] = sigmoid(acts[:, 3 * H :])  # o
        i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        h = o * tanh_c
        return (h, c), (acts, c_prev, tanh_c)

    def backward(self, dstate, cache, weight_hh):
        """dstate = (dh, dc), the gradients arriving at h and c; returns dstate_prev likewise.

            dc_total = dc + dh * o * (1 - tanh(c)²)
            di = dc_total * g * i(1-i)        df = dc_total * c_prev * f(1-f)
            dg = dc_total * i * (1-g²)        do = dh * tanh(c) * o(1-o)
            dh_prev = [di, df, dg, do] W_hh   dc_prev = dc_total * f
        """
        dh, dc = dstate
        acts, c_prev, tanh_c = cache
        H = tanh_c.shape[1]
        i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
        dc_total = dc + dh * o * (1.0 - tanh_c * tanh_c)
        dgates = np.empty_like(acts)  # (B, 4H)
        dgates[:, :H] = dc_total * g * i * (1.0 - i)
        dgates[:, H : 2 * H] = dc_total * c_prev * f * (1.0 - f)
        dgates[:, 2 * H : 3 * H] = dc_total * i * (1.0 - g * g)
        dgates[:, 3 * H :] = dh * tanh_c * o * (1.0 - o)
        dh_prev = dgates @ weight_hh  # (B, H)
        dc_prev = dc_total * f
        return dgates, dgates, (dh_prev, dc_prev)


def layer_norm(a: np.ndarray, eps: float):
    """``(n, inv)``: ``a`` normalised over its last axis, ``n = (a - mean) * inv``, and
    ``inv = 1 / sqrt(var + eps)`` (..., 1), the biased variance as Ba et al. and PyTorch use."""
    mu = a.mean(axis=-1, keepdims=True)
    d = a - mu
    inv = 1.0 / np.sqrt((d * d).mean(axis=-1, keepdims=True) + eps)
    return d * inv, inv


def layer_norm_backward(dn: np.ndarray, n: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """The gradient of ``a`` from that of ``n`` (:func:`layer_norm`) over the last axis:
    ``da = inv * (dn - mean(dn) - n * mean(dn * n))``."""
    return inv * (dn - dn.mean(axis=-1, keepdims=True) - n * (dn * n).mean(axis=-1, keepdims=True))


class LayerNormLSTMCell(Cell):
    """One layer-normalised LSTM step (Ba, Kiros & Hinton 2016, "Layer Normalization",
    arXiv 1607.06450, section 3.1 and the LSTM equations of its supplementary material), gates
    in PyTorch's order i, f, g, o. Placement: the input product ``W_ih x`` and the recurrent
    product ``W_hh h`` are normalised separately, each over its whole 4H vector (all four gate
    blocks together, as in the paper) with its own gain; then the cell state before the output
    tanh, with a gain and a shift::

        [i, f, g, o] = LN(x W_ih^T; γ_ih) + b_ih + LN(h_prev W_hh^T; γ_hh) + b_hh    (B, 4H)
        i, f, o = σ(i), σ(f), σ(o);  g = tanh(g)
        c = f * c_prev + i * g                       (c is kept unnormalised in the state)
        h = o * tanh(LN(c; γ_c) + β_c)

    with ``LN(a; γ) = γ * (a - mean(a)) / sqrt(var(a) + eps)`` over the last axis (biased
    variance, ``eps = 1e-5`` as ``torch.nn.LayerNorm``; the paper gives none). The paper's
    shifts β of the two gate normalisations are ``b_ih`` and ``b_hh`` (a shift there would
    only repeat the bias); gains start at 1, ``β_c`` at 0.

    The layer (:class:`~rnnkit.nn.recurrent.LayerNormLSTM`) computes the input side for all
    steps at once, normalised per position: ``gx = LN(x W_ih^T; γ_ih) + b_ih``. ``norm`` is the
    step's other parameters, ``(γ_hh (4H,), γ_c (H,), β_c (H,) or None)``.

    Shapes: gx (B, 4H), state (h_prev, c_prev), each (B, H) -> (h, c).
    Cache: (acts (B, 4H) = [i, f, g, o] after activation, c_prev, n_h (B, 4H) and inv_h
    (B, 1) of the recurrent product's LN, n_c (B, H) and inv_c (B, 1) of the cell state's,
    tanh(LN(c) + β_c) (B, H)).
    """

    mode = "LN_LSTM"
    num_gates = 4
    gate_names = ("i", "f", "g", "o")
    state_names = ("h", "c")
    name = "ln_lstm"
    torch_name = None  # torch.nn has no layer-normalised LSTM: rnnkit's own module
    torch_module = "rnnkit.training.torch_cells.LayerNormLSTM"
    onnx_op, onnx_gate_order = None, ()  # not an ONNX operator: a Scan of the step
    onnx_step = "layer_norm_lstm"
    layer_norm = True
    #: The ε of every normalisation.
    eps = 1e-5

    def forward(self, gx, state, weight_hh, bias_hh, norm):
        h_prev, c_prev = state
        g_hh, g_c, b_c = norm
        H = h_prev.shape[1]
        n_h, inv_h = layer_norm(h_prev @ weight_hh.T, self.eps)  # (B, 4H), (B, 1)
        acts = gx + g_hh * n_h  # pre-activations, (B, 4H)
        if bias_hh is not None:
            acts += bias_hh
        acts[:, : 2 * H] = sigmoid(acts[:, : 2 * H])  # i, f
        acts[:, 2 * H : 3 * H] = np.tanh(acts[:, 2 * H : 3 * H])  # g
        acts[:, 3 * H :] = sigmoid(acts[:, 3 * H :])  # o
        i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
        c = f * c_prev + i * g
        n_c, inv_c = layer_norm(c, self.eps)  # (B, H), (B, 1)
        tanh_c = np.tanh(g_c * n_c + (0.0 if b_c is None else b_c))
        h = o * tanh_c
        return (h, c), (acts, c_prev, n_h, inv_h, n_c, inv_c, tanh_c)

    def backward(self, dstate, cache, weight_hh, norm):
        """dstate = (dh, dc); returns ``(dgx, dgh, dstate_prev, dnorm)``: ``dgx`` the gate
        pre-activation gradients (those of ``gx`` and of ``b_hh``), ``dgh`` the gradient of the
        raw recurrent product ``h_prev W_hh^T`` (for ``W_hh``), ``dnorm`` the gradients of
        ``norm``'s parameters summed over the batch (``None`` for an absent ``β_c``)::

            dz = dh * o * (1 - tanh²)           (z = γ_c n_c + β_c, the output tanh's input)
            dγ_c = Σ_b dz * n_c                 dβ_c = Σ_b dz
            dc_total = dc + LN'(dz * γ_c)       (LN' = layer_norm_backward)
            di, df, dg = dc_total * (g i(1-i), c_prev f(1-f), i (1-g²))
            do = dh * tanh * o(1-o)             dγ_hh = Σ_b [di, df, dg, do] * n_h
            dgh = LN'([di, df, dg, do] * γ_hh)  dh_prev = dgh W_hh     dc_prev = dc_total * f
        """
        dh, dc = dstate
        acts, c_prev, n_h, inv_h, n_c, inv_c, tanh_c = cache
        g_hh, g_c, b_c = norm
        H = tanh_c.shape[1]
        i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
        dz = dh * o * (1.0 - tanh_c * tanh_c)  # (B, H)
        dc_total = dc + layer_norm_backward(dz * g_c, n_c, inv_c)
        dgates = np.empty_like(acts)  # (B, 4H)
        dgates[:, :H] = dc_total * g * i * (1.0 - i)
        dgates[:, H : 2 * H] = dc_total * c_prev * f * (1.0 - f)
        dgates[:, 2 * H : 3 * H] = dc_total * i * (1.0 - g * g)
        dgates[:, 3 * H :] = dh * tanh_c * o * (1.0 - o)
        dgh = layer_norm_backward(dgates * g_hh, n_h, inv_h)  # (B, 4H)
        dh_prev = dgh @ weight_hh  # (B, H)
        dc_prev = dc_total * f
        dnorm = ((dgates * n_h).sum(axis=0), (dz * n_c).sum(axis=0),
                 None if b_c is None else dz.sum(axis=0))  # fmt: skip
        return dgates, dgh, (dh_prev, dc_prev), dnorm


# ---------------------------------------------------------------------------
# GRU (Cho et al. 2014), gates in PyTorch's order r, z, n
# ---------------------------------------------------------------------------


class GRUCell(Cell):
    """One GRU step, reset gate after the matmul (PyTorch, cuDNN)::

        r = σ(x_r + h W_hr^T + b_hr)
        z = σ(x_z + h W_hz^T + b_hz)
        n = tanh(x_n + r * (h W_hn^T + b_hn))
        h' = (1 - z) * n + z * h

    Here ``x_*`` are the blocks of ``gx = x W_ih^T + b_ih``.
    Shapes: gx (B, 3H), h_prev (B, H) -> h (B, H).
    Cache: (acts (B, 3H) = [r, z, n], h_prev, hn (B, H) = h W_hn^T + b_hn).
    """

    mode = "GRU"
    num_gates = 3
    gate_names = ("r", "z", "n")
    separate_recurrent_grad = True
    name = "gru"
    torch_name = "GRU"
    onnx_op, onnx_gate_order = "GRU", (1, 0, 2)  # ONNX: z, r, h (h = our n)
    onnx_attributes = {"linear_before_reset": 1}

    def forward(self, gx, state, weight_hh, bias_hh):
        (h_prev,) = state
        H = h_prev.shape[1]
        gh = _recurrent(h_prev, weight_hh, bias_hh)  # (B, 3H)
        acts = np.empty_like(gx)
        acts[:, : 2 * H] = sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H])  # r, z
        r = acts[:, :H]
        hn = gh[:, 2 * H :]
        acts[:, 2 * H :] = np.tanh(gx[:, 2 * H :] + r * hn)  # n
        z, n = acts[:, H : 2 * H], acts[:, 2 * H :]
        h = n + z * (h_prev - n)  # = (1 - z) * n + z * h_prev
        return (h,), (acts, h_prev, hn)

    def backward(self, dstate, cache, weight_hh):
        """The recurrent side's candidate gradient is scaled by r (dgh_n = dn_pre * r).

            dn_pre = dh * (1 - z) * (1 - n²)      dz_pre = dh * (h_prev - n) * z(1-z)
            dr_pre = dn_pre * (h W_hn^T + b_hn) * r(1-r)
            dh_prev = dh * z + [dr_pre, dz_pre, dn_pre * r] W_hh
        """
        (dh,) = dstate
        acts, h_prev, hn = cache
        H = h_prev.shape[1]
        r, z, n = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H :]
        dgx = np.empty_like(acts)  # (B, 3H)
        dn_pre = dh * (1.0 - z) * (1.0 - n * n)
        dgx[:, :H] = dn_pre * hn * r * (1.0 - r)
        dgx[:, H : 2 * H] = dh * (h_prev - n) * z * (1.0 - z)
        dgx[:, 2 * H :] = dn_pre
        dgh = dgx.copy()
        dgh[:, 2 * H :] = dn_pre * r
        dh_prev = dh * z + dgh @ weight_hh  # (B, H)
        return dgx, dgh, (dh_prev,)


class GRUResetBeforeCell(Cell):
    """One GRU step in the original Cho et al. form (the tutorial's): the reset gate
    multiplies ``h`` before the matmul, ``n = tanh(x_n + (r * h) W_hn^T + b_hn)``;
    r, z and h' as in :class:`GRUCell`.

    Shapes: gx (B, 3H), h_prev (B, H) -> h (B, H).
    Cache: (acts (B, 3H) = [r, z, n], h_prev, rh (B, H) = r * h_prev, the input
    of the candidate's matmul).
    """

    mode = "GRU"
    num_gates = 3
    gate_names = ("r", "z", "n")
    name = "gru_reset_before"
    layer_options = {"reset_after": False}
    torch_name = None  # PyTorch's GRU resets after the matmul
    onnx_op, onnx_gate_order = "GRU", (1, 0, 2)  # ONNX: z, r, h (h = our n)
    onnx_attributes = {"linear_before_reset": 0}

    def forward(self, gx, state, weight_hh, bias_hh):
        (h_prev,) = state
        H = h_prev.shape[1]
        b_rz = None if bias_hh is None else bias_hh[: 2 * H]
        b_n = None if bias_hh is None else bias_hh[2 * H :]
        acts = np.empty_like(gx)
        acts[:, : 2 * H] = sigmoid(gx[:, : 2 * H] + _recurrent(h_prev, weight_hh[: 2 * H], b_rz))
        r = acts[:, :H]
        rh = r * h_prev  # (B, H): input of the candidate's matmul
        acts[:, 2 * H :] = np.tanh(gx[:, 2 * H :] + _recurrent(rh, weight_hh[2 * H :], b_n))
        z, n = acts[:, H : 2 * H], acts[:, 2 * H :]
        h = n + z * (h_prev - n)  # = (1 - z) * n + z * h_prev
        return (h,), (acts, h_prev, rh)

    def backward(self, dstate, cache, weight_hh):
        """dgx and dgh are the same array here (the candidate's matmul reads r * h).

            dn_pre = dh * (1 - z) * (1 - n²)      dz_pre = dh * (h_prev - n) * z(1-z)
            d(rh) = dn_pre W_hn                   dr_pre = d(rh) * h_prev * r(1-r)
            dh_prev = dh * z + d(rh) * r + [dr_pre, dz_pre] W_hrz
        """
        (dh,) = dstate
        acts, h_prev, _ = cache
        H = h_prev.shape[1]
        r, z, n = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H :]
        dgx = np.empty_like(acts)  # (B, 3H)
        dn_pre = dh * (1.0 - z) * (1.0 - n * n)
        dgx[:, H : 2 * H] = dh * (h_prev - n) * z * (1.0 - z)
        dgx[:, 2 * H :] = dn_pre
        drh = dn_pre @ weight_hh[2 * H :]  # (B, H)
        dgx[:, :H] = drh * h_prev * r * (1.0 - r)
        dh_prev = dh * z + drh * r + dgx[:, : 2 * H] @ weight_hh[: 2 * H]
        return dgx, dgx, (dh_prev,)

    def candidate_input(self, cache):
        return cache[2]


# ---------------------------------------------------------------------------
# Minimal GRU and LSTM (Feng et al. 2024, "Were RNNs All We Needed?", arXiv 2410.01201)
# ---------------------------------------------------------------------------


class _MinCell(Cell):
    """What the cells of Feng et al. 2024 share: no hidden-to-hidden weights (the gates read
    only ``x_t``), no ``torch.nn`` layer (rnnkit's own torch module, ``torch_module``) and no
    ONNX operator (exported as matmuls and a ``Scan`` of the ``recurrence``)."""

    torch_name = None  # no torch.nn layer
    onnx_op, onnx_gate_order = None, ()  # not an ONNX operator
    recurrent_weights = False


class MinGRUCell(_MinCell):
    """One minGRU step (Feng et al. 2024, section 3.1.3): no ``h`` in the gates, so ``h_t`` is a
    linear function of ``h_{t-1}``. Gate blocks z, n (``n`` is the paper's candidate ``h~``)::

        [z, n] = x W_ih^T + b_ih          (B, 2H): z = W_z x + b_z, h~ = W_h x + b_h
        z = σ(z)                          h~ = n   (the paper's linear candidate, no g(.))
        h = (1 - z) * h_prev + z * h~     = a * h_prev + b,  a = 1 - z,  b = z * h~

    This is the step the layer's reference loop runs, the definition; the scan
    (:mod:`rnnkit.nn.scan`) computes the same function for all steps at once from
    ``log a = -softplus(z_pre)`` and ``b``. The paper's log-space code (its appendix,
    minGRU-pytorch) also squashes the candidate, ``h~ = g(.)``, to keep ``h`` positive; our
    scan splits ``b`` by sign instead, so the candidate stays linear as in the main text.

    Shapes: gx (B, 2H), h_prev (B, H) -> h (B, H); every operation is element-wise, so
    ``forward`` and ``backward`` work as well on (T, B, ...) arrays. Cache: (acts (B, 2H) =
    [z, h~], h_prev).
    """

    mode = "MIN_GRU"
    num_gates = 2
    gate_names = ("z", "n")
    name = "min_gru"
    recurrence = "complement"
    torch_module = "rnnkit.training.torch_cells.MinGRU"

    def forward(self, gx, state, weight_hh=None, bias_hh=None):
        (h_prev,) = state
        H = h_prev.shape[-1]
        acts = np.concatenate([sigmoid(gx[..., :H]), gx[..., H:]], axis=-1)  # [z, h~]
        z, n = acts[..., :H], acts[..., H:]
        h = (1.0 - z) * h_prev + z * n
        return (h,), (acts, h_prev)

    @staticmethod
    def coefficients(gx):
        """``(log a, b)`` of ``h = a h_prev + b`` for pre-activations ``gx`` (..., 2H), each
        (..., H): ``log a = log(1 - σ(z)) = -softplus(z)``, ``b = σ(z) h~``; and the acts."""
        H = gx.shape[-1] // 2
        z = sigmoid(gx[..., :H])
        acts = np.concatenate([z, gx[..., H:]], axis=-1)
        return -softplus(gx[..., :H]), z * gx[..., H:], acts

    def backward(self, dstate, cache, weight_hh=None):
        """dz_pre = dh * (h~ - h_prev) * z(1-z);  dh~ = dh * z;  dh_prev = dh * (1 - z)."""
        (dh,) = dstate
        acts, h_prev = cache
        H = h_prev.shape[-1]
        z, n = acts[..., :H], acts[..., H:]
        dgx = np.concatenate([dh * (n - h_prev) * z * (1.0 - z), dh * z], axis=-1)
        return dgx, dgx, (dh * (1.0 - z),)


class MinLSTMCell(_MinCell):
    """One minLSTM step (Feng et al. 2024, section 3.2.3, with the time-independent
    normalisation of the forget and input gates). Gate blocks f, i, g (``g`` is the
    paper's candidate ``h~``); the state is ``h`` alone (no cell state)::

        [f, i, g] = x W_ih^T + b_ih       (B, 3H)
        f, i = σ(f), σ(i);  h~ = g        (linear candidate, no g(.))
        f' = f / (f + i),   i' = i / (f + i)
        h = f' * h_prev + i' * h~         = a * h_prev + b,  a = f',  b = i' * h~

    In log space (the scan): ``d = softplus(-f_pre) - softplus(-i_pre)`` (= log(i/f)),
    ``log f' = -softplus(d)``, ``log i' = -softplus(-d)``.

    Shapes: gx (B, 3H), h_prev (B, H) -> h (B, H); element-wise, so also (T, B, ...).
    Cache: (acts (B, 3H) = [f, i, h~] (f and i before the normalisation), h_prev).
    """

    mode = "MIN_LSTM"
    num_gates = 3
    gate_names = ("f", "i", "g")
    name = "min_lstm"
    recurrence = "normalised"
    torch_module = "rnnkit.training.torch_cells.MinLSTM"

    def forward(self, gx, state, weight_hh=None, bias_hh=None):
        (h_prev,) = state
        H = h_prev.shape[-1]
        acts = np.concatenate([sigmoid(gx[..., : 2 * H]), gx[..., 2 * H :]], axis=-1)
        f, i, g = acts[..., :H], acts[..., H : 2 * H], acts[..., 2 * H :]
        f_norm = _normalised(f, i)
        h = f_norm * h_prev + (1.0 - f_norm) * g
        return (h,), (acts, h_prev)

    @staticmethod
    def coefficients(gx):
        """``(log a, b, acts)`` of ``h = a h_prev + b`` for pre-activations ``gx`` (..., 3H):
        ``log a = log f' = -softplus(d)``, ``b = i' h~ = exp(-softplus(-d)) h~``."""
        H = gx.shape[-1] // 3
        f_pre, i_pre, g = gx[..., :H], gx[..., H : 2 * H], gx[..., 2 * H :]
        d = softplus(-f_pre) - softplus(-i_pre)  # log(i / f)
        acts = np.concatenate([sigmoid(gx[..., : 2 * H]), g], axis=-1)
        return -softplus(d), np.exp(-softplus(-d)) * g, acts

    def backward(self, dstate, cache, weight_hh=None):
        """With s = f + i, f' = f / s and i' = i / s = 1 - f':  df = dh (h_prev - h~) i / s²,
        di = dh (h~ - h_prev) f / s², written without dividing by s² (0 in floating point
        when both gates underflow), with q = dh (h_prev - h~) f' i':

            df_pre = q (1 - f)      di_pre = -q (1 - i)      dh~ = dh i'
            dh_prev = dh f'
        """
        (dh,) = dstate
        acts, h_prev = cache
        H = h_prev.shape[-1]
        f, i, g = acts[..., :H], acts[..., H : 2 * H], acts[..., 2 * H :]
        f_norm = _normalised(f, i)  # f' = f / (f + i), i' = 1 - f'
        q = dh * (h_prev - g) * f_norm * (1.0 - f_norm)  # = dfi * f * i with s = f + i
        dgx = np.concatenate([q * (1.0 - f), -q * (1.0 - i), dh * (1.0 - f_norm)], axis=-1)
        return dgx, dgx, (dh * f_norm,)


#: Every cell class by its ``name``: the one table from a cell's name to its class.
def _normalised(f: np.ndarray, i: np.ndarray) -> np.ndarray:
    """minLSTM's normalised forget gate f' = f / (f + i) (i' = 1 - f'); where both gates are 0
    in floating point (σ of pre-activations below about -17 in float32), 1/2, the limit
    when both go to 0 together (the scan's log-space coefficients are exact there)."""
    s = f + i
    return np.divide(f, s, out=np.full_like(s, 0.5), where=s > 0)


CELLS: dict[str, type[Cell]] = {
    cls.name: cls
    for cls in (RNNTanhCell, RNNReLUCell, LSTMCell, GRUCell, GRUResetBeforeCell, MinGRUCell,
                MinLSTMCell, LayerNormLSTMCell)
}


def cell_class(name: str, choices: tuple[str, ...] | None = None) -> type[Cell]:
    """The cell class called ``name`` (a key of :data:`CELLS`), or a ValueError saying which
    names are offered: all of them, or ``choices`` where a caller offers fewer."""
    offered = tuple(CELLS) if choices is None else tuple(choices)
    if name not in offered or name not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(offered)}, received {name!r}")
    return CELLS[name]
