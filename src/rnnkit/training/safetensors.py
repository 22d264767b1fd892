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
tokenizer, labels, model shape), which :func:`rnnkit.interop.safetensors.load_app`
needs to rebuild it.

The exporter is :mod:`rnnkit.interop.safetensors`; the format lives here,
below it, because what inference reads (:func:`rnnkit.training.load_model`)
may be an export.

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

from .checkpoint import (
    MAX_JSON_DEPTH,
    CheckpointError,
    atomic_write,
    check_json_counts,
    json_depth,
)

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
    """``(tensors, metadata)`` of a safetensors file (see the module docstring for the checks).

    Everything is checked against the file before anything is allocated: the
    header's length against the file's size, its count of lists and dicts
    against its length, the tensors' offsets against the data, which they
    must tile exactly. Then each tensor is read straight into its array, so a
    load needs the bytes of the file and no more.
    """
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
        raw = f.read(n)
        header = _parse_header(raw, path, size)
        del raw
        data_size = size - 8 - n
        if not isinstance(header, dict):
            raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise CheckpointError(f"{path}: safetensors metadata must map strings to strings")
        entries = _tensor_entries(header, path, data_size)
        tensors = {}
        for begin, end, name, dtype, shape in entries:  # in file order: one pass
            array = np.empty(shape, dtype=dtype)
            if end > begin and f.readinto(memoryview(array.reshape(-1).view(np.uint8))) != (
                end - begin
            ):
                raise CheckpointError(f"{path}: truncated (tensor {name!r} ends early)")
            tensors[name] = array
    return {name: tensors[name] for name in header}, metadata


def _tensor_entries(header: dict, path: Path, data_size: int) -> list[tuple]:
    """``(begin, end, name, dtype, shape)`` of every tensor in file order, each checked
    against the data (inside it, its bytes its shape's) and all of them tiling it exactly."""
    entries = []
    for name, entry in header.items():
        try:
            dtype = np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")
            shape = [int(s) for s in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            bad = f"{path}: tensor {name!r} has a bad header entry ({exc})"
            raise CheckpointError(bad) from None
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= data_size:
            raise CheckpointError(f"{path}: tensor {name!r} lies outside the file's data")
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise CheckpointError(
                f"{path}: tensor {name!r} of shape {shape} does not fit its {end - begin} bytes"
            )
        entries.append((begin, end, name, dtype, shape))
    entries.sort(key=lambda e: (e[0], e[1]))
    position = 0
    for begin, end, *_ in entries:
        if begin != position:
            raise CheckpointError(f"{path}: the tensors' data overlap or leave gaps")
        position = end
    if position != data_size:
        raise CheckpointError(f"{path}: {data_size - position} bytes after the last tensor")
    return entries


def _parse_header(raw: bytes, path: Path, size: int):
    """The header's JSON, its lists and dicts counted first (bounded by its length)."""
    # a real header has 3 containers per tensor entry of 50+ bytes (and the
    # config inside the "rnnkit" string has few): 1 per 8 bytes is generous
    check_json_counts(
        raw, path, "safetensors header",
        max_containers=len(raw) // 8 + 4096, max_values=len(raw) + 1, file_size=size,
    )  # fmt: skip
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise CheckpointError(f"{path}: corrupt safetensors header (nested too deep)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt safetensors header ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def read_export(path: str | os.PathLike) -> dict:
    """The ``{"app", "config", "model"}`` tree of a file written by
    :func:`rnnkit.interop.safetensors.export_app`
    (the same tree a model-only checkpoint holds); one-line :class:`CheckpointError`
    for any other file."""
    tensors, metadata = load_file(path)
    try:
        meta = json.loads(metadata["rnnkit"])
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        if json_depth(meta) > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if meta.get("format") != FORMAT or int(meta.get("version", 0)) > VERSION:
            raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}")
        app, config = meta["app"], meta["config"]
        if not isinstance(app, str) or not isinstance(config, dict):
            raise ValueError("'app' must be a string and 'config' a dict")
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        detail = _one_line(exc) if not isinstance(exc, KeyError) else f"no {exc}"
        raise CheckpointError(
            f"{path}: not an rnnkit export (metadata 'rnnkit': {detail})"
        ) from None
    return {"app": app, "config": config, "model": tensors}
