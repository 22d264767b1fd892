"""The model size a time budget affords: what ``textgen train`` builds when no size is given.

A model too large for its budget spends it on too few steps: on an idle 2-core machine a
3-minute run of the 2-layer 512-unit LSTM takes a few hundred steps and ends far above what
a smaller model reaches in the same three minutes, and a model too small stops improving
long before a 15-minute budget is spent. So when neither ``num_layers`` nor
``hidden_size`` is given (``CharLM()``, or ``textgen train`` without ``--num-layers`` and
``--hidden-size``), the size is chosen from the time budget (``minutes``, or the default
15 when the run stops by steps or epochs only), by the rule below,
which was measured (docs/textgen.md, "A model sized for the budget": the grid, its command
and date). An explicit size always wins, and a resumed or fine-tuned run keeps its own.

The rule is a table of budgets and the ``(num_layers, hidden_size)`` of the LSTM that
reached the best validation loss at that budget, or one within ``TOLERANCE`` nats/char of
it, measured on tiny-shakespeare (1.1 M characters) and IMDB's training reviews (33 M
characters) on an idle 2-core machine (2026-12-06). The corpus size was part of the grid and
changed nothing beyond a tie (IMDB at 15 minutes: 1 x 512 1.525, 2 x 512 1.526), so the rule
reads the budget only; corpora under a million characters were not measured (a run keeps its best
checkpoint on the validation split, which bounds what over-fitting costs). The crossovers
between the measured budgets come from the runs' validation curves: a 1 x 256 LSTM leads up
to about 2 minutes, a 1 x 512 up to about 7, the 2 x 512 after that (a 2 x 768 was worse
at 15 minutes: too few steps). The other cells take the LSTM's sizes (the grid was not
repeated for them).
"""

from __future__ import annotations

#: how far (nats/char) the rule's choice may be from the grid's best at a measured budget
TOLERANCE = 0.05

#: (budget up to, in minutes; (num_layers, hidden_size)), the last row for any longer budget
BUDGET_SIZES: tuple[tuple[float, tuple[int, int]], ...] = (
    (2.0, (1, 256)),
    (7.0, (1, 512)),
    (float("inf"), (2, 512)),
)


def size_for_budget(minutes: float) -> tuple[int, int]:
    """``(num_layers, hidden_size)`` for a run of ``minutes``."""
    for upto, size in BUDGET_SIZES:
        if minutes <= upto:
            return size
    raise AssertionError("the last row of BUDGET_SIZES covers every budget")


def describe(num_layers: int, hidden_size: int, cell: str, minutes: float, chars: int) -> str:
    """The one line a run prints when the rule chose its size."""
    return (
        f"no size given: {num_layers} layer{'s' * (num_layers > 1)} of {hidden_size} "
        f"({cell}), the size for a {minutes:g}-minute budget on {chars:,} characters "
        "(docs/textgen.md; --num-layers and --hidden-size choose another)"
    )
