"""The torch engine moved beside the task it mirrors: :mod:`rnnkit.textgen.torch_engine`
(the task and the network in PyTorch) and :mod:`rnnkit.training.distributed` (the
processes of a ``torchrun`` job). Re-exported here for older imports."""

from __future__ import annotations

from ..textgen.torch_engine import CharRNN, TorchCharLMTask, torch_network
from ..training.distributed import Processes

__all__ = ["CharRNN", "Processes", "TorchCharLMTask", "torch_network"]
