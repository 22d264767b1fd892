"""The training loop both applications share (see :mod:`rnnkit.training` for the API)."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from ..nn import random as nnrandom
from ..nn.module import Module
from ..nn.optim import clip_grad_norm
from .checkpoint import CheckpointError, atomic_copy, read_checkpoint_meta, save_checkpoint
from .metrics import MetricsLog, plot_metrics
from .progress import Progress, format_duration
from .rundir import RunDir
from .settings import StopRule


class TrainTask(Protocol):
    """What an application tells the trainer (see :mod:`rnnkit.training`)."""

    unit: str

    def batches_per_epoch(self) -> int: ...

    def train_step(self, epoch: int, index: int) -> tuple[float, int]: ...

    def evaluate(self) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Processes(Protocol):
    """The processes that train one run together (PyTorch DDP under ``torchrun``).

    Every process runs the same :class:`Trainer` on the same weights; the
    task splits each batch and averages the gradients. What the trainer needs
    from the group (:class:`rnnkit.interop.torch_engine.Processes` is one):
    """

    rank: int  # 0 writes the run directory; the others write nothing
    world_size: int

    def barrier(self) -> None: ...  # every process waits for all the others

    def max(self, value: int) -> int: ...  # the largest ``value`` among the processes


@dataclass
class TrainerConfig:
    """Stop rules, cadence and guards of a run. At least one stop rule is required."""

    epochs: float | None = None  # stop after this many passes over the training data
    steps: int | None = None  # stop at this optimizer step (counted from the run's start)
    minutes: float | None = None  # stop after this much wall-clock time (carried across resume)
    eval_every: int = 500  # evaluate, log, checkpoint every this many steps
    log_every: int = 10  # one train-loss record (mean over the interval) per this many steps
    grad_clip: float | None = 5.0  # clip the global gradient norm to this (None: no clipping)
    monitor: str = "val_loss"  # the metric that picks best.npz and drives early stopping
    mode: str = "min"  # "min" or "max": which direction of `monitor` is better
    patience: int | None = None  # stop after this many evaluations without improvement
    progress: bool = True  # progress bar on stderr
    plot: bool = True  # redraw loss.png at each evaluation
    ema_decay: float | None = None  # evaluate and save a moving average of the weights (None: off)

    def validate(self) -> None:
        if self.epochs is None and self.steps is None and self.minutes is None:
            raise ValueError("no stop rule: give epochs, steps or minutes")
        StopRule(self.epochs, self.steps, self.minutes).validate()  # finite, in range
        for name in ("eval_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, received {getattr(self, name)}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, received {self.grad_clip}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', received {self.mode!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, received {self.patience}")
        check_ema_decay(self.ema_decay)


def check_ema_decay(ema_decay: float | None) -> None:
    """Weight averaging's decay must be None (off) or in (0, 1); else a ValueError."""
    if ema_decay is not None and not 0.0 < ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1) or None, received {ema_decay}")


_TRAINER_KEYS = (
    "step", "epoch", "index", "elapsed", "best", "best_step", "bad_evals",
    "last_eval_step", "interval_loss", "interval_steps", "rng",
)  # fmt: skip


def _trainer_state(t: Any, batches: int) -> dict:
    """The counters of a checkpoint's trainer state, each checked against this run
    (``batches`` per epoch); a ValueError naming the first one out of range."""
    if not isinstance(t, dict):
        raise ValueError("the trainer state is not a dict")
    missing = [k for k in _TRAINER_KEYS if k not in t]
    if missing:
        raise ValueError(f"the trainer state lacks {', '.join(repr(k) for k in missing)}")
    step = _count(t, "step", 0)
    return {
        "step": step,
        "epoch": _count(t, "epoch", 0),
        "index": _count(t, "index", 0, batches - 1),
        "elapsed": _real(t, "elapsed", low=0.0),
        "best": None if t["best"] is None else _real(t, "best"),
        "best_step": None if t["best_step"] is None else _count(t, "best_step", 0, step),
        "bad_evals": _count(t, "bad_evals", 0),
        "last_eval_step": (
            None if t["last_eval_step"] is None else _count(t, "last_eval_step", 0, step)
        ),
        "interval_loss": _real(t, "interval_loss"),
        "interval_steps": _count(t, "interval_steps", 0, step),
    }


