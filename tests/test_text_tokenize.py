import pytest

from rnnkit.text.tokenize import Tokenizer


def test_default_lowercases_splits_punctuation_and_clitics():
    assert Tokenizer()("It's GREAT, isn't it?") == [
        "it",
        "'s",
        "great",
        ",",
        "is",
        "n't",
        "it",
        "?",
    ]


def test_raw_and_pretokenized_text_agree():
    tok = Tokenizer()
    assert tok("I can't believe you're here!") == tok("i ca n't believe you 're here !")


def test_html_tags_and_ptb_brackets():
    tok = Tokenizer()
    assert tok("Great.<br /><br />Really") == ["great", ".", "really"]
    assert tok("-lrb- fun -rrb-") == ["-lrb-", "fun", "-rrb-"]


def test_each_rule_can_be_switched_off():
    assert Tokenizer(lowercase=False)("Hi There") == ["Hi", "There"]
    assert Tokenizer(split_punctuation=False)("good, bad!") == ["good,", "bad!"]
    assert Tokenizer(strip_html=False, split_punctuation=False)("a<br/>b") == ["a<br/>b"]


def test_unicode_words_and_typographic_apostrophe():
    assert Tokenizer()("Clichés aren\u2019t bad") == ["clichés", "are", "n't", "bad"]


def test_settings_round_trip_and_reject_unknown():
    tok = Tokenizer(lowercase=False, strip_html=False)
    assert Tokenizer.from_dict(tok.to_dict()) == tok
    with pytest.raises(ValueError, match="unknown tokenizer settings"):
        Tokenizer.from_dict({"stem": True})
