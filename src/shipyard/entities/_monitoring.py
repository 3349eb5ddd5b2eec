"""Monitoring entities: data contracts as versioned records, monitors and their results per window,
alerts with a life cycle, and the events other parts of Shipyard subscribe to."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.entities._tracking import _EMPTY, freeze_mappings


@dataclass(frozen=True, slots=True)
class ContractVersion:
    """One version of a data contract: the schema and expectations as ``sy.data`` writes them
    (``Schema.to_dict()``). Versions count from 1 and are never changed once written."""

    project: str
    name: str
    version: int
    spec: Mapping[str, Any]
    created_at: int
    description: str | None = None

    def __post_init__(self) -> None:
        freeze_mappings(self)


class MonitorState(str, enum.Enum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


@dataclass(frozen=True, slots=True)
class Monitor:
    """What watches a deployment: the window length, the reference profile it compares each window
    with, the checks and the alert rules (``config``), and how far it has got (``watermark``: the end
    of the last window it evaluated, epoch ms; None before the first)."""

    project: str
    name: str
    deployment: str
    revision: int
    state: MonitorState
    window_ms: int
    created_at: int
    updated_at: int
    watermark: int | None = None
    reference: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # a Profile.to_dict()
    config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    description: str | None = None

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """One evaluated window ``[window_start, window_end)``: how many predictions and labels it held,
    its verdict (``ok``, ``warning``, ``alert`` or ``empty``), the numbers it is tracked by over time
    (``metrics``: flat names such as ``drift.share`` or ``performance.accuracy``) and the full report
    (``detail``)."""

    monitor: str
    window_start: int
    window_end: int
    rows: int
    labelled: int
    status: str
    computed_at: int
    metrics: Mapping[str, float | None] = field(default_factory=lambda: _EMPTY)
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)


class AlertState(str, enum.Enum):
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """A rule that fires on a window, as the evaluator hands it to the store."""

    rule: str
    severity: str
    message: str
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A raised alert. One alert per monitor and rule is open at a time: while its rule keeps firing
    the same alert counts the windows (de-duplication); the first window where it does not resolves it.
    ``change`` says what the last write did to it: ``fired``, ``ongoing`` or ``resolved``."""

    id: int
    project: str
    monitor: str
    rule: str
    state: AlertState
    severity: str
    message: str
    value: float | None
    windows: int
    opened_at: int
    updated_at: int
    resolved_at: int | None = None
    change: str = "fired"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, for whoever subscribes: ``kind`` such as ``alert.fired``,
    ``alert.resolved`` or ``monitor.window``; ``subject`` names what it is about
    (``monitor:flights-drift``); ids increase, so a subscriber resumes after the last one it saw."""

    id: int
    project: str
    kind: str
    subject: str
    at: int
    payload: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)
