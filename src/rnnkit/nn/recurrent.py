"""Recurrent layers over whole batched sequences: ``RNN``, ``LSTM``, ``GRU``.

Same constructor, shapes, parameter names and gate layouts as PyTorch's
``torch.nn.RNN`` / ``LSTM`` / ``GRU``, so weights move 1:1 through
``state_dict()``. The per-step math lives in :mod:`rnnkit.nn.cells`; this
module owns the time loop, stacking, directions, variable lengths and the
backward pass through time (BPTT).

How one (layer, direction) runs, for input ``X`` of shape (T, B, I)::

    Gx = X W_ih^T + b_ih                    one matmul for all T steps (T, B, G*H)
    for t in 0..T-1: h_t = cell.forward(Gx[t], h_{t-1})   the recurrent part only
    backward: walk t = T-1..0 collecting the gate gradients dGx (T, B, G*H), then
    dX = dGx W_ih,  dW_ih = dGx^T X,  dW_hh = dGx^T H_prev   (large matmuls;
    the GRU's candidate block has its own recurrent-side gradient)

Variable lengths (``lengths``, right-padded batches) follow PyTorch's packed
sequences: a sequence's state stops changing after its last valid step, its
outputs there are zero and its padded steps get no gradient. The reverse
direction of sequence ``b`` runs over ``t = lengths[b]-1 .. 0``: we reverse
each sequence inside its own length, run the forward recurrence, and reverse
the outputs back.

Truncated BPTT with state carry: pass the previous chunk's final state as the
next chunk's initial state. Everything this module returns is a fresh array
with no link to the graph, so the state is "detached" by construction; calling
``backward`` on the new chunk stops at its initial state (its gradient is
returned as ``grad_initial_state``, which you simply drop).
"""

from __future__ import annotations

import math

import numpy as np

from . import random as nnrandom
from . import registry
from .cells import (
    Cell,
    GRUCell,
    GRUResetBeforeCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    RNNReLUCell,
    RNNTanhCell,
    layer_norm,
    layer_norm_backward,
)
from .module import Module, Parameter, resolve_dtype, uniform_array
from .scan import linear_scan, linear_scan_adjoint


class _Direction:
    """What the reference path remembers between forward and backward of one (layer, direction):
    ``states`` (T+1, B, H) arrays, ``(H,)`` or ``(H, C)``, and the cells' per-step caches."""

    __slots__ = ("X", "states", "caches", "rev", "mask")


