"""The compiled fast path gives the same results as the readable reference path."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.nn import GRU, LSTM, RNN, blas, fast, registry
from rnnkit.nn.cells import LSTMCell

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
    check_fast_matches_reference(kind, dtype, tol, T, B, H, lengths, bidirectional, bias)


def check_fast_matches_reference(kind, dtype, tol, T, B, H, lengths, bidirectional, bias):
    """Outputs, final states, input and state gradients, every parameter gradient and the
    trace of the fast path against the reference path, 2 layers."""
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


@pytest.mark.parametrize("T,B,width,fused", [  # T*B and the widest fused row vs I + H = 11
    (6, 3, None, True), (2, 4, None, False), (6, 3, 10, False)])
@pytest.mark.parametrize("frozen", [None, "weight_ih_l0", "weight_hh_l0"])
@pytest.mark.parametrize("backend", ["mkl", "openblas"])
def test_lstm_both_products_in_one_match_reference(monkeypatch, T, B, width, fused, frozen,
                                                   backend):  # fmt: skip
    """The LSTM's compiled loop multiplies [x_t, h_prev] by [W_ih, W_hh]^T in one product a
    step with MKL, where T*B >= I + H and I + H <= FUSED_MAX_WIDTH (and dW_ih, dW_hh, db in
    one product after), else Gx first (always with OpenBLAS): both against the reference,
    with lengths, both directions and a frozen weight."""
    if width is not None:
        monkeypatch.setattr(fast.lstm, "FUSED_MAX_WIDTH", width)
    if backend not in BACKENDS:
        pytest.skip(f"no {backend} here (pip install 'rnnkit[mkl]')")
    monkeypatch.setattr(blas, "_BACKEND", blas.resolve(backend))
    fused = fused and backend == "mkl"
    rng = np.random.default_rng(3)
    I, H = 4, 7
    m = LSTM(I, H, bidirectional=True, dtype=np.float64)
    for _, p in m.named_parameters():
        p.data[...] = rng.uniform(-0.6, 0.6, p.shape)
    if frozen:
        dict(m.named_parameters())[frozen].requires_grad = False
    x = rng.standard_normal((T, B, I))
    g = rng.standard_normal((T, B, 2 * H))
    lengths = np.array([T, 1, T - 1, T][:B])
    kept = []
    forward = fast.lstm.lstm_forward

    def spy(*args):
        run = forward(*args)
        kept.append(run.XH is not None)
        return run

    monkeypatch.setitem(registry._DRIVERS, LSTMCell, (spy, fast.lstm.lstm_backward))
    ref, fst = run_both(m, x, None, lengths, g, None)
    assert kept and all(k == fused for k in kept)
    for a, b in zip(ref[:3], fst[:3], strict=True):
        np.testing.assert_allclose(flat(b), flat(a), rtol=1e-10, atol=1e-10)
    for name in ref[4]:
        np.testing.assert_allclose(fst[4][name], ref[4][name], rtol=1e-10, atol=1e-10,
                                   err_msg=name)  # fmt: skip
    if frozen:
        assert not np.any(fst[4][frozen])


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


BACKENDS = ["numpy", "openblas"] + (["mkl"] if blas._mkl() is not None else [])
SPLIT_CASES = [  # (T, B, H, lengths, bidirectional, bias) with the rows over two threads
    (5, 5, 6, [5, 2, 4, 5, 1], True, True),  # rows split 2 + 3, lengths, both directions
    (4, 3, 9, None, False, True),            # T*B < H: per-step scaling, split 1 + 2
    (3, 1, 4, None, True, False),            # one row: one thread
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("T,B,H,lengths,bidirectional,bias", SPLIT_CASES)
def test_each_blas_and_the_row_split_match_reference(monkeypatch, backend, kind, dtype, tol, T,
                                                     B, H, lengths, bidirectional, bias):
    """Every backend (the compiled loops calling MKL or NumPy's OpenBLAS, or the per-step
    path), with the batch rows split over two threads however small the work."""
    split = []

    def two_workers(rows, macs):  # time loops: rows = B; large products: their rows
        split.append(min(2, rows))
        return min(2, rows)

    monkeypatch.setattr(fast.threads, "_workers", two_workers)
    with blas.selected(backend) as be:
        assert be.name == backend
        check_fast_matches_reference(kind, dtype, tol, T, B, H, lengths, bidirectional, bias)
    assert bool(split and max(split) == 2) == (backend != "numpy")


PACKING = [b for b in BACKENDS[1:] if blas.resolve(b).packs]  # MKL where installed


@pytest.mark.skipif(not PACKING, reason="no BLAS with packed products (pip install 'rnnkit[mkl]')")
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("T,B,H,lengths,bidirectional,bias",
                         [*SPLIT_CASES, (3, 2, 1, [3, 1], False, True)])  # and H = 1
def test_packed_recurrent_weight_matches_reference(monkeypatch, kind, dtype, tol, T, B, H,
                                                   lengths, bidirectional, bias):
    """The time loops with W_hh packed once per sequence (MKL's packed products), however
    small the work, the rows split over two threads, against the reference path."""
    packed = []
    pack = blas.pack

    def counted(W, rows, be=None):
        P = pack(W, rows, be)
        packed.append(P.size)
        return P

    monkeypatch.setattr(blas, "PACK_MIN_MACS", 1)
    monkeypatch.setattr(blas, "pack", counted)
    monkeypatch.setattr(fast.threads, "_workers", lambda rows, macs: min(2, rows))
    with blas.selected(PACKING[0]):
        check_fast_matches_reference(kind, dtype, tol, T, B, H, lengths, bidirectional, bias)
    assert packed and all(n > 0 for n in packed)  # every loop ran on a packed weight


def test_pack_is_empty_where_the_library_cannot_pack_or_the_product_is_small():
    W = np.ones((64, 256), np.float32)
    assert blas.pack(W, 16, blas.resolve("openblas")).size == 0  # OpenBLAS: no packed API
    for name in PACKING:
        be = blas.resolve(name)
        assert blas.pack(W, 1, be).size == 0  # 16,384 multiply-adds a step: not worth it
        assert blas.pack(W, blas.PACK_MIN_MACS // W.size, be).size > 0


@pytest.mark.parametrize("backend", BACKENDS[1:])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_from_compiled_code_matches_numpy(backend, dtype):
    """C = alpha A B + beta C for row-major, transposed and strided operands and C a block,
    one row (gemv) included."""
    rng = np.random.default_rng(2)
    be = blas.resolve(backend)
    A = rng.standard_normal((9, 7)).astype(dtype)
    Bt = rng.standard_normal((11, 5)).astype(dtype)  # Bt.T: a transposed operand
    R = rng.standard_normal((9, 4)).astype(dtype)
    for a, b in ((A[2:6, :5], Bt.T), (A[1:4].T[1:6, :], R[:3]), (A[:, 2:3], Bt[:1, :]),
                 (A[3:4, :5], Bt.T), (A[3:4, :3], R[2:5]), (A.T[2:3, :], R),  # one row: gemv
                 (A[3:4, :1], Bt[:1, :])):  # fmt: skip
        C = rng.standard_normal((2, 12, 14)).astype(dtype)
        expect = C.copy()
        M, N = a.shape[0], b.shape[1]
        expect[1, 3 : 3 + M, 2 : 2 + N] = 0.5 * (a @ b) + 2.0 * C[1, 3 : 3 + M, 2 : 2 + N]
        blas.gemm(be.address(dtype), be.ilp64, a, b, C[1, 3 : 3 + M, 2 : 2 + N], 0.5, 2.0)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(C, expect, rtol=tol, atol=tol)


JITTING = [b for b in BACKENDS[1:] if blas.resolve(b).jit]  # MKL where installed


@pytest.mark.skipif(not JITTING, reason="no generated kernels (pip install 'rnnkit[mkl]')")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_generated_step_kernels_match_numpy(dtype, beta):
    """MKL's kernels generated for a step product (blas.jit) through gemm_j: blocks of rows
    with row strides wider than the row (a padded A, C inside a wider array), each thread's
    number of rows, and the generic gemm where no kernel fits (another M, another stride)."""
    be = blas.resolve(JITTING[0])
    rng = np.random.default_rng(5)
    W = rng.standard_normal((13, 24)).astype(dtype)
    A = rng.standard_normal((7, 16)).astype(dtype)  # rows of 13, padded to 16
    C = rng.standard_normal((7, 30)).astype(dtype)  # C: the first 24 columns
    J = blas.jit(W, {3, 4}, 16, 30, beta, be)
    if J.shape[0] == 0 and not blas._intel_cpu():
        pytest.skip("MKL generates no kernel on this CPU (it uses its generic gemm there)")
    assert sorted(J[:, 0].tolist()) == [3, 4] and (J[:, 7:] != 0).all()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for b0, b1 in ((0, 3), (3, 7), (1, 6), (2, 3)):  # kernels for 3 and 4 rows; 5 and 1 not
        out = C.copy()
        expect = C.copy()
        expect[b0:b1, :24] = A[b0:b1, :13] @ W + beta * C[b0:b1, :24]
        blas.gemm_j(be.address(dtype), be.ilp64, A[b0:b1, :13], W, np.empty(0, np.uint8), J,
                    out[b0:b1, :24], beta)  # fmt: skip
        np.testing.assert_allclose(out, expect, rtol=tol, atol=tol)
    # no kernel: another row stride of C (the generic gemm), a transposed weight, one row,
    # a product that is packed, a backend without them
    out = np.zeros((3, 24), dtype)
    blas.gemm_j(be.address(dtype), be.ilp64, A[:3, :13], W, np.empty(0, np.uint8), J, out,
                beta)  # fmt: skip
    np.testing.assert_allclose(out, A[:3, :13] @ W, rtol=tol, atol=tol)
    assert blas.jit(np.ascontiguousarray(W.T).T, {3}, 16, 30, beta, be).shape == (0, 9)
    assert blas.jit(W, {1}, 16, 30, beta, be).shape == (0, 9)
    assert blas.jit(W, {-(-blas.PACK_MIN_MACS // W.size)}, 16, 30, beta, be).shape == (0, 9)
    assert blas.jit(W, {3}, 16, 30, beta, blas.resolve("openblas")).shape == (0, 9)


def test_blas_resolution_falls_back_and_names_what_to_install(monkeypatch):
    monkeypatch.setattr(blas, "_intel_cpu", lambda: False)
    assert blas.resolve(None).name == "openblas"  # the default: NumPy's own OpenBLAS
    mkl = blas._mkl()
    monkeypatch.setattr(blas, "_intel_cpu", lambda: True)  # on Intel's CPUs: MKL if installed
    assert blas.resolve(None).name == ("openblas" if mkl is None else "mkl")
    monkeypatch.setattr(blas, "_mkl", lambda: None)
    assert blas.resolve(None).name == "openblas"
    with pytest.raises(RuntimeError, match=r"rnnkit\[mkl\]"):
        blas.resolve("mkl")
    monkeypatch.setattr(blas, "_numpy_openblas", lambda: None)
    assert blas.resolve(None).name == "numpy"  # nothing to call: the per-step path
    with pytest.raises(ValueError, match="RNNKIT_BLAS must be one of mkl, openblas, numpy"):
        blas.resolve("atlas")


def test_without_numba_the_backend_is_numpy_and_layers_run():
    import subprocess
    import sys

    code = ("import numpy as np; from rnnkit.nn import LSTM, blas, fast; "
            "assert not fast.AVAILABLE and blas.gemm is None; print(blas.backend().name); "
            "m = LSTM(3, 4); y, _ = m(np.ones((2, 3, 3), np.float32)); m.backward(y)")  # fmt: skip
    env = {**__import__("os").environ, "RNNKIT_DISABLE_JIT": "1", "RNNKIT_BLAS": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy"


def test_row_split_follows_the_users_thread_setting():
    """One worker under a one-thread BLAS limit (OMP_NUM_THREADS=1 alike), for small work and
    for one row; else the limit, at most one per core."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not blas.backend().compiled:
        pytest.skip("no BLAS callable from compiled code")
    big = fast.PARALLEL_MIN_MACS
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert fast.thread_setting() == 1 and fast.threads._workers(8, big) == 1
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        assert fast.thread_setting() == 2
        assert fast.threads._workers(8, big) == min(2, __import__("os").cpu_count())
        assert fast.threads._workers(8, big - 1) == 1 and fast.threads._workers(1, big) == 1


def test_one_row_by_a_large_weight_keeps_the_users_blas_threads():
    """Generation: one step of one row by a weight of 2^20 elements or more is bound by the
    weight's trip from memory, which the user's BLAS threads share; a smaller weight's
    step runs on one thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []

    class Probe(LSTM):
        def _forward(self, *args):
            info = threadpoolctl.threadpool_info()
            seen.append({i["num_threads"] for i in info if i["user_api"] == "blas"})
            return super()._forward(*args)

    large, small = Probe(512, 512), Probe(64, 256)  # weights 4H x H: 2^20 and 2^18 elements
    x_large, x_small = np.zeros((1, 1, 512), np.float32), np.zeros((1, 1, 64), np.float32)
    large(x_large)  # loads what loads on first use
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = threadpoolctl.threadpool_info()
        seen.clear()
        large(x_large)
        small(x_small)
        assert threadpoolctl.threadpool_info() == before
    assert seen == [{2}, {1}]


def test_a_region_that_keeps_the_setting_lets_a_nested_one_lower_it():
    """A one-step call by a batch (generation of many texts) keeps the user's BLAS setting;
    a product inside it that splits its rows over the row threads still opens its own
    one-thread region (it did not for a while: the row threads then shared the cores with
    the BLAS library's own, and 64 texts generated at half speed)."""
    big = 1 << 26
    with fast.threads.small_work_threads(big, steps=1):
        assert fast.threads.region_threads() is None  # the user's setting, as it is
        with fast.threads.small_work_threads(big, steps=2):
            inner = fast.threads.region_threads()
    if blas.backend().compiled and fast.threads.thread_setting() >= 2:
        assert inner is not None and inner >= 2
    else:
        assert inner is None


def test_row_ranges_run_on_the_calling_thread_only_inside_a_lowered_region():
    """_run_rows runs one range on the calling thread only where the region has set its
    BLAS to one thread; elsewhere every range goes to the row threads."""
    import threading

    seen = []

    def fn(b0, b1):
        seen.append(threading.get_ident())

    me = threading.get_ident()
    fast.threads._run_rows(fn, (), 4, 2)  # no region open here
    assert len(seen) == 2 and me not in seen
    if blas.backend().compiled and fast.threads.thread_setting() >= 2:
        seen.clear()
        with fast.threads.small_work_threads(1 << 26, steps=2):
            fast.threads._run_rows(fn, (), 4, 2)
        assert len(seen) == 2 and me in seen


def test_large_layer_call_gives_blas_threads_to_the_row_threads_and_restores_them():
    """Compiled loops over T > 1 steps: inside the call the BLAS runs on one thread and the
    user's two threads go to the row split; afterwards the setting is back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not blas.backend().compiled:
        pytest.skip("no BLAS callable from compiled code")
    seen = []

    class Probe(GRU):
        def _forward(self, *args):
            info = threadpoolctl.threadpool_info()
            seen.append(({i["num_threads"] for i in info if i["user_api"] == "blas"},
                         fast.threads.region_threads()))  # fmt: skip
            return super()._forward(*args)

    m = Probe(96, 96)  # largest product 160 x 288 x 96: above SMALL_MATMUL_MACS
    x = np.zeros((20, 8, 96), np.float32)
    m(x)  # loads what loads on first use
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = threadpoolctl.threadpool_info()
        m(x)
        m.backward(np.ones((20, 8, 96), np.float32))
        assert threadpoolctl.threadpool_info() == before
        assert fast.threads.region_threads() is None
    assert seen[-1] == ({1}, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_products_on_the_row_threads_match_numpy(monkeypatch, dtype):
    """nn.Linear's products through fast.matmul split over two threads (forced), against
    NumPy: output, input gradient, accumulated weight gradient."""
    from rnnkit.nn import Linear

    monkeypatch.setattr(fast.threads, "_workers", lambda rows, macs: min(2, rows))
    rng = np.random.default_rng(3)
    lin = Linear(5, 7, dtype=dtype)
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    g = rng.standard_normal((3, 4, 7)).astype(dtype)
    W, b = lin.weight.data, lin.bias.data
    lin.weight.grad[...] = 1.0
    out = lin(x)
    dx = lin.backward(g)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, x @ W.T + b, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, g @ W, rtol=tol, atol=tol)
    expect = 1.0 + g.reshape(-1, 7).T @ x.reshape(-1, 5)
    np.testing.assert_allclose(lin.weight.grad, expect, rtol=tol, atol=tol)


def test_layers_called_from_several_python_threads_stay_right_and_keep_the_setting():
    """Four Python threads (as the explorer's request workers) run forward and backward of
    different layers many times at once: every result equals the one computed alone, every
    call sees one BLAS thread where it asked for one (small work) and the user's two threads
    for its row split (large work), and afterwards the user's BLAS setting is back."""
    import os
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas.backend()
    LSTM(3, 4)(np.zeros((2, 1, 3), np.float32))  # what loads on first use, loaded
    libs = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    big = fast.PARALLEL_MIN_MACS
    split = min(2, os.cpu_count() or 1) if blas.backend().compiled else 1
    seen = {"blas": [], "split": []}

    def probed(cls):
        class Probe(cls):
            def _forward(self, *args):
                seen["blas"].append((self.large, max(lib.get_num_threads() for lib in libs)))
                if self.large:
                    seen["split"].append(fast.threads._workers(8, big))
                return super()._forward(*args)

            def _backward(self, *args):
                seen["blas"].append((self.large, max(lib.get_num_threads() for lib in libs)))
                return super()._backward(*args)

        return Probe

    cases = [  # (class, options, T, B, I, H): the last one above SMALL_MATMUL_MACS
        (LSTM, {"num_layers": 2}, 5, 3, 4, 6),
        (GRU, {"bidirectional": True}, 4, 2, 5, 3),
        (RNN, {"nonlinearity": "relu"}, 6, 4, 3, 5),
        (GRU, {"reset_after": False}, 20, 8, 96, 96),
    ]

    def run(i):
        cls, kw, T, B, I, H = cases[i]
        rng = np.random.default_rng(i)
        m = probed(cls)(I, H, dtype=np.float64, **kw)
        m.large = i == len(cases) - 1
        for _, p in m.named_parameters():
            p.data[...] = rng.uniform(-0.5, 0.5, p.shape)
        x = rng.standard_normal((T, B, I))
        out, _ = m(x)
        gx, _ = m.backward(np.ones_like(out))
        return [out, gx] + [p.grad.copy() for _, p in m.named_parameters()]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        expected = [run(i) for i in range(len(cases))]  # one at a time
        before = [lib.get_num_threads() for lib in libs]
        seen["blas"].clear()
        seen["split"].clear()
        failures = []

        def worker(i):
            try:
                for _ in range(25):
                    for a, b in zip(run(i), expected[i], strict=True):
                        np.testing.assert_array_equal(a, b)
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(cases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = [lib.get_num_threads() for lib in libs]
    assert not failures, failures[0]
    assert after == before
    assert len(seen["blas"]) == 2 * 25 * len(cases)
    assert all(n == 1 for large, n in seen["blas"] if not large or split == 2), seen["blas"]
    assert set(seen["split"]) == {split}, seen["split"]
