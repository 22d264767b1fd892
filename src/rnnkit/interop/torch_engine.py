"""``rnnkit textgen train --engine torch``: the text generator's recipe with PyTorch doing
forward and backward, in one process or many (``torchrun``, DistributedDataParallel).

Everything but the forward and backward is the NumPy engine's: the corpus
reading, vocabulary, contiguous-stream batching with state carry, the shared
:class:`rnnkit.training.Trainer` (optimizer, learning-rate schedule, gradient
clipping, evaluation cadence, progress bar, metrics log, plots, checkpoints).
The NumPy network keeps the master weights; each step::

    torch weights <- numpy weights                    (a copy; the device may be a GPU)
    x, y = this process's streams of chunk `index`    (T, B/N) of the global (T, B)
    logits, state = torch_module(x, state)            state carried, as in the NumPy engine
    loss = cross_entropy(logits, y)                   mean over this process's characters
    loss.backward()                                   DDP averages the gradients over the N
                                                      processes: the global batch's mean
    numpy grads <- torch grads; the trainer clips and steps its optimizer (the same on
    every process, so the weights stay identical everywhere)

So the global batch and the learning rate mean what they mean in one process,
and the run directory is the ordinary one: ``textgen sample`` / ``eval``,
``rnnkit export`` and ``--engine numpy`` read and resume it. Only rank 0
creates and writes the run directory (and would take its lock: see
:func:`_open_run`); every process evaluates (the same numbers), the stop rule
and a Ctrl-C are agreed on by all, and a checkpoint holds the carried state of
all ``B`` streams, gathered from the processes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..nn import random as nnrandom
from ..textgen import CharLM
from ..textgen import api as textgen_api
from ..textgen.model import CharRNN, CharRNNConfig
from ..textgen.train import TrainSettings
from ..training import RunDir, Trainer, load_checkpoint
from ..training.checkpoint import save_checkpoint
from .extras import import_extra

torch = import_extra("torch", "torch")
from .torch import to_torch  # noqa: E402

ENGINES = ("numpy", "torch")


@dataclass
class Processes:
    """This process's place among ``world_size`` (1 without torchrun) and its device."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @classmethod
    def from_env(cls) -> Processes:
        """Join the process group torchrun describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
        if world > 1 and not torch.distributed.is_initialized():
            if device != "cpu":
                torch.cuda.set_device(device)
            torch.distributed.init_process_group("nccl" if device != "cpu" else "gloo")
        rank = torch.distributed.get_rank() if world > 1 else 0
        return cls(rank, world, device)

    def mean(self, value: float) -> float:
        if self.world_size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world_size

    def any(self, flag: bool) -> bool:
        if self.world_size == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, tensor, dim: int):
        """The processes' ``tensor`` concatenated along ``dim``, in rank order."""
        if self.world_size == 1:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=dim)


class TorchCharLMTask:
    """:class:`rnnkit.textgen.train.CharLMTask` with PyTorch computing the gradients."""

    unit = "chars"

    def __init__(self, network: CharRNN, batches, val_ids: np.ndarray, procs: Processes,
                 eval_streams: int = 64):  # fmt: skip
        B = batches.batch_size
        if B % procs.world_size:
            raise ValueError(f"--batch-size {B} must be a multiple of the {procs.world_size} processes")
        self.network, self.batches, self.val_ids, self.procs = network, batches, val_ids, procs
        self.eval_streams = eval_streams
        share = B // procs.world_size
        self.columns = slice(procs.rank * share, (procs.rank + 1) * share)  # this process's streams
        self.module = to_torch(network).to(procs.device).train()
        self.ddp = self.module
        if procs.world_size > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.module)
        own = dict(self.module.named_parameters())
        self.pairs = [(p, own[name]) for name, p in network.named_parameters()]  # (numpy, torch)
        self.state = None  # this process's share of the carried state, torch tensors

    def batches_per_epoch(self) -> int:
        return len(self.batches)

    def _sync_weights(self) -> None:
        with torch.no_grad():
            for p, t in self.pairs:
                t.copy_(torch.from_numpy(p.data))

    def _tensor(self, ids: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(ids).astype(np.int64)).to(self.procs.device)

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        if index == 0:
            self.state = None  # each epoch starts from zeros
        self._sync_weights()
        self.module.train(self.network.training)
        x, y = self.batches.chunk(index)  # (T, B) each
        x, y = self._tensor(x[:, self.columns]), self._tensor(y[:, self.columns])  # (T, B/N)
        self.module.zero_grad(set_to_none=True)
        logits, state = self.ddp(x, self.state)  # (T, B/N, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()  # DDP: the gradients are the mean over all processes
        self.state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        for p, t in self.pairs:
            p.grad[...] = t.grad.detach().cpu().numpy()
        return self.procs.mean(float(loss.item())), x.numel() * self.procs.world_size

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """The NumPy engine's evaluation (``evaluate_ids``), computed by PyTorch."""
        from ..text.corpus import eval_streams

        if len(self.val_ids) < 2:
            return {}
        self._sync_weights()
        self.module.eval()
        chunk_length = 256
        streams = max(1, min(self.eval_streams, (len(self.val_ids) - 1) // chunk_length))
        inputs, targets = eval_streams(self.val_ids, streams)  # (L, S)
        total, count, state = 0.0, 0, None
        for start in range(0, inputs.shape[0], chunk_length):
            x = self._tensor(inputs[start : start + chunk_length])
            logits, state = self.module(x, state)
            y = self._tensor(targets[start : start + chunk_length])
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).double(), y.reshape(-1), reduction="sum"))  # fmt: skip
            count += x.numel()
        self.module.train()
        nats = total / count
        return {"val_loss": nats, "val_bpc": nats / math.log(2)}

    def state_dict(self) -> dict:
        """The carried state of all B streams (as the NumPy engine saves it) and every
        process's torch random state (dropout), gathered: call it on every process."""
        carry = None
        if self.state is not None:
            parts = self.state if isinstance(self.state, tuple) else (self.state,)
            full = tuple(self.procs.gather(s, dim=1).cpu().numpy() for s in parts)  # (L, B, H)
            carry = full if isinstance(self.state, tuple) else full[0]
        rng = torch.get_rng_state().to(self.procs.device)
        return {"carry": carry, "torch_rng": self.procs.gather(rng[None], dim=0).cpu().numpy()}

    def load_state_dict(self, state: dict) -> None:
        carry = state["carry"]
        if carry is None:
            self.state = None
        else:
            parts = carry if isinstance(carry, tuple) else (carry,)
            mine = tuple(torch.from_numpy(np.ascontiguousarray(np.asarray(s)[:, self.columns])).to(self.procs.device)
                         for s in parts)  # fmt: skip
            self.state = mine if isinstance(carry, tuple) else mine[0]
        rng = state.get("torch_rng")  # absent in a NumPy-engine checkpoint: the seed stands
        if rng is not None and len(rng) == self.procs.world_size:
            torch.set_rng_state(torch.from_numpy(np.asarray(rng[self.procs.rank], dtype=np.uint8)))


