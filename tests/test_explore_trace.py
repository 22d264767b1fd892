"""Traces: the engine's ``RNNBase.trace`` and the applications' ``trace`` methods.

The engine trace is checked against the layer's own forward (outputs, final
states), against the cell equations (gates recombine into the states), and
against a hand computation of the first step's gates (gate order); the
applications' traces against ``evaluate`` and ``predict``.
"""

from __future__ import annotations

import numpy as np
import pytest

from explore_models import SENTENCES, TEXT, train_sentiment, train_textgen
from rnnkit.nn import GRU, LSTM, RNN, manual_seed
from rnnkit.nn.cells import sigmoid

T, B, I, H = 7, 3, 4, 5
LENGTHS = np.array([7, 4, 1])


def make(cls, **kw):
    manual_seed(3)
    layer = cls(I, H, num_layers=2, dtype=np.float64, **kw)
    for p in layer.parameters():  # distinct non-zero biases
        p.data += 0.05 * np.arange(p.data.size).reshape(p.data.shape) / p.data.size
    return layer


def inputs(rng=None):
    rng = rng or np.random.default_rng(0)
    return rng.standard_normal((T, B, I))


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, LENGTHS])
def test_traced_h_is_the_forward_output_and_final_state(cls, bidirectional, lengths):
    layer = make(cls, bidirectional=bidirectional)
    layer.eval()
    x = inputs()
    output, final = layer(x, lengths=lengths)
    traced = layer.trace(x, lengths=lengths)
    D = 2 if bidirectional else 1
    assert len(traced) == 2
    last = traced[-1]
    names = {"RNN": {"h"}, "LSTM": {"h", "c", "i", "f", "g", "o"}, "GRU": {"h", "r", "z", "n"}}
    assert set(last) == names[cls.__name__]
    for value in last.values():
        assert value.shape == (T, B, D, H)
    np.testing.assert_allclose(last["h"].reshape(T, B, D * H), output, atol=1e-12)
    h_n = final[0] if cls is LSTM else final
    ends = LENGTHS - 1 if lengths is not None else np.full(B, T - 1)
    for layer_index, record in enumerate(traced):
        for b in range(B):
            # forward direction: state after the last valid step; reverse: after x_0
            np.testing.assert_allclose(
                record["h"][ends[b], b, 0], h_n[layer_index * D, b], atol=1e-12
            )
            if D == 2:
                np.testing.assert_allclose(
                    record["h"][0, b, 1], h_n[layer_index * D + 1, b], atol=1e-12
                )
            if cls is LSTM:
                np.testing.assert_allclose(
                    record["c"][ends[b], b, 0], final[1][layer_index * D, b], atol=1e-12
                )
    if lengths is not None:
        for b, n in enumerate(LENGTHS):
            for value in last.values():
                assert not value[n:, b].any()  # padded steps are zeros


def test_lstm_gates_recombine_into_the_states_and_follow_pytorch_order():
    layer = make(LSTM)
    x = inputs()
    (first, _) = layer.trace(x)
    i, f, g, o, c, h = (first[k][:, :, 0] for k in "ifgoch")
    c_prev = np.concatenate([np.zeros((1, B, H)), c[:-1]])
    np.testing.assert_allclose(c, f * c_prev + i * g, atol=1e-12)
    np.testing.assert_allclose(h, o * np.tanh(c), atol=1e-12)
    pre = x[0] @ layer.weight_ih_l0.data.T + layer.bias_ih_l0.data + layer.bias_hh_l0.data  # h0 = 0
    np.testing.assert_allclose(i[0], sigmoid(pre[:, :H]), atol=1e-12)
    np.testing.assert_allclose(f[0], sigmoid(pre[:, H : 2 * H]), atol=1e-12)
    np.testing.assert_allclose(g[0], np.tanh(pre[:, 2 * H : 3 * H]), atol=1e-12)
    np.testing.assert_allclose(o[0], sigmoid(pre[:, 3 * H :]), atol=1e-12)


def test_gru_gates_recombine_into_the_state():
    layer = make(GRU)
    (first, _) = layer.trace(inputs())
    r, z, n, h = (first[k][:, :, 0] for k in "rznh")
    h_prev = np.concatenate([np.zeros((1, B, H)), h[:-1]])
    np.testing.assert_allclose(h, (1 - z) * n + z * h_prev, atol=1e-12)
    assert (r > 0).all() and (r < 1).all()


def test_trace_with_initial_state_and_batch_first():
    layer = make(LSTM, batch_first=True)
    x = np.swapaxes(inputs(), 0, 1).copy()  # (B, T, I)
    rng = np.random.default_rng(1)
    state = (rng.standard_normal((2, B, H)), rng.standard_normal((2, B, H)))
    output, _ = layer(x, state)  # (B, T, H)
    traced = layer.trace(x, state)
    np.testing.assert_allclose(traced[-1]["h"][:, :, 0], np.swapaxes(output, 0, 1), atol=1e-12)


