"""CrossEntropyLoss and BCEWithLogitsLoss: numerical gradients, PyTorch parity, edge cases."""

import numpy as np
import pytest

from rnnkit.gradcheck import gradcheck
from rnnkit.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss
from rnnkit.nn.module import Module


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class LossAsModule(Module):
    """Lets gradcheck drive a loss: forward returns the loss as an array of logits' input."""

    def __init__(self, loss, *args, **kwargs):
        super().__init__()
        self.loss, self.args, self.kwargs = loss, args, kwargs

    def forward(self, logits):
        return np.asarray(self.loss(logits, *self.args, **self.kwargs), dtype=np.float64)

    def backward(self, grad):
        return self.loss.backward(grad)


# Targets (3, 4) over C = 5 classes, with ignored (-100) positions and a mask.
LOGITS = 3 * randn(3, 4, 5)
TARGET = np.array([[0, 4, -100, 2], [1, 1, 3, -100], [4, 0, 2, 2]])
MASK = np.array([[1, 1, 1, 0], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
# Probability targets: a distribution over the 5 classes at every position.
SOFT_TARGET = np.exp(randn(3, 4, 5, seed=6))
SOFT_TARGET /= SOFT_TARGET.sum(axis=-1, keepdims=True)


# -- CrossEntropyLoss --------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("mask", [None, MASK])
@pytest.mark.parametrize("target", [TARGET, SOFT_TARGET], ids=["class_ids", "probabilities"])
def test_cross_entropy_gradcheck(reduction, mask, target):
    loss = CrossEntropyLoss(reduction=reduction)
    gradcheck(LossAsModule(loss, target, mask=mask), [LOGITS.copy()], max_checks=None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", [TARGET, SOFT_TARGET], ids=["class_ids", "probabilities"])
def test_cross_entropy_matches_torch(reduction, target):
    torch = pytest.importorskip("torch")
    C = LOGITS.shape[-1]
    logits_t = torch.tensor(LOGITS.reshape(-1, C), requires_grad=True)
    # class ids (with ignored positions) or one distribution per position
    flat = target.reshape(-1) if target.ndim == 2 else target.reshape(-1, C)
    ref = torch.nn.functional.cross_entropy(
        logits_t, torch.from_numpy(flat), ignore_index=-100, reduction=reduction
    )
    upstream = randn(*TARGET.shape, seed=2) if reduction == "none" else 0.7
    ref.backward(torch.tensor(upstream).reshape(-1) if reduction == "none" else torch.tensor(0.7))
    loss = CrossEntropyLoss(reduction=reduction)
    value = loss(LOGITS, target)
    grad = loss.backward(upstream)
    np.testing.assert_allclose(value, ref.detach().numpy().reshape(np.shape(value)), atol=1e-12)
    np.testing.assert_allclose(grad, logits_t.grad.numpy().reshape(LOGITS.shape), atol=1e-12)
    assert grad.dtype == np.float64 and grad.shape == LOGITS.shape
    if reduction != "none":
        assert isinstance(value, float)


def test_cross_entropy_mask_equals_ignore_index():
    torch = pytest.importorskip("torch")
    loss = CrossEntropyLoss(ignore_index=7)
    target = np.where(TARGET == -100, 7, TARGET)  # a custom ignore_index
    value = loss(LOGITS, target, mask=MASK.astype(np.int64))
    grad = loss.backward()
    as_ignored = np.where(MASK, target, 7).reshape(-1)
    logits_t = torch.tensor(LOGITS.reshape(-1, 5), requires_grad=True)
    ref = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(as_ignored), ignore_index=7)
    ref.backward()
    assert value == pytest.approx(ref.item(), abs=1e-12)
    np.testing.assert_allclose(grad.reshape(-1, 5), logits_t.grad.numpy(), atol=1e-12)


def test_cross_entropy_all_ignored_is_zero_not_nan():
    loss = CrossEntropyLoss()
    assert loss(LOGITS, np.full((3, 4), -100)) == 0.0
    assert not loss.backward().any()
    assert loss(LOGITS, TARGET, mask=np.zeros((3, 4), bool)) == 0.0
    assert not loss.backward().any()


def test_cross_entropy_float32_is_stable():
    logits = (1000 * randn(6, 50)).astype(np.float32)  # exp would overflow without the shift
    target = np.arange(6)
    loss = CrossEntropyLoss(reduction="sum")
    value = loss(logits, target)
    grad = loss.backward()
    assert np.isfinite(value) and grad.dtype == np.float32 and np.isfinite(grad).all()
    exact = CrossEntropyLoss(reduction="sum")
    assert value == pytest.approx(exact(logits.astype(np.float64), target), rel=1e-5)
    np.testing.assert_allclose(grad, exact.backward(), atol=1e-6)


def test_cross_entropy_bad_inputs():
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"logits.shape\[:-1\] = \(3, 4\).*\(4, 3\)"):
        loss(LOGITS, TARGET.T)
    with pytest.raises(ValueError, match=r"\[0, 5\).*received 5 at position \(1, 2\)"):
        loss(LOGITS, np.where(TARGET == 3, 5, TARGET))
    with pytest.raises(ValueError, match="received -1"):
        loss(LOGITS, np.where(TARGET == -100, -1, TARGET))
    with pytest.raises(ValueError, match=r"integer class ids or float probabilities.*bool"):
        loss(LOGITS, TARGET > 0)
    with pytest.raises(ValueError, match=r"probability targets must have the logits' shape"):
        loss(LOGITS, TARGET.astype(np.float64))
    with pytest.raises(ValueError, match="finite and >= 0"):
        loss(LOGITS, -SOFT_TARGET)
    with pytest.raises(ValueError, match="mask shape"):
        loss(LOGITS, TARGET, mask=np.ones(4, bool))
    with pytest.raises(ValueError, match="0 and 1"):
        loss(LOGITS, TARGET, mask=np.full((3, 4), 2))
    with pytest.raises(ValueError, match="reduction"):
        CrossEntropyLoss(reduction="avg")
    with pytest.raises(RuntimeError, match="before forward"):
        CrossEntropyLoss().backward()
    # Out-of-range targets are fine where masked out.
    loss(LOGITS, np.where(MASK, TARGET, 99), mask=MASK)


def test_cross_entropy_one_hot_probabilities_equal_class_ids():
    target = np.array([[0, 4, 1, 2], [1, 1, 3, 0], [4, 0, 2, 2]])
    hard, soft = CrossEntropyLoss(), CrossEntropyLoss()
    assert soft(LOGITS, np.eye(5)[target], mask=MASK) == pytest.approx(
        hard(LOGITS, target, mask=MASK), abs=1e-12
    )
    np.testing.assert_allclose(soft.backward(), hard.backward(), atol=1e-15)
    # The cross-entropy against q is never below q's own entropy, with equality at p = q.
    at_q = CrossEntropyLoss(reduction="none")(np.log(SOFT_TARGET), SOFT_TARGET)
    np.testing.assert_allclose(at_q, -(SOFT_TARGET * np.log(SOFT_TARGET)).sum(-1), atol=1e-12)


# -- BCEWithLogitsLoss -------------------------------------------------------------

X = 2 * randn(4, 3, seed=3)
Y = (randn(4, 3, seed=4) > 0).astype(np.float64)
POS_WEIGHT = np.array([0.5, 2.0, 3.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos_weight", [None, POS_WEIGHT])
def test_bce_gradcheck(reduction, pos_weight):
    loss = BCEWithLogitsLoss(reduction=reduction, pos_weight=pos_weight)
    soft_y = np.clip(Y + 0.2 * randn(4, 3, seed=5), 0, 1)  # soft labels exercise every term
    gradcheck(LossAsModule(loss, soft_y), [X.copy()], max_checks=None)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("pos_weight", [None, POS_WEIGHT])
def test_bce_matches_torch(reduction, pos_weight):
    torch = pytest.importorskip("torch")
    x_t = torch.tensor(X, requires_grad=True)
    pw = None if pos_weight is None else torch.tensor(pos_weight)
    ref = torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)(x_t, torch.tensor(Y))
    ref.backward(torch.tensor(1.3, dtype=torch.float64))
    loss = BCEWithLogitsLoss(reduction=reduction, pos_weight=pos_weight)
    assert loss(X, Y) == pytest.approx(ref.item(), abs=1e-12)
    np.testing.assert_allclose(loss.backward(1.3), x_t.grad.numpy(), atol=1e-12)


def test_bce_large_logits_float32():
    torch = pytest.importorskip("torch")
    x = np.array([100.0, -100.0, 100.0, -100.0, 30.0, -30.0], np.float32)
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 1.0], np.float32)
    loss = BCEWithLogitsLoss(reduction="sum")
    value = loss(x, y)
    grad = loss.backward()
    assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == np.float32
    assert value == pytest.approx(260.0, rel=1e-6)
    np.testing.assert_allclose(grad, [1, -1, 0, 0, 1, -1], atol=1e-6)
    x_t = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        x_t, torch.tensor(y), reduction="sum"
    )
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-6)
    np.testing.assert_allclose(grad, x_t.grad.numpy(), atol=1e-6)


def test_bce_bad_inputs():
    loss = BCEWithLogitsLoss()
    with pytest.raises(ValueError, match=r"target shape.*\(4, 3\).*\(3, 4\)"):
        loss(X, Y.T)
    with pytest.raises(ValueError, match="float32 or float64.*int64"):
        loss(np.zeros(3, np.int64), np.zeros(3))
    with pytest.raises(ValueError, match="pos_weight"):
        BCEWithLogitsLoss(pos_weight=np.ones(4))(X, Y)
    loss(X, Y)
    with pytest.raises(ValueError, match="scalar grad"):
        loss.backward(np.ones(3))
