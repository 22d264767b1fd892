"""Linear, Embedding, EmbeddingBag, Dropout: numerical gradients, PyTorch parity, bad inputs."""

import numpy as np
import pytest

from rnnkit.gradcheck import gradcheck
from rnnkit.nn.layers import Dropout, Embedding, EmbeddingBag, Linear
from rnnkit.nn.random import manual_seed

F64 = np.float64


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# -- Linear ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(shape, bias):
    manual_seed(0)
    layer = Linear(4, 3, bias=bias, dtype=F64)
    result = gradcheck(layer, [randn(*shape)], max_checks=None)
    expected = {"param:weight", "input:0"} | ({"param:bias"} if bias else set())
    assert set(result.errors) == expected


def test_linear_accumulates_gradients():
    layer = Linear(4, 3, dtype=F64)
    x, g = randn(2, 5, 4), randn(2, 5, 3, seed=1)
    layer(x)
    layer.backward(g)
    first = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * first[0])
    np.testing.assert_allclose(layer.bias.grad, 2 * first[1])


def test_linear_init_and_seed():
    manual_seed(3)
    a = Linear(16, 8)
    manual_seed(3)
    b = Linear(16, 8)
    assert a.weight.shape == (8, 16) and a.bias.shape == (8,)
    assert a.weight.dtype == np.float32 and a.dtype == np.float32
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = 1 / np.sqrt(16)
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.bias.data).max() <= bound
    assert np.abs(a.weight.data).max() > 0.8 * bound  # spans the interval, not a smaller one


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    torch = pytest.importorskip("torch")
    ref = torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64)
    layer = Linear(4, 3, bias=bias, dtype=F64)
    layer.load_state_dict(ref.state_dict())
    x, g = randn(2, 5, 4), randn(2, 5, 3, seed=1)
    xt = torch.tensor(x, requires_grad=True)
    out_t = ref(xt)
    out_t.backward(torch.tensor(g))
    out = layer(x)
    grad_x = layer.backward(g)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), rtol=0, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=0, atol=1e-12)


def test_linear_state_dict_round_trip_with_torch():
    torch = pytest.importorskip("torch")
    manual_seed(1)
    layer = Linear(6, 2)
    ref = torch.nn.Linear(6, 2)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    assert list(layer.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]
    back = Linear(6, 2)
    back.load_state_dict(ref.state_dict())
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    assert list(Linear(6, 2, bias=False).state_dict()) == ["weight"]


def test_linear_bad_inputs():
    layer = Linear(4, 3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\).*\(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="float32.*float64"):
        layer(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="int64"):
        layer(np.zeros((2, 4), np.int64))
    with pytest.raises(ValueError, match="float32 or float64"):
        Linear(4, 3, dtype=np.float16)
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        layer.backward(np.zeros((2, 4), np.float32))


# -- Embedding ---------------------------------------------------------------------


def test_embedding_gradcheck_repeated_ids():
    manual_seed(0)
    emb = Embedding(7, 3, padding_idx=2, dtype=F64)
    gradcheck(emb, [np.array([[1, 6, 1, 5], [5, 5, 0, 1]])], max_checks=None)


def test_embedding_padding_row_gets_no_gradient():
    # By design (as PyTorch) the padding row's gradient is zero although the forward
    # reads it, so a numerical check cannot cover it: count rows directly instead.
    emb = Embedding(7, 3, padding_idx=2, dtype=F64)
    emb(np.array([[1, 2, 1, 5], [5, 5, 0, 2]]))
    emb.backward(np.ones((2, 4, 3)))
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [1, 2, 0, 0, 0, 3, 0])


def test_embedding_scatter_matches_add_at():
    emb = Embedding(50, 4, dtype=F64)
    ids = np.random.default_rng(0).integers(0, 50, size=(30, 7))
    g = randn(30, 7, 4)
    emb(ids)
    assert emb.backward(g) is None
    expected = np.zeros((50, 4))
    np.add.at(expected, ids.reshape(-1), g.reshape(-1, 4))
    np.testing.assert_allclose(emb.weight.grad, expected, rtol=1e-12, atol=1e-12)


