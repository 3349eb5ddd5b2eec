"""The online store's wiring: plugins, settings, the workspace's lazy store, URIs and errors (no services)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shipyard import config, plugins
from shipyard.exceptions import BackendUnavailable, ConfigError
from shipyard.online._redis import RedisOnlineStore, mask_uri
from shipyard.online._sqlite import SqliteOnlineStore
from shipyard.workspace import build_workspace, current_workspace

DEAD_REDIS = "redis://:s3cret@127.0.0.1:1/0"  # nothing listens on port 1


def test_plugins_resolve_the_online_backends() -> None:
    assert plugins.resolve("online", "sqlite:///x.db") is SqliteOnlineStore
    assert plugins.resolve("online", "redis://localhost:6379/0") is RedisOnlineStore
    assert plugins.resolve("online", "rediss://localhost:6380/0") is RedisOnlineStore
    with pytest.raises(ConfigError, match="Valid schemes: redis, rediss, sqlite"):
        plugins.resolve("online", "memcached://localhost")


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@host:6379/1", "redis://:***@host:6379/1"),
        ("rediss://user:p%40ss@host:6380/2", "rediss://user:***@host:6380/2"),
        ("redis://host/0?password=pw&socket_timeout=5", "redis://host/0?password=%2A%2A%2A&socket_timeout=5"),
    ],
)
def test_redis_uri_password_is_masked(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked
    assert RedisOnlineStore(uri).uri == masked


def test_unreachable_redis_is_backend_unavailable_with_the_fix() -> None:
    store = RedisOnlineStore(DEAD_REDIS)  # connecting is lazy: no error yet
    with pytest.raises(BackendUnavailable, match=r"redis://:\*\*\*@127.0.0.1:1/0") as info:
        store.read("v", ["k"])
    assert "s3cret" not in str(info.value) and "redis-server" in info.value.hint
    with pytest.raises(BackendUnavailable):
        store.count("v")


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigError, match=r"pip install 'shipyard-mlops\[redis\]'"):
        RedisOnlineStore("redis://localhost:6379/0")


@pytest.mark.parametrize("uri", ["sqlite://", "sqlite:///:memory:", "sqlite:///", "file:///x.db"])
def test_sqlite_online_store_needs_a_file(uri: str) -> None:
    with pytest.raises(ConfigError):
        SqliteOnlineStore(uri)


def test_settings_default_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.get_settings().resolved_online_uri == f"sqlite:///{tmp_path / 'home' / 'online.db'}"
    monkeypatch.setenv("SHIPYARD_ONLINE_URI", "redis://127.0.0.1:6379/3")
    config.reset()
    assert config.get_settings().resolved_online_uri == "redis://127.0.0.1:6379/3"
    rows = {name: (value, source) for name, value, source in config.settings_with_sources()}
    assert rows["online_uri"] == ("redis://127.0.0.1:6379/3", "environment")
    assert rows["online_uri (effective)"] == ("redis://127.0.0.1:6379/3", "environment")


def test_workspace_opens_the_online_store_on_first_use(tmp_path: Path) -> None:
    settings = config.Settings(home=str(tmp_path / "h"))
    ws = build_workspace(settings)
    assert not (tmp_path / "h" / "online.db").exists()
    store = ws.online
    assert isinstance(store, SqliteOnlineStore) and ws.online is store
    assert store.path == str(tmp_path / "h" / "online.db")
    ws.close()
    assert ws._online == {}


def test_workspace_does_not_connect_to_redis_until_asked(tmp_path: Path) -> None:
    ws = build_workspace(config.Settings(home=str(tmp_path / "h"), online_uri=DEAD_REDIS))
    assert ws._online == {}  # building it touched no Redis (it would fail: nothing listens)
    assert isinstance(ws.online, RedisOnlineStore)
    with pytest.raises(BackendUnavailable):
        ws.online.read("v", ["k"])
    ws.close()


def test_current_workspace_reopens_the_online_store_when_its_uri_changes(tmp_path: Path) -> None:
    first = current_workspace().online
    assert current_workspace().online is first
    config.configure(project="other")  # unrelated setting: the same online store
    assert current_workspace().online is first
    config.configure(online_uri=f"sqlite:///{tmp_path / 'elsewhere.db'}")
    second = current_workspace().online
    assert second is not first and isinstance(second, SqliteOnlineStore)
    assert second.path == str(tmp_path / "elsewhere.db")
