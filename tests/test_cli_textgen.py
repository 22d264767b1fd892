"""The ``rnnkit`` command line for the text generator: happy paths, bad input, kill + resume."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.text import download
from rnnkit.training import MetricsLog, save_checkpoint

HAMLET = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
) * 6
TINY = ["--hidden-size", "16", "--num-layers", "1", "--embedding-dim", "8", "--dropout", "0",
        "--seq-length", "16", "--batch-size", "4", "--quiet"]  # fmt: skip


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A trained tiny run shared by the sample/eval tests."""
    tmp = tmp_path_factory.mktemp("cli")
    corpus = tmp / "hamlet.txt"
    corpus.write_text(HAMLET)
    out = tmp / "run"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["textgen", "train", str(corpus), "--out", str(out), "--steps", "40",
                     "--eval-every", "20", "--lr", "0.01", "--sample-length", "30", *TINY])
    assert code == 0, stderr.getvalue()
    TRAIN_OUTPUT["stdout"] = stdout.getvalue()
    return out


TRAIN_OUTPUT: dict[str, str] = {}  # what the run_dir fixture's training printed


# -- working commands --------------------------------------------------------------
def test_train_writes_a_run_and_prints_samples(run_dir, capsys):
    assert {p.name for p in run_dir.iterdir()} >= {"latest.npz", "best.npz", "metrics.jsonl"}
    records = MetricsLog(run_dir / "metrics.jsonl").read()
    assert records[-1]["step"] == 40 and "val_loss" in records[-1]
    printed = TRAIN_OUTPUT["stdout"]
    # one sample per evaluation (steps 20 and 40), each --sample-length characters long
    samples = re.findall(r"--- sample at step (\d+), val loss [0-9.]+ nats/char ---\n(.*?)\n---\n",
                         printed, flags=re.S)  # fmt: skip
    assert [step for step, _ in samples] == ["20", "40"], printed
    assert all(len(text) == 30 for _, text in samples), samples
    val = min(r["val_loss"] for r in records if "val_loss" in r)
    bits = val / math.log(2)
    assert f"best validation loss {val:.4f} nats/char ({bits:.4f} bits/char)" in printed
    assert f"run directory: {run_dir}" in printed


def test_sample_streams_deterministic_text(run_dir, capsys):
    code, out, _ = run_cli(capsys, "textgen", "sample", str(run_dir), "--length", "50",
                           "--seed", "4", "--prime", "To be", "--top-k", "5")  # fmt: skip
    assert code == 0 and out.startswith("To be") and len(out) == len("To be") + 50 + 1
    assert run_cli(capsys, "textgen", "sample", str(run_dir), "--length", "50", "--seed", "4",
                   "--prime", "To be", "--top-k", "5")[1] == out  # fmt: skip
    code, greedy, _ = run_cli(capsys, "textgen", "sample", str(run_dir / "latest.npz"),
                              "--length", "20", "--greedy")  # fmt: skip
    assert code == 0 and len(greedy) == 1 + 20 + 1  # default prime "\n"


def test_eval_plain_and_json(run_dir, capsys, tmp_path):
    code, out, _ = run_cli(capsys, "textgen", "eval", str(run_dir))
    assert code == 0 and "nats/char" in out and "bits/char" in out and "perplexity" in out
    (tmp_path / "other.txt").write_text(HAMLET[:500])
    code, out, _ = run_cli(capsys, "textgen", "eval", str(run_dir), str(tmp_path / "other.txt"),
                           "--json")
    result = json.loads(out)
    assert code == 0 and result["chars"] > 400
    assert result["bpc"] == pytest.approx(result["loss"] / np.log(2))


