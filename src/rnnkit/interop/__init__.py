"""Doors out of the house: ONNX and safetensors export, the PyTorch bridge.

* :mod:`.onnx` -- a trained text generator or classifier (or a bare ``nn.LSTM`` /
  ``GRU`` / ``RNN``) as an ONNX graph of the standard ``LSTM`` / ``GRU`` / ``RNN``
  operators, with its preprocessing in the metadata and a sidecar JSON
  (needs ``pip install 'rnnkit[onnx]'``);
* :mod:`.safetensors` -- the weights under PyTorch's names plus the
  application's config, written and read without pickle (no extra needed;
  ``safetensors.torch.load_file`` reads the file);
* :mod:`.torch` -- the equivalent ``torch.nn.Module`` of a trained model, and
  back (``pip install 'rnnkit[torch]'``).

Nothing in :mod:`rnnkit.nn` imports these, nor torch or onnx: the core stays NumPy.
Every entry point takes a run directory or a checkpoint file
(:func:`.source.load_app`) and imports its optional package only when called.

    from rnnkit.interop import export
    export("runs/shakespeare", "onnx", "shakespeare.onnx")   # + shakespeare.onnx.json
    export("runs/sst2", "safetensors", "sst2.safetensors")
"""

from __future__ import annotations

import os
from pathlib import Path

from .extras import MissingExtraError

FORMATS = ("onnx", "safetensors")


def export(source, format: str, out: str | os.PathLike) -> list[Path]:
    """Export ``source`` (a run directory, a checkpoint file, a ``CharLM`` or a
    ``SentimentClassifier``) as ``format`` to ``out``; returns the files written."""
    if format == "onnx":
        from .onnx import export_app

        return export_app(source, out)
    if format == "safetensors":
        from .safetensors import export_app

        return export_app(source, out)
    raise ValueError(f"--format must be one of {', '.join(FORMATS)}, received {format!r}")


__all__ = ["FORMATS", "MissingExtraError", "export"]
