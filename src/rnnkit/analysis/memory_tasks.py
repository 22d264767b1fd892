"""Long-range memory tasks: data generators only (training lives in :mod:`.long_range`).

The adding problem (Hochreiter & Schmidhuber 1997, in the form used by Le et
al. 2015 and Arjovsky et al. 2016). Each step ``t`` of a length-``T`` sequence
carries two numbers::

    x[t] = (value_t, marker_t)      value_t ~ U(0, 1)
                                    marker_t = 1 at exactly two steps, else 0:
                                    one step in [0, T/2), one in [T/2, T)
    target = sum of the two marked values

The model reads the whole sequence and answers at the last step, so it has
to carry the first marked value across at least ``T/2`` steps. Always
answering 1 (the mean) gives a mean squared error of ``Var(U1 + U2) = 1/6``:
that is the score of a model that remembered nothing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ADDING_BASELINE_MSE", "adding_problem"]

#: MSE of the constant answer 1.0 (the target's mean): Var(U(0,1) + U(0,1)) = 2/12.
ADDING_BASELINE_MSE = 1.0 / 6.0


def adding_problem(
    length: int, batch_size: int, rng: np.random.Generator, dtype=np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a batch of the adding problem.

    Args:
        length: steps per sequence ``T`` (at least 2).
        batch_size: sequences ``B``.
        rng: the NumPy generator to draw from.
        dtype: float dtype of both arrays.

    Returns:
        ``(x, target)``: x (T, B, 2) holding ``(value, marker)`` per step,
        target (B, 1) the sum of the two marked values.
    """
    if not isinstance(length, (int, np.integer)) or length < 2:
        raise ValueError(f"length must be an integer >= 2, received {length!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
    half = length // 2
    values = rng.random((length, batch_size))  # (T, B)
    first = rng.integers(0, half, batch_size)  # (B,) a step in the first half
    second = rng.integers(half, length, batch_size)  # (B,) a step in the second half
    columns = np.arange(batch_size)
    markers = np.zeros((length, batch_size))
    markers[first, columns] = 1.0
    markers[second, columns] = 1.0
    x = np.stack([values, markers], axis=-1).astype(dtype)  # (T, B, 2)
    target = (values[first, columns] + values[second, columns])[:, None].astype(dtype)  # (B, 1)
    return x, target