def test_score_lines_from_stdin_whole_file_and_per_char(run_dir, capsys, tmp_path, monkeypatch):
    text = HAMLET[:700]
    (tmp_path / "t.txt").write_text(text)
    whole = json.loads(run_cli(capsys, "textgen", "score", str(run_dir), str(tmp_path / "t.txt"),
                               "--whole", "--json")[1])  # fmt: skip
    ev = json.loads(run_cli(capsys, "textgen", "eval", str(run_dir), str(tmp_path / "t.txt"),
                            "--json")[1])  # fmt: skip
    assert whole["loss"] == pytest.approx(ev["loss"], abs=1e-6) and whole["chars"] == ev["chars"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"To be\n\nZzz @\nthe")))
    code, out, _ = run_cli(capsys, "textgen", "score", str(run_dir), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["line"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["chars"] == 6 and rows[1]["chars"] == 1 and rows[3]["chars"] == 4
    assert rows[2] == {"line": 3, "unscorable": ["'@'", "'Z'", "'z'"]}
    code, out, _ = run_cli(capsys, "textgen", "score", str(run_dir), str(tmp_path / "t.txt"))
    assert code == 0 and len(out.splitlines()) == text.count("\n") + 1
    assert out.startswith("line 1: ") and "bits/char, perplexity" in out
    code, out, _ = run_cli(capsys, "textgen", "score", str(run_dir), str(tmp_path / "t.txt"),
                           "--per-char")  # fmt: skip
    assert code == 0 and out.splitlines()[1].startswith('  "T" ')
    assert_one_line_error(*run_cli(capsys, "textgen", "score", str(run_dir), "-", "--whole",
                                   "--per-char")[::2], "--per-char")  # fmt: skip


def test_sample_beam_batches_stop_prime_file_and_json(run_dir, capsys, tmp_path):
    sample = ["textgen", "sample", str(run_dir), "--length", "40", "--prime", "To be"]
    code, out, _ = run_cli(capsys, *sample, "--beam", "4", "--num-samples", "2", "--json")
    beams = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [b["sample"] for b in beams] == [0, 1] and beams[0] != beams[1]
    assert run_cli(capsys, *sample, "--beam", "4", "--num-samples", "2", "--json")[1] == out
    code, out, _ = run_cli(capsys, *sample, "--seed", "3", "--num-samples", "6", "--json")
    texts = [json.loads(line)["text"] for line in out.splitlines()]
    assert code == 0 and len(texts) == 6 and len(set(texts)) > 1
    alone = run_cli(capsys, *sample, "--seed", "3")[1]
    assert alone == "To be" + texts[0] + "\n"  # sample 0 of a batch is the seed's sample
    code, out, _ = run_cli(capsys, *sample, "--seed", "3", "--num-samples", "6", "--stop", " ",
                           "--json")  # fmt: skip
    assert [json.loads(line)["text"] for line in out.splitlines()] == [
        t.split(" ")[0] for t in texts]
    code, out, _ = run_cli(capsys, *sample, "--seed", "3", "--stop", " ")
    assert out == "To be" + texts[0].split(" ")[0] + "\n"
    (tmp_path / "prime.txt").write_text("To be")
    code, out, _ = run_cli(capsys, "textgen", "sample", str(run_dir), "--length", "40",
                           "--seed", "3", "--prime-file", str(tmp_path / "prime.txt"))  # fmt: skip
    assert code == 0 and out == alone
    assert_one_line_error(*run_cli(capsys, *sample, "--prime-file", "x")[::2],
                          "--prime or --prime-file")  # fmt: skip
    assert_one_line_error(*run_cli(capsys, *sample, "--beam", "2", "--num-samples", "3")[::2],
                          "2 beams")  # fmt: skip


# -- bad input: one line on stderr, non-zero status, nothing destroyed ---------------------
def test_missing_and_empty_corpus(tmp_path, capsys):
    code, _, err = run_cli(capsys, "textgen", "train", str(tmp_path / "nope.txt"), "--out",
                           str(tmp_path / "r"))
    assert_one_line_error(code, err, "corpus file not found")
    (tmp_path / "empty.txt").write_text("")
    code, _, err = run_cli(capsys, "textgen", "train", str(tmp_path / "empty.txt"), "--out",
                           str(tmp_path / "r"))
    assert_one_line_error(code, err, "empty")
    assert not (tmp_path / "r").exists()


def test_non_utf8_corpus_needs_encoding_bytes(tmp_path, capsysbinary):
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes(("Un café très noir, s'il vous plaît. " * 40).encode("latin-1"))
    code = main(["textgen", "train", str(corpus), "--out", str(tmp_path / "r")])
    assert_one_line_error(code, capsysbinary.readouterr().err.decode(), "not valid UTF-8",
                          "--encoding bytes")
    code = main(["textgen", "train", str(corpus), "--out", str(tmp_path / "r"),
                 "--encoding", "bytes", "--steps", "3", "--sample-length", "0", *TINY])
    assert code == 0
    capsysbinary.readouterr()
    code = main(["textgen", "sample", str(tmp_path / "r"), "--length", "10", "--prime", "caf"])
    out = capsysbinary.readouterr().out
    assert code == 0 and out.startswith(b"caf") and len(out) == 3 + 10 + 1  # raw bytes out


def test_corpus_shorter_than_a_batch(tmp_path, capsys):
    (tmp_path / "short.txt").write_text("too short\n")
    code, _, err = run_cli(capsys, "textgen", "train", str(tmp_path / "short.txt"), "--out",
                           str(tmp_path / "r"))
    assert_one_line_error(code, err, "too short for batches")


def test_existing_run_is_not_overwritten(run_dir, capsys, tmp_path):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    code, _, err = run_cli(capsys, "textgen", "train", str(tmp_path / "x.txt"), "--out",
                           str(run_dir))
    assert_one_line_error(code, err)  # the corpus is checked first ...
    (tmp_path / "x.txt").write_text(HAMLET)
    code, _, err = run_cli(capsys, "textgen", "train", str(tmp_path / "x.txt"), "--out",
                           str(run_dir), *TINY)
    assert_one_line_error(code, err, "already holds a run", "--resume", "--force")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "newer_version", "other_app"])
