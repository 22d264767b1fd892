"""The PyTorch bridge: the equivalent torch module of each application, and back (1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install 'rnnkit[torch]'")

from interop_models import HELD_OUT, scramble, sentiment, textgen  # noqa: E402
from rnnkit.interop.torch import from_torch, to_torch  # noqa: E402


@pytest.mark.parametrize("cell,num_layers", [("lstm", 2), ("gru", 1), ("rnn", 3)])
def test_text_generator_to_torch_and_back(cell, num_layers):
    lm = textgen(cell=cell, num_layers=num_layers)
    module = to_torch(lm)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(lm.vocab), size=(7, 3))
    lm.network.eval()
    logits, state = lm.network(ids)
    with torch.no_grad():
        ref, ref_state = module(torch.from_numpy(ids))
    np.testing.assert_allclose(ref.numpy(), logits, atol=1e-5, rtol=0)
    h = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(
        (ref_state[0] if cell == "lstm" else ref_state).numpy(), h, atol=1e-5
    )
    with torch.no_grad():  # change the torch weights; reading back must carry the change
        for p in module.parameters():
            p.mul_(-0.5)
        expected = module(torch.from_numpy(ids))[0].numpy()
    back = from_torch(module)
    np.testing.assert_allclose(back(ids)[0], expected, atol=1e-5, rtol=0)
    assert not np.allclose(back(ids)[0], logits, atol=1e-3)


@pytest.mark.parametrize(
    "model",
    [
        dict(cell="lstm", pooling="max", bidirectional=True, num_layers=2),
        dict(cell="gru", pooling="mean", bidirectional=True, num_layers=1, char_ngrams=(3, 4)),
        dict(cell="lstm", pooling="last", bidirectional=True, num_layers=1),
    ],
    ids=["lstm-max", "gru-mean-ngrams", "lstm-last"],
)
def test_classifier_to_torch_and_back(model):
    from test_interop_onnx import classifier_inputs

    clf = sentiment(**model)
    module = to_torch(clf)
    feeds = classifier_inputs(clf, HELD_OUT)
    logits = clf.network(
        feeds["ids"]
        if "ngram_ids" not in feeds
        else np.concatenate([feeds["ids"][:, :, None], feeds["ngram_ids"]], axis=2),
        feeds["lengths"],
    )
    with torch.no_grad():
        ref = module(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
    np.testing.assert_allclose(ref, logits, atol=1e-5, rtol=0)
    back = from_torch(module)
    for name, value in clf.network.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], value)
    assert back.config.pooling == model["pooling"]


def test_float64_parity_and_refusals():
    from rnnkit.nn import GRU
    from rnnkit.textgen.model import CharRNN, CharRNNConfig

    network = CharRNN(
        CharRNNConfig(
            vocab_size=9, cell="lstm", hidden_size=5, num_layers=2, dropout=0.0, embedding_dim=4
        ),
        dtype=np.float64,
    )
    scramble(network, 4)
    module = to_torch(network)
    ids = np.random.default_rng(1).integers(0, 9, size=(6, 2))
    with torch.no_grad():
        np.testing.assert_allclose(
            module(torch.from_numpy(ids))[0].numpy(), network(ids)[0], atol=1e-12
        )
    network.rnn = GRU(4, 5, num_layers=2, reset_after=False, dtype=np.float64)
    with pytest.raises(ValueError, match="reset_after=False"):
        to_torch(network)
