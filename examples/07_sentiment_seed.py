"""Section 7 of the seed tutorial, done so that it actually learns.

The tutorial pads eight toy sentences at the end, embeds them, runs an LSTM
(hidden 16) and feeds the *last* hidden state to a sigmoid -- but its loop
never updates a weight, and its "last" state has read the padding. Here the
same model (embedding 8, LSTM 16, last hidden state, sigmoid, binary
cross-entropy) trains with Adam through the shared training loop; ``lengths``
make the last state the one after each sentence's final word. It reaches 100%
training accuracy in a few seconds and scores new phrases sensibly.

Run: ``python examples/07_sentiment_seed.py``
"""

from rnnkit.sentiment import SentimentClassifier

SENTENCES = [
    ("i love this film", "positive"),
    ("what a great movie", "positive"),
    ("this movie was wonderful", "positive"),
    ("i really enjoyed it", "positive"),
    ("worst movie ever", "negative"),
    ("i hate this film", "negative"),
    ("this movie was terrible", "negative"),
    ("what a boring waste of time", "negative"),
]
NEW_PHRASES = [
    "i love this movie",
    "what a wonderful film",
    "i enjoyed this movie",
    "terrible film",
    "i hate it",
    "this film was boring",
    "a waste of time",
]


def main() -> None:
    texts = [t for t, _ in SENTENCES]
    labels = [y for _, y in SENTENCES]
    clf = SentimentClassifier(
        cell="lstm",
        embedding_dim=8,
        hidden_size=16,
        bidirectional=False,
        pooling="last",
        dropout=0.0,
    )
    # As in the tutorial: 200 epochs over the eight sentences, one batch each, and no
    # validation set (val_fraction=0), so the weights after the last epoch are kept.
    # A little weight decay keeps eight sentences from being memorised by accident
    # (word position, say) rather than by their sentiment words.
    clf.fit(
        texts,
        labels,
        val_fraction=0.0,
        epochs=200,
        batch_size=8,
        lr=0.02,
        weight_decay=1e-3,
        seed=0,
        progress=False,
    )
    report = clf.evaluate(texts, labels)
    print(f"training accuracy: {report.accuracy:.0%} ({report.total} sentences)")
    for text, p in zip(NEW_PHRASES, clf.predict(NEW_PHRASES), strict=True):
        print(f"  {p.label:<8} {p.probability:.3f}  {text!r}")


if __name__ == "__main__":
    main()
