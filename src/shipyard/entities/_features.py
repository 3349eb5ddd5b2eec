"""Feature store entities: entity and feature-view definitions as versioned records, and the
materialization watermark of each view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.entities._tracking import freeze_mappings


@dataclass(frozen=True, slots=True)
class FeatureDefinition:
    """One version of an entity or feature view definition, as ``sy.features.apply`` records it.

    ``kind`` is ``"entity"`` or ``"feature_view"``; ``spec`` is the definition as data (its source,
    features, TTL...); ``digest`` is the SHA-256 of the canonical spec, so applying an unchanged
    definition adds no version. A removed definition is a last version with ``deleted`` set.
    Versions count from 1 and are never changed once written."""

    project: str
    kind: str
    name: str
    version: int
    digest: str
    spec: Mapping[str, Any]
    created_at: int
    deleted: bool = False

    def __post_init__(self) -> None:
        freeze_mappings(self)


@dataclass(frozen=True, slots=True)
class Materialization:
    """How far a feature view has been written to the online store: every feature row with an event
    time before ``watermark`` (epoch ms) is there, as of view version ``view_version``."""

    project: str
    view: str
    view_version: int
    watermark: int
    rows: int
    updated_at: int
