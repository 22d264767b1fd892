"""Progress on stderr: a tqdm bar on a terminal; plain lines in a log.

When standard error is not a terminal (a log file, a pipe, ``make demo >
log 2>&1``) or tqdm is not installed, progress is one plain line at most
every :data:`PLAIN_INTERVAL` seconds (and one at the end), never the redrawn
frames of a bar.
"""

from __future__ import annotations

import math
import sys
import time

#: seconds between two plain progress lines
PLAIN_INTERVAL = 5.0


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

    def __init__(self, *, enabled: bool, total: int | None, initial: int, desc: str = "train",
                 stream=None, interval: float = PLAIN_INTERVAL):  # fmt: skip
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.desc, self.interval = total, desc, interval
        self._bar = None
        self._last_line = time.monotonic()  # plain lines: when the last was printed
        self._pending: int | None = None  # the step not printed yet
        self._postfix: dict[str, str] = {}  # the latest figures (they stay until new ones)
        if not enabled or not _is_terminal(self.stream):
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
            file=self.stream,
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
        if postfix is not None:
            self._postfix = dict(postfix)
        self._pending = step
        if time.monotonic() - self._last_line >= self.interval:
            self._plain_line()

    def _plain_line(self) -> None:
        step, self._pending, self._last_line = self._pending, None, time.monotonic()
        of = f"/{self.total}" if self.total else ""
        fields = "".join(f" {k}={v}" for k, v in self._postfix.items())
        print(f"{self.desc}: step {step}{of}{fields}", file=self.stream, flush=True)

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
        elif self.enabled and self._pending is not None:  # the last step, in a log
            self._plain_line()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
