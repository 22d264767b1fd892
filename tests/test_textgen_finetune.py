"""Fine-tuning: ``textgen train NEW --init-from RUN`` starts a new run from another run's
weights, architecture and vocabulary (issue: the text generator's second round, item 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.text.corpus import CorpusError
from rnnkit.textgen import CharLM

OLD = "the cat sat on the mat. the dog sat on the log. " * 30
NEW = "a cat and a dog sat. " * 40  # only characters of OLD
TINY = {"cell": "gru", "hidden_size": 8, "num_layers": 1, "embedding_dim": 4, "dropout": 0.0}
FIT = {"seq_length": 8, "batch_size": 2, "eval_every": 2, "sample_length": 0,
       "progress": False}  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    (root / "old.txt").write_text(OLD)
    CharLM(**TINY).fit(root / "old.txt", out=root / "source", steps=6, **FIT)
    return root


def test_a_run_started_from_another_keeps_its_vocabulary_architecture_and_weights(source):
    (source / "new.txt").write_text(NEW)
    before = CharLM.load(source / "source")
    tuned = CharLM()
    tuned.fit(source / "new.txt", out=source / "tuned", init_from=source / "source", steps=2,
              **{**FIT, "lr": 1e-12, "lr_min": 0.0})  # fmt: skip
    assert tuned.vocab.symbols == before.vocab.symbols and tuned.config == before.config
    assert tuned.data["init_from"] == str(source / "source")
    for name, array in before.network.state_dict().items():  # a vanishing lr: the same weights
        np.testing.assert_allclose(tuned.network.state_dict()[name], array, atol=1e-6)
    # it scores the new text as the source does (the same model)
    assert tuned.evaluate(NEW[:400])["loss"] == pytest.approx(before.evaluate(NEW[:400])["loss"])


def test_characters_outside_the_vocabulary_are_named_and_nothing_is_written(source, capsys):
    (source / "odd.txt").write_text(NEW + "ZQ!")
    with pytest.raises(CorpusError, match=r"3 character\(s\) outside the vocabulary"):
        CharLM().fit(source / "odd.txt", out=source / "odd", init_from=source / "source",
                     steps=1, **FIT)  # fmt: skip
    assert not (source / "odd").exists()
    code = main(["textgen", "train", str(source / "odd.txt"), "--out", str(source / "odd"),
                 "--init-from", str(source / "source"), "--steps", "1", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "outside the vocabulary" in err, err
    assert not (source / "odd").exists()


def test_the_command_line_fine_tunes_and_refuses_an_architecture_beside_init_from(
    source, capsys
):
    new = str(source / "new.txt")
    (source / "new.txt").write_text(NEW)
    argv = ["textgen", "train", new, "--init-from", str(source / "source"), "--steps", "2",
            "--seq-length", "8", "--batch-size", "2", "--eval-every", "2",
            "--sample-length", "0", "--quiet"]  # fmt: skip
    assert main([*argv, "--out", str(source / "cli")]) == 0
    symbols = CharLM.load(source / "source").vocab.symbols
    assert CharLM.load(source / "cli").vocab.symbols == symbols
    capsys.readouterr()
    assert main([*argv, "--out", str(source / "cli2"), "--hidden-size", "16"]) == 1
    assert "--init-from takes the architecture of its run; drop --hidden-size" in (
        capsys.readouterr().err
    )
    assert not (source / "cli2").exists()
    CharLM(**TINY).fit(new, out=source / "api1", init_from=source / "source", steps=1,
                       **FIT)  # the source's own architecture, given again: fine  # fmt: skip
    with pytest.raises(ValueError, match="takes the architecture of its run"):
        CharLM(hidden_size=16).fit(new, out=source / "api2", init_from=source / "source",
                                   steps=1, **FIT)  # fmt: skip
    assert not (source / "api2").exists()


def test_map_unknown_replaces_characters_outside_the_vocabulary_and_resume_reads_the_same(
    source, capsys
):
    """--map-unknown ' ': each character outside the source's vocabulary becomes a space; the
    run records it, so a resume (and evaluate on the validation split) reads the text the same
    way, and the resumed run's losses are those of a run never stopped."""
    odd = source / "odd2.txt"
    odd.write_text(NEW + "ZQ! Zoo?\n" * 3)
    base = ["textgen", "train", str(odd), "--init-from", str(source / "source"),
            "--map-unknown", " ", "--seq-length", "8", "--batch-size", "2", "--eval-every", "2",
            "--sample-length", "0", "--log-every", "1", "--quiet"]  # fmt: skip
    assert main([*base, "--out", str(source / "mapped"), "--steps", "4"]) == 0
    assert main([*base, "--out", str(source / "mapped-part"), "--steps", "2"]) == 0
    resume = ["textgen", "train", "--out", str(source / "mapped-part"), "--resume", "--steps",
              "4", "--quiet"]  # fmt: skip
    assert main(resume) == 0
    lm = CharLM.load(source / "mapped", which="latest")
    assert lm.data["map_unknown"] == " " and lm.vocab.symbols == CharLM.load(
        source / "source").vocab.symbols
    keep = ("step", "train_loss", "val_loss", "lr")
    logs = [[{k: r[k] for k in keep if k in r} for r in map(json.loads, lines)]
            for lines in ((source / run / "metrics.jsonl").read_text().splitlines()
                          for run in ("mapped", "mapped-part"))]  # fmt: skip
    assert logs[0] == logs[1] and len(logs[0]) >= 4
    assert lm.evaluate()["chars"] > 0  # the split, read and mapped again
    capsys.readouterr()
    # a character outside the vocabulary, or several characters, is refused in one line
    for bad in ("Z", "ab"):
        code = main([*base[:5], "--map-unknown", bad, "--out", str(source / "bad"), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 1 and "map_unknown must be one character of the vocabulary" in err, err
    assert not (source / "bad").exists()
