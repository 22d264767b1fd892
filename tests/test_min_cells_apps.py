"""The minimal cells (minGRU, minLSTM) through both applications: the command line trains a tiny
model of each, the run saves, loads, samples / predicts and resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen import CharLM

MIN_CELLS = ("min_gru", "min_lstm")
HAMLET = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
) * 5
TEXTGEN = ["--hidden-size", "12", "--num-layers", "2", "--embedding-dim", "6", "--dropout", "0.1",
           "--seq-length", "16", "--batch-size", "4", "--eval-every", "4", "--log-every", "1",
           "--lr", "0.01", "--sample-length", "0", "--quiet"]  # fmt: skip
ROWS = [("i love this film", "pos"), ("what a great movie", "pos"), ("worst movie ever", "neg"),
        ("i hate this film", "neg"), ("this movie was wonderful", "pos"),
        ("this movie was terrible", "neg")]  # fmt: skip
SENTIMENT = ["--batch-size", "2", "--lr", "0.02", "--hidden-size", "8", "--embedding-dim", "6",
             "--num-layers", "2", "--dropout", "0.1", "--evals-per-epoch", "1", "--patience", "0",
             "--log-every", "1", "--quiet"]  # fmt: skip


def records(run: Path) -> list[dict]:
    keep = ("step", "epoch", "train_loss", "val_loss", "val_accuracy", "lr")
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: r[k] for k in keep if k in r} for r in map(json.loads, lines)]


@pytest.mark.parametrize("cell", MIN_CELLS)
def test_textgen_trains_saves_loads_samples_and_resumes_a_min_cell(cell, tmp_path, capsys):
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(HAMLET)
    args = ["textgen", "train", str(corpus), "--cell", cell, *TEXTGEN]
    assert main([*args, "--steps", "8", "--out", str(tmp_path / "full")]) == 0
    # exact resume: 4 steps, then on to 8 (state carry, optimizer and dropout streams saved)
    assert main([*args, "--steps", "4", "--out", str(tmp_path / "part")]) == 0
    assert main(["textgen", "train", "--out", str(tmp_path / "part"), "--resume", "--steps", "8",
                 "--quiet"]) == 0  # fmt: skip
    assert records(tmp_path / "part") == records(tmp_path / "full")
    capsys.readouterr()
    assert main(["textgen", "sample", str(tmp_path / "full"), "--length", "20", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert main(["textgen", "sample", str(tmp_path / "full"), "--length", "20", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first and len(first.strip("\n")) >= 20
    assert main(["textgen", "sample", str(tmp_path / "full"), "--length", "8", "--beam", "3"]) == 0
    assert main(["textgen", "eval", str(tmp_path / "full")]) == 0
    capsys.readouterr()

    # the checkpoint stores the config: a load gives the same cell, weights and predictions
    lm = CharLM.load(tmp_path / "full", which="latest")
    assert lm.network.config.cell == cell and type(lm.network.rnn.cell).name == cell
    lm.save(tmp_path / "copy.npz")
    again = CharLM.load(tmp_path / "copy.npz")
    for (name, a), (name2, b) in zip(lm.network.state_dict().items(),
                                     again.network.state_dict().items(), strict=True):  # fmt: skip
        assert name == name2 and np.array_equal(a, b)
    assert "weight_hh_l0" not in lm.network.rnn.state_dict()  # the gates read x only
    assert lm.generate(length=15, seed=1) == again.generate(length=15, seed=1)
    assert again.evaluate(HAMLET)["loss"] == pytest.approx(lm.evaluate(HAMLET)["loss"])


@pytest.mark.parametrize("cell", MIN_CELLS)
def test_sentiment_trains_saves_loads_predicts_and_resumes_a_min_cell(cell, tmp_path, capsys):
    data = tmp_path / "toy.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in ROWS))
    args = ["sentiment", "train", "--train", str(data), "--valid", str(data), "--cell", cell,
            "--pooling", "last", *SENTIMENT]  # fmt: skip
    assert main([*args, "--steps", "9", "--out", str(tmp_path / "full")]) == 0
    # stopped at the end of epoch 2 (3 batches an epoch; no extra evaluation), resumed to 9
    assert main([*args, "--steps", "6", "--out", str(tmp_path / "part")]) == 0
    assert main(["sentiment", "train", "--train", str(data), "--valid", str(data), "--steps", "9",
                 "--out", str(tmp_path / "part"), "--resume", "--quiet"]) == 0  # fmt: skip
    assert records(tmp_path / "part") == records(tmp_path / "full")
    capsys.readouterr()
    assert main(["sentiment", "predict", str(tmp_path / "full"), "i love it", "worst film"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[0] in ("pos", "neg")

    clf = SentimentClassifier.load(tmp_path / "full", which="latest")
    assert clf.network.config.cell == cell and clf.network.rnn.bidirectional
    clf.save(tmp_path / "copy.npz")
    again = SentimentClassifier.load(tmp_path / "copy.npz")
    texts = ["i love this film", "a boring waste", "wonderful"]
    np.testing.assert_array_equal(clf.predict_proba(texts), again.predict_proba(texts))
    # padding never changes a prediction (lengths reach the scan)
    alone = clf.predict_proba(texts[2:])
    np.testing.assert_allclose(clf.predict_proba(texts)[2:], alone, rtol=1e-6, atol=1e-7)


def test_the_applications_name_the_min_cells_in_their_choices(capsys):
    with pytest.raises(SystemExit):  # the spelling is not an alias: ours are offered
        main(["textgen", "train", "x.txt", "--cell", "mingru", "--out", "nowhere"])
    err = capsys.readouterr().err
    assert "min_gru" in err and "min_lstm" in err
