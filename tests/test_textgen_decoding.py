"""Beam search against exhaustive search, batched sampling, stop strings, line scores by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rnnkit import nn
from rnnkit.nn.functional import log_softmax
from rnnkit.text.corpus import CharVocab
from rnnkit.textgen import CharLM
from rnnkit.textgen.beam import beam_search
from rnnkit.textgen.model import CharRNN, CharRNNConfig
from rnnkit.textgen.sampling import SamplingOptions, next_distribution

V, L = 3, 4  # a vocabulary of 3, texts of up to 4: 81 strings to enumerate


def tiny_lm(cell: str = "lstm", text: str = "ab\n", seed: int = 0) -> CharLM:
    """An untrained model with random weights (scaled up, so that it has preferences)."""
    nn.manual_seed(seed)
    lm = CharLM(cell=cell, hidden_size=6, num_layers=2, embedding_dim=4, dropout=0.0)
    lm.vocab = CharVocab.from_text(text)
    lm.config = CharRNNConfig(**{**lm.config.to_dict(), "vocab_size": len(lm.vocab)})
    lm.network = CharRNN(lm.config)
    for p in lm.network.parameters():
        p.data *= 3.0
    return lm


def log_prob(network, prime, ids) -> float:
    """log p(ids | prime), the whole text in one forward."""
    seq = np.array(list(prime) + list(ids), dtype=np.int64)
    logits, _ = network(seq[:-1].reshape(-1, 1))
    logp = log_softmax(logits[:, 0].astype(np.float64))  # (T, V)
    return float(sum(logp[len(prime) - 1 + t, c] for t, c in enumerate(ids)))


def first_stop_at_end(ids, stop) -> bool:
    k = len(stop)
    ends = [i + k for i in range(len(ids) - k + 1) if tuple(ids[i : i + k]) == stop]
    return bool(ends) and ends[0] == len(ids)


def exhaustive(network, prime, length, alpha, stop=()):
    """Every ended text (stopped where the stop first appears, else of ``length``), best first."""
    texts = []
    for n in range(1, length + 1):
        for ids in itertools.product(range(V), repeat=n):
            stopped = bool(stop) and first_stop_at_end(ids, stop)
            if stopped or (n == length and not (stop and any(
                    first_stop_at_end(ids[:m], stop) for m in range(1, n + 1)))):
                lp = log_prob(network, prime, ids)
                texts.append((lp / n**alpha, ids))
    return sorted(texts, key=lambda t: -t[0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_search_is_exhaustive_search_when_nothing_is_pruned(cell):
    lm = tiny_lm(cell)
    prime = [2]
    best = exhaustive(lm.network, prime, L, alpha=0.0)
    for alpha in (0.0, 1.0):  # every text has length L: normalisation changes nothing
        found = beam_search(lm.network, prime, L, beam=V ** (L - 1), alpha=alpha, num_results=3)
        assert [h.ids for h in found] == [ids for _, ids in best[:3]]
        assert found[0].log_prob == pytest.approx(best[0][0], abs=1e-5)
    small = beam_search(lm.network, prime, L, beam=2)[0]
    assert small.log_prob <= best[0][0] + 1e-6
    assert beam_search(lm.network, prime, L, beam=2) == beam_search(lm.network, prime, L, beam=2)


@pytest.mark.parametrize("stop", [(0,), (1, 0)])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_beam_search_with_a_stop_ranks_by_length_normalised_score(stop, alpha):
    lm = tiny_lm(seed=3)
    prime = [2, 1]
    best = exhaustive(lm.network, prime, L, alpha, stop)
    found = beam_search(lm.network, prime, L, beam=V ** (L - 1), alpha=alpha, stop=stop,
                        num_results=2)  # fmt: skip
    assert [h.ids for h in found] == [ids for _, ids in best[:2]]
    assert [h.score for h in found] == pytest.approx([s for s, _ in best[:2]], abs=1e-5)
    assert found[0].stopped == first_stop_at_end(found[0].ids, stop)


def test_sample_k_of_a_batch_is_the_same_seed_sample_k_alone_and_samples_differ():
    lm = tiny_lm(text="abcdefg \n")
    one = lm.generate(40, seed=7)
    batch = lm.generate(40, seed=7, num_samples=5)
    assert batch[0] == one  # sample 0 is the single sample of that seed
    assert lm.generate(40, seed=7, num_samples=3) == batch[:3]  # sample k: any batch > k
    assert len(set(batch)) == 5 and all(len(t) == 40 for t in batch)
    assert lm.generate(40, seed=8, num_samples=5) != batch


def test_stop_ends_each_sample_and_is_not_included():
    lm = tiny_lm(text="abcdefg \n")
    full = lm.generate(60, seed=2, num_samples=4)
    cut = lm.generate(60, seed=2, num_samples=4, stop="a")
    for whole, text in zip(full, cut, strict=True):
        assert text == whole.split("a")[0]
    streamed = list(lm.stream(60, seed=2, stop="ab"))
    assert all(len(p) == 1 for p in streamed)
    assert "".join(streamed) == full[0].split("ab")[0]
    with pytest.raises(Exception, match="stop string .* 'z'"):
        lm.generate(10, stop="z")
    beam = lm.generate(12, beam=3, stop="a", length_alpha=1.0)
    assert "a" not in beam


def test_batched_next_distribution_is_row_by_row():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 9)) * 3
    for options in (SamplingOptions(), SamplingOptions(top_k=3), SamplingOptions(top_p=0.7),
                    SamplingOptions(temperature=0.5, top_k=4, top_p=0.9),
                    SamplingOptions(greedy=True)):  # fmt: skip
        rows = np.stack([next_distribution(row, options) for row in logits])
        np.testing.assert_array_equal(next_distribution(logits, options), rows)


def test_score_is_the_hand_computed_log_probability_of_each_line():
    lm = tiny_lm(text="ab\n")
    vocab, network = lm.vocab, lm.network
    results = lm.score(["ab", "", "bbba", "abz"], per_char=True)
    for line, result in zip(["ab", "", "bbba"], results, strict=False):
        ids = vocab.encode(line + "\n")
        state, previous, total, surprise = None, vocab.encode("\n")[0], 0.0, []
        for c in ids:  # one character at a time, the state carried
            logits, state = network(np.array([[previous]]), state)
            z = logits[0, 0].astype(np.float64)
            nats = -(z[c] - z.max() - math.log(np.exp(z - z.max()).sum()))
            total, previous = total + nats, c
            surprise.append(nats)
        assert result["chars"] == len(line) + 1
        assert result["log_prob"] == pytest.approx(-total, rel=1e-5)
        assert result["loss"] == pytest.approx(total / len(ids), rel=1e-5)
        assert result["perplexity"] == pytest.approx(math.exp(total / len(ids)), rel=1e-5)
        assert [v for _, v in result["surprise"]] == pytest.approx(surprise, rel=1e-5)
        assert "".join(c for c, _ in result["surprise"]) == line + "\n"
    assert results[3] == {"unscorable": ["'z'"]}
    long = lm.score(["ab" * 400])[0]  # longer than a chunk: the state is carried across
    assert long["log_prob"] == pytest.approx(log_prob(network, vocab.encode("\n"),
                                                     vocab.encode("ab" * 400 + "\n")), rel=1e-4)
