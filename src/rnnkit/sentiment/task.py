"""The classifier's training task for the shared :class:`rnnkit.training.Trainer`.

The trainer owns the loop (optimizer, clipping, evaluation cadence, early
stopping, checkpoints, logs); this task says what one step and one evaluation
mean for text classification:

* step: one length-bucketed batch (:func:`rnnkit.text.batching.bucket_batches`),
  loss = binary cross-entropy on the single logit (two classes) or softmax
  cross-entropy (more), backward through the model; with a wide path and
  ``wide_l2 > 0``, plus ``wide_l2 / 2 * |w|^2`` on its weights (the L2 of NB-LR).
  The targets are class ids ``(N,)`` or, for distillation, class probabilities
  ``(N, C)`` (then the task keeps them in its state, so a resumed run needs no teacher);
* evaluation: ``val_loss`` and ``val_accuracy`` on the validation set.

The batch order of epoch ``e`` comes from a generator seeded with
``(seed, e)``, a pure function of the epoch, so a resumed run sees the very
batches the interrupted one would have.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..nn.functional import sigmoid, softmax
from ..nn.losses import BCEWithLogitsLoss, CrossEntropyLoss
from ..text.batching import bucket_batches
from .data import batch_arrays, batch_word_ngrams
from .model import TextClassifier

#: validation probabilities held at once (rows x classes); 2 classes: 500k rows in one slice
EVAL_NUMBERS = 1 << 20


class ClassificationLoss:
    """Mean loss over a batch and its gradient with respect to the logits (B, K).

    ``targets`` are class ids (B,) or class probabilities (B, C); with two
    classes the single logit's target is then ``P(class 1)``.
    """

    def __init__(self, num_classes: int):
        self.binary = num_classes == 2
        self.loss = BCEWithLogitsLoss() if self.binary else CrossEntropyLoss()

    def __call__(self, logits: np.ndarray, targets: np.ndarray) -> float:
        if self.binary:
            positive = targets[:, 1] if targets.ndim == 2 else targets
            return self.loss(logits[:, 0], positive.astype(logits.dtype))
        return self.loss(logits, targets)

    def backward(self) -> np.ndarray:
        grad = self.loss.backward()
        return grad[:, None] if self.binary else grad  # (B, K)


def probabilities(logits: np.ndarray, num_classes: int) -> np.ndarray:
    """Logits (B, K) -> class probabilities (B, C), float64: sigmoid for 2 classes, else softmax."""
    z = logits.astype(np.float64)
    if num_classes == 2:
        p1 = sigmoid(z[:, 0])  # (B,)
        return np.stack([1.0 - p1, p1], axis=1)
    return softmax(z, axis=1)


def predict_logits(
    model: TextClassifier,
    sequences: Sequence[Sequence[int]],
    batch_size: int = 256,
    grams: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Logits (N, K) for id sequences (and, for a model with a wide path, each text's word
    n-gram ids ``grams``), in eval mode, batched by length, in input order."""
    was_training = model.training
    model.eval()
    out = np.empty((len(sequences), model.config.num_outputs), dtype=np.float64)
    try:
        for index in bucket_batches([len(s) for s in sequences], batch_size, shuffle=False):
            ids, lengths = batch_arrays(sequences, index)
            out[index] = model(ids, lengths, batch_word_ngrams(grams, index))
    finally:
        model.train(was_training)
    return out


class ClassificationTask:
    """A :class:`rnnkit.training.TrainTask` for :class:`TextClassifier`."""

    unit = "tokens"

    def __init__(
        self,
        model: TextClassifier,
        train_ids: Sequence[Sequence[int]],
        train_targets: np.ndarray,
        valid_ids: Sequence[Sequence[int]],
        valid_targets: np.ndarray,
        batch_size: int,
        seed: int = 0,
        train_grams: Sequence[np.ndarray] | None = None,
        valid_grams: Sequence[np.ndarray] | None = None,
        wide_l2: float = 0.0,
    ):
        if len(train_ids) == 0:
            raise ValueError("the training set is empty")
        self.model = model
        self.train_grams, self.valid_grams = train_grams, valid_grams  # word n-gram ids
        self.wide_l2 = float(wide_l2) if model.wide is not None else 0.0
        self.num_classes = model.config.num_classes
        self.train_ids, self.train_targets = train_ids, np.asarray(train_targets)
        self.valid_ids, self.valid_targets = valid_ids, np.asarray(valid_targets)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.lengths = np.array([len(s) for s in train_ids], dtype=np.int64)
        self.loss = ClassificationLoss(self.num_classes)
        self._epoch, self._batches = None, []
        self._count = len(self._batches_of(0))

    def _batches_of(self, epoch: int) -> list[np.ndarray]:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._epoch, self._batches = (
                epoch,
                bucket_batches(self.lengths, self.batch_size, rng=rng),
            )
        return self._batches

    def batches_per_epoch(self) -> int:
        return self._count

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        batch = self._batches_of(epoch)[index]
        ids, lengths = batch_arrays(self.train_ids, batch)  # (B, T), (B,)
        logits = self.model(ids, lengths, batch_word_ngrams(self.train_grams, batch))  # (B, K)
        loss = self.loss(logits, self.train_targets[batch])
        self.model.backward(self.loss.backward())
        if self.wide_l2 > 0:  # + l2/2 |w|^2 on the wide path's weights
            w = self.model.wide.weight
            loss += 0.5 * self.wide_l2 * float(np.vdot(w.data, w.data))
            w.grad += self.wide_l2 * w.data
        return loss, int(lengths.sum())

    def evaluate(self) -> dict[str, float]:
        """Mean NLL and accuracy on the validation set, in slices of at most
        :data:`EVAL_NUMBERS` probabilities (so 10,000 classes cost no more than 2)."""
        n = len(self.valid_ids)
        if n == 0:
            return {}
        rows = max(1, EVAL_NUMBERS // self.num_classes)
        nll, correct = [], 0
        for start in range(0, n, rows):
            targets = self.valid_targets[start : start + rows]
            grams = None if self.valid_grams is None else self.valid_grams[start : start + rows]
            logits = predict_logits(self.model, self.valid_ids[start : start + rows], grams=grams)
            probs = probabilities(logits, self.num_classes)  # (rows, C)
            nll.append(-np.log(np.clip(probs[np.arange(len(targets)), targets], 1e-12, None)))
            correct += int((probs.argmax(axis=1) == targets).sum())
        return {"val_loss": float(np.concatenate(nll).mean()), "val_accuracy": correct / n}

    @property
    def soft_targets(self) -> bool:
        return self.train_targets.ndim == 2

    def state_dict(self) -> dict:
        state = {"seed": self.seed}
        if self.soft_targets:  # a teacher's probabilities: kept so resume needs no teacher
            state["train_targets"] = self.train_targets
        return state

    def load_state_dict(self, state: dict) -> None:
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(
                f"the checkpoint was trained with seed {state['seed']}, not {self.seed}"
            )
        if self.soft_targets:
            saved = np.asarray(state.get("train_targets"))
            if saved.shape != self.train_targets.shape:
                raise ValueError(
                    f"the checkpoint's distillation targets have shape {saved.shape}, "
                    f"the training data needs {self.train_targets.shape}"
                )
            self.train_targets = saved
