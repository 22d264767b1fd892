"""The torch engine: the text generator's training step with PyTorch doing forward and backward,
in one process or in many (``torchrun``, DistributedDataParallel).

    rnnkit textgen train input.txt --out runs/big --engine torch
    torchrun --standalone --nproc_per_node 2 -m rnnkit.cli textgen train input.txt \\
        --out runs/big --engine torch

Everything but the forward and backward is the NumPy engine's: the corpus
reading, vocabulary, contiguous-stream batching with state carry, and the
shared :class:`rnnkit.training.Trainer` (optimizer, learning-rate schedule,
gradient clipping, evaluation cadence, samples, progress bar, metrics log,
plots, checkpoints, resume). :class:`TorchCharLMTask` takes the place of
:class:`rnnkit.textgen.train.CharLMTask` and :class:`CharRNN` (the network in
PyTorch, the same parameter names) the place of
:class:`rnnkit.textgen.model.CharRNN`; the NumPy network keeps the master
weights, and each step of each of the ``N`` processes
(:class:`rnnkit.training.distributed.Processes`) is::

    torch weights <- NumPy weights                   a copy (the device may be a GPU)
    x, y = rows rank*B/N .. (rank+1)*B/N of chunk i  (T, B/N): this process's streams
    logits, state = module(x, state)                 its share of the carried state
    loss = cross_entropy(logits, y)                  mean over its T*B/N characters
    loss.backward()                                  DDP averages the gradients over the
                                                     N processes: the global batch's mean
    NumPy grads <- torch grads                       the trainer clips them and steps its
                                                     optimizer, the same on every process

so the global batch ``B`` and the learning rate mean what they mean in one
process, and the weights stay the same on every process. The run directory
is the ordinary one (``textgen sample`` / ``eval``, ``rnnkit export`` and
``--engine numpy`` read and resume it): only rank 0 opens it, takes its lock
and writes it; every checkpoint holds the carried state of all ``B``
streams, gathered from the processes, and each process's torch random state
(dropout), so ``--resume`` with the same number of processes continues
exactly.
"""

from __future__ import annotations

import math

import numpy as np

from ..extras import import_extra
from ..nn.cells import cell_class
from ..text.corpus import StreamBatches
from ..training.distributed import Processes, torch_layer
from .evaluate import CHUNK_LENGTH, evaluation_streams
from .model import CELLS
from .model import CharRNN as NumpyCharRNN
from .train import check_carry

torch = import_extra("torch", "torch")
nn = torch.nn


class CharRNN(nn.Module):
    """The text generator's network (:class:`rnnkit.textgen.model.CharRNN`) in PyTorch."""

    def __init__(self, cell: str, vocab_size: int, embedding_dim: int, hidden_size: int,
                 num_layers: int, dropout: float = 0.0):  # fmt: skip
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = torch_layer(cell_class(cell, CELLS), embedding_dim, hidden_size,
                               num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, state=None):
        """``ids (T, B)`` long -> ``(logits (T, B, V), final state)``."""
        h, state = self.rnn(self.embedding(ids), state)  # (T, B, H)
        return self.decoder(self.dropout(h)), state


def torch_network(network: NumpyCharRNN) -> CharRNN:
    """``network`` as a torch :class:`CharRNN` with its weights, in its dtype."""
    c = network.config
    module = CharRNN(c.cell, c.vocab_size, c.embedding_dim, c.hidden_size, c.num_layers,
                     c.dropout)  # fmt: skip
    dtype = torch.float64 if network.embedding.weight.data.dtype == np.float64 else torch.float32
    module = module.to(dtype)
    module.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value))
                            for name, value in network.state_dict().items()})  # fmt: skip
    return module