class DistributedTrainer(Trainer):
    """The shared trainer, with what many processes must agree on: every process builds
    each checkpoint (the task gathers its state) and rank 0 writes it; a stop rule or
    Ctrl-C on any process stops all of them at the same step."""

    procs: Processes

    def _save(self) -> None:
        tree = self.checkpoint_tree()  # collective: on every process
        if self.run_dir is not None:
            save_checkpoint(self.run_dir.latest, tree)

    def _stop_rule(self, batches: int) -> str:
        reason = super()._stop_rule(batches)
        if self.procs.any(bool(reason)) and not reason:
            reason = "minutes"  # steps and epochs agree everywhere: only a clock can differ
        if self.procs.any(self._stop_requested):
            self._stop_requested = True
        return reason


def _trainer(lm: CharLM, task: TorchCharLMTask, run, epochs, steps, minutes, progress) -> Trainer:
    """The trainer ``CharLM`` builds for itself, run by the torch task."""
    procs = task.procs
    trainer = lm._trainer(task, run, epochs, steps, minutes, progress and procs.rank == 0)
    trainer.__class__ = DistributedTrainer  # same state and loop; saving and stopping agreed on
    trainer.procs = procs
    if procs.rank != 0:
        trainer.on_eval = None  # the sample is printed once
    return trainer


def _open_run(path, procs: Processes, **kwargs) -> RunDir | None:
    """The run directory on rank 0 (None elsewhere: only rank 0 writes).

    Where the run directory gets a lock, it is taken here, on rank 0 only.
    """
    return RunDir.create(path, **kwargs) if procs.rank == 0 and path is not None else None


def fit(lm: CharLM, text=None, *, encoding: str = "utf-8", out=None, force: bool = False,
        epochs=None, steps=None, minutes=None, progress: bool = True, **settings):  # fmt: skip
    """:meth:`CharLM.fit` with the torch engine (the same arguments and result)."""
    procs = Processes.from_env()
    unknown = sorted(set(settings) - set(TrainSettings.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown training settings {unknown}")
    train_settings = TrainSettings(**settings)
    train_settings.validate()
    if train_settings.batch_size % procs.world_size:
        raise ValueError(f"--batch-size {train_settings.batch_size} must be a multiple of the "
                         f"{procs.world_size} processes")  # fmt: skip
    corpus, data = textgen_api._source(text, encoding)
    vocab = textgen_api.CharVocab.from_text(corpus)
    batches, val_ids = textgen_api._split(corpus, vocab, train_settings)
    run = _open_run(out, procs, force=force)
    lm.settings, lm.data, lm.vocab, lm._corpus = train_settings, data, vocab, corpus
    nnrandom.manual_seed(train_settings.seed)  # the NumPy engine's initial weights
    torch.manual_seed(train_settings.seed * 1000 + procs.rank)  # dropout, per process
    lm.network = CharRNN(CharRNNConfig(vocab_size=len(vocab), **lm.arch))
    task = TorchCharLMTask(lm.network, batches, val_ids, procs)
    trainer = _trainer(lm, task, run, epochs, steps, minutes, progress)
    result = trainer.fit()
    trainer.use_average()
    return result


def resume(run_dir, *, epochs=None, steps=None, minutes=None, text=None, progress: bool = True):
    """:meth:`CharLM.resume` with the torch engine: continues a run of either engine exactly."""
    procs = Processes.from_env()
    latest = RunDir(Path(run_dir)).latest
    run = _open_run(run_dir, procs, resume=True)
    if run is None and not latest.is_file():
        RunDir.create(run_dir, resume=True)  # the same one-line error on every process
    tree = load_checkpoint(latest, app=textgen_api.APP)
    lm = CharLM.load(latest)
    if epochs is None and steps is None and minutes is None:  # the run's own stop rule
        saved = tree.get("trainer", {}).get("config", {})
        epochs, steps, minutes = saved.get("epochs"), saved.get("steps"), saved.get("minutes")
    lm._corpus = lm._training_text(text)
    batches, val_ids = textgen_api._split(lm._corpus, lm.vocab, lm.settings)
    torch.manual_seed(lm.settings.seed * 1000 + procs.rank)
    task = TorchCharLMTask(lm.network, batches, val_ids, procs)
    trainer = _trainer(lm, task, run, epochs, steps, minutes, progress)
    trainer.restore(tree)
    result = trainer.fit()
    trainer.use_average()
    return lm, result
