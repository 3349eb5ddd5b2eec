"""Experiment tracking (L3): runs, params, metrics, tags, datasets and artifacts."""

from shipyard.tracking._client import TrackingClient
from shipyard.tracking._run import ActiveRun

__all__ = ["ActiveRun", "TrackingClient"]
