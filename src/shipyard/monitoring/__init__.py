"""Monitoring: the prediction log, reference profiles and drift, and performance from feedback (next: data
quality)."""

from shipyard.monitoring._drift import ColumnDrift, DriftReport, Thresholds, drift
from shipyard.monitoring._fluent import feedback, predictions
from shipyard.monitoring._performance import ABReadout, PerformanceReport, RouteReadout, Segment, performance
from shipyard.monitoring._predictions import PredictionLog, read_predictions, record_feedback
from shipyard.monitoring._profile import CategoricalProfile, NumericProfile, Profile, profile

__all__ = [
    "ABReadout", "CategoricalProfile", "ColumnDrift", "DriftReport", "NumericProfile", "PerformanceReport", "PredictionLog", "Profile",
    "RouteReadout", "Segment", "Thresholds", "drift", "feedback", "performance", "predictions", "profile",
    "read_predictions", "record_feedback",
]