def test_damaged_checkpoint(run_dir, capsys, tmp_path, damage):
    path = tmp_path / "model.npz"
    good = (run_dir / "latest.npz").read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a checkpoint at all")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) * 2 // 3])
    elif damage == "newer_version":
        blob = json.dumps({"format": "rnnkit-checkpoint", "version": 7, "tree": {}}).encode()
        np.savez(path, __meta__=np.frombuffer(blob, dtype=np.uint8))
    else:
        save_checkpoint(path, {"app": "sentiment", "config": {}, "model": {}})
    for command in ("sample", "eval"):
        code, out, err = run_cli(capsys, "textgen", command, str(path))
        assert_one_line_error(code, err, str(path))
        assert out == ""


def test_resume_errors(tmp_path, run_dir, capsys):
    code, _, err = run_cli(capsys, "textgen", "train", "--out", str(tmp_path / "empty_dir"),
                           "--resume")
    assert_one_line_error(code, err, "nothing to resume")
    code, _, err = run_cli(capsys, "textgen", "train", "--out", str(run_dir), "--resume",
                           "--hidden-size", "8")
    assert_one_line_error(code, err, "--hidden-size")
    code, _, err = run_cli(capsys, "textgen", "sample", str(tmp_path))
    assert_one_line_error(code, err, "no checkpoint")


def test_bad_option_values(run_dir, capsys):
    for args, fragment in [
        (("--temperature", "-1"), "temperature"),
        (("--top-p", "1.5"), "top-p"),
        (("--top-k", "0"), "top-k"),
        (("--prime", "XYZ"), "'X', 'Y', 'Z'"),
    ]:
        code, out, err = run_cli(capsys, "textgen", "sample", str(run_dir), *args)
        assert_one_line_error(code, err, fragment)
        assert out == ""
    with pytest.raises(SystemExit) as info:
        main(["textgen", "sample", str(run_dir), "--length", "many"])
    assert info.value.code == 2
    assert_one_line_error(2, capsys.readouterr().err, "invalid int value")


