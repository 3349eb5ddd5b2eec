"""Monitoring: the prediction log, reference profiles and drift (next: data quality and delayed-label
performance)."""

from shipyard.monitoring._drift import ColumnDrift, DriftReport, Thresholds, drift
from shipyard.monitoring._fluent import feedback, predictions
from shipyard.monitoring._predictions import PredictionLog, read_predictions, record_feedback
from shipyard.monitoring._profile import CategoricalProfile, NumericProfile, Profile, profile

__all__ = [
    "CategoricalProfile", "ColumnDrift", "DriftReport", "NumericProfile", "PredictionLog", "Profile", "Thresholds",
    "drift", "feedback", "predictions", "profile", "read_predictions", "record_feedback",
]
