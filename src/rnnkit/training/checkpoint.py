"""The one checkpoint format: an ``.npz`` of arrays plus JSON metadata, never pickle.

Format ``rnnkit-checkpoint``, version 1. A checkpoint is a nested dict (the
*tree*) of dicts, lists, tuples, JSON scalars and NumPy arrays. Saving splits
it in two (:func:`flatten_tree`):

* every array goes into the ``.npz`` under a flat key made of its path joined
  with ``/`` (``model/rnn.weight_ih_l0``, ``optimizer/state/0/exp_avg``);
* everything else stays in a JSON *skeleton* in which each array is replaced
  by ``{"__array__": "<key>"}``; dicts whose keys are all ints become
  ``{"__intkeys__": [[k, v], ...]}`` and tuples ``{"__tuple__": [...]}`` so
  that they come back as they went in.

The skeleton is stored under ``tree`` in the metadata, UTF-8 JSON bytes kept
as a uint8 array under the key ``__meta__``::

    {"format": "rnnkit-checkpoint", "version": 1, "rnnkit_version": "0.1.0",
     "created": "<ISO 8601 UTC>", "tree": {...}}

Files are read with ``np.load(..., allow_pickle=False)``: loading never runs
code. Files are written atomically (:func:`atomic_write`). Every problem on
loading raises :class:`CheckpointError` with a one-line message.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

FORMAT_NAME = "rnnkit-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__meta__"

_ARRAY = "__array__"
_INTKEYS = "__intkeys__"
_TUPLE = "__tuple__"
_MARKERS = (_ARRAY, _INTKEYS, _TUPLE)


class CheckpointError(Exception):
    """A checkpoint could not be read (or written): the message is one line."""


# -- tree <-> (JSON skeleton, flat arrays) ------------------------------------
def flatten_tree(tree: Any, prefix: str = "") -> tuple[Any, dict[str, np.ndarray]]:
    """Split a nested tree into a JSON-able skeleton and ``{flat_key: array}``.

    ``prefix`` is the path of ``tree`` itself (``"model"`` gives keys
    ``model/...``). NumPy scalars become Python scalars.
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, np.ndarray):
            if node.dtype.hasobject:
                raise ValueError(f"cannot save an object array at '{path}'")
            if path in arrays or path == META_KEY:
                raise ValueError(f"two arrays would share the key '{path}'")
            arrays[path] = node
            return {_ARRAY: path}
        if isinstance(node, np.generic):
            return node.item()
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, tuple):
            return {_TUPLE: [walk(v, _join(path, str(i))) for i, v in enumerate(node)]}
        if isinstance(node, list):
            return [walk(v, _join(path, str(i))) for i, v in enumerate(node)]
        if isinstance(node, Mapping):
            keys = list(node.keys())
            if keys and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys):
                return {_INTKEYS: [[int(k), walk(node[k], _join(path, str(k)))] for k in keys]}
            out = {}
            for k in keys:
                if not isinstance(k, str):
                    raise ValueError(
                        f"dict keys at '{path or '/'}' must be all str or all int, received {k!r}"
                    )
                if k in _MARKERS:
                    raise ValueError(f"the key '{k}' is reserved (at '{path or '/'}')")
                out[k] = walk(node[k], _join(path, k))
            return out
        raise ValueError(f"cannot save a {type(node).__name__} at '{path or '/'}'")

    return walk(tree, prefix), arrays


def unflatten_tree(skeleton: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Inverse of :func:`flatten_tree`; a missing array raises :class:`CheckpointError`."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            if _ARRAY in node:
                key = node[_ARRAY]
                if key not in arrays:
                    raise CheckpointError(f"missing array '{key}'")
                return arrays[key]
            if _INTKEYS in node:
                return {int(k): walk(v) for k, v in node[_INTKEYS]}
            if _TUPLE in node:
                return tuple(walk(v) for v in node[_TUPLE])
            return {k: walk(v) for k, v in node.items()}
        return node

    return walk(skeleton)


def _join(path: str, key: str) -> str:
    return f"{path}/{key}" if path else key


# -- atomic files ------------------------------------------------------------
def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that readers see either the old or the new version, never half.

    ``write(f)`` fills a temporary file in the same directory; it is flushed,
    fsynced and renamed over ``path`` with :func:`os.replace`. If ``write``
    raises (or the process dies), ``path`` is untouched and the temporary file
    is removed (or left as a harmless ``.*.tmp``).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy ``src`` to ``dst`` atomically (used for ``best.npz``)."""
    with open(src, "rb") as f_in:
        atomic_write(dst, lambda f_out: shutil.copyfileobj(f_in, f_out))


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- save / load -------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, tree: Mapping[str, Any]) -> None:
    """Save ``tree`` (see the module docstring) atomically to ``path`` (an ``.npz``)."""
    from .. import __version__

    skeleton, arrays = flatten_tree(dict(tree))
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "rnnkit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tree": skeleton,
    }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **{META_KEY: blob}, **arrays))


def load_checkpoint(path: str | os.PathLike, app: str | None = None) -> dict[str, Any]:
    """Read a checkpoint back into its tree.

    With ``app`` the tree's ``"app"`` must match (a sentiment checkpoint is no
    use to the text generator). Raises :class:`CheckpointError` for a missing,
    truncated or corrupt file, another format, a newer version, or a missing
    array.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"not a checkpoint file: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not an rnnkit checkpoint (a bare .npy array)")
        with loaded as npz:
            if META_KEY not in npz.files:
                raise CheckpointError(f"{path}: not an rnnkit checkpoint (no '{META_KEY}' entry)")
            meta = json.loads(npz[META_KEY].tobytes().decode("utf-8"))
            _check_meta(meta, path)
            arrays = {k: npz[k] for k in npz.files if k != META_KEY}
    except CheckpointError:
        raise
    except Exception as exc:  # zipfile, zlib, numpy and JSON errors all mean "damaged"
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({detail})") from None
    try:
        tree = unflatten_tree(meta["tree"], arrays)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path}: checkpoint tree is not a dict")
    missing = [k for k in ("app", "config", "model") if k not in tree]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if app is not None and tree["app"] != app:
        raise CheckpointError(f"{path}: this is a {tree['app']!r} checkpoint, expected {app!r}")
    return tree


def _check_meta(meta: Any, path: Path) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        name = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path}: not an rnnkit checkpoint (format {name!r})")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: invalid checkpoint version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} was written by a newer rnnkit "
            f"(this one reads up to version {FORMAT_VERSION}); upgrade rnnkit"
        )
    if "tree" not in meta:
        raise CheckpointError(f"{path}: checkpoint metadata has no 'tree'")
