"""Language-model pretraining of the classifier's embedding and recurrent layers.

``SentimentClassifier.fit(..., pretrain=True, unlabeled=texts)`` (``rnnkit sentiment
train --pretrain --unlabeled FILE``) trains in two phases of one run directory:

1. **pretraining**: the classifier's own embedding and recurrent layers read the
   training texts (labels unused) and the unlabeled texts, cut into pieces of
   ``pretrain_seq_length`` words, as a word-level language model
   (:class:`BiLanguageModel`): the forward direction's state at word ``t``
   predicts word ``t + 1``, the backward direction's predicts word ``t - 1`` (a
   forward and a backward language model on one bidirectional layer, as ELMo and
   ULMFiT; a unidirectional classifier has the forward one only);
2. **fine-tuning**: the whole classifier trains on the labels from the pretrained
   weights, its output layer new.

The softmax: **tied weights over a capped vocabulary**. A direction's state ``h``
(H) is mapped to the word-vector space, ``z = W_d h + c_d`` (E), and scored
against the input embedding's own rows, ``logits = z E_out^T + b_d``, over the
``pretrain_vocab`` most frequent entries of the vocabulary (UNK and the most
frequent words; a rarer word is predicted as UNK). Tying makes every prediction
train the word vectors the classifier reads (the output side adds no ``K x H``
table), the cap bounds the cost of a step whatever the vocabulary, and the loss
is the exact softmax (no sampling noise, the numbers are perplexities). See
docs/sentiment.md for the measured cost of a step.

Both phases are resumable in the same run directory (:class:`PretrainThenFinetune`):
the pretraining phase writes the run's ``latest.npz`` (its config marked
``"phase": "pretrain"``) and its own ``pretrain-metrics.jsonl``,
``pretrain-loss.png`` and ``pretrain-best.npz``; when it ends, the language model
is written to ``pretrained.npz`` (atomically) and fine-tuning starts, its first
checkpoint replacing ``latest.npz``. A resume reads the phase from ``latest.npz``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..nn import random as nnrandom
from ..nn.layers import Dropout, Linear
from ..nn.module import Module, Parameter
from ..text.batching import bucket_batches
from ..text.vocab import PAD_ID, UNK_ID
from ..training.rundir import RunDir
from .data import batch_arrays
from .model import TextClassifier

#: held-out tokens a pretraining evaluation scores at most (the first pieces of the
#: validation texts): the softmax over the capped vocabulary makes every token cost
LM_EVAL_TOKENS = 20_000

#: the config key that marks a checkpoint of the pretraining phase ("pretrain") or
#: the language model it ended with ("pretrained")
PHASE = "phase"


def check_architecture(config) -> None:
    """Pretraining needs each direction to read one way only: refused (one line) for a
    stacked bidirectional classifier, whose upper layers read both directions' states."""
    if config.bidirectional and config.num_layers > 1:
        raise ValueError(
            "pretrain trains a forward and a backward language model on one bidirectional "
            f"layer; this classifier stacks {config.num_layers} bidirectional layers, whose "
            "upper layers see both directions (the word to predict): use num_layers 1 or "
            "unidirectional"
        )


