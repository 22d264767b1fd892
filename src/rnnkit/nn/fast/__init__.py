"""The fast path of the recurrent layers: fused, compiled gate kernels.

Same math and same parameters as the readable reference in
:mod:`rnnkit.nn.cells` (the tests check one against the other), arranged for
speed:

* both bias vectors are folded into the input projection ``Gx`` once per
  sequence (except the GRU's ``b_hn`` when the reset gate comes after the
  matmul, since ``r`` multiplies it); the LSTM's compiled loop instead
  multiplies ``[x_t, h_prev]`` by ``[W_ih, W_hh]^T`` in one product a step where
  the rows amortise it (``lstm.FUSED_MAX_WIDTH``), adds the biases as it reads
  the gates, and keeps the rows ``[x_t, h_prev, 1]`` so that the layer's
  ``dW_ih``, ``dW_hh`` and bias gradient are one product (``FastRun.XH``);
* the whole time loop of a direction is one compiled ``nogil`` function
  (``*_loop_forward`` / ``*_loop_backward``): per step it calls the BLAS gemm
  for the recurrent product itself (:mod:`rnnkit.nn.blas`: MKL, or NumPy's own
  OpenBLAS; with MKL by the weight packed once where the product is large, or
  by a kernel MKL generates for the product's shapes where it is small), then
  applies every gate non-linearity, the state update and the length mask in one
  vectorised pass, writing into preallocated (T, B, ...) arrays: no Python and
  no allocation per step;
* the recurrence never mixes batch rows, so the rows are split into
  contiguous ranges, one per thread (``_run_rows``: the user's BLAS thread
  setting, at most one per core; one thread for small work), each running its
  whole time loop with a one-thread BLAS and no synchronisation per step;
* backward mirrors it: per step the compiled loop computes the gate gradients
  (and keeps the "skip" gradient of padded steps), then one gemm sends them back
  through ``W_hh``;
* where no BLAS can be called from compiled code (``RNNKIT_BLAS=numpy``, or no
  threadpoolctl) the drivers keep the earlier per-step form: the loop in Python,
  one ``np.matmul(..., out=)`` and the same kernels a step (same results).

The package, one job a module:

* :mod:`~rnnkit.nn.fast.threads`: the thread and BLAS regions (how many threads
  run a layer call's products, the batch rows split over the fast path's own
  threads, the large products split the same way);
* :mod:`~rnnkit.nn.fast.base`: what every driver shares (the run kept for
  backward, the input projection, the start of a backward loop);
* one module per cell, its kernels and its drivers: :mod:`~rnnkit.nn.fast.lstm`,
  :mod:`~rnnkit.nn.fast.gru` (both forms), :mod:`~rnnkit.nn.fast.rnn` (tanh and
  relu), :mod:`~rnnkit.nn.fast.ln_lstm` (the layer-normalised LSTM, whose drivers take
  the normalisations' parameters as one argument more; see that module);
  :mod:`~rnnkit.nn.fast.jit` what the kernels are compiled with.

Each cell has a pair of whole-direction drivers, ``*_forward`` and
``*_backward`` (``lstm_forward``, ``gru_forward``, ``gru_reset_before_forward``,
``rnn_tanh_forward``, ``rnn_relu_forward`` and their backwards), registered by
cell class in :mod:`rnnkit.nn.registry` when this package is imported (the
reference, :mod:`rnnkit.nn.cells`, never imports it); the layer looks them up
there by its cell's class. Every driver has the same contract as the layer's
reference loop:

* ``*_forward(X, state0, W_ih, W_hh, b_ih, b_hh, mask, ws) -> FastRun``, with
  ``X`` (T, B, I), ``state0`` a tuple of (B, H) arrays (``(h0,)`` or
  ``(h0, c0)``), ``mask`` (T, B, 1) or None, ``ws`` the :class:`Workspace` of
  this (layer, direction); the run's ``states`` are (T+1, B, H) arrays;
* ``*_backward(run, dY, dstate, W_hh) -> (dGx, dGh_n, n_input, dstate0)``:
  ``dGx`` (T, B, G*H) the gate pre-activation gradients of the input side;
  ``dGh_n`` (T, B, H) the recurrent side's gradient of the last gate block
  where it differs (the GRU, reset after), else None; ``n_input`` (T, B, H)
  the input of that block's recurrent matmul where it is not ``h_prev`` (the
  GRU, reset before: ``r * h_prev``), else None; ``dstate0`` a tuple like
  ``state0``.

The kernels are compiled with numba when it is installed (``pip install
rnnkit[fast]``); without it the layers use the reference path, which gives the
same results. Set ``RNNKIT_DISABLE_JIT=1`` (before import) to keep numba out;
``with rnnkit.nn.fast.flags(enabled=False):`` (or ``rnnkit.nn.fast.ENABLED =
False``) forces the reference path at any time.

Kernel argument conventions (one step, batch B, hidden H):
``gh`` is the recurrent matmul ``h_prev W_hh^T`` without bias, ``gx`` this
step's row of ``Gx``, ``m`` the step's mask (B,) with 1 for valid and 0 for
padded, ``dh_skip`` the part of dL/dh that bypasses the cell (padded steps,
the GRU's ``z * h_prev`` path) and ``dh_rec`` the part coming back through
``W_hh``.
"""

