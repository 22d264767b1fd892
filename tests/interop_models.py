"""Tiny trained applications for the interop tests (export, the PyTorch bridge).

Each model is trained a couple of steps (so it has a vocabulary, labels and a
run directory), then its weights are replaced by distinct non-zero values, so
that a swapped gate block or a dropped bias shows in every output.
"""

from __future__ import annotations

import numpy as np

from rnnkit.sentiment import SentimentClassifier
from rnnkit.textgen import CharLM

CORPUS = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
) * 3

POS = [
    "i love this film",
    "what a great movie",
    "this movie was wonderful",
    "i really enjoyed it",
    "warmly funny and sweet",
    "a gorgeous , witty film",
]
NEG = [
    "worst movie ever",
    "i hate this film",
    "this movie was terrible",
    "what a boring waste",
    "dull and lifeless",
    "it isn't funny at all",
]
TEXTS, LABELS = POS + NEG, ["pos"] * len(POS) + ["neg"] * len(NEG)
# held-out texts with unknown words, inflections (back-off) and mixed lengths
HELD_OUT = [
    "a wonderfully gorgeous film",
    "boring",
    "what a terribly dull , lifeless waste of a movie",
    "I LOVED it!",
    "sweetest movies ever , really",
]


def scramble(network, seed: int) -> None:
    """Distinct non-zero weights and biases, U(-0.5, 0.5), in place."""
    rng = np.random.default_rng(seed)
    for _, p in network.named_parameters():
        p.data[...] = rng.uniform(-0.5, 0.5, p.shape).astype(p.data.dtype)


def textgen(out=None, *, cell="lstm", num_layers=2, seed=0, steps=2) -> CharLM:
    lm = CharLM(cell=cell, hidden_size=12, num_layers=num_layers, embedding_dim=6, dropout=0.0)
    lm.fit(
        CORPUS,
        out=out,
        steps=steps,
        seq_length=16,
        batch_size=4,
        eval_every=steps,
        sample_length=0,
        progress=False,
    )
    scramble(lm.network, seed)
    return lm


def sentiment(out=None, *, seed=0, labels=None, **model) -> SentimentClassifier:
    settings = dict(
        cell="lstm",
        embedding_dim=6,
        hidden_size=8,
        num_layers=1,
        bidirectional=True,
        pooling="max",
        dropout=0.0,
    )
    settings.update(model)
    clf = SentimentClassifier(**settings)
    clf.fit(
        TEXTS,
        labels or LABELS,
        val_fraction=0.0,
        epochs=1,
        batch_size=6,
        out=out,
        progress=False,
        plot=False,
    )
    scramble(clf.network, seed)
    if clf.network.subword_embedding is not None:
        clf.network.subword_embedding.weight.data[0] = 0.0  # the padding row stays zero
    clf.network.embedding.weight.data[0] = 0.0
    return clf
