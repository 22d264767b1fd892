"""The character corpus, sampling and the CharLM text generator (tiny models, tiny texts)."""

from __future__ import annotations

import math
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from rnnkit.text import download
from rnnkit.text.corpus import (
    CharVocab,
    CorpusError,
    StreamBatches,
    default_corpus,
    eval_streams,
    read_corpus,
    split_tail,
)
from rnnkit.textgen import CharLM
from rnnkit.textgen.sampling import SamplingOptions, draw, next_distribution
from rnnkit.training import CheckpointError, MetricsLog, RunDir, load_checkpoint

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"

HAMLET = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
)
TINY = {"cell": "lstm", "hidden_size": 24, "num_layers": 1, "embedding_dim": 8, "dropout": 0.0}
FAST = {"seq_length": 16, "batch_size": 4, "eval_every": 20, "log_every": 2, "sample_length": 0}


# -- reading --------------------------------------------------------------------
def test_read_corpus_errors_are_clear(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="empty"):
        read_corpus(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    with pytest.raises(CorpusError,
                       match=r"not valid UTF-8 \(byte 0xe9 at offset 3\).*--encoding bytes"):
        read_corpus(tmp_path / "latin1.txt")
    assert read_corpus(tmp_path / "latin1.txt", encoding="bytes") == b"caf\xe9\n"
    with pytest.raises(CorpusError, match="directory"):
        read_corpus(tmp_path)
    with pytest.raises(CorpusError, match="encoding"):
        read_corpus(tmp_path / "latin1.txt", encoding="latin-1")


def test_default_corpus_is_python_source_deterministic_and_capped():
    text = default_corpus(max_chars=50_000)
    assert text == default_corpus(max_chars=50_000)
    assert 0 < len(text) <= 50_000
    assert text.startswith("# file: ") and "def " in text and "import " in text


# -- vocabulary -------------------------------------------------------------------
def test_vocab_is_code_points_and_round_trips_through_json():
    text = "héllo wörld ✓ 日本 🙂\n"
    vocab = CharVocab.from_text(text)
    assert list(vocab.symbols) == sorted({ord(c) for c in text})
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and vocab.decode(ids) == text
    again = CharVocab.from_dict(vocab.to_dict())
    assert again == vocab and again.decode(again.encode("🙂")) == "🙂"
    with pytest.raises(CorpusError, match=r"2 character\(s\) not in the vocabulary: 'z', U\+00E9"):
        CharVocab.from_text("abc").encode("zé")


def test_bytes_vocab():
    data = "café".encode("latin-1") + b"\x00\xff"
    vocab = CharVocab.from_text(data)
    assert vocab.encoding == "bytes" and vocab.decode(vocab.encode(data)) == data
    assert vocab.unknown(b"\x01") == ["'\\x01'"] and vocab.unknown(b"\x80") == ["0x80"]


# -- splitting and batching -----------------------------------------------------------
def test_stream_batches_are_contiguous_streams_with_targets_shifted_by_one():
    ids = np.arange(1000)
    batches = StreamBatches(ids, batch_size=4, seq_length=10)
    stream = (999 // 4) // 10 * 10  # 240 symbols per stream
    assert len(batches) == stream // 10
    for index in range(len(batches)):
        x, y = batches.chunk(index)
        assert x.shape == (10, 4)  # time-major (T, B)
        np.testing.assert_array_equal(y, x + 1)
        for b in range(4):  # stream b reads its own contiguous slice, chunk after chunk
            np.testing.assert_array_equal(x[:, b], b * stream + index * 10 + np.arange(10))
    with pytest.raises(CorpusError, match="too short for batches of 4 x 10"):
        StreamBatches(np.arange(40), batch_size=4, seq_length=10)


def test_split_tail_and_eval_streams():
    ids = np.arange(100)
    train, val = split_tail(ids, 0.1)
    np.testing.assert_array_equal(val, np.arange(90, 100))
    np.testing.assert_array_equal(train, np.arange(90))
    x, y = eval_streams(val, num_streams=3)
    assert x.shape == (3, 3) and np.all(y == x + 1)
    assert x[0, 0] == 90 and x[0, 1] == 93


# -- download (never the network) ---------------------------------------------------
def test_download_checks_sha256_and_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    payload = b"First Citizen:\n"
    dataset = download.Dataset("tiny", "https://example.invalid/t.txt",
                               download._sha256(payload), "tiny.txt", "test")  # fmt: skip
    monkeypatch.setitem(download.DATASETS, "tiny", dataset)
    calls = []
    monkeypatch.setattr(download, "fetch_url", lambda url: calls.append(url) or payload)
    path = download.download("tiny")
    assert path == tmp_path / "cache" / "tiny.txt" and path.read_bytes() == payload
    assert download.download("tiny") == path and len(calls) == 1  # cached: no second fetch

    monkeypatch.setattr(download, "fetch_url", lambda url: b"tampered")
    with pytest.raises(download.DownloadError, match="sha256 mismatch"):
        download.download("tiny", force=True)
    assert path.read_bytes() == payload  # the good copy is kept


def test_download_offline_and_unknown_names(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))

    def offline(url):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download, "fetch_url", offline)
    with pytest.raises(download.DownloadError, match="offline") as info:
        download.download("tinyshakespeare")
    assert "\n" not in str(info.value) and not list(tmp_path.iterdir())
    with pytest.raises(download.DownloadError,
                       match="unknown dataset 'nope'; known: tinyshakespeare"):
        download.download("nope")


