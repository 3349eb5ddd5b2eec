"""Module-level prediction-log functions on the process-wide workspace and the current project."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.config import get_settings
from shipyard.monitoring._predictions import read_predictions, record_feedback
from shipyard.workspace import current_workspace

if TYPE_CHECKING:
    import pandas as pd


def predictions(deployment: str, *, since: Any = None, until: Any = None, with_feedback: bool = True,
                project: str | None = None) -> pd.DataFrame:
    """The logged predictions of a deployment as a DataFrame: ``sy.predictions("flights-prod",
    since="2026-11-30")``. ``since``/``until``: datetimes, ISO strings or epoch ms."""
    return read_predictions(current_workspace(), project or get_settings().project, deployment, since=since,
                            until=until, with_feedback=with_feedback)


def feedback(deployment: str, labels: Mapping[str, Any], *, project: str | None = None) -> int:
    """Attach ground-truth labels to request ids: ``sy.monitoring.feedback("flights-prod", {"req-1": 1})``."""
    return record_feedback(current_workspace(), project or get_settings().project, deployment, labels)
