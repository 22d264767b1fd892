"""Initialisers: statistics, orthogonality, gate layout (checked against torch.nn.LSTM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.nn import manual_seed
from rnnkit.nn.init import (
    GATES,
    constant_,
    init_recurrent_,
    normal_,
    orthogonal_,
    orthogonal_recurrent_,
    set_forget_gate_bias_,
    uniform_,
    xavier_uniform_,
    zeros_,
)
from rnnkit.nn.module import Module, Parameter
from rnnkit.nn.random import get_rng

SENTINEL = 7.0


class FakeRecurrent(Module):
    """Parameters named and shaped as torch.nn.RNN/LSTM/GRU, nothing else."""

    def __init__(
        self,
        mode,
        input_size,
        hidden_size,
        num_layers=1,
        bidirectional=False,
        bias=True,
        set_mode=True,
    ):
        super().__init__()
        if set_mode:
            self.mode = mode
        gates = GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else directions * hidden_size
            for suffix in ["", "_reverse"][:directions]:
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", Parameter(np.full((gates, in_size), SENTINEL)))
                setattr(
                    self, f"weight_hh_{name}", Parameter(np.full((gates, hidden_size), SENTINEL))
                )
                if bias:
                    setattr(self, f"bias_ih_{name}", Parameter(np.full((gates,), SENTINEL)))
                    setattr(self, f"bias_hh_{name}", Parameter(np.full((gates,), SENTINEL)))


def assert_orthonormal_rows(w, atol=1e-10):
    np.testing.assert_allclose(w @ w.T, np.eye(w.shape[0]), atol=atol)


def test_basic_fills_and_reproducibility():
    a = np.empty((200, 50))
    manual_seed(3)
    uniform_(a, -0.5, 2.0)
    assert a.min() >= -0.5 and a.max() < 2.0 and abs(a.mean() - 0.75) < 0.05
    b = np.empty((200, 50))
    manual_seed(3)
    uniform_(b, -0.5, 2.0)
    np.testing.assert_array_equal(a, b)

    normal_(a, mean=1.0, std=0.5)
    assert abs(a.mean() - 1.0) < 0.03 and abs(a.std() - 0.5) < 0.03
    assert zeros_(a) is a and not a.any()
    constant_(a, 0.25)
    assert (a == 0.25).all()


def test_xavier_uniform_bound():
    w = np.empty((30, 20), dtype=np.float32)
    xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / 50)
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    with pytest.raises(ValueError, match="received shape"):
        xavier_uniform_(np.empty(5))


@pytest.mark.parametrize("shape", [(6, 6), (3, 7), (7, 3), (4, 2, 3)])
def test_orthogonal(shape):
    w = np.empty(shape)
    orthogonal_(w)
    flat = w.reshape(shape[0], -1)
    if flat.shape[0] <= flat.shape[1]:
        assert_orthonormal_rows(flat)
    else:
        assert_orthonormal_rows(flat.T)


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3)])
def test_orthogonal_follows_torch_algorithm(shape):
    """Same Gaussian draw through torch's recipe (QR, signs of diag R) gives the same matrix."""
    rows, cols = shape
    manual_seed(11)
    gaussian = torch.tensor(get_rng().standard_normal((rows, cols)))
    if rows < cols:
        gaussian = gaussian.T
    q, r = torch.linalg.qr(gaussian)
    q *= torch.diag(r, 0).sign()
    if rows < cols:
        q = q.T
    manual_seed(11)
    w = orthogonal_(np.empty(shape), gain=1.5)
    np.testing.assert_allclose(w, 1.5 * q.numpy(), atol=1e-12)


def test_orthogonal_gain_and_float32():
    w = np.empty((5, 5), dtype=np.float32)
    orthogonal_(w, gain=2.0)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w @ w.T, 4 * np.eye(5), atol=1e-5)


def test_orthogonal_recurrent_blocks():
    hidden = 5
    w = np.full((4 * hidden, hidden), SENTINEL)
    orthogonal_recurrent_(w, num_gates=4)
    blocks = [w[k * hidden : (k + 1) * hidden] for k in range(4)]
    for block in blocks:
        assert_orthonormal_rows(block)
    assert not np.allclose(blocks[0], blocks[1])  # independent draws per gate
    with pytest.raises(ValueError, match=r"received \(20, 5\)"):
        orthogonal_recurrent_(w, num_gates=3)


def test_set_forget_gate_bias_touches_only_forget_block():
    hidden = 3
    b = np.full(4 * hidden, SENTINEL)
    set_forget_gate_bias_(b, 1.0)
    np.testing.assert_array_equal(b[hidden : 2 * hidden], 1.0)
    np.testing.assert_array_equal(np.delete(b, range(hidden, 2 * hidden)), SENTINEL)
    with pytest.raises(ValueError, match="4\\*H"):
        set_forget_gate_bias_(np.zeros(6))


