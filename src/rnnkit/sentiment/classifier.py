"""``SentimentClassifier``: the Python API (fit, predict, evaluate, save, load).

::

    from rnnkit.sentiment import SentimentClassifier
    from rnnkit.text.readers import read_labeled

    train = read_labeled("train.tsv")
    valid = read_labeled("dev.tsv")
    clf = SentimentClassifier(cell="lstm", pooling="max")
    clf.fit(train.texts, train.labels, valid.texts, valid.labels, out="runs/sst2")
    clf.fit(train.texts, train.labels, valid.texts, valid.labels, out="runs/sst2", resume=True)
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

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import random as nnrandom
from ..nn import skip_init
from ..nn.layers import Linear
from ..text.subwords import CharNgrams
from ..text.tokenize import Tokenizer
from ..text.vectors import load_vectors
from ..text.vocab import PAD_ID, Vocab
from ..text.wordgrams import WordNgrams
from ..training import (
    StopRule,
    Trainer,
    TrainResult,
    check_parameter_count,
    check_seed,
    config_error,
    load_checkpoint,
)
from ..training.application import Application
from ..training.checkpoint import CheckpointError
from ..training.lifecycle import FitStart, check_config_version, save_model, sha256_examples
from ..training.options import build_trainer, stop_rule_for
from ..training.rundir import RunDir, resolve_checkpoint
from ..training.settings import option
from .data import (
    TextConfig,
    check_training_labels,
    encode_texts,
    encode_word_ngrams,
    hold_out,
    label_indices,
)
from .metrics import ClassificationReport, classification_report
from .model import ModelConfig, TextClassifier
from .pretrain import PHASE
from .task import EVAL_NUMBERS, ClassificationTask, predict_logits, probabilities
from .train import DEFAULT_STOP, TrainSettings

APP = "sentiment"
CONFIG_VERSION = 2  # of the checkpoint's "config" (see SentimentClassifier.app_config)


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


@dataclass(frozen=True)
class _Prepared:
    """What a classifier's run trains on (see :meth:`SentimentClassifier.prepare`)."""

    texts: list[str]
    labels: list[str]
    valid_texts: list[str]
    valid_labels: list[str]
    fingerprint: dict  #: sha256 of the examples as given
    teacher: Any  #: the model to distil (a new run only), or None
    soft_targets_saved: bool  #: the checkpoint holds the distilled targets
    unlabeled: list[str] = field(default_factory=list)  #: more text for pretraining


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


