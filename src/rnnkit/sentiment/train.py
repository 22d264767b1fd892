"""The classifier's training settings: saved whole in every checkpoint, restored on resume.

The task the shared trainer runs is :class:`rnnkit.sentiment.task.ClassificationTask`;
the model config is :class:`rnnkit.sentiment.model.ModelConfig` and the text
settings :class:`rnnkit.sentiment.data.TextConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..training import StopRule, option
from ..training.options import TrainerOptions, default_of
from ..training.settings import SHARE, count

#: the stop rule of ``fit`` and ``rnnkit sentiment train`` when none is given (on resume:
#: when none is given and the run saved none)
DEFAULT_STOP = StopRule(epochs=6)


@dataclass(frozen=True)
class TrainData:
    """The labelled files ``sentiment train`` reads, and the models it may distil
    (``SentimentClassifier.fit``'s examples and ``teacher``)."""

    train: str | None = option(None, "training data (file or class folders)", metavar="FILE",
                               required=True)  # fmt: skip
    valid: str | None = option(None, "validation data for early stopping (default: a held-out "
                               "val-fraction of --train)", metavar="FILE")  # fmt: skip
    teacher: tuple[str, ...] = option(
        (), "distil this trained model into the new one: train on its probabilities mixed "
        "with the labels (repeatable: the ensemble's mean; default: off)", metavar="RUN_DIR",
        repeatable=True,
    )


@dataclass(frozen=True)
class TrainSettings(TrainerOptions):
    """Everything about training except the model, the text settings and the stop rule.

    The shared trainer options (:class:`~rnnkit.training.TrainerOptions`:
    optimizer, learning rate and its schedule, clipping, cadence, early
    stopping, seed...) with the classifier's defaults, and what only it has.
    Every field is a keyword of :meth:`SentimentClassifier.fit` and a
    command-line option of ``rnnkit sentiment train``.
    """

    batch_size: int = option(64, "examples per step", bounds=count())
    distill_weight: float | None = option(
        0.5, "share of the teacher's probabilities in each target, the rest is the label",
        bounds=SHARE,
    )
    # the shared options' defaults of the classifier
    patience: int | None = default_of("patience", 8)
    evals_per_epoch: int | None = default_of("evals_per_epoch", 4)

    def validate(self, distilling: bool = False) -> None:
        super().validate()
        if distilling and self.distill_weight is None:
            raise ValueError("distill_weight must be in (0, 1], received None")
