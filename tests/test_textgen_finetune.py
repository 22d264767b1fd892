"""Fine-tuning: ``textgen train NEW --init-from RUN`` starts a new run from another run's
weights, architecture and vocabulary (issue: the text generator's second round, item 4)."""

from __future__ import annotations

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
