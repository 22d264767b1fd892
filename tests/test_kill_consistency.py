"""A kill at any file operation of a checkpoint leaves a run that resumes consistent.

The writer's fault hook (``rnnkit.training.checkpoint.fault_hook``) is told of
every file operation of an evaluation: the metrics appends, and for
``latest.npz`` and ``best.npz`` the temporary file's creation, its write, its
fsync, the rename and the directory's fsync. Raising there stands for
``kill -9`` at that instant. For every k, a run is killed at its k-th
operation, resumed from what is on disk, and must end exactly like the run
that was never killed: the same ``best.npz`` weights, and ``best.npz``,
``latest.npz``, ``metrics.jsonl`` and the returned summary agreeing on which
step was best and what it scored.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen import CharLM
from rnnkit.training import MetricsLog, RunDir, checkpoint, load_checkpoint

TEXT = "the cat sat on the mat and the dog sat on the log; " * 12
TINY_LM = {"cell": "gru", "hidden_size": 8, "num_layers": 1, "embedding_dim": 4, "dropout": 0.0}
LM_SETTINGS = {"seq_length": 8, "batch_size": 2, "eval_every": 4, "log_every": 2,
               "sample_length": 0}


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it, nothing after it runs."""


@pytest.fixture(autouse=True)
def _no_plot_and_no_hook(monkeypatch):
    monkeypatch.setattr("rnnkit.training.trainer.plot_metrics", lambda *a, **k: False)
    yield
    checkpoint.fault_hook = None


def _count_operations(run):
    ops = []
    checkpoint.fault_hook = lambda op, path: ops.append((op, path.name))
    try:
        result = run()
    finally:
        checkpoint.fault_hook = None
    return ops, result


def _kill_at(k, run):
    """Run until its k-th file operation, then 'die'; True if it died."""
    seen = [0]

    def hook(op, path):
        seen[0] += 1
        if seen[0] == k:
            raise Killed

    checkpoint.fault_hook = hook
    try:
        run()
    except Killed:
        return True
    finally:
        checkpoint.fault_hook = None
    return False


def _check_consistent(out, result, monitor, mode, reference_best):
    """best.npz, latest.npz, metrics.jsonl and the summary tell one story."""
    run = RunDir(out)
    latest = load_checkpoint(run.latest)
    best = load_checkpoint(run.best)
    t = latest["trainer"]
    assert t["step"] == result.step
    assert (t["best_step"], t["best"]) == (result.best_step, result.best)
    assert best["trainer"]["step"] == result.best_step, "best.npz is not the best step's checkpoint"
    assert best["metrics"][monitor] == result.best
    evals = [r for r in MetricsLog(run.metrics).read() if monitor in r]
    steps = [r["step"] for r in evals]
    assert steps == sorted(set(steps)), "an evaluation is logged twice or out of order"
    pick = min if mode == "min" else max
    top = pick(r[monitor] for r in evals)
    first_top = next(r["step"] for r in evals if r[monitor] == top)
    assert (first_top, top) == (result.best_step, pytest.approx(result.best, abs=0))
    for name, array in reference_best.items():  # exact resume: the very same weights
        np.testing.assert_array_equal(best["model"][name], array, err_msg=name)


def test_textgen_kill_at_every_checkpoint_operation_then_resume(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)

    def start(out):
        return CharLM(**TINY_LM).fit(
            corpus, out=out, force=True, steps=8, progress=False, **LM_SETTINGS
        )

    ops, reference = _count_operations(lambda: start(tmp_path / "ref"))
    assert {"create", "write", "fsync", "replace", "fsync_dir", "append"} <= {op for op, _ in ops}
    assert {"latest.npz", "best.npz", "metrics.jsonl"} <= {name for _, name in ops}
    reference_best = load_checkpoint(RunDir(tmp_path / "ref").best)["model"]
    for k in range(1, len(ops) + 1):
        out = tmp_path / f"k{k}"
        assert _kill_at(k, lambda out=out: start(out))
        if RunDir(out).latest.is_file():
            result = CharLM().fit(out=out, resume=True, progress=False)
        else:  # killed before the first checkpoint: nothing to resume, start again
            result = start(out)
        assert result.step == reference.step == 8
        _check_consistent(out, result, "val_loss", "min", reference_best)


def _sentiment_data():
    rng = np.random.default_rng(0)
    good, bad = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "dull"]
    texts, labels = [], []
    for i in range(48):
        words = good if i % 2 else bad
        texts.append(" ".join(rng.choice(words, 3)) + " film")
        labels.append("pos" if i % 2 else "neg")
    return texts, labels


def test_sentiment_kill_at_every_checkpoint_operation_then_resume(tmp_path):
    texts, labels = _sentiment_data()
    fit = {"epochs": 1, "batch_size": 4, "evals_per_epoch": 3, "patience": None,
           "val_fraction": 0.25, "progress": False, "plot": False, "lr": 0.05}  # fmt: skip

    def start(out, resume=False):
        clf = SentimentClassifier(embedding_dim=4, hidden_size=4, dropout=0.0, max_vocab=None)
        return clf.fit(texts, labels, out=out, force=not resume, resume=resume, **fit)

    ops, reference = _count_operations(lambda: start(tmp_path / "ref"))
    assert sum(name == "best.npz" for _, name in ops) >= 5  # at least one improvement
    reference_best = load_checkpoint(RunDir(tmp_path / "ref").best)["model"]
    for k in range(1, len(ops) + 1):
        out = tmp_path / f"k{k}"
        assert _kill_at(k, lambda out=out: start(out))
        result = start(out, resume=RunDir(out).latest.is_file())
        assert result.step == reference.step
        _check_consistent(out, result, "val_accuracy", "max", reference_best)


def test_a_full_disk_names_the_file_in_one_line(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    for operation, name in (("write", "latest.npz"), ("append", "metrics.jsonl")):

        def full(op, path, operation=operation, name=name):
            if op == operation and path.name == name:
                raise OSError(errno.ENOSPC, "No space left on device")

        checkpoint.fault_hook = full
        argv = ["textgen", "train", str(corpus), "--out", str(tmp_path / f"run-{operation}"),
                "--steps", "4", "--eval-every", "2", "--log-every", "2", "--hidden-size", "4",
                "--num-layers", "1", "--embedding-dim", "4", "--seq-length", "8",
                "--batch-size", "2", "--sample-length", "0", "--quiet"]  # fmt: skip
        try:
            assert main(argv) == 1
        finally:
            checkpoint.fault_hook = None
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "No space left on device" in err and name in err, err
