"""Monitoring: the prediction log, reference profiles and drift, data quality, performance from
feedback, monitors over deployment windows with alert rules, notifications, events and reports."""

from shipyard.monitoring._alerts import Rule
from shipyard.monitoring._drift import ColumnDrift, DriftReport, Thresholds, drift
from shipyard.monitoring._fluent import alerts, events, feedback, follow, predictions, report, results, run
from shipyard.monitoring._monitor import WindowOutcome, monitor, run_due, run_monitor
from shipyard.monitoring._notify import Delivery, Webhook, sign, verify_signature
from shipyard.monitoring._performance import ABReadout, PerformanceReport, RouteReadout, Segment, performance
from shipyard.monitoring._predictions import PredictionLog, read_predictions, record_feedback
from shipyard.monitoring._profile import CategoricalProfile, NumericProfile, Profile, profile

__all__ = [
    "ABReadout", "CategoricalProfile", "ColumnDrift", "Delivery", "DriftReport", "NumericProfile", "PerformanceReport",
    "PredictionLog", "Profile", "RouteReadout", "Rule", "Segment", "Thresholds", "Webhook", "WindowOutcome", "alerts",
    "drift", "events", "feedback", "follow", "monitor", "performance", "predictions", "profile", "read_predictions",
    "record_feedback", "report", "results", "run", "run_due", "run_monitor", "sign", "verify_signature",
]
