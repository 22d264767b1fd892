"""The run directory's lifecycle (issue 14): validation before anything is touched,
``--force`` that keeps the old run until the new one has a checkpoint, one
trainer per run directory (an OS lock naming its holder), resume on the same
data only, and clear instructions for a run killed before its first checkpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen.train import CharLMTask
from rnnkit.training import RunDir, RunDirError

HAMLET = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind.\n" * 6
TEXTGEN = ["--hidden-size", "8", "--num-layers", "1", "--embedding-dim", "4", "--dropout", "0",
           "--seq-length", "8", "--batch-size", "2", "--eval-every", "2", "--sample-length", "0",
           "--quiet"]  # fmt: skip
ROWS = [("i love this film", "pos"), ("what a great movie", "pos"),
        ("worst movie ever", "neg"), ("i hate this film", "neg")]  # fmt: skip
SENTIMENT = ["--epochs", "1", "--batch-size", "2", "--hidden-size", "4", "--embedding-dim", "4",
             "--quiet"]  # fmt: skip


def snapshot(path: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file() and p.name != ".lock"
    }


def one_line_error(capsys, code: int, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished tiny run of each application (copied by the tests that change them)."""
    root = tmp_path_factory.mktemp("runs")
    (root / "hamlet.txt").write_text(HAMLET)
    (root / "toy.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in ROWS))
    assert main(["textgen", "train", str(root / "hamlet.txt"), "--out", str(root / "textgen"),
                 "--steps", "2", *TEXTGEN]) == 0  # fmt: skip
    assert main(["sentiment", "train", "--train", str(root / "toy.tsv"),
                 "--out", str(root / "sentiment"), *SENTIMENT]) == 0  # fmt: skip
    return root


def copy_run(runs: Path, app: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(runs / app, tmp_path / app))


# -- finding 1 (and 7's meaningless values): nothing is touched before every option is checked --
@pytest.mark.parametrize("bad, named", [
    (["--minutes", "0"], "minutes"), (["--steps", "0"], "steps"), (["--epochs", "nan"], "epochs"),
    (["--seed", "-1"], "seed"), (["--lr", "inf"], "lr"),
    (["--sample-length", "-1"], "sample_length"),
])
def test_textgen_force_checks_every_option_before_touching_the_run(
    runs, tmp_path, capsys, bad, named
):
    run = copy_run(runs, "textgen", tmp_path)
    before = snapshot(run)
    code = main(["textgen", "train", str(runs / "hamlet.txt"), "--out", str(run), "--force",
                 *TEXTGEN, *bad])  # fmt: skip
    one_line_error(capsys, code, named)
    assert snapshot(run) == before


@pytest.mark.parametrize("bad, named", [
    (["--epochs", "0"], "epochs"), (["--epochs", "nan"], "epochs"), (["--epochs", "-1"], "epochs"),
    (["--minutes", "0"], "minutes"), (["--minutes", "nan"], "minutes"), (["--lr", "nan"], "lr"),
    (["--lr", "-1"], "lr"), (["--lr", "0"], "lr"), (["--lr", "inf"], "lr"),
    (["--weight-decay", "nan"], "weight_decay"), (["--weight-decay", "-1"], "weight_decay"),
    (["--grad-clip", "nan"], "grad_clip"), (["--patience", "-1"], "patience"),
    (["--lr-decay", "nan"], "lr_decay"), (["--lr-decay", "0"], "lr_decay"),
    (["--seed", "-1"], "seed"),
])
def test_sentiment_force_checks_every_option_before_touching_the_run(
    runs, tmp_path, capsys, bad, named
):
    run = copy_run(runs, "sentiment", tmp_path)
    before = snapshot(run)
    code = main(["sentiment", "train", "--train", str(runs / "toy.tsv"), "--out", str(run),
                 "--force", *SENTIMENT, *bad])  # fmt: skip
    one_line_error(capsys, code, named)
    assert snapshot(run) == before


def test_force_keeps_the_old_run_until_the_new_one_has_a_checkpoint(
    runs, tmp_path, capsys, monkeypatch
):
    run = copy_run(runs, "textgen", tmp_path)
    before = snapshot(run)
    step = CharLMTask.train_step

    def diverges_at_step_2(self, epoch, index):
        loss, items = step(self, epoch, index)
        return (float("nan") if index == 1 else loss), items

    with monkeypatch.context() as patch:  # the new run diverges before its first checkpoint
        patch.setattr(CharLMTask, "train_step", diverges_at_step_2)
        code = main(["textgen", "train", str(runs / "hamlet.txt"), "--out", str(run), "--force",
                     "--steps", "4", *TEXTGEN, "--eval-every", "4"])  # fmt: skip
    one_line_error(capsys, code, "nothing was saved")
    assert snapshot(run) == before and not (run / RunDir.PREVIOUS).exists()
    # a start that does write a checkpoint replaces the old run
    assert main(["textgen", "train", str(runs / "hamlet.txt"), "--out", str(run), "--force",
                 "--steps", "4", *TEXTGEN]) == 0  # fmt: skip
    assert snapshot(run)["latest.npz"] != before["latest.npz"]
    assert not (run / RunDir.PREVIOUS).exists()


def test_a_start_killed_before_its_first_checkpoint_gives_the_old_run_back(tmp_path):
    run = RunDir.create(tmp_path / "run")
    run.latest.write_bytes(b"old checkpoint")
    run.close()
    RunDir.create(run.path, force=True)  # the new run "dies": no close, no checkpoint ...
    assert not run.latest.exists()
    RunDir(run.path)._release_lock()  # ... and the OS drops its lock
    with RunDir.create(run.path, resume=True):  # the next start finds the old run again
        assert run.latest.read_bytes() == b"old checkpoint"


# -- finding 2: one trainer per run directory -----------------------------------------------
HOLDER = textwrap.dedent(
    """
    import sys
    from rnnkit.training import RunDir
    run = RunDir.create(sys.argv[1], resume=True)
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes stdin (or kills us)
    """
)


def test_a_locked_run_refuses_trainers_but_not_readers(runs, tmp_path, capsys):
    run = copy_run(runs, "textgen", tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert (run / RunDir.LOCK).read_text().strip() == str(holder.pid)
        before = snapshot(run)
        corpus = str(runs / "hamlet.txt")
        for argv in (["--resume"], ["--force", *TEXTGEN], TEXTGEN):
            code = main(["textgen", "train", corpus, "--out", str(run), "--steps", "4", *argv])
            one_line_error(capsys, code, "in use", f"pid {holder.pid}")
        code = main(["sentiment", "train", "--train", str(runs / "toy.tsv"), "--out", str(run),
                     "--force", *SENTIMENT])  # fmt: skip
        one_line_error(capsys, code, f"pid {holder.pid}")
        assert snapshot(run) == before
        assert main(["textgen", "sample", str(run), "--length", "5", "--seed", "1"]) == 0
        assert main(["textgen", "eval", str(run)]) == 0
        RunDir.create(run, resume=True, lock=False).close()  # a non-zero rank of a DDP job
    finally:
        holder.kill()  # a crash releases the lock
        holder.wait(timeout=30)
    capsys.readouterr()
    assert main(["textgen", "train", "--out", str(run), "--resume", "--steps", "2",
                 "--quiet"]) == 0  # fmt: skip


def test_lock_is_released_by_close_and_not_reentrant_in_one_process(tmp_path):
    first = RunDir.create(tmp_path / "run")
    with pytest.raises(RunDirError, match="in use: another trainer in this process"):
        RunDir.create(tmp_path / "run")  # a second trainer in the same process is refused
    first.close()
    with RunDir.create(tmp_path / "run"):  # ... once the first is done, it may go on
        pass


# -- finding 6: sentiment resume checks its data ---------------------------------------------
def test_sentiment_resume_refuses_different_training_data(tmp_path):
    texts, labels = [t for t, _ in ROWS], [y for _, y in ROWS]
    small = dict(hidden_size=4, embedding_dim=4)
    SentimentClassifier(**small).fit(texts, labels, out=tmp_path / "run", epochs=1,
                                     progress=False, plot=False, batch_size=2)  # fmt: skip
    before = snapshot(tmp_path / "run")
    with pytest.raises(ValueError, match="training data differs"):
        SentimentClassifier().fit(texts, labels[::-1], out=tmp_path / "run", resume=True,
                                  epochs=2, progress=False, plot=False)  # fmt: skip
    assert snapshot(tmp_path / "run") == before
    SentimentClassifier().fit(texts, labels, out=tmp_path / "run", resume=True, epochs=2,
                              progress=False, plot=False)  # fmt: skip


# -- finding 7: killed before the first checkpoint; leftovers -------------------------------
def test_a_run_killed_before_its_first_checkpoint_can_be_started_again(runs, tmp_path, capsys):
    run = RunDir.create(tmp_path / "run")  # the manifest says the run wrote what follows
    run.metrics.write_text('{"step": 1, "train_loss": 4.0}\n')  # no checkpoint yet
    run.close()
    corpus = str(runs / "hamlet.txt")
    code = main(["textgen", "train", corpus, "--out", str(run.path), "--resume"])
    one_line_error(capsys, code, "before its first checkpoint", "without --resume")
    assert main(["textgen", "train", corpus, "--out", str(run.path), "--steps", "2",
                 *TEXTGEN]) == 0  # fmt: skip
    assert run.latest.is_file()


def test_temporary_leftovers_are_cleaned_on_start_resume_and_force(tmp_path):
    run = RunDir.create(tmp_path / "run")
    run.close()
    for opening in ({}, {"resume": True}, {"force": True}):
        (run.path / ".latest.npz.abc123.tmp").write_bytes(b"half a checkpoint")
        (run.path / "notes.tmp").write_text("not ours")
        run.latest.write_bytes(b"checkpoint")
        if not opening:
            run.latest.unlink()  # a new run: nothing there yet
        RunDir.create(run.path, **opening).close()
        assert not (run.path / ".latest.npz.abc123.tmp").exists()
        assert (run.path / "notes.tmp").exists()


def test_check_reads_only(tmp_path):
    with pytest.raises(RunDirError, match="nothing to resume"):
        RunDir.check(tmp_path / "none", resume=True)
    RunDir.check(tmp_path / "new")
    assert not (tmp_path / "new").exists()
