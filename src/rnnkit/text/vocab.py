"""Word vocabulary: token <-> integer id, with padding and unknown-word ids.

Ids are fixed by convention: ``0`` is the padding token (batches are
right-padded with it and the embedding keeps its row at zero) and ``1`` the
unknown token that every out-of-vocabulary word maps to. Words follow in order
of decreasing frequency, ties broken alphabetically, so building twice from the
same data gives the same ids. A vocabulary is saved as plain JSON
(:meth:`Vocab.to_dict`) inside the model checkpoint.

Unknown words can *back off* to a known word by dropping an English
inflection (:func:`inflection_stems`): ``warmly -> warm``, ``dazzles ->
dazzle``, ``stepping -> step``. Text to classify is full of inflected forms
of training words (a quarter of SST-2's unknown dev tokens are), and a
related word says more than UNK. Prefixes are never stripped
(``unfamiliar`` is not ``familiar``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from .cache import BoundedCache

#: The unknown-word back-off's inflections, tried in this order: (suffix, replacements),
#: "ies" -> "y" (parodies -> parody), "ly" -> "le" or "" (gently -> gentle)...
SUFFIXES = (
    ("iest", ("y",)), ("ier", ("y",)), ("ies", ("y",)), ("ied", ("y",)), ("ily", ("y",)),
    ("ness", ("",)), ("ment", ("",)), ("ings", ("", "e")), ("ing", ("", "e")),
    ("ers", ("", "e")), ("est", ("", "e")), ("er", ("", "e")), ("ed", ("", "e")),
    ("es", ("", "e")), ("ly", ("le", "")), ("ful", ("",)), ("s", ("",)),
)  # fmt: skip

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
#: Unknown words whose back-off result is remembered; the memory is emptied when
#: full, so a long-running predictor fed endless new words stays bounded.
BACKOFF_CACHE_SIZE = 100_000
#: The shortest stem the back-off leaves when it strips a suffix.
STEM_LENGTH = 3


def inflection_stems(word: str) -> list[str]:
    """Candidate base forms of ``word``, most specific suffix first (stems of at least
    :data:`STEM_LENGTH` letters).

    >>> inflection_stems("stepping")
    ['stepp', 'steppe', 'step']
    """
    out = []
    for suffix, replacements in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= STEM_LENGTH:
            stem = word[: -len(suffix)]
            out.extend(stem + r for r in replacements)
            if stem[-1] == stem[-2]:  # doubled consonant: stepping -> step
                out.append(stem[:-1])
    return out


class Vocab:
    """A list of tokens, position = id; ``tokens[0] == PAD``, ``tokens[1] == UNK``."""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {[PAD, UNK]}, received {tokens[:2]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary must not contain duplicate tokens")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self._backoff = BoundedCache[str, int](BACKOFF_CACHE_SIZE)  # unknown word -> id

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Count tokens and keep those seen at least ``min_freq`` times.

        ``max_size`` caps the total size, PAD and UNK included (the most
        frequent words are kept).
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, received {min_freq}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (PAD and UNK), received {max_size}")
        counts = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            words = words[: max_size - 2]
        return cls([PAD, UNK, *words])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def encode(self, tokens: Iterable[str], backoff: bool = False) -> list[int]:
        """Token list -> id list; unknown tokens become ``UNK_ID``.

        With ``backoff`` an unknown token first tries its inflection stems
        (:func:`inflection_stems`) and takes the first one in the vocabulary.
        """
        get = self.index.get
        if not backoff:
            return [get(t, UNK_ID) for t in tokens]
        out = []
        for t in tokens:
            i = get(t)
            out.append(self._back_off(t) if i is None else i)
        return out

    def _back_off(self, token: str) -> int:
        return self._backoff.get(token, self._first_known_stem)

    def _first_known_stem(self, token: str) -> int:
        return next((self.index[s] for s in inflection_stems(token) if s in self.index), UNK_ID)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("vocabulary data must be {'tokens': [str, ...]}")
        return cls(tokens)

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"
