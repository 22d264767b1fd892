"""The layer-normalised LSTM (Ba et al. 2016): the fast path against the per-step definition on
every BLAS, gradient checks on both paths, and parity with a PyTorch implementation written
here from the paper's equations (there is no torch.nn layer)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.gradcheck import gradcheck
from rnnkit.nn import LayerNormLSTM, blas, fast, manual_seed, registry
from rnnkit.nn.cells import CELLS, LayerNormLSTMCell
from rnnkit.nn.recurrent import RNNBase, build_layer

T, B, I, H = 6, 3, 4, 3
LENGTHS = np.array([6, 2, 4])
PATHS = {"fast": True, "reference": False}
BACKENDS = ["numpy", "openblas"] + (["mkl"] if blas._mkl() is not None else [])


def make(num_layers=1, bidirectional=False, dtype=np.float64, seed=0, **kw):
    """A layer with distinct, non-zero biases and shifts and gains away from 1 (the
    initial 1 and 0 would hide a gain or shift applied in the wrong place)."""
    manual_seed(seed)
    m = LayerNormLSTM(I, H, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype,
                      **kw)  # fmt: skip
    rng = np.random.default_rng(seed)
    for name, p in m.named_parameters():
        if name.startswith("weight_ln"):
            p.data[...] = rng.uniform(0.5, 1.5, p.shape)
        elif name.startswith("bias"):
            p.data[...] = rng.uniform(0.1, 0.9, p.shape) * rng.choice([-1, 1], p.shape)
    return m


def run(m, fast_path, x, state, lengths, dy, dstate):
    """Outputs, input and state gradients and every parameter gradient on one path."""
    with fast.flags(enabled=fast_path):
        m.zero_grad()
        y, (h_n, c_n) = m(x, state, lengths=lengths)
        dx, (dh0, dc0) = m.backward(dy, dstate)
    return {"y": y, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0,
            **{n: p.grad.copy() for n, p in m.named_parameters()}}  # fmt: skip


def inputs(m, seed=1, T=T, B=B):
    rng = np.random.default_rng(seed)
    D, dt = m.num_directions, m.dtype
    x = rng.standard_normal((T, B, m.input_size)).astype(dt)
    state = tuple(rng.standard_normal((m.num_layers * D, B, H)).astype(dt) for _ in "hc")
    dy = rng.standard_normal((T, B, D * H)).astype(dt)
    dstate = tuple(rng.standard_normal((m.num_layers * D, B, H)).astype(dt) for _ in "hc")
    return x, state, dy, dstate


def test_declarations_and_parameters():
    assert CELLS["ln_lstm"] is LayerNormLSTMCell and LayerNormLSTMCell.layer_norm
    assert type(build_layer(LayerNormLSTMCell, I, H)) is LayerNormLSTM
    m = LayerNormLSTM(I, H, num_layers=2, bidirectional=True)
    shapes = {k: v.shape for k, v in m.state_dict().items()}
    for suffix in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        width = I if suffix.startswith("_l0") else 2 * H
        assert shapes[f"weight_ih{suffix}"] == (4 * H, width)
        assert shapes[f"weight_hh{suffix}"] == (4 * H, H)
        for name, size in (("bias_ih", 4 * H), ("bias_hh", 4 * H), ("weight_ln_ih", 4 * H),
                           ("weight_ln_hh", 4 * H), ("weight_ln_c", H), ("bias_ln_c", H)):
            assert shapes[f"{name}{suffix}"] == (size,)
        # gains start at 1, the shift at 0
        for name in ("weight_ln_ih", "weight_ln_hh", "weight_ln_c"):
            np.testing.assert_array_equal(m.state_dict()[f"{name}{suffix}"], 1.0)
        np.testing.assert_array_equal(m.state_dict()[f"bias_ln_c{suffix}"], 0.0)
    assert len(shapes) == 4 * 8
    for bias in (True, False):
        layer = LayerNormLSTM(I, H, num_layers=2, bidirectional=True, bias=bias)
        assert RNNBase.parameter_count(LayerNormLSTMCell, I, H, 2, bias, True) == sum(
            p.data.size for p in layer.parameters())
        assert any(n.startswith("bias") for n, _ in layer.named_parameters()) == bias
    assert registry.drivers(LayerNormLSTMCell) is not None


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("config", ["2-layers-bidirectional-lengths", "plain", "no-bias"])
def test_fast_path_matches_the_reference(monkeypatch, backend, dtype, tol, config):
    """Every BLAS (the compiled loop calling MKL or NumPy's OpenBLAS, or the per-step form),
    with the batch rows split over two threads however small the work."""
    kw = {"2-layers-bidirectional-lengths": {"num_layers": 2, "bidirectional": True},
          "plain": {}, "no-bias": {"bias": False}}[config]  # fmt: skip
    lengths = LENGTHS if config.endswith("lengths") else None
    split = []

    def two_workers(rows, macs):  # time loops: rows = B
        split.append(min(2, rows))
        return min(2, rows)

    monkeypatch.setattr(fast.threads, "_workers", two_workers)
    m = make(dtype=dtype, **kw)
    args = inputs(m)
    with blas.selected(backend) as be:
        assert be.name == backend
        got = run(m, True, args[0], args[1], lengths, *args[2:])
    assert bool(split and max(split) == 2) == (backend != "numpy")  # the compiled loops ran
    expected = run(m, False, args[0], args[1], lengths, *args[2:])
    for name, value in expected.items():
        assert got[name].dtype == dtype
        np.testing.assert_allclose(got[name], value, rtol=tol, atol=tol, err_msg=name)
    if lengths is not None:  # padded outputs are zeros
        assert np.all(got["y"][4:, 2] == 0) and np.all(got["y"][2:, 1] == 0)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("config", ["plain", "bidirectional-lengths", "2-layers-dropout",
                                    "no-bias"])  # fmt: skip
def test_gradcheck(path, config):
    kw = {"plain": {}, "bidirectional-lengths": {"bidirectional": True},
          "2-layers-dropout": {"num_layers": 2, "dropout": 0.3}, "no-bias": {"bias": False}}[config]
    m = make(**kw)
    m.train()
    x, state, _, _ = inputs(m, seed=4)
    lengths = LENGTHS if config == "bidirectional-lengths" else None
    with fast.flags(enabled=PATHS[path]):
        result = gradcheck(m, (x, state), {"lengths": lengths}, max_checks=30)
    assert result.max_error < 1e-5


@pytest.mark.parametrize("path", PATHS)
def test_state_dict_round_trip_and_state_carry(path):
    m = make(num_layers=2, bidirectional=True)
    other = LayerNormLSTM(I, H, num_layers=2, bidirectional=True, dtype=np.float64)
    other.load_state_dict(m.state_dict())
    for name, value in m.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[name], value)
    x, state, _, _ = inputs(m, seed=5)
    with fast.flags(enabled=PATHS[path]):
        y, final = m(x, state)
        y_other, final_other = other(x, state)
        np.testing.assert_array_equal(y, y_other)
        uni = make(num_layers=2)  # state carry: two chunks give the one run
        state1 = tuple(s[:2] for s in state)
        y, (h_n, c_n) = uni(x, state1)
        y1, s1 = uni(x[:2], state1)
        y2, (h2, c2) = uni(x[2:], s1)
    np.testing.assert_allclose(np.concatenate([y1, y2]), y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h2, h_n, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c2, c_n, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("path", PATHS)
def test_padding_does_not_leak_and_final_state_is_the_last_valid_step(path):
    m = make(bidirectional=True)
    x, _, _, _ = inputs(m, seed=6)
    with fast.flags(enabled=PATHS[path]):
        y, (h_n, c_n) = m(x, lengths=LENGTHS)
        x2 = x.copy()
        x2[2:, 1] = 1e3  # the padding of sequence 1
        y2, (h_n2, c_n2) = m(x2, lengths=LENGTHS)
        alone, (h_alone, c_alone) = m(x[:2, 1:2])  # sequence 1 on its own
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h_n, h_n2)
    np.testing.assert_array_equal(c_n, c_n2)
    np.testing.assert_allclose(y[:2, 1:2], alone, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n[:, 1:2], h_alone, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_n[:, 1:2], c_alone, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("path", PATHS)
def test_trace_and_batch_first(path):
    m = make(num_layers=2, bidirectional=True)
    x, _, _, _ = inputs(m, seed=7)
    with fast.flags(enabled=PATHS[path]):
        traced = m.trace(x, lengths=LENGTHS)
        y, _ = m(x, lengths=LENGTHS)
        m.batch_first = True
        y_bf, _ = m(np.ascontiguousarray(x.swapaxes(0, 1)), lengths=LENGTHS)
    assert set(traced[0]) == {"h", "c", "tanh_c", "i", "f", "g", "o"}
    np.testing.assert_allclose(traced[-1]["h"].reshape(T, B, -1), y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(y_bf.swapaxes(0, 1), y, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("path", PATHS)
def test_the_normalisations_remove_the_products_scale(path):
    """LN(s W x) = LN(W x) for s > 0 (up to eps): scaling W_ih or W_hh changes nothing."""
    m = make()
    x, state, _, _ = inputs(m, seed=8)
    with fast.flags(enabled=PATHS[path]):
        y, _ = m(x, state)
        m.weight_ih_l0.data *= 7.0
        m.weight_hh_l0.data *= 3.0
        y_scaled, _ = m(x, state)
    np.testing.assert_allclose(y_scaled, y, atol=1e-3)
    assert not np.allclose(LayerNormLSTM(I, H, dtype=np.float64)(x, state)[0], y, atol=1e-3)


# -- PyTorch parity: the paper's equations, one sequence and one step at a time ---------------


def torch_ln_lstm(torch, params, x, h0, c0, lengths, num_layers, D, eps=1e-5):
    """The layer-normalised LSTM of Ba et al. 2016 (supplementary, "layer normalized LSTM")
    with autograd, the normalisation by torch.nn.functional.layer_norm::

        [f, i, o, g] = LN(W_h h; α1, β1) + LN(W_x x; α2, β2) + b   (here in PyTorch's order
        c = σ(f) c + σ(i) tanh(g)                                  i, f, g, o; b and the
        h = σ(o) tanh(LN(c; α3, β3))                               β's: b_ih and b_hh)

    every sequence alone, over its own length, reversed for the reverse direction."""
    F = torch.nn.functional
    T, B, _ = x.shape
    inp, h_finals, c_finals = x, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            s = f"_l{layer}" + ("_reverse" if d else "")
            p = {k[: -len(s)]: v for k, v in params.items() if k.endswith(s)}
            columns = []
            for n in range(B):
                seq = inp[: lengths[n], n]
                seq = seq.flip(0) if d else seq
                h, c, ys = h0[layer * D + d, n], c0[layer * D + d, n], []
                for x_t in seq:
                    k = (F.layer_norm(p["weight_hh"] @ h, (4 * H,), p["weight_ln_hh"], None, eps)
                         + p["bias_hh"]
                         + F.layer_norm(p["weight_ih"] @ x_t, (4 * H,), p["weight_ln_ih"], None,
                                        eps)
                         + p["bias_ih"])  # fmt: skip
                    i, f, g, o = k[:H], k[H : 2 * H], k[2 * H : 3 * H], k[3 * H :]
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    c_norm = F.layer_norm(c, (H,), p["weight_ln_c"], p["bias_ln_c"], eps)
                    h = torch.sigmoid(o) * torch.tanh(c_norm)
                    ys.append(h)
                ys = torch.stack(ys)
                ys = ys.flip(0) if d else ys
                columns.append(torch.cat([ys, torch.zeros(T - lengths[n], H, dtype=ys.dtype)]))
                h_finals.append(h)
                c_finals.append(c)
            outs.append(torch.stack(columns, 1))
        inp = torch.cat(outs, 2)
    shape = (num_layers * D, B, H)
    return inp, torch.stack(h_finals).reshape(shape), torch.stack(c_finals).reshape(shape)


@pytest.mark.parametrize("path", PATHS)
def test_parity_with_pytorch(path):
    torch = pytest.importorskip("torch")
    m = make(num_layers=2, bidirectional=True)
    x, state, dy, dstate = inputs(m, seed=9)
    got = run(m, PATHS[path], x, state, LENGTHS, dy, dstate)

    params = {k: torch.tensor(v, requires_grad=True) for k, v in m.state_dict().items()}
    for kind in ("bias", "weight_ln"):  # distinct, non-zero biases; gains not 1
        firsts = [float(p[0].detach()) for k, p in params.items() if k.startswith(kind)]
        assert len(set(firsts)) == len(firsts) and 0 not in firsts and 1 not in firsts
    tx = torch.tensor(x, requires_grad=True)
    th0, tc0 = (torch.tensor(s, requires_grad=True) for s in state)
    ty, th_n, tc_n = torch_ln_lstm(torch, params, tx, th0, tc0, LENGTHS.tolist(), 2, 2)
    loss = ((ty * torch.tensor(dy)).sum() + (th_n * torch.tensor(dstate[0])).sum()
            + (tc_n * torch.tensor(dstate[1])).sum())  # fmt: skip
    loss.backward()
    expected = {"y": ty, "h_n": th_n, "c_n": tc_n, "dx": tx.grad, "dh0": th0.grad,
                "dc0": tc0.grad, **{k: p.grad for k, p in params.items()}}  # fmt: skip
    assert set(expected) == set(got)
    for name, value in expected.items():
        assert np.abs(got[name]).max() > 0, name
        np.testing.assert_allclose(got[name], value.detach().numpy(), rtol=1e-6, atol=1e-9,
                                   err_msg=name)  # fmt: skip


def test_trace_gives_what_the_output_gate_multiplies():
    """h = o * tanh_c at every step that is not padded: the traced tanh_c is tanh of the
    normalised cell state (what the explorer shows), not tanh(c); padded steps are zeros."""
    from rnnkit import nn

    rng = np.random.default_rng(3)
    layer = nn.LayerNormLSTM(3, 5, num_layers=2, bidirectional=True, dtype=np.float64)
    for name, p in layer.named_parameters():
        if "ln" in name:
            p.data[...] = rng.uniform(0.5, 1.5, p.data.shape) if "weight" in name else \
                rng.uniform(-0.5, 0.5, p.data.shape)
    x = rng.standard_normal((6, 2, 3))
    traced = layer.trace(x, lengths=np.array([6, 4]))
    for record in traced:
        np.testing.assert_allclose(record["h"], record["o"] * record["tanh_c"], atol=1e-12)
        assert not np.allclose(record["tanh_c"], np.tanh(record["c"]))
        assert np.all(record["tanh_c"][4:, 1] == 0)
