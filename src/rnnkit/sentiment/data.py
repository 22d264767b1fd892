"""From labelled strings to what the model eats: label sets, id sequences, padded batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..text.batching import pad_batch, truncate
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
                f"{what}: label {label!r} (example {i + 1}) is not among the model's labels {list(names)}"
            )
        out[i] = index[label]
    return out


def encode_texts(
    texts: Sequence[str],
    tokenizer: Tokenizer,
    vocab: Vocab,
    max_length: int | None = None,
    keep: str = "head",
    backoff: bool = False,
) -> list[list[int]]:
    """Tokenise, map to ids (unknown words backing off to known stems if asked) and
    truncate; a text without tokens becomes ``[UNK_ID]``."""
    out = []
    for text in texts:
        ids = truncate(vocab.encode(tokenizer(text), backoff), max_length, keep)
        out.append(ids if ids else [UNK_ID])
    return out


def batch_arrays(
    sequences: Sequence[Sequence[int]], index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``ids (B, T)`` and ``lengths (B,)`` for the examples ``index`` of ``sequences``."""
    return pad_batch([sequences[i] for i in index])
