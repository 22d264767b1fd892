"""From labelled strings to what the model eats: label sets, id sequences, padded batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..text.batching import pad_batch, truncate
from ..text.subwords import CharNgrams
from ..text.tokenize import Tokenizer
from ..text.vocab import UNK_ID, Vocab


def sorted_labels(labels: Sequence[str]) -> list[str]:
    """The distinct labels in a stable order: numerically if all are integers, else as text.

    With two classes the second label is the "positive" one the sigmoid scores
    (``"1"`` of ``0/1``, ``"pos"`` of ``neg/pos``).
    """
    distinct = set(labels)
    try:
        return sorted(distinct, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(distinct)


def check_training_labels(labels: Sequence[str]) -> list[str]:
    """The label set of a training set; refuses empty data and a single class."""
    if len(labels) == 0:
        raise ValueError("the training set is empty")
    names = sorted_labels(labels)
    if len(names) < 2:
        raise ValueError(
            f"the training set has a single class ({names[0]!r}); a classifier needs at least two"
        )
    return names


def label_indices(labels: Sequence[str], names: Sequence[str], what: str = "data") -> np.ndarray:
    """Label strings -> class indices (int64); an unseen label is an error."""
    index = {name: i for i, name in enumerate(names)}
    out = np.empty(len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        if label not in index:
            raise ValueError(
                f"{what}: label {label!r} (example {i + 1}) is not among the model's labels "
                f"{_shown(names)}"
            )
        out[i] = index[label]
    return out


def _shown(names: Sequence[str], limit: int = 10) -> str:
    """A list of labels for an error line: all of a few, the first ``limit`` of many."""
    names = list(names)
    if len(names) <= limit:
        return str(names)
    return f"{str(names[:limit])[:-1]}, ... ({len(names):,} in all)]"


def encode_texts(
    texts: Sequence[str],
    tokenizer: Tokenizer,
    vocab: Vocab,
    max_length: int | None = None,
    keep: str = "head",
    backoff: bool = False,
    subwords: CharNgrams | None = None,
) -> list[list[int]] | list[np.ndarray]:
    """Tokenise, map to ids (unknown words backing off to known stems if asked) and
    truncate; a text without tokens becomes ``[UNK_ID]``.

    With ``subwords`` each text becomes an int32 array ``(L, 1 + G)``: per token its
    word id, then the ids of its known character n-grams, padded with 0 (the
    model's ``ids (B, T, 1 + G)`` input, see :mod:`rnnkit.sentiment.model`).
    """
    out = []
    for text in texts:
        tokens = truncate(tokenizer(text), max_length, keep)
        ids = vocab.encode(tokens, backoff)
        if not ids:
            tokens, ids = [""], [UNK_ID]
        if subwords is None:
            out.append(ids)
            continue
        grams = [subwords.encode(t) for t in tokens]
        rows = np.zeros((len(ids), 1 + max(map(len, grams))), dtype=np.int32)  # (L, 1 + G)
        rows[:, 0] = ids
        for row, g in zip(rows, grams, strict=True):
            row[1 : 1 + len(g)] = g
        out.append(rows)
    return out


def batch_arrays(
    sequences: Sequence[Sequence[int]] | Sequence[np.ndarray], index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``ids (B, T)`` (or ``(B, T, 1 + G)`` for n-gram rows) and ``lengths (B,)`` for the
    examples ``index`` of ``sequences``."""
    return pad_batch([sequences[i] for i in index])