# -- sampling -------------------------------------------------------------------------
LOGITS = np.log(np.array([0.5, 0.3, 0.15, 0.05]))


def test_greedy_and_temperature():
    greedy = next_distribution(LOGITS, SamplingOptions(greedy=True))
    np.testing.assert_array_equal(greedy, [1, 0, 0, 0])
    frozen = next_distribution(LOGITS, SamplingOptions(temperature=0))
    np.testing.assert_array_equal(frozen, [1, 0, 0, 0])
    np.testing.assert_allclose(next_distribution(LOGITS, SamplingOptions()), [0.5, 0.3, 0.15, 0.05])
    hot = next_distribution(LOGITS, SamplingOptions(temperature=100.0))
    cold = next_distribution(LOGITS, SamplingOptions(temperature=0.1))
    assert hot.max() < 0.27 and cold[0] > 0.99


def test_top_k_and_top_p_keep_the_right_characters():
    top2 = next_distribution(LOGITS, SamplingOptions(top_k=2))
    np.testing.assert_allclose(top2, [0.625, 0.375, 0, 0])
    nucleus = next_distribution(LOGITS, SamplingOptions(top_p=0.8))  # 0.5 + 0.3 reaches 0.8
    np.testing.assert_allclose(nucleus, [0.625, 0.375, 0, 0])
    nucleus = next_distribution(LOGITS, SamplingOptions(top_p=0.81))
    np.testing.assert_allclose(nucleus, np.array([0.5, 0.3, 0.15, 0]) / 0.95)
    assert next_distribution(LOGITS, SamplingOptions(top_p=0.1))[0] == 1.0  # at least one
    for bad in (SamplingOptions(top_k=0), SamplingOptions(top_p=0.0),
                SamplingOptions(temperature=-1)):
        with pytest.raises(ValueError):
            bad.validate()


def test_draw_follows_the_distribution():
    rng = np.random.default_rng(0)
    probs = np.array([0.1, 0.0, 0.6, 0.3])
    counts = np.bincount([draw(probs, rng) for _ in range(4000)], minlength=4)
    assert counts[1] == 0
    np.testing.assert_allclose(counts / 4000, probs, atol=0.03)


# -- the model ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LSTM trained for a few seconds on the Hamlet lines (the tutorial's section 6)."""
    out = tmp_path_factory.mktemp("runs") / "hamlet"
    lm = CharLM(**TINY)
    result = lm.fit(HAMLET * 8, out=out, steps=120, lr=1e-2, val_fraction=0.1,
                    progress=False, **FAST)  # fmt: skip
    return lm, result, out


def test_loss_falls_and_the_text_is_recognisable(trained):
    lm, result, out = trained
    records = MetricsLog(RunDir(out).metrics).read()
    train = [r["train_loss"] for r in records if "train_loss" in r]
    assert train[0] > math.log(len(lm.vocab)) - 0.5  # starts near a uniform guess
    assert train[-1] < 1.0 < train[0] / 2  # ... and learns
    assert result.metrics["val_loss"] < 2.0
    text = lm.generate(200, prime="T", greedy=True)
    assert "to be" in text or "the " in text


