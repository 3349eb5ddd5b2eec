"""A ``Workspace`` bundles the backends domain code works with, built from settings.

Domain code receives a Workspace and never builds one. Later issues add the online store and
the executor here, each chosen by URI through :mod:`shipyard.plugins`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard import plugins
from shipyard._internal._uri import scheme_of
from shipyard.config import Settings, get_settings

if TYPE_CHECKING:
    from shipyard.artifacts.base import ArtifactStore
    from shipyard.storage.base import MetadataStore


@dataclass(frozen=True)
class Workspace:
    metadata: MetadataStore
    artifacts: ArtifactStore
    settings: Settings

    def close(self) -> None:
        self.metadata.close()


def open_metadata(uri: str, settings: Settings) -> MetadataStore:
    cls = plugins.resolve("storage", uri)
    if scheme_of(uri) == "sqlite":
        return cls(uri, busy_timeout=settings.sqlite_busy_timeout)  # type: ignore[no-any-return]
    return cls(uri)  # type: ignore[no-any-return]


def open_artifacts(uri: str, settings: Settings) -> ArtifactStore:
    cls = plugins.resolve("artifacts", uri)
    if scheme_of(uri) == "s3":
        return cls(uri, endpoint_url=settings.s3_endpoint_url)  # type: ignore[no-any-return]
    return cls(uri)  # type: ignore[no-any-return]


def build_workspace(settings: Settings | None = None) -> Workspace:
    """Open the stores named by ``settings`` (default: the effective settings)."""
    settings = settings or get_settings()
    return Workspace(
        metadata=open_metadata(settings.resolved_store_uri, settings),
        artifacts=open_artifacts(settings.resolved_artifact_uri, settings),
        settings=settings,
    )


_lock = threading.Lock()
_current: Workspace | None = None


def current_workspace() -> Workspace:
    """The process-wide workspace for the effective settings, opened on first use."""
    global _current
    with _lock:
        settings = get_settings()
        if _current is None or _current.settings != settings:
            if _current is not None:
                _current.close()
            _current = build_workspace(settings)
        return _current


def reset_workspace() -> None:
    """Close and forget the process-wide workspace (after changing settings, and in tests)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = None
