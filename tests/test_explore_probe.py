"""The probing views' computations: stepping with a clamp, select and match, the
classifier's cells and ablation, steering; and their endpoints' bounds (4xx, never a 500)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explore_models import SENTENCES, TEXT, train_sentiment, train_textgen
from rnnkit.explore import views
from rnnkit.explore.api import LIMITS, ApiError, Explorer
from rnnkit.explore.models import load_models
from rnnkit.explore.probe import Clamp, label_cells, run_sequence, select_and_match


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    train_textgen(root / "tg", steps=30)
    train_sentiment(root / "st", epochs=20)
    train_sentiment(root / "bi", epochs=3, bidirectional=True, num_layers=2, pooling="max")
    return root


@pytest.fixture(scope="module")
def explorer(runs):
    return Explorer(load_models([runs / "tg", runs / "st", runs / "bi"]))


EXAMPLES = [[text, label] for text, label in SENTENCES]


# -- stepping by hand -------------------------------------------------------------------
def test_run_sequence_without_clamp_is_the_network(explorer):
    net = explorer.models["tg"].app.network
    net.eval()
    ids = np.array(explorer.models["tg"].app.vocab.encode(TEXT[:50]))
    logits, (h, c) = net(ids[:, None])
    outputs, (h2, c2) = run_sequence(net.rnn, net.embedding(ids[:, None])[:, 0])
    assert np.allclose(net.decoder(outputs[-1]), logits[:, 0], atol=1e-4)
    assert np.allclose(h[:, 0], h2, atol=1e-5) and np.allclose(c[:, 0], c2, atol=1e-5)


@pytest.mark.parametrize("name", ["st", "bi"])
def test_classifier_run_without_clamp_is_predict(explorer, name):
    from rnnkit.explore.probe import classifier_run

    clf = explorer.models[name].app
    for text, _ in SENTENCES[:4]:
        *_, probs = classifier_run(clf, text)
        assert np.allclose(probs, clf.predict_proba([text])[0], atol=1e-5)


def test_clamp_holds_the_unit_and_changes_what_follows(explorer):
    net = explorer.models["tg"].app.network
    x = net.embedding(np.array(explorer.models["tg"].app.vocab.encode(TEXT[:40]))[:, None])[:, 0]
    free, _ = run_sequence(net.rnn, x)
    held, _ = run_sequence(net.rnn, x, clamp=Clamp(0, 3, 0.75))
    assert np.all(held[0][:, 3] == np.float32(0.75))
    assert not np.allclose(held[1], free[1])  # the layer above reads the clamped value


# -- select and match -------------------------------------------------------------------
def test_select_and_match_ranks_the_same_cells_first():
    T, N = 60, 6
    values = np.zeros((T, N))
    values[10:14, [0, 1]] = 1.0  # the selection: cells 0 and 1 on over [10, 14)
    values[30:34, [0, 1]] = 1.0  # the same two cells: a perfect match
    values[45:49, [0, 1, 2, 3]] = 1.0  # the two and two more: a weaker match
    values[52:56, [0]] = 1.0  # one of the two: weaker still
    found = select_and_match(values, 10, 14, 0.5)
    assert found["selected"] == [0, 1]
    first = found["matches"][0]
    assert (first["start"], first["end"], first["score"]) == (30, 34, 1.0)
    assert first["missing"] == 0 and first["extra"] == 0
    starts = [m["start"] for m in found["matches"]]
    assert starts.index(45) < starts.index(52)
    assert all(not (m["start"] < 14 and m["end"] > 10) for m in found["matches"])  # not itself
    assert select_and_match(values, 0, 5, 0.5) == {"selected": [], "matches": []}
    with pytest.raises(ValueError):
        select_and_match(values, 5, 5, 0.5)


def test_match_endpoint_plots_selects_and_bounds(explorer):
    text = TEXT[:600]
    plot = views.match(explorer, {"model": "tg", "text": text, "layer": 1, "window": 50})
    assert plot["selection"] is None and len(plot["window"]["values"]) == 16
    assert len(plot["window"]["values"][0]) == 50
    span = text.index("return")
    answer = views.match(explorer, {"model": "tg", "text": text, "layer": 1, "threshold": 0.0,
                                    "start": span, "end": span + 6})  # fmt: skip
    assert answer["selection"]["start"] == span
    for m in answer["matches"]:
        assert m["text"] == text[m["start"] : m["end"]] and 0 < m["score"] <= 1
    scores = [m["score"] for m in answer["matches"]]
    assert scores == sorted(scores, reverse=True)
    for bad in ({"start": 5}, {"start": 5, "end": 5}, {"start": 0, "end": 500},
                {"threshold": 2.0}, {"kind": "x"}, {"window": 10**6}, {"layer": 9}):  # fmt: skip
        with pytest.raises(ApiError) as info:
            views.match(explorer, {"model": "tg", "text": text, **bad})
        assert 400 <= info.value.status < 500


# -- the classifier's cells -------------------------------------------------------------
def test_label_cells_finds_a_planted_cell_and_says_none_for_noise():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 50, dtype=float)
    X = rng.normal(size=(100, 30))
    X[:, 7] += 2.0 * y
    found = label_cells(X, y)
    assert found["order"][0] == 7 and found["verdict"] == "clear"
    assert found["best"] > found["chance"]
    noise = label_cells(rng.normal(size=(100, 30)), y)
    assert noise["verdict"] in ("none", "weak") and noise["best"] < 0.5
    with pytest.raises(ValueError):
        label_cells(X, np.ones(100))


def test_sentiment_states_and_cells(explorer):
    states = views.sentiment_states(explorer, {"model": "st", "text": "i love this film"})
    assert states["tokens"] == ["i", "love", "this", "film"]
    width = states["directions"] * states["hidden_size"]
    assert len(states["layers"]) == 1 and np.array(states["layers"][0]["h"]).shape == (4, width)
    found = views.sentiment_cells(explorer, {"model": "st", "examples": EXAMPLES})
    assert found["label"] == "pos" and found["label_name"] == "positive"
    assert found["examples"] == 8 and found["verdict"] in ("none", "weak", "clear")
    rs = [abs(c["correlation"]) for c in found["cells"]]
    assert rs == sorted(rs, reverse=True)
    for c in found["cells"]:
        assert c["above_chance"] == (abs(c["correlation"]) > found["chance"])
        assert (c["mean_label"] > c["mean_other"]) == (c["correlation"] > 0)
    for bad in ({"examples": []}, {"examples": [["a", "maybe"]]}, {"examples": [[1, "pos"]]},
                {"examples": [["a b", "pos"]] * (LIMITS["max_examples"] + 1)},
                {"examples": [["good", "pos"], ["fine", "pos"]]},
                {"examples": EXAMPLES, "label": "x"}):  # fmt: skip
        with pytest.raises(ApiError) as info:
            views.sentiment_cells(explorer, {"model": "st", **bad})
        assert 400 <= info.value.status < 500


def test_ablation_zeroing_and_clamping(explorer):
    found = views.sentiment_cells(explorer, {"model": "st", "examples": EXAMPLES})
    best = found["cells"][0]
    cell = {"layer": best["layer"], "unit": best["unit"]}
    text = "i love this film"
    answer = views.sentiment_ablate(explorer, {"model": "st", "text": text, "cell": cell,
                                               "value": 1.0, "examples": EXAMPLES})  # fmt: skip
    clf = explorer.models["st"].app
    base = clf.predict_proba([text])[0]
    assert np.allclose(list(answer["base"]["probabilities"].values()), base, atol=1e-3)
    assert answer["tokens"] == ["i", "love", "this", "film"] and len(answer["values"]) == 4
    assert answer["zeroed"]["probabilities"] != answer["base"]["probabilities"]
    pushed = "pos" if best["correlation"] > 0 else "neg"  # clamping high pushes to its label
    assert (answer["clamped"]["probabilities"][pushed]
            > answer["base"]["probabilities"][pushed])  # fmt: skip
    over = answer["over_examples"]
    assert over["examples"] == 8 and 0 <= over["flipped_zeroed"] <= 8
    assert 0 <= over["accuracy_clamped"] <= 1
    for bad in ({"cell": {"layer": 0, "unit": 99}}, {"cell": 3}, {"cell": cell, "value": 1e9},
                {"cell": cell, "text": ""}):  # fmt: skip
        with pytest.raises(ApiError):
            views.sentiment_ablate(explorer, {"model": "st", "text": text, **bad})


# -- steering ---------------------------------------------------------------------------
def test_steering_changes_the_text_and_is_deterministic(explorer):
    body = {"model": "tg", "prime": "def ", "length": 120, "seed": 5, "temperature": 0.8,
            "cell": {"layer": 1, "unit": 2}, "value": 1.0}  # fmt: skip
    one = views.steer(explorer, body)
    two = views.steer(explorer, body)
    assert one == two  # the same seed: the same two texts
    lm = explorer.models["tg"].app
    assert one["free"] == lm.generate(120, prime="def ", seed=5, temperature=0.8)
    assert one["steered"] != one["free"] and one["changed"] > 0
    assert one["first_difference"] == next(
        i for i, (a, b) in enumerate(zip(one["free"], one["steered"], strict=True)) if a != b
    )
    assert len(one["free_values"]) == 120
    other = views.steer(explorer, {**body, "value": -1.0})
    assert other["free"] == one["free"] and other["steered"] != one["steered"]
    for bad in ({"value": None}, {"value": 99.0}, {"cell": {"layer": 5, "unit": 0}},
                {"length": LIMITS["max_steer_chars"] + 1}, {"temperature": -1},
                {"prime": "\u2603"}):  # fmt: skip
        with pytest.raises(ApiError) as info:
            views.steer(explorer, {**body, **bad})
        assert 400 <= info.value.status < 500


def test_probe_endpoints_over_http(runs):
    from test_explore_server import request, start_server

    proc, base = start_server([runs / "tg", runs / "st"])
    try:
        status, raw = request(base + "api/steer", {"model": "tg", "length": 20,
                                                    "cell": {"layer": 0, "unit": 0},
                                                    "value": 1})  # fmt: skip
        assert status == 200 and len(json.loads(raw)["steered"]) == 20
        status, raw = request(base + "api/sentiment/cells", {"model": "st", "examples": EXAMPLES})
        assert status == 200 and json.loads(raw)["verdict"]
        for path, body in (("api/match", {"model": "tg", "start": 1, "end": 0}),
                           ("api/steer", {"model": "tg", "cell": [[[[]]]], "value": 1}),
                           ("api/sentiment/ablate", {"model": "st", "text": "good"}),
                           ("api/sentiment/states", {"model": "tg", "text": "x"})):  # fmt: skip
            status, raw = request(base + path, body)
            assert 400 <= status < 500 and list(json.loads(raw)) == ["error"], (path, raw)
        status, raw = request(base + "api/match", raw=b"{" * 40)
        assert status == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_reading_many_sentences_is_bounded_in_time(explorer, monkeypatch):
    monkeypatch.setitem(LIMITS, "work_seconds", 0.0)
    ablate = {"text": "good", "cell": {"layer": 0, "unit": 0}}
    for view, extra in ((views.sentiment_cells, {}), (views.sentiment_ablate, ablate)):
        with pytest.raises(ApiError) as info:
            view(explorer, {"model": "st", "examples": EXAMPLES, **extra})
        assert info.value.status == 413 and "took more than" in info.value.message


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_run_sequence_is_the_network_for_other_cells(tmp_path, cell):
    lm = train_textgen(tmp_path / cell, steps=3, cell=cell)
    net = lm.network
    net.eval()
    ids = np.array(lm.vocab.encode(TEXT[:40]))
    logits, _ = net(ids[:, None])
    outputs, _ = run_sequence(net.rnn, net.embedding(ids[:, None])[:, 0])
    assert np.allclose(net.decoder(outputs[-1]), logits[:, 0], atol=1e-4)
