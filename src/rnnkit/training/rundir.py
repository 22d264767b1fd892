"""The run directory: where one training run keeps its checkpoints, log and plot.

Its lifecycle, the same for every application::

    run = RunDir.check(out, force=force)      # reads only: refuses a clobber or a locked run
    ...validate every option, read the data, build the model...   (nothing touched yet)
    run = RunDir.create(out, force=force)     # mkdir, lock, clean *.tmp, set an old run aside
    try:
        trainer.fit()                         # the first checkpoint commits the new run
    finally:
        run.close()                           # no checkpoint written: the old run comes back

* **Lock.** ``create`` takes an exclusive OS lock (``fcntl.flock``) on
  ``RUN_DIR/.lock`` and writes its pid there; the lock is held until
  :meth:`RunDir.close` or the end of the process (a crash or ``kill -9``
  releases it). A second trainer, a ``resume`` or a ``force`` on a locked run
  is refused with a one-line :class:`RunDirError` naming the holder's pid.
  Readers (sampling, evaluation, prediction) never take it: checkpoints are
  replaced atomically, so they always read a whole file. In a job where
  several processes train one run (PyTorch DDP), only rank 0 opens the
  directory (and takes the lock); the other ranks write nothing and only read
  ``latest.npz`` to resume (:func:`fit_run` with ``processes``);
  ``RunDir.create(..., lock=False)`` opens a directory without the lock.
  Within one process the lock is re-entrant (a notebook may fit twice into
  the same directory).
* **Force.** ``force`` does not delete the old run: its files
  (``latest.npz``, ``best.npz``, ``metrics.jsonl``, ``loss.png``) are moved
  into ``RUN_DIR/.previous-run/`` and deleted once the new run has written its
  first checkpoint (:meth:`RunDir.commit`). If the new run stops before that
  (bad option found late, divergence at step 2, an exception, ``kill -9``), the
  old run is put back: by :meth:`RunDir.close`, or by the next ``create`` on the
  directory.
* **Leftovers.** A run holds a checkpoint (``latest.npz`` or ``best.npz``);
  a log or plot without one (a run killed before its first checkpoint) is
  replaced by a new start without ``force``, and ``resume`` on it says to
  start again. Temporary files of interrupted atomic writes (``.*.tmp``) are
  removed whenever a run starts or resumes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trainer import Processes

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, run unlocked
    fcntl = None  # type: ignore[assignment]


class RunDirError(ValueError):
    """A run directory cannot be used as asked (it would clobber a run, has nothing to
    resume, or another process is training in it)."""


#: locks held by this process: resolved run path -> open file descriptor
_HELD: dict[Path, int] = {}


class RunDir:
    """Paths inside ``RUN_DIR`` (see :mod:`rnnkit.training` for the layout) and its lifecycle.

    ``RunDir(path)`` only names the files (what readers use); :meth:`create`
    opens the directory for training.
    """

    LATEST = "latest.npz"
    BEST = "best.npz"
    METRICS = "metrics.jsonl"
    PLOT = "loss.png"
    LOCK = ".lock"
    PREVIOUS = ".previous-run"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._locked = False
        self._set_aside = False

    def __repr__(self) -> str:
        return f"RunDir({os.fspath(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

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

    @property
    def lock_file(self) -> Path:
        return self.path / self.LOCK

    @property
    def previous(self) -> Path:
        return self.path / self.PREVIOUS

    def owned_files(self) -> list[Path]:
        return [self.latest, self.best, self.metrics, self.plot]

    def holds_run(self) -> bool:
        """True if a checkpoint is there (a log without one is a leftover, not a run)."""
        return self.latest.is_file() or self.best.is_file()

    # -- opening ---------------------------------------------------------------
    @classmethod
    def check(cls, path: str | os.PathLike, *, resume: bool = False, force: bool = False) -> RunDir:
        """Raise :class:`RunDirError` if ``create`` with these arguments would refuse.

        Reads only (nothing is created or removed), so a caller can check the
        run directory together with its other inputs before touching anything.
        """
        return cls(path)._check(resume, force)

    def _check(self, resume: bool, force: bool, lock: bool = True) -> RunDir:
        run = self
        if run.path.exists() and not run.path.is_dir():
            raise RunDirError(f"run directory {run.path} exists and is not a directory")
        if lock:
            run._check_unlocked()
        if resume:
            recoverable = (run.previous / run.LATEST).is_file() and run._key() not in _HELD
            if not run.latest.is_file() and not recoverable:
                if run.path.is_dir() and run.metrics.exists():
                    raise RunDirError(
                        f"nothing to resume in {run.path}: the run stopped before its first "
                        "checkpoint; start it again without --resume"
                    )
                raise RunDirError(f"nothing to resume: {run.latest} does not exist")
        elif run.holds_run() and not force:
            existing = next(p for p in (run.latest, run.best) if p.is_file())
            raise RunDirError(
                f"{run.path} already holds a run ({existing.name}); "
                "use --resume to continue it or --force to start over"
            )
        return run

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        resume: bool = False,
        force: bool = False,
        lock: bool = True,
    ) -> RunDir:
        """Open ``path`` for a new run, or for resuming one (see the module docstring).

        * new run: the directory is created; an existing run there is refused
          unless ``force``, which sets its files aside (only the files a run
          writes, nothing else) until the new run's first checkpoint;
        * ``resume``: ``latest.npz`` must exist; nothing is removed.

        ``lock=False`` skips the lock (for the non-zero ranks of a distributed job).
        """
        run = cls(path)._check(resume, force, lock)
        run.path.mkdir(parents=True, exist_ok=True)
        if not lock:  # another process (rank 0) owns the directory's lifecycle
            return run
        fresh = run._acquire_lock()
        try:
            if fresh:  # nobody trains here: undo what a killed process left half done
                run._recover()
                run._remove_temporaries()
            run._check(resume, force)  # again, under the lock
            if not resume:
                run._set_old_run_aside()
        except BaseException:
            run.close()
            raise
        return run

    def commit(self) -> None:
        """The new run has written a checkpoint: the run set aside by ``force`` is deleted."""
        if self._set_aside and self.latest.is_file():
            shutil.rmtree(self.previous, ignore_errors=True)
            self._set_aside = False

    def close(self) -> None:
        """End of training in this process: commit or put the old run back; release the lock."""
        try:
            if self._set_aside:
                self.commit()
            if self._set_aside:  # no checkpoint was written: the start failed
                self._restore_previous()
                self._set_aside = False
        finally:
            if self._locked:
                self._release_lock()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- pieces ----------------------------------------------------------------
    def _set_old_run_aside(self) -> None:
        existing = [p for p in self.owned_files() if p.exists()]
        if not existing:
            return
        if not self.holds_run():  # leftovers of a run killed before its first checkpoint
            for p in existing:
                p.unlink()
            return
        self.previous.mkdir(exist_ok=True)
        for p in existing:
            os.replace(p, self.previous / p.name)
        self._set_aside = True

    def _restore_previous(self) -> None:
        if not self.previous.is_dir():
            return
        for p in self.owned_files():
            if p.exists():
                p.unlink()
        for p in self.previous.iterdir():
            os.replace(p, self.path / p.name)
        self.previous.rmdir()

    def _recover(self) -> None:
        """A ``.previous-run`` left by a killed process: delete it if the new run got a
        checkpoint, else put it back."""
        if not self.previous.is_dir():
            return
        if self.latest.is_file():
            shutil.rmtree(self.previous, ignore_errors=True)
        else:
            self._restore_previous()

    def _remove_temporaries(self) -> None:
        for p in self.path.glob(".*.tmp"):
            try:
                p.unlink()
            except OSError:
                pass

    def _check_unlocked(self) -> None:
        if fcntl is None or not self.lock_file.is_file() or self._key() in _HELD:
            return
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunDirError(self._in_use_message(fd)) from None
        finally:
            os.close(fd)  # also drops the probe's lock

    def _acquire_lock(self) -> bool:
        """Take the lock; True if this call took it (False: already held by this process)."""
        key = self._key()
        if fcntl is None or key in _HELD:  # re-entrant within one process
            self._locked = fcntl is not None
            return fcntl is None
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            message = self._in_use_message(fd)
            os.close(fd)
            raise RunDirError(message) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD[key] = fd
        self._locked = True
        return True

    def _release_lock(self) -> None:
        fd = _HELD.pop(self._key(), None)
        self._locked = False
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def _in_use_message(self, fd: int) -> str:
        try:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        except OSError:
            pid = "unknown"
        return (
            f"{self.path} is in use: another trainer (pid {pid}) holds its lock; "
            "wait for it to finish or stop it first"
        )

    def _key(self) -> Path:
        return self.path.resolve()

    # -- reading -----------------------------------------------------------------
    def checkpoint_for_inference(self, which: str = "best") -> Path:
        """``best.npz`` if asked for and present, else ``latest.npz`` (absence: the caller's)."""
        return self.best if which == "best" and self.best.is_file() else self.latest


def resolve_checkpoint(path: str | os.PathLike, which: str = "best") -> Path:
    """A checkpoint file as given, or the ``which`` checkpoint of a run directory.

    A run directory without checkpoints raises a one-line ``CheckpointError``;
    a missing file is reported by :func:`~rnnkit.training.load_checkpoint`.
    """
    from .checkpoint import CheckpointError

    if which not in ("best", "latest"):
        raise ValueError(f"which must be 'best' or 'latest', received {which!r}")
    path = Path(path)
    if not path.is_dir():
        return path
    run = RunDir(path)
    found = run.checkpoint_for_inference(which)
    if not found.is_file():
        raise CheckpointError(
            f"no checkpoint in {path} (expected {RunDir.BEST} or {RunDir.LATEST})"
        )
    return found


def fit_run(
    out: str | os.PathLike | None,
    make_trainer: Callable[[dict | None], Any],
    *,
    app: str,
    resume: bool = False,
    force: bool = False,
    lock: bool = True,
    processes: Processes | None = None,
) -> Any:
    """Train through the run directory's whole lifecycle; returns the ``TrainResult``.

    ``make_trainer(checkpoint)`` builds the application's :class:`Trainer`
    with ``run_dir=None``: for a new run ``checkpoint`` is None; on resume it
    is the run's ``latest.npz`` (the application restores its saved settings
    from ``checkpoint["config"]``). Everything that can fail on bad input must
    fail there, before the run directory is touched:

    * new run (``out`` given): ``RunDir.check``, then ``make_trainer(None)``,
      then ``RunDir.create`` (lock, old run set aside with ``force``), train;
      the old run is deleted after the new run's first checkpoint and comes
      back if the new run writes none;
    * ``resume``: lock, load ``latest.npz``, ``make_trainer(checkpoint)``,
      ``trainer.restore(checkpoint)``, train;
    * ``out=None``: no files at all (``resume`` needs ``out``).

    At the end the network holds what was evaluated and saved (the averaged
    weights with ``ema_decay``). ``lock=False`` opens the run directory without
    its lock.

    ``processes`` (a :class:`~rnnkit.training.trainer.Processes`: several
    processes training one run): rank 0 goes through the lifecycle above;
    the other ranks never touch the directory: their trainer has no run
    directory, and on resume they read ``latest.npz`` once rank 0 has opened
    the run (a barrier). ``make_trainer`` runs on every process in the same
    order relative to that barrier, so the collectives it makes (DDP's
    initial broadcast) pair up.
    """
    from .checkpoint import load_checkpoint

    if processes is not None and processes.rank != 0:
        checkpoint = None
        if resume:
            if out is None:
                raise ValueError("resume needs out=RUN_DIR, the run to continue")
            processes.barrier()  # rank 0 has locked the run (and repaired a killed --force)
            checkpoint = load_checkpoint(RunDir(out).latest, app=app)
        trainer = make_trainer(checkpoint)
        if checkpoint is not None:
            trainer.restore(checkpoint)
        return _fit(trainer)
    if out is None:
        if resume:
            raise ValueError("resume needs out=RUN_DIR, the run to continue")
        return _fit(make_trainer(None))
    if resume:
        run = RunDir.create(out, resume=True, lock=lock)
        try:
            if processes is not None:
                processes.barrier()  # the other ranks may read latest.npz now
            checkpoint = load_checkpoint(run.latest, app=app)
            trainer = make_trainer(checkpoint)
            trainer.attach(run)
            trainer.restore(checkpoint)
            return _fit(trainer)
        finally:
            run.close()
    RunDir.check(out, force=force)
    trainer = make_trainer(None)
    run = RunDir.create(out, force=force, lock=lock)
    try:
        trainer.attach(run)
        user_on_eval = trainer.on_eval

        def on_eval(t, metrics):  # runs right after each checkpoint is written
            run.commit()
            if user_on_eval is not None:
                user_on_eval(t, metrics)

        trainer.on_eval = on_eval
        return _fit(trainer)
    finally:
        run.close()


def _fit(trainer: Any) -> Any:
    result = trainer.fit()
    trainer.use_average()
    return result