class SentimentClassifier(Application, _Predictor):
    """A recurrent text classifier for any set of string labels.

    The three parts of the application: the model ``config``
    (:class:`~rnnkit.sentiment.model.ModelConfig`: ``cell``, ``embedding_dim``,
    ``hidden_size``, ``num_layers``, ``bidirectional``, ``pooling``,
    ``dropout``, ``embedding_dropout``, ``word_dropout``, ``embedding_init``)
    with the ``text`` settings (:class:`~rnnkit.sentiment.data.TextConfig`:
    tokenizer switches, vocabulary limits ``min_freq`` and ``max_vocab``,
    ``max_length`` and ``truncate``, ``unknown_backoff`` (``warmly -> warm``
    before UNK, see :mod:`rnnkit.text.vocab`), pretrained ``vectors`` (their
    dimension replaces ``embedding_dim``), ``char_ngrams=(n_min, n_max)`` (a
    vector per character n-gram of the training words, see
    :mod:`rnnkit.text.subwords`), ``word_ngrams=(n_min, n_max)`` (a wide, linear path of
    NB-weighted word n-grams added to the logit, see :mod:`rnnkit.sentiment.model`)), both
    fixed at construction
    (``SentimentClassifier(hidden_size=64, char_ngrams=(3, 5))``); the training
    ``settings`` (:class:`~rnnkit.sentiment.train.TrainSettings`, saved whole
    in every checkpoint); and the task the shared trainer runs
    (:class:`~rnnkit.sentiment.task.ClassificationTask`). The network is
    ``.network``.

    Training settings of note: ``patience`` counts evaluations
    (``evals_per_epoch`` per epoch) without a better validation accuracy;
    ``ema_decay`` (e.g. 0.998) evaluates and keeps a moving average of the
    weights instead of the last ones (see :class:`rnnkit.training.Trainer`),
    which evens out the step-to-step noise that makes picking the best
    checkpoint a lottery.

    Distillation (Hinton et al. 2015): ``fit(..., teacher=model)`` with a
    trained classifier or :class:`Ensemble` of the same labels makes each
    training example's target ``(1 - a) * onehot(label) + a * p_teacher(text)``
    with ``a = distill_weight``, so one model learns what an ensemble knows.
    The teacher labels the training texts once, before the first step; the
    targets are kept in the checkpoints, so a resume needs no teacher (one
    passed is ignored). Validation and early stopping use the true labels.

    ``engine="torch"`` trains with PyTorch computing each step's forward and
    backward (:mod:`rnnkit.sentiment.torch_engine`); under ``torchrun`` the
    processes split every batch's examples (DistributedDataParallel) and rank
    0 alone writes the run. A run of one engine resumes on the other.

    Pretraining: ``fit(..., pretrain=True, unlabeled=texts)`` first trains the embedding
    and recurrent layers as a forward and a backward word-level language model on the
    training texts (labels unused) and the ``unlabeled`` texts, then fine-tunes the
    classifier; both phases resume exactly (see :mod:`rnnkit.sentiment.pretrain`).
    ``init_from``: a run (its best checkpoint), a checkpoint file or a run's
    ``pretrained.npz`` whose architecture, text settings, vocabulary, embedding and
    recurrent weights the new run starts from; the output layer starts new, for the
    labels of the new data.
    """

    app, what, config_version = APP, "sentiment model", CONFIG_VERSION
    settings_class, default_stop = TrainSettings, DEFAULT_STOP

    def __init__(
        self, config: ModelConfig | None = None, text: TextConfig | None = None, **options: Any
    ):
        model_names = {f.name for f in fields(ModelConfig)}
        text_names = {f.name for f in fields(TextConfig)}
        unknown = sorted(set(options) - model_names - text_names)
        if unknown:
            raise TypeError(f"unknown classifier settings {unknown}")
        self.config = replace(
            config or ModelConfig(), **{k: v for k, v in options.items() if k in model_names}
        )
        self.config.validate()
        self.text = replace(
            text or TextConfig(), **{k: v for k, v in options.items() if k in text_names}
        )
        for name in ("char_ngrams", "word_ngrams"):
            if getattr(self.text, name) is not None:
                self.text = replace(self.text, **{name: tuple(getattr(self.text, name))})
        self.text.validate()
        self.tokenizer = self.text.tokenizer()
        self.settings = TrainSettings()
        self.vocab: Vocab | None = None
        self.labels: list[str] | None = None
        self.subwords: CharNgrams | None = None
        self.wordgrams: WordNgrams | None = None  # the wide path's n-grams (ratios: network)
        self.vectors_found: int | None = None
        self.network: TextClassifier | None = None
        self.data: dict = {}  # a fingerprint of the training data (checked on resume)
        self._best_weights: dict = {}  # the best evaluated weights of the last fit

    # -- configuration that travels with the model --------------------------------
    def app_config(self) -> dict:
        """The JSON ``config`` of a checkpoint: everything needed to predict again.

        Version 2; version 1 (no ``version`` key) had the same layout without
        ``data`` and with the training data's sizes inside ``train``.
        """
        self._require_model()
        t = self.text
        return {
            "version": CONFIG_VERSION,
            "model": self.network.config.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
            "vocab": self.vocab.to_dict(),
            "labels": list(self.labels),
            "max_length": t.max_length,
            "truncate": t.truncate,
            "unknown_backoff": t.unknown_backoff,
            "min_freq": t.min_freq,
            "max_vocab": t.max_vocab,
            "subwords": None if self.subwords is None else {
                **self.subwords.to_dict(),
                "min_words": t.ngram_min_words,
                "max_size": t.max_ngrams,
            },
            "word_ngrams": None if self.wordgrams is None else {
                "n_min": self.wordgrams.n_min,
                "n_max": self.wordgrams.n_max,
                "ngrams": list(self.wordgrams.ngrams),  # id i + 1; the ratios are weights
                "min_texts": t.word_ngram_min_texts,
                "max_size": t.max_word_ngrams,
            },
            "vectors": {"path": t.vectors, "freeze": t.freeze_vectors, "found": self.vectors_found},
            "train": {**self.settings.to_dict(), **{
                k: v for k, v in self.data.items() if k in ("examples", "valid_examples")
            }},
            "data": dict(self.data),
        }  # fmt: skip

    @classmethod
    def from_config(
        cls,
        config: dict,
        weights: dict | None = None,
        path: str | os.PathLike = "checkpoint",
    ) -> SentimentClassifier:
        """Rebuild an (untrained-weights) classifier from :meth:`app_config`.

        With ``weights`` (a checkpoint's ``model`` arrays) the sizes of the
        config are checked against them before the model is built; ``path``
        (the file) is named in errors.
        """
        try:
            check_config_version(config, CONFIG_VERSION, path, "sentiment")  # (public API)
            if config.get(PHASE) is not None:
                raise ValueError(
                    "it holds the language model of a classifier's pretraining, not a "
                    "classifier: resume that run to fine-tune it, or start a new run from "
                    "it with init_from"
                )
            model_config = ModelConfig.from_dict(dict(config["model"]))
            vectors, subwords = config.get("vectors") or {}, config.get("subwords")
            text = _saved_text_config(config)
            clf = cls(model_config, text)
            if subwords is not None:
                clf.subwords = CharNgrams.from_dict(subwords)
                if len(clf.subwords) != model_config.num_subwords:
                    raise ValueError(
                        f"{len(clf.subwords)} n-grams, the model expects "
                        f"{model_config.num_subwords}"
                    )
            wordgrams = config.get("word_ngrams")
            if wordgrams is not None:
                clf.wordgrams = _saved_word_ngrams(wordgrams, weights)
                if len(clf.wordgrams) != model_config.num_word_ngrams:
                    raise ValueError(
                        f"{len(clf.wordgrams)} word n-grams, the model expects "
                        f"{model_config.num_word_ngrams}"
                    )
            clf.vectors_found = vectors.get("found")
            clf.vocab = Vocab.from_dict(config["vocab"])
            clf.labels = [str(label) for label in config["labels"]]
            train = dict(config.get("train") or {})
            clf.settings = TrainSettings.from_dict(train)
            clf.data = dict(config.get("data") or {
                k: train[k] for k in ("examples", "valid_examples") if k in train
            })  # fmt: skip
            if len(clf.vocab) != model_config.vocab_size:
                raise ValueError(
                    f"vocabulary has {len(clf.vocab)} tokens, the model expects "
                    f"{model_config.vocab_size}"
                )
            if len(clf.labels) != model_config.num_classes:
                raise ValueError(
                    f"{len(clf.labels)} labels for a model of {model_config.num_classes} classes"
                )
            if weights is None:
                clf.network = TextClassifier(model_config)
            else:  # the weights replace any draw: build without one (see load)
                check_parameter_count(model_config.num_parameters(), weights)
                with skip_init():
                    clf.network = TextClassifier(model_config)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise config_error(path, "sentiment model", exc) from None
        return clf

    # -- training ---------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        valid_texts: Sequence[str] | None = None,
        valid_labels: Sequence[str] | None = None,
        *,
        out: str | os.PathLike | None = None,
        resume: bool = False,
        force: bool = False,
        lock: bool = True,
        epochs: float | None = None,
        steps: int | None = None,
        minutes: float | None = None,
        teacher: _Predictor | None = None,
        unlabeled: Sequence[str] | None = None,
        init_from: str | os.PathLike | None = None,
        progress: bool = True,
        plot: bool = True,
        on_eval: Callable[[Trainer, dict], None] | None = None,
        engine: str = "numpy",
        **settings: Any,
    ) -> TrainResult:
        """Train on ``(texts, labels)``; keep the weights with the best validation accuracy.

        Without ``valid_texts`` a random ``val_fraction`` of the training data is held
        out. ``out``, ``resume``, ``force``, ``lock``, the stop rule, ``engine``,
        ``progress``, ``plot`` and ``on_eval`` are every application's (see
        :mod:`rnnkit.training.application`); on resume the data must be the run's
        (checked by sha256). Other keywords are :class:`~rnnkit.sentiment.train.TrainSettings`
        fields. ``teacher`` (distillation), ``pretrain=True`` with ``unlabeled`` texts
        (language-model pretraining) and ``init_from`` (start from another run): see the
        class docstring.
        """
        examples = _examples(texts, labels, valid_texts, valid_labels)
        unlabeled = None if unlabeled is None else [str(t) for t in unlabeled]
        return self.fit_lifecycle(
            (examples, teacher, unlabeled, init_from), out=out, resume=resume, force=force,
            lock=lock, stop=StopRule(epochs, steps, minutes), engine=engine, settings=settings,
            progress=progress, plot=plot, on_eval=on_eval,
        )  # fmt: skip

    def prepare(self, checkpoint: dict | None, settings: TrainSettings, data, out) -> _Prepared:
        """Become the new run (``settings``; vocabulary, labels and network from the
        examples of ``data = (examples, teacher)``) or, with a checkpoint, the run saved
        there (its data checked against the run's fingerprint)."""
        examples, teacher, unlabeled, init_from = data
        fingerprint = _fingerprint(*examples)
        if checkpoint is None:
            settings.validate(distilling=teacher is not None)
            if unlabeled and not settings.pretrain:
                raise ValueError(
                    "unlabeled text is read only by the pretraining: add pretrain (--pretrain)"
                )
            if settings.pretrain and unlabeled:
                fingerprint["unlabeled_sha256"] = sha256_examples(unlabeled)
                fingerprint["unlabeled_texts"] = len(unlabeled)
            if init_from is not None:
                fingerprint["init_from"] = str(init_from)
        else:
            restored = self._restored_run(checkpoint, out)
            settings = restored.settings
            _check_same_data(restored.data, fingerprint, out)
            saved = {k: v for k, v in restored.data.items() if k in _KEPT_DATA}
            fingerprint = {**saved, **fingerprint}
            if _phase(checkpoint) == "pretrain":  # the language model reads it again
                _check_same_unlabeled(saved, unlabeled, out)
        texts, labels, valid_texts, valid_labels = train = examples
        if valid_texts is None:
            train = hold_out(texts, labels, settings.val_fraction, settings.seed)
        if checkpoint is not None:
            parts = restored
        elif init_from is not None:
            parts = self._source_parts(init_from, train[0], train[1], settings)
        else:
            extra = unlabeled if settings.pretrain else None
            parts = self._fresh_parts(train[0], train[1], settings, extra)
        if settings.pretrain:
            from .pretrain import check_architecture

            check_architecture(parts.config)
        self._take_parts(parts)
        self.settings = settings
        soft = "train_targets" in (checkpoint or {}).get("task", {})
        return _Prepared(*train, fingerprint, teacher if checkpoint is None else None, soft,
                         list(unlabeled or []) if settings.pretrain else [])  # fmt: skip

    def _restored_run(self, checkpoint: dict, out) -> SentimentClassifier:
        """The classifier saved in a run's checkpoint, of either phase (weights not loaded:
        the trainer restores them)."""
        if _phase(checkpoint) is None:
            return self.restored(checkpoint, out)
        path = Path(out) / RunDir.LATEST
        check_config_version(checkpoint["config"], CONFIG_VERSION, path, self.what)
        return type(self).from_config(_classifier_config(checkpoint["config"]), None, path)

    def _source_parts(
        self, init_from: str | os.PathLike, texts: list[str], labels: list[str],
        settings: TrainSettings,
    ) -> SentimentClassifier:
        """A new run's parts taken from the run ``init_from``: its architecture, text
        settings, vocabulary, n-grams, embedding and recurrent weights; the output layer
        (and the wide path, its n-grams and ratios counted on ``texts``) new, for
        ``labels``. The wide path's settings may be given beside it (they replace the
        source's): the wide path starts new anyway."""
        wide_text = {k: getattr(self.text, k) for k in WIDE_TEXT}
        wide_model = {k: getattr(self.config, k) for k in WIDE_MODEL}
        plain_text = replace(self.text, **{k: getattr(TextConfig(), k) for k in WIDE_TEXT})
        plain_model = replace(self.config, **{k: getattr(ModelConfig(), k) for k in WIDE_MODEL})
        if plain_model != ModelConfig() or plain_text != TextConfig():
            raise ValueError(
                f"init_from takes the architecture and vocabulary of its run ({init_from}); "
                "give no model or text settings beside it but the wide path's (word_ngrams...)"
            )
        path = resolve_checkpoint(init_from, "best")
        tree = load_checkpoint(path, app=APP)
        check_config_version(tree["config"], CONFIG_VERSION, path, self.what)
        try:
            source = type(self).from_config(_classifier_config(tree["config"]), None, path)
        except CheckpointError as exc:
            raise ValueError(f"init_from: {exc}") from None
        config, text = source.config, source.text
        if self.text.word_ngrams is not None:  # this run's wide path, not the source's
            config, text = replace(config, **wide_model), replace(text, **wide_text)
        parts = SentimentClassifier(config, text)
        parts.vocab, parts.subwords = source.vocab, source.subwords
        parts.vectors_found = source.vectors_found
        parts.labels = check_training_labels(labels)
        parts.wordgrams = parts._word_ngrams_of([parts.tokenizer(x) for x in texts], labels)
        check_seed(settings.seed)
        nnrandom.manual_seed(settings.seed)
        config = replace(source.network.config, num_classes=len(parts.labels),
                         num_word_ngrams=0 if parts.wordgrams is None else len(parts.wordgrams),
                         word_ngram_dropout=parts.config.word_ngram_dropout)  # fmt: skip
        parts.network = TextClassifier(config)
        parts._set_ratios()
        shared = {k: v for k, v in tree["model"].items()
                  if k.split(".")[0] in ("embedding", "subword_embedding", "rnn")}  # fmt: skip
        parts.network.load_state_dict(shared, strict=False)
        if source.text.vectors is not None and source.text.freeze_vectors:
            parts.network.embedding.weight.requires_grad = False
        return parts

    def make_trainer(self, prepared: _Prepared, start: FitStart, network: Any, task: Any,
                     checkpoint: dict | None) -> Any:  # fmt: skip
        """The run's trainer; with ``pretrain``, in the pretraining phase (a new run, or
        a checkpoint of that phase), the pretraining trainer followed by fine-tuning's
        (:class:`~.pretrain.PretrainThenFinetune`)."""
        if not self.settings.pretrain or (checkpoint is not None and _phase(checkpoint) is None):
            return super().make_trainer(prepared, start, network, task, checkpoint)
        from .pretrain import (
            BiLanguageModel,
            LanguageModelTask,
            PretrainThenFinetune,
            lm_sequences,
            pretrain_options,
        )

        s = self.settings
        saved_rule = None if checkpoint is None else checkpoint["config"].get("finetune_stop")
        saved = None if saved_rule is None else {"trainer": {"config": saved_rule}}
        rule = stop_rule_for(start.stop, self.default_stop, saved)
        lm = BiLanguageModel(self.network, s.pretrain_vocab)
        encode = self._encode_words
        lm_task = LanguageModelTask(
            lm, lm_sequences(encode(prepared.texts + prepared.unlabeled), s.pretrain_seq_length),
            lm_sequences(encode(prepared.valid_texts), s.pretrain_seq_length), s.batch_size,
            s.seed,
        )  # fmt: skip
        lm_config = {**self.app_config(), PHASE: "pretrain", "lm": lm.describe()}
        pretrainer = build_trainer(
            lm_task, lm, pretrain_options(s, lm_task.batches_per_epoch()),
            StopRule(steps=s.pretrain_steps, minutes=s.pretrain_minutes), app=APP,
            app_config={**lm_config, "finetune_stop": asdict(rule)}, monitor="val_lm_loss",
            mode="min", monitored=False, progress=start.shows_progress, plot=start.plot,
        )  # fmt: skip

        def pretrained(run: RunDir | None) -> None:
            """The language model is trained: write it, start the output layer."""
            if run is not None:
                save_model(run.path / RunDir.PRETRAINED, APP, {**lm_config, PHASE: "pretrained"},
                           lm)  # fmt: skip
            nnrandom.manual_seed([s.seed, 2])  # the same after a resume: a pure function
            fc = self.network.fc
            fresh = Linear(fc.in_features, fc.out_features, dtype=fc.dtype)
            fc.weight.data[...], fc.bias.data[...] = fresh.weight.data, fresh.bias.data
            if start.shows_progress:
                print(f"{APP}: language model pretrained ({pretrainer.step} steps); "
                      "fine-tuning the classifier", file=sys.stderr, flush=True)  # fmt: skip

        def finetune() -> Any:
            return super(SentimentClassifier, self).make_trainer(prepared, start, network, task,
                                                                 saved)  # fmt: skip

        if start.shows_progress and checkpoint is None:
            print(f"{APP}: pretraining a language model on {len(lm_task.train):,} pieces of "
                  f"text ({lm.classes:,} words predicted)", file=sys.stderr)  # fmt: skip
        return PretrainThenFinetune(pretrainer, finetune, pretrained)

    def _fresh_parts(
        self, texts: list[str], labels: list[str], settings: TrainSettings,
        extra: list[str] | None = None,
    ) -> SentimentClassifier:
        """A copy of this classifier with vocabulary (of ``texts`` and ``extra`` texts),
        labels, n-grams and a new network."""
        parts = SentimentClassifier(self.config, self.text)
        t = parts.text
        parts.labels = check_training_labels(labels)
        tokens = [parts.tokenizer(x) for x in [*texts, *(extra or [])]]
        parts.vocab = Vocab.build(tokens, min_freq=t.min_freq, max_size=t.max_vocab)
        parts.wordgrams = parts._word_ngrams_of(tokens[: len(texts)], labels)
        if t.char_ngrams is not None:
            parts.subwords = CharNgrams.build(
                parts.vocab.tokens[2:],  # the words (not PAD, UNK)
                *t.char_ngrams,
                min_words=t.ngram_min_words,
                max_size=t.max_ngrams,
            )
        check_seed(settings.seed)
        nnrandom.manual_seed(settings.seed)
        parts.network = parts._build_network()
        return parts

    def _word_ngrams_of(self, tokens: list[list[str]], labels: list[str]) -> WordNgrams | None:
        """The wide path's n-grams and ratios from the tokenised training texts (None
        without ``word_ngrams``); ``self.labels`` must be set."""
        t = self.text
        if t.word_ngrams is None:
            return None
        if len(self.labels) != 2:
            raise ValueError(f"word_ngrams (--word-ngrams) needs two classes, the training data "
                             f"has {len(self.labels)}")  # fmt: skip
        return WordNgrams.build(tokens, label_indices(labels, self.labels, "training data"),
                                *t.word_ngrams, min_texts=t.word_ngram_min_texts,
                                max_size=t.max_word_ngrams)  # fmt: skip

    def _take_parts(self, parts: SentimentClassifier) -> None:
        self.config, self.text, self.tokenizer = parts.config, parts.text, parts.tokenizer
        self.vocab, self.labels, self.subwords = parts.vocab, parts.labels, parts.subwords
        self.wordgrams = parts.wordgrams
        self.vectors_found, self.network = parts.vectors_found, parts.network

    def build(self, prepared: _Prepared, start: FitStart) -> tuple[TextClassifier, Any]:
        """The network and the task of the engine (NumPy's, or PyTorch's with
        ``start.processes``): the examples encoded, their targets the labels or,
        distilling, the labels mixed with the teacher's probabilities."""
        p, s = prepared, self.settings
        processes = start.processes
        if s.pretrain and processes is not None:
            raise ValueError("pretrain trains with the NumPy engine only for now")
        if self.wordgrams is not None and processes is not None:
            raise ValueError("word_ngrams (--word-ngrams) trains with the NumPy engine only "
                             "for now")  # fmt: skip
        train_ids, valid_ids = self._encode(p.texts), self._encode(p.valid_texts)
        train_grams, valid_grams = self._encode_wide(p.texts), self._encode_wide(p.valid_texts)
        train_y = label_indices(p.labels, self.labels, "training data")
        valid_y = label_indices(p.valid_labels, self.labels, "validation data")
        if p.teacher is not None:
            train_y = self._distilled_targets(p.teacher, p.texts, train_y, s.distill_weight,
                                              start.shows_progress)  # fmt: skip
        elif p.soft_targets_saved:  # the checkpoint's targets replace these (shape checked)
            train_y = np.zeros((len(p.texts), len(self.labels)))
        self.data = {**p.fingerprint, "examples": len(p.texts),
                     "valid_examples": len(p.valid_texts)}  # fmt: skip
        if train_y.ndim != 2:
            self.settings = s = replace(s, distill_weight=None)
        if processes is None:
            task = ClassificationTask(self.network, train_ids, train_y, valid_ids, valid_y,
                                      s.batch_size, s.seed, train_grams, valid_grams,
                                      s.word_ngram_l2)  # fmt: skip
        else:
            from .torch_engine import TorchClassificationTask

            task = TorchClassificationTask(self.network, train_ids, train_y, valid_ids, valid_y,
                                           s.batch_size, processes, s.seed)  # fmt: skip
        return self.network, task

    def trainer_hooks(self, prepared: _Prepared, start: FitStart) -> dict[str, Any]:
        """Validation accuracy picks the best weights, which are also kept in memory
        (and read back from ``best.npz`` on resume) for :meth:`fitted` to restore."""
        monitored = len(prepared.valid_texts) > 0
        on_eval = start.on_eval
        self._best_weights = {}

        def keep_best(trainer: Trainer, metrics: dict) -> None:
            if trainer.best_step == trainer.step or not monitored:
                self._best_weights.update(self.network.state_dict())
            if on_eval is not None:
                on_eval(trainer, metrics)

        def restore_best(trainer: Trainer, checkpoint: dict) -> None:  # resume: the best too
            run = trainer.run_dir
            if trainer.best_step is not None and run is not None and run.best.is_file():
                self._best_weights.update(load_checkpoint(run.best, app=APP)["model"])

        monitor = "val_accuracy" if monitored else "train_loss"
        return {"monitor": monitor, "mode": "max", "monitored": monitored,
                "on_eval": keep_best, "on_restore": restore_best}  # fmt: skip

    def fitted(self) -> None:
        """After training: the best evaluated weights, in evaluation mode (and the wide
        path's ratios as the network holds them: a resumed run read them from its checkpoint)."""
        if self._best_weights:
            self.network.load_state_dict(self._best_weights)
        self.network.eval()
        if self.network.wide_ratio is not None:
            self.wordgrams.ratios = self.network.wide_ratio.data.astype(np.float64)

    def _distilled_targets(
        self,
        teacher: _Predictor,
        texts: list[str],
        targets: np.ndarray,
        weight: float,
        progress: bool,
    ) -> np.ndarray:
        """``(1 - weight) * onehot(targets) + weight * p_teacher(texts)``, (N, C)."""
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

    def _build_network(self) -> TextClassifier:
        t = self.text
        embedding_dim = self.config.embedding_dim
        weights = None
        if t.vectors is not None:
            weights, self.vectors_found = load_vectors(
                t.vectors,
                self.vocab,
                encoding=t.vectors_encoding,
                lowercase=t.lowercase,
                rng=np.random.default_rng(0),
            )
            embedding_dim = weights.shape[1]
        config = replace(
            self.config,
            vocab_size=len(self.vocab),
            num_classes=len(self.labels),
            num_subwords=0 if self.subwords is None else len(self.subwords),
            num_word_ngrams=0 if self.wordgrams is None else len(self.wordgrams),
            embedding_dim=embedding_dim,
        )
        network = self.network = TextClassifier(config)
        if weights is not None:
            network.embedding.weight.data[...] = weights
            network.embedding.weight.data[PAD_ID] = 0.0
            network.embedding.weight.requires_grad = not t.freeze_vectors
        self._set_ratios()
        return network

    def _set_ratios(self) -> None:
        """The wide path's fixed ratios, from the n-grams built on the training texts (and
        the n-grams' ratios as the network holds them, in its dtype)."""
        if self.network.wide_ratio is not None:
            self.network.wide_ratio.data[...] = self.wordgrams.ratios
            self.wordgrams.ratios = self.network.wide_ratio.data.astype(np.float64)

    def _encode_wide(self, texts: Sequence[str]) -> list[np.ndarray] | None:
        """Each text's word n-gram ids (None without a wide path)."""
        if self.wordgrams is None:
            return None
        return encode_word_ngrams(texts, self.tokenizer, self.wordgrams)

    def _encode_words(self, texts: Sequence[str]) -> list:
        """The texts as ids (with n-grams), whole: the language model's reading."""
        return encode_texts(texts, self.tokenizer, self.vocab, None, "head",
                            self.text.unknown_backoff, self.subwords)  # fmt: skip

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        t = self.text
        return encode_texts(
            texts,
            self.tokenizer,
            self.vocab,
            t.max_length,
            t.truncate,
            t.unknown_backoff,
            self.subwords,
        )

    # -- inference ---------------------------------------------------------------------
    def _require_model(self) -> None:
        if self.network is None or self.vocab is None or self.labels is None:
            raise RuntimeError("the classifier is not trained: call fit() or load() first")

    def _probabilities(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, C) of every text; one without tokens reads as one UNK."""
        logits = predict_logits(self.network, self._encode(texts), batch_size,
                                self._encode_wide(texts))  # fmt: skip
        return probabilities(logits, len(self.labels))

    def trace(self, text: str):
        """States, gates, the verdict word by word and each word's weight (see :mod:`.trace`)."""
        from .trace import trace_sentence

        return trace_sentence(self, text)



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


