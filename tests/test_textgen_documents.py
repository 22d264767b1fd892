"""Documents mode of the text generator (``--documents lines|blank-lines``): markers in the
vocabulary, the state reset at each document, masked padding, held-out documents, samples
that end on their own, the command line, exact resume, old checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.nn import random as nnrandom
from rnnkit.nn.functional import log_softmax
from rnnkit.text.corpus import (
    CharVocab,
    CorpusError,
    split_documents,
    split_documents_held_out,
)
from rnnkit.textgen import CharLM
from rnnkit.textgen.documents import (
    PAD,
    DocumentBatches,
    DocumentTask,
    batch_documents,
    document_ids,
    evaluate_documents,
    pad_documents,
)
from rnnkit.textgen.model import CharRNN, CharRNNConfig
from rnnkit.textgen.sampling import SamplingOptions, sample_generators, sample_ids
from rnnkit.training import MetricsLog

DATA = Path(__file__).resolve().parent / "data"
TINY = {"cell": "lstm", "hidden_size": 16, "num_layers": 1, "embedding_dim": 8, "dropout": 0.0}
FAST = {"batch_size": 8, "eval_every": 10, "log_every": 2, "sample_length": 0, "lr": 1e-2}
SYLLABLES = ["ka", "ri", "to", "mo", "na", "le", "sa", "vi", "an", "el", "or", "is", "ta"]


def make_names(n: int = 200, seed: int = 0) -> list[str]:
    """A list of made-up names from a fixed seed (two or three syllables, capitalised)."""
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(SYLLABLES, rng.integers(2, 4))).capitalize() for _ in range(n)]


NAMES = "\n".join(make_names()) + "\n"


@pytest.fixture(scope="module")
def names_lm() -> CharLM:
    lm = CharLM(**TINY)
    lm.fit(NAMES, steps=80, progress=False, documents="lines", **FAST)
    return lm


# -- the vocabulary and the documents ------------------------------------------------------
def test_markers_extend_the_vocabulary_and_round_trip():
    vocab = CharVocab.from_text("abc", markers=True)
    assert len(vocab) == 5 and (vocab.start_id, vocab.end_id) == (3, 4)
    assert vocab.encode("cab").tolist() == [2, 0, 1]  # no text encodes to a marker
    assert vocab.decode([3, 0, 1, 4]) == "ab"  # markers write nothing
    assert CharVocab.from_dict(vocab.to_dict()) == vocab
    assert vocab.to_dict()["markers"] is True
    plain = CharVocab.from_text("abc")
    assert "markers" not in plain.to_dict()  # saved as before
    assert CharVocab.from_dict({"encoding": "utf-8", "symbols": [97, 98, 99]}) == plain
    assert len(plain) == 3 and not plain.markers
    with pytest.raises(ValueError, match="no document markers"):
        _ = plain.end_id
    with pytest.raises(ValueError, match="markers must be true or false"):
        CharVocab.from_dict({**vocab.to_dict(), "markers": 1})
    bytes_vocab = CharVocab.from_text(b"\x00\xff", markers=True)  # every byte may be text
    assert (bytes_vocab.start_id, bytes_vocab.end_id) == (2, 3)
    assert bytes_vocab.decode([2, 1, 0, 3]) == b"\xff\x00"


def test_documents_are_lines_or_blocks_between_blank_lines():
    assert split_documents("Ann\r\nBob\n\nCy \n", "lines") == ["Ann", "Bob", "Cy "]
    text = "title one\nmore of it\n\n  \ntitle two\n\n\n"
    assert split_documents(text, "blank-lines") == ["title one\nmore of it", "title two"]
    assert split_documents(b"a\n\nb", "blank-lines") == [b"a", b"b"]
    with pytest.raises(CorpusError, match="lines or blank-lines"):
        split_documents("a", "none")


def test_checkpoint_keeps_markers_and_the_documents_setting(names_lm, tmp_path):
    names_lm.save(tmp_path / "m.npz")
    lm = CharLM.load(tmp_path / "m.npz")
    assert lm.vocab == names_lm.vocab and lm.vocab.markers
    assert lm.settings.documents == "lines"
    assert ord("\n") not in lm.vocab.symbols  # the separator is no character of a name
    assert lm.generate(40, seed=3) == names_lm.generate(40, seed=3)


# -- the state reset and the loss --------------------------------------------------------
def test_a_documents_loss_does_not_depend_on_the_document_before_it(names_lm):
    vocab, net = names_lm.vocab, names_lm.network
    a, b, c = document_ids(vocab, ["Karito", "Mona", "Elisavita"])
    start = vocab.start_id
    alone = evaluate_documents(net, [b], start)
    after_a = evaluate_documents(net, [a, b], start)
    a_alone = evaluate_documents(net, [a], start)
    total = lambda r: r["loss"] * r["chars"]  # noqa: E731
    assert total(after_a) == pytest.approx(total(a_alone) + total(alone), rel=1e-6)
    # in a training batch: b's log-probabilities are the same beside a or beside c
    net.eval()
    logp = []
    for other in (a, c):
        x, y = pad_documents([other, b], start)
        logits, _ = net(x)
        logp.append(log_softmax(logits[: len(b), 1].astype(np.float64)))
    np.testing.assert_allclose(logp[0], logp[1], rtol=1e-5, atol=1e-6)
    # whereas reading b on from a's final state (one stream) changes it
    _, state = net(np.concatenate([[start], a[:-1]])[:, None])
    carried, _ = net(np.concatenate([[start], b[:-1]])[:, None], state)
    assert not np.allclose(log_softmax(carried[:, 0].astype(np.float64)), logp[0], atol=1e-4)
    net.train()


def test_padding_is_not_counted_in_the_loss():
    vocab = CharVocab.from_text("abcd", markers=True)
    nnrandom.manual_seed(0)
    net = CharRNN(CharRNNConfig(vocab_size=len(vocab), **TINY))
    docs = document_ids(vocab, ["abcdabcd", "a", "dcb"])
    batches = DocumentBatches(docs, batch_size=3, start_id=vocab.start_id)
    x, y = batches.batch(0, 0)
    assert x.shape == (9, 3) and (y == PAD).sum() == 9 * 3 - (9 + 2 + 4)
    task = DocumentTask(net, batches, [])
    loss, count = task.train_step(0, 0)
    # by hand: each document alone, from its start marker, every target once
    total = 0.0
    for ids in docs:
        inputs = np.concatenate([[vocab.start_id], ids[:-1]])[:, None]
        logits, _ = net(inputs)
        logp = log_softmax(logits[:, 0].astype(np.float64))
        total -= logp[np.arange(len(ids)), ids].sum()
    assert count == 9 + 2 + 4
    assert loss == pytest.approx(total / count, rel=1e-5)


# -- the held-out documents ----------------------------------------------------------------
def test_held_out_split_is_a_share_of_documents():
    train, val = split_documents_held_out(200, 0.1)
    assert len(val) == 20 and len(train) == 180
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(200))
    assert np.array_equal(val, split_documents_held_out(200, 0.1)[1])  # the same every time
    assert len(split_documents_held_out(1, 0.5)[0]) == 1  # one document stays for training


def test_evaluation_is_on_held_out_documents(names_lm):
    names = make_names()
    result = names_lm.evaluate()
    assert result["documents"] == 20  # val_fraction 0.1 of 200 names, not of characters
    _, val = split_documents_held_out(200, 0.1)
    held_out = [names[i] for i in val]
    assert result["chars"] == sum(len(n) + 1 for n in held_out)  # each name and its end
    again = names_lm.evaluate("\n".join(held_out))
    assert again["loss"] == pytest.approx(result["loss"], rel=1e-9)
    # the training batches hold the other documents
    x, _ = pad_documents(document_ids(names_lm.vocab, held_out), names_lm.vocab.start_id)
    assert len(DocumentBatches(document_ids(names_lm.vocab, names), 8, 0).docs) == 200
    assert x.shape[1] == 20


# -- samples ----------------------------------------------------------------------------
def test_samples_are_whole_documents_that_end_on_their_own(names_lm):
    texts = names_lm.generate(200, num_samples=16, seed=0, temperature=0.8)
    assert len(texts) == 16
    for text in texts:
        assert 0 < len(text) < 200 and "\n" not in text  # ended at the end marker
        assert all(ord(c) in names_lm.vocab.symbols for c in text)
    assert texts[0] == names_lm.generate(200, seed=0, temperature=0.8)  # streamed alike
    primed = names_lm.generate(200, prime="Ka", num_samples=4, seed=1)
    assert all(len(t) < 200 for t in primed)
    beams = names_lm.generate(50, beam=4, num_samples=2)
    assert len(beams) == 2 and all(len(t) < 50 for t in beams)


def test_markers_are_never_written_and_the_end_marker_ends_a_sample(names_lm):
    vocab = names_lm.vocab
    lm = CharLM.from_config(names_lm.app_config(), names_lm.network.state_dict())
    lm.network.load_state_dict(names_lm.network.state_dict())
    bias = lm.network.decoder.bias.data
    bias[vocab.start_id] = 50.0  # the model "wants" the start marker: it is never drawn
    options = SamplingOptions(temperature=1.0)
    steps = list(sample_ids(lm.network, [vocab.start_id], 30, options, sample_generators(0, 4),
                            exclude=(vocab.start_id,)))  # fmt: skip
    assert all(vocab.start_id not in ids for ids in steps)
    bias[vocab.end_id] = 100.0  # now the end marker at once: empty documents
    assert lm.generate(30, num_samples=3, seed=0) == ["", "", ""]
    assert lm.generate(30, prime="Ka", seed=0) == ""
    fake = (ids for ids in [np.array([1, 4]), np.array([4, 2]), np.array([9, 9])])
    assert batch_documents(fake, 2, end_id=4) == [[1], []]


def test_score_reads_each_text_as_a_document(names_lm):
    [one] = names_lm.score(["Mona"], per_char=True)
    assert one["chars"] == 5 and one["surprise"][-1][0] == ""  # the end marker
    result = evaluate_documents(names_lm.network, document_ids(names_lm.vocab, ["Mona"]),
                                names_lm.vocab.start_id)  # fmt: skip
    assert one["loss"] == pytest.approx(result["loss"], rel=1e-6)


# -- command line, resume, old checkpoints ------------------------------------------------
def test_cli_train_sample_eval_score_documents(tmp_path, capsys):
    corpus = tmp_path / "names.txt"
    corpus.write_text(NAMES)
    out = tmp_path / "run"
    code = main(["textgen", "train", str(corpus), "--documents", "lines", "--out", str(out),
                 "--steps", "30", "--hidden-size", "16", "--num-layers", "1",
                 "--embedding-dim", "8", "--batch-size", "8", "--eval-every", "10",
                 "--sample-length", "0", "--quiet"])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["textgen", "sample", str(out), "--num-samples", "5", "--seed", "2",
                 "--length", "100"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(0 < len(line) < 100 for line in lines)  # one name a line
    assert main(["textgen", "sample", str(out), "--prime", "Ka", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Ka") and printed.count("\n") == 1
    assert main(["textgen", "eval", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["documents"] == 20 and "held-out documents" in result["text"]
    (tmp_path / "two.txt").write_text("Mona\nKari\n")
    assert main(["textgen", "score", str(out), str(tmp_path / "two.txt"), "--json"]) == 0
    scores = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["chars"] for s in scores] == [5, 5]
    assert main(["textgen", "train", str(corpus), "--documents", "lines", "--engine", "torch",
                 "--out", str(tmp_path / "t"), "--steps", "1", "--quiet"]) != 0  # fmt: skip


def _losses(run_dir: Path) -> list[dict]:
    keep = ("step", "loss", "val_loss", "lr")
    return [{k: r[k] for k in keep if k in r} for r in MetricsLog(run_dir / "metrics.jsonl").read()]


def test_exact_resume_in_documents_mode(tmp_path):
    corpus = tmp_path / "names.txt"
    corpus.write_text(NAMES)
    arch = dict(TINY, num_layers=2, dropout=0.3)  # dropout draws from the engine RNG
    settings = dict(FAST, documents="lines", lr_decay=0.9, lr_decay_after=12, lr_decay_every=7)
    full = CharLM(**arch)
    full.fit(corpus, out=tmp_path / "full", steps=70, progress=False, **settings)  # > 2 epochs
    part = CharLM(**arch)
    assert part.fit(corpus, out=tmp_path / "part", steps=30, progress=False, **settings).step == 30
    resumed = CharLM()
    result = resumed.fit(out=tmp_path / "part", resume=True, steps=70, progress=False)
    assert result.step == 70 and resumed.settings.documents == "lines"
    assert _losses(tmp_path / "part") == _losses(tmp_path / "full")
    for name, value in full.network.state_dict().items():
        np.testing.assert_array_equal(resumed.network.state_dict()[name], value)


def test_old_format_checkpoint_has_no_documents_and_behaves_as_before():
    lm = CharLM.load(DATA / "textgen_v1.npz")
    assert lm.settings.documents == "none" and not lm.vocab.markers
    assert len(lm.default_prime()) == 1  # a newline (or the first symbol), as before
    assert len(lm.vocab) == lm.config.vocab_size
    assert lm.vocab.to_dict().keys() == {"encoding", "symbols"}