def test_generation_is_deterministic_per_seed(trained):
    lm, _, _ = trained
    a = lm.generate(80, seed=1, temperature=1.2)
    assert a == lm.generate(80, seed=1, temperature=1.2)
    assert a != lm.generate(80, seed=2, temperature=1.2)
    assert lm.generate(50, greedy=True, seed=1) == lm.generate(50, greedy=True, seed=2)
    pieces = list(lm.stream(30, seed=5, top_k=3))
    assert len(pieces) == 30 and all(len(p) == 1 for p in pieces)
    assert "".join(pieces) == lm.generate(30, seed=5, top_k=3)
    assert set(lm.generate(300, seed=0, top_k=1)) == set(lm.generate(300, greedy=True))


def test_prime_with_unknown_characters_names_them(trained):
    lm, _, _ = trained
    with pytest.raises(CorpusError, match=r"2 character\(s\).*'Z', U\+00E9 'é'"):
        lm.generate(10, prime="Zé")


def test_evaluate_reports_nats_bits_and_perplexity(trained, tmp_path):
    lm, result, _ = trained
    val = lm.evaluate()
    assert val["loss"] == pytest.approx(result.metrics["val_loss"])
    assert val["bpc"] == pytest.approx(val["loss"] / math.log(2))
    assert val["perplexity"] == pytest.approx(math.exp(val["loss"]))
    (tmp_path / "other.txt").write_text(HAMLET)
    assert lm.evaluate(tmp_path / "other.txt")["chars"] > 100
    with pytest.raises(CorpusError, match="not in the model's vocabulary: 'Q'"):
        lm.evaluate("Q" * 10)


def test_save_load_gives_the_same_model(trained, tmp_path):
    lm, _, out = trained
    lm.save(tmp_path / "model.npz")
    again = CharLM.load(tmp_path / "model.npz")
    assert again.generate(60, seed=3) == lm.generate(60, seed=3)
    assert CharLM.load(out).vocab == lm.vocab  # a run directory means its best.npz
    assert "optimizer" not in load_checkpoint(tmp_path / "model.npz")


def test_load_rejects_a_checkpoint_of_another_shape(trained, tmp_path):
    lm, _, out = trained
    tree = load_checkpoint(RunDir(out).latest)
    tree["config"]["model"]["hidden_size"] = 25
    from rnnkit.training import save_checkpoint

    save_checkpoint(tmp_path / "bad.npz", tree)
    with pytest.raises(CheckpointError, match="not a valid text-generator checkpoint"):
        CharLM.load(tmp_path / "bad.npz")


def _loss_records(run_dir: Path) -> list[dict]:
    keep = ("step", "epoch", "train_loss", "val_loss", "lr")
    records = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    return [{k: r[k] for k in keep if k in r} for r in records]


def test_exact_resume_with_dropout_and_carried_state(tmp_path):
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(HAMLET * 6)
    arch = dict(TINY, num_layers=2, dropout=0.3)  # dropout draws from the engine RNG
    settings = dict(FAST, lr=5e-3, lr_decay=0.9, lr_decay_after=12, lr_decay_every=7, eval_every=10)
    full = CharLM(**arch)
    full.fit(corpus, out=tmp_path / "full", steps=50, progress=False, **settings)
    part = CharLM(**arch)
    assert part.fit(corpus, out=tmp_path / "part", steps=30, progress=False, **settings).step == 30
    task_state = load_checkpoint(tmp_path / "part" / "latest.npz")["task"]["carry"]
    assert isinstance(task_state, tuple) and task_state[0].shape == (2, 4, 24)  # (h, c) carried
    resumed = CharLM()
    result = resumed.fit(out=tmp_path / "part", resume=True, steps=50, progress=False)
    assert result.step == 50
    assert _loss_records(tmp_path / "part") == _loss_records(tmp_path / "full")
    for name, value in full.network.state_dict().items():
        np.testing.assert_array_equal(resumed.network.state_dict()[name], value)
    lrs = [r["lr"] for r in MetricsLog(tmp_path / "part" / "metrics.jsonl").read() if "lr" in r]
    assert len(set(lrs)) > 3  # the schedule moved across the resume point


