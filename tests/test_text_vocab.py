import pytest

from rnnkit.text import vocab as vocab_module
from rnnkit.text.vocab import PAD, PAD_ID, UNK, UNK_ID, Vocab, inflection_stems

DOCS = [["a", "b", "a", "c"], ["a", "b", "d"], ["e"]]  # a:3 b:2 c,d,e:1


def test_specials_first_then_by_frequency_then_alphabetically():
    v = Vocab.build(DOCS)
    assert v.tokens == [PAD, UNK, "a", "b", "c", "d", "e"]
    assert (PAD_ID, UNK_ID) == (0, 1)


def test_min_freq_drops_rare_words():
    assert Vocab.build(DOCS, min_freq=2).tokens == [PAD, UNK, "a", "b"]


def test_max_size_counts_the_specials():
    v = Vocab.build(DOCS, max_size=3)
    assert v.tokens == [PAD, UNK, "a"]
    assert len(v) == 3


def test_encode_maps_unknown_words_to_unk():
    v = Vocab.build(DOCS, min_freq=2)
    assert v.encode(["a", "zzz", "b"]) == [2, UNK_ID, 3]
    assert v.decode([2, 1, 3]) == ["a", UNK, "b"]


def test_json_round_trip():
    import json

    v = Vocab.build(DOCS)
    again = Vocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert again.tokens == v.tokens and again.encode(["c"]) == v.encode(["c"])


def test_bad_limits_and_bad_data_are_refused():
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(DOCS, min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(DOCS, max_size=1)
    with pytest.raises(ValueError, match="must start with"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError):
        Vocab.from_dict({"tokens": "nope"})


def test_unknown_words_can_back_off_to_a_known_stem():
    v = Vocab([PAD, UNK, "warm", "step", "dazzle", "gentle", "parody", "familiar"])
    words = ["warmly", "stepping", "dazzles", "gently", "parodies", "unfamiliar", "xyz", "warm"]
    assert v.decode(v.encode(words, backoff=True)) == [
        "warm", "step", "dazzle", "gentle", "parody", UNK, UNK, "warm"
    ]  # fmt: skip
    assert v.encode(["warmly"]) == [UNK_ID]  # only when asked
    assert inflection_stems("stepping") == ["stepp", "steppe", "step"]
    assert inflection_stems("bus") == []  # stems shorter than 3 letters are not tried


def test_the_backoff_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(vocab_module, "BACKOFF_CACHE_SIZE", 4)
    v = Vocab([PAD, UNK, "warm", "dazzle"])
    words = ["warmly", "dazzles", "warmer", "dazzled", "warms", "zzz", "qqq", "warmly"]
    ids = v.encode(words, backoff=True)
    assert ids == [2, 3, 2, 3, 2, UNK_ID, UNK_ID, 2]
    assert len(v._backoff) <= 4
