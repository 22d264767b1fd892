"""One set of trainer options for every application (issue: an application is a
declaration): one name and one meaning in both applications, the old names as
deprecated aliases, one default-stop rule, and the trainer built from the options."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from rnnkit import sentiment, textgen
from rnnkit.cli import main
from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen import CharLM
from rnnkit.training import load_checkpoint
from rnnkit.training.options import TrainerOptions, settings_from

APPS = (textgen.TrainSettings, sentiment.TrainSettings)
TEXTS = ["good film", "bad film", "great movie", "awful movie", "fine film", "dull movie"] * 2
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"] * 2
SMALL = {"hidden_size": 4, "embedding_dim": 4}


@pytest.mark.parametrize("settings", APPS)
def test_every_shared_option_is_an_option_of_both_applications_with_one_meaning(settings):
    shared = {f.name: f for f in dataclasses.fields(TrainerOptions)}
    own = {f.name: f for f in dataclasses.fields(settings)}
    assert issubclass(settings, TrainerOptions) and set(shared) <= set(own)
    for name, field in shared.items():  # same help, bounds and choices; the default may differ
        assert own[name].metadata == field.metadata, name


def test_the_trainer_runs_on_the_options_optimizer_schedule_and_cadence():
    s = sentiment.TrainSettings(optimizer="sgd", lr=0.5, lr_decay=0.5, lr_decay_every=None)
    assert [s.lr_at(step, epoch) for step, epoch in ((0, 0), (7, 1), (20, 3))] == [
        0.5, 0.25, 0.0625,
    ]  # fmt: skip
    assert s.cadence(batches_per_epoch=10) == (3, 1)  # 4 evaluations per epoch
    t = textgen.TrainSettings()
    assert t.cadence(batches_per_epoch=10) == (200, 10)
    assert t.lr_at(449) == t.lr and t.lr_at(450) == pytest.approx(t.lr * 0.7)
    clf = SentimentClassifier(**SMALL)
    result = clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, optimizer="sgd", lr=0.5,
                     lr_decay=0.5, val_fraction=0.0, progress=False, plot=False)  # fmt: skip
    assert result.step == 6
    assert type(clf.network).__name__ == "TextClassifier"


def test_a_renamed_option_works_under_its_old_name_with_a_warning(tmp_path, capsys):
    with pytest.warns(FutureWarning, match="valid_fraction is deprecated: it is called "
                      "val_fraction"):  # fmt: skip
        given = settings_from(sentiment.TrainSettings, {"valid_fraction": 0.25})
    assert given.val_fraction == 0.25
    with pytest.raises(TypeError, match="not both"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings_from(sentiment.TrainSettings, {"valid_fraction": 0.2, "val_fraction": 0.2})
    data = tmp_path / "toy.tsv"
    rows = "".join(f"{t}\t{y}\n" for t, y in zip(TEXTS, LABELS, strict=True))
    data.write_text("text\tlabel\n" + rows)
    argv = ["sentiment", "train", "--train", str(data), "--out", str(tmp_path / "run"),
            "--epochs", "1", "--batch-size", "4", "--hidden-size", "4", "--embedding-dim", "4",
            "--quiet", "--valid-fraction", "0.25"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "rnnkit: warning: --valid-fraction is deprecated: use --val-fraction" in err
    saved = load_checkpoint(tmp_path / "run" / "latest.npz")["config"]["train"]
    assert saved["val_fraction"] == 0.25 and "valid_fraction" not in saved


def test_a_checkpoint_with_the_old_name_loads_under_the_new_one():
    old = {"batch_size": 8, "valid_fraction": 0.3, "evals_per_epoch": 2, "weight_decay": 0.0}
    settings = sentiment.TrainSettings.from_dict(old)
    assert (settings.val_fraction, settings.batch_size, settings.evals_per_epoch) == (0.3, 8, 2)


def test_eval_every_and_evals_per_epoch_one_turns_the_other_off():
    s = settings_from(sentiment.TrainSettings, {"eval_every": 5})
    assert (s.eval_every, s.evals_per_epoch) == (5, None)
    t = settings_from(textgen.TrainSettings, {"evals_per_epoch": 2})
    assert (t.eval_every, t.evals_per_epoch) == (None, 2)
    with pytest.raises(ValueError, match="not both"):
        settings_from(textgen.TrainSettings, {"evals_per_epoch": 2, "eval_every": 3})


def test_one_default_stop_rule_given_saved_or_the_applications(tmp_path):
    """The classifier's 6-epoch default applies only when no stop rule is given, and a resumed
    run keeps its own rule (as the text generator always did)."""
    clf = SentimentClassifier(**SMALL)
    result = clf.fit(TEXTS, LABELS, steps=2, batch_size=4, progress=False, plot=False,
                     out=tmp_path / "run")  # fmt: skip
    assert result.step == 2 and result.reason == "steps"  # not 6 epochs
    again = SentimentClassifier().fit(TEXTS, LABELS, out=tmp_path / "run", resume=True,
                                      progress=False, plot=False)  # fmt: skip
    assert again.step == 2  # its own rule: already reached
    clf = SentimentClassifier(**SMALL)
    result = clf.fit(TEXTS, LABELS, batch_size=4, patience=None, progress=False, plot=False)
    assert result.epoch == 6


def test_unknown_settings_are_refused_the_same_way_in_both_applications(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc " * 50)
    with pytest.raises(TypeError, match=r"unknown training settings \['lrr'\]"):
        CharLM().fit(corpus, lrr=0.1)
    with pytest.raises(TypeError, match=r"unknown training settings \['lrr'\]"):
        SentimentClassifier().fit(TEXTS, LABELS, lrr=0.1)
