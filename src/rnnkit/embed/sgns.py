"""Skip-gram and CBOW with negative sampling: the loss, its gradient, and the compiled kernel.

For an input vector ``v`` (skip-gram: the centre word's row of ``W_in``; CBOW: the mean of
the context words' rows), its target word ``t`` (skip-gram: one context word; CBOW: the
centre word) and ``K`` noise words ``n_1..n_K`` drawn from the unigram distribution raised
to 3/4, with ``u_w`` the rows of ``W_out``::

    loss = -log sigma(v . u_t) - sum_k log sigma(-v . u_k)
    dloss/dv   = -(1 - sigma(v . u_t)) u_t + sum_k sigma(v . u_k) u_k
    dloss/du_t = -(1 - sigma(v . u_t)) v
    dloss/du_k =  sigma(v . u_k) v

:func:`sgns_loss` is the NumPy reference (float64 in the tests' numerical gradient
check); :func:`train_chunk` is the compiled loop the training task runs: plain SGD,
one (input, target) pair at a time, the update applied inside the kernel (word2vec.c's
order: the noise rows are updated as they are visited, the input row once per pair). A
noise word equal to the target is skipped, as in word2vec.c and gensim. For CBOW the
input error is added whole to every context row (word2vec.c's and gensim's
``cbow_mean=1`` convention; the exact gradient of the mean would divide it by the
number of context words).

The kernel draws its random numbers (subsampling, reduced windows, noise words) from a
xorshift64* generator whose state the caller seeds, so a chunk's training is a pure
function of the weights and that seed. It computes in the vectors' dtype (float32 in a
run: ``lr`` is passed in that dtype too), and its dot products may be summed in any order
(``_jit(reassociate=True)``) so that they vectorise. It releases the GIL: several threads
may run it at once on one set of vectors (:class:`rnnkit.embed.train.Workers`).
"""

from __future__ import annotations

import numpy as np

from ..nn.fast.jit import _ONE, _ZERO, _inline, _jit


# -- the NumPy reference --------------------------------------------------------------
def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_sigmoid(x))


def sgns_loss(v: np.ndarray, u_target: np.ndarray, u_noise: np.ndarray):
    """The loss summed over a batch of pairs and its gradients (the module docstring).

    Args:
        v: input vectors ``(B, D)``.
        u_target: the targets' output vectors ``(B, D)``.
        u_noise: the noise words' output vectors ``(B, K, D)``.

    Returns:
        ``(loss, dv (B, D), du_target (B, D), du_noise (B, K, D))``.
    """
    pos = np.einsum("bd,bd->b", v, u_target)  # (B,)
    neg = np.einsum("bd,bkd->bk", v, u_noise)  # (B, K)
    loss = float(-_log_sigmoid(pos).sum() - _log_sigmoid(-neg).sum())
    g_pos = -(1.0 - _sigmoid(pos))  # (B,)  dloss/dpos
    g_neg = _sigmoid(neg)  # (B, K)  dloss/dneg
    dv = g_pos[:, None] * u_target + np.einsum("bk,bkd->bd", g_neg, u_noise)
    du_target = g_pos[:, None] * v
    du_noise = g_neg[:, :, None] * v[:, None, :]
    return loss, dv, du_target, du_noise


def reference_pair_update(W_in, W_out, center: int, target: int, noise, lr: float) -> float:
    """One skip-gram SGD step on the pair (``center``, ``target``) with the noise words
    ``noise`` (distinct, none equal to ``target``), in place; returns the pair's loss."""
    noise = np.asarray(noise)
    loss, dv, du_t, du_n = sgns_loss(W_in[center][None], W_out[target][None], W_out[noise][None])
    W_in[center] -= lr * dv[0]
    W_out[target] -= lr * du_t[0]
    W_out[noise] -= lr * du_n[0]
    return loss


# -- the compiled kernel --------------------------------------------------------------
_MULTIPLIER = np.uint64(2685821657736338717)


