"""Turn a string into a list of word tokens.

The default rules fit English reviews and the Penn-Treebank style of the SST
files: lower-case, drop HTML tags such as IMDB's ``<br />``, split every
punctuation mark into its own token and split the clitics ``'s 're n't ...``
off their word, so that raw text (``"It's great, isn't it?"``) and
pre-tokenised text (``"it 's great , is n't it ?"``) give the same tokens::

    >>> Tokenizer()("It's great, isn't it?")
    ['it', "'s", 'great', ',', 'is', "n't", 'it', '?']

Each rule can be switched off; the settings are saved with a model
(:meth:`Tokenizer.to_dict`) so prediction tokenises exactly as training did.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

#: An HTML tag (``<br />``), replaced by a space when ``strip_html``.
HTML_TAG = re.compile(r"<[^<>]{0,200}>")
#: Characters replaced after lower-casing, before the tokens are matched.
REPLACE = {"\u2019": "'"}  # typographic apostrophe
#: The tokens with ``split_punctuation``. Order matters: "n't" and the clitic before a
#: plain word, a word before punctuation.
WITH_PUNCTUATION = re.compile(
    r"-[lr][rsc]b-"  # Penn-Treebank brackets: -lrb- -rrb- ...
    r"|\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b"  # do|n't, it|'s
    r"|\w+|[^\w\s]"
)
#: The tokens without ``split_punctuation``: whatever lies between spaces.
WORDS_ONLY = re.compile(r"\S+")


@dataclass(frozen=True)
class Tokenizer:
    """Configurable word tokenizer; call it on a string to get a list of tokens.

    Args:
        lowercase: fold to lower case before splitting.
        split_punctuation: every punctuation character becomes its own token and
            English clitics (``'s``, ``n't``, ...) are split off; if False the
            text is split on whitespace only.
        strip_html: replace HTML tags (``<br />``) by a space.
    """

    lowercase: bool = True
    split_punctuation: bool = True
    strip_html: bool = True

    def __call__(self, text: str) -> list[str]:
        if self.strip_html:
            text = HTML_TAG.sub(" ", text)
        if self.lowercase:
            text = text.lower()
        for old, new in REPLACE.items():
            text = text.replace(old, new)
        return self.token_pattern.findall(text)

    @property
    def token_pattern(self) -> re.Pattern:
        """The regular expression whose matches are the tokens."""
        return WITH_PUNCTUATION if self.split_punctuation else WORDS_ONLY

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> Tokenizer:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"unknown tokenizer settings {unknown}; expected some of {sorted(known)}"
            )
        return cls(**config)
