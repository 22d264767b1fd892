"""docs/beyond-one-machine.md: its commands and snippets run, and say what the code does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install 'rnnkit[onnx]'")
pytest.importorskip("torch", reason="needs the torch extra: pip install 'rnnkit[torch]'")
pytest.importorskip("safetensors", reason="needs the safetensors extra")

from interop_models import sentiment, textgen  # noqa: E402
from rnnkit.cli import main  # noqa: E402

PAGE = Path(__file__).resolve().parents[1] / "docs" / "beyond-one-machine.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_export_commands_and_snippets_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    textgen(Path("runs/shakespeare"), cell="lstm", num_layers=2, steps=4)
    clf = sentiment(Path("runs/sst2"), char_ngrams=(3, 4), pooling="max")
    export_block = next(b for b in blocks("bash") if "rnnkit export" in b)
    for line in export_block.splitlines():
        command = shlex.split(line.split("#")[0])
        assert command[0] == "rnnkit" and main(command[1:]) == 0, line
    python = blocks("python")
    assert len(python) >= 3
    namespaces = []
    for code in python[:3]:
        namespace: dict = {}
        exec(compile(code, str(PAGE), "exec"), namespace)
        namespaces.append(namespace)
    capsys.readouterr()
    assert (
        main(
            [
                "textgen",
                "sample",
                "runs/shakespeare",
                "--greedy",
                "--prime",
                "The ",
                "--length",
                "80",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "The " + namespaces[0]["text"] + "\n"
    from rnnkit.sentiment import SentimentClassifier

    clf = SentimentClassifier.load("runs/sst2")
    texts = namespaces[1]["texts"]
    np.testing.assert_allclose(namespaces[1]["probabilities"], clf.predict_proba(texts), atol=1e-5)
    # the standalone preprocessing gives rnnkit's ids, back-off and n-grams included
    from rnnkit.sentiment.data import encode_texts

    many = ["Warmly FUNNIEST <br /> stepping isn't it?", "", "x " * 500, "the loved movies"]
    ours = encode_texts(
        many, clf.tokenizer, clf.vocab, clf.text.max_length, clf.text.truncate, True, clf.subwords
    )
    feeds = namespaces[1]["inputs"](many)
    for b, rows in enumerate(ours):
        assert list(feeds["ids"][b, : len(rows)]) == list(rows[:, 0])
        for t, row in enumerate(rows):
            assert sorted(g for g in feeds["ngram_ids"][b, t] if g) == sorted(
                g for g in row[1:] if g
            )
