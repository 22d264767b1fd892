"""The model size a time budget affords: what ``textgen train`` builds when no size is given.

A model too large for its budget spends it on too few steps: on an idle 2-core machine a
3-minute run of the 2-layer 512-unit LSTM takes a few hundred steps and ends far above what
a smaller model reaches in the same three minutes, and a model too small stops improving
long before a 15-minute budget is spent. So when neither ``num_layers`` nor
``hidden_size`` is given (``CharLM()``, or ``textgen train`` without ``--num-layers`` and
``--hidden-size``), the size is chosen from the time budget (``minutes``, or the default
15 when the run stops by steps or epochs only) and the corpus size, by the rule below,
which was measured (docs/textgen.md, "A model sized for the budget": the grid, its command
and date). An explicit size always wins, and a resumed or fine-tuned run keeps its own.

The rule is a table: for each budget (up to ``minutes``), the ``(num_layers,
hidden_size)`` of the LSTM that reached the best validation loss, or one within
``TOLERANCE`` nats/char of it, on the two corpora of the grid (tiny-shakespeare, 1.1 M
characters, and IMDB's training reviews, 33 M characters); corpora from
``LARGE_CORPUS_CHARS`` on take the larger-corpus column. The other cells take the
LSTM's sizes (their steps cost about the same, the GRU's and minGRU's less: the grid
was not repeated for them).
"""

from __future__ import annotations

#: how far (nats/char) the rule's choice may be from the grid's best at a measured budget
TOLERANCE = 0.05

#: corpora of at least this many characters take the larger-corpus column
LARGE_CORPUS_CHARS = 8_000_000

#: (budget up to, in minutes; (num_layers, hidden_size) for a smaller corpus; for a larger one),
#: the last row for any longer budget
BUDGET_SIZES: tuple[tuple[float, tuple[int, int], tuple[int, int]], ...] = (
    (6.0, (1, 256), (1, 256)),
    (float("inf"), (2, 512), (2, 512)),
)


def size_for_budget(minutes: float, chars: int) -> tuple[int, int]:
    """``(num_layers, hidden_size)`` for a run of ``minutes`` on a corpus of ``chars``."""
    large = chars >= LARGE_CORPUS_CHARS
    for upto, smaller, larger in BUDGET_SIZES:
        if minutes <= upto:
            return larger if large else smaller
    raise AssertionError("the last row of BUDGET_SIZES covers every budget")


def describe(num_layers: int, hidden_size: int, cell: str, minutes: float, chars: int) -> str:
    """The one line a run prints when the rule chose its size."""
    return (
        f"no size given: {num_layers} layer{'s' * (num_layers > 1)} of {hidden_size} "
        f"({cell}), the size for a {minutes:g}-minute budget on {chars:,} characters "
        "(docs/textgen.md; --num-layers and --hidden-size choose another)"
    )
