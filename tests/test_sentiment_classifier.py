import dataclasses
import json

import numpy as np
import pytest

from rnnkit.sentiment import SentimentClassifier
from rnnkit.training import CheckpointError, RunDirError, load_checkpoint

POS = ["i love this film", "what a great movie", "this movie was wonderful", "i really enjoyed it"]
NEG = [
    "worst movie ever",
    "i hate this film",
    "this movie was terrible",
    "what a boring waste of time",
]
TEXTS = POS + NEG
LABELS = ["pos"] * 4 + ["neg"] * 4


def small(**kw):
    settings = dict(
        cell="lstm",
        embedding_dim=8,
        hidden_size=16,
        bidirectional=False,
        pooling="last",
        dropout=0.0,
    )
    settings.update(kw)
    return SentimentClassifier(**settings)


def fit_toy(clf, **kw):
    settings = dict(
        val_fraction=0.0,
        epochs=200,
        batch_size=8,
        lr=0.02,
        weight_decay=1e-3,
        seed=0,
        progress=False,
    )
    settings.update(kw)
    return clf.fit(TEXTS, LABELS, **settings)


def test_seed_tutorial_toy_set_reaches_full_training_accuracy():
    clf = small()
    fit_toy(clf)
    assert clf.evaluate(TEXTS, LABELS).accuracy == 1.0
    preds = clf.predict(["i love this movie", "a boring film", "a waste of time"])
    assert [p.label for p in preds] == ["pos", "neg", "neg"]
    assert all(0.5 < p.probability <= 1.0 for p in preds)


@pytest.mark.parametrize("cell, pooling", [("lstm", "max"), ("gru", "mean"), ("gru", "last")])
def test_three_string_labels_use_softmax_and_learn(cell, pooling):
    texts = TEXTS + ["it was a film", "a movie about time", "this was a movie"]
    labels = LABELS + ["neutral"] * 3
    clf = small(cell=cell, pooling=pooling, bidirectional=True)
    clf.fit(
        texts,
        labels,
        val_fraction=0.0,
        epochs=150,
        batch_size=11,
        lr=0.02,
        seed=1,
        progress=False,
    )
    assert clf.labels == ["neg", "neutral", "pos"]
    assert clf.evaluate(texts, labels).accuracy == 1.0
    probs = clf.predict_proba(texts)
    assert probs.shape == (11, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    clf = small(pooling="max", bidirectional=True, max_length=3, truncate="both")
    fit_toy(clf, epochs=20)
    clf.save(tmp_path / "model.npz")
    again = SentimentClassifier.load(tmp_path / "model.npz")
    phrases = TEXTS + ["never seen words at all here", ""]
    np.testing.assert_array_equal(again.predict_proba(phrases), clf.predict_proba(phrases))
    assert again.labels == clf.labels and again.vocab.tokens == clf.vocab.tokens
    assert (again.text.max_length, again.text.truncate) == (3, "both")
    tree = load_checkpoint(tmp_path / "model.npz", app="sentiment")
    json.dumps(tree["config"])  # the configuration is plain JSON


def test_run_dir_keeps_best_checkpoint_log_and_plot(tmp_path):
    clf = small()
    result = clf.fit(
        TEXTS,
        LABELS,
        TEXTS[::2],
        LABELS[::2],
        out=tmp_path / "run",
        epochs=4,
        batch_size=4,
        lr=0.05,
        patience=None,
        progress=False,
    )
    run = tmp_path / "run"
    for name in ("best.npz", "latest.npz", "metrics.jsonl"):
        assert (run / name).is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    accs = [r["val_accuracy"] for r in records if "val_accuracy" in r]
    assert len(accs) == 8 and result.best == max(accs)  # 2 steps per epoch, one evaluation each
    assert (run / "loss.png").is_file()
    loaded = SentimentClassifier.load(run)  # a run directory loads its best checkpoint
    assert loaded.evaluate(TEXTS[::2], LABELS[::2]).accuracy == pytest.approx(result.best)
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    with pytest.raises(RunDirError, match="already holds a run"):
        small().fit(TEXTS, LABELS, out=run, epochs=1, progress=False)


def fit_run(run_dir, **kw):
    """A small dropout model trained 4 short epochs in ``run_dir``.

    It is validated on its training set.
    """
    fit = dict(epochs=4, batch_size=3, evals_per_epoch=1, patience=None, progress=False)
    fit.update(kw)
    clf = small(dropout=0.3)
    clf.fit(TEXTS, LABELS, TEXTS, LABELS, out=run_dir, plot=False, **fit)
    return clf


def test_resume_continues_exactly(tmp_path):
    def run(clf, run_dir, **kw):
        settings = dict(epochs=4, batch_size=3, lr_decay=0.8, evals_per_epoch=1, patience=None)
        settings.update(kw)
        clf.fit(
            TEXTS, LABELS, TEXTS, LABELS, out=run_dir, progress=False, plot=False, **settings
        )

    model = dict(dropout=0.3, word_dropout=0.2, pooling="max")
    run(small(**model), tmp_path / "straight")
    run(small(**model), tmp_path / "split", epochs=2)
    # The model and training settings come from the checkpoint, whatever this call says.
    run(small(), tmp_path / "split", resume=True, batch_size=8, lr=0.5, lr_decay=1.0)
    a = load_checkpoint(tmp_path / "straight" / "latest.npz")
    b = load_checkpoint(tmp_path / "split" / "latest.npz")
    assert a["trainer"]["step"] == b["trainer"]["step"] == 12
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)


