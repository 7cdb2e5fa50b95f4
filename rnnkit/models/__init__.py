"""Models built on rnnkit's recurrent layers."""

from .classifier import SequenceClassifier

__all__ = ["SequenceClassifier"]
