"""Settings: precedence, sources, validation of keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import config
from shipyard.exceptions import ConfigError


def test_defaults_and_derived_uris(tmp_path: Path) -> None:
    s = config.get_settings()
    assert s.project == "default"
    assert s.resolved_store_uri == f"sqlite:///{tmp_path / 'home' / 'shipyard.db'}"
    assert s.resolved_artifact_uri == (tmp_path / "home" / "artifacts").as_uri()


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shipyard.toml").write_text('project = "from-toml"\nflush_interval = 2.0\n')
    config.reset()
    assert config.get_settings().project == "from-toml"
    monkeypatch.setenv("SHIPYARD_PROJECT", "from-env")
    config.reset()
    assert config.get_settings().project == "from-env"
    config.configure(project="explicit")
    assert config.get_settings().project == "explicit"
    sources = {name: source for name, _value, source in config.settings_with_sources()}
    assert sources["project"] == "explicit" and sources["flush_interval"] == "./shipyard.toml"
    config.configure(project=None)
    assert config.get_settings().project == "from-env"


def test_shipyard_table_in_toml(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text('[shipyard]\nproject = "tabled"\n')
    config.reset()
    assert config.get_settings().project == "tabled"


def test_unknown_key_in_toml_fails_at_startup(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text('projcet = "typo"\n')
    config.reset()
    with pytest.raises(ConfigError, match="unknown setting.*projcet.*Valid settings"):
        config.get_settings()


def test_bad_toml_and_bad_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shipyard.toml").write_text("project = \n")
    config.reset()
    with pytest.raises(ConfigError, match="Cannot parse"):
        config.get_settings()
    (tmp_path / "shipyard.toml").unlink()
    monkeypatch.setenv("SHIPYARD_FLUSH_INTERVAL", "soon")
    config.reset()
    with pytest.raises(ConfigError, match="SHIPYARD_FLUSH_INTERVAL"):
        config.get_settings()
    with pytest.raises(ConfigError, match="Unknown setting"):
        config.configure(colour="blue")


def test_shipyard_uri_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_URI", "sqlite:////tmp/x.db")
    config.reset()
    assert config.get_settings().resolved_store_uri == "sqlite:////tmp/x.db"


def test_unknown_backend_scheme_lists_valid_ones() -> None:
    from shipyard import plugins

    with pytest.raises(ConfigError, match="Valid schemes: http, https, postgres, postgresql, sqlite"):
        plugins.resolve("storage", "mongodb://x")
    with pytest.raises(ConfigError, match="file, s3, shipyard-artifacts"):
        plugins.resolve("artifacts", "gs://bucket/x")
    assert plugins.resolve("storage", "shipyard.storage._sql:SqlStore").__name__ == "SqlStore"