def test_data_download_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))

    def offline(url):
        raise urllib.error.URLError("Network is unreachable")

    monkeypatch.setattr(download, "fetch_url", offline)
    code, _, err = run_cli(capsys, "data", "download", "tinyshakespeare")
    assert_one_line_error(code, err, "could not download tinyshakespeare", "offline")
    code, _, err = run_cli(capsys, "textgen", "train", "tinyshakespeare")
    assert_one_line_error(code, err, "rnnkit data download tinyshakespeare")


# -- kill between checkpoints, then resume ---------------------------------------------------
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from rnnkit.textgen import train
    original = train.CharLMTask.train_step
    calls = [0]
    def train_step(self, epoch, index):
        calls[0] += 1
        if calls[0] == int(os.environ["KILL_AT_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no final checkpoint
        return original(self, epoch, index)
    train.CharLMTask.train_step = train_step
    from rnnkit.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _losses(path: Path) -> list[dict]:
    keep = ("step", "epoch", "train_loss", "val_loss", "val_bpc", "lr")
    return [{k: r[k] for k in keep if k in r} for r in MetricsLog(path / "metrics.jsonl").read()]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_run_resumes_to_the_same_losses(tmp_path, capsys):
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(HAMLET)
    args = ["textgen", "train", str(corpus), "--steps", "36", "--eval-every", "10",
            "--log-every", "1",
            "--dropout", "0.25", "--num-layers", "2", "--sample-length", "0", "--lr", "0.005",
            "--hidden-size", "16", "--embedding-dim", "8", "--seq-length", "16",
            "--batch-size", "4", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    (tmp_path / "killer.py").write_text(KILLER)
    env = dict(os.environ, KILL_AT_STEP="26")
    proc = subprocess.run([sys.executable, str(tmp_path / "killer.py"), *args, "--out",
                           str(tmp_path / "killed")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed = tmp_path / "killed"
    # past the checkpoint at step 20
    assert max(r["step"] for r in MetricsLog(killed / "metrics.jsonl").read()) == 25
    assert main(["textgen", "train", "--out", str(killed), "--resume", "--quiet"]) == 0
    assert _losses(killed) == _losses(tmp_path / "full")
    capsys.readouterr()


TERMINATOR = KILLER.replace("signal.SIGKILL)  # no cleanup, no final checkpoint",
                            "signal.SIGTERM)  # a scheduler's preemption, mid-step")


def test_sigterm_saves_the_step_and_resume_continues_exactly(tmp_path, capsys):
    """SIGTERM (a cluster scheduler's notice before it preempts a job) saves the step it
    stopped at, as Ctrl-C does, and exits 143; --resume then logs the losses of an
    uninterrupted run."""
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(HAMLET)
    args = ["textgen", "train", str(corpus), "--steps", "36", "--eval-every", "10",
            "--log-every", "1", "--dropout", "0.25", "--num-layers", "2", "--sample-length",
            "0", "--lr", "0.005", "--hidden-size", "16", "--embedding-dim", "8",
            "--seq-length", "16", "--batch-size", "4", "--quiet"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    (tmp_path / "terminator.py").write_text(TERMINATOR)
    stopped = tmp_path / "stopped"
    proc = subprocess.run([sys.executable, str(tmp_path / "terminator.py"), *args, "--out",
                           str(stopped)], env=dict(os.environ, KILL_AT_STEP="26"),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 143, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"rnnkit: interrupted by SIGTERM at step 26 (checkpoint saved); continue with: "
        f"rnnkit textgen train --out {stopped} --resume"
    )
    from rnnkit.training import load_checkpoint

    assert load_checkpoint(stopped / "latest.npz")["trainer"]["step"] == 26  # between evals
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # (in this process: untouched)
    assert main(["textgen", "train", "--out", str(stopped), "--resume", "--quiet"]) == 0
    assert _losses(stopped) == _losses(tmp_path / "full")
    capsys.readouterr()


def test_the_trainer_puts_the_signal_handlers_back(tmp_path):
    from rnnkit.textgen import CharLM

    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        CharLM(hidden_size=8, num_layers=1, embedding_dim=4).fit(
            HAMLET, out=tmp_path / "r", steps=2, progress=False, seq_length=8, batch_size=2,
            sample_length=0,
        )  # fmt: skip
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_numpy_engine_under_torchrun_is_refused_on_every_rank(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(HAMLET)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        for engine in ([], ["--engine", "numpy"]):
            code, out, err = run_cli(capsys, "textgen", "train", str(corpus), "--out",
                                     str(tmp_path / "run"), "--steps", "2", *TINY, *engine)
            assert_one_line_error(code, err, "one of 2 processes started by torchrun",
                                  "add --engine torch")  # fmt: skip
            assert not (tmp_path / "run").exists()
    code, out, err = run_cli(capsys, "sentiment", "train", "--train", str(corpus), "--out",
                             str(tmp_path / "run"))  # fmt: skip
    assert_one_line_error(code, err, "one of 2 processes started by torchrun",
                          "add --engine torch")  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_the_resume_hint_under_torchrun_names_torchrun(monkeypatch):
    from rnnkit.cli.textgen import _textgen_resume_command

    plain = "rnnkit textgen train --out runs/a --resume"
    assert _textgen_resume_command("runs/a", "numpy") == plain
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert _textgen_resume_command("runs/a", "torch") == (
        "torchrun --standalone --nproc_per_node 2 -m rnnkit.cli textgen train --out runs/a "
        "--resume --engine torch"
    )
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert _textgen_resume_command("runs/a", "torch").startswith(
        "torchrun --nnodes 4 --nproc_per_node 2 "
    )


def test_entry_point_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rnnkit.cli", "textgen", "eval",
                           str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert_one_line_error(proc.returncode, proc.stderr, "checkpoint not found")


def test_demo_trains_and_prints_generated_text(capsys, monkeypatch):
    from rnnkit.textgen import demo, sizing

    inf = float("inf")  # the demo sizes its model by the budget rule: tiny here (the flow)
    monkeypatch.setattr(sizing, "BUDGET_SIZES", ((0.01, (3, 4)), (inf, (1, 16))))
    monkeypatch.setitem(demo.DEMO_SETTINGS, "val_fraction", 0.002)
    code, out, err = run_cli(capsys, "demo", "--minutes", "0.02", "--length", "40")
    assert code == 0
    assert "no size given: 1 layer of 16 (lstm), the size for a 0.02-minute budget" in err
    assert "validation loss" in out and "nats/char" in out
    assert len(out.split("prime 'def '):\n\n", 1)[1]) == len("def ") + 40 + 1


def test_nan_loss_stops_with_one_line_and_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    from rnnkit.textgen import train

    original = train.CharLMTask.train_step

    def blows_up_at_step_13(self, epoch, index):
        loss, items = original(self, epoch, index)
        return (float("inf") if epoch * len(self.batches) + index == 12 else loss), items

    monkeypatch.setattr(train.CharLMTask, "train_step", blows_up_at_step_13)
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(HAMLET)
    code, _, err = run_cli(capsys, "textgen", "train", str(corpus), "--out", str(tmp_path / "r"),
                           "--steps", "30", "--eval-every", "10", "--sample-length", "0", *TINY)
    assert_one_line_error(code, err, "step 13", "loss is inf", "step 10")
    monkeypatch.undo()
    code, out, _ = run_cli(capsys, "textgen", "sample", str(tmp_path / "r"), "--length", "5",
                           "--seed", "0")
    assert code == 0 and len(out) == 1 + 5 + 1
