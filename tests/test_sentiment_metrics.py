import numpy as np
import pytest

from rnnkit.sentiment.metrics import classification_report


def test_report_matches_hand_counts():
    # true:  a a a b b c ; predicted: a b a b c c
    report = classification_report([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2], ["a", "b", "c"])
    assert report.confusion.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report.accuracy == pytest.approx(4 / 6)
    per = report.per_class()
    assert per["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert per["b"]["precision"] == pytest.approx(0.5) and per["b"]["recall"] == pytest.approx(0.5)
    assert per["c"]["f1"] == pytest.approx(2 / 3)
    assert report.macro_f1 == pytest.approx(np.mean([0.8, 0.5, 2 / 3]))


def test_a_class_never_predicted_has_zero_precision_not_nan():
    report = classification_report([0, 1], [0, 0], ["neg", "pos"])
    assert report.per_class()["pos"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    text = report.format()
    assert "accuracy  0.5000" in text and "confusion matrix" in text
    assert report.to_dict()["confusion_matrix"] == [[1, 0], [1, 0]]
