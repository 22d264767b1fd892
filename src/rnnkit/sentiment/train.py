"""The classifier's training settings: saved whole in every checkpoint, restored on resume.

The task the shared trainer runs is :class:`rnnkit.sentiment.task.ClassificationTask`;
the model config is :class:`rnnkit.sentiment.model.ModelConfig` and the text
settings :class:`rnnkit.sentiment.data.TextConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..training import StopRule, option
from ..training.options import TrainerOptions, default_of
from ..training.settings import MAX_COUNT, MAX_RATE, RATE, SHARE, Bounds, count

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
    unlabeled: tuple[str, ...] = option(
        (), "more text for --pretrain's language model, one text per line (gzip read "
        "transparently; repeatable)", metavar="FILE", repeatable=True,
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
    word_ngram_l2: float = option(
        0.0, "L2 penalty on the wide path's weights (with --word-ngrams): the loss is the "
        "mean cross-entropy + l2/2 * |w|^2, as NB-LR's 1/(C * examples)",
        bounds=Bounds(0, MAX_RATE),
    )  # fmt: skip
    # language-model pretraining (rnnkit.sentiment.pretrain)
    pretrain: bool = option(
        False, "first train the embedding and recurrent layers as a word-level language "
        "model (forward and backward) on the training texts and --unlabeled text, then "
        "fine-tune the classifier",
    )
    pretrain_steps: int = option(1000, "optimizer steps of the pretraining phase",
                                 bounds=count())  # fmt: skip
    pretrain_minutes: float | None = option(
        None, "wall-clock limit of the pretraining phase (default: none)", metavar="M",
        bounds=Bounds(0, MAX_COUNT, low_open=True),
    )  # fmt: skip
    pretrain_vocab: int = option(
        5000, "words the language model predicts (UNK and the most frequent; a rarer word "
        "counts as UNK)", bounds=count(2),
    )  # fmt: skip
    pretrain_seq_length: int = option(64, "words per language-model sequence (texts are cut)",
                                      bounds=count(2))  # fmt: skip
    pretrain_lr: float | None = option(None, "learning rate of the pretraining phase "
                                       "(default: --lr)", bounds=RATE)  # fmt: skip
    # the shared options' defaults of the classifier
    patience: int | None = default_of("patience", 8)
    evals_per_epoch: int | None = default_of("evals_per_epoch", 4)

    def validate(self, distilling: bool = False) -> None:
        super().validate()
        if distilling and self.distill_weight is None:
            raise ValueError("distill_weight must be in (0, 1], received None")
