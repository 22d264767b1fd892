"""The torch engine: the NumPy engine's recipe with PyTorch's forward and backward, in one
process or in two (torchrun, DistributedDataParallel on gloo)."""

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

from interop_models import CORPUS  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.interop.torch import to_torch  # noqa: E402
from rnnkit.interop.torch_engine import TorchCharLMTask  # noqa: E402
from rnnkit.textgen import CharLM  # noqa: E402
from rnnkit.training import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARCH = dict(cell="lstm", hidden_size=12, num_layers=2, embedding_dim=6)
SETTINGS = dict(seq_length=16, batch_size=4, eval_every=6, log_every=1, sample_length=0)
FLAGS = ["--hidden-size", "12", "--num-layers", "2", "--embedding-dim", "6", "--dropout", "0",
         "--seq-length", "16", "--batch-size", "4", "--eval-every", "6", "--log-every", "1",
         "--sample-length", "0", "--quiet", "--engine", "torch"]  # fmt: skip
# float32 rounding: the two engines (or one and two processes) sum in other orders
TOLERANCE = 1e-5


def losses(run: Path, key: str = "train_loss") -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in records if key in r]


def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"  # a file: a resumed run reads it again
    path.write_text(CORPUS * 2, encoding="utf-8")
    return path


def train(engine: str, out: Path, steps: int, dropout: float = 0.0, cell: str = "lstm",
          **settings) -> CharLM:  # fmt: skip
    lm = CharLM(**{**ARCH, "cell": cell, "dropout": dropout})
    lm.fit(corpus_file(out.parent), out=out, steps=steps, progress=False, engine=engine,
           **{**SETTINGS, **settings})  # fmt: skip
    return lm


def resume(engine: str, out: Path, steps: int) -> None:
    CharLM().fit(out=out, resume=True, steps=steps, progress=False, engine=engine)


def test_the_torch_engine_logs_the_numpy_engines_losses_and_each_resumes_the_other(tmp_path):
    train("numpy", tmp_path / "numpy", 12)
    train("torch", tmp_path / "torch", 12)  # the same initial weights, data order and optimizer
    for key in ("train_loss", "val_loss"):
        reference = losses(tmp_path / "numpy", key)
        assert len(reference) == {"train_loss": 12, "val_loss": 2}[key]
        np.testing.assert_allclose(losses(tmp_path / "torch", key), reference, atol=TOLERANCE,
                                   rtol=0)  # fmt: skip
    train("torch", tmp_path / "torch-numpy", 6)
    resume("numpy", tmp_path / "torch-numpy", 12)
    train("numpy", tmp_path / "numpy-torch", 6)
    resume("torch", tmp_path / "numpy-torch", 12)
    for run in ("torch-numpy", "numpy-torch"):
        np.testing.assert_allclose(losses(tmp_path / run), losses(tmp_path / "numpy"),
                                   atol=TOLERANCE, rtol=0)  # fmt: skip


def test_an_interrupted_run_resumes_exactly_with_dropout(tmp_path, monkeypatch):
    # a GRU: its carried state is one array (the LSTM's pair is carried in the other tests)
    train("torch", tmp_path / "full", 12, dropout=0.3, cell="gru")
    step = TorchCharLMTask.train_step

    def interrupted(self, epoch, index):  # Ctrl-C during step 5, mid-interval of eval_every
        if (epoch, index) == (0, 4):
            signal.raise_signal(signal.SIGINT)
        return step(self, epoch, index)

    monkeypatch.setattr(TorchCharLMTask, "train_step", interrupted)
    train("torch", tmp_path / "part", 12, dropout=0.3, cell="gru")
    assert load_checkpoint(tmp_path / "part" / "latest.npz")["trainer"]["step"] == 5
    monkeypatch.setattr(TorchCharLMTask, "train_step", step)
    resume("torch", tmp_path / "part", 12)
    assert losses(tmp_path / "part") == losses(tmp_path / "full")  # the same dropout masks
    full, part = (load_checkpoint(tmp_path / r / "latest.npz") for r in ("full", "part"))
    for name, value in full["model"].items():
        np.testing.assert_array_equal(part["model"][name], value)


def test_the_torch_engines_run_directory_gives_the_same_greedy_text_in_both_engines(
    tmp_path, capsys
):
    run = tmp_path / "run"
    train("torch", run, 12, lr=0.05)
    capsys.readouterr()
    assert main(["textgen", "sample", str(run), "--greedy", "--length", "60",
                 "--prime", "To be"]) == 0  # fmt: skip
    numpy_text = capsys.readouterr().out
    lm = CharLM.load(run)
    module = to_torch(run)  # greedy decoding in PyTorch
    ids = torch.tensor(lm.vocab.encode("To be").astype(np.int64))[:, None]  # (T, 1)
    out, state = [], None
    with torch.no_grad():
        for _ in range(60):
            logits, state = module(ids, state)
            ids = logits[-1:].argmax(-1)  # (1, 1)
            out.append(int(ids))
    torch_text = "To be" + lm.vocab.decode(out) + "\n"
    assert torch_text == numpy_text
    assert len(set(numpy_text)) > 3  # a trained model, not one repeated character
    assert main(["textgen", "eval", str(run)]) == 0
    assert main(["export", str(run), "--format", "safetensors"]) == 0


