"""Run directories (or checkpoint files) -> models the explorer can serve.

A run's kind comes from its checkpoint's ``"app"`` field; the application
objects are loaded only through ``CharLM.load`` / ``SentimentClassifier.load``
(which resolve a run directory's ``best.npz``, else ``latest.npz``). Sizes are
read from the modules themselves, not from config dicts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..training import CheckpointError, resolve_checkpoint
from ..training import load_model as read_model

#: characters of validation text kept as a model's sample text
SAMPLE_CHARS = 1000


class ExploreError(ValueError):
    """A run directory cannot be explored (one-line message naming the path)."""


@dataclass
class Model:
    """One loaded model: ``app`` is a CharLM or a SentimentClassifier."""

    name: str
    kind: str  # "textgen" | "sentiment"
    app: Any
    path: str
    sample: str = ""  # a slice of the validation text (textgen), or example sentences
    info: dict = field(default_factory=dict)

    @property
    def rnn(self):
        return self.app.network.rnn

    def describe(self) -> dict:
        rnn = self.rnn
        out = {
            "name": self.name,
            "kind": self.kind,
            "cell": rnn.cell.name,
            "num_layers": rnn.num_layers,
            "hidden_size": rnn.hidden_size,
            "input_size": rnn.input_size,
            "bidirectional": rnn.bidirectional,
            "gates": list(rnn.cell.gate_names),
            "states": list(rnn.cell.state_names),
            "parameters": int(sum(p.data.size for p in self.app.network.parameters())),
            "sample": self.sample,
        }
        out.update(self.info)
        return out


def _checkpoint_of(path: Path) -> Path:
    """The checkpoint to read (a run directory's best, else latest); never takes the run's lock."""
    if not path.exists():
        raise ExploreError(f"{path}: no such run directory or checkpoint")
    try:
        return resolve_checkpoint(path)
    except CheckpointError:
        raise ExploreError(f"{path}: no checkpoint (expected best.npz or latest.npz)") from None


def load_model(path: str | os.PathLike, name: str | None = None) -> Model:
    """Load one run directory or checkpoint file; :class:`ExploreError` on anything wrong."""
    path = Path(path)
    try:
        checkpoint = _checkpoint_of(path)
        app_name = read_model(checkpoint)["app"]  # a checkpoint or a safetensors export
        if app_name == "textgen":
            from ..textgen import CharLM

            lm = CharLM.load(checkpoint)
            vocab = lm.vocab
            info = {"vocab_size": len(vocab), "encoding": vocab.encoding}
            return Model(name or path.name, "textgen", lm, str(path), _validation_slice(lm), info)
        if app_name == "sentiment":
            from ..sentiment import SentimentClassifier

            clf = SentimentClassifier.load(checkpoint)
            info = {"labels": list(clf.labels), "vocab_size": len(clf.vocab)}
            return Model(name or path.name, "sentiment", clf, str(path), "", info)
    except (CheckpointError, OSError, ValueError) as exc:
        if isinstance(exc, ExploreError):
            raise
        raise ExploreError(f"{path}: {' '.join(str(exc).split())}") from None
    raise ExploreError(
        f"{path}: a {app_name!r} checkpoint; the explorer shows textgen and sentiment"
    )


def load_models(paths) -> dict[str, Model]:
    """Load every path; names are the directory names, made unique with ``-2``, ``-3``..."""
    if not paths:
        raise ExploreError("give at least one RUN_DIR")
    models: dict[str, Model] = {}
    for p in paths:
        base = Path(p).name or "model"
        if Path(p).is_file():
            base = Path(p).stem
        name, n = base, 1
        while name in models:
            n += 1
            name = f"{base}-{n}"
        models[name] = load_model(p, name)
    return models


def _validation_slice(lm) -> str:
    """The start of the run's validation split, where the corpus can be read again; else ''."""
    from ..text.corpus import split_tail

    try:
        corpus = lm._training_text(None)  # from where the run found it, checked by sha256
        _, val = split_tail(lm.vocab.encode(corpus), lm.settings.val_fraction)
        text = lm.vocab.decode(val[:SAMPLE_CHARS])
    except (OSError, ValueError, KeyError):  # in-memory text, corpus moved or changed: no sample
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text
