"""Language-model pretraining of the classifier (``--pretrain``, ``--unlabeled``) and
``--init-from``: the loss's gradient, the two resumable phases, the round trip of
weights from one run to the next, the command line."""

import json
import signal
from dataclasses import replace

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.nn import random as nnrandom
from rnnkit.nn.optim import Adam
from rnnkit.sentiment import SentimentClassifier
from rnnkit.sentiment.classifier import ClassificationTask
from rnnkit.sentiment.model import ModelConfig, TextClassifier
from rnnkit.sentiment.pretrain import BiLanguageModel, LanguageModelTask, lm_sequences
from rnnkit.text.vocab import Vocab
from rnnkit.training import CheckpointError, load_checkpoint

POS = ["i love this film", "what a great movie", "this movie was wonderful", "i really enjoyed it"]
NEG = [
    "worst movie ever",
    "i hate this film",
    "this movie was terrible",
    "what a boring waste of time",
]
TEXTS = POS + NEG
LABELS = ["pos"] * 4 + ["neg"] * 4
UNLABELED = [
    "the film was a movie about love and time",
    "a great waste of a wonderful film",
    "i enjoyed this boring movie about a film",
    "what a movie , what a film , what a time",
]
TINY = dict(embedding_dim=8, hidden_size=12, dropout=0.2, word_dropout=0.1)
FIT = dict(batch_size=3, patience=None, progress=False, plot=False,
           pretrain=True, pretrain_steps=8, eval_every=3)  # fmt: skip


def fit(run_dir, clf=None, **kw):
    clf = clf or SentimentClassifier(**TINY)
    settings = {**FIT, "epochs": 3, "unlabeled": UNLABELED, **kw}
    return clf.fit(TEXTS, LABELS, TEXTS, LABELS, out=run_dir, **settings), clf


# -- the language model's loss -------------------------------------------------------
@pytest.mark.parametrize("bidirectional, cell, grams", [(True, "lstm", False),
                                                        (False, "gru", True)])  # fmt: skip
def test_lm_loss_gradient_matches_finite_differences(bidirectional, cell, grams):
    config = ModelConfig(vocab_size=9, embedding_dim=4, hidden_size=5, cell=cell,
                         bidirectional=bidirectional, dropout=0.0,
                         num_subwords=6 if grams else 0)  # fmt: skip
    nnrandom.manual_seed(3)
    net = TextClassifier(config, dtype=np.float64)
    lm = BiLanguageModel(net, vocab=6)  # ids 7, 8 are predicted as UNK
    rng = np.random.default_rng(0)
    lm.lm_bias.data[...] = rng.normal(size=lm.lm_bias.shape)
    ids = np.array([[2, 5, 8, 3, 7], [4, 1, 6, 0, 0], [3, 2, 0, 0, 0]])
    lengths = np.array([5, 3, 2])
    if grams:
        ngram_ids = rng.integers(0, 7, size=(3, 5, 2))
        ids = np.concatenate([ids[:, :, None], ngram_ids], axis=2)
    lm.zero_grad()
    lm(ids, lengths)
    lm.backward()
    for name, p in lm.named_parameters():
        flat, grad = p.data.reshape(-1), p.grad.reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            if name == "embedding.weight" and i // config.embedding_dim == 0:
                continue  # the padding row gets no gradient
            old = flat[i]
            flat[i] = old + 1e-6
            up = lm(ids, lengths)
            flat[i] = old - 1e-6
            down = lm(ids, lengths)
            flat[i] = old
            numeric = (up - down) / 2e-6
            assert abs(numeric - grad[i]) <= 1e-6 + 1e-5 * abs(numeric), (name, i)