def _saved_text_config(config: dict) -> TextConfig:
    """The :class:`TextConfig` an application config was saved with (its tokenizer's
    settings, vocabulary limits, vectors and n-grams)."""
    vectors, subwords = config.get("vectors") or {}, config.get("subwords")
    wordgrams = config.get("word_ngrams")
    tokenizer = Tokenizer.from_dict(dict(config["tokenizer"]))
    return TextConfig(
        lowercase=tokenizer.lowercase,
        split_punctuation=tokenizer.split_punctuation,
        strip_html=tokenizer.strip_html,
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
        word_ngrams=None if wordgrams is None else (wordgrams["n_min"], wordgrams["n_max"]),
        word_ngram_min_texts=int((wordgrams or {}).get("min_texts", 2)),
        max_word_ngrams=(wordgrams or {}).get("max_size"),
    )


def _saved_word_ngrams(saved: dict, weights: dict | None) -> WordNgrams:
    """The wide path's n-grams of an application config; their ratios from the weights
    (``wide_ratio``) when given, else zeros until the weights are loaded."""
    ngrams = [str(g) for g in saved["ngrams"]]
    ratios = np.zeros(len(ngrams))
    if weights is not None and "wide_ratio" in weights:
        ratios = np.asarray(weights["wide_ratio"], dtype=np.float64)[1:]
    return WordNgrams(ngrams, ratios, int(saved["n_min"]), int(saved["n_max"]))


