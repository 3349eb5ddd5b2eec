"""Module-level monitoring functions on the process-wide workspace and the current project."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard._internal._time import parse_when
from shipyard.config import get_settings
from shipyard.entities import Alert, AlertState, Event
from shipyard.monitoring._predictions import read_predictions, record_feedback
from shipyard.workspace import current_workspace

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitoring._monitor import WindowOutcome


def _project(project: str | None) -> str:
    return project or get_settings().project


def predictions(deployment: str, *, since: Any = None, until: Any = None, with_feedback: bool = True,
                project: str | None = None) -> pd.DataFrame:
    """The logged predictions of a deployment as a DataFrame: ``sy.predictions("flights-prod",
    since="2026-11-30")``. ``since``/``until``: datetimes, ISO strings or epoch ms."""
    return read_predictions(current_workspace(), _project(project), deployment, since=since,
                            until=until, with_feedback=with_feedback)


def feedback(deployment: str, labels: Mapping[str, Any], *, project: str | None = None) -> int:
    """Attach ground-truth labels to request ids: ``sy.monitoring.feedback("flights-prod", {"req-1": 1})``."""
    return record_feedback(current_workspace(), _project(project), deployment, labels)


def run(name: str | None = None, *, now: Any = None, project: str | None = None) -> list[WindowOutcome]:
    """Evaluate the due windows of monitor ``name`` (of every active monitor of the project when None)."""
    from shipyard.entities import MonitorState
    from shipyard.monitoring._monitor import run_monitor

    workspace, project = current_workspace(), _project(project)
    names = [name] if name is not None else [m.name for m in workspace.metadata.list_monitors(project)
                                             if m.state is MonitorState.ACTIVE]
    return [outcome for n in names for outcome in run_monitor(workspace, project, n, now=now)]


def results(name: str, *, since: Any = None, until: Any = None, project: str | None = None) -> pd.DataFrame:
    """A monitor's results over time: one row per window (indexed by its start), metrics as columns."""
    from shipyard.monitoring._monitor import frame_of_results

    found = current_workspace().metadata.list_monitor_results(
        _project(project), name, since=parse_when(since) if since is not None else None,
        until=parse_when(until) if until is not None else None)
    return frame_of_results(found)


def alerts(*, monitor: str | None = None, state: AlertState | str | None = None,
           project: str | None = None) -> list[Alert]:
    """Alerts, newest first (``state="FIRING"`` for the open ones)."""
    return current_workspace().metadata.list_alerts(_project(project), monitor=monitor,
                                                 state=AlertState(state) if state is not None else None)


def events(*, after: int = 0, kinds: Sequence[str] = (), limit: int | None = None,
           project: str | None = None) -> list[Event]:
    """The project's events after id ``after``, oldest first (``kinds=["alert.*"]`` for alerts only)."""
    return current_workspace().metadata.list_events(_project(project), after=after, kinds=list(kinds), limit=limit)


def follow(*, after: int = 0, kinds: Sequence[str] = (), poll_s: float = 1.0, stop: threading.Event | None = None,
           project: str | None = None) -> Iterator[Event]:
    """Subscribe: yield the project's events after ``after`` as they arrive (see :mod:`._events`)."""
    from shipyard.monitoring._events import follow as _follow

    return _follow(current_workspace().metadata, _project(project), after=after, kinds=kinds, poll_s=poll_s, stop=stop)


def report(name: str, *, html: str | Path | None = None, json: str | Path | None = None, windows: int = 60,
           project: str | None = None) -> dict[str, Any]:
    """A monitor's report (the last ``windows`` windows): written as standalone HTML and/or JSON when
    paths are given; returned as a dict."""
    from shipyard.monitoring._report import build_report, write_report

    data = build_report(current_workspace().metadata, _project(project), name, windows=windows)
    write_report(data, html=html, json_path=json)
    return data