class BiLanguageModel(Module):
    """The classifier's embedding and recurrent layers (shared, not copied) as a language
    model: forward direction -> next word, backward direction -> previous word.

    ``forward(ids (B, T) or (B, T, 1 + G), lengths (B,)) -> loss``: the mean negative
    log-likelihood (nats) over every predicted word of both directions;
    ``backward()`` accumulates every parameter's gradient. Its own parameters are
    ``lm_forward`` (and ``lm_backward``), ``Linear(H, E)``, and ``lm_bias (D, K)``;
    the output word vectors are rows ``1 .. K`` of the input embedding (UNK and the
    ``K - 1`` most frequent words), ``K = min(vocab, vocab_size - 1)``.
    """

    def __init__(self, classifier: TextClassifier, vocab: int):
        super().__init__()
        c = classifier.config
        check_architecture(c)
        dtype = classifier.embedding.weight.dtype
        self.embedding = classifier.embedding
        self.subword_embedding = classifier.subword_embedding
        self.embedding_dropout = classifier.embedding_dropout
        self.rnn = classifier.rnn
        self.output_dropout = Dropout(c.dropout)
        self.word_dropout = float(c.word_dropout)
        self.hidden_size = int(c.hidden_size)
        self.directions = 2 if c.bidirectional else 1
        self.classes = max(1, min(int(vocab), int(c.vocab_size) - 1))  # ids 1..K: UNK + words
        self.lm_forward = Linear(c.hidden_size, c.embedding_dim, dtype=dtype)
        if self.directions == 2:
            self.lm_backward = Linear(c.hidden_size, c.embedding_dim, dtype=dtype)
        self.lm_bias = Parameter(np.zeros((self.directions, self.classes), dtype=dtype))
        self.count = 0  # words predicted by the last forward
        self._cache = None

    def describe(self) -> dict:
        """What the checkpoint's config says about the language model."""
        return {"vocab": self.classes, "directions": self.directions,
                "softmax": "tied embedding, capped vocabulary"}  # fmt: skip

    def _heads(self) -> list[Linear]:
        return [self.lm_forward] + ([self.lm_backward] if self.directions == 2 else [])

    def targets(self, words: np.ndarray) -> np.ndarray:
        """Word ids (B, T) -> output classes: ``id - 1`` inside the cap, else UNK's 0."""
        return np.where((words >= 1) & (words <= self.classes), words - 1, UNK_ID - 1)

    def forward(self, ids: np.ndarray, lengths: np.ndarray) -> float:
        ids, lengths = np.asarray(ids), np.asarray(lengths)
        grams = None
        if ids.ndim == 3:
            ids, grams = ids[:, :, 0], ids[:, :, 1:]
        words = ids
        if self.training and self.word_dropout > 0:  # inputs become UNK; targets stay
            hit = nnrandom.get_rng().random(words.shape) < self.word_dropout
            ids = np.where(hit & (words != PAD_ID), UNK_ID, words)
        x = self.embedding(ids)  # (B, T, E)
        with_grams = grams is not None and grams.shape[2] > 0 and self.subword_embedding is not None
        if with_grams:
            B, T, G = grams.shape
            x = x + self.subword_embedding(grams.reshape(B * T, G)).reshape(B, T, -1)
        x = self.embedding_dropout(x)
        output, _ = self.rnn(x, lengths=lengths)  # (B, T, D*H)
        output = self.output_dropout(output)
        B, T = words.shape
        classes = self.targets(words)
        t, last = np.arange(T)[None, :], lengths[:, None]
        W = self.embedding.weight.data[1 : 1 + self.classes]  # (K, E): the output vectors
        H, parts, total = self.hidden_size, [], 0.0
        for d, head in enumerate(self._heads()):
            if d == 0:  # the state after word t predicts word t + 1
                rows, cols = np.nonzero(t < last - 1)
                target = classes[rows, cols + 1]
            else:  # the backward state at word t (it has read t..end) predicts word t - 1
                rows, cols = np.nonzero((t >= 1) & (t < last))
                target = classes[rows, cols - 1]
            z = head(output[rows, cols, d * H : (d + 1) * H])  # (N, E)
            logits = z @ W.T + self.lm_bias.data[d]  # (N, K)
            logits -= logits.max(axis=1, keepdims=True)
            np.exp(logits, out=logits)
            sums = logits.sum(axis=1, keepdims=True)
            logits /= sums  # probabilities
            picked = logits[np.arange(len(target)), target]
            total -= float(np.log(np.maximum(picked, np.finfo(logits.dtype).tiny)).sum())
            parts.append((rows, cols, target, z, logits))
        self.count = sum(len(p[0]) for p in parts)
        self._cache = (output.shape, parts, with_grams)
        return total / max(self.count, 1)

    def backward(self) -> None:
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        shape, parts, with_grams = self._cache
        self._cache = None
        weight = self.embedding.weight
        W = weight.data[1 : 1 + self.classes]
        grad_W = np.zeros_like(W)
        grad_output = np.zeros(shape, dtype=W.dtype)  # (B, T, D*H)
        H, n = self.hidden_size, max(self.count, 1)
        for d, (head, (rows, cols, target, z, g)) in enumerate(zip(self._heads(), parts,
                                                                    strict=True)):  # fmt: skip
            g[np.arange(len(target)), target] -= 1.0  # softmax - onehot (in place)
            g /= n
            self.lm_bias.grad[d] += g.sum(axis=0)
            grad_W += g.T @ z
            grad_output[rows, cols, d * H : (d + 1) * H] = head.backward(g @ W)
        if weight.requires_grad:
            weight.grad[1 : 1 + self.classes] += grad_W
        grad_output = self.output_dropout.backward(grad_output)
        grad_x, _ = self.rnn.backward(grad_output, None)
        grad_x = self.embedding_dropout.backward(grad_x)  # (B, T, E)
        self.embedding.backward(grad_x)
        if with_grams:
            self.subword_embedding.backward(grad_x.reshape(-1, grad_x.shape[2]))


def lm_sequences(encoded: Sequence, length: int) -> list[np.ndarray]:
    """Encoded texts cut into pieces of at most ``length`` words (each predicts within
    itself; pieces of one word predict nothing and are dropped)."""
    pieces = []
    for seq in encoded:
        seq = np.asarray(seq, dtype=np.int64)
        for start in range(0, len(seq), length):
            piece = seq[start : start + length]
            if len(piece) >= 2:
                pieces.append(piece)
    return pieces


def first_tokens(pieces: list[np.ndarray], limit: int = LM_EVAL_TOKENS) -> list[np.ndarray]:
    """The first pieces, up to ``limit`` words in all (what an evaluation scores)."""
    out, total = [], 0
    for piece in pieces:
        if total >= limit:
            break
        out.append(piece)
        total += len(piece)
    return out


