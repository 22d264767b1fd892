"""Documents mode: a corpus of many short texts (names, titles, tweets, log lines).

With ``documents="lines"`` (each non-empty line) or ``"blank-lines"`` (blocks
separated by blank lines) every document is a text of its own. The vocabulary
gets two markers (:class:`~rnnkit.text.corpus.CharVocab` ``markers``), and a
document ``d_1..d_n`` is read as::

    inputs   <start> d_1 ... d_n          the state starts from zeros at <start>
    targets  d_1     ...  d_n  <end>      n + 1 predictions, the end marker included

A training step is ``B`` whole documents side by side, padded to the longest
(each column of the batch is read from its own zero state, so a document
never sees another), its loss the mean over the real targets only: the
padding positions have target ``PAD`` (``ignore_index``), which the loss
skips::

    loss = -(1/N) sum_{b, t: t <= n_b} log p(target[t, b] | inputs[:t+1, b]),  N = sum_b (n_b + 1)

Backpropagation runs through whole documents (no truncation; the mode is for
short texts). The documents are shuffled at each epoch by a generator seeded
with ``(seed, epoch)``, so a resumed run sees the same batches. The held-out
documents (``val_fraction`` of them, drawn with a fixed seed by
:func:`~rnnkit.text.corpus.split_documents_held_out`) are scored the same way,
each from its start marker, in nats per predicted symbol (characters and end
markers).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from ..nn.losses import CrossEntropyLoss
from ..text.corpus import CharVocab, CorpusError, Text, split_documents, split_documents_held_out
from .model import CharRNN
from .scoring import surprises
from .train import CharLMTask

#: the target of a padding position (the loss's ``ignore_index``)
PAD = -100


def document_ids(vocab: CharVocab, docs: Sequence[Text]) -> list[np.ndarray]:
    """Each document's ids followed by the end marker (what is predicted after <start>)."""
    return [np.append(vocab.encode(d), vocab.end_id).astype(np.int64) for d in docs]


def split_corpus(corpus: Text, mode: str, val_fraction: float, what: str = "corpus"):
    """The training and held-out documents of ``corpus``."""
    docs = split_documents(corpus, mode)
    if not docs:
        raise CorpusError(f"the {what} has no documents (--documents {mode})")
    train, val = split_documents_held_out(len(docs), val_fraction)
    return [docs[i] for i in train], [docs[i] for i in val]


class DocumentBatches:
    """``B`` whole documents per batch, shuffled per epoch with ``(seed, epoch)``."""

    def __init__(self, docs: list[np.ndarray], batch_size: int, start_id: int, seed: int = 0):
        if not docs:
            raise CorpusError("documents mode needs at least one training document")
        if batch_size < 1:
            raise CorpusError(f"batch_size must be >= 1, received {batch_size}")
        self.docs, self.start_id, self.seed = docs, int(start_id), seed
        self.batch_size = min(int(batch_size), len(docs))
        self.num_batches = math.ceil(len(docs) / self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.docs))

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index`` of ``epoch`` as ``(inputs (T, B), targets (T, B))``, targets
        ``PAD`` past each document's end marker."""
        if not 0 <= index < self.num_batches:
            raise IndexError(f"batch index must be in [0, {self.num_batches}), received {index}")
        picked = self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        return pad_documents([self.docs[i] for i in picked], self.start_id)


def pad_documents(docs: Sequence[np.ndarray], start_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``inputs (T, B)`` (start marker, then each document; padding repeats the start id,
    never read into a counted target) and ``targets (T, B)`` (``PAD`` after the end)."""
    longest = max(len(d) for d in docs)
    targets = np.full((longest, len(docs)), PAD, dtype=np.int64)
    inputs = np.full((longest, len(docs)), start_id, dtype=np.int64)
    for b, ids in enumerate(docs):
        targets[: len(ids), b] = ids
        inputs[1 : len(ids), b] = ids[:-1]
    return inputs, targets


def evaluate_documents(model: CharRNN, docs: Sequence[np.ndarray], start_id: int) -> dict:
    """Nats per predicted symbol of ``docs`` (ids ending with the end marker), each read from
    its start marker and zero state: :func:`~.evaluate.evaluate_ids`'s keys and
    ``documents``."""
    if not docs:
        raise CorpusError("no documents to evaluate")
    values = surprises(model, list(docs), start_id)
    total, n = float(sum(v.sum() for v in values)), int(sum(v.size for v in values))
    nats = total / n
    return {"loss": nats, "bpc": nats / math.log(2),
            "perplexity": math.exp(nats) if nats < 700 else math.inf,
            "chars": n, "documents": len(docs)}  # fmt: skip


class DocumentTask(CharLMTask):
    """The text generator's task in documents mode: one step is one batch of whole
    documents, each from zero state; no state is carried between steps."""

    def __init__(self, model: CharRNN, batches: DocumentBatches, val_docs: list[np.ndarray]):
        super().__init__(model, batches, np.zeros(0, dtype=np.int64))  # type: ignore[arg-type]
        self.val_docs = val_docs
        self.loss_fn = CrossEntropyLoss(ignore_index=PAD)

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        x, y = self.batches.batch(epoch, index)  # (T, B) each
        logits, _ = self.model(x)  # zero state: each document from its own start
        loss = self.loss_fn(logits, y)
        self.model.backward(self.loss_fn.backward())
        return loss, int((y != PAD).sum())

    def evaluate(self) -> dict[str, float]:
        if not self.val_docs:
            return {}
        result = evaluate_documents(self.model, self.val_docs, self.batches.start_id)
        return {"val_loss": result["loss"], "val_bpc": result["bpc"]}

    def state_dict(self) -> dict:
        return {"carry": None}

    def load_state_dict(self, state: dict) -> None:
        if state.get("carry") is not None:
            raise ValueError("a documents-mode run carries no state between steps")


def until_end(steps: Iterator[np.ndarray], end_id: int) -> Iterator[np.ndarray]:
    """The steps of one sample (``(1,)`` ids) up to, not including, the end marker."""
    for ids in steps:
        if int(ids[0]) == end_id:
            steps.close()  # type: ignore[attr-defined]
            return
        yield ids


def batch_documents(steps: Iterator[np.ndarray], n: int, end_id: int) -> list[list[int]]:
    """The ``n`` documents of a batch of samples (``steps`` yields ``(n,)`` ids), each up to
    its end marker; the batch runs until every sample has ended (or its length is reached)."""
    docs: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    for ids in steps:
        for k, next_id in enumerate(ids):
            if done[k]:
                continue
            if int(next_id) == end_id:
                done[k] = True
            else:
                docs[k].append(int(next_id))
        if all(done):
            steps.close()  # type: ignore[attr-defined]
            break
    return docs
