"""How well the model predicts a text: nats per character, bits per character, perplexity.

The text is laid out as ``num_streams`` contiguous streams (all scored at
once) and read ``chunk_length`` characters at a time with the state carried,
so every character is predicted from everything before it in its stream::

    nats/char  = -(1/N) sum_n log p(x_{n+1} | x_1..x_n)
    bits/char  = nats/char / ln 2
    perplexity = exp(nats/char)
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.losses import CrossEntropyLoss
from ..text.corpus import eval_streams
from .model import CharRNN

#: the evaluation reads its streams this many characters at a time
CHUNK_LENGTH = 256


def evaluation_streams(
    ids: np.ndarray, num_streams: int = 64, chunk_length: int = CHUNK_LENGTH
) -> tuple[np.ndarray, np.ndarray]:
    """The streams :func:`evaluate_ids` scores, ``inputs (L, S)`` and ``targets (L, S)``.

    At most ``num_streams`` streams, fewer for a short text so that each stream
    is at least ``chunk_length`` characters long (a stream's first characters
    are predicted with little context).
    """
    num_streams = max(1, min(num_streams, (len(ids) - 1) // chunk_length))
    return eval_streams(ids, num_streams)


def evaluate_ids(
    model: CharRNN, ids: np.ndarray, *, num_streams: int = 64, chunk_length: int = CHUNK_LENGTH
) -> dict[str, float]:
    """Loss of ``model`` on the id sequence ``ids`` (eval mode, no dropout, no RNG draws),
    over :func:`evaluation_streams` read ``chunk_length`` characters at a time.

    Returns ``{"loss": nats/char, "bpc": bits/char, "perplexity": ..., "chars": N}``.
    """
    inputs, targets = evaluation_streams(ids, num_streams, chunk_length)  # (L, S) each
    loss_fn = CrossEntropyLoss(reduction="sum")
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        for start in range(0, inputs.shape[0], chunk_length):
            x = inputs[start : start + chunk_length]  # (t, S)
            logits, state = model(x, state)  # (t, S, V)
            total += loss_fn(logits, targets[start : start + chunk_length])
            count += x.size
    finally:
        model.train(was_training)
    nats = total / count
    perplexity = math.exp(nats) if nats < 700 else math.inf  # a diverged model: no overflow
    return {"loss": nats, "bpc": nats / math.log(2), "perplexity": perplexity, "chars": count}