class LanguageModelTask:
    """A :class:`rnnkit.training.TrainTask` for :class:`BiLanguageModel`: one step is
    one length-bucketed batch of pieces (order seeded by ``(seed, 3, epoch)``); the
    evaluation is ``val_lm_loss`` (nats per word) on the first held-out pieces."""

    unit = "tokens"

    def __init__(self, lm: BiLanguageModel, train: list[np.ndarray], valid: list[np.ndarray],
                 batch_size: int, seed: int = 0):  # fmt: skip
        if not train:
            raise ValueError("pretraining has no text of two words or more to read")
        self.lm, self.train, self.valid = lm, train, first_tokens(valid)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.lengths = np.array([len(s) for s in train], dtype=np.int64)
        self._epoch, self._batches = None, []
        self._count = len(self._batches_of(0))

    def _batches_of(self, epoch: int) -> list[np.ndarray]:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, 3, epoch])
            self._epoch = epoch
            self._batches = bucket_batches(self.lengths, self.batch_size, rng=rng)
        return self._batches

    def batches_per_epoch(self) -> int:
        return self._count

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        ids, lengths = batch_arrays(self.train, self._batches_of(epoch)[index])
        loss = self.lm(ids, lengths)
        self.lm.backward()
        return loss, int(lengths.sum())

    def loss_on(self, pieces: list[np.ndarray]) -> float:
        """Mean loss (nats per predicted word) on ``pieces``, in evaluation mode."""
        was_training = self.lm.training
        self.lm.eval()
        total, count = 0.0, 0
        try:
            for index in bucket_batches([len(s) for s in pieces], self.batch_size,
                                        shuffle=False):  # fmt: skip
                ids, lengths = batch_arrays(pieces, index)
                total += self.lm(ids, lengths) * self.lm.count
                count += self.lm.count
                self.lm._cache = None
        finally:
            self.lm.train(was_training)
        return total / max(count, 1)

    def evaluate(self) -> dict[str, float]:
        return {"val_lm_loss": self.loss_on(self.valid)} if self.valid else {}

    def state_dict(self) -> dict:
        return {"seed": self.seed, PHASE: "pretrain"}

    def load_state_dict(self, state: dict) -> None:
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(
                f"the checkpoint was trained with seed {state['seed']}, not {self.seed}"
            )


def pretrain_options(settings: Any, batches_per_epoch: int) -> Any:
    """The trainer options of the pretraining phase: the run's, with its own learning
    rate (constant), no weight averaging, no early stopping, and an evaluation (and
    checkpoint) every ``eval_every`` steps, else about ten in the phase."""
    steps = settings.pretrain_steps
    every = settings.eval_every or max(1, min(500, math.ceil(steps / 10)))
    return replace(
        settings, lr=settings.pretrain_lr or settings.lr, lr_decay=1.0, lr_decay_every=None,
        lr_decay_after=0, lr_min=0.0, ema_decay=None, patience=None, eval_every=every,
        evals_per_epoch=None,
    )  # fmt: skip


class PhaseFiles:
    """The pretraining phase's view of the run directory for its :class:`Trainer`: its
    checkpoint is the run's ``latest.npz`` (so ``--resume`` and ``--force`` work as for
    any run); its log, plot and best checkpoint are its own files."""

    def __init__(self, run: RunDir):
        self.run, self.path = run, run.path

    @property
    def latest(self):
        return self.run.latest

    @property
    def best(self):
        return self.path / RunDir.PRETRAIN_BEST

    @property
    def metrics(self):
        return self.path / RunDir.PRETRAIN_METRICS

    @property
    def plot(self):
        return self.path / RunDir.PRETRAIN_PLOT

    def commit(self) -> None:
        self.run.commit()


class PretrainThenFinetune:
    """What :func:`~rnnkit.training.rundir.fit_run` drives for a run in its pretraining
    phase (new, or resumed from a ``"phase": "pretrain"`` checkpoint): the pretraining
    trainer, then, when it has stopped by its rule, ``pretrained(run_dir)`` (writes
    ``pretrained.npz``, starts the output layer) and the fine-tuning trainer that
    ``finetune()`` builds. An interrupted or diverged pretraining returns at once."""

    def __init__(self, pretrainer: Any, finetune: Callable[[], Any],
                 pretrained: Callable[[RunDir | None], None]):  # fmt: skip
        self.pretrainer, self._finetune, self._pretrained = pretrainer, finetune, pretrained
        self.trainer: Any = None  # the fine-tuning trainer, once it is made
        self.run_dir: RunDir | None = None

    def attach(self, run_dir: RunDir | None) -> None:
        self.run_dir = run_dir
        self.pretrainer.attach(None if run_dir is None else PhaseFiles(run_dir))

    def restore(self, checkpoint: dict) -> None:
        self.pretrainer.restore(checkpoint)

    def fit(self):
        result = self.pretrainer.fit()
        if result.reason in ("interrupted", "diverged"):
            return result
        self._pretrained(self.run_dir)
        self.trainer = self._finetune()
        self.trainer.attach(self.run_dir)
        return self.trainer.fit()

    def use_average(self) -> None:
        if self.trainer is not None:
            self.trainer.use_average()
