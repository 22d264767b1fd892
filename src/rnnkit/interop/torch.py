"""The PyTorch bridge: a trained network as the equivalent ``torch.nn.Module``, and back.

    from rnnkit.interop.torch import to_torch, from_torch
    module = to_torch("runs/shakespeare")      # a torch CharRNN with the run's weights
    logits, state = module(torch.tensor(ids))  # ids (T, B) -> logits (T, B, V)
    network = from_torch(module)               # an rnnkit CharRNN with the module's weights

Both sides have the same attribute names, so their ``state_dict`` keys and
shapes are the same (PyTorch's names and gate layouts, see docs/pytorch.md)
and the weights move without any reordering; every shape is checked on the
way. The modules here are the two applications' networks written in PyTorch:

* :class:`CharRNN`: ``ids (T, B) -> (logits (T, B, V), state)``: embedding,
  stacked LSTM / GRU / RNN, dropout, linear decoder (defined beside the torch
  engine that trains it, :mod:`rnnkit.textgen.torch_engine`);
* :class:`TextClassifier`: ``ids (B, T), lengths (B,) [, ngram_ids (B, T, G)]
  -> logits (B, K)``: embedding [+ mean of the n-gram vectors], a batch-first
  recurrent layer over packed sequences (padding never read), pooling over
  the valid steps (last, mean, max), dropout, linear head.

Each recurrent layer becomes the ``torch.nn`` class its cell names
(``cell.torch_name``, :mod:`rnnkit.nn.cells`), or, for the minimal cells (minGRU,
minLSTM) and the layer-normalised LSTM, which ``torch.nn`` lacks, rnnkit's own torch module
(``cell.torch_module``, :mod:`rnnkit.training.torch_cells`); rnnkit's
``GRU(reset_after=False)`` has no PyTorch counterpart and is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..extras import import_extra
from ..nn.cells import cell_class
from ..sentiment.model import CELLS as CLASSIFIER_CELLS
from ..textgen.torch_engine import CharRNN, torch_layer

torch = import_extra("torch", "torch")
nn = torch.nn


def _recurrent(rnn) -> torch.nn.Module:
    """The ``torch.nn`` layer with the constructor arguments of an rnnkit recurrent layer."""
    # dropout acts between layers (in rnnkit too): none for one layer, and no PyTorch warning
    dropout = rnn.dropout if rnn.num_layers > 1 else 0.0
    return torch_layer(type(rnn.cell), rnn.input_size, rnn.hidden_size,
                       num_layers=rnn.num_layers, bias=rnn.bias, batch_first=rnn.batch_first,
                       dropout=dropout, bidirectional=rnn.bidirectional)  # fmt: skip


class TextClassifier(nn.Module):
    """The classifier's network (:class:`rnnkit.sentiment.TextClassifier`) in PyTorch."""

    def __init__(self, cell: str, vocab_size: int, num_outputs: int, embedding_dim: int,
                 hidden_size: int, num_layers: int, bidirectional: bool, pooling: str,
                 dropout: float = 0.0, num_subwords: int = 0):  # fmt: skip
        super().__init__()
        if pooling not in ("last", "mean", "max"):
            raise ValueError(f"pooling must be last, mean or max, received {pooling!r}")
        self.cell, self.pooling = cell, pooling
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.subword_embedding = None
        if num_subwords > 0:
            self.subword_embedding = nn.EmbeddingBag(
                num_subwords + 1, embedding_dim, mode="mean", padding_idx=0
            )
        self.rnn = torch_layer(
            cell_class(cell, CLASSIFIER_CELLS), embedding_dim, hidden_size, num_layers=num_layers,
            batch_first=True, dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )  # fmt: skip
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear((2 if bidirectional else 1) * hidden_size, num_outputs)

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor, ngram_ids: torch.Tensor | None = None
    ):
        """``ids (B, T)``, ``lengths (B,)`` [, ``ngram_ids (B, T, G)``] -> ``logits (B, K)``."""
        B, T = ids.shape
        x = self.embedding(ids)  # (B, T, E)
        if self.subword_embedding is not None and ngram_ids is not None and ngram_ids.shape[2] > 0:
            x = x + self.subword_embedding(ngram_ids.reshape(B * T, -1)).reshape(B, T, -1)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        output, final = self.rnn(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(
            output, batch_first=True, total_length=T
        )  # (B, T, D*H)
        if self.pooling == "last":
            h_n = final[0] if isinstance(final, tuple) else final  # (D*L, B, H): h of (h[, c])
            D = 2 if self.rnn.bidirectional else 1
            pooled = torch.cat(list(h_n[-D:]), dim=1)  # (B, D*H): [forward | backward]
        else:
            mask = (torch.arange(T, device=ids.device)[None, :] < lengths.to(ids.device)[:, None])[
                :, :, None
            ]
            if self.pooling == "mean":
                pooled = (output * mask).sum(dim=1) / lengths.to(output)[:, None]
            else:
                pooled = output.masked_fill(~mask, float("-inf")).amax(dim=1)
        return self.fc(self.dropout(pooled))


def _network(source: Any):
    """An rnnkit network (returned as it is), or the network of an application / run directory."""
    from ..nn.module import Module
    from .source import load_app

    return source if isinstance(source, Module) else load_app(source).network


def to_torch(source: Any) -> torch.nn.Module:
    """The equivalent torch module of a text generator or classifier, with its weights.

    ``source``: an rnnkit ``CharRNN`` / ``TextClassifier``, a ``CharLM`` /
    ``SentimentClassifier``, a run directory or a checkpoint file. The module
    is in eval mode, in the network's dtype.
    """
    from ..sentiment.model import TextClassifier as NumpyClassifier

    network = _network(source)
    rnn = network.rnn
    _recurrent(rnn)  # refuses what PyTorch cannot compute
    V, E = network.embedding.weight.shape
    if isinstance(network, NumpyClassifier):
        if network.wide is not None:
            raise ValueError("a classifier with word n-grams (--word-ngrams) has no torch "
                             "module yet: its wide path is rnnkit's alone")  # fmt: skip
        subwords = network.subword_embedding
        module = TextClassifier(
            rnn.cell.name, V, network.fc.weight.shape[0], E,
            rnn.hidden_size,
            rnn.num_layers, rnn.bidirectional, network.config.pooling, network.dropout.p,
            0 if subwords is None else subwords.weight.shape[0] - 1,
        )  # fmt: skip
    else:
        module = CharRNN(rnn.cell.name, V, E, rnn.hidden_size, rnn.num_layers, network.dropout.p)
    dtype = torch.float64 if network.embedding.weight.data.dtype == np.float64 else torch.float32
    module = module.to(dtype)
    load_weights(module, network.state_dict())
    return module.eval()


def load_weights(module: torch.nn.Module, state: dict) -> None:
    """Copy ``state`` (name -> array) into ``module``: the same names, every shape checked."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit the module: missing {missing}, unexpected {unexpected}"
        )
    for name, tensor in own.items():
        value = np.asarray(state[name])
        if tuple(value.shape) != tuple(tensor.shape):
            raise ValueError(
                f"{name}: expected shape {tuple(tensor.shape)}, received {value.shape}"
            )
    with torch.no_grad():
        for name, tensor in own.items():
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(state[name])))


def from_torch(module: torch.nn.Module, dtype=np.float32):
    """The rnnkit ``CharRNN`` or ``TextClassifier`` equal to ``module``, with its weights."""
    from ..sentiment.model import ModelConfig
    from ..sentiment.model import TextClassifier as NumpyClassifier
    from ..textgen.model import CharRNN as NumpyCharRNN
    from ..textgen.model import CharRNNConfig

    rnn = module.rnn
    V, E = module.embedding.weight.shape
    common = dict(hidden_size=rnn.hidden_size, num_layers=rnn.num_layers, dropout=module.dropout.p)
    if isinstance(module, CharRNN):
        network = NumpyCharRNN(
            CharRNNConfig(vocab_size=V, cell=module.cell, embedding_dim=E, **common), dtype
        )
    elif isinstance(module, TextClassifier):
        K = module.fc.weight.shape[0]
        subwords = module.subword_embedding
        config = ModelConfig(
            vocab_size=V, num_classes=2 if K == 1 else K, embedding_dim=E, cell=module.cell,
            bidirectional=rnn.bidirectional, pooling=module.pooling,
            num_subwords=0 if subwords is None else subwords.weight.shape[0] - 1, **common,
        )  # fmt: skip
        network = NumpyClassifier(config, dtype)
    else:
        raise TypeError(
            "expected an rnnkit.interop.torch CharRNN or TextClassifier, "
            f"received {type(module).__name__}"
        )
    network.load_state_dict({k: v.detach().cpu().numpy() for k, v in module.state_dict().items()})
    return network.eval()


__all__ = ["CharRNN", "TextClassifier", "from_torch", "load_weights", "to_torch"]
