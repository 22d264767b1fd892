"""ONNX export of the minimal cells (minGRU, minLSTM): no operator computes them, so the graph
is MatMul over the sequence and a Scan of ``h_t = a_t h_{t-1} + b_t``; onnxruntime computes
what rnnkit computes (1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs the onnx extra: pip install 'rnnkit[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install 'rnnkit[onnx]'")

from interop_models import HELD_OUT, scramble, sentiment, textgen  # noqa: E402
from rnnkit.interop import export  # noqa: E402
from rnnkit.interop import onnx as rx  # noqa: E402
from rnnkit.nn import MinGRU, MinLSTM  # noqa: E402
from test_interop_onnx import classifier_inputs  # noqa: E402

TOL = 1e-5


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM], ids=["min_gru", "min_lstm"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_bare_min_layers_match_onnxruntime(cls, bidirectional):
    rng = np.random.default_rng(0)
    layer = cls(5, 7, num_layers=2, bidirectional=bidirectional, batch_first=bidirectional)
    scramble(layer, 1)
    T, B, LD = 6, 4, 2 * (2 if bidirectional else 1)
    x = rng.standard_normal((B, T, 5) if bidirectional else (T, B, 5)).astype(np.float32)
    h0 = rng.standard_normal((LD, B, 7)).astype(np.float32)
    lengths = np.array([6, 3, 1, 5])  # mixed lengths: padding holds, reverse inside each length
    out, final = layer(x, h0, lengths=lengths)
    model = rx.layer_model(layer)
    assert "Scan" in {n.op_type for n in model.graph.node}
    assert not {"LSTM", "GRU", "RNN"} & {n.op_type for n in model.graph.node}
    got = session(model).run(None, {"input": x, "h0": h0, "lengths": lengths})
    assert len(got) == 2  # output, h_n: no cell state
    np.testing.assert_allclose(got[0], out, atol=TOL, rtol=0)
    np.testing.assert_allclose(got[1], final, atol=TOL, rtol=0)


def test_the_graph_follows_the_cells_declared_recurrence(monkeypatch):
    """The coefficients come from the builder the cell's ``recurrence`` names: with another
    builder under that name the graph computes something else (the test can fail)."""
    layer = MinGRU(3, 4)
    scramble(layer, 2)
    assert layer.cell.recurrence in rx.RECURRENCES
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    feeds = {"input": x, "h0": np.zeros((1, 2, 4), np.float32), "lengths": np.array([5, 5])}
    right = session(rx.layer_model(layer)).run(["output"], feeds)[0]
    builder = rx.RECURRENCES[layer.cell.recurrence]
    monkeypatch.setitem(rx.RECURRENCES, layer.cell.recurrence,
                        lambda g, pre, H: builder(g, pre, H)[::-1])  # a and b swapped
    wrong = session(rx.layer_model(layer)).run(["output"], feeds)[0]
    assert np.abs(right - layer(x)[0]).max() < TOL < np.abs(wrong - right).max()


@pytest.mark.parametrize("cell", ["min_gru", "min_lstm"])
def test_min_text_generator_matches_and_steps_one_character_at_a_time(tmp_path, cell):
    lm = textgen(cell=cell, num_layers=2, seed=4)
    path, sidecar = export(lm, "onnx", tmp_path / "lm.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["ids", "h0"]
    rng = np.random.default_rng(3)
    ids = rng.integers(0, len(lm.vocab), size=(9, 3))  # (T, B)
    h0 = rng.standard_normal((2, 3, 12)).astype(np.float32)
    lm.network.eval()
    logits, final = lm.network(ids, h0)
    got = sess.run(None, {"ids": ids, "h0": h0})
    np.testing.assert_allclose(got[0], logits, atol=TOL, rtol=0)
    np.testing.assert_allclose(got[1], final, atol=TOL, rtol=0)
    state = h0
    for t in range(ids.shape[0]):  # T = 1 steps, the state carried
        out, state = sess.run(None, {"ids": ids[t : t + 1], "h0": state})
        np.testing.assert_allclose(out[0], logits[t], atol=TOL, rtol=0)


@pytest.mark.parametrize("model", [
    dict(cell="min_gru", pooling="last", bidirectional=True, num_layers=2),
    dict(cell="min_lstm", pooling="max", bidirectional=True, num_layers=1),
    dict(cell="min_lstm", pooling="mean", bidirectional=False, num_layers=2),
    dict(cell="min_gru", pooling="max", bidirectional=True, num_layers=1, char_ngrams=(3, 4)),
], ids=lambda m: f"{m['cell']}-{m['pooling']}-{m['num_layers']}")  # fmt: skip
def test_min_classifier_matches_and_padding_changes_nothing(tmp_path, model):
    clf = sentiment(seed=model["num_layers"], **model)
    path, _ = export(clf, "onnx", tmp_path / "clf.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = classifier_inputs(clf, HELD_OUT)  # mixed lengths in one batch
    (probs,) = sess.run(None, feeds)
    np.testing.assert_allclose(probs, clf.predict_proba(HELD_OUT), atol=TOL, rtol=0)
    padded = {k: v if k == "lengths" else
              np.concatenate([v, np.full((*v.shape[:1], 4, *v.shape[2:]), 2)], axis=1)
              for k, v in feeds.items()}  # fmt: skip
    np.testing.assert_allclose(sess.run(None, padded)[0], probs, atol=TOL, rtol=0)


def test_the_export_command_exports_a_min_cell_run(tmp_path, capsys):
    from rnnkit.cli import main

    textgen(tmp_path / "run", cell="min_lstm")
    assert main(["export", str(tmp_path / "run"), "--format", "onnx"]) == 0
    assert (tmp_path / "run" / "model.onnx").is_file()
    onnx.checker.check_model(onnx.load(tmp_path / "run" / "model.onnx"), full_check=True)
    capsys.readouterr()


def test_min_lstm_graph_is_exact_where_both_gates_underflow():
    """With both gate pre-activations near -120, σ of each is 0 in float32 and ``f / (f + i)``
    would be 0 / 0; the graph computes ``a = σ(-d)`` with ``d = log(i / f)`` (here -2), as
    the scan does, so its output is finite and is the hand-computed one."""
    layer = MinLSTM(3, 4)
    scramble(layer, 3)
    params = dict(layer.named_parameters())
    weight, bias = params["weight_ih_l0"].data, params["bias_ih_l0"].data
    weight[:8] = 0.0  # the f and i blocks see no input: their pre-activations are the biases
    bias[:4], bias[4:8] = -120.0, -122.0
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((1, 2, 4)).astype(np.float32)
    feeds = {"input": x, "h0": h0, "lengths": np.array([5, 5])}
    got = session(rx.layer_model(layer)).run(["output"], feeds)[0]
    a = 1.0 / (1.0 + np.exp(-2.0))  # f / (f + i) = 1 / (1 + e^-2)
    candidate = x.astype(np.float64) @ weight[8:].T.astype(np.float64) + bias[8:]
    h, want = h0[0].astype(np.float64), []
    for t in range(5):
        h = a * h + (1.0 - a) * candidate[t]
        want.append(h)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, np.stack(want), atol=TOL, rtol=0)
