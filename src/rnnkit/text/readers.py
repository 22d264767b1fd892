"""Readers for labelled text: one function per file layout, one result type.

Every reader returns :class:`LabeledTexts` (parallel lists of texts and label
strings). Supported layouts (``format=``):

* ``"tsv"`` / ``"csv"``: a header row naming the columns, then one example per
  row; the text and label columns are chosen by name (or 0-based index) and
  otherwise guessed from common names (``sentence``/``text``/``review``...,
  ``label``/``sentiment``...). TSV rows are split on TAB with no quoting and
  each field is stripped, so GLUE SST-2's ``"text <TAB>label"`` (space before
  the TAB) reads cleanly; CSV follows RFC 4180 quoting.
* ``"label-first"``: ``<label> <text>`` per line (the sentence-level SST files).
* ``"fasttext"``: ``__label__<label> <text>`` per line.
* ``"folder"``: a directory with one sub-directory per class and one file per
  example (the aclImdb layout; its unlabelled ``unsup`` folder is skipped).

``"auto"`` picks the layout from the path: a directory is ``folder``,
``.tsv``/``.csv`` (optionally ``.gz``) name their format, anything else is
``fasttext`` if its first line starts with ``__label__`` and ``label-first``
otherwise.

Files are read as bytes, gunzipped when they start with the gzip magic number
(whatever their name), decoded as UTF-8 (or the ``encoding`` given, e.g.
``"latin-1"``) and split on ``"\\n"`` only: ``str.splitlines()`` would also
break lines at U+0085 (NEL) and friends, which occur inside IMDB reviews.
Blank lines are skipped. Anything else that cannot be parsed raises
:class:`DataError` naming the file and the 1-based line number.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import stat
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("auto", "tsv", "csv", "label-first", "fasttext", "folder")


def _option(default: Any, help: str, **metadata: Any) -> Any:
    # an option field as rnnkit.training.settings.option makes it (text sits below training)
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class LabeledFileOptions:
    """How a labelled data file is read: the keywords of :func:`read_labeled` a user sets
    (the data options of ``rnnkit sentiment train`` and ``eval``)."""

    format: str = _option("auto", "file layout; auto decides from the name and first line, "
                          "a directory is folder-per-class", choices=FORMATS)  # fmt: skip
    text_column: str | None = _option(None, "TSV/CSV text column, name or 0-based index "
                                      "(guessed)", metavar="COL")  # fmt: skip
    label_column: str | None = _option(None, "TSV/CSV label column, name or 0-based index "
                                       "(guessed)", metavar="COL")  # fmt: skip
    encoding: str = _option("utf-8", "text encoding, e.g. latin-1")
TEXT_COLUMN_NAMES = ("sentence", "text", "review", "content", "document", "comment")
LABEL_COLUMN_NAMES = ("label", "sentiment", "polarity", "class", "category", "target")
SKIPPED_FOLDERS = ("unsup",)
_FASTTEXT_LABEL = "__label__"


class DataError(ValueError):
    """A data file that cannot be used; the message names the file (and line)."""


@dataclass
class LabeledTexts:
    """Parallel lists: ``texts[i]`` carries the label string ``labels[i]``."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))


# -- bytes -> lines ----------------------------------------------------------------


