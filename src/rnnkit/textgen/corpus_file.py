"""Corpora larger than memory: the corpus encoded once into a file of ids, memory-mapped.

A corpus file of at least :data:`MEMMAP_MIN_BYTES` (one stream, not documents mode)
is never read whole. ``prepare`` makes a first pass (:func:`~rnnkit.text.corpus.scan_corpus`:
its characters counted chunk by chunk, its bytes hashed: the vocabulary and the data
fingerprint); on first use, once the run directory is open (locked, an old run set
aside by ``--force``), a second pass encodes it into ``RUN_DIR/corpus.ids``
(:attr:`~rnnkit.training.RunDir.CORPUS_IDS`, one of the files a run owns: raw ids,
uint8 for up to 256 symbols, then uint16 or int32), written atomically with a
progress line, its sha256 recorded in the checkpoint's ``data["ids"]``. Training
reads its batches from a :class:`numpy.memmap` of it (views, no copy) and evaluation
reads at most ``val_max_chars`` of the validation tail.

On resume the file is checked against the recorded sha256 (a mismatch is refused in
one line) and encoded again if it is missing (the corpus then checked against the
run's fingerprint first). Without a run directory (``out=None``) the ids go to an
anonymous temporary file.
"""

from __future__ import annotations

import mmap
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..text.corpus import (
    CharVocab,
    CorpusError,
    StreamBatches,
    encode_corpus,
    ids_dtype,
    sha256_file,
)
from ..training.checkpoint import atomic_write
from ..training.progress import PLAIN_INTERVAL
from ..training.rundir import RunDir

#: a corpus file this large (bytes) or larger is encoded into ``corpus.ids`` and memory-mapped
MEMMAP_MIN_BYTES = 64 << 20


class CorpusIds:
    """The ids of a corpus file, encoded on first use into ``target`` (None: a temporary
    file) and memory-mapped; ``info`` is the run's ``data["ids"]`` (the checkpoint's
    record: file, dtype, length, sha256), completed when the file is written."""

    def __init__(self, corpus: str | os.PathLike, vocab: CharVocab, info: dict[str, Any],
                 target: Path | None, *, expected_corpus_sha256: str | None = None):  # fmt: skip
        self.corpus, self.vocab, self.info, self.target = Path(corpus), vocab, info, target
        self.expected_corpus_sha256 = expected_corpus_sha256
        self.length = int(info["length"])
        self.dtype = np.dtype(info["dtype"])
        self.progress = True
        self._array: np.ndarray | None = None
        self._temporary = None

    def array(self) -> np.ndarray:
        """The ids as a read-only :class:`numpy.memmap` (the file encoded first if needed)."""
        if self._array is None:
            if self.target is not None and self.target.is_file() and "sha256" in self.info:
                source: Any = self.target  # checked by the run's prepare
            else:
                source = self._encode()
            self._array = np.memmap(source, dtype=self.dtype, mode="r", shape=(self.length,))
            _advise(self._array, "MADV_RANDOM")
        return self._array

    def release(self) -> None:
        """Unmap the pages read so far (they stay in the page cache, the file on disk): a
        read brings in whole folios (2 MB on many file systems), one per stream, and
        without this every page a stream has passed would stay in the resident set until
        the epoch ends, growing with the corpus."""
        if self._array is not None:
            _advise(self._array, "MADV_DONTNEED")

    def _encode(self):
        """The second pass: write the ids (atomically into the run, or to a temporary
        file), with a progress line on stderr; returns what to map."""
        report = _Report(self.corpus, self.target, enabled=self.progress)

        def fill(f) -> None:
            length, ids_sha, corpus_sha = encode_corpus(
                self.corpus, self.vocab, f.write, progress=report.update
            )
            expected = self.expected_corpus_sha256
            if (expected is not None and corpus_sha != expected) or length != self.length:
                raise CorpusError(f"the training corpus ({self.corpus}) changed while it was "
                                  "encoded")  # fmt: skip
            recorded = self.info.get("sha256")
            if recorded is not None and recorded != ids_sha:
                raise CorpusError(f"the corpus encoded again does not give the run's ids "
                                  f"(sha256 {ids_sha[:12]}, recorded {recorded[:12]})")  # fmt: skip
            self.info["sha256"] = ids_sha

        if self.target is None:
            self._temporary = tempfile.TemporaryFile()
            fill(self._temporary)
            self._temporary.flush()
            report.done()
            return self._temporary
        atomic_write(self.target, fill)
        report.done()
        return self.target


