"""The feature-store role of the metadata store (part of :class:`shipyard.storage.base.MetadataStore`)."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.entities import FeatureDefinition, Materialization


class FeatureRegistryStore(abc.ABC):
    """Entity and feature-view definitions as versioned records, and materialization watermarks."""

    @abc.abstractmethod
    def apply_feature_definitions(
        self, project: str, definitions: Sequence[Mapping[str, Any]], *, remove: Sequence[Sequence[str]] = (),
    ) -> list[FeatureDefinition]:
        """Record definitions in one transaction: each ``{"kind", "name", "digest", "spec"}`` becomes the next
        version of (kind, name) unless the latest live version has that digest; each ``(kind, name)`` in
        ``remove`` gets a deleted last version. Returns the versions written.

        Raises:
            NotFound: a definition to remove does not exist (or is deleted already).
        """

    @abc.abstractmethod
    def get_feature_definition(self, project: str, kind: str, name: str, version: int | None = None) -> FeatureDefinition:
        """A version of a definition; the latest live one when ``version`` is None.
        Raises: NotFound: no such definition or version, or it is deleted (listing similar names)."""

    @abc.abstractmethod
    def list_feature_definitions(
        self, project: str, kind: str | None = None, *, history: str | None = None, offset: int = 0,
        limit: int | None = None,
    ) -> list[FeatureDefinition]:
        """The latest live version of every definition (of ``kind``), by kind and name; with
        ``history="<kind>/<name>"``, every version of that one definition, oldest first."""

    @abc.abstractmethod
    def set_materialization(
        self, project: str, view: str, *, view_version: int, watermark: int, rows: int,
        expected_watermark: int | None = None,
    ) -> Materialization:
        """Move a view's materialization watermark (``rows``: written by this step, added to the total;
        a new ``view_version`` starts the total again).
        Raises: AlreadyExists: ``expected_watermark`` is given and the stored one differs (another run)."""

    @abc.abstractmethod
    def list_materializations(self, project: str) -> list[Materialization]:
        """The watermark of every materialized view of a project, by view name."""