def test_embedding_init():
    manual_seed(0)
    emb = Embedding(2000, 16, padding_idx=-1)
    assert emb.padding_idx == 1999 and emb.weight.dtype == np.float32
    assert not emb.weight.data[1999].any()
    assert abs(emb.weight.data.mean()) < 0.02 and abs(emb.weight.data.std() - 1) < 0.02


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Embedding(9, 4, padding_idx=0, dtype=torch.float64)
    emb = Embedding(9, 4, padding_idx=0, dtype=F64)
    emb.load_state_dict(ref.state_dict())
    ids = np.array([[0, 3, 3, 8], [0, 1, 3, 0], [2, 2, 7, 8]])
    g = randn(3, 4, 4)
    out_t = ref(torch.from_numpy(ids))
    out_t.backward(torch.tensor(g))
    np.testing.assert_array_equal(emb(ids), out_t.detach().numpy())
    emb.backward(g)
    np.testing.assert_allclose(emb.weight.grad, ref.weight.grad.numpy(), rtol=0, atol=1e-12)
    assert not emb.weight.grad[0].any()


def test_embedding_state_dict_round_trip_with_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Embedding(10, 3, padding_idx=1)
    emb = Embedding(10, 3, padding_idx=1)
    emb.load_state_dict(ref.state_dict())
    np.testing.assert_array_equal(emb.weight.data, ref.weight.detach().numpy())
    other = torch.nn.Embedding(10, 3)
    other.load_state_dict({k: torch.from_numpy(v) for k, v in emb.state_dict().items()})
    np.testing.assert_array_equal(other.weight.detach().numpy(), emb.weight.data)


def test_embedding_from_pretrained_frozen():
    vectors = randn(5, 3)
    manual_seed(0)
    state = np.random.default_rng(0).bit_generator.state
    emb = Embedding.from_pretrained(vectors, padding_idx=4)
    from rnnkit.nn.random import get_rng_state

    assert get_rng_state() == state  # no random draw for given vectors
    assert emb.dtype == np.float64 and not emb.weight.requires_grad
    np.testing.assert_array_equal(emb.weight.data, vectors)  # padding row kept, as in PyTorch
    vectors[0, 0] = 99.0
    assert emb.weight.data[0, 0] != 99.0  # copied
    emb(np.array([0, 1, 1]))
    emb.backward(np.ones((3, 3)))
    assert not emb.weight.grad.any()
    trainable = Embedding.from_pretrained(vectors, freeze=False, dtype=np.float32)
    assert trainable.weight.requires_grad and trainable.weight.dtype == np.float32
    trainable(np.array([0, 1, 1]))
    trainable.backward(np.ones((3, 3), np.float32))
    np.testing.assert_array_equal(trainable.weight.grad[:, 0], [1, 2, 0, 0, 0])
    with pytest.raises(ValueError, match="2-D"):
        Embedding.from_pretrained(np.zeros(4))


