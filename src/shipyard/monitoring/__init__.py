"""Monitoring: the prediction log (and, next, drift, data quality and delayed-label performance)."""

from shipyard.monitoring._fluent import feedback, predictions
from shipyard.monitoring._predictions import PredictionLog, read_predictions, record_feedback

__all__ = ["PredictionLog", "feedback", "predictions", "read_predictions", "record_feedback"]
