"""Module-level registry functions on the process-wide workspace and the current project
(``sy.register_model``, ``sy.set_alias``, ``sy.load_model``, ``sy.registry.alias_at`` ...)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from shipyard.config import get_settings
from shipyard.entities import AliasEvent, LineageGraph, ModelVersion, RegisteredModel
from shipyard.models import LoadedModel
from shipyard.registry._registry import Registry
from shipyard.workspace import current_workspace


def registry(project: str | None = None) -> Registry:
    """The registry of ``project`` (default: the current project) on the current workspace."""
    return Registry(current_workspace(), project or get_settings().project)


def register_model(model_uri: str, name: str, *, description: str | None = None,
                   tags: Mapping[str, Any] | None = None) -> ModelVersion:
    """Register a logged model (``runs:/<run id>/<path>``) as the next version of ``name``."""
    return registry().register_model(model_uri, name, description=description, tags=tags)


def set_alias(name: str, alias: str, version: int | str, reason: str | None = None) -> AliasEvent:
    """Point ``@alias`` of ``name`` at ``version`` (atomic; recorded in the alias history)."""
    return registry().set_alias(name, alias, version, reason)


def delete_alias(name: str, alias: str, reason: str | None = None) -> AliasEvent:
    return registry().delete_alias(name, alias, reason)


def load_model(model_uri: str, *, extra: str = "drop", form: str = "native") -> LoadedModel:
    """Load ``models:/name/3``, ``models:/name@alias``, ``models:/name/latest``, ``runs:/<id>/model``
    or a local package directory; every file's sha256 is verified before anything is unpickled."""
    return registry().load_model(model_uri, extra=extra, form=form)


def get_model(name: str) -> RegisteredModel:
    return registry().get_model(name)


def get_version(name: str, version: int | str) -> ModelVersion:
    return registry().get_version(name, version)


def search_models(name_like: str | None = None, tags: Mapping[str, str] | None = None, alias: str | None = None) -> list[RegisteredModel]:
    return registry().search_models(name_like, tags, alias)


def search_versions(name: str | None = None, tags: Mapping[str, str] | None = None, alias: str | None = None) -> list[ModelVersion]:
    return registry().search_versions(name, tags, alias=alias)


def alias_at(name: str, alias: str, when: _dt.datetime | int | float) -> int | None:
    """Which version ``@alias`` pointed to at ``when``."""
    return registry().alias_at(name, alias, when)


def alias_history(name: str, alias: str | None = None) -> list[AliasEvent]:
    return registry().alias_history(name, alias)


def archive_version(name: str, version: int | str) -> ModelVersion:
    return registry().archive_version(name, version)


def lineage(uri: str) -> LineageGraph:
    """The lineage graph upstream of ``models:/…`` or ``runs:/<id>``."""
    from shipyard.registry._lineage import lineage as build

    return build(registry(), uri)


def model_card(uri: str, format: str = "markdown") -> Any:
    """A version's model card as Markdown (default) or a dict (``format="json"``)."""
    from shipyard.registry._card import card_data, card_markdown

    data = card_data(registry(), uri)
    return data if format == "json" else card_markdown(data)


def to_onnx(model_uri: str, sample: Any | None = None, tolerance: float = 1e-4) -> ModelVersion:
    """Convert a registered version to ONNX, prove parity (max |Δ| ≤ ``tolerance`` on the input example
    and a sample), and attach the ONNX form to the version; refused otherwise."""
    from shipyard.registry._onnx import to_onnx as convert

    return convert(registry(), model_uri, sample, tolerance)
