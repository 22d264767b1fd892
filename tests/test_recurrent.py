"""RNN / LSTM / GRU layers: gradient checks, PyTorch parity, step by step = whole, trace, errors.

The gradient checks and the parity tests run on both paths (``path``): the
readable reference (``rnnkit.nn.cells``) must pass them on its own, and so
must the compiled one (``rnnkit.nn.fast``) where numba is installed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnnkit.gradcheck import gradcheck
from rnnkit.nn import cells, fast, manual_seed, registry
from rnnkit.nn.recurrent import GRU, LSTM, RNN

T, B, I, H = 5, 3, 4, 3
LENGTHS = np.array([5, 2, 3])

CELLS = {
    "rnn_tanh": (RNN, {}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "gru_cho": (GRU, {"reset_after": False}),
}


@pytest.fixture(params=["reference", "fast"])
def path(request):
    """Run the test on the reference path, then on the compiled one (skipped without numba)."""
    if request.param == "fast" and not fast.AVAILABLE:
        pytest.skip("numba is not installed (pip install rnnkit[fast])")
    with fast.flags(enabled=request.param == "fast"):
        yield request.param


def make(kind, num_layers=1, bidirectional=False, batch_first=False, dtype=np.float64, **extra):
    cls, kw = CELLS[kind]
    return cls(I, H, num_layers=num_layers, bidirectional=bidirectional,
               batch_first=batch_first, dtype=dtype, **kw, **extra)


def random_state(kind, num_layers, D, rng, batch=B):
    h0 = rng.standard_normal((num_layers * D, batch, H))
    if kind == "lstm":
        return h0, rng.standard_normal((num_layers * D, batch, H))
    return h0


def distinct_biases(module, rng):
    """Give bias_ih and bias_hh distinct non-zero values (a shared or zero bias hides bugs)."""
    for name, p in module.named_parameters():
        if name.startswith("bias_ih"):
            p.data[...] = rng.uniform(0.1, 0.5, p.shape)
        elif name.startswith("bias_hh"):
            p.data[...] = rng.uniform(-0.5, -0.1, p.shape)


# ---------------------------------------------------------------------------
# Numerical gradient checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("num_layers,bidirectional,with_lengths",
                         [(1, False, False), (1, True, True), (2, False, True), (2, True, False),
                          (3, True, True)])
def test_gradcheck(path, kind, num_layers, bidirectional, with_lengths):
    rng = np.random.default_rng(1)
    manual_seed(0)
    m = make(kind, num_layers, bidirectional)
    distinct_biases(m, rng)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, I))
    state = random_state(kind, num_layers, D, rng)
    lengths = LENGTHS if with_lengths else None
    gradcheck(m, (x, state), {"lengths": lengths}, max_checks=40)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradcheck_batch_first_no_bias_dropout(path, kind):
    rng = np.random.default_rng(2)
    manual_seed(0)
    m = make(kind, num_layers=2, bidirectional=True, batch_first=True, bias=False, dropout=0.3)
    x = rng.standard_normal((B, T, I))
    gradcheck(m, (x,), {"lengths": LENGTHS}, max_checks=40)


# ---------------------------------------------------------------------------
# Parity with PyTorch (float64, distinct non-zero biases)
# ---------------------------------------------------------------------------


def torch_module(kind, num_layers, bidirectional, batch_first):
    torch = pytest.importorskip("torch")
    cls, kw = {"rnn_tanh": (torch.nn.RNN, {}), "rnn_relu": (torch.nn.RNN, {"nonlinearity": "relu"}),
               "lstm": (torch.nn.LSTM, {}), "gru": (torch.nn.GRU, {})}[kind]
    return cls(I, H, num_layers=num_layers, bidirectional=bidirectional,
               batch_first=batch_first, dtype=torch.float64, **kw)


def rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_lengths",
                         list(itertools.product([1, 2, 3], [False, True], [False, True],
                                                [False, True])))
def test_parity_with_pytorch(path, kind, num_layers, bidirectional, batch_first, with_lengths):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(3)
    tm = torch_module(kind, num_layers, bidirectional, batch_first)
    ours = make(kind, num_layers, bidirectional, batch_first)
    distinct_biases(ours, rng)
    # our names and shapes are PyTorch's: the state dict moves 1:1 both ways
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert list(tm.state_dict()) == list(ours.state_dict())

    D = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    state = random_state(kind, num_layers, D, rng)
    lengths = LENGTHS if with_lengths else None
    out, final = ours(x, state, lengths=lengths)
    grad_out = rng.standard_normal(out.shape)
    grad_final = (random_state(kind, num_layers, D, rng))
    gx, gstate = ours.backward(grad_out, grad_final)

    tx = torch.tensor(x, requires_grad=True)
    tstate = tuple(torch.tensor(s, requires_grad=True) for s in state) if kind == "lstm" \
        else torch.tensor(state, requires_grad=True)
    if with_lengths:
        packed = pack_padded_sequence(tx, torch.tensor(lengths), batch_first=batch_first,
                                      enforce_sorted=False)
        tout, tfinal = tm(packed, tstate)
        tout, _ = pad_packed_sequence(tout, batch_first=batch_first, total_length=T)
    else:
        tout, tfinal = tm(tx, tstate)
    loss = (tout * torch.from_numpy(grad_out)).sum()
    if kind == "lstm":
        loss = loss + sum((f * torch.from_numpy(g)).sum()
                          for f, g in zip(tfinal, grad_final, strict=True))
    else:
        loss = loss + (tfinal * torch.from_numpy(grad_final)).sum()
    loss.backward()

    tol = 1e-6
    assert rel_err(out, tout.detach().numpy()) < tol
    if kind == "lstm":
        for ours_s, theirs in zip(final, tfinal, strict=True):
            assert rel_err(ours_s, theirs.detach().numpy()) < tol
        for ours_g, theirs in zip(gstate, tstate, strict=True):
            assert rel_err(ours_g, theirs.grad.numpy()) < tol
    else:
        assert rel_err(final, tfinal.detach().numpy()) < tol
        assert rel_err(gstate, tstate.grad.numpy()) < tol
    assert rel_err(gx, tx.grad.numpy()) < tol
    tparams = dict(tm.named_parameters())
    for name, p in ours.named_parameters():
        assert rel_err(p.grad, tparams[name].grad.numpy()) < tol, name


def torch_gru_cho(x, h0, params, lengths, torch):
    """GRU, reset applied before the matmul, written with torch autograd (one layer, forward)."""
    W_ih, W_hh, b_ih, b_hh = params
    Hh = h0.shape[-1]
    h = h0
    outs = []
    for t in range(x.shape[0]):
        gx = x[t] @ W_ih.T + b_ih
        r = torch.sigmoid(gx[:, :Hh] + h @ W_hh[:Hh].T + b_hh[:Hh])
        z = torch.sigmoid(gx[:, Hh:2 * Hh] + h @ W_hh[Hh:2 * Hh].T + b_hh[Hh:2 * Hh])
        n = torch.tanh(gx[:, 2 * Hh:] + (r * h) @ W_hh[2 * Hh:].T + b_hh[2 * Hh:])
        h_new = (1 - z) * n + z * h
        m = torch.tensor((t < lengths)[:, None].astype(np.float64))
        h = m * h_new + (1 - m) * h
        outs.append(h * m)
    return torch.stack(outs), h


def test_gru_reset_before_matches_torch_autograd(path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    ours = make("gru_cho")
    distinct_biases(ours, rng)
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((1, B, H))
    out, hn = ours(x, h0, lengths=LENGTHS)
    g_out, g_hn = rng.standard_normal(out.shape), rng.standard_normal(hn.shape)
    gx, gh0 = ours.backward(g_out, g_hn)

    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    params = [torch.tensor(ours.state_dict()[n], requires_grad=True) for n in names]
    tx, th0 = torch.tensor(x, requires_grad=True), torch.tensor(h0[0], requires_grad=True)
    tout, thn = torch_gru_cho(tx, th0, params, LENGTHS, torch)
    ((tout * torch.from_numpy(g_out)).sum() + (thn * torch.from_numpy(g_hn[0])).sum()).backward()
    assert rel_err(out, tout.detach().numpy()) < 1e-10
    assert rel_err(hn[0], thn.detach().numpy()) < 1e-10
    assert rel_err(gx, tx.grad.numpy()) < 1e-10
    assert rel_err(gh0[0], th0.grad.numpy()) < 1e-10
    grads = dict(ours.named_parameters())
    for n, p in zip(names, params, strict=True):
        assert rel_err(grads[n].grad, p.grad.numpy()) < 1e-10, n


def test_gru_forms_differ():
    """The two GRU forms are different functions with the same parameters."""
    rng = np.random.default_rng(5)
    a, b = make("gru"), make("gru_cho")
    b.load_state_dict(a.state_dict())
    x = rng.standard_normal((T, B, I))
    assert not np.allclose(a(x)[0], b(x)[0])


# ---------------------------------------------------------------------------
# Step by step equals whole sequence (state carry, truncated BPTT)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CELLS))
def test_step_by_step_equals_whole(kind):
    rng = np.random.default_rng(6)
    m = make(kind, num_layers=2)
    distinct_biases(m, rng)
    x = rng.standard_normal((T, B, I))
    state0 = random_state(kind, 2, 1, rng)
    g_out = rng.standard_normal((T, B, H))

    out, final = m(x, state0)
    m.zero_grad()
    gx_whole, gstate_whole = m.backward(g_out)
    grads_whole = {n: p.grad.copy() for n, p in m.named_parameters()}

    # forward one step at a time, carrying the state
    m.zero_grad()
    state, outs, steps = state0, [], []
    for t in range(T):
        o, state = m(x[t:t + 1], state)
        outs.append(o)
        steps.append((x[t:t + 1], state))
    np.testing.assert_allclose(np.concatenate(outs), out, rtol=1e-12, atol=1e-12)
    for a, b in zip(np.atleast_1d(state) if kind != "lstm" else state,
                    np.atleast_1d(final) if kind != "lstm" else final, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    # backward one step at a time, from the last step to the first, passing the state gradient back
    states = [state0]
    for t in range(T - 1):
        states.append(m(x[t:t + 1], states[-1])[1])
    g_state = None
    gx_steps = []
    for t in reversed(range(T)):
        m(x[t:t + 1], states[t])
        gx_t, g_state = m.backward(g_out[t:t + 1], g_state)
        gx_steps.append(gx_t)
    np.testing.assert_allclose(np.concatenate(gx_steps[::-1]), gx_whole, rtol=1e-10, atol=1e-12)
    for a, b in zip(np.atleast_1d(g_state) if kind != "lstm" else g_state,
                    np.atleast_1d(gstate_whole) if kind != "lstm" else gstate_whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, grads_whole[n], rtol=1e-10, atol=1e-12, err_msg=n)


# ---------------------------------------------------------------------------
# Lengths, dropout, modes, dtypes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_padding_does_not_leak(kind):
    """A sequence's outputs and final state do not depend on what sits in its padding."""
    rng = np.random.default_rng(7)
    m = make(kind, num_layers=2, bidirectional=True)
    x = rng.standard_normal((T, B, I))
    out1, fin1 = m(x, lengths=LENGTHS)
    x2 = x.copy()
    for b, L in enumerate(LENGTHS):
        x2[L:, b] = rng.standard_normal((T - L, I)) * 10
    out2, fin2 = m(x2, lengths=LENGTHS)
    np.testing.assert_array_equal(out1, out2)
    h1 = fin1[0] if kind == "lstm" else fin1
    h2 = fin2[0] if kind == "lstm" else fin2
    np.testing.assert_array_equal(h1, h2)
    for b, L in enumerate(LENGTHS):
        assert np.all(out1[L:, b] == 0)
    # and a sequence alone gives the same result as inside the padded batch
    b = 1
    alone, fin_alone = m(x[: LENGTHS[b], b : b + 1])
    np.testing.assert_allclose(alone[:, 0], out1[: LENGTHS[b], b], rtol=1e-12, atol=1e-14)