def test_resume_refuses_a_changed_corpus(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(HAMLET * 4)
    CharLM(**TINY).fit(corpus, out=tmp_path / "run", steps=4, progress=False, **FAST)
    corpus.write_text(HAMLET * 4 + "x")
    with pytest.raises(CorpusError, match="has changed"):
        CharLM().fit(out=tmp_path / "run", resume=True, steps=8, progress=False)


def test_bytes_corpus_trains_and_generates_bytes(tmp_path):
    data = ("na\xefve caf\xe9 " * 60).encode("latin-1")
    lm = CharLM(**TINY)
    lm.fit(data, steps=6, progress=False, **FAST)
    out = lm.generate(20, prime=b"caf", seed=0)
    assert isinstance(out, bytes) and len(out) == 20 and lm.vocab.encoding == "bytes"


def test_corpus_shorter_than_a_batch_is_refused_before_the_run_dir_is_touched(tmp_path):
    with pytest.raises(CorpusError, match="too short"):
        CharLM(**TINY).fit("abc" * 5, out=tmp_path / "run", steps=5, progress=False, **FAST)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="needs ../shared/data/tinyshakespeare")
def test_tinyshakespeare_reads_as_65_ascii_characters():
    text = read_corpus(SHAKESPEARE)
    vocab = CharVocab.from_text(text)
    assert len(text) == 1_115_394 and len(vocab) == 65
    _, val = split_tail(vocab.encode(text), 0.1)
    assert len(val) == 111_539


def test_default_lr_schedule_is_a_step_function_with_a_floor():
    from rnnkit.textgen import TrainSettings

    s = TrainSettings()
    assert s.lr_at(0) == s.lr_at(s.lr_decay_after - 1) == s.lr
    assert s.lr_at(s.lr_decay_after) == pytest.approx(s.lr * s.lr_decay)
    assert s.lr_at(s.lr_decay_after + s.lr_decay_every) == pytest.approx(s.lr * s.lr_decay**2)
    assert s.lr_at(10**6) == s.lr_min
    assert TrainSettings(lr_decay=1.0).lr_at(10**6) == s.lr


def test_weight_averaging_is_saved_kept_and_resumed_exactly(tmp_path):
    corpus = tmp_path / "hamlet.txt"
    corpus.write_text(HAMLET * 6)
    settings = dict(FAST, lr=5e-3, eval_every=10, ema_decay=0.9)
    full = CharLM(**TINY)
    full.fit(corpus, out=tmp_path / "full", steps=40, progress=False, **settings)
    ckpt = load_checkpoint(tmp_path / "full" / "latest.npz")
    assert ckpt["config"]["train"]["ema_decay"] == 0.9
    name = "decoder.weight"
    assert not np.array_equal(ckpt["model"][name], ckpt["train_model"][name])
    # after fit the network holds the averaged weights: what was evaluated and saved
    np.testing.assert_array_equal(full.network.state_dict()[name], ckpt["model"][name])
    loaded = CharLM.load(tmp_path / "full" / "latest.npz")
    assert loaded.generate(30, prime="To", seed=1) == full.generate(30, prime="To", seed=1)
    part = CharLM(**TINY)
    part.fit(corpus, out=tmp_path / "part", steps=20, progress=False, **settings)
    resumed = CharLM()
    result = resumed.fit(out=tmp_path / "part", resume=True, steps=40, progress=False)
    assert result.step == 40
    again = load_checkpoint(tmp_path / "part" / "latest.npz")
    for key in ("model", "train_model"):
        for k in ckpt[key]:
            np.testing.assert_array_equal(again[key][k], ckpt[key][k], err_msg=f"{key} {k}")
    assert _loss_records(tmp_path / "part") == _loss_records(tmp_path / "full")
    with pytest.raises(ValueError, match="ema_decay"):
        CharLM(**TINY).fit(corpus, out=tmp_path / "bad", steps=2, progress=False,
                           **dict(FAST, ema_decay=1.5))
    assert not (tmp_path / "bad").exists()


def test_a_tiny_temperature_gives_the_argmax_not_nan():
    logits = np.array([1.0, 3.0, -2.0, 2.999])
    for temperature in (1e-6, 1e-12, 5e-324):
        probs = next_distribution(logits, SamplingOptions(temperature=temperature))
        assert np.all(np.isfinite(probs)) and probs.argmax() == 1 and probs[1] > 0.99
