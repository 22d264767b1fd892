"""rnnkit.nn: recurrent networks with hand-written backward passes, PyTorch's names and shapes.

See ``docs/engine-contract.md`` for the forward/backward contract every module follows.
"""

from . import fast, functional, init, optim
from .layers import Dropout, Embedding, EmbeddingBag, Linear
from .losses import BCEWithLogitsLoss, CrossEntropyLoss
from .module import Module, Parameter, skip_init
from .optim import clip_grad_norm, clip_grad_value
from .random import get_rng_state, manual_seed, set_rng_state
from .recurrent import GRU, LSTM, RNN, LayerNormLSTM, MinGRU, MinLSTM

__all__ = [
    "Module", "Parameter", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "LayerNormLSTM",
    "Linear", "Embedding",
    "EmbeddingBag", "Dropout",
    "CrossEntropyLoss", "BCEWithLogitsLoss", "clip_grad_norm", "clip_grad_value",
    "fast", "functional", "init", "optim", "manual_seed", "get_rng_state", "set_rng_state",
    "skip_init",
]
