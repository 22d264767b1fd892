"""``SentimentClassifier``: the Python API (fit, predict, evaluate, save, load).

::

    from rnnkit.sentiment import SentimentClassifier
    from rnnkit.text.readers import read_labeled

    train = read_labeled("train.tsv")
    valid = read_labeled("dev.tsv")
    clf = SentimentClassifier(cell="lstm", pooling="max")
    clf.fit(train.texts, train.labels, valid.texts, valid.labels, run_dir="runs/sst2")
    clf.predict(["a gorgeous , witty film", "dull and lifeless"])
    # [Prediction(label='1', probability=0.97...), Prediction(label='0', probability=0.93...)]
    clf.evaluate(valid.texts, valid.labels).accuracy
    clf.save("model.npz");  SentimentClassifier.load("model.npz")   # or load("runs/sst2")

Training goes through the shared :class:`rnnkit.training.Trainer` (progress
bar, metrics log, learning-curve plot, early stopping on validation accuracy,
best and latest checkpoints in the shared checkpoint format, exact resume).
Everything needed to predict again -- tokenizer settings, vocabulary, label
names, model shape, truncation -- travels in the checkpoint's JSON ``config``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..nn import random as nnrandom
from ..nn.optim import Adam
from ..text.subwords import CharNgrams, check_ngram_range
from ..text.tokenize import Tokenizer
from ..text.vectors import load_vectors
from ..text.vocab import PAD_ID, Vocab
from ..training import (
    CheckpointError,
    RunDir,
    Trainer,
    TrainerConfig,
    TrainResult,
    check_ema_decay,
    check_parameter_count,
    config_error,
    load_checkpoint,
    save_checkpoint,
)
from .data import check_training_labels, encode_texts, label_indices
from .metrics import ClassificationReport, classification_report
from .model import ModelConfig, TextClassifier
from .task import EVAL_NUMBERS, ClassificationTask, predict_logits, probabilities

APP = "sentiment"
TRUNCATE_KEEP = ("head", "tail", "both")


@dataclass
class Prediction:
    """One prediction: the most probable label, its probability, and every class's.

    An input without any text (empty or only whitespace) has ``label=None``,
    ``probability=None`` and empty ``probabilities``: there is nothing to classify.
    """

    label: str | None
    probability: float | None
    probabilities: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "probability": self.probability,
            "probabilities": self.probabilities,
        }


class _Predictor:
    """``predict_proba``, ``predict`` and ``evaluate`` on top of ``_probabilities``
    and ``labels`` (shared by :class:`SentimentClassifier` and :class:`Ensemble`)."""

    labels: list[str] | None

    def _require_model(self) -> None:
        raise NotImplementedError

    def _probabilities(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, C), columns in the order of ``self.labels``.

        Rows of inputs without text (empty or whitespace) are NaN.
        """
        self._require_model()
        texts = list(texts)
        probs = np.full((len(texts), len(self.labels)), np.nan)
        keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        if keep:
            probs[keep] = self._probabilities([texts[i] for i in keep], batch_size)
        return probs

    def predict(self, texts: Sequence[str] | str, batch_size: int = 256) -> list[Prediction]:
        """The most probable label of each text (see :class:`Prediction`)."""
        if isinstance(texts, str):
            texts = [texts]
        probs = self.predict_proba(texts, batch_size)
        out = []
        for row in probs:
            if np.isnan(row).any():
                out.append(Prediction(None, None, {}))
                continue
            best = int(row.argmax())
            out.append(
                Prediction(
                    self.labels[best],
                    float(row[best]),
                    {label: float(p) for label, p in zip(self.labels, row, strict=True)},
                )
            )
        return out

    def evaluate(
        self, texts: Sequence[str], labels: Sequence[str], batch_size: int = 256
    ) -> ClassificationReport:
        """Accuracy, per-class precision/recall/F1, macro-F1 and confusion matrix.

        Every label must be one the model knows. A text without tokens is
        classified as a text of one unknown word.
        """
        self._require_model()
        texts, labels = list(texts), [str(label) for label in labels]
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise ValueError("the evaluation set is empty")
        true = label_indices(labels, self.labels, "evaluation data")
        rows = max(1, EVAL_NUMBERS // len(self.labels))  # (rows, C) probabilities at a time
        predicted = np.concatenate([
            self._probabilities(texts[i : i + rows], batch_size).argmax(axis=1)
            for i in range(0, len(texts), rows)
        ])  # fmt: skip
        return classification_report(true, predicted, self.labels)


class SentimentClassifier(_Predictor):
    """A recurrent text classifier for any set of string labels.

    Model settings (see :class:`rnnkit.sentiment.model.ModelConfig`): ``cell``
    ("lstm" or "gru"), ``embedding_dim``, ``hidden_size``, ``num_layers``,
    ``bidirectional``, ``pooling`` ("last", "mean", "max"), ``dropout``,
    ``embedding_dropout``, ``word_dropout`` (training words replaced by UNK),
    ``embedding_init`` (std of the initial word vectors). Text settings: ``tokenizer``, vocabulary limits
    ``min_freq`` and ``max_vocab`` (total size with PAD and UNK), ``max_length``
    (tokens kept per text, None for all), ``truncate`` (which part of a
    long text to keep: "head", "tail" or "both" ends) and ``unknown_backoff``
    (an unknown word maps to a known word with the same stem, ``warmly ->
    warm``, before falling back to UNK; see :mod:`rnnkit.text.vocab`). ``vectors``: a GloVe /
    word2vec text file to initialise the embedding (its dimension replaces
    ``embedding_dim``), frozen if ``freeze_vectors``. ``char_ngrams=(n_min,
    n_max)`` adds a vector per character n-gram of the training words (those
    found in at least ``ngram_min_words`` words, at most ``max_ngrams``): a
    word's input is its own vector plus the mean of its n-grams', so an unseen
    word is not just UNK (see :mod:`rnnkit.text.subwords`).
    """

    def __init__(
        self,
        *,
        cell: str = "lstm",
        embedding_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "max",
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        word_dropout: float = 0.0,
        embedding_init: float = 0.1,
        tokenizer: Tokenizer | None = None,
        min_freq: int = 1,
        max_vocab: int | None = 30_000,
        max_length: int | None = 400,
        truncate: str = "both",
        unknown_backoff: bool = True,
        vectors: str | os.PathLike | None = None,
        freeze_vectors: bool = False,
        vectors_encoding: str = "utf-8",
        char_ngrams: tuple[int, int] | None = None,
        ngram_min_words: int = 2,
        max_ngrams: int | None = 100_000,
    ):
        if truncate not in TRUNCATE_KEEP:
            raise ValueError(f"truncate must be one of {TRUNCATE_KEEP}, received {truncate!r}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None, received {max_length}")
        self.model_settings = dict(
            cell=cell,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            pooling=pooling,
            dropout=dropout,
            embedding_dropout=embedding_dropout,
            word_dropout=word_dropout,
            embedding_init=embedding_init,
        )
        # Fail early on bad model settings (vocabulary and classes are placeholders here).
        ModelConfig(vocab_size=2, num_classes=2, **self.model_settings).validate()
        if char_ngrams is not None:
            char_ngrams = check_ngram_range(*char_ngrams, name="char_ngrams")
        if ngram_min_words < 1:
            raise ValueError(f"ngram_min_words must be >= 1, received {ngram_min_words}")
        self.char_ngrams = char_ngrams
        self.ngram_min_words = int(ngram_min_words)
        self.max_ngrams = max_ngrams
        self.subwords: CharNgrams | None = None
        self.tokenizer = tokenizer or Tokenizer()
        self.min_freq = min_freq
        self.max_vocab = max_vocab
        self.max_length = max_length
        self.truncate = truncate
        self.unknown_backoff = unknown_backoff
        self.vectors = None if vectors is None else os.fspath(vectors)
        self.freeze_vectors = freeze_vectors
        self.vectors_encoding = vectors_encoding
        self.vectors_found: int | None = None
        self.vocab: Vocab | None = None
        self.labels: list[str] | None = None
        self.model: TextClassifier | None = None
        self.train_settings: dict = {}

    # -- configuration that travels with the model --------------------------------
    def config(self) -> dict:
        """The JSON ``config`` of a checkpoint: everything needed to predict again."""
        self._require_model()
        return {
            "model": self.model.config.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
            "vocab": self.vocab.to_dict(),
            "labels": list(self.labels),
            "max_length": self.max_length,
            "truncate": self.truncate,
            "unknown_backoff": self.unknown_backoff,
            "min_freq": self.min_freq,
            "max_vocab": self.max_vocab,
            "subwords": None if self.subwords is None else {
                **self.subwords.to_dict(),
                "min_words": self.ngram_min_words,
                "max_size": self.max_ngrams,
            },
            "vectors": {
                "path": self.vectors,
                "freeze": self.freeze_vectors,
                "found": self.vectors_found,
            },
            "train": dict(self.train_settings),
        }

    @classmethod
    def from_config(
        cls, config: dict, weights: dict | None = None, source: str | os.PathLike | None = None
    ) -> SentimentClassifier:
        """Rebuild an (untrained-weights) classifier from :meth:`config`.

        With ``weights`` (a checkpoint's ``model`` arrays) the sizes of the
        config are checked against them before the model is built; ``source``
        (the file) is named in errors.
        """
        try:
            model_config = ModelConfig.from_dict(dict(config["model"]))
            vectors = config.get("vectors") or {}
            subwords = config.get("subwords")
            clf = cls(
                **{k: getattr(model_config, k) for k in cls._model_keys()},
                tokenizer=Tokenizer.from_dict(dict(config["tokenizer"])),
                min_freq=int(config.get("min_freq", 1)),
                max_vocab=config.get("max_vocab"),
                max_length=config.get("max_length"),
                truncate=config.get("truncate", "head"),
                unknown_backoff=bool(config.get("unknown_backoff", False)),
                vectors=vectors.get("path"),
                freeze_vectors=bool(vectors.get("freeze", False)),
                char_ngrams=None if subwords is None else (subwords["n_min"], subwords["n_max"]),
                ngram_min_words=int((subwords or {}).get("min_words", 2)),
                max_ngrams=(subwords or {}).get("max_size"),
            )
            if subwords is not None:
                clf.subwords = CharNgrams.from_dict(subwords)
                if len(clf.subwords) != model_config.num_subwords:
                    raise ValueError(
                        f"{len(clf.subwords)} n-grams, the model expects {model_config.num_subwords}"
                    )
            clf.vectors_found = vectors.get("found")
            clf.vocab = Vocab.from_dict(config["vocab"])
            clf.labels = [str(label) for label in config["labels"]]
            clf.train_settings = dict(config.get("train") or {})
            if len(clf.vocab) != model_config.vocab_size:
                raise ValueError(
                    f"vocabulary has {len(clf.vocab)} tokens, the model expects {model_config.vocab_size}"
                )
            if len(clf.labels) != model_config.num_classes:
                raise ValueError(
                    f"{len(clf.labels)} labels for a model of {model_config.num_classes} classes"
                )
            if weights is not None:
                check_parameter_count(model_config.num_parameters(), weights)
            clf.model = TextClassifier(model_config)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise config_error(source or "checkpoint", "sentiment model", exc) from None
        return clf

    @staticmethod
    def _model_keys() -> tuple[str, ...]:
        return (
            "cell",
            "embedding_dim",
            "hidden_size",
            "num_layers",
            "bidirectional",
            "pooling",
            "dropout",
            "embedding_dropout",
            "word_dropout",
            "embedding_init",
        )

    # -- training ---------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        valid_texts: Sequence[str] | None = None,
        valid_labels: Sequence[str] | None = None,
        *,
        run_dir: str | os.PathLike | None = None,
        force: bool = False,
        resume: bool = False,
        epochs: float | None = 6,
        minutes: float | None = None,
        batch_size: int = 64,
        lr: float = 1e-3,
        lr_decay: float = 1.0,
        weight_decay: float = 0.0,
        grad_clip: float | None = 5.0,
        ema_decay: float | None = None,
        teacher: _Predictor | None = None,
        distill_weight: float = 0.5,
        patience: int | None = 8,
        evals_per_epoch: int = 4,
        valid_fraction: float = 0.1,
        seed: int = 0,
        progress: bool = True,
        plot: bool = True,
        on_eval: Callable[[Trainer, dict], None] | None = None,
    ) -> TrainResult:
        """Train on ``(texts, labels)``; keep the weights with the best validation accuracy.

        Without ``valid_texts`` a random ``valid_fraction`` of the training data
        is held out for early stopping. With ``run_dir`` the run's checkpoints
        (``best.npz``, ``latest.npz``), ``metrics.jsonl`` and ``loss.png`` are
        written there; ``resume=True`` continues the run saved there exactly.
        On resume the run's saved training settings (batch size, learning rate
        and its decay, weight decay, clipping, patience, evaluation cadence,
        hold-out fraction, seed) replace the arguments; the stop rules
        (``epochs``, ``minutes``) are taken from this call.

        ``patience`` counts evaluations (``evals_per_epoch`` per epoch) without a
        better validation accuracy; ``lr_decay`` multiplies the learning rate
        after every epoch; ``ema_decay`` (e.g. 0.998) evaluates and keeps a moving
        average of the weights instead of the last ones (see
        :class:`rnnkit.training.Trainer`), which evens out the step-to-step noise
        that makes picking the best checkpoint a lottery; ``progress`` shows a
        progress bar on stderr; ``plot`` redraws ``loss.png`` at each evaluation. Returns how the run ended
        (:class:`TrainResult`).

        ``teacher`` (a trained classifier or :class:`Ensemble` with the same
        labels) turns on knowledge distillation (Hinton et al. 2015): each
        training example's target becomes ``(1 - a) * onehot(label) + a *
        p_teacher(text)`` with ``a = distill_weight``, so one model learns what
        an ensemble knows. The teacher labels the training texts once, before
        the first step; the targets are kept in the checkpoints, so
        ``resume=True`` needs no teacher (one passed is ignored). Validation
        and early stopping use the true labels.
        """
        run, checkpoint = None, None
        if resume:  # the run's own training settings, not this call's, keep resume exact
            if run_dir is None:
                raise ValueError("resume needs the run_dir of the run to continue")
            run = RunDir.create(run_dir, resume=True)
            checkpoint = load_checkpoint(run.latest, app=APP)
            saved = dict(checkpoint["config"].get("train") or {})
            batch_size = int(saved.get("batch_size", batch_size))
            lr, lr_decay = float(saved.get("lr", lr)), float(saved.get("lr_decay", lr_decay))
            weight_decay = float(saved.get("weight_decay", weight_decay))
            grad_clip = saved.get("grad_clip", grad_clip)
            ema_decay = saved.get("ema_decay", None)
            distill_weight = float(saved.get("distill_weight") or 0.0)
            teacher = None
            patience = saved.get("patience", patience)
            evals_per_epoch = int(saved.get("evals_per_epoch", evals_per_epoch))
            valid_fraction = float(saved.get("valid_fraction", valid_fraction))
            seed = int(saved.get("seed", seed))
        texts, labels = list(texts), [str(label) for label in labels]
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, received {batch_size}")
        if evals_per_epoch < 1:
            raise ValueError(f"evals_per_epoch must be >= 1, received {evals_per_epoch}")
        check_ema_decay(ema_decay)  # before the run directory is touched
        if teacher is not None and not 0.0 < distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in (0, 1], received {distill_weight}")
        if valid_texts is None:
            texts, labels, valid_texts, valid_labels = _hold_out(
                texts, labels, valid_fraction, seed
            )
        else:
            valid_texts, valid_labels = list(valid_texts), [str(v) for v in (valid_labels or [])]
            if len(valid_texts) != len(valid_labels):
                raise ValueError(
                    f"{len(valid_texts)} validation texts but {len(valid_labels)} labels"
                )

        # Everything that can fail on bad input happens before the run directory is
        # touched, so a failed start never clears (--force) or half-writes a run.
        if resume:
            restored = SentimentClassifier.from_config(
                checkpoint["config"], checkpoint["model"], run.latest
            )
            self.__dict__.update(restored.__dict__)
        else:
            self.labels = check_training_labels(labels)
            tokens = [self.tokenizer(t) for t in texts]
            self.vocab = Vocab.build(tokens, min_freq=self.min_freq, max_size=self.max_vocab)
            if self.char_ngrams is not None:
                self.subwords = CharNgrams.build(
                    self.vocab.tokens[2:],  # the words (not PAD, UNK)
                    *self.char_ngrams,
                    min_words=self.ngram_min_words,
                    max_size=self.max_ngrams,
                )
            nnrandom.manual_seed(seed)
            self.model = self._build_model()
        train_ids = self._encode(texts)
        valid_ids = self._encode(valid_texts)
        train_y = label_indices(labels, self.labels, "training data")
        valid_y = label_indices(valid_labels, self.labels, "validation data")
        if teacher is not None:
            train_y = self._distilled_targets(teacher, texts, train_y, distill_weight, progress)
        elif resume and "train_targets" in checkpoint["task"]:  # Trainer.restore checks the shape
            train_y = np.zeros((len(texts), len(self.labels)))
        if run_dir is not None and not resume:
            run = RunDir.create(run_dir, force=force)

        task = ClassificationTask(
            self.model, train_ids, train_y, valid_ids, valid_y, batch_size, seed
        )
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = Adam(params, lr=lr, weight_decay=weight_decay)
        per_epoch = task.batches_per_epoch()
        self.train_settings = {
            "examples": len(texts),
            "valid_examples": len(valid_texts),
            "batch_size": batch_size,
            "lr": lr,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "grad_clip": grad_clip,
            "ema_decay": ema_decay,
            "distill_weight": distill_weight if train_y.ndim == 2 else None,
            "patience": patience,
            "evals_per_epoch": evals_per_epoch,
            "valid_fraction": valid_fraction,
            "seed": seed,
        }
        monitored = len(valid_texts) > 0
        config = TrainerConfig(
            epochs=epochs,
            minutes=minutes,
            eval_every=max(1, math.ceil(per_epoch / evals_per_epoch)),
            log_every=max(1, min(50, per_epoch // 10)),
            grad_clip=grad_clip,
            ema_decay=ema_decay,
            monitor="val_accuracy" if monitored else "train_loss",
            mode="max",
            patience=patience if monitored else None,
            progress=progress,
            plot=plot,
        )
        best_state = {}

        def keep_best(trainer: Trainer, metrics: dict) -> None:
            if trainer.best_step == trainer.step or not monitored:
                best_state.update(self.model.state_dict())
            if on_eval is not None:
                on_eval(trainer, metrics)

        def decayed(step: int, epoch: int) -> float:
            return lr * lr_decay**epoch

        trainer = Trainer(
            task,
            self.model,
            optimizer,
            run,
            config,
            app=APP,
            app_config=self.config(),
            lr_schedule=decayed if lr_decay != 1.0 else None,
            on_eval=keep_best,
        )
        if checkpoint is not None:
            trainer.restore(checkpoint)
            if trainer.best_step is not None and run.best.is_file():
                best_state.update(load_checkpoint(run.best, app=APP)["model"])
        result = trainer.fit()
        if best_state:
            self.model.load_state_dict(best_state)
        self.model.eval()
        return result

    def _distilled_targets(
        self,
        teacher: _Predictor,
        texts: list[str],
        targets: np.ndarray,
        weight: float,
        progress: bool,
    ) -> np.ndarray:
        """``(1 - weight) * onehot(targets) + weight * p_teacher(texts)``, (N, C) in our label order."""
        teacher._require_model()
        if sorted(teacher.labels) != sorted(self.labels):
            raise ValueError(
                f"the teacher's labels {list(teacher.labels)} differ from the "
                f"training data's {list(self.labels)}"
            )
        if progress:
            print(f"teacher: labelling {len(texts):,} training texts", file=sys.stderr, flush=True)
        columns = [list(teacher.labels).index(label) for label in self.labels]
        p = teacher._probabilities(texts)[:, columns]  # (N, C); a text without words reads as UNK
        return (1.0 - weight) * np.eye(len(self.labels))[targets] + weight * p

    def _build_model(self) -> TextClassifier:
        settings = dict(self.model_settings)
        weights = None
        if self.vectors is not None:
            weights, self.vectors_found = load_vectors(
                self.vectors,
                self.vocab,
                encoding=self.vectors_encoding,
                lowercase=self.tokenizer.lowercase,
                rng=np.random.default_rng(0),
            )
            settings["embedding_dim"] = weights.shape[1]
        config = ModelConfig(
            vocab_size=len(self.vocab),
            num_classes=len(self.labels),
            num_subwords=0 if self.subwords is None else len(self.subwords),
            **settings,
        )
        model = TextClassifier(config)
        if weights is not None:
            model.embedding.weight.data[...] = weights
            model.embedding.weight.data[PAD_ID] = 0.0
            model.embedding.weight.requires_grad = not self.freeze_vectors
        return model

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return encode_texts(
            texts,
            self.tokenizer,
            self.vocab,
            self.max_length,
            self.truncate,
            self.unknown_backoff,
            self.subwords,
        )

    # -- inference ---------------------------------------------------------------------
    def _require_model(self) -> None:
        if self.model is None or self.vocab is None or self.labels is None:
            raise RuntimeError("the classifier is not trained: call fit() or load() first")

    def _probabilities(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, C) of every text; one without tokens reads as one UNK."""
        return probabilities(
            predict_logits(self.model, self._encode(texts), batch_size), len(self.labels)
        )

    # -- files -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write a model-only checkpoint (``app``, ``config``, ``model``), atomically."""
        self._require_model()
        save_checkpoint(
            path, {"app": APP, "config": self.config(), "model": dict(self.model.state_dict())}
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> SentimentClassifier:
        """Load a saved model, or the best checkpoint of a run directory.

        Raises :class:`rnnkit.training.CheckpointError` (one-line message) for a
        missing, corrupt or foreign file.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            run = RunDir(Path(path))
            path = os.fspath(run.checkpoint_for_inference())
            if not os.path.isfile(path):
                raise CheckpointError(
                    f"no checkpoint in {os.fspath(run.path)} (expected best.npz or latest.npz)"
                )
        tree = load_checkpoint(path, app=APP)
        clf = cls.from_config(tree["config"], tree["model"], path)
        try:
            clf.model.load_state_dict(tree["model"])
        except ValueError as exc:
            raise CheckpointError(
                f"{path}: weights do not fit the saved configuration ({exc})"
            ) from None
        clf.model.eval()
        return clf


class Ensemble(_Predictor):
    """Several trained classifiers voting with their probabilities: ``p = mean_m p_m``.

    Models trained with different seeds make partly different mistakes, so
    the mean of their probabilities is right more often than a typical member
    (on SST-2, three models: +0.8 points on average; see docs/sentiment.md). Every member
    must have the same labels in the same order. ``Ensemble.load(paths)``
    takes model files or run directories (their best checkpoints).
    """

    def __init__(self, members: Sequence[SentimentClassifier]):
        members = list(members)
        if not members:
            raise ValueError("an ensemble needs at least one model")
        for m in members:
            m._require_model()
        self.labels = list(members[0].labels)
        for m in members[1:]:
            if list(m.labels) != self.labels:
                raise ValueError(
                    f"ensemble members disagree on the labels: {self.labels} and {list(m.labels)}"
                )
        self.members = members

    @classmethod
    def load(cls, paths: Sequence[str | os.PathLike]) -> Ensemble:
        return cls([SentimentClassifier.load(p) for p in paths])

    def _require_model(self) -> None:
        return None

    def _probabilities(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        return np.mean([m._probabilities(texts, batch_size) for m in self.members], axis=0)


def _hold_out(texts: list[str], labels: list[str], fraction: float, seed: int):
    """Split off a random ``fraction`` of the examples for validation."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), received {fraction}")
    n = len(texts)
    count = int(round(n * fraction))
    if count == 0 or n - count < 1:
        return texts, labels, [], []
    order = np.random.default_rng([seed, 1]).permutation(n)
    held, kept = np.sort(order[:count]), np.sort(order[count:])
    return (
        [texts[i] for i in kept],
        [labels[i] for i in kept],
        [texts[i] for i in held],
        [labels[i] for i in held],
    )
