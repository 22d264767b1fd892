"""The torch engine: the classifier's training step with PyTorch doing forward and backward,
in one process or in many (``torchrun``, DistributedDataParallel).

    rnnkit sentiment train --train train.tsv --out runs/sst2 --engine torch
    torchrun --standalone --nproc_per_node 2 -m rnnkit.cli sentiment train \\
        --train train.tsv --out runs/sst2 --engine torch

Everything but the forward and backward is the NumPy engine's: the reading,
vocabulary, n-grams, distillation targets, the length-bucketed batches in the
order of :class:`rnnkit.sentiment.task.ClassificationTask` (which
:class:`TorchClassificationTask` extends), and the shared
:class:`rnnkit.training.Trainer` (optimizer, schedule, clipping, evaluation
cadence, early stopping, checkpoints, resume). :class:`TextClassifier` is the
network of :class:`rnnkit.sentiment.model.TextClassifier` in PyTorch, with the
same parameter names; the NumPy network keeps the master weights, and each
step of each of the ``N`` processes (:class:`rnnkit.training.distributed.Processes`) is::

    torch weights <- NumPy weights                  a copy (the device may be a GPU)
    rows = part rank of the batch's B examples      np.array_split(batch, N)[rank]
    logits = module(ids[rows], lengths[rows])       packed sequences: padding never counts
    loss = sum of the rows' losses * N / B          DDP averages the gradients over the
    loss.backward()                                 N processes: the batch's mean loss
    NumPy grads <- torch grads                      the trainer clips them and steps its
                                                    optimizer, the same on every process

so a batch means what it means in one process, whatever its size (the last
batches of a bucket are smaller), and the weights stay the same on every
process. Dropout (embedding, word, between layers, summary) draws from torch's
generator, one seeded stream per process, saved in every checkpoint. Evaluation
is the NumPy engine's (the same batches, losses in float64) with the logits
computed by PyTorch, the batches shared out among the processes. Only rank 0
opens, locks and writes the run directory, which is the ordinary one: either
engine resumes a run of the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..extras import import_extra
from ..text.batching import bucket_batches
from ..text.vocab import PAD_ID, UNK_ID
from ..training.distributed import Processes, torch_layer
from .data import batch_arrays
from .model import ModelConfig
from .model import TextClassifier as NumpyTextClassifier
from .task import EVAL_NUMBERS, ClassificationTask, probabilities

torch = import_extra("torch", "torch")
nn = torch.nn
F = torch.nn.functional

#: examples a process puts through the network at once when evaluating
EVAL_BATCH = 256


class TextClassifier(nn.Module):
    """The classifier's network (:class:`rnnkit.sentiment.model.TextClassifier`) in PyTorch:
    ``forward(ids (B, T) or (B, T, 1 + G) long, lengths (B,) long) -> logits (B, K)``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = self.config = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=PAD_ID)
        self.subword_embedding = None
        if c.num_subwords > 0:
            self.subword_embedding = nn.EmbeddingBag(
                c.num_subwords + 1, c.embedding_dim, mode="mean", padding_idx=0
            )
        self.embedding_dropout = nn.Dropout(c.embedding_dropout)
        self.directions = 2 if c.bidirectional else 1
        self.rnn = torch_layer(
            c.cell_class, c.embedding_dim, c.hidden_size, num_layers=c.num_layers,
            batch_first=True, dropout=c.dropout if c.num_layers > 1 else 0.0,
            bidirectional=c.bidirectional,
        )  # fmt: skip
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(self.directions * c.hidden_size, c.num_outputs)

    def forward(self, ids, lengths):
        grams = None
        if ids.dim() == 3:
            ids, grams = ids[:, :, 0], ids[:, :, 1:]  # (B, T), (B, T, G)
        if self.training and self.config.word_dropout > 0:
            hit = torch.rand(ids.shape, device=ids.device) < self.config.word_dropout
            ids = torch.where(hit & (ids != PAD_ID), torch.full_like(ids, UNK_ID), ids)
        x = self.embedding(ids)  # (B, T, E)
        if grams is not None and grams.shape[2] > 0 and self.subword_embedding is not None:
            B, T, G = grams.shape
            x = x + self.subword_embedding(grams.reshape(B * T, G)).reshape(B, T, -1)
        x = self.embedding_dropout(x)
        T = x.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        output, final = self.rnn(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=T)
        h_n = final[0] if isinstance(final, tuple) else final  # (D*L, B, H)
        last = torch.cat(list(h_n[-self.directions :]), dim=1)  # (B, D*H)
        return self.fc(self.dropout(_pool(output, lengths, last, self.config.pooling)))


