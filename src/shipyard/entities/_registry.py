"""Registry entities: registered models, versions, aliases and their history, lineage graphs."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.entities._tracking import _EMPTY, freeze_mappings


class ModelVersionStatus(str, enum.Enum):
    """REGISTERING while the package is verified, READY to load, FAILED if verification failed,
    ARCHIVED when retired (kept, never deleted while referenced)."""

    REGISTERING = "REGISTERING"
    READY = "READY"
    FAILED = "FAILED"
    ARCHIVED = "ARCHIVED"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    id: int
    project: str
    name: str
    description: str | None
    created_at: int
    updated_at: int
    latest_version: int | None
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    aliases: Mapping[str, int] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model: where its package lives and what it promises."""

    project: str
    name: str
    version: int
    status: ModelVersionStatus
    source: str  # the URI it was registered from, e.g. runs:/<run id>/model
    storage_uri: str  # where the package files are
    run_id: str | None
    flavor: str
    manifest_sha256: str
    manifest: Mapping[str, Any]
    signature: Mapping[str, Any]
    created_at: int
    updated_at: int
    created_by: str | None
    description: str | None = None
    status_message: str | None = None
    package_signature: str | None = None  # Ed25519 signature of the manifest, hex
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        freeze_mappings(self)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class LoggedModelStatus(str, enum.Enum):
    """PENDING while its files upload, READY when finalized, FAILED when the upload failed."""

    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model package logged into an experiment (MLflow 3's "logged model"), optionally from a run,
    before (or without) registration. Its files live under ``artifact_uri``."""

    id: str  # "m-" + 32 hex
    project: str
    experiment_id: str
    name: str
    run_id: str | None
    artifact_uri: str
    status: LoggedModelStatus
    created_at: int
    updated_at: int
    model_type: str | None = None
    status_message: str | None = None
    created_by: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class Quota:
    """A per-project limit and what is used of it (``limit`` None: unlimited)."""

    project: str
    kind: str  # "artifact_bytes", "deployments", ...
    limit: int | None
    used: int


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ``run.log_model`` returns: where the package is and what it holds."""

    uri: str  # runs:/<run id>/<artifact path>
    run_id: str
    artifact_path: str
    flavor: str
    manifest_sha256: str
    signature: Mapping[str, Any] | None
    files: Mapping[str, str]

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias: from ``previous_version`` to ``version`` (``None``: removed)."""

    name: str
    alias: str
    version: int | None
    previous_version: int | None
    actor: str | None
    reason: str | None
    at: int


@dataclass(frozen=True, slots=True)
class LineageNode:
    id: str  # "dataset:<id>", "run:<id>", "model:<name>/<version>", ...
    kind: str  # feature_view | dataset | run | model_version | experiment
    label: str
    attributes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class LineageEdge:
    source: str
    target: str
    relation: str  # "input to", "produced", "registered as", ...


@dataclass(frozen=True, slots=True)
class LineageGraph:
    root: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def node(self, node_id: str) -> LineageNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def upstream(self, node_id: str) -> list[LineageNode]:
        """Nodes with an edge into ``node_id``."""
        return [self.node(e.source) for e in self.edges if e.target == node_id]


# -- access --------------------------------------------------------------------------------------


class Role(str, enum.Enum):
    """Per-project roles, each including the ones before it."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 1, "editor": 2, "admin": 3}[self.value]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    is_admin: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token record. The secret itself is never stored: only a salted sha256."""

    id: str
    user: str
    project: str | None  # None: every project (admins)
    role: Role
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: int
    actor: str | None
    action: str
    project: str | None
    target: str | None
    status: int
    remote_addr: str | None
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        freeze_mappings(self)
