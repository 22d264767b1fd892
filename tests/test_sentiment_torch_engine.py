"""The classifier's torch engine: the NumPy engine's recipe with PyTorch's forward and backward,
in one process or in two (torchrun, DistributedDataParallel on gloo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install 'rnnkit[torch]'")

from rnnkit.cli import main  # noqa: E402
from rnnkit.sentiment import SentimentClassifier  # noqa: E402
from rnnkit.sentiment.torch_engine import TorchClassificationTask  # noqa: E402
from rnnkit.training import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POS = ["i love this film", "what a great movie", "this movie was wonderful", "i really enjoyed it",
       "a gorgeous witty film", "great acting and a fine story"]  # fmt: skip
NEG = ["worst movie ever", "i hate this film", "this movie was terrible",
       "what a boring waste of time", "dull and lifeless", "a terrible dull story"]  # fmt: skip
MID = ["it was fine i guess", "an ordinary film", "neither good nor bad"]
TEXTS = POS + NEG + MID
LABELS = ["pos"] * 6 + ["neg"] * 6 + ["mid"] * 3
SETTINGS = dict(batch_size=4, lr=0.02, evals_per_epoch=2, patience=None, val_fraction=0.2)
# float32 rounding: the two engines (or one and two processes) sum in other orders
TOLERANCE = 1e-5


def losses(run: Path, key: str = "train_loss") -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in records if key in r]


def classifier(**model) -> SentimentClassifier:
    arch = dict(embedding_dim=8, hidden_size=6, num_layers=2, pooling="max", dropout=0.0)
    return SentimentClassifier(**{**arch, **model})


def train(engine: str, out: Path, steps: int, labels=LABELS, model=None, **settings):
    clf = classifier(**(model or {}))
    clf.fit(TEXTS, labels, out=out, steps=steps, progress=False, plot=False, engine=engine,
            **{**SETTINGS, "log_every": 1, **settings})  # fmt: skip
    return clf


def resume(engine: str, out: Path, steps: int, labels=LABELS) -> None:
    SentimentClassifier().fit(TEXTS, labels, out=out, resume=True, steps=steps, progress=False,
                              plot=False, engine=engine)  # fmt: skip


def assert_same(a: list[float], b: list[float]) -> None:
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("labels, model", [
    (LABELS, dict(cell="lstm", bidirectional=True, pooling="max")),  # softmax, 3 classes
    (["pos" if y == "pos" else "neg" for y in LABELS],
     dict(cell="gru", bidirectional=False, pooling="mean", num_layers=1, char_ngrams=(2, 3),
          ngram_min_words=1)),  # sigmoid, n-gram bags  # fmt: skip
    (LABELS, dict(cell="lstm", bidirectional=True, pooling="last", num_layers=1)),
])  # fmt: skip
def test_the_torch_engine_logs_the_numpy_engines_losses(tmp_path, labels, model):
    for engine in ("numpy", "torch"):  # the same initial weights, batches and optimizer
        train(engine, tmp_path / engine, 10, labels=labels, model=model)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert_same(losses(tmp_path / "torch", key), losses(tmp_path / "numpy", key))
    a, b = (load_checkpoint(tmp_path / e / "latest.npz")["model"] for e in ("numpy", "torch"))
    for name, value in a.items():
        np.testing.assert_allclose(b[name], value, atol=TOLERANCE, err_msg=name)


def test_each_engine_resumes_the_other(tmp_path):
    train("numpy", tmp_path / "numpy", 10)
    train("torch", tmp_path / "torch-numpy", 5)
    resume("numpy", tmp_path / "torch-numpy", 10)
    train("numpy", tmp_path / "numpy-torch", 5)
    resume("torch", tmp_path / "numpy-torch", 10)
    for run in ("torch-numpy", "numpy-torch"):
        assert_same(losses(tmp_path / run), losses(tmp_path / "numpy"))


def test_distillation_targets_give_the_numpy_engines_losses(tmp_path):
    teacher = train("numpy", tmp_path / "teacher", 6)
    for engine in ("numpy", "torch"):
        classifier().fit(TEXTS, LABELS, out=tmp_path / engine, steps=6, progress=False,
                         plot=False, engine=engine, teacher=teacher, distill_weight=0.5,
                         **{**SETTINGS, "log_every": 1})  # fmt: skip
    assert_same(losses(tmp_path / "torch"), losses(tmp_path / "numpy"))


def test_an_interrupted_run_resumes_exactly_with_dropout(tmp_path, monkeypatch):
    model = dict(dropout=0.3, embedding_dropout=0.1, word_dropout=0.2)
    train("torch", tmp_path / "full", 12, model=model)
    step = TorchClassificationTask.train_step

    def interrupted(self, epoch, index):  # Ctrl-C during step 6, mid-interval of evaluations
        if (epoch, index) == (1, 2):
            signal.raise_signal(signal.SIGINT)
        return step(self, epoch, index)

    monkeypatch.setattr(TorchClassificationTask, "train_step", interrupted)
    train("torch", tmp_path / "part", 12, model=model)
    assert load_checkpoint(tmp_path / "part" / "latest.npz")["trainer"]["step"] == 6
    monkeypatch.setattr(TorchClassificationTask, "train_step", step)
    resume("torch", tmp_path / "part", 12)
    assert losses(tmp_path / "part") == losses(tmp_path / "full")  # the same dropout masks
    assert losses(tmp_path / "part", "val_loss") == losses(tmp_path / "full", "val_loss")
    full, part = (load_checkpoint(tmp_path / r / "latest.npz") for r in ("full", "part"))
    for name, value in full["model"].items():
        np.testing.assert_array_equal(part["model"][name], value)


def write_tsv(path: Path) -> Path:
    rows = "".join(f"{x}\t{y}\n" for x, y in zip(TEXTS, LABELS, strict=True))
    path.write_text("sentence\tlabel\n" + rows)
    return path


FLAGS = ["--embedding-dim", "8", "--hidden-size", "6", "--num-layers", "2", "--dropout", "0",
         "--batch-size", "4", "--lr", "0.02", "--evals-per-epoch", "2", "--val-fraction", "0.2",
         "--log-every", "1", "--quiet", "--engine", "torch"]  # fmt: skip


def test_the_command_line_trains_with_the_torch_engine(tmp_path, capsys):
    data, run = write_tsv(tmp_path / "train.tsv"), tmp_path / "run"
    assert main(["sentiment", "train", "--train", str(data), "--out", str(run), "--steps", "4",
                 *FLAGS]) == 0  # fmt: skip
    assert len(losses(run)) == 4
    assert main(["sentiment", "eval", str(run), "--data", str(data)]) == 0


def torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",  # a free port
               "--nproc_per_node", "2", "-m", "rnnkit.cli", "sentiment", "train",
               *args]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run directory:") == 1  # rank 0 reports
    return done


def test_two_processes_log_the_losses_of_one_and_their_run_resumes(tmp_path):
    """One torchrun launch (a launch costs seconds): 2 processes train 5 steps, rank 0 alone
    writes the run, and one process resumes it to step 10 with the losses of a single
    process stopped and resumed at the same step (the evaluation at the stop included)."""
    single = tmp_path / "single"
    train("torch", single, 5)  # one process, the same global batches of 4 (and of 3)
    resume("torch", single, 10)
    ddp, data = tmp_path / "ddp", write_tsv(tmp_path / "train.tsv")
    torchrun("--train", str(data), "--out", str(ddp), "--steps", "5", *FLAGS)  # 2 rows each
    assert load_checkpoint(ddp / "latest.npz")["task"]["torch_rng"].shape[0] == 2  # per process
    names = sorted(p.name for p in single.iterdir())  # no plot there: plot=False
    assert sorted(p.name for p in ddp.iterdir()) == sorted([*names, "loss.png"])
    resume("torch", ddp, 10)  # another number of processes: without dropout, the same losses
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert_same(losses(ddp, key), losses(single, key))
    a, b = (load_checkpoint(r / "latest.npz") for r in (single, ddp))
    for name, value in a["model"].items():
        np.testing.assert_allclose(b["model"][name], value, atol=TOLERANCE, err_msg=name)


def test_frozen_pretrained_vectors_stay_frozen_and_give_the_numpy_engines_losses(tmp_path):
    vectors = tmp_path / "vectors.txt"
    rng = np.random.default_rng(0)
    words = ["love", "great", "film", "worst", "hate", "dull"]
    vectors.write_text("".join(f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=8)) + "\n"
                               for w in words))  # fmt: skip
    model = dict(vectors=str(vectors), freeze_vectors=True)
    clfs = {engine: train(engine, tmp_path / engine, 6, model=model)
            for engine in ("numpy", "torch")}  # fmt: skip
    assert_same(losses(tmp_path / "torch"), losses(tmp_path / "numpy"))
    table = clfs["torch"].network.embedding.weight.data
    row = np.array(vectors.read_text().splitlines()[0].split()[1:], dtype=np.float32)
    np.testing.assert_array_equal(table[clfs["torch"].vocab.index["love"]], row)


def test_bad_engine_and_missing_torch_are_one_line(tmp_path, monkeypatch, capsys):
    data, run = write_tsv(tmp_path / "train.tsv"), tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["sentiment", "train", "--train", str(data), "--out", str(run), "--engine", "jax"])
    err = capsys.readouterr().err
    assert exit_.value.code != 0 and "invalid choice: 'jax'" in err
    with pytest.raises(ValueError, match="engine must be one of numpy, torch"):
        classifier().fit(TEXTS, LABELS, engine="jax")
    for name in ("torch", "rnnkit.sentiment.torch_engine", "rnnkit.training.distributed"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "rnnkit.training.distributed")  # imported again
    code = main(["sentiment", "train", "--train", str(data), "--out", str(run), "--steps", "2",
                 *FLAGS])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and err == (
        "rnnkit: error: engine 'torch': torch is not installed: pip install 'rnnkit[torch]'\n"
    )
    assert not run.exists()


def test_sigterm_to_torchrun_saves_the_step_on_every_rank_and_torchrun_resumes_it(tmp_path):
    """A scheduler's SIGTERM to torchrun reaches both processes: they stop at the same step,
    rank 0 alone saves it and names the torchrun command that resumes it; that command, run
    by two processes again, continues the run from the saved step."""
    import time

    run, data = tmp_path / "ddp", write_tsv(tmp_path / "train.tsv")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    flags = [f for f in FLAGS if f != "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rnnkit.cli", "sentiment", "train", "--train", str(data), "--out", str(run),
         "--steps", "1000000", "--patience", "0", *flags],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run / "latest.npz").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint in 2 minutes"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    lines = [line for line in err.splitlines() if line.startswith("rnnkit: interrupted")]
    assert len(lines) == 1, err[-3000:]  # rank 0 reports
    step = load_checkpoint(run / "latest.npz")["trainer"]["step"]
    assert lines[0] == (
        f"rnnkit: interrupted by SIGTERM at step {step} (checkpoint saved); continue with: "
        f"torchrun --standalone --nproc_per_node 2 -m rnnkit.cli sentiment train --out {run} "
        f"--resume --train {data} --engine torch ..."  # ...: the data-file flags, if any
    )
    assert step >= 1
    done = torchrun("--train", str(data), "--out", str(run), "--resume", "--engine", "torch",
                    "--steps", str(step + 4), "--quiet")  # fmt: skip
    assert load_checkpoint(run / "latest.npz")["trainer"]["step"] == step + 4
    assert "run directory:" in done.stdout
