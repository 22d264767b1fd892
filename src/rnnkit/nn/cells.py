"""The math of one time step of the vanilla RNN, the LSTM and the GRU.

Each cell has a ``*_forward`` that returns the new state and a cache holding
exactly what its ``*_backward`` needs, and the backward right beside it, so the
chain rule reads top to bottom (the CS231n contract). Derivatives are written
with stored activations: ``σ' = s(1-s)``, ``tanh' = 1 - t²``.

Conventions shared by all cells (names and layouts are PyTorch's):

* ``gx``: the input projection of this step, ``x_t W_ih^T + b_ih``, shape
  ``(B, G*H)`` with G gates. The layer computes it for all steps in one matmul,
  so the cells only do the recurrent part.
* ``weight_hh``: ``(G*H, H)``; ``bias_hh``: ``(G*H,)`` or ``None``.
* Backward returns ``dgx`` (gradient of the gate pre-activations from the input
  side, which is also the gradient of ``b_ih``) and ``dgh`` (the same for the
  recurrent side, gradient of ``b_hh``). They differ only in the GRU, where the
  reset gate scales the recurrent part of the candidate. The layer turns them
  into weight gradients with one large matmul after the time loop.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2: no overflow for any x."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _recurrent(h_prev: np.ndarray, weight_hh: np.ndarray, bias_hh: np.ndarray | None) -> np.ndarray:
    gh = h_prev @ weight_hh.T  # (B, G*H)
    if bias_hh is not None:
        gh += bias_hh
    return gh


# ---------------------------------------------------------------------------
# Vanilla RNN (Elman)
# ---------------------------------------------------------------------------


def rnn_cell_forward(gx, h_prev, weight_hh, bias_hh, nonlinearity="tanh"):
    """h = φ(x W_ih^T + b_ih + h_prev W_hh^T + b_hh), φ = tanh or relu.

    Shapes: gx (B, H), h_prev (B, H) -> h (B, H). The cache is ``h`` itself:
    both derivatives are functions of the output (1 - h², 1[h > 0]).
    """
    a = gx + _recurrent(h_prev, weight_hh, bias_hh)
    h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    return h, h


def rnn_cell_backward(dh, cache, weight_hh, nonlinearity="tanh"):
    """Returns (dgx, dgh, dh_prev); dgx and dgh are the same array here."""
    h = cache
    da = dh * (1.0 - h * h) if nonlinearity == "tanh" else dh * (h > 0)  # (B, H)
    dh_prev = da @ weight_hh  # (B, H)
    return da, da, dh_prev


# ---------------------------------------------------------------------------
# LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)
# ---------------------------------------------------------------------------


def lstm_cell_forward(gx, h_prev, c_prev, weight_hh, bias_hh):
    """One LSTM step, gates in PyTorch's order i, f, g, o.

        [i, f, g, o] = x W_ih^T + b_ih + h_prev W_hh^T + b_hh      (B, 4H)
        i, f, o = σ(i), σ(f), σ(o);  g = tanh(g)
        c = f * c_prev + i * g
        h = o * tanh(c)

    Shapes: gx (B, 4H), h_prev and c_prev (B, H) -> h, c (B, H).
    Cache: (acts (B, 4H) = [i, f, g, o] after activation, c_prev, tanh(c)).
    """
    H = h_prev.shape[1]
    acts = gx + _recurrent(h_prev, weight_hh, bias_hh)  # pre-activations, (B, 4H)
    acts[:, : 2 * H] = sigmoid(acts[:, : 2 * H])  # i, f
    acts[:, 2 * H : 3 * H] = np.tanh(acts[:, 2 * H : 3 * H])  # g
    acts[:, 3 * H :] = sigmoid(acts[:, 3 * H :])  # o
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (acts, c_prev, tanh_c)


def lstm_cell_backward(dh, dc, cache, weight_hh):
    """Backward of :func:`lstm_cell_forward`; returns (dgx, dgh, dh_prev, dc_prev).

        dc_total = dc + dh * o * (1 - tanh(c)²)
        di = dc_total * g * i(1-i)        df = dc_total * c_prev * f(1-f)
        dg = dc_total * i * (1-g²)        do = dh * tanh(c) * o(1-o)
        dh_prev = [di, df, dg, do] W_hh   dc_prev = dc_total * f
    """
    acts, c_prev, tanh_c = cache
    H = tanh_c.shape[1]
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    dc_total = dc + dh * o * (1.0 - tanh_c * tanh_c)
    dgates = np.empty_like(acts)  # (B, 4H)
    dgates[:, :H] = dc_total * g * i * (1.0 - i)
    dgates[:, H : 2 * H] = dc_total * c_prev * f * (1.0 - f)
    dgates[:, 2 * H : 3 * H] = dc_total * i * (1.0 - g * g)
    dgates[:, 3 * H :] = dh * tanh_c * o * (1.0 - o)
    dh_prev = dgates @ weight_hh  # (B, H)
    dc_prev = dc_total * f
    return dgates, dgates, dh_prev, dc_prev


# ---------------------------------------------------------------------------
# GRU (Cho et al. 2014), gates in PyTorch's order r, z, n
# ---------------------------------------------------------------------------


def gru_cell_forward(gx, h_prev, weight_hh, bias_hh, reset_after=True):
    """One GRU step.

    ``reset_after=True`` (PyTorch, cuDNN)::

        r = σ(x_r + h W_hr^T + b_hr)
        z = σ(x_z + h W_hz^T + b_hz)
        n = tanh(x_n + r * (h W_hn^T + b_hn))
        h' = (1 - z) * n + z * h

    ``reset_after=False`` (the original Cho et al. form, as in the tutorial):
    the reset gate multiplies ``h`` before the matmul,
    ``n = tanh(x_n + (r * h) W_hn^T + b_hn)``. Here ``x_*`` are the blocks of
    ``gx = x W_ih^T + b_ih``.

    Shapes: gx (B, 3H), h_prev (B, H) -> h (B, H).
    Cache: (acts (B, 3H) = [r, z, n], h_prev, hn (B, H)) where ``hn`` is the
    recurrent pre-activation of the candidate: ``h W_hn^T + b_hn`` when reset
    comes after, ``r * h`` (the matmul's input) when it comes before.
    """
    H = h_prev.shape[1]
    if reset_after:
        gh = _recurrent(h_prev, weight_hh, bias_hh)  # (B, 3H)
        acts = np.empty_like(gx)
        acts[:, : 2 * H] = sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H])  # r, z
        r = acts[:, :H]
        hn = gh[:, 2 * H :]
        acts[:, 2 * H :] = np.tanh(gx[:, 2 * H :] + r * hn)  # n
    else:
        b_rz = None if bias_hh is None else bias_hh[: 2 * H]
        gh_rz = _recurrent(h_prev, weight_hh[: 2 * H], b_rz)  # (B, 2H)
        acts = np.empty_like(gx)
        acts[:, : 2 * H] = sigmoid(gx[:, : 2 * H] + gh_rz)
        r = acts[:, :H]
        hn = r * h_prev  # (B, H): input of the candidate's matmul
        b_n = None if bias_hh is None else bias_hh[2 * H :]
        acts[:, 2 * H :] = np.tanh(gx[:, 2 * H :] + _recurrent(hn, weight_hh[2 * H :], b_n))
    z, n = acts[:, H : 2 * H], acts[:, 2 * H :]
    h = n + z * (h_prev - n)  # = (1 - z) * n + z * h_prev
    return h, (acts, h_prev, hn)


def gru_cell_backward(dh, cache, weight_hh, reset_after=True):
    """Backward of :func:`gru_cell_forward`; returns (dgx, dgh, dh_prev).

        dn_pre = dh * (1 - z) * (1 - n²)        dz_pre = dh * (h_prev - n) * z(1-z)
        reset after:  dr_pre = dn_pre * (h W_hn^T + b_hn) * r(1-r);  dgh_n = dn_pre * r
        reset before: d(rh) = dn_pre W_hn;  dr_pre = d(rh) * h_prev * r(1-r);  dgh_n = dn_pre
        dh_prev = dh * z + dgh W_hh  (+ d(rh) * r, reset before)
    """
    acts, h_prev, hn = cache
    H = h_prev.shape[1]
    r, z, n = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H :]
    dgx = np.empty_like(acts)  # (B, 3H)
    dn_pre = dh * (1.0 - z) * (1.0 - n * n)
    dgx[:, H : 2 * H] = dh * (h_prev - n) * z * (1.0 - z)
    dgx[:, 2 * H :] = dn_pre
    if reset_after:
        dgx[:, :H] = dn_pre * hn * r * (1.0 - r)
        dgh = dgx.copy()
        dgh[:, 2 * H :] = dn_pre * r
        dh_prev = dh * z + dgh @ weight_hh
    else:
        drh = dn_pre @ weight_hh[2 * H :]  # (B, H)
        dgx[:, :H] = drh * h_prev * r * (1.0 - r)
        dgh = dgx
        dh_prev = dh * z + drh * r + dgx[:, : 2 * H] @ weight_hh[: 2 * H]
    return dgx, dgh, dh_prev
