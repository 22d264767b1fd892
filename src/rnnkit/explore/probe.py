"""Probing cells by hand: stepping a network with one unit clamped, LSTMVis's select and
match, and the classifier's cells.

* :func:`run_sequence` steps a recurrent layer over one sequence with the layer's own
  cell functions (``cell.forward`` and the layer's weights, layer by layer, step by
  step) and can hold one hidden unit at a value: after every step of that layer, the
  unit's ``h`` is set to the value before anything reads it (the layer above at the
  same step, the decoder, the next step). With no clamp it computes what the layer's
  forward computes (the tests check it against the network).
* :func:`steer_ids`: sampling like :func:`rnnkit.textgen.sampling.generate_ids` (same
  options, same draws from the same generator), the unit clamped while the prime is
  read and while sampling (Radford et al. 2017 fixed their sentiment unit this way).
* :func:`select_and_match` (Strobelt et al. 2016, LSTMVis): the cells that are on
  (``value >= threshold``) at every character of a selected span, then every other
  span whose on-cells best match that set, ranked by intersection over union.
* :func:`classifier_run`, :func:`summaries`, :func:`label_cells`: a classifier's hidden
  state word by word, each cell's summary of a sentence (the model's own pooling
  applied to that layer), and the cells whose summary correlates with a label over
  labelled sentences, with a chance level from shuffled labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import CLEAR_R, correlations

#: label shuffles for the chance level of the classifier's cell search
LABEL_SHUFFLES = 19
#: span lengths a match may have, as factors of the selection's length
MATCH_LENGTHS = (0.5, 0.75, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class Clamp:
    """Hold unit ``unit`` of layer ``layer``'s ``h`` at ``value`` (a bidirectional layer's
    units are numbered ``direction * H + u``, as its output concatenates them)."""

    layer: int
    unit: int
    value: float


def run_sequence(rnn, X: np.ndarray, init=None, clamp: Clamp | None = None):
    """Step ``rnn`` over one sequence ``X (T, I)``.

    ``init``: a tuple of ``(L*D, H)`` arrays in the order of ``cell.state_names`` (None:
    zeros). Returns ``(outputs, finals)``: ``outputs[l]`` (T, D*H) the output of layer l
    (the reverse direction's entry at t is its state after reading x_T..x_t), ``finals``
    a tuple of ``(L*D, H)`` arrays, the state after the last step (reverse: after x_1).
    """
    cell, H, D = rnn.cell, rnn.hidden_size, rnn.num_directions
    dt = rnn.dtype
    T = X.shape[0]
    finals = tuple(np.zeros((rnn.num_layers * D, H), dtype=dt) for _ in range(cell.state_arity))
    outputs = []
    layer_input = np.asarray(X, dtype=dt)
    for layer in range(rnn.num_layers):
        outs = []
        for d, suffix in enumerate(rnn._suffixes(layer)):
            W_ih, W_hh, b_ih, b_hh = (None if p is None else p.data for p in rnn._weights(suffix))
            Xd = layer_input if d == 0 else layer_input[::-1]
            gx = Xd @ W_ih.T
            if b_ih is not None:
                gx = gx + b_ih
            k = layer * D + d
            state = tuple(
                np.zeros((1, H), dtype=dt) if init is None else np.asarray(s[k], dtype=dt)[None]
                for s in (init or [None] * cell.state_arity)
            )
            Y = np.empty((T, H), dtype=dt)
            hold = clamp is not None and clamp.layer == layer and clamp.unit // H == d
            for t in range(T):
                state, _ = cell.forward(gx[t : t + 1], state, W_hh, b_hh)
                state = tuple(np.array(s, dtype=dt) for s in state)
                if hold:
                    state[0][0, clamp.unit % H] = clamp.value
                Y[t] = state[0][0]
            for final, s in zip(finals, state, strict=True):
                final[k] = s[0]
            outs.append(Y if d == 0 else Y[::-1])
        layer_input = outs[0] if D == 1 else np.concatenate(outs, axis=1)
        outputs.append(layer_input)
    return outputs, finals


# -- steering a character model ---------------------------------------------------------
def steer_ids(lm, prime_ids, length: int, options, rng: np.random.Generator,
              clamp: Clamp | None = None, watch: tuple[int, int] | None = None):  # fmt: skip
    """Yield ``(id, value)`` for ``length`` sampled characters after ``prime_ids``.

    Drawn as :func:`~rnnkit.textgen.sampling.generate_ids` draws them (one
    :func:`~rnnkit.textgen.sampling.draw` per character from
    :func:`~rnnkit.textgen.sampling.next_distribution`), with ``clamp`` held from the
    first character of the prime on. ``value``: unit ``watch = (layer, unit)``'s ``h``
    after reading the sampled character (None without ``watch``).
    """
    from ..textgen.sampling import draw, next_distribution

    network = lm.network
    rnn = network.rnn

    def read(ids, state):
        x = network.embedding(np.asarray(ids, dtype=np.int64)[:, None])[:, 0]  # (T, E)
        outputs, state = run_sequence(rnn, x, state, clamp)
        logits = network.decoder(outputs[-1][-1:])[0]  # (V,)
        value = None if watch is None else float(outputs[watch[0]][-1, watch[1]])
        return logits, state, value

    last, state, _ = read(prime_ids, None)
    for _ in range(int(length)):
        next_id = draw(next_distribution(last, options), rng)
        last, state, value = read([next_id], state)
        yield next_id, value


# -- LSTMVis: select and match ----------------------------------------------------------
def select_and_match(values: np.ndarray, start: int, end: int, threshold: float,
                     top: int = 10) -> dict:  # fmt: skip
    """The cells on over ``[start, end)`` and the spans whose on-cells match them best.

    ``values`` (T, N): N cells over T characters. A cell is on at t when
    ``values[t] >= threshold``; the selection is the set S of cells on at every
    character of the span. A candidate span ``[a, a + l)`` (l one of
    :data:`MATCH_LENGTHS` times the span's length) has its own set C of cells on at
    every character; its score is ``|S & C| / |S | C|`` (1: exactly the same cells,
    none missing and none extra). Spans are taken best first, ties to the length
    nearer the selection's and then to the earlier; a span that overlaps the
    selection or a span already taken is skipped; ``top`` at most.

    Returns ``{"selected": [cell indices], "matches": [{"start", "end", "score",
    "shared", "missing", "extra"}]}``.
    """
    T, N = values.shape
    if not 0 <= start < end <= T:
        raise ValueError(f"the span must lie in 0..{T}, received [{start}, {end})")
    on = values >= threshold
    selected = on[start:end].all(axis=0)  # (N,)
    S = int(selected.sum())
    if S == 0:
        return {"selected": [], "matches": []}
    run = np.zeros((T + 1, N), dtype=np.int32)  # run[t, n]: steps cell n stays on from t
    for t in range(T - 1, -1, -1):
        run[t] = (run[t + 1] + 1) * on[t]
    span = end - start
    lengths = sorted({max(1, round(span * f)) for f in MATCH_LENGTHS if round(span * f) <= T})
    candidates = []  # (-score, |l - span|, a, l, shared, extra)
    for length in lengths:
        span_on = run[: T - length + 1] >= length  # (A, N)
        shared = (span_on & selected).sum(axis=1)
        count = span_on.sum(axis=1)
        score = shared / (S + count - shared)
        for a in np.flatnonzero(shared > 0):
            candidates.append((-float(score[a]), abs(length - span), int(a), length,
                               int(shared[a]), int(count[a] - shared[a])))  # fmt: skip
    candidates.sort()
    taken = np.zeros(T, dtype=bool)
    taken[start:end] = True
    matches = []
    for neg, _, a, length, shared, extra in candidates:
        if taken[a : a + length].any():
            continue
        taken[a : a + length] = True
        matches.append({"start": a, "end": a + length, "score": round(-neg, 4),
                        "shared": shared, "missing": S - shared, "extra": extra})  # fmt: skip
        if len(matches) >= top:
            break
    return {"selected": np.flatnonzero(selected).tolist(), "matches": matches}


# -- the classifier's cells -------------------------------------------------------------
def classifier_run(clf, text: str, clamp: Clamp | None = None):
    """One sentence through the classifier, stepped by hand.

    Returns ``(tokens, outputs, finals, probabilities (C,))``: ``outputs[l]`` (T, D*H)
    layer l's hidden state after each word (tokenised and truncated as ``predict``
    does), with ``clamp`` held.
    """
    from ..sentiment.pooling import pool_forward
    from ..sentiment.task import probabilities
    from ..sentiment.trace import _word_vectors
    from ..text.batching import truncate

    clf._require_model()
    tokens = truncate(clf.tokenizer(text), clf.text.max_length, clf.text.truncate)
    if not tokens:
        raise ValueError("the sentence has no words")
    (ids,) = clf._encode([text])
    network = clf.network
    x = _word_vectors(network, np.asarray(ids))[0]  # (T, E)
    outputs, finals = run_sequence(network.rnn, x, None, clamp)
    last = _last(finals[0], len(outputs) - 1, network.rnn.num_directions)
    pooled, _ = pool_forward(outputs[-1][None], np.array([len(x)]), last[None],
                             network.config.pooling)  # fmt: skip
    logits = np.asarray(network.fc(pooled), dtype=np.float64)
    return list(tokens), outputs, finals, probabilities(logits, network.config.num_classes)[0]


def _last(h_n: np.ndarray, layer: int, D: int) -> np.ndarray:
    """Layer ``layer``'s final h, directions concatenated (D*H,)."""
    return np.concatenate(list(h_n[layer * D : (layer + 1) * D]), axis=0)


def summaries(clf, outputs, finals) -> np.ndarray:
    """Each cell's summary of the sentence: the model's pooling applied to every layer's
    output (what the classifier reads of its last layer); (L * D*H,) in layer order."""
    from ..sentiment.pooling import pool_forward

    D = clf.network.rnn.num_directions
    parts = []
    for layer, out in enumerate(outputs):
        last = _last(finals[0], layer, D)
        pooled, _ = pool_forward(out[None], np.array([len(out)]), last[None],
                                 clf.network.config.pooling)  # fmt: skip
        parts.append(pooled[0])
    return np.concatenate(parts).astype(np.float64)


def label_cells(features: np.ndarray, target: np.ndarray, top: int = 10,
                shuffles: int = LABEL_SHUFFLES, seed: int = 0) -> dict:  # fmt: skip
    """Cells ranked by ``|r|`` between their summary ``features (N, cells)`` and
    ``target (N,)`` (1 for the label, 0 for the others: the point-biserial r).

    The chance level: the best ``|r|`` of any cell against the labels shuffled, the
    largest over ``shuffles`` shuffles (a cell above it beats them all: p <= 0.05 with
    19, the search over every cell included). Verdict: "none" (best |r| not above
    chance), "weak" (above, under :data:`CLEAR_R`), "clear".
    """
    if np.ptp(target) == 0:
        raise ValueError("the examples must have the label and at least one other")
    r = correlations(features, target)
    rng = np.random.default_rng(seed)
    chance = 0.0
    for _ in range(shuffles):
        chance = max(chance, float(np.abs(correlations(features, rng.permutation(target))).max()))
    order = np.argsort(-np.abs(r), kind="stable")[:top]
    best = float(abs(r[order[0]]))
    verdict = "none" if best <= chance else ("clear" if best >= CLEAR_R else "weak")
    return {"order": order.tolist(), "r": r, "chance": chance, "best": best, "verdict": verdict}
