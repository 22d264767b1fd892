"""Export to ONNX with the standard ``LSTM`` / ``GRU`` / ``RNN`` operators, and the minimal
cells (minGRU, minLSTM) and the layer-normalised LSTM (no operator computes them) with
``MatMul``, ``LayerNormalization`` and ``Scan``.

One ONNX recurrent node per layer (ONNX's operators are single-layer, both
directions at once). The weights change layout on the way (each cell class of
:mod:`rnnkit.nn.cells` says how: ``onnx_op``, ``onnx_gate_order``,
``onnx_attributes``, ``onnx_activations``):

==========  =====================  ===================
cell        rnnkit / PyTorch rows  ONNX rows
==========  =====================  ===================
LSTM        i, f, g, o             i, o, f, c  (c = g)
GRU         r, z, n                z, r, h     (h = n)
RNN         one block              one block
==========  =====================  ===================

``W (D, G*H, I)`` stacks ``weight_ih`` of the forward and ``_reverse``
directions, ``R (D, G*H, H)`` the ``weight_hh``, ``B (D, 2*G*H)`` is
``[bias_ih | bias_hh]``. PyTorch's GRU (``reset_after=True``) is ONNX's
``linear_before_reset=1``; the original Cho form (``reset_after=False``) is
``linear_before_reset=0``. Vanilla RNN: ``activations = ["Tanh"]`` or
``["Relu"]`` per direction.

The minimal cells (``onnx_op`` None) have only ``weight_ih`` and ``bias_ih``: each
direction is ``pre = x W_ih^T + b_ih`` over the whole sequence (one ``MatMul``), the
coefficients ``a``, ``b`` of ``h_t = a_t h_{t-1} + b_t`` element-wise from its gate blocks
(the cell's ``recurrence``: ``a = σ(-z)``, ``b = σ(z) h~`` for minGRU; ``a = f/(f+i)``,
``b = i/(f+i) h~`` for minLSTM), and the recurrence in a ``Scan`` (body: one ``Mul``, one
``Add``). Same inputs and outputs as the other cells (no ``c0``, ``c_n``: the state is ``h``).

A cell whose state enters its step non-linearly (the layer-normalised LSTM, ``onnx_step``
``"layer_norm_lstm"``) runs its step in a ``Scan`` body built from the cell's equations
(:data:`STEPS`): per direction, the input side over the whole sequence outside the loop,
``gx = LayerNormalization(x W_ih^T; γ_ih, b_ih)`` (one ``MatMul``), and in the body the
recurrent ``MatMul`` ``h_prev W_hh^T``, its ``LayerNormalization`` (``γ_hh``, ``b_hh``), the
gates (``Split``, ``Sigmoid``, ``Tanh``), ``c = f c_prev + i g`` and ``h = o tanh(LN(c; γ_c,
β_c))``. ``LayerNormalization`` is in ONNX from opset 17, the opset written here. Padded
steps keep the state (``Where``); inputs and outputs as the LSTM's (``c0``, ``c_n``).

Graphs (batch and sequence axes dynamic):

* text generator: ``ids (T, B) int64``, ``h0 (L, B, H)`` [, ``c0 (L, B, H)``]
  -> ``logits (T, B, V)``, ``h_n`` [, ``c_n``], so a caller can step it one
  character at a time;
* classifier: ``ids (B, T) int64``, ``lengths (B,) int64`` [, ``ngram_ids (B,
  T, G) int64`` with character n-grams] -> ``probabilities (B, C)``. The
  lengths go to the operators' ``sequence_lens`` and mask the pooling, so
  padding never changes a prediction;
* a bare layer (:func:`export_layer`): ``input (T, B, I)`` (or ``(B, T, I)``
  with ``batch_first``), ``h0 (D*L, B, H)`` [, ``c0``], ``lengths (B,) int64``
  -> ``output``, ``h_n`` [, ``c_n``].

Everything a caller needs to turn text into inputs (vocabulary, tokenizer
rules, UNK back-off, n-grams, labels) is the JSON of :func:`preprocessing`,
stored in the model's ``metadata_props`` under ``rnnkit`` and written beside
it as ``FILE.json`` (documented in docs/beyond-one-machine.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..training.checkpoint import atomic_write
from .extras import import_extra
from .source import app_name, load_app

OPSET = 17
FORMAT = "rnnkit-onnx"
VERSION = 1


def _onnx():
    return import_extra("onnx", "onnx")


class _Graph:
    """A tiny builder: named initializers and nodes, fresh names for intermediates."""

    def __init__(self, prefix: str = ""):
        self.onnx = _onnx()
        self.prefix = prefix  # of every fresh name (a Scan body's names differ from its graph's)
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, hint: str, value, dtype=None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1, **attrs) -> Any:
        names = (
            [self.fresh(op_type.lower()) for _ in range(outputs)]
            if isinstance(outputs, int)
            else outputs
        )
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if len(names) == 1 else names

    def model(self, name: str, inputs: list, outputs: list, metadata: dict | None = None):
        onnx = self.onnx
        graph = onnx.helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = onnx.helper.make_model(
            graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="rnnkit"
        )
        model.ir_version = min(model.ir_version, 9)  # readable by onnxruntime releases of 2023 on
        if metadata is not None:
            onnx.helper.set_model_props(model, {"rnnkit": json.dumps(metadata)})
        onnx.checker.check_model(model, full_check=True)
        return model


def _tensor(name: str, elem: str, shape: list) -> Any:
    onnx = _onnx()
    kind = {"float": onnx.TensorProto.FLOAT, "int64": onnx.TensorProto.INT64}[elem]
    return onnx.helper.make_tensor_value_info(name, kind, shape)


# -- one recurrent layer stack ----------------------------------------------------
def _layer_weights(rnn, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``W (D, G*H, I)``, ``R (D, G*H, H)``, ``B (D, 2*G*H)`` (None without bias) of one layer."""
    order = rnn.cell.onnx_gate_order  # our gate blocks in ONNX's order
    H = rnn.hidden_size
    params = dict(rnn.named_parameters())
    suffixes = [f"_l{layer}", f"_l{layer}_reverse"][: 2 if rnn.bidirectional else 1]

    def gates(a: np.ndarray) -> np.ndarray:  # (G*H, ...) rows regrouped into ONNX's gate order
        return np.concatenate([a[g * H : (g + 1) * H] for g in order], axis=0)

    W = np.stack([gates(params[f"weight_ih{s}"].data) for s in suffixes]).astype(np.float32)
    R = np.stack([gates(params[f"weight_hh{s}"].data) for s in suffixes]).astype(np.float32)
    B = None
    if rnn.bias:
        B = np.stack([np.concatenate([gates(params[f"bias_ih{s}"].data),
                                      gates(params[f"bias_hh{s}"].data)])
                      for s in suffixes]).astype(np.float32)  # fmt: skip
    return W, R, B


