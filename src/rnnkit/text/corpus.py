"""Character corpora: reading, the character vocabulary, splitting and stream batching.

The text generator sees a corpus as one long sequence of symbols: the Unicode
code points of a UTF-8 file or, with ``encoding="bytes"``, the byte values of
any file. The validation split is the tail of the text (never shuffled into
training). Training batches follow char-rnn: the training stream is cut into
``B`` contiguous parallel streams, read ``T`` symbols at a time, so that the
hidden state at the end of one chunk is the right starting state of the next
(truncated backpropagation through time).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
import sysconfig
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .readers import read_file_bytes

ENCODINGS = ("utf-8", "bytes")

#: the default corpus is capped at this many characters (a couple of MB of Python)
DEFAULT_CORPUS_CHARS = 2_000_000
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}

Text = str | bytes  # a UTF-8 corpus is a str, a bytes corpus is bytes


class CorpusError(ValueError):
    """The corpus cannot be used (missing, empty, not UTF-8, too short): one-line message."""


# -- reading --------------------------------------------------------------------
def read_corpus(
    path: str | os.PathLike,
    encoding: str = "utf-8",
    utf8_hint: str = "use --encoding bytes to train on its raw bytes",
) -> Text:
    """Read a whole file as ``str`` (``"utf-8"``) or ``bytes`` (``"bytes"``).

    Raises :class:`CorpusError` for a missing, empty or unreadable file, one
    that is not a regular file (a FIFO, a device), or a file that is not valid
    UTF-8 (naming the offset, then ``utf8_hint``: what the caller can do).
    """
    check_encoding(encoding)
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus file not found: {path}")
    if path.is_dir():
        raise CorpusError(f"corpus is a directory, expected a text file: {path}")
    data = read_file_bytes(path, CorpusError)  # a FIFO or device is refused, not read
    if not data:
        raise CorpusError(f"corpus file is empty: {path}")
    if encoding == "bytes":
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
            + (f"; {utf8_hint}" if utf8_hint else "")
        ) from None


#: the streaming readers read the corpus this many bytes at a time
CHUNK_BYTES = 4 << 20


def iter_corpus(
    path: str | os.PathLike,
    encoding: str = "utf-8",
    utf8_hint: str = "use --encoding bytes to train on its raw bytes",
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[tuple[bytes, Text]]:
    """Read a file ``chunk_bytes`` at a time: ``(raw bytes, text)`` per chunk, never the
    whole file in memory.

    The text is ``str`` (``"utf-8"``: decoded incrementally, so a character cut by a
    chunk boundary comes whole with the next chunk) or the same ``bytes``. The checks
    and one-line errors are :func:`read_corpus`'s (a missing, empty or non-regular
    file; invalid UTF-8 named by its offset in the file); joining the texts gives
    ``read_corpus(path, encoding)``.
    """
    check_encoding(encoding)
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus file not found: {path}")
    if path.is_dir():
        raise CorpusError(f"corpus is a directory, expected a text file: {path}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CorpusError(f"{path}: cannot open ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CorpusError(f"{path}: is not a regular file; give a file")
        decoder = codecs.getincrementaldecoder("utf-8")() if encoding == "utf-8" else None
        offset = 0  # bytes read before this chunk
        while True:
            try:
                raw = f.read(chunk_bytes)
            except OSError as exc:
                raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
            if not raw and offset == 0:
                raise CorpusError(f"corpus file is empty: {path}")
            if decoder is None:
                if not raw:
                    return
                yield raw, raw
            else:
                held = len(decoder.getstate()[0])  # bytes of a cut character, held back
                try:
                    text = decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as exc:
                    at = offset - held + exc.start
                    raise CorpusError(
                        f"{path} is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at "
                        f"offset {at})" + (f"; {utf8_hint}" if utf8_hint else "")
                    ) from None
                if not raw:
                    return
                yield raw, text
            offset += len(raw)


@dataclass(frozen=True)
class CorpusScan:
    """What one streaming pass over a corpus file learns (:func:`scan_corpus`): its
    distinct ``symbols`` (sorted), its ``length`` in symbols, the ``sha256`` of its
    bytes (the fingerprint ``sha256_text`` gives the whole text) and its ``size`` in
    bytes."""

    symbols: tuple[int, ...]
    length: int
    sha256: str
    size: int
    encoding: str

    def vocab(self, markers: bool = False) -> CharVocab:
        """The vocabulary of the corpus (``CharVocab.from_text`` of the whole text)."""
        return CharVocab(self.symbols, self.encoding, markers)


def scan_corpus(
    path: str | os.PathLike,
    encoding: str = "utf-8",
    utf8_hint: str = "use --encoding bytes to train on its raw bytes",
    chunk_bytes: int = CHUNK_BYTES,
) -> CorpusScan:
    """The first pass over a corpus too large to hold: its symbols counted chunk by
    chunk (see :func:`iter_corpus`), its bytes hashed; memory bounded by the chunk."""
    digest, seen, length, size = hashlib.sha256(), set(), 0, 0
    for raw, text in iter_corpus(path, encoding, utf8_hint, chunk_bytes):
        digest.update(raw)
        size += len(raw)
        length += len(text)  # code points (a str) or bytes
        seen.update(set(text))
    symbols = seen if encoding == "bytes" else map(ord, seen)
    return CorpusScan(tuple(sorted(symbols)), length, digest.hexdigest(), size, encoding)


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest dtype that holds ``vocab_size`` ids: uint8, uint16 or int32."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def encode_corpus(
    path: str | os.PathLike,
    vocab: CharVocab,
    write: Callable[[bytes], object],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, str, str]:
    """The second pass: the corpus encoded chunk by chunk, each chunk's ids (as
    :func:`ids_dtype`) handed to ``write``; ``progress(bytes read)`` after each chunk.

    Returns ``(length in symbols, sha256 of the ids bytes, sha256 of the corpus)``.
    """
    dtype = ids_dtype(len(vocab))
    ids_digest, corpus_digest, length, done = hashlib.sha256(), hashlib.sha256(), 0, 0
    for raw, text in iter_corpus(path, vocab.encoding, chunk_bytes=chunk_bytes):
        corpus_digest.update(raw)
        done += len(raw)
        if len(text):
            block = vocab.encode(text).astype(dtype).tobytes()
            ids_digest.update(block)
            write(block)
            length += len(text)
        if progress is not None:
            progress(done)
    return length, ids_digest.hexdigest(), corpus_digest.hexdigest()


def sha256_file(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> str:
    """The sha256 of a file, read ``chunk_bytes`` at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise CorpusError(f"encoding must be one of {', '.join(ENCODINGS)}, received {encoding!r}")


