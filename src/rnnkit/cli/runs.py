"""What the training commands share: the run directory's default name, the run and
checkpoint flags, torchrun detection, and how a finished or interrupted run is reported."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from functools import partial

from .parsing import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    UsageError,
    _stop_group,
)


def run_options(app: str) -> Callable:
    """A training command's ``--out``, ``--resume`` and ``--force`` (a Command piece)."""
    return partial(_add_run_options, app=app)


def stop_options(default) -> Callable:
    """A training command's stop rule, with ``default`` named, and ``--quiet``."""
    return partial(_stop_group, default=default)



def _default_run_dir(app: str) -> str:
    return os.path.join("runs", dt.datetime.now().strftime(f"{app}-%Y%m%d-%H%M%S"))


def _interrupted_status(result) -> int:
    """130 for a run stopped by Ctrl-C (or by another process of its group), 143 for SIGTERM."""
    import signal

    sigterm = getattr(signal, "SIGTERM", None)
    return EXIT_TERMINATED if sigterm is not None and result.signal == sigterm else EXIT_INTERRUPTED


def _torchrun_sizes() -> tuple[int, int] | None:
    """``(WORLD_SIZE, LOCAL_WORLD_SIZE)`` when this process is one of several that torchrun
    started, else None (one process, or variables that do not parse: the engine says so)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        return None
    return (world, local) if world > 1 else None


def _refuse_torchrun(what: str) -> None:
    """Under torchrun with several processes, a NumPy-engine training would start one
    independent run per process (all but one then fail on the run directory's lock)."""
    sizes = _torchrun_sizes()
    if sizes is not None:
        raise UsageError(
            f"this is one of {sizes[0]} processes started by torchrun, but {what}; "
            "nothing was started"
        )


def resume_command(command: str, engine: str, rest: str = "") -> str:
    """The command that continues a run as it was started (``command``: from the command
    group on, ``rest`` after the engine): under torchrun, torchrun with as many processes
    (--resume with another number of processes is not exact)."""
    if engine == "torch":
        command += " --engine torch"
    command += rest
    sizes = _torchrun_sizes()
    if sizes is None:
        return f"rnnkit {command}"
    world, local = sizes
    if world == local:  # one machine, as docs/beyond-one-machine.md launches it
        return f"torchrun --standalone --nproc_per_node {local} -m rnnkit.cli {command}"
    nodes = world // local if world % local == 0 else "N"
    return (f"torchrun --nnodes {nodes} --nproc_per_node {local} <your rendezvous options> "
            f"-m rnnkit.cli {command} (on every node)")  # fmt: skip


def report_training(
    result, run_dir: str, resume_command: str, summary: str, hint: str, prefix: str = ""
) -> int:
    """How a training run ended, for both applications; returns the exit status."""
    if result.reason == "diverged":
        print(f"rnnkit: error: {result.message}", file=sys.stderr)
        return EXIT_ERROR
    if result.reason == "interrupted":
        print(f"rnnkit: {result.message}; continue with: {resume_command}", file=sys.stderr)
        return _interrupted_status(result)
    print(f"{prefix}stopped ({result.reason}) at step {result.step}{summary}")
    print(f"run directory: {run_dir} ({hint})")
    return EXIT_OK




def _add_run_options(parser, app: str) -> None:
    parser.add_argument("--out", metavar="RUN_DIR",
                        help=f"run directory (default: runs/{app}-<time>)")  # fmt: skip
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out exactly")  # fmt: skip
    parser.add_argument("--force", action="store_true",
                        help="start over in an existing RUN_DIR (the old run is deleted "
                        "once the new one has written its first checkpoint)")  # fmt: skip


def _add_checkpoint_option(parser) -> None:
    parser.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                        help="which checkpoint of RUN_DIR (best)")  # fmt: skip
