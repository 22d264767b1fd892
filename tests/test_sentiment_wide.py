"""The classifier's wide path: NB-weighted word n-grams added to the recurrent logit."""

import json

import numpy as np
import pytest

from rnnkit.gradcheck import gradcheck
from rnnkit.nn import manual_seed
from rnnkit.sentiment import SentimentClassifier
from rnnkit.sentiment.model import ModelConfig, TextClassifier
from rnnkit.training import load_checkpoint

IDS = np.array([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0], [2, 11, 12, 0, 0]])
LENGTHS = np.array([5, 2, 3])
GRAMS = np.array([[1, 4, 6, 0], [2, 3, 0, 0], [0, 0, 0, 0]])  # 0 = padding; text 3 has none


def wide_model(dtype=np.float64, **kw):
    manual_seed(0)
    config = ModelConfig(vocab_size=20, embedding_dim=6, hidden_size=5, num_word_ngrams=7,
                         dropout=0.0, **kw)  # fmt: skip
    model = TextClassifier(config, dtype=dtype)
    rng = np.random.default_rng(1)
    model.wide_ratio.data[1:] = rng.uniform(-2, 2, 7)  # distinct, signed ratios
    model.wide.weight.data[1:] = rng.normal(size=(7, 1))
    return model


def test_wide_logit_is_the_recurrent_logit_plus_the_weighted_ngram_sum():
    model = wide_model().eval()
    logits = model(IDS, LENGTHS, GRAMS)
    r, w = model.wide_ratio.data, model.wide.weight.data[:, 0]
    by_hand = [sum(r[g] * w[g] for g in row if g) for row in GRAMS]
    model.wide.weight.data[...] = 0.0
    np.testing.assert_allclose(logits[:, 0] - model(IDS, LENGTHS, GRAMS)[:, 0], by_hand,
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    assert by_hand[2] == 0.0


def test_wide_path_gradients_match_finite_differences():
    model = wide_model(word_ngram_dropout=0.0, embedding_dropout=0.0)
    result = gradcheck(model, [IDS, LENGTHS, GRAMS], max_checks=20)
    assert "param:wide.weight" in result.errors
    assert result.max_error < 1e-5, result.errors
    assert not model.wide_ratio.grad.any()  # the ratios are fixed


def test_padding_columns_and_order_do_not_change_the_wide_path():
    model = wide_model().eval()
    wider = np.concatenate([GRAMS, np.zeros((3, 3), np.int64)], axis=1)
    np.testing.assert_array_equal(model(IDS, LENGTHS, GRAMS), model(IDS, LENGTHS, wider))


def test_ngram_dropout_trains_only_and_keeps_the_expected_sum():
    model = wide_model(word_ngram_dropout=0.5, embedding_dropout=0.0)
    grams = np.tile(np.arange(1, 8), (2000, 1))  # many texts with the same 7 n-grams
    expected = float(model.wide_ratio.data @ model.wide.weight.data[:, 0])
    model.eval()
    np.testing.assert_allclose(model._wide_forward(grams, 2000)[:, 0], expected, rtol=1e-12)
    model.train()
    drawn = model._wide_forward(grams, 2000)[:, 0]
    assert np.unique(drawn).size > 10  # each text drops its own n-grams
    assert abs(drawn.mean() - expected) < 0.1 * np.abs(model.wide_ratio.data).sum()


def test_a_wide_model_needs_its_grams_and_two_classes():
    model = wide_model()
    with pytest.raises(ValueError, match="pass grams"):
        model(IDS, LENGTHS)
    with pytest.raises(ValueError, match=r"expected grams \(3, M\)"):
        model(IDS, LENGTHS, GRAMS[:2])
    with pytest.raises(ValueError, match="two classes"):
        ModelConfig(num_classes=3, num_word_ngrams=4).validate()


# -- the application ------------------------------------------------------------------

POS = ["i love this film", "a great movie", "not bad at all", "really good and fun",
       "not boring", "good acting"]  # fmt: skip
NEG = ["i hate this film", "a dull movie", "not good at all", "really bad and boring",
       "not fun", "bad acting"]  # fmt: skip
TEXTS, LABELS = POS + NEG, ["pos"] * 6 + ["neg"] * 6


def wide_classifier(**kw):
    settings = dict(embedding_dim=8, hidden_size=8, bidirectional=False, pooling="last",
                    dropout=0.0, word_ngrams=(1, 2), word_ngram_min_texts=1)  # fmt: skip
    settings.update(kw)
    return SentimentClassifier(**settings)


def fit(clf, run_dir=None, **kw):
    settings = dict(epochs=4, batch_size=4, evals_per_epoch=1, patience=None, lr=0.05,
                    progress=False, plot=False)  # fmt: skip
    settings.update(kw)
    return clf.fit(TEXTS, LABELS, TEXTS, LABELS, out=run_dir, **settings)


def test_fit_learns_the_ratios_of_the_training_texts_and_round_trips(tmp_path):
    clf = wide_classifier()
    fit(clf, tmp_path / "run", epochs=20)
    grams = clf.wordgrams
    assert "not good" in grams.ngrams and grams.n_max == 2
    ratio = dict(zip(grams.ngrams, clf.network.wide_ratio.data[1:], strict=True))
    assert ratio["good"] > 0 and ratio["not good"] < 0 and ratio["bad"] < 0
    assert clf.evaluate(TEXTS, LABELS).accuracy == 1.0
    assert np.abs(clf.network.wide.weight.data).max() > 0  # trained
    p = clf.predict_proba(TEXTS)
    clf.save(tmp_path / "m.npz")
    for source in (tmp_path / "m.npz", tmp_path / "run"):
        loaded = SentimentClassifier.load(source)
        np.testing.assert_array_equal(loaded.predict_proba(TEXTS), p)
        assert loaded.wordgrams.ngrams == grams.ngrams
        np.testing.assert_array_equal(loaded.wordgrams.ratios, grams.ratios)
        assert loaded.text.word_ngrams == (1, 2)


def test_a_long_text_reads_every_ngram_past_the_recurrent_cut():
    clf = wide_classifier(max_length=2, truncate="head")
    fit(clf, epochs=1)
    ids = clf._encode_wide(["i hate this film"])[0]
    assert {clf.wordgrams.ngrams[i - 1] for i in ids} >= {"film", "this film"}
    assert len(clf._encode(["i hate this film"])[0]) == 2


def test_resume_with_the_wide_path_continues_exactly(tmp_path):
    fit(wide_classifier(word_ngram_dropout=0.3), tmp_path / "straight")
    fit(wide_classifier(word_ngram_dropout=0.3), tmp_path / "split", epochs=2)
    fit(wide_classifier(), tmp_path / "split", resume=True)
    a = load_checkpoint(tmp_path / "straight" / "latest.npz")
    b = load_checkpoint(tmp_path / "split" / "latest.npz")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 12
    assert "wide.weight" in a["model"] and "wide_ratio" in a["model"]
    resumed = wide_classifier()
    fit(resumed, tmp_path / "split", resume=True, epochs=5)  # the ratios come back too
    np.testing.assert_array_equal(resumed.wordgrams.ratios, a["model"]["wide_ratio"])
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)


