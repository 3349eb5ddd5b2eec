"""The metadata store conformance suite against every backend: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.storage._sql import SqlStore
from shipyard.testing import MetadataStoreSuite


@pytest.fixture(scope="module")
def _pg_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    uri = request.getfixturevalue("postgres_uri")
    store = SqlStore(uri)
    yield store
    store.close()


class TestSqlite(MetadataStoreSuite):
    @pytest.fixture
    def store(self, sqlite_uri: str) -> Iterator[SqlStore]:
        store = SqlStore(sqlite_uri)
        yield store
        store.close()


@pytest.mark.backend("postgres")
class TestPostgres(MetadataStoreSuite):
    @pytest.fixture
    def store(self, _pg_store: SqlStore) -> SqlStore:
        return _pg_store
