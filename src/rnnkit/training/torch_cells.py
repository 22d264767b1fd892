"""The cells ``torch.nn`` lacks, in PyTorch, for the torch engines and the bridge: the minimal
cells of Feng et al. 2024 (arXiv 2410.01201), :class:`MinGRU` and :class:`MinLSTM`, and the
layer-normalised LSTM of Ba et al. 2016 (arXiv 1607.06450), :class:`LayerNormLSTM`.

Each is a ``torch.nn.Module`` with the constructor of ``torch.nn.GRU`` / ``torch.nn.LSTM``
(``input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional``) and
their call (``module(input, hx=None) -> (output, h_n)``, ``(output, (h_n, c_n))`` for the
LSTM; ``input`` (T, B, I), (B, T, I) with ``batch_first``, or a ``PackedSequence``), and
rnnkit's parameter names and layouts, so the weights of :class:`rnnkit.nn.MinGRU`,
:class:`rnnkit.nn.MinLSTM` and :class:`rnnkit.nn.LayerNormLSTM` load as they are. A cell
class names its module here by ``torch_module`` (:mod:`rnnkit.nn.cells`);
:func:`rnnkit.training.distributed.torch_layer` builds it.

The minimal cells: ``weight_ih_l{k}[_reverse]`` (G*H, I), ``bias_ih_l{k}[_reverse]`` (G*H,)
(no ``*_hh``); per layer and direction, as rnnkit's layer computes it::

    pre = x W_ih^T + b_ih                 (T, B, G*H), one matmul over the sequence
    a, b = coefficients(pre)              element-wise (the cell's equations)
    h_t = a_t * h_{t-1} + b_t             the element-wise linear recurrence

The recurrence runs as a loop over ``t`` of one multiply-add (autograd gives the exact
backward); the matmuls, where the time goes, run over the whole sequence at once. Padded
steps of a packed input keep the state and output zeros; the reverse direction reads each
sequence reversed inside its length. Dropout between layers as ``torch.nn.GRU``.

The layer-normalised LSTM (:class:`rnnkit.nn.cells.LayerNormLSTMCell`): the LSTM's
parameters and ``weight_ln_ih``, ``weight_ln_hh`` (4H,), ``weight_ln_c`` (H,) gains,
``bias_ln_c`` (H,) shift (with ``bias``)::

    gx = LN(x W_ih^T; γ_ih) + b_ih        (T, B, 4H), over the sequence at once
    [i, f, g, o] = gx_t + LN(h_{t-1} W_hh^T; γ_hh) + b_hh
    c_t = σ(f) c_{t-1} + σ(i) tanh(g);  h_t = σ(o) tanh(LN(c_t; γ_c) + β_c)

with ``torch.nn.functional.layer_norm`` (eps 1e-5) and autograd's backward.

torch is imported with this module; nothing imports it but :func:`torch_layer`.
"""

from __future__ import annotations

import math

from ..extras import import_extra

torch = import_extra("torch", "torch")
nn = torch.nn


class _Recurrent(nn.Module):
    """What the layers here share: ``torch.nn.GRU``'s constructor and call, stacking,
    directions, packed sequences and dropout between layers; a subclass declares its
    parameters (:meth:`_parameter_spec`) and runs one direction (:meth:`_direction`)."""

    #: gate blocks per direction (G)
    num_gates = 0
    #: the state's tensors: 1 (h) or 2 (h, c; the call takes and returns them as a tuple)
    state_arity = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.directions = 2 if bidirectional else 1
        bound = 1.0 / math.sqrt(hidden_size)  # rnnkit's (and PyTorch's) default
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self._suffixes(layer):
                for name, shape, init in self._parameter_spec(width):
                    p = nn.Parameter(torch.empty(shape))
                    if init is None:
                        nn.init.uniform_(p, -bound, bound)
                    else:
                        nn.init.constant_(p, init)
                    self.register_parameter(f"{name}{suffix}", p)

    def _parameter_spec(self, width: int) -> list[tuple[str, tuple[int, ...], float | None]]:
        """``(name, shape, init)`` of one direction's parameters: ``init`` a constant, or None
        for U(-1/sqrt(H), 1/sqrt(H))."""
        G, H = self.num_gates, self.hidden_size
        spec = [("weight_ih", (G * H, width), None)]
        return spec + ([("bias_ih", (G * H,), None)] if self.bias else [])

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.directions]

    def _direction(self, seq, suffix: str, state: tuple, mask):  # pragma: no cover - abstract
        """One direction over ``seq`` (T, B, I) from ``state`` (tuple of (B, H)); ``mask``
        (T, B, 1) bool or None (padded steps keep the state). Returns ``(y (T, B, H), state)``."""
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
        """``input`` (T, B, I) / (B, T, I) / PackedSequence, ``hx`` (D*L, B, H) (a tuple
        ``(h0, c0)`` with a cell state) or None -> ``(output, h_n)`` (``(output, (h_n, c_n))``):
        output as the input's layout (packed if it was), each final state (D*L, B, H)."""
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
            hx = (x.new_zeros(self.num_layers * D, B, H),) * self.state_arity
        elif self.state_arity == 1:
            hx = (hx,)
        mask = reverse = None
        if lengths is not None:
            lengths = lengths.to(x.device)
            steps = torch.arange(T, device=x.device)[:, None]  # (T, 1)
            mask = (steps < lengths[None, :])[:, :, None]  # (T, B, 1)
            # the reverse direction's step t of sequence b is t' = L_b - 1 - t inside its length
            reverse = torch.where(steps < lengths[None, :], lengths[None, :] - 1 - steps, steps)
        finals: list[list] = [[] for _ in range(self.state_arity)]
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                seq = x if d == 0 else self._reverse(x, reverse)
                state = tuple(s[layer * D + d] for s in hx)
                y, state = self._direction(seq, suffix, state, mask)
                outputs.append(y if d == 0 else self._reverse(y, reverse))
                for kept, s in zip(finals, state, strict=True):
                    kept.append(s)
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
        final = tuple(torch.stack(kept) for kept in finals)
        return output, final if self.state_arity > 1 else final[0]

    @staticmethod
    def _reverse(x, reverse):
        """``x`` (T, B, F) with each sequence reversed in time (inside its length, if any)."""
        if reverse is None:
            return x.flip(0)
        return x.gather(0, reverse[:, :, None].expand(-1, -1, x.shape[2]))


