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

from dataclasses import asdict, dataclass

import numpy as np

from ..nn import optim
from ..nn.losses import CrossEntropyLoss
from ..text.corpus import StreamBatches
from ..training import check_ema_decay, check_positive, check_seed, from_dict, option
from ..training.settings import (
    DECAY,
    FRACTION,
    MAX_COUNT,
    MAX_RATE,
    RATE,
    SEED,
    SHARE,
    Bounds,
    check_bounds,
    count,
)
from .evaluate import evaluate_ids
from .model import CharRNN, CharRNNConfig

OPTIMIZERS = {
    "adam": optim.Adam,
    "adamw": optim.AdamW,
    "rmsprop": optim.RMSprop,
    "sgd": optim.SGD,
    "adagrad": optim.Adagrad,
}


@dataclass(frozen=True)
class TrainSettings:
    """Everything about training except the architecture and the stop rule.

    Stored whole in the checkpoint; a resumed run uses the stored values.
    Every field is a command-line option of ``rnnkit textgen train``.
    """

    seq_length: int = option(100, "characters per chunk, BPTT length", bounds=count())  # T
    batch_size: int = option(64, "parallel streams", bounds=count())  # B
    optimizer: str = option("adam", "optimizer", choices=tuple(sorted(OPTIMIZERS)))
    lr: float = option(2e-3, "learning rate", bounds=RATE)
    lr_decay: float = option(0.7, "multiply the lr by this ... (1 = constant lr)", bounds=SHARE)
    lr_decay_every: int = option(150, "... every this many steps ...", metavar="STEPS",
                                 bounds=count())  # fmt: skip
    lr_decay_after: int = option(450, "... from this step on", metavar="STEP", bounds=count(0))
    lr_min: float = option(1e-4, "the decay stops at this lr", bounds=Bounds(0, MAX_RATE))
    grad_clip: float | None = option(5.0, "max global gradient norm, 0 = off", zero_is_none=True,
                                      bounds=Bounds(0, MAX_COUNT, low_open=True))  # fmt: skip
    ema_decay: float | None = option(
        None,
        "evaluate, save and keep a moving average of the weights with this decay per step, "
        "e.g. 0.999 (default: off)",
        bounds=DECAY,
    )
    val_fraction: float = option(0.1, "tail of the corpus held out", bounds=FRACTION)
    eval_every: int = option(200, "steps between evaluations/checkpoints", metavar="STEPS",
                             bounds=count())  # fmt: skip
    log_every: int = option(10, "steps per train-loss record in metrics.jsonl", metavar="STEPS",
                            bounds=count())  # fmt: skip
    seed: int = option(0, "initialisation and dropout seed", bounds=SEED)
    sample_length: int = option(
        200, "characters sampled at each evaluation, 0 = none", metavar="N", bounds=count(0)
    )

    def validate(self) -> None:
        check_bounds(self)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, received {self.optimizer!r}"
            )
        for name in ("seq_length", "batch_size", "eval_every", "log_every", "lr_decay_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, received {getattr(self, name)}")
        check_positive("lr", self.lr)
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], received {self.lr_decay}")
        if not 0 <= self.lr_min <= self.lr:
            raise ValueError(f"lr_min must be in [0, lr], received {self.lr_min}")
        if self.lr_decay_after < 0:
            raise ValueError(f"lr_decay_after must be >= 0, received {self.lr_decay_after}")
        check_positive("grad_clip", self.grad_clip, allow_none=True)
        check_ema_decay(self.ema_decay)
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), received {self.val_fraction}")
        check_seed(self.seed)
        if self.sample_length < 0:
            raise ValueError(f"sample_length must be >= 0, received {self.sample_length}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainSettings:
        return from_dict(cls, data)

    def lr_at(self, step: int, epoch: int = 0) -> float:
        """The learning rate of a step: a pure function of the step (exact resume).

        ``lr`` up to step ``lr_decay_after``, then multiplied by ``lr_decay``
        every ``lr_decay_every`` steps, down to ``lr_min``. Counted in steps,
        not epochs, so a small corpus is not annealed after a handful of
        steps. The default (x0.7 every 150 steps from step 450) anneals within
        the default 15 minutes: on tiny-shakespeare, annealing from 2e-3 to
        1e-3 at step 800 took the validation loss from 1.489 to 1.466 in 100
        steps, where the constant rate reached 1.486.
        """
        decays = max(0, step - self.lr_decay_after) // self.lr_decay_every + (
            step >= self.lr_decay_after
        )
        decayed = self.lr * self.lr_decay**decays
        return max(decayed, min(self.lr_min, self.lr))


def make_optimizer(model: CharRNN, settings: TrainSettings):
    return OPTIMIZERS[settings.optimizer](model.parameters(), lr=settings.lr)


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
