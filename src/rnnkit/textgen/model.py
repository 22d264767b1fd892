"""The character language model: embedding -> stacked LSTM/GRU/RNN -> linear over the vocabulary.

Given characters ``x_1..x_T`` it predicts, at each step, a distribution over
the next character::

    e_t = E[x_t]                         (T, B, embedding_size)
    h_t = rnn(e_t, h_{t-1})              (T, B, hidden_size), num_layers stacked,
                                         dropout between layers
    logits_t = W dropout(h_t) + b        (T, B, vocab_size)

The state ``h`` (a tuple ``(h, c)`` for the LSTM) is carried from one chunk of
text to the next during training and from one character to the next during
sampling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..nn.layers import Dropout, Embedding, Linear
from ..nn.module import Module
from ..nn.recurrent import GRU, LSTM, RNN, RNNBase
from ..training.memory import check_allocation

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
_MODES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN_TANH"}


@dataclass(frozen=True)
class CharRNNConfig:
    """Architecture of a :class:`CharRNN` (stored as JSON in every checkpoint)."""

    vocab_size: int
    cell: str = "lstm"  # lstm | gru | rnn (tanh)
    embedding_size: int = 64
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.2  # between recurrent layers and before the output layer

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, received {self.cell!r}")
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), received {self.dropout}")

    def num_parameters(self) -> int:
        """Parameters of the :class:`CharRNN` this config builds, counted without building it:
        ``V*E`` (embedding) + the recurrent layers + ``H*V + V`` (decoder)."""
        V, E, H = self.vocab_size, self.embedding_size, self.hidden_size
        rnn = RNNBase.parameter_count(_MODES[self.cell], E, H, self.num_layers)
        return V * E + rnn + H * V + V

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CharRNNConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


class CharRNN(Module):
    """Next-character model. Parameters: ``embedding.weight``, ``rnn.*`` (PyTorch's
    names), ``decoder.weight``, ``decoder.bias``."""

    def __init__(self, config: CharRNNConfig, dtype=np.float32):
        super().__init__()
        config.validate()
        count = config.num_parameters()
        check_allocation(
            count * np.dtype(dtype).itemsize,
            f"a model of {count:,} parameters",
            "choose a smaller --hidden-size, --num-layers or --embedding-size",
        )
        self.config = config
        self.embedding = Embedding(config.vocab_size, config.embedding_size, dtype=dtype)
        self.rnn = CELLS[config.cell](
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout,
            dtype=dtype,
        )
        self.dropout = Dropout(config.dropout)
        self.decoder = Linear(config.hidden_size, config.vocab_size, dtype=dtype)

    def forward(self, ids: np.ndarray, state=None):
        """``ids (T, B)`` int -> ``(logits (T, B, V), final state)``; ``state`` None means zeros."""
        x = self.embedding(ids)  # (T, B, E)
        h, state = self.rnn(x, state)  # (T, B, H)
        logits = self.decoder(self.dropout(h))  # (T, B, V)
        return logits, state

    def backward(self, grad_logits: np.ndarray) -> None:
        """Backpropagate ``dLoss/dlogits (T, B, V)`` into every parameter's ``grad``.

        The gradient that reaches the initial state is dropped: truncated BPTT.
        """
        grad_h = self.dropout.backward(self.decoder.backward(grad_logits))  # (T, B, H)
        grad_x, _ = self.rnn.backward(grad_h)  # (T, B, E)
        self.embedding.backward(grad_x)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"cell={c.cell}, vocab_size={c.vocab_size}, embedding_size={c.embedding_size}, "
            f"hidden_size={c.hidden_size}, num_layers={c.num_layers}, dropout={c.dropout}"
        )
