"""ONNX export of the layer-normalised LSTM: no operator computes it and its state enters the
step non-linearly, so the graph is the input side over the sequence (MatMul,
LayerNormalization) and a Scan whose body is the step (the recurrent MatMul, its
LayerNormalization, the gates, the cell state's normalisation); onnxruntime computes what
rnnkit computes (1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs the onnx extra: pip install 'rnnkit[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install 'rnnkit[onnx]'")

from interop_models import HELD_OUT, scramble, sentiment, textgen  # noqa: E402
from rnnkit.interop import export  # noqa: E402
from rnnkit.interop import onnx as rx  # noqa: E402
from rnnkit.nn import LayerNormLSTM  # noqa: E402
from test_interop_onnx import classifier_inputs  # noqa: E402

TOL = 1e-5


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def op_types(graph) -> set[str]:
    """The operators of ``graph`` and of its subgraphs (the Scan bodies)."""
    found = set()
    for node in graph.node:
        found.add(node.op_type)
        for attribute in node.attribute:
            if attribute.g.node:
                found |= op_types(attribute.g)
    return found


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_bare_ln_lstm_layers_match_onnxruntime(bidirectional, bias):
    rng = np.random.default_rng(0)
    layer = LayerNormLSTM(5, 7, num_layers=2, bias=bias, bidirectional=bidirectional,
                          batch_first=bidirectional)  # fmt: skip
    scramble(layer, 1)  # gains and shifts away from 1 and 0 as well
    T, B, LD = 6, 4, 2 * (2 if bidirectional else 1)
    x = rng.standard_normal((B, T, 5) if bidirectional else (T, B, 5)).astype(np.float32)
    h0, c0 = (rng.standard_normal((LD, B, 7)).astype(np.float32) for _ in range(2))
    lengths = np.array([6, 3, 1, 5])  # mixed lengths: padding holds, reverse inside each length
    out, (h_n, c_n) = layer(x, (h0, c0), lengths=lengths)
    model = rx.layer_model(layer)
    assert rx.OPSET >= 17  # LayerNormalization
    ops = op_types(model.graph)
    assert {"Scan", "LayerNormalization", "MatMul"} <= ops
    assert not {"LSTM", "GRU", "RNN"} & ops
    got = session(model).run(None, {"input": x, "h0": h0, "c0": c0, "lengths": lengths})
    assert len(got) == 3  # output, h_n, c_n
    for name, a, b in zip(("output", "h_n", "c_n"), got, (out, h_n, c_n), strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0, err_msg=name)


def test_full_length_sequences_need_no_mask():
    layer = LayerNormLSTM(3, 4, bidirectional=True)
    scramble(layer, 5)
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    zeros = np.zeros((2, 2, 4), np.float32)
    out, (h_n, c_n) = layer(x)
    got = session(rx.layer_model(layer)).run(
        None, {"input": x, "h0": zeros, "c0": zeros, "lengths": np.array([5, 5])})
    for a, b in zip(got, (out, h_n, c_n), strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)


def test_the_graph_follows_the_cells_declared_step(monkeypatch):
    """The step comes from the builder the cell's ``onnx_step`` names: with another builder
    under that name the graph computes something else (the test can fail)."""
    layer = LayerNormLSTM(3, 4)
    scramble(layer, 2)
    assert layer.cell.onnx_step in rx.STEPS
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    zeros = np.zeros((1, 2, 4), np.float32)
    feeds = {"input": x, "h0": zeros, "c0": zeros, "lengths": np.array([5, 5])}
    right = session(rx.layer_model(layer)).run(["output"], feeds)[0]
    builder = rx.STEPS[layer.cell.onnx_step]

    def swapped(*args):  # h and c swapped in the step
        gx, step = builder(*args)
        return gx, lambda body, gx_t, state: step(body, gx_t, state)[::-1]

    monkeypatch.setitem(rx.STEPS, layer.cell.onnx_step, swapped)
    wrong = session(rx.layer_model(layer)).run(["output"], feeds)[0]
    assert np.abs(right - layer(x)[0]).max() < TOL < np.abs(wrong - right).max()


def test_ln_lstm_text_generator_matches_and_steps_one_character_at_a_time(tmp_path):
    lm = textgen(cell="ln_lstm", num_layers=2, seed=4)
    path, sidecar = export(lm, "onnx", tmp_path / "lm.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["ids", "h0", "c0"]
    rng = np.random.default_rng(3)
    ids = rng.integers(0, len(lm.vocab), size=(9, 3))  # (T, B)
    h0, c0 = (rng.standard_normal((2, 3, 12)).astype(np.float32) for _ in range(2))
    lm.network.eval()
    logits, (h_n, c_n) = lm.network(ids, (h0, c0))
    got = sess.run(None, {"ids": ids, "h0": h0, "c0": c0})
    for a, b in zip(got, (logits, h_n, c_n), strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)
    h, c = h0, c0
    for t in range(ids.shape[0]):  # T = 1 steps, the state carried
        out, h, c = sess.run(None, {"ids": ids[t : t + 1], "h0": h, "c0": c})
        np.testing.assert_allclose(out[0], logits[t], atol=TOL, rtol=0)


@pytest.mark.parametrize("model", [
    dict(pooling="last", bidirectional=True, num_layers=2),
    dict(pooling="max", bidirectional=True, num_layers=1),
    dict(pooling="mean", bidirectional=False, num_layers=2),
    dict(pooling="max", bidirectional=True, num_layers=1, char_ngrams=(3, 4)),
], ids=lambda m: f"{m['pooling']}-{m['num_layers']}-{m['bidirectional']}")  # fmt: skip
def test_ln_lstm_classifier_matches_and_padding_changes_nothing(tmp_path, model):
    clf = sentiment(cell="ln_lstm", seed=model["num_layers"], **model)
    path, _ = export(clf, "onnx", tmp_path / "clf.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = classifier_inputs(clf, HELD_OUT)  # mixed lengths in one batch
    (probs,) = sess.run(None, feeds)
    np.testing.assert_allclose(probs, clf.predict_proba(HELD_OUT), atol=TOL, rtol=0)
    padded = {k: v if k == "lengths" else
              np.concatenate([v, np.full((*v.shape[:1], 4, *v.shape[2:]), 2)], axis=1)
              for k, v in feeds.items()}  # fmt: skip
    np.testing.assert_allclose(sess.run(None, padded)[0], probs, atol=TOL, rtol=0)


def test_the_export_command_exports_an_ln_lstm_run(tmp_path, capsys):
    from rnnkit.cli import main

    for name, make in (("lm", textgen), ("clf", sentiment)):
        make(tmp_path / name, cell="ln_lstm")
        assert main(["export", str(tmp_path / name), "--format", "onnx"]) == 0
        model = onnx.load(tmp_path / name / "model.onnx")
        onnx.checker.check_model(model, full_check=True)
        assert "LayerNormalization" in op_types(model.graph)
    capsys.readouterr()
    # the exported text generator computes the saved run's logits
    from rnnkit.textgen import CharLM

    lm = CharLM.load(tmp_path / "lm")
    sess = ort.InferenceSession(str(tmp_path / "lm" / "model.onnx"),
                                providers=["CPUExecutionProvider"])  # fmt: skip
    ids = np.arange(8).reshape(4, 2) % len(lm.vocab)
    zeros = np.zeros((2, 2, 12), np.float32)
    lm.network.eval()
    logits, _ = lm.network(ids)
    got = sess.run(["logits"], {"ids": ids, "h0": zeros, "c0": zeros})[0]
    np.testing.assert_allclose(got, logits, atol=TOL, rtol=0)
