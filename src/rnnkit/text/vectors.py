"""Pretrained word vectors in the GloVe / word2vec text format.

One word per line followed by its ``d`` numbers, separated by spaces::

    the 0.418 0.24968 -0.41242 ...

word2vec's text files add a first line ``<count> <d>``, which is recognised
and skipped. Only the words of a given vocabulary are kept, so a multi-GB file
is streamed line by line without holding it in memory (gzip is read
transparently). Words missing from the file keep a small random vector; the
padding row is zero.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from .readers import DataError
from .vocab import PAD_ID, Vocab


def _open_text(path: str, encoding: str):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding=encoding, newline="\n")
    return open(path, encoding=encoding, newline="\n")


def load_vectors(
    path: str | os.PathLike,
    vocab: Vocab,
    encoding: str = "utf-8",
    lowercase: bool = False,
    rng: np.random.Generator | None = None,
    dtype=np.float32,
) -> tuple[np.ndarray, int]:
    """Read vectors for the words of ``vocab``.

    Args:
        path: the vector file (plain or gzip).
        vocab: which words to keep; row ``i`` of the result is ``vocab.tokens[i]``.
        lowercase: fold file words to lower case (for cased vector files and a
            lower-casing tokenizer; the first occurrence of a word wins).
        rng: draws the vectors of words missing from the file, N(0, std of the
            found vectors).

    Returns:
        ``(weights (V, d), found)``: the embedding matrix and how many
        vocabulary words the file had.
    """

    def key_of(word: str) -> int | None:
        return vocab.index.get(word.lower() if lowercase else word)

    rows, dim = _scan_vectors(path, encoding, key_of)
    path = os.fspath(path)
    if dim is None:
        raise DataError(f"{path}: no vectors found")
    rng = rng if rng is not None else np.random.default_rng(0)
    found = np.stack(list(rows.values())) if rows else np.zeros((0, dim))
    std = float(found.std()) if found.size else 0.1
    weights = rng.normal(0.0, std or 0.1, size=(len(vocab), dim))
    for index, vector in rows.items():
        weights[index] = vector
    weights[PAD_ID] = 0.0
    return weights.astype(dtype), len(rows)


def read_all_vectors(
    path: str | os.PathLike, encoding: str = "utf-8", dtype=np.float32
) -> tuple[list[str], np.ndarray]:
    """Every word of a vector file and its vector: ``(words, vectors (N, d))``, in file order
    (a word repeated: its first vector). The same format and checks as :func:`load_vectors`."""
    rows, _ = _scan_vectors(path, encoding, lambda word: word)
    if not rows:
        raise DataError(f"{os.fspath(path)}: no vectors found")
    return list(rows), np.stack(list(rows.values())).astype(dtype)


def _scan_vectors(path, encoding: str, key_of) -> tuple[dict, int | None]:
    """Read a vector file (GloVe text, or word2vec text with its "<count> <dim>" header):
    ``({key: vector (float64)}, dim)`` for the first line of every word whose
    ``key_of(word)`` is not None (only those lines' numbers are parsed); ``dim`` is None
    for a file without vectors. Every problem is a one-line :class:`DataError` naming
    the line."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such vector file")
    rows: dict = {}
    dim = None
    try:
        with _open_text(path, encoding) as f:
            for number, line in enumerate(f, 1):
                parts = line.rstrip("\n").rstrip("\r").rstrip(" ").split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    dim = int(parts[1])  # word2vec header "<count> <dim>"
                    continue
                if not line.strip():
                    continue
                if len(parts) < 2:
                    raise DataError(f"{path}: line {number}: expected '<word> <numbers...>'")
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) - 1 < dim:
                    raise DataError(
                        f"{path}: line {number}: expected {dim} numbers, found {len(parts) - 1}"
                    )
                # A few GloVe files have words with spaces: the last `dim` fields are the numbers.
                word = " ".join(parts[: len(parts) - dim])
                key = key_of(word)
                if key is None or key in rows:
                    continue
                try:
                    rows[key] = np.array(parts[len(parts) - dim :], dtype=np.float64)
                except ValueError:
                    raise DataError(
                        f"{path}: line {number}: not a number in the vector of {word!r}"
                    ) from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: not valid {encoding} ({e.reason}); try encoding='latin-1'"
        ) from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read vectors ({e})") from None
    return rows, dim
