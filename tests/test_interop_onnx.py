"""ONNX export: onnx.checker passes and onnxruntime computes what rnnkit computes (1e-5)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx", reason="needs the onnx extra: pip install 'rnnkit[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install 'rnnkit[onnx]'")

from interop_models import HELD_OUT, scramble, sentiment, textgen  # noqa: E402
from rnnkit.interop import export  # noqa: E402
from rnnkit.interop import onnx as rx  # noqa: E402
from rnnkit.nn import GRU, LSTM, RNN  # noqa: E402
from rnnkit.sentiment.data import encode_texts  # noqa: E402
from rnnkit.text.batching import pad_batch  # noqa: E402

TOL = 1e-5


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


LAYERS = [
    (LSTM, {}),
    (GRU, {}),
    (GRU, {"reset_after": False}),
    (RNN, {}),
    (RNN, {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize("cls,kw", LAYERS, ids=["lstm", "gru", "gru-cho", "rnn-tanh", "rnn-relu"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_bare_layers_match_onnxruntime(cls, kw, bidirectional):
    rng = np.random.default_rng(0)
    layer = cls(5, 7, num_layers=2, bidirectional=bidirectional, batch_first=bidirectional, **kw)
    scramble(layer, 1)
    T, B, LD = 6, 4, 2 * (2 if bidirectional else 1)
    x = rng.standard_normal((B, T, 5) if bidirectional else (T, B, 5)).astype(np.float32)
    h0, c0 = rng.standard_normal((2, LD, B, 7)).astype(np.float32)
    lengths = np.array([6, 3, 1, 5])  # mixed lengths: sequence_lens, reverse inside each length
    lstm = layer.mode == "LSTM"
    out, final = layer(x, (h0, c0) if lstm else h0, lengths=lengths)
    feeds = {"input": x, "h0": h0, "lengths": lengths, **({"c0": c0} if lstm else {})}
    got = session(rx.layer_model(layer)).run(None, feeds)
    for a, b in zip(got, [out, *(final if lstm else [final])], strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)


def test_the_gate_layout_is_converted_not_copied():
    """A graph with rnnkit's gate order as it is computes something else (the test can fail)."""
    layer = LSTM(3, 4)
    scramble(layer, 2)
    model = rx.layer_model(layer)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    zeros = np.zeros((1, 2, 4), np.float32)
    feeds = {"input": x, "h0": zeros, "c0": zeros, "lengths": np.array([5, 5])}
    right = session(model).run(["output"], feeds)[0]
    w = next(t for t in model.graph.initializer if t.name.startswith("W"))
    import onnx

    array = onnx.numpy_helper.to_array(w).copy()
    array[0, 4:8], array[0, 8:12] = array[0, 8:12].copy(), array[0, 4:8].copy()  # swap o and f
    w.CopyFrom(onnx.numpy_helper.from_array(array, w.name))
    wrong = session(model).run(["output"], feeds)[0]
    assert np.abs(right - layer(x)[0]).max() < TOL < np.abs(wrong - right).max()


@pytest.mark.parametrize("cell,num_layers", [("lstm", 1), ("gru", 2), ("rnn", 3)])
def test_text_generator_matches_and_steps_one_character_at_a_time(tmp_path, cell, num_layers):
    lm = textgen(cell=cell, num_layers=num_layers, seed=num_layers)
    path, sidecar = export(lm, "onnx", tmp_path / "lm.onnx")
    import onnx

    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = json.loads(sess.get_modelmeta().custom_metadata_map["rnnkit"])
    assert meta == json.loads(sidecar.read_text()) and meta["vocab"] == lm.vocab.to_dict()
    rng = np.random.default_rng(3)
    ids = rng.integers(0, len(lm.vocab), size=(9, 3))  # (T, B)
    L, H = num_layers, 12
    lstm = cell == "lstm"
    state = (
        tuple(rng.standard_normal((2, L, 3, H)).astype(np.float32))
        if lstm
        else rng.standard_normal((L, 3, H)).astype(np.float32)
    )
    lm.network.eval()
    logits, final = lm.network(ids, state)
    feeds = {"ids": ids, **({"h0": state[0], "c0": state[1]} if lstm else {"h0": state})}
    got = sess.run(None, feeds)
    for a, b in zip(got, [logits, *(final if lstm else [final])], strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)
    # the same through T = 1 steps, carrying the state
    feeds = {k: v for k, v in feeds.items() if k != "ids"}
    for t in range(ids.shape[0]):
        out = sess.run(None, {"ids": ids[t : t + 1], **feeds})
        feeds = dict(zip(["h0", "c0"] if lstm else ["h0"], out[1:], strict=True))
        np.testing.assert_allclose(out[0][0], logits[t], atol=TOL, rtol=0)


