"""The training loop and checkpoint format shared by every application.

Both applications (``rnnkit.textgen``, ``rnnkit.sentiment``) train through the
one :class:`Trainer` and save through the one checkpoint format; neither keeps
a copy of its own. The application supplies a *task* (what one step and one
evaluation mean); the trainer supplies everything around it: the optimizer
step with gradient clipping and learning-rate schedule, stop rules, periodic
evaluation, progress bar, metrics log, loss-curve plot, NaN guard, early
stopping, checkpoints and exact resume.

The task (duck-typed, see :class:`TrainTask`)::

    class MyTask:
        unit = "chars"                      # what train_step counts (throughput "chars/s")
        def batches_per_epoch(self) -> int: ...
        def train_step(self, epoch: int, index: int) -> tuple[float, int]:
            # forward + backward on batch `index` of `epoch` (gradients were zeroed by
            # the trainer); return (mean loss, items in the batch). The batch order
            # must be a pure function of (epoch, index) plus the state below, so
            # that a resumed run sees the same batches.
        def evaluate(self) -> dict[str, float]:
            # e.g. {"val_loss": 1.61}; the model is in eval mode; must not draw
            # from the engine's random generator (use a private generator)
        def state_dict(self) -> dict: ...   # resume state of the task: carried hidden
        def load_state_dict(self, state: dict) -> None: ...  # state, app RNGs (arrays OK)

Running it::

    from rnnkit.training import RunDir, Trainer, TrainerConfig, load_checkpoint

    run = RunDir.create("runs/x")                       # refuses to clobber a run
    trainer = Trainer(task, model, optimizer, run,
                      TrainerConfig(steps=2000, eval_every=200, grad_clip=5.0,
                                    monitor="val_loss", mode="min", patience=None),
                      app="textgen", app_config=app_config,  # JSON: rebuilds the model
                      lr_schedule=lambda step, epoch: 2e-3 * 0.97 ** epoch,
                      on_eval=lambda trainer, metrics: print(metrics))
    result = trainer.fit()     # TrainResult(reason, step, epoch, metrics, best, best_step,
                               #             message): the caller prints result.message

    # exact resume (after Ctrl-C, a crash or a kill): same step, optimizer state,
    # data position, engine RNG and task state; metrics.jsonl is cut back to the
    # checkpoint's step so the replayed steps log the same losses again.
    run = RunDir.create("runs/x", resume=True)
    ckpt = load_checkpoint(run.latest, app="textgen")   # rebuild model from ckpt["config"]
    trainer = Trainer(task, model, optimizer, run, config, app="textgen",
                      app_config=ckpt["config"])
    trainer.restore(ckpt)
    trainer.fit()

Stop rules (:class:`TrainerConfig`): ``epochs``, ``steps``, ``minutes`` (wall
clock, evaluation included, carried across resume), whichever comes first;
early stopping after ``patience`` evaluations without improvement of
``monitor``; a non-finite loss or gradient norm stops at once without applying
the update (reason ``"diverged"``) and leaves the last good checkpoint alone.
Ctrl-C saves ``latest`` at the current step and stops (reason ``"interrupted"``);
a second Ctrl-C aborts. At the end of a run (not after an interruption) the
model is evaluated and saved once more unless that just happened.
Without a run directory (``run_dir=None``) nothing is written.

Several processes training one run (PyTorch DDP under ``torchrun``, see
:mod:`rnnkit.textgen.torch_engine`): every process runs the same trainer with
``processes=`` (a :class:`Processes`); the task shares each batch out and
averages the gradients, the trainer makes the processes agree on when to stop
and builds every checkpoint on all of them, and only rank 0 gets the run
directory (:func:`fit_run` with ``processes``).

Anything else a task needs to resume (a learning-rate scheduler's state, an
RNG of its own) goes into its ``state_dict``; it can step a plateau scheduler
inside ``evaluate``. ``optimizer`` is any ``rnnkit.nn.optim`` optimizer (``lr``
attribute, ``step``, ``zero_grad``, ``state_dict``/``load_state_dict``).

Run directory (:class:`RunDir`)::

    RUN_DIR/latest.npz     checkpoint at the last evaluation (resume from here)
    RUN_DIR/best.npz       checkpoint with the best `monitor` value so far
    RUN_DIR/metrics.jsonl  one JSON object per line: every `log_every` steps
                           {"step", "epoch", "train_loss", "lr", "<unit>_per_s",
                           "elapsed"}; at every evaluation {"step", "epoch",
                           **task.evaluate(), "elapsed"}
    RUN_DIR/loss.png       loss curves (matplotlib, imported lazily; skipped if absent)
    RUN_DIR/.rnnkit-run    the manifest, written first: the run's own names are its files
    RUN_DIR/.lock          the trainer's OS lock (its pid)
    RUN_DIR/.previous-run/ a run set aside by --force until the new run's first checkpoint
                           (with its journal; see :mod:`.rundir` for the crash-safety promise)

Checkpoint format ``rnnkit-checkpoint`` version 1 (:mod:`.checkpoint`): one
``.npz`` file (``np.savez``; read member by member, never with pickle, so loading
never runs code, and within bounds: see :func:`load_checkpoint`). Arrays sit
under flat ``/``-joined keys (``model/rnn.weight_ih_l0``,
``optimizer/state/0/exp_avg``); the key ``__meta__`` holds UTF-8 JSON bytes
(uint8 array)::

    {"format": "rnnkit-checkpoint", "version": 1, "rnnkit_version": "0.1.0",
     "created": "2025-01-01T12:00:00+00:00",
     "tree": {...}}      # the saved nested dict, every array replaced by
                         # {"__array__": "<key>"}; dicts with int keys are
                         # {"__intkeys__": [[k, v], ...]}, tuples {"__tuple__": [...]}

The tree written by the trainer::

    {"app": "textgen",           # which application wrote it
     "config": {...},            # JSON: model config, vocabulary, data settings
     "model": {name: array},     # Module.state_dict()
     "optimizer": {...},         # optimizer.state_dict()
     "trainer": {"step", "epoch", "index", "elapsed", "rng" (engine generator),
                 "best", "bad_evals", "interval" (partial train-loss sums), ...},
     "task": {...},              # TrainTask.state_dict()
     "metrics": {...}}           # the evaluation at this step

A model-only file (``CharLM.save``) has just ``app``, ``config`` and ``model``.
Saving is atomic (temporary file in the same directory, fsync, ``os.replace``):
a crash mid-write leaves the previous file intact. An improving evaluation writes
``latest`` and then copies it to ``best``; a kill between the two is repaired on
resume (:meth:`Trainer.restore` copies ``latest`` again). ``checkpoint.fault_hook``
lets tests kill a save at any file operation. Every load problem (missing,
truncated or corrupt file, another format, a newer version, missing arrays,
another application) raises :class:`CheckpointError` with a one-line message.
"""

