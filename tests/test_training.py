"""The shared training loop and checkpoint format: round trips, atomicity, damage, exact resume."""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np
import pytest

from rnnkit.nn import Module, Parameter
from rnnkit.nn import random as nnrandom
from rnnkit.nn.optim import Adam
from rnnkit.training import (
    FORMAT_VERSION,
    CheckpointError,
    MetricsLog,
    RunDir,
    RunDirError,
    Trainer,
    TrainerConfig,
    flatten_tree,
    load_checkpoint,
    save_checkpoint,
    unflatten_tree,
)
from rnnkit.training import checkpoint as ckpt_module
from rnnkit.training.checkpoint import META_KEY, atomic_write


def sample_tree() -> dict:
    return {
        "app": "toy",
        "config": {"hidden": 8, "name": "é✓", "ratio": 0.1, "flag": True, "none": None},
        "model": {"rnn.weight_ih_l0": np.arange(12, dtype=np.float32).reshape(3, 4)},
        "optimizer": {"state": {"0": {"step": 3, "exp_avg": np.ones(3)}}, "lr": 1e-3},
        "task": {"carry": (np.zeros((1, 2, 3), np.float32), np.ones((1, 2, 3), np.float32))},
        "int_keys": {0: np.int64(5), 7: [1, 2.5, "x", np.float32(0.5)]},
        "ids": np.array([1, 2, 3], dtype=np.int32),
    }


def assert_tree_equal(a, b) -> None:
    assert type(a) is type(b) or (isinstance(a, float) and isinstance(b, float)), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_tree_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_tree_equal(x, y)
    else:
        assert a == b


# -- the format ----------------------------------------------------------------
def test_flatten_uses_slash_keys_and_round_trips():
    tree = sample_tree()
    skeleton, arrays = flatten_tree(tree)
    assert set(arrays) == {
        "model/rnn.weight_ih_l0",
        "optimizer/state/0/exp_avg",
        "task/carry/0",
        "task/carry/1",
        "ids",
    }
    json.dumps(skeleton)  # the skeleton is plain JSON
    back = unflatten_tree(json.loads(json.dumps(skeleton)), arrays)
    expected = dict(tree, int_keys={0: 5, 7: [1, 2.5, "x", 0.5]})  # numpy scalars -> Python
    assert_tree_equal(expected, back)


def test_flatten_refuses_what_json_and_npz_cannot_hold():
    with pytest.raises(ValueError, match="object array"):
        flatten_tree({"x": np.array([object()])})
    with pytest.raises(ValueError, match="all str or all int"):
        flatten_tree({"x": {1: 1, "a": 2}})
    with pytest.raises(ValueError, match="reserved"):
        flatten_tree({"__array__": 1})
    with pytest.raises(ValueError, match="cannot save a set"):
        flatten_tree({"x": {1, 2}})


def test_checkpoint_round_trip_is_a_plain_npz_with_json_meta(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, sample_tree())
    back = load_checkpoint(path, app="toy")
    expected = dict(sample_tree(), int_keys={0: 5, 7: [1, 2.5, "x", 0.5]})
    assert_tree_equal(expected, back)
    with np.load(path, allow_pickle=False) as npz:  # readable with NumPy alone, no pickle
        meta = json.loads(npz[META_KEY].tobytes().decode("utf-8"))
        assert "model/rnn.weight_ih_l0" in npz.files
    assert meta["format"] == "rnnkit-checkpoint" and meta["version"] == FORMAT_VERSION
    assert meta["tree"]["config"]["name"] == "é✓"
    assert not [p for p in tmp_path.iterdir() if p.name != "c.npz"]  # no temp file left


def test_failed_write_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.npz"
    save_checkpoint(path, sample_tree())
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"app": "toy", "config": {}, "model": {}})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.npz"]  # temp file removed
    monkeypatch.undo()
    load_checkpoint(path)