def default_corpus(max_chars: int = DEFAULT_CORPUS_CHARS) -> str:
    """Python source code from this interpreter's standard library; no download.

    Deterministic for a given Python installation: the ``.py`` files under the
    stdlib directory (test suites and site-packages left out) in sorted path
    order, each preceded by a ``# file: <path>`` line, concatenated until the
    next file would pass ``max_chars``.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    total = 0
    for rel in _stdlib_sources(root):
        try:
            source = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        piece = f"# file: {rel}\n{source.rstrip()}\n\n"
        if total + len(piece) > max_chars:
            if parts:
                break
            piece = piece[:max_chars]
        parts.append(piece)
        total += len(piece)
    if not parts:
        raise CorpusError(f"no Python source files found under {root} for the default corpus")
    return "".join(parts)


def _stdlib_sources(root: Path) -> list[str]:
    """Relative POSIX paths of the stdlib's ``.py`` files, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        rel_dir = Path(dirpath).relative_to(root)
        found.extend((rel_dir / f).as_posix() for f in filenames if f.endswith(".py"))
    return sorted(found)


# -- vocabulary -------------------------------------------------------------------
@dataclass(frozen=True)
class CharVocab:
    """Symbols <-> ids. ``symbols`` are code points (``"utf-8"``) or byte values (``"bytes"``),
    sorted, so ids follow code-point order as in char-rnn.

    With ``markers`` (documents mode) two more ids follow the symbols: ``start_id =
    len(symbols)`` (a document begins) and ``end_id = len(symbols) + 1`` (it ends). They
    are no character, so no text encodes to them and :meth:`decode` writes nothing for
    them; ``len(vocab)`` counts them. A vocabulary saved without the key has no markers.
    """

    symbols: tuple[int, ...]
    encoding: str = "utf-8"
    markers: bool = False

    @classmethod
    def from_text(cls, text: Text, markers: bool = False) -> CharVocab:
        if isinstance(text, bytes):
            return cls(tuple(sorted(set(text))), "bytes", markers)
        return cls(tuple(sorted({ord(c) for c in text})), "utf-8", markers)

    def __post_init__(self) -> None:
        check_encoding(self.encoding)
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    def __len__(self) -> int:
        return len(self.symbols) + (2 if self.markers else 0)

    @property
    def start_id(self) -> int:
        """The id of the start-of-document marker (a vocabulary with ``markers`` only)."""
        if not self.markers:
            raise ValueError("this vocabulary has no document markers")
        return len(self.symbols)

    @property
    def end_id(self) -> int:
        """The id of the end-of-document marker (a vocabulary with ``markers`` only)."""
        if not self.markers:
            raise ValueError("this vocabulary has no document markers")
        return len(self.symbols) + 1

    def unknown(self, text: Text) -> list[str]:
        """The distinct symbols of ``text`` outside the vocabulary, shown readably."""
        seen = set(text) if isinstance(text, bytes) else {ord(c) for c in text}
        return [self.show(s) for s in sorted(seen - self._index.keys())]

    def encode(self, text: Text) -> np.ndarray:
        """``text`` -> int32 ids; unknown symbols raise :class:`CorpusError` naming them."""
        if (self.encoding == "bytes") != isinstance(text, bytes):
            kind = "bytes" if self.encoding == "bytes" else "str"
            raise CorpusError(f"this vocabulary encodes {kind}, received {type(text).__name__}")
        unknown = self.unknown(text)
        if unknown:
            shown = ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else "")
            raise CorpusError(f"{len(unknown)} character(s) not in the vocabulary: {shown}")
        codes = (
            np.frombuffer(text, dtype=np.uint8)
            if isinstance(text, bytes)
            else np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        )
        lookup = np.full(max(self.symbols) + 1, -1, dtype=np.int32)
        lookup[list(self.symbols)] = np.arange(len(self.symbols), dtype=np.int32)
        return lookup[codes]

    def decode(self, ids: Iterable[int]) -> Text:
        """ids -> ``str`` (or ``bytes`` for a bytes vocabulary); the document markers
        write nothing."""
        n = len(self.symbols)
        symbols = [self.symbols[int(i)] for i in ids if not (self.markers and n <= int(i) < n + 2)]
        if self.encoding == "bytes":
            return bytes(symbols)
        return "".join(map(chr, symbols))

    def show(self, symbol: int) -> str:
        """A readable name for one symbol: ``'a'``, ``'\\n'``, ``U+00E9 'é'``, ``0xe9``."""
        if symbol < 128:
            return repr(chr(symbol))
        if self.encoding == "bytes":
            return f"0x{symbol:02x}"
        return f"U+{symbol:04X} {chr(symbol)!r}"

    def to_dict(self) -> dict:
        """JSON; ``"markers": true`` only for a vocabulary with markers (so one without is
        saved as before)."""
        data = {"encoding": self.encoding, "symbols": list(self.symbols)}
        if self.markers:
            data["markers"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CharVocab:
        """Inverse of :meth:`to_dict`; a symbol that is no code point (or byte) is a ValueError."""
        encoding = data["encoding"]
        if encoding not in ENCODINGS:
            raise ValueError(
                f"vocabulary encoding must be one of {', '.join(ENCODINGS)}, received {encoding!r}"
            )
        raw = data["symbols"]
        if not isinstance(raw, list) or not raw:
            raise ValueError("vocabulary symbols must be a non-empty list")
        top = 0xFF if encoding == "bytes" else 0x10FFFF
        for s in raw:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= top:
                kind = "a byte value" if encoding == "bytes" else "a Unicode code point"
                raise ValueError(f"vocabulary symbol {s!r} is not {kind}")
        symbols = tuple(raw)
        if list(symbols) != sorted(set(symbols)):
            raise ValueError("vocabulary symbols must be sorted and distinct")
        markers = data.get("markers", False)
        if not isinstance(markers, bool):
            raise ValueError(f"vocabulary markers must be true or false, received {markers!r}")
        return cls(symbols, encoding, markers)


# -- splitting and batching ------------------------------------------------------------
def split_tail(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Training head and validation tail: the last ``val_fraction`` of the symbols."""
    if not 0 <= val_fraction < 1:
        raise CorpusError(f"val_fraction must be in [0, 1), received {val_fraction}")
    n_val = int(round(len(ids) * val_fraction))
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


DOCUMENT_MODES = ("none", "lines", "blank-lines")


def split_documents(text: Text, mode: str) -> list[Text]:
    """The documents of a corpus: each non-empty line (``"lines"``; a ``\r`` before the
    newline dropped) or each block of lines between blank lines (``"blank-lines"``: lines
    of only whitespace separate; a block keeps its inner newlines, not its outer ones).
    Empty documents are left out."""
    if mode not in DOCUMENT_MODES[1:]:
        raise CorpusError(f"documents must be lines or blank-lines, received {mode!r}")
    nl, cr = ("\n", "\r") if isinstance(text, str) else (b"\n", b"\r")
    lines = [line[:-1] if line.endswith(cr) else line for line in text.split(nl)]
    if mode == "lines":
        return [line for line in lines if len(line)]
    docs, block = [], []
    for line in lines + [nl[:0]]:
        if line.strip():
            block.append(line)
        elif block:
            docs.append(nl.join(block))
            block = []
    return docs


def split_documents_held_out(
    count: int, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and held-out documents (each sorted): ``round(count *
    val_fraction)`` documents drawn with a fixed ``seed`` (so every run on a corpus holds
    out the same ones), at least one document kept for training."""
    if not 0 <= val_fraction < 1:
        raise CorpusError(f"val_fraction must be in [0, 1), received {val_fraction}")
    n_val = min(int(round(count * val_fraction)), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class StreamBatches:
    """char-rnn batching: ``B`` contiguous streams read ``T`` symbols at a time.

    The data is trimmed to ``B * L + 1`` symbols (``L`` a multiple of ``T``)
    and laid out as ``inputs (B, L)`` and ``targets (B, L)`` = inputs shifted
    by one; stream ``b`` is the ``b``-th contiguous slice of the text. Chunk
    ``i`` is columns ``[i*T, (i+1)*T)``, returned time-major for the engine.
    Chunk ``i + 1`` of stream ``b`` continues chunk ``i`` exactly, so the
    final hidden state of one chunk is the initial state of the next.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_length: int, *, what: str = "text"):
        self.batch_size, self.seq_length = int(batch_size), int(seq_length)
        stream_length = self.stream_length(len(ids), batch_size, seq_length, what=what)
        n = batch_size * stream_length
        # views, never copies: a memory-mapped ``ids`` (np.memmap) stays on disk, and
        # only the chunks read are brought in
        self.inputs = ids[:n].reshape(batch_size, stream_length)
        self.targets = ids[1 : n + 1].reshape(batch_size, stream_length)
        self.num_chunks = stream_length // seq_length

    @staticmethod
    def stream_length(length: int, batch_size: int, seq_length: int, *, what: str = "text") -> int:
        """The length ``L`` of each of the ``B`` streams of a text of ``length`` symbols
        (a multiple of ``seq_length``); too short a text is a one-line CorpusError."""
        if batch_size < 1 or seq_length < 1:
            raise CorpusError(
                f"batch_size and seq_length must be >= 1, received {batch_size} and {seq_length}"
            )
        stream_length = (length - 1) // batch_size // seq_length * seq_length
        if stream_length < seq_length:
            need = batch_size * seq_length + 1
            raise CorpusError(
                f"the {what} has {length} characters, too short for batches of "
                f"{batch_size} x {seq_length} (needs at least {need}); use a longer "
                "corpus or a smaller --batch-size / --seq-length"
            )
        return stream_length

    def __len__(self) -> int:
        return self.num_chunks

    def chunk(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ``index`` as ``(inputs (T, B), targets (T, B))`` int arrays."""
        if not 0 <= index < self.num_chunks:
            raise IndexError(f"chunk index must be in [0, {self.num_chunks}), received {index}")
        cols = slice(index * self.seq_length, (index + 1) * self.seq_length)
        # ids stored narrower (uint8, uint16 in a corpus file) come out as int32
        dtype = np.int32 if self.inputs.dtype.itemsize < 4 else self.inputs.dtype
        return (
            np.ascontiguousarray(self.inputs[:, cols].T, dtype=dtype),
            np.ascontiguousarray(self.targets[:, cols].T, dtype=dtype),
        )


def eval_streams(
    ids: Sequence[int] | np.ndarray, num_streams: int
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation layout: ``num_streams`` contiguous streams covering all but < ``num_streams``
    symbols, as ``inputs (L, B)`` and ``targets (L, B)`` (time-major).

    Unlike :class:`StreamBatches`, nothing is trimmed to a multiple of a chunk
    length, so (almost) every symbol of a short validation text is scored.
    """
    ids = np.asarray(ids)
    if len(ids) < 2:
        raise CorpusError(f"evaluation text needs at least 2 characters, has {len(ids)}")
    num_streams = max(1, min(int(num_streams), (len(ids) - 1)))
    length = (len(ids) - 1) // num_streams
    n = num_streams * length
    inputs = ids[:n].reshape(num_streams, length).T
    targets = ids[1 : n + 1].reshape(num_streams, length).T
    return np.ascontiguousarray(inputs), np.ascontiguousarray(targets)
