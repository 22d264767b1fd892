"""A progress bar that degrades gracefully: tqdm when installed, plain lines otherwise."""

from __future__ import annotations

import math
import sys
import time


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    if not math.isfinite(seconds):
        return "-"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Step counter on stderr with a postfix (losses, throughput, time left).

    ``total`` is the step budget when there is one (tqdm then shows its own
    ETA); with only a time budget, the caller puts ``left=`` in the postfix.
    Messages go through :meth:`write` so they do not tear the bar.
    """

    def __init__(self, *, enabled: bool, total: int | None, initial: int, desc: str = "train"):
        self.enabled = enabled
        self._bar = None
        self._last_line = 0.0
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
            leave=True,
        )

    def update(self, step: int, postfix: dict[str, str] | None = None) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            if postfix is not None:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(step - self._bar.n)  # tqdm throttles the redraws
            return
        now = time.monotonic()
        if postfix is not None and now - self._last_line >= 10:  # plain fallback: every 10 s
            self._last_line = now
            fields = " ".join(f"{k}={v}" for k, v in postfix.items())
            print(f"step {step} {fields}", file=sys.stderr, flush=True)

    def write(self, message: str) -> None:
        """Print a message line on stdout above the bar."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stdout)
        else:
            print(message, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
