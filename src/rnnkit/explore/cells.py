"""Find interpretable cells and measure gate saturation (Karpathy, Johnson & Fei-Fei 2015).

Cell search: a pattern turns the text into a target signal ``s`` (T,), one
value per character; every cell's activation ``a_u`` (T,) (``h`` or
``tanh(c)`` of one unit of one layer) is scored by the Pearson correlation::

    r_u = sum_t (a_u[t] - mean a_u)(s[t] - mean s) / (T std(a_u) std(s))

and cells are ranked by ``|r_u|`` (a cell that is *low* inside quotes is as
much a quote cell as one that is high). Patterns:

* a regex: ``s[t] = 1`` for the characters inside any match, else 0,
  matched under a time bound (:mod:`.regex`: a pattern that backtracks is
  stopped, not waited for);
* a preset (:data:`PRESETS`): a regex, or one of two scanners that a regex
  cannot express: quotations (:func:`quote_mask`: paired across lines, the
  sample's starting state inferred) and brackets (:func:`bracket_mask`:
  nesting counted, a sample that starts inside a bracket handled);
* ``position="line"``: ``s[t]`` = characters since the last newline.

**Chance level** (:func:`search_cells`): with thousands of cells some correlate
a little with anything, so the best ``|r|`` alone says nothing. The pattern's
signal is rolled by a random offset, cut into 20 blocks and the blocks
shuffled (:func:`block_shuffles`), which keeps its runs and their lengths but
moves them away from the text they belong to; the best ``|r|`` of any cell
against each of 19 such shuffles is computed, and the largest of those is the
bar. A cell above it beats all 19 shuffles (p <= 0.05, the search over every
cell included); the page calls it a clear detector only if it also reaches
``|r| >= 0.5`` (:data:`CLEAR_R`).

Gate saturation, per layer and sigmoid gate (LSTM i, f, o; GRU r, z): the
fraction of steps each unit's gate is below 0.1 (left-saturated) and above
0.9 (right-saturated) over the text.
"""

from __future__ import annotations

import re

import numpy as np

from .regex import match_spans

#: the sigmoid gates, whose values lie in (0, 1)
SIGMOID_GATES = ("i", "f", "o", "r", "z")

#: the patterns the page offers: a regex, a scanner ("quotes", "brackets") or the line position
PRESETS = {
    "inside double quotes": {"quotes": '"',
                             "about": 'between paired " marks (or \u201c \u201d), across lines'},
    "inside single quotes": {"quotes": "'",
                             "about": "between paired ' marks (or \u2018 \u2019), across lines; "
                                      "an apostrophe inside a word is not a quote"},
    "inside parentheses": {"brackets": "()", "about": "from ( to its ), nested, across lines"},
    "inside brackets": {"brackets": "[]", "about": "from [ to its ], nested, across lines"},
    "inside braces": {"brackets": "{}", "about": "from { to its }, nested, across lines"},
    "first character of a line": {"regex": r"(?m)^.", "about": "the first character of a line"},
    "indentation": {"regex": r"(?m)^[ \t]+", "about": "leading spaces and tabs"},
    "position in the line": {"position": "line",
                             "about": "characters since the last newline (not a mask)"},
}  # fmt: skip

#: |r| from which a cell above the chance level is called a clear detector of a pattern
CLEAR_R = 0.5
#: shuffles of the pattern for the chance level; blocks the signal is cut into per shuffle
SHUFFLES, BLOCKS = 19, 20

# what may precede an opening quote / follow a closing one (besides whitespace and the text's ends)
_BEFORE_OPEN = set("([{<=,:;")
_AFTER_CLOSE = set(".,;:!?)]}>")
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_CURLY = {'"': ("\u201c", "\u201d"), "'": ("\u2018", "\u2019")}


def _quote_roles(text: str, mark: str) -> list[tuple[int, str]]:
    """Each quote mark of ``text`` with its role from the characters around it:
    "open", "close" or "either" (an apostrophe inside a word is skipped)."""
    opening, closing = _CURLY[mark]
    roles = []
    for i, ch in enumerate(text):
        if ch not in (mark, opening, closing):
            continue
        prev = text[i - 1] if i > 0 else None
        nxt = text[i + 1] if i + 1 < len(text) else None
        if mark == "'" and ch != opening and prev is not None and nxt is not None \
                and prev.isalnum() and nxt.isalnum():  # fmt: skip
            continue  # don't, o'clock: an apostrophe
        if ch == opening:
            roles.append((i, "open"))
            continue
        if ch == closing:
            roles.append((i, "close"))
            continue
        can_open = (prev is None or prev.isspace() or prev in _BEFORE_OPEN) and (
            nxt is not None and not nxt.isspace()
        )
        can_close = (nxt is None or nxt.isspace() or nxt in _AFTER_CLOSE) and (
            prev is not None and not prev.isspace()
        )
        roles.append((i, "open" if can_open and not can_close
                      else "close" if can_close and not can_open else "either"))  # fmt: skip
    return roles


