"""Section 2 of the seed tutorial: a vanilla RNN run over a sequence, with the engine.

The tutorial's NumPy class keeps ``Wxh (I, H)``, ``Whh (H, H)``, ``Why (H, O)``,
runs a list of four ``(1, I)`` inputs and keeps every hidden state in a dict
keyed by timestep (``h[-1]`` is the initial state)::

    h[t] = tanh(x[t] Wxh + h[t-1] Whh + bh)
    y[t] = h[t] Why + by

Here the same network is ``rnnkit.nn.RNN`` (PyTorch's layout: ``weight_ih_l0``
is ``Wxh`` transposed, ``weight_hh_l0`` is ``Whh`` transposed, and there are two
biases, ``bias_ih_l0 + bias_hh_l0 = bh``) followed by ``rnnkit.nn.Linear``. The
whole sequence goes in as one array of shape (T, B, I) and the recurrence is
checked against the tutorial's formula, step by step.

Run: ``python examples/01_vanilla_rnn.py``
"""

import numpy as np

from rnnkit.nn import RNN, Linear, manual_seed

INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE, STEPS = 10, 32, 10, 4


def main() -> None:
    manual_seed(0)
    rnn = RNN(INPUT_SIZE, HIDDEN_SIZE)  # h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    head = Linear(HIDDEN_SIZE, OUTPUT_SIZE)  # y_t = h_t W_y^T + b_y
    named = [(f"rnn.{n}", p) for n, p in rnn.named_parameters()]
    named += [(f"head.{n}", p) for n, p in head.named_parameters()]
    for name, p in named:
        print(f"{name:<18} {p.shape}")

    # The tutorial's input: a list of four (1, I) vectors, stacked as (T, B=1, I).
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((1, INPUT_SIZE)).astype(np.float32) for _ in range(STEPS)]
    x = np.stack(inputs)  # (T, 1, I)
    output, h_n = rnn(x)  # output (T, 1, H): every h_t; h_n (1, 1, H): the last one
    y = head(output)  # (T, 1, O)
    print(f"input  x: {x.shape}  (timesteps, batch, input)")
    print(f"hidden h: {output.shape}  (timesteps, batch, hidden)")
    print(f"final  h: {h_n.shape}  (layers, batch, hidden)")
    print(f"output y: {y.shape}  (timesteps, batch, output)")

    # The tutorial's dict of hidden states, recomputed with its own formula and matrices.
    Wxh, Whh = rnn.weight_ih_l0.data.T, rnn.weight_hh_l0.data.T  # (I, H), (H, H)
    bh = rnn.bias_ih_l0.data + rnn.bias_hh_l0.data  # (H,)
    h = {-1: np.zeros((1, HIDDEN_SIZE), dtype=np.float32)}
    for t in range(STEPS):
        h[t] = np.tanh(inputs[t] @ Wxh + h[t - 1] @ Whh + bh)  # (1, H)
    worst = max(float(np.abs(h[t] - output[t]).max()) for t in range(STEPS))
    print(
        f"hidden states h[0..{STEPS - 1}] each {h[0].shape}; "
        f"max difference from the tutorial's formula: {worst:.1e}"
    )
    assert worst < 1e-5


if __name__ == "__main__":
    main()