def test_both_directions_predict_and_rare_words_count_as_unk():
    nnrandom.manual_seed(0)
    config = ModelConfig(vocab_size=10, embedding_dim=4, hidden_size=3, dropout=0.0)
    lm = BiLanguageModel(TextClassifier(config), vocab=4)
    assert lm.classes == 4 and lm.lm_bias.shape == (2, 4)
    np.testing.assert_array_equal(lm.targets(np.array([[1, 2, 4, 5, 9]])), [[0, 1, 3, 0, 0]])
    lm(np.array([[2, 3, 4], [5, 6, 0]]), np.array([3, 2]))
    assert lm.count == 2 * (2 + 1)  # each direction: length - 1 words per sequence
    with pytest.raises(ValueError, match="bidirectional layers"):
        BiLanguageModel(TextClassifier(replace(config, num_layers=2)), vocab=4)


def test_the_language_model_loss_falls_on_its_text():
    nnrandom.manual_seed(0)
    text = ["the cat sat on the mat and the dog sat on the log"] * 6
    clf = SentimentClassifier(embedding_dim=16, hidden_size=16, dropout=0.0)
    clf.vocab = Vocab.build([clf.tokenizer(t) for t in text])
    config = replace(clf.config, vocab_size=len(clf.vocab))
    net = TextClassifier(config)
    lm = BiLanguageModel(net, vocab=100)
    pieces = lm_sequences([clf.vocab.encode(clf.tokenizer(t)) for t in text], 64)
    task = LanguageModelTask(lm, pieces, pieces, batch_size=6)
    optimizer = Adam(lm.parameters(), lr=0.02)
    before = task.loss_on(pieces)
    for _ in range(40):
        optimizer.zero_grad()
        task.train_step(0, 0)
        optimizer.step()
    after = task.loss_on(pieces)
    assert before > np.log(lm.classes) - 0.5  # about uniform at the start
    assert after < 0.5 * before


# -- the two phases of one run ----------------------------------------------------------
def test_pretraining_then_fine_tuning_writes_both_phases(tmp_path):
    result, clf = fit(tmp_path / "run")
    run = tmp_path / "run"
    assert result.reason == "epochs" and result.step == 9
    for name in ("pretrained.npz", "pretrain-metrics.jsonl", "latest.npz", "best.npz"):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "pretrain-metrics.jsonl").open()]
    assert max(r["step"] for r in records) == 8
    assert any("val_lm_loss" in r for r in records)
    lm = load_checkpoint(run / "pretrained.npz")
    assert lm["config"]["phase"] == "pretrained"
    latest = load_checkpoint(run / "latest.npz")
    assert "phase" not in latest["config"] and latest["trainer"]["step"] == 9
    # the pretrained vocabulary holds the unlabeled text's words
    assert "about" in clf.vocab
    assert SentimentClassifier.load(run).predict("a great film")[0].label in ("pos", "neg")
    with pytest.raises(CheckpointError, match="language model of a classifier's pretraining"):
        SentimentClassifier.load(run / "pretrained.npz")


def _final(run_dir):
    return load_checkpoint(run_dir / "latest.npz")


def _interrupt_at(monkeypatch, cls, at):
    """Ctrl-C during the ``at``-th training step of ``cls`` (a task class)."""
    original, calls = cls.train_step, {"n": 0}

    def step(self, epoch, index):
        calls["n"] += 1
        if calls["n"] == at:
            signal.raise_signal(signal.SIGINT)
        return original(self, epoch, index)

    monkeypatch.setattr(cls, "train_step", step)
    return lambda: monkeypatch.setattr(cls, "train_step", original)


@pytest.mark.parametrize("phase, task, at", [("pretrain", LanguageModelTask, 5),
                                             ("finetune", ClassificationTask, 4)])  # fmt: skip
