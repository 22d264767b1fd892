"""Character-level text generation: train on any text, sample, evaluate, resume.

``CharLM`` (:mod:`.api`) is the entry point; the pieces are the network
(:mod:`.model`), the training recipe run by the shared trainer (:mod:`.train`),
sampling (:mod:`.sampling`) and evaluation (:mod:`.evaluate`).
"""

from .api import CharLM
from .model import CharRNN, CharRNNConfig
from .sampling import SamplingOptions
from .train import TrainSettings

__all__ = ["CharLM", "CharRNN", "CharRNNConfig", "SamplingOptions", "TrainSettings"]
