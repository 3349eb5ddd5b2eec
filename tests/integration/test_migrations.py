"""Schema management: fresh stores are migrated to head, old ones are refused with the fix."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.exceptions import SchemaVersionError
from shipyard.storage._sql import SqlStore, _engine
from shipyard.storage._sql._schema import SCHEMA_HEAD, metadata


def _fresh_pg(postgres_uri: str) -> str:
    """A separate empty database on the same server."""
    import uuid

    from sqlalchemy.engine import make_url

    url = make_url(postgres_uri)
    name = f"{url.database}_m{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.backend("postgres"))])
def empty_uri(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return _fresh_pg(request.getfixturevalue("postgres_uri"))


def test_head_matches_the_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_engine._MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD
    assert _engine._KNOWN[-1] == SCHEMA_HEAD


def test_migrated_schema_matches_the_table_definitions(empty_uri: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = SqlStore(empty_uri)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    assert diff == []


def test_old_schema_is_refused_with_the_upgrade_command(empty_uri: str) -> None:
    engine = _engine.create_engine(empty_uri, busy_timeout=5)
    _engine.upgrade(engine, "0001")
    engine.dispose()
    with pytest.raises(SchemaVersionError) as info:
        SqlStore(empty_uri)
    message = str(info.value)
    assert "revision 0001" in message and "shipyard store upgrade --store-uri" in message
    result = CliRunner().invoke(app, ["store", "upgrade", "--store-uri", empty_uri])
    assert result.exit_code == 0, result.output
    assert f"to {SCHEMA_HEAD}" in result.output
    store = SqlStore(empty_uri)
    assert store.info()["schema_revision"] == SCHEMA_HEAD
    store.close()
    again = CliRunner().invoke(app, ["store", "upgrade", "--store-uri", empty_uri])
    assert "already at schema revision" in again.output


def test_newer_schema_is_refused(empty_uri: str) -> None:
    SqlStore(empty_uri).close()
    engine = _engine.create_engine(empty_uri, busy_timeout=5)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="newer Shipyard"):
        SqlStore(empty_uri)


def test_upgrade_keeps_existing_records(empty_uri: str) -> None:
    engine = _engine.create_engine(empty_uri, busy_timeout=5)
    _engine.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO projects (name, created_at) VALUES ('old', 1)"))
    engine.dispose()
    CliRunner().invoke(app, ["store", "upgrade", "--store-uri", empty_uri])
    store = SqlStore(empty_uri)
    assert [p.name for p in store.list_projects()] == ["old"]
    store.close()


def test_unreachable_database_is_a_clear_error() -> None:
    from shipyard.exceptions import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="Cannot connect"):
        SqlStore("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
