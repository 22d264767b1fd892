"""NB-weighted word n-grams (rnnkit.text.wordgrams, Wang & Manning 2012): the n-grams, the
log-count ratios against a hand computation, the choice of n-grams, bad input, round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.text.wordgrams import WordNgrams, word_ngrams

TEXTS = [["a", "good", "film"], ["not", "good"], ["a", "bad", "film"], ["not", "bad", "at", "all"]]
LABELS = [1, 0, 0, 1]


def test_word_ngrams_are_distinct_and_in_order():
    assert word_ngrams(["a", "b", "a", "b"], 1, 2) == ["a", "b", "a b", "b a"]
    assert word_ngrams(["a", "b", "c"], 2, 3) == ["a b", "b c", "a b c"]
    assert word_ngrams(["a"], 2, 2) == []


def test_ratios_are_the_smoothed_log_count_ratios():
    grams = WordNgrams.build(TEXTS, LABELS, 1, 2, min_texts=1)
    # each class's counts: class 1 holds texts 0 and 3, class 0 texts 1 and 2
    pairs = list(zip(TEXTS, LABELS, strict=True))
    p = {g: 1 + sum(g in word_ngrams(t, 1, 2) for t, y in pairs if y == 1) for g in grams.ngrams}
    q = {g: 1 + sum(g in word_ngrams(t, 1, 2) for t, y in pairs if y == 0) for g in grams.ngrams}
    P, Q = sum(p.values()), sum(q.values())
    for i, g in enumerate(grams.ngrams, start=1):
        assert grams.ratios[i] == pytest.approx(math.log((p[g] / P) / (q[g] / Q)), rel=1e-12)
    assert grams.ratios[0] == 0.0  # padding
    # "not bad" only in a positive text, "not good" only in a negative one
    assert grams.features(["not", "bad"])["not bad"] > 0 > grams.features(["not", "good"])[
        "not good"]


def test_kept_ngrams_are_the_common_ones_most_common_first():
    grams = WordNgrams.build(TEXTS, LABELS, 1, 2, min_texts=2)
    assert grams.ngrams == ["a", "bad", "film", "good", "not"]  # in two texts each; ties a-z
    assert list(WordNgrams.build(TEXTS, LABELS, 1, 2, min_texts=2, max_size=2).ngrams) == [
        "a", "bad"]
    ids = grams.encode(["not", "good", "film", "unseen"])
    assert ids.dtype == np.int32 and list(ids) == sorted(ids)
    assert [grams.ngrams[i - 1] for i in ids] == ["film", "good", "not"]
    assert grams.encode([]).shape == (0,)


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(ValueError, match="two classes"):
        WordNgrams.build(TEXTS, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="4 texts but 3 labels"):
        WordNgrams.build(TEXTS, [0, 1, 1])
    with pytest.raises(ValueError, match="word n-gram range"):
        WordNgrams.build(TEXTS, LABELS, 3, 2)
    with pytest.raises(ValueError, match="min_texts"):
        WordNgrams.build(TEXTS, LABELS, min_texts=0)
    with pytest.raises(ValueError, match="finite ratios"):
        WordNgrams(["a", "b"], [0.5, float("nan")])
    with pytest.raises(ValueError, match="duplicates"):
        WordNgrams(["a", "a"], [0.5, 0.5])
    with pytest.raises(ValueError, match="missing key 'ratios'"):
        WordNgrams.from_dict({"ngrams": ["a"], "n_min": 1, "n_max": 1})


def test_round_trip():
    grams = WordNgrams.build(TEXTS, LABELS, 1, 3, min_texts=1)
    again = WordNgrams.from_dict(grams.to_dict())
    assert again.ngrams == grams.ngrams and (again.n_min, again.n_max) == (1, 3)
    np.testing.assert_array_equal(again.ratios, grams.ratios)
    assert list(again.encode(TEXTS[3])) == list(grams.encode(TEXTS[3]))