def test_trace_does_not_disturb_backward():
    x = inputs()
    grads = []
    for with_trace in (False, True):
        layer = make(LSTM, bidirectional=True)
        output, _ = layer(x)
        if with_trace:
            layer.trace(x[:3])
        dx, _ = layer.backward(np.ones_like(output))
        grads.append([dx] + [p.grad.copy() for p in layer.parameters()])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_array_equal(a, b)


def test_trace_ignores_dropout():
    layer = make(GRU, dropout=0.5)
    layer.train()
    x = inputs()
    a, b = layer.trace(x), layer.trace(x)
    np.testing.assert_array_equal(a[-1]["h"], b[-1]["h"])
    layer.eval()
    np.testing.assert_allclose(a[-1]["h"][:, :, 0], layer(x)[0], atol=1e-12)


# -- applications --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return train_textgen(tmp_path_factory.mktemp("tg") / "run", steps=20)


def test_charlm_trace_matches_forward_and_evaluate(lm):
    text = TEXT[:400]
    trace = lm.trace(text, top_k=5)
    n = len(text)
    assert trace.symbols == list(text) and len(trace.layers) == 2
    assert trace.top_ids.shape == (n, 5) and trace.log_prob_next.shape == (n - 1,)
    net = lm.network
    x = net.embedding(np.asarray(lm.vocab.encode(text))[:, None])
    output, _ = net.rnn(x)
    np.testing.assert_allclose(trace.layers[-1]["h"], output[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trace.loss, lm.evaluate(text)["loss"], rtol=1e-5)
    assert np.all(np.diff(trace.top_probs, axis=1) <= 0) and np.all(
        trace.top_probs.sum(1) <= 1 + 1e-9
    )
    # the top guess's probability bounds the actual next character's
    assert np.all(np.log(trace.top_probs[:-1, 0]) >= trace.log_prob_next - 1e-9)


def test_charlm_trace_refuses_unknown_characters_and_bad_top_k(lm):
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        lm.trace("\u00e9\u00e9")
    with pytest.raises(ValueError, match="top_k"):
        lm.trace("def", top_k=0)
    with pytest.raises(ValueError, match="empty"):
        lm.trace("")


@pytest.mark.parametrize(
    "model",
    [
        dict(bidirectional=True, pooling="max"),
        dict(bidirectional=False, pooling="last", cell="gru"),
    ],
)
def test_classifier_trace_matches_predict_and_leave_one_out(model):
    clf = train_sentiment(None, epochs=10, **model)
    sentence = "i really hate this boring film"
    trace = clf.trace(sentence)
    words = sentence.split()
    assert trace.tokens == words
    (pred,) = clf.predict(sentence)
    assert trace.label == pred.label
    for label in clf.labels:
        assert trace.probabilities[label] == pytest.approx(pred.probabilities[label], abs=1e-6)
    prefixes = clf.predict_proba([" ".join(words[: t + 1]) for t in range(len(words))])
    np.testing.assert_allclose(trace.trajectory, prefixes, atol=1e-6)
    best = clf.labels.index(trace.label)
    without = clf.predict_proba([" ".join(words[:t] + words[t + 1 :]) for t in range(len(words))])
    np.testing.assert_allclose(
        trace.attribution_probability, pred.probability - without[:, best], atol=1e-6
    )

    def logit(p):
        return np.log(p) - np.log1p(-p)

    np.testing.assert_allclose(
        trace.attribution, logit(pred.probability) - logit(without[:, best]), rtol=1e-4, atol=1e-4
    )
    D = 2 if model["bidirectional"] else 1
    (layer,) = trace.layers
    assert layer["h"].shape == (len(words), D, 8)
    ids = np.asarray(clf._encode([sentence])[0])[None, :]
    output, _ = clf.network.rnn(clf.network.embedding(ids), lengths=np.array([len(words)]))
    np.testing.assert_allclose(layer["h"].reshape(len(words), -1), output[0], rtol=1e-5, atol=1e-6)


def test_classifier_trace_of_one_word_and_of_no_words():
    clf = train_sentiment(None, epochs=2)
    trace = clf.trace("wonderful")
    assert trace.attribution.shape == (1,) and trace.trajectory.shape == (1, 2)
    with pytest.raises(ValueError, match="no text"):
        clf.trace("   ")
    assert SENTENCES  # the shared toy set is the training data


def test_log_odds_from_logits_do_not_saturate():
    from rnnkit.sentiment.task import probabilities
    from rnnkit.sentiment.trace import log_odds

    binary = np.array([[0.3], [-2.0], [40.0], [45.0]])
    odds = log_odds(binary, 2)
    p = probabilities(binary[:2], 2)
    np.testing.assert_allclose(odds[:2], np.log(p) - np.log1p(-p), atol=1e-12)
    assert np.isfinite(odds).all() and odds[3, 1] - odds[2, 1] == pytest.approx(5.0)
    many = np.array([[1.0, 2.0, -1.0], [300.0, 0.0, 0.0]])
    odds = log_odds(many, 3)
    p = probabilities(many[:1], 3)
    np.testing.assert_allclose(odds[:1], np.log(p) - np.log1p(-p), atol=1e-12)
    assert np.isfinite(odds).all() and odds[1, 0] > 290

