"""The torch engine: the NumPy engine's recipe with PyTorch's gradients, one process or two (torchrun)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install 'rnnkit[torch]'")

from interop_models import CORPUS  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.interop import torch_engine  # noqa: E402
from rnnkit.textgen import CharLM  # noqa: E402
from rnnkit.training import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARCH = dict(cell="lstm", hidden_size=12, num_layers=2, embedding_size=6)
SETTINGS = dict(seq_length=16, batch_size=4, eval_every=6, log_every=1, sample_length=0)
FLAGS = ["--hidden-size", "12", "--num-layers", "2", "--embedding-size", "6", "--dropout", "0",
         "--seq-length", "16", "--batch-size", "4", "--eval-every", "8", "--log-every", "1",
         "--sample-length", "0", "--quiet", "--engine", "torch"]  # fmt: skip


def losses(run: Path, key: str = "train_loss") -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in records if key in r]


def train(engine, out, steps, dropout=0.0):
    corpus = out.parent / "corpus.txt"  # a file: resume reads it again
    corpus.write_text(CORPUS, encoding="utf-8")
    lm = CharLM(dropout=dropout, **ARCH)
    fit = lm.fit if engine == "numpy" else lambda *a, **k: torch_engine.fit(lm, *a, **k)
    fit(corpus, out=out, steps=steps, progress=False, **SETTINGS)
    return lm


def test_same_losses_as_the_numpy_engine_and_both_resume_each_other(tmp_path):
    train("numpy", tmp_path / "numpy", 12)
    train("torch", tmp_path / "torch", 12)
    np.testing.assert_allclose(losses(tmp_path / "torch"), losses(tmp_path / "numpy"), atol=1e-5, rtol=0)
    np.testing.assert_allclose(losses(tmp_path / "torch", "val_loss"), losses(tmp_path / "numpy", "val_loss"), atol=1e-5)
    # a torch run resumed by the NumPy engine, and a NumPy run by the torch engine
    train("torch", tmp_path / "t2n", 6)
    CharLM.resume(tmp_path / "t2n", steps=12, progress=False)
    train("numpy", tmp_path / "n2t", 6)
    torch_engine.resume(tmp_path / "n2t", steps=12, progress=False)
    for run in ("t2n", "n2t"):
        np.testing.assert_allclose(losses(tmp_path / run), losses(tmp_path / "numpy"), atol=1e-5, rtol=0)


def test_resume_is_exact_with_dropout(tmp_path):
    train("torch", tmp_path / "full", 12, dropout=0.3)
    train("torch", tmp_path / "part", 6, dropout=0.3)
    torch_engine.resume(tmp_path / "part", steps=12, progress=False)
    assert losses(tmp_path / "part") == losses(tmp_path / "full")
    a, b = (load_checkpoint(tmp_path / r / "latest.npz") for r in ("full", "part"))
    for name, value in a["model"].items():
        np.testing.assert_array_equal(b["model"][name], value)


def test_the_torch_run_directory_is_an_ordinary_one(tmp_path, capsys):
    train("torch", tmp_path / "run", 6)
    lm = CharLM.load(tmp_path / "run")
    numpy_text = lm.generate(50, prime="To be", greedy=True)
    from rnnkit.interop.torch import to_torch

    module = to_torch(tmp_path / "run")  # greedy decoding in PyTorch
    ids = torch.tensor(lm.vocab.encode("To be").astype(np.int64))[:, None]
    out, state = [], None
    with torch.no_grad():
        for _ in range(50):
            logits, state = module(ids, state)
            ids = logits[-1:, :].argmax(-1)  # (1, 1)
            out.append(int(ids))
    assert lm.vocab.decode(out) == numpy_text
    assert main(["textgen", "eval", str(tmp_path / "run")]) == 0
    assert main(["export", str(tmp_path / "run"), "--format", "safetensors"]) == 0
    assert main(["textgen", "train", "--resume", str(tmp_path / "run"), "--steps", "8", "--quiet"]) == 0


def torchrun(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "rnnkit.cli", "textgen", "train", *args]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]


def test_two_processes_give_the_losses_of_one_and_resume_exactly(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    single = tmp_path / "single"
    assert main(["textgen", "train", str(corpus), "--out", str(single), "--steps", "16", *FLAGS]) == 0
    ddp = tmp_path / "ddp"
    torchrun(str(corpus), "--out", str(ddp), "--steps", "8", *FLAGS)  # each process: 2 of the 4 streams
    torchrun("--resume", str(ddp), "--steps", "16", "--quiet", "--engine", "torch")
    assert len(losses(ddp)) == 16
    np.testing.assert_allclose(losses(ddp), losses(single), atol=1e-5, rtol=0)
    np.testing.assert_allclose(losses(ddp, "val_loss"), losses(single, "val_loss"), atol=1e-5, rtol=0)
    a, b = (load_checkpoint(r / "latest.npz") for r in (single, ddp))
    for name, value in a["model"].items():
        np.testing.assert_allclose(b["model"][name], value, atol=1e-5)
    assert [p.name for p in sorted(ddp.iterdir())] == ["best.npz", "latest.npz", "loss.png", "metrics.jsonl"]
