"""Tracking entities: projects, experiments, runs and what a run records."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_map(data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``data`` (entities never share mutable state with callers)."""
    if isinstance(data, MappingProxyType):
        return data
    return MappingProxyType(dict(data)) if data else _EMPTY


def freeze_mappings(entity: Any) -> None:
    """Make every mapping field of a frozen dataclass read-only, however it was built (a store, a
    decoder, a user): called from ``__post_init__``."""
    for name in entity.__dataclass_fields__:
        value = getattr(entity, name)
        if isinstance(value, dict):
            object.__setattr__(entity, name, frozen_map(value))


class RunStatus(str, enum.Enum):
    """Life of a run. A RUNNING run whose heartbeat went stale is reported as KILLED."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class LifecycleStage(str, enum.Enum):
    """Soft deletion: deleted records can be restored until ``shipyard store gc`` removes them."""

    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    project: str
    name: str
    lifecycle: LifecycleStage
    created_at: int
    updated_at: int
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Run:
    """A run with its params, tags and the latest value of each metric."""

    id: str
    experiment_id: str
    project: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    heartbeat_at: int | None
    user: str | None
    host: str | None
    parent_run_id: str | None
    lifecycle: LifecycleStage
    artifact_uri: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    source: str | None = None
    failure: str | None = None
    environment: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    metrics: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)

    @property
    def duration_ms(self) -> int | None:
        """Wall time from start to end (``None`` while running)."""
        if self.end_time is None:
            return None
        return self.end_time - self.start_time


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of search results; pass ``next_page_token`` back to get the next page."""

    runs: tuple[Run, ...]
    next_page_token: str | None


@dataclass(frozen=True, slots=True)
class Dataset:
    """A table a run consumed or produced, identified by the hash of its content."""

    id: int
    project: str
    name: str
    digest: str
    num_rows: int
    schema: Mapping[str, Any]
    profile: Mapping[str, Any]
    source: str | None
    created_at: int

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class RunInput:
    dataset: Dataset
    role: str
    direction: str  # "input" or "output"


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """A file stored for a run, with the size and sha256 that downloads are verified against."""

    run_id: str
    path: str
    size: int
    sha256: str
    created_at: int