def _count(state: dict, key: str, low: int, high: int | None = None) -> int:
    """``state[key]`` as an int in ``[low, high]``, else a ValueError naming it."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"trainer '{key}' must be an integer, received {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"trainer '{key}' must be {bounds}, received {value!r}")
    return int(value)


def _real(state: dict, key: str, low: float | None = None) -> float:
    """``state[key]`` as a finite float (``>= low``), else a ValueError naming it."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"trainer '{key}' must be a finite number, received {value!r}")
    if low is not None and value < low:
        raise ValueError(f"trainer '{key}' must be >= {low}, received {value!r}")
    return float(value)


def _checkpoint_step(path) -> int | None:
    """The trainer step a checkpoint file holds (None: no such file, or not a
    training checkpoint)."""
    if not path.is_file():
        return None
    try:
        tree = read_checkpoint_meta(path)["tree"]
        return int(tree["trainer"]["step"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None


@dataclass
class TrainResult:
    """How a run ended: ``reason`` is one of ``steps``, ``epochs``, ``minutes``,
    ``early_stopped``, ``interrupted``, ``diverged``; ``message`` explains the last
    two (the caller decides where to print it). ``signal``: for ``interrupted``, the
    signal that asked for the stop (``SIGINT``: Ctrl-C, ``SIGTERM``: a scheduler's
    preemption or ``kill``), None when another process of the group was asked."""

    reason: str
    step: int
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation
    best: float | None = None
    best_step: int | None = None
    message: str = ""
    signal: int | None = None


class Trainer:
    """Runs a :class:`TrainTask`: optimizer steps, evaluation, logs, checkpoints, resume.

    ``app`` and ``app_config`` are written into every checkpoint (the JSON an
    application needs to rebuild its model and vocabulary). ``lr_schedule(step,
    epoch) -> lr`` (optional) sets ``optimizer.lr`` before every step; it must
    be a pure function so that resume is exact. ``on_eval(trainer, metrics)``
    runs after each evaluation and checkpoint (e.g. to print a sample with
    :meth:`write`); it must not draw from the engine's random generator.
    ``on_restore(trainer, checkpoint)`` runs at the end of :meth:`restore` (e.g.
    to read the run's ``best.npz``); both are the trainer's extension points.

    With ``processes`` (several processes training one run, see
    :class:`Processes`) every process runs this loop in step: they agree on
    when to stop (a clock or a Ctrl-C on one process stops all of them at the
    same step, a Ctrl-C as ``interrupted``) and every process builds each
    checkpoint (the task may gather its state from all of them), which only
    the process given the ``run_dir`` (rank 0) writes.

    With ``config.ema_decay = d`` the trainer keeps an exponential moving
    average of the trainable weights (Polyak averaging), updated after every
    optimizer step with ``avg <- avg + (1 - d_t)(w - avg)``, ``d_t = min(d,
    (1 + t) / (10 + t))`` at step ``t`` (the warm-up keeps the first steps'
    random weights from dominating). Evaluation and ``on_eval`` see the
    averaged weights; checkpoints hold them as ``model`` (what inference
    loads, and what ``best`` is chosen on) and the raw weights as
    ``train_model`` (what resume continues from).
    """

    def __init__(
        self,
        task: TrainTask,
        model: Module,
        optimizer: Any,
        run_dir: RunDir | None,
        config: TrainerConfig,
        *,
        app: str,
        app_config: dict,
        lr_schedule: Callable[[int, int], float] | None = None,
        on_eval: Callable[[Trainer, dict[str, float]], None] | None = None,
        on_restore: Callable[[Trainer, dict], None] | None = None,
        processes: Processes | None = None,
    ):
        config.validate()
        self.processes = processes
        self.task = task
        self.model = model
        self.optimizer = optimizer
        self.run_dir = run_dir
        self.config = config
        self.app = app
        self.app_config = app_config
        self.lr_schedule = lr_schedule
        self.on_eval = on_eval
        self.on_restore = on_restore
        self.log = MetricsLog(run_dir.metrics) if run_dir is not None else None
        # the resumable state
        self.step = 0
        self.epoch = 0
        self.index = 0  # batch index inside the epoch
        self.elapsed = 0.0  # seconds of training before this session
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.last_eval_step: int | None = None
        self.interval_loss = 0.0  # sum of step losses since the last train record
        self.interval_steps = 0
        self.last_metrics: dict[str, float] = {}
        # weight averaging: the trainable parameters and their moving average
        self._tracked = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.average: dict[str, np.ndarray] | None = None
        if config.ema_decay is not None:
            self.average = {n: p.data.copy() for n, p in self._tracked}
        # this session only
        self._progress: Progress | None = None
        self._stop_requested = False
        self._stop_signal: int | None = None  # the signal that asked for the stop

    def attach(self, run_dir: RunDir | None) -> None:
        """Write into ``run_dir`` from now on (the run's lifecycle builds the trainer first)."""
        self.run_dir = run_dir
        self.log = MetricsLog(run_dir.metrics) if run_dir is not None else None

    # -- resume --------------------------------------------------------------
    def restore(self, ckpt: dict) -> None:
        """Load a training checkpoint (model, optimizer, task, trainer state, engine RNG).

        Every counter is checked against this run (a step index outside the
        epoch, a negative step, a best step after the checkpoint's own step...
        raise :class:`CheckpointError` in one line). The metrics log is cut
        back to the checkpoint's step, so the steps that are replayed after a
        crash are logged once; and ``best.npz`` is brought in line with the
        checkpoint (see :meth:`_repair_best`).
        """
        where = f"{self.run_dir.latest}: " if self.run_dir is not None else ""
        for key in ("optimizer", "trainer", "task"):
            if key not in ckpt:
                raise CheckpointError(
                    f"{where}checkpoint has no '{key}' state: it cannot be resumed"
                )
        try:
            t = ckpt["trainer"]
            state = _trainer_state(t, int(self.task.batches_per_epoch()))
            if not isinstance(t["rng"], dict):
                raise ValueError("the random state is not a dict")
            metrics = ckpt.get("metrics", {})
            if not isinstance(metrics, dict):
                raise ValueError("'metrics' is not a dict")
            self.model.load_state_dict(ckpt.get("train_model", ckpt["model"]))
            if self.average is not None:  # averaged weights saved as "model" (else start now)
                saved = ckpt["model"] if "train_model" in ckpt else self.model.state_dict()
                self.average = {n: np.array(saved[n], dtype=p.dtype) for n, p in self._tracked}
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.task.load_state_dict(ckpt["task"])
            nnrandom.set_rng_state(t["rng"])
        except KeyError as exc:
            raise CheckpointError(
                f"{where}checkpoint does not fit this run: missing key {exc.args[0]!r}"
            ) from None
        except (TypeError, ValueError, IndexError, OverflowError, AttributeError) as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise CheckpointError(f"{where}checkpoint does not fit this run: {detail}") from None
        for key, value in state.items():
            setattr(self, key, value)
        self.last_metrics = dict(metrics)
        if self.log is not None:
            self.log.truncate(self.step)
        self._repair_best()
        if self.on_restore is not None:
            self.on_restore(self, ckpt)

    def _repair_best(self) -> None:
        """Make ``best.npz`` the checkpoint ``latest.npz`` says is best.

        An evaluation that improves writes ``latest.npz`` and then copies it to
        ``best.npz``; a kill between the two leaves a ``latest`` whose
        ``best_step`` is its own step and a ``best.npz`` that is older (or
        absent). ``latest`` is then the best checkpoint, so it is copied again.
        (``best_step`` below the step means the copy was made: every later
        checkpoint was written after it.)
        """
        run = self.run_dir
        if run is None or self.best_step is None or self.best_step != self.step:
            return
        if _checkpoint_step(run.best) != self.step:
            atomic_copy(run.latest, run.best)

    def checkpoint_tree(self) -> dict:
        """Everything a checkpoint holds at the current step (the format of :mod:`.checkpoint`)."""
        model = dict(self.model.state_dict())
        if self.average is None:
            weights = {"model": model}
        else:  # "model" is what is evaluated and loaded; resume continues "train_model"
            weights = {"model": {**model, **self.average}, "train_model": model}
        return {
            "app": self.app,
            "config": self.app_config,
            **weights,
            "optimizer": self.optimizer.state_dict(),
            "trainer": {
                "step": self.step,
                "epoch": self.epoch,
                "index": self.index,
                "elapsed": self.elapsed,
                "best": self.best,
                "best_step": self.best_step,
                "bad_evals": self.bad_evals,
                "last_eval_step": self.last_eval_step,
                "interval_loss": self.interval_loss,
                "interval_steps": self.interval_steps,
                "rng": nnrandom.get_rng_state(),
                "config": asdict(self.config),
            },
            "task": self.task.state_dict(),
            "metrics": dict(self.last_metrics),
        }

    # -- the loop ------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train until a stop rule fires; returns how it ended.

        Ctrl-C (SIGINT) or SIGTERM (what a cluster scheduler sends before it
        preempts a job) finishes the current step, saves ``latest`` and returns
        ``interrupted``; a second one aborts at once (KeyboardInterrupt). The
        previous handlers are back when this returns.
        """
        cfg = self.config
        batches = int(self.task.batches_per_epoch())
        if batches < 1:
            raise ValueError(f"the task has no training batches (batches_per_epoch={batches})")
        params = [p for p in self.model.parameters() if p.requires_grad]
        session_start = time.monotonic()
        base_elapsed = self.elapsed
        total_steps = self._step_budget(batches)
        if cfg.progress:
            where = f" in {self.run_dir.path}" if self.run_dir is not None else ""
            verb = f"resuming at step {self.step}" if self.step else "training"
            print(f"{self.app}: {verb}{where}, {self.model.num_parameters():,} parameters, "
                  f"{batches:,} batches per epoch", file=sys.stderr, flush=True)  # fmt: skip
        self._progress = Progress(enabled=cfg.progress, total=total_steps, initial=self.step)
        rate_clock, rate_items = time.monotonic(), 0
        restore_signals = self._install_signal_handlers()
        reason, message = "", ""
        try:
            self.model.train()
            while True:
                self.elapsed = base_elapsed + (time.monotonic() - session_start)
                reason = self._stop_rule(batches)
                if self.processes is not None:
                    reason = self._agree_on_stop(reason)
                if reason:
                    break
                if self._stop_requested:
                    reason = "interrupted"
                    break
                if self.lr_schedule is not None:
                    self.optimizer.lr = float(self.lr_schedule(self.step, self.epoch))
                self.optimizer.zero_grad()
                loss, items = self.task.train_step(self.epoch, self.index)
                loss = float(loss)
                grad_norm = self._grad_norm(params)
                if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                    reason = "diverged"
                    what = "loss" if not math.isfinite(loss) else "gradient norm"
                    value = loss if not math.isfinite(loss) else grad_norm
                    kept = (
                        f"the last good checkpoint (step {self.last_eval_step}) is kept"
                        if self.last_eval_step is not None and self.run_dir is not None
                        else "nothing was saved"
                    )
                    message = (
                        f"training stopped at step {self.step + 1}: the {what} is {value}; "
                        f"{kept} (try a lower learning rate or gradient clipping)"
                    )
                    break
                self.optimizer.step()
                self._update_average()
                self.step += 1
                self.index += 1
                if self.index == batches:
                    self.index, self.epoch = 0, self.epoch + 1
                self.interval_loss += loss
                self.interval_steps += 1
                rate_items += int(items)
                postfix = None
                if self.step % cfg.log_every == 0:
                    now = time.monotonic()
                    rate = rate_items / max(now - rate_clock, 1e-9)
                    rate_clock, rate_items = now, 0
                    postfix = self._log_train(rate, base_elapsed + now - session_start)
                if self.step % cfg.eval_every == 0:
                    eval_start = time.monotonic()
                    self.elapsed = base_elapsed + (eval_start - session_start)
                    if self._evaluate_and_save():
                        reason = "early_stopped"
                        break
                    rate_clock += time.monotonic() - eval_start  # not training throughput
                self._progress.update(self.step, postfix)
            if reason == "interrupted":
                self.elapsed = base_elapsed + (time.monotonic() - session_start)
                self._save()
                by = "" if self._stop_signal in (None, signal.SIGINT) else (
                    f" by {signal.Signals(self._stop_signal).name}"
                )  # fmt: skip
                message = f"interrupted{by} at step {self.step} (checkpoint saved)"
            elif reason not in ("diverged", "early_stopped") and self.last_eval_step != self.step:
                self._evaluate_and_save()
        finally:
            restore_signals()
            self._progress.close()
        metrics = dict(self.last_metrics)
        stopped_by = self._stop_signal if reason == "interrupted" else None
        return TrainResult(
            reason, self.step, self.epoch, metrics, self.best, self.best_step, message, stopped_by
        )

    def use_average(self) -> None:
        """Put the averaged weights into the model for good (nothing without ``ema_decay``).

        For after :meth:`fit`: the model then holds what was evaluated and saved.
        """
        self._load(self.average)

    def write(self, message: str) -> None:
        """Print a line without tearing the progress bar."""
        if self._progress is not None:
            self._progress.write(message)
        else:
            print(message, flush=True)

    # -- pieces of the loop --------------------------------------------------
    def _step_budget(self, batches: int) -> int | None:
        budgets = []
        if self.config.steps is not None:
            budgets.append(int(self.config.steps))
        if self.config.epochs is not None:
            budgets.append(int(math.ceil(self.config.epochs * batches)))
        return min(budgets) if budgets else None

    def _stop_rule(self, batches: int) -> str:
        cfg = self.config
        if cfg.steps is not None and self.step >= cfg.steps:
            return "steps"
        if cfg.epochs is not None and self.step >= math.ceil(cfg.epochs * batches):
            return "epochs"
        if cfg.minutes is not None and self.elapsed >= cfg.minutes * 60:
            return "minutes"
        return ""

    def _agree_on_stop(self, reason: str) -> str:
        """The stop decision of all processes: any one's Ctrl-C (all ``interrupted``), else
        any one's stop rule (only a clock can differ: steps and epochs agree everywhere)."""
        wanted = 2 if self._stop_requested else 1 if reason else 0
        agreed = self.processes.max(wanted)  # type: ignore[union-attr]
        if agreed == 2:
            self._stop_requested = True
            return ""
        return reason or ("minutes" if agreed == 1 else "")

    def _grad_norm(self, params: list) -> float:
        if self.config.grad_clip is not None:
            return clip_grad_norm(params, self.config.grad_clip)
        return math.sqrt(sum(float((p.grad * p.grad).sum()) for p in params))

    def _log_train(self, rate: float, elapsed: float) -> dict[str, str]:
        """Write one train record (mean loss over the interval); returns the bar's postfix."""
        train_loss = self.interval_loss / max(self.interval_steps, 1)
        self.interval_loss, self.interval_steps = 0.0, 0
        unit = getattr(self.task, "unit", "items")
        record = {
            "step": self.step,
            "epoch": self.epoch,
            "train_loss": train_loss,
            "lr": float(self.optimizer.lr),
            f"{unit}_per_s": round(rate, 1),
            "elapsed": round(elapsed, 2),
        }
        if self.log is not None:
            self.log.append(record)
        postfix = {"loss": f"{train_loss:.3f}"}
        if self.config.monitor in self.last_metrics:
            postfix[self.config.monitor] = f"{self.last_metrics[self.config.monitor]:.3f}"
        postfix[f"{unit}/s"] = f"{rate:,.0f}"
        if self.config.minutes is not None:
            postfix["left"] = format_duration(self.config.minutes * 60 - elapsed)
        return postfix

    def _evaluate_and_save(self) -> bool:
        """Evaluate, log, save ``latest`` (and ``best``), redraw the plot, call ``on_eval``.

        Returns True when early stopping says stop.
        """
        cfg = self.config
        with self._evaluated_weights():
            self.model.eval()
            try:
                metrics = {k: float(v) for k, v in (self.task.evaluate() or {}).items()}
            finally:
                self.model.train()
        self.last_metrics = metrics
        self.last_eval_step = self.step
        improved = False
        if metrics:
            if cfg.monitor not in metrics:
                raise ValueError(
                    f"monitor '{cfg.monitor}' is not among the evaluation metrics {sorted(metrics)}"
                )
            value = metrics[cfg.monitor]
            if math.isfinite(value) and (
                self.best is None
                or (value < self.best if cfg.mode == "min" else value > self.best)
            ):
                self.best, self.best_step, self.bad_evals, improved = value, self.step, 0, True
            else:
                self.bad_evals += 1
            if self.log is not None:
                self.log.append({"step": self.step, "epoch": self.epoch, **metrics,
                                 "elapsed": round(self.elapsed, 2)})  # fmt: skip
        self._save()
        if improved and self.run_dir is not None:
            atomic_copy(self.run_dir.latest, self.run_dir.best)
        if cfg.plot and self.run_dir is not None:
            plot_metrics(self.run_dir.metrics, self.run_dir.plot)
        if self.on_eval is not None:
            with self._evaluated_weights():
                self.on_eval(self, metrics)
        return cfg.patience is not None and self.bad_evals >= cfg.patience

    def _update_average(self) -> None:
        if self.average is None:
            return
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        for name, p in self._tracked:
            avg = self.average[name]
            avg += (1.0 - decay) * (p.data - avg)

    @contextlib.contextmanager
    def _evaluated_weights(self):
        """Inside: the model holds the averaged weights (as it is, without ``ema_decay``)."""
        raw = None if self.average is None else {n: p.data.copy() for n, p in self._tracked}
        self._load(self.average)
        try:
            yield
        finally:
            self._load(raw)  # the raw weights go on training (and into train_model)

    def _load(self, weights: dict[str, np.ndarray] | None) -> None:
        if weights is not None:
            self.model.load_state_dict(weights, strict=False)

    def _save(self) -> None:
        if self.run_dir is None and self.processes is None:
            return
        tree = self.checkpoint_tree()  # on every process: the task may gather its state
        if self.run_dir is not None:
            save_checkpoint(self.run_dir.latest, tree)
            self.run_dir.commit()  # the first checkpoint ends a --force's old run

    def _install_signal_handlers(self) -> Callable[[], None]:
        """First Ctrl-C (SIGINT) or SIGTERM: stop after the current step and save. Second:
        abort (KeyboardInterrupt). Returns what puts the previous handlers back."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
        previous = {s: signal.getsignal(s) for s in wanted}

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested, self._stop_signal = True, signum
            if signum == signal.SIGINT:
                self.write("stopping after this step (Ctrl-C again to abort without saving)...")
            else:
                name = signal.Signals(signum).name
                self.write(f"{name}: stopping after this step to save it ({name} again aborts "
                           "without saving)...")  # fmt: skip

        for s in wanted:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)

        return restore
