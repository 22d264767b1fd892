"""Character n-grams of words, so that a word never seen in training still means something.

A word is wrapped in boundary marks and cut into its character n-grams
(Bojanowski et al. 2017, "Enriching Word Vectors with Subword Information",
the fastText paper)::

    "funny", n = 3..4  ->  "<funny>"  ->  <fu fun unn nny ny> <fun funn unny nny>

``unfunny``, ``funniest`` or a misspelt ``funnny`` share most of those with
``funny``, so a model that learns a vector per n-gram can place an unknown word
near its relatives instead of at the one UNK vector. (Half of SST-2's dev
sentences contain a word that its training set never has.)

Unlike fastText, which hashes n-grams into a fixed number of buckets, the
n-grams are a plain list built from the training vocabulary: only those found
in at least ``min_words`` different words are kept (an n-gram of a single word
cannot carry anything over to another one), there are no collisions, and the
list is saved as JSON with the model. Id ``0`` is padding; n-gram ids start at 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from .cache import BoundedCache

PAD_ID = 0
#: Words whose n-gram ids are remembered; emptied when full (bounded memory in
#: a long-running predictor).
CACHE_SIZE = 100_000
#: The marks around a word before its n-grams are cut: ``"fun"`` -> ``"<fun>"``.
BOW, EOW = "<", ">"


def check_ngram_range(n_min: int, n_max: int, name: str = "n-gram range") -> tuple[int, int]:
    """``(n_min, n_max)`` as ints if ``1 <= n_min <= n_max``, else a ValueError naming ``name``."""
    n_min, n_max = int(n_min), int(n_max)
    if not 1 <= n_min <= n_max:
        raise ValueError(f"{name} needs 1 <= n_min <= n_max, received {n_min} and {n_max}")
    return n_min, n_max


def char_ngrams(word: str, n_min: int, n_max: int) -> list[str]:
    """The distinct character n-grams (``n_min <= n <= n_max``) of ``<word>``, in order.

    >>> char_ngrams("fun", 3, 4)
    ['<fu', 'fun', 'un>', '<fun', 'fun>']
    """
    return distinct_ngrams(BOW + word + EOW, n_min, n_max, str)


def distinct_ngrams(items: Sequence, n_min: int, n_max: int, join) -> list[str]:
    """The distinct ``join(items[i : i + n])`` for ``n_min <= n <= n_max``, shortest first,
    each in order of first appearance (character n-grams of a word, word n-grams of a text)."""
    out, seen = [], set()
    for n in range(n_min, n_max + 1):
        for i in range(len(items) - n + 1):
            gram = join(items[i : i + n])
            if gram not in seen:
                seen.add(gram)
                out.append(gram)
    return out


class CharNgrams:
    """A fixed list of character n-grams; ``encode(word)`` gives the ids of a word's known ones.

    Args:
        ngrams: the n-grams, id ``i + 1`` for ``ngrams[i]`` (id 0 is padding).
        n_min, n_max: the n-gram lengths cut from a word (boundary marks count).
    """

    def __init__(self, ngrams: Sequence[str], n_min: int = 3, n_max: int = 5):
        self.n_min, self.n_max = check_ngram_range(n_min, n_max)
        self.ngrams = list(ngrams)
        if len(set(self.ngrams)) != len(self.ngrams):
            raise ValueError("the n-gram list has duplicates")
        self._ids = {gram: i + 1 for i, gram in enumerate(self.ngrams)}
        self._cache = BoundedCache[str, list[int]](CACHE_SIZE)  # word -> n-gram ids

    @classmethod
    def build(
        cls,
        words: Iterable[str],
        n_min: int = 3,
        n_max: int = 5,
        min_words: int = 2,
        max_size: int | None = None,
    ) -> CharNgrams:
        """The n-grams found in at least ``min_words`` of the distinct ``words``.

        Most shared first (ties alphabetically), at most ``max_size`` of them;
        the same words always give the same list.
        """
        if min_words < 1:
            raise ValueError(f"min_words must be >= 1, received {min_words}")
        if max_size is not None and max_size < 0:
            raise ValueError(f"max_size must be >= 0 or None, received {max_size}")
        n_min, n_max = check_ngram_range(n_min, n_max)
        counts = Counter(gram for word in set(words) for gram in char_ngrams(word, n_min, n_max))
        frequent = (g for g, c in counts.items() if c >= min_words)
        kept = sorted(frequent, key=lambda g: (-counts[g], g))
        return cls(kept[:max_size] if max_size is not None else kept, n_min, n_max)

    def __len__(self) -> int:
        """Number of n-grams (ids run from 1 to ``len``; 0 is padding)."""
        return len(self.ngrams)

    def encode(self, word: str) -> list[int]:
        """Ids of the known n-grams of ``word`` (possibly none)."""
        return self._cache.get(word, self._known_ngram_ids)

    def _known_ngram_ids(self, word: str) -> list[int]:
        grams = char_ngrams(word, self.n_min, self.n_max)
        return [self._ids[g] for g in grams if g in self._ids]

    def to_dict(self) -> dict:
        return {"n_min": self.n_min, "n_max": self.n_max, "ngrams": list(self.ngrams)}

    @classmethod
    def from_dict(cls, data: dict) -> CharNgrams:
        try:
            ngrams = [str(g) for g in data["ngrams"]]
            return cls(ngrams, int(data["n_min"]), int(data["n_max"]))
        except KeyError as exc:
            raise ValueError(f"invalid n-gram list: missing key {exc.args[0]!r}") from None
        except TypeError as exc:
            raise ValueError(f"invalid n-gram list: {exc}") from None

    def __repr__(self) -> str:
        return f"CharNgrams({len(self)} n-grams, n={self.n_min}..{self.n_max})"