def _examples(texts, labels, valid_texts, valid_labels) -> tuple:
    """The training (and validation) texts and labels as lists, their counts checked."""
    texts, labels = list(texts), [str(label) for label in labels]
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if valid_texts is not None:
        valid_texts, valid_labels = list(valid_texts), [str(v) for v in (valid_labels or [])]
        if len(valid_texts) != len(valid_labels):
            raise ValueError(f"{len(valid_texts)} validation texts but {len(valid_labels)} labels")
    return texts, labels, valid_texts, valid_labels


@dataclass(frozen=True)
class EvalRequest:
    """What ``rnnkit sentiment eval`` is asked (its flags are generated from these fields)."""

    data: str | None = option(None, "labelled data to evaluate on", metavar="FILE",
                              required=True)  # fmt: skip
    json: bool = option(False, "print one JSON object")
    ensemble_with: tuple[str, ...] = option(
        (), "average the class probabilities with this model too (repeatable)",
        metavar="RUN_DIR", repeatable=True,
    )


@dataclass(frozen=True)
class PredictRequest:
    """What ``rnnkit sentiment predict`` is asked (flags generated)."""

    texts: tuple[str, ...] = option((), "texts to classify", metavar="TEXT", positional=True,
                                    nargs="*")  # fmt: skip
    file: str | None = option(None, "one text per line (gzip read transparently)",
                              metavar="FILE")  # fmt: skip
    encoding: str = option("utf-8", "encoding of --file / stdin")
    json: bool = option(False, "one JSON object per line")
    ensemble_with: tuple[str, ...] = option(
        (), "average the class probabilities with this model too (repeatable)",
        metavar="RUN_DIR", repeatable=True,
    )


