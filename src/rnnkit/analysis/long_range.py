"""Which cell remembers across how many steps? The adding problem under a fixed budget.

For each cell (``rnn``, ``lstm``, ``gru``, and ``lstm-fb1``: the LSTM with
its forget-gate bias set to 1 as in the tutorial; all others keep PyTorch's
default initialisation) and each sequence length, a fresh
model (recurrent layer -> linear on the last hidden state) is trained on the
adding problem (:mod:`.memory_tasks`) with Adam and global-norm clipping for
at most ``max_steps`` optimizer steps. Every ``eval_every`` steps its mean
squared error on a fixed held-out set is measured; the run counts as
*solved* as soon as that error falls below ``threshold`` (default 0.01, 6% of
the 1/6 a memoryless model scores). The budget is counted in optimizer steps,
not seconds, so the result does not depend on the machine.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..nn import Linear, Module, clip_grad_norm, manual_seed
from ..nn.cells import GRUCell, LSTMCell, RNNTanhCell
from ..nn.init import set_forget_gate_bias_
from ..nn.optim import Adam
from ..nn.recurrent import build_layer
from .memory_tasks import ADDING_BASELINE_MSE, adding_problem

__all__ = [
    "AddingSettings",
    "AddingRun",
    "LastStepRegressor",
    "LongRangeResult",
    "train_adding",
    "long_range_benchmark",
]

_COMPARED = (RNNTanhCell, LSTMCell, GRUCell)
#: the models compared, by name: a cell's name, or ``"lstm-fb1"``, an LSTM whose forget-gate
#: bias starts at 1 -> (cell class, effective forget-gate bias or None for the default init)
CELLS = {
    **{cell.name: (cell, None) for cell in _COMPARED},
    f"{LSTMCell.name}-fb1": (LSTMCell, 1.0),
}


@dataclass(frozen=True)
class AddingSettings:
    """The model and the fixed training budget shared by every (cell, length) run."""

    hidden_size: int = 32
    batch_size: int = 32
    max_steps: int = 2000  # the budget, in optimizer steps
    lr: float = 1e-2  # Adam
    max_norm: float = 1.0  # clip_grad_norm threshold
    eval_every: int = 100
    eval_size: int = 512  # held-out sequences
    threshold: float = 0.01  # solved when the held-out MSE falls below this
    seed: int = 0


class LastStepRegressor(Module):
    """``y = Linear(h_{T-1})``: a recurrent layer read out once, at the last step.

    ``cell`` is a key of :data:`CELLS` (``"lstm-fb1"``: an LSTM whose forget-gate
    bias starts at 1).

    Shapes: x (T, B, I) -> y (B, 1); ``backward(grad_y (B, 1)) -> None``
    (the inputs are data, their gradient is not needed).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, dtype=np.float32) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, received {cell!r}")
        cell_class, forget_bias = CELLS[cell]
        self.rnn = build_layer(cell_class, input_size, hidden_size, dtype=dtype)
        if forget_bias is not None:  # effective bias = bias_ih + bias_hh (forget block)
            set_forget_gate_bias_(self.rnn.bias_ih_l0.data, forget_bias)
            set_forget_gate_bias_(self.rnn.bias_hh_l0.data, 0.0)
        self.head = Linear(hidden_size, 1, dtype=dtype)
        self._out_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        output, _ = self.rnn(x)  # (T, B, H)
        self._out_shape = output.shape
        return self.head(output[-1])  # (B, 1)

    def backward(self, grad_y: np.ndarray) -> None:
        grad_last = self.head.backward(grad_y)  # (B, H)
        grad_output = np.zeros(self._out_shape, dtype=grad_last.dtype)  # (T, B, H)
        grad_output[-1] = grad_last  # the loss reads only the last step
        self.rnn.backward(grad_output)
        return None


@dataclass
class AddingRun:
    """One (cell, length, seed) training run: solved or not, after how many steps, and the final
    held-out MSE."""

    cell: str
    length: int
    seed: int
    solved: bool
    steps: int  # optimizer steps taken (when solved: the evaluation that crossed the threshold)
    mse: float  # last held-out mean squared error
    seconds: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, held-out MSE)


