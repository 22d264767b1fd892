"""``rnnkit demo``: a small generator trained briefly on Python's own source, then sampled.

This is the tutorial's character-level generator (section 6 of the seed page)
done for real: the weights are updated, the loss falls, and the text that
comes out looks like Python.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from ..training.settings import SEED, Bounds, StopRule, check_seed, count, option
from .api import CharLM

#: the demo's training time when none is given
DEMO_MINUTES = 1.5

#: the demo's model: an LSTM whose size the budget rule chooses (:mod:`.sizing`), as
#: ``textgen train`` does when no size is given
DEMO_ARCH = {"cell": "lstm", "embedding_dim": 32, "dropout": 0.0}
DEMO_SETTINGS = {
    "seq_length": 64,
    "batch_size": 32,
    "lr": 3e-3,
    "val_fraction": 0.02,
    "eval_every": 10**9,  # evaluate once, at the end
    "sample_length": 0,
}


@dataclass(frozen=True)
class DemoOptions:
    """What ``rnnkit demo`` takes (:func:`run_demo`'s keywords)."""

    minutes: float = option(DEMO_MINUTES, "training time", metavar="M",
                            bounds=Bounds(0, 10**9, low_open=True))  # fmt: skip
    length: int = option(600, "characters to generate", metavar="N", bounds=count(0))
    out: str | None = option(None, "also keep the run (checkpoints, metrics, plot)",
                             metavar="RUN_DIR")  # fmt: skip
    seed: int = option(0, "seed for training and sampling", bounds=SEED)


def run_demo(minutes: float = DEMO_MINUTES, length: int = 600, out=None, seed: int = 0) -> CharLM:
    """Train for ``minutes`` on the default corpus, print the validation loss and a sample."""
    StopRule(minutes=minutes).validate()  # every option checked before anything is printed
    count(0).check("length", length)
    check_seed(seed)
    print(
        f"Training an LSTM sized for {minutes:g} minutes on Python's standard library source "
        "(Ctrl-C stops early)...",
        file=sys.stderr,
    )
    lm = CharLM(**DEMO_ARCH)
    result = lm.fit(None, out=out, minutes=minutes, seed=seed, **DEMO_SETTINGS)
    chars = lm.data.get("chars", 0)
    if result.metrics:
        loss = result.metrics["val_loss"]
        print(
            f"{result.step} steps on {chars:,} characters: validation loss {loss:.3f} nats/char "
            f"({loss / math.log(2):.3f} bits/char; a uniform guess over {len(lm.vocab)} "
            f"characters would be {math.log(len(lm.vocab)):.2f} nats/char)"
        )
    prime = "def "
    print(f"\nGenerated text (temperature 0.7, prime {prime!r}):\n")
    sys.stdout.write(prime)
    for piece in lm.stream(length, prime=prime, temperature=0.7, seed=seed):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return lm
