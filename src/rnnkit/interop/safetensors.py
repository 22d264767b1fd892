"""safetensors files, written and read here without pickle (and without the package).

The format (https://github.com/huggingface/safetensors), all of it::

    8 bytes     N, unsigned little-endian: the header's size
    N bytes     UTF-8 JSON: {"__metadata__": {str: str},
                             name: {"dtype": "F32", "shape": [...],
                                    "data_offsets": [begin, end]}, ...}
    the rest    the tensors' bytes, C order, little-endian; offsets count from here

An exported model holds its network's ``state_dict()`` under PyTorch's names
(``embedding.weight``, ``rnn.weight_ih_l0``, ..., ``decoder.bias`` / ``fc.bias``),
so ``safetensors.torch.load_file`` gives a dict that
``torch_module.load_state_dict`` takes for the equivalent module of
:mod:`rnnkit.interop.torch`. The metadata holds ``format: "pt"`` and, under
``rnnkit``, the JSON ``{"format": "rnnkit-safetensors", "version": 1, "app":
..., "config": ...}`` with the application's checkpoint config (vocabulary,
tokenizer, labels, model shape), which :func:`load_app` needs to rebuild it.

Reading is defensive: a header over :data:`MAX_HEADER_BYTES`, or larger than
the file, offsets outside the data or not tiling it, an unknown dtype, a
shape that does not match its bytes: each is a :class:`CheckpointError` with
one line naming the file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from ..training import CheckpointError
from ..training.checkpoint import atomic_write
from .source import app_config, app_from_weights, app_name
from .source import load_app as load_source

FORMAT = "rnnkit-safetensors"
VERSION = 1
#: the largest header read (the reference implementation's limit too)
MAX_HEADER_BYTES = 100 * 1024 * 1024
DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}  # fmt: skip
_NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def save_file(
    tensors: dict[str, np.ndarray], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> Path:
    """Write ``tensors`` (name -> array) and string ``metadata`` to ``path`` (atomically)."""
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        if array.dtype not in _NAMES:
            raise ValueError(f"safetensors: cannot store {name} of dtype {array.dtype}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    path = Path(path)

    def write(f):
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)

    atomic_write(path, write)
    return path


def load_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file (see the module docstring for the checks)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"safetensors file not found: {path}")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise CheckpointError(
                f"{path}: not a safetensors file (header of {n:,} bytes in a file of {size:,}; "
                f"at most {MAX_HEADER_BYTES:,})"
            )
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CheckpointError(f"{path}: corrupt safetensors header ({exc})") from None
        data = f.read()
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: safetensors metadata must map strings to strings")
    tensors, spans = {}, []
    for name, entry in header.items():
        try:
            dtype = np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")
            shape = [int(s) for s in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: tensor {name!r} has a bad header entry ({exc})"
            ) from None
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= len(data):
            raise CheckpointError(f"{path}: tensor {name!r} lies outside the file's data")
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise CheckpointError(
                f"{path}: tensor {name!r} of shape {shape} does not fit its {end - begin} bytes"
            )
        spans.append((begin, end))
        tensors[name] = (
            np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=begin)
            .reshape(shape)
            .copy()
        )
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise CheckpointError(f"{path}: the tensors' data overlap or leave gaps")
        position = end
    if position != len(data):
        raise CheckpointError(f"{path}: {len(data) - position} bytes after the last tensor")
    return tensors, metadata


def export_app(source, out: str | os.PathLike) -> list[Path]:
    """Write a run directory's / checkpoint's / application's weights and config to ``out``."""
    app = load_source(source)
    meta = {"format": FORMAT, "version": VERSION, "app": app_name(app), "config": app_config(app)}
    weights = {name: p.data for name, p in app.network.named_parameters()}
    return [save_file(weights, out, {"format": "pt", "rnnkit": json.dumps(meta)})]


def load_app(path: str | os.PathLike):
    """The ``CharLM`` or ``SentimentClassifier`` saved by :func:`export_app`."""
    tensors, metadata = load_file(path)
    try:
        meta = json.loads(metadata["rnnkit"])
        if meta.get("format") != FORMAT or int(meta.get("version", 0)) > VERSION:
            raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}")
        app, config = meta["app"], meta["config"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not an rnnkit export (metadata 'rnnkit': {exc})") from None
    return app_from_weights(app, config, tensors, str(path))