class RNNBase(Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`.

    ``cell`` (a :mod:`rnnkit.nn.cells` class, chosen once by the subclass among
    its ``cells``) does one step's math and selects the compiled kernels; ``mode``
    is PyTorch's name of the layer kind (``"RNN_TANH"``, ``"RNN_RELU"``,
    ``"LSTM"``, ``"GRU"``). :func:`build_layer` builds the layer of a cell class.
    """

    #: The cell classes this layer runs, the one its defaults select first.
    cells: tuple[type[Cell], ...] = ()

    def __init__(
        self,
        cell: Cell,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):  # fmt: skip
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), received {dropout!r}")
        self.cell = cell
        self.mode = cell.mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.dtype = resolve_dtype(dtype)
        self.num_directions = 2 if bidirectional else 1
        G, H = cell.num_gates, self.hidden_size
        bound = 1.0 / math.sqrt(H)  # PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)) everywhere
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else H * self.num_directions
            for suffix in self._suffixes(layer):
                sides = ("ih", "hh") if cell.recurrent_weights else ("ih",)  # minimal cells: ih
                for side in sides:
                    shape = (G * H, layer_input if side == "ih" else H)
                    setattr(self, f"weight_{side}{suffix}",
                            Parameter(uniform_array(shape, bound, self.dtype)))  # fmt: skip
                for side in sides if self.bias else ():
                    setattr(self, f"bias_{side}{suffix}",
                            Parameter(uniform_array((G * H,), bound, self.dtype)))  # fmt: skip
                if cell.layer_norm:  # gains start at 1, the shift at 0 (Ba et al. 2016)
                    for name, size in (("weight_ln_ih", G * H), ("weight_ln_hh", G * H),
                                       ("weight_ln_c", H), ("bias_ln_c", H)):  # fmt: skip
                        if self.bias or name.startswith("weight"):
                            init = np.ones if name.startswith("weight") else np.zeros
                            setattr(self, f"{name}{suffix}", Parameter(init(size, self.dtype)))
        self._cache = None
        # scratch arrays per (layer, direction), filled by the compiled drivers
        self._workspaces: dict[int, registry.Workspace] = {}

    @staticmethod
    def parameter_count(
        cell: Cell | type[Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
    ) -> int:
        """How many numbers the layer would hold, without building it (closed form).

        Per direction, layer 0 has ``G*H*(I + H)`` weights and layer ``k > 0``
        ``G*H*(D*H + H)``, plus ``2*G*H`` biases each (``G`` gates of ``cell``,
        ``D`` directions; the minimal cells have no ``W_hh``, ``b_hh``: no ``+ H``, one
        bias; the layer-normalised LSTM adds ``2*G*H + H`` gains and ``H`` shifts): what a
        checkpoint's sizes can be checked against before anything is allocated.
        """
        G, H, I, L = cell.num_gates, int(hidden_size), int(input_size), int(num_layers)
        D = 2 if bidirectional else 1
        sides = 2 if cell.recurrent_weights else 1
        hh = H if cell.recurrent_weights else 0
        per_direction = G * H * (I + hh) + (L - 1) * G * H * (D * H + hh)
        if bias:
            per_direction += L * sides * G * H
        if cell.layer_norm:  # gains of the two gate normalisations and of the cell state's, shift
            per_direction += L * (2 * G * H + H + (H if bias else 0))
        return D * per_direction

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def _weights(self, suffix: str):
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` Parameters, None where absent."""
        p = self._parameters
        b_ih = p.get(f"bias_ih{suffix}")
        b_hh = p.get(f"bias_hh{suffix}")
        return p[f"weight_ih{suffix}"], p.get(f"weight_hh{suffix}"), b_ih, b_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.cell.options:
            s += f", {self.cell.options}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.dtype != np.float32:
            s += f", dtype={self.dtype}"
        return s

    # -- input checking ---------------------------------------------------
    def _check_array(self, name: str, a, shape: tuple[int, ...]) -> np.ndarray:
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{name} must be a NumPy array, received {type(a).__name__}")
        if a.dtype != self.dtype:
            raise ValueError(f"{name} must have dtype {self.dtype}, received {a.dtype}")
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, received {a.shape}")
        return a

    def _check_input(self, x) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise ValueError(f"input must be a NumPy array, received {type(x).__name__}")
        if x.ndim != 3:
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"input must have 3 dimensions {layout}, received shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input must have {self.input_size} features in its last dimension, "
                             f"received {x.shape[-1]}")  # fmt: skip
        if x.dtype != self.dtype:
            raise ValueError(f"input must have dtype {self.dtype}, received {x.dtype}")
        if 0 in x.shape:
            raise ValueError(f"input must not be empty, received shape {x.shape}")
        return np.swapaxes(x, 0, 1) if self.batch_first else x

    def _check_lengths(self, lengths, T: int, B: int) -> np.ndarray | None:
        if lengths is None:
            return None
        lengths = np.asarray(lengths)
        if lengths.shape != (B,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"lengths must be {B} integers (one per sequence), received "
                             f"{lengths.dtype} array of shape {lengths.shape}")  # fmt: skip
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must lie in 1..{T} (the sequence length), received values "
                             f"from {lengths.min()} to {lengths.max()}")  # fmt: skip
        return lengths.astype(np.int64)

    def _split_state(self, state, B: int) -> tuple[np.ndarray, ...] | None:
        """The initial state as a tuple in the order of ``cell.state_names``, each (D*L, B, H)."""
        if state is None:
            return None
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        names = self.cell.state_names
        if len(names) == 1:
            return (self._check_array(f"{names[0]}0", state, shape),)
        if not (isinstance(state, (tuple, list)) and len(state) == len(names)):
            expected = ", ".join(f"{n}0" for n in names)
            raise ValueError(f"{type(self).__name__} state must be a tuple ({expected}), "
                             f"received {type(state).__name__}")  # fmt: skip
        return tuple(self._check_array(f"{n}0", s, shape)
                     for n, s in zip(names, state, strict=True))  # fmt: skip

    def _pack_state(self, arrays):
        """The public form of a state: ``h`` alone, or the tuple ``(h, c)``."""
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    # -- forward ----------------------------------------------------------
    def forward(self, x: np.ndarray, state=None, lengths=None):
        """Run the whole sequence.

        Args:
            x: (T, B, I), or (B, T, I) with ``batch_first``; dtype as the module.
            state: initial state (D*L, B, H); for the LSTM a tuple ``(h0, c0)``.
                ``None`` means zeros.
            lengths: optional (B,) ints in 1..T, the true length of each
                right-padded sequence.

        Returns:
            ``(output, final_state)``: output (T, B, D*H) (batch first if asked),
            zero at padded steps; final_state (D*L, B, H) (LSTM: ``(h_n, c_n)``),
            taken at each sequence's last valid step.
        """
        self._cache = None  # let the previous call's activations go before making new ones
        X = self._check_input(x)
        T, B, _ = X.shape
        lengths = self._check_lengths(lengths, T, B)
        init = self._split_state(state, B)
        with self._threads(T, B):
            return self._forward(X, init, lengths)

    def trace(self, input: np.ndarray, state=None, lengths=None) -> list[dict[str, np.ndarray]]:
        """Every layer's states and gate values at every step, for looking inside the network.

        Arguments as :meth:`forward` (``input`` (T, B, I), or (B, T, I) with
        ``batch_first``). Returns one dict per layer with, each of shape
        (T, B, D, H) (time first whatever ``batch_first``; D = num_directions):

        * ``"h"``: the hidden state after each step; the reverse direction's
          entry at ``t`` is its state after reading ``x_t``, so index ``t`` is
          always the time position;
        * ``"c"``: the cell state (LSTM only);
        * one key per gate name, ``cell.gate_names`` (``"i", "f", "g", "o"``
          for the LSTM, ``"r", "z", "n"`` for the GRU, none for the RNN): the
          gate values after their non-linearity.

        Padded steps (``t >= lengths[b]``) are zeros. Computed by the same
        cell code as :meth:`forward` (the compiled path when it is on), with
        no dropout and without touching what the last forward kept for
        :meth:`backward`. The last layer's ``"h"`` is the output reshaped to
        (T, B, D, H) (in eval mode, or without dropout, the same as forward's).
        """
        X = self._check_input(input)
        T, B, _ = X.shape
        lengths = self._check_lengths(lengths, T, B)
        init = self._split_state(state, B)
        with self._threads(T, B):
            _, _, layers, _, mask = self._run_layers(X, init, lengths, for_backward=False)
        cell, H = self.cell, self.hidden_size
        traced = []
        for runs in layers:
            per_direction = []
            for d, run in enumerate(runs):
                arrays = dict(zip(cell.state_names, (s[1:] for s in run.states), strict=True))
                if cell.gate_names:
                    acts = self._gate_values(run).reshape(T, B, cell.num_gates, H)
                    arrays.update((name, acts[:, :, j]) for j, name in enumerate(cell.gate_names))
                if mask is not None:  # padded steps are zeros
                    arrays = {name: a * mask for name, a in arrays.items()}
                if d == 1:  # back to time order
                    arrays = {name: self._apply_reverse(a, run.rev) for name, a in arrays.items()}
                per_direction.append(arrays)
            traced.append({name: np.stack([a[name] for a in per_direction], axis=2)
                           for name in per_direction[0]})  # fmt: skip
        return traced

    def _gate_values(self, run) -> np.ndarray:
        """(T, B, G*H): the gates of every step of a run, after their non-linearity."""
        if isinstance(run, _Direction):
            return np.stack([self.cell.gates(cache) for cache in run.caches])
        return run.acts  # the compiled path's run

    def _largest_matmul(self, rows: int) -> int:
        """Multiply-adds of the largest single matmul of a call over ``rows`` = T*B rows."""
        return rows * self._largest_weight()

    def _largest_weight(self) -> int:
        """Elements of the largest weight matrix of a layer."""
        width = max(self.input_size, self.hidden_size * self.num_directions)
        return self.cell.num_gates * self.hidden_size * width

    def _threads(self, T: int, B: int):
        """The BLAS thread region of a call over T steps of B rows (:func:`registry.threads`)."""
        return registry.threads(self._largest_matmul(T * B), T, self._largest_weight())

    def _forward(self, X, init, lengths):
        output, finals, layers, dropout_masks, _ = self._run_layers(X, init, lengths,
                                                                    for_backward=True)
        T, B, _ = X.shape
        self._cache = (layers, dropout_masks, B, T)
        output = np.swapaxes(output, 0, 1) if self.batch_first else output
        return np.ascontiguousarray(output), self._pack_state(finals)

    def _run_layers(self, X, init, lengths, for_backward: bool):
        """Every layer and direction over X (T, B, I) from the initial state ``init``.

        Returns ``(output (T, B, D*H), finals, runs, dropout_masks, mask)``:
        ``finals`` one (D*L, B, H) array per state name, ``runs[layer][d]`` what
        backward (or trace) reads. ``for_backward``: the layer's kept scratch
        arrays and, in training, dropout between layers; else fresh arrays and
        no dropout (trace), so the run kept for backward stays intact.
        """
        T, B, _ = X.shape
        H, D, dt = self.hidden_size, self.num_directions, self.dtype
        mask = None
        if lengths is not None and lengths.min() < T:
            mask = (np.arange(T)[:, None] < lengths[None, :]).astype(dt)[:, :, None]  # (T, B, 1)
        rev = self._reverse_index(lengths, T, B) if D == 2 else None

        zeros = (np.zeros((B, H), dtype=dt),) * self.cell.state_arity
        finals = [np.empty((self.num_layers * D, B, H), dtype=dt) for _ in zeros]
        layers, dropout_masks = [], []
        layer_input = X
        for layer in range(self.num_layers):
            outputs, runs = [], []
            for d, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + d
                state0 = zeros if init is None else tuple(s[k] for s in init)
                Xd = layer_input if d == 0 else self._apply_reverse(layer_input, rev)
                ws = (self._workspaces.setdefault(k, registry.Workspace()) if for_backward
                      else registry.Workspace())  # fmt: skip
                run = self._run_direction(Xd, state0, self._weights(suffix), mask, ws)
                run.rev = rev if d == 1 else None
                Hs = run.states[0]
                Y = Hs[1:] if mask is None else Hs[1:] * mask  # (T, B, H)
                outputs.append(Y if d == 0 else self._apply_reverse(Y, rev))
                for final, states in zip(finals, run.states, strict=True):
                    final[k] = states[-1]
                runs.append(run)
            layers.append(runs)
            out = outputs[0] if D == 1 else np.concatenate(outputs, axis=2)  # (T, B, D*H)
            drop = None
            if for_backward and self.training and self.dropout > 0 and layer < self.num_layers - 1:
                keep = nnrandom.get_rng().random(out.shape) >= self.dropout
                drop = keep.astype(dt) / dt.type(1.0 - self.dropout)
                out = out * drop
            dropout_masks.append(drop)
            layer_input = out
        return layer_input, finals, layers, dropout_masks, mask

    @staticmethod
    def _reverse_index(lengths, T: int, B: int):
        """Time index that reverses each sequence inside its own length (an involution)."""
        if lengths is None:
            return None
        t = np.arange(T)[:, None]
        idx = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)
        return idx, np.broadcast_to(np.arange(B)[None, :], (T, B))

    @staticmethod
    def _apply_reverse(a: np.ndarray, rev) -> np.ndarray:
        if rev is None:
            return a[::-1]
        return a[rev[0], rev[1]]

    def _run_direction(self, X, state0, weights, mask, ws):
        """The time loop of one (layer, direction) over X (T, B, I): compiled or reference."""
        X = np.ascontiguousarray(X)
        W_ih, W_hh, b_ih, b_hh = (None if p is None else p.data for p in weights)
        compiled = registry.forward_driver(self.cell)  # None: the fast path is off or has none
        if compiled is not None:
            return compiled(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws)
        return self._reference_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask)

    def _reference_forward(self, X, state0, W_ih, W_hh, b_ih, b_hh, mask) -> _Direction:
        """The readable time loop: one ``cell.forward`` per step."""
        T, B, _ = X.shape
        Gx = (X.reshape(T * B, -1) @ W_ih.T).reshape(T, B, -1)  # (T, B, G*H): all steps at once
        if b_ih is not None:
            Gx += b_ih
        return self._time_loop(_Direction(), X, Gx, state0, mask, (W_hh, b_hh))

    def _time_loop(self, run, X, Gx, state0, mask, step_args: tuple):
        """``run`` filled with the states (T+1, B, H) and caches of ``cell.forward(Gx[t],
        state, *step_args)`` for t = 0..T-1 (masked steps keep the state)."""
        cell = self.cell
        T, B = Gx.shape[:2]
        S = np.empty((cell.state_arity, T + 1, B, self.hidden_size), dtype=self.dtype)
        S[:, 0] = state0  # S[:, t+1]: the state after step t
        caches = []
        for t in range(T):
            prev = tuple(S[:, t])
            state, cache = cell.forward(Gx[t], prev, *step_args)
            if mask is not None:  # a finished sequence keeps its state
                m = mask[t]
                state = [p + m * (s - p) for s, p in zip(state, prev, strict=True)]
            S[:, t + 1] = state
            caches.append(cache)
        run.X, run.states, run.caches, run.mask = X, tuple(S), caches, mask
        return run

    # -- backward -----------------------------------------------------------
    def backward(self, grad_output: np.ndarray, grad_final_state=None):
        """Backpropagation through time for the last forward.

        Args:
            grad_output: dLoss/doutput, shaped like the output.
            grad_final_state: dLoss/dfinal_state, shaped like the final state
                (LSTM: a tuple; either element may be None), or None.

        Returns:
            ``(grad_input, grad_initial_state)`` shaped like the input and the
            state (LSTM: a tuple). Parameter gradients are accumulated into
            ``param.grad``.
        """
        if self._cache is None:
            raise RuntimeError("backward needs a forward first (and runs once per forward)")
        _, _, B, T = self._cache
        H, D = self.hidden_size, self.num_directions
        out_shape = (B, T, D * H) if self.batch_first else (T, B, D * H)
        dY_all = self._check_array("grad_output", grad_output, out_shape)
        if self.batch_first:
            dY_all = np.swapaxes(dY_all, 0, 1)
        state_shape = (self.num_layers * D, B, H)
        names = self.cell.state_names
        dfinal = [None] * len(names)
        if grad_final_state is not None:
            parts = (grad_final_state,) if len(names) == 1 else grad_final_state
            if not (isinstance(parts, (tuple, list)) and len(parts) == len(names)):
                expected = ", ".join(f"grad_{n}_n" for n in names)
                raise ValueError(f"grad_final_state must be a tuple ({expected}), "
                                 f"received {type(parts).__name__}")  # fmt: skip
            for j, (name, g) in enumerate(zip(names, parts, strict=True)):
                if g is not None:
                    dfinal[j] = self._check_array(f"grad_{name}_n", g, state_shape)
        with self._threads(T, B):
            grads = self._backward(dY_all, dfinal)
        self._cache = None  # one backward per forward (the scratch arrays stay for the next step)
        return grads

    def _backward(self, dY_all, dfinal):
        layers, dropout_masks, B, T = self._cache
        H, D, dt = self.hidden_size, self.num_directions, self.dtype
        dinit = [np.zeros((self.num_layers * D, B, H), dtype=dt) for _ in dfinal]

        for layer in reversed(range(self.num_layers)):
            drop = dropout_masks[layer]
            if drop is not None:
                dY_all = dY_all * drop
            grad_in = None
            for d, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + d
                run = layers[layer][d]
                dY = dY_all[:, :, d * H : (d + 1) * H]
                if d == 1:
                    dY = self._apply_reverse(dY, run.rev)
                dstate = tuple(np.zeros((B, H), dt) if g is None else g[k].copy() for g in dfinal)
                dX, dstate0 = self._backward_direction(run, dY, dstate, self._weights(suffix))
                if d == 1:
                    dX = self._apply_reverse(dX, run.rev)
                grad_in = dX if grad_in is None else grad_in + dX
                for g0, g in zip(dinit, dstate0, strict=True):
                    g0[k] = g
            dY_all = grad_in

        grad_input = np.swapaxes(dY_all, 0, 1) if self.batch_first else dY_all
        return np.ascontiguousarray(grad_input), self._pack_state(dinit)

    def _backward_direction(self, run, dY, dstate, weights):
        """BPTT through one (layer, direction); returns (dX, dstate0)."""
        W_hh = None if weights[1] is None else weights[1].data
        if isinstance(run, _Direction):
            dGx, dGh_n, n_input, dstate0 = self._reference_backward(run, dY, dstate, W_hh)
        else:  # the forward ran the compiled driver: so does backward
            backward = registry.backward_driver(self.cell)
            dGx, dGh_n, n_input, dstate0 = backward(run, dY, dstate, W_hh)
        return self._weight_gradients(run, dGx, dGh_n, n_input, weights), dstate0

    def _reference_backward(self, run: _Direction, dY, dstate, W_hh):
        """The readable BPTT loop: one ``cell.backward`` per step, t = T-1..0.

        Returns ``(dGx, dGh_n, n_input, dstate0)`` as the fast path's drivers do
        (:mod:`rnnkit.nn.fast`): ``dGh_n`` the recurrent side's gradient of the
        last gate block where the cell says it differs, ``n_input`` that
        block's matmul input where it is not ``h_prev``.
        """
        cell, X, caches, mask = self.cell, run.X, run.caches, run.mask
        T, B, _ = X.shape
        H = self.hidden_size
        dGx = np.empty((T, B, cell.num_gates * H), dtype=self.dtype)
        dGh_n = np.empty((T, B, H), dtype=self.dtype) if cell.separate_recurrent_grad else None
        for t in reversed(range(T)):
            # the output at t is h_t; padded outputs are constants
            dh = dstate[0] + (dY[t] if mask is None else dY[t] * mask[t])
            dstate = (dh, *dstate[1:])
            if mask is not None:  # a padded step passes the gradient straight through
                m = mask[t]
                skip = [g * (1 - m) for g in dstate]
                dstate = tuple(g * m for g in dstate)
            dgx, dgh, dstate = cell.backward(dstate, caches[t], W_hh)
            dGx[t] = dgx
            if dGh_n is not None:
                dGh_n[t] = dgh[:, -H:]
            if mask is not None:
                dstate = tuple(g + s for g, s in zip(dstate, skip, strict=True))
        first = cell.candidate_input(caches[0])
        n_input = None if first is None else np.stack([cell.candidate_input(c) for c in caches])
        return dGx, dGh_n, n_input, dstate

    def _weight_gradients(self, run, dGx, dGh_n, n_input, weights) -> np.ndarray:
        """Parameter gradients as a few large matmuls over all T*B rows; returns dX (T, B, I).

        ``dGh_n`` (T, B, H): the recurrent side's gradient of the last gate block
        where it differs from ``dGx`` (the GRU, reset after), else None;
        ``n_input`` (T, B, H): that block's matmul input where it is not
        ``h_prev`` (the GRU, reset before: r * h_prev), else None.
        """
        p_ih, p_hh, p_bih, p_bhh = weights
        X, Hs = run.X, run.states[0]
        T, B, _ = X.shape
        H = self.hidden_size
        dGx2 = dGx.reshape(T * B, -1)  # (T*B, G*H)
        Hprev = Hs[:-1].reshape(T * B, H)
        X2 = X.reshape(T * B, -1)
        XH = None  # the fast path's [x_t, h_prev, 1] rows, where its loop kept them
        if not isinstance(run, _Direction):
            # on the fast path's threads: rows of dW split over the time loops' threads
            def add_product(dW, dG, A):  # dW += dG^T A
                registry.matmul(dG.T, A, dW, accumulate=True)

            dX = registry.matmul(dGx2, p_ih.data, np.empty((T * B, X2.shape[1]), dtype=dGx.dtype))
            both = p_ih.requires_grad and p_hh is not None and p_hh.requires_grad
            kept = getattr(run, "XH", None)  # (the scan of the minimal cells keeps none)
            if kept is not None and both and dGh_n is None and n_input is None:
                XH = kept[:T].reshape(T * B, -1)
        else:
            # computed as (A^T dG)^T: OpenBLAS is up to 15% faster with the long T*B
            # dimension of both operands in this order
            def add_product(dW, dG, A):  # dW += dG^T A
                dW += (A.T @ dG).T

            dX = dGx2 @ p_ih.data
        db = None
        if XH is not None:  # dW_ih, dW_hh and db in one product: dG^T [X, H_prev, 1]
            I = X2.shape[1]
            dW = registry.matmul(dGx2.T, XH, np.empty((dGx2.shape[1], XH.shape[1]), dGx.dtype))
            p_ih.grad += dW[:, :I]
            p_hh.grad += dW[:, I : I + H]
            db = dW[:, I + H]
        elif p_ih.requires_grad:
            add_product(p_ih.grad, dGx2, X2)
        if p_bih is not None and db is None:
            db = dGx2.sum(axis=0)
        if p_bih is not None and p_bih.requires_grad:
            p_bih.grad += db
        if p_hh is None:  # the minimal cells: no recurrent weights
            pass
        elif dGh_n is None and n_input is None:  # the recurrent side has the same gate gradients
            if p_hh.requires_grad and XH is None:
                add_product(p_hh.grad, dGx2, Hprev)
            if p_bhh is not None and p_bhh.requires_grad:
                p_bhh.grad += db
        else:  # the GRU: the first blocks as above; the candidate block has its own
            dGh_last = (dGx[:, :, -H:] if dGh_n is None else dGh_n).reshape(T * B, H)
            if p_hh.requires_grad:
                last_input = Hprev if n_input is None else n_input.reshape(T * B, H)
                add_product(p_hh.grad[:-H], dGx2[:, :-H], Hprev)
                add_product(p_hh.grad[-H:], dGh_last, last_input)
            if p_bhh is not None and p_bhh.requires_grad:
                p_bhh.grad[:-H] += db[:-H]
                p_bhh.grad[-H:] += dGh_last.sum(axis=0)
        return dX.reshape(T, B, -1)


def build_layer(cell: type[Cell], input_size: int, hidden_size: int, **kwargs) -> RNNBase:
    """The layer (:class:`RNN`, :class:`LSTM`, :class:`GRU`, :class:`MinGRU`,
    :class:`MinLSTM` or :class:`LayerNormLSTM`) that runs ``cell``, built with
    the options that select it (``cell.layer_options``) and ``kwargs`` (``num_layers``,
    ``dropout``, ``dtype``, ...)."""
    for layer in (RNN, LSTM, GRU, MinGRU, MinLSTM, LayerNormLSTM):
        if cell in layer.cells:
            return layer(input_size, hidden_size, **cell.layer_options, **kwargs)
    raise ValueError(f"no recurrent layer runs {cell.__name__}")


class RNN(RNNBase):
    """Elman RNN: ``h_t = φ(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, φ = tanh or relu.

    Parameters per layer k (and ``_reverse`` for the backward direction):
    ``weight_ih_lk`` (H, I or D*H), ``weight_hh_lk`` (H, H), ``bias_ih_lk``,
    ``bias_hh_lk`` (H,). Cell: :class:`~rnnkit.nn.cells.RNNTanhCell` or
    :class:`~rnnkit.nn.cells.RNNReLUCell`.
    """

    cells = (RNNTanhCell, RNNReLUCell)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=np.float32) -> None:
        cell = {"tanh": RNNTanhCell, "relu": RNNReLUCell}.get(nonlinearity)
        if cell is None:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', received {nonlinearity!r}")
        super().__init__(cell(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; equations in :class:`rnnkit.nn.cells.LSTMCell`.

    Parameters per layer k: ``weight_ih_lk`` (4H, I or D*H), ``weight_hh_lk``
    (4H, H), ``bias_ih_lk``, ``bias_hh_lk`` (4H,), gate blocks in order i, f, g, o.
    State is a tuple ``(h, c)``, each (D*L, B, H).
    """

    cells = (LSTMCell,)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32) -> None:
        super().__init__(LSTMCell(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)


class GRU(RNNBase):
    """Gated recurrent unit; equations in :class:`rnnkit.nn.cells.GRUCell`.

    ``reset_after=True`` is PyTorch's form (:class:`~rnnkit.nn.cells.GRUCell`),
    ``False`` the original Cho et al. form, reset applied to h before the
    matmul (:class:`~rnnkit.nn.cells.GRUResetBeforeCell`). Parameters per
    layer k: ``weight_ih_lk`` (3H, I or D*H), ``weight_hh_lk`` (3H, H), biases
    (3H,), gate blocks in order r, z, n.
    """

    cells = (GRUCell, GRUResetBeforeCell)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32, reset_after: bool = True) -> None:
        cell = GRUCell() if reset_after else GRUResetBeforeCell()
        super().__init__(cell, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)
        self.reset_after = bool(reset_after)


class _ScanRun:
    """What the scan path remembers of one (layer, direction): ``states`` ((T+1, B, H),),
    ``acts`` (T, B, G*H) the gate values, and the recurrence's coefficients: ``log_a``
    (T, B, H) on the log-space scan (0 at padded steps), or ``a`` with the compiled
    ``kernels`` (:class:`~rnnkit.nn.registry.ScanKernels`) that computed them."""

    __slots__ = ("X", "states", "acts", "log_a", "mask", "rev", "a", "kernels")


class MinRNNBase(RNNBase):
    """Shared machinery of :class:`MinGRU` and :class:`MinLSTM` (Feng et al. 2024).

    Same layout, stacking, directions, dropout, ``lengths`` and state carry as the other
    layers; parameters ``weight_ih_lk`` (G*H, I or D*H) and ``bias_ih_lk`` (G*H,) only (no
    hidden-to-hidden weights). The state is ``h`` alone.

    ``scan=True`` (default) solves each direction's recurrence ``h_t = a_t h_{t-1} + b_t``
    for all steps at once (:mod:`rnnkit.nn.scan`: one matmul for the gates, a log-space
    scan, its adjoint a reverse scan); ``scan=False`` runs the readable per-step loop of
    the cell (:class:`~rnnkit.nn.cells.MinGRUCell`), the definition. Both compute the
    same function (the tests check one against the other). Padded steps have ``a = 1``,
    ``b = 0``: the state is kept and the gradient passes straight through.
    """

    def __init__(self, cell: Cell, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype=np.float32, scan: bool = True) -> None:
        super().__init__(cell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype)  # fmt: skip
        self.scan = bool(scan)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.scan else ", scan=False")

    def _run_direction(self, X, state0, weights, mask, ws):
        if not self.scan:  # the reference loop (the fast path has scan kernels only)
            return super()._run_direction(X, state0, weights, mask, ws)
        X = np.ascontiguousarray(X)
        T, B, _ = X.shape
        W_ih, _, b_ih, _ = weights
        Gx = (X.reshape(T * B, -1) @ W_ih.data.T).reshape(T, B, -1)  # (T, B, G*H)
        if b_ih is not None:
            Gx += b_ih.data
        run = _ScanRun()
        run.X, run.mask = X, mask
        run.kernels = kernels = registry.scan_kernels(self.cell)  # compiled, when the path is on
        if kernels is not None:
            run.a, b, run.acts = kernels.coefficients(Gx, mask)
            run.states = (kernels.recurrence(run.a, b, state0[0]),)  # ((T+1, B, H),)
            return run
        log_a, b, acts = self.cell.coefficients(Gx)  # (T, B, H), (T, B, H), (T, B, G*H)
        if mask is not None:  # padded steps: a = 1, b = 0
            log_a, b = log_a * mask, b * mask
        run.acts, run.log_a = acts, log_a
        run.states = (linear_scan(log_a, b, state0[0]),)  # ((T+1, B, H),)
        return run

    def _backward_direction(self, run, dY, dstate, weights):
        if not isinstance(run, _ScanRun):
            return super()._backward_direction(run, dY, dstate, weights)
        mask = run.mask
        if mask is not None:  # padded outputs are constants
            dY = dY * mask
        Hs = run.states[0]
        if run.kernels is not None:  # the compiled path, as the forward took it
            lam = run.kernels.adjoint(run.a, dY, dstate[0])  # (T, B, H): dL/dh_t, all of it
            dGx = run.kernels.backward(lam if mask is None else lam * mask, run.acts, Hs[:-1],
                                       run.a)  # fmt: skip
            dh0 = run.a[0] * lam[0]  # (B, H)
            return self._weight_gradients(run, dGx, None, None, weights), (dh0,)
        lam = linear_scan_adjoint(run.log_a, dY, dstate[0])  # (T, B, H): dL/dh_t, all of it
        # the cell's step backward is element-wise: all T steps in one call
        dGx, _, _ = self.cell.backward((lam if mask is None else lam * mask,), (run.acts, Hs[:-1]))
        dh0 = np.exp(run.log_a[0]) * lam[0]  # (B, H)
        return self._weight_gradients(run, dGx, None, None, weights), (dh0,)


class MinGRU(MinRNNBase):
    """minGRU (Feng et al. 2024): ``h_t = (1 - z_t) h_{t-1} + z_t h~_t``, ``z_t = σ(W_z x_t +
    b_z)``, ``h~_t = W_h x_t + b_h``; equations in :class:`rnnkit.nn.cells.MinGRUCell`.

    Parameters per layer k: ``weight_ih_lk`` (2H, I or D*H), ``bias_ih_lk`` (2H,), gate
    blocks z, n (n = h~). ``scan``: see :class:`MinRNNBase`.
    """

    cells = (MinGRUCell,)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32, scan: bool = True) -> None:
        super().__init__(MinGRUCell(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, scan)  # fmt: skip


class MinLSTM(MinRNNBase):
    """minLSTM (Feng et al. 2024): ``h_t = f'_t h_{t-1} + i'_t h~_t`` with ``f' = f / (f + i)``,
    ``i' = i / (f + i)``, ``f, i = σ(W x + b)``, ``h~ = W_h x + b_h``; equations in
    :class:`rnnkit.nn.cells.MinLSTMCell`. No cell state: the state is ``h``.

    Parameters per layer k: ``weight_ih_lk`` (3H, I or D*H), ``bias_ih_lk`` (3H,), gate
    blocks f, i, g (g = h~). ``scan``: see :class:`MinRNNBase`.
    """

    cells = (MinLSTMCell,)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32, scan: bool = True) -> None:
        super().__init__(MinLSTMCell(), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, scan)  # fmt: skip