def test_an_interruption_in_either_phase_resumes_exactly(tmp_path, monkeypatch, phase, task, at):
    fit(tmp_path / "straight")
    undo = _interrupt_at(monkeypatch, task, at)
    result, _ = fit(tmp_path / "split")
    undo()
    assert result.reason == "interrupted"
    saved = _final(tmp_path / "split")
    assert (saved["config"].get("phase") == "pretrain") == (phase == "pretrain")
    assert (tmp_path / "split" / "pretrained.npz").is_file() == (phase == "finetune")
    # settings come from the run; the unlabeled text must be given again while pretraining
    if phase == "pretrain":
        with pytest.raises(ValueError, match="unlabeled text differs"):
            fit(tmp_path / "split", resume=True, unlabeled=None)
    result, _ = fit(tmp_path / "split", SentimentClassifier(), resume=True, pretrain_steps=99)
    assert result.reason == "epochs"
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "split")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 9
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)
    la = load_checkpoint(tmp_path / "straight" / "pretrained.npz")["model"]
    lb = load_checkpoint(tmp_path / "split" / "pretrained.npz")["model"]
    for name in la:
        np.testing.assert_array_equal(la[name], lb[name], err_msg=name)
    logs = [(tmp_path / r / "pretrain-metrics.jsonl").read_text() for r in ("straight", "split")]
    steps = [[json.loads(x)["step"] for x in log.splitlines()] for log in logs]
    assert steps[0] == steps[1]  # the replayed steps are logged once


@pytest.mark.parametrize("task, at, step", [
    (LanguageModelTask, 5, 3),  # mid-pretraining: back to its checkpoint of step 3
    (ClassificationTask, 1, 8),  # after pretraining, before fine-tuning's first checkpoint
    (ClassificationTask, 5, 3),  # mid-fine-tuning: back to its checkpoint of step 3
])  # fmt: skip
def test_a_crash_in_either_phase_resumes_from_the_last_checkpoint_exactly(
    tmp_path, monkeypatch, task, at, step
):
    fit(tmp_path / "straight")
    original, calls = task.train_step, {"n": 0}

    def crash(self, epoch, index):
        calls["n"] += 1
        if calls["n"] == at:
            raise RuntimeError("killed")
        return original(self, epoch, index)

    monkeypatch.setattr(task, "train_step", crash)
    with pytest.raises(RuntimeError, match="killed"):
        fit(tmp_path / "split")
    monkeypatch.undo()
    saved = _final(tmp_path / "split")
    assert saved["trainer"]["step"] == step
    assert (saved["config"].get("phase") == "pretrain") == (task is LanguageModelTask or at == 1)
    fit(tmp_path / "split", resume=True)
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "split")
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)


def test_force_sets_the_pretraining_files_aside_with_the_run(tmp_path):
    fit(tmp_path / "run")
    SentimentClassifier(**TINY).fit(TEXTS, LABELS, out=tmp_path / "run", force=True, epochs=1,
                                    progress=False, plot=False)  # fmt: skip
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert not names & {"pretrained.npz", "pretrain-metrics.jsonl", "pretrain-best.npz"}


def test_pretraining_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(ValueError, match="add pretrain"):
        fit(tmp_path / "a", pretrain=False)
    with pytest.raises(ValueError, match="bidirectional layers"):
        fit(tmp_path / "b", SentimentClassifier(**TINY, num_layers=2))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# -- init_from --------------------------------------------------------------------------
