"""How far back does the gradient reach? ``||dL/dh_t||`` against the distance to the loss.

Take a loss on the last hidden state only, ``L = g · h_{T-1}`` for a unit vector
``g`` per sequence (any loss whose gradient at ``h_{T-1}`` is ``g``). Walking
back through time, backpropagation carries ``dL/dh_t`` from step to step::

    dL/dh_{t-1} = (dL/dh_t) ∂h_t/∂h_{t-1}        vanilla RNN: ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh

so ``||dL/dh_{T-1-k}||`` after ``k`` steps is the product of ``k`` Jacobians
applied to ``g``: it shrinks like ``ρ^k`` when the recurrent map contracts and
grows when it expands. This module measures that curve exactly (float64,
the engine's own cell step methods), averaged over random input
sequences that start ``warmup`` steps before the measured window (so the
state has settled from its zero start), for:

* the RNN, the LSTM and the GRU with the same hidden size and PyTorch's
  default initialisation (group ``"cells"``);
* the vanilla RNN with ``W_hh`` an orthogonal matrix times ``ρ`` (every
  singular value and every eigenvalue modulus equals ``ρ``, so
  ``||W_hh^k|| = ρ^k``), biases zero, for ``ρ`` below, at and above 1, and the
  largest ``ρ`` once more after :func:`rnnkit.nn.clip_grad_norm` (group
  ``"spectral radius"``);
* the LSTM with its effective forget-gate bias set to 0 and to 1 (group
  ``"forget-gate bias"``).

For the LSTM, ``dL/dh_t`` is the gradient at the node ``h_t`` (the cell state
``c_t`` is a separate node with its own gradient); the long-range path
through ``c`` reaches ``h_t`` through the gates of step ``t+1``, so it is
included.

Clipping rescales the gradient of a whole batch by one factor
``min(1, max_norm / ||∇θ||)``; every ``dL/dh_t`` is scaled by that same factor,
so the clipped curve is the unclipped one shifted down on a log scale: the
step size is bounded, the balance between near and far steps is not changed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..nn import clip_grad_norm, manual_seed
from ..nn.cells import Cell, GRUCell, LSTMCell, RNNTanhCell, layer_norm
from ..nn.init import orthogonal_, set_forget_gate_bias_
from ..nn.recurrent import RNN, RNNBase, build_layer
from ..training.settings import MAX_COUNT, SEED, Bounds, check_seed, count, option

__all__ = [
    "GradientCurve",
    "GradientFlowStudy",
    "hidden_state_gradients",
    "gradient_norm_curve",
    "clip_coefficient",
    "scale_spectral_radius_",
    "gradient_flow_study",
]

#: The cells the study compares, each curve named by the cell's name.
CELLS = (RNNTanhCell, LSTMCell, GRUCell)


def hidden_state_gradients(layer: RNNBase, x: np.ndarray, grad_last: np.ndarray) -> np.ndarray:
    """``dL/dh_t`` for every step ``t`` when ``dL/dh_{T-1} = grad_last``, no other step a loss.

    Runs a one-layer, one-direction ``RNN``/``LSTM``/``GRU`` forward from a zero
    state with the layer's own parameters (``named_parameters``) and the public
    step methods of its cell (``layer.cell.forward``, :mod:`rnnkit.nn.cells`),
    then walks back through time with the cell's ``backward``, keeping the
    gradient of every hidden state (which the layer's ``backward`` does not
    return: it sums them into the parameter gradients).

    Args:
        layer: a single-layer, unidirectional recurrent layer (``batch_first=False``).
        x: inputs (T, B, I) in the layer's dtype.
        grad_last: (B, H), the gradient of the loss at the last hidden state.

    Returns:
        (T, B, H): entry ``t`` is ``dL/dh_t``; entry ``T-1`` is ``grad_last``.
    """
    if not isinstance(layer, RNNBase):
        raise ValueError(
            f"layer must be an rnnkit.nn RNN, LSTM or GRU, received {type(layer).__name__}"
        )
    if layer.num_layers != 1 or layer.bidirectional or layer.batch_first:
        raise ValueError(
            "layer must have one layer, one direction and batch_first=False, received "
            f"num_layers={layer.num_layers}, bidirectional={layer.bidirectional}, "
            f"batch_first={layer.batch_first}"
        )
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != layer.input_size or x.dtype != layer.dtype:
        raise ValueError(
            f"x must be (T, B, {layer.input_size}) of dtype {layer.dtype}, "
            f"received {x.shape} {x.dtype}"
        )
    T, B, _ = x.shape
    H = layer.hidden_size
    if grad_last.shape != (B, H):
        raise ValueError(f"grad_last must have shape {(B, H)}, received {grad_last.shape}")
    cell = layer.cell  # the step math of this layer's cell, as its forward uses it
    params = dict(layer.named_parameters())
    W_ih = params["weight_ih_l0"].data
    b_ih = params["bias_ih_l0"].data if layer.bias else None
    # the minimal cells (cell.recurrent_weights False) have no weight_hh, bias_hh: None
    W_hh, b_hh = (params[k].data if k in params else None for k in ("weight_hh_l0", "bias_hh_l0"))

    gx = x @ W_ih.T  # (T, B, G*H): input projection of every step
    norm = ()  # the step's normalisation parameters, for a cell with layer_norm
    if cell.layer_norm:  # gx = LN(x W_ih^T; γ_ih) + b_ih; the step takes (γ_hh, γ_c, β_c)
        gx = params["weight_ln_ih_l0"].data * layer_norm(gx, cell.eps)[0]
        norm = (tuple(params[k].data if k in params else None
                      for k in ("weight_ln_hh_l0", "weight_ln_c_l0", "bias_ln_c_l0")),)  # fmt: skip
    if b_ih is not None:
        gx += b_ih
    zeros = np.zeros((B, H), dtype=layer.dtype)
    state = (zeros,) * cell.state_arity  # (h,) or (h, c)
    caches = []
    for t in range(T):
        state, cache = cell.forward(gx[t], state, W_hh, b_hh, *norm)
        caches.append(cache)

    grads = np.empty((T, B, H), dtype=layer.dtype)
    # the loss reaches h_{T-1} only (the LSTM's cell state gets no loss of its own)
    dstate = (np.array(grad_last, dtype=layer.dtype),) + (zeros,) * (cell.state_arity - 1)
    for t in reversed(range(T)):
        grads[t] = dstate[0]
        dstate = cell.backward(dstate, caches[t], W_hh, *norm)[2]
    return grads


def gradient_norm_curve(layer: RNNBase, x: np.ndarray, grad_last: np.ndarray) -> np.ndarray:
    """Mean over the batch of ``||dL/dh_{T-1-k}||`` for distances ``k = 0..T-1``, shape (T,)."""
    grads = hidden_state_gradients(layer, x, grad_last)  # (T, B, H)
    norms = np.linalg.norm(grads, axis=2).mean(axis=1)  # (T,), indexed by step t
    return norms[::-1].copy()  # indexed by distance k = T-1-t


def clip_coefficient(
    layer: RNNBase, x: np.ndarray, grad_last: np.ndarray, max_norm: float
) -> tuple[float, float]:
    """What :func:`rnnkit.nn.clip_grad_norm` does to this loss's parameter gradient.

    The batch loss is the mean of the per-sequence losses ``g_b · h_{T-1,b}``;
    its parameter gradient comes from the layer's own ``backward``. Returns
    ``(norm_before, factor)``: the global gradient norm before clipping and the
    factor every gradient was multiplied by (1.0 when no clipping happened).
    """
    B = x.shape[1]
    layer.zero_grad()
    output, _ = layer(x)
    grad_output = np.zeros_like(output)  # (T, B, H): a loss at the last step only
    grad_output[-1] = grad_last / B
    layer.backward(grad_output)
    params = layer.parameters()
    before = clip_grad_norm(params, max_norm)
    after = math.sqrt(sum(float(np.vdot(q.grad, q.grad)) for q in params))
    layer.zero_grad()
    return before, (after / before if before > 0 else 1.0)


def scale_spectral_radius_(layer: RNN, radius: float) -> RNN:
    """Make ``weight_hh_l0`` an orthogonal matrix times ``radius`` and zero the biases.

    Every eigenvalue of ``radius · Q`` has modulus ``radius`` and every
    singular value equals it, so ``||W_hh^k v|| = radius^k ||v||`` exactly: in
    tanh's linear range the gradient after ``k`` steps is ``radius^k``.
    """
    if not isinstance(layer, RNN):
        raise ValueError(f"expected a vanilla RNN layer, received {type(layer).__name__}")
    orthogonal_(layer.weight_hh_l0.data, gain=radius)
    if layer.bias:
        layer.bias_ih_l0.data[...] = 0
        layer.bias_hh_l0.data[...] = 0
    return layer


@dataclass
class GradientCurve:
    """A measured curve: ``norms[k]`` is the mean ``||dL/dh_t||`` at distance ``k`` to the loss."""

    label: str
    group: str
    norms: np.ndarray
    note: str = ""

    def to_json(self) -> dict:
        return {"label": self.label, "group": self.group, "note": self.note,
                "norms": [float(v) for v in self.norms]}  # fmt: skip


@dataclass
class GradientFlowStudy:
    """All curves of :func:`gradient_flow_study` and the settings that produced them."""

    hidden_size: int
    input_size: int
    steps: int
    batch_size: int
    input_scale: float
    max_norm: float
    warmup: int
    seed: int
    curves: list[GradientCurve] = field(default_factory=list)

    GROUPS = ("cells", "spectral radius", "forget-gate bias")

    def curve(self, label: str) -> GradientCurve:
        for c in self.curves:
            if c.label == label:
                return c
        raise KeyError(f"no curve {label!r}; curves: {[c.label for c in self.curves]}")

    def distances(self) -> list[int]:
        """Distances shown in :meth:`table`: 0, 1, 2, 5, 10, 20, 50, ... up to ``steps - 1``."""
        ks, base = [0], 1
        while base < self.steps:
            ks.extend(k for k in (base, 2 * base, 5 * base) if k < self.steps)
            base *= 10
        if ks[-1] != self.steps - 1:
            ks.append(self.steps - 1)
        return ks

    def table(self) -> str:
        """A Markdown table: one row per curve, one column per distance."""
        ks = self.distances()
        header = "| curve | " + " | ".join(f"k={k}" for k in ks) + " |"
        rule = "|---|" + "---:|" * len(ks)
        rows = [header, rule]
        for c in self.curves:
            rows.append(f"| {c.label} | " + " | ".join(f"{c.norms[k]:.1e}" for k in ks) + " |")
        notes = [f"{c.label}: {c.note}" for c in self.curves if c.note]
        return "\n".join(rows + ([""] + notes if notes else []))

    def describe(self) -> str:
        return (
            f"||dL/dh_t|| at distance k from a loss on the last step, mean over {self.batch_size} "
            f"random sequences of {self.warmup} + {self.steps} steps "
            f"(x ~ N(0, {self.input_scale:g}²), "
            f"input size {self.input_size}), hidden size {self.hidden_size}, seed {self.seed}; "
            "cells: PyTorch's default initialisation"
        )

    def to_json(self) -> dict:
        settings = {k: getattr(self, k) for k in (
            "hidden_size", "input_size", "steps", "batch_size", "input_scale", "max_norm", "warmup",
            "seed")}  # fmt: skip
        return {**settings, "curves": [c.to_json() for c in self.curves]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)


@dataclass(frozen=True)
class StudyOutput:
    """Where ``analyze gradients`` writes its files, and whether it may replace them."""

    out: str = option("analysis", "output directory", metavar="DIR")
    force: bool = option(False, "replace gradient_flow.* files already in --out")


@dataclass(frozen=True)
class GradientFlowOptions:
    """The options of ``rnnkit analyze gradients`` (the keywords of
    :func:`gradient_flow_study` a user sets); ``validate`` is
    :func:`check_study_options`."""

    hidden_size: int = option(64, "units in every layer", bounds=count())
    steps: int = option(100, "distances measured, 0..STEPS-1", bounds=count())
    batch_size: int = option(64, "random sequences averaged over", bounds=count())
    input_scale: float = option(0.1, "inputs ~ N(0, scale²)")
    radii: tuple[float, ...] = option((0.9, 1.0, 1.5), "spectral radii of W_hh", nargs="+",
                                      parse=float)
    forget_biases: tuple[float, ...] = option((0.0, 1.0), "LSTM forget-gate biases", nargs="+",
                                              parse=float)
    max_norm: float = option(5.0, "clipping threshold")
    seed: int = option(0, "seed for inputs and weights", bounds=SEED)

    def validate(self) -> None:
        check_study_options(self.hidden_size, self.steps, 8, self.batch_size, self.input_scale,
                            self.radii, self.max_norm, 50, self.forget_biases,
                            self.seed)  # fmt: skip


def check_study_options(
    hidden_size: int, steps: int, input_size: int, batch_size: int, input_scale: float,
    radii: tuple[float, ...], max_norm: float, warmup: int,
    forget_biases: tuple[float, ...] = (), seed: int | None = None,
) -> None:
    """Raise ``ValueError`` (one line naming the option) for a value the study cannot use."""
    for name, value in (("hidden_size", hidden_size), ("steps", steps), ("input_size", input_size),
                        ("batch_size", batch_size)):  # fmt: skip
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, received {value!r}")
        count().check(name, value)
    Bounds(0, 100, low_open=True).check("input_scale", input_scale)
    Bounds(0, MAX_COUNT, low_open=True).check("max_norm", max_norm)
    for r in radii:
        Bounds(0, 100, low_open=True).check("radii", r)
    for b in forget_biases:
        Bounds(-100, 100).check("forget_biases", b)
    if seed is not None:
        check_seed(seed)
    if not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, received {warmup!r}")


def gradient_flow_study(
    hidden_size: int = 64,
    steps: int = 100,
    *,
    input_size: int = 8,
    batch_size: int = 64,
    input_scale: float = 0.1,
    radii: tuple[float, ...] = (0.9, 1.0, 1.5),
    forget_biases: tuple[float, ...] = (0.0, 1.0),
    max_norm: float = 5.0,
    warmup: int = 50,
    seed: int = 0,
) -> GradientFlowStudy:
    """Measure every curve described in the module docstring.

    Args:
        hidden_size: H of every layer.
        steps: sequence length T; curves run over distances 0..T-1.
        input_size: features per step.
        batch_size: random sequences averaged over.
        input_scale: inputs are ``N(0, input_scale²)``; small inputs keep tanh
            near its linear range, where the spectral radius alone decides.
        radii: spectral radii of the vanilla RNN's ``W_hh``.
        forget_biases: effective LSTM forget-gate biases.
        max_norm: the global-norm clipping threshold (the tutorial's 5).
        warmup: extra steps run before the measured ``steps`` (the sequence has
            ``warmup + steps`` steps), so that the hidden states have settled
            from their zero start; distances reach ``steps - 1`` either way.
        seed: seeds the inputs, the loss directions and every initialisation.

    Returns:
        A :class:`GradientFlowStudy` (``.table()``, ``.to_json()``; plot it with
        :func:`rnnkit.analysis.plots.plot_gradient_flow`).
    """
    check_study_options(hidden_size, steps, input_size, batch_size, input_scale, radii,
                        max_norm, warmup, forget_biases, seed)  # fmt: skip
    dt = np.float64
    rng = np.random.default_rng(seed)
    T = warmup + steps
    x = (input_scale * rng.standard_normal((T, batch_size, input_size))).astype(dt)  # (T, B, I)
    g = rng.standard_normal((batch_size, hidden_size))
    # (B, H) unit loss directions: ||dL/dh_{T-1}|| = 1
    g /= np.linalg.norm(g, axis=1, keepdims=True)

    def curve(layer) -> np.ndarray:
        return gradient_norm_curve(layer, x, g)[:steps]  # distances 0..steps-1

    def make(cell: type[Cell]):
        manual_seed(seed)
        return build_layer(cell, input_size, hidden_size, dtype=dt)

    study = GradientFlowStudy(hidden_size, input_size, steps, batch_size, input_scale, max_norm,
                              warmup, seed)  # fmt: skip
    for cell in CELLS:
        study.curves.append(GradientCurve(cell.name, "cells", curve(make(cell))))

    vanilla = RNNTanhCell.name
    for radius in radii:
        rnn = scale_spectral_radius_(make(RNNTanhCell), radius)
        study.curves.append(
            GradientCurve(f"{vanilla} rho={radius:g}", "spectral radius", curve(rnn))
        )
    if radii:
        radius = max(radii)
        rnn = scale_spectral_radius_(make(RNNTanhCell), radius)
        before, factor = clip_coefficient(rnn, x, g, max_norm)
        clipped = study.curve(f"{vanilla} rho={radius:g}").norms * factor
        note = (f"global gradient norm {before:.3g} before clipping, "
                f"{before * factor:.3g} after (factor {factor:.3g})")  # fmt: skip
        study.curves.append(GradientCurve(f"{vanilla} rho={radius:g} clipped "
                                          f"(max_norm={max_norm:g})",
                                          "spectral radius", clipped, note))  # fmt: skip

    for bias in forget_biases:
        lstm = make(LSTMCell)
        # the effective forget bias is bias_ih + bias_hh (forget blocks)
        set_forget_gate_bias_(lstm.bias_ih_l0.data, bias)
        set_forget_gate_bias_(lstm.bias_hh_l0.data, 0.0)
        study.curves.append(
            GradientCurve(f"{LSTMCell.name} forget bias={bias:g}", "forget-gate bias", curve(lstm))
        )
    return study
