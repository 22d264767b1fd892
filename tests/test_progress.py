"""Progress on stderr: a bar on a terminal, a plain line every few seconds in a log."""

from __future__ import annotations

import io

import pytest

from rnnkit.training import progress as progress_module
from rnnkit.training.progress import Progress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_plain_line_every_few_seconds_not_bar_frames(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    log = io.StringIO()  # not a terminal
    bar = Progress(enabled=True, total=400, initial=0, stream=log, interval=5.0)
    for step in range(1, 401):  # 0.1 s a step: 40 s
        clock.now += 0.1
        bar.update(step, {"loss": f"{4 - step / 100:.2f}"} if step % 10 == 0 else None)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    assert 8 <= len(lines) <= 9  # every 5 s of 40 s, and the last step
    assert lines[0].startswith("train: step 50/400 loss=3.50")
    assert lines[-1] == "train: step 400/400 loss=0.00"


def test_a_terminal_gets_the_bar_and_a_disabled_progress_nothing(monkeypatch):
    pytest.importorskip("tqdm")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = Progress(enabled=True, total=10, initial=0, stream=screen)
    for step in range(1, 11):
        bar.update(step, {"loss": "1.0"})
    bar.close()
    assert "\r" in screen.getvalue() and "10/10" in screen.getvalue()
    quiet = io.StringIO()
    off = Progress(enabled=False, total=10, initial=0, stream=quiet, interval=0)
    off.update(5, {"loss": "1.0"})
    off.close()
    assert quiet.getvalue() == ""
