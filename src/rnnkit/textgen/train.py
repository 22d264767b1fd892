"""The training recipe of the text generator: settings, the task the shared trainer runs.

One training step (char-rnn's truncated BPTT)::

    x, y = chunk `index` of the B parallel streams     (T, B) ids each, y = x shifted by one
    logits, state = model(x, state)                    state carried from the previous chunk
    loss = cross_entropy(logits, y)                    mean nats per character
    model.backward(dloss/dlogits)                      stops at the chunk's initial state

The state is reset to zeros at the start of every epoch and saved in every
checkpoint, so a resumed run continues mid-epoch exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn.losses import CrossEntropyLoss
from ..text.corpus import DOCUMENT_MODES, StreamBatches
from ..training import option
from ..training.options import TrainerOptions, default_of
from ..training.settings import count
from .evaluate import evaluate_ids
from .model import CharRNN, CharRNNConfig


@dataclass(frozen=True)
class CorpusChoice:
    """Which text ``textgen train`` reads, and how (``CharLM.fit``'s ``text`` and
    ``encoding``)."""

    corpus: str | None = option(
        None, "text file, or the name of a downloaded dataset (tinyshakespeare); default: "
        "Python's standard library source", metavar="CORPUS", positional=True,
    )
    encoding: str = option("utf-8", "read CORPUS as UTF-8 text, or as raw bytes",
                           choices=("utf-8", "bytes"))  # fmt: skip
    map_unknown: str | None = option(
        None, "with --init-from: replace each character of CORPUS outside that run's "
        "vocabulary by this one (one of its characters); default: refuse them, named",
        metavar="CHAR",
    )


@dataclass(frozen=True)
class TrainSettings(TrainerOptions):
    """Everything about training except the architecture and the stop rule.

    The shared trainer options (:class:`~rnnkit.training.TrainerOptions`: optimizer,
    learning rate and its schedule, clipping, cadence, seed...) with the text
    generator's defaults, and what only it has. Stored whole in the checkpoint; a
    resumed run uses the stored values. Every field is a command-line option of
    ``rnnkit textgen train``.

    The default schedule (x0.7 every 150 steps from step 450, counted in steps,
    not epochs, so a small corpus is not annealed after a handful of steps)
    anneals within the default 15 minutes: on tiny-shakespeare, annealing from
    2e-3 to 1e-3 at step 800 took the validation loss from 1.489 to 1.466 in
    100 steps, where the constant rate reached 1.486.
    """

    seq_length: int = option(100, "characters per chunk, BPTT length", bounds=count())  # T
    batch_size: int = option(64, "parallel streams", bounds=count())  # B
    sample_length: int = option(
        200, "characters sampled at each evaluation, 0 = none", metavar="N", bounds=count(0)
    )
    documents: str = option(
        "none", "none: the corpus is one stream; lines: each line is a document of its own "
        "(names, titles); blank-lines: documents are separated by blank lines",
        choices=DOCUMENT_MODES,
    )
    val_max_chars: int = option(
        1_000_000, "evaluation reads at most this many characters of the validation split "
        "(the tail val_fraction of the corpus)", metavar="N", bounds=count(2),
    )
    # the shared options' defaults of the text generator
    lr: float = default_of("lr", 2e-3)
    lr_decay: float = default_of("lr_decay", 0.7)
    lr_decay_every: int | None = default_of("lr_decay_every", 150)
    lr_decay_after: int = default_of("lr_decay_after", 450)
    lr_min: float = default_of("lr_min", 1e-4)
    eval_every: int | None = default_of("eval_every", 200)
    log_every: int | None = default_of("log_every", 10)


class CharLMTask:
    """The text generator as a :class:`rnnkit.training.TrainTask`."""

    unit = "chars"

    def __init__(
        self, model: CharRNN, batches: StreamBatches, val_ids: np.ndarray, eval_streams: int = 64
    ):
        self.model = model
        self.batches = batches
        self.val_ids = val_ids
        self.eval_streams = eval_streams
        self.loss_fn = CrossEntropyLoss()
        self.state = None  # the recurrent state carried between chunks

    def batches_per_epoch(self) -> int:
        return len(self.batches)

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        if index == 0:
            self.state = None  # each epoch starts from zeros
        x, y = self.batches.chunk(index)  # (T, B) each
        logits, self.state = self.model(x, self.state)  # (T, B, V)
        loss = self.loss_fn(logits, y)
        self.model.backward(self.loss_fn.backward())
        return loss, x.size

    def evaluate(self) -> dict[str, float]:
        if len(self.val_ids) < 2:
            return {}
        result = evaluate_ids(self.model, self.val_ids, num_streams=self.eval_streams)
        return {"val_loss": result["loss"], "val_bpc": result["bpc"]}

    def state_dict(self) -> dict:
        return {"carry": self.state}

    def load_state_dict(self, state: dict) -> None:
        carry = state["carry"]
        check_carry(carry, self.model.config, self.batches.batch_size)
        self.state = carry


def check_carry(carry, config: CharRNNConfig, batch_size: int) -> None:
    """A saved carried state is None or ``(L, B, H)`` array(s) (a pair for the LSTM), else a
    ValueError saying what was expected."""
    if carry is None:
        return
    shape = (config.num_layers, batch_size, config.hidden_size)
    parts = carry if isinstance(carry, tuple) else (carry,)
    arity = config.cell_class.state_arity
    if len(parts) != arity or any(not isinstance(a, np.ndarray) or a.shape != shape for a in parts):
        raise ValueError(f"the carried state must be {arity} array(s) of shape {shape}")
