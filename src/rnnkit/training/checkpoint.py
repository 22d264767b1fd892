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

Loading never runs code (no pickle, object arrays refused) and is bounded
(:func:`load_checkpoint`): the JSON is at most :data:`MAX_META_BYTES` and
:data:`META_SIZE_RATIO` times the file's size, holds a number of lists, dicts
and values proportional to the file's size (counted before it is parsed, see
:func:`check_json_counts`) and nests at most :data:`MAX_JSON_DEPTH` deep;
only the arrays the skeleton names are read (other members of the zip are
never decompressed), and each member's ``.npy`` header
must agree with the uncompressed size in the zip directory before its array is
allocated; their total must fit in the memory the machine has available. So a
load needs about the bytes of the named arrays, and a crafted file is refused
in one line. Files are written atomically (:func:`atomic_write`). Every
problem on loading raises :class:`CheckpointError` with a one-line message.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import shutil
import tempfile
import zipfile
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

#: the metadata JSON may be at most this large (bytes) ...
MAX_META_BYTES = 256 * 2**20
#: ... and at most this many times the size of the whole file: ``np.savez`` stores
#: the metadata uncompressed (ratio 1), and JSON that some tool re-zipped with
#: deflate shrinks 3-10x, so 16 leaves room for that while a "zip bomb" of
#: ``[],[],...`` (200 MB in a 566 KB file: ratio 370) is refused unread ...
META_SIZE_RATIO = 16
#: ... and it may hold at most ``file size / 16 + 10,000`` lists and dicts
#: (the test runs' checkpoints have one per 400-700 bytes of file; each costs
#: 56-200 bytes of Python objects) ...
META_BYTES_PER_CONTAINER = 16
META_MIN_CONTAINERS = 10_000
#: ... and at most ``file size + 100,000`` values in all (an uncompressed
#: metadata can never have more: each value takes at least one byte) ...
META_MIN_VALUES = 100_000
#: ... nesting lists/dicts at most this deep
MAX_JSON_DEPTH = 64
#: members of the .npz a checkpoint may have (arrays are one member each)
MAX_MEMBERS = 100_000
#: dtype kinds an array may have: bool, ints, floats, complex (never objects or records)
ARRAY_KINDS = "biufc"


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
            integer = [isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in keys]
            if keys and all(integer):
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
#: Fault injection for tests: when set, called as ``fault_hook(operation, path)``
#: before every file operation of a save (``"create"``, ``"write"``, ``"fsync"``,
#: ``"replace"``, ``"fsync_dir"``, ``"append"``); raising there stands for a
#: kill (or a full disk) at that instant.
fault_hook: Callable[[str, Path], None] | None = None


