"""Word vectors (rnnkit.embed): the SGNS gradient, the kernel against the reference,
training, exact resume, the word2vec text format and the command line."""

from __future__ import annotations

import random
import signal

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.embed import EmbedTask, KeyedVectors, export_word2vec, train
from rnnkit.embed.sgns import reference_pair_update, sgns_loss, train_pair
from rnnkit.text.vectors import load_vectors, read_all_vectors
from rnnkit.text.vocab import Vocab


def _numeric(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def test_sgns_gradient_matches_numerical():
    rng = np.random.default_rng(0)
    v, u_t, u_n = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 5, 4))
    _, dv, du_t, du_n = sgns_loss(v, u_t, u_n)
    loss = lambda: sgns_loss(v, u_t, u_n)[0]  # noqa: E731
    for x, analytic in ((v, dv), (u_t, du_t), (u_n, du_n)):
        np.testing.assert_allclose(analytic, _numeric(loss, x), rtol=1e-6, atol=1e-8)


def test_kernel_pair_matches_reference_update():
    rng = np.random.default_rng(1)
    W_in, W_out = rng.normal(size=(12, 6)), rng.normal(size=(12, 6))
    ref_in, ref_out = W_in.copy(), W_out.copy()
    ref_loss = reference_pair_update(ref_in, ref_out, 3, 5, [1, 2, 7, 9], 0.05)
    loss = train_pair(W_in, W_out, 3, 5, np.array([1, 2, 7, 9]), 0.05)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(W_in, ref_in, rtol=0, atol=1e-12)
    np.testing.assert_allclose(W_out, ref_out, rtol=0, atol=1e-12)


def _two_topics(path, lines=1500, seed=0):
    """Lines of words from one of two disjoint topics: words co-occur only within a topic."""
    rnd = random.Random(seed)
    a, b = [f"a{i}" for i in range(10)], [f"b{i}" for i in range(10)]
    text = "\n".join(" ".join(rnd.choice(a if k % 2 else b) for _ in range(12))
                     for k in range(lines))  # fmt: skip
    path.write_text(text + "\n")
    return path


#: one worker: reproducible bit for bit (the Hogwild threads are tested on their own)
SMALL = dict(dim=12, min_count=1, sample=0.0, chunk_words=3000, progress=False, workers=1)


@pytest.mark.parametrize("cbow", [False, True], ids=["skipgram", "cbow"])
@pytest.mark.parametrize("workers", [1, 2], ids=["one", "hogwild"])
def test_training_lowers_loss_and_groups_cooccurring_words(tmp_path, cbow, workers):
    corpus = _two_topics(tmp_path / "c.txt")
    settings = {**SMALL, "workers": workers}
    result, kv = train([corpus], out=tmp_path / "run", epochs=3, cbow=cbow, **settings)
    assert result.reason == "epochs"
    import json

    losses = [json.loads(line)["train_loss"]
              for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if "train_loss" in line]  # fmt: skip
    assert losses[-1] < losses[0]
    unit = {w: kv._unit[i] for i, w in enumerate(kv.words)}
    same = [unit[f"a{i}"] @ unit[f"a{j}"] for i in range(5) for j in range(5, 10)]
    other = [unit[f"a{i}"] @ unit[f"b{j}"] for i in range(5) for j in range(5)]
    assert min(same) > max(other)


def test_exact_resume(tmp_path, monkeypatch):
    corpus = _two_topics(tmp_path / "c.txt")
    _, whole = train([corpus], out=tmp_path / "whole", steps=7, **SMALL)

    original = EmbedTask.train_step
    calls = []

    def interrupting(self, epoch, index):
        calls.append(index)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # the trainer saves at this step and stops
        return original(self, epoch, index)

    monkeypatch.setattr(EmbedTask, "train_step", interrupting)
    first, _ = train([corpus], out=tmp_path / "split", steps=7, **SMALL)
    assert first.reason == "interrupted" and first.step == 3
    monkeypatch.setattr(EmbedTask, "train_step", original)
    second, resumed = train(out=tmp_path / "split", resume=True, progress=False)
    assert second.step == 7
    np.testing.assert_array_equal(resumed.vectors, whole.vectors)


def test_workers_train_the_chunks_parts_with_their_own_generators():
    """Two workers: the chunk's halves, each with the generator ``(seed..., part)``. With
    halves on disjoint words and no noise words no row is shared, so the threads' result is
    the two halves trained one after the other (the test fails if a part is dropped, trained
    twice, or seeded otherwise)."""
    from types import SimpleNamespace

    from rnnkit.embed.sgns import seed_state, train_chunk
    from rnnkit.embed.train import Workers

    rng = np.random.default_rng(0)
    ids = np.concatenate([rng.integers(0, 6, 400), rng.integers(6, 12, 400)]).astype(np.int32)
    lines = np.repeat(np.arange(80, dtype=np.int32), 10)
    keep, cum = np.ones(12), np.linspace(1 / 12, 1.0, 12)
    config = SimpleNamespace(window=3, negative=0, cbow=False)
    W_in = rng.standard_normal((12, 5)).astype(np.float32)
    W_out = rng.standard_normal((12, 5)).astype(np.float32)
    want_in, want_out = W_in.copy(), W_out.copy()
    want = [train_chunk(ids[a:b], lines[a:b], keep, want_in, want_out, cum, 3, 0, False,
                        np.float32(0.05), seed_state(7, 0, 2, part))
            for part, (a, b) in enumerate([(0, 400), (400, 800)])]  # fmt: skip
    loss, pairs = Workers(2).train(ids, lines, keep, W_in, W_out, cum, config, 0.05, (7, 0, 2))
    assert pairs == sum(p for _, p in want) > 0
    assert loss == pytest.approx(sum(x for x, _ in want), rel=1e-6)
    np.testing.assert_array_equal(W_in, want_in)
    np.testing.assert_array_equal(W_out, want_out)


