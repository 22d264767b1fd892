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
Every entry point takes a run directory, a checkpoint file or a safetensors
export (:func:`.source.load_app`) and imports its optional package only when called.

    from rnnkit.interop import export
    export("runs/shakespeare", "onnx", "shakespeare.onnx")   # + shakespeare.onnx.json
    export("runs/sst2", "safetensors", "sst2.safetensors")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..training.settings import option
from .extras import MissingExtraError

FORMATS = ("onnx", "safetensors")


@dataclass(frozen=True)
class ExportOptions:
    """The options of ``rnnkit export`` (its flags are generated from these fields)."""

    format: str = option(None, "onnx or safetensors", choices=FORMATS, required=True)
    out: str | None = option(None, "the file to write (default: RUN_DIR/model.FORMAT, or the "
                             "checkpoint's name with .FORMAT)")  # fmt: skip
    force: bool = option(False, "replace an existing output file (and its .json sidecar)")

    def output(self, source: str | os.PathLike) -> Path:
        """``out``, or the default beside ``source`` (a run directory or a file)."""
        if self.out is not None:
            return Path(self.out)
        source = Path(source)
        if source.is_dir():
            return source / f"model.{self.format}"
        return source.with_suffix(f".{self.format}")


class ExportRefused(ValueError):
    """``export`` would overwrite its input, a checkpoint, or (without ``force``) a file."""


#: names of a run directory's checkpoints: never an export's output
CHECKPOINT_NAMES = ("latest.npz", "best.npz")


def outputs(format: str, out: str | os.PathLike) -> list[Path]:
    """The files an export to ``out`` writes: ``out`` (and ``out.json`` for ONNX)."""
    path = Path(out)
    return [path, path.with_name(path.name + ".json")] if format == "onnx" else [path]


def check_outputs(source, format: str, out: str | os.PathLike, force: bool = False) -> None:
    """Refuse (:class:`ExportRefused`, one line) an export that would overwrite its
    input, a checkpoint, a directory, or an existing file unless ``force``.

    Reads only; nothing is written.
    """
    from ..training.checkpoint import sniff
    from .source import checkpoint_path

    inputs: list[Path] = []
    if isinstance(source, (str, os.PathLike)):
        inputs.append(Path(source))
        try:
            inputs.append(checkpoint_path(source))
        except Exception:  # no checkpoint there: the export reports it
            pass
    for path in outputs(format, out):
        for given in inputs:
            if _same_file(path, given):
                raise ExportRefused(
                    f"refusing to write {path}: it is the model being exported ({given}); "
                    "choose another --out"
                )
        if path.name in CHECKPOINT_NAMES:
            raise ExportRefused(
                f"refusing to write {path}: {path.name} is a run directory's checkpoint name; "
                "choose another --out"
            )
        if path.is_dir():
            raise ExportRefused(f"refusing to write {path}: it is a directory")
        if path.exists() or path.is_symlink():
            if path.is_file() and sniff(path) in ("zip", None) and _is_checkpoint(path):
                raise ExportRefused(
                    f"refusing to write {path}: it is an rnnkit checkpoint (not even with --force)"
                )
            if not force:
                raise ExportRefused(f"{path} exists; pass --force to replace it")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _is_checkpoint(path: Path) -> bool:
    import zipfile

    from ..training.checkpoint import META_KEY

    try:
        with zipfile.ZipFile(path) as zf:
            return META_KEY + ".npy" in zf.namelist()
    except Exception:
        return False


def export(source, format: str, out: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Export ``source`` (a run directory, a checkpoint file, rnnkit's safetensors
    export, a ``CharLM`` or a ``SentimentClassifier``) as ``format`` to ``out``;
    returns the files written.

    Never overwrites its input or a checkpoint; an existing ``out`` (or, for
    ONNX, its sidecar ``out.json``) is replaced only with ``force=True``, and
    then atomically: a reader sees the old file or the new one, never half.
    """
    if format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, received {format!r}")
    check_outputs(source, format, out, force)
    if format == "onnx":
        from .onnx import export_app

        return export_app(source, out)
    from .safetensors import export_app

    return export_app(source, out)


__all__ = ["FORMATS", "ExportRefused", "MissingExtraError", "check_outputs", "export"]
