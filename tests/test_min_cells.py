"""minGRU and minLSTM (Feng et al. 2024): the parallel scan against the per-step definition,
gradient checks on both paths, and parity with a PyTorch implementation written here from the
paper's equations (there is no torch.nn layer)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.gradcheck import gradcheck
from rnnkit.nn import MinGRU, MinLSTM, manual_seed, registry
from rnnkit.nn.cells import MinGRUCell, MinLSTMCell
from rnnkit.nn.recurrent import RNNBase
from rnnkit.nn.scan import linear_scan, linear_scan_adjoint

T, B, I, H = 6, 3, 4, 3
LENGTHS = np.array([6, 2, 4])
LAYERS = {"min_gru": MinGRU, "min_lstm": MinLSTM}


def make(kind, scan=True, num_layers=1, bidirectional=False, dtype=np.float64, **kw):
    return LAYERS[kind](I, H, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype,
                        scan=scan, **kw)  # fmt: skip


def pair(kind, seed=0, **kw):
    """The scan layer and the per-step layer with the same (distinct, non-zero) parameters."""
    manual_seed(seed)
    scan, loop = make(kind, True, **kw), make(kind, False, **kw)
    rng = np.random.default_rng(seed)
    for name, p in scan.named_parameters():
        if name.startswith("bias"):
            p.data[...] = rng.uniform(0.1, 0.9, p.shape) * rng.choice([-1, 1], p.shape)
    loop.load_state_dict(scan.state_dict())
    return scan, loop


def test_linear_scan_solves_the_recurrence_for_any_sign():
    rng = np.random.default_rng(0)
    log_a = -rng.uniform(0, 3, (50, 2, 3))
    b, h0 = rng.standard_normal((50, 2, 3)), rng.standard_normal((2, 3))
    h0[0] = 0.0  # log 0 = -inf is handled
    expected = [h0]
    for t in range(50):
        expected.append(np.exp(log_a[t]) * expected[-1] + b[t])
    np.testing.assert_allclose(linear_scan(log_a, b, h0), np.stack(expected), rtol=1e-12,
                               atol=1e-13)  # fmt: skip
    # the adjoint: λ_t = dY_t + a_{t+1} λ_{t+1}, λ_T = dh_n
    dY, dh_n = rng.standard_normal((50, 2, 3)), rng.standard_normal((2, 3))
    lam, expected = np.empty_like(dY), dh_n
    for t in reversed(range(50)):
        a_next = np.exp(log_a[t + 1]) if t + 1 < 50 else 1.0
        expected = dY[t] + a_next * expected
        lam[t] = expected
    np.testing.assert_allclose(linear_scan_adjoint(log_a, dY, dh_n), lam, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_scan_equals_the_step_by_step_definition(kind, bidirectional, with_lengths):
    scan, loop = pair(kind, num_layers=2, bidirectional=bidirectional)
    D = 2 if bidirectional else 1
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((2 * D, B, H))
    lengths = LENGTHS if with_lengths else None
    y, h_n = scan(x, h0, lengths=lengths)
    y_ref, h_ref = loop(x, h0, lengths=lengths)
    np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n, h_ref, rtol=1e-10, atol=1e-12)
    dy, dh = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    grads, grads_ref = scan.backward(dy, dh), loop.backward(dy, dh)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-12)
    for (name, p), p_ref in zip(scan.named_parameters(), loop.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, p_ref.grad, rtol=1e-10, atol=1e-12, err_msg=name)
    if with_lengths:  # padded outputs are zeros
        assert np.all(y[4:, 2] == 0) and np.all(y[2:, 1] == 0)


@pytest.mark.parametrize("kind", LAYERS)
def test_float32_and_long_sequences(kind):
    scan, loop = pair(kind, num_layers=1, dtype=np.float32)
    x = np.random.default_rng(2).standard_normal((T, B, I)).astype(np.float32)
    np.testing.assert_allclose(scan(x)[0], loop(x)[0], rtol=1e-5, atol=1e-6)
    assert scan(x)[0].dtype == np.float32
    # 2000 steps with strongly decaying coefficients: A_t underflows, the log-space scan does not
    scan, loop = pair(kind, seed=3)
    scan.bias_ih_l0.data[:H] = 4.0 if kind == "min_gru" else -4.0  # z ~ 1 / f' ~ 0: a ~ e^-4
    loop.load_state_dict(scan.state_dict())
    x = np.random.default_rng(3).standard_normal((2000, 2, I))
    y, y_ref = scan(x)[0], loop(x)[0]
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, y_ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("scan", [True, False], ids=["scan", "loop"])
@pytest.mark.parametrize("config", ["plain", "bidirectional-lengths", "2-layers-dropout"])
def test_gradcheck(kind, scan, config):
    kw = {"plain": {}, "bidirectional-lengths": {"bidirectional": True},
          "2-layers-dropout": {"num_layers": 2, "dropout": 0.3}}[config]  # fmt: skip
    manual_seed(0)
    m = make(kind, scan, **kw)
    m.train()
    rng = np.random.default_rng(4)
    D = 2 if m.bidirectional else 1
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((m.num_layers * D, B, H))
    lengths = LENGTHS if config == "bidirectional-lengths" else None
    assert gradcheck(m, (x, h0), {"lengths": lengths}, max_checks=30).max_error < 1e-5


@pytest.mark.parametrize("kind", LAYERS)
def test_state_carry_equals_one_run(kind):
    m, _ = pair(kind, num_layers=2, bidirectional=False)
    x = np.random.default_rng(5).standard_normal((T, B, I))
    y, h_n = m(x)
    y1, h1 = m(x[:2])
    y2, h2 = m(x[2:], h1)
    np.testing.assert_allclose(np.concatenate([y1, y2]), y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h2, h_n, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", LAYERS)
def test_padding_does_not_leak_and_final_state_is_the_last_valid_step(kind):
    m, _ = pair(kind, bidirectional=True)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((T, B, I))
    y, h_n = m(x, lengths=LENGTHS)
    x2 = x.copy()
    x2[2:, 1] = 1e3  # the padding of sequence 1
    y2, h_n2 = m(x2, lengths=LENGTHS)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h_n, h_n2)
    alone, h_alone = m(x[:2, 1:2])  # sequence 1 on its own
    np.testing.assert_allclose(y[:2, 1:2], alone, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n[:, 1:2], h_alone, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", LAYERS)
def test_parameters_trace_and_no_fast_driver(kind):
    m = make(kind, num_layers=2, bidirectional=True)
    G = m.cell.num_gates
    assert {k: v.shape for k, v in m.state_dict().items()} == {
        "weight_ih_l0": (G * H, I), "bias_ih_l0": (G * H,),
        "weight_ih_l0_reverse": (G * H, I), "bias_ih_l0_reverse": (G * H,),
        "weight_ih_l1": (G * H, 2 * H), "bias_ih_l1": (G * H,),
        "weight_ih_l1_reverse": (G * H, 2 * H), "bias_ih_l1_reverse": (G * H,),
    }  # fmt: skip
    assert RNNBase.parameter_count(type(m.cell), I, H, 2, bidirectional=True) == sum(
        p.data.size for p in m.parameters())
    assert registry.drivers(MinGRUCell) is None and registry.drivers(MinLSTMCell) is None
    x = np.random.default_rng(7).standard_normal((T, B, I))
    for scan in (True, False):
        m.scan = scan
        traced = m.trace(x, lengths=LENGTHS)
        assert set(traced[0]) == {"h", *m.cell.gate_names}
        np.testing.assert_allclose(traced[-1]["h"].reshape(T, B, -1), m(x, lengths=LENGTHS)[0],
                                   rtol=1e-12, atol=1e-13)  # fmt: skip
    assert "scan=False" in repr(make(kind, scan=False))


# -- PyTorch parity: the paper's equations, one sequence and one step at a time ---------------


def torch_min_rnn(torch, kind, params, x, h0, lengths, num_layers, D):
    """minGRU / minLSTM written from Feng et al. 2024 (sections 3.1.3, 3.2.3) with autograd:
    every sequence alone, over its own length, reversed for the reverse direction."""
    T, B, _ = x.shape
    inp, finals = x, []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            W, b = params[f"weight_ih{suffix}"], params[f"bias_ih{suffix}"]
            columns = []
            for n in range(B):
                seq = inp[: lengths[n], n]
                seq = seq.flip(0) if d else seq
                h, ys = h0[layer * D + d, n], []
                for x_t in seq:
                    k = W @ x_t + b
                    if kind == "min_gru":
                        z, h_tilde = torch.sigmoid(k[:H]), k[H:]
                        h = (1 - z) * h + z * h_tilde
                    else:
                        f, i = torch.sigmoid(k[:H]), torch.sigmoid(k[H : 2 * H])
                        h_tilde = k[2 * H :]
                        h = f / (f + i) * h + i / (f + i) * h_tilde
                    ys.append(h)
                ys = torch.stack(ys)
                ys = ys.flip(0) if d else ys
                columns.append(torch.cat([ys, torch.zeros(T - lengths[n], H, dtype=ys.dtype)]))
                finals.append(h)
            outs.append(torch.stack(columns, 1))
        inp = torch.cat(outs, 2)
    return inp, torch.stack(finals).reshape(num_layers * D, B, H)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("scan", [True, False], ids=["scan", "loop"])
def test_parity_with_pytorch(kind, scan):
    torch = pytest.importorskip("torch")
    m, _ = pair(kind, num_layers=2, bidirectional=True)
    m.scan = scan
    rng = np.random.default_rng(8)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((4, B, H))
    y, h_n = m(x, h0, lengths=LENGTHS)
    dy, dh = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    m.zero_grad()
    dx, dh0 = m.backward(dy, dh)

    params = {k: torch.tensor(v, requires_grad=True) for k, v in m.state_dict().items()}
    assert len({float(p[0].detach()) for k, p in params.items() if k.startswith("bias")}) == 4
    tx, th0 = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    ty, th_n = torch_min_rnn(torch, kind, params, tx, th0, LENGTHS.tolist(), 2, 2)
    ((ty * torch.tensor(dy)).sum() + (th_n * torch.tensor(dh)).sum()).backward()
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(h_n, th_n.detach().numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dh0, th0.grad.numpy(), rtol=1e-6, atol=1e-9)
    for name, p in m.named_parameters():
        assert np.abs(p.grad).max() > 0, name
        np.testing.assert_allclose(p.grad, params[name].grad.numpy(), rtol=1e-6, atol=1e-9,
                                   err_msg=name)  # fmt: skip


# -- the compiled recurrence (nn/fast/scan.py): the fast path's scan --------------------------
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("batch_first", [False, True])  # (B, T) arrays: non-contiguous views
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_the_compiled_recurrence_equals_the_log_space_scan_and_the_loop(kind, dtype, tol,
                                                                         batch_first, lengths):
    from rnnkit.nn import fast

    if not fast.AVAILABLE:
        pytest.skip("needs numba (the fast extra)")
    scan, loop = pair(kind, num_layers=2, bidirectional=True, dtype=dtype,
                      batch_first=batch_first)  # fmt: skip
    rng = np.random.default_rng(11)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    h0 = rng.standard_normal((4, B, H)).astype(dtype)
    dy = rng.standard_normal((B, T, 2 * H) if batch_first else (T, B, 2 * H)).astype(dtype)
    dh = rng.standard_normal((4, B, H)).astype(dtype)
    results = {}
    for name, model, enabled in (("compiled", scan, True), ("log-space", scan, False),
                                 ("loop", loop, False)):  # fmt: skip
        with fast.flags(enabled=enabled):
            model.zero_grad()
            y, h_n = model(x, h0, lengths=lengths)
            if name == "compiled":
                assert model._cache[0][0][0].a is not None  # it took the compiled recurrence
            dx, dh0 = model.backward(dy, dh)
        results[name] = [y, h_n, dx, dh0, *(p.grad.copy() for p in model.parameters())]
    for other in ("log-space", "loop"):
        for got, want in zip(results["compiled"], results[other], strict=True):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert results["compiled"][0].dtype == dtype


@pytest.mark.parametrize("kind", LAYERS)
def test_gradcheck_on_the_compiled_recurrence(kind):
    from rnnkit.nn import fast

    if not fast.AVAILABLE:
        pytest.skip("needs numba (the fast extra)")
    m = make(kind, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(12)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((4, B, H))
    with fast.flags(enabled=True):
        assert gradcheck(m, (x, h0), {"lengths": LENGTHS}, max_checks=30).max_error < 1e-5


def test_the_compiled_min_lstm_divides_by_no_underflowed_gates():
    """f_pre = i_pre = -200: in float32 both gates round to 0, f / (f + i) would be 0/0; the
    compiled coefficients take the log-space form there, as the reference does."""
    from rnnkit.nn import fast

    if not fast.AVAILABLE:
        pytest.skip("needs numba (the fast extra)")
    m = make("min_lstm", dtype=np.float32)
    m.bias_ih_l0.data[: 2 * H] = -200.0
    m.bias_ih_l0.data[:H] -= np.arange(H, dtype=np.float32)  # log(i/f) = 0, 1, 2, ...
    x = np.random.default_rng(13).standard_normal((T, B, I)).astype(np.float32) * 0.01
    outs = []
    for enabled in (True, False):
        with fast.flags(enabled=enabled):
            outs.append(m(x)[0])
    assert np.all(np.isfinite(outs[0]))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("enabled", [True, False], ids=["compiled", "log-space"])
def test_min_lstm_gradients_stay_finite_when_both_gates_underflow(enabled):
    """Pre-activations below -17 make σ exactly 0 in float32 (σ = (1 + tanh(x/2)) / 2), so
    f + i = 0: the backward must not divide by it (a 3x768 minLSTM diverged to a nan gradient
    after 360 steps on tiny-shakespeare when it did)."""
    from rnnkit.nn import fast

    if enabled and not fast.AVAILABLE:
        pytest.skip("needs numba (the fast extra)")
    m = make("min_lstm", dtype=np.float32)
    m.bias_ih_l0.data[: 2 * H] = -40.0
    x = np.random.default_rng(14).standard_normal((T, B, I)).astype(np.float32) * 0.01
    with fast.flags(enabled=enabled):
        y, h_n = m(x)
        m.zero_grad()
        dx, _ = m.backward(np.ones_like(y), np.ones_like(h_n))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert all(np.all(np.isfinite(p.grad)) for p in m.parameters())
