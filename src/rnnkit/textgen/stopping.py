"""Ending generated text at a stop string (``--stop``), one streamed sample or a batch.

A sample ends where the stop string first appears in what it generated (the
prime does not count); the stop string itself is not part of the text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..text.corpus import Text


def cut_at(pieces: Iterator[Text], stop: Text | None) -> Iterator[Text]:
    """``pieces`` up to (not including) the first ``stop``, holding back only the characters
    that may still begin it."""
    if stop is None:
        yield from pieces
        return
    pending = stop[:0]  # a prefix of stop, always
    for piece in pieces:
        pending += piece
        if pending == stop:
            pieces.close()  # type: ignore[attr-defined]
            return
        while pending and not stop.startswith(pending):
            yield pending[:1]
            pending = pending[1:]
    yield from (pending[i : i + 1] for i in range(len(pending)))


def batch_texts(
    steps: Iterator[np.ndarray], decode: Callable[[list[int]], Text], n: int, stop: Text | None
) -> list[Iterator[Text]]:
    """The ``n`` texts of a batch of samples (``steps`` yields ``(n,)`` ids), each cut at
    ``stop``; the batch is run until its end or until every sample has stopped."""
    texts: list[list[Text]] = [[] for _ in range(n)]
    tails = [decode([])] * n  # the last len(stop) characters of each
    done = [False] * n
    for ids in steps:
        for k, next_id in enumerate(ids):
            if done[k]:
                continue
            piece = decode([int(next_id)])
            texts[k].append(piece)
            if stop is not None:
                tails[k] = (tails[k] + piece)[-len(stop) :]
                if tails[k] == stop:
                    done[k] = True
                    del texts[k][len(texts[k]) - len(stop) :]
        if all(done):
            steps.close()  # type: ignore[attr-defined]
            break
    return [iter(t) for t in texts]