def _recurrent(g: _Graph, rnn, x: str, seq_lens: str | None, h0: str | None, c0: str | None):
    """The layers of ``rnn`` over ``x (T, B, I)``: returns ``(y (T, B, D*H), [h_n], [c_n])``,
    one ``(D, B, H)`` final state per layer."""
    D = 2 if rnn.bidirectional else 1
    cell = rnn.cell
    if cell.onnx_op is None and cell.onnx_step is not None:  # the cell's step in a Scan body
        return _step_layers(g, rnn, x, seq_lens, (h0, c0)[: cell.state_arity])
    if cell.onnx_op is None:  # a linear recurrence: matmuls and a Scan
        return _scan_layers(g, rnn, x, seq_lens, h0)
    op, arity = cell.onnx_op, cell.state_arity
    h_finals, c_finals = [], []
    for layer in range(rnn.num_layers):
        W, R, B = _layer_weights(rnn, layer)
        inputs = [x, g.const(f"W{layer}", W), g.const(f"R{layer}", R),
                  "" if B is None else g.const(f"B{layer}", B), seq_lens or ""]  # fmt: skip
        for state in (h0, c0)[:arity]:  # initial_h [, initial_c]
            if state is None:
                inputs.append("")
            else:
                starts, ends = (
                    g.const("start", [layer * D], np.int64),
                    g.const("end", [(layer + 1) * D], np.int64),
                )
                inputs.append(g.op("Slice", [state, starts, ends, g.const("axis", [0], np.int64)]))
        attrs: dict[str, Any] = {
            "hidden_size": rnn.hidden_size,
            "direction": "bidirectional" if D == 2 else "forward",
        }
        attrs.update(cell.onnx_attributes)
        if cell.onnx_activations:  # one list per direction, one after the other
            attrs["activations"] = list(cell.onnx_activations) * D
        outs = g.op(op, inputs, 1 + arity, **attrs)  # Y, Y_h [, Y_c]
        y = g.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
        x = g.op("Reshape", [y, g.const("shape", [0, 0, -1], np.int64)])  # (T, B, D*H)
        h_finals.append(outs[1])
        if arity == 2:
            c_finals.append(outs[2])
    return x, h_finals, c_finals