def file_operation(operation: str, path: Path) -> None:
    """Announce a file operation to :data:`fault_hook` (nothing when it is unset)."""
    if fault_hook is not None:
        fault_hook(operation, path)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that readers see either the old or the new version, never half.

    ``write(f)`` fills a temporary file in the same directory; it is flushed,
    fsynced and renamed over ``path`` with :func:`os.replace`. If ``write``
    raises (or the process dies), ``path`` is untouched and the temporary file
    is removed (or left as a harmless ``.*.tmp``). An ``OSError`` (a full disk,
    ``[Errno 28]``) comes out with ``path`` as its filename.
    """
    path = Path(path)
    try:
        file_operation("create", path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _with_path(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            file_operation("write", path)
            write(f)
            f.flush()
            file_operation("fsync", path)
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        file_operation("replace", path)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _with_path(exc, path) from None
        raise
    file_operation("fsync_dir", path)
    _fsync_dir(path.parent)


def _with_path(exc: OSError, path: Path) -> OSError:
    """The same error (errno kept) naming ``path``:
    "[Errno 28] No space left on device: 'RUN/latest.npz'"."""
    if exc.filename is not None and exc.errno is not None and str(exc.filename) == str(path):
        return exc
    code = exc.errno if exc.errno is not None else errno.EIO
    return OSError(code, exc.strerror or str(exc) or os.strerror(code), str(path))


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
    """Read a checkpoint back into its tree, within bounds (see the module docstring).

    With ``app`` the tree's ``"app"`` must match (a sentiment checkpoint is no
    use to the text generator). Raises :class:`CheckpointError` for a missing,
    truncated or corrupt file, another format, a newer version, a missing
    array, metadata too large or too deep, or arrays larger than their zip
    entries say or than the memory available.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        meta = _read_meta(zf, path)
        keys = _array_keys(meta["tree"], path)
        members = {}
        for key in keys:
            info = _member(zf, key)
            if info is None:
                raise CheckpointError(f"{path}: missing array '{key}'")
            members[key] = info
        headers = {key: _npy_header(zf, info, path) for key, info in members.items()}
        total = sum(nbytes for _, _, _, nbytes in headers.values())
        _check_memory(total, path)
        arrays = {key: _read_npy(zf, members[key], headers[key], path) for key in keys}
    try:
        tree = unflatten_tree(meta["tree"], arrays)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: malformed checkpoint tree ({_detail(exc)})") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path}: checkpoint tree is not a dict")
    missing = [k for k in ("app", "config", "model") if k not in tree]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if not isinstance(tree["config"], dict) or not isinstance(tree["model"], dict):
        raise CheckpointError(f"{path}: checkpoint 'config' and 'model' must be dicts")
    if app is not None and tree["app"] != app:
        raise CheckpointError(f"{path}: this is a {tree['app']!r} checkpoint, expected {app!r}")
    return tree


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata of a checkpoint (``format``, ``version``, ``tree`` skeleton), no array.

    The skeleton has ``{"__array__": key}`` where the arrays would be; cheap
    enough to ask a big checkpoint which step it holds.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        return _read_meta(zf, path)


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"not a checkpoint file: {path}")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        kind = sniff(path)
        if kind == "npy":
            raise CheckpointError(f"{path}: not an rnnkit checkpoint (a bare .npy array)") from None
        if kind in FOREIGN:
            raise CheckpointError(f"{path}: {FOREIGN[kind]}") from None
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint (not a zip archive)"
        ) from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # zipfile raises assorted errors on a damaged directory
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({_detail(exc)})") from None
    if len(zf.infolist()) > MAX_MEMBERS:
        zf.close()
        raise CheckpointError(f"{path}: {len(zf.infolist()):,} entries, more than a checkpoint has")
    return zf


#: what rnnkit reads, said after what a file it cannot read is
READS = "rnnkit reads its own checkpoints (.npz) and safetensors exports"
#: one line per kind of file :func:`sniff` recognises (after "PATH: ")
FOREIGN = {
    "safetensors": "rnnkit's safetensors export (weights and config), not a training "
    "checkpoint; textgen sample/eval, sentiment predict/eval and export read it",
    "foreign-safetensors": "a safetensors file without rnnkit's metadata (not written by "
    f"'rnnkit export'); {READS}",
    "onnx": f"an ONNX model, not an rnnkit checkpoint; {READS}; run it with onnxruntime",
    "json": f"a JSON file (an ONNX export's preprocessing sidecar?), not a model; {READS}",
    "pytorch": "a PyTorch (pickle) checkpoint, which rnnkit never loads (pickle runs code); "
    f"{READS}",
    "pickle": f"a Python pickle, which rnnkit never loads (pickle runs code); {READS}",
}


