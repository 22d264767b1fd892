"""Export to safetensors: a trained application's weights under PyTorch's names and its
config, in the format of :mod:`rnnkit.training.safetensors` (written and read there
without pickle and without the package; its names are re-exported here).

``safetensors.torch.load_file`` reads the file; :func:`load_app` rebuilds the
application from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..training.safetensors import (
    DTYPES,
    FORMAT,
    MAX_HEADER_BYTES,
    VERSION,
    load_file,
    read_export,
    save_file,
)
from .source import app_config, app_from_weights, app_name
from .source import load_app as load_source


def export_app(source, out: str | os.PathLike) -> list[Path]:
    """Write a run directory's / checkpoint's / application's weights and config to ``out``."""
    app = load_source(source)
    meta = {"format": FORMAT, "version": VERSION, "app": app_name(app), "config": app_config(app)}
    weights = {name: p.data for name, p in app.network.named_parameters()}
    return [save_file(weights, out, {"format": "pt", "rnnkit": json.dumps(meta)})]


def load_app(path: str | os.PathLike):
    """The ``CharLM`` or ``SentimentClassifier`` saved by :func:`export_app`."""
    tree = read_export(path)
    return app_from_weights(tree["app"], tree["config"], tree["model"], str(path))


__all__ = [
    "DTYPES", "FORMAT", "MAX_HEADER_BYTES", "VERSION", "export_app", "load_app", "load_file",
    "read_export", "save_file",
]
