"""The training recipe of word vectors: settings, the learning-rate line, the task.

One training step is one chunk of ``chunk_words`` words of the corpus, trained by the
compiled kernel (:func:`.sgns.train_chunk`) at the step's learning rate::

    lr_t   = lr - (lr - lr_min) * min(1, t / schedule_steps)     word2vec's linear decay
    state  = seed_state(seed, epoch, index)                      the chunk's generator
    loss, pairs = train_chunk(chunk ids, ..., W_in, W_out, ..., lr_t, state)

The kernel applies its SGD updates itself; the parameters' gradients stay zero and the
trainer's optimizer (SGD without weight decay) leaves them alone. With ``workers`` > 1 the
chunk is split into that many parts trained at once by threads that share the vectors
without locks (Hogwild!, Niu, Recht, Ré & Wright 2011; word2vec.c and gensim train so):
each part's generator is ``seed_state(seed, epoch, index, part)``, and a row two threads
update at the same instant may keep only one of the two updates, so such a run is not
reproducible bit for bit. With ``workers=1`` the learning rate is a pure function of the
step and the generator of the step's (seed, epoch, index), so a resumed run computes the
very updates the uninterrupted one would have.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..training import StopRule, option
from ..training.options import TrainerOptions, default_of
from ..training.settings import count
from .model import EmbedConfig, WordVectors, WordVocab
from .sgns import seed_state, train_chunk

#: the stop rule when none is given
DEFAULT_STOP = StopRule(epochs=5)


@dataclass(frozen=True)
class EmbedSettings(TrainerOptions):
    """The shared trainer options with word2vec's defaults, and the chunk size.

    Of the shared options, the optimizer is always ``sgd`` (the kernel's own SGD), there is
    no weight decay, no stepwise decay (``lr_decay`` and friends: the rate falls linearly
    from ``lr`` to ``lr_min`` over the planned run) and no held-out share.
    """

    chunk_words: int = option(50_000, "words per training step", bounds=count(1, 10**8))
    workers: int = option(
        1, "threads that train each step's words at once, sharing the vectors without locks "
        "as word2vec.c and gensim do: faster, not reproducible bit for bit (1: reproducible, "
        "resumes exactly)", bounds=count(1, 256),
    )  # fmt: skip
    # the shared options' defaults of word vectors
    optimizer: str = default_of("optimizer", "sgd")
    lr: float = default_of("lr", 0.025)
    lr_min: float = default_of("lr_min", 0.025 * 1e-4)
    grad_clip: float | None = default_of("grad_clip", None)
    val_fraction: float = default_of("val_fraction", 0.0)
    evals_per_epoch: int | None = default_of("evals_per_epoch", 1)

    def validate(self) -> None:
        super().validate()
        if self.optimizer != "sgd":
            raise ValueError(
                f"optimizer must be sgd for word vectors (the kernel's own SGD), "
                f"received {self.optimizer!r}"
            )
        if self.weight_decay:
            raise ValueError("weight_decay must be 0 for word vectors")
        if self.lr_decay != 1.0 or self.lr_decay_every is not None or self.lr_decay_after:
            raise ValueError(
                "lr_decay, lr_decay_every and lr_decay_after do not apply to word vectors: "
                "the rate falls linearly from lr to lr_min"
            )
        if self.val_fraction:
            raise ValueError("val_fraction must be 0 for word vectors (nothing is held out)")


def schedule_steps(stop: StopRule, batches_per_epoch: int) -> int:
    """The steps the learning rate decays over: the stop rule's epochs or steps (the fewer)."""
    plans = []
    if stop.epochs is not None:
        plans.append(max(1, math.ceil(stop.epochs * batches_per_epoch)))
    if stop.steps is not None:
        plans.append(stop.steps)
    if not plans:
        raise ValueError("the learning rate decays over the planned run: give epochs or steps")
    return min(plans)


class LinearDecay:
    """``lr`` falling linearly to ``lr_min`` at step ``steps`` (and staying there)."""

    def __init__(self, lr: float, lr_min: float, steps: int):
        self.lr, self.lr_min, self.steps = float(lr), float(lr_min), int(steps)

    def __call__(self, step: int, epoch: int = 0) -> float:
        done = min(1.0, step / self.steps)
        return self.lr - (self.lr - self.lr_min) * done


class Workers:
    """The threads that train one step's words (the module docstring): ``n`` parts of the
    chunk, contiguous, each through the kernel on its own thread (the kernel releases the
    GIL); one part, and no thread, when ``n = 1``."""

    def __init__(self, n: int):
        self.n = n
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="rnnkit-embed") if n > 1 else None

    def train(self, ids, sentences, keep, W_in, W_out, cum, config: EmbedConfig, lr: float,
              seed: tuple[int, ...]) -> tuple[float, int]:  # fmt: skip
        """``(loss sum, pairs)`` of the step's words ``ids`` (N,) and ``sentences`` (N,),
        trained into ``W_in``, ``W_out`` at rate ``lr``, generators seeded from ``seed``."""
        rest = (keep, W_in, W_out, cum, config.window, config.negative, config.cbow,
                W_in.dtype.type(lr))  # fmt: skip
        if self._pool is None:
            return train_chunk(ids, sentences, *rest, seed_state(*seed))
        cuts = np.linspace(0, len(ids), self.n + 1).astype(np.int64)
        jobs = [self._pool.submit(train_chunk, ids[a:b], sentences[a:b], *rest,
                                  seed_state(*seed, part))
                for part, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))]  # fmt: skip
        done = [job.result() for job in jobs]
        return sum(loss for loss, _ in done), sum(pairs for _, pairs in done)


class EmbedTask:
    """Word vectors as a :class:`rnnkit.training.TrainTask`: chunk ``index`` of the corpus."""

    unit = "words"

    def __init__(self, model: WordVectors, vocab: WordVocab, config: EmbedConfig,
                 settings: EmbedSettings, ids: np.ndarray, sentences: np.ndarray,
                 schedule: LinearDecay):  # fmt: skip
        if len(ids) == 0:
            raise ValueError("the corpus has no word of the vocabulary")
        self.model, self.config, self.settings = model, config, settings
        self.ids, self.sentences = ids, sentences  # (N,) int32 each
        self.schedule = schedule
        self.keep = vocab.keep_probabilities(config.sample)  # (V,)
        self.cum = vocab.noise_distribution()  # (V,)
        self.chunk = settings.chunk_words
        self.workers = Workers(settings.workers)

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.ids) / self.chunk)

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        step = epoch * self.batches_per_epoch() + index
        start = index * self.chunk
        ids = self.ids[start : start + self.chunk]
        loss, pairs = self.workers.train(
            ids, self.sentences[start : start + self.chunk], self.keep,
            self.model.W_in.data, self.model.W_out.data, self.cum, self.config,
            self.schedule(step), (self.settings.seed, epoch, index),
        )  # fmt: skip
        return loss / max(pairs, 1), len(ids)

    def evaluate(self) -> dict[str, float]:
        return {}  # nothing held out: the train loss is in metrics.jsonl

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
