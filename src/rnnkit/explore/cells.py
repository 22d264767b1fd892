"""Find interpretable cells and measure gate saturation (Karpathy, Johnson & Fei-Fei 2015).

Cell search: a pattern turns the text into a target signal ``s`` (T,), one
value per character; every cell's activation ``a_u`` (T,) (``h`` or
``tanh(c)`` of one unit of one layer) is scored by the Pearson correlation::

    r_u = sum_t (a_u[t] - mean a_u)(s[t] - mean s) / (T std(a_u) std(s))

and cells are ranked by ``|r_u|`` (a cell that is *low* inside quotes is as
much a quote cell as one that is high). Patterns:

* a regex: ``s[t] = 1`` for the characters inside any match, else 0
  (``"[^"\\n]*"``: inside double quotes; ``\\([^()]*\\)``: inside parentheses),
  matched under a time bound (:mod:`.regex`: a pattern that backtracks is
  stopped, not waited for);
* ``position="line"``: ``s[t]`` = characters since the last newline.

Gate saturation, per layer and sigmoid gate (LSTM i, f, o; GRU r, z): the
fraction of steps each unit's gate is below 0.1 (left-saturated) and above
0.9 (right-saturated) over the text.
"""

from __future__ import annotations

import numpy as np

from .regex import match_spans

#: the sigmoid gates, whose values lie in (0, 1)
SIGMOID_GATES = ("i", "f", "o", "r", "z")

PRESETS = {
    "inside double quotes": r'"[^"\n]*"',
    "inside single quotes": r"'[^'\n]*'",
    "inside parentheses": r"\([^()\n]*\)",
    "inside brackets": r"\[[^\[\]\n]*\]",
    "first character of a line": r"(?m)^.",
    "indentation": r"(?m)^[ \t]+",
}


def pattern_signal(text: str, regex: str | None = None, position: str | None = None,
                   seconds: float = 2.0) -> np.ndarray:  # fmt: skip
    """The target signal (T,) float64 of a regex or of ``position="line"``.

    The regex is at most 200 characters and its matching is stopped after
    ``seconds`` (a ``ValueError``, as is a pattern that does not compile).
    """
    if (regex is None) == (position is None):
        raise ValueError("give either regex or position")
    T = len(text)
    if position is not None:
        if position != "line":
            raise ValueError(f"position must be 'line', received {position!r}")
        signal = np.empty(T)
        column = 0
        for t, ch in enumerate(text):
            signal[t] = column
            column = 0 if ch == "\n" else column + 1
        return signal
    signal = np.zeros(T)
    for start, end in match_spans(regex, text, seconds):
        signal[start:end] = 1.0
    return signal


def correlations(values: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Pearson r of every column of ``values`` (T, N) with ``signal`` (T,);
    0 for constant columns."""
    a = values - values.mean(axis=0)
    s = signal - signal.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (s * s).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * s[:, None]).sum(axis=0) / denom
    return np.where(denom > 0, r, 0.0)


def cell_values(layers: list[dict[str, np.ndarray]], layer: int, kind: str) -> np.ndarray:
    """(T, H) activations of one layer: ``h``, ``tanh_c`` or a gate name."""
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer must be in 0..{len(layers) - 1}, received {layer}")
    record = layers[layer]
    if kind == "tanh_c":
        if "c" not in record:
            raise ValueError("kind 'tanh_c' needs an LSTM (this model has no cell state)")
        return np.tanh(record["c"])
    if kind not in record:
        raise ValueError(f"kind must be one of {['tanh_c', *sorted(record)]}, received {kind!r}")
    return record[kind]


def rank_cells(
    layers: list[dict[str, np.ndarray]], signal: np.ndarray, kinds=("h", "tanh_c"), top: int = 10
) -> list[dict]:
    """The ``top`` cells by ``|r|``: ``[{"layer", "kind", "unit", "correlation"}]``."""
    if np.ptp(signal) == 0:
        raise ValueError(
            "the pattern is the same at every character (matches everywhere or nowhere)"
        )
    found = []
    for index in range(len(layers)):
        for kind in kinds:
            if kind == "tanh_c" and "c" not in layers[index]:
                continue
            r = correlations(cell_values(layers, index, kind), signal)
            found.extend((float(v), index, kind, u) for u, v in enumerate(r))
    found.sort(key=lambda item: -abs(item[0]))
    return [{"layer": i, "kind": k, "unit": u, "correlation": r} for r, i, k, u in found[:top]]


def gate_saturation(
    layers: list[dict[str, np.ndarray]], low: float = 0.1, high: float = 0.9
) -> list[dict]:
    """Per layer: ``{"layer", "gates": {name: {"left": [H], "right": [H]}}}``
    (fractions of steps)."""
    out = []
    for index, record in enumerate(layers):
        gates = {}
        for name in SIGMOID_GATES:
            if name in record:
                v = record[name]  # (T, H)
                gates[name] = {
                    "left": [round(float(x), 4) for x in (v < low).mean(axis=0)],
                    "right": [round(float(x), 4) for x in (v > high).mean(axis=0)],
                }
        out.append({"layer": index, "gates": gates})
    return out
