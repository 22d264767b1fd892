"""The training options every application shares: one name and one meaning each.

An application's settings dataclass *is* a :class:`TrainerOptions` (it
subclasses it) and adds only what is its own (``seq_length``, ``batch_size``,
``distill_weight``...); where its default differs it says so in one line with
:func:`default_of`, keeping the shared field's help and bounds::

    @dataclass(frozen=True)
    class TrainSettings(TrainerOptions):
        seq_length: int = option(100, "characters per chunk", bounds=count())
        lr: float = default_of("lr", 2e-3)

The trainer consumes the options directly (:func:`build_trainer`): the
optimizer (:data:`OPTIMIZERS` of :mod:`rnnkit.nn.optim`), the learning-rate
schedule (:meth:`TrainerOptions.lr_at`), evaluation and logging cadence,
clipping, weight averaging, early stopping and the seed. So a shared option is
one field here (and its use here): it then exists, with the same name and
meaning, as a keyword of both applications' ``fit``, a flag of both ``train``
commands, a key of their checkpoints and a line of ``docs/cli.md``.

Renamed options keep their old name for a release (``aliases`` metadata): the
old keyword or flag still works with a one-line deprecation warning (a
``FutureWarning``: shown to users by default), and
checkpoints that saved the old name load (:func:`from_dict` with
:func:`renamed_options`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..nn import optim
from .settings import (
    DECAY,
    FRACTION,
    MAX_COUNT,
    MAX_RATE,
    RATE,
    SEED,
    SHARE,
    Bounds,
    StopRule,
    check_bounds,
    count,
    from_dict,
    option,
)

#: the optimizers a run may use, by name (``optimizer`` option)
OPTIMIZERS: dict[str, type] = {
    "adam": optim.Adam,
    "adamw": optim.AdamW,
    "rmsprop": optim.RMSprop,
    "sgd": optim.SGD,
    "adagrad": optim.Adagrad,
}


@dataclass(frozen=True)
class TrainerOptions:
    """What every application's training has: optimizer, schedule, cadence, guards, seed.

    The learning rate of step ``t`` in epoch ``e`` (:meth:`lr_at`, a pure
    function of them, so resume is exact)::

        decays = 0                                   if t < lr_decay_after
               = (t - lr_decay_after) // lr_decay_every + 1   (every N steps), else
               = e                                   (lr_decay_every None: once per epoch)
        lr_t   = max(lr * lr_decay ** decays, min(lr_min, lr))

    Evaluation (and a checkpoint) every ``eval_every`` steps, or
    ``evals_per_epoch`` times per epoch when ``eval_every`` is None.
    """

    optimizer: str = option("adam", "optimizer", choices=tuple(sorted(OPTIMIZERS)))
    lr: float = option(1e-3, "learning rate", bounds=RATE)
    weight_decay: float | None = option(
        None, "L2 penalty, decoupled for adamw (default: the optimizer's own, 0 but for "
        "adamw's 0.01)", bounds=Bounds(0, MAX_RATE),
    )  # fmt: skip
    lr_decay: float = option(1.0, "multiply the lr by this ... (1 = constant lr)", bounds=SHARE)
    lr_decay_every: int | None = option(
        None, "... every this many steps (0 = at the end of every epoch) ...", metavar="STEPS",
        zero_is_none=True, bounds=count(),
    )  # fmt: skip
    lr_decay_after: int = option(0, "... from this step on", metavar="STEP", bounds=count(0))
    lr_min: float = option(0.0, "the decay stops at this lr", bounds=Bounds(0, MAX_RATE))
    grad_clip: float | None = option(5.0, "max global gradient norm, 0 = off", zero_is_none=True,
                                      bounds=Bounds(0, MAX_COUNT, low_open=True))  # fmt: skip
    ema_decay: float | None = option(
        None,
        "evaluate, save and keep a moving average of the weights with this decay per step, "
        "e.g. 0.999 (default: off)",
        bounds=DECAY,
    )
    eval_every: int | None = option(
        None, "steps between evaluations and checkpoints (0 = use --evals-per-epoch)",
        metavar="STEPS", zero_is_none=True, bounds=count(),
    )  # fmt: skip
    evals_per_epoch: int | None = option(
        None, "evaluations per epoch, when --eval-every is not given", zero_is_none=True,
        bounds=count(),
    )  # fmt: skip
    log_every: int | None = option(
        None, "steps per train-loss record in metrics.jsonl (default: about 10 per epoch, "
        "at most 50)", metavar="STEPS", zero_is_none=True, bounds=count(),
    )  # fmt: skip
    patience: int | None = option(
        None, "evaluations without improvement before stopping, 0 = never", zero_is_none=True,
        bounds=count(),
    )  # fmt: skip
    val_fraction: float = option(0.1, "share of the training data held out for validation",
                                 bounds=FRACTION, aliases=("valid_fraction",))  # fmt: skip
    seed: int = option(0, "initialisation, dropout and data-order seed", bounds=SEED)

    def validate(self) -> None:
        check_bounds(self)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, received {self.optimizer!r}"
            )
        if not self.lr_min <= self.lr:
            raise ValueError(f"lr_min must be in [0, lr], received {self.lr_min}")
        if self.eval_every is None and self.evals_per_epoch is None:
            raise ValueError("give eval_every or evals_per_epoch")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """From a checkpoint's saved settings (older names renamed, unknown keys dropped)."""
        return from_dict(cls, data, renamed_options(cls))

    def lr_at(self, step: int, epoch: int = 0) -> float:
        """The learning rate of a step (the formula in the class docstring)."""
        if step < self.lr_decay_after:
            decays = 0
        elif self.lr_decay_every is None:
            decays = epoch
        else:
            decays = (step - self.lr_decay_after) // self.lr_decay_every + 1
        return max(self.lr * self.lr_decay**decays, min(self.lr_min, self.lr))

    def make_optimizer(self, parameters) -> Any:
        """The ``optimizer`` over ``parameters`` (the trainable ones), with ``lr`` and
        ``weight_decay``."""
        params = [p for p in parameters if p.requires_grad]
        penalty = {} if self.weight_decay is None else {"weight_decay": self.weight_decay}
        return OPTIMIZERS[self.optimizer](params, lr=self.lr, **penalty)

    def cadence(self, batches_per_epoch: int) -> tuple[int, int]:
        """``(eval_every, log_every)`` in steps for an epoch of ``batches_per_epoch``."""
        eval_every = self.eval_every
        if eval_every is None:
            eval_every = max(1, math.ceil(batches_per_epoch / self.evals_per_epoch))
        log_every = self.log_every
        if log_every is None:
            log_every = max(1, min(50, batches_per_epoch // 10))
        return eval_every, log_every


def default_of(name: str, value: Any) -> Any:
    """The shared field ``name`` of :class:`TrainerOptions` with an application's own default."""
    base = next(f for f in dataclasses.fields(TrainerOptions) if f.name == name)
    return dataclasses.field(default=value, metadata=base.metadata)


def renamed_options(cls: type) -> dict[str, str]:
    """Old name -> current name, for every option of ``cls`` with ``aliases``."""
    return {
        old: f.name for f in dataclasses.fields(cls) for old in f.metadata.get("aliases", ())
    }


def settings_from(cls: type, given: Mapping[str, Any], what: str = "training settings"):
    """``cls(**given)`` for keywords a user gave (the API's ``**settings``, the command
    line's flags): old names work with a one-line :class:`FutureWarning`; an
    unknown name is a ``TypeError`` naming it; giving ``eval_every`` turns the
    application's ``evals_per_epoch`` default off and the other way round."""
    given = dict(given)
    for old, new in renamed_options(cls).items():
        if old in given:
            warnings.warn(f"{old} is deprecated: it is called {new} now", FutureWarning,
                          stacklevel=3)  # fmt: skip
            if new in given:
                raise TypeError(f"give {new} or its old name {old}, not both")
            given[new] = given.pop(old)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise TypeError(f"unknown {what} {unknown}")
    cadence = {"eval_every", "evals_per_epoch"} & set(given)
    if cadence == {"eval_every", "evals_per_epoch"} and None not in (
        given["eval_every"], given["evals_per_epoch"]
    ):
        raise ValueError("give eval_every or evals_per_epoch, not both")
    if cadence == {"eval_every"} and given["eval_every"] is not None:
        given["evals_per_epoch"] = None
    elif cadence == {"evals_per_epoch"} and given["evals_per_epoch"] is not None:
        given["eval_every"] = None
    return cls(**given)


def stop_rule_for(given: StopRule, default: StopRule, checkpoint: dict | None = None) -> StopRule:
    """The one default-stop rule of every application: the rule given, else (on resume)
    the run's saved rule, else the application's ``default``."""
    if given.given():
        return given
    if checkpoint is not None:
        saved = from_dict(StopRule, checkpoint.get("trainer", {}).get("config", {}))
        if saved.given():
            return saved
    return default


def build_trainer(
    task: Any,
    model: Any,
    options: TrainerOptions,
    stop: StopRule,
    *,
    app: str,
    app_config: dict,
    monitor: str,
    mode: str,
    monitored: bool = True,
    progress: bool = True,
    plot: bool = True,
    on_eval: Callable | None = None,
    on_restore: Callable | None = None,
    processes: Any = None,
    lr_schedule: Callable | None = None,
):
    """The :class:`~rnnkit.training.Trainer` an application's ``fit`` runs: everything the
    trainer does comes from ``options`` (and the stop rule); the application gives its
    task, its network and what it monitors (``monitored=False``: no validation data, so
    no early stopping), and may replace the learning-rate schedule (``lr_schedule(step,
    epoch)``; default ``options.lr_at``)."""
    from .trainer import Trainer, TrainerConfig

    eval_every, log_every = options.cadence(task.batches_per_epoch())
    config = TrainerConfig(
        epochs=stop.epochs, steps=stop.steps, minutes=stop.minutes,
        eval_every=eval_every, log_every=log_every, grad_clip=options.grad_clip,
        monitor=monitor, mode=mode, patience=options.patience if monitored else None,
        progress=progress, plot=plot,
        ema_decay=options.ema_decay,
    )  # fmt: skip
    return Trainer(
        task, model, options.make_optimizer(model.parameters()), None, config,
        app=app, app_config=app_config, lr_schedule=lr_schedule or options.lr_at, on_eval=on_eval,
        on_restore=on_restore, processes=processes,
    )  # fmt: skip
