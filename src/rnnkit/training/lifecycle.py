"""What every application's lifecycle needs around the trainer: the saved config's
format version, model-only files, and the fingerprint that recognises the training
data on resume. (The run directory's own lifecycle is :func:`~.rundir.fit_run`; the
options are :mod:`.options`.)"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .checkpoint import CheckpointError, save_checkpoint
from .distributed import Processes, processes_for
from .options import settings_from
from .settings import EngineChoice, StopRule


def check_config_version(config: Any, current: int, path: str | os.PathLike, what: str) -> int:
    """The version of an application's saved ``config`` (1 when it has none): refused in
    one line when it is not an int or newer than ``current`` (this rnnkit)."""
    version = config.get("version", 1) if isinstance(config, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or version > current:
        raise CheckpointError(
            f"{path}: {what} configuration version {version!r} is newer than this "
            f"rnnkit reads ({current}); upgrade rnnkit"
        )
    return version


def save_model(path: str | os.PathLike, app: str, config: dict, network: Any) -> None:
    """A model-only checkpoint (``app``, ``config``, ``model``; no optimizer state),
    written atomically in the checkpoint format."""
    save_checkpoint(path, {"app": app, "config": config, "model": dict(network.state_dict())})


def sha256_text(text: str | bytes) -> str:
    """The fingerprint of a training text (UTF-8 for ``str``)."""
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def sha256_examples(*parts: Iterable[Any] | None) -> str:
    """The fingerprint of lists of examples (texts, labels...): each item NUL-terminated,
    each list closed by a 0x01 byte, so neither a split nor a move between lists hides."""
    digest = hashlib.sha256()
    for part in parts:
        for item in part or []:
            digest.update(str(item).encode("utf-8", "surrogatepass") + b"\0")
        digest.update(b"\1")
    return digest.hexdigest()


@dataclass(frozen=True)
class FitStart:
    """What an application's ``fit`` checks and decides before anything else: its
    settings from the user's keywords, the stop rule, the engine's processes, and how
    the run reports (progress, plot, the caller's own ``on_eval``)."""

    settings: Any  #: the application's TrainSettings made from the keywords given
    stop: StopRule
    processes: Processes | None  #: the torch engine's processes (None: the NumPy engine)
    progress: bool = True  #: the caller asked for progress on stderr
    plot: bool = True  #: redraw loss.png at each evaluation
    on_eval: Callable[..., None] | None = None  #: the caller's callback at each evaluation

    @property
    def group(self) -> Processes | None:
        """The processes when there are several (torchrun), else None."""
        procs = self.processes
        return procs if procs is not None and procs.world_size > 1 else None

    @property
    def writer(self) -> bool:
        """True on the process that prints and writes (rank 0)."""
        return self.group is None or self.group.rank == 0

    @property
    def shows_progress(self) -> bool:
        """Progress is shown: asked for, and on the writing process."""
        return self.progress and self.writer


def start_fit(settings_cls: type, given: dict, stop: StopRule, engine: str, app: str,
              **reporting: Any) -> FitStart:  # fmt: skip
    """Check the keywords (unknown and renamed names), the stop rule and the engine, and
    start the engine's processes: the first lines of every application's ``fit``.
    ``reporting``: FitStart's ``progress``, ``plot`` and ``on_eval``."""
    settings = settings_from(settings_cls, given)
    stop.validate()
    EngineChoice(engine).validate()
    return FitStart(settings, stop, processes_for(engine, app), **reporting)