def _fingerprint(texts, labels, valid_texts, valid_labels) -> dict:
    """sha256 of the training (and validation) examples, to recognise the data on resume."""
    return {"sha256": sha256_examples(texts, labels, valid_texts, valid_labels)}


def _check_same_data(saved: dict, fingerprint: dict, out) -> None:
    """Resume only on the data the run was trained on (like the text generator's corpus check)."""
    if "sha256" in saved and saved["sha256"] != fingerprint["sha256"]:
        raise ValueError(
            f"the training data differs from what the run in {out} was trained on; "
            "resume with the same --train (and --valid) data, or start a new run"
        )


#: the wide path's settings (text, model): a run started with init_from may give its own
#: (the command line's check reads them too)
WIDE_TEXT = ("word_ngrams", "word_ngram_min_texts", "max_word_ngrams")
WIDE_MODEL = ("word_ngram_dropout",)

#: what a run's data record keeps across a resume beside the fingerprint given
_KEPT_DATA = ("init_from", "unlabeled_sha256", "unlabeled_texts")


def _phase(checkpoint: dict | None) -> str | None:
    """"pretrain" for a checkpoint of the pretraining phase, None for a classifier's."""
    config = (checkpoint or {}).get("config")
    return config.get(PHASE) if isinstance(config, dict) else None


def _classifier_config(config: dict) -> dict:
    """A pretraining checkpoint's config without its language-model keys: the classifier's."""
    return {k: v for k, v in config.items() if k not in (PHASE, "lm", "finetune_stop")}


def _check_same_unlabeled(saved: dict, unlabeled: list[str] | None, out) -> None:
    """Resume the pretraining only on the unlabeled text it was reading."""
    given = sha256_examples(unlabeled) if unlabeled else None
    if saved.get("unlabeled_sha256") != given:
        raise ValueError(
            f"the unlabeled text differs from what the run in {out} is pretraining on; "
            "resume with the same --unlabeled files"
        )
