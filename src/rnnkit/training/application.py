"""One lifecycle for every application: fit and resume, save and load.

An application (the text generator, the classifier) subclasses
:class:`Application` and declares only what is its own::

    class CharLM(Application):
        app = "textgen"                      # the checkpoint's app tag
        what = "text-generator"              # named in messages about its files
        config_version = 2                   # of the checkpoint's JSON "config"
        settings_class = TrainSettings       # extends TrainerOptions
        default_stop = StopRule(minutes=15)  # when neither the user nor the run has one

        def prepare(self, checkpoint, settings, data, out): ...   # become the run
        def build(self, prepared, processes): ...                 # -> (network, task)
        def trainer_hooks(self, prepared, start): ...             # monitor, callbacks
        def app_config(self): ...                                 # -> JSON config
        @classmethod
        def from_config(cls, config, weights, path): ...          # <- JSON config

and :meth:`Application.fit_lifecycle` does the rest, the same for all:

1. the user's keywords become the settings (unknown names refused, renamed
   ones accepted with a warning), the stop rule and the engine are checked,
   the engine's processes start (:func:`~.lifecycle.start_fit`);
2. under the run directory's lifecycle (:func:`~.rundir.fit_run`: checks
   before anything is written, the lock, crash-safe ``--force``, exact
   resume) the application *prepares*: it becomes a new run from the data
   given, or the run saved in the checkpoint (its data checked against the
   run's fingerprint); then it *builds* the network and the task;
3. the trainer is made from the settings (:func:`~.options.build_trainer`)
   with the one default-stop rule (:func:`~.options.stop_rule_for`) and the
   application's callbacks, and runs;
4. :meth:`~Application.fitted` lets the application finish (the classifier
   puts its best weights back).

The keywords every application's ``fit`` takes mean the same everywhere:
``out`` is the run directory (checkpoints ``best.npz`` and ``latest.npz``,
``metrics.jsonl``, ``loss.png``; refused when it holds a run, unless
``force``, and see :mod:`.rundir` for the lock and what ``force`` keeps until
the new run's first checkpoint); ``resume=True`` continues the run saved there
exactly, with its own settings (keywords given beside it are ignored);
``epochs``, ``steps``, ``minutes`` are the stop rule, counted from the run's
start (none given: on resume the run's own, else the application's
``default_stop``); ``engine="torch"`` has PyTorch compute forward and backward
(under ``torchrun`` each process trains its share of every batch and rank 0
alone writes ``out``; either engine resumes a run of the other);
``progress`` shows progress on stderr, ``plot`` redraws ``loss.png`` at each
evaluation, ``on_eval(trainer, metrics)`` is called after each evaluation.
Every input is checked before the run directory is touched.

:meth:`Application.save` and :meth:`Application.load` are the model files of
every application: the JSON ``config`` (format version checked, one line
naming the file for anything that does not fit) and the weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from .checkpoint import config_error
from .lifecycle import FitStart, check_config_version, save_model, start_fit
from .model_file import load_model
from .options import build_trainer, stop_rule_for
from .rundir import RunDir, fit_run, resolve_checkpoint
from .settings import StopRule
from .trainer import TrainResult


class Application:
    """The shared lifecycle of an application (see the module docstring); the
    subclass declares its names and the methods marked *declared*."""

    app: ClassVar[str]  #: the ``app`` tag of its checkpoints
    what: ClassVar[str]  #: how messages name its checkpoints ("text-generator")
    config_version: ClassVar[int]  #: the version of the JSON ``config`` it writes
    settings_class: ClassVar[type]  #: its training settings (extends TrainerOptions)
    default_stop: ClassVar[StopRule]  #: the stop rule when none is given or saved

    network: Any  #: the network (None before fit or load)
    settings: Any  #: the training settings of the run (an instance of settings_class)

    # -- declared by the application ----------------------------------------------------
    def prepare(self, checkpoint: dict | None, settings: Any, data: Any, out) -> Any:
        """*Declared.* Become the new run (``checkpoint`` None: ``settings`` and the
        ``data`` given) or the run saved in ``checkpoint`` (its own settings; its data
        checked), and return what :meth:`build` needs. Refuses before anything is written."""
        raise NotImplementedError

    def build(self, prepared: Any, start: FitStart) -> tuple[Any, Any]:
        """*Declared.* The network and the task the trainer runs (NumPy's, or PyTorch's
        task when ``start.processes`` is given)."""
        raise NotImplementedError

    def trainer_hooks(self, prepared: Any, start: FitStart) -> dict[str, Any]:
        """*Declared.* The keywords of :func:`~.options.build_trainer` that are the
        application's: ``monitor``, ``mode`` and the callbacks ``on_eval``, ``on_restore``."""
        return {}

    def fitted(self) -> None:
        """Called after a fit that returned (the classifier restores its best weights)."""

    def app_config(self) -> dict:
        """*Declared.* The JSON ``config`` of a checkpoint: everything needed to use the
        model again, with ``"version": config_version``."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict, weights: dict | None, path) -> Application:
        """*Declared.* The application rebuilt from :meth:`app_config`'s JSON, its network
        built (without a random draw when ``weights`` will replace it; their sizes checked
        against the config). Raises KeyError/TypeError/ValueError for what does not fit;
        :meth:`load` turns those into one line naming ``path``."""
        raise NotImplementedError

    def _require_model(self) -> Any:
        if getattr(self, "network", None) is None:
            name = type(self).__name__
            raise RuntimeError(f"the model is not trained yet: call fit() or {name}.load()")

    # -- the lifecycle ----------------------------------------------------------------------
    def fit_lifecycle(
        self, data: Any, *, out, resume: bool, force: bool, lock: bool, stop: StopRule,
        engine: str, settings: dict[str, Any], **reporting: Any,
    ) -> TrainResult:  # fmt: skip
        """Train on ``data`` into the run directory ``out`` (or resume it): steps 1-4 of
        the module docstring. ``settings`` are the user's keywords for ``settings_class``;
        ``reporting`` are ``progress``, ``plot`` and the caller's ``on_eval`` (FitStart)."""
        start = start_fit(self.settings_class, settings, stop, engine, self.app, **reporting)

        def make_trainer(checkpoint: dict | None):  # refuses before any write
            prepared = self.prepare(checkpoint, start.settings, data, out)
            network, task = self.build(prepared, start)
            return self.make_trainer(prepared, start, network, task, checkpoint)

        result = fit_run(out, make_trainer, app=self.app, resume=resume, force=force, lock=lock,
                         processes=start.group)  # fmt: skip
        if start.processes is not None:  # (after an error the process ends: torchrun stops all)
            start.processes.close()
        self.fitted()
        return result

    def make_trainer(self, prepared: Any, start: FitStart, network: Any, task: Any,
                     checkpoint: dict | None) -> Any:  # fmt: skip
        """The trainer :func:`~.rundir.fit_run` drives (``attach``, ``restore``, ``fit``,
        ``use_average``): the settings' :class:`~.trainer.Trainer` with the one default-stop
        rule and the application's hooks. An application that trains in phases (the
        classifier's language-model pretraining) returns its own driver of several."""
        rule = stop_rule_for(start.stop, self.default_stop, checkpoint)
        return build_trainer(
            task, network, self.settings, rule, app=self.app, app_config=self.app_config(),
            progress=start.shows_progress, plot=start.plot, processes=start.group,
            **self.trainer_hooks(prepared, start),
        )  # fmt: skip

    def restored(self, checkpoint: dict, out) -> Application:
        """The application saved in a run's ``checkpoint`` (weights not loaded: the
        trainer restores them with the optimizer's state)."""
        return type(self).from_tree(checkpoint, Path(out) / RunDir.LATEST, load_weights=False)

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write a model-only checkpoint (``app``, ``config``, ``model``; no optimizer
        state), atomically, in the format of a run's checkpoints."""
        self._require_model()
        save_model(path, self.app, self.app_config(), self.network)

    @classmethod
    def load(cls, path: str | os.PathLike, which: str = "best") -> Any:
        """A checkpoint file, a run directory's ``which`` checkpoint (``best.npz``, else
        ``latest.npz``; or ``"latest"``) or a safetensors file written by ``rnnkit
        export``. Raises :class:`~.checkpoint.CheckpointError` in one line naming the
        file for a missing, corrupt, foreign or newer file."""
        path = resolve_checkpoint(path, which)
        return cls.from_tree(load_model(path, app=cls.app), path, owned=True)

    @classmethod
    def from_tree(cls, tree: dict, path, owned: bool = False, load_weights: bool = True) -> Any:
        """The application of a loaded checkpoint ``tree`` read from ``path``: version
        checked, rebuilt from its config, weights loaded (``owned``: the network may keep
        the tree's arrays, no second copy)."""
        check_config_version(tree["config"], cls.config_version, path, cls.what)
        try:
            obj = cls.from_config(tree["config"], tree["model"], path)
            if load_weights:
                obj.network.load_state_dict(tree["model"], assign=owned)
                obj.network.eval()
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise config_error(path, cls.what, exc) from None
        return obj
