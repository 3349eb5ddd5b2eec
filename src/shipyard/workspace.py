"""A ``Workspace`` bundles the backends domain code works with, built from settings.

Domain code receives a Workspace and never builds one. Each backend is chosen by URI through
:mod:`shipyard.plugins`. The metadata and artifact stores open with the workspace; the online store
opens on first use of :attr:`Workspace.online` (so a workspace never connects to Redis unless
something reads or writes features). A later issue adds the executor.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard import plugins
from shipyard._internal._uri import scheme_of
from shipyard.config import Settings, get_settings

if TYPE_CHECKING:
    from shipyard.artifacts.base import ArtifactStore
    from shipyard.online.base import OnlineStore
    from shipyard.storage.base import MetadataStore

PROXY_SCHEME = "shipyard-artifacts"


@dataclass(frozen=True)
class Workspace:
    metadata: MetadataStore
    artifacts: ArtifactStore
    settings: Settings
    _stores: dict[str, ArtifactStore] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    #: The online store once opened, under the key ``"store"`` (a frozen dataclass caches in a dict).
    _online: dict[str, OnlineStore] = field(default_factory=dict, repr=False, compare=False)

    @property
    def remote(self) -> bool:
        """Whether the metadata store is a Shipyard server (artifacts are then proxied by it)."""
        return "remote" in self.metadata.capabilities

    def artifacts_for(self, root_uri: str) -> ArtifactStore:
        """An artifact store rooted at ``root_uri`` (a run's or a model version's location), cached.

        ``shipyard-artifacts:/path`` means "under the server's artifact root": through the server
        for a remote workspace, directly in the artifact root for the server itself.
        """
        with self._lock:
            store = self._stores.get(root_uri)
            if store is None:
                if scheme_of(root_uri) == PROXY_SCHEME:
                    if self.remote:
                        cls = plugins.resolve("artifacts", root_uri)
                        store = cls(root_uri, self.metadata.http)  # type: ignore[attr-defined]
                    else:
                        path = root_uri[len(PROXY_SCHEME) + 1 :].strip("/")
                        store = open_artifacts(self.artifacts.uri_for(path) if path else self.artifacts.root_uri, self.settings)
                else:
                    store = open_artifacts(root_uri, self.settings)
                self._stores[root_uri] = store
            return store

    @property
    def online(self) -> OnlineStore:
        """The online store of ``settings.resolved_online_uri``, opened on first use and then cached.

        Raises:
            ConfigError: an unknown scheme, a malformed URI, or the backend's client library is not installed.
            BackendUnavailable: the SQLite file cannot be created or opened.
        """
        store = self._online.get("store")
        if store is None:
            with self._lock:
                store = self._online.get("store")
                if store is None:
                    store = self._online["store"] = open_online(self.settings.resolved_online_uri, self.settings)
        return store

    def close(self) -> None:
        self.metadata.close()
        online = self._online.pop("store", None)
        if online is not None:
            online.close()


def open_metadata(uri: str, settings: Settings) -> MetadataStore:
    cls = plugins.resolve("storage", uri)
    scheme = scheme_of(uri)
    if scheme == "sqlite":
        return cls(uri, busy_timeout=settings.sqlite_busy_timeout)  # type: ignore[no-any-return]
    if scheme in ("http", "https"):
        return cls(uri, token=settings.token)  # type: ignore[no-any-return]
    return cls(uri)  # type: ignore[no-any-return]


def open_artifacts(uri: str, settings: Settings) -> ArtifactStore:
    cls = plugins.resolve("artifacts", uri)
    if scheme_of(uri) == "s3":
        return cls(uri, endpoint_url=settings.s3_endpoint_url)  # type: ignore[no-any-return]
    return cls(uri)  # type: ignore[no-any-return]


def open_online(uri: str, settings: Settings) -> OnlineStore:
    """The online store backend for ``uri``: ``sqlite:///...`` (the file and its table are created now)
    or ``redis://...`` (connects on its first call)."""
    cls = plugins.resolve("online", uri)
    if scheme_of(uri) == "sqlite":
        return cls(uri, busy_timeout=settings.sqlite_busy_timeout)  # type: ignore[no-any-return]
    return cls(uri)  # type: ignore[no-any-return]


def build_workspace(settings: Settings | None = None) -> Workspace:
    """Open the stores named by ``settings`` (default: the effective settings)."""
    settings = settings or get_settings()
    metadata = open_metadata(settings.resolved_store_uri, settings)
    artifact_uri = settings.resolved_artifact_uri
    if scheme_of(artifact_uri) == PROXY_SCHEME:
        if "remote" not in metadata.capabilities:
            from shipyard.exceptions import ConfigError

            raise ConfigError(
                f"artifact_uri {artifact_uri!r} proxies through a Shipyard server, but the store is "
                f"{settings.resolved_store_uri}. Use file:// or s3:// here, or point store_uri at the server."
            )
        artifacts = plugins.resolve("artifacts", artifact_uri)(artifact_uri, metadata.http)  # type: ignore[attr-defined]
    else:
        artifacts = open_artifacts(artifact_uri, settings)
    return Workspace(metadata=metadata, artifacts=artifacts, settings=settings)


_lock = threading.Lock()
_current: Workspace | None = None
_fork_hook = False


def _store_settings(settings: Settings) -> tuple[object, ...]:
    return (settings.resolved_store_uri, settings.resolved_artifact_uri, settings.s3_endpoint_url,
            settings.sqlite_busy_timeout, settings.token)


def _online_settings(settings: Settings) -> tuple[object, ...]:
    return (settings.resolved_online_uri, settings.sqlite_busy_timeout)


def current_workspace() -> Workspace:
    """The process-wide workspace for the effective settings, opened on first use."""
    global _current, _fork_hook
    with _lock:
        settings = get_settings()
        if _current is not None and _current.settings is settings:
            return _current  # the settings are cached until changed: nothing to compare (a hot path)
        if _current is None or _store_settings(_current.settings) != _store_settings(settings):
            if _current is not None:
                _current.close()
            _current = build_workspace(settings)
            if not _fork_hook:
                os.register_at_fork(after_in_child=_forget_after_fork)
                _fork_hook = True
        elif _current.settings != settings:
            online = _current._online
            if _online_settings(_current.settings) != _online_settings(settings):
                old = online.pop("store", None)
                if old is not None:
                    old.close()
                online = {}
            _current = Workspace(_current.metadata, _current.artifacts, settings, _current._stores, _current._lock, online)
        return _current


def _forget_after_fork() -> None:
    """A forked child must not share the parent's database connections."""
    global _current
    _current = None


def reset_workspace() -> None:
    """Close and forget the process-wide workspace (after changing settings, and in tests)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = None
