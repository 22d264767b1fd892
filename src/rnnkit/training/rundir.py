"""The run directory: where one training run keeps its checkpoints, log and plot."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class RunDirError(ValueError):
    """A run directory cannot be used as asked (it would clobber a run, or has nothing to resume)."""


@dataclass(frozen=True)
class RunDir:
    """Paths inside ``RUN_DIR`` (see :mod:`rnnkit.training` for the layout)."""

    path: Path

    LATEST = "latest.npz"
    BEST = "best.npz"
    METRICS = "metrics.jsonl"
    PLOT = "loss.png"

    @property
    def latest(self) -> Path:
        return self.path / self.LATEST

    @property
    def best(self) -> Path:
        return self.path / self.BEST

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def plot(self) -> Path:
        return self.path / self.PLOT

    def owned_files(self) -> list[Path]:
        return [self.latest, self.best, self.metrics, self.plot]

    @classmethod
    def create(
        cls, path: str | os.PathLike, *, resume: bool = False, force: bool = False
    ) -> RunDir:
        """Open ``path`` for a new run, or for resuming one.

        * new run: the directory is created; an existing run there (any of our
          files present) is refused unless ``force``, which deletes only the
          files a run writes (``latest.npz``, ``best.npz``, ``metrics.jsonl``,
          ``loss.png``) and nothing else;
        * ``resume``: ``latest.npz`` must exist; nothing is removed.
        """
        run = cls(Path(path))
        if run.path.exists() and not run.path.is_dir():
            raise RunDirError(f"run directory {run.path} exists and is not a directory")
        if resume:
            if not run.latest.is_file():
                raise RunDirError(f"nothing to resume: {run.latest} does not exist")
            return run
        existing = [p for p in run.owned_files() if p.exists()]
        if existing and not force:
            raise RunDirError(
                f"{run.path} already holds a run ({existing[0].name}); "
                "use --resume to continue it or --force to start over"
            )
        run.path.mkdir(parents=True, exist_ok=True)
        for p in existing:
            p.unlink()
        return run

    def checkpoint_for_inference(self) -> Path:
        """``best.npz`` if there is one, else ``latest.npz`` (the caller reports absence)."""
        return self.best if self.best.is_file() else self.latest
