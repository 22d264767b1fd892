import gzip

import numpy as np
import pytest

from rnnkit.text.readers import DataError
from rnnkit.text.vectors import load_vectors
from rnnkit.text.vocab import Vocab

VOCAB = Vocab(["<pad>", "<unk>", "good", "bad", "film"])


def test_glove_format_rows_follow_the_vocabulary(tmp_path):
    p = tmp_path / "glove.txt"
    p.write_text("bad -1 0 0.5\nunused 9 9 9\ngood 1 0 -0.5\n")
    weights, found = load_vectors(p, VOCAB)
    assert weights.shape == (5, 3) and weights.dtype == np.float32 and found == 2
    np.testing.assert_allclose(weights[2], [1, 0, -0.5])
    np.testing.assert_allclose(weights[3], [-1, 0, 0.5])
    assert not weights[0].any()  # padding row stays zero
    assert weights[4].any()  # a missing word gets a random vector


def test_word2vec_header_gzip_and_lowercase(tmp_path):
    p = tmp_path / "w2v.txt.gz"
    p.write_bytes(gzip.compress(b"2 2\nGood 0.25 0.5\nFilm 2 3\n"))
    weights, found = load_vectors(p, VOCAB, lowercase=True)
    assert found == 2
    np.testing.assert_allclose(weights[2], [0.25, 0.5])
    np.testing.assert_allclose(weights[4], [2, 3])


def test_bad_vector_files(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("good 1 2 3\nbad 1 2\n")
    with pytest.raises(DataError, match="line 2: expected 3 numbers, found 2"):
        load_vectors(p, VOCAB)
    p.write_text("good 1 x 3\n")
    with pytest.raises(DataError, match="line 1: not a number"):
        load_vectors(p, VOCAB)
    with pytest.raises(DataError, match="no such vector file"):
        load_vectors(tmp_path / "missing.txt", VOCAB)
