"""The cells beyond the tutorial's (minGRU, minLSTM, the layer-normalised LSTM) through both
applications: the command line trains a tiny model of each, the run saves, loads, samples /
predicts and resumes exactly, and the gradients through each application's model are right."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen import CharLM

MIN_CELLS = ("min_gru", "min_lstm")
NEW_CELLS = (*MIN_CELLS, "ln_lstm")


def check_cell_weights(cell: str, weights: dict) -> None:
    """What is particular to each cell's saved weights."""
    if cell in MIN_CELLS:
        assert "weight_hh_l0" not in weights  # the gates read x only
    else:  # the normalisations' gains and shifts are saved, and trained
        assert {"weight_ln_ih_l1", "weight_ln_hh_l1", "weight_ln_c_l1", "bias_ln_c_l1"} <= set(
            weights)
        assert not np.all(weights["weight_ln_c_l0"] == 1.0)
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


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_textgen_trains_saves_loads_samples_and_resumes_a_new_cell(cell, tmp_path, capsys):
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
    check_cell_weights(cell, lm.network.rnn.state_dict())
    assert lm.generate(length=15, seed=1) == again.generate(length=15, seed=1)
    assert again.evaluate(HAMLET)["loss"] == pytest.approx(lm.evaluate(HAMLET)["loss"])


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_sentiment_trains_saves_loads_predicts_and_resumes_a_new_cell(cell, tmp_path, capsys):
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
    # padding never changes a prediction (lengths reach the recurrence)
    alone = clf.predict_proba(texts[2:])
    np.testing.assert_allclose(clf.predict_proba(texts)[2:], alone, rtol=1e-6, atol=1e-7)


def test_the_applications_name_the_new_cells_in_their_choices(capsys):
    for app in (["textgen", "train", "x.txt"], ["sentiment", "train", "--train", "x.tsv"]):
        with pytest.raises(SystemExit):  # the spelling is not an alias: ours are offered
            main([*app, "--cell", "mingru", "--out", "nowhere"])
        err = capsys.readouterr().err
        assert all(name in err for name in NEW_CELLS), err


@pytest.mark.parametrize("cell", NEW_CELLS)
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_new_cell_classifier_gradients_match_finite_differences(cell, pooling):
    """Padded batches, both directions, two layers: the gradient reaching h_n (last pooling)
    and the outputs goes through the recurrence's backward (the scan's adjoint, or LN's)."""
    from rnnkit.gradcheck import gradcheck
    from rnnkit.nn import manual_seed
    from rnnkit.sentiment.model import ModelConfig, TextClassifier

    manual_seed(0)
    config = ModelConfig(vocab_size=20, num_classes=3, embedding_dim=6, hidden_size=5, cell=cell,
                         pooling=pooling, bidirectional=True, num_layers=2, dropout=0.3)
    model = TextClassifier(config, dtype=np.float64)
    ids = np.array([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0], [2, 11, 12, 0, 0]])
    result = gradcheck(model, [ids, np.array([5, 2, 3])], max_checks=12)
    assert result.max_error < 1e-5, result.errors


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_new_cell_char_model_gradients_match_finite_differences(cell):
    from rnnkit.gradcheck import gradcheck
    from rnnkit.nn import manual_seed
    from rnnkit.textgen.model import CharRNN, CharRNNConfig

    manual_seed(1)
    config = CharRNNConfig(vocab_size=7, cell=cell, embedding_dim=4, hidden_size=5,
                           num_layers=2, dropout=0.2)
    from rnnkit.nn.module import Module

    class Logits(Module):  # the logits alone (the final state gets no gradient: truncated BPTT)
        def __init__(self):
            super().__init__()
            self.net = CharRNN(config, dtype=np.float64)

        def forward(self, ids):
            return self.net(ids)[0]

        def backward(self, grad):
            self.net.backward(grad)

    ids = np.random.default_rng(0).integers(0, 7, size=(6, 2))
    result = gradcheck(Logits(), [ids], max_checks=12)
    assert result.max_error < 1e-5, result.errors
