"""Recurrent layers over whole batched sequences: ``RNN``, ``LSTM``, ``GRU``.

Same constructor, shapes, parameter names and gate layouts as PyTorch's
``torch.nn.RNN`` / ``LSTM`` / ``GRU``, so weights move 1:1 through
``state_dict()``. The per-step math lives in :mod:`rnnkit.nn.cells`; this
module owns the time loop, stacking, directions, variable lengths and the
backward pass through time (BPTT).

How one (layer, direction) runs, for input ``X`` of shape (T, B, I)::

    Gx = X W_ih^T + b_ih                    one matmul for all T steps (T, B, G*H)
    for t in 0..T-1: h_t = cell(Gx[t], h_{t-1})   the recurrent part only
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

from . import cells, fast
from . import random as nnrandom
from .init import GATES as _GATES
from .module import Module, Parameter, resolve_dtype, uniform_array


class _Direction:
    """What one (layer, direction) remembers between forward and backward."""

    __slots__ = ("X", "H", "C", "caches", "rev", "mask")


class RNNBase(Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype=np.float32,
        reset_after: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), received {dropout!r}")
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.reset_after = bool(reset_after)
        self.dtype = resolve_dtype(dtype)
        self.num_directions = 2 if bidirectional else 1
        G, H = _GATES[mode], self.hidden_size
        bound = 1.0 / math.sqrt(H)  # PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)) everywhere
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else H * self.num_directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", Parameter(uniform_array((G * H, layer_input), bound, self.dtype)))
                setattr(self, f"weight_hh{suffix}", Parameter(uniform_array((G * H, H), bound, self.dtype)))
                if self.bias:
                    setattr(self, f"bias_ih{suffix}", Parameter(uniform_array((G * H,), bound, self.dtype)))
                    setattr(self, f"bias_hh{suffix}", Parameter(uniform_array((G * H,), bound, self.dtype)))
        self._cache = None
        self._workspaces: dict[int, fast.Workspace] = {}  # scratch arrays per (layer, direction)

    @staticmethod
    def parameter_count(
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
    ) -> int:
        """How many numbers the layer would hold, without building it (closed form).

        Per direction, layer 0 has ``G*H*(I + H)`` weights and layer ``k > 0``
        ``G*H*(D*H + H)``, plus ``2*G*H`` biases each (``G`` gates of ``mode``,
        ``D`` directions): what a checkpoint's sizes can be checked against
        before anything is allocated.
        """
        G, H, I, L = _GATES[mode], int(hidden_size), int(input_size), int(num_layers)
        D = 2 if bidirectional else 1
        per_direction = G * H * (I + H) + (L - 1) * G * H * (D * H + H)
        if bias:
            per_direction += L * 2 * G * H
        return D * per_direction

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def _weights(self, suffix: str):
        p = self._parameters
        b_ih = p.get(f"bias_ih{suffix}")
        b_hh = p.get(f"bias_hh{suffix}")
        return p[f"weight_ih{suffix}"], p[f"weight_hh{suffix}"], b_ih, b_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.mode == "GRU" and not self.reset_after:
            s += ", reset_after=False"
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
            raise ValueError(f"input must have {self.input_size} features in its last dimension, received {x.shape[-1]}")
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
            raise ValueError(f"lengths must be {B} integers (one per sequence), received {lengths.dtype} array of shape {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must lie in 1..{T} (the sequence length), received values from {lengths.min()} to {lengths.max()}")
        return lengths.astype(np.int64)

    def _split_state(self, state, B: int):
        """Return (h0, c0), each (D*L, B, H) or None."""
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if self.mode == "LSTM":
            if state is None:
                return None, None
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise ValueError(f"LSTM state must be a tuple (h0, c0), received {type(state).__name__}")
            return self._check_array("h0", state[0], shape), self._check_array("c0", state[1], shape)
        if state is None:
            return None, None
        return self._check_array("h0", state, shape), None

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
        h0, c0 = self._split_state(state, B)
        with fast.small_work_threads(self._largest_matmul(T * B)):
            return self._forward(X, h0, c0, lengths)

    def _largest_matmul(self, rows: int) -> int:
        """Multiply-adds of the largest single matmul of a call over ``rows`` = T*B rows."""
        G = _GATES[self.mode]
        width = max(self.input_size, self.hidden_size * self.num_directions)
        return rows * G * self.hidden_size * width

    def _forward(self, X, h0, c0, lengths):
        T, B, _ = X.shape
        H, D, dt = self.hidden_size, self.num_directions, self.dtype
        zeros = np.zeros((B, H), dtype=dt)
        mask = None
        if lengths is not None and lengths.min() < T:
            mask = (np.arange(T)[:, None] < lengths[None, :]).astype(dt)[:, :, None]  # (T, B, 1)
        rev = self._reverse_index(lengths, T, B) if D == 2 else None

        h_n = np.empty((self.num_layers * D, B, H), dtype=dt)
        c_n = np.empty_like(h_n) if self.mode == "LSTM" else None
        layers, dropout_masks = [], []
        layer_input = X
        for layer in range(self.num_layers):
            outputs, dirs = [], []
            for d, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + d
                h_init = zeros if h0 is None else h0[k]
                c_init = zeros if c0 is None else c0[k]
                Xd = layer_input if d == 0 else self._apply_reverse(layer_input, rev)
                cache = self._run_direction(Xd, h_init, c_init, self._weights(suffix), mask, k)
                cache.rev = rev if d == 1 else None
                Y = cache.H[1:] if mask is None else cache.H[1:] * mask  # (T, B, H)
                outputs.append(Y if d == 0 else self._apply_reverse(Y, rev))
                h_n[k] = cache.H[-1]
                if c_n is not None:
                    c_n[k] = cache.C[-1]
                dirs.append(cache)
            layers.append(dirs)
            out = outputs[0] if D == 1 else np.concatenate(outputs, axis=2)  # (T, B, D*H)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                keep = nnrandom.get_rng().random(out.shape) >= self.dropout
                drop = keep.astype(dt) / dt.type(1.0 - self.dropout)
                out = out * drop
                dropout_masks.append(drop)
            else:
                dropout_masks.append(None)
            layer_input = out

        self._cache = (layers, dropout_masks, mask, B, T, h0 is not None)
        output = np.swapaxes(layer_input, 0, 1) if self.batch_first else layer_input
        final = (h_n, c_n) if self.mode == "LSTM" else h_n
        return np.ascontiguousarray(output), final

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

    def _run_direction(self, X, h, c, weights, mask, k: int = 0):
        """The time loop of one (layer, direction) ``k`` over X (T, B, I)."""
        X = np.ascontiguousarray(X)
        W_ih, W_hh, b_ih, b_hh = (None if p is None else p.data for p in weights)
        if fast.ENABLED:
            ws = self._workspaces.setdefault(k, fast.Workspace())
            return fast.run_direction(
                self.mode, self.reset_after, X, h, c, W_ih, W_hh, b_ih, b_hh, mask, ws
            )
        T, B, _ = X.shape
        Gx = (X.reshape(T * B, -1) @ W_ih.T).reshape(T, B, -1)  # (T, B, G*H): all steps at once
        if b_ih is not None:
            Gx += b_ih
        Hs = np.empty((T + 1, B, self.hidden_size), dtype=self.dtype)  # Hs[t+1] = h_t
        Hs[0] = h
        Cs = None
        caches = []
        mode = self.mode
        if mode == "LSTM":
            Cs = np.empty_like(Hs)
            Cs[0] = c
        for t in range(T):
            h_prev = Hs[t]
            if mode == "LSTM":
                h, c, cache = cells.lstm_cell_forward(Gx[t], h_prev, Cs[t], W_hh, b_hh)
            elif mode == "GRU":
                h, cache = cells.gru_cell_forward(Gx[t], h_prev, W_hh, b_hh, self.reset_after)
            else:
                h, cache = cells.rnn_cell_forward(Gx[t], h_prev, W_hh, b_hh, _NONLIN[mode])
            if mask is not None:  # a finished sequence keeps its state
                m = mask[t]
                h = h_prev + m * (h - h_prev)
                if Cs is not None:
                    c = Cs[t] + m * (c - Cs[t])
            Hs[t + 1] = h
            if Cs is not None:
                Cs[t + 1] = c
            caches.append(cache)
        run = _Direction()
        run.X, run.H, run.C, run.caches, run.mask = X, Hs, Cs, caches, mask
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
        _, _, _, B, T, _ = self._cache
        H, D = self.hidden_size, self.num_directions
        out_shape = (B, T, D * H) if self.batch_first else (T, B, D * H)
        dY_all = self._check_array("grad_output", grad_output, out_shape)
        if self.batch_first:
            dY_all = np.swapaxes(dY_all, 0, 1)
        state_shape = (self.num_layers * D, B, H)
        dh_n, dc_n = None, None
        if grad_final_state is not None:
            if self.mode == "LSTM":
                dh_n, dc_n = grad_final_state
                if dh_n is not None:
                    self._check_array("grad_h_n", dh_n, state_shape)
                if dc_n is not None:
                    self._check_array("grad_c_n", dc_n, state_shape)
            else:
                dh_n = self._check_array("grad_h_n", grad_final_state, state_shape)
        with fast.small_work_threads(self._largest_matmul(T * B)):
            grads = self._backward(dY_all, dh_n, dc_n)
        self._cache = None  # one backward per forward (the scratch arrays stay for the next step)
        return grads

    def _backward(self, dY_all, dh_n, dc_n):
        layers, dropout_masks, mask, B, T, _ = self._cache
        H, D, dt = self.hidden_size, self.num_directions, self.dtype
        state_shape = (self.num_layers * D, B, H)
        dh0 = np.zeros(state_shape, dtype=dt)
        dc0 = np.zeros(state_shape, dtype=dt) if self.mode == "LSTM" else None

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
                dhT = np.zeros((B, H), dt) if dh_n is None else dh_n[k].copy()
                dcT = np.zeros((B, H), dt) if dc_n is None else dc_n[k].copy()
                dX, dh, dc = self._backward_direction(run, dY, dhT, dcT, self._weights(suffix))
                if d == 1:
                    dX = self._apply_reverse(dX, run.rev)
                grad_in = dX if grad_in is None else grad_in + dX
                dh0[k] = dh
                if dc0 is not None:
                    dc0[k] = dc
            dY_all = grad_in

        grad_input = np.swapaxes(dY_all, 0, 1) if self.batch_first else dY_all
        grad_input = np.ascontiguousarray(grad_input)
        return grad_input, ((dh0, dc0) if self.mode == "LSTM" else dh0)

    def _backward_direction(self, run, dY, dh, dc, weights):
        """BPTT through one (layer, direction); returns (dX, dh0, dc0)."""
        W_hh = weights[1].data
        if isinstance(run, fast.FastRun):
            dGx, dGh_n, dh, dc = fast.backward_direction(self.mode, self.reset_after, run, dY, dh, dc, W_hh)
            rh = run.aux if self.mode == "GRU" and not self.reset_after else None
        else:
            dGx, dGh_n, dh, dc = self._reference_backward_loop(run, dY, dh, dc, W_hh)
            rh = None
            if self.mode == "GRU" and not self.reset_after:
                rh = np.stack([cache[2] for cache in run.caches])
        return self._weight_gradients(run, dGx, dGh_n, rh, weights), dh, dc

    def _reference_backward_loop(self, run: _Direction, dY, dh, dc, W_hh):
        """The BPTT time loop with the cells' backward functions.

        Returns ``(dGx, dGh_n, dh0, dc0)``; ``dGh_n`` (GRU only, else None) is the
        recurrent side's gradient of the candidate block, the one place where
        the recurrent and input sides differ.
        """
        X, caches, mask = run.X, run.caches, run.mask
        T, B, _ = X.shape
        mode = self.mode
        GH = W_hh.shape[0]
        dGx = np.empty((T, B, GH), dtype=self.dtype)
        dGh = dGx if mode != "GRU" else np.empty_like(dGx)
        mask_t = None
        for t in reversed(range(T)):
            dh = dh + (dY[t] if mask is None else dY[t] * mask[t])  # padded outputs are constants
            if mask is not None:
                mask_t = mask[t]
                dh_skip, dh = dh * (1 - mask_t), dh * mask_t
                if mode == "LSTM":
                    dc_skip, dc = dc * (1 - mask_t), dc * mask_t
            if mode == "LSTM":
                dgx, dgh, dh_new, dc_new = cells.lstm_cell_backward(dh, dc, caches[t], W_hh)
            elif mode == "GRU":
                dgx, dgh, dh_new = cells.gru_cell_backward(dh, caches[t], W_hh, self.reset_after)
            else:
                dgx, dgh, dh_new = cells.rnn_cell_backward(dh, caches[t], W_hh, _NONLIN[mode])
            dGx[t] = dgx
            if dGh is not dGx:
                dGh[t] = dgh
            dh = dh_new
            if mode == "LSTM":
                dc = dc_new
            if mask is not None:
                dh = dh + dh_skip
                if mode == "LSTM":
                    dc = dc + dc_skip

        dGh_n = dGh[:, :, 2 * self.hidden_size :] if mode == "GRU" else None
        return dGx, dGh_n, dh, dc

    def _weight_gradients(self, run, dGx, dGh_n, rh, weights) -> np.ndarray:
        """Parameter gradients as a few large matmuls over all T*B rows; returns dX (T, B, I).

        ``dGh_n`` (T, B, H): the GRU candidate block's recurrent-side gradient
        (None for RNN/LSTM, where both sides share ``dGx``). ``rh`` (T, B, H) is
        r * h_prev, the candidate matmul's input when ``reset_after=False``.
        """
        p_ih, p_hh, p_bih, p_bhh = weights
        X, Hs = run.X, run.H
        T, B, _ = X.shape
        H = self.hidden_size
        dGx2 = dGx.reshape(T * B, -1)  # (T*B, G*H)
        Hprev = Hs[:-1].reshape(T * B, H)
        # dW = dG^T A computed as (A^T dG)^T: OpenBLAS is up to 15% faster with the
        # long T*B dimension of both operands in this order.
        if p_ih.requires_grad:
            p_ih.grad += (X.reshape(T * B, -1).T @ dGx2).T
        db = dGx2.sum(axis=0) if p_bih is not None else None
        if p_bih is not None and p_bih.requires_grad:
            p_bih.grad += db
        if dGh_n is None:  # RNN, LSTM: the recurrent side has the same gate gradients
            if p_hh.requires_grad:
                p_hh.grad += (Hprev.T @ dGx2).T
            if p_bhh is not None and p_bhh.requires_grad:
                p_bhh.grad += db
        else:  # GRU: r and z blocks as above; the candidate block has its own
            dGh_n2 = dGh_n.reshape(T * B, H)
            if p_hh.requires_grad:
                n_input = Hprev if rh is None else rh.reshape(T * B, H)
                p_hh.grad[: 2 * H] += dGx2[:, : 2 * H].T @ Hprev
                p_hh.grad[2 * H :] += dGh_n2.T @ n_input
            if p_bhh is not None and p_bhh.requires_grad:
                p_bhh.grad[: 2 * H] += db[: 2 * H]
                p_bhh.grad[2 * H :] += dGh_n2.sum(axis=0)
        return (dGx2 @ p_ih.data).reshape(T, B, -1)  # dX

_NONLIN = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}


class RNN(RNNBase):
    """Elman RNN: ``h_t = φ(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, φ = tanh or relu.

    Parameters per layer k (and ``_reverse`` for the backward direction):
    ``weight_ih_lk`` (H, I or D*H), ``weight_hh_lk`` (H, H), ``bias_ih_lk``,
    ``bias_hh_lk`` (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=np.float32) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', received {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; equations in :func:`rnnkit.nn.cells.lstm_cell_forward`.

    Parameters per layer k: ``weight_ih_lk`` (4H, I or D*H), ``weight_hh_lk``
    (4H, H), ``bias_ih_lk``, ``bias_hh_lk`` (4H,), gate blocks in order i, f, g, o.
    State is a tuple ``(h, c)``, each (D*L, B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype)


class GRU(RNNBase):
    """Gated recurrent unit; equations in :func:`rnnkit.nn.cells.gru_cell_forward`.

    ``reset_after=True`` is PyTorch's form, ``False`` the original Cho et al.
    form (reset applied to h before the matmul). Parameters per layer k:
    ``weight_ih_lk`` (3H, I or D*H), ``weight_hh_lk`` (3H, H), biases (3H,),
    gate blocks in order r, z, n.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32, reset_after: bool = True) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype, reset_after)
