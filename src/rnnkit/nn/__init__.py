"""rnnkit.nn: recurrent networks with hand-written backward passes, PyTorch's names and shapes."""

from .module import Module, Parameter
from .random import get_rng_state, manual_seed, set_rng_state

__all__ = ["Module", "Parameter", "manual_seed", "get_rng_state", "set_rng_state"]
