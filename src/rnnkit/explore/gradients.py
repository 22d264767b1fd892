"""``||dL/dh_t||`` against the distance to the loss, with a loaded model's own trained weights.

For each recurrent layer (its forward direction) a single-layer copy with the
trained ``weight_ih``, ``weight_hh`` and biases is measured by
:func:`rnnkit.analysis.gradient_norm_curve` on the inputs that layer really
sees: the model's embeddings of real text (windows of the sample text for a
text generator, random vocabulary words for a classifier) for layer 0, the
traced outputs of the layer below for the others. Beside it, the same
architecture at random initialisation (PyTorch's default, seeded), on the
same inputs. The loss directions are random unit vectors, as in
``rnnkit analyze gradients``.
"""

from __future__ import annotations

import numpy as np

from ..analysis import gradient_norm_curve
from ..nn import manual_seed
from ..nn.recurrent import build_layer


def _single_layer(rnn, input_size: int):
    """A one-layer, one-direction layer of ``rnn``'s cell reading ``input_size`` features."""
    return build_layer(type(rnn.cell), input_size, rnn.hidden_size, bias=rnn.bias,
                       dtype=rnn.dtype)  # fmt: skip


def model_inputs(model, windows: int, length: int, seed: int) -> np.ndarray:
    """Layer-0 inputs (T, B, I): embedded windows of real text or random words."""
    rng = np.random.default_rng(seed)
    net = model.app.network
    if model.kind == "textgen":
        ids = None
        if model.sample:
            ids = np.asarray(model.app.vocab.encode(model.sample), dtype=np.int64)
        if ids is None or len(ids) < length + 1:
            ids = rng.integers(0, len(model.app.vocab), size=length * windows)
        starts = rng.integers(0, len(ids) - length + 1, size=windows)
        batch = np.stack([ids[s : s + length] for s in starts], axis=1)  # (T, B)
        return net.embedding(batch)
    words = rng.integers(2, max(3, len(model.app.vocab)), size=(length, windows))  # not PAD, UNK
    return net.embedding(words)  # (T, B, E)


def gradient_curves(
    model, steps: int = 60, warmup: int = 20, windows: int = 16, seed: int = 0
) -> dict:
    """``{"steps", "layers": [{"layer", "trained": [steps], "random": [steps]}], "note"}``."""
    rnn = model.rnn
    T = warmup + steps
    x = model_inputs(model, windows, T, seed)  # (T, B, I)
    if rnn.batch_first:
        traced = rnn.trace(np.ascontiguousarray(np.swapaxes(x, 0, 1)))
    else:
        traced = rnn.trace(x)
    rng = np.random.default_rng([seed, 1])
    g = rng.standard_normal((windows, rnn.hidden_size)).astype(rnn.dtype)
    g /= np.linalg.norm(g, axis=1, keepdims=True)  # (B, H) unit loss directions
    out = []
    layer_input = x
    for index in range(rnn.num_layers):
        size = layer_input.shape[2]
        trained = _single_layer(rnn, size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            source = getattr(rnn, f"{name}_l{index}", None)
            if source is not None:
                getattr(trained, f"{name}_l0").data[...] = source.data
        manual_seed(seed + index)
        fresh = _single_layer(rnn, size)
        curves = {}
        for label, layer in (("trained", trained), ("random", fresh)):
            norms = gradient_norm_curve(layer, np.ascontiguousarray(layer_input), g)[:steps]
            curves[label] = [float(v) for v in norms]
        out.append({"layer": index, **curves})
        h = traced[index]["h"]  # (T, B, D, H)
        layer_input = h.reshape(h.shape[0], h.shape[1], -1)
    note = (f"mean over {windows} sequences of {warmup} + {steps} steps; forward direction of each "
            "layer; random = the same shapes at PyTorch's default initialisation")  # fmt: skip
    return {"steps": steps, "layers": out, "note": note}
