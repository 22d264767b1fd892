"""How surprising each of several texts is to the model: its log-probability per character.

Each text is scored on its own, from the model's start state (zeros) after
the ``start`` id (the default prime, a newline), so a line's score does not
depend on the lines around it::

    log p(x_1..x_n) = sum_t log p(x_t | start, x_1..x_{t-1})
    nats/char = -log p / n,  bits/char = nats/char / ln 2,  perplexity = exp(nats/char)

Texts are scored together: padded to a common length (the model reads left
to right, so the padding after a text changes nothing in it) and read
``chunk_length`` steps at a time with the state carried, so memory stays
bounded however long a line is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..nn.functional import log_softmax
from ..training.settings import option
from .evaluate import CHUNK_LENGTH
from .model import CharRNN


@dataclass(frozen=True)
class ScoreRequest:
    """What one ``rnnkit textgen score`` asks for."""

    file: str = option("-", "text to score, - for standard input", metavar="FILE",
                       positional=True)  # fmt: skip
    whole: bool = option(False, "score the whole text as one (the figures of 'textgen eval') "
                         "instead of each line")  # fmt: skip
    per_char: bool = option(False, "also each character's surprise, -log p in nats")
    json: bool = option(False, "print one JSON object per line")

    def validate(self) -> None:
        if self.whole and self.per_char:
            raise ValueError("--per-char scores lines: drop --whole or --per-char")


@dataclass(frozen=True)
class EvalRequest:
    """What one ``rnnkit textgen eval`` asks for."""

    file: str | None = option(None, "text to evaluate on (default: the run's validation split)",
                              metavar="FILE", positional=True)  # fmt: skip
    json: bool = option(False, "print one JSON object")


#: characters scored in one batch (texts x longest text)
BATCH_CHARS = 1 << 15


def surprises(
    model: CharRNN, texts: Sequence[np.ndarray], start: int, chunk_length: int = CHUNK_LENGTH
) -> list[np.ndarray]:
    """``-log p`` (nats, float64) of every id of every text in ``texts``, each predicted from
    ``start`` and the ids before it in its own text (eval mode, no RNG draws)."""
    out: list[np.ndarray] = [np.zeros(0)] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths together
    was_training = model.training
    model.eval()
    try:
        while order:
            batch = [order.pop(0)]
            while order and len(texts[order[0]]) * (len(batch) + 1) <= BATCH_CHARS:
                batch.append(order.pop(0))
            for i, values in zip(batch, _score_batch(model, [texts[i] for i in batch], start,
                                                     chunk_length), strict=True):  # fmt: skip
                out[i] = values
    finally:
        model.train(was_training)
    return out


def _score_batch(model, texts, start, chunk_length) -> list[np.ndarray]:
    longest = max(len(t) for t in texts)
    targets = np.zeros((longest, len(texts)), dtype=np.int64)  # (T, B), padded with id 0
    for b, ids in enumerate(texts):
        targets[: len(ids), b] = ids
    inputs = np.concatenate([np.full((1, len(texts)), start, dtype=np.int64), targets[:-1]])
    nats = np.zeros(targets.shape)  # (T, B)
    state = None
    for t0 in range(0, longest, chunk_length):
        logits, state = model(inputs[t0 : t0 + chunk_length], state)  # (t, B, V)
        logp = log_softmax(logits.astype(np.float64))
        chunk = targets[t0 : t0 + chunk_length]
        nats[t0 : t0 + chunk_length] = -np.take_along_axis(logp, chunk[..., None], -1)[..., 0]
    return [nats[: len(ids), b] for b, ids in enumerate(texts)]


def summary(nats: np.ndarray) -> dict[str, float]:
    """``loss`` (nats/char), ``bpc``, ``perplexity``, ``chars`` and ``log_prob`` (total, nats)
    of one text's surprises, with :func:`~.evaluate.evaluate_ids`'s keys."""
    total, n = float(nats.sum()), int(nats.size)
    loss = total / n if n else math.nan
    perplexity = math.exp(loss) if loss < 700 else math.inf
    return {"loss": loss, "bpc": loss / math.log(2), "perplexity": perplexity, "chars": n,
            "log_prob": -total}  # fmt: skip
