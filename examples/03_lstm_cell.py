"""Section 4 of the seed tutorial: one LSTM cell step, gate by gate, then the engine's LSTM.

The tutorial concatenates the previous hidden state and the input and uses one
fused weight matrix for the four gates, in the order forget, input, candidate,
output, initialised with scale ``sqrt(2 / (I + H))``, forget-gate bias 1::

    z  = [h_prev, x]                      (1, H + I)
    f  = σ(z W_f + b_f)     i = σ(z W_i + b_i)
    c~ = tanh(z W_c + b_c)  o = σ(z W_o + b_o)
    c  = f * c_prev + i * c~
    h  = o * tanh(c)

``rnnkit.nn.LSTM`` computes the same step with PyTorch's layout: separate
``weight_ih_l0 (4H, I)`` and ``weight_hh_l0 (4H, H)``, gate blocks in the
order i, f, g (= c~), o, and two biases whose sum is the tutorial's ``b``. The
example moves the tutorial's weights into that layout, checks that both give
the same ``h`` and ``c``, and then checks the backward pass the tutorial
does not have against numerical derivatives.

Run: ``python examples/03_lstm_cell.py``
"""

import numpy as np

from rnnkit.gradcheck import gradcheck
from rnnkit.nn import LSTM, manual_seed

INPUT_SIZE, HIDDEN_SIZE = 10, 32
TUTORIAL_ORDER = ("f", "i", "c~", "o")  # gate column blocks of the tutorial's fused W
ENGINE_ORDER = ("i", "f", "c~", "o")  # PyTorch's row blocks: i, f, g, o


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))  # the tutorial clips to avoid overflow


def to_engine(W: np.ndarray, b: np.ndarray, lstm: LSTM) -> None:
    """Tutorial ``W (H+I, 4H)``, ``b (4H,)`` -> the engine's weight_ih, weight_hh, biases."""
    H = HIDDEN_SIZE
    for k, gate in enumerate(ENGINE_ORDER):
        cols = slice(TUTORIAL_ORDER.index(gate) * H, (TUTORIAL_ORDER.index(gate) + 1) * H)
        rows = slice(k * H, (k + 1) * H)
        lstm.weight_hh_l0.data[rows] = W[:H, cols].T  # (H, H): acts on h_prev
        lstm.weight_ih_l0.data[rows] = W[H:, cols].T  # (H, I): acts on x
        lstm.bias_ih_l0.data[rows] = b[cols]
    lstm.bias_hh_l0.data[...] = 0  # the engine adds both biases


def main() -> None:
    I, H = INPUT_SIZE, HIDDEN_SIZE
    rng = np.random.default_rng(0)
    W = rng.standard_normal((H + I, 4 * H)) * np.sqrt(2.0 / (I + H))  # (H+I, 4H) fused gates
    b = np.zeros(4 * H)
    b[:H] = 1.0  # forget-gate bias 1: "remember by default"
    x = rng.standard_normal((1, I))  # (1, I)
    h_prev = 0.5 * rng.standard_normal((1, H))  # (1, H)
    c_prev = 0.5 * rng.standard_normal((1, H))  # (1, H)

    z = np.concatenate([h_prev, x], axis=1)  # (1, H+I)
    gates = z @ W + b  # (1, 4H)
    f = sigmoid(gates[:, :H])
    i = sigmoid(gates[:, H : 2 * H])
    c_tilde = np.tanh(gates[:, 2 * H : 3 * H])
    o = sigmoid(gates[:, 3 * H :])
    c = f * c_prev + i * c_tilde
    h = o * np.tanh(c)
    for name, value in (("z = [h_prev, x]", z), ("forget f", f), ("input i", i),
                        ("candidate c~", c_tilde), ("output o", o), ("cell c", c),
                        ("hidden h", h)):
        print(f"{name:<16} {str(value.shape):<9} mean {value.mean():+.4f}")
    print(f"mean forget gate {f.mean():.3f} (bias 1 keeps it open: σ(1) = {sigmoid(1.0):.3f})")

    manual_seed(0)
    lstm = LSTM(I, H, dtype=np.float64)
    to_engine(W, b, lstm)
    out, (h_n, c_n) = lstm(x[None], (h_prev[None], c_prev[None]))  # x as (T=1, B=1, I)
    diff = max(np.abs(h_n[0] - h).max(), np.abs(c_n[0] - c).max())
    print(f"rnnkit.nn.LSTM, same weights: max |difference| in h and c = {diff:.1e}")
    assert diff < 1e-12

    # The backward pass: analytic gradients against central differences, every parameter.
    result = gradcheck(lstm, (x[None], (h_prev[None], c_prev[None])), max_checks=40)
    print(
        f"gradcheck of one LSTM step: {result.checked} derivatives, "
        f"max relative error {result.max_error:.1e}"
    )


if __name__ == "__main__":
    main()
