"""One SQLAlchemy 2 implementation of the metadata store for SQLite and PostgreSQL."""

from shipyard.storage._sql._store import SqlStore

__all__ = ["SqlStore"]