def test_trace_removes_a_words_ngrams_with_the_word(tmp_path):
    clf = wide_classifier()
    fit(clf, epochs=10)
    trace = clf.trace("not good")
    without_not = clf.predict_proba(["good"])[0]
    best = clf.labels.index(trace.label)
    full = trace.probabilities[trace.label]
    np.testing.assert_allclose(trace.attribution_probability[0], full - without_not[best],
                               atol=1e-6)  # fmt: skip


def test_refusals_name_the_option(tmp_path):
    three = ["a", "b", "c"] * 4
    with pytest.raises(ValueError, match=r"--word-ngrams\) needs two classes"):
        wide_classifier().fit(TEXTS, three, epochs=1, progress=False)
    clf = wide_classifier()
    fit(clf, tmp_path / "run", epochs=1)
    pytest.importorskip("torch")
    from rnnkit.interop.torch import to_torch

    with pytest.raises(ValueError, match="word n-grams"):
        to_torch(clf)
    with pytest.raises(ValueError, match=r"--word-ngrams\) trains with the NumPy engine"):
        wide_classifier().fit(TEXTS, LABELS, epochs=1, progress=False, engine="torch")


def test_init_from_counts_the_ngrams_of_the_new_data(tmp_path):
    fit(wide_classifier(), tmp_path / "source", epochs=2)
    new_texts = ["superb film", "awful film", "superb acting", "awful acting"]
    clf = SentimentClassifier()
    clf.fit(new_texts, ["1", "0", "1", "0"], new_texts, ["1", "0", "1", "0"],
            init_from=tmp_path / "source", epochs=1, progress=False)  # fmt: skip
    assert "superb" in clf.wordgrams.ngrams and "love" not in clf.wordgrams.ngrams
    assert clf.text.word_ngrams == (1, 2)


