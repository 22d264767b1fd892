"""Sentiment analysis: a recurrent text classifier with its training recipe, evaluation and prediction."""

from .classifier import Ensemble, Prediction, SentimentClassifier
from .metrics import ClassificationReport, classification_report
from .model import ModelConfig, TextClassifier

__all__ = [
    "ClassificationReport",
    "Ensemble",
    "ModelConfig",
    "Prediction",
    "SentimentClassifier",
    "TextClassifier",
    "classification_report",
]
