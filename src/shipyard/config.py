"""Settings: every knob declared once, typed and documented, with one precedence order.

Precedence, highest first: explicit argument (``shipyard.init(...)`` / CLI flag) > ``SHIPYARD_*``
environment variable > ``./shipyard.toml`` > ``~/.config/shipyard/config.toml`` > default.

This module is the only one in the package that reads the environment (a test keeps it so).
Nothing is read at import: :func:`get_settings` builds the settings on first call and caches them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from shipyard.exceptions import ConfigError

ENV_PREFIX = "SHIPYARD_"


@dataclass(frozen=True)
class Settings:
    """Effective configuration. Build with :func:`get_settings`; never mutate."""

    #: Directory of the embedded store (SQLite file and local artifacts).
    home: str = ".shipyard"
    #: Metadata store URI: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
    #: Default: ``sqlite:///<home>/shipyard.db``.
    store_uri: str | None = None
    #: Artifact store root: ``file:///dir`` or ``s3://bucket/prefix``. Default: ``file://<home>/artifacts``.
    artifact_uri: str | None = None
    #: Online feature store URI: ``sqlite:///path.db`` or ``redis://host:6379/0`` (``rediss://`` for TLS).
    #: Default: ``sqlite:///<home>/online.db``.
    online_uri: str | None = None
    #: Project that records belong to when none is given.
    project: str = "default"
    #: Endpoint of an S3-compatible object store (MinIO, moto, ...); unset means AWS.
    s3_endpoint_url: str | None = None
    #: Seconds between heartbeats of a running run.
    heartbeat_interval: float = 10.0
    #: Seconds without a heartbeat after which a RUNNING run is reported KILLED.
    heartbeat_timeout: float = 60.0
    #: Seconds between background flushes of buffered metrics, params and tags.
    flush_interval: float = 0.5
    #: Buffered values that trigger an immediate flush.
    flush_max_items: int = 20_000
    #: Seconds a SQLite writer waits for a lock before failing.
    sqlite_busy_timeout: float = 60.0
    #: Whether ``shipyard server`` requires tokens (set by ``shipyard server --auth``).
    server_auth: bool = False
    #: Largest JSON request body ``shipyard server`` accepts (bytes); artifact uploads stream and are
    #: bounded by the project's quota instead.
    server_max_body_bytes: int = 64 * 1024 * 1024
    #: Seconds a client may pause while sending a request body before the server answers 408.
    server_body_timeout: float = 30.0
    #: Requests one server worker handles at once; more are answered 503 at once.
    server_max_concurrency: int = 512
    #: Whether ``shipyard server`` evaluates due monitor windows in the background.
    server_monitors: bool = True
    #: Seconds between the server's passes over the monitors.
    monitor_interval: float = 60.0
    #: What ``shipyard serve`` serves (JSON: models, deployments, max_queue); set by the command for its workers.
    serve_targets: str | None = None
    #: API token for a Shipyard server (``store_uri`` = ``http(s)://...``).
    token: str | None = None
    #: PEM Ed25519 private key: when set, registration signs each version's manifest.
    model_signing_key: str | None = None
    #: PEM Ed25519 public key: when set, loading a registered version requires a valid signature.
    model_verify_key: str | None = None

    @property
    def resolved_store_uri(self) -> str:
        if self.store_uri:
            return self.store_uri
        return "sqlite:///" + str(Path(self.home).expanduser().absolute() / "shipyard.db")

    @property
    def remote(self) -> bool:
        """Whether the metadata store is a Shipyard server."""
        return self.resolved_store_uri.startswith(("http://", "https://"))

    @property
    def resolved_artifact_uri(self) -> str:
        if self.artifact_uri:
            return self.artifact_uri
        if self.remote:
            return "shipyard-artifacts:/"  # proxied through the server
        return (Path(self.home).expanduser().absolute() / "artifacts").as_uri()

    @property
    def resolved_online_uri(self) -> str:
        if self.online_uri:
            return self.online_uri
        return "sqlite:///" + str(Path(self.home).expanduser().absolute() / "online.db")


_FIELD_TYPES: dict[str, Any] = {
    "home": str,
    "store_uri": str,
    "artifact_uri": str,
    "online_uri": str,
    "project": str,
    "s3_endpoint_url": str,
    "heartbeat_interval": float,
    "heartbeat_timeout": float,
    "flush_interval": float,
    "flush_max_items": int,
    "sqlite_busy_timeout": float,
    "token": str,
    "server_auth": bool,
    "server_max_body_bytes": int,
    "server_body_timeout": float,
    "server_max_concurrency": int,
    "server_monitors": bool,
    "monitor_interval": float,
    "serve_targets": str,
    "model_signing_key": str,
    "model_verify_key": str,
}

_lock = threading.Lock()
_cached: tuple[Settings, dict[str, str]] | None = None
_explicit: dict[str, Any] = {}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _FIELD_TYPES[name]
    if value is None:
        return None
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("not a boolean")
        if kind is float:
            result = float(value)
            if result <= 0:
                raise ValueError("must be positive")
            return result
        if kind is int:
            result = int(value)
            if result <= 0:
                raise ValueError("must be positive")
            return result
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Setting '{name}' from {source} has the invalid value {value!r}: expected "
            f"{'true or false' if kind is bool else 'a positive ' + kind.__name__}. Fix it in {source}."
        ) from exc


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Cannot parse {path}: {exc}. Fix the TOML syntax or remove the file.") from exc
    table = data.get("shipyard", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: expected a [shipyard] table of settings.")
    unknown = sorted(set(table) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}. Valid settings: {', '.join(sorted(_FIELD_TYPES))}."
        )
    return dict(table)


def _layers() -> list[tuple[str, dict[str, Any]]]:
    """The configuration layers, lowest precedence first."""
    layers: list[tuple[str, dict[str, Any]]] = []
    user = Path(os.path.expanduser("~/.config/shipyard/config.toml"))
    if user.is_file():
        layers.append((str(user), _read_toml(user)))
    local = Path("shipyard.toml")
    if local.is_file():
        layers.append(("./shipyard.toml", _read_toml(local)))
    env = {}
    for name in _FIELD_TYPES:
        value = os.environ.get(ENV_PREFIX + name.upper())
        if value not in (None, ""):
            env[name] = value
    # SHIPYARD_URI is the short spelling users reach for first.
    if "store_uri" not in env and os.environ.get(ENV_PREFIX + "URI"):
        env["store_uri"] = os.environ[ENV_PREFIX + "URI"]
    layers.append(("environment", env))
    layers.append(("explicit", dict(_explicit)))
    return layers


def _build() -> tuple[Settings, dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {f.name: "default" for f in fields(Settings)}
    for source, layer in _layers():
        for name, value in layer.items():
            if name not in _FIELD_TYPES:
                raise ConfigError(f"Unknown setting '{name}' from {source}. Valid: {', '.join(sorted(_FIELD_TYPES))}.")
            if value is None:
                continue
            values[name] = _coerce(name, value, source if source != "environment" else ENV_PREFIX + name.upper())
            sources[name] = source
    return Settings(**values), sources


def get_settings() -> Settings:
    """The effective settings, built on first call and cached until :func:`configure` or :func:`reset`."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _build()
        return _cached[0]


