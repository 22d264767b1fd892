"""Sampling the next character: temperature, top-k, top-p (nucleus), greedy.

Generation feeds the prime text through the network, then runs it one
character at a time (``T = 1`` forward calls), carrying the recurrent state,
and draws each next character from the filtered softmax with its own
``numpy.random.Generator`` (seeded: the same seed gives the same text; the
engine's generator is not touched).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..nn.functional import softmax
from ..training.settings import SEED, Bounds, check_bounds, count, option
from .model import CharRNN

#: the temperatures accepted: 0 (greedy) to 100 (all but uniform already)
TEMPERATURE = Bounds(0.0, 100.0)


@dataclass(frozen=True)
class SamplingOptions:
    """How each next character is chosen.

    * ``temperature`` > 0 divides the logits (below 1: safer, above 1: wilder);
      0 means greedy.
    * ``top_k``: keep only the k most likely characters (None: all).
    * ``top_p``: keep the smallest set of most likely characters whose
      probability adds up to at least p (nucleus sampling; None or 1: all).
    * ``greedy``: always the most likely character (ignores the rest).
    """

    temperature: float = option(1.0, "below 1: safer, above 1: wilder; 0 = greedy",
                                bounds=TEMPERATURE)  # fmt: skip
    top_k: int | None = option(None, "sample among the K most likely characters", metavar="K")
    top_p: float | None = option(
        None, "sample among the most likely characters adding up to P", metavar="P"
    )
    greedy: bool = option(False, "always the most likely character")

    def validate(self) -> None:
        TEMPERATURE.check("temperature", self.temperature)
        if self.top_k is not None:
            count().check("top-k", self.top_k)
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top-p must be in (0, 1], received {self.top_p}")


@dataclass(frozen=True)
class SampleRequest:
    """What one ``rnnkit textgen sample`` asks for besides the :class:`SamplingOptions`."""

    length: int = option(500, "characters to generate", bounds=count(0))
    prime: str | None = option(None, "text to start from (printed first; default: a newline)")
    seed: int | None = option(None, "random seed: the same seed gives the same text",
                              bounds=SEED)  # fmt: skip

    def validate(self) -> None:
        check_bounds(self)


def next_distribution(logits: np.ndarray, options: SamplingOptions) -> np.ndarray:
    """Probabilities ``(V,)`` (float64) to draw the next character from.

    Greedy (or temperature 0) gives a one-hot at the argmax; otherwise the
    softmax of ``logits / temperature``, restricted by top-k then top-p and
    renormalised.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if options.greedy or options.temperature == 0:
        probs = np.zeros_like(logits)
        probs[int(np.argmax(logits))] = 1.0
        return probs
    with np.errstate(over="ignore"):  # (l - max) / T <= 0: a tiny T gives -inf, never NaN
        z = (logits - logits.max()) / options.temperature
    if options.top_k is not None and options.top_k < z.size:
        kth = np.partition(z, -options.top_k)[-options.top_k]
        z = np.where(z >= kth, z, -np.inf)
    probs = softmax(z)
    if options.top_p is not None and options.top_p < 1:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        # keep every character whose predecessors (in order) sum to < p: at least one
        # (with a little slack, so that 0.5 + 0.3 "reaches" 0.8 despite rounding)
        keep = order[: int(np.searchsorted(cumulative, options.top_p - 1e-9)) + 1]
        nucleus = np.zeros_like(probs)
        nucleus[keep] = probs[keep]
        probs = nucleus / nucleus.sum()
    return probs


def draw(probs: np.ndarray, rng: np.random.Generator) -> int:
    """One index from ``probs`` (inverse CDF with one uniform draw)."""
    cumulative = np.cumsum(probs)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, len(probs) - 1)


def generate_ids(
    model: CharRNN,
    prime: Sequence[int] | np.ndarray,
    length: int,
    options: SamplingOptions,
    rng: np.random.Generator,
) -> Iterator[int]:
    """Yield ``length`` sampled ids continuing ``prime`` (at least one id).

    The model is put in eval mode (no dropout) for the duration and restored after.
    """
    options.validate()
    prime = np.asarray(prime, dtype=np.int64)
    if prime.size == 0:
        raise ValueError("generation needs a prime of at least one character")
    was_training = model.training
    model.eval()
    try:
        logits, state = model(prime.reshape(-1, 1))  # (P, 1, V): the whole prime at once
        last = logits[-1, 0]
        for i in range(int(length)):
            next_id = draw(next_distribution(last, options), rng)
            yield next_id
            if i + 1 < length:
                logits, state = model(np.array([[next_id]]), state)  # T = 1, state carried
                last = logits[0, 0]
    finally:
        model.train(was_training)