def _pair_quotes(T: int, roles, inside: bool, pairs: list | None = None) -> tuple[np.ndarray, int]:
    """The mask from a starting state, and how many marks contradicted their role
    (``pairs`` collects the (opening, closing) positions of the quotations that open and close
    in the text)."""
    mask = np.zeros(T)
    start, contradictions = (0 if inside else None), 0
    opened_here, continued = not inside, False
    strict = any(role in ("break", "continue") for _, role in roles)
    for i, role in roles:
        if role == "break":  # a paragraph ends, and the next does not open a quotation
            if start is not None:
                contradictions += 1  # an elision ('tis), not a quotation: unmarked
                start = None
            continue
        if role == "continue":  # a paragraph ends, and the next opens with a mark
            continued = True
            continue
        if role == "either":
            role = "close" if start is not None else "open"
        if role == "open":
            if start is not None:
                contradictions += 1
                if continued or not strict:  # left open at a paragraph's end, prose's way
                    mask[start:i] = 1.0
            start, opened_here, continued = i, True, False
        elif start is None:
            contradictions += 1
            mask[i] = 1.0
        else:
            mask[start : i + 1] = 1.0
            if pairs is not None and opened_here:
                pairs.append((start, i))
            start = None
    if start is not None:
        mask[start:] = 1.0
    return mask, contradictions


def _with_paragraph_breaks(text: str, roles):
    """``roles`` with ``(position, "break")`` at every blank line after which the next
    paragraph does not start with an opening mark, ``(position, "continue")`` where it does;
    with these, an opening mark inside an open quotation drops the one before (an elision)
    unless a paragraph that continues it lies between."""
    opening = {i for i, role in roles if role in ("open", "either")}
    breaks = [(m.start(), "continue" if m.end() in opening else "break")
              for m in _BLANK_LINE.finditer(text)]  # fmt: skip
    return sorted(roles + breaks)


def quote_mask(text: str, mark: str = '"') -> np.ndarray:
    """1 inside quotations (their marks included), 0 elsewhere, across lines.

    Each mark's role comes from its neighbours: after a space, an opening
    bracket or the text's start and before a non-space it opens; before a
    space, punctuation or the end and after a non-space it closes; otherwise it
    closes an open quotation or opens one. Curly marks say their role
    themselves. An opening mark inside an open quotation starts the next one
    (prose leaves a quotation open at a paragraph's end when it goes on in the
    next). A sample cut from a longer text may start inside a quotation: both
    starting states are tried, and the one whose pairing contradicts fewer
    marks' roles is kept (outside on a tie). Single quotes are also
    apostrophes ('tis, o'er, goin'): one inside a word is skipped, and a
    quotation still open at a blank line, or at the next opening mark in the
    same paragraph, is dropped (unmarked) unless the next paragraph opens with
    a mark. (A Python docstring in single quotes with a
    blank line inside is then missed; double quotes keep such docstrings.)
    """
    if mark not in _CURLY:
        raise ValueError(f"quotes must be one of {sorted(_CURLY)}, received {mark!r}")
    roles = _quote_roles(text, mark)
    if mark == "'":
        roles = _with_paragraph_breaks(text, roles)
    outside, bad_out = _pair_quotes(len(text), roles, False)
    inside, bad_in = _pair_quotes(len(text), roles, True)
    return inside if bad_in < bad_out else outside


def closing_pairs(text: str) -> list[tuple[int, int]]:
    """``(opening, closing)`` positions of every bracket pair ((), [], {}; matched by a stack
    per kind) and every double quotation (paired as :func:`quote_mask` pairs them) that
    opens and closes inside ``text``, sorted by the closing position."""
    pairs: list[tuple[int, int]] = []
    for opening, closing in ("()", "[]", "{}"):
        stack: list[int] = []
        for i, ch in enumerate(text):
            if ch == opening:
                stack.append(i)
            elif ch == closing and stack:
                pairs.append((stack.pop(), i))
    roles = _quote_roles(text, '"')
    _, bad_out = _pair_quotes(len(text), roles, False)
    _, bad_in = _pair_quotes(len(text), roles, True)
    _pair_quotes(len(text), roles, bad_in < bad_out, pairs)
    return sorted(pairs, key=lambda p: p[1])


def bracket_mask(text: str, pair: str = "()") -> np.ndarray:
    """1 from an opening bracket to its closing one (nested, across lines), 0 elsewhere.

    A closing bracket with none open means the text started inside brackets:
    the depth at the start is the number of such unmatched closings, so the
    characters before them count as inside.
    """
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ValueError(f"brackets must be two different characters, received {pair!r}")
    if not text:
        return np.zeros(0)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    step = (codes == ord(pair[0])).astype(np.int64) - (codes == ord(pair[1]))
    after = np.cumsum(step)  # depth after each character
    after -= min(0, int(after.min()))  # a sample that starts inside
    before = after - step
    return ((after > 0) | (before > 0)).astype(np.float64)  # the closing bracket included


