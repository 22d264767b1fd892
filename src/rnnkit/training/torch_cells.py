"""The minimal cells in PyTorch (Feng et al. 2024, arXiv 2410.01201): :class:`MinGRU` and
:class:`MinLSTM`, the layers ``torch.nn`` does not have, for the torch engines and the bridge.

Each is a ``torch.nn.Module`` with ``torch.nn.GRU``'s constructor (``input_size,
hidden_size, num_layers, bias, batch_first, dropout, bidirectional``) and call
(``module(input, h0=None) -> (output, h_n)``; ``input`` (T, B, I), (B, T, I) with
``batch_first``, or a ``PackedSequence``), and rnnkit's parameter names and layouts
(``weight_ih_l{k}[_reverse]`` (G*H, I), ``bias_ih_l{k}[_reverse]`` (G*H,); no ``*_hh``), so
the weights of :class:`rnnkit.nn.MinGRU` / :class:`rnnkit.nn.MinLSTM` load as they are. A cell
class names its module here by ``torch_module`` (:mod:`rnnkit.nn.cells`);
:func:`rnnkit.training.distributed.torch_layer` builds it.

Per layer and direction, as rnnkit's layer computes it::

    pre = x W_ih^T + b_ih                 (T, B, G*H), one matmul over the sequence
    a, b = coefficients(pre)              element-wise (the cell's equations)
    h_t = a_t * h_{t-1} + b_t             the element-wise linear recurrence

The recurrence runs as a loop over ``t`` of one multiply-add (autograd gives the exact
backward); the matmuls, where the time goes, run over the whole sequence at once. Padded
steps of a packed input keep the state and output zeros; the reverse direction reads each
sequence reversed inside its length. Dropout between layers as ``torch.nn.GRU``.

torch is imported with this module; nothing imports it but :func:`torch_layer`.
"""

from __future__ import annotations

import math

from ..extras import import_extra

torch = import_extra("torch", "torch")
nn = torch.nn


class _MinRNN(nn.Module):
    """What :class:`MinGRU` and :class:`MinLSTM` share (see the module docstring)."""

    #: gate blocks per direction (G)
    num_gates = 0

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.directions = 2 if bidirectional else 1
        G, H = self.num_gates, hidden_size
        bound = 1.0 / math.sqrt(H)  # rnnkit's (and PyTorch's) default
        for layer in range(num_layers):
            width = input_size if layer == 0 else H * self.directions
            for suffix in self._suffixes(layer):
                self.register_parameter(f"weight_ih{suffix}",
                                        nn.Parameter(torch.empty(G * H, width)))  # fmt: skip
                if bias:
                    self.register_parameter(f"bias_ih{suffix}",
                                            nn.Parameter(torch.empty(G * H)))  # fmt: skip
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.directions]

    def coefficients(self, pre):  # pragma: no cover - abstract
        """``(a, b)`` of ``h = a h_prev + b``, each (T, B, H), from ``pre`` (T, B, G*H)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def forward(self, input, hx=None):
        """``input`` (T, B, I) / (B, T, I) / PackedSequence, ``hx`` (D*L, B, H) or None ->
        ``(output, h_n)``: output as the input's layout (packed if it was), h_n (D*L, B, H)."""
        packed = isinstance(input, nn.utils.rnn.PackedSequence)
        lengths = None
        if packed:
            x, lengths = nn.utils.rnn.pad_packed_sequence(input, batch_first=self.batch_first)
        else:
            x = input
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        T, B, _ = x.shape
        H, D = self.hidden_size, self.directions
        if hx is None:
            hx = x.new_zeros(self.num_layers * D, B, H)
        mask = reverse = None
        if lengths is not None:
            lengths = lengths.to(x.device)
            steps = torch.arange(T, device=x.device)[:, None]  # (T, 1)
            mask = (steps < lengths[None, :])[:, :, None]  # (T, B, 1)
            # the reverse direction's step t of sequence b is t' = L_b - 1 - t inside its length
            reverse = torch.where(steps < lengths[None, :], lengths[None, :] - 1 - steps, steps)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                seq = x if d == 0 else self._reverse(x, reverse)
                pre = nn.functional.linear(seq, getattr(self, f"weight_ih{suffix}"),
                                           getattr(self, f"bias_ih{suffix}", None))  # fmt: skip
                a, b = self.coefficients(pre)  # (T, B, H) each
                if mask is not None:  # padded steps keep the state
                    a = torch.where(mask, a, torch.ones_like(a))
                    b = torch.where(mask, b, torch.zeros_like(b))
                h, states = hx[layer * D + d], []
                for t in range(T):
                    h = a[t] * h + b[t]
                    states.append(h)
                y = torch.stack(states)  # (T, B, H)
                outputs.append(y if d == 0 else self._reverse(y, reverse))
                finals.append(h)
            x = outputs[0] if D == 1 else torch.cat(outputs, dim=2)  # (T, B, D*H)
            if mask is not None:
                x = x * mask
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = nn.functional.dropout(x, self.dropout, training=True)
        output = x.transpose(0, 1) if self.batch_first else x
        if packed:
            output = nn.utils.rnn.pack_padded_sequence(
                output, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False
            )
        return output, torch.stack(finals)

    @staticmethod
    def _reverse(x, reverse):
        """``x`` (T, B, F) with each sequence reversed in time (inside its length, if any)."""
        if reverse is None:
            return x.flip(0)
        return x.gather(0, reverse[:, :, None].expand(-1, -1, x.shape[2]))


class MinGRU(_MinRNN):
    """minGRU (:class:`rnnkit.nn.cells.MinGRUCell`): blocks z, h~; ``a = 1 - σ(z)``,
    ``b = σ(z) h~``."""

    num_gates = 2

    def coefficients(self, pre):
        z, candidate = pre.chunk(2, dim=-1)
        return torch.sigmoid(-z), torch.sigmoid(z) * candidate


class MinLSTM(_MinRNN):
    """minLSTM (:class:`rnnkit.nn.cells.MinLSTMCell`): blocks f, i, h~; ``f, i = σ(.)``,
    ``a = f / (f + i)``, ``b = i / (f + i) h~``."""

    num_gates = 3

    def coefficients(self, pre):
        f, i, candidate = pre.chunk(3, dim=-1)
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        total = f + i
        return f / total, i / total * candidate


__all__ = ["MinGRU", "MinLSTM"]
