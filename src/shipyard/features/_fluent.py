"""The module-level feature-store API over the current workspace (``sy.features.apply``, ...)."""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.config import get_settings
from shipyard.entities import FeatureDefinition, Materialization
from shipyard.features import _registry
from shipyard.features._definitions import Definition, FeatureView, OnDemandFeatureView
from shipyard.workspace import current_workspace


def plan(definitions: Sequence[Definition], *, prune: bool = True, project: str | None = None) -> _registry.Plan:
    """What :func:`apply` would change (added, changed with a diff, removed, unchanged)."""
    return _registry.plan(definitions, project=project, prune=prune)


def apply(definitions: Sequence[Definition], *, prune: bool = False, project: str | None = None) -> list[FeatureDefinition]:
    """Record ``definitions`` (with the entities their views name) as versioned records in one
    transaction; ``prune=True`` also marks applied definitions that are not given as deleted."""
    from shipyard.features._online import clear_caches

    written = _registry.apply(definitions, project=project, prune=prune)
    clear_caches()
    return written


def definitions(kind: str | None = None, *, project: str | None = None) -> list[FeatureDefinition]:
    """The latest live version of every applied entity and feature view (``kind``: one of them)."""
    return current_workspace().metadata.list_feature_definitions(project or get_settings().project, kind)


def get_view(name: str, *, version: int | None = None, project: str | None = None) -> FeatureView | OnDemandFeatureView:
    """An applied feature view (the latest version unless ``version``)."""
    return _registry.get_view(name, project=project, version=version)


def materializations(*, project: str | None = None) -> list[Materialization]:
    """Each materialized view's watermark and row count."""
    return current_workspace().metadata.list_materializations(project or get_settings().project)
