"""The run directory: where one training run keeps its checkpoints, log and plot.

Its lifecycle, the same for every application::

    run = RunDir.check(out, force=force)      # reads only: refuses a clobber, a locked run,
                                              # or files that no run created there
    ...validate every option, read the data, build the model...   (nothing touched yet)
    run = RunDir.create(out, force=force)     # mkdir, manifest, lock, repair, set an old run aside
    try:
        trainer.fit()                         # the first checkpoint commits the new run
    finally:
        run.close()                           # no checkpoint written: the old run comes back

The promises (tested by fault injection at every file operation, in
``tests/test_run_lifecycle.py``):

* **Only its own files.** A run knows what it wrote: the first file it
  creates in a directory is the manifest ``RUN_DIR/.rnnkit-run``, and the names
  a run writes are fixed (:attr:`RunDir.RUN_FILES`, their temporaries
  ``.NAME.*.tmp``, ``.lock``, ``.previous-run``). A new run into a directory
  that holds one of those names without a manifest (someone else's
  ``metrics.jsonl``, a ``.lock`` symlink...) refuses in one line and changes
  nothing, ``force`` or not; only a directory with a checkpoint (a run of an
  rnnkit from before the manifest) is adopted. Other files in the directory
  are never read or touched. Temporaries are removed only when they carry the
  name of a run file.
* **Lock.** ``create`` takes an exclusive OS lock (``fcntl.flock``) on
  ``RUN_DIR/.lock`` (opened without following a symlink; a non-regular or
  hard-linked lock file is refused) and writes its pid there; the lock is held
  until :meth:`RunDir.close` or the end of the process (a crash or ``kill -9``
  releases it). A second trainer, a ``resume`` or a ``force`` on a locked run
  is refused with a one-line :class:`RunDirError` naming the holder's pid,
  also from another thread of the same process (the lock is not re-entrant).
  Readers (sampling, evaluation, prediction) never take it: checkpoints are
  replaced atomically, so they always read a whole file. In a job where
  several processes train one run (PyTorch DDP), only rank 0 opens the
  directory (and takes the lock); ``RunDir.create(..., lock=False)`` opens a
  directory without the lock.
* **Force, crash-safe.** ``force`` never deletes the old run before the new
  one has a checkpoint. It writes a journal ``.previous-run/.journal`` (the
  old run's file names, state ``moving``), moves each file into
  ``.previous-run/`` with one atomic :func:`os.replace`, and marks the journal
  ``aside``. The new run's first checkpoint commits: ``.previous-run`` is
  renamed to ``.previous-run.discard`` (atomic) and then deleted. If the new
  run stops before that (bad option found late, divergence, an exception),
  the journal turns ``restoring`` and every set-aside file moves back, over
  the new run's files of the same name; the new run's other files go. A
  ``kill -9`` at any instant of any of these steps, or of the repair itself,
  is repaired by the next ``create`` on the directory (or a reader's
  :meth:`resumable_latest`): ``moving`` and ``restoring`` finish putting the
  old run back, ``aside`` commits if the new ``latest.npz`` exists and puts
  back otherwise, and a ``.previous-run.discard`` is deleted. So a kill leaves
  the old run or the new run whole, never a mix, and nothing is lost.
* **Leftovers.** A run holds a checkpoint (``latest.npz`` or ``best.npz``);
  a log or plot without one, in a directory with the manifest (this run's,
  killed before its first checkpoint) is replaced by a new start without
  ``force``, and ``resume`` on it says to start again.
* **Refusals touch nothing.** Every check runs before the first write: a
  refused start or resume leaves the directory byte for byte, ``.lock``
  included (:func:`fit_run` checks the data against the checkpoint before it
  takes the lock).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import _with_path as path_error
from .checkpoint import atomic_write, file_operation

if TYPE_CHECKING:
    from .trainer import Processes

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, run unlocked
    fcntl = None  # type: ignore[assignment]


class RunDirError(ValueError):
    """A run directory cannot be used as asked (it would clobber a run, has nothing to
    resume, holds files that no run created, or another trainer is training in it)."""


#: locks held by this process: resolved run path -> open file descriptor
_HELD: dict[Path, int] = {}
_HELD_GUARD = threading.Lock()

MANIFEST_FORMAT = "rnnkit-run"


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
    DISCARD = ".previous-run.discard"
    MANIFEST = ".rnnkit-run"
    JOURNAL = ".journal"
    #: a phase of pretraining before the run's own training (the classifier's language
    #: model): its log, plot and best checkpoint, and the model it ends with
    PRETRAIN_METRICS = "pretrain-metrics.jsonl"
    PRETRAIN_PLOT = "pretrain-loss.png"
    PRETRAIN_BEST = "pretrain-best.npz"
    PRETRAINED = "pretrained.npz"
    #: a large corpus encoded once, memory-mapped by the text generator (``textgen.corpus_file``)
    CORPUS_IDS = "corpus.ids"
    #: the files a run writes (besides its lock, manifest and set-aside directories)
    RUN_FILES = (LATEST, BEST, METRICS, PLOT, PRETRAINED, PRETRAIN_BEST, PRETRAIN_METRICS,
                 PRETRAIN_PLOT, CORPUS_IDS)  # fmt: skip

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
    def manifest(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def previous(self) -> Path:
        return self.path / self.PREVIOUS

    @property
    def discard(self) -> Path:
        return self.path / self.DISCARD

    def owned_files(self) -> list[Path]:
        return [self.path / name for name in self.RUN_FILES]

    def holds_run(self) -> bool:
        """True if a checkpoint is there (a log without one is a leftover, not a run)."""
        return self.latest.is_file() or self.best.is_file()

    def resumable_latest(self) -> Path:
        """Where ``latest.npz`` will be once a killed ``force`` is repaired (reads only)."""
        return self._repaired(self.LATEST)

    def resumable(self, name: str) -> Path:
        """Where the run file ``name`` will be once a killed ``force`` is repaired (reads only)."""
        if name not in self.RUN_FILES:
            raise ValueError(f"{name!r} is not one of a run's files")
        return self._repaired(name)

    # -- opening ---------------------------------------------------------------
    @classmethod
    def check(
        cls, path: str | os.PathLike, *, resume: bool = False, force: bool = False
    ) -> RunDir:
        """Raise :class:`RunDirError` if ``create`` with these arguments would refuse.

        Reads only (nothing is created or removed), so a caller can check the
        run directory together with its other inputs before touching anything.
        """
        return cls(path)._check(resume, force)

    def _check(self, resume: bool, force: bool, lock: bool = True) -> RunDir:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run directory {self.path} exists and is not a directory")
        if lock:
            self._check_unlocked()
        self._check_ownership()
        if resume:
            if not self.resumable_latest().is_file():
                if self._repaired(self.METRICS).exists():
                    raise RunDirError(
                        f"nothing to resume in {self.path}: the run stopped before its first "
                        "checkpoint; start it again without --resume"
                    )
                raise RunDirError(f"nothing to resume: {self.latest} does not exist")
        elif not force:
            existing = [n for n in (self.LATEST, self.BEST) if self._repaired(n).is_file()]
            if existing:
                raise RunDirError(
                    f"{self.path} already holds a run ({existing[0]}); "
                    "use --resume to continue it or --force to start over"
                )
        return self

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

        * new run: the directory and its manifest are created; an existing run
          there is refused unless ``force``, which sets its files aside (only
          the files a run writes, nothing else) until the new run's first
          checkpoint (:meth:`commit`);
        * ``resume``: ``latest.npz`` must exist; nothing is removed.

        ``lock=False`` only checks and creates the directory (for the non-zero
        ranks of a distributed job: rank 0 owns the directory's lifecycle).
        """
        run = cls(path)._check(resume, force, lock)
        run._make_directory()
        if not lock:
            return run
        run._write_manifest()  # before the lock file: every name after it is the run's
        run._acquire_lock()
        try:
            run._repair()  # nobody trains here: finish what a killed process left half done
            run._remove_temporaries()
            run._check(resume, force, lock=False)  # again, under the lock
            if not resume:
                run._set_old_run_aside()
        except BaseException:
            run.close()
            raise
        return run

    def commit(self) -> None:
        """The new run has written a checkpoint: the run set aside by ``force`` is deleted.

        The trainer calls this after every checkpoint it writes (a no-op but the first time).
        """
        if self._set_aside and self.latest.is_file():
            self._repair()  # journal 'aside' and a new latest.npz: commits
            self._set_aside = False

    def close(self) -> None:
        """End of training in this process: commit or put the old run back; release the lock."""
        try:
            if self._set_aside:
                self._repair()  # commits after a checkpoint, puts the old run back before one
                self._set_aside = False
        finally:
            if self._locked:
                self._release_lock()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what is ours ------------------------------------------------------------
    def _run_names_present(self) -> list[str]:
        """The names in the directory that a run writes (files, temporaries, lock...)."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return []
        own = {*self.RUN_FILES, self.LOCK, self.PREVIOUS, self.DISCARD, self.MANIFEST}
        return sorted(n for n in names if n in own or self._is_temporary(n))

    @classmethod
    def _is_temporary(cls, name: str) -> bool:
        """A temporary file of an atomic write of one of the run's files (``.NAME.*.tmp``)."""
        return name.endswith(".tmp") and any(
            name.startswith(f".{own}.") for own in (*cls.RUN_FILES, cls.MANIFEST)
        )

    def _has_manifest(self) -> bool:
        try:
            info = os.lstat(self.manifest)
            if not stat.S_ISREG(info.st_mode) or info.st_size > 4096:
                return False
            body = json.loads(self.manifest.read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(body, dict) and body.get("format") == MANIFEST_FORMAT

    def _check_ownership(self) -> None:
        """Refuse a directory holding a run's file names that no run created there."""
        present = self._run_names_present()
        if not present or self._has_manifest():
            return
        legacy = any(  # a run of an rnnkit from before the manifest: adopted
            os.path.isfile(p) and not os.path.islink(p)
            for p in (self.latest, self.best, self.previous / self.LATEST)
        )
        if legacy and self.MANIFEST not in present:
            return
        raise RunDirError(
            f"{self.path} holds {', '.join(present)}, which no rnnkit run created there "
            f"(no valid {self.MANIFEST}); move them away or choose another run directory"
        )

    def _make_directory(self) -> None:
        if self.path.is_dir():
            return
        try:
            file_operation("mkdir", self.path)
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise path_error(exc, self.path) from None

    def _write_manifest(self) -> None:
        if self._has_manifest():
            return
        body = {
            "format": MANIFEST_FORMAT,
            "version": 1,
            "files": [*self.RUN_FILES, self.LOCK, self.PREVIOUS],
            "note": "written by rnnkit: the files named here belong to the training run "
            "in this directory; rnnkit touches no other file here",
        }
        atomic_write(self.manifest, lambda f: f.write(json.dumps(body, indent=1).encode()))

    # -- force: set aside, commit, put back, repair --------------------------------
    def _journal(self) -> dict | None:
        """The set-aside journal, or None (absent or unreadable)."""
        try:
            body = json.loads((self.previous / self.JOURNAL).read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            return None
        if (
            not isinstance(body, dict)
            or body.get("state") not in ("moving", "aside", "restoring")
            or not isinstance(body.get("files"), list)
            or not set(body["files"]) <= set(self.RUN_FILES)
        ):
            return None
        return body

    def _write_journal(self, state: str, names: list[str]) -> None:
        body = json.dumps({"state": state, "files": names}).encode()
        atomic_write(self.previous / self.JOURNAL, lambda f: f.write(body))

    def _repair_plan(self) -> str | None:
        """What the repair will do: None, 'commit', 'put_back' or 'legacy' (no journal)."""
        if not os.path.isdir(self.previous) or os.path.islink(self.previous):
            return None
        journal = self._journal()
        if journal is None:
            return "legacy"
        if journal["state"] == "aside" and self.latest.is_file():
            return "commit"
        return "put_back"

    def _repaired(self, name: str) -> Path:
        """Where the run file ``name`` will be after :meth:`_repair` (reads only)."""
        here, aside = self.path / name, self.previous / name
        plan = self._repair_plan()
        if plan == "put_back":
            if aside.is_file() or name not in (self._journal() or {}).get("files", []):
                return aside  # moves back, or (a new run's file) goes
        elif plan == "legacy" and aside.is_file() and not here.exists():
            return aside
        return here

    def _set_old_run_aside(self) -> None:
        existing = [n for n in self.RUN_FILES if os.path.lexists(self.path / n)]
        if not existing:
            return
        if not self.holds_run():  # this run's leftovers (the manifest says so), no checkpoint
            for name in existing:
                self._unlink(self.path / name)
            return
        self._set_aside = True  # from here on, close() repairs whatever state this stops in
        file_operation("mkdir", self.previous)
        self.previous.mkdir()
        self._write_journal("moving", existing)
        for name in existing:
            self._replace(self.path / name, self.previous / name)
        self._write_journal("aside", existing)

    def _repair(self) -> None:
        """Finish what a killed (or failed) ``force`` left: commit or put the old run back."""
        if os.path.lexists(self.discard):
            file_operation("rmtree", self.discard)
            shutil.rmtree(self.discard)
        plan = self._repair_plan()
        if plan == "commit":
            file_operation("replace", self.discard)
            os.replace(self.previous, self.discard)  # one atomic step: the old run is gone
            file_operation("rmtree", self.discard)
            shutil.rmtree(self.discard)
        elif plan == "put_back":
            journal = self._journal()
            assert journal is not None
            names = journal["files"]
            if journal["state"] == "aside":
                self._write_journal("restoring", names)
            for name in names:
                if os.path.lexists(self.previous / name):
                    self._replace(self.previous / name, self.path / name)
            if journal["state"] != "moving":  # the new run's own files (none while moving)
                for name in self.RUN_FILES:
                    if name not in names and os.path.lexists(self.path / name):
                        self._unlink(self.path / name)
            self._remove_previous()
        elif plan == "legacy":  # an older rnnkit's set-aside (or an emptied one): no journal
            for entry in list(self.previous.iterdir()):
                if entry.name in self.RUN_FILES and not os.path.lexists(self.path / entry.name):
                    self._replace(entry, self.path / entry.name)
            self._remove_previous()

    def _remove_previous(self) -> None:
        for entry in list(self.previous.iterdir()):
            if entry.name == self.JOURNAL or (
                entry.name.startswith(f".{self.JOURNAL}.") and entry.name.endswith(".tmp")
            ):
                self._unlink(entry)
        left = sorted(p.name for p in self.previous.iterdir())
        if left:
            raise RunDirError(
                f"{self.previous} still holds {', '.join(left)}, which {self.path} also "
                "holds: compare them, keep the right one and remove the other"
            )
        file_operation("rmdir", self.previous)
        self.previous.rmdir()

    @staticmethod
    def _replace(source: Path, target: Path) -> None:
        file_operation("replace", target)
        os.replace(source, target)

    @staticmethod
    def _unlink(path: Path) -> None:
        file_operation("unlink", path)
        os.unlink(path)

    def _remove_temporaries(self) -> None:
        for name in self._run_names_present():
            if self._is_temporary(name):
                try:
                    self._unlink(self.path / name)
                except FileNotFoundError:
                    pass

    # -- the lock -----------------------------------------------------------------
    _FLAGS = sum(getattr(os, flag, 0) for flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC"))

    def _open_lock(self, flags: int) -> int:
        """The lock file's descriptor: never through a symlink, only a plain file of its own."""
        try:
            fd = os.open(self.lock_file, flags | self._FLAGS, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RunDirError(
                    f"{self.lock_file} is a symbolic link; rnnkit does not write through it: "
                    "remove it"
                ) from None
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            raise RunDirError(
                f"{self.lock_file} is not a plain file of its own (a device, pipe or hard "
                "link); rnnkit does not write to it: remove it"
            )
        return fd

    def _check_unlocked(self) -> None:
        if fcntl is None or not os.path.lexists(self.lock_file):
            return
        with _HELD_GUARD:
            if self._key() in _HELD:
                raise RunDirError(self._in_use_message(_HELD[self._key()], this_process=True))
        try:
            fd = self._open_lock(os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunDirError(self._in_use_message(fd)) from None
        finally:
            os.close(fd)  # also drops the probe's lock

    def _acquire_lock(self) -> None:
        """Take the lock (refused if any trainer holds it, in this process or another)."""
        if fcntl is None:
            return
        key = self._key()
        with _HELD_GUARD:
            if key in _HELD:  # another trainer of this process (a thread, a notebook cell)
                raise RunDirError(self._in_use_message(_HELD[key], this_process=True))
            try:
                file_operation("lock", self.lock_file)
                fd = self._open_lock(os.O_RDWR | os.O_CREAT)
            except OSError as exc:
                raise path_error(exc, self.lock_file) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                message = self._in_use_message(fd)
                os.close(fd)
                raise RunDirError(message) from None
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError as exc:
                os.close(fd)
                raise path_error(exc, self.lock_file) from None
            _HELD[key] = fd
            self._locked = True

    def _release_lock(self) -> None:
        with _HELD_GUARD:
            fd = _HELD.pop(self._key(), None)
            self._locked = False
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock

    def _in_use_message(self, fd: int, this_process: bool = False) -> str:
        try:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        except OSError:
            pid = "unknown"
        who = "another trainer in this process" if this_process else "another trainer"
        return (
            f"{self.path} is in use: {who} (pid {pid}) holds its lock; "
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
    * ``resume``: ``RunDir.check``, load ``latest.npz`` where the repair of a
      killed ``force`` will leave it (reading only), ``make_trainer(checkpoint)``
      (which checks the data against it), then lock (and repair), load
      ``latest.npz`` again under the lock, ``trainer.restore``, train;
    * ``out=None``: no files at all (``resume`` needs ``out``).

    At the end the network holds what was evaluated and saved (the averaged
    weights with ``ema_decay``). ``lock=False`` opens the run directory without
    its lock.

    ``processes`` (a :class:`~rnnkit.training.trainer.Processes`: several
    processes training one run): rank 0 goes through the lifecycle above;
    the other ranks never touch the directory: their trainer has no run
    directory, and on resume they restore ``latest.npz`` once rank 0 has
    locked and repaired the run (a barrier). ``make_trainer`` runs on every
    process before that barrier, so the collectives it makes (DDP's initial
    broadcast) pair up.
    """
    if out is None:
        if resume:
            raise ValueError("resume needs out=RUN_DIR, the run to continue")
        return _fit(make_trainer(None))
    rank0 = processes is None or processes.rank == 0
    if resume:
        return _resume_run(out, make_trainer, app, lock, processes, rank0)
    if not rank0:  # the other ranks never touch the directory
        return _fit(make_trainer(None))
    RunDir.check(out, force=force)
    trainer = make_trainer(None)
    run = RunDir.create(out, force=force, lock=lock)
    try:
        trainer.attach(run)  # its first checkpoint commits a --force (RunDir.commit)
        return _fit(trainer)
    finally:
        run.close()


def _resume_run(out, make_trainer, app: str, lock: bool, processes, rank0: bool) -> Any:
    """:func:`fit_run` with ``resume``: everything that can refuse (the checkpoint, the
    data, the options) refuses first, reading only, so a refused resume leaves the run
    byte for byte, ``.lock`` included; then lock, repair, restore and train."""
    from .checkpoint import load_checkpoint

    if rank0:
        RunDir.check(out, resume=True)
    checkpoint = load_checkpoint(RunDir(out).resumable_latest(), app=app)
    trainer = make_trainer(checkpoint)
    run = RunDir.create(out, resume=True, lock=lock) if rank0 else None
    try:
        if processes is not None:
            processes.barrier()  # rank 0 holds the lock and has repaired a killed --force
        checkpoint = load_checkpoint(RunDir(out).latest, app=app)  # under the lock
        trainer.attach(run)
        trainer.restore(checkpoint)
        return _fit(trainer)
    finally:
        if run is not None:
            run.close()


def _fit(trainer: Any) -> Any:
    result = trainer.fit()
    trainer.use_average()
    return result