from .checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    check_parameter_count,
    config_error,
    flatten_tree,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
    unflatten_tree,
)
from .metrics import MetricsLog, plot_metrics
from .model_file import load_model
from .rundir import RunDir, RunDirError, fit_run, resolve_checkpoint
from .settings import (
    ENGINES,
    EngineChoice,
    InitFrom,
    StopRule,
    check_positive,
    check_seed,
    from_dict,
    option,
    option_fields,
)
from .trainer import (
    Processes,
    Trainer,
    TrainerConfig,
    TrainResult,
    TrainTask,
    check_ema_decay,
)

__all__ = [
    "ENGINES",
    "EngineChoice",
    "InitFrom",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CheckpointError",
    "MetricsLog",
    "Processes",
    "RunDir",
    "RunDirError",
    "TrainResult",
    "TrainTask",
    "Trainer",
    "TrainerConfig",
    "StopRule",
    "check_ema_decay",
    "check_parameter_count",
    "check_positive",
    "check_seed",
    "config_error",
    "fit_run",
    "from_dict",
    "option",
    "option_fields",
    "resolve_checkpoint",
    "flatten_tree",
    "load_checkpoint",
    "load_model",
    "plot_metrics",
    "read_checkpoint_meta",
    "save_checkpoint",
    "unflatten_tree",
]