def test_atomic_write_survives_a_crash_between_write_and_rename(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def crash(src, dst):
        raise KeyboardInterrupt  # the process dies before the rename

    monkeypatch.setattr(ckpt_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"old"


def _write_meta(path, meta: dict, arrays: dict | None = None) -> None:
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **{META_KEY: blob}, **(arrays or {}))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", "not found"),
        ("garbage", "corrupt or truncated"),
        ("truncated", "corrupt or truncated"),
        ("flipped", "corrupt or truncated"),
        ("empty", "corrupt or truncated"),
        ("npy", "bare .npy"),
        ("no_meta", "no '__meta__'"),
        ("wrong_format", "not an rnnkit checkpoint"),
        ("newer_version", "newer rnnkit"),
        ("bad_version", "invalid checkpoint version"),
        ("missing_array", "missing array 'model/w'"),
        ("missing_model", "lacks model"),
        ("other_app", "expected 'toy'"),
        ("directory", "not a checkpoint file"),
    ],
)
def test_damaged_checkpoints_raise_one_line_checkpoint_error(tmp_path, damage, message):
    good = tmp_path / "good.npz"
    save_checkpoint(good, {"app": "toy", "config": {}, "model": {"w": np.ones((50, 50))}})
    data = good.read_bytes()
    path = tmp_path / "bad.npz"
    tree_ok = {"app": "toy", "config": {}, "model": {}}
    if damage == "garbage":
        path.write_bytes(os.urandom(300))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":  # a changed byte inside the stored array data: CRC error
        with zipfile.ZipFile(good) as z:
            info = z.getinfo("model/w.npy")
        pos = info.header_offset + 30 + len(info.filename) + 200
        path.write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "npy":
        np.save(path.with_suffix(".npy"), np.ones(3))
        path = path.with_suffix(".npy")
    elif damage == "no_meta":
        np.savez(path, w=np.ones(3))
    elif damage == "wrong_format":
        _write_meta(path, {"format": "something-else", "version": 1, "tree": tree_ok})
    elif damage == "newer_version":
        _write_meta(path, {"format": "rnnkit-checkpoint", "version": 99, "tree": tree_ok})
    elif damage == "bad_version":
        _write_meta(path, {"format": "rnnkit-checkpoint", "version": "1", "tree": tree_ok})
    elif damage == "missing_array":
        tree = {"app": "toy", "config": {}, "model": {"w": {"__array__": "model/w"}}}
        _write_meta(path, {"format": "rnnkit-checkpoint", "version": 1, "tree": tree})
    elif damage == "missing_model":
        _write_meta(path, {"format": "rnnkit-checkpoint", "version": 1,
                           "tree": {"app": "toy", "config": {}}})  # fmt: skip
    elif damage == "other_app":
        save_checkpoint(path, {"app": "sentiment", "config": {}, "model": {}})
    elif damage == "directory":
        path.mkdir()
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path, app="toy")
    assert "\n" not in str(info.value)


# -- run directory and metrics log -----------------------------------------------
def test_run_dir_refuses_to_clobber_and_force_removes_only_its_files(tmp_path):
    run = RunDir.create(tmp_path / "run")
    run.latest.write_bytes(b"checkpoint")
    (run.path / "notes.txt").write_text("mine")
    run.close()
    with pytest.raises(RunDirError, match="--resume"):
        RunDir.create(run.path)
    assert run.latest.read_bytes() == b"checkpoint"
    RunDir.create(run.path, force=True).close()  # no new checkpoint: the old run comes back
    assert run.latest.read_bytes() == b"checkpoint"
    forced = RunDir.create(run.path, force=True)
    assert not run.latest.exists() and (run.path / "notes.txt").read_text() == "mine"
    forced.close()
    run.latest.unlink()
    with pytest.raises(RunDirError, match="nothing to resume"):
        RunDir.create(run.path, resume=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="not a directory"):
        RunDir.create(tmp_path / "file")


