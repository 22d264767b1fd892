"""The cell search's patterns and its chance level (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.explore.api import label_names, parse_label_names
from rnnkit.explore.cells import (
    PRESETS,
    block_shuffles,
    bracket_mask,
    closing_pairs,
    pattern_signal,
    quote_mask,
    search_cells,
)  # fmt: skip


def marked(text, mask):
    return "".join(ch if m else "_" for ch, m in zip(text, mask, strict=True))


def test_quotes_span_lines_and_close_at_their_mark():
    text = 'He said "I will go\nto the market," and left. "Fine."'
    assert marked(text, quote_mask(text)) == (
        '________"I will go\nto the market,"___________"Fine."'
    )


def test_a_sample_that_starts_inside_a_quotation():
    text = 'market, I think." He left. "Come back!" she cried.'
    assert marked(text, quote_mask(text)) == (
        'market, I think."__________"Come back!"___________'
    )
    # the line-bound regex of the earlier preset pairs every mark wrongly here
    old = pattern_signal(text, regex='"[^"\\n]*"')
    assert marked(text, old) == '________________" He left. "______________________'


def test_a_quotation_left_open_at_a_paragraph_end_goes_on():
    text = '"One paragraph\n\n"and the next." Done'
    assert marked(text, quote_mask(text)) == '"One paragraph\n\n"and the next."_____'


def test_quotes_in_code_and_curly_quotes():
    code = 'def f():\n    """Doc."""\n    print("hi", "")\n'
    assert marked(code, quote_mask(code)) == (
        '_____________"""Doc."""___________"hi"__""__'
    )
    curly = "she said \u201cyes\nand no\u201d then"
    assert marked(curly, quote_mask(curly)) == "_________\u201cyes\nand no\u201d_____"


def test_single_quotes_skip_apostrophes():
    text = "I don't know 'what' she meant at o'clock 'x'"
    assert marked(text, quote_mask(text, "'")) == "_____________'what'______________________'x'"


def test_brackets_nest_span_lines_and_may_start_open():
    text = "a, b) + f(x\n (y)) [z]"
    assert marked(text, bracket_mask(text, "()")) == "a, b)____(x\n (y))____"
    assert marked(text, bracket_mask(text, "[]")) == "__________________[z]"
    assert bracket_mask("", "()").shape == (0,)


def test_closing_pairs_brackets_and_quotes():
    text = 'x = f(a, [1]) + "s"'
    pairs = [(text[a], text[b], b - a) for a, b in closing_pairs(text)]
    assert pairs == [("[", "]", 2), ("(", ")", 7), ('"', '"', 2)]


def test_every_preset_gives_a_signal_and_bad_requests_are_refused():
    text = 'x = f("a", [1])\n    y = {2}\n'
    for name in PRESETS:
        assert pattern_signal(text, preset=name).shape == (len(text),)
    with pytest.raises(ValueError, match="preset must be one of"):
        pattern_signal(text, preset="nope")
    with pytest.raises(ValueError, match="give one of"):
        pattern_signal(text, regex="x", preset="indentation")


def test_block_shuffles_keep_the_values_and_move_them():
    signal = (np.arange(400) % 37 < 5).astype(float)
    shuffled = block_shuffles(signal, count=7, blocks=20)
    assert shuffled.shape == (400, 7)
    for k in range(7):
        assert sorted(shuffled[:, k]) == sorted(signal)
        assert not np.array_equal(shuffled[:, k], signal)
    np.testing.assert_array_equal(shuffled, block_shuffles(signal, count=7, blocks=20))


def _layers(rng, T, H, planted=None):
    h = rng.standard_normal((T, H)).cumsum(axis=0) / 10  # slow, autocorrelated, as cells are
    h = np.tanh(h)
    if planted is not None:
        h[:, 3] = planted + 0.3 * rng.standard_normal(T)
    return [{"h": h, "c": rng.standard_normal((T, H))}]


def test_the_chance_level_keeps_noise_from_looking_like_a_finding():
    rng = np.random.default_rng(0)
    T = 2000
    mask = np.zeros(T)
    for start in rng.choice(T - 30, 40, replace=False):
        mask[start : start + 20] = 1.0
    found = search_cells(_layers(rng, T, 64), mask, top=5)
    assert found["best"] <= found["chance"]  # slow random cells: nothing above chance
    planted = search_cells(_layers(rng, T, 64, planted=mask), mask, top=5)
    best = planted["cells"][0]
    assert (best["layer"], best["kind"], best["unit"]) == (0, "h", 3)
    assert best["correlation"] > 0.8 > planted["chance"]
    with pytest.raises(ValueError, match="matches everywhere or nowhere"):
        search_cells(_layers(rng, 10, 4), np.zeros(10))


def test_label_names():
    assert label_names(["neg", "pos"]) == (["negative", "positive"], True)
    assert label_names(["0", "1"]) == (["0", "1"], False)
    assert label_names(["0", "1"], {"0": "negative", "1": "positive"}) == (
        ["negative", "positive"], True,
    )  # fmt: skip
    assert label_names(["sports", "news"]) == (["sports", "news"], True)
    assert parse_label_names("0=negative, 1=positive") == {"0": "negative", "1": "positive"}
    with pytest.raises(ValueError, match="LABEL=NAME"):
        parse_label_names("0:negative")


def test_single_quote_elisions_are_not_quotations():
    verse = ("'Tis bargain'd 'twixt us twain,\nbeing alone.\n\n"
             "Next 'speech' here, 'gainst all.\n\nEnd")
    expected = verse.replace("'speech'", "\0").translate({ord(c): "_" for c in set(verse)})
    assert marked(verse, quote_mask(verse, "'")) == expected.replace("\0", "'speech'")
    prose = "'It goes on\n\n'into the next,' she said."
    assert marked(prose, quote_mask(prose, "'")) == "'It goes on\n\n'into the next,'__________"