def _advise(array: np.memmap, advice: str) -> None:
    """``madvise`` the whole mapping of ``array`` (where the platform has it):
    ``MADV_RANDOM`` (the ``B`` streams are read at scattered places: no readahead of
    megabytes around each) or ``MADV_DONTNEED`` (unmap what was read)."""
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(handle, "madvise") and hasattr(mmap, advice):
        try:
            handle.madvise(getattr(mmap, advice))
        except (OSError, ValueError):  # pragma: no cover - advice only
            pass


class _Report:
    """Plain progress lines while a corpus is encoded (at most one per PLAIN_INTERVAL)."""

    def __init__(self, corpus: Path, target: Path | None, enabled: bool):
        self.enabled, self.total = enabled, max(1, os.path.getsize(corpus))
        self.what = f"encoding {corpus.name} into {target or 'a temporary file'}"
        self.last = time.monotonic()
        self.done_bytes = 0

    def update(self, done: int) -> None:
        self.done_bytes = done
        if self.enabled and time.monotonic() - self.last >= PLAIN_INTERVAL:
            self.last = time.monotonic()
            self._line()

    def done(self) -> None:
        if self.enabled:
            self._line()

    def _line(self) -> None:
        done, total = self.done_bytes / (1 << 20), self.total / (1 << 20)
        share = 100 * self.done_bytes / self.total
        print(f"{self.what}: {done:,.0f} of {total:,.0f} MB ({share:.0f}%)",
              file=sys.stderr, flush=True)  # fmt: skip


class MappedStreamBatches:
    """:class:`~rnnkit.text.corpus.StreamBatches` over the first ``length`` ids of a
    :class:`CorpusIds`, the file mapped at the first chunk read (its size known before)."""

    def __init__(self, ids: CorpusIds, length: int, batch_size: int, seq_length: int):
        self.ids, self.length = ids, int(length)
        self.batch_size, self.seq_length = int(batch_size), int(seq_length)
        stream = StreamBatches.stream_length(length, batch_size, seq_length, what="training text")
        self.num_chunks = stream // seq_length
        self._batches: StreamBatches | None = None

    def __len__(self) -> int:
        return self.num_chunks

    def chunk(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._batches is None:
            ids = self.ids.array()[: self.length]
            self._batches = StreamBatches(ids, self.batch_size, self.seq_length)
        chunk = self._batches.chunk(index)  # copies (int32)
        self.ids.release()
        return chunk


class MappedSlice:
    """ids ``[start, stop)`` of a :class:`CorpusIds`: its length known at once, its values
    read (``np.asarray``) from the mapped file only when evaluated."""

    def __init__(self, ids: CorpusIds, start: int, stop: int):
        self.ids, self.start, self.stop = ids, int(start), int(stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = np.asarray(self.ids.array()[self.start : self.stop]).astype(dtype or np.int32)
        self.ids.release()
        return values


def ids_info(scan_length: int, vocab: CharVocab) -> dict[str, Any]:
    """The record of a new run's ids file (its sha256 added once it is written)."""
    return {"file": RunDir.CORPUS_IDS, "dtype": ids_dtype(len(vocab)).name,
            "length": int(scan_length)}  # fmt: skip


def check_ids_file(out: str | os.PathLike | None, info: dict[str, Any]) -> Path | None:
    """On resume (reading only): the run's ids file where the repair of a killed
    ``--force`` will leave it, checked against the recorded sha256 (a mismatch refused in
    one line); None if it is missing (it is encoded again)."""
    if out is None:
        return None
    found = RunDir(out).resumable(RunDir.CORPUS_IDS)
    if not found.is_file() or "sha256" not in info:
        return None
    expected_size = int(info["length"]) * np.dtype(info["dtype"]).itemsize
    size = found.stat().st_size
    digest = sha256_file(found) if size == expected_size else None
    if digest != info["sha256"]:
        raise CorpusError(
            f"{found} does not match this run (sha256 {info['sha256'][:12]} recorded in its "
            "checkpoint): remove it and resume again to encode the corpus anew"
        )
    return found
