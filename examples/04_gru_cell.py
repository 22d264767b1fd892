"""Section 5 of the seed tutorial: one GRU cell step, and its size compared with the LSTM's.

The tutorial's GRU (Cho et al.'s original form, reset applied to ``h`` before
the matmul)::

    z  = σ([h, x] W_z + b_z)             update gate
    r  = σ([h, x] W_r + b_r)             reset gate
    h~ = tanh([r * h, x] W_h + b_h)      candidate
    h' = z * h + (1 - z) * h~

This is ``rnnkit.nn.GRU(..., reset_after=False)``; PyTorch's default
(``reset_after=True``) applies ``r`` after the matmul,
``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``. Parameters use
PyTorch's layout, gate blocks in the order r, z, n (= h~).

The tutorial claims about 25% fewer parameters than the LSTM. Each gate block
of either cell has the same size, ``H*I + H*H`` weights plus its biases, and
the GRU has 3 blocks where the LSTM has 4: the ratio is exactly 3/4 for every
input and hidden size, with one bias per block (the tutorial) or two
(PyTorch, rnnkit). That is the recurrent layer alone; layers around it (an
embedding, an output layer) are the same size for both.

Run: ``python examples/04_gru_cell.py``
"""

import numpy as np

from rnnkit.nn import GRU, LSTM, manual_seed

INPUT_SIZE, HIDDEN_SIZE = 10, 32


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def main() -> None:
    I, H = INPUT_SIZE, HIDDEN_SIZE
    rng = np.random.default_rng(0)
    scale = np.sqrt(2.0 / (I + H))
    Wz, Wr, Wh = (rng.standard_normal((H + I, H)) * scale for _ in range(3))  # (H+I, H) each
    bz, br, bh = (0.1 * rng.standard_normal(H) for _ in range(3))
    x = rng.standard_normal((1, I))  # (1, I)
    h = 0.5 * rng.standard_normal((1, H))  # (1, H)

    hx = np.concatenate([h, x], axis=1)  # (1, H+I)
    z = sigmoid(hx @ Wz + bz)
    r = sigmoid(hx @ Wr + br)
    h_tilde = np.tanh(np.concatenate([r * h, x], axis=1) @ Wh + bh)
    h_new = z * h + (1 - z) * h_tilde
    for name, value in (("[h, x]", hx), ("update z", z), ("reset r", r), ("candidate h~", h_tilde),
                        ("new h", h_new)):  # fmt: skip
        print(f"{name:<13} {str(value.shape):<8} mean {value.mean():+.4f}")

    manual_seed(0)
    gru = GRU(I, H, dtype=np.float64, reset_after=False)
    for k, (W, b) in enumerate(((Wr, br), (Wz, bz), (Wh, bh))):  # engine order r, z, n
        rows = slice(k * H, (k + 1) * H)
        gru.weight_hh_l0.data[rows] = W[:H].T  # (H, H): acts on h (on r * h for the candidate)
        gru.weight_ih_l0.data[rows] = W[H:].T  # (H, I): acts on x
        gru.bias_ih_l0.data[rows] = b
    gru.bias_hh_l0.data[...] = 0
    _, h_n = gru(x[None], h[None])  # x as (T=1, B=1, I)
    diff = np.abs(h_n[0] - h_new).max()
    print(f"rnnkit.nn.GRU(reset_after=False), same weights: max |difference| = {diff:.1e}")
    assert diff < 1e-12

    print("parameters (rnnkit/PyTorch layout, two biases per gate block):")
    print(f"{'input':>6} {'hidden':>6} {'LSTM':>9} {'GRU':>9}  GRU/LSTM")
    for i, hid in ((10, 32), (8, 16), (64, 512), (300, 150)):
        n_lstm = LSTM(i, hid).num_parameters()  # 4 * (H*I + H*H + 2H)
        n_gru = GRU(i, hid).num_parameters()  # 3 * (H*I + H*H + 2H)
        print(f"{i:>6} {hid:>6} {n_lstm:>9,} {n_gru:>9,}  {n_gru / n_lstm:.4f}")
    tut_lstm = 4 * ((H + I) * H + H)  # tutorial: fused W (H+I, 4H) and b (4H,)
    tut_gru = 3 * ((H + I) * H + H)  # tutorial: W_z, W_r, W_h (H+I, H) and three (H,) biases
    print(
        f"tutorial layout (one bias per gate), I={I}, H={H}: LSTM {tut_lstm:,}, GRU {tut_gru:,}, "
        f"ratio {tut_gru / tut_lstm:.4f}"
    )
    print("GRU/LSTM = 3/4 exactly: the GRU has 25% fewer parameters, for every size")


if __name__ == "__main__":
    main()
