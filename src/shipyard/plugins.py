"""Backends by kind and URI scheme: a lazy table, imported on first use (nothing at import time).

Resolution order for ``resolve(kind, uri_or_name)``: the built-in table by scheme or short name,
then the entry-point group ``shipyard.<kind>`` (third-party backends), then a literal
``"package.module:Class"``. An unknown scheme raises ``ConfigError`` listing the valid ones.
"""

from __future__ import annotations

import importlib
from typing import Any

from shipyard._internal._uri import scheme_of
from shipyard.exceptions import ConfigError

BUILTINS: dict[str, dict[str, str]] = {
    "storage": {
        "sqlite": "shipyard.storage._sql:SqlStore",
        "postgresql": "shipyard.storage._sql:SqlStore",
        "postgres": "shipyard.storage._sql:SqlStore",
        "http": "shipyard.storage._rest:RestStore",
        "https": "shipyard.storage._rest:RestStore",
    },
    "artifacts": {
        "file": "shipyard.artifacts._local:LocalArtifactStore",
        "s3": "shipyard.artifacts._s3:S3ArtifactStore",
        "shipyard-artifacts": "shipyard.artifacts._rest:RestArtifactStore",
    },
    "online": {
        "sqlite": "shipyard.online._sqlite:SqliteOnlineStore",
        "redis": "shipyard.online._redis:RedisOnlineStore",
        "rediss": "shipyard.online._redis:RedisOnlineStore",
    },
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve(kind: str, uri: str) -> Any:
    """The backend class for ``uri`` (a URI, a short name, or ``module:Class``).

    Raises:
        ConfigError: unknown kind or scheme; the message lists the valid ones.
    """
    if kind not in BUILTINS:
        raise ConfigError(f"Unknown backend kind {kind!r}; valid kinds: {', '.join(sorted(BUILTINS))}.")
    table = BUILTINS[kind]
    scheme = scheme_of(uri) if "://" in uri or kind == "artifacts" else uri
    if scheme in table:
        return _load(table[scheme])
    from importlib.metadata import entry_points

    for ep in entry_points(group=f"shipyard.{kind}"):
        if ep.name == scheme:
            return ep.load()
    if ":" in uri and "://" not in uri:
        try:
            return _load(uri)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"Cannot import the {kind} backend {uri!r}: {exc}") from exc
    raise ConfigError(
        f"No {kind} backend for {scheme!r} (from {uri!r}). Valid schemes: {', '.join(sorted(table))}; "
        f"third-party backends register the entry-point group 'shipyard.{kind}'."
    )
