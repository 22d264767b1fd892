"""Corpora larger than memory (issue 26, item 5): the corpus scanned in chunks, encoded into
the run's ``corpus.ids`` and memory-mapped; exact resume, checksums, ``--force``, and the
validation cap. Small files only: ``MEMMAP_MIN_BYTES`` is lowered so the file path runs on
a few KB."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.text.corpus import (
    CharVocab,
    CorpusError,
    StreamBatches,
    encode_corpus,
    iter_corpus,
    read_corpus,
    scan_corpus,
)
from rnnkit.textgen import CharLM, corpus_file
from rnnkit.textgen.corpus_file import MappedSlice, MappedStreamBatches
from rnnkit.training import MetricsLog, RunDir, load_checkpoint

TINY = {"cell": "lstm", "hidden_size": 16, "num_layers": 1, "embedding_dim": 8, "dropout": 0.0}
FAST = {"seq_length": 16, "batch_size": 4, "eval_every": 5, "log_every": 1, "sample_length": 0}
WORDS = ["the", "cat", "sat", "on", "a", "mat", "héllo", "wörld", "✓", "𝄞", "naïve", "—"]


@pytest.fixture
def corpus(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(WORDS, 2500)) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def mapped(monkeypatch):
    """Every corpus file goes through the ids file."""
    monkeypatch.setattr(corpus_file, "MEMMAP_MIN_BYTES", 0)


def records(run: Path) -> list[dict]:
    keep = ("step", "epoch", "train_loss", "val_loss", "lr")
    return [{k: r[k] for k in keep if k in r} for r in MetricsLog(run / "metrics.jsonl").read()]


# -- reading in chunks ---------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
def test_chunks_cut_inside_multibyte_characters_decode_whole(corpus, chunk):
    text = read_corpus(corpus)
    pieces = [t for _, t in iter_corpus(corpus, chunk_bytes=chunk)]
    assert "".join(pieces) == text
    assert b"".join(raw for raw, _ in iter_corpus(corpus, chunk_bytes=chunk)) == corpus.read_bytes()
    scan = scan_corpus(corpus, chunk_bytes=chunk)
    assert scan.vocab() == CharVocab.from_text(text) and scan.length == len(text)
    assert scan.size == corpus.stat().st_size


def test_invalid_utf8_is_named_by_its_offset_in_the_file_at_any_chunk_size(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("ab✓".encode() + b"\xff" + b"cd")
    for chunk in (1, 2, 4, 100):
        with pytest.raises(CorpusError, match=r"byte 0xff at offset 5"):
            list(iter_corpus(path, chunk_bytes=chunk))
    path.write_bytes("ab✓".encode()[:-1])  # the file ends inside a character
    with pytest.raises(CorpusError, match=r"byte 0xe2 at offset 2"):
        list(iter_corpus(path, chunk_bytes=2))
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="empty"):
        scan_corpus(tmp_path / "empty.txt")


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_the_ids_file_equals_the_in_memory_encoding(corpus, chunk):
    text = read_corpus(corpus)
    vocab = CharVocab.from_text(text)
    written = []
    length, ids_sha, corpus_sha = encode_corpus(corpus, vocab, written.append, chunk_bytes=chunk)
    ids = np.frombuffer(b"".join(written), dtype=np.uint8)
    np.testing.assert_array_equal(ids, vocab.encode(text))
    assert length == len(text) and corpus_sha == scan_corpus(corpus).sha256
    assert ids_sha == hashlib.sha256(b"".join(written)).hexdigest()


def test_stream_batches_over_a_memmap_never_copy_it(tmp_path):
    ids = np.arange(10_000, dtype=np.uint16) % 300
    path = tmp_path / "ids"
    ids.tofile(path)
    mm = np.memmap(path, dtype=np.uint16, mode="r", shape=(len(ids),))
    batches = StreamBatches(mm, 4, 16)
    assert np.shares_memory(batches.inputs, mm) and np.shares_memory(batches.targets, mm)
    x, y = batches.chunk(3)
    assert x.dtype == np.int32 and x.shape == (16, 4)
    reference = StreamBatches(ids.astype(np.int32), 4, 16)
    for i in (0, 3, len(batches) - 1):
        for got, want in zip(batches.chunk(i), reference.chunk(i), strict=True):
            np.testing.assert_array_equal(got, want)


# -- training from the ids file ---------------------------------------------------------------
def test_training_from_the_memmap_gives_the_in_memory_losses(tmp_path, corpus, monkeypatch):
    memory = CharLM(**TINY)
    memory.fit(corpus, out=tmp_path / "memory", steps=10, progress=False, **FAST)
    assert not (tmp_path / "memory" / RunDir.CORPUS_IDS).exists()  # small: read whole
    monkeypatch.setattr(corpus_file, "MEMMAP_MIN_BYTES", 0)
    lm = CharLM(**TINY)
    lm.fit(corpus, out=tmp_path / "mapped", steps=10, progress=False, **FAST)
    assert records(tmp_path / "mapped") == records(tmp_path / "memory")
    for name, value in memory.network.state_dict().items():
        np.testing.assert_array_equal(lm.network.state_dict()[name], value)
    ids_file = tmp_path / "mapped" / RunDir.CORPUS_IDS
    text = read_corpus(corpus)
    expected = CharVocab.from_text(text).encode(text)
    np.testing.assert_array_equal(np.fromfile(ids_file, np.uint8), expected)
    data = load_checkpoint(tmp_path / "mapped" / "latest.npz")["config"]["data"]

    assert data["ids"]["sha256"] == hashlib.sha256(ids_file.read_bytes()).hexdigest()
    assert data["sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()  # as before
    assert lm.evaluate() == memory.evaluate()  # the run's validation split, either way
    loaded = CharLM.load(tmp_path / "mapped")
    assert loaded.evaluate() == memory.evaluate()  # from the ids file
    ids_file.unlink()
    assert CharLM.load(tmp_path / "mapped").evaluate() == memory.evaluate()  # from the corpus


def test_without_a_run_directory_the_ids_go_to_a_temporary_file(corpus, mapped):
    lm = CharLM(**TINY)
    assert lm.fit(corpus, steps=3, progress=False, **FAST).step == 3
    assert "sha256" in lm.data["ids"]


def test_a_progress_line_is_written_while_encoding(tmp_path, corpus, mapped, capsys):
    CharLM(**TINY).fit(corpus, out=tmp_path / "run", steps=2, progress=True, **FAST)
    err = capsys.readouterr().err
    assert f"encoding corpus.txt into {tmp_path / 'run' / 'corpus.ids'}" in err and "(100%)" in err


def test_resume_from_the_ids_file_is_exact(tmp_path, corpus, mapped):
    settings = dict(FAST, lr=5e-3, lr_decay=0.9, lr_decay_after=4, lr_decay_every=3)
    full = CharLM(**TINY)
    full.fit(corpus, out=tmp_path / "full", steps=20, progress=False, **settings)
    CharLM(**TINY).fit(corpus, out=tmp_path / "part", steps=10, progress=False, **settings)
    ids_before = (tmp_path / "part" / RunDir.CORPUS_IDS).read_bytes()
    resumed = CharLM()
    assert resumed.fit(out=tmp_path / "part", resume=True, steps=20, progress=False).step == 20
    assert records(tmp_path / "part") == records(tmp_path / "full")
    for name, value in full.network.state_dict().items():
        np.testing.assert_array_equal(resumed.network.state_dict()[name], value)
    assert (tmp_path / "part" / RunDir.CORPUS_IDS).read_bytes() == ids_before


def test_resume_encodes_a_missing_ids_file_again(tmp_path, corpus, mapped):
    CharLM(**TINY).fit(corpus, out=tmp_path / "full", steps=15, progress=False, **FAST)
    CharLM(**TINY).fit(corpus, out=tmp_path / "part", steps=10, progress=False, **FAST)
    ids_file = tmp_path / "part" / RunDir.CORPUS_IDS
    before = ids_file.read_bytes()
    ids_file.unlink()
    CharLM().fit(out=tmp_path / "part", resume=True, steps=15, progress=False)
    assert ids_file.read_bytes() == before
    assert records(tmp_path / "part") == records(tmp_path / "full")


def test_a_checksum_mismatch_is_refused_in_one_line_and_touches_nothing(tmp_path, corpus, mapped):
    run = tmp_path / "run"
    CharLM(**TINY).fit(corpus, out=run, steps=4, progress=False, **FAST)
    ids_file = run / RunDir.CORPUS_IDS
    body = bytearray(ids_file.read_bytes())
    body[10] ^= 1
    ids_file.write_bytes(bytes(body))
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(CorpusError) as info:
        CharLM().fit(out=run, resume=True, steps=8, progress=False)
    message = str(info.value)
    assert "\n" not in message and "does not match this run" in message and "remove it" in message
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    ids_file.write_bytes(bytes(body[:-1]))  # a truncated file too
    with pytest.raises(CorpusError, match="does not match this run"):
        CharLM().fit(out=run, resume=True, steps=8, progress=False)


def test_resume_without_the_ids_file_refuses_a_changed_corpus(tmp_path, corpus, mapped):
    run = tmp_path / "run"
    CharLM(**TINY).fit(corpus, out=run, steps=4, progress=False, **FAST)
    (run / RunDir.CORPUS_IDS).unlink()
    corpus.write_text(read_corpus(corpus) + "x", encoding="utf-8")
    with pytest.raises(CorpusError, match="has changed"):
        CharLM().fit(out=run, resume=True, steps=8, progress=False)
    assert not (run / RunDir.CORPUS_IDS).exists()


def test_force_sets_the_ids_file_aside_and_a_failed_start_puts_it_back(
    tmp_path, corpus, mapped, monkeypatch
):
    run = tmp_path / "run"
    CharLM(**TINY).fit(corpus, out=run, steps=4, progress=False, **FAST)
    old_ids = (run / RunDir.CORPUS_IDS).read_bytes()
    other = tmp_path / "other.txt"
    other.write_text("a different corpus, all ascii. " * 120, encoding="utf-8")

    chunk = MappedStreamBatches.chunk

    def diverge(self, index):  # the third step, before the first checkpoint
        if index == 2:
            assert (run / RunDir.PREVIOUS / RunDir.CORPUS_IDS).read_bytes() == old_ids  # aside
            assert (run / RunDir.CORPUS_IDS).read_bytes() != old_ids  # the new run's own
            raise RuntimeError("stopped before the first checkpoint")
        return chunk(self, index)

    monkeypatch.setattr(MappedStreamBatches, "chunk", diverge)
    with pytest.raises(RuntimeError, match="before the first checkpoint"):
        CharLM(**TINY).fit(other, out=run, force=True, steps=10, progress=False, **FAST)
    monkeypatch.setattr(MappedStreamBatches, "chunk", chunk)
    assert (run / RunDir.CORPUS_IDS).read_bytes() == old_ids  # the old run is back, whole
    assert not (run / RunDir.PREVIOUS).exists()
    CharLM(**TINY).fit(other, out=run, force=True, steps=4, progress=False, **FAST)
    new_ids = (run / RunDir.CORPUS_IDS).read_bytes()
    assert new_ids != old_ids and not (run / RunDir.PREVIOUS).exists()
    text = read_corpus(other)
    expected = CharVocab.from_text(text).encode(text)
    np.testing.assert_array_equal(np.frombuffer(new_ids, np.uint8), expected)


def test_the_cli_trains_resumes_evaluates_and_forces_with_the_ids_file(
    tmp_path, corpus, mapped, capsys
):
    run = tmp_path / "run"
    argv = ["textgen", "train", str(corpus), "--out", str(run), "--steps", "4",
            "--eval-every", "2", "--hidden-size", "8", "--num-layers", "1",
            "--embedding-dim", "4", "--seq-length", "8", "--batch-size", "2",
            "--sample-length", "0", "--val-max-chars", "300", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert (run / RunDir.CORPUS_IDS).is_file()
    assert main(["textgen", "train", "--out", str(run), "--resume", "--steps", "6", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["textgen", "eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["chars"] <= 300
    assert main(["textgen", "sample", str(run), "--length", "20", "--seed", "1"]) == 0
    assert main([*argv, "--force"]) == 0


# -- the validation cap ------------------------------------------------------------------------
@pytest.mark.parametrize("large", [False, True])
def test_evaluation_reads_at_most_val_max_chars_of_the_tail(tmp_path, corpus, monkeypatch, large):
    if large:
        monkeypatch.setattr(corpus_file, "MEMMAP_MIN_BYTES", 0)
    text = read_corpus(corpus)
    vocab = CharVocab.from_text(text)
    lm = CharLM(**TINY)
    settings = dict(FAST, val_fraction=0.2, val_max_chars=500)
    batches, val_ids = lm.prepare(None, lm.settings_class(**settings),
                                  (corpus, "utf-8", None, None, 15.0), tmp_path / "run")
    n_val = int(round(len(text) * 0.2))
    tail = vocab.encode(text)[len(text) - n_val :]
    assert len(val_ids) == 500 < n_val
    if large:
        assert isinstance(val_ids, MappedSlice) and isinstance(batches, MappedStreamBatches)
        assert not (tmp_path / "run").exists()  # prepare writes nothing: encoded on first use
        lm._ids.target = None
    np.testing.assert_array_equal(np.asarray(val_ids), tail[:500])  # the tail's beginning
    lm.fit(corpus, out=tmp_path / "fit", steps=2, progress=False, **settings)
    assert lm.evaluate()["chars"] <= 500
    assert CharLM.load(tmp_path / "fit").evaluate()["chars"] <= 500


def test_val_max_chars_is_range_checked_and_saved(tmp_path, corpus):
    with pytest.raises(ValueError, match="val_max_chars"):
        CharLM(**TINY).fit(corpus, steps=1, progress=False, val_max_chars=1, **FAST)
    CharLM(**TINY).fit(corpus, out=tmp_path / "run", steps=1, progress=False,
                       val_max_chars=123, **FAST)  # fmt: skip
    saved = load_checkpoint(tmp_path / "run" / "latest.npz")["config"]["train"]
    assert saved["val_max_chars"] == 123


def test_documents_mode_still_reads_in_memory(tmp_path, mapped):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(["anna", "bob", "carla", "dmitri", "eve", "fay"] * 40) + "\n")
    lm = CharLM(**TINY)
    lm.fit(names, out=tmp_path / "run", steps=2, documents="lines", progress=False,
           **dict(FAST, batch_size=2))  # fmt: skip
    assert not (tmp_path / "run" / RunDir.CORPUS_IDS).exists()
    assert lm.generate(num_samples=2, seed=0)


def test_copied_run_directory_resumes_with_its_ids_file(tmp_path, corpus, mapped):
    CharLM(**TINY).fit(corpus, out=tmp_path / "run", steps=4, progress=False, **FAST)
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    (tmp_path / "copy" / RunDir.LOCK).unlink()
    assert CharLM().fit(out=tmp_path / "copy", resume=True, steps=6, progress=False).step == 6


def test_a_bytes_corpus_is_mapped_too(tmp_path, mapped):
    path = tmp_path / "latin1.txt"
    data = ("na\xefve caf\xe9 d\xe9j\xe0 vu " * 150).encode("latin-1")  # not UTF-8
    path.write_bytes(data)
    lm = CharLM(**TINY)
    lm.fit(path, encoding="bytes", out=tmp_path / "run", steps=2, progress=False, **FAST)
    ids = np.fromfile(tmp_path / "run" / RunDir.CORPUS_IDS, np.uint8)
    np.testing.assert_array_equal(ids, CharVocab.from_text(data).encode(data))
    assert lm.vocab.encoding == "bytes" and isinstance(lm.generate(10, seed=0), bytes)


def _mapped_rss_kb(name: str) -> int:
    total, current = 0, ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            current = head[5] if len(head) > 5 else ""
        elif line.startswith("Rss:") and current.endswith(name):
            total += int(head[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux /proc only")
def test_the_pages_a_chunk_read_are_unmapped_after_it(tmp_path, corpus, mapped):
    lm = CharLM(**TINY)
    settings = lm.settings_class(**FAST)
    batches, val_ids = lm.prepare(None, settings, (corpus, "utf-8", None, None, 15.0), tmp_path)
    for i in range(len(batches)):
        batches.chunk(i)
        assert _mapped_rss_kb(RunDir.CORPUS_IDS) == 0, i  # resident set bounded, not the corpus
    np.asarray(val_ids)
    assert _mapped_rss_kb(RunDir.CORPUS_IDS) == 0
