"""Character n-grams: cutting, building the shared list, encoding, saving."""

import json

import pytest

from rnnkit.text import subwords
from rnnkit.text.subwords import CharNgrams, char_ngrams


def test_char_ngrams_of_a_word():
    assert char_ngrams("fun", 3, 4) == ["<fu", "fun", "un>", "<fun", "fun>"]
    assert char_ngrams("a", 3, 5) == ["<a>"]  # shorter than n: only what fits
    assert char_ngrams("aaaa", 2, 2) == ["<a", "aa", "a>"]  # distinct, first occurrence order


def test_build_keeps_ngrams_shared_by_enough_words_most_shared_first():
    grams = CharNgrams.build(["funny", "fun", "sun", "funny"], 3, 3, min_words=2)
    # "fun" is in funny and fun; "un>" in fun and sun; "<fu" in funny and fun
    assert grams.ngrams == ["<fu", "fun", "un>"]
    assert len(CharNgrams.build(["funny", "fun", "sun"], 3, 3, min_words=1)) == 8
    assert len(CharNgrams.build(["funny", "fun", "sun"], 3, 3, min_words=2, max_size=1)) == 1
    again = CharNgrams.build(["sun", "fun", "funny"], 3, 3, min_words=2)
    assert again.ngrams == grams.ngrams  # the order of the words does not matter


def test_encode_gives_ids_of_known_ngrams_only():
    grams = CharNgrams(["<fu", "fun", "un>"], 3, 3)
    assert grams.encode("fun") == [1, 2, 3]  # id 0 is padding
    assert grams.encode("funk") == [1, 2]
    assert grams.encode("xyz") == []
    assert grams.encode("fun") == [1, 2, 3]  # cached, same answer


def test_round_trip_through_json():
    grams = CharNgrams.build(["unfunny", "funny", "sunny", "unseen"], 3, 5)
    again = CharNgrams.from_dict(json.loads(json.dumps(grams.to_dict())))
    assert again.ngrams == grams.ngrams and (again.n_min, again.n_max) == (3, 5)
    assert again.encode("bunny") == grams.encode("bunny")


def test_bad_settings():
    with pytest.raises(ValueError, match="n_min <= n_max"):
        CharNgrams([], 4, 3)
    with pytest.raises(ValueError, match="n_min <= n_max"):
        CharNgrams.build(["a"], 0, 3)
    with pytest.raises(ValueError, match="min_words"):
        CharNgrams.build(["a"], 3, 5, min_words=0)
    with pytest.raises(ValueError, match="duplicates"):
        CharNgrams(["abc", "abc"])
    with pytest.raises(ValueError, match="invalid n-gram list"):
        CharNgrams.from_dict({"ngrams": ["abc"]})


def test_the_word_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(subwords, "CACHE_SIZE", 5)
    grams = CharNgrams.build(["funny", "sunny", "bunny"], 3, 3)
    expected = {w: [grams._ids[g] for g in char_ngrams(w, 3, 3) if g in grams._ids]
                for w in (f"unny{i}" for i in range(12))}  # fmt: skip
    for word, ids in expected.items():
        assert grams.encode(word) == ids
        assert len(grams._cache) <= 5
    assert grams.encode("unny0") == expected["unny0"]  # recomputed after the cache was emptied