def pattern_signal(text: str, regex: str | None = None, position: str | None = None,
                   seconds: float = 2.0, preset: str | None = None) -> np.ndarray:  # fmt: skip
    """The target signal (T,) float64 of a regex, a preset name or ``position="line"``.

    The regex is at most 200 characters and its matching is stopped after
    ``seconds`` (a ``ValueError``, as is a pattern that does not compile).
    """
    if sum(x is not None for x in (regex, position, preset)) != 1:
        raise ValueError("give one of preset, regex or position")
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {list(PRESETS)}, received {preset[:60]!r}")
        spec = PRESETS[preset]
        if "quotes" in spec:
            return quote_mask(text, spec["quotes"])
        if "brackets" in spec:
            return bracket_mask(text, spec["brackets"])
        regex, position = spec.get("regex"), spec.get("position")
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


def block_shuffles(signal: np.ndarray, count: int = SHUFFLES, blocks: int = BLOCKS,
                   seed: int = 0) -> np.ndarray:  # fmt: skip
    """(T, count) copies of ``signal``, each rolled by a random offset, cut into ``blocks``
    blocks and the blocks put in a random order (never the original one)."""
    T = len(signal)
    rng = np.random.default_rng(seed)
    edges = np.linspace(0, T, min(blocks, T) + 1).round().astype(int)
    out = np.empty((T, count))
    for k in range(count):
        rolled = np.roll(signal, int(rng.integers(max(T, 1))))
        order = rng.permutation(len(edges) - 1)
        if len(order) > 1 and (order == np.arange(len(order))).all():
            order = np.roll(order, 1)
        out[:, k] = np.concatenate([rolled[edges[j] : edges[j + 1]] for j in order])
    return out


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
        if "tanh_c" in record:  # the layer traced it (the layer-normalised LSTM: tanh(LN(c)))
            return record["tanh_c"]
        if "c" not in record:
            raise ValueError("kind 'tanh_c' needs an LSTM (this model has no cell state)")
        return np.tanh(record["c"])
    if kind not in record:
        raise ValueError(f"kind must be one of {['tanh_c', *sorted(record)]}, received {kind!r}")
    return record[kind]


def _standardized(x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Columns of ``x`` (T, N) centred and scaled to unit norm (a constant column: zeros)."""
    x = np.asarray(x, dtype=dtype)
    x = x - x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def search_cells(
    layers: list[dict[str, np.ndarray]], signal: np.ndarray, kinds=("h", "tanh_c"), top: int = 10,
    shuffles: int = SHUFFLES,
) -> dict:
    """The ``top`` cells by ``|r|`` and the chance level of the best ``|r|``.

    ``{"cells": [{"layer", "kind", "unit", "correlation"}], "chance": bar,
    "best": the best |r|}``; ``bar`` is the largest best-``|r|`` over ``shuffles``
    block shuffles of ``signal`` (:func:`block_shuffles`; 0 when ``shuffles`` is 0).
    """
    if np.ptp(signal) == 0:
        raise ValueError(
            "the pattern is the same at every character (matches everywhere or nowhere)"
        )
    names, columns = [], []
    for index in range(len(layers)):
        for kind in kinds:
            if kind == "tanh_c" and "c" not in layers[index]:
                continue
            values = cell_values(layers, index, kind)
            names.extend((index, kind, u) for u in range(values.shape[1]))
            columns.append(values)
    # float32: a 2 x 512 LSTM's 2,048 cells over 4,000 characters are 33 MB, not 66
    z = _standardized(np.concatenate(columns, axis=1, dtype=np.float32), np.float32)  # (T, N)
    targets = np.column_stack([signal, block_shuffles(signal, shuffles)]) if shuffles else (
        signal[:, None])  # fmt: skip
    r = (z.T @ _standardized(targets, np.float32)).astype(np.float64)  # (N, 1 + shuffles)
    order = np.argsort(-np.abs(r[:, 0]), kind="stable")[:top]
    cells = [{"layer": names[n][0], "kind": names[n][1], "unit": names[n][2],
              "correlation": float(r[n, 0])} for n in order]  # fmt: skip
    chance = float(np.abs(r[:, 1:]).max()) if shuffles else 0.0
    return {"cells": cells, "chance": chance, "best": float(abs(r[order[0], 0]))}


def rank_cells(
    layers: list[dict[str, np.ndarray]], signal: np.ndarray, kinds=("h", "tanh_c"), top: int = 10
) -> list[dict]:
    """The ``top`` cells by ``|r|``: ``[{"layer", "kind", "unit", "correlation"}]``."""
    return search_cells(layers, signal, kinds, top, shuffles=0)["cells"]


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
