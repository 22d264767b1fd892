"""The user's regular expressions: compiled under a size bound, matched under a time bound.

Python's ``re`` has no timeout and cannot be interrupted from another thread,
and a pattern such as ``(a+)+$`` backtracks for an exponential time. So:

* :func:`compile_pattern` refuses a pattern longer than ``max_chars`` (200 by
  default) and turns every compile failure into a one-line ``ValueError``:
  ``re.error``, ``OverflowError`` (a repetition count beyond the engine's limit,
  ``a{4294967296}``), ``RecursionError`` and ``MemoryError``. Compiling such a
  short pattern is fast whatever it is (no repetition is expanded).
* :func:`match_spans` runs ``finditer`` in a worker process (a bare
  ``python -I -S`` started by us, reused between calls, at most
  :data:`MAX_IDLE` kept waiting). A worker that has not answered within
  ``seconds`` is killed, the caller gets a one-line ``ValueError``, and the
  next call starts a fresh worker (a worker also ends itself, by ``SIGALRM``,
  2 s after the bound, should its parent be gone). The cost: a pipe round trip per call (about
  a millisecond for the explorer's 4,000-character texts), plus the start of a
  worker (tens of milliseconds) when none is waiting.

Shapes are not refused up front: nested quantifiers are only one of the
patterns that backtrack badly, and the time bound stops all of them.
"""

from __future__ import annotations

import atexit
import json
import re
import subprocess
import sys
import threading

#: idle workers kept for the next call (more concurrent calls start more, then end them)
MAX_IDLE = 4
#: how long a new worker may take to start (a loaded machine), apart from the match bound
START_SECONDS = 30.0

# SIGALRM's default action ends the worker by itself a little after the parent's bound,
# should the parent be gone (killed) while a match runs; on Windows only the parent kills.
_WORKER = """
import json, re, signal, sys
alarm = getattr(signal, "alarm", lambda seconds: None)
sys.stdout.write("ready\\n")
sys.stdout.flush()
for line in sys.stdin:
    pattern, text, seconds = json.loads(line)
    alarm(int(seconds) + 2)
    try:
        out = [m.span() for m in re.finditer(pattern, text)]
    except Exception as exc:
        out = f"{type(exc).__name__}: {exc}"
    alarm(0)
    sys.stdout.write(json.dumps(out) + "\\n")
    sys.stdout.flush()
"""


def compile_pattern(pattern: str, max_chars: int = 200) -> re.Pattern:
    """``re.compile(pattern)``, or a one-line ``ValueError`` naming what is wrong."""
    if not isinstance(pattern, str):
        raise ValueError(f"regex must be a string, received {type(pattern).__name__}")
    if len(pattern) > max_chars:
        raise ValueError(f"regex has {len(pattern)} characters; the limit is {max_chars}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"regex: {exc}") from None
    except (OverflowError, RecursionError, MemoryError, ValueError) as exc:
        raise ValueError(f"regex: {exc or type(exc).__name__}") from None


class _Worker:
    """One worker process; :meth:`ask` sends a line and waits for the answer, bounded."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _WORKER],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)  # fmt: skip
        if self._read(START_SECONDS) != b"ready\n":
            self.close()
            raise RuntimeError("the regex worker process did not start")

    def _read(self, seconds: float) -> bytes | None:
        """The next line, or None when it did not come within ``seconds`` (worker killed)."""
        expired = []
        timer = threading.Timer(seconds, lambda: (expired.append(True), self.proc.kill()))
        timer.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            timer.cancel()
            timer.join()  # a timer already firing has finished killing
        return None if expired or not line.endswith(b"\n") else line

    def ask(self, message: bytes, seconds: float) -> bytes | None:
        try:
            self.proc.stdin.write(message + b"\n")
            self.proc.stdin.flush()
        except OSError:  # the worker has gone: the caller retries with a fresh one
            self.close()
            raise
        return self._read(seconds)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


_idle: list[_Worker] = []
_idle_lock = threading.Lock()


def _take() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
            worker.close()
    return _Worker()


def _give(worker: _Worker) -> None:
    with _idle_lock:
        if len(_idle) < MAX_IDLE:
            _idle.append(worker)
            return
    worker.close()


@atexit.register
def _close_idle() -> None:
    with _idle_lock:
        workers = list(_idle)
        _idle.clear()
    for worker in workers:
        worker.close()


def match_spans(pattern: str, text: str, seconds: float = 2.0,
                max_chars: int = 200) -> list[tuple[int, int]]:  # fmt: skip
    """``[m.span() for m in re.finditer(pattern, text)]``, computed in a worker process
    stopped after ``seconds``; every failure is a one-line ``ValueError``."""
    compile_pattern(pattern, max_chars)
    message = json.dumps([pattern, text, seconds]).encode("ascii")
    try:
        worker = _take()
        answer = worker.ask(message, seconds)
    except OSError:  # an idle worker that had died: one retry with a fresh one
        worker = _Worker()
        answer = worker.ask(message, seconds)
    if answer is None:
        worker.close()
        raise ValueError(f"regex: matching took longer than {seconds:g} s on this text "
                         "(a pattern that backtracks, such as (a+)+$?)")  # fmt: skip
    _give(worker)
    spans = json.loads(answer)
    if isinstance(spans, str):
        raise ValueError(f"regex: {spans}")
    return [(int(start), int(end)) for start, end in spans]
