"""Smoke test of bench/speed.py: the per-process method, the figures it derives, its targets.

No timing is asserted (the benchmark's figures depend on the machine); what is
checked is that each library runs in a process of its own that never imports
the other, that the reported figure is the median of the processes' medians,
and that every target is judged PASS or MISS at the right threshold.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SPEED = Path(__file__).resolve().parents[1] / "bench" / "speed.py"
TINY = {"kind": "lstm", "batch": 2, "seq": 3, "input": 4, "hidden": 5}
QUICK_TIMING = {"reps": 2, "warmup": 1, "warmup_seconds": 0.0, "min_rep_seconds": 0.0}


@pytest.fixture(scope="module")
def speed():
    pytest.importorskip("torch")
    pytest.importorskip("threadpoolctl")
    spec = importlib.util.spec_from_file_location("bench_speed", SPEED)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_flop_formula(speed):
    # 6 T B G H (I + H): forward 2x, backward 4x the matmul work
    assert speed.train_flops("lstm", 2, 3, 4, 5) == 6 * 3 * 2 * 4 * 5 * (4 + 5)
    assert speed.train_flops("rnn", 2, 3, 4, 5) == 6 * 3 * 2 * 1 * 5 * (4 + 5)
    lm = speed.lm_flops(batch=2, seq=3, vocab=7, hidden=5, embed=4, layers=2)
    assert lm == (speed.train_flops("lstm", 2, 3, 4, 5) + speed.train_flops("lstm", 2, 3, 5, 5)
                  + 6 * 3 * 2 * 5 * 7)


def test_each_library_in_its_own_process(speed):
    """One pair of worker processes: results come back, neither imported the other library."""
    row = speed.bench_train_case(TINY, threads=1, pairs=1, rate_gflops=10.0,
                                 **{k: v for k, v in QUICK_TIMING.items()})
    for lib in ("rnnkit", "torch"):
        entry = row[lib]
        assert entry["processes"] == 1 and entry["seconds"] > 0
        assert entry["reps"] == [2] and len(entry["samples"][0]) == 2
        assert entry["matmul_fraction"] == pytest.approx(entry["gflops"] / 10.0)
    assert row["ratio"] == pytest.approx(row["torch"]["seconds"] / row["rnnkit"]["seconds"])
    for lib in ("rnnkit", "torch"):
        result = speed.spawn({"kind": "info", "lib": lib, "threads": 1})
        assert result["other_library_imported"] is False, lib
    assert "rnnkit_fast_path" in speed.spawn({"kind": "info", "lib": "rnnkit", "threads": 1})


def test_worker_failure_is_reported(speed):
    with pytest.raises(RuntimeError, match="worker for train failed"):
        speed.spawn({"kind": "train", "lib": "rnnkit", "threads": 1, "reps": 1,
                     "case": {**TINY, "kind": "transformer"}})


def test_paired_alternates_and_combine_takes_median_of_medians(speed, monkeypatch):
    order = []

    def fake_spawn(job, env=None):
        order.append(job["lib"])
        value = {"rnnkit": [1.0, 3.0, 2.0], "torch": [4.0, 8.0, 6.0]}[job["lib"]]
        return {"seconds": value[order.count(job["lib"]) - 1], "samples": [0.0], "reps": 1}

    monkeypatch.setattr(speed, "spawn", fake_spawn)
    runs = speed.paired({"kind": "train"}, pairs=3)
    assert order == ["rnnkit", "torch"] * 3  # A B A B A B
    row = speed.train_row(TINY, runs, rate_gflops=None)
    assert row["rnnkit"]["seconds"] == 2.0 and row["torch"]["seconds"] == 6.0
    assert row["rnnkit"]["spread"] == 3.0 and row["torch"]["spread"] == 2.0
    assert row["ratio"] == 3.0


def _row(case, rk_seconds, pt_seconds, fraction=None, rk_bytes=None, pt_bytes=None):
    row = {"case": case, "flop": 1.0, "ratio": pt_seconds / rk_seconds,
           "rnnkit": {"seconds": rk_seconds, "peak_bytes": rk_bytes},
           "torch": {"seconds": pt_seconds, "peak_bytes": pt_bytes}}
    if fraction is not None:
        row["rnnkit"]["matmul_fraction"] = fraction
    return row


@pytest.mark.parametrize(("shape_index", "ratio", "passes"), [
    (0, 1.29, False), (0, 1.30, True), (1, 1.25, False), (1, 1.5, True),
    (2, 0.99, False), (2, 1.0, True), (4, 0.95, False), (4, 1.01, True)])
def test_speed_targets(speed, shape_index, ratio, passes):
    b, t, i, h = speed.SHAPES[shape_index]
    case = {"kind": "gru", "batch": b, "seq": t, "input": i, "hidden": h}
    checks = speed.row_targets(_row(case, 1.0, ratio))
    assert checks["speed"]["pass"] is passes
    assert checks["speed"]["target"] == (1.3 if shape_index < 2 else 1.0)
    assert ("matmul_fraction" in checks) is False  # no fraction in this row
    lstm = speed.row_targets(_row({**case, "kind": "lstm"}, 1.0, ratio))["speed"]
    assert lstm["target"] == 1.0 and lstm["pass"] is (ratio >= 1.0)  # the LSTM: 1.0 everywhere


def test_matmul_memory_and_lm_targets(speed):
    b, t, i, h = speed.SHAPES[-1]
    case = {"kind": "lstm", "batch": b, "seq": t, "input": i, "hidden": h}
    low = speed.row_targets(_row(case, 1.0, 1.2, fraction=0.84, rk_bytes=10, pt_bytes=9))
    assert low["matmul_fraction"]["pass"] is False and low["matmul_fraction"]["target"] == 0.85
    assert low["memory"]["pass"] is False and low["speed"]["pass"] is True
    high = speed.row_targets(_row(case, 1.0, 1.2, fraction=0.85, rk_bytes=9, pt_bytes=9))
    assert high["matmul_fraction"]["pass"] is True and high["memory"]["pass"] is True
    mid = {"kind": "lstm", "batch": 64, "seq": 100, "input": 512, "hidden": 512}
    assert "matmul_fraction" not in speed.row_targets(_row(mid, 1.0, 1.0, fraction=0.1))
    lm = {"kind": "lm", **speed.LM}
    assert speed.row_targets(_row(lm, 1.0, 1.05))["speed"] == {
        "value": 1.05, "target": 1.1, "pass": False}
    result = {"train": [{**_row(lm, 1.0, 1.05), "targets": speed.row_targets(_row(lm, 1.0, 1.05))}]}
    result["generation"] = speed.generation_row(
        10, {"rnnkit": [{"chars_per_s": 100.0, "samples": [100.0]}],
             "torch": [{"chars_per_s": 10.0, "samples": [10.0]}]})
    assert result["generation"]["ratio"] == 10.0 and result["generation"]["pass"] is True
    summary = speed.summarize(result)
    assert summary["passed"] == 1 and summary["missed"] == 1
    assert "lm" in summary["misses"][0] and "1.05 vs 1.1" in summary["misses"][0]


def test_step_memory_fields(speed):
    for lib in ("rnnkit", "torch"):
        mem = speed.step_memory(lib, TINY)
        assert "rss_peak_bytes" in mem and "rss_method" in mem
    assert "tracemalloc_peak_bytes" in speed.step_memory("rnnkit", TINY)
    assert "allocator_peak_bytes" in speed.step_memory("torch", TINY)  # None if API missing


def test_parse_args(speed):
    args = speed.parse_args(["--quick", "--only", "lstm,gru"])
    assert args.only == {"lstm", "gru"} and args.quick
    for bad in (["--only", "transformer"], ["--pairs", "0"], ["--reps", "0"]):
        with pytest.raises(SystemExit):
            speed.parse_args(bad)


def test_blas_choice_reaches_rnnkit_processes_and_is_recorded(speed):
    """--blas sets RNNKIT_BLAS in rnnkit's processes only; its rows and matmul rate say which
    BLAS they used, and the rate is measured with it."""
    args = speed.parse_args(["--blas", "numpy"])
    assert args.blas == "numpy"
    with pytest.raises(SystemExit):
        speed.parse_args(["--blas", "atlas"])
    row = speed.bench_train_case(TINY, threads=1, pairs=1, blas="numpy", **QUICK_TIMING)
    assert row["rnnkit"]["blas"] == "numpy" and "blas" not in row["torch"]
    rate = speed.spawn({"kind": "matmul", "lib": "rnnkit", "size": 64, "threads": 1, "reps": 1,
                        "blas": "openblas"})
    assert rate["blas"] == "openblas" and rate["gflops"] > 0
    info = speed.spawn({"kind": "info", "lib": "rnnkit", "threads": 1, "blas": "openblas"})
    assert info["rnnkit_blas"] == "openblas"


def test_openblas_kernel_and_forced_core_type_are_recorded(speed, monkeypatch):
    """A forced OPENBLAS_CORETYPE reaches the record, and the kernel that rnnkit's processes ran
    (threadpoolctl's architecture) is read from their library info and printed."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    machine = speed.machine_info(1)
    assert machine["openblas_env"] == {"OPENBLAS_CORETYPE": "Haswell"}
    info = {"threadpools": [{"internal_api": "openmp", "architecture": None},
                            {"internal_api": "openblas", "architecture": "Haswell"}]}
    assert speed.openblas_kernel(info) == "Haswell"
    assert speed.openblas_kernel({"threadpools": []}) is None
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert speed.machine_info(1)["openblas_env"] == {}
    real = speed.spawn({"kind": "info", "lib": "rnnkit", "threads": 1})
    kernel = speed.openblas_kernel(real)
    assert kernel is None or isinstance(kernel, str)
    result = {"machine": {**machine, "rnnkit": info, "torch": {"torch": "x"}},
              "matmul": {"size": 8, "numpy_gflops": 1.0, "rnnkit_blas": "openblas"},
              "settings": {"pairs": 1}, "train": [],
              "summary": {"passed": 0, "missed": 0, "misses": []}}
    text = speed.format_table(result)
    assert "OpenBLAS kernels in rnnkit's processes: Haswell" in text
    assert "OPENBLAS_CORETYPE=Haswell set in the environment" in text


PHASES_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "phases.py"


@pytest.fixture(scope="module")
def phases():
    pytest.importorskip("threadpoolctl")
    from rnnkit.nn import fast

    if not fast.AVAILABLE:
        pytest.skip("the phase profile times the compiled path (numba)")
    spec = importlib.util.spec_from_file_location("bench_phases", PHASES_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_cho", "rnn"])
def test_phase_profile_covers_the_step(phases, kind):
    """Every phase is timed, the phases add up to the whole step (the last one is the rest),
    and the ideal times follow from the FLOPs and the bytes at the rates given."""
    T, B, I, H = 3, 2, 4, 5
    row = phases.profile_case(kind, B, T, I, H, reps=1, rate_gflops=10.0, bandwidth=1e9)
    assert list(row["seconds"]) == list(phases.PHASES)
    assert sum(row["seconds"].values()) == pytest.approx(row["step"])
    for phase in ("input projection", "forward step products", "backward step products",
                  "weight and input gradients"):  # timed directly, not differences
        assert row["seconds"][phase] > 0
        assert row["ideal"][phase] == pytest.approx(row["flops"][phase] / 1e10)
    G = {"lstm": 4, "gru": 3, "gru_cho": 3, "rnn": 1}[kind]
    # forward + backward matmul FLOPs of the layer: 6 T B G H (I + H)
    assert sum(row["flops"].values()) == 6 * T * B * G * H * (I + H)
    for phase in ("forward gate arithmetic", "backward gate arithmetic"):
        assert row["ideal"][phase] > 0


def test_phase_profile_prints_every_phase(phases, capsys, tmp_path):
    out_json = tmp_path / "phases.json"
    row = phases.main(["--kind", "lstm", "--batch", "2", "--seq", "3", "--input", "4",
                       "--hidden", "5", "--threads", "1", "--reps", "1", "--rate-size", "64",
                       "--bandwidth-mib", "1", "--json", str(out_json)])  # fmt: skip
    printed = capsys.readouterr().out
    for phase in (*phases.PHASES, "sum of the phases", "matmul rate", "bandwidth"):
        assert phase in printed
    assert row["rate_gflops"] > 0 and row["bandwidth"] > 0
    import json

    assert json.loads(out_json.read_text())["seconds"] == row["seconds"]


def test_generation_with_64_samples_in_one_batch_runs_on_a_tiny_shape(speed):
    """The batched generation case (``--num-samples 64``), each library in its own process."""
    tiny = {"vocab": 7, "hidden": 8, "embed": 4, "layers": 1}
    row = speed.generation_batch(speed.bench_generation(
        5, threads=1, pairs=1, reps=1, num_samples=speed.BATCH_SAMPLES, **tiny))
    assert row["num_samples"] == 64 and "target" not in row and "pass" not in row
    for lib in ("rnnkit", "torch"):
        assert row[lib]["chars_per_s"] > 0
    one = speed.generate_rnnkit(5, warmup=1, **tiny)
    many = speed.generate_rnnkit(5, warmup=1, num_samples=64, **tiny)
    assert one["chars"] == 5 and many["chars"] == 5 * 64
    assert speed.generate_torch(5, warmup=1, num_samples=3, **tiny)["chars"] == 15
    result = {"machine": {**speed.machine_info(1), "torch": {"torch": "x"}},
              "matmul": {"size": 8, "numpy_gflops": 1.0}, "settings": {"pairs": 1},
              "train": [], "generation_batch": row,
              "summary": {"passed": 0, "missed": 0, "misses": []}}
    assert "64 samples in one batch" in speed.format_table(result)