def test_empty_text_gets_the_documented_result():
    clf = small()
    fit_toy(clf, epochs=5)
    empty, blank, unknown = clf.predict(["", "   ", "zzz qqq"])
    assert (empty.label, empty.probability, empty.probabilities) == (None, None, {})
    assert blank.label is None
    assert unknown.label in ("pos", "neg")  # unknown words still get a prediction
    assert np.isnan(clf.predict_proba([""])).all()


def test_pretrained_vectors_frozen_or_fine_tuned(tmp_path):
    vectors = tmp_path / "vectors.txt"
    rng = np.random.default_rng(0)
    words = ["love", "great", "wonderful", "enjoyed", "worst", "hate", "terrible", "boring", "film"]
    vectors.write_text(
        "".join(f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=5)) + "\n" for w in words)
    )
    frozen = small(vectors=vectors, freeze_vectors=True)
    fit_toy(frozen, epochs=30)
    file_rows = {
        w: np.array(line.split()[1:], dtype=np.float32)
        for w, line in zip(words, vectors.read_text().splitlines(), strict=True)
    }
    table = frozen.network.embedding.weight.data
    assert table.shape[1] == 5 and frozen.vectors_found == len(words)
    for w in words:
        np.testing.assert_array_equal(table[frozen.vocab.index[w]], file_rows[w])
    tuned = small(vectors=vectors, freeze_vectors=False)
    fit_toy(tuned, epochs=30)
    moved = tuned.network.embedding.weight.data[tuned.vocab.index["love"]]
    assert not np.allclose(moved, file_rows["love"])
    assert tuned.evaluate(TEXTS, LABELS).accuracy == 1.0


@pytest.mark.parametrize(
    "texts, labels, message",
    [
        ([], [], "training set is empty"),
        (["good", "fine"], ["pos", "pos"], "single class"),
        (["good"], ["pos", "neg"], "1 texts but 2 labels"),
    ],
)
def test_bad_training_data(texts, labels, message):
    with pytest.raises(ValueError, match=message):
        small().fit(texts, labels, val_fraction=0.0, epochs=1, progress=False)


def test_validation_label_unknown_to_training():
    with pytest.raises(ValueError, match="label 'meh'"):
        small().fit(TEXTS, LABELS, ["so so"], ["meh"], epochs=1, progress=False)


