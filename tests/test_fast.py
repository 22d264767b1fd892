"""The compiled fast path gives the same results as the readable reference path."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.nn import GRU, LSTM, RNN, blas, fast

pytestmark = pytest.mark.skipif(not fast.AVAILABLE,
                                reason="numba is not installed (pip install rnnkit[fast])")

KINDS = {
    "rnn_tanh": (RNN, {}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "gru_cho": (GRU, {"reset_after": False}),
}


def run_both(module, x, state, lengths, grad_out, grad_state):
    results = []
    for enabled in (False, True):
        with fast.flags(enabled=enabled):
            module.zero_grad()
            out, final = module(x, state, lengths=lengths)
            gx, gstate = module.backward(grad_out, grad_state)
            traced = module.trace(x, state, lengths=lengths)
        grads = {n: p.grad.copy() for n, p in module.named_parameters()}
        results.append((out, final, gx, gstate, grads, traced))
    return results


def flat(x):
    if isinstance(x, tuple):
        return np.concatenate([np.ravel(a) for a in x])
    return np.ravel(x)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("T,B,H,lengths,bidirectional,bias", [
    (6, 3, 4, None, False, True),          # T*B >= H: weights pre-scaled
    (1, 1, 8, None, False, True),          # one step of one sequence: per-step scaling (generation)
    (6, 3, 5, [6, 2, 4], True, True),      # lengths and the reverse direction
    (5, 4, 3, None, True, True),           # the reverse direction without lengths
    (7, 5, 9, [7, 1, 3, 7, 2], True, False),  # odd sizes, a one-step sequence, no bias
    (3, 2, 1, [3, 1], False, True),        # H = 1
    (2, 1, 11, [1], True, True),           # T*B < I < H: per-step scaling, with lengths
])
def test_fast_matches_reference(kind, dtype, tol, T, B, H, lengths, bidirectional, bias):
    rng = np.random.default_rng(0)
    cls, kw = KINDS[kind]
    I, L = 7, 2
    D = 2 if bidirectional else 1
    m = cls(I, H, num_layers=L, bidirectional=bidirectional, bias=bias, dtype=dtype, **kw)
    for _, p in m.named_parameters():
        p.data[...] = rng.uniform(-0.6, 0.6, p.shape)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype)
    state = (h0, rng.standard_normal(h0.shape).astype(dtype)) if kind == "lstm" else h0
    g_state = (h0 * 0.5, h0 * -0.3) if kind == "lstm" else h0 * 0.5
    g_out = rng.standard_normal((T, B, D * H)).astype(dtype)
    lengths = None if lengths is None else np.array(lengths)
    ref, fst = run_both(m, x, state, lengths, g_out, g_state)
    for a, b in zip(ref[:4], fst[:4], strict=True):
        a, b = flat(a), flat(b)
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    for name in ref[4]:
        np.testing.assert_allclose(fst[4][name], ref[4][name], rtol=tol, atol=tol, err_msg=name)
    for layer, (a, b) in enumerate(zip(ref[5], fst[5], strict=True)):  # trace: states and gates
        assert set(a) == set(b)
        for name in a:
            assert a[name].dtype == b[name].dtype == dtype
            np.testing.assert_allclose(b[name], a[name], rtol=tol, atol=tol,
                                       err_msg=f"layer {layer} {name}")  # fmt: skip


def test_fast_path_is_default_when_available():
    assert fast.ENABLED == fast.AVAILABLE


def test_small_work_runs_on_one_blas_thread_and_restores_the_setting():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []

    def blas_threads():
        info = threadpoolctl.threadpool_info()
        return {i["filepath"]: i["num_threads"] for i in info if i["user_api"] == "blas"}

    class Probe(LSTM):
        def _forward(self, *args):
            seen.extend(blas_threads().values())
            return super()._forward(*args)

    # libraries load on first use (the compiled loops' BLAS; numba's own, SciPy's, on its
    # first compile): one call before counting
    blas.backend()
    LSTM(3, 4)(np.zeros((2, 1, 3), np.float32))
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        Probe(3, 4)(np.zeros((2, 1, 3), np.float32))
        after = blas_threads()
    assert seen and all(n == 1 for n in seen)
    assert after == before


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_workspace_reuse_keeps_results_and_outputs(kind, bidirectional):
    """Scratch arrays are reused from call to call: results must not depend on what the
    previous call left in them, and arrays handed out earlier must not change."""
    rng = np.random.default_rng(1)
    cls, kw = KINDS[kind]
    T, B, I, H = 5, 3, 4, 6

    def make():
        m = cls(I, H, num_layers=2, bidirectional=bidirectional, dtype=np.float64, **kw)
        for i, (_, p) in enumerate(m.named_parameters()):
            p.data[...] = np.random.default_rng(i).uniform(-0.5, 0.5, p.shape)
        return m

    xa, xb = rng.standard_normal((2, T, B, I))
    ga, gb = rng.standard_normal((2, T, B, (2 if bidirectional else 1) * H))
    lengths = np.array([5, 2, 4])
    fresh = make()
    out_b, _ = fresh(xb, lengths=lengths)
    gx_b, _ = fresh.backward(gb)
    grads_b = {n: p.grad.copy() for n, p in fresh.named_parameters()}

    used = make()
    out_a, _ = used(xa)  # a different batch, no lengths: different values in every buffer
    out_a_copy = out_a.copy()
    gx_a, _ = used.backward(ga)
    gx_a_copy = gx_a.copy()
    for between in (None, xa[:, :2]):  # then with a forward of another shape in between
        if between is not None:
            used(between)  # never backpropagated
        used.zero_grad()
        out, _ = used(xb, lengths=lengths)
        gx, _ = used.backward(gb)
        np.testing.assert_allclose(out, out_b, rtol=0, atol=1e-13)
        np.testing.assert_allclose(gx, gx_b, rtol=0, atol=1e-13)
        for n, p in used.named_parameters():
            np.testing.assert_allclose(p.grad, grads_b[n], rtol=0, atol=1e-13)
        np.testing.assert_array_equal(out_a, out_a_copy)  # earlier results untouched
        np.testing.assert_array_equal(gx_a, gx_a_copy)