from __future__ import annotations

import contextlib
import sys

from .. import registry
from .base import FastRun, Workspace
from .gru import (
    gru_after_backward_step,
    gru_after_gates_step,
    gru_backward,
    gru_before_backward_reset,
    gru_before_backward_state,
    gru_before_gates_step,
    gru_before_loop_backward,
    gru_before_loop_forward,
    gru_forward,
    gru_loop_backward,
    gru_loop_forward,
    gru_reset_before_backward,
    gru_reset_before_forward,
    gru_state_step,
)
from .jit import AVAILABLE, numba
from .ln_lstm import (
    ln_input,
    ln_input_backward,
    ln_lstm_backward,
    ln_lstm_forward,
    ln_lstm_loop_backward,
    ln_lstm_loop_forward,
    ln_lstm_rows_backward,
    ln_lstm_rows_forward,
)
from .lstm import (
    lstm_backward,
    lstm_backward_step,
    lstm_forward,
    lstm_hidden_step,
    lstm_loop_backward,
    lstm_loop_forward,
    lstm_state_step,
)
from .min_cells import linear_recurrence, linear_recurrence_adjoint  # registers the scan
from .rnn import (
    masked_update,
    rnn_loop_backward,
    rnn_loop_forward,
    rnn_relu_backward,
    rnn_relu_backward_step,
    rnn_relu_forward,
    rnn_tanh_backward,
    rnn_tanh_backward_step,
    rnn_tanh_forward,
)
from .threads import (
    PARALLEL_MIN_MACS,
    SMALL_MATMUL_MACS,
    SPLIT_ROWS,
    matmul,
    small_work_threads,
    thread_setting,
)

#: Whether the layers use the compiled path (when ``AVAILABLE``); see :func:`flags`.
ENABLED = AVAILABLE


@contextlib.contextmanager
def flags(enabled: bool):
    """Inside the block the layers use the compiled path (``True``) or the reference path.

    Like ``torch.backends.cudnn.flags(enabled=...)``: the previous setting comes
    back when the block ends. Raises ``RuntimeError`` when the compiled path is
    asked for but numba is missing (or ``RNNKIT_DISABLE_JIT`` is set). A run
    remembers the path it took, so a forward's backward always matches it.
    """
    global ENABLED
    if enabled and not AVAILABLE:
        raise RuntimeError("the fast path needs numba: pip install 'rnnkit[fast]' "
                           "(and RNNKIT_DISABLE_JIT unset)")  # fmt: skip
    previous = ENABLED
    ENABLED = bool(enabled)
    try:
        yield
    finally:
        ENABLED = previous


registry.install(sys.modules[__name__])

__all__ = [
    "AVAILABLE", "ENABLED", "PARALLEL_MIN_MACS", "SMALL_MATMUL_MACS", "SPLIT_ROWS", "FastRun",
    "Workspace", "flags", "matmul", "numba", "small_work_threads", "thread_setting",
    "gru_after_backward_step", "gru_after_gates_step", "gru_backward", "gru_before_backward_reset",
    "gru_before_backward_state", "gru_before_gates_step", "gru_before_loop_backward",
    "gru_before_loop_forward", "gru_forward", "gru_loop_backward", "gru_loop_forward",
    "gru_reset_before_backward", "gru_reset_before_forward", "gru_state_step", "ln_input",
    "ln_input_backward",
    "ln_lstm_backward", "ln_lstm_forward", "ln_lstm_loop_backward", "ln_lstm_loop_forward",
    "ln_lstm_rows_backward", "ln_lstm_rows_forward", "lstm_backward",
    "lstm_backward_step", "lstm_forward", "lstm_hidden_step", "lstm_loop_backward",
    "linear_recurrence", "linear_recurrence_adjoint",
    "lstm_loop_forward", "lstm_state_step", "masked_update", "rnn_loop_backward",
    "rnn_loop_forward", "rnn_relu_backward", "rnn_relu_backward_step", "rnn_relu_forward",
    "rnn_tanh_backward", "rnn_tanh_backward_step", "rnn_tanh_forward",
]