class _NormDirection(_Direction):
    """The reference run of a layer-normalised LSTM direction: also ``n_x`` (T, B, 4H) and
    ``inv_x`` (T, B, 1), the normalised input product and its inverse deviations."""

    __slots__ = ("n_x", "inv_x")


class LayerNormLSTM(RNNBase):
    """Layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer Normalization", arXiv 1607.06450);
    equations and the placement of the normalisations in
    :class:`rnnkit.nn.cells.LayerNormLSTMCell`: ``LN(W_ih x)`` and ``LN(W_hh h)`` separately,
    each with its own gain, and ``h = o * tanh(LN(c))`` with a gain and a shift.

    Same constructor, layout (T, B, I), stacking, directions, dropout, ``lengths`` and state
    carry ``(h, c)`` as :class:`LSTM`. Parameters per layer k (and ``_reverse``): those of
    the LSTM, ``weight_ih_lk`` (4H, I or D*H), ``weight_hh_lk`` (4H, H), ``bias_ih_lk``,
    ``bias_hh_lk`` (4H,) (the shifts of the two gate normalisations), gate blocks i, f, g, o;
    and the normalisations' ``weight_ln_ih_lk``, ``weight_ln_hh_lk`` (4H,), ``weight_ln_c_lk``
    (H,) gains (start at 1) and ``bias_ln_c_lk`` (H,) shift (starts at 0; absent with
    ``bias=False``, as every additive parameter).

    The input side runs for all steps in one matmul, normalised per position; the time
    loop is the cell's reference step, or the fast path's kernels
    (:mod:`rnnkit.nn.fast.ln_lstm`) when it is on.
    """

    cells = (LayerNormLSTMCell,)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32) -> None:
        super().__init__(LayerNormLSTMCell(), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, dtype)  # fmt: skip

    def trace(self, input: np.ndarray, state=None, lengths=None) -> list[dict[str, np.ndarray]]:
        """:meth:`RNNBase.trace`, and ``"tanh_c"``: what the output gate multiplies,
        ``tanh(LN(c) * weight_ln_c + bias_ln_c)`` (not ``tanh(c)``), zeros at padded steps."""
        traced = super().trace(input, state, lengths)
        for layer, record in enumerate(traced):
            c = record["c"]  # (T, B, D, H)
            kept = np.any(c != 0, axis=-1, keepdims=True)  # padded steps are zeros
            values = []
            for d, suffix in enumerate(self._suffixes(layer)):
                *_, gain, shift = (None if p is None else p.data for p in self._weights(suffix))
                n, _ = layer_norm(c[:, :, d], self.cell.eps)
                values.append(np.tanh(n * gain + (0.0 if shift is None else shift)))
            record["tanh_c"] = np.stack(values, axis=2) * kept
        return traced

    def _weights(self, suffix: str):
        """``(weight_ih, weight_hh, bias_ih, bias_hh, weight_ln_ih, weight_ln_hh, weight_ln_c,
        bias_ln_c)`` Parameters, None where absent."""
        p = self._parameters
        norm = (p[f"weight_ln_ih{suffix}"], p[f"weight_ln_hh{suffix}"], p[f"weight_ln_c{suffix}"],
                p.get(f"bias_ln_c{suffix}"))  # fmt: skip
        return super()._weights(suffix) + norm

    def _run_direction(self, X, state0, weights, mask, ws):
        X = np.ascontiguousarray(X)
        W_ih, W_hh, b_ih, b_hh, *norm = (None if p is None else p.data for p in weights)
        compiled = registry.forward_driver(self.cell)  # None: the fast path is off or has none
        if compiled is not None:
            return compiled(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws, tuple(norm))
        return self._reference_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, tuple(norm))

    def _reference_forward(self, X, state0, W_ih, W_hh, b_ih, b_hh, mask, norm) -> _NormDirection:
        """The readable time loop: the input side normalised for all steps at once, then one
        ``cell.forward`` per step."""
        cell = self.cell
        g_ih, *step_norm = norm
        T, B, _ = X.shape
        P = (X.reshape(T * B, -1) @ W_ih.T).reshape(T, B, -1)  # (T, B, 4H): all steps at once
        n_x, inv_x = layer_norm(P, cell.eps)  # per position (t, b)
        Gx = g_ih * n_x
        if b_ih is not None:
            Gx += b_ih
        run = self._time_loop(_NormDirection(), X, Gx, state0, mask, (W_hh, b_hh, step_norm))
        run.n_x, run.inv_x = n_x, inv_x
        return run

    def _reference_backward(self, run: _NormDirection, dY, dstate, W_hh, norm):
        """The readable BPTT loop, t = T-1..0, then the input side's normalisation backward.

        Returns ``(db, dP, dGh, dnorm, dstate0)`` as the fast path's driver does
        (:mod:`rnnkit.nn.fast.ln_lstm`): the gradient of ``b_ih`` and ``b_hh`` (4H,), of the raw
        input products ``X W_ih^T`` and of the raw recurrent products ``h W_hh^T`` (T, B, 4H),
        of ``(γ_ih, γ_hh, γ_c, β_c)`` (None where absent) and of the initial state."""
        cell, caches, mask = self.cell, run.caches, run.mask
        g_ih, *step_norm = norm
        T, B, _ = run.X.shape
        dGx = np.empty((T, B, cell.num_gates * self.hidden_size), dtype=self.dtype)
        dGh = np.empty_like(dGx)
        dnorm = [None if a is None else np.zeros_like(a) for a in step_norm]
        for t in reversed(range(T)):
            dh = dstate[0] + (dY[t] if mask is None else dY[t] * mask[t])
            dstate = (dh, *dstate[1:])
            if mask is not None:  # a padded step passes the gradient straight through
                m = mask[t]
                skip = [g * (1 - m) for g in dstate]
                dstate = tuple(g * m for g in dstate)
            dGx[t], dGh[t], dstate, dn = cell.backward(dstate, caches[t], W_hh, step_norm)
            for total, d in zip(dnorm, dn, strict=True):
                if total is not None:
                    total += d
            if mask is not None:
                dstate = tuple(g + s for g, s in zip(dstate, skip, strict=True))
        # the input side: Gx = γ_ih * n_x + b_ih, n_x = LN(X W_ih^T) per position
        dP = layer_norm_backward(dGx * g_ih, run.n_x, run.inv_x)
        d_gain = (dGx * run.n_x).sum(axis=(0, 1))
        return dGx.sum(axis=(0, 1)), dP, dGh, (d_gain, *dnorm), dstate

    def _backward_direction(self, run, dY, dstate, weights):
        p_ih, p_hh, p_bih, p_bhh, *p_norm = weights
        W_hh = p_hh.data
        norm = tuple(None if p is None else p.data for p in p_norm)
        if isinstance(run, _NormDirection):
            db, dP, dGh, dnorm, dstate0 = self._reference_backward(run, dY, dstate, W_hh, norm)
        else:  # the forward ran the compiled driver: so does backward
            backward = registry.backward_driver(self.cell)
            db, dP, dGh, dnorm, dstate0 = backward(run, dY, dstate, W_hh, norm)
        X, Hs = run.X, run.states[0]
        T, B, _ = X.shape
        G_H, H = dP.shape[2], self.hidden_size
        dP2 = dP.reshape(T * B, G_H)
        dX = dP2 @ p_ih.data

        def add(p, grad):
            if p is not None and p.requires_grad:
                p.grad += grad

        add(p_ih, (X.reshape(T * B, -1).T @ dP2).T)
        if p_hh.requires_grad:
            add(p_hh, (Hs[:-1].reshape(T * B, H).T @ dGh.reshape(T * B, G_H)).T)
        add(p_bih, db)
        add(p_bhh, db)
        for p, d in zip(p_norm, dnorm, strict=True):
            add(p, d)
        return dX.reshape(T, B, -1), dstate0