def read_file_bytes(path: str | os.PathLike, error: type[ValueError] | None = None) -> bytes:
    """The bytes of a regular file; anything else is ``error`` (default :class:`DataError`)
    with one line naming the path.

    The file is opened non-blocking and checked with ``fstat`` before a byte is
    read, so a FIFO or a device is refused at once instead of blocking (or
    reading forever); a read that fails (a pseudo-file, a disk error) names
    the path too.
    """
    error = error or DataError
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a file") from None
    except OSError as e:
        raise error(f"{path}: cannot open ({e.strerror or e})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a directory, expected a file")
        if not stat.S_ISREG(mode):
            raise error(f"{path}: is {_file_kind(mode)}, not a regular file; give a file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


#: A gzip file may expand to at most this many times its size (plus ``GZIP_SLACK``).
#: Text gzips 3-10x; deflate's ceiling is about 1032x, which is how a 1 MB "gzip
#: bomb" becomes a gigabyte. Past the bound the file is refused, not read.
GZIP_MAX_RATIO = 100
GZIP_SLACK = 64 << 20


def gunzip(data: bytes, path: str) -> bytes:
    """Decompress every member of a gzip file, refusing more than
    ``GZIP_MAX_RATIO * len(data) + GZIP_SLACK`` bytes of output (checked as it grows)."""
    limit = GZIP_MAX_RATIO * len(data) + GZIP_SLACK
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest:
            d = zlib.decompressobj(wbits=31)  # one gzip member
            chunk = d.decompress(rest, limit - size + 1)
            while True:
                size += len(chunk)
                if size > limit:
                    raise DataError(
                        f"{path}: gzip data expands past {limit:,} bytes "
                        f"({GZIP_MAX_RATIO}x the file), refused; gunzip it yourself if you trust it"
                    )
                out.append(chunk)
                if d.eof or not d.unconsumed_tail:
                    break
                chunk = d.decompress(d.unconsumed_tail, limit - size + 1)
            if not d.eof:
                raise DataError(f"{path}: corrupt gzip data (truncated)")
            rest = d.unused_data.lstrip(b"\x00")  # members may be padded with zeros
    except zlib.error as e:
        raise DataError(f"{path}: corrupt gzip data ({e})") from None
    return b"".join(out)


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """The whole file as one string: gunzipped if needed, decoded, BOM removed."""
    path = os.fspath(path)
    data = read_file_bytes(path)
    if data[:2] == b"\x1f\x8b":
        data = gunzip(data, path)
    try:
        text = data.decode(encoding)
    except LookupError:
        raise DataError(f"unknown text encoding {encoding!r}") from None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}: line {line}: not valid {encoding} (byte 0x{data[e.start]:02x}); "
            "for Latin-1 files pass encoding='latin-1' (--encoding latin-1)"
        ) from None
    return text.removeprefix("\ufeff")


