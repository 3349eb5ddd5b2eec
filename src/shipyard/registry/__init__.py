"""The model registry (L4): versions, aliases with history, model cards, lineage, URI resolution.

``sy.registry`` is this module: ``sy.registry.alias_at("flight-delay", "champion", when)``.
"""

from shipyard.registry._fluent import (
    alias_at,
    alias_history,
    archive_version,
    delete_alias,
    get_model,
    get_version,
    lineage,
    load_model,
    model_card,
    register_model,
    registry,
    search_models,
    search_versions,
    set_alias,
    to_onnx,
)
from shipyard.registry._registry import Registry

__all__ = [
    "Registry",
    "alias_at",
    "alias_history",
    "archive_version",
    "delete_alias",
    "get_model",
    "get_version",
    "lineage",
    "load_model",
    "model_card",
    "register_model",
    "registry",
    "search_models",
    "search_versions",
    "set_alias",
    "to_onnx",
]
