"""Fuzzing the checkpoint loader and the data readers (hypothesis, derandomized).

Random byte flips, insertions and truncations of small valid files must give
either a valid result or the clean error the command line prints as one line
(:class:`CheckpointError`, or a ``ValueError`` such as ``DataError`` and
``CorpusError``), never anything else, within hypothesis' deadline and a
memory bound. ``derandomize=True``: the same examples on every run, so CI is
reproducible.
"""

from __future__ import annotations

import os
import tracemalloc
import zipfile

import pytest

hypothesis = pytest.importorskip("hypothesis",
                                 reason="the fuzz tests need hypothesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rnnkit.sentiment import SentimentClassifier  # noqa: E402
from rnnkit.text.corpus import read_corpus  # noqa: E402
from rnnkit.text.readers import read_labeled  # noqa: E402
from rnnkit.textgen import CharLM  # noqa: E402
from rnnkit.training import CheckpointError, load_checkpoint  # noqa: E402

FUZZ = settings(
    max_examples=150,
    deadline=2000,  # ms per example
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MEMORY_BOUND = 64 * 2**20  # bytes traced while loading one mutated (tiny) file


@st.composite
def mutations(draw, data: bytes):
    """``data`` with a few random byte edits, then maybe truncated."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "byte"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[at : at + draw(st.integers(1, 8))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _clean(call):
    """Run ``call``: a result or a one-line clean error, inside the memory bound."""
    tracemalloc.start()
    try:
        call()
    except (CheckpointError, ValueError) as exc:
        assert "\n" not in str(exc).strip() or isinstance(exc, UnicodeError)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, peak


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    lm = CharLM(cell="gru", hidden_size=4, num_layers=1, embedding_dim=2, dropout=0.0)
    lm.fit("abcabcabd " * 20, steps=2, progress=False, seq_length=4, batch_size=2,
           eval_every=2, log_every=1, sample_length=0)  # fmt: skip
    lm.save(root / "lm.npz")
    clf = SentimentClassifier(embedding_dim=2, hidden_size=2, char_ngrams=(2, 3), ngram_min_words=1)
    clf.fit(["good", "bad", "fine", "awful"], ["p", "n", "p", "n"], epochs=1, progress=False,
            plot=False, batch_size=2)  # fmt: skip
    clf.save(root / "clf.npz")
    return root


@FUZZ
@given(data=st.data())
def test_mutated_checkpoints_load_or_fail_cleanly(checkpoints, tmp_path_factory, data):
    which = data.draw(st.sampled_from(["lm", "clf"]))
    original = (checkpoints / f"{which}.npz").read_bytes()
    mutated = data.draw(mutations(original))
    path = checkpoints / f"mutated-{which}.npz"
    path.write_bytes(mutated)
    loader = CharLM.load if which == "lm" else SentimentClassifier.load
    _clean(lambda: loader(path))
    _clean(lambda: load_checkpoint(path))


@FUZZ
@given(data=st.data())
def test_mutated_metadata_json_loads_or_fails_cleanly(checkpoints, data):
    """Mutations aimed at the JSON itself (a zip rewritten around the edited text)."""
    import numpy as np

    which = data.draw(st.sampled_from(["lm", "clf"]))
    src = checkpoints / f"{which}.npz"
    with zipfile.ZipFile(src) as z:
        with z.open("__meta__.npy") as f:
            text = np.lib.format.read_array(f).tobytes()
        members = {i.filename: z.read(i) for i in z.infolist() if i.filename != "__meta__.npy"}
    mutated = data.draw(mutations(text))
    path = checkpoints / f"json-{which}.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("__meta__.npy", "w") as f:
            np.lib.format.write_array(f, np.frombuffer(mutated, dtype=np.uint8))
        for name, blob in members.items():
            z.writestr(name, blob)
    loader = CharLM.load if which == "lm" else SentimentClassifier.load
    _clean(lambda: loader(path))


SAMPLES = {
    "tsv": b"sentence\tlabel\nthe film was good \t1\nawful, just awful\t0\n",
    "csv": b'text,label\n"a ""quoted"", good film",pos\nbad one,neg\n',
    "fasttext": b"__label__pos a fine film\n__label__neg dull\n",
    "label-first": b"1 a fine film\n0 dull and slow\n",
}


@FUZZ
@given(data=st.data())
def test_mutated_data_files_read_or_fail_cleanly(tmp_path_factory, data):
    fmt = data.draw(st.sampled_from(sorted(SAMPLES)))
    mutated = data.draw(mutations(SAMPLES[fmt]))
    gz = data.draw(st.booleans())
    root = tmp_path_factory.getbasetemp() / "fuzz-data"
    root.mkdir(exist_ok=True)
    path = root / f"sample.{fmt}"
    if gz:
        import gzip

        mutated = data.draw(mutations(gzip.compress(SAMPLES[fmt])))
    path.write_bytes(mutated)
    _clean(lambda: read_labeled(path, format=fmt))
    _clean(lambda: read_labeled(path, format="auto"))
    _clean(lambda: read_corpus(path))
    _clean(lambda: read_corpus(path, encoding="bytes"))


@FUZZ
@given(names=st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=4), data=st.data())
def test_mutated_class_folders_read_or_fail_cleanly(tmp_path_factory, names, data):
    root = tmp_path_factory.mktemp("folder")
    for i, blob in enumerate(names):
        label = root / ("pos" if i % 2 else "neg")
        label.mkdir(exist_ok=True)
        (label / f"{i}.txt").write_bytes(data.draw(mutations(b"a fine film " + blob)))
    if data.draw(st.booleans()):
        os.mkfifo(root / "neg" / "pipe.txt") if hasattr(os, "mkfifo") else None
    _clean(lambda: read_labeled(root, format="folder"))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _slots(node, path=()):
    """Every (container, key) of a parsed JSON tree, so one value can be replaced."""
    if isinstance(node, dict):
        items = node.items()
    else:
        items = enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield node, key
        yield from _slots(child, (*path, key))


@FUZZ
@given(data=st.data())
def test_well_formed_json_with_wrong_values_loads_or_fails_cleanly(checkpoints, data):
    """Valid JSON, wrong content: a value anywhere in the tree replaced (or a key dropped)."""
    import json

    import numpy as np

    which = data.draw(st.sampled_from(["lm", "clf"]))
    src = checkpoints / f"{which}.npz"
    with zipfile.ZipFile(src) as z:
        with z.open("__meta__.npy") as f:
            meta = json.loads(np.lib.format.read_array(f).tobytes())
        members = {i.filename: z.read(i) for i in z.infolist() if i.filename != "__meta__.npy"}
    slots = list(_slots(meta["tree"]))
    for _ in range(data.draw(st.integers(1, 3))):
        container, key = data.draw(st.sampled_from(slots))
        if isinstance(container, dict) and data.draw(st.booleans()):
            container.pop(key, None)
        elif key in container if isinstance(container, dict) else key < len(container):
            container[key] = data.draw(JSON_VALUES)
        slots = list(_slots(meta["tree"])) or slots
    path = checkpoints / f"values-{which}.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("__meta__.npy", "w") as f:
            np.lib.format.write_array(f, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        for name, blob in members.items():
            z.writestr(name, blob)
    loader = CharLM.load if which == "lm" else SentimentClassifier.load
    _clean(lambda: loader(path))