def read_lines(path: str | os.PathLike, encoding: str = "utf-8") -> list[str]:
    """Lines split on ``\\n`` only (a trailing ``\\r`` is dropped, U+0085 is kept)."""
    lines = read_text(path, encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


#: the longest line :func:`stream_lines` takes (characters): a text, not a whole file
MAX_LINE_CHARS = 1_000_000


def stream_lines(
    stream: Any, encoding: str = "utf-8", *, what: str = "stdin",
    max_chars: int = MAX_LINE_CHARS, chunk_size: int = 1 << 16,
) -> Iterator[list[str]]:  # fmt: skip
    """The lines of the binary ``stream`` as they arrive, in bounded memory.

    Each list holds the complete lines one read brought (``read1``: what is
    there, waiting only when nothing is), so a pipe fed one line at a time gets
    each line back at once and a fast one in batches. Lines are split on
    ``\n`` only and lose a trailing ``\r`` (as :func:`read_lines`); a last
    line without ``\n`` counts. A line longer than ``max_chars``, or bytes that
    are not ``encoding``, raise a :class:`DataError` naming ``what`` and the
    line's 1-based number (the lines before it have been yielded).
    """
    decoder = codecs.getincrementaldecoder(encoding)()  # LookupError: unknown encoding
    read = getattr(stream, "read1", None) or stream.read
    pending, done = "", 0  # the line being read; lines yielded so far
    while True:
        chunk = read(chunk_size)
        bad = None  # why the bytes after ``text`` cannot be decoded
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:  # answer the lines before it first
            bad = exc.reason
            try:
                text = (decoder.getstate()[0] + chunk)[: max(exc.start, 0)].decode(encoding)
            except (UnicodeDecodeError, TypeError, IndexError):
                text = ""
        lines = (pending + text).split("\n")
        pending = lines.pop()  # the line not ended yet (at the end: the last, if any)
        if not chunk and bad is None and pending:
            lines.append(pending)
        for i, line in enumerate(lines + [pending]):
            if len(line) > max_chars:
                raise DataError(
                    f"{what} line {done + i + 1} is longer than {max_chars:,} characters "
                    "(one text per line)"
                )
        if lines:
            done += len(lines)
            yield [line[:-1] if line.endswith("\r") else line for line in lines]
        if bad is not None:
            raise DataError(
                f"{what} line {done + 1} is not valid {encoding} ({bad}); try --encoding latin-1"
            )
        if not chunk:
            return


# -- layouts -------------------------------------------------------------------------


def detect_format(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Guess the layout of ``path`` (see the module docstring)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return "folder"
    name = path.lower().removesuffix(".gz")
    if name.endswith(".tsv"):
        return "tsv"
    if name.endswith(".csv"):
        return "csv"
    for line in read_lines(path, encoding):
        if line.strip():
            return "fasttext" if line.lstrip().startswith(_FASTTEXT_LABEL) else "label-first"
    return "label-first"


def read_labeled(
    path: str | os.PathLike,
    format: str = "auto",
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    encoding: str = "utf-8",
    classes: list[str] | None = None,
) -> LabeledTexts:
    """Read labelled examples from ``path`` in any supported layout.

    Args:
        path: a file (plain or gzip) or, for ``format="folder"``, a directory.
        format: one of :data:`FORMATS`.
        text_column, label_column: column names or 0-based indices (tsv/csv).
        encoding: text encoding, ``"utf-8"`` by default, ``"latin-1"`` for old corpora.
        classes: for ``folder``, the sub-directories to read (default: all but ``unsup``).
    """
    if format not in FORMATS:
        raise DataError(f"unknown data format {format!r}; expected one of {list(FORMATS)}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory")
    if format == "auto":
        format = detect_format(path, encoding)
    if format == "folder":
        return read_folder(path, encoding=encoding, classes=classes)
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory; format {format!r} expects a file")
    if format in ("tsv", "csv"):
        return read_table(path, format, text_column, label_column, encoding)
    if format == "fasttext":
        return read_fasttext(path, encoding)
    return read_label_first(path, encoding)


def _column_index(
    header: list[str], wanted: str | int | None, guesses, role: str, path: str
) -> int:
    if wanted is None:
        lowered = [h.lower() for h in header]
        for name in guesses:
            if name in lowered:
                return lowered.index(name)
        raise DataError(
            f"{path}: no {role} column found in header {header}; "
            f"name it with --{role}-column (tried {list(guesses)})"
        )
    if isinstance(wanted, int) or (
        isinstance(wanted, str) and wanted.isdigit() and wanted not in header
    ):
        index = int(wanted)
        if not 0 <= index < len(header):
            raise DataError(f"{path}: {role} column index {index} out of range for header {header}")
        return index
    if wanted not in header:
        raise DataError(f"{path}: no column {wanted!r}; the header has {header}")
    return header.index(wanted)


def read_table(
    path: str,
    format: str = "tsv",
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    encoding: str = "utf-8",
) -> LabeledTexts:
    """A TSV or CSV file whose first non-blank row is a header."""
    lines = read_lines(path, encoding)
    if format == "tsv":
        rows = ((n, [f.strip() for f in line.split("\t")]) for n, line in enumerate(lines, 1))
    else:
        reader = csv.reader(line + "\n" for line in lines)
        rows = _csv_rows(reader, path)
    header = None
    out = LabeledTexts(source=path)
    for number, row in rows:
        if not any(f.strip() for f in row):
            continue
        if header is None:
            header = [f.strip() for f in row]
            ti = _column_index(header, text_column, TEXT_COLUMN_NAMES, "text", path)
            li = _column_index(header, label_column, LABEL_COLUMN_NAMES, "label", path)
            if ti == li:
                raise DataError(f"{path}: text and label are the same column {header[ti]!r}")
            continue
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {number}: expected {len(header)} {format.upper()} fields, "
                f"found {len(row)}"
            )
        text, label = row[ti].strip(), row[li].strip()
        if not text or not label:
            raise DataError(f"{path}: line {number}: empty {'text' if not text else 'label'}")
        out.texts.append(text)
        out.labels.append(label)
    if header is None:
        raise DataError(f"{path}: empty file, expected a header row")
    return out


def _csv_rows(reader, path):
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num}: {e}") from None