class TorchCharLMTask:
    """:class:`rnnkit.textgen.train.CharLMTask` with PyTorch computing the forward and backward
    of this process's share of every batch (see the module docstring)."""

    unit = "chars"

    def __init__(self, network: NumpyCharRNN, batches: StreamBatches, val_ids: np.ndarray,
                 processes: Processes, seed: int = 0, eval_streams: int = 64):  # fmt: skip
        B, N = batches.batch_size, processes.world_size
        if B % N:
            raise ValueError(
                f"--batch-size {B} is not divisible by the {N} processes: each process takes "
                f"an equal share of the batch (give a multiple of {N})"
            )
        processes.join()
        self.network, self.batches, self.val_ids = network, batches, val_ids
        self.processes, self.eval_streams = processes, eval_streams
        share = B // N
        self.rows = slice(processes.rank * share, (processes.rank + 1) * share)  # its streams
        self.module = torch_network(network).to(processes.device).train()
        self.ddp = self.module
        if N > 1:
            cuda = processes.device.type == "cuda"
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.module, device_ids=[processes.device] if cuda else None
            )
        own = dict(self.module.named_parameters())
        self.pairs = [(p, own[name]) for name, p in network.named_parameters()]  # (NumPy, torch)
        self.state = None  # this process's rows of the carried state, torch tensors
        # dropout: one seeded stream per process
        torch.manual_seed(int(np.random.SeedSequence((seed, processes.rank)).generate_state(1)[0]))

    def batches_per_epoch(self) -> int:
        return len(self.batches)

    def _push_weights(self) -> None:
        """The master (NumPy) weights into the torch module."""
        with torch.no_grad():
            for p, t in self.pairs:
                t.copy_(torch.from_numpy(p.data))

    def _ids(self, ids: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)).to(
            self.processes.device
        )

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        if index == 0:
            self.state = None  # each epoch starts from zeros
        self._push_weights()
        self.module.train(self.network.training)
        x, y = self.batches.chunk(index)  # (T, B) each
        x, y = self._ids(x[:, self.rows]), self._ids(y[:, self.rows])  # (T, B/N)
        self.module.zero_grad(set_to_none=True)
        logits, state = self.ddp(x, self.state)  # (T, B/N, V)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        )  # mean over this process's characters
        loss.backward()  # DDP averages over the processes: the gradient of the global mean
        self.state = _detach(state)
        for p, t in self.pairs:
            p.grad[...] = t.grad.detach().cpu().numpy()
        N = self.processes.world_size
        return self.processes.sum(float(loss.item())) / N, x.numel() * N

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """The NumPy engine's evaluation (the same streams, read the same way), computed by
        PyTorch; the streams are shared out among the processes and the sums added up."""
        if len(self.val_ids) < 2:
            return {}
        self._push_weights()
        self.module.eval()
        inputs, targets = evaluation_streams(self.val_ids, self.eval_streams)  # (L, S) each
        mine = np.array_split(np.arange(inputs.shape[1]), self.processes.world_size)
        mine = mine[self.processes.rank]  # this process's streams
        total, state = 0.0, None
        if len(mine):
            for start in range(0, inputs.shape[0], CHUNK_LENGTH):
                x = self._ids(inputs[start : start + CHUNK_LENGTH, mine])  # (t, S/N)
                y = self._ids(targets[start : start + CHUNK_LENGTH, mine])
                logits, state = self.module(x, state)  # (t, S/N, V)
                total += float(torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]).double(), y.reshape(-1),
                    reduction="sum",
                ))  # fmt: skip
        self.module.train()
        nats = self.processes.sum(total) / inputs.size
        return {"val_loss": nats, "val_bpc": nats / math.log(2)}

    # -- resume ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The carried state of all ``B`` streams (the NumPy engine's format) and every
        process's torch random state (``(N, bytes)``), gathered: every process calls it."""
        procs, carry = self.processes, None
        if self.state is not None:
            parts = self.state if isinstance(self.state, tuple) else (self.state,)
            full = tuple(procs.gather(s, dim=1).cpu().numpy() for s in parts)  # (L, B, H)
            carry = full if isinstance(self.state, tuple) else full[0]
        rng = self.processes.rng_state().to(procs.device)[None]  # (1, bytes)
        return {"carry": carry, "torch_rng": procs.gather(rng, dim=0).cpu().numpy()}

    def load_state_dict(self, state: dict) -> None:
        carry = state["carry"]
        check_carry(carry, self.network.config, self.batches.batch_size)
        if carry is None:
            self.state = None
        else:
            parts = carry if isinstance(carry, tuple) else (carry,)
            mine = tuple(
                torch.from_numpy(np.ascontiguousarray(s[:, self.rows])).to(self.processes.device)
                for s in parts
            )  # (L, B/N, H): this process's rows
            self.state = mine if isinstance(carry, tuple) else mine[0]
        # a NumPy-engine checkpoint, or another number of processes or device: the seed stands
        rng = state.get("torch_rng")
        shape = (self.processes.world_size, self.processes.rng_state().numel())  # (N, bytes)
        if isinstance(rng, np.ndarray) and rng.dtype == np.uint8 and rng.shape == shape:
            self.processes.set_rng_state(torch.from_numpy(rng[self.processes.rank].copy()))


def _detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
