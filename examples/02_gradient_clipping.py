"""Section 3 of the seed tutorial: an exploding gradient, clipped by its global norm.

Backpropagation through time multiplies the gradient by the recurrent
Jacobian ``diag(1 - h_t²) W_hh`` once per step. Here ``W_hh`` is an orthogonal
matrix times 1.5 (every eigenvalue has modulus 1.5), so the gradient of a loss
on the last step grows with the sequence length. The tutorial's remedy clips
all gradients together: if their global norm exceeds ``max_norm = 5``, every
gradient is multiplied by ``max_norm / norm``; that is
``rnnkit.nn.clip_grad_norm``. The direction of the update is unchanged, only
its length is capped.

Run: ``python examples/02_gradient_clipping.py``
"""

import numpy as np

from rnnkit.nn import RNN, CrossEntropyLoss, Linear, clip_grad_norm, init, manual_seed

INPUT_SIZE, HIDDEN_SIZE, CLASSES, RADIUS, MAX_NORM = 8, 32, 4, 1.5, 5.0


def global_norm(params) -> float:
    return float(np.sqrt(sum(np.vdot(p.grad, p.grad) for p in params)))


def main() -> None:
    manual_seed(0)
    rnn = RNN(INPUT_SIZE, HIDDEN_SIZE, dtype=np.float64)
    head = Linear(HIDDEN_SIZE, CLASSES, dtype=np.float64)
    init.orthogonal_(rnn.weight_hh_l0.data, gain=RADIUS)  # spectral radius 1.5 > 1
    rnn.bias_ih_l0.data[...] = 0
    rnn.bias_hh_l0.data[...] = 0
    params = rnn.parameters() + head.parameters()
    loss_fn = CrossEntropyLoss()
    rng = np.random.default_rng(0)
    target = rng.integers(0, CLASSES, size=16)

    def backward(steps: int) -> float:
        """Loss on the last step of `steps`-step sequences; returns the global gradient norm."""
        x = 0.1 * rng.standard_normal((steps, 16, INPUT_SIZE))  # (T, B, I)
        for p in params:
            p.grad[...] = 0
        output, _ = rnn(x)  # (T, B, H)
        loss_fn(head(output[-1]), target)
        grad_output = np.zeros_like(output)
        grad_output[-1] = head.backward(loss_fn.backward())  # the loss reads the last step only
        rnn.backward(grad_output)
        return global_norm(params)

    print(f"W_hh = orthogonal x {RADIUS}: global gradient norm of a last-step loss")
    for steps in (5, 10, 20, 40, 80):
        print(f"  {steps:>3} steps: {backward(steps):12.4g}")

    before = [p.grad.copy() for p in params]
    norm = clip_grad_norm(params, MAX_NORM)  # returns the norm before clipping
    after = global_norm(params)
    scale = MAX_NORM / (norm + 1e-6)
    same = all(
        np.allclose(p.grad, g * scale, rtol=1e-12, atol=0)
        for p, g in zip(params, before, strict=True)
    )
    flat_before = np.concatenate([g.ravel() for g in before])
    flat_after = np.concatenate([p.grad.ravel() for p in params])
    cosine = flat_before @ flat_after / (np.linalg.norm(flat_before) * np.linalg.norm(flat_after))
    print(f"clip_grad_norm(max_norm={MAX_NORM:g}): norm before {norm:.4g}, after {after:.4g}")
    print(f"every gradient multiplied by max_norm / norm = {scale:.4g}: {same}")
    print(f"cosine between the gradient before and after clipping: {cosine:.6f}")


if __name__ == "__main__":
    main()