def train_adding(cell: str, length: int, settings: AddingSettings | None = None) -> AddingRun:
    """Train a fresh :class:`LastStepRegressor` on the adding problem of ``length`` steps."""
    s = settings or AddingSettings()
    manual_seed(s.seed)
    model = LastStepRegressor(cell, 2, s.hidden_size)
    params = model.parameters()
    optimizer = Adam(params, lr=s.lr)
    rng = np.random.default_rng(s.seed)
    x_val, y_val = adding_problem(length, s.eval_size, np.random.default_rng([s.seed, length, 1]))
    start = time.perf_counter()
    history: list[tuple[int, float]] = []
    mse = math.nan
    for step in range(1, s.max_steps + 1):
        x, y = adding_problem(length, s.batch_size, rng)
        error = model(x) - y  # (B, 1)
        optimizer.zero_grad()
        model.backward(2.0 * error / error.size)  # d mean(error²) / d y
        clip_grad_norm(params, s.max_norm)
        optimizer.step()
        if step % s.eval_every == 0 or step == s.max_steps:
            mse = float(np.mean((model(x_val) - y_val) ** 2, dtype=np.float64))
            history.append((step, mse))
            if not math.isfinite(mse) or mse < s.threshold:
                break
    solved = math.isfinite(mse) and mse < s.threshold
    return AddingRun(cell, length, s.seed, solved, step, mse, time.perf_counter() - start, history)


@dataclass
class LongRangeResult:
    """Runs of :func:`long_range_benchmark`; ``longest_solved`` and a Markdown ``table``.

    A cell *solves* a length when more than half of its seeds do.
    """

    settings: AddingSettings
    cells: list[str]
    lengths: list[int]
    seeds: list[int]
    runs: list[AddingRun] = field(default_factory=list)

    def runs_at(self, cell: str, length: int) -> list[AddingRun]:
        return [r for r in self.runs if r.cell == cell and r.length == length]

    def solved(self, cell: str, length: int) -> bool | None:
        """Whether most seeds solved it; None when it was not run."""
        runs = self.runs_at(cell, length)
        return None if not runs else 2 * sum(r.solved for r in runs) > len(runs)

    def longest_solved(self, cell: str) -> int | None:
        """The longest length ``cell`` solved (None: none of them)."""
        return max((n for n in self.lengths if self.solved(cell, n)), default=None)

    def _cell_text(self, cell: str, length: int) -> str:
        runs = self.runs_at(cell, length)
        if not runs:
            return "-"
        mark = "✓" if self.solved(cell, length) else "✗"
        if len(runs) == 1:
            return f"{mark} {runs[0].steps}" if runs[0].solved else f"{mark} {runs[0].mse:.3f}"
        wins = [r.steps for r in runs if r.solved]
        steps = f" · {int(np.median(wins))}" if wins else ""
        return f"{mark} {len(wins)}/{len(runs)}{steps}"

    def table(self) -> str:
        """Rows: cells; columns: lengths. One seed: ``✓ 400`` solved at step 400, ``✗ 0.168``
        held-out MSE at the end of the budget. Several: ``✓ 3/3 · 400`` seeds solved and
        their median step. ``-``: not run (a shorter length already failed)."""
        header = "| cell | " + " | ".join(f"T={n}" for n in self.lengths) + " | longest solved |"
        rows = [header, "|---|" + "---:|" * (len(self.lengths) + 1)]
        for cell in self.cells:
            texts = [self._cell_text(cell, n) for n in self.lengths]
            best = self.longest_solved(cell)
            rows.append(f"| {cell} | " + " | ".join(texts) + f" | {best if best else 'none'} |")
        return "\n".join(rows)

    def to_json(self) -> dict:
        return {
            "settings": asdict(self.settings),
            "baseline_mse": ADDING_BASELINE_MSE,
            "cells": self.cells,
            "lengths": self.lengths,
            "seeds": self.seeds,
            "runs": [asdict(r) for r in self.runs],
            "longest_solved": {c: self.longest_solved(c) for c in self.cells},
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)


def long_range_benchmark(
    cells: Sequence[str] = tuple(cell.name for cell in _COMPARED),
    lengths: Sequence[int] = (10, 20, 50, 100, 200),
    settings: AddingSettings | None = None,
    *,
    seeds: Sequence[int] = (0,),
    stop_after_failure: bool = True,
    on_run: Callable[[AddingRun], None] | None = None,
) -> LongRangeResult:
    """Train every cell at every length (ascending), once per seed, under the same budget.

    ``settings.seed`` is replaced by each of ``seeds`` (initialisation and
    training data; the held-out set depends on the seed and the length).
    With ``stop_after_failure`` a cell is not tried at lengths beyond the first
    one it fails (longer sequences are only harder). ``on_run`` is called
    after each run, e.g. to print progress.
    """
    settings = settings or AddingSettings()
    for cell in cells:
        if cell not in CELLS:
            raise ValueError(f"cells must be among {', '.join(CELLS)}, received {cell!r}")
    if not seeds:
        raise ValueError("seeds must name at least one seed, received an empty sequence")
    result = LongRangeResult(settings, list(cells), sorted(int(n) for n in lengths), list(seeds))
    for cell in cells:
        for length in result.lengths:
            for seed in seeds:
                run = train_adding(cell, length, replace(settings, seed=int(seed)))
                result.runs.append(run)
                if on_run is not None:
                    on_run(run)
            if stop_after_failure and not result.solved(cell, length):
                break
    return result
