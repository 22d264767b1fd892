"""Padding and length-bucketed batching of id sequences.

Recurrent layers cost time in proportion to the longest sequence of a batch,
so batches are built from examples of similar length: shuffle, cut the order
into pools of ``batch_size * pool_batches`` examples, sort each pool by length,
cut it into batches and shuffle the batches. Each example lands in exactly one
batch per epoch and batches stay random from epoch to epoch (the idea of
torchtext's ``BucketIterator``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .vocab import PAD_ID


def truncate(ids: Sequence[int], max_length: int | None, keep: str = "head") -> list[int]:
    """Cut ``ids`` to at most ``max_length`` tokens.

    ``keep="head"`` keeps the beginning, ``"tail"`` the end and ``"both"`` the
    first and last halves (long reviews often open and close with their verdict).
    """
    ids = list(ids)
    if max_length is None or len(ids) <= max_length:
        return ids
    if keep == "head":
        return ids[:max_length]
    if keep == "tail":
        return ids[-max_length:]
    if keep == "both":
        head = (max_length + 1) // 2
        return ids[:head] + ids[len(ids) - (max_length - head) :]
    raise ValueError(f"keep must be 'head', 'tail' or 'both', received {keep!r}")


def pad_batch(
    sequences: Sequence[Sequence[int]] | Sequence[np.ndarray], pad_id: int = PAD_ID
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists into ``ids (B, T)`` int64 and ``lengths (B,)`` int64.

    Sequences may also be arrays ``(L_b, W_b)`` of ids per step (a word and its
    n-grams): they are padded to ``(B, T, max W_b)``. Every sequence must hold
    at least one step (recurrent layers need lengths >= 1).
    """
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if lengths.size == 0:
        raise ValueError("cannot pad an empty batch")
    if lengths.min() < 1:
        raise ValueError(
            "every sequence in a batch needs at least one token, received an empty one"
        )
    width = ()  # the size of a step: () for plain ids
    if isinstance(sequences[0], np.ndarray) and sequences[0].ndim == 2:
        width = (max(s.shape[1] for s in sequences),)
    ids = np.full((len(sequences), int(lengths.max()), *width), pad_id, dtype=np.int64)
    for row, seq in enumerate(sequences):  # ids (B, T) or (B, T, W)
        if width:
            ids[row, : len(seq), : seq.shape[1]] = seq
        else:
            ids[row, : len(seq)] = seq
    return ids, lengths


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
    pool_batches: int = 50,
) -> list[np.ndarray]:
    """Split example indices into batches of similar length.

    Returns a list of index arrays that together hold every index in
    ``range(len(lengths))`` exactly once. With ``shuffle=False`` the batches
    follow the sorted lengths of the whole set (deterministic, for evaluation).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, received {batch_size}")
    lengths = np.asarray(lengths)
    n = len(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    rng = rng if rng is not None else np.random.default_rng()
    order = rng.permutation(n)
    pool = batch_size * max(1, pool_batches)
    batches = []
    for start in range(0, n, pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
