"""Checkpoints written before the applications' three-part shape (format 1) still load.

``tests/data/textgen_v1.npz`` and ``sentiment_v1.npz`` were written by the
code of that time (``CharLM(embedding_size=4, ...)``, ``SentimentClassifier``
with character n-grams), together with what they produced then:
``legacy_outputs.json`` holds a sample with a fixed seed, an evaluation and
predicted probabilities. Loading them now must give the same outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen import CharLM
from rnnkit.training import CheckpointError, load_checkpoint, save_checkpoint

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = json.loads((DATA / "legacy_outputs.json").read_text(encoding="utf-8"))


def test_textgen_format_1_checkpoint_samples_and_evaluates_as_before():
    lm = CharLM.load(DATA / "textgen_v1.npz")
    assert lm.config.embedding_dim == 4  # saved as embedding_size
    e = EXPECTED["textgen"]
    options = e["sample"]
    text = lm.generate(options["length"], prime=options["prime"],
                       temperature=options["temperature"], seed=options["seed"])  # fmt: skip
    assert text == e["sample_text"]
    result = lm.evaluate(e["eval_text"])
    for key, value in e["eval"].items():
        assert result[key] == pytest.approx(value, rel=1e-6)


def test_sentiment_format_1_checkpoint_predicts_as_before():
    clf = SentimentClassifier.load(DATA / "sentiment_v1.npz")
    e = EXPECTED["sentiment"]
    assert clf.labels == e["labels"] and clf.subwords is not None
    expected = np.array([[np.nan if v is None else v for v in row] for row in e["probabilities"]])
    np.testing.assert_allclose(clf.predict_proba(e["texts"]), expected, rtol=1e-6)


def test_a_newer_application_config_is_refused_in_one_line(tmp_path):
    tree = load_checkpoint(DATA / "sentiment_v1.npz")
    tree["config"]["version"] = 99
    save_checkpoint(tmp_path / "new.npz", tree)
    with pytest.raises(CheckpointError, match="newer") as info:
        SentimentClassifier.load(tmp_path / "new.npz")
    assert "\n" not in str(info.value)