def test_embedding_bad_ids():
    emb = Embedding(5, 2)
    with pytest.raises(ValueError, match=r"\[0, 5\).*received 5"):
        emb(np.array([0, 5, 1]))
    with pytest.raises(ValueError, match=r"\[0, 5\).*received -1"):
        emb(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="integer ids.*float64"):
        emb(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(5, 2, padding_idx=5)
    assert emb(np.zeros((0, 3), np.int64)).shape == (0, 3, 2)


# -- EmbeddingBag ------------------------------------------------------------------

BAGS_2D = np.array([[1, 6, 1, 0], [5, 0, 0, 0], [0, 0, 0, 0], [3, 3, 3, 2]])  # 0 = padding
FLAT = np.array([4, 1, 1, 6, 0, 2, 2, 5])
OFFSETS = np.array([0, 3, 3, 5])  # bags [4 1 1] [] [6 0] [2 2 5]


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_bag_gradcheck(mode, padding_idx):
    manual_seed(0)
    bag = EmbeddingBag(7, 3, mode=mode, padding_idx=padding_idx, dtype=F64)
    if padding_idx is not None:  # gradcheck perturbs every row; the padding row gets none
        bag.weight.data[0] = 0.0
    result = gradcheck(bag, [BAGS_2D], max_checks=None)
    assert "param:weight" in result.errors


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
@pytest.mark.parametrize("form", ["2d", "offsets"])
def test_embedding_bag_matches_torch(mode, padding_idx, form):
    torch = pytest.importorskip("torch")
    ref = torch.nn.EmbeddingBag(7, 4, mode=mode, padding_idx=padding_idx, dtype=torch.float64)
    bag = EmbeddingBag(7, 4, mode=mode, padding_idx=padding_idx, dtype=F64)
    bag.load_state_dict(ref.state_dict())
    args = (BAGS_2D,) if form == "2d" else (FLAT, OFFSETS)
    out_t = ref(*(torch.from_numpy(a) for a in args))
    g = randn(*out_t.shape)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(bag(*args), out_t.detach().numpy(), rtol=0, atol=1e-12)
    bag.backward(g)
    np.testing.assert_allclose(bag.weight.grad, ref.weight.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("padding_idx", [None, 0])
@pytest.mark.parametrize("form", ["2d", "offsets"])
def test_embedding_bag_per_sample_weights_match_torch(padding_idx, form):
    torch = pytest.importorskip("torch")
    ref = torch.nn.EmbeddingBag(7, 3, mode="sum", padding_idx=padding_idx, dtype=torch.float64)
    bag = EmbeddingBag(7, 3, mode="sum", padding_idx=padding_idx, dtype=F64)
    bag.load_state_dict(ref.state_dict())
    args = (BAGS_2D,) if form == "2d" else (FLAT, OFFSETS)
    a = np.random.default_rng(3).uniform(-2, 2, size=args[0].shape)  # distinct, signed
    out_t = ref(*(torch.from_numpy(x) for x in args), per_sample_weights=torch.from_numpy(a))
    g = randn(*out_t.shape)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(bag(*args, per_sample_weights=a), out_t.detach().numpy(),
                               rtol=0, atol=1e-12)  # fmt: skip
    bag.backward(g)
    np.testing.assert_allclose(bag.weight.grad, ref.weight.grad.numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="input's shape"):
        bag(*args, per_sample_weights=a[:-1])
    with pytest.raises(ValueError, match="mode='sum'"):
        EmbeddingBag(7, 3, mode="mean")(*args, per_sample_weights=a)


def test_embedding_bag_mean_leaves_padding_out_of_the_count():
    bag = EmbeddingBag(4, 2, mode="mean", padding_idx=0, dtype=F64)
    bag.weight.data[:] = [[0, 0], [1, 2], [3, 4], [5, 6]]
    out = bag(np.array([[1, 2, 0, 0], [0, 0, 0, 0], [3, 0, 3, 0]]))
    np.testing.assert_array_equal(out, [[2, 3], [0, 0], [5, 6]])
    bag.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(bag.weight.grad[:, 0], [0, 0.5, 0.5, 1.0])


def test_embedding_bag_equals_embedding_then_sum():
    manual_seed(0)
    bag = EmbeddingBag(30, 5, mode="sum", dtype=F64)
    emb = Embedding(30, 5, dtype=F64)
    emb.weight.data[:] = bag.weight.data
    ids = np.random.default_rng(1).integers(0, 30, size=(12, 6))
    g = randn(12, 5)
    np.testing.assert_allclose(bag(ids), emb(ids).sum(axis=1), rtol=1e-13)
    bag.backward(g)
    emb.backward(np.repeat(g[:, None, :], 6, axis=1))
    np.testing.assert_allclose(bag.weight.grad, emb.weight.grad, rtol=1e-13)


def test_embedding_bag_bad_input():
    bag = EmbeddingBag(5, 2)
    with pytest.raises(ValueError, match="mode must be one of"):
        EmbeddingBag(5, 2, mode="max")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 5\)"):
        bag(np.array([[1, 5]]))
    with pytest.raises(ValueError, match="expected input"):
        bag(np.array([1, 2]))
    with pytest.raises(ValueError, match="offsets must start at 0"):
        bag(np.array([1, 2, 3]), np.array([1, 2]))
    with pytest.raises(ValueError, match="offsets must start at 0"):
        bag(np.array([1, 2, 3]), np.array([0, 4]))
    with pytest.raises(RuntimeError, match="before forward"):
        EmbeddingBag(5, 2).backward(np.zeros((1, 2), np.float32))
    bag(np.array([[1, 2]]))
    with pytest.raises(ValueError, match="grad_output of shape"):
        bag.backward(np.zeros((2, 2), np.float32))


# -- Dropout -----------------------------------------------------------------------


def test_dropout_gradcheck_training():
    drop = Dropout(0.4)
    x = randn(6, 5)
    gradcheck(drop, [x], max_checks=None)
    manual_seed(0)
    out = drop(x)
    assert (out == 0).any() and (out != 0).any()  # the checked mask really drops


def test_dropout_statistics_and_gradient():
    p = 0.3
    drop = Dropout(p)
    x = np.ones((200, 500), np.float32)
    manual_seed(123)
    out = drop(x)
    assert out.dtype == np.float32
    kept = out != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.02  # E[y] = x
    grad = drop.backward(np.full_like(x, 2.0))
    assert not grad[~kept].any()
    np.testing.assert_allclose(grad[kept], 2 / (1 - p), rtol=1e-6)
    manual_seed(123)
    np.testing.assert_array_equal(drop(x), out)  # the engine's seed reproduces the mask
    assert not np.array_equal(drop(x), out)  # and a fresh draw differs


def test_dropout_identity_in_eval_and_p0():
    x = randn(4, 3)
    g = randn(4, 3, seed=1)
    drop = Dropout(0.5).eval()
    assert drop(x) is x and drop.backward(g) is g
    zero = Dropout(0.0)
    assert zero.training
    np.testing.assert_array_equal(zero(x), x)
    np.testing.assert_array_equal(zero.backward(g), g)


def test_dropout_bad_inputs():
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            Dropout(p)
    with pytest.raises(ValueError, match="float32.*float64"):
        Dropout(0.5, dtype=np.float32)(np.zeros(3))
    with pytest.raises(ValueError, match="int64"):
        Dropout(0.5)(np.zeros(3, np.int64))


def test_skip_init_draws_nothing_and_assign_keeps_the_arrays():
    from rnnkit import nn

    nn.manual_seed(3)
    before = nn.get_rng_state()
    with nn.skip_init():
        lstm = nn.LSTM(3, 4, num_layers=2)
        emb = nn.Embedding(5, 3, padding_idx=0)
    assert nn.get_rng_state() == before  # the generator did not move
    nn.manual_seed(3)
    reference = nn.LSTM(3, 4, num_layers=2)
    state = reference.state_dict()
    lstm.load_state_dict(state, assign=True)
    for name, p in lstm.named_parameters():
        assert p.data is state[name]  # taken, not copied
        assert p.grad.shape == p.data.shape and not p.grad.any()
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(lstm(x)[0], reference(x)[0])
    # a dtype that does not fit is cast (a copy), and a read-only array is copied
    frozen = np.ones((5, 3))
    frozen.flags.writeable = False
    emb.load_state_dict({"weight": frozen}, assign=True)
    assert emb.weight.data.dtype == np.float32 and emb.weight.data.flags.writeable
    with pytest.raises(ValueError, match="shape mismatch"):
        emb.load_state_dict({"weight": np.ones((4, 3))}, assign=True)
