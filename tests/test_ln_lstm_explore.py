"""The explorer with the layer-normalised LSTM: the data endpoints (no browser) describe, trace
and measure ln_lstm models; the gates view gets its sigmoid gates i, f and o (g is a tanh)."""

from __future__ import annotations

import numpy as np
import pytest

from explore_models import TEXT, train_sentiment, train_textgen
from rnnkit.explore.api import Explorer
from rnnkit.explore.models import load_models

#: the sigmoid gates the gates view shows
GATES = {"i", "f", "o"}


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore-ln")
    train_textgen(root / "ln_lstm", steps=10, cell="ln_lstm")
    train_sentiment(root / "st", epochs=3, cell="ln_lstm")
    return Explorer(load_models([root / "ln_lstm", root / "st"]))


def test_the_gates_view_shows_the_ln_lstms_gates(explorer):
    models = {m["name"]: m for m in explorer.list_models()["models"]}
    described = models["ln_lstm"]
    assert described["cell"] == "ln_lstm" and described["states"] == ["h", "c"]
    assert described["gates"] == ["i", "f", "g", "o"]
    text = TEXT[:120]
    trace = explorer.trace({"model": "ln_lstm", "text": text,
                            "cells": [{"layer": 1, "kind": "f", "unit": 3},
                                      {"layer": 0, "kind": "g", "unit": 2},
                                      {"layer": 0, "kind": "tanh_c", "unit": 1}]})  # fmt: skip
    assert [set(layer["gates"]) for layer in trace["gates"]] == [GATES] * 2
    for layer in trace["gates"]:
        for gate in layer["gates"].values():
            assert len(gate["left"]) == len(gate["right"]) == 16
            assert all(0.0 <= v <= 1.0 for v in gate["left"] + gate["right"])
    forget, candidate, cell = (np.array(c["values"]) for c in trace["cells"])
    assert forget.shape == (len(text),) and ((forget > 0) & (forget < 1)).all()  # a sigmoid
    assert (np.abs(candidate) <= 1).all() and (candidate < 0).any()  # a tanh: both signs
    assert (np.abs(cell) <= 1).all()
    lm = explorer.models["ln_lstm"].app
    assert trace["loss"] == pytest.approx(lm.evaluate(text)["loss"], abs=1e-3)
    # the gate values are the network's: i, f, g, o of the layer's own step
    traced = lm.network.rnn.trace(lm.network.embedding(np.array([lm.vocab.encode(text)]).T))
    np.testing.assert_allclose(forget, traced[1]["f"][:, 0, 0, 3], atol=6e-4)  # 3 decimals
    found = explorer.cells({"model": "ln_lstm", "text": text, "position": "line", "top": 3})
    assert len(found["cells"]) == 3 and {c["kind"] for c in found["cells"]} <= {"h", "tanh_c"}
    flow = explorer.gradients({"model": "ln_lstm"})  # the gradient view
    assert len(flow["layers"]) == 2
    assert all(np.isfinite(layer["trained"]).all() for layer in flow["layers"])


def test_an_ln_lstm_classifier_classifies(explorer):
    verdict = explorer.classify({"model": "st", "text": "i love this film"})
    assert verdict["label"] in ("neg", "pos") and len(verdict["trajectory"]) == 4


def test_the_gradient_views_hidden_state_gradients_are_the_layers():
    """dL/dh_t from stepping the cell equals what the layer's backward gives for the initial
    state of the rest of the sequence, run from (h_t, c_t)."""
    from rnnkit.analysis.gradient_flow import hidden_state_gradients
    from rnnkit.nn import LayerNormLSTM, manual_seed

    manual_seed(3)
    layer = LayerNormLSTM(3, 5, dtype=np.float64)
    rng = np.random.default_rng(0)
    for _, p in layer.named_parameters():  # gains and shifts away from 1 and 0
        p.data += rng.uniform(-0.3, 0.3, p.shape)
    x = rng.standard_normal((6, 2, 3))
    grad_last = rng.standard_normal((2, 5))
    grads = hidden_state_gradients(layer, x, grad_last)
    traced = layer.trace(x)[0]
    for t in (0, 2, 4):
        state = (traced["h"][t][None, :, 0], traced["c"][t][None, :, 0])
        out, _ = layer(x[t + 1 :], state)
        dout = np.zeros_like(out)
        dout[-1] = grad_last
        _, (dh, _) = layer.backward(dout)
        np.testing.assert_allclose(grads[t], dh[0], atol=1e-10)