def settings_with_sources() -> list[tuple[str, Any, str]]:
    """Each setting as ``(name, effective value, source)``, for ``shipyard config show``."""
    settings = get_settings()
    assert _cached is not None
    sources = _cached[1]
    rows: list[tuple[str, Any, str]] = []
    for f in fields(Settings):
        rows.append((f.name, getattr(settings, f.name), sources[f.name]))
    rows.append(("store_uri (effective)", settings.resolved_store_uri, sources["store_uri"]))
    rows.append(("artifact_uri (effective)", settings.resolved_artifact_uri, sources["artifact_uri"]))
    rows.append(("online_uri (effective)", settings.resolved_online_uri, sources["online_uri"]))
    return rows


def configure(**overrides: Any) -> Settings:
    """Set explicit settings (highest precedence) and rebuild. ``None`` removes an override.

    Raises:
        ConfigError: an unknown setting name or an invalid value.
    """
    global _cached
    unknown = sorted(set(overrides) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(f"Unknown setting(s) {', '.join(unknown)}. Valid: {', '.join(sorted(_FIELD_TYPES))}.")
    with _lock:
        for name, value in overrides.items():
            if value is None:
                _explicit.pop(name, None)
            else:
                _explicit[name] = _coerce(name, value, "an explicit argument")
        _cached = None
    return get_settings()


def reset() -> None:
    """Forget explicit overrides and cached settings (tests and long-lived processes)."""
    global _cached
    with _lock:
        _explicit.clear()
        _cached = None


def environment_snapshot(names: tuple[str, ...]) -> dict[str, str]:
    """Values of the named environment variables that are set (for run environment records)."""
    return {n: os.environ[n] for n in names if n in os.environ}


def export_environment(settings: Settings) -> None:
    """Write the explicit settings to ``SHIPYARD_*`` variables, for child processes (server workers)."""
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is not None and f.name in _explicit:
            os.environ[ENV_PREFIX + f.name.upper()] = str(value)
