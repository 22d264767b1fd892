"""Word vocabulary: token <-> integer id, with padding and unknown-word ids.

Ids are fixed by convention: ``0`` is the padding token (batches are
right-padded with it and the embedding keeps its row at zero) and ``1`` the
unknown token that every out-of-vocabulary word maps to. Words follow in order
of decreasing frequency, ties broken alphabetically, so building twice from the
same data gives the same ids. A vocabulary is saved as plain JSON
(:meth:`Vocab.to_dict`) inside the model checkpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


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

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token list -> id list; unknown tokens become ``UNK_ID``."""
        get = self.index.get
        return [get(t, UNK_ID) for t in tokens]

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
