"""Optimizers, clipping and schedules against torch.optim, plus exact resume."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from rnnkit.nn.module import Parameter
from rnnkit.nn.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    ReduceLROnPlateau,
    RMSprop,
    StepLR,
    clip_grad_norm,
    clip_grad_value,
)

SHAPES = [(3, 4), (5,), (2, 3, 2)]
# Gradient scale per step: large then small, so AMSGrad's running max matters.
SCALES = [3.0, 0.1, 2.0, 0.01, 1.0, 0.5]

CONFIGS = [
    (SGD, torch.optim.SGD, dict(lr=0.1)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05)),
    (Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (
        Adagrad,
        torch.optim.Adagrad,
        dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6),
    ),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.9, weight_decay=0.1)),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True)),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5, eps=1e-4)),
    (Adam, torch.optim.Adam, dict(lr=0.01)),
    (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    (Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (AdamW, torch.optim.AdamW, dict(lr=0.01)),
    (AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
]
IDS = [f"{c[0].__name__}-{'-'.join(f'{k}={v}' for k, v in c[2].items())}" for c in CONFIGS]


def make_params(seed: int = 0) -> list[Parameter]:
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s)) for s in SHAPES]


def grads_for(step: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, step])
    return [SCALES[step % len(SCALES)] * rng.standard_normal(s) for s in SHAPES]


def run_steps(opt, params, steps) -> None:
    for step in steps:
        opt.zero_grad()
        for p, g in zip(params, grads_for(step), strict=True):
            p.grad += g
        opt.step()


@pytest.mark.parametrize("ours, theirs, kwargs", CONFIGS, ids=IDS)
def test_parity_with_torch(ours, theirs, kwargs):
    params = make_params()
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = ours(params, **kwargs)
    topt = theirs(tparams, foreach=False, **kwargs)
    for step in range(6):
        if step == 3:  # a schedule changing the lr between steps
            opt.lr = kwargs["lr"] * 0.5
            topt.param_groups[0]["lr"] = kwargs["lr"] * 0.5
        grads = grads_for(step)
        for p, tp, g in zip(params, tparams, grads, strict=True):
            p.grad[...] = g
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, tp in zip(params, tparams, strict=True):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-12)
    # the parameters actually moved
    assert not np.allclose(params[0].data, make_params()[0].data)


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop])
def test_float32_buffers_stay_float32(cls):
    params = [Parameter(np.ones((3, 2), dtype=np.float32))]
    opt = cls(params, lr=0.1, **({"momentum": 0.9} if cls is not Adam else {}))
    params[0].grad[...] = 0.5
    opt.step()
    assert params[0].data.dtype == np.float32
    for key, value in opt.state_dict()["state"]["0"].items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key


def test_frozen_parameters_are_skipped():
    params = make_params()
    params[1].requires_grad = False
    before = params[1].data.copy()
    opt = Adam(params, lr=0.1)
    run_steps(opt, params, range(2))
    np.testing.assert_array_equal(params[1].data, before)
    steps = [opt.state_dict()["state"][str(i)]["step"] for i in range(3)]
    assert steps == [2, 0, 2]


def test_zero_grad():
    params = make_params()
    params[0].grad[...] = 3.0
    SGD(params, lr=0.1).zero_grad()
    assert all(not p.grad.any() for p in params)


def test_constructor_validation():
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    p = make_params()[0]
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="received"):
        Adam([p], betas=(0.9, 1.5))


# -- state dicts: exact resume -----------------------------------------------


def split_arrays(obj, arrays: dict, path: str = ""):
    """Replace arrays by placeholders (what a checkpoint writes to .npz)."""
    if isinstance(obj, np.ndarray):
        arrays[path] = obj
        return {"__array__": path}
    if isinstance(obj, dict):
        return {k: split_arrays(v, arrays, f"{path}/{k}") for k, v in obj.items()}
    return obj


def join_arrays(obj, arrays: dict):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: join_arrays(v, arrays) for k, v in obj.items()}
    return obj


def json_round_trip(state: dict) -> dict:
    arrays: dict = {}
    scalars = json.loads(json.dumps(split_arrays(state, arrays)))
    return join_arrays(scalars, arrays)


@pytest.mark.parametrize("ours, theirs, kwargs", CONFIGS, ids=IDS)
def test_state_dict_resume_is_bit_identical(ours, theirs, kwargs):
    params = make_params()
    opt = ours(params, **kwargs)
    run_steps(opt, params, range(3))
    saved = opt.state_dict()
    saved_params = [p.data.copy() for p in params]
    run_steps(opt, params, range(3, 6))  # uninterrupted

    resumed_params = [Parameter(d.copy()) for d in saved_params]
    resumed = ours(resumed_params, **{**kwargs, "lr": 123.0})  # lr comes from the state
    resumed.load_state_dict(json_round_trip(saved))
    assert resumed.lr == kwargs["lr"]
    run_steps(resumed, resumed_params, range(3, 6))
    for p, q in zip(params, resumed_params, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_is_json_and_arrays_only():
    params = make_params()
    opt = Adam(params, lr=0.01, amsgrad=True)
    run_steps(opt, params, range(2))
    arrays: dict = {}
    text = json.dumps(split_arrays(opt.state_dict(), arrays))
    assert "Adam" in text
    assert sorted(arrays) == sorted(
        f"/state/{i}/{k}" for i in range(3) for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    )


def test_bad_load_raises_and_leaves_optimizer_unchanged():
    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    run_steps(opt, params, range(2))
    good = opt.state_dict()

    fewer = SGD(params[:2], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="expected 2, received 3"):
        fewer.load_state_dict(good)

    other = [Parameter(np.zeros((4, 4))), *make_params()[1:]]
    target = SGD(other, lr=0.5, momentum=0.9)
    before = target.state_dict()
    with pytest.raises(ValueError, match=r"expected shape \(4, 4\), received \(3, 4\)"):
        target.load_state_dict(good)
    assert target.lr == 0.5
    for i in range(3):
        np.testing.assert_array_equal(
            target.state[i]["momentum_buffer"], before["state"][str(i)]["momentum_buffer"]
        )

    with pytest.raises(ValueError, match="expected Adam, received SGD"):
        Adam(make_params()).load_state_dict(good)
    with pytest.raises(ValueError, match="expected state keys"):
        SGD(make_params(), lr=0.1).load_state_dict(good)  # no momentum buffer here


# -- clipping ---------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    params = make_params()
    frozen = Parameter(np.full((2,), 100.0))
    frozen.requires_grad = False
    frozen.grad[...] = 100.0
    tparams = []
    for p, g in zip(params, grads_for(0), strict=True):
        p.grad[...] = g
        tp = torch.tensor(p.data.copy(), requires_grad=True)
        tp.grad = torch.tensor(g)
        tparams.append(tp)
    total = clip_grad_norm([*params, frozen], max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type, foreach=False)
    assert isinstance(total, float)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(frozen.grad, 100.0)
    if max_norm < total:  # clipped: the new global norm is max_norm
        new = clip_grad_norm(params, 1e9, norm_type=norm_type)
        assert new == pytest.approx(max_norm, rel=1e-5)
    else:
        np.testing.assert_array_equal(params[0].grad, grads_for(0)[0])


def test_clip_grad_value_matches_torch():
    params = make_params()
    tparams = []
    for p, g in zip(params, grads_for(0), strict=True):
        p.grad[...] = g
        tp = torch.tensor(p.data.copy())
        tp.grad = torch.tensor(g)
        tparams.append(tp)
    clip_grad_value(params, 0.7)
    torch.nn.utils.clip_grad_value_(tparams, 0.7)
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    assert max(np.abs(p.grad).max() for p in params) == 0.7


# -- learning-rate schedules -------------------------------------------------


def scheduler_pair(make_ours, make_theirs, lr=0.5):
    opt = SGD(make_params(), lr=lr)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    return opt, make_ours(opt), topt, make_theirs(topt)


SCHEDULES = [
    (
        lambda o: StepLR(o, step_size=3, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    ),
    (
        lambda o: ExponentialLR(o, gamma=0.9),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    ),
    (
        lambda o: CosineAnnealingLR(o, T_max=7, eta_min=0.01),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    ),
    (
        lambda o: CosineAnnealingLR(o, T_max=10),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10),
    ),
    (
        lambda o: LambdaLR(o, lambda e: 1.0 / (1 + e)),
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    ),
]


@pytest.mark.parametrize(
    "make_ours, make_theirs", SCHEDULES, ids=["step", "exponential", "cosine", "cosine0", "lambda"]
)
def test_schedules_match_torch(make_ours, make_theirs):
    opt, sched, topt, tsched = scheduler_pair(make_ours, make_theirs)
    lrs, tlrs = [opt.lr], [topt.param_groups[0]["lr"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(20):
            topt.step()
            tsched.step()
            sched.step()
            lrs.append(opt.lr)
            tlrs.append(topt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-12, atol=1e-15)
    assert sched.last_epoch == tsched.last_epoch == 20
    assert sched.get_last_lr() == opt.lr
    assert len(set(lrs)) > 2  # the schedule did something


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(patience=2),
        dict(mode="max", factor=0.5, patience=1, cooldown=2),
        dict(threshold_mode="abs", threshold=0.05, patience=0, min_lr=0.02),
    ],
)
def test_reduce_on_plateau_matches_torch(kwargs):
    metrics = [
        1.0,
        0.9,
        0.95,
        0.91,
        0.92,
        0.93,
        0.5,
        0.6,
        0.7,
        0.8,
        0.85,
        0.4,
        0.41,
        0.42,
        0.43,
        0.44,
        0.9,
        1.2,
        1.1,
        1.0,
    ]
    opt = SGD(make_params(), lr=0.5)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched = ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    lrs, tlrs = [], []
    for m in metrics:
        sched.step(m)
        tsched.step(m)
        lrs.append(opt.lr)
        tlrs.append(topt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-15)
    assert len(set(lrs)) > 1


@pytest.mark.parametrize(
    "make",
    [
        lambda o: StepLR(o, step_size=2, gamma=0.3),
        lambda o: CosineAnnealingLR(o, T_max=6),
        lambda o: LambdaLR(o, lambda e: 0.9**e),
        lambda o: ReduceLROnPlateau(o, patience=1),
    ],
    ids=["step", "cosine", "lambda", "plateau"],
)
def test_scheduler_state_dict_resume(make):
    metrics = [1.0, 1.1, 1.2, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]

    def advance(sched, steps):
        for i in steps:
            sched.step(metrics[i]) if isinstance(sched, ReduceLROnPlateau) else sched.step()

    opt = SGD(make_params(), lr=0.5)
    sched = make(opt)
    advance(sched, range(4))
    saved = json.loads(json.dumps(sched.state_dict()))
    saved_opt = opt.state_dict()
    advance(sched, range(4, 10))

    opt2 = SGD(make_params(), lr=0.5)
    sched2 = make(opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    advance(sched2, range(4, 10))
    assert opt2.lr == opt.lr
    assert sched2.last_epoch == sched.last_epoch

    with pytest.raises(ValueError, match="expected"):
        ExponentialLR(SGD(make_params(), lr=0.1), gamma=0.5).load_state_dict(saved)