def test_metrics_log_truncates_and_skips_a_torn_line(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (10, 20, 30):
        log.append({"step": step, "train_loss": step / 10, "nan": float("nan")})
    with open(log.path, "a") as f:
        f.write('{"step": 40, "train_lo')  # killed mid-write
    assert [r["step"] for r in log.read()] == [10, 20, 30]
    assert log.read()[0]["nan"] is None  # JSON has no NaN
    log.truncate(20)
    assert [r["step"] for r in log.read()] == [10, 20]


# -- the trainer -------------------------------------------------------------------
class Regression(Module):
    def __init__(self, dim: int):
        super().__init__()
        self.w = Parameter(np.zeros(dim))


class ToyTask:
    """Noisy linear regression: batch order from (seed, epoch), gradient noise from the
    engine RNG, and a carried counter, so resume must restore all three."""

    unit = "rows"

    def __init__(self, model: Regression, n: int = 64, batch: int = 8, fail_at: int | None = None):
        rng = np.random.default_rng(123)
        self.model = model
        self.X = rng.normal(size=(n, model.w.data.size))
        self.y = self.X @ rng.normal(size=model.w.data.size)
        self.batch = batch
        self.carry = np.zeros(1)
        self.calls = 0
        self.fail_at = fail_at  # raise (a crash) or return NaN at this call
        self.fail_with = "crash"
        self.val_losses: list[float] | None = None

    def batches_per_epoch(self) -> int:
        return len(self.X) // self.batch

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        self.calls += 1
        if self.calls == self.fail_at:
            if self.fail_with == "crash":
                raise RuntimeError("simulated crash")
            return float("nan"), self.batch
        order = np.random.default_rng((7, epoch)).permutation(len(self.X))
        rows = order[index * self.batch : (index + 1) * self.batch]
        err = self.X[rows] @ self.model.w.data - self.y[rows]
        noise = nnrandom.get_rng().normal(size=err.shape)  # like dropout: engine RNG
        self.carry += err.mean()
        self.model.w.grad += 2 * self.X[rows].T @ (err + 0.1 * noise) / len(rows)
        return float(np.mean(err**2) + 1e-3 * self.carry[0]), len(rows)

    def evaluate(self) -> dict[str, float]:
        if self.val_losses is not None:
            return {"val_loss": self.val_losses.pop(0)}
        err = self.X @ self.model.w.data - self.y
        return {"val_loss": float(np.mean(err**2))}

    def state_dict(self) -> dict:
        return {"carry": self.carry.copy(), "calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        self.carry = state["carry"].copy()


#: the run directory each test trainer opened, by path (a trainer keeps its lock until closed)
_OPENED: dict = {}


def make_trainer(run_dir, steps=40, fail_at=None, resume=False, plot=False, **config):
    nnrandom.manual_seed(0)
    model = Regression(5)
    task = ToyTask(model, fail_at=fail_at)
    opt = Adam(model.parameters(), lr=0.05)
    previous = _OPENED.pop(str(run_dir), None)
    if previous is not None:  # the earlier trainer on this directory is over (its process ended)
        previous.close()
    run = _OPENED[str(run_dir)] = RunDir.create(run_dir, resume=resume)
    cfg = TrainerConfig(steps=steps, eval_every=10, log_every=3, progress=False, plot=plot,
                        **config)
    trainer = Trainer(task, model, opt, run, cfg, app="toy", app_config={"dim": 5},
                      lr_schedule=lambda step, epoch: 0.05 * 0.9**epoch)  # fmt: skip
    if resume:
        trainer.restore(load_checkpoint(run.latest, app="toy"))
    return trainer, task, model


def losses(run: RunDir) -> list[dict]:
    keep = ("step", "epoch", "train_loss", "val_loss", "lr")
    return [{k: r[k] for k in keep if k in r} for r in MetricsLog(run.metrics).read()]


def test_training_reduces_the_loss_and_writes_the_run_dir(tmp_path):
    trainer, _, _ = make_trainer(tmp_path / "run", steps=40, plot=True)
    result = trainer.fit()
    run = RunDir(tmp_path / "run")
    assert result.reason == "steps" and result.step == 40
    vals = [r["val_loss"] for r in losses(run) if "val_loss" in r]
    assert len(vals) == 4 and vals[-1] < vals[0] / 5
    assert run.latest.exists() and run.best.exists()
    assert load_checkpoint(run.latest)["trainer"]["step"] == 40
    pytest.importorskip("matplotlib")
    assert run.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_after_a_stop_logs_the_same_losses(tmp_path):
    full, _, full_model = make_trainer(tmp_path / "full", steps=40)
    full.fit()
    part, _, _ = make_trainer(tmp_path / "part", steps=20)
    assert part.fit().step == 20
    resumed, _, model = make_trainer(tmp_path / "part", steps=40, resume=True)
    nnrandom.manual_seed(999)  # restore() must bring back the engine RNG itself
    resumed.restore(load_checkpoint(RunDir(tmp_path / "part").latest))
    assert resumed.fit().step == 40
    assert losses(RunDir(tmp_path / "part")) == losses(RunDir(tmp_path / "full"))
    np.testing.assert_array_equal(model.w.data, full_model.w.data)


def test_resume_after_a_crash_between_checkpoints_replays_exactly(tmp_path):
    full, _, full_model = make_trainer(tmp_path / "full", steps=40)
    full.fit()
    crashing, _, _ = make_trainer(tmp_path / "crash", steps=40, fail_at=27)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.fit()
    run = RunDir(tmp_path / "crash")
    assert max(r["step"] for r in MetricsLog(run.metrics).read()) == 24  # logged past the ckpt
    assert load_checkpoint(run.latest)["trainer"]["step"] == 20
    resumed, _, model = make_trainer(run.path, steps=40, resume=True)
    resumed.fit()
    assert losses(run) == losses(RunDir(tmp_path / "full"))
    np.testing.assert_array_equal(model.w.data, full_model.w.data)


def test_ctrl_c_saves_the_current_step_and_resume_is_exact(tmp_path):
    full, _, _ = make_trainer(tmp_path / "full", steps=40)
    full.fit()
    trainer, task, _ = make_trainer(tmp_path / "int", steps=40)
    original = task.train_step

    def step_then_interrupt(epoch, index):
        out = original(epoch, index)
        if task.calls == 15:
            trainer._stop_requested = True  # what the SIGINT handler does
        return out

    task.train_step = step_then_interrupt
    result = trainer.fit()
    assert result.reason == "interrupted" and result.step == 15
    run = RunDir(tmp_path / "int")
    assert load_checkpoint(run.latest)["trainer"]["step"] == 15
    resumed, _, _ = make_trainer(run.path, steps=40, resume=True)
    resumed.fit()
    assert losses(run) == losses(RunDir(tmp_path / "full"))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer, task, model = make_trainer(tmp_path / "run", steps=40, fail_at=25)
    task.fail_with = "nan"
    result = trainer.fit()
    assert result.reason == "diverged" and "loss is nan" in result.message
    assert "step 20" in result.message and "\n" not in result.message
    assert np.all(np.isfinite(model.w.data))  # the bad step was not applied
    ckpt = load_checkpoint(RunDir(tmp_path / "run").latest)
    assert ckpt["trainer"]["step"] == 20 and np.all(np.isfinite(ckpt["model"]["w"]))


def test_early_stopping_and_best_checkpoint(tmp_path):
    trainer, task, _ = make_trainer(tmp_path / "run", steps=100, patience=2)
    task.val_losses = [5.0, 3.0, 4.0, 3.5, 1.0]
    result = trainer.fit()
    assert result.reason == "early_stopped" and result.step == 40
    assert result.best == 3.0 and result.best_step == 20
    run = RunDir(tmp_path / "run")
    assert load_checkpoint(run.best)["trainer"]["step"] == 20
    assert load_checkpoint(run.latest)["trainer"]["step"] == 40


def test_stop_rules(tmp_path):
    trainer, _, _ = make_trainer(tmp_path / "a", steps=None, epochs=1.5)
    result = trainer.fit()
    assert result.reason == "epochs" and result.step == 12  # 8 batches per epoch
    trainer, _, _ = make_trainer(tmp_path / "b", steps=None, minutes=1e-9)
    assert trainer.fit().reason == "minutes"
    with pytest.raises(ValueError, match="no stop rule"):
        make_trainer(tmp_path / "c", steps=None)
    with pytest.raises(ValueError, match="mode"):
        make_trainer(tmp_path / "d", mode="up")


def test_restore_refuses_a_model_only_checkpoint(tmp_path):
    trainer, _, model = make_trainer(tmp_path / "run", steps=10)
    save_checkpoint(tmp_path / "m.npz", {"app": "toy", "config": {}, "model": model.state_dict()})
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        trainer.restore(load_checkpoint(tmp_path / "m.npz"))
    assert math.isfinite(trainer.fit().metrics["val_loss"])


# -- weight averaging (ema_decay) ----------------------------------------------
def test_ema_evaluates_and_saves_the_average_and_resumes_exactly(tmp_path):
    trainer, _, model = make_trainer(tmp_path / "full", steps=40, ema_decay=0.9)
    seen = []
    trainer.on_eval = lambda t, m: seen.append(model.w.data.copy())
    trainer.fit()
    # The average, recomputed by hand from the raw weights after each step of a replay.
    replay, _, replay_model = make_trainer(tmp_path / "replay", steps=40)
    avg, raw_after = replay_model.w.data.copy(), []
    step_once = replay.optimizer.step

    def step_and_average():
        step_once()
        nonlocal avg
        d = min(0.9, (1 + replay.step) / (10 + replay.step))
        avg = avg + (1 - d) * (replay_model.w.data - avg)
        raw_after.append(avg.copy())

    replay.optimizer.step = step_and_average
    replay.fit()
    np.testing.assert_allclose(seen[-1], raw_after[-1], rtol=1e-12)  # on_eval saw the average
    np.testing.assert_array_equal(model.w.data, replay_model.w.data)  # training used raw weights
    ckpt = load_checkpoint(RunDir(tmp_path / "full").latest)
    np.testing.assert_allclose(ckpt["model"]["w"], raw_after[-1], rtol=1e-12)
    np.testing.assert_array_equal(ckpt["train_model"]["w"], model.w.data)
    assert not np.allclose(ckpt["model"]["w"], ckpt["train_model"]["w"])
    # Resume continues both the raw weights and the average exactly.
    part, _, _ = make_trainer(tmp_path / "part", steps=20, ema_decay=0.9)
    part.fit()
    resumed, _, resumed_model = make_trainer(tmp_path / "part", steps=40, resume=True,
                                             ema_decay=0.9)
    resumed.fit()
    again = load_checkpoint(RunDir(tmp_path / "part").latest)
    for key in ("model", "train_model"):
        np.testing.assert_array_equal(again[key]["w"], ckpt[key]["w"])
    assert losses(RunDir(tmp_path / "part")) == losses(RunDir(tmp_path / "full"))


def test_ema_decay_is_checked():
    with pytest.raises(ValueError, match="ema_decay"):
        TrainerConfig(steps=1, ema_decay=1.0).validate()
