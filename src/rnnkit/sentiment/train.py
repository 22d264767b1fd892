"""The classifier's training settings: saved whole in every checkpoint, restored on resume.

The task the shared trainer runs is :class:`rnnkit.sentiment.task.ClassificationTask`;
the model config is :class:`rnnkit.sentiment.model.ModelConfig` and the text
settings :class:`rnnkit.sentiment.data.TextConfig`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..training import StopRule, check_ema_decay, check_positive, check_seed, from_dict, option
from ..training.settings import (
    DECAY,
    FRACTION,
    MAX_COUNT,
    MAX_RATE,
    RATE,
    SEED,
    SHARE,
    Bounds,
    check_bounds,
    count,
)

#: the stop rule of ``fit`` and ``rnnkit sentiment train`` (``epochs`` unless given)
DEFAULT_STOP = StopRule(epochs=6)


@dataclass(frozen=True)
class TrainSettings:
    """Everything about training except the model, the text settings and the stop rule.

    Every field is a keyword of :meth:`SentimentClassifier.fit` and a
    command-line option of ``rnnkit sentiment train``.
    """

    batch_size: int = option(64, "examples per step", bounds=count())
    lr: float = option(1e-3, "Adam learning rate", bounds=RATE)
    lr_decay: float = option(1.0, "learning-rate factor per epoch", bounds=SHARE)
    weight_decay: float = option(0.0, "L2 penalty", bounds=Bounds(0, MAX_RATE))
    grad_clip: float | None = option(5.0, "max global gradient norm, 0 = off", zero_is_none=True,
                                      bounds=Bounds(0, MAX_COUNT, low_open=True))  # fmt: skip
    ema_decay: float | None = option(
        None,
        "evaluate and keep a moving average of the weights with this decay per step, "
        "e.g. 0.998 (default: off)",
        bounds=DECAY,
    )
    distill_weight: float | None = option(
        0.5, "share of the teacher's probabilities in each target, the rest is the label",
        bounds=SHARE,
    )
    patience: int | None = option(
        8, "evaluations without a better accuracy before stopping, 0 = never", zero_is_none=True,
        bounds=count(),
    )
    evals_per_epoch: int = option(4, "validation passes per epoch", bounds=count())
    valid_fraction: float = option(0.1, "held out of --train when no --valid", bounds=FRACTION)
    seed: int = option(0, "initialisation, dropout and batch order", bounds=SEED)

    def validate(self, distilling: bool = False) -> None:
        check_bounds(self)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, received {self.batch_size}")
        if self.evals_per_epoch < 1:
            raise ValueError(f"evals_per_epoch must be >= 1, received {self.evals_per_epoch}")
        check_positive("lr", self.lr)
        if not (0.0 < self.lr_decay <= 1.0):
            raise ValueError(f"lr_decay must be in (0, 1], received {self.lr_decay}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be >= 0, received {self.weight_decay}")
        check_positive("grad_clip", self.grad_clip, allow_none=True)
        check_ema_decay(self.ema_decay)
        if distilling and not (
            self.distill_weight is not None and 0.0 < self.distill_weight <= 1.0
        ):
            raise ValueError(f"distill_weight must be in (0, 1], received {self.distill_weight}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, received {self.patience}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), received {self.valid_fraction}")
        check_seed(self.seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainSettings:
        return from_dict(cls, data)
