"""The word-vector model: its config, its vocabulary and its two matrices.

``W_in`` (V, D) holds the vectors a run exports (word2vec's ``syn0``); ``W_out`` (V, D) the
output vectors the noise-contrastive loss scores against (``syn1neg``). Initialised as
word2vec does: ``W_in`` uniform in ``[-0.5/D, 0.5/D)``, ``W_out`` zero.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..nn.module import Module, Parameter
from ..text.tokenize import Tokenizer
from ..training import option
from ..training.settings import Bounds, count


@dataclass(frozen=True)
class EmbedConfig:
    """What a word-vector run learns; saved in every checkpoint. Every field is a keyword of
    :func:`rnnkit.embed.train` and a flag of ``rnnkit embed train``."""

    dim: int = option(100, "vector size", bounds=count(1, 10_000))
    window: int = option(5, "largest distance to a context word (each word draws a reduced "
                         "window in [1, window], as word2vec)", bounds=count(1, 1000))  # fmt: skip
    negative: int = option(5, "noise words per pair", bounds=count(1, 1000))
    min_count: int = option(5, "drop words seen fewer times", bounds=count())
    sample: float = option(1e-3, "subsampling threshold of frequent words, 0 = off",
                           bounds=Bounds(0.0, 1.0))  # fmt: skip
    cbow: bool = option(False, "CBOW (context mean predicts the word) instead of skip-gram")
    max_vocab: int | None = option(None, "keep at most this many words, the most frequent "
                                   "(0 = all)", zero_is_none=True, bounds=count())  # fmt: skip
    lowercase: bool = option(False, "fold words to lower case (words are split on white space)")

    def validate(self) -> None:
        from ..training.settings import check_bounds

        check_bounds(self)

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(lowercase=self.lowercase, split_punctuation=False, strip_html=False)


class WordVocab:
    """Words by decreasing count (ties alphabetical), position = id, with their counts."""

    def __init__(self, words: Sequence[str], counts: Sequence[int]):
        if len(words) != len(counts):
            raise ValueError(f"{len(words)} words but {len(counts)} counts")
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)  # (V,)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("a vocabulary must not contain duplicate words")

    @classmethod
    def build(cls, counter: Counter, min_count: int, max_vocab: int | None) -> WordVocab:
        words = sorted((w for w, c in counter.items() if c >= min_count),
                       key=lambda w: (-counter[w], w))  # fmt: skip
        words = words[:max_vocab] if max_vocab is not None else words
        return cls(words, [counter[w] for w in words])

    def __len__(self) -> int:
        return len(self.words)

    def keep_probabilities(self, sample: float) -> np.ndarray:
        """word2vec.c's chance of keeping each occurrence (V,): ``(sqrt(c/t) + 1) t/c`` with
        ``t = sample * total`` (1 for rare words; all 1 with ``sample = 0``)."""
        if sample == 0:
            return np.ones(len(self), dtype=np.float64)
        threshold = sample * float(self.counts.sum())
        c = self.counts.astype(np.float64)
        return np.minimum(1.0, (np.sqrt(c / threshold) + 1.0) * threshold / c)

    def noise_distribution(self, power: float = 0.75) -> np.ndarray:
        """The cumulative unigram^power distribution (V,), ending at exactly 1."""
        p = self.counts.astype(np.float64) ** power
        cum = np.cumsum(p / p.sum())
        cum[-1] = 1.0
        return cum

    # saved as two arrays (the checkpoint's config may hold arrays): no JSON of a million words
    def to_dict(self) -> dict:
        data = "\n".join(self.words).encode("utf-8")
        return {"words": np.frombuffer(data, dtype=np.uint8).copy(), "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict) -> WordVocab:
        text = np.asarray(data["words"], dtype=np.uint8).tobytes().decode("utf-8")
        words = text.split("\n") if text else []
        return cls(words, np.asarray(data["counts"], dtype=np.int64))


def count_words(lines: Iterable[str], tokenizer: Tokenizer) -> Counter:
    counter: Counter = Counter()
    for line in lines:
        counter.update(tokenizer(line))
    return counter


def encode_lines(lines: Iterable[str], tokenizer: Tokenizer, vocab: WordVocab):
    """``(ids (N,) int32, sentences (N,) int32)``: the known words of the text in order and
    the number of the line each came from (unknown words are dropped, as word2vec does)."""
    ids, lines_of = [], []
    get = vocab.index.get
    for number, line in enumerate(lines):
        row = [i for i in (get(w) for w in tokenizer(line)) if i is not None]
        ids.append(np.array(row, dtype=np.int32))
        lines_of.append(np.full(len(row), number, dtype=np.int32))
    if not ids:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate(ids), np.concatenate(lines_of)


def read_lines(paths: Sequence[str | os.PathLike], encoding: str = "utf-8") -> list[str]:
    """The lines of the text files, in order (a missing or undecodable file: one line)."""
    from ..text.readers import DataError

    lines: list[str] = []
    for path in paths:
        try:
            with open(path, encoding=encoding) as f:
                lines.extend(f)
        except FileNotFoundError:
            raise DataError(f"{path}: no such text file") from None
        except IsADirectoryError:
            raise DataError(f"{path}: is a directory, expected a text file") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not valid {encoding} ({e.reason})") from None
    return lines


class WordVectors(Module):
    """``W_in`` and ``W_out`` (V, D) as :class:`~rnnkit.nn.Parameter` s.

    The SGNS kernel updates them in place (:mod:`.sgns`); their ``grad`` stays zero, so the
    trainer's optimizer step (plain SGD, no weight decay: ``EmbedSettings.validate``
    insists) changes nothing.
    """

    def __init__(self, vocab_size: int, dim: int, seed: int = 0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng([seed, 7])
        self.W_in = Parameter(((rng.random((vocab_size, dim)) - 0.5) / dim).astype(dtype))
        self.W_out = Parameter(np.zeros((vocab_size, dim), dtype=dtype))

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of ``ids`` (...,) -> (..., D)."""
        return self.W_in.data[ids]
