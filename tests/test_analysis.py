"""rnnkit.analysis: gradient flow measured exactly, the adding problem, the long-range runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.analysis import (
    ADDING_BASELINE_MSE,
    AddingRun,
    AddingSettings,
    LastStepRegressor,
    LongRangeResult,
    adding_problem,
    analyze_gradients,
    clip_coefficient,
    gradient_flow_study,
    gradient_norm_curve,
    hidden_state_gradients,
    long_range_benchmark,
    scale_spectral_radius_,
    train_adding,
)
from rnnkit.gradcheck import gradcheck
from rnnkit.nn import GRU, LSTM, RNN, manual_seed

F64 = np.float64


def _layer(kind: str, input_size=3, hidden_size=5, seed=0):
    manual_seed(seed)
    if kind == "gru_before":
        return GRU(input_size, hidden_size, dtype=F64, reset_after=False)
    if kind == "rnn_relu":
        return RNN(input_size, hidden_size, nonlinearity="relu", dtype=F64)
    return {"rnn": RNN, "lstm": LSTM, "gru": GRU}[kind](input_size, hidden_size, dtype=F64)


@pytest.mark.parametrize("kind", ["rnn", "rnn_relu", "lstm", "gru", "gru_before"])
def test_hidden_state_gradients_equal_the_layers_initial_state_gradient(kind):
    # dL/dh_t is the initial-state gradient of the same layer run on steps t+1..T-1
    # from the state at t: an independent route through the public forward/backward.
    layer = _layer(kind)
    rng = np.random.default_rng(1)
    T, B, H = 7, 4, 5
    x = rng.standard_normal((T, B, 3))
    g = rng.standard_normal((B, H))
    grads = hidden_state_gradients(layer, x, g)
    assert grads.shape == (T, B, H)
    np.testing.assert_array_equal(grads[-1], g)
    for t in range(T - 1):
        _, state = layer(x[: t + 1])  # the state after step t
        out, _ = layer(x[t + 1 :], state)
        grad_out = np.zeros_like(out)
        grad_out[-1] = g
        _, grad_state = layer.backward(grad_out)
        grad_h = grad_state[0] if kind == "lstm" else grad_state
        np.testing.assert_allclose(grads[t], grad_h[0], rtol=1e-10, atol=1e-14)


def test_hidden_state_gradients_match_finite_differences():
    layer = _layer("lstm")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 2, 3))
    g = rng.standard_normal((2, 5))
    t, eps = 1, 1e-6
    grads = hidden_state_gradients(layer, x, g)
    _, (h_t, c_t) = layer(x[: t + 1])
    for j in range(5):
        bumped = []
        for sign in (1, -1):
            h = h_t.copy()
            h[0, 0, j] += sign * eps
            out, _ = layer(x[t + 1 :], (h, c_t))
            bumped.append(float(np.sum(g * out[-1])))
        assert grads[t][0, j] == pytest.approx((bumped[0] - bumped[1]) / (2 * eps), rel=1e-6)


def test_hidden_state_gradients_refuse_what_they_cannot_measure():
    manual_seed(0)
    with pytest.raises(ValueError, match="one layer"):
        hidden_state_gradients(
            RNN(3, 4, num_layers=2, dtype=F64), np.zeros((2, 1, 3)), np.zeros((1, 4))
        )
    with pytest.raises(ValueError, match="dtype"):
        hidden_state_gradients(
            RNN(3, 4, dtype=F64), np.zeros((2, 1, 3), np.float32), np.zeros((1, 4))
        )
    with pytest.raises(ValueError, match="grad_last"):
        hidden_state_gradients(RNN(3, 4, dtype=F64), np.zeros((2, 1, 3)), np.zeros((1, 5)))


@pytest.mark.parametrize("radius", [0.8, 1.0, 1.2])
def test_orthogonal_rnn_in_the_linear_range_scales_the_gradient_by_rho_per_step(radius):
    # With W_hh = rho * Q (Q orthogonal), zero biases and tiny inputs, tanh' = 1 to
    # within 1e-8 and ||g (W_hh)^k|| = rho^k ||g|| exactly.
    rnn = scale_spectral_radius_(_layer("rnn", hidden_size=16), radius)
    rng = np.random.default_rng(3)
    x = 1e-6 * rng.standard_normal((30, 8, 3))
    g = rng.standard_normal((8, 16))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    curve = gradient_norm_curve(rnn, x, g)
    np.testing.assert_allclose(curve, radius ** np.arange(30), rtol=1e-6)


def test_study_shows_vanishing_exploding_clipping_and_the_forget_bias():
    study = gradient_flow_study(hidden_size=16, steps=40, batch_size=8, warmup=10)
    far = study.steps - 1
    norms = {c.label: c.norms for c in study.curves}
    assert all(
        len(n) == 40 and n[0] == pytest.approx(1.0) for k, n in norms.items() if "clipped" not in k
    )
    assert norms["rnn rho=0.9"][far] < 0.9**far  # tanh' <= 1 only shrinks it further
    assert norms["rnn rho=0.9"][far] < norms["rnn rho=1"][far] < 1.0 < norms["rnn rho=1.5"][far]
    assert norms["rnn rho=1"][far] > 0.1  # stable: no exponential decay in the linear range
    assert norms["rnn rho=1.5"][far] > 5  # exploding (slowed by tanh saturation)
    # Clipping rescales everything by one factor: same shape, shifted down.
    clipped = norms["rnn rho=1.5 clipped (max_norm=5)"]
    ratio = clipped / norms["rnn rho=1.5"]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert ratio[0] < 1
    assert norms["lstm forget bias=1"][far] > 1e3 * norms["lstm forget bias=0"][far]
    for label in ("rnn", "lstm", "gru"):
        assert norms[label][far] < 1e-3 * norms[label][0]  # all vanish at default init


def test_clip_coefficient_is_what_clip_grad_norm_applies():
    rnn = scale_spectral_radius_(_layer("rnn", hidden_size=8), 1.5)
    rng = np.random.default_rng(4)
    x = 0.1 * rng.standard_normal((30, 4, 3))
    g = rng.standard_normal((4, 8))
    before, factor = clip_coefficient(rnn, x, g, max_norm=5.0)
    assert before > 5.0
    assert before * factor == pytest.approx(5.0, rel=1e-5)
    _, factor_big = clip_coefficient(rnn, x, g, max_norm=1e9)
    assert factor_big == 1.0
    assert all(not p.grad.any() for p in rnn.parameters())  # leaves no gradient behind


def test_table_and_json_hold_every_curve():
    study = gradient_flow_study(hidden_size=6, steps=12, batch_size=3, warmup=0,
                                radii=(0.5, 2.0), forget_biases=(0.0, 1.0, 2.0))  # fmt: skip
    table = study.table()
    assert table.splitlines()[0] == "| curve | k=0 | k=1 | k=2 | k=5 | k=10 | k=11 |"
    labels = ["rnn", "lstm", "gru", "rnn rho=0.5", "rnn rho=2", "rnn rho=2 clipped (max_norm=5)",
              "lstm forget bias=0", "lstm forget bias=1", "lstm forget bias=2"]  # fmt: skip
    assert [c.label for c in study.curves] == labels
    for label in labels:
        assert f"| {label} |" in table
    data = json.loads(study.dumps())
    assert data["hidden_size"] == 6 and len(data["curves"]) == len(labels)
    assert data["curves"][3]["norms"] == pytest.approx(list(study.curves[3].norms))


def test_study_validates_its_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        gradient_flow_study(hidden_size=0)
    with pytest.raises(ValueError, match="radii"):
        gradient_flow_study(hidden_size=4, steps=3, radii=(0.0,))


def test_analyze_gradients_writes_plot_table_and_json(tmp_path):
    report = analyze_gradients(tmp_path / "out", hidden_size=6, steps=10, batch_size=3, warmup=2)
    assert report.png_path is not None
    assert report.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.png_path.stat().st_size > 10_000
    assert "| rnn rho=0.9 |" in report.table_path.read_text()
    assert json.loads(report.json_path.read_text())["steps"] == 10


# ---------------------------------------------------------------------------
# adding problem and long-range runs
# ---------------------------------------------------------------------------


def test_adding_problem_marks_one_value_in_each_half_and_sums_them():
    x, y = adding_problem(20, 500, np.random.default_rng(0))
    assert x.shape == (20, 500, 2) and y.shape == (500, 1) and x.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:10].sum(axis=0) == 1) and np.all(markers[10:].sum(axis=0) == 1)
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=0), rtol=1e-6)
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))
    _, y_big = adding_problem(4, 200_000, np.random.default_rng(1), dtype=np.float64)
    assert np.mean((y_big - 1.0) ** 2) == pytest.approx(ADDING_BASELINE_MSE, rel=0.02)
    with pytest.raises(ValueError, match="length"):
        adding_problem(1, 3, np.random.default_rng(0))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "lstm-fb1"])
def test_last_step_regressor_backward_passes_gradcheck(cell):
    manual_seed(0)
    model = LastStepRegressor(cell, 2, 4, dtype=F64)
    x, _ = adding_problem(5, 3, np.random.default_rng(0), dtype=F64)
    result = gradcheck(model, (x,), check_inputs=False, max_checks=30)
    assert result.checked > 0


def test_lstm_fb1_starts_with_forget_bias_one():
    manual_seed(0)
    rnn = LastStepRegressor("lstm-fb1", 2, 4).rnn
    forget = slice(4, 8)  # gate blocks i, f, g, o
    np.testing.assert_array_equal(rnn.bias_ih_l0.data[forget] + rnn.bias_hh_l0.data[forget], 1.0)
    with pytest.raises(ValueError, match="cell must be one of"):
        LastStepRegressor("lstm-fb2", 2, 4)


def test_lstm_learns_a_short_adding_problem_within_a_small_budget():
    settings = AddingSettings(hidden_size=16, max_steps=600, eval_every=50, eval_size=256)
    run = train_adding("lstm", 6, settings)
    assert run.solved, run.history
    assert (run.cell, run.length, run.seed) == ("lstm", 6, 0)
    assert run.mse < settings.threshold < ADDING_BASELINE_MSE
    assert run.history[0][1] > run.mse  # it learned something along the way
    assert run.steps == run.history[-1][0] <= 600


def test_benchmark_stops_a_cell_after_its_first_failure_and_tabulates():
    settings = AddingSettings(hidden_size=4, max_steps=2, eval_every=1, eval_size=16)
    seen = []
    result = long_range_benchmark(
        ["rnn", "gru"], [8, 4], settings, seeds=(0, 1), on_run=seen.append
    )
    assert result.lengths == [4, 8]
    assert [(r.cell, r.length, r.seed) for r in result.runs] == [
        ("rnn", 4, 0), ("rnn", 4, 1), ("gru", 4, 0), ("gru", 4, 1)]  # fmt: skip
    assert seen == result.runs
    assert result.longest_solved("rnn") is None and result.solved("rnn", 8) is None
    table = result.table()
    assert "| rnn | ✗ 0/2 | - | none |" in table
    data = json.loads(result.dumps())
    assert data["longest_solved"] == {"rnn": None, "gru": None} and data["seeds"] == [0, 1]
    with pytest.raises(ValueError, match="cells"):
        long_range_benchmark(["transformer"], [4], settings)


def test_a_length_counts_as_solved_when_most_seeds_solve_it():
    def run(length, seed, solved):
        return AddingRun(
            "lstm", length, seed, solved, 100 * (seed + 1), 0.005 if solved else 0.1, 0.0
        )

    result = LongRangeResult(AddingSettings(), ["lstm"], [10, 20, 50], [0, 1, 2], [
        run(10, 0, True), run(10, 1, True), run(10, 2, True),
        run(20, 0, True), run(20, 1, False), run(20, 2, True),
        run(50, 0, True), run(50, 1, False), run(50, 2, False)])  # fmt: skip
    assert [result.solved("lstm", n) for n in (10, 20, 50)] == [True, True, False]
    assert result.longest_solved("lstm") == 20
    assert "| lstm | ✓ 3/3 · 200 | ✓ 2/3 · 200 | ✗ 1/3 · 100 | 20 |" in result.table()


def test_cli_analyze_gradients_prints_the_table_and_writes_the_files(tmp_path, capsys):
    from rnnkit.cli import main

    out = tmp_path / "grads"
    status = main(["analyze", "gradients", "--out", str(out), "--hidden-size", "6", "--steps", "8",
                   "--batch-size", "3", "--radii", "0.5", "2", "--forget-biases", "1"])  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "| rnn rho=2 clipped (max_norm=5) |" in printed and "| lstm forget bias=1 |" in printed
    assert "hidden size 6" in printed
    assert {p.name for p in out.iterdir()} == {
        "gradient_flow.png",
        "gradient_flow.md",
        "gradient_flow.json",
    }
    assert main(["analyze", "gradients", "--steps", "0", "--out", str(out)]) == 1
    assert "steps must be a positive integer" in capsys.readouterr().err


def test_cli_analyze_refuses_to_overwrite_its_files_unless_forced(tmp_path, capsys):
    from rnnkit.cli import main

    out = tmp_path / "grads"
    out.mkdir()
    (out / "gradient_flow.md").write_text("someone's notes")
    argv = ["analyze", "gradients", "--out", str(out), "--hidden-size", "4", "--steps", "4",
            "--batch-size", "2", "--radii", "1", "--forget-biases", "1"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "gradient_flow.md exists" in err and "--force" in err, err
    assert (out / "gradient_flow.md").read_text() == "someone's notes"
    assert [p.name for p in out.iterdir()] == ["gradient_flow.md"]
    assert main([*argv, "--force"]) == 0
    assert "| lstm forget bias=1 |" in (out / "gradient_flow.md").read_text()
