"""Every script in examples/ runs, and prints what its section of the tutorial promises.

Each example runs as a subprocess (as a user would run it). Known examples
have their output checked; any other ``examples/*.py`` must at least exit 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def run_example(path: Path) -> str:
    env = dict(os.environ)
    # The examples multiply tiny matrices: extra BLAS threads only cost time.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env["MPLBACKEND"] = "Agg"
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                          cwd=EXAMPLES.parent, timeout=300)  # fmt: skip
    assert done.returncode == 0, f"{path.name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in:\n{text}"
    return float(match.group(1))


def check_01(out: str) -> None:
    for line in ("input  x: (4, 1, 10)", "hidden h: (4, 1, 32)", "final  h: (1, 1, 32)",
                 "output y: (4, 1, 10)", "rnn.weight_hh_l0   (32, 32)"):  # fmt: skip
        assert line in out
    assert number(r"from the tutorial's formula: (\S+)", out) < 1e-5


def check_02(out: str) -> None:
    norms = [float(v) for v in re.findall(r"^\s+\d+ steps:\s+(\S+)$", out, re.M)]
    assert len(norms) == 5 and norms[-1] > 20 * norms[0]  # grows with the sequence length
    before = number(r"norm before (\S+),", out)
    assert before > 5 and number(r"after (\S+)\n", out) == pytest.approx(5.0, rel=1e-4)
    assert "max_norm / norm" in out and ": True" in out
    assert number(r"before and after clipping: (\S+)", out) == pytest.approx(1.0, abs=1e-9)


def check_03(out: str) -> None:
    assert "forget f         (1, 32)" in out and "hidden h         (1, 32)" in out
    assert number(r"max \|difference\| in h and c = (\S+)", out) < 1e-12
    assert number(r"max relative error (\S+)", out) < 1e-5


def check_04(out: str) -> None:
    assert number(r"same weights: max \|difference\| = (\S+)", out) < 1e-12
    ratios = re.findall(r"\d[\d,]* +[\d,]+ +(0\.\d{4})$", out, re.M)
    assert ratios and set(ratios) == {"0.7500"}
    assert "5,632" in out and "4,224" in out  # LSTM and GRU, input 10, hidden 32
    assert "ratio 0.7500" in out and "25% fewer" in out


def check_05(out: str) -> None:
    measured = number(r"measured (\S+),", out)
    bound = number(r"0\.9\^\d+ = (\S+) ", out)
    assert 0 < measured <= bound
    assert "| rnn rho=1.5 clipped (max_norm=5) |" in out and "| lstm forget bias=1 |" in out


def check_06(out: str) -> None:
    first, last = (number(p, out) for p in (r"loss fell from (\S+) to", r"to (\S+) \(mean"))
    assert last < first / 5
    sample = out.split("--- sample ---\n")[1].split("\n-----")[0]
    assert sample.startswith("T") and len(sample) >= 150
    hits, total = (int(v) for v in re.search(r"found in the passage: (\d+)/(\d+)", out).groups())
    assert total >= 10 and hits / total >= 0.6  # recognisably the soliloquy


def check_07(out: str) -> None:
    assert number(r"training accuracy: (\d+)%", out) >= 75
    predictions = re.findall(r"^\s+(positive|negative)\s+([01]\.\d+)", out, re.M)
    assert predictions and all(0 <= float(p) <= 1 for _, p in predictions)


CHECKS = {"01": check_01, "02": check_02, "03": check_03, "04": check_04, "05": check_05,
          "06": check_06, "07": check_07}  # fmt: skip


def test_the_tutorial_sections_all_have_an_example():
    numbers = {p.name[:2] for p in SCRIPTS}
    assert {"01", "02", "03", "04", "06"} <= numbers


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs_and_prints_what_it_promises(path: Path):
    out = run_example(path)
    check = CHECKS.get(path.name[:2])
    if check is not None:
        check(out)
