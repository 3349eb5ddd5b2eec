"""Frozen value types that cross every boundary (L1: no I/O, stdlib only).

Stores return these, never live ORM rows; a later write never changes an entity already returned.
"""

from shipyard.entities._registry import (
    AliasEvent,
    LineageEdge,
    LineageGraph,
    LineageNode,
    ModelInfo,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
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
    "ArtifactRecord",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "ModelInfo",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
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
