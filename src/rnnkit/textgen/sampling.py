"""Sampling the next character: temperature, top-k, top-p (nucleus), greedy.

Generation feeds the prime text through the network once, then runs ``N``
samples side by side, one character at a time: one batched ``T = 1`` forward
``(1, N)`` per step, the recurrent state carried, each next character drawn
from the filtered softmax with the sample's own ``numpy.random.Generator``
(:func:`sample_generators`: sample 0 uses the seed itself, so the first of a
batch is the text a single sample with that seed gives, up to the rounding of
a batched matrix product; the engine's generator is not touched). Beam search
is :mod:`.beam`.
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
    beam: int | None = option(None, "beam search with N beams: the most likely text, "
                              "deterministic (temperature, top-k and top-p are ignored)",
                              metavar="N", bounds=count())  # fmt: skip
    length_alpha: float = option(1.0, "beam search ranks a text by log p / length^ALPHA "
                                 "(0: total log p, 1: per character)", metavar="ALPHA",
                                 bounds=Bounds(0.0, 10.0))  # fmt: skip

    def validate(self) -> None:
        TEMPERATURE.check("temperature", self.temperature)
        if self.top_k is not None:
            count().check("top-k", self.top_k)
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top-p must be in (0, 1], received {self.top_p}")
        check_bounds(self)


@dataclass(frozen=True)
class SampleRequest:
    """What one ``rnnkit textgen sample`` asks for besides the :class:`SamplingOptions`."""

    length: int = option(500, "characters to generate", bounds=count(0))
    prime: str | None = option(None, "text to start from (printed first; default: a newline)")
    prime_file: str | None = option(None, "read the text to start from from FILE",
                                    metavar="FILE")  # fmt: skip
    seed: int | None = option(None, "random seed: the same seed gives the same text",
                              bounds=SEED)  # fmt: skip
    num_samples: int = option(1, "samples drawn together in one batch (with --beam: the N "
                              "best beams)", metavar="N", bounds=count(1, 10_000))  # fmt: skip
    stop: str | None = option(None, "end a sample where STRING appears (STRING not printed)",
                              metavar="STRING")  # fmt: skip
    json: bool = option(False, "print one JSON object per sample")

    def validate(self) -> None:
        check_bounds(self)
        if self.prime is not None and self.prime_file is not None:
            raise ValueError("give --prime or --prime-file, not both")
        if self.stop == "":
            raise ValueError("stop must be a non-empty string")


def next_distribution(logits: np.ndarray, options: SamplingOptions) -> np.ndarray:
    """Probabilities ``(..., V)`` (float64) to draw the next character from, one
    distribution per row of ``logits (..., V)``.

    Greedy (or temperature 0) gives a one-hot at the argmax; otherwise the
    softmax of ``logits / temperature``, restricted by top-k then top-p and
    renormalised.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if options.greedy or options.temperature == 0:
        probs = np.zeros_like(logits)
        np.put_along_axis(probs, np.argmax(logits, axis=-1)[..., None], 1.0, axis=-1)
        return probs
    with np.errstate(over="ignore"):  # (l - max) / T <= 0: a tiny T gives -inf, never NaN
        z = (logits - logits.max(axis=-1, keepdims=True)) / options.temperature
    k = options.top_k
    if k is not None and k < z.shape[-1]:
        kth = np.partition(z, -k, axis=-1)[..., -k, None]  # (..., 1)
        z = np.where(z >= kth, z, -np.inf)
    probs = softmax(z)
    if options.top_p is not None and options.top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")
        cumulative = np.cumsum(np.take_along_axis(probs, order, axis=-1), axis=-1)
        # keep every character whose predecessors (in order) sum to < p: at least one
        # (with a little slack, so that 0.5 + 0.3 "reaches" 0.8 despite rounding)
        kept = (cumulative < options.top_p - 1e-9).sum(axis=-1, keepdims=True) + 1  # (..., 1)
        keep = np.zeros(probs.shape, dtype=bool)
        np.put_along_axis(keep, order, np.arange(probs.shape[-1]) < kept, axis=-1)
        nucleus = np.where(keep, probs, 0.0)
        probs = nucleus / nucleus.sum(axis=-1, keepdims=True)
    return probs


def draw(probs: np.ndarray, rng: np.random.Generator) -> int:
    """One index from ``probs`` (inverse CDF with one uniform draw)."""
    return int(draw_rows(probs[None], [rng])[0])


def draw_rows(probs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """One index per row of ``probs (N, V)``, row ``i`` with one uniform draw of ``rngs[i]``."""
    cumulative = np.cumsum(probs, axis=-1)  # (N, V)
    u = np.array([rng.random() for rng in rngs]) * cumulative[:, -1]  # (N,)
    index = (cumulative <= u[:, None]).sum(axis=-1)  # searchsorted(..., side="right") per row
    return np.minimum(index, probs.shape[-1] - 1)


def sample_generators(seed: int | tuple | None, n: int) -> list[np.random.Generator]:
    """The ``n`` samples' generators: sample 0 draws from ``seed`` itself (the text of a
    single sample), sample ``k`` from the seed's ``k``-th spawned stream, so that sample
    ``k`` is the same in every batch of more than ``k`` samples with that seed."""
    root = np.random.SeedSequence(seed if seed is None or isinstance(seed, int) else list(seed))
    return [np.random.default_rng(root if k == 0 else
                                  np.random.SeedSequence(root.entropy, spawn_key=(k,)))
            for k in range(n)]  # fmt: skip


def sample_ids(
    model: CharRNN,
    prime: Sequence[int] | np.ndarray,
    length: int,
    options: SamplingOptions,
    rngs: Sequence[np.random.Generator],
    exclude: Sequence[int] = (),
) -> Iterator[np.ndarray]:
    """Yield ``length`` steps of ``(N,)`` sampled ids, ``N = len(rngs)`` samples continuing
    ``prime`` (at least one id), one batched forward per step; the ids in ``exclude`` (the
    start-of-document marker) are never drawn.

    The model is put in eval mode (no dropout) for the duration and restored after.
    """
    options.validate()
    prime = np.asarray(prime, dtype=np.int64)
    if prime.size == 0:
        raise ValueError("generation needs a prime of at least one character")
    n = len(rngs)
    was_training = model.training
    model.eval()
    try:
        logits, state = model(prime.reshape(-1, 1))  # (P, 1, V): the whole prime at once
        last = np.repeat(logits[-1], n, axis=0)  # (N, V)
        state = _map_state(state, lambda s: np.repeat(s, n, axis=1))  # (L, N, H)
        for i in range(int(length)):
            if len(exclude):
                last = last.copy()
                last[:, list(exclude)] = -np.inf
            next_ids = draw_rows(next_distribution(last, options), rngs)  # (N,)
            yield next_ids
            if i + 1 < length:
                logits, state = model(next_ids[None, :], state)  # (1, N, V), state carried
                last = logits[0]
    finally:
        model.train(was_training)


def _map_state(state, fn):
    """``fn`` on each array of a recurrent state (an array, or a tuple ``(h, c)``)."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def generate_ids(
    model: CharRNN,
    prime: Sequence[int] | np.ndarray,
    length: int,
    options: SamplingOptions,
    rng: np.random.Generator,
) -> Iterator[int]:
    """Yield ``length`` sampled ids continuing ``prime``: :func:`sample_ids` of one sample."""
    for ids in sample_ids(model, prime, length, options, [rng]):
        yield int(ids[0])