def test_init_from_copies_embedding_and_recurrent_layers_and_starts_a_new_output(tmp_path):
    fit(tmp_path / "source", SentimentClassifier(**TINY, bidirectional=False))
    src = load_checkpoint(tmp_path / "source" / "best.npz")["model"]
    three = LABELS[:6] + ["meh", "meh"]
    new = SentimentClassifier()
    new.fit(TEXTS, three, out=tmp_path / "new", init_from=tmp_path / "source", steps=1,
            progress=False, plot=False, lr=1e-12, val_fraction=0.0)  # fmt: skip
    start = load_checkpoint(tmp_path / "new" / "latest.npz")
    assert new.network.config.num_classes == 3 and sorted(new.labels) == ["meh", "neg", "pos"]
    assert new.network.config.hidden_size == 12 and not new.network.config.bidirectional
    for name, value in src.items():
        if name.startswith(("embedding", "rnn")):
            np.testing.assert_allclose(start["model"][name], value, atol=1e-8, err_msg=name)
    assert start["model"]["fc.weight"].shape == (3, 12)
    assert start["config"]["data"]["init_from"] == str(tmp_path / "source")
    # the same labels: the output layer is still new, not the source's
    same = SentimentClassifier()
    same.fit(TEXTS, LABELS, out=tmp_path / "same", init_from=tmp_path / "source", steps=1,
             progress=False, plot=False, lr=1e-12, val_fraction=0.0)  # fmt: skip
    got = load_checkpoint(tmp_path / "same" / "latest.npz")["model"]
    assert got["fc.weight"].shape == src["fc.weight"].shape
    assert not np.allclose(got["fc.weight"], src["fc.weight"], atol=1e-3)
    # from the language model a pretraining wrote
    lm_start = SentimentClassifier()
    lm_start.fit(TEXTS, LABELS, out=tmp_path / "from-lm", steps=1, progress=False, plot=False,
                 init_from=tmp_path / "source" / "pretrained.npz", lr=1e-12)  # fmt: skip
    lm = load_checkpoint(tmp_path / "source" / "pretrained.npz")["model"]
    got = load_checkpoint(tmp_path / "from-lm" / "latest.npz")["model"]
    np.testing.assert_allclose(got["embedding.weight"], lm["embedding.weight"], atol=1e-8)
    assert not any(name.startswith("lm_") for name in got)
    with pytest.raises(ValueError, match="give no model or text settings"):
        SentimentClassifier(hidden_size=16).fit(TEXTS, LABELS, out=tmp_path / "x", steps=1,
                                                init_from=tmp_path / "source", progress=False)
    assert not (tmp_path / "x").exists()


# -- the command line ------------------------------------------------------------------
def _data(tmp_path):
    tsv = tmp_path / "toy.tsv"
    rows = "".join(f"{t}\t{y}\n" for t, y in zip(TEXTS, LABELS, strict=True))
    tsv.write_text("sentence\tlabel\n" + rows)
    extra = tmp_path / "unlabeled.txt"
    extra.write_text("\n".join(UNLABELED) + "\n\n")
    return tsv, extra


def test_the_command_line_pretrains_fine_tunes_and_starts_another_run(tmp_path, capsys):
    tsv, extra = _data(tmp_path)
    fast = ["--embedding-dim", "8", "--hidden-size", "12", "--batch-size", "3",
            "--pretrain-steps", "6", "--epochs", "2", "--quiet"]  # fmt: skip
    argv = ["sentiment", "train", "--train", tsv, "--valid", tsv, "--out", tmp_path / "run",
            "--pretrain", "--unlabeled", extra, *fast]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert "4 unlabeled texts" in out
    assert (tmp_path / "run" / "pretrained.npz").is_file()
    assert main(["sentiment", "predict", str(tmp_path / "run"), "a great film"]) == 0
    capsys.readouterr()
    argv = ["sentiment", "train", "--train", tsv, "--out", tmp_path / "tuned", "--init-from",
            tmp_path / "run", "--epochs", "1", "--quiet"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    argv = ["sentiment", "train", "--train", tsv, "--out", tmp_path / "bad", "--init-from",
            tmp_path / "run", "--hidden-size", "4", "--cased"]  # fmt: skip
    assert main([str(a) for a in argv]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("--init-from takes the architecture and vocabulary of its run; "
                            "drop --hidden-size, --lowercase")  # fmt: skip
    argv = ["sentiment", "train", "--train", tsv, "--out", tmp_path / "run", "--resume",
            "--init-from", tmp_path / "run"]  # fmt: skip
    assert main([str(a) for a in argv]) != 0
    assert "drop --init-from" in capsys.readouterr().err
