"""The processes of one ``torchrun`` job, for PyTorch engines (DistributedDataParallel).

:class:`Processes` implements :class:`rnnkit.training.Processes` (``rank``,
``world_size``, ``barrier``, ``max``) for the trainer, and the sums and gathers
a torch task needs (:mod:`rnnkit.textgen.torch_engine`,
:mod:`rnnkit.sentiment.torch_engine`), and :func:`torch_layer`, the ``torch.nn``
recurrent layer of an rnnkit cell. torch is imported
when a :class:`Processes` is made, not with this module: without it, making one
raises :class:`rnnkit.extras.MissingExtraError`, naming the extra to install.
"""

from __future__ import annotations

import gc
import importlib
import os

from ..extras import import_extra
from ..nn.cells import Cell


def _torch():
    return import_extra("torch", "torch")


class Processes:
    """This process's place among the ``world_size`` processes of a ``torchrun`` job (one
    process without torchrun) and its device: ``cuda:LOCAL_RANK`` when CUDA is there, else
    the CPU. The process group (nccl on CUDA, gloo on the CPU) is joined on first use.

    Implements :class:`rnnkit.training.Processes` (``rank``, ``world_size``, ``barrier``,
    ``max``) for the trainer, and the sums and gathers the task needs.
    """

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0):
        torch = _torch()
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        cuda = torch.cuda.is_available()
        self.device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
        self._joined = False  # this object initialized the process group

    @classmethod
    def from_env(cls) -> Processes:
        """From torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (joins nothing yet)."""
        world, rank, local = (_env_int(name, 1 if name == "WORLD_SIZE" else 0)
                              for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"))  # fmt: skip
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"RANK {rank} and WORLD_SIZE {world} do not describe a process group")
        return cls(rank, world, local)

    def join(self) -> None:
        """Join torchrun's process group (nothing to do for one process, or if joined)."""
        torch = _torch()
        if self.world_size == 1 or torch.distributed.is_initialized():
            return
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self._joined = True

    def close(self) -> None:
        """After training: leave the process group if this object joined it, once every
        process is done with it (a barrier) and the DDP wrappers are gone."""
        torch = _torch()
        if self._joined and torch.distributed.is_initialized():
            self.barrier()
            gc.collect()  # a DDP module left for the garbage collector outlives the group
            torch.distributed.destroy_process_group()
        self._joined = False

    # -- collectives (every process calls them, in the same order) ------------------
    def _all_reduce(self, values: list[float], op) -> list[float]:
        if self.world_size == 1:
            return values
        torch = _torch()
        self.join()
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor, op=op)
        return tensor.tolist()

    def sum(self, value: float) -> float:
        return self._all_reduce([value], _torch().distributed.ReduceOp.SUM)[0]

    def max(self, value: int) -> int:
        return int(self._all_reduce([value], _torch().distributed.ReduceOp.MAX)[0])

    def barrier(self) -> None:
        self.max(0)  # an all-reduce: the same on gloo and nccl

    def rng_state(self):
        """The state of the generator dropout draws from on this process's device (uint8)."""
        torch = _torch()
        device = self.device
        return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()

    def set_rng_state(self, state) -> None:
        torch = _torch()
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state, self.device)
        else:
            torch.set_rng_state(state)

    def gather(self, tensor, dim: int):
        """Every process's ``tensor`` (the same shape everywhere), concatenated along ``dim``
        in rank order."""
        if self.world_size == 1:
            return tensor
        torch = _torch()
        self.join()
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=dim)


def processes_for(engine: str, app: str) -> Processes | None:
    """The torch engine's processes (this one, or torchrun's); None for the NumPy engine,
    which is refused as one of several torchrun processes
    (:func:`refuse_numpy_engine_under_torchrun`)."""
    if engine == "numpy":
        refuse_numpy_engine_under_torchrun(app)
        return None
    from ..extras import MissingExtraError

    try:
        return Processes.from_env()  # imports torch
    except MissingExtraError as exc:
        raise MissingExtraError(f"engine {engine!r}: {exc}") from None


def refuse_numpy_engine_under_torchrun(app: str) -> None:
    """A NumPy-engine training started as one of several torchrun processes would be one
    independent run per process (all but one then fail on the run directory's lock): a
    ValueError saying so, before anything is read or written (torch is not imported)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return
    if world > 1:
        raise ValueError(
            f"this is one of {world} processes started by torchrun, but the numpy engine "
            f"trains in one process: use engine='torch' ({app} train --engine torch)"
        )


def torch_layer(cell: type[Cell], input_size: int, hidden_size: int, **kwargs):
    """The torch layer computing what rnnkit's layer of ``cell`` computes, built with its
    ``layer_options`` and ``kwargs``: the ``torch.nn`` class named by its ``torch_name``,
    else rnnkit's own torch module named by its ``torch_module`` (the minimal cells and the
    layer-normalised LSTM, see :mod:`.torch_cells`); a ValueError for a cell with neither.
    (Here, below the applications, so that every torch engine builds its recurrent layers the
    same way.)"""
    if cell.torch_name is None and cell.torch_module is None:
        raise ValueError(f"{cell.__name__} ({cell.options}) has no PyTorch counterpart")
    _torch()  # installed, or one line naming the extra
    module, _, name = (f"torch.nn.{cell.torch_name}" if cell.torch_name else cell.torch_module
                       ).rpartition(".")  # fmt: skip
    layer = getattr(importlib.import_module(module), name)
    return layer(input_size, hidden_size, **cell.layer_options, **kwargs)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, str(default))
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"environment variable {name} must be an integer, received {text!r}"
        ) from None