def test_the_command_line_trains_a_wide_model(tmp_path, capsys):
    from rnnkit.cli import main

    data = tmp_path / "train.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{x}\t{y}\n" for x, y in zip(TEXTS, LABELS,
                                                                             strict=True)))
    run = tmp_path / "run"
    assert main(["sentiment", "train", "--train", str(data), "--val-fraction", "0",
                 "--epochs", "2", "--hidden-size", "4", "--embedding-dim", "4",
                 "--word-ngrams", "1-2", "--word-ngram-min-texts", "1", "--out", str(run)]) == 0
    config = load_checkpoint(run / "latest.npz")["config"]
    assert config["word_ngrams"]["n_max"] == 2 and "not good" in config["word_ngrams"]["ngrams"]
    assert main(["sentiment", "train", "--train", str(data), "--val-fraction", "0",
                 "--epochs", "1", "--init-from", str(run), "--word-ngrams", "1-1",
                 "--word-ngram-min-texts", "1", "--out", str(tmp_path / "again")]) == 0
    again = load_checkpoint(tmp_path / "again" / "latest.npz")["config"]["word_ngrams"]
    assert again["n_max"] == 1 and "not good" not in again["ngrams"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["sentiment", "train", "--train", str(data), "--word-ngrams", "2-1",
              "--out", str(tmp_path / "bad")])  # fmt: skip
    assert stop.value.code != 0
    err = capsys.readouterr().err
    assert "--word-ngrams" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()
    json.dumps(config["word_ngrams"])  # plain JSON


def test_the_l2_penalty_is_in_the_loss_and_its_gradient():
    from rnnkit.sentiment.task import ClassificationTask

    model = wide_model(word_ngram_dropout=0.0, embedding_dropout=0.0)
    ids = [list(row[:n]) for row, n in zip(IDS, LENGTHS, strict=True)]
    grams = [row[row > 0] for row in GRAMS]
    y = np.array([0, 1, 1])
    w = model.wide.weight.data.copy()
    out = {}
    for l2 in (0.0, 0.3):
        task = ClassificationTask(model, ids, y, ids, y, batch_size=8, train_grams=grams,
                                  valid_grams=grams, wide_l2=l2)  # fmt: skip
        model.zero_grad()
        loss, _ = task.train_step(0, 0)
        out[l2] = (loss, model.wide.weight.grad.copy())
    np.testing.assert_allclose(out[0.3][0] - out[0.0][0], 0.15 * np.vdot(w, w), rtol=1e-10)
    np.testing.assert_allclose(out[0.3][1] - out[0.0][1], 0.3 * w, rtol=1e-10, atol=1e-14)


def test_safetensors_export_keeps_the_wide_path(tmp_path):
    pytest.importorskip("safetensors")
    from rnnkit.interop import export
    from rnnkit.interop.safetensors import load_app

    clf = wide_classifier()
    fit(clf, epochs=3)
    path, *_ = export(clf, "safetensors", tmp_path / "m.safetensors")
    loaded = load_app(path)
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    assert loaded.wordgrams.ngrams == clf.wordgrams.ngrams


def test_init_from_a_run_without_a_wide_path_may_add_one(tmp_path):
    fit(SentimentClassifier(embedding_dim=8, hidden_size=8), tmp_path / "source", epochs=1)
    clf = SentimentClassifier(word_ngrams=(1, 1), word_ngram_min_texts=1, word_ngram_dropout=0.2)
    fit(clf, init_from=tmp_path / "source", epochs=1)
    assert clf.network.config.num_word_ngrams == len(clf.wordgrams) > 0
    assert clf.network.config.word_ngram_dropout == 0.2 and clf.config.hidden_size == 8
    with pytest.raises(ValueError, match="no model or text settings beside it but the wide"):
        fit(SentimentClassifier(hidden_size=4, word_ngrams=(1, 1)), init_from=tmp_path / "source")
