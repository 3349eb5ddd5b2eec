"""Engines, transactions and schema migrations for the SQL store."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from shipyard.exceptions import BackendUnavailable, ConfigError, InvalidParameter, SchemaVersionError
from shipyard.storage._sql._schema import SCHEMA_HEAD

_MIGRATIONS = Path(__file__).parent / "migrations"
_KNOWN = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008")


def normalize_uri(uri: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as the psycopg 3 driver."""
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://") :]
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://") :]
    return uri


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: Any) -> bool:
    """SQLite's ``X REGEXP Y`` (the same regular expressions as PostgreSQL's ``~`` for our patterns)."""
    return value is not None and _compiled(pattern).search(str(value)) is not None


def create_engine(uri: str, busy_timeout: float) -> sa.Engine:
    """An engine for ``sqlite:///...`` or ``postgresql+psycopg://...``.

    SQLite: WAL journal, ``synchronous=NORMAL``, a busy timeout, and write transactions opened with
    ``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing on upgrade.
    """
    url = make_url(normalize_uri(uri))
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
        )
        timeout_ms = int(busy_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={timeout_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            dbapi_conn.create_function("regexp", 2, _regexp, deterministic=True)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            write = conn.get_execution_options().get("shipyard_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    if backend == "postgresql":
        if url.get_driver_name() != "psycopg":
            raise ConfigError(
                f"Unsupported PostgreSQL driver '{url.get_driver_name()}' in {url.render_as_string()}. "
                "Use postgresql+psycopg://user@host:5432/db (pip install 'shipyard-mlops[postgres]')."
            )
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "The PostgreSQL store needs psycopg 3. Install it with: pip install 'shipyard-mlops[postgres]'"
            ) from exc
        return sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    raise ConfigError(f"Unsupported database '{backend}' in store URI. Use sqlite:///path.db or postgresql+psycopg://...")


@contextlib.contextmanager
def transaction(engine: sa.Engine, write: bool) -> Iterator[sa.Connection]:
    """One transaction; ``write=True`` takes the SQLite write lock up front."""
    try:
        conn_cm = engine.connect()
        conn = conn_cm.__enter__()
    except sa.exc.OperationalError as exc:
        raise BackendUnavailable(
            f"Cannot connect to the metadata store {engine.url.render_as_string()}: {exc.orig}. "
            "Check that the database is running and the URI is right."
        ) from exc
    try:
        if write:
            conn.execution_options(shipyard_write=True)
        with conn.begin():
            yield conn
    except OverflowError as exc:  # SQLite's driver: an integer beyond 64 bits
        raise InvalidParameter(_refused(str(exc))) from exc
    except sa.exc.DataError as exc:  # PostgreSQL: a value out of its column's range, NUL in text, ...
        raise InvalidParameter(_refused(str(exc.orig).strip().splitlines()[0])) from exc
    except sa.exc.IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        if "NOT NULL" not in reason and "not-null" not in reason:
            raise
        raise InvalidParameter(  # a required value (a key, a name) came as null
            f"A required value is missing: the metadata store refused {reason!r}. Give every key and name a value."
        ) from exc
    finally:
        conn_cm.__exit__(None, None, None)


def _refused(reason: str) -> str:
    """Bad input that reached the database: say what it refused and which values fit."""
    return (
        f"The metadata store refused a value: {reason}. Integers (ids, versions, steps, timestamps, sizes, "
        f"counts) must fit in a signed 64-bit integer ({-(2**63)} to {2**63 - 1}) and text may not contain NUL "
        "characters; fix the value and send it again."
    )


def _alembic_config(conn: sa.Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision stored in the database (``None`` for an empty database)."""
    with transaction(engine, write=False) as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            if sa.inspect(conn).has_table("runs"):
                return "unknown"
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (default: the latest), holding the write lock."""
    from alembic import command

    with transaction(engine, write=True) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(874231)"))
        command.upgrade(_alembic_config(conn), revision)


def ensure_schema(engine: sa.Engine, display_uri: str) -> None:
    """Create the schema on an empty database; refuse an older or newer one with the fix."""
    revision = current_revision(engine)
    if revision is None:
        from alembic import command

        # Several processes may open a fresh store at once: take the write lock, then re-check.
        with transaction(engine, write=True) as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(874231)"))
            if not sa.inspect(conn).has_table("alembic_version"):
                command.upgrade(_alembic_config(conn), "head")
        return
    if revision == SCHEMA_HEAD:
        return
    if revision in _KNOWN:
        raise SchemaVersionError(
            f"The metadata store {display_uri} has schema revision {revision}, but this version of Shipyard "
            f"needs {SCHEMA_HEAD}. Back it up, then upgrade it with:\n"
            f"    shipyard store upgrade --store-uri '{display_uri}'"
        )
    raise SchemaVersionError(
        f"The metadata store {display_uri} has schema revision {revision!r}, which this version of Shipyard "
        f"does not know (it expects {SCHEMA_HEAD}). It was probably written by a newer Shipyard: upgrade the "
        "package with: pip install -U shipyard-mlops"
    )


def display(uri: str) -> str:
    """The URI with any password masked."""
    try:
        return make_url(normalize_uri(uri)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - display only
        return uri


def sqlite_path(uri: str) -> str | None:
    url = make_url(uri)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return os.path.abspath(url.database)