def test_dropout_between_layers_only_in_training():
    rng = np.random.default_rng(8)
    manual_seed(1)
    m = make("lstm", num_layers=2, dropout=0.5)
    x = rng.standard_normal((T, B, I))
    manual_seed(2)
    a = m(x)[0]
    manual_seed(3)
    b = m(x)[0]
    assert not np.allclose(a, b)  # different masks in training
    m.eval()
    c, d = m(x)[0], m(x)[0]
    np.testing.assert_array_equal(c, d)
    # one layer: dropout applies only between layers, so it is a no-op (as in PyTorch)
    single = make("lstm", num_layers=1, dropout=0.5)
    np.testing.assert_array_equal(single(x)[0], single(x)[0])


def test_float32_default_and_dtype_mismatch():
    m = LSTM(I, H)
    assert all(p.data.dtype == np.float32 for p in m.parameters())
    out, (h, c) = m(np.zeros((T, B, I), np.float32))
    assert out.dtype == h.dtype == c.dtype == np.float32
    with pytest.raises(ValueError, match="dtype float32, received float64"):
        m(np.zeros((T, B, I)))


def test_default_init_matches_pytorch_bound():
    m = GRU(10, 16)
    bound = 1 / np.sqrt(16)
    for _, p in m.named_parameters():
        assert np.abs(p.data).max() <= bound


