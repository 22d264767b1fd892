import numpy as np
import pytest

from rnnkit.gradcheck import gradcheck
from rnnkit.nn import manual_seed
from rnnkit.sentiment.model import ModelConfig, TextClassifier
from rnnkit.sentiment.pooling import pool_backward, pool_forward

CELLS = ["lstm", "gru"]
POOLINGS = ["last", "mean", "max"]


def make(
    cell="lstm",
    pooling="max",
    bidirectional=True,
    num_layers=1,
    num_classes=2,
    dtype=np.float32,
    **kw,
):
    manual_seed(0)
    config = ModelConfig(
        vocab_size=20,
        num_classes=num_classes,
        embedding_dim=6,
        hidden_size=8,
        cell=cell,
        pooling=pooling,
        bidirectional=bidirectional,
        num_layers=num_layers,
        **kw,
    )
    return TextClassifier(config, dtype=dtype)


IDS = np.array([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0], [2, 11, 12, 0, 0]])
LENGTHS = np.array([5, 2, 3])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_gradients_match_finite_differences(cell, pooling, bidirectional):
    model = make(
        cell,
        pooling,
        bidirectional,
        num_layers=2,
        num_classes=3,
        dtype=np.float64,
        dropout=0.3,
        embedding_dropout=0.2,
    )
    result = gradcheck(model, [IDS, LENGTHS], max_checks=12)
    assert result.max_error < 1e-5, result.errors


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_never_changes_a_prediction(cell, pooling):
    model = make(cell, pooling).eval()
    logits = model(IDS, LENGTHS)
    padded = np.concatenate([IDS, np.zeros((3, 7), dtype=IDS.dtype)], axis=1)  # 7 more PAD steps
    np.testing.assert_allclose(model(padded, LENGTHS), logits, rtol=1e-5, atol=1e-6)
    for b in range(3):  # each sequence alone, without any padding
        alone = model(IDS[b : b + 1, : LENGTHS[b]], LENGTHS[b : b + 1])
        np.testing.assert_allclose(alone, logits[b : b + 1], rtol=1e-5, atol=1e-6)


def test_max_pooling_ignores_zero_padding_even_when_every_value_is_negative():
    output = -np.ones((1, 4, 2))
    output[0, 2:] = 0.0  # padded steps are zero, larger than every valid value
    pooled, cache = pool_forward(output, np.array([2]), None, "max")
    assert pooled.tolist() == [[-1.0, -1.0]]
    grad, _ = pool_backward(np.ones((1, 2)), cache)
    assert grad[0, 2:].sum() == 0