def test_init_recurrent_pytorch_scheme():
    m = FakeRecurrent("LSTM", 3, 5, num_layers=2, bidirectional=True)
    init_recurrent_(m, scheme="pytorch")
    bound = 1 / math.sqrt(5)
    for name, p in m.named_parameters():
        assert np.abs(p.data).max() <= bound, name
        assert np.unique(p.data).size == p.data.size, name  # every entry redrawn


def test_init_recurrent_pytorch_scheme_with_forget_bias():
    hidden = 4
    m = FakeRecurrent("LSTM", 3, hidden)
    init_recurrent_(m, scheme="pytorch", forget_bias=1.0)
    forget = slice(hidden, 2 * hidden)
    np.testing.assert_array_equal(m.bias_ih_l0.data[forget], 1.0)
    np.testing.assert_array_equal(m.bias_hh_l0.data[forget], 0.0)
    others = np.delete(m.bias_hh_l0.data, range(hidden, 2 * hidden))
    assert np.abs(others).max() <= 0.5 and np.unique(others).size == others.size


def test_init_recurrent_orthogonal_scheme_with_forget_bias():
    hidden, inp = 4, 3
    m = FakeRecurrent("LSTM", inp, hidden, num_layers=2, bidirectional=True)
    init_recurrent_(m, scheme="orthogonal", forget_bias=1.0)
    params = dict(m.named_parameters())
    assert len(params) == 16
    for name, p in params.items():
        if name.startswith("weight_hh"):
            for k in range(4):
                assert_orthonormal_rows(p.data[k * hidden : (k + 1) * hidden])
        elif name.startswith("weight_ih"):
            fan_in = p.data.shape[1]
            assert np.abs(p.data).max() <= math.sqrt(6 / (fan_in + hidden)), name
        elif name.startswith("bias_ih"):
            expected = np.zeros(4 * hidden)
            expected[hidden : 2 * hidden] = 1.0
            np.testing.assert_array_equal(p.data, expected)
        else:
            np.testing.assert_array_equal(p.data, 0.0)


def test_forget_bias_lands_on_torch_forget_gate():
    """Zero weights, h0 = 0, c0 = 1: torch's LSTM gives c1 = σ(b_f) + σ(b_i)·tanh(b_g)."""
    m = FakeRecurrent("LSTM", 3, 4)
    init_recurrent_(m, scheme="orthogonal", forget_bias=2.0)
    for name, p in m.named_parameters():
        if name.startswith("weight"):
            p.data[...] = 0
    lstm = torch.nn.LSTM(3, 4).double()
    lstm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = torch.zeros(1, 1, 3, dtype=torch.float64)
    h0 = torch.zeros(1, 1, 4, dtype=torch.float64)
    c0 = torch.ones(1, 1, 4, dtype=torch.float64)
    _, (_, c1) = lstm(x, (h0, c0))
    sigmoid2 = 1 / (1 + math.exp(-2.0))
    np.testing.assert_allclose(c1.detach().numpy(), sigmoid2, rtol=1e-12)


def test_init_recurrent_infers_gru_gates_and_walks_children():
    class Model(Module):
        def __init__(self):
            super().__init__()
            self.rnn = FakeRecurrent("GRU", 2, 6, set_mode=False)
            self.weight = Parameter(np.full((2, 2), SENTINEL))

    model = Model()
    init_recurrent_(model, scheme="orthogonal")
    w = model.rnn.weight_hh_l0.data
    assert w.shape == (18, 6)
    for k in range(3):
        assert_orthonormal_rows(w[k * 6 : (k + 1) * 6])
    np.testing.assert_array_equal(model.weight.data, SENTINEL)  # not a recurrent parameter
    with pytest.raises(ValueError, match="forget_bias needs an LSTM"):
        init_recurrent_(model, forget_bias=1.0)


def test_init_recurrent_errors():
    with pytest.raises(ValueError, match="scheme"):
        init_recurrent_(FakeRecurrent("RNN_TANH", 2, 3), scheme="xavier")
    with pytest.raises(ValueError, match="weight_hh_l0"):
        init_recurrent_(Module())
    with pytest.raises(ValueError, match="needs bias_ih and bias_hh"):
        init_recurrent_(FakeRecurrent("LSTM", 2, 3, bias=False), forget_bias=1.0)
    m = FakeRecurrent("RNN_RELU", 2, 3)
    m.mode = "LSTM"  # shapes say 1 gate
    with pytest.raises(ValueError, match=r"expected weight_hh of shape \(4\*H, H\)"):
        init_recurrent_(m)
