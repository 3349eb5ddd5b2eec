"""Serving entities: deployments (which model versions answer, with what share of traffic) and
their history."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.entities._tracking import _EMPTY, freeze_mappings


class DeploymentState(str, enum.Enum):
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class Route:
    """One live route: a model reference (``name@alias`` or ``name/version``) and its share of the
    traffic in percent."""

    model: str
    weight: int


@dataclass(frozen=True, slots=True)
class Deployment:
    """What a deployment serves now. ``revision`` counts its changes (1 = created)."""

    project: str
    name: str
    revision: int
    state: DeploymentState
    routes: tuple[Route, ...]
    shadow: tuple[str, ...]
    sticky_key: str | None
    created_at: int
    updated_at: int
    config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # batching, cache, ...
    description: str | None = None

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    """One change of a deployment: who, what, when, why, and the whole state it left."""

    name: str
    revision: int
    action: str  # create, update, promote, rollback, stop, start
    actor: str | None
    reason: str | None
    at: int
    state: DeploymentState
    routes: tuple[Route, ...]
    shadow: tuple[str, ...]
    sticky_key: str | None
    config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)