def _block(g: _Graph, pre: str, k: int, H: int) -> str:
    """Gate block ``k`` (last axis ``k*H .. (k+1)*H``) of pre-activations ``(T, B, G*H)``."""
    return g.op("Slice", [pre, g.const("start", [k * H], np.int64),
                          g.const("end", [(k + 1) * H], np.int64), g.const("axis", [2], np.int64)])


def _complement(g: _Graph, pre: str, H: int) -> tuple[str, str]:
    """``a = 1 - σ(z) = σ(-z)``, ``b = σ(z) h~`` from blocks z, h~ (minGRU)."""
    z, candidate = _block(g, pre, 0, H), _block(g, pre, 1, H)
    return g.op("Sigmoid", [g.op("Neg", [z])]), g.op("Mul", [g.op("Sigmoid", [z]), candidate])


def _normalised(g: _Graph, pre: str, H: int) -> tuple[str, str]:
    """``a = f / (f + i)``, ``b = i / (f + i) h~`` with ``f, i = σ(.)`` of blocks f, i (minLSTM),
    computed without the division as the scan does: ``d = softplus(-f_pre) - softplus(-i_pre)``
    (= log(i / f)), ``a = σ(-d)``, ``i / (f + i) = σ(d)``; exact where both gates underflow to
    0 in float32 (pre-activations below about -17), where ``f / (f + i)`` would be 0 / 0."""
    f_pre, i_pre = _block(g, pre, 0, H), _block(g, pre, 1, H)
    d = g.op("Sub", [g.op("Softplus", [g.op("Neg", [f_pre])]),
                     g.op("Softplus", [g.op("Neg", [i_pre])])])  # fmt: skip
    b = g.op("Mul", [g.op("Sigmoid", [d]), _block(g, pre, 2, H)])
    return g.op("Sigmoid", [g.op("Neg", [d])]), b


#: How a minimal cell's gate blocks make ``a`` and ``b`` of ``h = a h_prev + b``, by the cell's
#: ``recurrence`` (:mod:`rnnkit.nn.cells`).
RECURRENCES = {"complement": _complement, "normalised": _normalised}


def _scan_body(H: int):
    """The Scan body ``h = a_t * h_prev + b_t``: state ``h_prev``, scan inputs ``a_t``, ``b_t``
    (each (B, H)); outputs the new state and, as the scan output, the same ``h``."""
    onnx = _onnx()
    helper, FLOAT = onnx.helper, onnx.TensorProto.FLOAT
    nodes = [helper.make_node("Mul", ["a_t", "h_prev"], ["ah"]),
             helper.make_node("Add", ["ah", "b_t"], ["h"]),
             helper.make_node("Identity", ["h"], ["y_t"])]  # fmt: skip
    spec = [helper.make_tensor_value_info(n, FLOAT, ["B", H]) for n in ("h_prev", "a_t", "b_t")]
    outs = [helper.make_tensor_value_info(n, FLOAT, ["B", H]) for n in ("h", "y_t")]
    return helper.make_graph(nodes, "linear_recurrence", spec, outs)


