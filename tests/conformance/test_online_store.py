"""The online store conformance suite against every backend: SQLite (a file per test) and Redis."""

from __future__ import annotations

import sqlite3
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.online._redis import RedisOnlineStore
from shipyard.online._sqlite import SqliteOnlineStore
from shipyard.testing import OnlineStoreSuite
from shipyard.testing._online_suite import row


class TestSqlite(OnlineStoreSuite):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteOnlineStore]:
        store = SqliteOnlineStore(f"sqlite:///{tmp_path / 'sub' / 'online.db'}", busy_timeout=30)
        yield store
        store.close()

    def test_a_failure_inside_the_transaction_rolls_the_whole_batch_back(self, store: SqliteOnlineStore) -> None:
        """The database itself refuses the third row of a batch (a trigger): the first two are undone."""
        store.write("v", [row("a", 1), row("b", 1)])
        with sqlite3.connect(store.path) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON online_rows WHEN NEW.key = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
            store.write("v", [row("a", 2), row("b", 2), row("boom", 2), row("c", 2)])
        assert store.read("v", ["a", "b", "boom", "c"]) == [row("a", 1), row("b", 1), None, None]
        assert store.write("v", [row("a", 3)]) == 1  # the connection is usable again

    def test_two_stores_on_one_file_see_each_other(self, store: SqliteOnlineStore) -> None:
        other = SqliteOnlineStore(store.uri)
        try:
            other.write("v", [row("k", 5)])
            assert store.read("v", ["k"]) == [row("k", 5)]
            store.write("v", [row("k", 4)])
            assert other.read("v", ["k"]) == [row("k", 5)]
        finally:
            other.close()

    def test_processes_writing_one_file_converge(self, store: SqliteOnlineStore) -> None:
        script = f"""
import random, sys
from shipyard.online._sqlite import SqliteOnlineStore
from shipyard.online.base import OnlineRow
store = SqliteOnlineStore({store.uri!r}, busy_timeout=30)
rng = random.Random(int(sys.argv[1]))
for _ in range(40):
    store.write("v", [OnlineRow(f"k{{i}}", t, 0, str(t).encode()) for i in rng.sample(range(50), 20) for t in [rng.randrange(1000)]])
store.write("v", [OnlineRow(f"k{{i}}", 1000 + int(sys.argv[1]), 0, sys.argv[1].encode()) for i in range(50)])
"""
        procs = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in range(4)]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
        assert store.read("v", [f"k{i}" for i in range(50)]) == [row(f"k{i}", 1003, 0, b"3") for i in range(50)]

    def test_layout_and_info(self, store: SqliteOnlineStore) -> None:
        store.write("v", [row("k", 1)])
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        info = store.info()
        assert (info["backend"], info["path"], info["views"]) == ("sqlite", store.path, {"v": 1})


@pytest.mark.backend("redis")
class TestRedis(OnlineStoreSuite):
    @pytest.fixture
    def store(self, redis_uri: str) -> Iterator[RedisOnlineStore]:
        prefix = f"shipyard-test:{uuid.uuid4().hex}:"
        store = RedisOnlineStore(redis_uri, prefix=prefix)
        yield store
        client = store._client
        names = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(names), 1000):
            client.delete(*names[start : start + 1000])
        store.close()

    def test_a_failure_inside_the_script_writes_nothing(self, store: RedisOnlineStore) -> None:
        """Redis refuses the third row of a batch (its key holds a hash): the script wrote nothing."""
        store.write("v", [row("a", 1), row("b", 1)])
        store._client.hset(store._set_key("v") + ":boom", "x", "1")
        with pytest.raises(Exception, match="WRONGTYPE"):
            store.write("v", [row("a", 2), row("b", 2), row("boom", 2), row("c", 2)])
        assert store.read("v", ["a", "b", "c"]) == [row("a", 1), row("b", 1), None]
        assert store.count("v") == 2

    def test_layout(self, store: RedisOnlineStore) -> None:
        store.write("p/v", [row("k:1", -5, 7, b"payload")])
        raw = store._client.get(store.prefix + "{p/v}:k:1")
        assert raw == struct.pack(">qq", -5, 7) + b"payload"
        assert store._client.smembers(store.prefix + "{p/v}") == {(store.prefix + "{p/v}:k:1").encode()}
        assert store.info()["views"] == {"p/v": 1}

    def test_batches_over_the_script_limit_are_chunked(self, store: RedisOnlineStore, monkeypatch: pytest.MonkeyPatch) -> None:
        from shipyard.online import _redis

        monkeypatch.setattr(_redis, "MAX_SCRIPT_ROWS", 7)
        rows = [row(f"k{i}", i) for i in range(30)]
        assert store.write("v", rows + [row("k3", 0)]) == 30
        assert store.read("v", [r.key for r in rows]) == rows
        assert store.write("v", [row(f"k{i}", 15) for i in range(30)]) == 16  # k0..k15
