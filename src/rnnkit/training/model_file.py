"""What inference reads: a model file, either a checkpoint or rnnkit's own safetensors export."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError, load_checkpoint, sniff
from .safetensors import read_export


def load_model(path: str | os.PathLike, app: str | None = None) -> dict[str, Any]:
    """The ``{"app", "config", "model"}`` tree of a model file: a checkpoint
    (:func:`load_checkpoint`) or rnnkit's own safetensors export (which carries
    the application's config; :func:`rnnkit.training.safetensors.read_export`).

    What inference reads (``textgen sample``, ``sentiment predict``, ``export``);
    resuming a run needs a real checkpoint. Any other file is refused in one
    line saying what it is and what reads it.
    """
    path = Path(path)
    if path.is_file() and sniff(path) == "safetensors":
        tree = read_export(path)
        if app is not None and tree["app"] != app:
            raise CheckpointError(f"{path}: this is a {tree['app']!r} export, expected {app!r}")
        return tree
    return load_checkpoint(path, app)