def _scan_layers(g: _Graph, rnn, x: str, seq_lens: str | None, h0: str | None):
    """The layers of a minimal cell over ``x (T, B, I)`` with standard operators: per direction,
    the gates of every step in one ``MatMul``, ``a`` and ``b`` element-wise (the cell's
    ``recurrence``), and ``h_t = a_t h_{t-1} + b_t`` in a ``Scan``. Padded steps keep the state
    (``a = 1``, ``b = 0``) and output zeros; the reverse direction reads each sequence
    reversed inside its length (``ReverseSequence``). Returns as :func:`_recurrent`."""
    onnx = _onnx()
    D, H = 2 if rnn.bidirectional else 1, rnn.hidden_size
    coefficients = RECURRENCES[rnn.cell.recurrence]
    params = dict(rnn.named_parameters())
    T = g.op("Gather", [g.op("Shape", [x]), g.const("index", 0, np.int64)])
    lengths = mask = None
    if seq_lens is not None:
        lengths = g.op("Cast", [seq_lens], to=onnx.TensorProto.INT64)
        mask = _time_mask(g, T, lengths)  # (T, B, 1)
        fmask = g.op("Cast", [mask], to=onnx.TensorProto.FLOAT)
    h_finals = []
    for layer in range(rnn.num_layers):
        ys, finals = [], []
        for d, suffix in enumerate([f"_l{layer}", f"_l{layer}_reverse"][:D]):
            weight = params[f"weight_ih{suffix}"].data.T.astype(np.float32)  # (I, G*H)
            pre = g.op("MatMul", [x, g.const(f"W{layer}", weight)])  # (T, B, G*H)
            if f"bias_ih{suffix}" in params:
                bias = params[f"bias_ih{suffix}"].data.astype(np.float32)
                pre = g.op("Add", [pre, g.const(f"B{layer}", bias)])
            a, b = coefficients(g, pre, H)  # (T, B, H) each
            if mask is not None:  # padded steps: h stays
                a = g.op("Where", [mask, a, g.const("one", np.float32(1.0))])
                b = g.op("Where", [mask, b, g.const("zero", np.float32(0.0))])
            if d == 1 and lengths is not None:
                a, b = (g.op("ReverseSequence", [v, lengths], batch_axis=1, time_axis=0)
                        for v in (a, b))  # fmt: skip
            init = _initial(g, x, h0, layer * D + d, H)
            backwards = [1] if d == 1 and lengths is None else [0]
            final, y = g.op("Scan", [init, a, b], 2, num_scan_inputs=2, body=_scan_body(H),
                            scan_input_directions=backwards * 2,
                            scan_output_directions=backwards)  # fmt: skip
            if d == 1 and lengths is not None:
                y = g.op("ReverseSequence", [y, lengths], batch_axis=1, time_axis=0)
            ys.append(y)
            finals.append(g.op("Unsqueeze", [final, g.const("axis", [0], np.int64)]))
        x = ys[0] if D == 1 else g.op("Concat", ys, axis=2)  # (T, B, D*H)
        if mask is not None:
            x = g.op("Mul", [x, fmask])
        h_finals.append(finals[0] if D == 1 else g.op("Concat", finals, axis=0))  # (D, B, H)
    return x, h_finals, []


def _initial(g: _Graph, x: str, state: str | None, index: int, H: int) -> str:
    """The initial state (B, H) of layer-direction ``index``: ``state[index]`` of a ``(D*L, B,
    H)`` input, or zeros (the batch size read from ``x (T, B, I)``) where there is none."""
    if state is None:
        B = g.op("Slice", [g.op("Shape", [x]), g.const("start", [1], np.int64),
                           g.const("end", [2], np.int64)])  # fmt: skip
        shape = g.op("Concat", [B, g.const("H", [H], np.int64)], axis=0)
        return g.op("ConstantOfShape", [shape],
                    value=_onnx().numpy_helper.from_array(np.zeros(1, np.float32)))  # fmt: skip
    return g.op("Squeeze", [g.op("Slice", [
        state, g.const("start", [index], np.int64), g.const("end", [index + 1], np.int64),
        g.const("axis", [0], np.int64)]), g.const("axis", [0], np.int64)])  # fmt: skip


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _layer_norm_lstm(g: _Graph, params: dict, suffix: str, x: str, H: int, eps: float):
    """The layer-normalised LSTM (:class:`rnnkit.nn.cells.LayerNormLSTMCell`) of one direction:
    returns ``(gx, step)``, ``gx (T, B, 4H) = LN(x W_ih^T; γ_ih) + b_ih`` over the whole sequence
    (built in ``g``), and ``step(body, gx_t, (h_prev, c_prev)) -> (h, c)``, which builds one step
    in a Scan body's graph."""
    weight = params[f"weight_ih{suffix}"].data.T  # (I, 4H)
    pre = g.op("MatMul", [x, g.const("W_ih_t", _f32(weight))])  # (T, B, 4H)

    def norm(graph: _Graph, a: str, gain: str, shift: str) -> str:
        """``γ (a - mean) / sqrt(var + eps) + β`` over the last axis (no β where absent)."""
        inputs = [a, graph.const(gain, _f32(params[f"{gain}{suffix}"].data))]
        if f"{shift}{suffix}" in params:
            inputs.append(graph.const(shift, _f32(params[f"{shift}{suffix}"].data)))
        return graph.op("LayerNormalization", inputs, axis=-1, epsilon=eps)

    gx = norm(g, pre, "weight_ln_ih", "bias_ih")

    def step(body: _Graph, gx_t: str, state: tuple[str, ...]) -> tuple[str, str]:
        h_prev, c_prev = state
        recurrent = body.op("MatMul", [h_prev, body.const(
            "W_hh_t", _f32(params[f"weight_hh{suffix}"].data.T))])  # (B, 4H)  # fmt: skip
        acts = body.op("Add", [gx_t, norm(body, recurrent, "weight_ln_hh", "bias_hh")])
        i, f, cand, o = body.op("Split", [acts, body.const("split", [H] * 4, np.int64)], 4, axis=1)
        i, f, o = (body.op("Sigmoid", [a]) for a in (i, f, o))
        g_t = body.op("Tanh", [cand])
        c = body.op("Add", [body.op("Mul", [f, c_prev]), body.op("Mul", [i, g_t])])
        h = body.op("Mul", [o, body.op("Tanh", [norm(body, c, "weight_ln_c", "bias_ln_c")])])
        return h, c

    return gx, step