def test_binary_has_one_logit_and_multiclass_one_per_class():
    assert make(num_classes=2).eval()(IDS, LENGTHS).shape == (3, 1)
    assert make(num_classes=5).eval()(IDS, LENGTHS).shape == (3, 5)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="pooling"):
        make(pooling="attention")
    with pytest.raises(ValueError, match="cell"):
        make(cell="rnn2")
    with pytest.raises(ValueError, match="at least 2 classes"):
        make(num_classes=1)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_matches_the_same_model_in_pytorch(cell, pooling):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = make(cell, pooling, num_layers=2, num_classes=3, dtype=np.float64)
    model.eval()

    emb = nn.Embedding(20, 6, padding_idx=0).double()
    rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(
        6, 8, num_layers=2, batch_first=True, bidirectional=True
    ).double()
    fc = nn.Linear(16, 3).double()
    ours = model.state_dict()
    emb.weight.data = torch.from_numpy(ours["embedding.weight"].copy())
    rnn.load_state_dict(
        {k[4:]: torch.from_numpy(v.copy()) for k, v in ours.items() if k.startswith("rnn.")}
    )
    fc.load_state_dict(
        {k[3:]: torch.from_numpy(v.copy()) for k, v in ours.items() if k.startswith("fc.")}
    )

    ids, lengths = torch.from_numpy(IDS), torch.from_numpy(LENGTHS)
    packed = nn.utils.rnn.pack_padded_sequence(
        emb(ids), lengths, batch_first=True, enforce_sorted=False
    )
    out, state = rnn(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=IDS.shape[1])
    mask = (torch.arange(IDS.shape[1])[None, :] < lengths[:, None])[:, :, None]
    if pooling == "last":
        h = state[0] if cell == "lstm" else state
        pooled = torch.cat([h[-2], h[-1]], dim=1)
    elif pooling == "mean":
        pooled = (out * mask).sum(1) / lengths[:, None]
    else:
        pooled = out.masked_fill(~mask, -float("inf")).max(1).values
    expected = fc(pooled)
    weights = torch.linspace(-1, 1, expected.numel(), dtype=torch.float64).reshape(expected.shape)
    (expected * weights).sum().backward()

    logits = model(IDS, LENGTHS)
    np.testing.assert_allclose(logits, expected.detach().numpy(), rtol=1e-9, atol=1e-10)
    model.zero_grad()
    model.backward(weights.numpy())
    grads = dict(model.named_parameters())
    np.testing.assert_allclose(grads["embedding.weight"].grad, emb.weight.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(
        grads["rnn.weight_hh_l0_reverse"].grad, rnn.weight_hh_l0_reverse.grad.numpy(), atol=1e-10
    )
    np.testing.assert_allclose(grads["fc.weight"].grad, fc.weight.grad.numpy(), atol=1e-10)


# -- character n-grams: x = E_word[id] + mean of E_ngram over the word's n-grams ------

GRAMS = np.array(  # (B, T, G): n-gram ids per token, 0 = none
    [
        [[1, 2, 0], [3, 0, 0], [0, 0, 0], [4, 5, 6], [2, 2, 0]],
        [[6, 0, 0], [1, 3, 5], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [5, 4, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]],
    ]
)
IDS_GRAMS = np.concatenate([IDS[:, :, None], GRAMS], axis=2)  # (B, T, 1 + G)


@pytest.mark.parametrize("cell", CELLS)
def test_ngram_gradients_match_finite_differences(cell):
    model = make(cell, "max", num_classes=3, dtype=np.float64, num_subwords=6,
                 embedding_dropout=0.2)
    result = gradcheck(model, [IDS_GRAMS, LENGTHS], max_checks=12)
    assert "param:subword_embedding.weight" in result.errors
    assert result.max_error < 1e-5, result.errors


def test_ngrams_match_embedding_plus_embedding_bag_in_pytorch():
    torch = pytest.importorskip("torch")
    model = make("gru", "mean", num_classes=2, dtype=np.float64, num_subwords=6).eval()
    ours = model.state_dict()
    emb = torch.nn.Embedding(20, 6, padding_idx=0).double()
    bag = torch.nn.EmbeddingBag(7, 6, mode="mean", padding_idx=0).double()
    emb.weight.data = torch.from_numpy(ours["embedding.weight"].copy())
    bag.weight.data = torch.from_numpy(ours["subword_embedding.weight"].copy())
    x = emb(torch.from_numpy(IDS)) + bag(torch.from_numpy(GRAMS.reshape(15, 3))).reshape(3, 5, 6)
    x.retain_grad()
    # Our model's input vectors, checked through its embedding's output grads: run both
    # models' recurrent part on x and compare the gradients reaching both tables.
    model.embedding_dropout.p = 0.0
    logits = model(IDS_GRAMS, LENGTHS)
    grad = np.linspace(-1, 1, logits.size).reshape(logits.shape)
    model.zero_grad()
    model.backward(grad)
    # Same x through our own layers from the word-only model gives the same logits.
    plain = make("gru", "mean", num_classes=2, dtype=np.float64).eval()
    plain.load_state_dict({k: v for k, v in ours.items() if not k.startswith("subword")})
    out, _ = plain.rnn(x.detach().numpy(), lengths=LENGTHS)
    valid = (np.arange(5)[None, :] < LENGTHS[:, None])[:, :, None]
    pooled = (out * valid).sum(1) / LENGTHS[:, None]
    np.testing.assert_allclose(logits, plain.fc(pooled), rtol=1e-10, atol=1e-12)
    grad_x, _ = plain.rnn.backward(
        np.repeat(plain.fc.backward(grad)[:, None, :] / LENGTHS[:, None, None], 5, axis=1) * valid
    )
    x.backward(torch.from_numpy(grad_x))
    grads = dict(model.named_parameters())
    np.testing.assert_allclose(grads["embedding.weight"].grad, emb.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(
        grads["subword_embedding.weight"].grad, bag.weight.grad.numpy(), atol=1e-12
    )


def test_ngram_model_without_ngram_columns_is_the_word_model():
    with_grams = make(num_subwords=6).eval()
    words_only = make().eval()
    ours = with_grams.state_dict()
    words_only.load_state_dict({k: v for k, v in ours.items() if not k.startswith("subword")})
    np.testing.assert_array_equal(with_grams(IDS, LENGTHS), words_only(IDS, LENGTHS))
    no_grams = np.zeros((3, 5, 3), dtype=IDS.dtype)
    np.testing.assert_allclose(
        with_grams(np.concatenate([IDS[:, :, None], no_grams], 2), LENGTHS),
        words_only(IDS, LENGTHS),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match=r"expected ids \(B, T\) and"):
        words_only(IDS_GRAMS, LENGTHS)