_LABEL_FIRST = re.compile(r"\s*(\S+)\s+(\S.*?)\s*$")


def read_label_first(path: str, encoding: str = "utf-8") -> LabeledTexts:
    """``<label> <text>`` per line."""
    out = LabeledTexts(source=path)
    for number, line in enumerate(read_lines(path, encoding), 1):
        if not line.strip():
            continue
        m = _LABEL_FIRST.match(line)
        if m is None:
            raise DataError(
                f"{path}: line {number}: expected '<label> <text>', found {line[:60]!r}"
            )
        out.labels.append(m.group(1))
        out.texts.append(m.group(2))
    return out


def read_fasttext(path: str, encoding: str = "utf-8") -> LabeledTexts:
    """``__label__<label> <text>`` per line (exactly one label per line)."""
    out = LabeledTexts(source=path)
    for number, line in enumerate(read_lines(path, encoding), 1):
        if not line.strip():
            continue
        words = line.split(None, 1)
        if (
            len(words) < 2
            or not words[0].startswith(_FASTTEXT_LABEL)
            or words[0] == _FASTTEXT_LABEL
        ):
            raise DataError(
                f"{path}: line {number}: expected '__label__<label> <text>', found {line[:60]!r}"
            )
        if words[1].startswith(_FASTTEXT_LABEL):
            raise DataError(f"{path}: line {number}: several labels on one line are not supported")
        out.labels.append(words[0][len(_FASTTEXT_LABEL) :])
        out.texts.append(words[1].strip())
    return out


def read_folder(
    path: str, encoding: str = "utf-8", classes: list[str] | None = None
) -> LabeledTexts:
    """One sub-directory per class, one example per (non-hidden) file, sorted by name."""
    if not os.path.isdir(path):
        raise DataError(f"{path}: not a directory")
    found = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    if classes is None:
        classes = [c for c in found if c not in SKIPPED_FOLDERS]
    else:
        missing = [c for c in classes if c not in found]
        if missing:
            raise DataError(f"{path}: no class folder(s) {missing}; found {found}")
    out = LabeledTexts(source=path)
    for label in classes:
        folder = os.path.join(path, label)
        names = sorted(
            e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")
        )
        for name in names:
            text = read_text(os.path.join(folder, name), encoding).strip()
            if not text:
                raise DataError(f"{os.path.join(folder, name)}: empty file")
            out.texts.append(text)
            out.labels.append(label)
    if not out.texts:
        raise DataError(f"{path}: no example files found in class folders {classes}")
    return out


def stream_file_lines(
    path: str | os.PathLike, encoding: str = "utf-8", *, max_chars: int = MAX_LINE_CHARS
) -> Iterator[list[str]]:
    """The lines of a file (plain or gzip) in batches, read as a stream in bounded memory
    (:func:`stream_lines`; errors name the file and the line)."""
    import gzip

    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
        try:
            yield from stream_lines(stream, encoding, what=str(path), max_chars=max_chars)
        except (OSError, EOFError, zlib.error) as exc:
            if not gzipped:
                raise
            raise DataError(f"{path}: corrupt gzip data ({exc})") from None


def read_unlabeled(path: str | os.PathLike, encoding: str = "utf-8") -> list[str]:
    """One text per line (for prediction); blank lines are kept as empty strings."""
    return read_lines(path, encoding)
