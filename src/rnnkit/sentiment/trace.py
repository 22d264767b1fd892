"""Looking inside a text classifier: states and gates per word, the verdict as it builds up,
and how much each word mattered.

For a sentence of T words ``w_1..w_T`` (tokenised and truncated exactly as
:meth:`SentimentClassifier.predict` does):

* ``layers[l][k]`` (T, D, H): the recurrent layer's own trace
  (:meth:`~rnnkit.nn.recurrent.RNNBase.trace`): ``"h"``, ``"c"`` (LSTM) and every
  gate after reading ``w_t``, D = 2 directions for a bidirectional model (the
  reverse direction's entry at t is its state after reading ``w_T..w_t``).
* ``trajectory`` (T, C): the class probabilities of the prefix ``w_1..w_t``,
  i.e. what the model would answer if the sentence stopped after word t. For a
  one-direction model with ``last`` pooling this is exactly the left-to-right
  reading of the hidden state. For a bidirectional model the reverse direction
  has to read each prefix from its own end, so every prefix is classified as a
  sentence of its own (one batch of T prefixes): the curve shows the verdict on
  growing prefixes, not the states of a single pass.
* ``attribution`` (T,): leave-one-out, in log-odds of the predicted label:
  ``logodds(label | sentence) - logodds(label | sentence without w_t)`` with
  ``logodds = log p - log(1 - p)``, computed from the logits (a one-word
  sentence without its word reads as one unknown word, the classifier's rule
  for a text without words). Positive: the word pushed towards the verdict.
  Log-odds rather than probability because probability saturates: at 99.9%
  confidence removing "not" from "not good" may move p by 0.001 while the
  logit moves by several units. ``attribution_probability`` (T,) is the same
  difference in probability units. Chosen over gradient x input because it
  measures the model itself rather than a linearisation of it (max pooling and
  saturated gates make gradients local and often zero), and over integrated
  gradients because it needs no baseline input and costs one batch of T
  sentences.

With a wide path (word n-grams, see :mod:`rnnkit.sentiment.model`) every piece of the
sentence above -- the sentence, each prefix, the sentence without ``w_t`` -- is read
with its own n-grams, so removing "not" also removes "not good" from the wide path's sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..text.batching import pad_batch, truncate
from ..text.vocab import UNK_ID
from .data import batch_word_ngrams
from .task import probabilities


@dataclass
class SentenceTrace:
    """What :func:`trace_sentence` returns (shapes in the module docstring)."""

    tokens: list[str]
    labels: list[str]
    label: str
    probabilities: dict[str, float]
    trajectory: np.ndarray  # (T, C)
    attribution: np.ndarray  # (T,) log-odds
    layers: list[dict[str, np.ndarray]] = field(default_factory=list)
    attribution_probability: np.ndarray | None = None  # (T,) the same, in probability units


def _class_logits(network, sequences, grams=None) -> np.ndarray:
    """The network's logits (N, K) of id sequences (lists, or (L, 1 + G) arrays) and, for a
    model with a wide path, their word n-gram ids ``grams`` (N arrays), one batch."""
    ids, lengths = pad_batch(sequences)
    word_grams = None if grams is None else batch_word_ngrams(grams, np.arange(len(grams)))
    return np.asarray(network(ids, lengths, word_grams), dtype=np.float64)


def _class_probabilities(network, sequences, grams=None) -> np.ndarray:
    """Class probabilities (N, C) of id sequences, one batch."""
    return probabilities(_class_logits(network, sequences, grams), network.config.num_classes)


def log_odds(logits: np.ndarray, num_classes: int) -> np.ndarray:
    """Logits (N, K) -> ``log p_c - log(1 - p_c)`` (N, C) for every class, from the logits
    (finite where the probabilities round to 0 or 1)."""
    z = np.asarray(logits, dtype=np.float64)
    if num_classes == 2:
        return np.stack([-z[:, 0], z[:, 0]], axis=1)
    out = np.empty_like(z)
    for c in range(z.shape[1]):
        rest = np.delete(z, c, axis=1)
        top = rest.max(axis=1)
        out[:, c] = z[:, c] - (top + np.log(np.exp(rest - top[:, None]).sum(axis=1)))
    return out


def _word_vectors(network, ids: np.ndarray) -> np.ndarray:
    """The recurrent layer's input (1, T, E) for one sentence, as the model's forward builds it."""
    if ids.ndim == 2:  # (T, 1 + G): word ids then n-gram ids
        words, grams = ids[None, :, 0], ids[None, :, 1:]
    else:
        words, grams = ids[None, :], None
    x = network.embedding(words)  # (1, T, E)
    if grams is not None and grams.shape[2] > 0 and network.subword_embedding is not None:
        T, G = grams.shape[1:]
        x = x + network.subword_embedding(grams.reshape(T, G)).reshape(1, T, -1)
    return x


def trace_sentence(clf, text: str) -> SentenceTrace:
    """Trace one sentence through the trained classifier ``clf`` (a SentimentClassifier)."""
    clf._require_model()
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the sentence to trace has no text")
    tokens = truncate(clf.tokenizer(text), clf.text.max_length, clf.text.truncate)
    if not tokens:
        raise ValueError("the sentence to trace has no words")
    (ids,) = clf._encode([text])
    ids = np.asarray(ids)  # (T,) or (T, 1 + G)
    T = len(tokens)
    network = clf.network
    wide = clf.wordgrams

    def grams(pieces: list[list[str]]):  # the word n-grams of each piece of the sentence
        return None if wide is None else [wide.encode(p) for p in pieces]

    was_training = network.training
    network.eval()
    try:
        full_logits = _class_logits(network, [ids], grams([tokens]))  # (1, K)
        full = probabilities(full_logits, network.config.num_classes)[0]  # (C,)
        trajectory = _class_probabilities(network, [ids[: t + 1] for t in range(T)],
                                          grams([tokens[: t + 1] for t in range(T)]))  # (T, C)
        if T > 1:
            without = [np.delete(ids, t, axis=0) for t in range(T)]
            rest = grams([tokens[:t] + tokens[t + 1 :] for t in range(T)])
        else:
            unknown = np.zeros_like(ids)
            unknown[..., 0] = UNK_ID if ids.ndim == 2 else 0
            without = [unknown if ids.ndim == 2 else np.array([UNK_ID])]
            rest = grams([[]])
        dropped_logits = _class_logits(network, without, rest)  # (T, K)
        dropped = probabilities(dropped_logits, network.config.num_classes)  # (T, C)
        x = _word_vectors(network, ids)  # (1, T, E)
        if not network.rnn.batch_first:
            x = np.swapaxes(x, 0, 1)
        raw = network.rnn.trace(x)  # per layer (T, 1, D, H)
        layers = [{k: v[:, 0] for k, v in layer.items()} for layer in raw]  # (T, D, H)
    finally:
        network.train(was_training)
    best = int(full.argmax())
    labels = list(clf.labels)
    return SentenceTrace(
        tokens=list(tokens),
        labels=labels,
        label=labels[best],
        probabilities={label: float(p) for label, p in zip(labels, full, strict=True)},
        trajectory=trajectory,
        attribution=(log_odds(full_logits, len(labels))[0, best]
                     - log_odds(dropped_logits, len(labels))[:, best]),
        layers=layers,
        attribution_probability=full[best] - dropped[:, best],
    )
