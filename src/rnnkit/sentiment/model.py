"""The text classifier: words -> vectors -> recurrent summary -> class scores.

::

    ids (B, T) --word dropout (UNK)--> --Embedding--> (B, T, E) [+ n-gram vectors] --Dropout-->
          --LSTM/GRU(lengths)--> output (B, T, D*H), h_n
          --pool over valid steps (last | mean | max)--> (B, D*H)
          --Dropout--> --Linear--> logits (B, K)

``K = 1`` for two classes (a sigmoid of the single logit is the probability of
the second label) and ``K = C`` for ``C > 2`` classes (softmax). Padding
(id 0, right of each sequence) never reaches the summary: the recurrent layer
gets ``lengths`` and the pooling looks at valid steps only, so adding padding
to a batch does not change any prediction.

With character n-grams (``num_subwords > 0``, :mod:`rnnkit.text.subwords`)
the input is ``ids (B, T, 1 + G)``: column 0 the word's id, columns 1.. the
ids of its n-grams (0 = none), and a word's vector is its own vector plus the
mean of its n-grams' vectors (an :class:`~rnnkit.nn.EmbeddingBag`)::

    x[b, t] = E_word[ids[b, t, 0]] + mean_{k: ids[b, t, k] > 0} E_ngram[ids[b, t, k]]

so an unknown word (UNK, or its backed-off stem) still carries the vectors of
the pieces it shares with training words.

With word n-grams (``num_word_ngrams > 0``, :mod:`rnnkit.text.wordgrams`) a wide,
linear path is added to the logit beside the recurrent one: each text's distinct
known word n-grams ``grams (B, M)`` (0 = padding), their fixed NB log-count ratios
``r`` and a trained weight per n-gram ``w`` (an :class:`~rnnkit.nn.EmbeddingBag`
of width K, starting at zero)::

    logits[b] = fc(pooled[b]) + sum_{m: grams[b, m] > 0} r[g] * w[g],   g = grams[b, m]

the NB-weighted logistic regression of Wang & Manning (2012) trained jointly with
the recurrent model. While training, each n-gram of a text is dropped with
probability ``word_ngram_dropout`` (the rest scaled by ``1 / (1 - p)``), so the
wide path cannot memorise the training texts before the recurrent path learns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..nn import random as nnrandom
from ..nn.cells import Cell, cell_class
from ..nn.layers import Dropout, Embedding, EmbeddingBag, Linear
from ..nn.module import Module, Parameter, init_skipped
from ..nn.recurrent import RNNBase, build_layer
from ..text.vocab import PAD_ID, UNK_ID
from ..training.memory import check_model_memory
from ..training.settings import FRACTION, Bounds, check_bounds, count, option
from .pooling import POOLINGS, pool_backward, pool_forward

#: The cells a classifier offers, by their names (:data:`rnnkit.nn.cells.CELLS`).
CELLS = ("lstm", "gru", "min_gru", "min_lstm", "ln_lstm")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`TextClassifier` (saved as JSON).

    The sizes that come from the data (``vocab_size``, ``num_classes``,
    ``num_subwords``) are set when training starts; every other field is a
    command-line option of ``rnnkit sentiment train``.
    """

    vocab_size: int = option(2, "words in the vocabulary, PAD and UNK included", cli=False)
    num_classes: int = option(2, "labels", cli=False)
    embedding_dim: int = option(128, "word vector size", bounds=count())
    hidden_size: int = option(128, "units per direction", bounds=count())
    cell: str = option("lstm", "recurrent cell", choices=CELLS)
    num_layers: int = option(1, "stacked layers", bounds=count())
    bidirectional: bool = option(True, "read both ways", negate="--unidirectional",
                                 negate_help="read left to right only")  # fmt: skip
    pooling: str = option("max", "summary of the outputs", choices=POOLINGS)
    dropout: float = option(0.5, "dropout on the summary and between layers", bounds=FRACTION)
    embedding_dropout: float = option(0.0, "dropout on the word vectors", bounds=FRACTION)
    word_dropout: float = option(
        0.0, "probability that a training word becomes UNK", bounds=FRACTION
    )
    embedding_init: float = option(
        0.1, "std of the random initial word vectors", bounds=Bounds(0, 100, low_open=True)
    )
    num_subwords: int = option(0, "character n-grams with a vector (0 = words only)", cli=False)
    num_word_ngrams: int = option(0, "word n-grams of the wide path (0 = none)", cli=False)
    word_ngram_dropout: float = option(
        0.5, "probability that a training text's word n-gram is left out of the wide path "
        "(with --word-ngrams)", bounds=FRACTION,
    )  # fmt: skip

    def validate(self) -> None:
        cell_class(self.cell, CELLS)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, received {self.pooling!r}")
        for name in ("vocab_size", "num_classes", "embedding_dim", "hidden_size", "num_layers",
                     "num_subwords", "num_word_ngrams"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be an integer, received {value!r}")
        if not isinstance(self.bidirectional, bool):
            raise ValueError(
                f"bidirectional must be true or false, received {self.bidirectional!r}"
            )
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, received {self.num_classes}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, received {getattr(self, name)}")
        for name in ("num_subwords", "num_word_ngrams"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, received {getattr(self, name)}")
        if self.num_word_ngrams > 0 and self.num_classes != 2:
            raise ValueError(
                f"word n-grams need two classes (their ratios compare two), not {self.num_classes}"
            )
        if not self.embedding_init > 0:
            raise ValueError(f"embedding_init must be > 0, received {self.embedding_init}")
        for name in ("dropout", "embedding_dropout", "word_dropout", "word_ngram_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), received {getattr(self, name)}")
        check_bounds(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)  # a setting this version does not know: refuse
        if unknown:
            raise ValueError(f"unknown model settings {unknown}")
        return cls(**data)

    def num_parameters(self) -> int:
        """Parameters of the :class:`TextClassifier` this config builds, counted without
        building it: ``V*E`` (+ ``(G+1)*E`` n-gram vectors) + the recurrent layers +
        ``D*H*K + K`` (the output layer) (+ ``(W+1)*(K+1)`` for the wide path's weights
        and fixed ratios)."""
        E, H = int(self.embedding_dim), int(self.hidden_size)
        D = 2 if self.bidirectional else 1
        count = int(self.vocab_size) * E
        if self.num_subwords > 0:
            count += (int(self.num_subwords) + 1) * E
        count += RNNBase.parameter_count(
            self.cell_class, E, H, int(self.num_layers), True, self.bidirectional
        )
        if self.num_word_ngrams > 0:
            count += (int(self.num_word_ngrams) + 1) * (self.num_outputs + 1)
        return count + D * H * self.num_outputs + self.num_outputs

    @property
    def cell_class(self) -> type[Cell]:
        """The :mod:`rnnkit.nn.cells` class named by ``cell``."""
        return cell_class(self.cell, CELLS)

    @property
    def num_outputs(self) -> int:
        return 1 if self.num_classes == 2 else self.num_classes


class TextClassifier(Module):
    """Embedding -> LSTM/GRU -> pooling -> Linear (see the module docstring).

    ``forward(ids (B, T) int, lengths (B,) int, word_grams=None) -> logits (B, K)``, or ids
    ``(B, T, 1 + G)`` with n-gram ids when ``num_subwords > 0``; ``word_grams (B, M)`` int,
    each text's word n-gram ids, padded with 0, required when ``num_word_ngrams > 0``;
    ``backward(grad_logits (B, K)) -> None`` (accumulates every parameter's grad).

    The wide path's parameters: ``wide.weight (W + 1, K)`` trained, and
    ``wide_ratio (W + 1,)`` the fixed NB ratios (``requires_grad`` False, saved with
    the weights; set from :class:`~rnnkit.text.wordgrams.WordNgrams` when a run starts).
    """

    def __init__(self, config: ModelConfig, dtype=np.float32):
        super().__init__()
        check_model_memory(
            config, dtype, ("hidden_size", "embedding_dim", "num_layers", "max_vocab")
        )
        self.config = config
        self.embedding = Embedding(
            config.vocab_size, config.embedding_dim, padding_idx=PAD_ID, dtype=dtype
        )
        scale = not init_skipped()  # skip_init: the weights are not drawn, nothing to scale
        if scale:
            self.embedding.weight.data *= config.embedding_init  # N(0, 1) -> N(0, s^2)
        self.subword_embedding = None
        if config.num_subwords > 0:  # row 0 = no n-gram
            self.subword_embedding = EmbeddingBag(
                config.num_subwords + 1, config.embedding_dim, "mean", padding_idx=0, dtype=dtype
            )
            if scale:
                self.subword_embedding.weight.data *= config.embedding_init
        self.embedding_dropout = Dropout(config.embedding_dropout)
        self.rnn = build_layer(
            config.cell_class,
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            dtype=dtype,
        )
        self.dropout = Dropout(config.dropout)
        directions = 2 if config.bidirectional else 1
        self.fc = Linear(directions * config.hidden_size, config.num_outputs, dtype=dtype)
        self.wide = self.wide_ratio = None
        if config.num_word_ngrams > 0:  # row 0 = padding
            rows = config.num_word_ngrams + 1
            self.wide = EmbeddingBag(rows, config.num_outputs, "sum", padding_idx=0, dtype=dtype)
            self.wide.weight.data[...] = 0.0  # starts as the recurrent model alone
            self.wide_ratio = Parameter(np.zeros(rows, dtype=dtype), requires_grad=False)
        self._cache = None

    def forward(
        self, ids: np.ndarray, lengths: np.ndarray, word_grams: np.ndarray | None = None
    ) -> np.ndarray:
        ids = np.asarray(ids)
        lengths = np.asarray(lengths)
        grams = None
        if ids.ndim == 3 and (self.subword_embedding is not None or ids.shape[2] == 1):
            # (B, T, 1) when n-grams were asked for but none was frequent enough to keep
            ids, grams = ids[:, :, 0], ids[:, :, 1:]  # (B, T), (B, T, G)
        if ids.ndim != 2 or lengths.shape != (ids.shape[0],):
            expected = "(B, T) or (B, T, 1 + G)" if self.subword_embedding is not None else "(B, T)"
            raise ValueError(
                f"expected ids {expected} and lengths (B,), "
                f"received {ids.shape} and {lengths.shape}"
            )
        if self.training and self.config.word_dropout > 0:
            # Words of the training set replaced by UNK now and then, so that UNK (all
            # the words a new text has and training never saw) gets a trained vector.
            hit = nnrandom.get_rng().random(ids.shape) < self.config.word_dropout
            ids = np.where(hit & (ids != PAD_ID), UNK_ID, ids)
        x = self.embedding(ids)  # (B, T, E)
        if grams is not None and grams.shape[2] > 0:
            B, T, G = grams.shape
            x = x + self.subword_embedding(grams.reshape(B * T, G)).reshape(B, T, -1)
        else:
            grams = None
        x = self.embedding_dropout(x)
        output, final = self.rnn(x, lengths=lengths)  # (B, T, D*H)
        h_n = final[0] if isinstance(final, tuple) else final  # (D*L, B, H): h of (h[, c])
        D = 2 if self.config.bidirectional else 1
        last = np.concatenate(list(h_n[-D:]), axis=1)  # (B, D*H): [forward | backward]
        pooled, pool_cache = pool_forward(output, lengths, last, self.config.pooling)
        logits = self.fc(self.dropout(pooled))  # (B, K)
        if self.wide is not None:
            logits = logits + self._wide_forward(word_grams, ids.shape[0])
        self._cache = (pool_cache, h_n.shape, D, grams is not None)
        return logits

    def _wide_forward(self, grams: np.ndarray | None, batch: int) -> np.ndarray:
        """``sum_m r[g] w[g]`` over each text's n-grams ``g = grams[b, m]`` -> (B, K)."""
        if grams is None:
            raise ValueError("this model has a word n-gram path: pass grams (B, M), each "
                             "text's word n-gram ids")  # fmt: skip
        grams = np.asarray(grams)
        if grams.ndim != 2 or grams.shape[0] != batch:
            raise ValueError(f"expected grams ({batch}, M), received {grams.shape}")
        scale = self.wide_ratio.data[grams]  # (B, M); 0 for padding
        p = self.config.word_ngram_dropout
        if self.training and p > 0:
            keep = nnrandom.get_rng().random(grams.shape) >= p
            scale = np.where(keep, scale / (1.0 - p), 0.0).astype(scale.dtype)
        return self.wide(grams, per_sample_weights=scale)

    def backward(self, grad_logits: np.ndarray) -> None:
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        pool_cache, h_n_shape, D, with_grams = self._cache
        grad_pooled = self.dropout.backward(self.fc.backward(grad_logits))  # (B, D*H)
        grad_output, grad_last = pool_backward(grad_pooled, pool_cache)
        grad_final = None
        if grad_last is not None:
            grad_h_n = np.zeros(h_n_shape, dtype=grad_last.dtype)  # (D*L, B, H)
            H = h_n_shape[2]
            for d in range(D):
                grad_h_n[h_n_shape[0] - D + d] = grad_last[:, d * H : (d + 1) * H]
            arity = self.rnn.cell.state_arity  # no gradient reaches c_n
            grad_final = grad_h_n if arity == 1 else (grad_h_n,) + (None,) * (arity - 1)
        grad_x, _ = self.rnn.backward(grad_output, grad_final)
        if self.wide is not None:
            self.wide.backward(grad_logits)
        grad_x = self.embedding_dropout.backward(grad_x)  # (B, T, E)
        self.embedding.backward(grad_x)
        if with_grams:
            self.subword_embedding.backward(grad_x.reshape(-1, grad_x.shape[2]))
        return None
