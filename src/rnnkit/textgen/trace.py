"""Looking inside a character model: states, gates and predictions at every character.

For a text ``x_1..x_T`` read from a zero state (no dropout)::

    layers[l][k]   (T, H)   k = "h", "c" (LSTM), each gate ("i","f","g","o" / "r","z","n"):
                            the value after reading x_t (gates after their nonlinearity)
    top_ids/top_probs (T, K)  the K most likely next characters after x_t, p = softmax(logits_t)
    log_prob_next (T-1,)    log p(x_{t+1} | x_1..x_t), the quantity ``evaluate`` averages

:func:`generate_with_guesses` samples like ``CharLM.stream`` and yields, with
each character, the model's top guesses for the one after it.

The states come from the recurrent layer's own :meth:`~rnnkit.nn.recurrent.RNNBase.trace`
(the same cell functions as training); the predictions from the model's decoder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..text.corpus import CorpusError
from .sampling import SamplingOptions, draw, next_distribution


@dataclass
class CharTrace:
    """What :func:`trace_text` returns (shapes in the module docstring)."""

    symbols: list  # the T characters (str, or one-byte bytes for a bytes model)
    ids: np.ndarray  # (T,)
    layers: list[dict[str, np.ndarray]] = field(default_factory=list)
    top_ids: np.ndarray | None = None  # (T, K)
    top_probs: np.ndarray | None = None  # (T, K)
    log_prob_next: np.ndarray | None = None  # (T-1,)

    @property
    def loss(self) -> float:
        """Mean negative log-probability of the next character (nats/char)."""
        return float(-self.log_prob_next.mean()) if self.log_prob_next.size else float("nan")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax`` in float64 over the last axis."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def trace_text(lm, text, top_k: int = 5) -> CharTrace:
    """Trace ``text`` (str, or bytes for a bytes model) through the trained ``lm`` (a CharLM)."""
    vocab, network = lm.vocab, lm.network
    if vocab is None or network is None:
        raise RuntimeError("the model is not trained yet: call fit() or CharLM.load()")
    if not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, received {top_k!r}")
    if vocab.encoding == "bytes" and isinstance(text, str):
        text = text.encode("utf-8")
    if len(text) == 0:
        raise ValueError("the text to trace is empty")
    unknown = vocab.unknown(text)
    if unknown:
        raise CorpusError(
            f"the text has {len(unknown)} character(s) that are not in the model's "
            f"vocabulary: {', '.join(unknown[:20])}"
        )
    ids = np.asarray(vocab.encode(text), dtype=np.int64)  # (T,)
    was_training = network.training
    network.eval()
    try:
        x = network.embedding(ids[:, None])  # (T, 1, E)
        if network.rnn.batch_first:
            x = np.swapaxes(x, 0, 1)
        raw = network.rnn.trace(x)  # per layer: (T, 1, 1, H)
        layers = [{k: v[:, 0, 0] for k, v in layer.items()} for layer in raw]  # (T, H)
        logits = network.decoder(layers[-1]["h"])  # (T, V)
    finally:
        network.train(was_training)
    logp = log_softmax(logits)  # (T, V)
    k = min(int(top_k), logp.shape[1])
    top_ids = np.argsort(-logp, axis=1, kind="stable")[:, :k]  # (T, K)
    top_probs = np.exp(np.take_along_axis(logp, top_ids, axis=1))
    log_prob_next = logp[np.arange(len(ids) - 1), ids[1:]]  # (T-1,)
    symbols = [vocab.decode([i]) for i in ids]
    return CharTrace(symbols, ids, layers, top_ids, top_probs, log_prob_next)


def generate_with_guesses(
    lm,
    length: int,
    *,
    prime=None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    guesses: int = 5,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Sample ``length`` ids like :meth:`CharLM.stream`, each with the model's next guesses.

    Yields ``(id, guess_ids (K,), guess_probs (K,))``: the sampled character and
    the ``K = guesses`` most likely characters to follow it under the model's
    own softmax (temperature 1, no filtering), i.e. what the model expects next
    after reading it. The characters themselves are drawn exactly as
    :func:`rnnkit.textgen.sampling.generate_ids` draws them (same options, same
    generator), so the same seed gives the same text as ``CharLM.stream``.
    """
    vocab, network = lm.vocab, lm.network
    if vocab is None or network is None:
        raise RuntimeError("the model is not trained yet: call fit() or CharLM.load()")
    options = SamplingOptions(temperature, top_k, top_p)
    options.validate()
    if length < 0:
        raise ValueError(f"length must be >= 0, received {length}")
    if prime is None or len(prime) == 0:
        prime = lm.default_prime()
    if vocab.encoding == "bytes" and isinstance(prime, str):
        prime = prime.encode("utf-8")
    unknown = vocab.unknown(prime)
    if unknown:
        raise CorpusError(
            f"the prime text has {len(unknown)} character(s) that are not in the model's "
            f"vocabulary: {', '.join(unknown[:20])}"
        )
    rng = np.random.default_rng(seed)
    k = min(int(guesses), len(vocab))
    was_training = network.training
    network.eval()
    try:
        logits, state = network(np.asarray(vocab.encode(prime), dtype=np.int64)[:, None])
        last = logits[-1, 0]  # (V,)
        for _ in range(int(length)):
            next_id = draw(next_distribution(last, options), rng)
            logits, state = network(np.array([[next_id]]), state)  # T = 1, state carried
            last = logits[0, 0]
            logp = log_softmax(last)
            order = np.argsort(-logp, kind="stable")[:k]
            yield next_id, order, np.exp(logp[order])
    finally:
        network.train(was_training)
