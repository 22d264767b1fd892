"""Nothing lost, round two (issue 24): a ``--force`` killed at any file operation (its
set-aside, its put-back, its commit, or the repair of an earlier kill) leaves the old run
or the new one whole; a run never deletes or writes a file it did not create; refused
commands leave the run byte for byte, ``.lock`` included; one trainer per run, also
within one process.

``checkpoint.fault_hook`` is told of every file operation of the run directory and of
the checkpoint writer; raising :class:`Killed` there, and at every later operation,
stands for ``kill -9`` at that instant (the OS then drops the lock).
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen import CharLM
from rnnkit.training import RunDir, RunDirError, checkpoint
from rnnkit.training.checkpoint import atomic_write

OLD = {"latest.npz": b"old latest", "best.npz": b"old best", "metrics.jsonl": b"old log\n",
       "loss.png": b"old plot", "corpus.ids": b"old ids"}  # fmt: skip


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it, nothing after it runs."""


@pytest.fixture(autouse=True)
def _no_hook():
    yield
    checkpoint.fault_hook = None


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (hidden ones, the lock and set-aside directories included)."""
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def old_run(path: Path, files: dict[str, bytes] = OLD) -> None:
    RunDir.create(path).close()  # manifest and lock
    for name, body in files.items():
        (path / name).write_bytes(body)
    (path / "notes.txt").write_text("the user's own file")


def count_operations(scenario) -> int:
    ops = []
    checkpoint.fault_hook = lambda op, path: ops.append(op)
    try:
        scenario()
    finally:
        checkpoint.fault_hook = None
    return len(ops)


def kill_at(k: int, scenario) -> bool:
    """Run ``scenario`` until its k-th file operation, then die there; True if it died."""
    seen = [0]

    def hook(op, path):
        seen[0] += 1
        if seen[0] >= k:  # dead: this and every later operation never happens
            raise Killed

    checkpoint.fault_hook = hook
    try:
        scenario()
    except Killed:
        return True
    finally:
        checkpoint.fault_hook = None
        for key in list(checkpoint_locks()):  # the OS drops a dead process's locks
            RunDir(key)._release_lock()
    return False


def checkpoint_locks():
    from rnnkit.training.rundir import _HELD

    return list(_HELD)


def failing_start(path: Path):
    def scenario():
        run = RunDir.create(path, force=True)
        try:
            atomic_write(run.path / RunDir.CORPUS_IDS, lambda f: f.write(b"new ids"))
            atomic_write(run.metrics, lambda f: f.write(b"new log\n"))
            atomic_write(run.plot, lambda f: f.write(b"new plot"))
            raise ValueError("diverged before the first checkpoint")
        except ValueError:
            pass
        finally:
            run.close()

    return scenario


def committing_start(path: Path):
    def scenario():
        run = RunDir.create(path, force=True)
        try:
            atomic_write(run.path / RunDir.CORPUS_IDS, lambda f: f.write(b"new ids"))
            atomic_write(run.metrics, lambda f: f.write(b"new log\n"))
            atomic_write(run.latest, lambda f: f.write(b"new latest"))
            run.commit()
            atomic_write(run.best, lambda f: f.write(b"new latest"))
        finally:
            run.close()

    return scenario


def whole(path: Path, before: dict[str, bytes]) -> str:
    """'old' or 'new' if the directory holds exactly one whole run; fails otherwise."""
    files = {k: v for k, v in tree(path).items() if k != RunDir.LOCK}
    assert not (path / RunDir.PREVIOUS).exists() and not (path / RunDir.DISCARD).exists()
    if files == {k: v for k, v in before.items() if k != RunDir.LOCK}:
        return "old"
    assert files["latest.npz"] == b"new latest", files
    assert files["notes.txt"] == b"the user's own file"
    for name in ("best.npz", "metrics.jsonl", "loss.png", "corpus.ids"):  # nothing old is left
        assert files.get(name, b"new").startswith(b"new"), (name, files)
    return "new"


@pytest.mark.parametrize("make", [failing_start, committing_start])
def test_a_force_killed_at_any_operation_leaves_the_old_or_the_new_run_whole(tmp_path, make):
    template = tmp_path / "template"
    old_run(template)
    before = tree(template)
    reference = tmp_path / "reference"
    shutil.copytree(template, reference)
    n = count_operations(make(reference))
    assert n >= 12  # journal writes, one move per file, the put-back or the commit
    expected = "new" if make is committing_start else "old"
    assert whole(reference, before) == expected
    outcomes = set()
    for k in range(1, n + 1):
        run = tmp_path / f"k{k}"
        shutil.copytree(template, run)
        assert kill_at(k, make(run))
        # a reader (resume's read-only check) already sees the checkpoint the repair will leave
        latest = RunDir(run).resumable_latest().read_bytes()
        RunDir.create(run, resume=True).close()  # the next start repairs what the kill left
        outcomes.add(whole(run, before))
        assert RunDir(run).latest.read_bytes() == latest, k
    assert outcomes == ({"old", "new"} if make is committing_start else {"old"})


@pytest.mark.parametrize("make", [failing_start, committing_start])
def test_a_kill_during_the_repair_of_a_kill_loses_nothing_either(tmp_path, make):
    template = tmp_path / "template"
    old_run(template)
    before = tree(template)
    probe = tmp_path / "probe"
    shutil.copytree(template, probe)
    n = count_operations(make(probe))
    for k in range(2, n + 1, 2):
        killed = tmp_path / f"killed{k}"
        shutil.copytree(template, killed)
        assert kill_at(k, make(killed))
        state = tmp_path / f"state{k}"
        shutil.copytree(killed, state)
        repairs = count_operations(lambda state=state: RunDir.create(state, resume=True).close())
        for j in range(1, repairs + 1):
            run = tmp_path / f"k{k}-{j}"
            shutil.copytree(killed, run)
            assert kill_at(j, lambda run=run: RunDir.create(run, resume=True).close())
            RunDir.create(run, resume=True).close()
            whole(run, before)


def test_the_issue_reproduction_a_kill_right_after_the_first_move_aside(tmp_path, capsys):
    """SIGKILL right after the first os.replace into .previous-run (the issue's wrapper)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 40)
    argv = ["textgen", "train", str(corpus), "--steps", "2", "--eval-every", "2",
            "--hidden-size", "4", "--num-layers", "1", "--embedding-dim", "4",
            "--seq-length", "8", "--batch-size", "2", "--sample-length", "0",
            "--quiet"]  # fmt: skip
    run = tmp_path / "run"
    assert main([*argv, "--out", str(run)]) == 0
    before = {k: v for k, v in tree(run).items() if k != RunDir.LOCK}
    assert {"latest.npz", "best.npz", "metrics.jsonl"} <= set(before)
    seen = []

    def hook(op, path):
        if seen or (op == "replace" and path.parent.name == RunDir.PREVIOUS):
            seen.append(op)
            if len(seen) >= 2:  # the first move happened; the process dies
                raise Killed

    checkpoint.fault_hook = hook
    with pytest.raises(Killed):
        main([*argv, "--out", str(run), "--force"])
    checkpoint.fault_hook = None
    RunDir(run)._release_lock()
    capsys.readouterr()
    assert main([*argv[:3], "--out", str(run), "--resume", "--steps", "4", "--quiet"]) == 0
    after = tree(run)
    assert after["metrics.jsonl"].startswith(before["metrics.jsonl"])  # the old log is all there
    assert not (run / RunDir.PREVIOUS).exists()


# -- files that are not the run's --------------------------------------------------------
@pytest.mark.parametrize("name", ["metrics.jsonl", "loss.png", ".latest.npz.x1.tmp", "corpus.ids",
                                  RunDir.PREVIOUS + "/latest.npz.txt", ".rnnkit-run"])  # fmt: skip
@pytest.mark.parametrize("force", [False, True])
def test_a_new_run_refuses_run_names_it_did_not_create_and_leaves_them(tmp_path, name, force):
    run = tmp_path / "run"
    (run / name).parent.mkdir(parents=True)
    (run / name).write_bytes(b"someone else's")
    (run / ".draft.tmp").write_bytes(b"a draft")  # not a run's name: never touched
    before = tree(run)
    with pytest.raises(RunDirError, match="which no rnnkit run created there") as info:
        RunDir.check(run, force=force)
    assert "\n" not in str(info.value)
    with pytest.raises(RunDirError, match="no rnnkit run created"):
        RunDir.create(run, force=force)
    assert tree(run) == before


def test_a_new_run_beside_other_files_touches_only_its_own(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".draft.tmp").write_bytes(b"a draft")
    (run / "notes.txt").write_bytes(b"notes")
    with RunDir.create(run) as opened:
        assert opened.path == run
    assert tree(run)[".draft.tmp"] == b"a draft" and tree(run)["notes.txt"] == b"notes"
    assert (run / RunDir.MANIFEST).is_file()


def test_a_run_of_an_earlier_rnnkit_without_manifest_is_adopted(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name, body in OLD.items():
        (run / name).write_bytes(body)
    with RunDir.create(run, resume=True):
        pass
    assert (run / RunDir.MANIFEST).is_file()
    assert {k: v for k, v in tree(run).items() if k in OLD} == OLD


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_a_lock_file_that_is_not_a_plain_file_of_its_own_is_never_written(tmp_path, kind):
    target = tmp_path / "precious.txt"
    target.write_bytes(b"precious")
    run = tmp_path / "run"
    old_run(run)
    (run / RunDir.LOCK).unlink()
    if kind == "symlink":
        (run / RunDir.LOCK).symlink_to(target)
    elif kind == "hardlink":
        os.link(target, run / RunDir.LOCK)
    else:
        os.mkfifo(run / RunDir.LOCK)
    for opening in ({"resume": True}, {"force": True}):
        with pytest.raises(RunDirError, match=r"\.lock is") as info:
            RunDir.create(run, **opening)
        assert "\n" not in str(info.value)
    assert target.read_bytes() == b"precious"
    assert (run / "latest.npz").read_bytes() == OLD["latest.npz"]


def test_a_full_disk_while_taking_the_lock_names_the_lock_file(tmp_path, capsys):
    def full(op, path):
        if op == "lock":
            raise OSError(errno.ENOSPC, "No space left on device")

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 40)
    checkpoint.fault_hook = full
    code = main(["textgen", "train", str(corpus), "--out", str(tmp_path / "run"), "--steps", "2",
                 "--hidden-size", "4", "--num-layers", "1", "--seq-length", "8",
                 "--batch-size", "2", "--quiet"])  # fmt: skip
    checkpoint.fault_hook = None
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err, err
    assert "No space left on device" in err and str(tmp_path / "run" / ".lock") in err, err


# -- refused commands touch nothing; one trainer per run, also in one process ------------------
TEXT = "the cat sat on the mat and the dog sat on the log; " * 12
TINY = {"cell": "gru", "hidden_size": 8, "num_layers": 1, "embedding_dim": 4, "dropout": 0.0}
LM = {"seq_length": 8, "batch_size": 2, "eval_every": 2, "sample_length": 0, "progress": False}


def test_a_refused_resume_leaves_the_run_byte_for_byte_lock_included(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    CharLM(**TINY).fit(corpus, out=tmp_path / "lm", steps=2, **LM)
    (tmp_path / "lm" / RunDir.LOCK).write_text("12345\n")  # a lock file as a dead trainer left it
    corpus.write_text(TEXT.upper())  # the data differ now
    before = tree(tmp_path / "lm")
    with pytest.raises(ValueError, match="has changed since this run started"):
        CharLM().fit(corpus, out=tmp_path / "lm", resume=True, steps=4, progress=False)
    assert tree(tmp_path / "lm") == before

    texts = ["good film", "bad film", "great movie", "awful movie"] * 2
    labels = ["pos", "neg", "pos", "neg"] * 2
    small = {"hidden_size": 4, "embedding_dim": 4}
    SentimentClassifier(**small).fit(texts, labels, out=tmp_path / "clf", epochs=1,
                                     progress=False, plot=False, batch_size=2)  # fmt: skip
    (tmp_path / "clf" / RunDir.LOCK).write_text("12345\n")
    before = tree(tmp_path / "clf")
    with pytest.raises(ValueError, match="training data differs"):
        SentimentClassifier().fit(texts, labels[::-1], out=tmp_path / "clf", resume=True,
                                  epochs=2, progress=False, plot=False)  # fmt: skip
    assert tree(tmp_path / "clf") == before


def test_two_trainers_in_one_process_on_one_run_the_second_is_refused(tmp_path, monkeypatch):
    from rnnkit.textgen.train import CharLMTask

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 4)
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}
    evaluate = CharLMTask.evaluate

    def held_evaluate(self):  # the first trainer pauses inside an evaluation
        if threading.current_thread().name == "first":
            started.set()
            release.wait(30)
        return evaluate(self)

    monkeypatch.setattr(CharLMTask, "evaluate", held_evaluate)

    def first():
        try:
            outcome["first"] = CharLM(**TINY).fit(corpus, out=tmp_path / "run", steps=4, **LM)
        except BaseException as exc:  # pragma: no cover - reported below
            outcome["first"] = exc

    thread = threading.Thread(target=first, name="first")
    thread.start()
    try:
        assert started.wait(60)
        with pytest.raises(RunDirError, match="another trainer in this process"):
            CharLM(**TINY).fit(corpus, out=tmp_path / "run", force=True, steps=4, **LM)
        with pytest.raises(RunDirError, match="another trainer in this process"):
            CharLM(**TINY).fit(corpus, out=tmp_path / "run", steps=4, **LM)
    finally:
        release.set()
        thread.join(60)
    assert getattr(outcome["first"], "step", None) == 4, outcome
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    evals = [r for r in records if "val_loss" in r]
    assert len(evals) == len(set(evals)) == 2  # each evaluation logged once