def greedy_onnx(sess, meta, prime: str, length: int) -> str:
    """Greedy decoding with onnxruntime and the sidecar's vocabulary only."""
    symbols = meta["vocab"]["symbols"]
    index = {chr(s): i for i, s in enumerate(symbols)}
    L, H = meta["num_layers"], meta["hidden_size"]
    state = {name: np.zeros((L, 1, H), np.float32) for name in meta["inputs"] if name != "ids"}
    ids = np.array([[index[c]] for c in prime], dtype=np.int64)  # (T, 1)
    out = []
    for _ in range(length):
        logits, *final = sess.run(None, {"ids": ids, **state})
        state = dict(zip(state, final, strict=True))
        next_id = int(np.argmax(logits[-1, 0]))
        out.append(chr(symbols[next_id]))
        ids = np.array([[next_id]], dtype=np.int64)
    return "".join(out)


def test_greedy_text_through_onnxruntime_equals_textgen_sample_greedy(tmp_path, capsys):
    from rnnkit.cli import main
    from rnnkit.textgen import CharLM

    textgen(tmp_path / "run", cell="lstm", num_layers=2, steps=4)  # the run on disk is trained only
    lm = CharLM.load(tmp_path / "run")
    assert (
        main(
            ["export", str(tmp_path / "run"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "textgen",
                "sample",
                str(tmp_path / "run"),
                "--greedy",
                "--prime",
                "To be",
                "--length",
                "60",
            ]
        )
        == 0
    )
    cli_text = capsys.readouterr().out
    meta = json.loads((tmp_path / "m.onnx.json").read_text())
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    text = greedy_onnx(sess, meta, "To be", 60)
    assert cli_text == "To be" + text + "\n"
    assert text == lm.generate(60, prime="To be", greedy=True)


def classifier_inputs(clf, texts):
    ids, lengths = pad_batch(
        encode_texts(
            texts,
            clf.tokenizer,
            clf.vocab,
            clf.text.max_length,
            clf.text.truncate,
            clf.text.unknown_backoff,
            clf.subwords,
        )
    )
    if ids.ndim == 3:
        return {
            "ids": ids[:, :, 0].astype(np.int64),
            "lengths": lengths,
            "ngram_ids": ids[:, :, 1:].astype(np.int64),
        }
    return {"ids": ids.astype(np.int64), "lengths": lengths}


CLASSIFIERS = [
    dict(cell="lstm", pooling="max", bidirectional=True, num_layers=1),
    dict(cell="gru", pooling="mean", bidirectional=True, num_layers=2),
    dict(cell="lstm", pooling="last", bidirectional=True, num_layers=3),
    dict(cell="gru", pooling="last", bidirectional=False, num_layers=1),
    dict(cell="lstm", pooling="mean", bidirectional=False, num_layers=2, char_ngrams=(3, 4)),
]


@pytest.mark.parametrize(
    "model", CLASSIFIERS, ids=lambda m: f"{m['cell']}-{m['pooling']}-{m['num_layers']}"
)
def test_classifier_matches_and_padding_changes_nothing(tmp_path, model):
    clf = sentiment(seed=model["num_layers"], **model)
    path, _ = export(clf, "onnx", tmp_path / "clf.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = classifier_inputs(clf, HELD_OUT)  # mixed lengths in one batch
    assert len(set(feeds["lengths"])) > 2
    (probs,) = sess.run(None, feeds)
    np.testing.assert_allclose(probs, clf.predict_proba(HELD_OUT), atol=TOL, rtol=0)
    # more padding (and garbage ids in it) leaves every probability as it was
    padded = {
        k: np.concatenate([v, np.full((*v.shape[:1], 4, *v.shape[2:]), 2)], axis=1)
        if k != "lengths"
        else v
        for k, v in feeds.items()
    }
    np.testing.assert_allclose(sess.run(None, padded)[0], probs, atol=TOL, rtol=0)
    # one text at a time gives the same as the batch
    for i, text in enumerate(HELD_OUT[:2]):
        np.testing.assert_allclose(
            sess.run(None, classifier_inputs(clf, [text]))[0][0], probs[i], atol=TOL
        )


def test_three_class_classifier_uses_softmax(tmp_path):
    labels = ["neg", "pos", "neutral"] * 4
    clf = sentiment(labels=labels, pooling="max")
    path, sidecar = export(clf, "onnx", tmp_path / "c3.onnx")
    (probs,) = ort.InferenceSession(str(path)).run(None, classifier_inputs(clf, HELD_OUT))
    assert probs.shape == (len(HELD_OUT), 3)
    np.testing.assert_allclose(probs, clf.predict_proba(HELD_OUT), atol=TOL, rtol=0)
    assert json.loads(sidecar.read_text())["labels"] == clf.labels


def test_export_command_and_its_errors(tmp_path, capsys):
    from rnnkit.cli import main

    sentiment(tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--format", "onnx"]) == 0
    assert (tmp_path / "run" / "model.onnx").is_file() and (
        tmp_path / "run" / "model.onnx.json"
    ).is_file()
    assert "model.onnx" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "nothing"), "--format", "onnx"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing" in err
    assert (
        main(
            [
                "export",
                str(tmp_path / "run"),
                "--format",
                "onnx",
                "--out",
                str(tmp_path / "no" / "m.onnx"),
            ]
        )
        == 1
    )
    assert "--out" in capsys.readouterr().err


def test_classifier_with_word_ngrams_matches_from_the_sidecar_alone(tmp_path):
    """The wide path in ONNX: its inputs built from the sidecar JSON only (tokenizer rules
    and the n-gram list), without rnnkit."""
    import re

    clf = sentiment(seed=5, word_ngrams=(1, 2), word_ngram_min_texts=1, max_length=3)
    clf.network.wide_ratio.data[0] = clf.network.wide.weight.data[0] = 0.0  # padding row
    path, sidecar = export(clf, "onnx", tmp_path / "clf.onnx")
    meta = json.loads(sidecar.read_text())
    grams = meta["word_ngrams"]
    assert meta["inputs"]["word_ngram_ids"] == "(B, M) int64" and grams["n_max"] == 2
    index = {g: i + 1 for i, g in enumerate(grams["ngrams"])}
    tok = meta["tokenizer"]

    def word_ngram_ids(text):  # the whole text, as the sidecar describes
        text = re.sub(tok["html_tag_pattern"], " ", text).lower()
        for old, new in tok["replace"].items():
            text = text.replace(old, new)
        words = re.findall(tok["token_pattern"], text)
        found = {" ".join(words[i : i + n]) for n in range(grams["n_min"], grams["n_max"] + 1)
                 for i in range(len(words) - n + 1)}  # fmt: skip
        return sorted(index[g] for g in found if g in index)

    feeds = classifier_inputs(clf, HELD_OUT)
    rows = [word_ngram_ids(t) for t in HELD_OUT]
    assert max(map(len, rows)) > 3  # more n-grams than the recurrent path's 3 words
    ids = np.zeros((len(rows), max(map(len, rows)) + 2), np.int64)  # extra padding columns
    for row, found in zip(ids, rows, strict=True):
        row[: len(found)] = found
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (probs,) = sess.run(None, {**feeds, "word_ngram_ids": ids})
    np.testing.assert_allclose(probs, clf.predict_proba(HELD_OUT), atol=TOL, rtol=0)
    without = clf.network.wide.weight.data.copy()
    clf.network.wide.weight.data[...] = 0.0  # the wide path matters to the figure above
    assert np.abs(clf.predict_proba(HELD_OUT) - probs).max() > 1e-3
    clf.network.wide.weight.data[...] = without