def torchrun(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",  # a free port
               "--nproc_per_node", "2", "-m", "rnnkit.cli", "textgen", "train", *args]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run directory:") == 1  # rank 0 reports


def test_two_processes_log_the_losses_of_one_and_resume(tmp_path):
    single = tmp_path / "single"
    train("torch", single, 12)  # one process, the same global batch of 4 streams
    ddp, corpus = tmp_path / "ddp", corpus_file(tmp_path)
    torchrun(str(corpus), "--out", str(ddp), "--steps", "6", *FLAGS)  # 2 streams a process
    torchrun("--out", str(ddp), "--resume", "--steps", "12", "--quiet", "--engine", "torch")
    for key in ("train_loss", "val_loss"):
        assert len(losses(ddp, key)) == len(losses(single, key))
        np.testing.assert_allclose(losses(ddp, key), losses(single, key), atol=TOLERANCE, rtol=0)
    a, b = (load_checkpoint(r / "latest.npz") for r in (single, ddp))
    for name, value in a["model"].items():
        np.testing.assert_allclose(b["model"][name], value, atol=TOLERANCE)
    for h, h_ddp in zip(a["task"]["carry"], b["task"]["carry"], strict=True):  # all 4 streams
        np.testing.assert_allclose(h_ddp, h, atol=TOLERANCE)
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in single.iterdir())


def one_line(capsys, code: int, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys):
    corpus, run = str(corpus_file(tmp_path)), tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["textgen", "train", corpus, "--out", str(run), "--engine", "jax"])
    one_line(capsys, exit_.value.code, "--engine", "invalid choice: 'jax'")
    with pytest.raises(ValueError, match="engine must be one of numpy, torch"):
        CharLM().fit(corpus, engine="jax")
    # under torchrun with 3 processes: checked before the process group is joined
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    code = main(["textgen", "train", corpus, "--out", str(run), "--steps", "2", *FLAGS])
    one_line(capsys, code, "--batch-size 4 is not divisible by the 3 processes")
    assert not run.exists()
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    # without torch: which extra to install
    for name in ("torch", "rnnkit.interop.torch", "rnnkit.interop.torch_engine"):
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("rnnkit.interop.torch", "rnnkit.interop.torch_engine"):
        monkeypatch.delitem(sys.modules, name)  # imported again, they import torch again
    code = main(["textgen", "train", corpus, "--out", str(run), "--steps", "2", *FLAGS])
    assert one_line(capsys, code) == (
        "rnnkit: error: engine 'torch': torch is not installed: pip install 'rnnkit[torch]'\n"
    )


def test_sigterm_to_torchrun_saves_the_step_on_every_rank(tmp_path):
    """A scheduler's SIGTERM to torchrun reaches every process: they stop at the same step,
    rank 0 saves it, and the hint names the torchrun command that resumes it."""
    import time

    corpus, run = corpus_file(tmp_path), tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    flags = [f for f in FLAGS if f != "--quiet"]  # the progress shows that rank 0 runs
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rnnkit.cli", "textgen", "train", str(corpus), "--out", str(run),
         "--steps", "1000000", *flags, "--eval-every", "3"],
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
        f"torchrun --standalone --nproc_per_node 2 -m rnnkit.cli textgen train --out {run} "
        "--resume --engine torch"
    )
    assert step >= 3


def test_one_layer_with_dropout_gives_no_pytorch_warning(tmp_path, recwarn):
    lm = CharLM(**{**ARCH, "num_layers": 1, "dropout": 0.3})
    lm.fit(corpus_file(tmp_path), out=tmp_path / "one", steps=2, progress=False, engine="torch",
           **SETTINGS)  # fmt: skip
    messages = [str(w.message) for w in recwarn]
    assert not [m for m in messages if "dropout" in m], messages


def test_the_numpy_engine_is_refused_under_torchrun_from_python_too(tmp_path, monkeypatch):
    from rnnkit.textgen import CharLM

    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be " * 40)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="one of 2 processes started by torchrun.*engine='torch'"):
        CharLM(hidden_size=4, num_layers=1).fit(corpus, out=tmp_path / "run", steps=1)
    assert not (tmp_path / "run").exists()
