"""Frozen value types that cross every boundary (L1: no I/O, stdlib only).

Stores return these, never live ORM rows; a later write never changes an entity already returned.
"""

from shipyard.entities._registry import (
    AliasEvent,
    ApiToken,
    AuditEvent,
    LineageEdge,
    LineageGraph,
    LineageNode,
    ModelInfo,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Role,
    User,
)
from shipyard.entities._tracking import (
    ArtifactRecord,
    Dataset,
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Project,
    Run,
    RunInput,
    RunPage,
    RunStatus,
    RunTag,
)

__all__ = [
    "AliasEvent",
    "ApiToken",
    "AuditEvent",
    "ArtifactRecord",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "ModelInfo",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "Role",
    "User",
    "Dataset",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "Param",
    "Project",
    "Run",
    "RunInput",
    "RunPage",
    "RunStatus",
    "RunTag",
]