def test_resume_refuses_other_text(tmp_path):
    corpus = _two_topics(tmp_path / "c.txt")
    train([corpus], out=tmp_path / "run", steps=2, **SMALL)
    other = _two_topics(tmp_path / "d.txt", seed=1)
    with pytest.raises(ValueError, match="sha256"):
        train([other], out=tmp_path / "run", resume=True, progress=False)


def test_settings_refused():
    with pytest.raises(ValueError, match="optimizer must be sgd"):
        train(["x"], optimizer="adam", progress=False)
    with pytest.raises(ValueError, match="epochs or steps"):
        train(["x"], minutes=1.0, progress=False)
    with pytest.raises(ValueError, match="workers"):
        train(["x"], workers=0, steps=1, progress=False)


def test_word2vec_text_round_trip(tmp_path):
    corpus = _two_topics(tmp_path / "c.txt")
    _, kv = train([corpus], out=tmp_path / "run", steps=2, **SMALL)
    out = tmp_path / "vectors.txt"
    export_word2vec(tmp_path / "run", out)
    assert out.read_text().splitlines()[0] == f"{len(kv)} 12"
    words, vectors = read_all_vectors(out)
    assert words == kv.words
    np.testing.assert_allclose(vectors, kv.vectors, rtol=1e-6, atol=1e-7)
    vocab = Vocab(["<pad>", "<unk>", "a3", "b7"])  # the classifier's reader sees the same
    weights, found = load_vectors(out, vocab)
    assert found == 2
    np.testing.assert_allclose(weights[2], kv["a3"], rtol=1e-6, atol=1e-7)
    with pytest.raises(FileExistsError):
        export_word2vec(tmp_path / "run", out)


def test_gensim_reads_the_text_file(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    corpus = _two_topics(tmp_path / "c.txt")
    _, kv = train([corpus], out=tmp_path / "run", steps=2, **SMALL)
    export_word2vec(tmp_path / "run", tmp_path / "v.txt")
    theirs = gensim_models.KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"))
    assert list(theirs.index_to_key) == kv.words
    np.testing.assert_allclose(theirs["a1"], kv["a1"], rtol=1e-6, atol=1e-7)


def test_neighbors_and_analogy():
    kv = KeyedVectors(["king", "queen", "man", "woman", "apple"],
                      np.array([[1, 1, 0], [1, -1, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1.0]]))
    assert kv.analogy("man", "king", "woman", k=1)[0][0] == "queen"
    assert kv.neighbors("king", 1) == [("man", pytest.approx(2**-0.5))]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        kv.neighbors("pear")


def test_cli(tmp_path, capsys):
    corpus = _two_topics(tmp_path / "c.txt")
    run = str(tmp_path / "run")
    assert main(["embed", "train", str(corpus), "--out", run, "--min-count", "1", "--dim", "8",
                 "--steps", "2", "--chunk-words", "3000", "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["embed", "neighbors", run, "a1", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["embed", "analogy", run, "a1", "a2", "b1", "-k", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["embed", "neighbors", run, "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'nope' is not in the vocabulary" in err
    assert main(["embed", "neighbors", str(corpus), "a1"]) == 1  # a text file, not vectors
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a number" in err
    assert main(["embed", "neighbors", str(tmp_path / "missing"), "a1"]) == 1
    assert "no such vector file" in capsys.readouterr().err
    out = str(tmp_path / "v.txt")
    assert main(["embed", "export", run, "--out", out]) == 0
    assert main(["embed", "export", run, "--out", out]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["embed", "neighbors", out, "b2", "-k", "1"]) == 0


def test_bench_script_runs_rnnkit_worker(tmp_path, capsys):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "embed_speed.py"
    spec = importlib.util.spec_from_file_location("embed_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    corpus = _two_topics(tmp_path / "c.txt", lines=50)
    assert bench.main([str(corpus), "--only", "rnnkit", "--min-count", "1", "--dim", "8"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["library"] == "rnnkit" and row["words"] == 50 * 12


def test_word2vec_is_an_application_saved_and_loaded_like_the_others(tmp_path):
    """Word2Vec goes through the shared lifecycle: fit into a run, load the run back (its
    vectors, vocabulary and settings), save a model file, and a newer config is refused."""
    from rnnkit.embed import Word2Vec
    from rnnkit.training import CheckpointError, load_checkpoint, save_checkpoint

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c d a b c d a c\n" * 20)
    w2v = Word2Vec(dim=8, min_count=1, window=2, negative=2)
    w2v.fit([corpus], out=tmp_path / "run", epochs=2, progress=False, seed=3)
    again = Word2Vec.load(tmp_path / "run", which="latest")
    assert again.vocab.words == w2v.vocab.words and again.settings == w2v.settings
    np.testing.assert_array_equal(again.vectors().vectors, w2v.vectors().vectors)
    again.save(tmp_path / "model.npz")
    np.testing.assert_array_equal(Word2Vec.load(tmp_path / "model.npz").network.W_in.data,
                                  w2v.network.W_in.data)  # fmt: skip
    tree = load_checkpoint(tmp_path / "model.npz")
    tree["config"]["version"] = 99
    save_checkpoint(tmp_path / "newer.npz", tree)
    with pytest.raises(CheckpointError, match="newer than this rnnkit reads"):
        Word2Vec.load(tmp_path / "newer.npz")