def test_corrupt_or_foreign_checkpoints(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(CheckpointError):
        SentimentClassifier.load(bad)
    with pytest.raises(CheckpointError, match="not found"):
        SentimentClassifier.load(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        SentimentClassifier.load(tmp_path)
    with pytest.raises(RuntimeError, match="not trained"):
        small().predict(["hello"])


def test_seed_example_script(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "07_sentiment_seed.py"
    spec = importlib.util.spec_from_file_location("example_07", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    out = capsys.readouterr().out
    assert "training accuracy: 100% (8 sentences)" in out
    lines = [line.split() for line in out.splitlines()[1:]]
    expected = ["positive"] * 3 + ["negative"] * 4
    assert [words[0] for words in lines] == expected


def test_unknown_inflected_words_back_off_to_their_stem():
    clf = small()
    fit_toy(clf, epochs=30)
    assert "hates" not in clf.vocab and "hate" in clf.vocab
    backed, stem = clf.predict_proba(["i hates this film", "i hate this film"])
    np.testing.assert_array_equal(backed, stem)
    clf.text = dataclasses.replace(clf.text, unknown_backoff=False)
    assert not np.array_equal(clf.predict_proba(["i hates this film"])[0], stem)


def test_char_ngrams_round_trip_resume_and_reach_unseen_words(tmp_path):
    settings = dict(char_ngrams=(3, 4), ngram_min_words=1, pooling="max", word_dropout=0.2)
    clf = small(**settings)
    fit_toy(clf, epochs=20)
    assert clf.network.config.num_subwords == len(clf.subwords) > 0
    # "wonderfully" is unknown and has no stem in the vocabulary, but shares n-grams
    # with "wonderful": its input is not the plain UNK vector.
    assert "wonderfully" not in clf.vocab
    unk, grams = clf._encode(["zzzz", "wonderfully"])
    assert unk.shape == (1, 1) and grams.shape[0] == 1 and (grams[0, 1:] > 0).sum() >= 5
    assert not np.array_equal(*clf.predict_proba(["zzzz", "wonderfully"]))
    clf.save(tmp_path / "model.npz")
    again = SentimentClassifier.load(tmp_path / "model.npz")
    phrases = TEXTS + ["a wonderfully boring film", ""]
    np.testing.assert_array_equal(again.predict_proba(phrases), clf.predict_proba(phrases))
    assert again.subwords.ngrams == clf.subwords.ngrams and again.text.char_ngrams == (3, 4)

    def run(run_dir, **kw):
        fit = dict(epochs=4, batch_size=3, evals_per_epoch=1, patience=None, progress=False)
        fit.update(kw)
        small(**settings).fit(TEXTS, LABELS, TEXTS, LABELS, out=run_dir, plot=False, **fit)

    run(tmp_path / "straight")
    run(tmp_path / "split", epochs=2)
    run(tmp_path / "split", resume=True)
    a = load_checkpoint(tmp_path / "straight" / "latest.npz")
    b = load_checkpoint(tmp_path / "split" / "latest.npz")
    assert "subword_embedding.weight" in a["model"]
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)


def test_char_ngram_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="char_ngrams"):
        small(char_ngrams=(4, 3))
    with pytest.raises(ValueError, match="ngram_min_words"):
        small(char_ngrams=(3, 5), ngram_min_words=0)
    clf = small(char_ngrams=(3, 4), ngram_min_words=1)
    fit_toy(clf, epochs=1)
    clf.save(tmp_path / "model.npz")
    tree = load_checkpoint(tmp_path / "model.npz")
    tree["config"]["subwords"]["ngrams"].pop()  # one n-gram fewer than the table has rows
    from rnnkit.training import save_checkpoint

    save_checkpoint(tmp_path / "bad.npz", tree)
    with pytest.raises(CheckpointError, match="n-grams, the model expects"):
        SentimentClassifier.load(tmp_path / "bad.npz")


def test_weight_averaging_is_what_is_evaluated_saved_and_resumed(tmp_path):
    clf = fit_run(tmp_path / "straight", ema_decay=0.9)
    latest = load_checkpoint(tmp_path / "straight" / "latest.npz")
    best = load_checkpoint(tmp_path / "straight" / "best.npz")
    assert latest["config"]["train"]["ema_decay"] == 0.9
    name = "fc.weight"
    assert not np.array_equal(latest["model"][name], latest["train_model"][name])
    # the classifier ends with the best averaged weights, and predicts as the saved file does
    np.testing.assert_array_equal(clf.network.state_dict()[name], best["model"][name])
    loaded = SentimentClassifier.load(tmp_path / "straight")
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), clf.predict_proba(TEXTS))
    fit_run(tmp_path / "split", ema_decay=0.9, epochs=2)
    fit_run(tmp_path / "split", resume=True)  # ema_decay comes from the run, not this call
    again = load_checkpoint(tmp_path / "split" / "latest.npz")
    for key in ("model", "train_model"):
        for k in latest[key]:
            np.testing.assert_array_equal(again[key][k], latest[key][k], err_msg=f"{key} {k}")
    with pytest.raises(ValueError, match="ema_decay"):
        fit_run(tmp_path / "bad", ema_decay=1.0)
    assert not (tmp_path / "bad").exists()


