"""Sentiment analysis: a recurrent text classifier, its training recipe, evaluation, prediction.

Its three parts: the model config (:class:`ModelConfig`) with the text
settings (:class:`TextConfig`), the training settings (:class:`TrainSettings`,
saved whole in every checkpoint) and the task the shared trainer runs
(:class:`~rnnkit.sentiment.task.ClassificationTask`); :class:`SentimentClassifier`
puts them together.
"""

from .classifier import Ensemble, Prediction, SentimentClassifier
from .data import TextConfig
from .metrics import ClassificationReport, classification_report
from .model import ModelConfig, TextClassifier
from .train import TrainSettings

__all__ = [
    "ClassificationReport",
    "Ensemble",
    "ModelConfig",
    "Prediction",
    "SentimentClassifier",
    "TextClassifier",
    "TextConfig",
    "TrainSettings",
    "classification_report",
]