def test_a_textgen_force_with_a_corpus_ids_file_killed_anywhere_leaves_one_run_whole(
    tmp_path, monkeypatch
):
    """The memory-mapped corpus (``corpus.ids``, issue 26 item 5) is one of the run's files:
    a ``--force`` killed at any file operation (the encoding's atomic write included) leaves
    the old run with its own ids file or the new run with its own, and either resumes."""
    from rnnkit.textgen import corpus_file

    monkeypatch.setattr(corpus_file, "MEMMAP_MIN_BYTES", 0)  # every corpus file is mapped
    monkeypatch.setattr("rnnkit.training.trainer.plot_metrics", lambda *a, **k: False)
    old_text, new_text = tmp_path / "old.txt", tmp_path / "new.txt"
    old_text.write_text(TEXT)
    new_text.write_text(TEXT.upper() + " ÄÖÜ ✓" * 20)
    template = tmp_path / "template"
    CharLM(**TINY).fit(old_text, out=template, steps=2, **LM)
    before = {k: v for k, v in tree(template).items() if k != RunDir.LOCK}
    assert RunDir.CORPUS_IDS in before

    def force(run: Path):
        return lambda: CharLM(**TINY).fit(new_text, out=run, force=True, steps=2, **LM)

    reference = tmp_path / "reference"
    shutil.copytree(template, reference)
    n = count_operations(force(reference))
    new_ids = (reference / RunDir.CORPUS_IDS).read_bytes()
    assert new_ids != before[RunDir.CORPUS_IDS]
    outcomes = set()
    for k in range(1, n + 1):
        run = tmp_path / f"k{k}"
        shutil.copytree(template, run)
        assert kill_at(k, force(run)), k
        RunDir.create(run, resume=True).close()  # the next start repairs what the kill left
        files = {k: v for k, v in tree(run).items() if k != RunDir.LOCK}
        assert not (run / RunDir.PREVIOUS).exists()
        if files == before:
            outcomes.add("old")
        else:
            assert files[RunDir.CORPUS_IDS] == new_ids and "latest.npz" in files, k
            assert not any(name.endswith(".tmp") for name in files), k
            outcomes.add("new")
        assert CharLM().fit(out=run, resume=True, steps=3, progress=False).step == 3, k
    assert outcomes == {"old", "new"}