def test_ensemble_averages_the_members_probabilities(tmp_path):
    from rnnkit.sentiment import Ensemble

    members = []
    for seed in (0, 1):
        clf = small(pooling="max", dropout=0.3)
        fit_toy(clf, epochs=5, seed=seed)
        members.append(clf)
    phrases = TEXTS + ["never seen", ""]
    ensemble = Ensemble(members)
    expected = (members[0].predict_proba(phrases) + members[1].predict_proba(phrases)) / 2
    np.testing.assert_allclose(ensemble.predict_proba(phrases), expected, rtol=1e-12)
    assert not np.allclose(expected[:8], members[0].predict_proba(phrases)[:8])
    assert ensemble.predict("")[0].label is None
    best = [int(np.argmax(row)) for row in expected[:8]]
    assert [p.label for p in ensemble.predict(TEXTS)] == [members[0].labels[i] for i in best]
    report = ensemble.evaluate(TEXTS, LABELS)
    truth = np.array([members[0].labels.index(y) for y in LABELS])
    assert report.accuracy == pytest.approx(float((np.array(best) == truth).mean()))
    for i, clf in enumerate(members):
        clf.save(tmp_path / f"m{i}.npz")
    loaded = Ensemble.load([tmp_path / "m0.npz", tmp_path / "m1.npz"])
    np.testing.assert_array_equal(loaded.predict_proba(phrases), ensemble.predict_proba(phrases))
    other = small()
    other.fit(TEXTS, ["a", "b", "c", "a", "b", "c", "a", "b"], epochs=1, progress=False)
    with pytest.raises(ValueError, match="disagree on the labels"):
        Ensemble([members[0], other])
    with pytest.raises(ValueError, match="at least one"):
        Ensemble([])


def test_distillation_learns_the_teachers_answers_not_the_labels(tmp_path):
    teacher = small(pooling="max")
    fit_toy(teacher)
    assert teacher.evaluate(TEXTS, LABELS).accuracy == 1.0
    # Every training label is wrong; with distill_weight=1 only the teacher counts.
    flipped = ["neg" if y == "pos" else "pos" for y in LABELS]
    student = small(pooling="max", embedding_dim=6)
    student.fit(TEXTS, flipped, TEXTS, LABELS, teacher=teacher, distill_weight=1.0, epochs=200,
                batch_size=8, lr=0.02, patience=None, progress=False)  # fmt: skip
    assert student.evaluate(TEXTS, LABELS).accuracy == 1.0
    # ... and with a small weight the (wrong) labels win.
    swayed = small(pooling="max", embedding_dim=6)
    swayed.fit(TEXTS, flipped, TEXTS, flipped, teacher=teacher, distill_weight=0.2, epochs=200,
               batch_size=8, lr=0.02, patience=None, progress=False)  # fmt: skip
    assert swayed.evaluate(TEXTS, LABELS).accuracy == 0.0