@pytest.mark.parametrize("bad,match", [
    (lambda m: m(np.zeros((T, I))), "3 dimensions"),
    (lambda m: m(np.zeros((T, B, I + 1))), "4 features"),
    (lambda m: m(np.zeros((T, B, I)), (np.zeros((1, B + 1, H)), np.zeros((1, B, H)))),
     r"h0 must have shape \(1, 3, 3\)"),
    (lambda m: m(np.zeros((T, B, I)), np.zeros((1, B, H))), "tuple"),
    (lambda m: m(np.zeros((T, B, I)), lengths=[5, 0, 3]), r"1\.\.5"),
    (lambda m: m(np.zeros((T, B, I)), lengths=[5, 6, 3]), r"1\.\.5"),
    (lambda m: m(np.zeros((T, B, I)), lengths=[5, 3]), "3 integers"),
    (lambda m: m(np.zeros((T, B, I)), lengths=[5.0, 3.0, 1.0]), "integers"),
])
def test_bad_input(bad, match):
    m = make("lstm")
    with pytest.raises(ValueError, match=match):
        bad(m)


def test_bad_constructor_and_grad_shape():
    with pytest.raises(ValueError, match="hidden_size"):
        LSTM(3, 0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    m = make("gru")
    m(np.zeros((T, B, I)))
    with pytest.raises(ValueError, match="grad_output must have shape"):
        m.backward(np.zeros((T, B, H + 1)))


def test_load_state_dict_checks_shapes():
    m = make("lstm")
    sd = m.state_dict()
    sd["weight_hh_l0"] = np.zeros((4 * H, H + 1))
    with pytest.raises(ValueError, match="weight_hh_l0"):
        m.load_state_dict(sd)
    with pytest.raises(ValueError, match="missing keys"):
        m.load_state_dict({})


# ---------------------------------------------------------------------------
# The cell classes and the switch between the two paths
# ---------------------------------------------------------------------------

CELL_FACTS = {  # kind: (cell class, gate names, state names)
    "rnn_tanh": (cells.RNNTanhCell, (), ("h",)),
    "rnn_relu": (cells.RNNReLUCell, (), ("h",)),
    "lstm": (cells.LSTMCell, ("i", "f", "g", "o"), ("h", "c")),
    "gru": (cells.GRUCell, ("r", "z", "n"), ("h",)),
    "gru_cho": (cells.GRUResetBeforeCell, ("r", "z", "n"), ("h",)),
}


@pytest.mark.parametrize("kind", list(CELLS))
def test_each_layer_picks_its_cell_class_once(kind):
    import inspect

    cell_cls, gate_names, state_names = CELL_FACTS[kind]
    m = make(kind)
    assert type(m.cell) is cell_cls
    assert m.cell.gate_names == gate_names and m.cell.state_names == state_names
    assert m.cell.state_arity == len(state_names)
    assert m.weight_hh_l0.shape == (m.cell.num_gates * H, H)
    assert m.cell.num_gates == max(len(gate_names), 1)
    assert m.mode == m.cell.mode  # PyTorch's public name stays
    # the backward knows its cell: no flags to pass (or to get wrong)
    assert list(inspect.signature(m.cell.backward).parameters) == ["dstate", "cache", "weight_hh"]
    # the fast path registers its drivers by the cell's class; the reference never imports it
    forward, backward = registry.drivers(cell_cls)
    assert forward.__module__ == backward.__module__
    assert forward.__module__.startswith(fast.__name__ + ".")


def test_the_reference_never_imports_the_fast_path():
    """cells.py and the layers find the compiled drivers in the registry, by cell class."""
    import ast
    import inspect

    from rnnkit.nn import layers, recurrent

    for module in (cells, recurrent, layers):
        imported = set()
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
                imported.update(f"{node.module or ''}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
        assert not [name for name in imported if "fast" in name.split(".")], module.__name__


def test_flags_select_the_path_and_restore_it(monkeypatch):
    def compiled_path_used(*args):
        raise AssertionError("the compiled path ran")

    monkeypatch.setitem(registry._DRIVERS, cells.LSTMCell,
                        (compiled_path_used, registry.drivers(cells.LSTMCell)[1]))
    m = make("lstm")
    x = np.zeros((T, B, I))
    before = fast.ENABLED
    with fast.flags(enabled=False):
        assert fast.ENABLED is False
        m(x)  # the reference path: the patched driver is never called
    assert fast.ENABLED == before
    monkeypatch.setattr(fast, "AVAILABLE", True)
    with fast.flags(enabled=True), pytest.raises(AssertionError, match="compiled path ran"):
        m(x)
    assert fast.ENABLED == before
    monkeypatch.setattr(fast, "AVAILABLE", False)
    with pytest.raises(RuntimeError, match="numba"), fast.flags(enabled=True):
        pass


# ---------------------------------------------------------------------------
# trace: every layer's states and gate values
# ---------------------------------------------------------------------------


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def expected_step(kind, p, x_t, h_prev, c_prev):
    """The gates (and state) of one step recomputed from the parameters, written out anew."""
    W_ih, W_hh, b_ih, b_hh = p
    gi, gh = x_t @ W_ih.T + b_ih, h_prev @ W_hh.T + b_hh
    if kind == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c = f * c_prev + i * g
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": o * np.tanh(c)}
    if kind in ("gru", "gru_cho"):
        (xr, xz, xn), (hr, hz, hn) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
        r, z = sigmoid(xr + hr), sigmoid(xz + hz)
        if kind == "gru":
            n = np.tanh(xn + r * hn)
        else:
            n = np.tanh(xn + (r * h_prev) @ W_hh[2 * H :].T + b_hh[2 * H :])
        return {"r": r, "z": z, "n": n, "h": (1 - z) * n + z * h_prev}
    a = gi + gh
    return {"h": np.tanh(a) if kind == "rnn_tanh" else np.maximum(a, 0)}


def one_layer_copy(m, kind, layer):
    """Layer ``layer`` of ``m`` alone, as a one-layer module with the same parameters."""
    D = m.num_directions
    single = CELLS[kind][0](I if layer == 0 else D * H, H, bidirectional=m.bidirectional,
                            dtype=m.dtype, **CELLS[kind][1])  # fmt: skip
    sd = m.state_dict()
    single.load_state_dict({k: sd[k.replace("_l0", f"_l{layer}")] for k in single.state_dict()})
    return single


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("bidirectional,with_lengths", [(False, False), (True, True)])
def test_trace_is_what_forward_computes(path, kind, bidirectional, with_lengths):
    rng = np.random.default_rng(11)
    L, D = 2, 2 if bidirectional else 1
    m = make(kind, num_layers=L, bidirectional=bidirectional)
    distinct_biases(m, rng)
    x = rng.standard_normal((T, B, I))
    state = random_state(kind, L, D, rng)
    lengths = LENGTHS if with_lengths else None
    valid = LENGTHS if with_lengths else np.full(B, T)
    traced = m.trace(x, state, lengths=lengths)

    keys = {"h", "c"} if kind == "lstm" else {"h"}
    keys |= set(CELL_FACTS[kind][1])
    assert len(traced) == L
    assert all(set(t) == keys and all(a.shape == (T, B, D, H) for a in t.values()) for t in traced)
    out, _ = m(x, state, lengths=lengths)
    np.testing.assert_allclose(traced[-1]["h"], out.reshape(T, B, D, H), rtol=1e-12, atol=1e-14)

    h0 = state[0] if kind == "lstm" else state
    c0 = state[1] if kind == "lstm" else np.zeros_like(h0)
    layer_input = x
    for layer, tr in enumerate(traced):
        # each layer's h is a one-layer forward on the previous layer's traced output
        single = one_layer_copy(m, kind, layer)
        s = h0[layer * D : (layer + 1) * D], c0[layer * D : (layer + 1) * D]
        o, _ = single(layer_input, s if kind == "lstm" else s[0], lengths=lengths)
        np.testing.assert_allclose(tr["h"], o.reshape(T, B, D, H), rtol=1e-12, atol=1e-14)
        # every gate and state, recomputed step by step from the parameters
        for d, suffix in enumerate(["", "_reverse"][:D]):
            p = [m.state_dict()[f"{n}_l{layer}{suffix}"]
                 for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]  # fmt: skip
            k = layer * D + d
            for b in range(B):
                steps = range(valid[b]) if d == 0 else reversed(range(valid[b]))
                h_prev, c_prev = h0[k, b], c0[k, b]
                for t in steps:
                    want = expected_step(kind, p, layer_input[t, b], h_prev, c_prev)
                    for name, value in want.items():
                        np.testing.assert_allclose(tr[name][t, b, d], value, rtol=1e-10,
                                                   atol=1e-12, err_msg=f"{name} t={t}")  # fmt: skip
                    h_prev, c_prev = want["h"], want.get("c")
                for name in keys:  # padded steps are zeros
                    assert np.all(tr[name][valid[b] :, b, d] == 0), name
        layer_input = tr["h"].reshape(T, B, D * H)


def test_trace_applies_no_dropout_and_leaves_backward_intact(path):
    rng = np.random.default_rng(12)
    m = make("lstm", num_layers=2, bidirectional=True, dropout=0.5)
    x = rng.standard_normal((T, B, I))
    g = rng.standard_normal((T, B, 2 * H))

    def grads_after(between):
        manual_seed(5)
        m.zero_grad()
        m(x, lengths=LENGTHS)
        if between:  # other values, same shapes: would overwrite shared scratch arrays
            m.trace(x[::-1] * 2)
        gx, _ = m.backward(g)
        return gx, {n: p.grad.copy() for n, p in m.named_parameters()}

    (gx_a, grads_a), (gx_b, grads_b) = grads_after(False), grads_after(True)
    np.testing.assert_array_equal(gx_a, gx_b)
    for n in grads_a:
        np.testing.assert_array_equal(grads_a[n], grads_b[n], err_msg=n)
    in_training = m.trace(x, lengths=LENGTHS)  # training mode: dropout would differ call to call
    m.eval()
    in_eval = m.trace(x, lengths=LENGTHS)
    for a, b in zip(in_training, in_eval, strict=True):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_trace_batch_first_takes_forwards_layout_and_returns_time_first():
    rng = np.random.default_rng(13)
    a, b = make("gru", bidirectional=True), make("gru", bidirectional=True, batch_first=True)
    b.load_state_dict(a.state_dict())
    x = rng.standard_normal((T, B, I))
    ta, tb = a.trace(x, lengths=LENGTHS), b.trace(np.swapaxes(x, 0, 1), lengths=LENGTHS)
    for name in ta[0]:
        np.testing.assert_array_equal(ta[0][name], tb[0][name])
    with pytest.raises(ValueError, match="3 dimensions"):
        a.trace(np.zeros((T, I)))
    with pytest.raises(ValueError, match=r"1\.\.5"):
        a.trace(x, lengths=[5, 0, 3])
