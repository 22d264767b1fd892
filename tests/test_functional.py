"""rnnkit.nn.functional: PyTorch parity in float64, no overflow at extreme inputs, -inf masks."""

import numpy as np
import pytest

from rnnkit.nn.functional import log_softmax, sigmoid, softmax

X = 4 * np.random.default_rng(0).standard_normal((3, 4, 5)) + np.arange(5)  # distinct per class


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax_and_log_softmax_match_torch(axis):
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(X)
    np.testing.assert_allclose(softmax(X, axis), torch.softmax(t, axis).numpy(), rtol=1e-13)
    np.testing.assert_allclose(
        log_softmax(X, axis), torch.log_softmax(t, axis).numpy(), rtol=1e-13, atol=1e-13
    )


def test_sigmoid_matches_torch():
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(sigmoid(X), torch.sigmoid(torch.from_numpy(X)).numpy(), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_stay_finite_and_keep_dtype(dtype):
    x = np.array([[-1e4, 0.0, 1e4], [1e4, 1e4 - 1, -1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):  # overflow or NaN fails the test
        p, log_p, s = softmax(x), log_softmax(x), sigmoid(x)
    assert p.dtype == log_p.dtype == s.dtype == dtype
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-6)
    np.testing.assert_array_equal(p[0], [0, 0, 1])
    assert np.isfinite(log_p).all() and log_p[0, 0] == -2e4
    np.testing.assert_array_equal(s[0], [0, 0.5, 1])


def test_minus_inf_entries_get_zero_probability():
    x = np.array([2.0, -np.inf, 0.0, -np.inf])
    p = softmax(x)
    np.testing.assert_array_equal(p[[1, 3]], 0)
    np.testing.assert_allclose(p[[0, 2]], [np.e**2 / (np.e**2 + 1), 1 / (np.e**2 + 1)])
    np.testing.assert_allclose(np.exp(log_softmax(x)), p)
