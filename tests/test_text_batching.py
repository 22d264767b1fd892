import numpy as np
import pytest

from rnnkit.text.batching import bucket_batches, pad_batch, truncate


def test_pad_batch_right_pads_with_zero():
    ids, lengths = pad_batch([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="at least one token"):
        pad_batch([[1], []])


@pytest.mark.parametrize("shuffle", [True, False])
def test_bucketing_keeps_every_example_exactly_once(shuffle):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 80, size=1037)
    batches = bucket_batches(
        lengths, 16, shuffle=shuffle, rng=np.random.default_rng(1), pool_batches=5
    )
    everything = np.concatenate(batches)
    assert sorted(everything.tolist()) == list(range(1037))
    assert all(1 <= len(b) <= 16 for b in batches)


def test_bucketing_groups_similar_lengths_and_reshuffles_each_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=3200)
    a = bucket_batches(lengths, 32, rng=np.random.default_rng(1))
    b = bucket_batches(lengths, 32, rng=np.random.default_rng(2))
    spread = np.mean([lengths[x].max() - lengths[x].min() for x in a])
    assert spread < 10  # random batches of 32 would spread over ~190
    assert [x.tolist() for x in a] != [x.tolist() for x in b]


def test_truncate_keeps_head_tail_or_both_ends():
    ids = list(range(10))
    assert truncate(ids, 4) == [0, 1, 2, 3]
    assert truncate(ids, 4, "tail") == [6, 7, 8, 9]
    assert truncate(ids, 5, "both") == [0, 1, 2, 8, 9]
    assert truncate(ids, None) == ids and truncate(ids, 20) == ids