def _pool(output, lengths, last, mode: str):
    """:func:`rnnkit.sentiment.pooling.pool_forward` in PyTorch: ``output (B, T, F)`` over
    each sequence's valid steps (the padded steps are zeros, from the packed layer)."""
    if mode == "last":
        return last
    T = output.shape[1]
    valid = (torch.arange(T, device=output.device)[None, :] < lengths[:, None])[:, :, None]
    if mode == "mean":
        return (output * valid).sum(dim=1) / lengths[:, None].to(output.dtype)
    return output.masked_fill(~valid, float("-inf")).max(dim=1).values  # max


def torch_network(network: NumpyTextClassifier) -> TextClassifier:
    """``network`` as a torch :class:`TextClassifier` with its weights, in its dtype (a frozen
    NumPy parameter is a frozen torch one)."""
    module = TextClassifier(network.config)
    dtype = torch.float64 if network.embedding.weight.data.dtype == np.float64 else torch.float32
    module = module.to(dtype)
    module.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value))
                            for name, value in network.state_dict().items()})  # fmt: skip
    own = dict(module.named_parameters())
    for name, p in network.named_parameters():
        own[name].requires_grad_(bool(p.requires_grad))
    return module


class TorchClassificationTask(ClassificationTask):
    """:class:`rnnkit.sentiment.task.ClassificationTask` with PyTorch computing the forward and
    backward of this process's share of every batch (see the module docstring)."""

    def __init__(
        self,
        model: NumpyTextClassifier,
        train_ids: Sequence[Sequence[int]],
        train_targets: np.ndarray,
        valid_ids: Sequence[Sequence[int]],
        valid_targets: np.ndarray,
        batch_size: int,
        processes: Processes,
        seed: int = 0,
    ):
        super().__init__(model, train_ids, train_targets, valid_ids, valid_targets, batch_size,
                         seed)  # fmt: skip
        processes.join()
        self.processes = processes
        self.module = torch_network(model).to(processes.device).train()
        self.ddp = self.module
        if processes.world_size > 1:
            cuda = processes.device.type == "cuda"
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.module, device_ids=[processes.device] if cuda else None
            )
        own = dict(self.module.named_parameters())
        self.pairs = [(p, own[name]) for name, p in model.named_parameters()]  # (NumPy, torch)
        # dropout: one seeded stream per process
        torch.manual_seed(int(np.random.SeedSequence((seed, processes.rank)).generate_state(1)[0]))

    def _push_weights(self) -> None:
        """The master (NumPy) weights into the torch module."""
        with torch.no_grad():
            for p, t in self.pairs:
                t.copy_(torch.from_numpy(p.data))

    def _tensors(self, sequences, index: np.ndarray):
        ids, lengths = batch_arrays(sequences, index)  # (b, T[, 1 + G]), (b,)
        device = self.processes.device
        return (torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)).to(device),
                torch.from_numpy(np.asarray(lengths, dtype=np.int64)).to(device))  # fmt: skip

    def _targets(self, index: np.ndarray, dtype):
        targets = torch.from_numpy(np.ascontiguousarray(self.train_targets[index]))
        targets = targets.to(self.processes.device)
        return targets.to(dtype) if targets.is_floating_point() else targets

    def train_step(self, epoch: int, index: int) -> tuple[float, int]:
        batch = self._batches_of(epoch)[index]
        N, B = self.processes.world_size, len(batch)
        mine = np.array_split(batch, N)[self.processes.rank]
        weight = N / B  # DDP's mean over the processes of (their sums * N / B): the batch's mean
        if len(mine) == 0:  # fewer examples than processes: take part with a weight of 0
            mine, weight = batch[:1], 0.0
        self._push_weights()
        self.module.train(self.model.training)
        ids, lengths = self._tensors(self.train_ids, mine)
        self.module.zero_grad(set_to_none=True)
        logits = self.ddp(ids, lengths)  # (b, K)
        total = _loss_sum(logits, self._targets(mine, logits.dtype), self.num_classes)
        (total * weight).backward()
        for p, t in self.pairs:
            if p.requires_grad:
                p.grad[...] = t.grad.detach().cpu().numpy()
        loss = self.processes.sum(float(total.item()) if weight else 0.0) / B
        return loss, int(self.lengths[batch].sum())  # the whole batch's tokens

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """The NumPy engine's evaluation (the same slices and batches, probabilities and losses
        in float64) with PyTorch computing the logits; the batches are shared out among the
        processes and the sums added up."""
        n = len(self.valid_ids)
        if n == 0:
            return {}
        self._push_weights()
        self.module.eval()
        N, rank = self.processes.world_size, self.processes.rank
        rows = max(1, EVAL_NUMBERS // self.num_classes)
        nll, correct, turn = 0.0, 0, 0
        for start in range(0, n, rows):
            sequences = self.valid_ids[start : start + rows]
            targets = self.valid_targets[start : start + rows]
            for index in bucket_batches([len(s) for s in sequences], EVAL_BATCH, shuffle=False):
                turn += 1
                if (turn - 1) % N != rank:
                    continue  # another process's batch
                logits = self.module(*self._tensors(sequences, index)).double().cpu().numpy()
                probs = probabilities(logits, self.num_classes)  # (b, C)
                picked = probs[np.arange(len(index)), targets[index]]
                nll += float(-np.log(np.clip(picked, 1e-12, None)).sum())
                correct += int((probs.argmax(axis=1) == targets[index]).sum())
        self.module.train()
        return {"val_loss": self.processes.sum(nll) / n,
                "val_accuracy": self.processes.sum(correct) / n}  # fmt: skip

    # -- resume ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The NumPy engine's task state and every process's torch random state
        (``(N, bytes)``), gathered: every process calls it."""
        procs = self.processes
        rng = self.processes.rng_state().to(procs.device)[None]  # (1, bytes)
        return {**super().state_dict(), "torch_rng": procs.gather(rng, dim=0).cpu().numpy()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        # a NumPy-engine checkpoint, or another number of processes or device: the seed stands
        rng = state.get("torch_rng")
        shape = (self.processes.world_size, self.processes.rng_state().numel())  # (N, bytes)
        if isinstance(rng, np.ndarray) and rng.dtype == np.uint8 and rng.shape == shape:
            self.processes.set_rng_state(torch.from_numpy(rng[self.processes.rank].copy()))


def _loss_sum(logits, targets, num_classes: int):
    """The summed loss of :class:`rnnkit.sentiment.task.ClassificationLoss` over the rows:
    binary cross-entropy on the single logit (two classes), else softmax cross-entropy;
    ``targets`` are class ids ``(b,)`` or probabilities ``(b, C)``."""
    if num_classes == 2:
        positive = targets[:, 1] if targets.dim() == 2 else targets
        return F.binary_cross_entropy_with_logits(
            logits[:, 0], positive.to(logits.dtype), reduction="sum"
        )
    return F.cross_entropy(logits, targets, reduction="sum")