class _MinRNN(_Recurrent):
    """What :class:`MinGRU` and :class:`MinLSTM` share (see the module docstring)."""

    def coefficients(self, pre):  # pragma: no cover - abstract
        """``(a, b)`` of ``h = a h_prev + b``, each (T, B, H), from ``pre`` (T, B, G*H)."""
        raise NotImplementedError

    def _direction(self, seq, suffix, state, mask):
        pre = nn.functional.linear(seq, getattr(self, f"weight_ih{suffix}"),
                                   getattr(self, f"bias_ih{suffix}", None))  # fmt: skip
        a, b = self.coefficients(pre)  # (T, B, H) each
        if mask is not None:  # padded steps keep the state
            a = torch.where(mask, a, torch.ones_like(a))
            b = torch.where(mask, b, torch.zeros_like(b))
        (h,), states = state, []
        for t in range(seq.shape[0]):
            h = a[t] * h + b[t]
            states.append(h)
        return torch.stack(states), (h,)  # (T, B, H)


class MinGRU(_MinRNN):
    """minGRU (:class:`rnnkit.nn.cells.MinGRUCell`): blocks z, h~; ``a = 1 - σ(z)``,
    ``b = σ(z) h~``."""

    num_gates = 2

    def coefficients(self, pre):
        z, candidate = pre.chunk(2, dim=-1)
        return torch.sigmoid(-z), torch.sigmoid(z) * candidate


class MinLSTM(_MinRNN):
    """minLSTM (:class:`rnnkit.nn.cells.MinLSTMCell`): blocks f, i, h~; ``f, i = σ(.)``,
    ``a = f / (f + i)``, ``b = i / (f + i) h~``, computed as ``a = σ(-d)``, ``b = σ(d) h~``
    with ``d = log(i / f) = softplus(-f_pre) - softplus(-i_pre)``, so that gates which both
    underflow give no 0/0 (nor a nan gradient)."""

    num_gates = 3

    def coefficients(self, pre):
        f_pre, i_pre, candidate = pre.chunk(3, dim=-1)
        d = torch.nn.functional.softplus(-f_pre) - torch.nn.functional.softplus(-i_pre)
        return torch.sigmoid(-d), torch.sigmoid(d) * candidate


class LayerNormLSTM(_Recurrent):
    """The layer-normalised LSTM (:class:`rnnkit.nn.cells.LayerNormLSTMCell`), with
    ``torch.nn.LSTM``'s call: ``module(input, (h0, c0)) -> (output, (h_n, c_n))``."""

    num_gates = 4
    state_arity = 2
    #: the ε of every normalisation (rnnkit's and ``torch.nn.LayerNorm``'s)
    eps = 1e-5

    def _parameter_spec(self, width):
        G, H = self.num_gates, self.hidden_size
        spec = [("weight_ih", (G * H, width), None), ("weight_hh", (G * H, H), None)]
        if self.bias:
            spec += [("bias_ih", (G * H,), None), ("bias_hh", (G * H,), None)]
        spec += [("weight_ln_ih", (G * H,), 1.0), ("weight_ln_hh", (G * H,), 1.0),
                 ("weight_ln_c", (H,), 1.0)]  # fmt: skip
        return spec + ([("bias_ln_c", (H,), 0.0)] if self.bias else [])

    def _direction(self, seq, suffix, state, mask):
        def p(name):
            return getattr(self, f"{name}{suffix}", None)

        def norm(a, gain, shift):
            return nn.functional.layer_norm(a, a.shape[-1:], gain, shift, self.eps)

        pre = nn.functional.linear(seq, p("weight_ih"))  # (T, B, 4H), all steps at once
        gx = norm(pre, p("weight_ln_ih"), p("bias_ih"))
        W_hh = p("weight_hh")
        (h, c), states = state, []
        for t in range(seq.shape[0]):
            acts = gx[t] + norm(h @ W_hh.T, p("weight_ln_hh"), p("bias_hh"))  # (B, 4H)
            i, f, g, o = acts.chunk(4, dim=-1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(norm(c_new, p("weight_ln_c"), p("bias_ln_c")))
            if mask is not None:  # padded steps keep the state
                h_new, c_new = torch.where(mask[t], h_new, h), torch.where(mask[t], c_new, c)
            h, c = h_new, c_new
            states.append(h)
        return torch.stack(states), (h, c)  # (T, B, H)


__all__ = ["LayerNormLSTM", "MinGRU", "MinLSTM"]
