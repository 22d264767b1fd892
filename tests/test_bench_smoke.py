"""Smoke test of bench/speed.py: one tiny case for rnnkit and PyTorch, the output fields.

No timing is asserted (the benchmark's figures depend on the machine).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SPEED = Path(__file__).resolve().parents[1] / "bench" / "speed.py"
FAST = {"min_warmup_seconds": 0.0, "min_rep_seconds": 0.0}  # one step per repetition
TINY = {"kind": "lstm", "batch": 2, "seq": 3, "input": 4, "hidden": 5}


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
    assert lm == speed.train_flops("lstm", 2, 3, 4, 5) + speed.train_flops("lstm", 2, 3, 5, 5) + 6 * 3 * 2 * 5 * 7


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_tiny_train_case(speed, kind):
    case = {**TINY, "kind": kind}
    with_memory = kind == "lstm"  # (the memory probe runs extra steps: once is enough)
    memory = {lib: speed.step_memory(lib, case) for lib in ("rnnkit", "torch")} if with_memory else None
    row = speed.bench_train_case(case, reps=2, warmup=1, memory=memory, rate_gflops=10.0,
                                 **FAST)
    assert row["case"] == case and row["flop"] == speed.case_flops(case)
    fields = ["seconds", "min_seconds", "samples", "reps", "gflops", "matmul_fraction"]
    if with_memory:
        fields += ["rss_peak_bytes", "peak_bytes"]
        assert "tracemalloc_peak_bytes" in row["rnnkit"]
        assert "allocator_peak_bytes" in row["torch"]  # None where the profiler API is missing
    for lib in ("rnnkit", "torch"):
        entry = row[lib]
        for field in fields:
            assert field in entry, (lib, field)
        assert entry["seconds"] > 0 and len(entry["samples"]) == entry["reps"] == 2
    assert row["ratio"] == pytest.approx(row["torch"]["seconds"] / row["rnnkit"]["seconds"])
    checks = speed.evaluate_targets(row, small=True, largest=True)
    assert set(checks) >= {"speed", "matmul_fraction"} | ({"memory"} if with_memory else set())
    assert all(isinstance(c["pass"], bool) for c in checks.values())


def test_tiny_lm_and_generation(speed):
    case = {"kind": "lm", "batch": 2, "seq": 3, "vocab": 7, "hidden": 5, "embed": 4, "layers": 2}
    row = speed.bench_train_case(case, reps=1, warmup=1, **FAST)
    assert row["rnnkit"]["seconds"] > 0 and row["torch"]["seconds"] > 0
    gen = speed.bench_generation(5, reps=1, vocab=7, hidden=5, embed=4, layers=2)
    assert gen["rnnkit"]["chars_per_s"] > 0 and gen["torch"]["chars_per_s"] > 0
    assert isinstance(gen["pass"], bool) and gen["ratio"] > 0


def test_machine_info_and_report(speed):
    info = speed.machine_info(1)
    for field in ("cpu", "cpu_count", "numpy", "torch", "threadpools", "rnnkit_fast_path"):
        assert field in info
    assert "active" in info["rnnkit_fast_path"]
    args = speed.parse_args(["--quick", "--only", "lstm,gru"])
    assert args.only == {"lstm", "gru"} and args.quick
    with pytest.raises(SystemExit):
        speed.parse_args(["--only", "transformer"])