def sniff(path: str | os.PathLike) -> str | None:
    """What kind of file ``path`` is, from its first bytes: ``"npy"``, ``"safetensors"``
    (rnnkit's export), ``"foreign-safetensors"``, ``"onnx"``, ``"json"``,
    ``"pytorch"``, ``"pickle"``, ``"zip"`` or None (unknown). Reads at most 64 KiB."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except Exception:
            return "zip"
        if any(n.endswith("data.pkl") for n in names):
            return "pytorch"
        return "zip"
    if len(head) >= 10:
        n = int.from_bytes(head[:8], "little")
        if 2 <= n <= size - 8 and head[8:9] == b"{":
            # rnnkit's export: the "rnnkit" metadata entry sits near the header's start
            window = head[8 : 8 + min(n, 4096)]
            return "safetensors" if b'"rnnkit"' in window else "foreign-safetensors"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5 and _last_byte(path) == b".":
        return "pickle"  # PROTO 2-5 ... STOP
    if path.suffix.lower() == ".onnx" or _onnx_head(head):
        return "onnx"
    if head.lstrip()[:1] in (b"{", b"[") and path.suffix.lower() == ".json":
        return "json"
    return None


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def _onnx_head(head: bytes) -> bool:
    """An ONNX ``ModelProto`` as serialized: ``ir_version`` (field 1, 3-15), then
    ``producer_name`` (field 2) of printable ASCII."""
    if len(head) < 4 or head[0] != 0x08 or not 3 <= head[1] <= 15 or head[2] != 0x12:
        return False
    name = head[4 : 4 + head[3]]
    return len(name) == head[3] and all(32 <= c < 127 for c in name)


def _member(zf: zipfile.ZipFile, key: str) -> zipfile.ZipInfo | None:
    try:
        return zf.getinfo(key + ".npy")
    except KeyError:
        return None


def _read_meta(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    info = _member(zf, META_KEY)
    if info is None:
        if any(n.endswith("data.pkl") for n in zf.namelist()):
            raise CheckpointError(f"{path}: {FOREIGN['pytorch']}")
        raise CheckpointError(f"{path}: not an rnnkit checkpoint (no '{META_KEY}' entry)")
    try:
        file_size = os.path.getsize(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    limit = min(MAX_META_BYTES, META_SIZE_RATIO * file_size) + 1024  # + the .npy header
    if info.file_size > limit:
        raise CheckpointError(
            f"{path}: checkpoint metadata of {info.file_size:,} bytes is larger than the "
            f"{limit - 1024:,} allowed in a file of {file_size:,} bytes "
            f"(at most {META_SIZE_RATIO} times the file, and {MAX_META_BYTES:,})"
        )
    header = _npy_header(zf, info, path)
    if header[1] != np.dtype(np.uint8) or len(header[0]) != 1:
        raise CheckpointError(f"{path}: checkpoint metadata is not a byte array")
    blob = _read_npy(zf, info, header, path).tobytes()
    check_json_counts(
        blob, path, "checkpoint metadata",
        max_containers=file_size // META_BYTES_PER_CONTAINER + META_MIN_CONTAINERS,
        max_values=file_size + META_MIN_VALUES, file_size=file_size,
    )  # fmt: skip
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: checkpoint metadata is not UTF-8") from None
    del blob
    try:
        meta = json.loads(text)
    except RecursionError:
        raise CheckpointError(
            f"{path}: checkpoint metadata nests too deep (at most {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({_detail(exc)})") from None
    depth = json_depth(meta)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointError(
            f"{path}: checkpoint metadata nests {depth} levels deep (at most {MAX_JSON_DEPTH})"
        )
    _check_meta(meta, path)
    return meta


def check_json_counts(
    data: bytes,
    path: str | os.PathLike,
    what: str,
    *,
    max_containers: int,
    max_values: int,
    file_size: int,
) -> None:
    """Refuse JSON ``data`` that would parse into more objects than ``path`` justifies.

    Counts, before parsing and at C speed, the ``[`` and ``{`` (containers) and
    the ``[``, ``{``, ``,`` and ``:`` (an upper bound of the values, less one)
    in the raw bytes, those inside strings included: an over-count, so the
    true numbers are never larger. Raises :class:`CheckpointError` in one line.
    """
    containers = data.count(b"[") + data.count(b"{")
    if containers > max_containers:
        raise CheckpointError(
            f"{path}: {what} holds up to {containers:,} lists and dicts, more than the "
            f"{max_containers:,} a file of {file_size:,} bytes may have"
        )
    values = containers + data.count(b",") + data.count(b":") + 1
    if values > max_values:
        raise CheckpointError(
            f"{path}: {what} holds up to {values:,} values, more than the "
            f"{max_values:,} a file of {file_size:,} bytes may have"
        )


def json_depth(value: Any) -> int:
    """How deeply the lists and dicts of a parsed JSON value nest (0 for a scalar),
    without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node if isinstance(child, (list, dict)))
    return deepest


def _array_keys(skeleton: Any, path: Path) -> list[str]:
    """Every array key the skeleton names (in order, each once)."""
    keys: list[str] = []
    seen: set[str] = set()
    stack = [skeleton]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            if _ARRAY in node:
                key = node[_ARRAY]
                if not isinstance(key, str) or key == META_KEY:
                    raise CheckpointError(f"{path}: invalid array reference {key!r}")
                if key not in seen:
                    seen.add(key)
                    keys.append(key)
            else:
                stack.extend(reversed(list(node.values())))
    return keys


def _npy_header(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path
) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """``(shape, dtype, fortran_order, nbytes)`` of a member, read from its first bytes only.

    The data size the header implies must be exactly what the zip directory
    says the member holds uncompressed: nothing is allocated on a claim the
    file cannot back.
    """
    name = info.filename
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            offset = f.tell()
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path}: corrupt array '{name}' ({_detail(exc)})") from None
    if dtype.hasobject or dtype.kind not in ARRAY_KINDS or dtype.fields is not None:
        raise CheckpointError(f"{path}: array '{name}' has dtype {dtype}, not a plain number type")
    count = 1
    for n in shape:
        count *= int(n)
    nbytes = count * dtype.itemsize
    if offset + nbytes != info.file_size:
        raise CheckpointError(
            f"{path}: array '{name}' claims shape {tuple(shape)} of {dtype} ({nbytes:,} bytes) "
            f"but its zip entry holds {max(info.file_size - offset, 0):,}"
        )
    return tuple(int(n) for n in shape), dtype, bool(fortran), nbytes


def _read_npy(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    header: tuple[tuple[int, ...], np.dtype, bool, int],
    path: Path,
) -> np.ndarray:
    """The member's array, read in chunks straight into its buffer (1x its bytes)."""
    shape, dtype, fortran, nbytes = header
    array = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
    target = memoryview(array.reshape(-1).view(np.uint8)) if nbytes else None
    try:
        with zf.open(info) as f:
            f.seek(info.file_size - nbytes)
            done = 0
            while done < nbytes:
                chunk = f.read(min(nbytes - done, 1 << 20))
                if not chunk:
                    raise EOFError("the data ends early")
                target[done : done + len(chunk)] = chunk
                done += len(chunk)
    except Exception as exc:  # zlib, CRC and EOF errors all mean "damaged"
        raise CheckpointError(
            f"{path}: corrupt or truncated array '{info.filename}' ({_detail(exc)})"
        ) from None
    return array.T if fortran else array


def _check_memory(nbytes: int, path: Path) -> None:
    from .memory import available_memory, format_bytes

    available = available_memory()
    if available is not None and nbytes > available:
        raise CheckpointError(
            f"{path}: its arrays need {format_bytes(nbytes)}, more than the "
            f"{format_bytes(available)} of memory available"
        )


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def check_parameter_count(expected: int, weights: Any) -> None:
    """Refuse, before a model is built, a config whose sizes disagree with the saved weights.

    ``expected`` is the parameter count the config's sizes imply (counted, not
    allocated); ``weights`` the checkpoint's ``model`` dict of arrays. So a
    config that claims ``num_layers: 1000000000`` next to a few kilobytes of
    weights costs nothing but this check. Raises ``ValueError`` (the caller
    names the file, see :func:`config_error`).
    """
    if not isinstance(weights, Mapping) or not all(
        isinstance(a, np.ndarray) for a in weights.values()
    ):
        raise ValueError("the checkpoint's 'model' is not a dict of arrays")
    present = sum(int(a.size) for a in weights.values())
    if expected != present:
        raise ValueError(
            f"the configuration describes a model of {expected:,} parameters "
            f"but the file holds {present:,} weights"
        )


def config_error(path: str | os.PathLike, what: str, exc: BaseException) -> CheckpointError:
    """One line for a checkpoint whose config cannot be used: a missing key is named as such."""
    if isinstance(exc, KeyError):
        detail = f"missing key {exc.args[0]!r}" if exc.args else "a key is missing"
    else:
        detail = _detail(exc)
    return CheckpointError(f"{path}: not a valid {what} checkpoint ({detail})")


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