@_inline
def _next(state):
    """xorshift64*: the next 64 random bits; ``state`` is a uint64 array of one non-zero
    element."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return x * _MULTIPLIER


@_inline
def _uniform(state):
    """A float64 in [0, 1)."""
    return np.float64(_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@_inline
def _below(state, n):
    """An int in [0, n), n < 2**31."""
    return np.int64(_next(state) >> np.uint64(33)) % n


@_inline
def _noise_word(cum, state):
    """A word id drawn from the noise distribution: ``cum`` is its cumulative sum (V,)."""
    u = _uniform(state)
    lo, hi = 0, cum.shape[0] - 1
    while lo < hi:  # the first index with cum > u
        mid = (lo + hi) // 2
        if cum[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@_inline
def _softplus(z):
    """log(1 + exp(z)), without overflow."""
    if z > 0.0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@_inline
def _output_layer(v, work, W_out, target, noise, lr):
    """The pair's loss; updates the rows of ``W_out`` it visits and adds ``-lr * dloss/dv``
    to ``work`` (D,). ``noise`` (K,) holds -1 where a draw was skipped. The arithmetic is in
    the arrays' dtype (the typed constants ``_ZERO``, ``_ONE`` keep float32 in float32)."""
    dim = v.shape[0]
    loss = 0.0
    for k in range(noise.shape[0] + 1):
        if k == 0:
            word, label = target, _ONE
        else:
            word, label = noise[k - 1], _ZERO
            if word < 0:
                continue
        dot = _ZERO
        for d in range(dim):
            dot += v[d] * W_out[word, d]
        loss += _softplus(-dot) if k == 0 else _softplus(dot)
        g = (label - _ONE / (_ONE + np.exp(-dot))) * lr  # -lr * dloss/ddot
        for d in range(dim):
            work[d] += g * W_out[word, d]
            W_out[word, d] += g * v[d]
    return loss


@_inline
def _draw_noise(noise, cum, state, target):
    for k in range(noise.shape[0]):
        word = _noise_word(cum, state)
        noise[k] = -1 if word == target else word


@_jit(reassociate=True)
def train_pair(W_in, W_out, center, target, noise, lr):
    """One skip-gram pair through the kernel's own update (for the tests: compare with
    :func:`reference_pair_update`); returns its loss."""
    work = np.zeros(W_in.shape[1], dtype=W_in.dtype)
    loss = _output_layer(W_in[center], work, W_out, target, noise, lr)
    for d in range(W_in.shape[1]):
        W_in[center, d] += work[d]
    return loss


@_jit(reassociate=True)
def train_chunk(ids, sentences, keep, W_in, W_out, cum, window, negative, cbow, lr, state):
    """Train on one chunk of the corpus, in place; returns ``(loss sum, pairs)``.

    Args:
        ids: the chunk's word ids (N,) int32; ``sentences`` (N,) int32: its line numbers (a
            context never crosses a line).
        keep: the probability of keeping each word (V,) float64 (frequent-word subsampling).
        W_in, W_out: the input and output vectors (V, D), updated in place.
        cum: the cumulative noise distribution (V,) float64 (unigram^0.75).
        window: the largest distance to a context word; each position draws a reduced
            window in [1, window] as word2vec does.
        negative: noise words per pair; ``cbow``: CBOW instead of skip-gram.
        lr: the learning rate of this chunk, in the vectors' dtype; ``state``: the generator
            (uint64 array (1,)).
    """
    n = ids.shape[0]
    dim = W_in.shape[1]
    kept = np.empty(n, dtype=np.int32)
    line = np.empty(n, dtype=np.int32)
    m = 0
    for i in range(n):  # frequent-word subsampling
        word = ids[i]
        if keep[word] < 1.0 and keep[word] < _uniform(state):
            continue
        kept[m] = word
        line[m] = sentences[i]
        m += 1
    work = np.empty(dim, dtype=W_in.dtype)
    mean = np.empty(dim, dtype=W_in.dtype)
    noise = np.empty(negative, dtype=np.int64)
    loss, pairs = 0.0, 0
    for i in range(m):
        reach = window - _below(state, window)  # in [1, window]
        lo, hi = max(0, i - reach), min(m, i + reach + 1)
        center = kept[i]
        if not cbow:
            for j in range(lo, hi):
                if j == i or line[j] != line[i]:
                    continue
                target = kept[j]
                _draw_noise(noise, cum, state, target)
                work[:] = 0.0
                loss += _output_layer(W_in[center], work, W_out, target, noise, lr)
                for d in range(dim):
                    W_in[center, d] += work[d]
                pairs += 1
            continue
        mean[:] = 0.0
        count = 0
        for j in range(lo, hi):
            if j == i or line[j] != line[i]:
                continue
            for d in range(dim):
                mean[d] += W_in[kept[j], d]
            count += 1
        if count == 0:
            continue
        for d in range(dim):
            mean[d] /= count
        _draw_noise(noise, cum, state, center)
        work[:] = 0.0
        loss += _output_layer(mean, work, W_out, center, noise, lr)
        for j in range(lo, hi):
            if j == i or line[j] != line[i]:
                continue
            for d in range(dim):
                W_in[kept[j], d] += work[d]
        pairs += 1
    return loss, pairs


def seed_state(*seed: int) -> np.ndarray:
    """The kernel generator's state for a seed sequence (e.g. ``(seed, epoch, chunk)``)."""
    bits = np.random.default_rng(list(seed)).integers(1, 2**63, dtype=np.uint64)
    return np.array([bits], dtype=np.uint64)
