"""The character language model: embedding -> stacked LSTM/GRU/RNN -> linear over the vocabulary.

Given characters ``x_1..x_T`` it predicts, at each step, a distribution over
the next character::

    e_t = E[x_t]                         (T, B, embedding_dim)
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

from ..nn.cells import Cell, cell_class
from ..nn.layers import Dropout, Embedding, Linear
from ..nn.module import Module
from ..nn.recurrent import RNNBase, build_layer
from ..training.memory import check_model_memory
from ..training.settings import FRACTION, check_bounds, count, from_dict, option

#: The cells a text generator offers, by their names (:data:`rnnkit.nn.cells.CELLS`).
CELLS = ("lstm", "gru", "rnn", "min_gru", "min_lstm", "ln_lstm")


@dataclass(frozen=True)
class CharRNNConfig:
    """Architecture of a :class:`CharRNN` (stored as JSON in every checkpoint).

    Every field but ``vocab_size`` (which comes from the training text) is a
    command-line option of ``rnnkit textgen train``.
    """

    vocab_size: int = option(1, "symbols in the vocabulary (from the training text)", cli=False)
    cell: str = option(
        "lstm", "recurrent cell", flags=("--cell", "--model"), choices=tuple(CELLS)
    )
    embedding_dim: int = option(64, "character embedding size", bounds=count())
    hidden_size: int = option(
        512, "units per layer (default: with --num-layers, chosen for --minutes, docs/textgen.md; "
        "512 in CharRNNConfig())", bounds=count())  # fmt: skip
    num_layers: int = option(
        2, "stacked layers (default: with --hidden-size, chosen for --minutes; 2 in "
        "CharRNNConfig())", bounds=count())  # fmt: skip
    dropout: float = option(0.2, "dropout between layers and before the output", bounds=FRACTION)

    def validate(self) -> None:
        cell_class(self.cell, CELLS)
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), received {self.dropout}")
        check_bounds(self)

    def num_parameters(self) -> int:
        """Parameters of the :class:`CharRNN` this config builds, counted without building it:
        ``V*E`` (embedding) + the recurrent layers + ``H*V + V`` (decoder)."""
        V, E, H = self.vocab_size, self.embedding_dim, self.hidden_size
        rnn = RNNBase.parameter_count(self.cell_class, E, H, self.num_layers)
        return V * E + rnn + H * V + V

    @property
    def cell_class(self) -> type[Cell]:
        """The :mod:`rnnkit.nn.cells` class named by ``cell``."""
        return cell_class(self.cell, CELLS)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CharRNNConfig:
        """From :meth:`to_dict`; version 1 called ``embedding_dim`` ``embedding_size``."""
        return from_dict(cls, data, renamed={"embedding_size": "embedding_dim"})


class CharRNN(Module):
    """Next-character model. Parameters: ``embedding.weight``, ``rnn.*`` (PyTorch's
    names), ``decoder.weight``, ``decoder.bias``."""

    def __init__(self, config: CharRNNConfig, dtype=np.float32):
        super().__init__()
        check_model_memory(config, dtype, ("hidden_size", "num_layers", "embedding_dim"))
        self.config = config
        self.embedding = Embedding(config.vocab_size, config.embedding_dim, dtype=dtype)
        self.rnn = build_layer(
            config.cell_class,
            config.embedding_dim,
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
            f"cell={c.cell}, vocab_size={c.vocab_size}, embedding_dim={c.embedding_dim}, "
            f"hidden_size={c.hidden_size}, num_layers={c.num_layers}, dropout={c.dropout}"
        )
