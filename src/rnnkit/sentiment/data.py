"""From labelled strings to what the model eats: label sets, id sequences, padded batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..text.batching import pad_batch, truncate
from ..text.subwords import CharNgrams, check_ngram_range
from ..text.tokenize import Tokenizer
from ..text.vocab import UNK_ID, Vocab
from ..text.wordgrams import WordNgrams
from ..training.settings import check_bounds, count, option

TRUNCATE_KEEP = ("head", "tail", "both")


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


def encode_word_ngrams(
    texts: Sequence[str], tokenizer: Tokenizer, wordgrams: WordNgrams
) -> list[np.ndarray]:
    """Each text's known word n-grams, as sorted int32 ids (see :mod:`rnnkit.text.wordgrams`).

    The whole text is read (no ``max_length`` cut): the wide path costs one id per
    distinct n-gram, whatever the text's length.
    """
    return [wordgrams.encode(tokenizer(text)) for text in texts]


def hold_out(texts: list[str], labels: list[str], fraction: float, seed: int):
    """Split off a random ``fraction`` of the examples for validation: ``(texts, labels,
    held_texts, held_labels)``, each part in the order given; the draw is a pure function
    of ``seed`` (the split ``sentiment train --val-fraction`` makes, and its benchmarks)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), received {fraction}")
    n = len(texts)
    count = int(round(n * fraction))
    if count == 0 or n - count < 1:
        return texts, labels, [], []
    order = np.random.default_rng([seed, 1]).permutation(n)
    held, kept = np.sort(order[:count]), np.sort(order[count:])
    return (
        [texts[i] for i in kept],
        [labels[i] for i in kept],
        [texts[i] for i in held],
        [labels[i] for i in held],
    )


def batch_arrays(
    sequences: Sequence[Sequence[int]] | Sequence[np.ndarray], index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``ids (B, T)`` (or ``(B, T, 1 + G)`` for n-gram rows) and ``lengths (B,)`` for the
    examples ``index`` of ``sequences``."""
    return pad_batch([sequences[i] for i in index])


def batch_word_ngrams(grams: Sequence[np.ndarray] | None, index: np.ndarray) -> np.ndarray | None:
    """``(B, M)`` int64, the word n-gram ids of the examples ``index`` right-padded with 0
    (``M >= 1``, so a batch of texts without a known n-gram is one column of padding);
    None without word n-grams."""
    if grams is None:
        return None
    rows = [grams[i] for i in index]
    out = np.zeros((len(rows), max(1, max(map(len, rows), default=0))), dtype=np.int64)
    for row, ids in zip(out, rows, strict=True):
        row[: len(ids)] = ids
    return out


def parse_ngram_range(text: str) -> tuple[int, int]:
    """``"3-5"`` -> ``(3, 5)`` (the command line's ``--char-ngrams MIN-MAX``)."""
    try:
        low, high = (int(part) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"expected MIN-MAX such as 3-5, received {text!r}") from None
    if not 1 <= low <= high:
        raise ValueError(f"need 1 <= MIN <= MAX, received {text!r}")
    return low, high


@dataclass(frozen=True)
class TextConfig:
    """How a text becomes ids: tokenizer, vocabulary limits, truncation, n-grams, vectors.

    Saved with the model (prediction needs it); every field but
    ``vectors_encoding`` is a command-line option of ``rnnkit sentiment train``.
    """

    lowercase: bool = option(True, "lower-case", negate="--cased", negate_help="do not lower-case")
    split_punctuation: bool = option(
        True, "split punctuation and clitics", negate="--no-split-punctuation",
        negate_help="split on whitespace only",
    )  # fmt: skip
    strip_html: bool = option(
        True, "remove HTML tags", negate="--keep-html",
        negate_help="do not remove HTML tags such as <br />",
    )  # fmt: skip
    min_freq: int = option(1, "drop words seen fewer times", bounds=count())
    max_vocab: int | None = option(
        30_000, "vocabulary size cap, PAD and UNK included, 0 = none", zero_is_none=True,
        bounds=count(2),
    )
    max_length: int | None = option(400, "tokens kept per text, 0 = all", zero_is_none=True,
                                     bounds=count())  # fmt: skip
    truncate: str = option("both", "part of a long text kept", choices=TRUNCATE_KEEP)
    unknown_backoff: bool = option(
        True, "an unknown word maps to a known word with the same stem first",
        negate="--no-backoff",
        negate_help="unknown words map to UNK directly (default: to a known word with the same "
        "stem first, warmly -> warm)",
    )  # fmt: skip
    vectors: str | None = option(
        None, "pretrained word vectors, GloVe/word2vec text format (default: none)", metavar="FILE"
    )
    freeze_vectors: bool = option(False, "keep the pretrained vectors fixed")
    vectors_encoding: str = option("utf-8", "text encoding of the vectors file", cli=False)
    char_ngrams: tuple[int, int] | None = option(
        None, "also learn a vector per character n-gram of MIN..MAX letters (e.g. 3-5): unseen "
        "words get their pieces' vectors (default: off)", parse=parse_ngram_range,
        metavar="MIN-MAX",
    )  # fmt: skip
    ngram_min_words: int = option(2, "keep n-grams found in at least this many words",
                                 bounds=count())  # fmt: skip
    max_ngrams: int | None = option(100_000, "n-gram count cap, 0 = none", zero_is_none=True,
                                     bounds=count())  # fmt: skip
    word_ngrams: tuple[int, int] | None = option(
        None, "add a wide path to the logit: NB-weighted word n-grams of MIN..MAX words "
        "(e.g. 1-2), trained with the recurrent model (two classes only; default: off)",
        parse=parse_ngram_range, metavar="MIN-MAX",
    )  # fmt: skip
    word_ngram_min_texts: int = option(2, "keep word n-grams found in at least this many "
                                       "training texts", bounds=count())  # fmt: skip
    max_word_ngrams: int | None = option(1_000_000, "word n-gram count cap, 0 = none",
                                         zero_is_none=True, bounds=count())  # fmt: skip

    def validate(self) -> None:
        check_bounds(self)
        if self.truncate not in TRUNCATE_KEEP:
            raise ValueError(f"truncate must be one of {TRUNCATE_KEEP}, received {self.truncate!r}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None, received {self.max_length}")
        if self.char_ngrams is not None:
            check_ngram_range(*self.char_ngrams, name="char_ngrams")
        if self.word_ngrams is not None:
            check_ngram_range(*self.word_ngrams, name="word_ngrams")
        if self.ngram_min_words < 1:
            raise ValueError(f"ngram_min_words must be >= 1, received {self.ngram_min_words}")

    def tokenizer(self) -> Tokenizer:
        return Tokenizer(
            lowercase=self.lowercase,
            split_punctuation=self.split_punctuation,
            strip_html=self.strip_html,
        )
