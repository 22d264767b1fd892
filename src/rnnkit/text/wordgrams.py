"""Word n-grams weighted by the class they lean to: the NB features of Wang & Manning 2012.

A text's features are the distinct word n-grams it contains (``n_min <= n <= n_max``;
with bigrams, ``not good`` is one feature, which a bag of words cannot see). Counted over
the training texts of each of the two classes, with binary presence ``f`` (a text counts
once per n-gram) and smoothing ``alpha`` (Wang & Manning, "Baselines and Bigrams: Simple,
Good Sentiment and Topic Classification", ACL 2012, section 2.1)::

    p = alpha + sum of f over the texts of class 1        (G,)
    q = alpha + sum of f over the texts of class 0        (G,)
    r = log( (p / |p|_1) / (q / |q|_1) )                  (G,)  the log-count ratio

``r_j > 0``: n-gram ``j`` is more frequent, relative to its class's total, in class 1.
NB-weighted logistic regression (NB-LR) or an SVM (NB-SVM) is a linear model on the
scaled features ``r * f``; a classifier can add such a linear term to its logit.

Like :mod:`.subwords`, the n-grams are a plain list built from the training texts (no
hashing, no collisions): those in at least ``min_texts`` texts, the most common first (ties
alphabetically), at most ``max_size``. Id ``0`` is padding (ratio 0); n-gram ids start at 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .subwords import check_ngram_range, distinct_ngrams

PAD_ID = 0
#: The smoothing of the class counts (Wang & Manning use 1).
ALPHA = 1.0


def word_ngrams(tokens: Sequence[str], n_min: int, n_max: int) -> list[str]:
    """The distinct word n-grams of ``tokens`` (``n_min <= n <= n_max``), in order of
    first appearance, each its tokens joined by one space.

    >>> word_ngrams(["not", "good", "not"], 1, 2)
    ['not', 'good', 'not good', 'good not']
    """
    return distinct_ngrams(tokens, n_min, n_max, " ".join)


class WordNgrams:
    """A fixed list of word n-grams with their log-count ratios.

    Args:
        ngrams: the n-grams, id ``i + 1`` for ``ngrams[i]`` (id 0 is padding).
        ratios: their log-count ratios ``r`` (G,).
        n_min, n_max: the n-gram lengths, in words.
    """

    def __init__(self, ngrams: Sequence[str], ratios, n_min: int = 1, n_max: int = 2):
        self.n_min, self.n_max = check_ngram_range(n_min, n_max, "word n-gram range")
        self.ngrams = list(ngrams)
        if len(set(self.ngrams)) != len(self.ngrams):
            raise ValueError("the word n-gram list has duplicates")
        ratios = np.asarray(ratios, dtype=np.float64)
        if ratios.shape != (len(self.ngrams),) or not np.isfinite(ratios).all():
            raise ValueError(f"expected {len(self.ngrams)} finite ratios, received an array "
                             f"of shape {ratios.shape}")  # fmt: skip
        self.ratios = np.concatenate([[0.0], ratios])  # (G + 1,): row 0 is padding
        self._ids = {gram: i + 1 for i, gram in enumerate(self.ngrams)}

    @classmethod
    def build(
        cls,
        texts: Iterable[Sequence[str]],
        labels: Sequence[int],
        n_min: int = 1,
        n_max: int = 2,
        min_texts: int = 2,
        max_size: int | None = None,
        alpha: float = ALPHA,
    ) -> WordNgrams:
        """The n-grams of the tokenised training ``texts`` found in at least ``min_texts``
        of them, with the log-count ratios of the two classes ``labels`` (0 or 1 each)."""
        n_min, n_max = check_ngram_range(n_min, n_max, "word n-gram range")
        if min_texts < 1:
            raise ValueError(f"min_texts must be >= 1, received {min_texts}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0 or None, received {max_size}")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, received {alpha}")
        labels = np.asarray(labels)
        if labels.size and not np.isin(labels, (0, 1)).all():
            raise ValueError("word n-gram ratios need two classes, labelled 0 and 1")
        texts = list(texts)
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        counts = (Counter(), Counter())  # texts of class 0 / class 1 holding each n-gram
        for tokens, label in zip(texts, labels, strict=True):
            counts[int(label)].update(word_ngrams(tokens, n_min, n_max))
        total = counts[0] + counts[1]
        frequent = (g for g, c in total.items() if c >= min_texts)
        kept = sorted(frequent, key=lambda g: (-total[g], g))
        if max_size is not None:
            kept = kept[:max_size]
        p = alpha + np.array([counts[1][g] for g in kept], dtype=np.float64)
        q = alpha + np.array([counts[0][g] for g in kept], dtype=np.float64)
        ratios = np.log(p / p.sum()) - np.log(q / q.sum()) if kept else np.zeros(0)
        return cls(kept, ratios, n_min, n_max)

    def __len__(self) -> int:
        """Number of n-grams (ids run from 1 to ``len``; 0 is padding)."""
        return len(self.ngrams)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """The sorted ids of the known n-grams of ``tokens`` (int32, possibly empty)."""
        ids = [self._ids[g] for g in word_ngrams(tokens, self.n_min, self.n_max)
               if g in self._ids]  # fmt: skip
        return np.array(sorted(ids), dtype=np.int32)

    def features(self, tokens: Sequence[str]) -> dict[str, float]:
        """``{n-gram: ratio}`` of the known n-grams of ``tokens`` (what a text's NB features
        say, readable)."""
        return {self.ngrams[i - 1]: float(self.ratios[i]) for i in self.encode(tokens)}

    def to_dict(self) -> dict:
        return {"n_min": self.n_min, "n_max": self.n_max, "ngrams": list(self.ngrams),
                "ratios": [float(r) for r in self.ratios[1:]]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> WordNgrams:
        try:
            return cls([str(g) for g in data["ngrams"]], data["ratios"], int(data["n_min"]),
                       int(data["n_max"]))  # fmt: skip
        except KeyError as exc:
            raise ValueError(f"invalid word n-gram list: missing key {exc.args[0]!r}") from None
        except TypeError as exc:
            raise ValueError(f"invalid word n-gram list: {exc}") from None

    def __repr__(self) -> str:
        return f"WordNgrams({len(self)} n-grams, n={self.n_min}..{self.n_max})"