#: How a cell's step is built in a Scan body, by the cell's ``onnx_step``
#: (:mod:`rnnkit.nn.cells`).
STEPS = {"layer_norm_lstm": _layer_norm_lstm}


def _step_body(name: str, step, H: int, G: int, state_names: tuple[str, ...], masked: bool):
    """The Scan body of one direction: states ``*_prev`` (B, H), scan inputs ``gx_t`` (B, G*H) [and
    ``mask_t`` (B, 1) bool]; outputs the new states (a padded step keeps the old) and, as the
    scan output, the new ``h``."""
    onnx = _onnx()
    helper, FLOAT = onnx.helper, onnx.TensorProto.FLOAT
    body = _Graph(prefix=f"{name}.")
    prev = tuple(f"{name}.{s}_prev" for s in state_names)
    gx_t, mask_t = f"{name}.gx_t", f"{name}.mask_t"
    new = step(body, gx_t, prev)
    if masked:
        new = tuple(body.op("Where", [mask_t, n, p]) for n, p in zip(new, prev, strict=True))
    y_t = body.op("Identity", [new[0]])
    inputs = [helper.make_tensor_value_info(p, FLOAT, ["B", H]) for p in prev]
    inputs.append(helper.make_tensor_value_info(gx_t, FLOAT, ["B", G * H]))
    if masked:
        inputs.append(helper.make_tensor_value_info(mask_t, onnx.TensorProto.BOOL, ["B", 1]))
    outputs = [helper.make_tensor_value_info(n, FLOAT, ["B", H]) for n in (*new, y_t)]
    return helper.make_graph(body.nodes, name, inputs, outputs, body.initializers)


def _step_layers(g: _Graph, rnn, x: str, seq_lens: str | None, states: tuple[str | None, ...]):
    """The layers of a cell with an ``onnx_step`` over ``x (T, B, I)``: per direction, the
    sequence-wide input side and a ``Scan`` of the step (:data:`STEPS`). Padded steps keep the
    state and output zeros; the reverse direction reads each sequence reversed inside its
    length (``ReverseSequence``). Returns as :func:`_recurrent`."""
    onnx = _onnx()
    cell = rnn.cell
    D, H, arity = 2 if rnn.bidirectional else 1, rnn.hidden_size, cell.state_arity
    build = STEPS[cell.onnx_step]
    params = dict(rnn.named_parameters())
    lengths = mask = None
    if seq_lens is not None:
        lengths = g.op("Cast", [seq_lens], to=onnx.TensorProto.INT64)
        T = g.op("Gather", [g.op("Shape", [x]), g.const("index", 0, np.int64)])
        mask = _time_mask(g, T, lengths)  # (T, B, 1)
    finals: list[list[str]] = [[] for _ in range(arity)]
    for layer in range(rnn.num_layers):
        ys, layer_finals = [], [[] for _ in range(arity)]
        for d, suffix in enumerate([f"_l{layer}", f"_l{layer}_reverse"][:D]):
            gx, step = build(g, params, suffix, x, H, cell.eps)  # (T, B, G*H)
            if d == 1 and lengths is not None:
                gx = g.op("ReverseSequence", [gx, lengths], batch_axis=1, time_axis=0)
            init = [_initial(g, x, s, layer * D + d, H) for s in states]
            body = _step_body(f"step{layer}{suffix}", step, H, cell.num_gates, cell.state_names,
                              mask is not None)  # fmt: skip
            backwards = [1] if d == 1 and lengths is None else [0]
            scanned = [gx] if mask is None else [gx, mask]
            *ends, y = g.op("Scan", [*init, *scanned], arity + 1, body=body,
                            num_scan_inputs=len(scanned),
                            scan_input_directions=backwards * len(scanned),
                            scan_output_directions=backwards)  # fmt: skip
            if d == 1 and lengths is not None:
                y = g.op("ReverseSequence", [y, lengths], batch_axis=1, time_axis=0)
            ys.append(y)
            for kept, end in zip(layer_finals, ends, strict=True):
                kept.append(g.op("Unsqueeze", [end, g.const("axis", [0], np.int64)]))
        x = ys[0] if D == 1 else g.op("Concat", ys, axis=2)  # (T, B, D*H)
        if mask is not None:
            x = g.op("Mul", [x, g.op("Cast", [mask], to=onnx.TensorProto.FLOAT)])
        for total, kept in zip(finals, layer_finals, strict=True):
            total.append(kept[0] if D == 1 else g.op("Concat", kept, axis=0))  # (D, B, H)
    return x, finals[0], finals[1] if arity == 2 else []


