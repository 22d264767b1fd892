"""Small trained models shared by the explorer's tests (trace, server, browser)."""

from __future__ import annotations

from pathlib import Path

TEXT = (
    'def add(a, b):\n    """Add two numbers."""\n    return (a + b)\n\n'
    'print("hello, world")\nx = [1, 2, 3]\n'
) * 12

SENTENCES = [
    ("i love this film", "pos"), ("what a great movie", "pos"),
    ("this movie was wonderful", "pos"), ("i really enjoyed it", "pos"),
    ("worst movie ever", "neg"), ("i hate this film", "neg"),
    ("this movie was terrible", "neg"), ("what a boring waste of time", "neg"),
]  # fmt: skip


def train_textgen(run_dir: Path, steps: int = 30, cell: str = "lstm"):
    from rnnkit.textgen import CharLM

    corpus = (
        Path(run_dir).parent / f"{Path(run_dir).name}.txt"
    )  # from a file: the page gets a sample
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text(TEXT, encoding="utf-8")
    lm = CharLM(cell=cell, hidden_size=16, num_layers=2, dropout=0.0)
    lm.fit(corpus, out=run_dir, steps=steps, progress=False, seq_length=32, batch_size=4,
           sample_length=0, eval_every=steps, lr=1e-2)  # fmt: skip
    return lm


def train_sentiment(run_dir: Path | None, epochs: int = 30, **model):
    from rnnkit.sentiment import SentimentClassifier

    settings = dict(cell="lstm", embedding_dim=8, hidden_size=8, dropout=0.0)
    settings.update(model)
    clf = SentimentClassifier(**settings)
    texts, labels = zip(*SENTENCES, strict=True)
    clf.fit(list(texts), list(labels), list(texts), list(labels), out=run_dir, epochs=epochs,
            batch_size=8, lr=0.02, progress=False, plot=False, patience=None)  # fmt: skip
    return clf
