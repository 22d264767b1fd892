"""The SST-2 benchmark's held-out protocol: whole training sentences and every phrase
inside them leave the training file (on a small file written here, not the real data)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture()
def sst2(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("sentiment_sst2", None)
    import sentiment_sst2

    data = tmp_path / "sst2"
    data.mkdir()
    (data / "glue_train.tsv").write_text(
        "sentence\tlabel\n"
        "a gorgeous , witty film ( really ) \t1\n"
        "gorgeous \t1\n"
        "witty film \t1\n"
        "dull and lifeless \t0\n"
        "lifeless \t0\n"
        "and \t1\n"
        "an awful mess \t0\n",
        encoding="utf-8",
    )
    (data / "stsa.binary.train").write_text(
        "1 a gorgeous , witty film -lrb- really -rrb-\n0 dull and lifeless\n", encoding="utf-8"
    )
    monkeypatch.setattr(sentiment_sst2, "DATA", data)
    return sentiment_sst2


@pytest.mark.parametrize("seed", range(4))  # both sentences get held out by some seed
def test_sentence_holdout_drops_the_phrases_of_held_out_sentences(sst2, tmp_path, seed):
    train, valid, info = sst2.sentence_holdout(tmp_path / "split", fraction=0.5, seed=seed)
    held = valid.read_text(encoding="utf-8").split("\n")[1:-1]
    kept = [row.split("\t")[0] for row in train.read_text(encoding="utf-8").split("\n")[1:-1]]
    assert len(held) == 1 and info["held_out_sentences"] == 1
    sentence, label = held[0].split("\t")
    expected = {"1": "a gorgeous , witty film ( really )", "0": "dull and lifeless"}[label]
    assert sentence == expected  # PTB brackets read as GLUE writes them
    tokens = sentence.split()
    n = len(tokens)
    runs = {" ".join(tokens[i:j]) for i in range(n) for j in range(i + 1, n + 1)}
    assert not runs & set(kept)  # nothing of the held-out sentence is left to train on
    assert "an awful mess" in kept  # phrases of no held-out sentence stay
    assert info["train_phrases_kept"] == len(kept)
    assert info["train_phrases_kept"] + info["train_phrases_dropped"] == 7


def test_sentence_copies_repeat_only_the_whole_training_sentences(sst2, tmp_path):
    plain, _, _ = sst2.sentence_holdout(tmp_path / "split", fraction=0.5, seed=0)
    copied, valid, info = sst2.sentence_holdout(
        tmp_path / "split", fraction=0.5, seed=0, sentence_copies=3
    )
    assert copied != plain and valid.is_file()
    base = plain.read_text(encoding="utf-8").split("\n")[1:-1]
    rows = copied.read_text(encoding="utf-8").split("\n")[1:-1]
    whole = {"a gorgeous , witty film ( really )", "dull and lifeless"}
    kept_whole = [r for r in base if r.split("\t")[0] in whole]
    assert len(kept_whole) == 1  # the other sentence is held out
    assert rows == base + kept_whole * 2 and info["sentence_copies_added"] == 2
