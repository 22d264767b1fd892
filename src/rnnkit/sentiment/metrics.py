"""Classification metrics: accuracy, per-class precision / recall / F1, macro-F1, confusion matrix.

For class ``c`` with ``tp`` true positives, ``fp`` false positives and ``fn``
false negatives: ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``,
``F1 = 2 P R / (P + R)``; a ratio with a zero denominator is 0 (scikit-learn's
``zero_division=0``). Macro-F1 is the unweighted mean of the per-class F1.
``confusion[i][j]`` counts examples of true class ``i`` predicted as ``j``;
it is kept (and printed) for up to :data:`MAX_CONFUSION_CLASSES` classes only:
beyond, a dense ``C x C`` matrix would cost more than the model (10,000
classes: 800 MB), so the report says it was left out and keeps the per-class
counts (``O(C)``) that every other number comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: above this many classes the confusion matrix is left out of a report
MAX_CONFUSION_CLASSES = 100


@dataclass
class ClassificationReport:
    """Per-class counts (true positives, predicted, actual: each (C,)) and, for up to
    :data:`MAX_CONFUSION_CLASSES` classes, the confusion matrix (C, C) they sum from.

    Build it with :func:`classification_report`; ``ClassificationReport(labels,
    confusion)`` derives the counts from a matrix.
    """

    labels: list[str]
    confusion: np.ndarray | None  # (C, C) int: rows true, columns predicted; None: left out
    counts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (tp, predicted, actual)

    def __post_init__(self) -> None:
        if self.counts is None:
            cm = self.confusion
            self.counts = (np.diag(cm).copy(), cm.sum(axis=0), cm.sum(axis=1))

    @property
    def total(self) -> int:
        return int(self.counts[2].sum())

    @property
    def accuracy(self) -> float:
        return float(self.counts[0].sum() / max(self.total, 1))

    def per_class(self) -> dict[str, dict[str, float]]:
        tp, predicted, actual = self.counts
        tp = tp.astype(np.float64)
        out = {}
        for i, label in enumerate(self.labels):
            p = tp[i] / predicted[i] if predicted[i] else 0.0
            r = tp[i] / actual[i] if actual[i] else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            out[label] = {"precision": p, "recall": r, "f1": f1, "support": int(actual[i])}
        return out

    @property
    def macro_f1(self) -> float:
        per = self.per_class()
        return float(np.mean([v["f1"] for v in per.values()])) if per else 0.0

    def to_dict(self) -> dict:
        return {
            "examples": self.total,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class(),
            "labels": list(self.labels),
            "confusion_matrix": None if self.confusion is None else self.confusion.tolist(),
        }

    def format(self) -> str:
        """A plain-text report (what ``rnnkit sentiment eval`` prints)."""
        per = self.per_class()
        width = max([len("class"), *(len(label) for label in self.labels)])
        lines = [
            f"examples  {self.total}",
            f"accuracy  {self.accuracy:.4f}",
            f"macro-F1  {self.macro_f1:.4f}",
            "",
            f"{'class':<{width}}  precision  recall  f1      support",
        ]
        for label, m in per.items():
            lines.append(
                f"{label:<{width}}  {m['precision']:<9.4f}  {m['recall']:<6.4f}  "
                f"{m['f1']:<6.4f}  {m['support']}"
            )
        if self.confusion is None:
            lines += ["", f"(no confusion matrix for {len(self.labels):,} classes: "
                          f"more than {MAX_CONFUSION_CLASSES})"]  # fmt: skip
            return "\n".join(lines)
        cell = max(
            [
                4,
                *(len(label) for label in self.labels),
                len(str(int(self.confusion.max(initial=0)))),
            ]
        )
        lines += ["", "confusion matrix (rows: true, columns: predicted)"]
        lines.append(" " * width + "  " + " ".join(f"{label:>{cell}}" for label in self.labels))
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:<{width}}  " + " ".join(f"{int(v):>{cell}}" for v in row))
        return "\n".join(lines)


def classification_report(
    true: Sequence[int], predicted: Sequence[int], labels: Sequence[str]
) -> ClassificationReport:
    """Build the report from class indices ``0..C-1`` (``labels[i]`` names class ``i``)."""
    C = len(labels)
    true = np.asarray(true, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if true.shape != predicted.shape:
        raise ValueError(f"true and predicted differ in shape: {true.shape} vs {predicted.shape}")
    both = np.concatenate([true.ravel(), predicted.ravel()])
    if both.size and (both.min() < 0 or both.max() >= C):
        raise ValueError(f"class indices must be in [0, {C})")
    hits = true[true == predicted]
    counts = (
        np.bincount(hits, minlength=C),
        np.bincount(predicted, minlength=C),
        np.bincount(true, minlength=C),
    )
    confusion = None
    if C <= MAX_CONFUSION_CLASSES:
        confusion = np.zeros((C, C), dtype=np.int64)
        np.add.at(confusion, (true, predicted), 1)
    return ClassificationReport(list(labels), confusion, counts)