def _time_mask(g: _Graph, T: str, lengths: str) -> str:
    """``mask[t, b] = t < lengths[b]`` as bool ``(T, B, 1)``."""
    steps = g.op("Range", [g.const("zero", 0, np.int64), T, g.const("one", 1, np.int64)])  # (T,)
    steps = g.op("Unsqueeze", [steps, g.const("axis", [1], np.int64)])  # (T, 1)
    lens = g.op("Unsqueeze", [lengths, g.const("axis", [0], np.int64)])  # (1, B)
    return g.op("Unsqueeze", [g.op("Less", [steps, lens]), g.const("axis", [2], np.int64)])


def _linear(g: _Graph, x: str, linear) -> str:
    """``x W^T + b`` with the weights of an rnnkit ``Linear``."""
    params = dict(linear.named_parameters())
    y = g.op("MatMul", [x, g.const("weight_t", params["weight"].data.T.astype(np.float32))])
    if "bias" in params:
        y = g.op("Add", [y, g.const("bias", params["bias"].data.astype(np.float32))])
    return y


# -- bare layers ----------------------------------------------------------------------
def layer_model(rnn):
    """The ONNX model of a bare ``rnnkit.nn`` ``LSTM`` / ``GRU`` / ``RNN`` (see the module doc)."""
    g = _Graph()
    LD = rnn.num_layers * (2 if rnn.bidirectional else 1)
    with_c = rnn.cell.state_arity == 2  # a cell state c besides h
    layout = ["B", "T"] if rnn.batch_first else ["T", "B"]
    inputs = [_tensor("input", "float", [*layout, rnn.input_size]),
              _tensor("h0", "float", [LD, "B", rnn.hidden_size])]  # fmt: skip
    if with_c:
        inputs.append(_tensor("c0", "float", [LD, "B", rnn.hidden_size]))
    inputs.append(_tensor("lengths", "int64", ["B"]))
    x = g.op("Transpose", ["input"], perm=[1, 0, 2]) if rnn.batch_first else "input"
    seq = g.op("Cast", ["lengths"], to=_onnx().TensorProto.INT32)
    y, h, c = _recurrent(g, rnn, x, seq, "h0", "c0" if with_c else None)
    T = g.op("Gather", [g.op("Shape", [x]), g.const("index", 0, np.int64)])
    y = g.op("Mul", [y, g.op("Cast", [_time_mask(g, T, "lengths")], to=_onnx().TensorProto.FLOAT)])
    g.op("Transpose" if rnn.batch_first else "Identity", [y], ["output"],
         **({"perm": [1, 0, 2]} if rnn.batch_first else {}))  # fmt: skip
    g.op("Concat", h, ["h_n"], axis=0)
    outputs = [_tensor("output", "float", [*layout, LD // rnn.num_layers * rnn.hidden_size]),
               _tensor("h_n", "float", [LD, "B", rnn.hidden_size])]  # fmt: skip
    if with_c:
        g.op("Concat", c, ["c_n"], axis=0)
        outputs.append(_tensor("c_n", "float", [LD, "B", rnn.hidden_size]))
    return g.model(f"rnnkit_{rnn.mode.lower()}", inputs, outputs)


def export_layer(rnn, out: str | os.PathLike) -> Path:
    """Write :func:`layer_model` of ``rnn`` to ``out``."""
    return _write(layer_model(rnn), out)


# -- the applications ------------------------------------------------------------------
def textgen_model(lm):
    """The ONNX model of a trained ``CharLM`` (see module docstring)."""
    network = lm.network
    rnn = network.rnn
    if rnn.bidirectional:
        raise ValueError("a text generator runs forward only; this network is bidirectional")
    L, H = rnn.num_layers, rnn.hidden_size
    V = network.decoder.weight.shape[0]
    with_c = rnn.cell.state_arity == 2  # a cell state c besides h
    g = _Graph()
    inputs = [_tensor("ids", "int64", ["T", "B"]), _tensor("h0", "float", [L, "B", H])]
    if with_c:
        inputs.append(_tensor("c0", "float", [L, "B", H]))
    x = g.op(
        "Gather", [g.const("embedding", network.embedding.weight.data.astype(np.float32)), "ids"]
    )
    y, h, c = _recurrent(g, rnn, x, None, "h0", "c0" if with_c else None)  # (T, B, H)
    network_decoder = network.decoder
    g.op("Identity", [_linear(g, y, network_decoder)], ["logits"])
    g.op("Concat", h, ["h_n"], axis=0)
    outputs = [_tensor("logits", "float", ["T", "B", V]), _tensor("h_n", "float", [L, "B", H])]
    if with_c:
        g.op("Concat", c, ["c_n"], axis=0)
        outputs.append(_tensor("c_n", "float", [L, "B", H]))
    return g.model("rnnkit_textgen", inputs, outputs, preprocessing(lm))


def sentiment_model(clf):
    """The ONNX model of a trained ``SentimentClassifier`` (see module docstring)."""
    network = clf.network
    rnn, pooling = network.rnn, network.config.pooling
    onnx = _onnx()
    g = _Graph()
    inputs = [_tensor("ids", "int64", ["B", "T"]), _tensor("lengths", "int64", ["B"])]
    x = g.op(
        "Gather", [g.const("embedding", network.embedding.weight.data.astype(np.float32)), "ids"]
    )
    if network.subword_embedding is not None:  # x += mean of the word's known n-gram vectors
        inputs.append(_tensor("ngram_ids", "int64", ["B", "T", "G"]))
        table = g.const("ngram_embedding", network.subword_embedding.weight.data.astype(np.float32))
        vectors = g.op("Gather", [table, "ngram_ids"])  # (B, T, G, E)
        known = g.op("Cast", [g.op("Greater", ["ngram_ids", g.const("zero", 0, np.int64)])],
                     to=onnx.TensorProto.FLOAT)  # (B, T, G): id 0 is no n-gram  # fmt: skip
        known = g.op("Unsqueeze", [known, g.const("axis", [3], np.int64)])  # (B, T, G, 1)
        axis2 = g.const("axis", [2], np.int64)
        total = g.op("ReduceSum", [g.op("Mul", [vectors, known]), axis2], keepdims=0)  # (B, T, E)
        count = g.op("ReduceSum", [known, axis2], keepdims=0)  # (B, T, 1)
        count = g.op("Max", [count, g.const("one", np.float32(1.0))])
        x = g.op("Add", [x, g.op("Div", [total, count])])
    x = g.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, E): ONNX's sequence-first layout
    seq = g.op("Cast", ["lengths"], to=onnx.TensorProto.INT32)
    y, h, _ = _recurrent(g, rnn, x, seq, None, None)  # (T, B, D*H)
    if pooling == "last":  # the last layer's final states, [forward | backward]
        pooled = g.op("Reshape", [g.op("Transpose", [h[-1]], perm=[1, 0, 2]),
                                  g.const("shape", [0, -1], np.int64)])  # fmt: skip
    else:
        T = g.op("Gather", [g.op("Shape", ["ids"]), g.const("index", 1, np.int64)])
        mask = _time_mask(g, T, "lengths")  # (T, B, 1)
        if pooling == "mean":
            masked = g.op("Mul", [y, g.op("Cast", [mask], to=onnx.TensorProto.FLOAT)])
            total = g.op("ReduceSum", [masked, g.const("axis", [0], np.int64)], keepdims=0)
            lens = g.op("Cast", [g.op("Unsqueeze", ["lengths", g.const("axis", [1], np.int64)])],
                        to=onnx.TensorProto.FLOAT)  # fmt: skip
            pooled = g.op("Div", [total, lens])
        else:  # max over the valid steps: padding can never win
            masked = g.op("Where", [mask, y, g.const("minus_inf", np.float32(-np.inf))])
            pooled = g.op("ReduceMax", [masked], axes=[0], keepdims=0)
    logits = _linear(g, pooled, network.fc)  # (B, K)
    if network.wide is not None:  # + sum over the text's word n-grams of r[g] * w[g]
        inputs.append(_tensor("word_ngram_ids", "int64", ["B", "M"]))
        table = network.wide_ratio.data[:, None] * network.wide.weight.data  # (W + 1, K)
        wide = g.op("Gather", [g.const("word_ngram_weights", table.astype(np.float32)),
                               "word_ngram_ids"])  # (B, M, K); row 0 (padding) is zero  # fmt: skip
        wide = g.op("ReduceSum", [wide, g.const("axis", [1], np.int64)], keepdims=0)  # (B, K)
        logits = g.op("Add", [logits, wide])
    C = len(clf.labels)
    if C == 2:  # one logit: sigmoid is P(second label)
        p1 = g.op("Sigmoid", [logits])
        p0 = g.op("Sub", [g.const("one", np.float32(1.0)), p1])
        g.op("Concat", [p0, p1], ["probabilities"], axis=1)
    else:
        g.op("Softmax", [logits], ["probabilities"], axis=1)
    outputs = [_tensor("probabilities", "float", ["B", C])]
    return g.model("rnnkit_sentiment", inputs, outputs, preprocessing(clf))


def preprocessing(app) -> dict:
    """The JSON that travels with an exported model: how to make its inputs from text."""
    from ..text import tokenize, vocab
    from ..text.subwords import BOW, EOW

    head = {"format": FORMAT, "version": VERSION, "app": app_name(app)}
    if head["app"] == "textgen":
        rnn = app.network.rnn
        state = [f"{name}0" for name in rnn.cell.state_names]  # h0 [, c0]
        return {
            **head,
            "inputs": {"ids": "(T, B) int64", **{s: "(L, B, H) float32" for s in state}},
            "outputs": {
                "logits": "(T, B, V) float32",
                **{s.replace("0", "_n"): "(L, B, H) float32" for s in state},
            },
            "num_layers": rnn.num_layers,
            "hidden_size": rnn.hidden_size,
            "vocab": app.vocab.to_dict(),  # id i is symbols[i]: a code point, or a byte value
        }
    tok = app.tokenizer
    subwords, wordgrams = app.subwords, app.wordgrams
    return {
        **head,
        "inputs": {
            "ids": "(B, T) int64",
            "lengths": "(B,) int64",
            **({"ngram_ids": "(B, T, G) int64"} if subwords is not None else {}),
            **({"word_ngram_ids": "(B, M) int64"} if wordgrams is not None else {}),
        },  # fmt: skip
        "outputs": {"probabilities": "(B, C) float32, columns in the order of labels"},
        "labels": list(app.labels),
        "tokenizer": {
            **tok.to_dict(),
            "html_tag_pattern": tokenize.HTML_TAG.pattern,  # replaced by a space
            "token_pattern": tok.token_pattern.pattern,
            "replace": dict(tokenize.REPLACE),  # after lower-casing, before matching
        },
        "vocab": {"tokens": list(app.vocab.tokens), "pad_id": vocab.PAD_ID, "unk_id": vocab.UNK_ID},
        "max_length": app.text.max_length,
        "truncate": app.text.truncate,
        "unknown_backoff": {
            "enabled": bool(app.text.unknown_backoff),
            "suffixes": [[s, list(r)] for s, r in vocab.SUFFIXES],
            "min_stem": vocab.STEM_LENGTH,
        },
        "ngrams": None
        if subwords is None
        else {
            "n_min": subwords.n_min,
            "n_max": subwords.n_max,
            "begin": BOW,
            "end": EOW,
            "ngrams": list(subwords.ngrams),  # id i + 1 is ngrams[i]; 0 is padding
        },  # fmt: skip
        # the distinct n-grams of n_min..n_max tokens of the whole (untruncated) text, each
        # its tokens joined by one space; id i + 1 is ngrams[i], 0 is padding
        "word_ngrams": None if wordgrams is None else {
            "n_min": wordgrams.n_min,
            "n_max": wordgrams.n_max,
            "ngrams": list(wordgrams.ngrams),
        },  # fmt: skip
    }


def export_app(source, out: str | os.PathLike) -> list[Path]:
    """Export a run directory / checkpoint / application to ``out`` and ``out.json``.

    Both files are written atomically (:func:`rnnkit.training.checkpoint.atomic_write`):
    an existing one is replaced whole or not at all. Refusing to overwrite is
    :func:`rnnkit.interop.export`'s job.
    """
    app = load_app(source)
    model = textgen_model(app) if app_name(app) == "textgen" else sentiment_model(app)
    sidecar_text = json.dumps(preprocessing(app), indent=1, ensure_ascii=False) + "\n"
    path = _write(model, out)
    sidecar = path.with_name(path.name + ".json")
    atomic_write(sidecar, lambda f: f.write(sidecar_text.encode("utf-8")))
    return [path, sidecar]


def _write(model, out: str | os.PathLike) -> Path:
    path = Path(out)
    if path.parent and not path.parent.is_dir():
        raise FileNotFoundError(f"--out: no directory {path.parent}")
    data = model.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return path
