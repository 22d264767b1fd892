"""What gets exported: the trained application behind a run directory, a checkpoint file
or a safetensors file of rnnkit's own export.

Applications are loaded only through their own ``load`` (``CharLM.load``,
``SentimentClassifier.load``), which resolves a run directory to its
``best.npz`` (else ``latest.npz``) through :class:`rnnkit.training.RunDir`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..training import (
    CheckpointError,
    RunDir,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from ..training.checkpoint import sniff
from ..training.safetensors import read_export

APPS = ("textgen", "sentiment")


def checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint file, or the one a run directory's ``load`` would read."""
    path = Path(path)
    if path.is_dir():
        found = RunDir(path).checkpoint_for_inference()
        if not found.is_file():
            raise CheckpointError(f"no checkpoint in run directory {path}")
        return found
    return path


def app_of(path: str | os.PathLike) -> str:
    """``"textgen"`` or ``"sentiment"``: which application wrote the checkpoint at ``path``."""
    path = checkpoint_path(path)
    if sniff(path) == "safetensors":
        app = read_export(path)["app"]
    else:  # the metadata says, no array needs reading
        tree = read_checkpoint_meta(path)["tree"]
        app = tree.get("app") if isinstance(tree, dict) else None
    if app not in APPS:
        raise CheckpointError(
            f"{path}: written by {app!r}, which has no export (expected one of {APPS})"
        )
    return app


def load_app(source: Any):
    """A ``CharLM`` or ``SentimentClassifier`` from a run directory, a checkpoint file,
    or the object itself (returned as it is)."""
    from ..sentiment import SentimentClassifier
    from ..textgen import CharLM

    if isinstance(source, (CharLM, SentimentClassifier)):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "expected a run directory, a checkpoint file or a model, "
            f"received {type(source).__name__}"
        )
    path = checkpoint_path(source)
    if sniff(path) == "safetensors":  # rnnkit's own export: weights and config
        tree = read_export(path)
        return app_from_weights(tree["app"], tree["config"], tree["model"], str(path))
    return (CharLM if app_of(path) == "textgen" else SentimentClassifier).load(path)


def app_name(app: Any) -> str:
    from ..sentiment import SentimentClassifier

    return "sentiment" if isinstance(app, SentimentClassifier) else "textgen"


def app_config(app: Any) -> dict:
    """The JSON ``config`` a checkpoint of ``app`` holds (vocabulary, tokenizer, model shape)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        app.save(path)
        return load_checkpoint(path)["config"]


def app_from_weights(app: str, config: dict, weights: dict, where: str):
    """Rebuild an application from its checkpoint ``config`` and ``weights`` (name -> array).

    Goes through a model-only checkpoint in a temporary directory and the
    application's own ``load``, so every check ``load`` makes is made here too.
    """
    from ..sentiment import SentimentClassifier
    from ..textgen import CharLM

    if app not in APPS:
        raise CheckpointError(f"{where}: unknown application {app!r} (expected one of {APPS})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        save_checkpoint(path, {"app": app, "config": config, "model": dict(weights)})
        try:
            return (CharLM if app == "textgen" else SentimentClassifier).load(path)
        except CheckpointError as exc:
            raise CheckpointError(
                f"{where}: {str(exc).replace(str(path), 'its weights')}"
            ) from None