def test_distillation_targets_are_saved_and_resume_needs_no_teacher(tmp_path):
    from rnnkit.sentiment import Ensemble

    members = [small(pooling="max"), small(pooling="mean")]
    for seed, clf in enumerate(members):
        fit_toy(clf, epochs=3, seed=seed)
    teacher = Ensemble(members)

    fit_run(tmp_path / "straight", teacher=teacher, distill_weight=0.3)
    latest = load_checkpoint(tmp_path / "straight" / "latest.npz")
    assert latest["config"]["train"]["distill_weight"] == 0.3
    truth = np.eye(2)[[members[0].labels.index(y) for y in LABELS]]
    expected = 0.7 * truth + 0.3 * teacher.predict_proba(TEXTS)
    np.testing.assert_allclose(latest["task"]["train_targets"], expected, rtol=1e-12)
    fit_run(tmp_path / "split", teacher=teacher, distill_weight=0.3, epochs=2)
    fit_run(tmp_path / "split", resume=True, teacher=small(), distill_weight=0.9)  # both ignored
    again = load_checkpoint(tmp_path / "split" / "latest.npz")
    assert again["trainer"]["step"] == latest["trainer"]["step"]
    for k in latest["model"]:
        np.testing.assert_array_equal(again["model"][k], latest["model"][k], err_msg=k)
    # Without a teacher the targets are class ids and the checkpoint holds none.
    fit_run(tmp_path / "plain", epochs=1)
    assert "train_targets" not in load_checkpoint(tmp_path / "plain" / "latest.npz")["task"]


def test_distillation_with_three_classes_and_bad_teachers(tmp_path):
    three = ["a", "b", "c", "a", "b", "c", "a", "b"]
    teacher = small()
    teacher.fit(TEXTS, three, epochs=3, progress=False)
    student = small()
    student.fit(TEXTS, three, TEXTS, three, teacher=teacher, distill_weight=0.5, epochs=2,
                out=tmp_path / "three", plot=False, progress=False)  # fmt: skip
    targets = load_checkpoint(tmp_path / "three" / "latest.npz")["task"]["train_targets"]
    assert targets.shape == (8, 3)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(targets, 0.5 * np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]]
                               + 0.5 * teacher.predict_proba(TEXTS), rtol=1e-12)  # fmt: skip
    with pytest.raises(ValueError, match=r"teacher's labels \['a', 'b', 'c'\] differ"):
        small().fit(TEXTS, LABELS, teacher=teacher, out=tmp_path / "bad", progress=False)
    for weight in (0.0, 1.5):
        with pytest.raises(ValueError, match="distill_weight must be in"):
            small().fit(TEXTS, three, teacher=teacher, distill_weight=weight,
                        out=tmp_path / "bad", progress=False)  # fmt: skip
    assert not (tmp_path / "bad").exists()
    with pytest.raises(RuntimeError, match="not trained"):
        small().fit(TEXTS, three, teacher=small(), progress=False)


def test_char_ngrams_with_none_frequent_enough_still_train_and_load(tmp_path):
    # Two-word texts, n-grams kept only when found in 3+ words: none is kept, and the
    # encoder's (B, T, 1) ids (words, no n-gram column) must still train and predict.
    clf = SentimentClassifier(embedding_dim=4, hidden_size=4, char_ngrams=(2, 3),
                              ngram_min_words=30)  # fmt: skip
    texts = ["good film", "bad film", "great one", "awful one"] * 3
    clf.fit(texts, ["pos", "neg"] * 6, epochs=2, progress=False, plot=False)
    assert len(clf.subwords) == 0
    clf.save(tmp_path / "m.npz")
    again = SentimentClassifier.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict_proba(texts), clf.predict_proba(texts))
