"""What ``rnnkit explore`` runs: load the runs, then serve the page or write the report."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..training.checkpoint import atomic_write, sniff
from ..training.settings import option
from .api import LIMITS, Explorer, parse_label_names
from .models import ExploreError, load_models

EXTRA = "the explorer needs the 'explore' extra: pip install 'rnnkit[explore]'"

#: sentences the report classifies when no --text is given
EXAMPLE_SENTENCES = [
    "a gorgeous , witty and moving film",
    "the plot is dull and the acting is worse",
    "not bad at all , though a little long",
]


def write_report(explorer: Explorer, out: str | Path, text_file: str | None = None) -> Path:
    """One self-contained HTML file (no server, no network) with every view precomputed."""
    from .server import page_html
    from .views import report_data

    text, sentences = None, EXAMPLE_SENTENCES
    if text_file is not None:
        raw = Path(text_file).read_text(encoding="utf-8")
        text = raw[: LIMITS["max_text_chars"]]
        lines = [line for line in raw.splitlines() if line.strip()]
        sentences = [line[: LIMITS["max_sentence_chars"]] for line in lines[:20]] or sentences
    out = Path(out)
    page = page_html(report_data(explorer, text, sentences)).encode("utf-8")
    atomic_write(out, lambda f: f.write(page))  # a reader never sees half a report
    return out


def check_report_path(out: str | Path, inputs, force: bool = False) -> None:
    """Refuse (:class:`ExploreError`, one line) a report path that exists (unless
    ``force``), is a directory, one of the models read, or a model file (never,
    not even with ``force``). Reads only."""
    out = Path(out)
    if out.is_dir():
        raise ExploreError(f"--html: {out} is a directory")
    if not os.path.lexists(out):
        return
    for given in inputs:
        given = Path(given)
        if given.exists() and out.exists() and os.path.samefile(out, given):
            raise ExploreError(f"--html: {out} is a model being explored; choose another file")
    if out.is_file() and sniff(out) in ("zip", "npy", "safetensors", "onnx", "pytorch"):
        raise ExploreError(f"--html: {out} is a model file, not a report; choose another file")
    if not force:
        raise ExploreError(f"--html: {out} exists; pass --force to replace it")


@dataclass(frozen=True)
class ExploreRuns:
    """The models ``rnnkit explore`` shows (``run_explore``'s ``run_dirs``)."""

    run_dirs: tuple[str, ...] = option((), "run directories or checkpoint files",
                                       metavar="RUN_DIR", positional=True, nargs="+")  # fmt: skip


@dataclass(frozen=True)
class ExploreOptions:
    """The options of ``rnnkit explore`` (its flags are generated from these fields)."""

    host: str = option("127.0.0.1", "address to listen on")
    port: int = option(8000, "port to listen on; 0 picks a free one")
    html: str | None = option(None, "write a self-contained HTML report instead of serving",
                              metavar="FILE")  # fmt: skip
    force: bool = option(False, "with --html: replace an existing report file")
    text: str | None = option(
        None, "with --html: the text to trace (sentences, one a line, for a classifier)",
        metavar="FILE",
    )
    timeout: float = option(10.0, "close a connection whose request (line and headers, then "
                            "body) has not arrived within SECONDS", metavar="SECONDS")  # fmt: skip
    labels: str | None = option(None, "names for a classifier's labels, e.g. "
                                "0=negative,1=positive (pos/neg are named without it)",
                                metavar="LABEL=NAME,...")  # fmt: skip


def run_explore(run_dirs, host: str = "127.0.0.1", port: int = 8000, html: str | None = None,
                text: str | None = None, timeout: float = 10.0,
                force: bool = False, labels: str | None = None) -> int:  # fmt: skip
    """The command; raises ExploreError / OSError (the CLI prints one line).

    ``timeout``: seconds a client has to send each request (line and headers,
    then body) before its connection is closed (see :mod:`.server`).
    ``labels``: names for classifier labels, ``"0=negative,1=positive"``.
    """
    if html is None:
        try:
            import starlette  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            raise ExploreError(EXTRA) from None
    else:
        check_report_path(html, run_dirs, force)
        if text is not None and not Path(text).is_file():
            raise ExploreError(f"--text: no such file {text}")
    if not 0 <= port <= 65535:
        raise ExploreError(f"--port must be in 0..65535, received {port}")
    if not 0 < timeout <= 3600:
        raise ExploreError(f"--timeout must be in (0, 3600] seconds, received {timeout:g}")
    try:
        names = parse_label_names(labels)
    except ValueError as exc:
        raise ExploreError(str(exc)) from None
    models = load_models(run_dirs)
    try:
        explorer = Explorer(models, names)
    except ValueError as exc:
        raise ExploreError(str(exc)) from None
    if html is not None:
        for model in explorer.models.values():
            if model.kind == "textgen" and text is not None:
                shown = Path(text).read_text(encoding="utf-8")[: LIMITS["max_text_chars"]]
                explorer._check_vocab(model, shown)
        path = write_report(explorer, html, text)
        print(f"wrote {path}")
        return 0
    from .server import serve

    def ready(url: str) -> None:
        names = ", ".join(f"{m.name} ({m.kind})" for m in explorer.models.values())
        print(f"rnnkit explore: {names} at {url}  (Ctrl-C to stop)", flush=True)

    try:
        serve(explorer, host, port, ready, timeout=timeout)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("", file=sys.stderr)
    return 0
