"""Beam search: the most likely continuations, not a random one.

The ``beam`` best partial texts (by total log-probability) are kept and
extended together, one batched ``T = 1`` forward ``(1, beam)`` per character.
A text ends when it reaches ``length`` characters or, with a ``stop``
sequence, when it ends with that sequence (the stop counts in its length and
its log-probability); ended texts are ranked by the length-normalised score::

    score(y) = log p(y | prime) / len(y) ** alpha

(``alpha = 0``: the total log-probability, which favours short texts; ``1``:
the mean per character). Without ``stop`` every text has ``length``
characters and ``alpha`` changes nothing. Ties are broken by the order of
the candidates (beam, then character id), so the result is deterministic.
With ``beam`` at least ``V ** (length - 1)`` nothing is ever pruned and the
search is exhaustive (the tests check it against enumeration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..nn.functional import log_softmax
from .model import CharRNN
from .sampling import _map_state


@dataclass(frozen=True)
class Hypothesis:
    """One ended text: its ``ids`` (the stop sequence included when ``stopped``), its total
    ``log_prob`` (nats) and its ``score`` (``log_prob / len(ids) ** alpha``)."""

    ids: tuple[int, ...]
    log_prob: float
    score: float
    stopped: bool


def beam_search(
    model: CharRNN,
    prime: Sequence[int] | np.ndarray,
    length: int,
    beam: int,
    *,
    alpha: float = 1.0,
    stop: Sequence[int] | None = None,
    num_results: int = 1,
) -> list[Hypothesis]:
    """The ``num_results`` best texts of at most ``length`` ids after ``prime``, best first."""
    prime = np.asarray(prime, dtype=np.int64)
    if prime.size == 0:
        raise ValueError("beam search needs a prime of at least one character")
    if num_results > beam:
        raise ValueError(f"beam search keeps {beam} beams, so it cannot give {num_results} texts")
    stop = tuple(int(i) for i in stop) if stop is not None else ()
    if length == 0:
        return [Hypothesis((), 0.0, 0.0, False)]
    ended: list[Hypothesis] = []

    def end(ids: tuple[int, ...], log_prob: float, stopped: bool) -> None:
        ended.append(Hypothesis(ids, log_prob, log_prob / len(ids) ** alpha, stopped))

    was_training = model.training
    model.eval()
    try:
        logits, state = model(prime.reshape(-1, 1))  # (P, 1, V)
        last = logits[-1]  # (1, V): one live text, the empty one
        texts: list[tuple[int, ...]] = [()]
        log_probs = np.zeros(1)  # (B,)
        for step in range(int(length)):
            cand = log_probs[:, None] + log_softmax(last.astype(np.float64))  # (B, V)
            if stop:  # the candidates that complete the stop sequence end here
                k = len(stop) - 1
                for b, ids in enumerate(texts):
                    if len(ids) >= k and ids[len(ids) - k :] == stop[:-1]:
                        end(ids + (stop[-1],), float(cand[b, stop[-1]]), True)
                        cand[b, stop[-1]] = -np.inf
            order = np.argsort(-cand, axis=None, kind="stable")[:beam]  # best first, ties: order
            order = order[np.isfinite(cand.ravel()[order])]
            rows, chars = np.divmod(order, cand.shape[1])
            texts = [texts[b] + (int(c),) for b, c in zip(rows, chars, strict=True)]
            log_probs = cand[rows, chars]
            if not texts:
                break
            if step + 1 == length:
                for ids, lp in zip(texts, log_probs, strict=True):
                    end(ids, float(lp), False)
                break
            state = _map_state(state, lambda s, rows=rows: s[:, rows])  # (L, B, H)
            logits, state = model(chars[None, :].astype(np.int64), state)  # (1, B, V)
            last = logits[0]
            ended.sort(key=lambda h: -h.score)  # stable: earlier ended first among ties
            del ended[num_results:]
    finally:
        model.train(was_training)
    ended.sort(key=lambda h: -h.score)
    return ended[:num_results]
