"""The explorer with the minimal cells: the data endpoints (no browser) describe, trace and
measure min_gru / min_lstm models; the gates view gets minGRU's z (its only gate) and
minLSTM's f and i."""

from __future__ import annotations

import numpy as np
import pytest

from explore_models import TEXT, train_sentiment, train_textgen
from rnnkit.explore.api import Explorer
from rnnkit.explore.models import load_models

#: the sigmoid gates the gates view shows, per cell
GATES = {"min_gru": {"z"}, "min_lstm": {"f", "i"}}


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore-min")
    for cell in GATES:
        train_textgen(root / cell, steps=10, cell=cell)
    train_sentiment(root / "st", epochs=3, cell="min_lstm")
    return Explorer(load_models([root / "min_gru", root / "min_lstm", root / "st"]))


@pytest.mark.parametrize("cell", sorted(GATES))
def test_the_gates_view_shows_the_min_cells_gates(explorer, cell):
    models = {m["name"]: m for m in explorer.list_models()["models"]}
    described = models[cell]
    assert described["cell"] == cell and described["states"] == ["h"]
    assert set(described["gates"]) >= GATES[cell]
    text = TEXT[:120]
    trace = explorer.trace({"model": cell, "text": text,
                            "cells": [{"layer": 1, "kind": sorted(GATES[cell])[0], "unit": 3}]})
    assert [set(layer["gates"]) for layer in trace["gates"]] == [GATES[cell]] * 2
    for layer in trace["gates"]:
        for gate in layer["gates"].values():
            assert len(gate["left"]) == len(gate["right"]) == 16
            assert all(0.0 <= v <= 1.0 for v in gate["left"] + gate["right"])
    values = np.array(trace["cells"][0]["values"])
    assert values.shape == (len(text),) and ((values > 0) & (values < 1)).all()  # a sigmoid
    lm = explorer.models[cell].app
    assert trace["loss"] == pytest.approx(lm.evaluate(text)["loss"], abs=1e-3)
    found = explorer.cells({"model": cell, "text": text, "position": "line", "top": 3})
    assert len(found["cells"]) == 3 and all(c["kind"] == "h" for c in found["cells"])
    flow = explorer.gradients({"model": cell})  # the gradient view: cells without W_hh
    assert len(flow["layers"]) == 2
    assert all(np.isfinite(layer["trained"]).all() for layer in flow["layers"])


def test_a_min_cell_classifier_classifies(explorer):
    verdict = explorer.classify({"model": "st", "text": "i love this film"})
    assert verdict["label"] in ("neg", "pos") and len(verdict["trajectory"]) == 4
